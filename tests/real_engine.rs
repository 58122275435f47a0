//! The engine's verbs on a real kube-apiserver (`../shared/realk8s`, started
//! by `.ci/run`, which sets `SWARMDECK_REALK8S_KUBECONFIG`), as user `dev`
//! bound to the shipped operator Role in a namespace of its own. The real
//! control plane has no kubelet and no Task operator, so a stand-in plays
//! them through the API as the embedded world does: pods become Ready through
//! `pods/status`, terminating pods are finished with a zero grace period,
//! swarm workers load their entry when they start and report it as
//! `swarmdeck.io/config-version`, and a Task's `status.state` follows its
//! `spec.state` through `tasks/status`. Without the variable the test says it
//! is skipped and passes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use swarmdeck::domain::assignment::WorkerConfig;
use swarmdeck::domain::task::Task;

/// Pod UIDs the stand-in kubelet started, by pod name.
type Started = Arc<Mutex<BTreeMap<String, BTreeSet<String>>>>;

/// The stand-in kubelet, swarm workers and Task operator for `ns`.
async fn stand_in(admin: kube::Client, ns: String, started: Started) {
    let pods: Api<Pod> = Api::namespaced(admin.clone(), &ns);
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), &ns);
    let tasks: Api<Task> = Api::namespaced(admin.clone(), &ns);
    let pp = PatchParams::default();
    // What each worker container loaded when it started, by pod UID.
    let mut loaded: BTreeMap<String, u64> = BTreeMap::new();
    loop {
        let entries: BTreeMap<String, u64> = cms
            .get_opt("swarm-worker-config")
            .await
            .ok()
            .flatten()
            .and_then(|cm| cm.data?.get("config.yml").cloned())
            .and_then(|t| WorkerConfig::parse(&t).ok())
            .map(|c| {
                c.workloads
                    .into_iter()
                    .map(|(w, e)| (w, e.version))
                    .collect()
            })
            .unwrap_or_default();
        for p in pods
            .list(&ListParams::default())
            .await
            .map_or(Vec::new(), |l| l.items)
        {
            let name = p.metadata.name.clone().unwrap_or_default();
            let uid = p.metadata.uid.clone().unwrap_or_default();
            if p.metadata.deletion_timestamp.is_some() {
                let _ = pods
                    .delete(&name, &DeleteParams::default().grace_period(0))
                    .await;
                continue;
            }
            let ready = p
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            if !ready {
                let status = json!({"status": {"phase": "Running",
                    "conditions": [{"type": "Ready", "status": "True"}]}});
                if pods
                    .patch_status(&name, &pp, &Patch::Merge(status))
                    .await
                    .is_ok()
                {
                    started
                        .lock()
                        .unwrap()
                        .entry(name.clone())
                        .or_default()
                        .insert(uid.clone());
                    // The container starts: it reads its entry now.
                    if let Some(v) = entries.get(&name) {
                        loaded.insert(uid.clone(), *v);
                    }
                }
                continue;
            }
            let Some(v) = loaded.get(&uid) else { continue };
            let reported = p
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("swarmdeck.io/config-version"))
                .cloned();
            if reported.as_deref() != Some(v.to_string().as_str()) {
                let _ = pods
                    .patch(
                        &name,
                        &pp,
                        &Patch::Merge(json!({"metadata": {"annotations": {
                            "swarmdeck.io/config-version": v.to_string()}}})),
                    )
                    .await;
            }
        }
        for t in tasks
            .list(&ListParams::default())
            .await
            .map_or(Vec::new(), |l| l.items)
        {
            let name = t.metadata.name.clone().unwrap_or_default();
            let Some(want) = t.spec.state.clone() else {
                continue;
            };
            let have = t.status.as_ref().and_then(|s| s.state.clone());
            if have.as_deref() != Some(want.as_str()) {
                let _ = tasks
                    .patch_status(
                        &name,
                        &pp,
                        &Patch::Merge(json!({"status": {"state": want}})),
                    )
                    .await;
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// The namespace with a swarm (jobs ConfigMap labelled `swarmdeck.io/swarm`,
/// output ConfigMap, a StatefulSet of 2 workers), a Task, and `dev` bound to
/// the operator Role of assets/deploy.
async fn prepare(admin: &kube::Client, ns: &str) {
    let pp = PostParams::default();
    Api::<Namespace>::all(admin.clone())
        .create(
            &pp,
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .unwrap();
    common::task_crd_established(admin).await;
    let jobs: Vec<String> = (0..24).map(|i| format!("stream:s-{i:02}")).collect();
    let objects = [
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "swarm-controller-config",
                "labels": {"swarmdeck.io/swarm": "swarm-worker"},
                "annotations": {"swarmdeck.io/output-configmap": "swarm-worker-config"}},
            "data": {"config.yml": format!("jobs:\n{}", jobs.iter().map(|j| format!("  - {j}\n")).collect::<String>())}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "swarm-worker-config"},
            "data": {"config.yml": "version: 0\nworkloads: {}\n"}}),
    ];
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), ns);
    for o in objects {
        cms.create(&pp, &serde_json::from_value(o).unwrap())
            .await
            .unwrap();
    }
    let sts: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "swarm-worker", "labels": {"app": "swarm-worker"}},
        "spec": {"serviceName": "swarm-worker", "replicas": 2, "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": "swarm-worker"}},
            "template": {"metadata": {"labels": {"app": "swarm-worker"}},
                "spec": {"containers": [{"name": "worker", "image": "example/worker:1"}]}}}
    }))
    .unwrap();
    Api::<StatefulSet>::namespaced(admin.clone(), ns)
        .create(&pp, &sts)
        .await
        .unwrap();
    let task: Task = serde_json::from_value(json!({
        "apiVersion": "aliecs.alice.cern/v1alpha1", "kind": "Task",
        "metadata": {"name": "readout"},
        "spec": {"pod": {"containers": [{"name": "readout", "image": "example/readout:1"}]},
            "control": {"mode": "direct", "port": 31000}, "state": "standby"},
    }))
    .unwrap();
    Api::<Task>::namespaced(admin.clone(), ns)
        .create(&pp, &task)
        .await
        .unwrap();
    // The shipped Role, bound to dev.
    let role_yaml = std::fs::read_to_string("assets/deploy/operator.yaml").unwrap();
    for doc in serde_yaml::Deserializer::from_str(&role_yaml) {
        let v: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
        if v["kind"] == "Role" {
            let mut role: k8s_openapi::api::rbac::v1::Role = serde_json::from_value(v).unwrap();
            role.metadata.namespace = Some(ns.to_owned());
            Api::<k8s_openapi::api::rbac::v1::Role>::namespaced(admin.clone(), ns)
                .create(&pp, &role)
                .await
                .unwrap();
        }
    }
    let binding: k8s_openapi::api::rbac::v1::RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "dev-operator"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "swarmdeck-operator"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "dev"}],
    }))
    .unwrap();
    Api::<k8s_openapi::api::rbac::v1::RoleBinding>::namespaced(admin.clone(), ns)
        .create(&pp, &binding)
        .await
        .unwrap();
}

