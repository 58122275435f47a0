//! Days without attention, compressed (README "Benchmarks", the wall screen):
//! `cargo build --release && cargo run --release --example soak -- 15 200 1000`
//!
//! Starts `swarmdeck embedded serve` on the demo with N more pods in
//! StatefulSets (namespace `load`) and CHURN pod changes per second, and a
//! read-only console started straight into `:overview` in a 200x60
//! pseudo-terminal. For MINUTES it keeps the cluster moving beyond the
//! churn: a pod of `load` deleted every half second (its StatefulSet makes it
//! again: pods come and go, each with its Events, which the server expires
//! past its window). Prints the console's RSS after a minute's warm-up and
//! every minute after, and its growth from the warm-up to the end (target:
//! under 5 MiB), with its CPU.

mod common;

use std::time::{Duration, Instant};

use common::{console, cpu_ticks, rss_mib, serve_scenario};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, ListParams};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let minutes: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(15);
    let churn: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let pods: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let bin = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/swarmdeck");
    assert!(bin.exists(), "build it first: cargo build --release");
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let mut server = serve_scenario(&bin, &kc, "demo", pods, churn);
    let t = console(
        &bin,
        &kc,
        dir.path(),
        (200, 60),
        &["--read-only", "--view", "overview"],
    );
    t.wait_for("the overview", Duration::from_secs(60), |s| {
        s.contains("SWARMS (1)") && s.contains("TASKS")
    });
    // Pods come and go: one of `load` deleted every half second.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let deleted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mover = {
        let (stop, deleted, kc) = (stop.clone(), deleted.clone(), kc.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let kubeconfig = kube::config::Kubeconfig::read_from(&kc).unwrap();
                let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                    .await
                    .unwrap();
                let client = kube::Client::try_from(config).unwrap();
                let api: Api<Pod> = Api::namespaced(client, "load");
                let mut i = 0usize;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let names: Vec<String> = api
                        .list(&ListParams::default().limit(500))
                        .await
                        .map(|l| {
                            l.items
                                .into_iter()
                                .filter_map(|p| p.metadata.name)
                                .collect()
                        })
                        .unwrap_or_default();
                    for _ in 0..10 {
                        if let Some(name) = names.get(i % names.len().max(1))
                            && api.delete(name, &DeleteParams::default()).await.is_ok()
                        {
                            deleted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        i += 7;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            });
        })
    };
    std::thread::sleep(Duration::from_secs(60));
    let start_rss = rss_mib(t.pid);
    let start_cpu = cpu_ticks(t.pid);
    let start = Instant::now();
    println!("console RSS after a minute's warm-up: {start_rss:.1} MiB");
    let mut max = start_rss;
    for m in 1..=minutes {
        std::thread::sleep(Duration::from_secs(60));
        let rss = rss_mib(t.pid);
        max = max.max(rss);
        println!(
            "minute {m}: RSS {rss:.1} MiB, pods deleted so far {}",
            deleted.load(std::sync::atomic::Ordering::Relaxed)
        );
        let screen = t.contents();
        assert!(
            screen.contains("SWARMS (1)"),
            "the overview is still up:\n{screen}"
        );
    }
    let end_rss = rss_mib(t.pid);
    let cpu = (cpu_ticks(t.pid) - start_cpu) as f64 / 100.0 / start.elapsed().as_secs_f64() * 100.0;
    println!(
        "soak: {minutes} min at {churn} changes/s with {pods} pods coming and going: console RSS {start_rss:.1} -> {end_rss:.1} MiB (growth {:.1} MiB, max {max:.1}), CPU {cpu:.1}% of a core",
        end_rss - start_rss
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = mover.join();
    let mut child = t.child;
    let _ = child.kill();
    let _ = server.kill();
    let _ = server.wait();
}
