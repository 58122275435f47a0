//! swarmdeck with the namespaced Roles it ships, on the embedded cluster that
//! enforces them as kube-apiserver does: `operator` (assets/deploy's operator
//! Role in swarm and alice-tasks) and `viewer` (the read-only Role in swarm,
//! alice-tasks and ops). Every verb is run as each; `kubectl auth can-i`
//! agrees with a table of expected answers.

mod common;

use std::process::{Command, Output};

use common::Served;
use common::verbs::{Class, UNIT, leaf_verbs, sample};

fn run(served: &Served, args: &[String], state: &std::path::Path) -> Output {
    common::swarmdeck(args, Some(&served.kubeconfig), state)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Writes that the server accepted, since request `from`.
fn accepted_writes(served: &Served, from: usize) -> Vec<String> {
    served.cluster.requests()[from..]
        .iter()
        .filter(|r| r.method != "GET" && r.code < 300)
        .map(|r| format!("{} {} as {} -> {}", r.method, r.path, r.user, r.code))
        .collect()
}

#[test]
fn every_verb_as_operator_and_as_viewer() {
    let served = Served::start("swarm");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("unit.yaml");
    std::fs::write(&file, UNIT).unwrap();
    let unit = file.to_str().unwrap().to_owned();
    for verb in leaf_verbs() {
        let (class, rest, home) = sample(&verb, &unit).expect("classified");
        if matches!(class, Class::Offline | Class::Server) {
            continue;
        }
        let name = verb.join(" ");
        let line = |user: &str, ns: &str| -> Vec<String> {
            let mut l = vec![
                "--context".to_owned(),
                user.to_owned(),
                "-n".into(),
                ns.into(),
            ];
            l.extend(verb.iter().cloned());
            l.extend(rest.iter().cloned());
            l
        };

        // operator: in its namespaces everything works.
        let out = run(&served, &line("operator", home), dir.path());
        assert!(
            out.status.success(),
            "`{name}` as operator in {home}: {}",
            text(&out.stderr)
        );

        // operator in ops: one 403 line naming what is missing, exit 1
        // (the engine stays up as an observer and says why it cannot lead).
        let from = served.cluster.requests().len();
        let out = run(&served, &line("operator", "ops"), dir.path());
        let err = text(&out.stderr);
        let wrote = accepted_writes(&served, from);
        assert!(wrote.is_empty(), "`{name}` as operator in ops: {wrote:?}");
        if class == Class::Engine {
            let said = text(&out.stdout);
            assert!(
                said.contains("resource \\\"leases\\\"") && said.contains("\\\"ops\\\""),
                "the operator in ops does not say why it cannot lead: {said}"
            );
        } else {
            assert!(!out.status.success(), "`{name}` as operator in ops");
            let last = err.lines().last().unwrap_or("");
            assert!(
                last.starts_with("error: ")
                    && last.contains("is forbidden: User \"operator\" cannot ")
                    && last.contains("in the namespace \"ops\" (403): needs `"),
                "`{name}` as operator in ops: {err}"
            );
        }

        // viewer: reads work, every write is refused by the server and none
        // reaches the store.
        let from = served.cluster.requests().len();
        let out = run(&served, &line("viewer", home), dir.path());
        let err = text(&out.stderr);
        let wrote = accepted_writes(&served, from);
        assert!(wrote.is_empty(), "`{name}` as viewer: {wrote:?}");
        // A refused action is audited locally; no Event is attempted for it
        // (it would be refused too).
        let events: Vec<String> = served.cluster.requests()[from..]
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/events"))
            .map(|r| format!("{} {} -> {}", r.method, r.path, r.code))
            .collect();
        assert!(events.is_empty(), "`{name}` as viewer: {events:?}");
        match class {
            Class::Reads | Class::Engine => {
                assert!(out.status.success(), "`{name}` as viewer: {err}")
            }
            _ => {
                assert!(!out.status.success(), "`{name}` as viewer succeeded");
                assert!(
                    err.contains("is forbidden: User \"viewer\" cannot ") && err.contains("(403)"),
                    "`{name}` as viewer: {err}"
                );
            }
        }
    }
}

#[test]
fn kubectl_auth_can_i_agrees_with_the_roles() {
    let served = Served::start("swarm");
    let table: &[(&str, &str, bool)] = &[
        ("swarmdeck-embedded", "delete nodes", true),
        ("swarmdeck-embedded", "list pods -A", true),
        ("operator", "get pods -n swarm", true),
        ("operator", "delete pods -n swarm", true),
        ("operator", "patch statefulsets/scale -n swarm", true),
        ("operator", "patch statefulsets -n alice-tasks", true),
        ("operator", "create leases -n alice-tasks", true),
        ("operator", "get pods/log -n swarm", true),
        (
            "operator",
            "update tasks.aliecs.alice.cern -n alice-tasks",
            true,
        ),
        ("operator", "get pods -n ops", false),
        ("operator", "list pods -A", false),
        ("operator", "list namespaces", false),
        ("operator", "create rolebindings -n swarm", false),
        ("operator", "delete nodes", false),
        ("viewer", "get pods -n swarm", true),
        ("viewer", "watch statefulsets -n ops", true),
        ("viewer", "get pods/log -n alice-tasks", true),
        ("viewer", "delete pods -n swarm", false),
        ("viewer", "patch statefulsets/scale -n swarm", false),
        ("viewer", "create leases -n swarm", false),
        ("viewer", "get secrets -n swarm", false),
        ("viewer", "get pods -n default", false),
    ];
    let mut wrong = Vec::new();
    for (context, question, expected) in table {
        let out = Command::new("kubectl")
            .args(["--context", context, "auth", "can-i"])
            .args(question.split_whitespace())
            .env("KUBECONFIG", &served.kubeconfig)
            .output()
            .unwrap();
        let answer = text(&out.stdout).trim().to_owned();
        let want = if *expected { "yes" } else { "no" };
        if answer != want {
            wrong.push(format!(
                "{context}: can-i {question}: {answer:?} {} (want {want})",
                text(&out.stderr).trim()
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");

    // And the list of what the viewer may do in swarm names no write.
    let out = Command::new("kubectl")
        .args([
            "--context",
            "viewer",
            "auth",
            "can-i",
            "--list",
            "-n",
            "swarm",
        ])
        .env("KUBECONFIG", &served.kubeconfig)
        .output()
        .unwrap();
    let list = text(&out.stdout);
    assert!(list.contains("statefulsets.apps"), "{list}");
    for line in list
        .lines()
        .filter(|l| !l.contains("subjectaccessreviews") && !l.contains("subjectrulesreviews"))
    {
        for verb in ["create", "update", "patch", "delete"] {
            assert!(!line.contains(verb), "viewer may {verb}: {line}");
        }
    }
}

#[test]
fn the_server_refuses_with_kube_apiservers_words() {
    let served = Served::start("swarm");
    let out = Command::new("kubectl")
        .args([
            "--context",
            "viewer",
            "delete",
            "pod",
            "swarm-worker-0",
            "-n",
            "swarm",
        ])
        .env("KUBECONFIG", &served.kubeconfig)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr).trim(),
        "Error from server (Forbidden): pods \"swarm-worker-0\" is forbidden: User \"viewer\" cannot delete resource \"pods\" in API group \"\" in the namespace \"swarm\""
    );
    let out = Command::new("kubectl")
        .args(["--context", "operator", "get", "pods", "-A"])
        .env("KUBECONFIG", &served.kubeconfig)
        .output()
        .unwrap();
    assert_eq!(
        text(&out.stderr).trim(),
        "Error from server (Forbidden): pods is forbidden: User \"operator\" cannot list resource \"pods\" in API group \"\" at the cluster scope"
    );
}
