//! The console on a big cluster (ARCHITECTURE 10, README "Benchmarks"):
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

mod common;

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{console, cpu_ticks, percentile, rss_mib, serve};

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
    let mut c = console(&bin, &kc, dir.path(), (200, 60), &["-n", "load"]);
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
    let mut c = console(&bin, &kc, dir.path(), (200, 60), &["-n", "load"]);
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
