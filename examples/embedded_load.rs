//! Load figures for the embedded cluster (README, "Measured"):
//! `cargo run --release --example embedded_load -- 50000`
//!
//! Prints: time until the first complete list of all pods is served over TCP,
//! the process's resident memory, full-list latency (decoded, and as bytes
//! over the wire), and watch events per
//! second delivered to a kube-rs watcher while pods are updated flat out.

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use serde_json::json;
use swarmdeck::embedded::cluster::WriteOptions;
use swarmdeck::embedded::world::{Timing, World};
use swarmdeck::embedded::{Cluster, scenario, serve_tcp};
use swarmdeck::time::Clock;

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<f64>()
                    .unwrap_or(0.0)
            })
        })
        .unwrap_or(0.0)
        / 1024.0
}

#[tokio::main]
async fn main() {
    let pods: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50_000);
    let start = Instant::now();
    let cluster = Cluster::new(Clock::system(), 20_000);
    scenario::install_crds(&cluster).unwrap();
    scenario::load_pods(&cluster, pods).unwrap();
    let mut world = World::new(cluster.clone(), Vec::new(), Timing::default(), 3);
    world.tick();
    eprintln!(
        "world created {} pods in {:.2} s",
        cluster.stored("", "pods").len(),
        start.elapsed().as_secs_f64()
    );
    let (addr, _server) = serve_tcp(&cluster, 0).await.unwrap();
    let client = swarmdeck::embedded::tcp_client(&cluster, addr, "load")
        .await
        .unwrap();
    let api: Api<Pod> = Api::namespaced(client.clone(), "load");
    let first = api.list(&ListParams::default()).await.unwrap();
    let first_list = start.elapsed();
    assert_eq!(first.items.len(), pods);
    println!("pods: {pods}");
    println!(
        "first complete list served after: {:.2} s (from an empty process)",
        first_list.as_secs_f64()
    );

    // Bring every pod to Running, as in a settled cluster.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(120) {
        world.tick();
        let running = cluster
            .stored("", "pods")
            .iter()
            .filter(|p| p.brief.field("status.phase") == Some("Running"))
            .count();
        if running == pods {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "all pods running after: {:.1} s",
        settle.elapsed().as_secs_f64()
    );
    println!(
        "resident memory (server, world and this client): {:.0} MiB",
        rss_mib()
    );

    let mut total = Duration::ZERO;
    for _ in 0..5 {
        let t = Instant::now();
        let l = api.list(&ListParams::default()).await.unwrap();
        total += t.elapsed();
        assert_eq!(l.items.len(), pods);
    }
    println!(
        "full list latency, decoded into typed Pods (mean of 5): {:.0} ms",
        total.as_secs_f64() * 200.0
    );
    // The list as it crosses the wire: the server's part, without the
    // client's decoding.
    let mut total = Duration::ZERO;
    let mut size = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let req = http::Request::get("/api/v1/namespaces/load/pods")
            .body(Vec::new())
            .unwrap();
        size = client.request_text(req).await.unwrap().len();
        total += t.elapsed();
    }
    println!(
        "full list over TCP, received as bytes (mean of 5): {:.0} ms for {:.0} MB",
        total.as_secs_f64() * 200.0,
        size as f64 / 1e6
    );

    // Watch throughput: one watcher from now, pods updated as fast as the
    // store takes them from another thread.
    let rv = cluster.resource_version().to_string();
    let mut stream = api
        .watch(&WatchParams::default().timeout(290), &rv)
        .await
        .unwrap()
        .boxed();
    let updates = pods.min(50_000);
    let writer = cluster.clone();
    let names: Vec<String> = cluster
        .stored("", "pods")
        .iter()
        .map(|p| p.brief.name().to_owned())
        .collect();
    let t = Instant::now();
    let producer = std::thread::spawn(move || {
        let rt = writer.resolve("", "v1", "pods").unwrap();
        for (i, name) in names.iter().cycle().take(updates).enumerate() {
            let cur = writer.get(&rt, Some("load"), name).unwrap();
            let mut next = (*cur).clone();
            next["metadata"]["annotations"] = json!({"swarmdeck.io/heartbeat": i.to_string()});
            writer
                .replace(
                    &rt,
                    Some("load"),
                    name,
                    next,
                    None,
                    &WriteOptions::default(),
                )
                .unwrap();
            // Keep the producer just under the broadcast buffer so no watcher lags.
            if i % 2048 == 2047 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    let mut seen = 0usize;
    while seen < updates {
        match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
            Ok(Some(Ok(WatchEvent::Modified(_)))) => seen += 1,
            Ok(Some(Ok(_))) => {}
            other => {
                println!("watch ended early after {seen} events: {other:?}");
                break;
            }
        }
    }
    producer.join().unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "watch events delivered to a kube-rs watcher: {seen} in {secs:.2} s = {:.0} events/s",
        seen as f64 / secs
    );
}
