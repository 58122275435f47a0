//! Audit records: a Kubernetes Event on the object and a JSONL line.

mod common;

use common::demo;
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::ListParams;
use swarmdeck::engine::audit::{Auditor, Subject};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_becomes_an_event_and_a_log_line() {
    let d = demo(false);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let auditor = Auditor {
        client: d.client.clone(),
        user: "alice".into(),
        context: "test".into(),
        log: Some(log.clone()),
    };
    let subject = Subject {
        api_version: "apps/v1".into(),
        kind: "StatefulSet".into(),
        namespace: "swarm".into(),
        name: "swarm-worker".into(),
    };
    auditor
        .record(
            &subject,
            "Rebalance",
            "3 jobs move",
            "converged: version 2",
            false,
        )
        .await;
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&log).unwrap().trim()).unwrap();
    assert_eq!(
        (
            line["user"].as_str(),
            line["action"].as_str(),
            line["plan"].as_str()
        ),
        (Some("alice"), Some("Rebalance"), Some("3 jobs move"))
    );
    let events = Api::<Event>::namespaced(d.client.clone(), "swarm")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let e = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("Rebalance"))
        .expect("an audit event");
    assert_eq!(e.reporting_component.as_deref(), Some("swarmdeck"));
    assert_eq!(e.involved_object.name.as_deref(), Some("swarm-worker"));
    assert!(
        e.message
            .as_deref()
            .unwrap()
            .starts_with("converged: version 2 (by alice via swarmdeck")
    );
}
