//! The console on a big cluster (DESIGN 10, README "Benchmarks"):
//! `cargo build --release && cargo run --release --example console_bench -- 10000 2000`
//!
//! Starts `swarmdeck embedded serve --scenario none --pods N` (StatefulSets of
//! 100 in namespace `load`), waits until the server lists them all Running, then starts
//! the console on it in a 200x60 pseudo-terminal and prints: the first screen
//! with pods, the complete first list, the console's resident memory, its idle
//! CPU and bytes written to the terminal, and — while the server sends CHURN
//! pod changes per second — its CPU and bytes, and the time from a key press
//! to the screen showing it (p50, p99 over 200 presses of `:` and Esc). The server is a separate
//! process: its own cost is not counted.

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

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

struct Console {
    pid: u32,
    bytes: Arc<AtomicU64>,
    screen: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
}

impl Console {
    fn contents(&self) -> String {
        self.screen.lock().unwrap().screen().contents()
    }

    fn wait_for(&self, what: &str, limit: Duration, want: impl Fn(&str) -> bool) -> Duration {
        let start = Instant::now();
        loop {
            if want(&self.contents()) {
                return start.elapsed();
            }
            assert!(start.elapsed() < limit, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

fn serve(
    bin: &std::path::Path,
    kc: &std::path::Path,
    pods: usize,
    churn: usize,
) -> std::process::Child {
    let mut server = Command::new(bin)
        .args(["embedded", "serve", "--scenario", "none", "--port", "0"])
        .args(["--pods", &pods.to_string(), "--churn", &churn.to_string()])
        .arg("--kubeconfig")
        .arg(kc)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let _ = lines.next();
    // Until the server lists every pod: the console is measured, not the simulator.
    let start = Instant::now();
    loop {
        let out = Command::new(bin)
            .args(["get", "pods", "-n", "load", "-o", "json", "--kubeconfig"])
            .arg(kc)
            .output()
            .unwrap();
        // Every pod created and Running: the simulated kubelet has settled,
        // so "idle" is the console's idle, not a console catching up with
        // 150,000 pod starts.
        let n = serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|v| {
                v["items"].as_array().map(|items| {
                    items
                        .iter()
                        .filter(|p| p["status"]["phase"] == "Running")
                        .count()
                })
            })
            .unwrap_or(0);
        if n >= pods {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the server did not start {pods} pods"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    server
}

fn console(bin: &std::path::Path, kc: &std::path::Path, home: &std::path::Path) -> Console {
    let pty = native_pty_system();
    let pair = pty
        .openpty(PtySize {
            rows: 60,
            cols: 200,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(bin);
    cmd.args(["--kubeconfig", kc.to_str().unwrap(), "-n", "load"]);
    cmd.env("TERM", "xterm-256color");
    cmd.env("LANG", "C.UTF-8");
    cmd.env("HOME", home);
    let child = pair.slave.spawn_command(cmd).unwrap();
    let pid = child.process_id().unwrap();
    let bytes = Arc::new(AtomicU64::new(0));
    let screen = Arc::new(Mutex::new(vt100::Parser::new(60, 200, 0)));
    let mut reader = pair.master.try_clone_reader().unwrap();
    let writer = pair.master.take_writer().unwrap();
    {
        let (bytes, screen) = (bytes.clone(), screen.clone());
        std::thread::spawn(move || {
            let _keep = pair.master;
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
    Console {
        pid,
        bytes,
        screen,
        writer,
        child,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let pods = args.first().copied().unwrap_or(10_000);
    let churn = args.get(1).copied().unwrap_or(2000);
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/swarmdeck");
    assert!(
        bin.exists(),
        "build the release binary first: cargo build --release"
    );
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");

    // Idle: first screen, complete list, memory, CPU and bytes.
    let mut server = serve(&bin, &kc, pods, 0);
    let started = Instant::now();
    let mut c = console(&bin, &kc, dir.path());
    let first = c.wait_for("a first row", Duration::from_secs(120), |s| {
        s.contains("│load-") || s.contains("|load-")
    });
    let last_title = std::cell::RefCell::new((Instant::now(), String::new()));
    c.wait_for("the complete list", Duration::from_secs(120), |s| {
        let title = s
            .lines()
            .nth(1)
            .unwrap_or("")
            .chars()
            .take(40)
            .collect::<String>();
        let mut last = last_title.borrow_mut();
        if std::env::var_os("SWARMDECK_BENCH_TRACE").is_some()
            && last.0.elapsed() > Duration::from_millis(500)
        {
            eprintln!("{:.2} s {title}", started.elapsed().as_secs_f64());
            *last = (Instant::now(), title);
        }
        s.contains(&format!("Pods(load)[{pods}]"))
    });
    let complete = started.elapsed();
    println!(
        "{pods} pods: first screen with pods {:.2} s, complete {:.2} s",
        first.as_secs_f64(),
        complete.as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(5));
    let (t0, b0) = (cpu_ticks(c.pid), c.bytes.load(Ordering::Relaxed));
    std::thread::sleep(Duration::from_secs(30));
    let (t1, b1) = (cpu_ticks(c.pid), c.bytes.load(Ordering::Relaxed));
    println!(
        "idle 30 s: RSS {:.0} MiB, CPU {:.2}% of a core, {:.1} bytes/s to the terminal",
        rss_mib(c.pid),
        (t1 - t0) as f64 / 100.0 / 30.0 * 100.0,
        (b1 - b0) as f64 / 30.0
    );
    let _ = c.writer.write_all(b"q");
    let _ = c.child.wait();
    let _ = server.kill();
    let _ = server.wait();

    // Under churn: key press to screen.
    let mut server = serve(&bin, &kc, pods, churn);
    let mut c = console(&bin, &kc, dir.path());
    c.wait_for("the complete list", Duration::from_secs(120), |s| {
        s.contains(&format!("Pods(load)[{pods}]"))
    });
    std::thread::sleep(Duration::from_secs(3));
    let (t0, b0) = (cpu_ticks(c.pid), c.bytes.load(Ordering::Relaxed));
    std::thread::sleep(Duration::from_secs(30));
    let (t1, b1) = (cpu_ticks(c.pid), c.bytes.load(Ordering::Relaxed));
    println!(
        "{churn} pod changes/s for 30 s: CPU {:.2}% of a core, {:.0} bytes/s to the terminal",
        (t1 - t0) as f64 / 100.0 / 30.0 * 100.0,
        (b1 - b0) as f64 / 30.0
    );
    let mut latencies = Vec::new();
    for _ in 0..100 {
        for (key, shown) in [(&b":"[..], true), (&b"\x1b"[..], false)] {
            let start = Instant::now();
            c.writer.write_all(key).unwrap();
            c.writer.flush().unwrap();
            loop {
                let last = c.contents().lines().last().unwrap_or("").to_owned();
                if last.starts_with(':') == shown {
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "the key was not shown"
                );
                std::thread::sleep(Duration::from_micros(200));
            }
            latencies.push(start.elapsed());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    latencies.sort();
    println!(
        "key press to screen under {churn} pod changes/s: p50 {:.1} ms, p99 {:.1} ms, RSS {:.0} MiB",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        rss_mib(c.pid)
    );
    let _ = c.writer.write_all(b"q");
    let _ = c.child.wait();
    let _ = server.kill();
    let _ = server.wait();
}