fn swarmdeck(
    kubeconfig: &std::path::Path,
    state: &std::path::Path,
    args: &[&str],
) -> (bool, String) {
    let out = common::swarmdeck(args, Some(kubeconfig), state);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn written(admin: &kube::Client, ns: &str) -> WorkerConfig {
    let cm = Api::<ConfigMap>::namespaced(admin.clone(), ns)
        .get("swarm-worker-config")
        .await
        .unwrap();
    WorkerConfig::parse(&cm.data.unwrap()["config.yml"]).unwrap()
}

#[test]
fn the_engine_verbs_on_a_real_kube_apiserver() {
    let Some(kc) = std::env::var_os("SWARMDECK_REALK8S_KUBECONFIG") else {
        println!(
            "real-server engine tests skipped: SWARMDECK_REALK8S_KUBECONFIG is not set (.ci/run sets it when ../shared/realk8s/up.sh exists)"
        );
        return;
    };
    let kc = std::path::PathBuf::from(kc);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ns = format!("realengine-{}", std::process::id());
    let admin = rt.block_on(common::context_client(&kc, "realk8s-admin"));
    rt.block_on(prepare(&admin, &ns));
    let started: Started = Arc::default();
    let kubelet = rt.spawn(stand_in(admin.clone(), ns.clone(), started.clone()));
    let state = tempfile::tempdir().unwrap();
    let dev = |args: &[&str]| {
        let mut all = vec!["--context", "realk8s-dev", "-n", ns.as_str()];
        all.extend_from_slice(args);
        swarmdeck(&kc, state.path(), &all)
    };

    // The first assignment, then 2 -> 3 in strict handoff: a release, a
    // grant, and the new worker started with its streams (never restarted).
    let (ok, out) = dev(&["rebalance", "swarm-worker"]);
    assert!(ok, "{out}");
    let (ok, out) = dev(&["scale", "swarm-worker", "3"]);
    assert!(ok, "{out}");
    assert!(out.contains("Handoff strict: 2 writes"), "{out}");
    assert!(
        out.contains("1 started with their streams (swarm-worker-2)"),
        "{out}"
    );
    let cfg = rt.block_on(written(&admin, &ns));
    assert_eq!(cfg.workloads.len(), 3);
    let all: Vec<&String> = cfg.workloads.values().flat_map(|e| &e.jobs).collect();
    let unique: BTreeSet<&&String> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (24, 24), "{cfg:?}");
    assert_eq!(
        started
            .lock()
            .unwrap()
            .get("swarm-worker-2")
            .map(BTreeSet::len),
        Some(1),
        "the new worker was started once"
    );
    // Every view agrees it converged, on a server with whole-second times.
    let (ok, out) = dev(&["grid", "swarm-worker", "-o", "json"]);
    assert!(ok, "{out}");
    let grid: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        grid["workers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["converged"] == true),
        "{out}"
    );
    assert_eq!(grid["handoff"]["state"], serde_json::Value::Null, "{out}");

    // 3 -> 2: the leaving worker's streams go to the others once it is gone.
    let (ok, out) = dev(&["scale", "swarm-worker", "2"]);
    assert!(ok, "{out}");
    let cfg = rt.block_on(written(&admin, &ns));
    assert_eq!(cfg.workloads.len(), 2, "{out}");
    assert_eq!(
        cfg.workloads.values().map(|e| e.jobs.len()).sum::<usize>(),
        24
    );

    // A Task stepped to running through configured.
    let (ok, out) = dev(&["task", "set-state", "readout", "running"]);
    assert!(ok, "{out}");
    assert!(out.contains("configured"), "{out}");
    let task = rt
        .block_on(Api::<Task>::namespaced(admin.clone(), &ns).get("readout"))
        .unwrap();
    assert_eq!(task.spec.state.as_deref(), Some("running"));
    assert_eq!(
        task.status.and_then(|s| s.state).as_deref(),
        Some("running")
    );

    // Read-only: refused before anything is sent; the cluster is unchanged.
    let before = rt.block_on(written(&admin, &ns));
    let (ok, out) = dev(&["--read-only", "scale", "swarm-worker", "4"]);
    assert!(!ok && out.contains("read-only"), "{out}");
    let sts = rt
        .block_on(Api::<StatefulSet>::namespaced(admin.clone(), &ns).get("swarm-worker"))
        .unwrap();
    assert_eq!(sts.spec.unwrap().replicas, Some(2));
    assert_eq!(rt.block_on(written(&admin, &ns)), before);

    // Takeover: an operator killed without releasing its Lease; a target
    // recorded meanwhile is carried out by the next engine once the Lease
    // expires, on the real server's clock.
    let operator = |identity: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_swarmdeck"))
            .arg("--kubeconfig")
            .arg(&kc)
            .args(["--context", "realk8s-dev", "operator", "-n", ns.as_str()])
            .args(["--identity", identity])
            .env_remove("KUBECONFIG")
            .env("HOME", state.path())
            .env("XDG_STATE_HOME", state.path())
            .env("XDG_CONFIG_HOME", state.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(admin.clone(), &ns);
    let holder = || {
        rt.block_on(leases.get_opt("swarmdeck-engine"))
            .ok()
            .flatten()
            .and_then(|l| l.spec)
            .map(|s| {
                (
                    s.holder_identity.unwrap_or_default(),
                    s.lease_transitions.unwrap_or(0),
                )
            })
    };
    let until = |what: &str, mut done: Box<dyn FnMut() -> bool + '_>| {
        for _ in 0..600 {
            if done() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{what} did not happen within 60 s");
    };
    let mut first = operator("op-1");
    until(
        "op-1 leading",
        Box::new(|| holder().is_some_and(|(h, _)| h == "op-1")),
    );
    let transitions = holder().map_or(0, |(_, t)| t);
    first.kill().unwrap();
    let _ = first.wait();
    let (ok, out) = dev(&["task", "set-state", "readout", "standby", "--no-wait"]);
    assert!(ok, "{out}");
    assert!(out.contains("engine op-1 leads"), "{out}");
    let mut second = operator("op-2");
    let tasks: Api<Task> = Api::namespaced(admin.clone(), &ns);
    until(
        "op-2 carrying out the target",
        Box::new(|| {
            rt.block_on(tasks.get("readout"))
                .ok()
                .and_then(|t| t.status?.state)
                .as_deref()
                == Some("standby")
        }),
    );
    let (who, now) = holder().unwrap();
    assert_eq!(who, "op-2");
    assert!(
        now > transitions,
        "the Lease changed hands: {transitions} -> {now}"
    );
    second.kill().unwrap();
    let _ = second.wait();

    kubelet.abort();
    let _ = rt.block_on(Api::<Namespace>::all(admin).delete(&ns, &DeleteParams::default()));
}
