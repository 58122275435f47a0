//! The simulated world on a clock the test moves: StatefulSets, the kubelet
//! and its faults, swarm workers and the ECS-like Task operator. Reads go
//! through `kube::Client`, as swarmdeck's own code reads.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;
use swarmdeck::domain::task::Task;
use swarmdeck::domain::workload::{ExecState, FailedSubstate, PendingSubstate, pod_state};
use swarmdeck::embedded::scenario::{self, Scenario};
use swarmdeck::embedded::world::{Timing, World};
use swarmdeck::embedded::{Cluster, in_process_client};
use swarmdeck::time::Clock;

fn demo() -> (World, kube::Client) {
    let cluster = Cluster::new(Clock::manual(1_795_305_600_000), 100_000);
    scenario::install_crds(&cluster).unwrap();
    let s = Scenario::parse(scenario::DEMO).unwrap();
    s.load_into(&cluster).unwrap();
    let client = in_process_client(&cluster, "default");
    (
        World::new(cluster, s.faults, Timing::default(), s.nodes),
        client,
    )
}

async fn pods(client: &kube::Client, ns: &str) -> Vec<Pod> {
    Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
}

fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test]
async fn statefulset_scales_up_in_order_and_down_from_the_end() {
    let (mut world, client) = demo();
    world.run_for(5_000);
    let names = |ps: &[Pod]| {
        ps.iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect::<Vec<_>>()
    };
    let ps = pods(&client, "swarm").await;
    assert_eq!(names(&ps), ["swarm-worker-0", "swarm-worker-1"]);
    assert!(ps.iter().all(ready));
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), "swarm");
    sts.patch_scale(
        "swarm-worker",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 4}})),
    )
    .await
    .unwrap();
    world.run_for(8_000);
    let ps = pods(&client, "swarm").await;
    assert_eq!(
        names(&ps),
        [
            "swarm-worker-0",
            "swarm-worker-1",
            "swarm-worker-2",
            "swarm-worker-3"
        ]
    );
    assert!(ps.iter().all(ready));
    let status = sts.get("swarm-worker").await.unwrap().status.unwrap();
    assert_eq!((status.replicas, status.ready_replicas), (4, Some(4)));
    sts.patch_scale(
        "swarm-worker",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    world.run_for(4_000);
    assert_eq!(names(&pods(&client, "swarm").await), ["swarm-worker-0"]);
    // A deleted pod comes back under the same name with a new uid.
    let api: Api<Pod> = Api::namespaced(client.clone(), "swarm");
    let uid = api.get("swarm-worker-0").await.unwrap().metadata.uid;
    api.delete("swarm-worker-0", &Default::default())
        .await
        .unwrap();
    world.run_for(5_000);
    let again = api.get("swarm-worker-0").await.unwrap();
    assert_ne!(again.metadata.uid, uid);
    assert!(ready(&again));
}

#[tokio::test]
async fn kubelet_faults_show_as_workload_states() {
    let (mut world, client) = demo();
    world.run_for(8_000);
    let ops = pods(&client, "ops").await;
    let state = |prefix: &str| {
        let p = ops
            .iter()
            .find(|p| p.metadata.name.as_deref().unwrap().starts_with(prefix))
            .unwrap();
        pod_state(p)
    };
    let crash = state("payment-gateway-");
    assert_eq!(
        crash.state,
        ExecState::Failed(FailedSubstate::ExecFailed),
        "{crash}"
    );
    assert!(crash.reason.contains("CrashLoopBackOff"), "{crash}");
    let pull = state("ingest-probe");
    assert_eq!(
        pull.state,
        ExecState::Pending(PendingSubstate::StartingFailed),
        "{pull}"
    );
    assert!(pull.reason.contains("ImagePullBackOff"), "{pull}");
    let pending = state("report-builder");
    assert_eq!(pending.state, ExecState::NotScheduled, "{pending}");
    assert_eq!(state("dashboard-").state, ExecState::Running);
    let events: Api<Event> = Api::namespaced(client.clone(), "ops");
    let reasons: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    for r in [
        "Scheduled",
        "Started",
        "BackOff",
        "FailedScheduling",
        "SuccessfulCreate",
    ] {
        assert!(
            reasons.iter().any(|x| x == r),
            "no {r} event in {reasons:?}"
        );
    }
    let log = world.cluster().pod_log(
        "ops",
        &ops.iter()
            .find(|p| {
                p.metadata
                    .name
                    .as_deref()
                    .unwrap()
                    .starts_with("payment-gateway-")
            })
            .unwrap()
            .metadata
            .name
            .clone()
            .unwrap(),
    );
    assert!(
        log.iter().any(|l| l.contains("connection refused")),
        "{log:?}"
    );
}

#[tokio::test]
async fn swarm_workers_report_the_version_they_loaded() {
    let (mut world, client) = demo();
    world.run_for(4_000);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "swarm");
    let config = "version: 3\nworkloads:\n  swarm-worker-0:\n    jobs: [stream:a]\n    version: 2\n  swarm-worker-1:\n    jobs: [stream:b]\n    version: 5\n";
    cms.patch(
        "swarm-worker-config",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"config.yml": config}})),
    )
    .await
    .unwrap();
    world.run_for(300);
    let ps = pods(&client, "swarm").await;
    let reported: Vec<Option<String>> = ps
        .iter()
        .map(|p| {
            p.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("swarmdeck.io/config-version").cloned())
        })
        .collect();
    assert_eq!(reported, [Some("2".into()), Some("5".into())]);
    assert!(
        world
            .cluster()
            .pod_log("swarm", "swarm-worker-1")
            .iter()
            .any(|l| l == "loaded 1 jobs (config version 5)")
    );
}

