//! The engine's commands as a user runs them, on the embedded demo cluster.

use std::process::Command;

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_swarmdeck"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env("HOME", std::env::temp_dir())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn scale_prints_the_plan_converges_and_is_audited() {
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_swarmdeck"))
        .args(["scale", "swarm-worker", "3", "--embedded"])
        .env_remove("KUBECONFIG")
        .env("HOME", state.path())
        .env("XDG_STATE_HOME", state.path())
        .output()
        .unwrap();
    let (ok, out, err) = (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    let audit =
        std::fs::read_to_string(state.path().join("swarmdeck/audit.jsonl")).expect("an audit log");
    let line: serde_json::Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(line["action"], "Scale");
    assert_eq!(line["object"], "StatefulSet swarm/swarm-worker");
    assert_eq!(line["context"], "swarmdeck-embedded");
    // Strict handoff: the new worker is granted its streams before the
    // StatefulSet starts it, so only the two running workers refresh.
    let verdict =
        "converged: version 1, 2 workers refreshed, 1 started with their streams (swarm-worker-2)";
    assert_eq!(line["result"], verdict);
    assert!(ok, "{err}");
    assert!(out.contains("scaled swarm/swarm-worker to 3"), "{out}");
    assert!(out.contains("new swarm-worker-2 (version 1"), "{out}");
    assert!(
        out.contains("swarm-worker-2 starts with version 1 (no restart)"),
        "{out}"
    );
    assert!(out.trim_end().ends_with(verdict), "{out}");
}

#[test]
fn dry_runs_change_nothing_and_say_so() {
    let (ok, out, err) = run(&["rebalance", "swarm-worker", "--dry-run", "--embedded"]);
    assert!(ok, "{err}");
    assert!(out.contains("Plan: global version 0 -> 1"), "{out}");
    assert!(
        out.trim_end().ends_with("dry run: nothing was changed"),
        "{out}"
    );
    let (ok, out, err) = run(&["scale", "swarm-worker", "4", "--dry-run", "--embedded"]);
    assert!(ok, "{err}");
    // Strict handoff: the new workers are written before they start.
    assert!(out.contains("new swarm-worker-3"), "{out}");
    assert!(
        out.contains("swarm-worker-3 starts with version 1 (no restart)"),
        "{out}"
    );
    assert!(out.contains("Handoff strict: 1 write"), "{out}");
}

#[test]
fn grid_shows_workers() {
    let (ok, out, err) = run(&["grid", "swarm-worker", "--embedded"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("WORKER"), "{out}");
    assert!(out.contains("swarm-worker-1"), "{out}");
    assert!(out.contains("0 duplicated"), "{out}");
}

#[test]
fn bad_input_and_read_only_fail_clearly() {
    for (args, needle) in [
        (
            vec!["scale", "swarm-worker", "three", "--embedded"],
            "replicas `three` is not a whole number",
        ),
        (
            vec!["scale", "swarm-worker", "-2", "--embedded"],
            "replicas `-2` is not a whole number",
        ),
        (
            vec!["scale", "swarm-worker", "9000", "--embedded"],
            "above the ceiling of 500",
        ),
        (
            vec!["scale", "swarm-worker", "0", "--embedded"],
            "0 replicas would leave the swarm's jobs unassigned",
        ),
        (
            vec!["rebalance", "nope", "--embedded"],
            "swarm `nope` is not in namespace swarm (swarms there: swarm-worker)",
        ),
        (
            vec!["rebalance", "swarm-worker", "--embedded", "--read-only"],
            "read-only mode (--read-only): `swarmdeck rebalance` refused before anything was sent",
        ),
        (
            vec!["scale", "swarm-worker", "3", "--embedded", "--read-only"],
            "read-only mode (--read-only): `swarmdeck scale` refused before anything was sent",
        ),
    ] {
        let (ok, _, err) = run(&args);
        assert!(!ok, "{args:?} should fail");
        let last = err.lines().last().unwrap_or("");
        assert!(
            last.starts_with("error: ") && last.contains(needle),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn get_lists_with_swarmdeck_columns() {
    let (ok, out, err) = run(&["get", "pods", "-n", "ops", "--embedded"]);
    assert!(ok, "{err}");
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME", "READY", "STATUS", "STATE", "RESTARTS", "AGE", "NODE"
        ]
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("report-builder") && l.contains("NotScheduled")),
        "{out}"
    );
    let (ok, out, _) = run(&["get", "tasks", "-A", "--embedded"]);
    assert!(ok);
    assert!(
        out.starts_with("NAMESPACE     NAME         MODE     DESIRED   ACTUAL"),
        "{out}"
    );
    let (ok, out, _) = run(&["get", "cm", "-n", "swarm", "-o", "json", "--embedded"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["metadata"].get("managedFields").is_none())
    );
    let (ok, _, err) = run(&["get", "widgets", "--embedded"]);
    assert!(!ok && err.contains("invalid value 'widgets'"), "{err}");
}

#[test]
fn status_lists_swarms_and_the_engine() {
    let (ok, out, err) = run(&["status", "--embedded"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("SWARM"), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("swarm-worker")
            && l.contains("no engine holds Lease swarmdeck-engine")),
        "{out}"
    );
    let (ok, out, _) = run(&["status", "--embedded", "-o", "json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["swarms"][0]["workers"], 2);
}

#[test]
fn scale_and_set_state_print_one_document_with_o_json() {
    let (ok, out, err) = run(&["--embedded", "scale", "swarm-worker", "3", "-o", "json"]);
    assert!(ok, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("stdout is one JSON document");
    assert_eq!(doc["object"]["replicas"], 3);
    assert_eq!(
        doc["verdict"],
        "converged: version 1, 2 workers refreshed, 1 started with their streams (swarm-worker-2)"
    );
    assert_eq!(doc["plan"]["phases"][0]["phase"], "grant");
    assert_eq!(doc["plan"]["refresh"].as_array().unwrap().len(), 3);
    assert!(
        err.contains("refreshing swarm-worker-2 ..."),
        "progress goes to stderr: {err}"
    );
    let (ok, out, err) = run(&[
        "--embedded",
        "-n",
        "alice-tasks",
        "task",
        "set-state",
        "readout",
        "running",
        "-o",
        "yaml",
    ]);
    assert!(ok, "{err}");
    let doc: serde_json::Value = serde_yaml::from_str(&out).unwrap();
    assert_eq!(doc["verdict"], "converged: alice-tasks/readout is running");
    assert_eq!(
        doc["plan"]["path"],
        serde_json::json!(["CONFIGURE -> configured", "START -> running"])
    );
}

/// `--wait`, the explicit form of the default that scripts written for
/// earlier versions pass, is accepted and waits as the default does;
/// with `--no-wait` it is a usage error that names both.
#[test]
fn set_state_accepts_wait_as_the_default() {
    let (ok, out, err) = run(&[
        "--embedded",
        "-n",
        "alice-tasks",
        "task",
        "set-state",
        "readout",
        "running",
        "--wait",
        "-o",
        "yaml",
    ]);
    assert!(ok, "{err}");
    let doc: serde_json::Value = serde_yaml::from_str(&out).unwrap();
    assert_eq!(doc["verdict"], "converged: alice-tasks/readout is running");
    let (ok, _, err) = run(&[
        "--embedded",
        "task",
        "set-state",
        "readout",
        "running",
        "--wait",
        "--no-wait",
    ]);
    assert!(!ok);
    assert!(err.contains("--wait") && err.contains("--no-wait"), "{err}");
}
