//! Convergence as real clusters show it: timestamps in whole seconds and swarm
//! workers that never report `swarmdeck.io/config-version` (k8s-swarm's own
//! workers do not). After a scale, `grid`, `status`, the console's grid and
//! pods view, and a second engine all say converged, and the second engine
//! neither deletes a pod nor writes the assignment.

mod common;

use common::Served;
use k8s_openapi::api::core::v1::Pod;
use swarmdeck::embedded::world::{Fault, FaultKind};

fn silent_workers() -> Vec<Fault> {
    serde_json::from_value(serde_json::json!([
        {"pod": "swarm/swarm-worker-*", "fault": "silentWorker"}
    ]))
    .unwrap()
}

fn swarmdeck(served: &Served, args: &[&str], state: &std::path::Path) -> (bool, String, String) {
    let out = common::swarmdeck(args, Some(&served.kubeconfig), state);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn after_a_scale_every_view_agrees_the_silent_swarm_converged() {
    assert_eq!(silent_workers()[0].fault, FaultKind::SilentWorker);
    let served = Served::start_with("swarm", silent_workers());
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = swarmdeck(&served, &["scale", "swarm-worker", "3"], dir.path());
    assert!(ok, "{out}{err}");
    // The new worker is granted its streams before it starts.
    assert!(
        out.trim_end().ends_with(
            "converged: version 1, 2 workers refreshed, 1 started with their streams (swarm-worker-2)"
        ),
        "{out}"
    );

    // Real servers write whole seconds, and these workers report nothing.
    let _runtime = served.rt.enter();
    let client = swarmdeck::cluster::gate::in_process(&served.cluster, "swarm", true);
    let pods: Vec<Pod> = served.rt.block_on(async {
        kube::Api::<Pod>::namespaced(client.clone(), "swarm")
            .list(&kube::api::ListParams::default().labels("app=swarm-worker"))
            .await
            .unwrap()
            .items
    });
    assert_eq!(pods.len(), 3);
    for p in &pods {
        let created = p.metadata.creation_timestamp.as_ref().unwrap();
        assert_eq!(created.0.as_millisecond() % 1000, 0, "{created:?}");
        assert!(
            p.metadata
                .annotations
                .as_ref()
                .is_none_or(|a| !a.contains_key("swarmdeck.io/config-version")),
            "a silent worker reported its version"
        );
    }

    // The grid command and status.
    let (ok, out, err) = swarmdeck(&served, &["grid", "swarm-worker", "-o", "json"], dir.path());
    assert!(ok, "{err}");
    let grid: serde_json::Value = serde_json::from_str(&out).unwrap();
    let workers = grid["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 3);
    assert!(
        workers.iter().all(|w| w["converged"] == true),
        "grid: {out}"
    );
    let (ok, out, err) = swarmdeck(&served, &["status", "-o", "json"], dir.path());
    assert!(ok, "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["swarms"][0]["converged"], 3, "{out}");
    assert_eq!(status["swarms"][0]["workers"], 3, "{out}");

    // The console: its grid and the pods view's CONFIG column.
    served.rt.block_on(async {
        let (tx, _rx) = tokio::sync::mpsc::channel(1024);
        let stores = swarmdeck::ui::runtime::spawn_stores(&client, &tx, None).0;
        for _ in 0..200 {
            if stores.synced() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(stores.synced());
        let swarm = swarmdeck::domain::swarm::SwarmRef::default();
        let g = swarmdeck::ui::grid::grid_data(&stores, &swarm, None);
        assert_eq!(g.converged(), 3, "{:?}", g.workers);
        let entries = swarmdeck::ui::data::worker_entries(&stores.cms);
        let now = served.cluster.clock().now_ms();
        let kind = swarmdeck::ui::data::ViewKind::Pods;
        let config_col = kind.columns().iter().position(|c| c.0 == "CONFIG").unwrap();
        for row in stores.pods.read().rows.values() {
            if row.namespace == "swarm" {
                let d =
                    swarmdeck::ui::data::display_row(kind, row, &entries, &Default::default(), now);
                assert_eq!(d.cells[config_col], "v1 ✓", "{}", d.name);
            }
        }
    });

    // A second engine finds nothing to do: no pod deleted, no assignment written.
    let from = served.cluster.requests().len();
    let (ok, out, err) = swarmdeck(
        &served,
        &["operator", "-n", "swarm", "--exit-after", "3"],
        dir.path(),
    );
    assert!(ok, "{out}{err}");
    let writes: Vec<String> = served.cluster.requests()[from..]
        .iter()
        .filter(|r| r.method != "GET" && !r.path.contains("/leases"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(writes.is_empty(), "the second engine acted: {writes:?}");
}
