//! Fenced leadership under a fault: two engines on one namespace, and a
//! stall between one of them and the server that holds its Lease renewals
//! back past the lease's duration. Every write that reaches the server is
//! checked against the Lease's holder at that moment: an engine writes only
//! while it holds the lease — never after the other took over.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use swarmdeck::embedded::Cluster;
use swarmdeck::engine::run::{Engine, EngineConfig, EngineRole, EngineStatus};
use swarmdeck::engine::swarm::ReconcileOptions;
use tokio::sync::{oneshot, watch};
use tower::ServiceExt;

/// A client for `who` whose requests reach the cluster's router; a write
/// that arrives while `who` does not hold the Lease is recorded in
/// `violations`; while `stall` is set its Lease renewals hang.
fn client(
    cluster: &Cluster,
    who: &str,
    stall: Arc<AtomicBool>,
    violations: Arc<Mutex<Vec<String>>>,
    writes: Arc<Mutex<Vec<String>>>,
) -> kube::Client {
    let (cluster, who) = (cluster.clone(), who.to_owned());
    let router = swarmdeck::embedded::api::router(cluster.clone());
    let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
        let (cluster, who, router) = (cluster.clone(), who.clone(), router.clone());
        let (stall, violations, writes) = (stall.clone(), violations.clone(), writes.clone());
        async move {
            let path = req.uri().path().to_owned();
            let write = req.method() != http::Method::GET;
            let lease = path.contains("/leases");
            if write && lease && stall.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            if write && !lease && !path.contains("/events") {
                let rt = cluster
                    .resolve("coordination.k8s.io", "v1", "leases")
                    .unwrap();
                let holder = cluster
                    .get(&rt, Some("swarm"), "swarmdeck-engine")
                    .ok()
                    .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned));
                let line = format!("{} {path} (holder {holder:?})", req.method());
                if holder.as_deref() != Some(who.as_str()) {
                    violations.lock().unwrap().push(line.clone());
                }
                writes.lock().unwrap().push(line);
            }
            let (parts, body) = req.into_parts();
            let bytes = http_body_util::BodyExt::collect(body)
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let req = http::Request::from_parts(parts, axum::body::Body::from(bytes));
            router.oneshot(req).await
        }
    });
    kube::Client::new(service, "swarm")
}

/// Writes recorded by a checking client.
type Log = Arc<Mutex<Vec<String>>>;

struct Running {
    status: watch::Receiver<EngineStatus>,
    _stop: oneshot::Sender<()>,
    stall: Arc<AtomicBool>,
    violations: Arc<Mutex<Vec<String>>>,
    writes: Arc<Mutex<Vec<String>>>,
}

