//! A unit that fails part way is put back: the objects it created are
//! deleted again, the ones it configured are applied back to what they
//! were, and the audit says so object by object — or says exactly what is
//! left changed when putting back fails too. The server's refusal is
//! injected between the client and the embedded cluster.

mod common;

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use swarmdeck::domain::manifest;
use swarmdeck::embedded::Cluster;
use swarmdeck::engine::unit;
use tower::ServiceExt;

/// A client whose non-dry-run PATCHes of the paths in `refuse` are answered
/// with a 500 from "the server" (every such PATCH, or only from the Nth on).
fn refusing(cluster: &Cluster, refuse: Vec<(&'static str, usize)>) -> kube::Client {
    let router = swarmdeck::embedded::api::router(cluster.clone());
    let seen = Arc::new(Mutex::new(std::collections::HashMap::<String, usize>::new()));
    let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
        let (router, refuse, seen) = (router.clone(), refuse.clone(), seen.clone());
        async move {
            let path = req.uri().path().to_owned();
            let dry = req.uri().query().is_some_and(|q| q.contains("dryRun=All"));
            if req.method() == http::Method::PATCH && !dry {
                let n = {
                    let mut seen = seen.lock().unwrap();
                    let n = seen.entry(path.clone()).or_default();
                    *n += 1;
                    *n
                };
                if refuse
                    .iter()
                    .any(|(suffix, from)| path.ends_with(suffix) && n >= *from)
                {
                    let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "message": "etcdserver: request timed out", "reason": "InternalError", "code": 500});
                    return Ok::<_, std::convert::Infallible>(
                        http::Response::builder()
                            .status(500)
                            .header("Content-Type", "application/json")
                            .body(axum::body::Body::from(status.to_string()))
                            .unwrap(),
                    );
                }
            }
            let (parts, body) = req.into_parts();
            let bytes = http_body_util::BodyExt::collect(body)
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            router
                .oneshot(http::Request::from_parts(
                    parts,
                    axum::body::Body::from(bytes),
                ))
                .await
        }
    });
    kube::Client::new(service, "swarm")
}

const UNIT: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: one, namespace: swarm}
data: {a: '2'}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: two, namespace: swarm}
data: {b: '2'}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: three, namespace: swarm}
data: {c: '2'}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: four, namespace: swarm}
data: {d: '2'}
---
apiVersion: v1
kind: Secret
metadata: {name: five, namespace: swarm}
stringData: {e: '2'}
";

fn data(cluster: &Cluster, name: &str) -> Option<Value> {
    let cms = cluster.resolve("", "v1", "configmaps").unwrap();
    cluster
        .get(&cms, Some("swarm"), name)
        .ok()
        .map(|c| c["data"].clone())
}

fn before(cluster: &Cluster) {
    let cms = cluster.resolve("", "v1", "configmaps").unwrap();
    for (name, key) in [("one", "a"), ("three", "c")] {
        cluster
            .create(
                &cms,
                Some("swarm"),
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": "swarm"}, "data": {key: "1"}}),
                &Default::default(),
            )
            .unwrap();
    }
}

/// Apply UNIT through a client that refuses `refuse`, and audit the outcome
/// as the command line does: the error's text and the audit's lines.
async fn apply_audited(
    cluster: &Cluster,
    refuse: Vec<(&'static str, usize)>,
) -> (String, Vec<Value>) {
    let client = refusing(cluster, refuse);
    let docs = manifest::load(UNIT, |_| None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let audit = swarmdeck::engine::audit::Auditor {
        client: client.clone(),
        user: "admin".into(),
        context: "test".into(),
        log: Some(dir.path().join("audit.jsonl")),
    };
    let outcome = unit::apply(&client, &docs, "swarm", false, |_| {}).await;
    let first = Some("ConfigMap swarm/one");
    unit::audit_outcome(&audit, "Apply", "apply the unit", first, &outcome).await;
    let err = outcome.expect_err("the unit fails").to_string();
    (err, audit_lines(&dir.path().join("audit.jsonl")))
}

fn audit_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every audit line parses"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fourth_document_refused_puts_the_first_three_back() {
    let d = common::demo(false);
    before(&d.cluster);
    let (err, lines) = apply_audited(&d.cluster, vec![("/configmaps/four", 1)]).await;
    assert!(err.contains("document 4 (ConfigMap swarm/four"), "{err}");
    assert!(
        err.contains("rolled back: ConfigMap swarm/three restored to its previous version"),
        "{err}"
    );
    assert!(err.contains("ConfigMap swarm/two deleted again"), "{err}");
    assert!(
        err.ends_with("nothing of the unit is left changed"),
        "{err}"
    );
    // The cluster is as it was.
    assert_eq!(data(&d.cluster, "one"), Some(json!({"a": "1"})));
    assert_eq!(data(&d.cluster, "two"), None);
    assert_eq!(data(&d.cluster, "three"), Some(json!({"c": "1"})));
    assert_eq!(data(&d.cluster, "four"), None);
    let secrets = d.cluster.resolve("", "v1", "secrets").unwrap();
    assert!(d.cluster.get(&secrets, Some("swarm"), "five").is_err());
    // One audit line per object touched, each saying it was put back.
    let objects: Vec<&str> = lines
        .iter()
        .map(|l| l["object"].as_str().unwrap())
        .collect();
    assert_eq!(
        objects,
        [
            "ConfigMap swarm/one",
            "ConfigMap swarm/two",
            "ConfigMap swarm/three"
        ]
    );
    for l in &lines {
        let result = l["result"].as_str().unwrap();
        assert!(result.contains("then rolled back"), "{result}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_that_fails_too_says_what_is_left_changed() {
    let d = common::demo(false);
    before(&d.cluster);
    // "one" is applied, then refused when it is put back.
    let (err, lines) = apply_audited(
        &d.cluster,
        vec![("/configmaps/four", 1), ("/configmaps/one", 2)],
    )
    .await;
    assert!(
        err.contains("LEFT CHANGED: ConfigMap swarm/one (restoring it failed:"),
        "{err}"
    );
    assert!(!err.contains("nothing of the unit is left"), "{err}");
    assert_eq!(
        data(&d.cluster, "one"),
        Some(json!({"a": "2"})),
        "left changed, as said"
    );
    assert_eq!(data(&d.cluster, "three"), Some(json!({"c": "1"})));
    let one = lines
        .iter()
        .find(|l| l["object"] == "ConfigMap swarm/one")
        .unwrap();
    assert!(
        one["result"].as_str().unwrap().contains("LEFT CHANGED"),
        "{one}"
    );
}
