//! The console's shell in a container: the terminal in raw mode, each key
//! sent as the bytes a terminal sends for it, the output written as it
//! comes, the terminal's size followed. Keys are read through crossterm with
//! a short poll, so that when the session ends nothing is left reading the
//! keyboard behind the console's back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tokio::io::AsyncWriteExt;

use crate::engine::audit::Auditor;
use crate::ops::exec::Exec;

/// The bytes a terminal sends for a key (xterm's), none for a key it does
/// not send.
pub fn key_bytes(k: &KeyEvent) -> Vec<u8> {
    if k.kind == KeyEventKind::Release {
        return Vec::new();
    }
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    let alt = k.modifiers.contains(KeyModifiers::ALT);
    let mut out = match k.code {
        KeyCode::Char(c) if ctrl && c.is_ascii_alphabetic() => {
            vec![(c.to_ascii_lowercase() as u8) & 0x1f]
        }
        KeyCode::Char(c) => c.to_string().into_bytes(),
        KeyCode::Enter => vec![b'\r'],
        KeyCode::Backspace => vec![0x7f],
        KeyCode::Tab => vec![b'\t'],
        KeyCode::BackTab => b"\x1b[Z".to_vec(),
        KeyCode::Esc => vec![0x1b],
        KeyCode::Up => b"\x1b[A".to_vec(),
        KeyCode::Down => b"\x1b[B".to_vec(),
        KeyCode::Right => b"\x1b[C".to_vec(),
        KeyCode::Left => b"\x1b[D".to_vec(),
        KeyCode::Home => b"\x1b[H".to_vec(),
        KeyCode::End => b"\x1b[F".to_vec(),
        KeyCode::PageUp => b"\x1b[5~".to_vec(),
        KeyCode::PageDown => b"\x1b[6~".to_vec(),
        KeyCode::Delete => b"\x1b[3~".to_vec(),
        KeyCode::Insert => b"\x1b[2~".to_vec(),
        _ => Vec::new(),
    };
    if alt && !out.is_empty() {
        out.insert(0, 0x1b);
    }
    out
}

/// Run `e` on this terminal; its exit code.
pub async fn run(client: &kube::Client, audit: &Auditor, e: &Exec) -> Result<i32, String> {
    crossterm::terminal::enable_raw_mode().map_err(|x| format!("raw mode: {x}"))?;
    let (mut keys_in, keys_out) = tokio::io::duplex(4096);
    let (size_tx, size_rx) = tokio::sync::mpsc::channel(4);
    if let Ok(size) = crossterm::terminal::size() {
        let _ = size_tx.try_send(size);
    }
    let (byte_tx, mut byte_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if !crossterm::event::poll(Duration::from_millis(50)).unwrap_or(false) {
                    continue;
                }
                match crossterm::event::read() {
                    Ok(Event::Key(k)) => {
                        let bytes = key_bytes(&k);
                        if !bytes.is_empty() && byte_tx.blocking_send(bytes).is_err() {
                            break;
                        }
                    }
                    Ok(Event::Paste(text)) => {
                        if byte_tx.blocking_send(text.into_bytes()).is_err() {
                            break;
                        }
                    }
                    Ok(Event::Resize(w, h)) => {
                        let _ = size_tx.try_send((w, h));
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        })
    };
    let pump = tokio::spawn(async move {
        while let Some(bytes) = byte_rx.recv().await {
            if keys_in.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let result = crate::ops::exec::run(
        client,
        audit,
        e,
        keys_out,
        tokio::io::stdout(),
        tokio::io::stderr(),
        Some(size_rx),
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
    pump.abort();
    let _ = crossterm::terminal::disable_raw_mode();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_bytes_a_terminal_sends() {
        let k = |code, m| KeyEvent::new(code, m);
        assert_eq!(key_bytes(&k(KeyCode::Char('a'), KeyModifiers::NONE)), b"a");
        assert_eq!(
            key_bytes(&k(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            [3]
        );
        assert_eq!(
            key_bytes(&k(KeyCode::Char('d'), KeyModifiers::CONTROL)),
            [4]
        );
        assert_eq!(key_bytes(&k(KeyCode::Enter, KeyModifiers::NONE)), b"\r");
        assert_eq!(key_bytes(&k(KeyCode::Up, KeyModifiers::NONE)), b"\x1b[A");
        assert_eq!(
            key_bytes(&k(KeyCode::Char('x'), KeyModifiers::ALT)),
            b"\x1bx"
        );
        assert_eq!(
            key_bytes(&k(KeyCode::Char('é'), KeyModifiers::NONE)),
            "é".as_bytes()
        );
    }
}