fn start(cluster: &Cluster, who: &str) -> Running {
    let (stall, violations, writes) = Default::default();
    let c = client(
        cluster,
        who,
        Arc::clone(&stall),
        Arc::clone(&violations),
        Arc::clone(&writes),
    );
    let mut cfg = EngineConfig::new(vec!["swarm".into()], who.into());
    cfg.clock = cluster.clock().clone();
    cfg.renew_every = Duration::from_millis(20);
    cfg.resync = Duration::from_millis(50);
    cfg.reconcile = ReconcileOptions {
        poll: Duration::from_millis(10),
        worker_timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let engine = Engine::new(c, cfg, None);
    let status = engine.status();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(engine.run(async {
        let _ = rx.await;
    }));
    Running {
        status,
        _stop: tx,
        stall,
        violations,
        writes,
    }
}

fn role(r: &Running) -> EngineRole {
    r.status.borrow().namespaces["swarm"].role
}

async fn until(what: &str, mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..3000 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_renewals_stall_stops_writing_before_another_takes_over() {
    // Every worker is slow to start: the work outlasts the lease.
    let slow = swarmdeck::embedded::world::Fault::on_pod(
        "swarm/swarm-worker-*",
        swarmdeck::embedded::world::FaultKind::SlowStart,
    );
    let d = common::demo_with(false, vec![slow]);
    let a = start(&d.cluster, "engine-a");
    until("a to lead", async || role(&a) == EngineRole::Leader).await;
    let b = start(&d.cluster, "engine-b");
    until("b to observe", async || role(&b) == EngineRole::Observer).await;
    // Work for the leader: a scale, whose refreshes take a while.
    common::scale(&d.client, 3).await;
    until("a to write", async || !a.writes.lock().unwrap().is_empty()).await;
    // A's renewals now hang: its fence lapses, B takes over.
    a.stall.store(true, Ordering::SeqCst);
    until("b to take over", async || role(&b) == EngineRole::Leader).await;
    // B finishes the work.
    let swarm = swarmdeck::domain::swarm::SwarmRef::default();
    until("3 converged workers", async || {
        swarmdeck::engine::swarm::grid(&d.client, &swarm)
            .await
            .is_ok_and(|(cfg, rows)| {
                cfg.workloads.len() == 3 && rows.len() == 3 && rows.iter().all(|r| r.converged)
            })
    })
    .await;
    until("a to say it does not lead", async || {
        role(&a) != EngineRole::Leader
    })
    .await;
    assert!(
        a.violations.lock().unwrap().is_empty(),
        "engine-a wrote without the lease: {:?}",
        a.violations.lock().unwrap()
    );
    assert!(
        b.violations.lock().unwrap().is_empty(),
        "engine-b wrote without the lease: {:?}",
        b.violations.lock().unwrap()
    );
    assert!(!b.writes.lock().unwrap().is_empty(), "b did the rest");
    let a_status = a.status.borrow().namespaces["swarm"].clone();
    assert!(
        a_status.lease_error.is_some() || a_status.leader.as_deref() == Some("engine-b"),
        "{a_status:?}"
    );
}

/// The same fence through a restart of the API server mid-reconcile: two
/// engines over TCP, the server stopped while the leader refreshes workers
/// and started again; every write that arrives is checked against the
/// Lease's holder at that moment.
#[test]
fn through_a_restart_of_the_api_server_no_write_comes_from_a_non_holder() {
    let slow = swarmdeck::embedded::world::Fault::on_pod(
        "swarm/swarm-worker-*",
        swarmdeck::embedded::world::FaultKind::SlowStart,
    );
    let mut served = common::Served::start_with("swarm", vec![slow]);
    let handle = served.rt.handle().clone();
    let _inside = handle.enter();
    let cluster = served.cluster.clone();
    let addr = served.addr;
    let checked =
        |who: &str, violations: Arc<Mutex<Vec<String>>>, writes: Arc<Mutex<Vec<String>>>| {
            let base = served.rt.block_on(async {
                swarmdeck::embedded::tcp_client(&cluster, addr, "swarm")
                    .await
                    .unwrap()
            });
            let (cluster, who) = (cluster.clone(), who.to_owned());
            let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
                let (base, cluster, who) = (base.clone(), cluster.clone(), who.clone());
                let (violations, writes) = (violations.clone(), writes.clone());
                async move {
                    let path = req.uri().path().to_owned();
                    let write = req.method() != http::Method::GET;
                    if write && !path.contains("/leases") && !path.contains("/events") {
                        let rt = cluster
                            .resolve("coordination.k8s.io", "v1", "leases")
                            .unwrap();
                        let holder = cluster
                            .get(&rt, Some("swarm"), "swarmdeck-engine")
                            .ok()
                            .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned));
                        let line = format!("{} {path} (holder {holder:?})", req.method());
                        if holder.as_deref() != Some(who.as_str()) {
                            violations.lock().unwrap().push(line.clone());
                        }
                        writes.lock().unwrap().push(line);
                    }
                    base.send(req).await.map_err(tower::BoxError::from)
                }
            });
            kube::Client::new(service, "swarm")
        };
    let mut engines = Vec::new();
    for who in ["engine-a", "engine-b"] {
        let (violations, writes): (Log, Log) = Default::default();
        let client = checked(who, violations.clone(), writes.clone());
        let mut cfg = EngineConfig::new(vec!["swarm".into()], who.into());
        cfg.renew_every = Duration::from_millis(500);
        cfg.resync = Duration::from_millis(200);
        let engine = Engine::new(client, cfg, None);
        let status = engine.status();
        let (tx, rx) = oneshot::channel::<()>();
        served.rt.spawn(engine.run(async {
            let _ = rx.await;
        }));
        engines.push((who, status, tx, violations, writes));
    }
    let leads = |s: &watch::Receiver<EngineStatus>| {
        s.borrow().namespaces["swarm"].role == EngineRole::Leader
    };
    let wait = |what: &str, f: &dyn Fn() -> bool| {
        for _ in 0..600 {
            if f() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {what}");
    };
    wait("a leader", &|| engines.iter().any(|e| leads(&e.1)));
    served.rt.block_on(common::scale(
        &served.rt.block_on(async {
            swarmdeck::embedded::tcp_client(&cluster, addr, "swarm")
                .await
                .unwrap()
        }),
        3,
    ));
    wait("the leader to write", &|| {
        engines.iter().any(|e| !e.4.lock().unwrap().is_empty())
    });
    // The API server goes away mid-reconcile, long enough for the lease to
    // lapse, and comes back on the same address.
    if let Some(server) = served.server.take() {
        server.abort();
    }
    cluster.disconnect_watchers();
    std::thread::sleep(Duration::from_secs(17));
    let (_, back) = served
        .rt
        .block_on(swarmdeck::embedded::serve_tcp(&cluster, addr.port()))
        .unwrap();
    served.server = Some(back);
    let swarm = swarmdeck::domain::swarm::SwarmRef::default();
    wait("3 converged workers after the restart", &|| {
        served.rt.block_on(async {
            let c = swarmdeck::embedded::tcp_client(&cluster, addr, "swarm")
                .await
                .unwrap();
            swarmdeck::engine::swarm::grid(&c, &swarm)
                .await
                .is_ok_and(|(cfg, rows)| {
                    cfg.workloads.len() == 3 && rows.len() == 3 && rows.iter().all(|r| r.converged)
                })
        })
    });
    for (who, _, _, violations, _) in &engines {
        let v = violations.lock().unwrap();
        assert!(v.is_empty(), "{who} wrote without the lease: {v:?}");
    }
}
