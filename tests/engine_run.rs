//! The long-running engine against the embedded cluster: one leader per
//! namespace, observers that never act, takeover after the leader stops,
//! intents (scale, rebalance request, Task target) carried out from the
//! cluster.

mod common;
use common::scale;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::demo;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use swarmdeck::domain::assignment::WorkerConfig;
use swarmdeck::domain::task::Task;
use swarmdeck::embedded::Cluster;
use swarmdeck::engine::run::{Engine, EngineConfig, EngineRole, EngineStatus};
use swarmdeck::engine::swarm::ReconcileOptions;
use tokio::sync::{oneshot, watch};
use tower::Layer;

/// A client that records every request other than GET it sends.
fn counting_client(cluster: &Cluster) -> (kube::Client, Arc<Mutex<Vec<String>>>) {
    let writes = Arc::new(Mutex::new(Vec::new()));
    let log = writes.clone();
    let service =
        tower::util::MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
            if req.method() != http::Method::GET {
                log.lock()
                    .unwrap()
                    .push(format!("{} {}", req.method(), req.uri().path()));
            }
            req
        })
        .layer(swarmdeck::embedded::api::router(cluster.clone()));
    (kube::Client::new(service, "swarm"), writes)
}

/// Writes other than the Lease's own.
fn acting(writes: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    writes
        .lock()
        .unwrap()
        .iter()
        .filter(|w| !w.contains("/leases"))
        .cloned()
        .collect()
}

fn config(cluster: &Cluster, identity: &str, namespaces: &[&str]) -> EngineConfig {
    let mut cfg = EngineConfig::new(
        namespaces.iter().map(|s| (*s).to_owned()).collect(),
        identity.into(),
    );
    cfg.clock = cluster.clock().clone();
    cfg.renew_every = Duration::from_millis(20);
    cfg.resync = Duration::from_millis(50);
    cfg.reconcile = ReconcileOptions {
        poll: Duration::from_millis(10),
        worker_timeout: Duration::from_secs(30),
        ..Default::default()
    };
    cfg
}

struct Running {
    status: watch::Receiver<EngineStatus>,
    stop: Option<oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<()>,
    writes: Arc<Mutex<Vec<String>>>,
}

fn start(cluster: &Cluster, cfg: EngineConfig) -> Running {
    let (client, writes) = counting_client(cluster);
    let engine = Engine::new(client, cfg, None);
    let status = engine.status();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(engine.run(async {
        let _ = rx.await;
    }));
    Running {
        status,
        stop: Some(tx),
        handle,
        writes,
    }
}

async fn until<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..3000 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

fn role(r: &Running, ns: &str) -> EngineRole {
    r.status.borrow().namespaces[ns].role
}

async fn output(client: &kube::Client) -> Option<WorkerConfig> {
    let cm = Api::<ConfigMap>::namespaced(client.clone(), "swarm")
        .get_opt("swarm-worker-config")
        .await
        .unwrap()?;
    WorkerConfig::parse(&cm.data?["config.yml"]).ok()
}

