//! Strict handoff on the embedded world (ARCHITECTURE 5.1): in every scenario the
//! world's ownership record — which pod had which stream loaded when — shows
//! no stream loaded by two pods at once, and the written versions never list
//! a stream twice.

mod common;
use common::{Demo, demo, demo_with};

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use swarmdeck::domain::assignment::WorkerConfig;
use swarmdeck::domain::handoff::{HandoffState, Phase};
use swarmdeck::domain::swarm::{RefreshPolicy, SwarmRef};
use swarmdeck::engine::Error;
use swarmdeck::engine::swarm::{Progress, ReconcileOptions, Verdict, reconcile, request_scale};

fn opts() -> ReconcileOptions {
    ReconcileOptions {
        poll: Duration::from_millis(10),
        worker_timeout: Duration::from_secs(30),
        ..Default::default()
    }
}

/// The seed swarm as its jobs ConfigMap describes it now (refresh policy,
/// handoff mode).
async fn swarm(d: &Demo) -> SwarmRef {
    swarmdeck::engine::swarm::resolve(&d.client, "swarm", "swarm-worker")
        .await
        .unwrap()
}

async fn output(d: &Demo) -> (WorkerConfig, Option<HandoffState>) {
    let cm = Api::<ConfigMap>::namespaced(d.client.clone(), "swarm")
        .get("swarm-worker-config")
        .await
        .unwrap();
    let state = cm
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("swarmdeck.io/handoff-state"))
        .map(|v| HandoffState::parse(v).unwrap());
    (
        WorkerConfig::parse(&cm.data.unwrap()["config.yml"]).unwrap(),
        state,
    )
}

/// Label the seed swarm's jobs ConfigMap (keeping its output ConfigMap) and
/// annotate it.
async fn annotate_jobs(d: &Demo, annotations: serde_json::Value) {
    let mut merged = json!({"swarmdeck.io/output-configmap": "swarm-worker-config"});
    merged
        .as_object_mut()
        .unwrap()
        .extend(annotations.as_object().unwrap().clone());
    Api::<ConfigMap>::namespaced(d.client.clone(), "swarm")
        .patch(
            "swarm-controller-config",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {
                "labels": {"swarmdeck.io/swarm": "swarm-worker"},
                "annotations": merged}})),
        )
        .await
        .unwrap();
}

async fn set_jobs(d: &Demo, jobs: &[String]) {
    let text = format!(
        "jobs:\n{}",
        jobs.iter()
            .map(|j| format!("  - {j}\n"))
            .collect::<String>()
    );
    Api::<ConfigMap>::namespaced(d.client.clone(), "swarm")
        .patch(
            "swarm-controller-config",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"config.yml": text}})),
        )
        .await
        .unwrap();
}

async fn scale_from_outside(d: &Demo, n: i32) {
    common::scale(&d.client, n).await;
}

