//! The audit log is written one line per `write()` on a file opened to
//! append: ten writers at once — nine in this process, one a `swarmdeck
//! apply` loop killed mid-run with SIGKILL — leave only whole lines.

mod common;
use common::Served;

use std::os::unix::process::CommandExt;
use std::time::Duration;

#[test]
fn ten_writers_at_once_one_killed_leave_only_whole_lines() {
    let served = Served::start("swarm");
    let state = tempfile::tempdir().unwrap();
    let log = state.path().join("swarmdeck").join("audit.jsonl");
    swarmdeck::files::private_dir(log.parent().unwrap()).unwrap();
    let unit = state.path().join("unit.yaml");
    let docs: Vec<String> = (0..6)
        .map(|i| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: audited-{i}, namespace: swarm}}\ndata: {{n: '{i}'}}\n"
            )
        })
        .collect();
    std::fs::write(&unit, docs.join("---\n")).unwrap();
    // The tenth writer: swarmdeck itself, applying in a loop until killed.
    let mut looping = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "while true; do {} apply -f {} --kubeconfig {} >/dev/null 2>&1; done",
            env!("CARGO_BIN_EXE_swarmdeck"),
            unit.display(),
            served.kubeconfig.display()
        ))
        .env("HOME", state.path())
        .env("XDG_STATE_HOME", state.path())
        .env_remove("KUBECONFIG")
        .process_group(0)
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _inside = rt.enter();
    let client = swarmdeck::embedded::in_process_client(&served.cluster, "swarm");
    let writers: Vec<_> = (0..9)
        .map(|w| {
            let audit = swarmdeck::engine::audit::Auditor {
                client: client.clone(),
                user: format!("writer-{w}"),
                context: "test".into(),
                log: Some(log.clone()),
            };
            tokio::spawn(async move {
                // Long lines, so that a line written in pieces would interleave.
                let plan = format!("{w}").repeat(3000);
                let subject = swarmdeck::engine::audit::Subject {
                    api_version: "v1".into(),
                    kind: "ConfigMap".into(),
                    namespace: "swarm".into(),
                    name: format!("writer-{w}"),
                };
                for _ in 0..200 {
                    audit
                        .record(&subject, "Test", &plan, "written", false)
                        .await;
                }
            })
        })
        .collect();
    rt.block_on(async {
        for w in writers {
            w.await.unwrap();
        }
    });
    // Killed mid-run, whatever it was doing.
    let pgid = looping.id() as i32;
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .status();
    let _ = looping.wait();
    std::thread::sleep(Duration::from_millis(100));
    let text = std::fs::read_to_string(&log).unwrap();
    let mut ours = 0;
    let mut theirs = 0;
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("line {} does not parse ({e}): {:.200}", i + 1, line));
        if v["action"] == "Test" {
            ours += 1;
            let w = v["user"]
                .as_str()
                .unwrap()
                .trim_start_matches("writer-")
                .to_owned();
            assert_eq!(
                v["plan"].as_str().unwrap(),
                w.repeat(3000),
                "line {}",
                i + 1
            );
        } else {
            theirs += 1;
        }
    }
    assert!(text.ends_with('\n'), "the last line is whole");
    assert_eq!(ours, 9 * 200);
    assert!(theirs > 0, "the apply loop wrote lines too");
}
