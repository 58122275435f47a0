//! The console over a slow link (README "Benchmarks", "From a jump host"):
//! `cargo build --release && cargo run --release --example slow_link -- 500 100 200`
//!
//! Starts `swarmdeck embedded serve --scenario none --pods N` (namespace
//! `load`), puts a TCP proxy that delays every chunk by DELAY ms in each
//! direction between it and the console (a far jump host: the round trip is
//! twice DELAY), and runs the console through it in an 80x24
//! pseudo-terminal. Prints: the first screen with pods and the complete first
//! list; key press → screen for a key the console answers itself (`:` and
//! Esc, p50/p99) and for one that asks the server (Enter on a pod: its YAML);
//! and, idle and while the server makes CHURN pod changes per second, the
//! bytes written to the terminal (what an ssh session carries) and the bytes
//! over the delayed link, per minute.

mod common;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Console, console, percentile, serve, server_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bytes the proxy carried, each way.
#[derive(Default)]
struct Carried {
    to_server: AtomicU64,
    to_console: AtomicU64,
}

/// Copy `from` to `to`, each chunk written `delay` after it was read; chunks
/// keep their order and do not wait for each other (a long link, not a
/// narrow one).
async fn delayed_copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    count: Arc<Carried>,
    up: bool,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((read_at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(read_at + delay).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let counter = if up {
                    &count.to_server
                } else {
                    &count.to_console
                };
                counter.fetch_add(n as u64, Ordering::Relaxed);
                if tx
                    .send((tokio::time::Instant::now(), buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// A delaying TCP proxy on 127.0.0.1 in front of `target`; its port.
fn delaying_proxy(
    rt: &tokio::runtime::Runtime,
    target: u16,
    delay: Duration,
    count: Arc<Carried>,
) -> u16 {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::join!(
                    delayed_copy(cr, sw, delay, count.clone(), true),
                    delayed_copy(sr, cw, delay, count, false),
                );
            });
        }
    });
    port
}

/// The kubeconfig `kc` pointed at the proxy on `port`.
fn through(kc: &std::path::Path, server: u16, port: u16, out: &std::path::Path) {
    let text = std::fs::read_to_string(kc).unwrap().replace(
        &format!("https://127.0.0.1:{server}"),
        &format!("https://127.0.0.1:{port}"),
    );
    std::fs::write(out, text).unwrap();
}

/// A delaying proxy in front of the server `kc` names, and `slow`, the
/// kubeconfig that goes through it; what the proxy carries is counted.
fn behind_delay(
    rt: &tokio::runtime::Runtime,
    kc: &std::path::Path,
    slow: &std::path::Path,
    delay: Duration,
) -> Arc<Carried> {
    let port = server_port(kc);
    let carried = Arc::new(Carried::default());
    through(
        kc,
        port,
        delaying_proxy(rt, port, delay, carried.clone()),
        slow,
    );
    carried
}

/// Bytes to the terminal and over the link during `secs` seconds, per minute.
fn per_minute(c: &Console, carried: &Carried, secs: u64) -> (f64, f64, f64) {
    let read = |c: &Console| {
        (
            c.bytes.load(Ordering::Relaxed),
            carried.to_server.load(Ordering::Relaxed),
            carried.to_console.load(Ordering::Relaxed),
        )
    };
    let (t0, u0, d0) = read(c);
    std::thread::sleep(Duration::from_secs(secs));
    let (t1, u1, d1) = read(c);
    let scale = 60.0 / secs as f64;
    (
        (t1 - t0) as f64 * scale,
        (u1 - u0) as f64 * scale,
        (d1 - d0) as f64 * scale,
    )
}

fn press_until(c: &mut Console, key: &[u8], want: impl Fn(&str) -> bool) -> Duration {
    let start = Instant::now();
    c.writer.write_all(key).unwrap();
    c.writer.flush().unwrap();
    loop {
        if want(&c.contents()) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the key's answer was not shown"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let pods = args.first().copied().unwrap_or(500);
    let churn = args.get(1).copied().unwrap_or(100);
    let delay = Duration::from_millis(args.get(2).copied().unwrap_or(200) as u64);
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/swarmdeck");
    assert!(
        bin.exists(),
        "build the release binary first: cargo build --release"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let slow = dir.path().join("slow-kubeconfig");
    let size = (80, 24);
    let ms = delay.as_millis();

    // Idle: first screen, keys, bytes.
    let mut server = serve(&bin, &kc, pods, 0);
    let carried = behind_delay(&rt, &kc, &slow, delay);
    let started = Instant::now();
    let mut c = console(&bin, &slow, dir.path(), size, &["-n", "load"]);
    let first = c.wait_for("a first row", Duration::from_secs(60), |s| {
        s.contains("│load-") || s.contains("|load-")
    });
    c.wait_for("the complete list", Duration::from_secs(60), |s| {
        s.contains(&format!("[{pods}]"))
    });
    let complete = started.elapsed();
    println!(
        "{pods} pods, {ms} ms each way (80x24): first screen with pods {:.2} s, complete {:.2} s",
        first.as_secs_f64(),
        complete.as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(3));
    let mut local = Vec::new();
    for _ in 0..50 {
        for (key, shown) in [(&b":"[..], true), (&b"\x1b"[..], false)] {
            local.push(press_until(&mut c, key, |s| {
                s.lines().last().unwrap_or("").starts_with(':') == shown
            }));
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    local.sort();
    let mut remote = Vec::new();
    for i in 0..10 {
        // A different pod each time: its YAML is asked of the server.
        if i > 0 {
            press_until(&mut c, b"j", |_| true);
            std::thread::sleep(Duration::from_millis(50));
        }
        remote.push(press_until(&mut c, b"\r", |s| s.contains("apiVersion: v1")));
        press_until(&mut c, b"\x1b", |s| !s.contains("apiVersion: v1"));
        std::thread::sleep(Duration::from_millis(50));
    }
    remote.sort();
    println!(
        "key press to screen: `:`/Esc p50 {:.1} ms, p99 {:.1} ms; Enter on a pod (its YAML from the server) p50 {:.0} ms, max {:.0} ms",
        percentile(&local, 0.5),
        percentile(&local, 0.99),
        percentile(&remote, 0.5),
        percentile(&remote, 1.0)
    );
    std::thread::sleep(Duration::from_secs(2));
    let (term, up, down) = per_minute(&c, &carried, 60);
    println!(
        "idle 60 s: {term:.0} bytes/min to the terminal; over the link {up:.0} bytes/min up, {down:.0} bytes/min down"
    );
    let _ = c.writer.write_all(b"q");
    let _ = c.child.wait();
    let _ = server.kill();
    let _ = server.wait();

    // Under churn.
    let mut server = serve(&bin, &kc, pods, churn);
    let carried = behind_delay(&rt, &kc, &slow, delay);
    let c = console(&bin, &slow, dir.path(), size, &["-n", "load"]);
    c.wait_for("the complete list", Duration::from_secs(60), |s| {
        s.contains(&format!("[{pods}]"))
    });
    std::thread::sleep(Duration::from_secs(3));
    let (term, up, down) = per_minute(&c, &carried, 60);
    println!(
        "{churn} pod changes/s for 60 s: {term:.0} bytes/min to the terminal; over the link {up:.0} bytes/min up, {down:.0} bytes/min down"
    );
    let mut c = c;
    let _ = c.writer.write_all(b"q");
    let _ = c.child.wait();
    let _ = server.kill();
    let _ = server.wait();
}