/// The swarm is converged on `n` workers with every job exactly once.
async fn converged_on(client: &kube::Client, n: usize) -> bool {
    let swarm = swarmdeck::domain::swarm::SwarmRef::default();
    let Ok((cfg, rows)) = swarmdeck::engine::swarm::grid(client, &swarm).await else {
        return false;
    };
    let all: Vec<&String> = cfg.workloads.values().flat_map(|w| &w.jobs).collect();
    let unique: BTreeSet<&&String> = all.iter().collect();
    rows.len() == n
        && cfg.workloads.len() == n
        && rows.iter().all(|r| r.converged)
        && all.len() == 32
        && unique.len() == 32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_engine_leads_the_other_acts_on_nothing_and_takes_over() {
    let d = demo(false);
    let mut a = start(&d.cluster, config(&d.cluster, "engine-a", &["swarm"]));
    let mut b = start(&d.cluster, config(&d.cluster, "engine-b", &["swarm"]));
    until("a leader", async || {
        let (ra, rb) = (role(&a, "swarm"), role(&b, "swarm"));
        (ra != EngineRole::Starting && rb != EngineRole::Starting).then_some(())
    })
    .await;
    let leaders = [&a, &b]
        .iter()
        .filter(|r| role(r, "swarm") == EngineRole::Leader)
        .count();
    assert_eq!(leaders, 1, "exactly one engine leads");
    let (leader, observer) = if role(&a, "swarm") == EngineRole::Leader {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    let leader_id = leader.status.borrow().identity.clone();
    until("the observer to name the leader", async || {
        (observer.status.borrow().namespaces["swarm"]
            .leader
            .as_deref()
            == Some(leader_id.as_str()))
        .then_some(())
    })
    .await;

    // The leader writes the first assignment; then an intent: scale to 3.
    until("the first assignment", async || {
        converged_on(&d.client, 2).await.then_some(())
    })
    .await;
    scale(&d.client, 3).await;
    until("3 converged workers", async || {
        converged_on(&d.client, 3).await.then_some(())
    })
    .await;
    assert!(
        !acting(&leader.writes).is_empty(),
        "the leader wrote the assignment"
    );
    assert_eq!(
        acting(&observer.writes),
        Vec::<String>::new(),
        "the observer acted"
    );
    assert!(
        observer.status.borrow().namespaces["swarm"]
            .swarms
            .contains_key("swarm-worker"),
        "the observer computes the plan"
    );

    // The leader dies without releasing its lease: the observer takes over
    // once the lease expires, and carries out the next intent.
    leader.handle.abort();
    let stopped_at = d.cluster.clock().now_ms();
    until("the takeover", async || {
        (role(observer, "swarm") == EngineRole::Leader).then_some(())
    })
    .await;
    let waited = d.cluster.clock().now_ms() - stopped_at;
    assert!(
        waited <= 15_000 + 5_000,
        "took over {waited} ms after the leader stopped (lease 15 s)"
    );
    scale(&d.client, 2).await;
    until("2 converged workers", async || {
        converged_on(&d.client, 2).await.then_some(())
    })
    .await;
    assert!(!acting(&observer.writes).is_empty(), "the new leader acts");
    observer.stop.take().unwrap().send(()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_releases_the_lease_at_once() {
    let d = demo(false);
    let mut a = start(&d.cluster, config(&d.cluster, "engine-a", &["swarm"]));
    until("a leads", async || {
        (role(&a, "swarm") == EngineRole::Leader).then_some(())
    })
    .await;
    let b = start(&d.cluster, config(&d.cluster, "engine-b", &["swarm"]));
    until("b observes", async || {
        (role(&b, "swarm") == EngineRole::Observer).then_some(())
    })
    .await;
    a.stop.take().unwrap().send(()).unwrap();
    (&mut a.handle).await.unwrap();
    let released_at = d.cluster.clock().now_ms();
    until("b leads", async || {
        (role(&b, "swarm") == EngineRole::Leader).then_some(())
    })
    .await;
    assert!(
        d.cluster.clock().now_ms() - released_at < 15_000,
        "b did not wait for the lease to expire"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_request_is_carried_out_and_cleared() {
    let d = demo(false);
    let e = start(&d.cluster, config(&d.cluster, "engine", &["swarm"]));
    until("the first assignment", async || {
        converged_on(&d.client, 2).await.then_some(())
    })
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(d.client.clone(), "swarm");
    cms.patch(
        "swarm-controller-config",
        &PatchParams::default(),
        // A request as a command writes it (who, and now: requests expire).
        &Patch::Merge(
            json!({"metadata": {"annotations": swarmdeck::engine::swarm::request_annotations(
                swarmdeck::engine::swarm::Request::Rebalance,
                "test",
            )}}),
        ),
    )
    .await
    .unwrap();
    until("the request cleared", async || {
        let cm = cms.get("swarm-controller-config").await.unwrap();
        (!cm.metadata
            .annotations
            .unwrap_or_default()
            .contains_key("swarmdeck.io/rebalance-requested"))
        .then_some(())
    })
    .await;
    until("the engine's verdict", async || {
        let last = e.status.borrow().namespaces["swarm"].swarms["swarm-worker"]
            .last
            .clone();
        (last.as_deref() == Some("nothing to do: the assignment is current")).then_some(())
    })
    .await;
    assert!(output(&d.client).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_target_is_stepped_through_every_state() {
    let d = demo(false);
    let e = start(&d.cluster, config(&d.cluster, "engine", &["alice-tasks"]));
    let tasks: Api<Task> = Api::namespaced(d.client.clone(), "alice-tasks");
    until("readout in standby", async || {
        let t = tasks.get("readout").await.unwrap();
        (t.status.and_then(|s| s.state).as_deref() == Some("standby")).then_some(())
    })
    .await;
    tasks
        .patch(
            "readout",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"swarmdeck.io/target-state": "running"}}}),
            ),
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    until("readout running", async || {
        let t = tasks.get("readout").await.unwrap();
        let state = t.status.and_then(|s| s.state).unwrap_or_default();
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        (state == "running").then_some(())
    })
    .await;
    assert!(seen.contains(&"configured".to_owned()), "{seen:?}");
    until("the engine to report it", async || {
        let last = e.status.borrow().namespaces["alice-tasks"].tasks["readout"]
            .last
            .clone();
        (last.as_deref() == Some("converged: running")).then_some(())
    })
    .await;
    assert_eq!(e.status.borrow().actions, 3, "two steps and the arrival");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_down_during_a_refresh_replans_instead_of_waiting_for_a_gone_worker() {
    let d = demo(false);
    let mut cfg = config(&d.cluster, "engine", &["swarm"]);
    // Far longer than the wait below: only a re-plan can converge in time.
    cfg.reconcile.worker_timeout = Duration::from_secs(600);
    let e = start(&d.cluster, cfg);
    until("the first assignment", async || {
        converged_on(&d.client, 2).await.then_some(())
    })
    .await;
    scale(&d.client, 3).await;
    until("a worker refreshing", async || {
        let s = e.status.borrow().namespaces["swarm"].swarms["swarm-worker"].clone();
        s.refreshing.is_some().then_some(())
    })
    .await;
    scale(&d.client, 2).await;
    until("2 converged workers", async || {
        converged_on(&d.client, 2).await.then_some(())
    })
    .await;
    let s = e.status.borrow().namespaces["swarm"].swarms["swarm-worker"].clone();
    assert!(!s.failed, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_swarm_resource_keeps_its_size_and_members() {
    use swarmdeck::domain::swarm::{Swarm, SwarmSpec};
    let d = demo(false);
    let swarms: Api<Swarm> = Api::namespaced(d.client.clone(), "swarm");
    swarms
        .create(
            &Default::default(),
            &Swarm::new("swarm-worker", SwarmSpec { replicas: 2 }),
        )
        .await
        .unwrap();
    let _e = start(&d.cluster, config(&d.cluster, "engine", &["swarm"]));
    let members =
        |n: usize| -> Vec<String> { (0..n).map(|o| format!("swarm-worker-{o}")).collect() };
    until("size 2 and both members", async || {
        let s = swarms.get("swarm-worker").await.unwrap().status?;
        (s.size == 2 && s.members == members(2)).then_some(())
    })
    .await;
    scale(&d.client, 3).await;
    until("size 3 and three members", async || {
        let s = swarms.get("swarm-worker").await.unwrap().status?;
        (s.size == 3 && s.members == members(3)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_finishes_the_refresh_another_one_left_half_done() {
    use swarmdeck::domain::swarm::SwarmRef;
    use swarmdeck::engine::swarm::{desired_state, read_inputs, write_plan};
    let d = demo(false);
    // A leader wrote the assignment for 3 workers, then died before any refresh.
    scale(&d.client, 3).await;
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(d.client.clone(), "swarm");
    until("the third worker's pod", async || {
        pods.get_opt("swarm-worker-2").await.unwrap().map(|_| ())
    })
    .await;
    let swarm = SwarmRef::default();
    let mut inputs = read_inputs(&d.client, &swarm).await.unwrap();
    inputs.replicas = 3;
    let plan = desired_state(&swarm, &inputs, &Default::default()).unwrap();
    assert!(
        write_plan(
            &d.client,
            &swarm,
            &plan,
            inputs.output_version.as_deref(),
            false
        )
        .await
        .unwrap()
    );
    let cms: Api<ConfigMap> = Api::namespaced(d.client.clone(), "swarm");
    let pending = |cm: &ConfigMap| {
        cm.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("swarmdeck.io/pending-refresh"))
            .cloned()
    };
    let cm = cms.get("swarm-worker-config").await.unwrap();
    // Written with the assignment: each worker to refresh and the pod it ran.
    let written = swarmdeck::domain::swarm::PendingRefresh::parse(&pending(&cm).unwrap());
    assert_eq!(
        written.workers(),
        ["swarm-worker-0", "swarm-worker-1", "swarm-worker-2"]
    );
    for w in written.workers() {
        let uid = pods.get(&w).await.unwrap().metadata.uid;
        assert_eq!(written.replaced_uid(&w), uid.as_deref(), "{w}");
    }
    // The next engine finds the plan current but the refresh pending: it
    // refreshes those workers and clears the mark.
    let e = start(&d.cluster, config(&d.cluster, "engine", &["swarm"]));
    until("the pending refresh done", async || {
        let cm = cms.get("swarm-worker-config").await.unwrap();
        pending(&cm).is_none().then_some(())
    })
    .await;
    until("3 converged workers", async || {
        converged_on(&d.client, 3).await.then_some(())
    })
    .await;
    // The engine reports once its round is over (after the mark is gone).
    let last = until("the engine's verdict", async || {
        e.status.borrow().namespaces["swarm"].swarms["swarm-worker"]
            .last
            .clone()
    })
    .await;
    assert!(
        last.starts_with("converged: version 1, 3 workers refreshed"),
        "{last}"
    );
    assert!(
        !acting(&e.writes)
            .iter()
            .any(|w| w.contains("configmaps/swarm-worker-config") && w.starts_with("PUT")),
        "the assignment was not rewritten: {:?}",
        acting(&e.writes)
    );
}

/// A request left by a command whose engine died is not carried out by an
/// engine that leads later: past its time it is dropped, with an audit line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_request_is_dropped_not_performed() {
    use swarmdeck::engine::swarm::{
        REBALANCE_ANNOTATION, REBALANCE_BY_ANNOTATION, SCALE_ANNOTATION, SCALE_AT_ANNOTATION,
        SCALE_BY_ANNOTATION,
    };
    let d = demo(false);
    let long_ago =
        swarmdeck::time::rfc3339(swarmdeck::time::Clock::system().now_ms() - 20 * 60 * 1000);
    let cms: Api<ConfigMap> = Api::namespaced(d.client.clone(), "swarm");
    cms.patch(
        "swarm-controller-config",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(serde_json::json!({"metadata": {"annotations": {
            SCALE_ANNOTATION: "3", SCALE_AT_ANNOTATION: long_ago, SCALE_BY_ANNOTATION: "alice",
            REBALANCE_ANNOTATION: long_ago, REBALANCE_BY_ANNOTATION: "bob",
        }}})),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let (client, _) = counting_client(&d.cluster);
    let auditor = swarmdeck::engine::audit::Auditor {
        client: client.clone(),
        user: "later".into(),
        context: "test".into(),
        log: Some(log.clone()),
    };
    let engine = Engine::new(
        client,
        config(&d.cluster, "later", &["swarm"]),
        Some(auditor),
    );
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(engine.run(async {
        let _ = rx.await;
    }));
    until("the requests gone", async || {
        let cm = cms.get("swarm-controller-config").await.ok()?;
        let a = cm.metadata.annotations.unwrap_or_default();
        (!a.contains_key(SCALE_ANNOTATION) && !a.contains_key(REBALANCE_ANNOTATION)).then_some(())
    })
    .await;
    let _ = tx.send(());
    let _ = handle.await;
    let sts: Api<k8s_openapi::api::apps::v1::StatefulSet> =
        Api::namespaced(d.client.clone(), "swarm");
    let replicas = sts
        .get("swarm-worker")
        .await
        .unwrap()
        .spec
        .unwrap()
        .replicas;
    assert_eq!(replicas, Some(2), "the stale scale was not carried out");
    let text = std::fs::read_to_string(&log).unwrap();
    let expired: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("ExpiredRequest"))
        .collect();
    assert_eq!(expired.len(), 2, "{text}");
    assert!(
        expired.iter().any(|l| l
            .contains("the scale to 3 workers requested by `alice` was dropped, not carried out")),
        "{text}"
    );
    assert!(
        expired
            .iter()
            .any(|l| l.contains("the rebalance requested by `bob` was dropped")),
        "{text}"
    );
}
