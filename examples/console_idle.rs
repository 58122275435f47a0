//! What an idle console costs (README, "Measured"):
//! `cargo build --release && cargo run --release --example console_idle -- 1000 200`
//!
//! Starts `swarmdeck embedded serve --scenario none --pods N` and the console
//! on it in a pseudo-terminal, waits until the pods are shown and settled,
//! then measures for 30 s idle and 30 s under `--churn` changes per second:
//! the console's CPU time and the bytes it wrote to the terminal.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

fn measure(label: &str, pid: u32, bytes: &AtomicU64, secs: u64) {
    let (t0, b0) = (cpu_ticks(pid), bytes.load(Ordering::Relaxed));
    std::thread::sleep(Duration::from_secs(secs));
    let (t1, b1) = (cpu_ticks(pid), bytes.load(Ordering::Relaxed));
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let cpu = (t1 - t0) as f64 / ticks_per_s / secs as f64 * 100.0;
    println!(
        "{label}: console CPU {cpu:.2}% of a core, {:.0} bytes/s to the terminal",
        (b1 - b0) as f64 / secs as f64
    );
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let pods = args.first().copied().unwrap_or(1000);
    let churn = args.get(1).copied().unwrap_or(200);
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/swarmdeck");
    assert!(
        bin.exists(),
        "build the release binary first: cargo build --release"
    );
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    for (phase, churn) in [("idle", 0), ("churn", churn)] {
        let mut server = Command::new(&bin)
            .args([
                "embedded",
                "serve",
                "--scenario",
                "none",
                "--port",
                "0",
                "--pods",
                &pods.to_string(),
                "--churn",
                &churn.to_string(),
                "--kubeconfig",
            ])
            .arg(&kc)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
        let _ = lines.next();
        let pty = native_pty_system();
        let pair = pty
            .openpty(PtySize {
                rows: 40,
                cols: 160,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(&bin);
        cmd.args(["--kubeconfig", kc.to_str().unwrap(), "-n", "load"]);
        cmd.env("TERM", "xterm-256color");
        cmd.env("LANG", "C.UTF-8");
        cmd.env("HOME", dir.path());
        let mut child = pair.slave.spawn_command(cmd).unwrap();
        let pid = child.process_id().unwrap();
        let bytes = Arc::new(AtomicU64::new(0));
        let screen = Arc::new(Mutex::new(vt100::Parser::new(40, 160, 0)));
        let mut reader = pair.master.try_clone_reader().unwrap();
        let mut writer = pair.master.take_writer().unwrap();
        {
            let (bytes, screen) = (bytes.clone(), screen.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while let Ok(n) = reader.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    bytes.fetch_add(n as u64, Ordering::Relaxed);
                    screen.lock().unwrap().process(&buf[..n]);
                }
            });
        }
        let start = Instant::now();
        while !screen
            .lock()
            .unwrap()
            .screen()
            .contents()
            .contains(&format!("[{pods}]"))
        {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the console did not show {pods} pods"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        println!(
            "{phase}: {pods} pods on screen {:.2} s after start",
            start.elapsed().as_secs_f64()
        );
        // Let pods settle (all Running) before measuring.
        std::thread::sleep(Duration::from_secs(20));
        measure(&format!("{phase} ({churn} changes/s)"), pid, &bytes, 30);
        let _ = writer.write_all(b"q");
        let _ = child.wait();
        let _ = server.kill();
        let _ = server.wait();
    }
}
