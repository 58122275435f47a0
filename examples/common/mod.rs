//! What the examples that measure the console share: the console in a
//! pseudo-terminal (its screen parsed as a terminal would show it, the bytes
//! written to it counted), and a process's CPU and memory from /proc.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

/// User and system CPU ticks (1/100 s) of a process.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

/// A process's resident memory.
pub fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

pub struct Console {
    pub pid: u32,
    pub bytes: Arc<AtomicU64>,
    pub screen: Arc<Mutex<vt100::Parser>>,
    pub writer: Box<dyn Write + Send>,
    pub child: Box<dyn portable_pty::Child + Send + Sync>,
}

impl Console {
    pub fn contents(&self) -> String {
        self.screen.lock().unwrap().screen().contents()
    }

    pub fn wait_for(&self, what: &str, limit: Duration, want: impl Fn(&str) -> bool) -> Duration {
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

/// The console at `bin` on the cluster of `kc`, in a `size` (columns, rows)
/// pseudo-terminal, with `args` after the kubeconfig.
pub fn console(
    bin: &std::path::Path,
    kc: &std::path::Path,
    home: &std::path::Path,
    (cols, rows): (u16, u16),
    args: &[&str],
) -> Console {
    let pty = native_pty_system();
    let pair = pty
        .openpty(PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(bin);
    cmd.args(["--kubeconfig", kc.to_str().unwrap()]);
    cmd.args(args);
    cmd.env("TERM", "xterm-256color");
    cmd.env("LANG", "C.UTF-8");
    cmd.env("HOME", home);
    let child = pair.slave.spawn_command(cmd).unwrap();
    let pid = child.process_id().unwrap();
    let bytes = Arc::new(AtomicU64::new(0));
    let screen = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
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

/// The `p` quantile of sorted durations, in milliseconds.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// `swarmdeck embedded serve --scenario none --pods N --churn C` (StatefulSets
/// of 100 in namespace `load`), returned once the server lists every pod
/// Running: the console is measured, not the simulated kubelet.
pub fn serve(
    bin: &std::path::Path,
    kc: &std::path::Path,
    pods: usize,
    churn: usize,
) -> std::process::Child {
    serve_scenario(bin, kc, "none", pods, churn)
}

/// The same with a scenario (`demo`: the demo world beside the load, its
/// engine running as `embedded serve` runs it).
pub fn serve_scenario(
    bin: &std::path::Path,
    kc: &std::path::Path,
    scenario: &str,
    pods: usize,
    churn: usize,
) -> std::process::Child {
    let mut server = Command::new(bin)
        .args(["embedded", "serve", "--scenario", scenario, "--port", "0"])
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

/// The port of the server the kubeconfig `kc` names (127.0.0.1).
pub fn server_port(kc: &std::path::Path) -> u16 {
    std::fs::read_to_string(kc)
        .unwrap()
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: https://127.0.0.1:"))
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("the kubeconfig names the server")
}
