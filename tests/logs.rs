//! `swarmdeck logs` through the binary against the embedded cluster served on
//! TCP, beside kubectl's own `kubectl logs` on the same server: the same
//! lines for the same flags, the kubelet's refusals, a swarm merged by time,
//! a crash loop followed across restarts and a stream followed to its new
//! owner across a scale.

mod common;
use common::{Served, swarmdeck};

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn demo_faults() -> Vec<swarmdeck::embedded::world::Fault> {
    swarmdeck::embedded::scenario::Scenario::parse(swarmdeck::embedded::scenario::DEMO)
        .unwrap()
        .faults
}

fn kubectl(served: &Served, args: &[&str]) -> Output {
    Command::new("kubectl")
        .env("KUBECONFIG", &served.kubeconfig)
        .args(args)
        .output()
        .expect("kubectl is on the machine image")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn err(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The demo swarm's first assignment, written by `swarmdeck rebalance`.
fn assign(served: &Served, state: &std::path::Path) {
    let out = swarmdeck(
        &["rebalance", "swarm-worker", "-n", "swarm"],
        Some(&served.kubeconfig),
        state,
    );
    assert!(out.status.success(), "{}", err(&out));
}

fn pod_named(served: &Served, ns: &str, prefix: &str) -> String {
    let out = kubectl(served, &["get", "pods", "-n", ns, "-o", "name"]);
    text(&out)
        .lines()
        .filter_map(|l| l.strip_prefix("pod/"))
        .find(|n| n.starts_with(prefix))
        .unwrap_or_else(|| panic!("no pod {prefix}* in {ns}: {}", text(&out)))
        .to_owned()
}

/// A child process whose output lines are collected as they come.
struct Following {
    child: std::process::Child,
    out: Arc<Mutex<Vec<String>>>,
    err: Arc<Mutex<Vec<String>>>,
}

impl Following {
    fn start(served: &Served, args: &[&str], state: &std::path::Path) -> Following {
        let mut child = Command::new(env!("CARGO_BIN_EXE_swarmdeck"))
            .args(args)
            .arg("--kubeconfig")
            .arg(&served.kubeconfig)
            .env_remove("KUBECONFIG")
            .env("HOME", state)
            .env("XDG_STATE_HOME", state)
            .env("XDG_CONFIG_HOME", state)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let collect = |r: Box<dyn std::io::Read + Send>| {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let l = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(r).lines().map_while(Result::ok) {
                    l.lock().unwrap().push(line);
                }
            });
            lines
        };
        let out = collect(Box::new(child.stdout.take().unwrap()));
        let err = collect(Box::new(child.stderr.take().unwrap()));
        Following { child, out, err }
    }

    fn out(&self) -> Vec<String> {
        self.out.lock().unwrap().clone()
    }

    fn err(&self) -> Vec<String> {
        self.err.lock().unwrap().clone()
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Both tools' stdout for the same flags (the log may move between the two
/// calls: asked again until both read the same moment, a few times at most).
fn same_lines(served: &Served, state: &std::path::Path, args: &[&str]) -> String {
    let mut last = (String::new(), String::new());
    for _ in 0..8 {
        let mut k = vec!["logs"];
        k.extend_from_slice(args);
        let theirs = kubectl(served, &k);
        let ours = swarmdeck(&k, Some(&served.kubeconfig), state);
        assert!(theirs.status.success(), "kubectl {k:?}: {}", err(&theirs));
        assert!(ours.status.success(), "swarmdeck {k:?}: {}", err(&ours));
        if text(&theirs) == text(&ours) {
            return text(&ours);
        }
        last = (text(&theirs), text(&ours));
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!(
        "swarmdeck logs {args:?} differs from kubectl logs:\nkubectl:\n{}\nswarmdeck:\n{}",
        last.0, last.1
    );
}

#[test]
fn swarmdeck_logs_prints_what_kubectl_logs_prints() {
    let served = Served::start_with("ops", demo_faults());
    let state = tempfile::tempdir().unwrap();
    let pod = pod_named(&served, "ops", "payment-gateway-");
    // The crash loop's first exit: from then on there is a previous instance.
    wait_until("the first crash", || {
        text(&kubectl(&served, &["logs", "-n", "ops", &pod, "-p"]))
            .contains("exiting with status 1")
    });
    for flags in [
        vec![],
        vec!["--tail", "2"],
        vec!["-p"],
        vec!["--timestamps"],
        vec!["-p", "--timestamps", "--tail", "3"],
        vec!["--since", "1h"],
        vec!["--since", "1s"],
    ] {
        let mut args = vec!["-n", "ops", pod.as_str()];
        args.extend(flags.iter().copied());
        let lines = same_lines(&served, state.path(), &args);
        if !flags.contains(&"1s") {
            assert!(
                lines.contains("cannot connect to upstream"),
                "{flags:?}: the crash's last words:\n{lines}"
            );
        }
        if flags.contains(&"--timestamps") {
            assert!(
                lines
                    .lines()
                    .all(|l| l.starts_with("20") && l.contains("Z ")),
                "{lines}"
            );
        }
        if let Some(n) = flags.iter().position(|f| *f == "--tail") {
            let n: usize = flags[n + 1].parse().unwrap();
            assert_eq!(lines.lines().count(), n, "{lines}");
        }
    }
    // The pod's name with kubectl's TYPE/NAME.
    same_lines(
        &served,
        state.path(),
        &["-n", "ops", &format!("pod/{pod}"), "-p"],
    );

    // Refusals name the pod and what to do.
    let out = swarmdeck(
        &["logs", "-n", "ops", &pod, "-c", "nope"],
        Some(&served.kubeconfig),
        state.path(),
    );
    assert!(!out.status.success());
    assert!(
        err(&out).contains(&format!(
            "pod {pod} has no container nope; its containers: gateway"
        )),
        "{}",
        err(&out)
    );
    let kc = kubectl(&served, &["logs", "-n", "ops", &pod, "-c", "nope"]);
    assert!(
        err(&kc).contains("container nope is not valid for pod"),
        "{}",
        err(&kc)
    );

    // A pod no node runs has no log yet: nothing, as kube-apiserver's 204.
    assert_eq!(
        same_lines(&served, state.path(), &["-n", "ops", "report-builder"]),
        ""
    );
    // A container the kubelet cannot start yet: its words.
    let out = swarmdeck(
        &["logs", "-n", "ops", "ingest-probe"],
        Some(&served.kubeconfig),
        state.path(),
    );
    assert!(!out.status.success());
    assert!(
        err(&out).contains(
            "container \"probe\" in pod \"ingest-probe\" is waiting to start: trying and failing to pull image"
        ),
        "{}",
        err(&out)
    );
    let out = swarmdeck(
        &["logs", "-n", "ops", "ingest-probe", "-p"],
        Some(&served.kubeconfig),
        state.path(),
    );
    assert!(
        err(&out)
            .contains("previous terminated container \"probe\" in pod \"ingest-probe\" not found"),
        "{}",
        err(&out)
    );
    let kc = kubectl(&served, &["logs", "-n", "ops", "ingest-probe", "-p"]);
    assert!(
        err(&kc)
            .contains("previous terminated container \"probe\" in pod \"ingest-probe\" not found"),
        "{}",
        err(&kc)
    );
    let out = swarmdeck(
        &["logs", "-n", "ops", "no-such-pod"],
        Some(&served.kubeconfig),
        state.path(),
    );
    assert!(
        err(&out).contains("no-such-pod") && err(&out).contains("not found"),
        "{}",
        err(&out)
    );
    let out = swarmdeck(
        &["logs", "-n", "ops", &pod, "--since", "5"],
        Some(&served.kubeconfig),
        state.path(),
    );
    assert!(
        err(&out).contains("--since \"5\" is not a duration"),
        "{}",
        err(&out)
    );

    // A pod of two containers: -c picks one; without it, kubectl's default
    // (the first), said on stderr.
    let two = "apiVersion: v1\nkind: Pod\nmetadata: {name: sidecar, namespace: ops}\nspec:\n  containers:\n  - {name: app, image: example/app:1}\n  - {name: proxy, image: example/proxy:2}\n";
    let path = state.path().join("two.yaml");
    std::fs::write(&path, two).unwrap();
    let applied = kubectl(&served, &["apply", "-f", path.to_str().unwrap()]);
    assert!(applied.status.success(), "{}", err(&applied));
    wait_until("the two-container pod running", || {
        text(&kubectl(
            &served,
            &["logs", "-n", "ops", "sidecar", "-c", "proxy"],
        ))
        .contains("starting")
    });
    let proxy = same_lines(
        &served,
        state.path(),
        &["-n", "ops", "sidecar", "-c", "proxy"],
    );
    assert!(proxy.contains("starting example/proxy:2"), "{proxy}");
    let out = swarmdeck(
        &["logs", "-n", "ops", "sidecar"],
        Some(&served.kubeconfig),
        state.path(),
    );
    assert!(out.status.success(), "{}", err(&out));
    assert!(
        text(&out).contains("starting example/app:1"),
        "{}",
        text(&out)
    );
    assert!(
        err(&out).contains("Defaulted container \"app\" out of: app, proxy"),
        "{}",
        err(&out)
    );
}

#[test]
fn a_task_s_logs_are_its_pod_s() {
    let served = Served::start("alice-tasks");
    let state = tempfile::tempdir().unwrap();
    let mut ours = String::new();
    wait_until("the Task pod's first line", || {
        let out = swarmdeck(
            &["logs", "task/readout", "-n", "alice-tasks"],
            Some(&served.kubeconfig),
            state.path(),
        );
        ours = text(&out);
        ours.contains("starting registry.example.org/o2/readout")
    });
    let theirs = same_lines(
        &served,
        state.path(),
        &["-n", "alice-tasks", "aliecs-task-pod-readout"],
    );
    assert!(
        theirs.starts_with(ours.lines().next().unwrap()),
        "{theirs}\n{ours}"
    );
    // --prefix names the pod, as kubectl's does.
    let out = swarmdeck(
        &["logs", "task/readout", "-n", "alice-tasks", "--prefix"],
        Some(&served.kubeconfig),
        state.path(),
    );
    assert!(
        text(&out)
            .lines()
            .all(|l| l.starts_with("[pod/aliecs-task-pod-readout/readout] ")),
        "{}",
        text(&out)
    );
    let out = swarmdeck(
        &["logs", "task/no-such-task", "-n", "alice-tasks"],
        Some(&served.kubeconfig),
        state.path(),
    );
    assert!(!out.status.success());
    assert!(
        err(&out).contains("aliecs-task-pod-no-such-task") && err(&out).contains("not found"),
        "{}",
        err(&out)
    );
    let out = swarmdeck(
        &["logs", "deploy/x", "-n", "alice-tasks"],
        Some(&served.kubeconfig),
        state.path(),
    );
    assert!(err(&out).contains("not `deploy`"), "{}", err(&out));
}

#[test]
fn a_swarm_s_logs_are_merged_by_time_each_line_with_its_worker() {
    let served = Served::start("swarm");
    let state = tempfile::tempdir().unwrap();
    assign(&served, state.path());
    // Each worker reports what it processed every few seconds.
    let mut merged = String::new();
    wait_until("both workers processing", || {
        let out = swarmdeck(
            &["logs", "sts/swarm-worker", "-n", "swarm", "--timestamps"],
            Some(&served.kubeconfig),
            state.path(),
        );
        merged = text(&out);
        (0..2).all(|i| {
            merged.lines().any(|l| {
                l.starts_with(&format!("[pod/swarm-worker-{i}/worker] ")) && l.contains("processed")
            })
        })
    });
    let stamps: Vec<i64> = merged
        .lines()
        .map(|l| {
            let (prefix, rest) = l
                .split_once("] ")
                .unwrap_or_else(|| panic!("no worker prefix: {l}"));
            assert!(
                prefix.starts_with("[pod/swarm-worker-") && prefix.ends_with("/worker"),
                "{l}"
            );
            swarmdeck::time::parse_rfc3339(rest.split(' ').next().unwrap())
                .unwrap_or_else(|| panic!("no timestamp: {l}"))
        })
        .collect();
    assert!(
        stamps.windows(2).all(|w| w[0] <= w[1]),
        "lines out of time order:\n{merged}"
    );
    assert!(
        merged.contains("loaded 16 jobs (config version 1)"),
        "{merged}"
    );
    // Each worker's own lines, as kubectl prints them, are in the merge.
    for i in 0..2 {
        let own = text(&kubectl(
            &served,
            &[
                "logs",
                "-n",
                "swarm",
                &format!("swarm-worker-{i}"),
                "--timestamps",
            ],
        ));
        let first = own.lines().next().unwrap();
        assert!(
            merged.contains(&format!("[pod/swarm-worker-{i}/worker] {first}")),
            "{first} not in\n{merged}"
        );
    }
}

#[test]
fn a_crash_loop_is_followed_across_its_restarts() {
    let served = Served::start_with("ops", demo_faults());
    let state = tempfile::tempdir().unwrap();
    let pod = pod_named(&served, "ops", "payment-gateway-");
    let f = Following::start(&served, &["logs", "-n", "ops", &pod, "-f"], state.path());
    wait_until("an exit, a restart and the new instance's lines", || {
        let restarted = f
            .err()
            .iter()
            .any(|l| l.contains("container gateway started again"));
        let starts = f
            .out()
            .iter()
            .filter(|l| l.starts_with("starting "))
            .count();
        restarted && starts >= 2
    });
    let err = f.err();
    assert!(
        err.iter()
            .any(|l| l.contains("container gateway CrashLoopBackOff; waiting for it to restart")),
        "{err:?}"
    );
    // No line twice within one instance.
    let out = f.out();
    for w in out.windows(2) {
        assert!(!(w[0] == w[1] && w[0].starts_with("connecting")), "{out:?}");
    }
}

#[test]
fn a_broken_log_stream_resumes_without_repeating_a_line() {
    let served = Served::start("swarm");
    let state = tempfile::tempdir().unwrap();
    assign(&served, state.path());
    let f = Following::start(
        &served,
        &[
            "logs",
            "swarm-worker-0",
            "-n",
            "swarm",
            "-f",
            "--timestamps",
        ],
        state.path(),
    );
    let processed = |f: &Following| f.out().iter().filter(|l| l.contains(" processed ")).count();
    wait_until("a first report", || processed(&f) >= 1);
    // The server ends every open stream (as an API server restart would).
    served.cluster.disconnect_watchers();
    let before = processed(&f);
    wait_until("two more reports after the break", || {
        processed(&f) >= before + 2
    });
    // It did break and resume: a second request, from the last line's second.
    let resumed = served
        .cluster
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/pods/swarm-worker-0/log") && r.query.contains("sinceTime="))
        .count();
    assert!(resumed >= 1, "no resumed log request");
    let out = f.out();
    let mut seen = std::collections::BTreeSet::new();
    for l in &out {
        assert!(seen.insert(l.clone()), "{l} twice in {out:#?}");
    }
    let stamps: Vec<i64> = out
        .iter()
        .map(|l| swarmdeck::time::parse_rfc3339(l.split(' ').next().unwrap()).unwrap())
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{out:#?}");
}

#[test]
fn a_stream_is_followed_to_its_new_owner_across_a_scale() {
    let served = Served::start("swarm");
    let state = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = swarmdeck(args, Some(&served.kubeconfig), state.path());
        assert!(out.status.success(), "{args:?}: {}", err(&out));
        text(&out)
    };
    assign(&served, state.path());
    // A stream the scale to 3 moves, from the plan.
    let (stream, from, to) = common::first_move_to_three(&served.kubeconfig, state.path());
    let f = Following::start(
        &served,
        &["logs", "--stream", &stream, "-f", "-n", "swarm"],
        state.path(),
    );
    wait_until("the stream's owner named", || {
        f.out()
            .iter()
            .any(|l| l == &format!("--- {stream} is on {from}, v1"))
    });
    run(&["scale", "swarm-worker", "3", "-n", "swarm"]);
    let marker = format!("--- {stream} moved {from} → {to}, v");
    wait_until("the move and the new owner's lines", || {
        let out = f.out();
        out.iter()
            .position(|l| l.starts_with(&marker))
            .is_some_and(|at| out[at..].iter().any(|l| l.starts_with("loaded ")))
    });
    let out = f.out();
    let at = out.iter().position(|l| l.starts_with(&marker)).unwrap();
    // After the move: the new owner's start and load (it has 10 jobs).
    assert!(
        out[at..].iter().any(|l| l.starts_with("loaded 10 jobs")),
        "{out:?}"
    );
}
