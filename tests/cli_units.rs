//! Commands against the embedded cluster served on TCP from this test
//! process (so the test can read the server's request log): apply and delete
//! of a manifest unit, and the commands handing an intent to a running `swarmdeck operator`.

mod common;

use std::process::{Command, Output, Stdio};

use common::Served;

fn run(served: &Served, args: &[&str], state: &std::path::Path) -> (bool, String, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_swarmdeck"))
        .args(args)
        .arg("--kubeconfig")
        .arg(&served.kubeconfig)
        .env_remove("KUBECONFIG")
        .env("HOME", state)
        .env("XDG_STATE_HOME", state)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const UNIT: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: ingest-settings
  namespace: ${NS}
data:
  interval: 10s
---
apiVersion: v1
kind: Namespace
metadata:
  name: ${NS}
---
apiVersion: v1
kind: Service
metadata:
  name: ingest
  namespace: ${NS}
spec:
  selector: {app: ingest}
  ports: [{port: 80, targetPort: 8080}]
";

fn exists(served: &Served, kind: &str, ns: &str, name: &str) -> bool {
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
    served.rt.block_on(async {
        let client = swarmdeck::cluster::gate::in_process(&served.cluster, "default", true);
        match kind {
            "ConfigMap" => {
                kube::Api::<ConfigMap>::namespaced(client, ns)
                    .get_opt(name)
                    .await
            }
            "Service" => kube::Api::<Service>::namespaced(client, ns)
                .get_opt(name)
                .await
                .map(|o| o.map(|_| ConfigMap::default())),
            _ => kube::Api::<Namespace>::all(client)
                .get_opt(name)
                .await
                .map(|o| {
                    o.and_then(|n| {
                        n.metadata
                            .deletion_timestamp
                            .is_none()
                            .then(ConfigMap::default)
                    })
                }),
        }
        .unwrap()
        .is_some()
    })
}

#[test]
fn a_manifest_is_applied_and_deleted_as_one_unit() {
    let served = Served::start("default");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("unit.yaml");
    std::fs::write(&file, UNIT).unwrap();
    let f = file.to_str().unwrap();

    let (ok, out, err) = run(
        &served,
        &["apply", "-f", f, "--set", "NS=ingest", "--dry-run"],
        dir.path(),
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("create     Namespace ingest (document 2)"),
        "{out}"
    );
    assert!(
        out.contains("create     ConfigMap ingest/ingest-settings (document 1)"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("nothing was changed"), "{out}");
    assert!(!exists(&served, "Namespace", "", "ingest"));

    let (ok, out, err) = run(
        &served,
        &["apply", "-f", f, "--set", "NS=ingest"],
        dir.path(),
    );
    assert!(ok, "{err}");
    // The namespace first, whatever the file's order.
    let ns_at = out.find("Namespace ingest created").expect(&out);
    let cm_at = out
        .find("ConfigMap ingest/ingest-settings created")
        .expect(&out);
    assert!(ns_at < cm_at, "{out}");
    assert!(
        out.trim_end()
            .ends_with("applied as one unit: 3 of 3 objects changed"),
        "{out}"
    );
    assert!(exists(&served, "ConfigMap", "ingest", "ingest-settings"));
    assert!(exists(&served, "Service", "ingest", "ingest"));
    let audit = std::fs::read_to_string(dir.path().join("swarmdeck/audit.jsonl")).unwrap();
    assert_eq!(
        audit
            .lines()
            .filter(|l| l.contains("\"action\":\"Apply\""))
            .count(),
        3
    );

    // Applying it again changes nothing.
    let (ok, out, err) = run(
        &served,
        &["apply", "-f", f, "--set", "NS=ingest"],
        dir.path(),
    );
    assert!(ok, "{err}");
    assert!(out.contains("unchanged  Service ingest/ingest"), "{out}");
    assert!(out.trim_end().ends_with("0 of 3 objects changed"), "{out}");

    let (ok, out, err) = run(
        &served,
        &["delete", "-f", f, "--set", "NS=ingest"],
        dir.path(),
    );
    assert!(ok, "{err}");
    let svc_at = out.find("Service ingest/ingest deleted").expect(&out);
    let ns_at = out.find("Namespace ingest deleted").expect(&out);
    assert!(svc_at < ns_at, "the namespace goes last: {out}");
    assert!(!exists(&served, "Service", "ingest", "ingest"));
    let (ok, out, _) = run(
        &served,
        &["delete", "-f", f, "--set", "NS=ingest"],
        dir.path(),
    );
    assert!(ok);
    assert!(out.contains("0 objects deleted, 3 already absent"), "{out}");
    // The same as one JSON document, for scripts.
    let (ok, out, _) = run(
        &served,
        &["delete", "-f", f, "--set", "NS=ingest", "-o", "json"],
        dir.path(),
    );
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["plan"][0]["action"], "absent", "{out}");
    assert_eq!(v["done"].as_array().unwrap().len(), 3, "{out}");
    assert_eq!(
        v["verdict"],
        "deleted as one unit: 0 objects deleted, 3 already absent"
    );
}

#[test]
fn one_refused_document_applies_nothing() {
    let served = Served::start("default");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("unit.yaml");
    // The second document names a namespace that does not exist.
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine, namespace: swarm}\ndata: {a: b}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: lost, namespace: nowhere}\ndata: {a: b}\n",
    )
    .unwrap();
    let (ok, _, err) = run(
        &served,
        &["apply", "-f", file.to_str().unwrap()],
        dir.path(),
    );
    assert!(!ok);
    assert!(
        err.contains("document 2 (ConfigMap nowhere/lost, line 6)"),
        "{err}"
    );
    assert!(err.contains("nothing was applied"), "{err}");
    assert!(!exists(&served, "ConfigMap", "swarm", "fine"));

    // A missing variable is reported before anything is sent.
    std::fs::write(&file, UNIT).unwrap();
    let (ok, _, err) = run(
        &served,
        &["apply", "-f", file.to_str().unwrap()],
        dir.path(),
    );
    assert!(!ok);
    assert!(err.contains("NS"), "{err}");
}

