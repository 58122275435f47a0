//! What moving streams costs, measured in the simulated world (ARCHITECTURE 5.1):
//! for each scenario — scaling through swarmdeck and from outside, a
//! stream given a worker of its own, one job added, one removed — with
//! restart-pod and hot-reload workers, in strict and fast handoff: the
//! seconds streams were loaded by two pods at once (summed over streams),
//! the gap per moved stream (p50 and max: the time it ran nowhere), pod
//! restarts, and the jobs moved against the lower bound.
//!
//! `cargo run --release --example handoff` (about two minutes; world time
//! runs about 30 times faster than the wall clock).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use swarmdeck::domain::assignment::{self, WorkerConfig};
use swarmdeck::embedded::Cluster;
use swarmdeck::embedded::scenario::{self, Scenario};
use swarmdeck::embedded::world::{Ownership, Timing, World};
use swarmdeck::engine::swarm::{ReconcileOptions, reconcile, request_scale, resolve};
use swarmdeck::time::Clock;

const STREAMS: usize = 100;

struct Sim {
    client: kube::Client,
    ownership: Ownership,
    stop: Arc<AtomicBool>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn jobs(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("stream:s-{i:03}")).collect()
}

async fn set_jobs(sim: &Sim, jobs: &[String]) {
    let text = format!(
        "jobs:\n{}",
        jobs.iter()
            .map(|j| format!("  - {j}\n"))
            .collect::<String>()
    );
    Api::<ConfigMap>::namespaced(sim.client.clone(), "swarm")
        .patch(
            "swarm-controller-config",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"config.yml": text}})),
        )
        .await
        .unwrap();
}

async fn scale(sim: &Sim, n: u32) {
    Api::<StatefulSet>::namespaced(sim.client.clone(), "swarm")
        .patch_scale(
            "swarm-worker",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": n}})),
        )
        .await
        .unwrap();
}

async fn written(sim: &Sim) -> WorkerConfig {
    let cm = Api::<ConfigMap>::namespaced(sim.client.clone(), "swarm")
        .get("swarm-worker-config")
        .await
        .unwrap();
    WorkerConfig::parse(&cm.data.unwrap()["config.yml"]).unwrap()
}

async fn converge(sim: &Sim) {
    let swarm = resolve(&sim.client, "swarm", "swarm-worker").await.unwrap();
    let opts = ReconcileOptions {
        poll: Duration::from_millis(5),
        worker_timeout: Duration::from_secs(60),
        ..Default::default()
    };
    for _ in 0..10 {
        match reconcile(&sim.client, &swarm, &opts, |_, _| {}).await {
            Ok(_) => return,
            Err(swarmdeck::engine::Error::Rescaled { .. }) => continue,
            Err(e) => panic!("{e}"),
        }
    }
}

/// A demo world with `STREAMS` streams over `n` workers, converged.
async fn world(n: u32, hot: bool, strict: bool) -> Sim {
    let cluster = Cluster::new(Clock::manual(1_795_305_600_000), 100_000);
    scenario::install_crds(&cluster).unwrap();
    let s = Scenario::parse(scenario::DEMO).unwrap();
    s.load_into(&cluster).unwrap();
    let mut w = World::new(cluster.clone(), s.faults, Timing::default(), s.nodes);
    w.run_for(3_000);
    let ownership = w.ownership();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                w.run_for(100);
                std::thread::sleep(Duration::from_millis(3));
            }
        });
    }
    let client = swarmdeck::cluster::gate::in_process(&cluster, "swarm", false);
    let sim = Sim {
        client,
        ownership,
        stop,
    };
    Api::<ConfigMap>::namespaced(sim.client.clone(), "swarm")
        .patch(
            "swarm-controller-config",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {
            "labels": {"swarmdeck.io/swarm": "swarm-worker"},
            "annotations": {
                "swarmdeck.io/output-configmap": "swarm-worker-config",
                "swarmdeck.io/refresh": if hot { "hot-reload" } else { "restart-pod" },
                "swarmdeck.io/handoff": if strict { "strict" } else { "fast" },
            }}})),
        )
        .await
        .unwrap();
    set_jobs(&sim, &jobs(STREAMS)).await;
    scale(&sim, n).await;
    converge(&sim).await;
    sim
}

#[derive(Clone, Copy)]
enum Change {
    /// Through swarmdeck (`swarmdeck scale`): more workers are asked of
    /// the engine, fewer are set at once.
    Swarmdeck(u32, u32),
    /// From outside (`kubectl scale`).
    Kubectl(u32, u32),
    /// One stream is dedicated a worker of its own (`swarmdeck.io/dedicated`):
    /// the engine rebalances the others around it.
    Dedicate,
    AddJob,
    RemoveJob,
}