/// Reconcile until converged, recording every write; a rescale seen
/// mid-refresh re-plans, as the engine's loop does.
async fn converge(d: &Demo) -> (Verdict, Vec<(u64, Phase)>) {
    let mut writes = Vec::new();
    for _ in 0..5 {
        let result = reconcile(&d.client, &swarm(d).await, &opts(), |_, p| {
            if let Progress::Written { version, phase } = p {
                writes.push((version, phase));
            }
        })
        .await;
        match result {
            Ok(v) => return (v, writes),
            Err(Error::Rescaled { .. }) => continue,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("never converged")
}

/// Every job exactly once over `n` workers, nothing left in handoff.
async fn settled(d: &Demo, n: usize, jobs: usize) {
    let (cfg, state) = output(d).await;
    assert_eq!(cfg.workloads.len(), n, "{cfg:?}");
    let all: Vec<&String> = cfg.workloads.values().flat_map(|w| &w.jobs).collect();
    let unique: BTreeSet<&&String> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (jobs, jobs), "{cfg:?}");
    assert!(state.is_none(), "the handoff record stays: {state:?}");
    // The world agrees: each stream is loaded by its worker, and only by it.
    for _ in 0..500 {
        let held: BTreeSet<(String, String)> = d
            .ownership
            .intervals()
            .into_iter()
            .filter(|h| h.namespace == "swarm" && h.to_ms.is_none())
            .map(|h| (h.worker, h.stream))
            .collect();
        let written: BTreeSet<(String, String)> = cfg
            .workloads
            .iter()
            .flat_map(|(w, e)| e.jobs.iter().map(move |j| (w.clone(), j.clone())))
            .collect();
        if held == written {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the workers never loaded what is written: {cfg:?}");
}

fn no_overlap(d: &Demo) {
    let clashes = d.ownership.overlapping("swarm", 0);
    assert!(
        clashes.is_empty(),
        "streams loaded by two pods at once ({} ms): {clashes:#?}",
        d.ownership.overlap_ms("swarm", 0)
    );
}

/// The pods a worker ran over the whole test.
fn pods_of(d: &Demo, worker: &str) -> BTreeSet<String> {
    d.ownership
        .intervals()
        .into_iter()
        .filter(|h| h.worker == worker)
        .map(|h| h.pod_uid)
        .collect()
}

fn demo_jobs() -> Vec<String> {
    let demo = swarmdeck::embedded::scenario::Scenario::parse(swarmdeck::embedded::scenario::DEMO)
        .unwrap();
    let cm = demo
        .objects
        .iter()
        .find(|o| o["metadata"]["name"] == "swarm-controller-config")
        .unwrap();
    swarmdeck::domain::assignment::parse_jobs(cm["data"]["config.yml"].as_str().unwrap()).unwrap()
}

async fn scenario_scale_up_and_down(hot: bool) {
    let d = demo(false);
    if hot {
        annotate_jobs(&d, json!({"swarmdeck.io/refresh": "hot-reload"})).await;
    }
    converge(&d).await;
    settled(&d, 2, 32).await;

    // 2 -> 3 through swarmdeck: the new worker starts with its streams.
    request_scale(&d.client, &swarm(&d).await, 3, "test")
        .await
        .unwrap();
    let (verdict, writes) = converge(&d).await;
    let Verdict::Converged { started, .. } = &verdict else {
        panic!("{verdict:?}")
    };
    assert_eq!(started, &["swarm-worker-2"]);
    assert_eq!(
        writes.iter().map(|w| w.1).collect::<Vec<_>>(),
        [Phase::Release, Phase::Grant]
    );
    settled(&d, 3, 32).await;
    assert_eq!(
        pods_of(&d, "swarm-worker-2").len(),
        1,
        "the new worker was never restarted"
    );
    no_overlap(&d);

    // 3 -> 2 through swarmdeck (the scale is set at once; the leaving
    // worker's streams are granted once its pod is gone).
    scale_from_outside(&d, 2).await;
    converge(&d).await;
    settled(&d, 2, 32).await;
    no_overlap(&d);

    // 2 -> 3 from outside (`kubectl scale`): the new worker starts with no
    // streams and is granted them after their release.
    scale_from_outside(&d, 3).await;
    let (_, writes) = converge(&d).await;
    assert_eq!(
        writes.iter().map(|w| w.1).collect::<Vec<_>>(),
        [Phase::Release, Phase::Grant]
    );
    settled(&d, 3, 32).await;
    no_overlap(&d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_restart_pod_workers_never_runs_a_stream_twice() {
    scenario_scale_up_and_down(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_hot_reload_workers_never_runs_a_stream_twice() {
    scenario_scale_up_and_down(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_changes_and_rebalances_never_run_a_stream_twice() {
    for hot in [false, true] {
        let d = demo(false);
        if hot {
            annotate_jobs(&d, json!({"swarmdeck.io/refresh": "hot-reload"})).await;
        }
        scale_from_outside(&d, 3).await;
        converge(&d).await;
        let mut jobs = demo_jobs();
        jobs.push("stream:new-0".into());
        set_jobs(&d, &jobs).await;
        converge(&d).await;
        settled(&d, 3, 33).await;
        jobs.retain(|j| j != "stream:tpc-a00" && j != "stream:tpc-a01");
        set_jobs(&d, &jobs).await;
        converge(&d).await;
        settled(&d, 3, 31).await;
        // A hand edit lists one stream twice: repaired, never granted twice.
        let (mut cfg, _) = output(&d).await;
        let dup = cfg.workloads["swarm-worker-0"].jobs[0].clone();
        cfg.workloads
            .get_mut("swarm-worker-1")
            .unwrap()
            .jobs
            .push(dup.clone());
        Api::<ConfigMap>::namespaced(d.client.clone(), "swarm")
            .patch(
                "swarm-worker-config",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"config.yml": cfg.to_yaml()}})),
            )
            .await
            .unwrap();
        converge(&d).await;
        settled(&d, 3, 31).await;
        let clashes: Vec<String> = d
            .ownership
            .overlapping("swarm", 0)
            .into_iter()
            .map(|c| c.0)
            .filter(|s| *s != dup)
            .collect();
        // Only the hand edit itself may have made two pods load one stream.
        assert!(clashes.is_empty(), "hot={hot}: {clashes:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_finishes_a_handoff_without_releasing_or_granting_twice() {
    for hot in [false, true] {
        let d = demo(false);
        if hot {
            annotate_jobs(&d, json!({"swarmdeck.io/refresh": "hot-reload"})).await;
        }
        converge(&d).await;
        request_scale(&d.client, &swarm(&d).await, 3, "test")
            .await
            .unwrap();
        // The first engine writes the release and dies.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let client = d.client.clone();
        let sw = swarm(&d).await;
        assert_eq!(sw.refresh == RefreshPolicy::HotReload, hot);
        let first = tokio::spawn(async move {
            reconcile(&client, &sw, &opts(), |_, p| {
                let _ = tx.send(p);
            })
            .await
        });
        while let Some(p) = rx.recv().await {
            if matches!(
                p,
                Progress::Written {
                    phase: Phase::Release,
                    ..
                }
            ) {
                first.abort();
                break;
            }
        }
        let (cfg, state) = output(&d).await;
        let state = state.expect("the release is recorded");
        assert_eq!(state.phase, Phase::Release);
        assert!(
            state
                .waiting()
                .all(|s| s.to.as_deref() == Some("swarm-worker-2"))
        );
        let released: BTreeSet<String> = state.waiting().map(|s| s.stream.clone()).collect();
        assert!(!released.is_empty());
        for s in &released {
            assert!(
                cfg.workloads.values().all(|e| !e.jobs.contains(s)),
                "{s} is released, so in no list"
            );
        }
        // The next engine confirms the release and grants, nothing more.
        let (verdict, writes) = converge(&d).await;
        assert!(matches!(verdict, Verdict::Converged { .. }), "{verdict:?}");
        assert_eq!(
            writes.iter().map(|w| w.1).collect::<Vec<_>>(),
            [Phase::Grant],
            "hot={hot}"
        );
        let (cfg, _) = output(&d).await;
        assert_eq!(cfg.workloads["swarm-worker-2"].jobs.len(), released.len());
        assert!(
            released
                .iter()
                .all(|s| cfg.workloads["swarm-worker-2"].jobs.contains(s))
        );
        settled(&d, 3, 32).await;
        no_overlap(&d);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_never_confirms_keeps_its_streams_ungranted() {
    let silent: swarmdeck::embedded::world::Fault =
        serde_json::from_value(json!({"pod": "swarm/swarm-worker-0", "fault": "silentWorker"}))
            .unwrap();
    let d = demo_with(false, vec![silent]);
    annotate_jobs(&d, json!({"swarmdeck.io/refresh": "hot-reload"})).await;
    // The first assignment: worker-0 never reports, so give up on it fast.
    let quick = ReconcileOptions {
        worker_timeout: Duration::from_secs(2),
        ..opts()
    };
    let _ = reconcile(&d.client, &swarm(&d).await, &quick, |_, _| {}).await;
    // Drop the pending mark so that the scale plans from the written lists.
    Api::<ConfigMap>::namespaced(d.client.clone(), "swarm")
        .patch(
            "swarm-worker-config",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                "swarmdeck.io/pending-refresh": null}}})),
        )
        .await
        .unwrap();
    request_scale(&d.client, &swarm(&d).await, 3, "test")
        .await
        .unwrap();
    let err = reconcile(&d.client, &swarm(&d).await, &quick, |_, _| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("worker swarm-worker-0 did not confirm the release")
            && err.contains("has not reported swarmdeck.io/config-version")
            && err.contains("none runs twice"),
        "{err}"
    );
    // Released from worker-0, granted to nobody.
    let (cfg, state) = output(&d).await;
    let state = state.unwrap();
    let from0: Vec<&str> = state
        .waiting()
        .filter(|s| s.from == ["swarm-worker-0"])
        .map(|s| s.stream.as_str())
        .collect();
    assert!(!from0.is_empty());
    for s in from0 {
        assert!(
            cfg.workloads
                .values()
                .all(|e| !e.jobs.iter().any(|j| j == s))
        );
    }
    // The StatefulSet was not scaled: the new worker would have nothing.
    let sts = Api::<StatefulSet>::namespaced(d.client.clone(), "swarm")
        .get("swarm-worker")
        .await
        .unwrap();
    assert_eq!(sts.spec.unwrap().replicas, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaving_pod_stuck_terminating_keeps_its_streams_ungranted() {
    let stuck: swarmdeck::embedded::world::Fault =
        serde_json::from_value(json!({"pod": "swarm/swarm-worker-2", "fault": "stuckTerminating"}))
            .unwrap();
    let d = demo_with(false, vec![stuck]);
    // Hot-reload workers: the engine deletes no pod, only the scale-down does.
    annotate_jobs(&d, json!({"swarmdeck.io/refresh": "hot-reload"})).await;
    scale_from_outside(&d, 3).await;
    converge(&d).await;
    settled(&d, 3, 32).await;
    let held: Vec<String> = output(&d).await.0.workloads["swarm-worker-2"].jobs.clone();
    scale_from_outside(&d, 2).await;
    let quick = ReconcileOptions {
        worker_timeout: Duration::from_secs(2),
        ..opts()
    };
    let err = reconcile(&d.client, &swarm(&d).await, &quick, |_, _| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "worker swarm-worker-2 did not confirm the release of {} streams",
            held.len()
        )) && err.contains("its pod is still terminating"),
        "{err}"
    );
    // Its streams are in nobody's list while its pod still runs them.
    let (cfg, state) = output(&d).await;
    assert_eq!(cfg.workloads.len(), 2);
    for s in &held {
        assert!(cfg.workloads.values().all(|e| !e.jobs.contains(s)), "{s}");
    }
    let state = state.unwrap();
    assert_eq!(state.phase, Phase::Release);
    assert_eq!(state.waiting().count(), held.len());
    no_overlap(&d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn larger_pools_and_a_rebalance_never_run_a_stream_twice() {
    for hot in [false, true] {
        let d = demo(false);
        if hot {
            annotate_jobs(&d, json!({"swarmdeck.io/refresh": "hot-reload"})).await;
        }
        scale_from_outside(&d, 8).await;
        converge(&d).await;
        settled(&d, 8, 32).await;
        // 8 -> 9 through swarmdeck, 9 -> 8, then the same from outside.
        request_scale(&d.client, &swarm(&d).await, 9, "test")
            .await
            .unwrap();
        let (verdict, _) = converge(&d).await;
        assert!(
            matches!(&verdict, Verdict::Converged { started, .. } if started == &["swarm-worker-8"]),
            "{verdict:?}"
        );
        settled(&d, 9, 32).await;
        scale_from_outside(&d, 8).await;
        converge(&d).await;
        settled(&d, 8, 32).await;
        scale_from_outside(&d, 9).await;
        converge(&d).await;
        settled(&d, 9, 32).await;
        scale_from_outside(&d, 8).await;
        converge(&d).await;
        settled(&d, 8, 32).await;
        // A rebalance: one stream given a worker of its own.
        annotate_jobs(&d, json!({"swarmdeck.io/dedicated": "stream:tof-0"})).await;
        converge(&d).await;
        let (cfg, _) = output(&d).await;
        assert_eq!(cfg.workloads["swarm-worker-0"].jobs, ["stream:tof-0"]);
        settled(&d, 8, 32).await;
        no_overlap(&d);
    }
}

/// `swarmdeck rebalance` on a hand-edited config that lists a stream twice:
/// the grid says so, the plan releases the extra copy, the verdict says it was
/// repaired, and afterwards every stream is listed once.
#[test]
fn a_stream_listed_twice_is_reported_and_repaired_by_the_command() {
    let served = common::Served::start("swarm");
    let state = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = common::swarmdeck(args, Some(&served.kubeconfig), state.path());
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&["rebalance", "swarm-worker"]);
    assert!(ok, "{out}{err}");
    // A person lists one stream under both workers.
    let rt = served.cluster.resolve("", "v1", "configmaps").unwrap();
    let cur = served
        .cluster
        .get(&rt, Some("swarm"), "swarm-worker-config")
        .unwrap();
    let mut cfg = WorkerConfig::parse(cur["data"]["config.yml"].as_str().unwrap()).unwrap();
    let dup = cfg.workloads["swarm-worker-0"].jobs[0].clone();
    cfg.workloads
        .get_mut("swarm-worker-1")
        .unwrap()
        .jobs
        .push(dup.clone());
    let mut next = (*cur).clone();
    next["data"]["config.yml"] = json!(cfg.to_yaml());
    served
        .cluster
        .replace(
            &rt,
            Some("swarm"),
            "swarm-worker-config",
            next,
            None,
            &Default::default(),
        )
        .unwrap();
    let (ok, out, err) = run(&["grid", "swarm-worker"]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("1 streams listed twice ({dup})")),
        "{out}"
    );
    let (ok, out, err) = run(&["rebalance", "swarm-worker"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("lists 1 streams under two workers or more"),
        "{out}"
    );
    assert!(
        out.trim_end()
            .ends_with("1 streams listed twice were repaired"),
        "{out}"
    );
    let (ok, out, _) = run(&["grid", "swarm-worker", "-o", "json"]);
    assert!(ok);
    let grid: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(grid["handoff"]["duplicated"], json!({}));
}