#[test]
fn commands_hand_their_intent_to_a_running_operator() {
    let served = Served::start("swarm");
    let dir = tempfile::tempdir().unwrap();
    let mut operator = Command::new(env!("CARGO_BIN_EXE_swarmdeck"))
        .args([
            "operator",
            "-n",
            "swarm",
            "-n",
            "alice-tasks",
            "--identity",
            "op-1",
        ])
        .arg("--kubeconfig")
        .arg(&served.kubeconfig)
        .env("XDG_STATE_HOME", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It leads once it has written the first assignment.
    let (ok, out, err) = run(&served, &["status", "-o", "json"], dir.path());
    assert!(ok, "{err}");
    let mut led = out.contains("leader op-1");
    for _ in 0..100 {
        if led {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let (_, out, _) = run(&served, &["status", "-o", "json"], dir.path());
        led = out.contains("leader op-1");
    }
    assert!(led, "the operator never took the lease");

    let (ok, out, err) = run(&served, &["scale", "swarm-worker", "3"], dir.path());
    assert!(ok, "{err}\n{out}");
    assert!(out.contains("engine op-1 leads namespace swarm"), "{out}");
    // Strict handoff: a release (version 2), then the grant (version 3).
    assert!(
        out.trim_end().ends_with("converged: version 3, 3 workers"),
        "{out}"
    );

    let (ok, out, err) = run(
        &served,
        &[
            "task",
            "set-state",
            "readout",
            "running",
            "-n",
            "alice-tasks",
        ],
        dir.path(),
    );
    assert!(ok, "{err}\n{out}");
    assert!(
        out.contains("engine op-1 leads namespace alice-tasks"),
        "{out}"
    );
    assert!(out.contains("is configured"), "{out}");
    assert!(
        out.trim_end()
            .ends_with("converged: alice-tasks/readout is running"),
        "{out}"
    );

    // A clean stop releases the lease and says so.
    Command::new("kill")
        .args(["-TERM", &operator.id().to_string()])
        .status()
        .unwrap();
    let stopped = operator.wait().unwrap();
    assert!(stopped.success());
    let mut log = String::new();
    std::io::Read::read_to_string(operator.stdout.as_mut().unwrap(), &mut log).unwrap();
    assert!(log.starts_with("{\"context\""), "{log}");
    assert!(log.contains("\"event\":\"stopped\""), "{log}");
    let (_, out, _) = run(&served, &["status"], dir.path());
    assert!(out.contains("no engine leads (lease released)"), "{out}");
}

#[test]
fn a_change_to_fields_another_manager_owns_needs_force_conflicts() {
    let served = Served::start("swarm");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jobs.yaml");
    // The demo's jobs ConfigMap was created by another field manager.
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: swarm-controller-config, namespace: swarm}\ndata:\n  config.yml: |\n    jobs:\n      - stream:a\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    // A server that reports the conflict is answered with what to do.
    let (ok, _, err) = run(&served, &["apply", "-f", f], dir.path());
    if !ok {
        assert!(err.contains("--force-conflicts"), "{err}");
        assert!(
            err.contains("document 1 (ConfigMap swarm/swarm-controller-config"),
            "{err}"
        );
    }
    let (ok, out, err) = run(
        &served,
        &["apply", "-f", f, "--force-conflicts"],
        dir.path(),
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("ConfigMap swarm/swarm-controller-config configured")
            || out.contains("ConfigMap swarm/swarm-controller-config unchanged"),
        "{out}"
    );
    let cms = served.cluster.resolve("", "v1", "configmaps").unwrap();
    let cm = served
        .cluster
        .get(&cms, Some("swarm"), "swarm-controller-config")
        .unwrap();
    assert_eq!(cm["data"]["config.yml"], "jobs:\n  - stream:a\n");
}