#[tokio::test]
async fn task_operator_moves_one_legal_step_at_a_time() {
    let (mut world, client) = demo();
    world.run_for(4_000);
    let tasks: Api<Task> = Api::namespaced(client.clone(), "alice-tasks");
    let state = |t: &Task| {
        t.status
            .as_ref()
            .and_then(|s| s.state.clone())
            .unwrap_or_default()
    };
    assert_eq!(state(&tasks.get("readout").await.unwrap()), "standby");
    let pod: Api<Pod> = Api::namespaced(client.clone(), "alice-tasks");
    let tp = pod.get("aliecs-task-pod-readout").await.unwrap();
    let labels = tp.metadata.labels.unwrap();
    assert_eq!(
        (labels["task_name"].as_str(), labels["application"].as_str()),
        ("readout", "ControlOperator")
    );

    let set = |s: &str| {
        Patch::Json::<()>(
            serde_json::from_value(json!([{"op": "replace", "path": "/spec/state", "value": s}]))
                .unwrap(),
        )
    };
    // A jump the state machine does not allow ends in error, as the ECS operator does.
    tasks
        .patch("readout", &PatchParams::default(), &set("running"))
        .await
        .unwrap();
    world.run_for(2_000);
    let t = tasks.get("readout").await.unwrap();
    assert_eq!(state(&t), "error");
    assert!(t.status.unwrap().error.unwrap().contains("not allowed"));
    // From error it acts only once standby is requested.
    tasks
        .patch("readout", &PatchParams::default(), &set("configured"))
        .await
        .unwrap();
    world.run_for(2_000);
    assert_eq!(state(&tasks.get("readout").await.unwrap()), "error");
    tasks
        .patch("readout", &PatchParams::default(), &set("standby"))
        .await
        .unwrap();
    world.run_for(2_000);
    assert_eq!(state(&tasks.get("readout").await.unwrap()), "standby");
    for step in ["configured", "running"] {
        tasks
            .patch("readout", &PatchParams::default(), &set(step))
            .await
            .unwrap();
        world.run_for(2_000);
        assert_eq!(state(&tasks.get("readout").await.unwrap()), step);
    }

    // The demo's qc-checker fails every second CONFIGURE.
    tasks
        .patch("qc-checker", &PatchParams::default(), &set("configured"))
        .await
        .unwrap();
    world.run_for(2_000);
    assert_eq!(state(&tasks.get("qc-checker").await.unwrap()), "configured");
    for s in ["standby", "configured"] {
        tasks
            .patch("qc-checker", &PatchParams::default(), &set(s))
            .await
            .unwrap();
        world.run_for(2_000);
    }
    let qc = tasks.get("qc-checker").await.unwrap();
    assert_eq!(state(&qc), "error");
    assert!(
        qc.status
            .unwrap()
            .error
            .unwrap()
            .contains("CONFIGURE failed")
    );

    // FairMQ tasks report the device states they passed.
    tasks
        .patch("stfbuilder", &PatchParams::default(), &set("configured"))
        .await
        .unwrap();
    world.run_for(2_000);
    let fmq = tasks.get("stfbuilder").await.unwrap().status.unwrap();
    let result = fmq
        .conditions
        .iter()
        .find(|c| c.type_ == "StateTransitionResult")
        .unwrap();
    assert!(
        result.message.contains("device state: READY"),
        "{}",
        result.message
    );
    assert!(
        result
            .message
            .contains("INIT DEVICE -> INITIALIZING DEVICE"),
        "{}",
        result.message
    );
}

/// A world at rest passes its ticks until the cluster changes or a fault
/// falls due (so an idle embedded cluster costs nothing) — and still reacts
/// to both: a deleted worker is recreated, a node fails on time.
#[tokio::test]
async fn a_world_at_rest_waits_for_the_cluster_or_the_clock() {
    let cluster = Cluster::new(Clock::manual(1_795_305_600_000), 100_000);
    scenario::install_crds(&cluster).unwrap();
    let s = Scenario::parse(
        "apiVersion: swarmdeck.io/v1alpha1
kind: Scenario
metadata: {name: rest}
spec:
  nodes: 2
  faults:
    - node: node-2
      fault: nodeNotReady
      afterSeconds: 60
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: pool, namespace: rest}
spec:
  replicas: 3
  serviceName: pool
  selector: {matchLabels: {app: pool}}
  template:
    metadata: {labels: {app: pool}}
    spec: {containers: [{name: w, image: example/w}]}
",
    )
    .unwrap();
    s.load_into(&cluster).unwrap();
    let client = in_process_client(&cluster, "default");
    let mut world = World::new(cluster.clone(), s.faults, Timing::default(), s.nodes);
    world.run_for(10_000);
    let ps = pods(&client, "rest").await;
    assert_eq!(ps.len(), 3);
    assert!(ps.iter().all(ready));
    // At rest: ten more seconds of ticks write nothing.
    let version = cluster.resource_version();
    world.run_for(10_000);
    assert_eq!(cluster.resource_version(), version, "a world at rest wrote");
    // The cluster changes: a deleted worker comes back and starts.
    Api::<Pod>::namespaced(client.clone(), "rest")
        .delete(
            "pool-1",
            &kube::api::DeleteParams::default().grace_period(0),
        )
        .await
        .unwrap();
    world.run_for(5_000);
    let ps = pods(&client, "rest").await;
    assert_eq!(ps.len(), 3);
    assert!(ps.iter().all(ready), "{ps:?}");
    // The clock: the node fails when its fault falls due, at rest or not.
    world.run_for(40_000);
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let node = nodes.get("node-2").await.unwrap();
    let ready_status = node
        .status
        .and_then(|s| s.conditions)
        .and_then(|c| c.into_iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status);
    assert_eq!(ready_status.as_deref(), Some("Unknown"));
}
