//! The swarm controller against the embedded cluster through kube::Client:
//! the world runs on a clock a helper thread moves, the engine polls as it
//! would against a real cluster.

mod common;
use common::demo;
use common::scale;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::json;
use swarmdeck::domain::assignment::WorkerConfig;
use swarmdeck::domain::swarm::SwarmRef;
use swarmdeck::engine::swarm::{Progress, ReconcileOptions, Verdict, reconcile};

fn opts() -> ReconcileOptions {
    ReconcileOptions {
        poll: Duration::from_millis(10),
        worker_timeout: Duration::from_secs(30),
        ..Default::default()
    }
}

async fn output(client: &kube::Client) -> (WorkerConfig, String) {
    let cm = Api::<ConfigMap>::namespaced(client.clone(), "swarm")
        .get("swarm-worker-config")
        .await
        .unwrap();
    let text = cm.data.unwrap()["config.yml"].clone();
    (
        WorkerConfig::parse(&text).unwrap(),
        cm.metadata.resource_version.unwrap(),
    )
}

async fn uids(client: &kube::Client) -> BTreeMap<String, String> {
    Api::<Pod>::namespaced(client.clone(), "swarm")
        .list(&ListParams::default().labels("app=swarm-worker"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| (p.metadata.name.unwrap(), p.metadata.uid.unwrap()))
        .collect()
}

fn every_job_once(cfg: &WorkerConfig, workers: usize) {
    assert_eq!(cfg.workloads.len(), workers);
    let all: Vec<&String> = cfg.workloads.values().flat_map(|w| &w.jobs).collect();
    let unique: BTreeSet<&&String> = all.iter().collect();
    assert_eq!(all.len(), 32, "{cfg:?}");
    assert_eq!(unique.len(), 32);
    assert!(cfg.duplicated_jobs().is_empty());
}

async fn wait_ready(client: &kube::Client, n: usize) {
    for _ in 0..3000 {
        let sts = Api::<StatefulSet>::namespaced(client.clone(), "swarm")
            .get("swarm-worker")
            .await
            .unwrap();
        if sts.status.and_then(|s| s.ready_replicas).unwrap_or(0) as usize == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("swarm-worker never had {n} ready replicas");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_up_and_down_refreshes_only_changed_workers() {
    let d = demo(false);
    let swarm = SwarmRef::default();
    let first = reconcile(&d.client, &swarm, &opts(), |_, _| {})
        .await
        .unwrap();
    assert!(
        matches!(first, Verdict::Converged { version: 1, .. }),
        "{first:?}"
    );
    let (cfg1, _) = output(&d.client).await;
    every_job_once(&cfg1, 2);

    scale(&d.client, 3).await;
    wait_ready(&d.client, 3).await;
    let before = uids(&d.client).await;
    // Strict handoff: the release refreshes the workers that give streams
    // up, the grant the one that takes them; each worker at most once.
    let mut changed = Vec::new();
    let verdict = reconcile(&d.client, &swarm, &opts(), |_, p| {
        if let Progress::Planned { changed: c, .. } = p {
            changed.extend(c);
        }
    })
    .await
    .unwrap();
    let Verdict::Converged {
        version, refreshed, ..
    } = verdict
    else {
        panic!("{verdict:?}")
    };
    assert_eq!(version, 3, "a release and a grant");
    assert_eq!(refreshed, changed);
    let once: BTreeSet<&String> = refreshed.iter().collect();
    assert_eq!(
        once.len(),
        refreshed.len(),
        "refreshed twice: {refreshed:?}"
    );
    let (cfg, _) = output(&d.client).await;
    every_job_once(&cfg, 3);
    assert_eq!(cfg.version, 3);
    let after = uids(&d.client).await;
    for (pod, uid) in &before {
        let was_refreshed = changed.contains(pod);
        assert_eq!(
            after[pod] != *uid,
            was_refreshed,
            "{pod}: refreshed={was_refreshed}"
        );
        // A worker's version moves exactly when its job set changed.
        let expected = match (cfg1.workloads.get(pod), was_refreshed) {
            (Some(e), true) => e.version + 1,
            (Some(e), false) => e.version,
            (None, _) => 1,
        };
        assert_eq!(cfg.workloads[pod].version, expected, "{pod}");
    }
    assert!(changed.contains(&"swarm-worker-2".to_owned()));

    scale(&d.client, 2).await;
    wait_ready(&d.client, 2).await;
    let verdict = reconcile(&d.client, &swarm, &opts(), |_, _| {})
        .await
        .unwrap();
    // The leaving worker's streams are released (version 4) and, once its
    // pod is gone, granted to the others (version 5); if the pod was already
    // gone when the engine looked, both happen in one write (version 4).
    assert!(
        matches!(verdict, Verdict::Converged { version: 4 | 5, .. }),
        "{verdict:?}"
    );
    let (cfg, _) = output(&d.client).await;
    every_job_once(&cfg, 2);
    // Converged: nothing left to do.
    assert_eq!(
        reconcile(&d.client, &swarm, &opts(), |_, _| {})
            .await
            .unwrap(),
        Verdict::Unchanged
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_edit_is_never_overwritten() {
    let d = demo(false);
    let swarm = SwarmRef::default();
    reconcile(&d.client, &swarm, &opts(), |_, _| {})
        .await
        .unwrap();
    scale(&d.client, 3).await;
    wait_ready(&d.client, 3).await;
    // Between our plan and our write, someone else writes the output (as
    // another console or a person with kubectl would).
    let cluster = d.cluster.clone();
    let mut meddled = false;
    let mut replanned = 0;
    let verdict = reconcile(&d.client, &swarm, &opts(), |_, p| match p {
        Progress::Planned { .. } if !meddled => {
            meddled = true;
            let rt = cluster.resolve("", "v1", "configmaps").unwrap();
            let cur = cluster
                .get(&rt, Some("swarm"), "swarm-worker-config")
                .unwrap();
            let mut next = (*cur).clone();
            let text = next["data"]["config.yml"].as_str().unwrap().replacen(
                "version: 1",
                "version: 7",
                1,
            );
            next["data"]["config.yml"] = json!(text);
            cluster
                .replace(
                    &rt,
                    Some("swarm"),
                    "swarm-worker-config",
                    next,
                    None,
                    &Default::default(),
                )
                .unwrap();
        }
        Progress::Replanned { .. } => replanned += 1,
        _ => {}
    })
    .await
    .unwrap();
    assert_eq!(replanned, 1);
    // The new plan was made from their content: the release is version
    // 7 + 1 (not 1 + 1), the grant 9.
    assert!(
        matches!(verdict, Verdict::Converged { version: 9, .. }),
        "{verdict:?}"
    );
    every_job_once(&output(&d.client).await.0, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_jobs_list_writes_nothing() {
    let d = demo(false);
    let swarm = SwarmRef::default();
    let cms: Api<ConfigMap> = Api::namespaced(d.client.clone(), "swarm");
    cms.patch(
        "swarm-controller-config",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"config.yml": "jobs:\n  - {broken: [\n"}})),
    )
    .await
    .unwrap();
    let (_, rv) = output(&d.client).await;
    let err = reconcile(&d.client, &swarm, &opts(), |_, _| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("swarm `swarm-worker`: ConfigMap swarm/swarm-controller-config key config.yml does not parse: line"), "{err}");
    assert!(err.ends_with("(nothing was written)"), "{err}");
    assert_eq!(output(&d.client).await.1, rv);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_and_read_only_change_nothing() {
    let d = demo(false);
    let swarm = SwarmRef::default();
    let (_, rv) = output(&d.client).await;
    let verdict = reconcile(
        &d.client,
        &swarm,
        &ReconcileOptions {
            dry_run: true,
            ..opts()
        },
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(verdict, Verdict::DryRun);
    assert_eq!(output(&d.client).await.1, rv);

    let ro = demo(true);
    let before = ro.cluster.requests().len();
    let err = reconcile(&ro.client, &swarm, &opts(), |_, _| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("read-only mode: refused PUT"), "{err}");
    let writes: Vec<_> = ro.cluster.requests()[before..]
        .iter()
        .filter(|r| r.method != "GET")
        .cloned()
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}