impl Change {
    fn name(self) -> String {
        match self {
            Change::Swarmdeck(a, b) => format!("scale {a}→{b} (swarmdeck)"),
            Change::Kubectl(a, b) => format!("scale {a}→{b} (kubectl)"),
            Change::Dedicate => "dedicate one stream".into(),
            Change::AddJob => "one job added".into(),
            Change::RemoveJob => "one job removed".into(),
        }
    }

    fn start(self) -> u32 {
        match self {
            Change::Swarmdeck(a, _) | Change::Kubectl(a, _) => a,
            _ => 4,
        }
    }
}

struct Figures {
    overlap_s: f64,
    gap_p50_s: f64,
    gap_max_s: f64,
    restarts: usize,
    moved: usize,
    bound: Option<usize>,
}

async fn measure(change: Change, hot: bool, strict: bool) -> Figures {
    let sim = world(change.start(), hot, strict).await;
    // Pods that became ready in the world's last tick finished the set-up.
    let t0 = sim.ownership.now_ms() + 1;
    let sts = "swarm-worker";
    let mut new_workers = 0;
    let mut all = jobs(STREAMS);
    match change {
        Change::Swarmdeck(a, b) => {
            let swarm = resolve(&sim.client, "swarm", "swarm-worker").await.unwrap();
            if b > a && strict {
                request_scale(&sim.client, &swarm, b, "handoff-bench")
                    .await
                    .unwrap();
            } else {
                scale(&sim, b).await;
            }
            new_workers = b.saturating_sub(a) as usize;
        }
        Change::Kubectl(a, b) => {
            scale(&sim, b).await;
            new_workers = b.saturating_sub(a) as usize;
        }
        Change::Dedicate => {
            Api::<ConfigMap>::namespaced(sim.client.clone(), "swarm")
                .patch(
                    "swarm-controller-config",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"annotations": {
                        "swarmdeck.io/dedicated": "stream:s-042"}}})),
                )
                .await
                .unwrap();
        }
        Change::AddJob => {
            all.push("stream:s-new".into());
            set_jobs(&sim, &all).await;
        }
        Change::RemoveJob => {
            all.remove(17);
            set_jobs(&sim, &all).await;
        }
    }
    let base = written(&sim).await;
    converge(&sim).await;
    // Let hot-reload workers settle, then read the record.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = written(&sim).await;
    let a = base.to_assignment(sts);
    let b = after.to_assignment(sts);
    let moved = assignment::moved_between(&a, &b);
    let bound = match change {
        Change::Swarmdeck(..) | Change::Kubectl(..) => {
            Some(assignment::movement_on_scale(&a, &b).lower_bound)
        }
        Change::AddJob | Change::RemoveJob => Some(0),
        Change::Dedicate => None,
    };
    let mut gaps: Vec<i64> = sim
        .ownership
        .gaps_ms("swarm", t0)
        .into_iter()
        .map(|(_, g)| g)
        .collect();
    gaps.sort_unstable();
    let starts = sim.ownership.starts("swarm", "swarm-worker-", t0).len();
    Figures {
        overlap_s: sim.ownership.overlap_ms("swarm", t0) as f64 / 1000.0,
        gap_p50_s: gaps.get(gaps.len() / 2).copied().unwrap_or(0) as f64 / 1000.0,
        gap_max_s: gaps.last().copied().unwrap_or(0) as f64 / 1000.0,
        restarts: starts.saturating_sub(new_workers),
        moved,
        bound,
    }
}

#[tokio::main]
async fn main() {
    let changes = [
        Change::Swarmdeck(2, 3),
        Change::Swarmdeck(3, 2),
        Change::Swarmdeck(8, 9),
        Change::Swarmdeck(9, 8),
        Change::Kubectl(2, 3),
        Change::Kubectl(3, 2),
        Change::Kubectl(8, 9),
        Change::Kubectl(9, 8),
        Change::Dedicate,
        Change::AddJob,
        Change::RemoveJob,
    ];
    println!(
        "{STREAMS} streams; world timing: pod start 1 s, termination 1 s, hot reload 2–4 s after a write"
    );
    println!(
        "| change | workers | handoff | overlap s | gap p50 s | gap max s | restarts | moved / bound |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for change in changes {
        for hot in [false, true] {
            for strict in [true, false] {
                let f = measure(change, hot, strict).await;
                println!(
                    "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {} | {} / {} |",
                    change.name(),
                    if hot { "hot-reload" } else { "restart" },
                    if strict { "strict" } else { "fast" },
                    f.overlap_s,
                    f.gap_p50_s,
                    f.gap_max_s,
                    f.restarts,
                    f.moved,
                    f.bound.map_or("-".to_owned(), |b| b.to_string()),
                );
            }
        }
    }
}
