//! End to end: the real binary in a pseudo-terminal, keys sent, the screen
//! parsed with vt100. The harness answers the terminal's cursor-position
//! query, as a real terminal would.

mod common;
use common::Served;
use common::pty::Tui;

use std::time::Duration;

#[test]
fn browse_filter_help_and_quit_restores_the_terminal() {
    let t = Tui::start("--embedded");
    t.wait_for("the demo pods", |s| {
        s.contains("swarm-worker-0") && s.contains("swarm-worker-1")
    });
    t.send(b":sts\r");
    t.wait_for("the statefulsets view", |s| {
        s.contains("StatefulSets(") && s.contains("swarm-worker")
    });
    t.send(b":pods\r");
    t.send(b"0");
    t.wait_for("all namespaces", |s| s.contains("report-builder"));
    t.send(b"/report\r");
    t.wait_for("filtered rows", |s| {
        s.contains("report-builder") && !s.contains("swarm-worker-1")
    });
    t.send(b"?");
    t.wait_for("help from the keymap", |s| {
        // In the operator's words (the keymap's desc), not action ids.
        s.contains("Keys (normal mode, keymap default)")
            && s.contains("first row")
            && !s.contains("go_top")
    });
    t.send(b"x");
    t.send(b"\x1b");
    t.wait_for("the filter cleared", |s| s.contains("swarm-worker-1"));
    t.send(b"q");
    let after = t.wait_for("the shell after quitting", |s| {
        s.contains("EXITED 0") && s.contains("speed")
    });
    // Cooked mode: canonical input and echo are on again.
    assert_terminal_restored(&t, &after);
}

#[test]
fn read_only_refuses_writes_and_the_server_sees_none() {
    let served = Served::start("swarm");
    let cluster = &served.cluster;
    let before = cluster.requests().len();

    // The flags in either order, as the second user of the kubeconfig.
    let t = Tui::start(&format!(
        "--read-only --context viewer --kubeconfig {}",
        served.kubeconfig.display()
    ));
    let s = t.wait_for("the swarm pods", |s| s.contains("swarm-worker-0"));
    assert!(s.contains("READ-ONLY"), "{s}");
    assert!(s.contains("ctx:viewer"), "{s}");
    t.send(b"\x04"); // Ctrl-D: delete
    t.wait_for("the read-only message", |s| {
        s.contains("read-only: `delete` is not available")
    });
    t.send(b"\r");
    t.wait_for("the YAML view", |s| {
        s.contains("apiVersion: v1") && s.contains("kind: Pod")
    });
    t.send(b"\x1b");
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
    let writes: Vec<_> = cluster.requests()[before..]
        .iter()
        .filter(|r| r.method != "GET")
        .cloned()
        .collect();
    assert!(writes.is_empty(), "the console sent writes: {writes:?}");
    assert!(
        cluster.requests()[before..]
            .iter()
            .any(|r| r.path.ends_with("/pods/swarm-worker-0")),
        "the YAML came from the server"
    );
    let strangers: Vec<_> = cluster.requests()[before..]
        .iter()
        .filter(|r| r.user != "viewer")
        .cloned()
        .collect();
    assert!(strangers.is_empty(), "not sent as viewer: {strangers:?}");
}

#[test]
fn a_lost_api_server_shows_stale_data_and_resyncs_without_ghosts() {
    let mut served = Served::start("ops");
    let cluster = served.cluster.clone();
    let addr = served.addr;

    let t = Tui::start(&format!("--kubeconfig {}", served.kubeconfig.display()));
    t.wait_for("the ops pods", |s| {
        s.contains("report-builder") && s.contains("live")
    });
    // The first state came as a streaming list: a watch that sends it, and
    // no list of pods at all.
    // (PodMetrics are not pods: the usage the pods view draws is read apart.)
    let pod_reads: Vec<String> = cluster
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/pods") && !r.path.starts_with("/apis/metrics.k8s.io/"))
        .map(|r| r.query.clone())
        .collect();
    assert!(
        pod_reads
            .iter()
            .any(|q| q.contains("sendInitialEvents=true")),
        "{pod_reads:?}"
    );
    // (Besides the watch: the start's one-pod probe of access, and the
    // engine's reads of a swarm's workers by label.)
    assert!(
        pod_reads.iter().all(|q| q.contains("watch=true")
            || q.contains("labelSelector=")
            || q.contains("limit=1")),
        "the pods were listed: {pod_reads:?}"
    );
    // The API server goes away: the last data stays, marked stale.
    if let Some(server) = served.server.take() {
        server.abort();
    }
    cluster.disconnect_watchers();
    t.wait_for("the stale marker", |s| {
        s.contains("reconnecting, stale since") && s.contains("report-builder")
    });
    // The header tells the truth while the server is away: it never says
    // live again until the server is back.
    for _ in 0..15 {
        std::thread::sleep(Duration::from_millis(200));
        let header = t.screen().lines().next().unwrap_or_default().to_owned();
        assert!(
            header.contains("reconnecting") && !header.contains(" live "),
            "the header while the server is away: {header}"
        );
    }
    // While it is away, a pod is deleted and another created; when it
    // returns, no ghost row remains and the newcomer is there.
    let pods = cluster.resolve("", "v1", "pods").unwrap();
    cluster
        .remove_now(&pods, Some("ops"), "report-builder")
        .unwrap();
    cluster
        .create(
            &pods,
            Some("ops"),
            serde_json::json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "came-while-away", "namespace": "ops"},
                "spec": {"containers": [{"name": "c", "image": "example/c"}]}}),
            &Default::default(),
        )
        .unwrap();
    let (_, back) = served
        .rt
        .block_on(swarmdeck::embedded::serve_tcp(&cluster, addr.port()))
        .unwrap();
    served.server = Some(back);
    t.wait_for("a live, resynced view", |s| {
        s.contains(" live ")
            && !s.contains("report-builder")
            && s.contains("ingest-probe")
            && s.contains("came-while-away")
    });
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
}

/// The output ConfigMap of the demo swarm: workers and their jobs.
fn assignment(
    cluster: &swarmdeck::embedded::Cluster,
) -> Option<swarmdeck::domain::assignment::WorkerConfig> {
    let cms = cluster.resolve("", "v1", "configmaps").unwrap();
    let cm = cluster
        .get(&cms, Some("swarm"), "swarm-worker-config")
        .ok()?;
    swarmdeck::domain::assignment::WorkerConfig::parse(cm["data"]["config.yml"].as_str()?).ok()
}

#[test]
fn scale_the_swarm_from_the_grid_and_watch_it_converge() {
    let served = Served::start("swarm");
    let t = Tui::start(&format!("--kubeconfig {}", served.kubeconfig.display()));
    t.wait_for("the swarm pods", |s| s.contains("swarm-worker-0"));
    // Nothing to do yet: the console's engine holds no lease.
    t.wait_for("the console's engine standing by", |s| {
        s.contains("engine:standby")
    });
    t.send(b":grid\r");
    t.wait_for("the grid with 2 converged workers", |s| {
        s.contains("grid swarm-worker") && s.contains("2 workers (2 converged)")
    });
    t.send(b"s");
    t.send(b"x");
    t.wait_for("the inline validation", |s| {
        s.contains("`x` is not a whole number of workers")
    });
    t.send(b"\x7f3\r");
    // The moves are drawn (the line may be cut at 100 columns).
    t.wait_for("the plan", |s| {
        s.contains("plan (scale to 3)") && s.contains("→ swarm-worker-") && s.contains("+10")
    });
    t.send(b"y");
    // Strict handoff: the release is version 2, the grant version 3.
    let s = t.wait_for("3 converged workers", |s| {
        s.contains("3 workers (3 converged)") && s.contains("version 3")
    });
    assert!(s.contains("unassigned 0 · duplicated 0"), "{s}");
    // The work done, the lease is given back.
    t.wait_for("the engine standing by again", |s| {
        s.contains("engine:standby")
    });
    // The cluster holds it: every job exactly once over 3 workers.
    let cfg = assignment(&served.cluster).expect("the output ConfigMap");
    assert_eq!(cfg.workloads.len(), 3);
    let all: Vec<&String> = cfg.workloads.values().flat_map(|w| &w.jobs).collect();
    let unique: std::collections::BTreeSet<&&String> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (32, 32));
    t.send(b"\x1b");
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
}

#[test]
fn set_a_task_running_and_see_it_pass_through_configured() {
    let served = Served::start("alice-tasks");
    let t = Tui::start(&format!("--kubeconfig {}", served.kubeconfig.display()));
    t.wait_for("the console's engine standing by", |s| {
        s.contains("engine:standby")
    });
    t.send(b":tasks\r");
    t.wait_for("readout in standby", |s| {
        s.lines()
            .any(|l| l.contains("readout") && l.contains("standby"))
    });
    t.send(b"/readout\r");
    t.send(b"\r");
    t.wait_for("the state machine", |s| {
        s.contains("● STANDBY") && s.contains("CONFIGURE")
    });
    t.send(b"r");
    t.wait_for("the question", |s| {
        s.contains("Set the target of Task alice-tasks/readout to running?")
    });
    t.send(b"y");
    let s = t.wait_for("running", |s| {
        s.contains("● RUNNING") && s.contains("standby -> configured")
    });
    assert!(s.contains("configured -> running"), "{s}");
    t.send(b"\x1b");
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
}

#[test]
fn invalid_yaml_in_the_editor_is_refused_and_kept() {
    let t = Tui::start("--embedded");
    t.wait_for("the demo pods", |s| s.contains("swarm-worker-0"));
    t.send(b":new pool\r");
    t.wait_for("the editor", |s| {
        s.contains("edit new pool") && s.contains("✓ valid")
    });
    t.send(b"[oops: ");
    let s = t.wait_for("the error's place", |s| s.contains("✗ document 1, line"));
    assert!(s.contains("column"), "{s}");
    t.send(b"\x13"); // Ctrl-S: apply
    t.wait_for("the refusal", |s| s.contains("not sent, buffer unchanged"));
    t.send(b"\x1b");
    t.wait_for("the question", |s| s.contains("lose your changes?"));
    t.send(b"n");
    let s = t.wait_for("the buffer kept", |s| s.contains("[oops: "));
    assert!(s.contains("edit new pool [modified]"), "{s}");
    t.send(b"\x1b");
    t.send(b"y");
    t.wait_for("the pods again", |s| {
        s.contains("swarm-worker-0") && !s.contains("edit new pool")
    });
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
}

#[test]
fn read_only_offers_none_of_the_workflow_actions() {
    let t = Tui::start("--embedded --read-only");
    t.wait_for("the demo pods", |s| s.contains("swarm-worker-0"));
    t.wait_for("plan-only", |s| s.contains("plan-only"));
    t.send(b":grid\r");
    t.wait_for("the grid", |s| s.contains("grid swarm-worker"));
    t.send(b"s");
    t.wait_for("no scale", |s| {
        s.contains("read-only: `scale` is not available")
    });
    t.send(b"r");
    t.wait_for("no rebalance", |s| {
        s.contains("read-only: `rebalance` is not available")
    });
    t.send(b"\x1b");
    t.send(b":new task\r");
    t.wait_for("no editor", |s| {
        s.contains("read-only: `:new` is not available")
    });
    t.send(b"e");
    t.wait_for("no edit", |s| {
        s.contains("read-only: `edit` is not available")
    });
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
}

#[test]
fn a_new_pool_is_dry_run_then_applied_from_the_editor() {
    let served = Served::start("default");
    let t = Tui::start(&format!("--kubeconfig {}", served.kubeconfig.display()));
    t.wait_for("the console", |s| s.contains("engine:"));
    t.send(b":new pool\r");
    t.wait_for("the editor", |s| {
        s.contains("edit new pool") && s.contains("✓ valid")
    });
    t.send(b"\x14"); // Ctrl-T: server dry run
    t.wait_for("the dry run", |s| {
        s.contains("dry run passed, nothing changed")
    });
    let sts = served
        .cluster
        .resolve("apps", "v1", "statefulsets")
        .unwrap();
    assert!(
        served
            .cluster
            .get(&sts, Some("default"), "new-pool")
            .is_err()
    );
    t.send(b"\x13"); // Ctrl-S: apply
    t.wait_for("the question", |s| s.contains("as one unit? y = apply"));
    t.send(b"y");
    t.wait_for("the verdict", |s| s.contains("applied as one unit"));
    assert!(
        served
            .cluster
            .get(&sts, Some("default"), "new-pool")
            .is_ok()
    );
    // Applied: the buffer is the new baseline, closing asks nothing.
    t.send(b"\x1b");
    t.wait_for("the pods", |s| !s.contains("edit new pool"));
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
}

#[test]
fn as_the_operator_a_foreign_namespace_says_why_it_is_empty() {
    let served = Served::start("swarm");
    let t = Tui::start(&format!(
        "--kubeconfig {} --context operator",
        served.kubeconfig.display()
    ));
    let s = t.wait_for("the swarm pods", |s| s.contains("swarm-worker-0"));
    assert!(s.contains("ctx:operator"), "{s}");
    // Its Role is not bound in ops: the view quotes the server, not "No pods".
    t.send(b":ns ops\r");
    let s = t.wait_for("the refusal", |s| {
        s.contains("Cannot show pods: pods is forbidden: User \"operator\" cannot list")
    });
    assert!(s.contains("forbidden"), "{s}");
    assert!(!s.contains("No pods in ops"), "{s}");
    // Back in a namespace it may read, the rows come again.
    t.send(b":ns alice-tasks\r");
    t.send(b":tasks\r");
    t.wait_for("the tasks", |s| s.contains("readout"));
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
}

#[test]
fn as_the_viewer_a_forbidden_key_says_so_and_nothing_is_sent() {
    let served = Served::start("swarm");
    let cluster = &served.cluster;
    let before = cluster.requests().len();
    // Not read-only: the Role is what forbids.
    let t = Tui::start(&format!(
        "--kubeconfig {} --context viewer",
        served.kubeconfig.display()
    ));
    t.wait_for("the swarm pods", |s| s.contains("swarm-worker-0"));
    // Once the rules are known, Ctrl-D answers at once instead of asking.
    let mut s = String::new();
    for _ in 0..50 {
        t.send(b"\x04");
        std::thread::sleep(Duration::from_millis(300));
        s = t.screen();
        if s.contains("forbidden: `delete` needs `delete pods` in namespace swarm") {
            break;
        }
        // The question asked before the rules arrived: no.
        t.send(b"n");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        s.contains("forbidden: `delete` needs `delete pods` in namespace swarm"),
        "{s}"
    );
    assert!(!s.contains("Delete pod"), "{s}");
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
    let accepted: Vec<_> = cluster.requests()[before..]
        .iter()
        .filter(|r| {
            r.method != "GET" && r.code < 300 && !r.path.contains("selfsubjectrulesreviews")
        })
        .cloned()
        .collect();
    assert!(
        accepted.is_empty(),
        "the viewer's console changed something: {accepted:?}"
    );
}

#[test]
fn an_idle_console_sends_no_write_and_no_failing_request() {
    let served = Served::start("swarm");
    let cluster = &served.cluster;
    let t = Tui::start(&format!("--kubeconfig {} -A", served.kubeconfig.display()));
    // The demo's swarm gets its first assignment from the console's engine
    // (a write, before the window): wait until its workers hold it.
    t.wait_for("the pods, live, assigned, engine standing by", |s| {
        s.contains("swarm-worker-0")
            && s.contains(" live ")
            && s.matches("v1 ✓").count() == 2
            && s.contains("engine:standby")
    });
    // Past start-up (lists, watches, the one rules review), then two lease
    // periods and two controller resyncs of looking at swarms and Tasks that
    // need nothing.
    std::thread::sleep(Duration::from_secs(2));
    let from = cluster.requests().len();
    std::thread::sleep(Duration::from_secs(12));
    let window = cluster.requests()[from..].to_vec();
    let writes: Vec<_> = window.iter().filter(|r| r.method != "GET").collect();
    assert!(writes.is_empty(), "an idle console wrote: {writes:?}");
    let failed: Vec<_> = window.iter().filter(|r| r.code >= 400).collect();
    assert!(
        failed.is_empty(),
        "an idle console's requests failed: {failed:?}"
    );
    // Nor does it poll: its watches stay open, so nothing at all is asked
    // but the pods' usage its pods view draws (metrics.k8s.io has no watch:
    // one list every 15 s, while the CPU column is on screen).
    let (usage, polls): (Vec<_>, Vec<_>) = window
        .iter()
        .filter(|r| !r.query.contains("watch=true"))
        .map(|r| format!("{} {}?{}", r.method, r.path, r.query))
        .partition(|r| r.starts_with("GET /apis/metrics.k8s.io/"));
    assert!(polls.is_empty(), "an idle console polled: {polls:#?}");
    assert!(
        usage.len() <= 1,
        "usage read more than every 15 s: {usage:#?}"
    );
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
}

#[test]
fn a_missing_crd_is_said_asked_for_rarely_and_picked_up_once_installed() {
    use swarmdeck::embedded::{Cluster, scenario, serve_tcp};
    use swarmdeck::time::Clock;
    // A cluster without the Task CRD.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cluster = Cluster::new(Clock::system(), 10_000);
    let (addr, _server) = rt.block_on(serve_tcp(&cluster, 0)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        swarmdeck::embedded::kubeconfig(&cluster, &swarmdeck::embedded::url(addr), "default"),
    )
    .unwrap();
    let t = Tui::start(&format!("--kubeconfig {}", kubeconfig.display()));
    t.wait_for("the console", |s| s.contains("Pods(default)"));
    t.send(b":tasks\r");
    t.wait_for("the missing CRD said", |s| {
        s.contains("CRD tasks.aliecs.alice.cern is not installed")
    });
    // Asked again rarely, not every second: over 8 s, the view's watch and
    // the engine's together ask at most a handful of times.
    let tasks = |c: &Cluster| {
        c.requests()
            .iter()
            .filter(|r| r.path.starts_with("/apis/aliecs.alice.cern"))
            .count()
    };
    let before = tasks(&cluster);
    std::thread::sleep(Duration::from_secs(8));
    let asked = tasks(&cluster) - before;
    let seen: Vec<String> = cluster
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/apis/aliecs.alice.cern"))
        .map(|r| format!("{} {}?{} {}", r.method, r.path, r.query, r.code))
        .collect();
    assert!(
        asked <= 8,
        "the Task list was asked for {asked} times in 8 s: {seen:#?}"
    );
    // Installed while the console runs: the view picks it up.
    scenario::install_crds(&cluster).unwrap();
    t.wait_for("the Task view", |s| s.contains("No tasks in default"));
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
}

#[test]
fn a_crash_looping_pod_s_last_words_from_its_previous_container() {
    let t = Tui::start("--embedded");
    t.wait_for("the demo pods", |s| s.contains("swarm-worker-0"));
    t.send(b"0");
    t.send(b"/payment\r");
    t.wait_for("the crash-looping pod", |s| {
        s.contains("payment-gateway") && !s.contains("swarm-worker-0")
    });
    t.send(b"l");
    t.wait_for("its log, following", |s| {
        s.contains("logs pod ops/payment-gateway-")
            && s.contains("starting registry.example.org/ops/payment-gateway:3.2")
    });
    // The container exits: the view says so and waits for the restart.
    t.wait_for("the exit marked", |s| {
        s.contains("cannot connect to upstream") && s.contains("waiting for it to restart")
    });
    t.send(b"p");
    let s = t.wait_for("the previous container's log", |s| {
        s.contains("(previous container) ended") && s.contains("exiting with status 1")
    });
    assert!(
        s.contains("error: cannot connect to upstream: connection refused"),
        "{s}"
    );
    t.send(b"\x1b");
    t.wait_for("the pods again", |s| {
        s.contains("Pods(") && s.contains("payment-gateway")
    });
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
}

#[test]
fn a_stream_s_log_follows_it_to_its_new_owner_across_a_scale() {
    let served = Served::start("swarm");
    let state = tempfile::tempdir().unwrap();
    let t = Tui::start(&format!("--kubeconfig {}", served.kubeconfig.display()));
    // The workers hold their streams and the console knows the swarm.
    t.wait_for("the swarm's workers converged", |s| {
        s.matches("v1 ✓").count() == 2 && s.contains("engine:standby")
    });
    t.send(b":grid\r");
    t.wait_for("the grid with 2 converged workers", |s| {
        s.contains("grid swarm-worker") && s.contains("2 workers (2 converged)")
    });
    // A stream the scale to 3 moves, from the plan.
    let (stream, from, to) = common::first_move_to_three(&served.kubeconfig, state.path());
    t.send(format!("/{stream}\r").as_bytes());
    t.send(b"L");
    t.wait_for("the stream's log on its owner", |s| {
        s.contains(&format!("logs {stream} in swarm swarm/swarm-worker"))
            && s.contains(&format!("--- {stream} is on {from}, v"))
    });
    let scaled = common::swarmdeck(
        &["scale", "swarm-worker", "3", "-n", "swarm"],
        Some(&served.kubeconfig),
        state.path(),
    );
    assert!(
        scaled.status.success(),
        "{}",
        String::from_utf8_lossy(&scaled.stderr)
    );
    let s = t.wait_for("the move and the new owner's lines", |s| {
        s.contains(&format!("--- {stream} moved {from} → {to}, v")) && s.contains("loaded 10 jobs")
    });
    let after = s
        .split(&format!("moved {from} → {to}"))
        .nth(1)
        .unwrap_or_default();
    assert!(
        after.contains("starting registry.example.org/swarm/worker"),
        "{s}"
    );
    // Back to the grid, which still holds the stream found; quit from there.
    t.send(b"\x1b");
    t.wait_for("the grid again", |s| s.contains("grid swarm-worker"));
    t.send(b":q\r");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
}

/// Another kind, end to end through the runtime: discovery when the palette
/// opens, `:deploy` read as the server's Table and followed by a watch (a
/// scale made meanwhile shows), `Enter` lists the Deployment's pods, a
/// Secret masked until `x`.
#[test]
fn deployments_their_pods_and_a_masked_secret() {
    let served = Served::start("default");
    let t = Tui::start(&format!(
        "--kubeconfig {} -n ops",
        served.kubeconfig.display()
    ));
    t.wait_for("the pods", |s| s.contains("Pods(ops)"));
    t.send(b":dep");
    t.wait_for("completion from discovery", |s| {
        s.contains("deployments.apps")
    });
    t.send(b"loy\r");
    t.wait_for("the deployments", |s| {
        s.contains("Deployments(ops)[2]") && s.contains("UP-TO-DATE") && s.contains("2/2")
    });
    let status = std::process::Command::new("kubectl")
        .args(["--kubeconfig", served.kubeconfig.to_str().unwrap()])
        .args([
            "-n",
            "ops",
            "scale",
            "deployment",
            "dashboard",
            "--replicas=3",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    t.wait_for("the scale, through the watch", |s| s.contains("/3"));
    // dashboard is the first row (by name).
    t.send(b"\r");
    t.wait_for("the deployment's pods", |s| {
        s.contains("Pods of deployment dashboard(ops)") && s.contains("-l app=dashboard")
    });
    t.send(b":secrets\r");
    t.wait_for("the secrets", |s| s.contains("payment-gateway-db"));
    t.send(b"\r");
    let masked = t.wait_for("the masked secret", |s| s.contains("password: ••••"));
    assert!(!masked.contains("s3cr3t"), "{masked}");
    t.send(b"x");
    t.wait_for("the value decoded", |s| {
        s.contains("password: s3cr3t-do-not-show")
    });
    t.send(b"q");
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
}

/// The terminal as a shell expects it after the program: main screen,
/// cursor shown, canonical input and echo on (from `stty -a`).
fn assert_terminal_restored(t: &Tui, after: &str) {
    let parser = t.parser.lock().unwrap();
    assert!(
        !parser.screen().alternate_screen(),
        "the main screen is back"
    );
    assert!(
        !parser.screen().hide_cursor(),
        "the cursor is visible again"
    );
    drop(parser);
    assert!(after.split_whitespace().any(|w| w == "icanon"), "{after}");
    assert!(after.split_whitespace().any(|w| w == "echo"), "{after}");
}

/// SIGINT, SIGTERM, SIGHUP (an ssh link that drops) and SIGQUIT end the
/// console as `q` does: terminal restored, exit code 128 + n.
#[test]
fn every_signal_restores_the_terminal_and_exits_with_128_plus_n() {
    for (name, number) in [("INT", 2), ("TERM", 15), ("HUP", 1), ("QUIT", 3)] {
        let t = Tui::start("--embedded");
        t.wait_for("the demo pods", |s| s.contains("swarm-worker-0"));
        t.signal(name);
        let after = t.wait_for("the shell after the signal", |s| {
            s.contains("EXITED") && s.contains("speed")
        });
        assert!(
            after.contains(&format!("EXITED {}", 128 + number)),
            "SIG{name}: {after}"
        );
        assert_terminal_restored(&t, &after);
    }
}

/// A signal while the console's engine leads hands its Lease back before
/// the process exits, so another engine takes over at once.
#[test]
fn a_dropped_ssh_link_hands_the_engines_lease_back() {
    // The new worker is slow to start: the engine leads while it waits.
    let slow = swarmdeck::embedded::world::Fault::on_pod(
        "swarm/swarm-worker-2",
        swarmdeck::embedded::world::FaultKind::SlowStart,
    );
    let served = Served::start_with("swarm", vec![slow]);
    let t = Tui::start(&format!("--kubeconfig {}", served.kubeconfig.display()));
    t.wait_for("the console's engine standing by", |s| {
        s.contains("engine:standby")
    });
    t.send(b":grid\r");
    t.wait_for("the grid with 2 converged workers", |s| {
        s.contains("2 workers (2 converged)")
    });
    t.send(b"s");
    t.send(b"3\r");
    t.wait_for("the plan", |s| s.contains("plan (scale to 3)"));
    t.send(b"y");
    let leases = served
        .cluster
        .resolve("coordination.k8s.io", "v1", "leases")
        .unwrap();
    let holder = || {
        served
            .cluster
            .get(&leases, Some("swarm"), "swarmdeck-engine")
            .ok()
            .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !holder().is_some_and(|h| h.starts_with("console:")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the console's engine never led"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    t.signal("HUP");
    let after = t.wait_for("the shell after the signal", |s| {
        s.contains("EXITED") && s.contains("speed")
    });
    assert!(after.contains("EXITED 129"), "{after}");
    assert_eq!(holder(), None, "the Lease was handed back");
    assert_terminal_restored(&t, &after);
}

/// A wall screen: a read-only console started straight into the overview.
/// When the API server goes away, a banner that cannot be missed replaces
/// the header; when it is back, the banner goes.
#[test]
fn a_read_only_overview_says_unmissably_when_its_data_is_stale() {
    let mut served = Served::start("swarm");
    let t = Tui::start(&format!(
        "--read-only --view overview --kubeconfig {}",
        served.kubeconfig.display()
    ));
    let first = t.wait_for("the overview", |s| {
        s.contains("SWARMS (1)") && s.contains("TASKS") && s.contains("live")
    });
    assert!(first.contains("READ-ONLY"), "{first}");
    served.stop_server();
    let stale = t.wait_for("the stale banner", |s| s.contains("DATA STALE since"));
    assert!(!stale.contains("READ-ONLY  live"), "{stale}");
    served.start_server();
    t.wait_for("the banner gone", |s| {
        !s.contains("DATA STALE") && s.contains(" live ")
    });
    t.send(b"q");
    let after = t.wait_for("the shell", |s| s.contains("EXITED"));
    assert_terminal_restored(&t, &after);
}

/// `s` on a pod: a shell in it, full screen, the console back after it
/// with the exit code; in read-only mode refused before anything is sent.
#[test]
fn a_shell_in_a_pod_from_the_pods_view() {
    let served = Served::start("swarm");
    served.wait_running("swarm", "swarm-worker-0");
    let t = Tui::start(&format!(
        "--kubeconfig {} -n swarm",
        served.kubeconfig.display()
    ));
    // The console's engine gives the demo its first assignment, and the
    // workers restart to load it: the shell is opened in a worker that has.
    t.wait_for("the pods, assigned, the engine standing by", |s| {
        s.contains("swarm-worker-0")
            && s.contains(" live ")
            && s.matches("v1 ✓").count() == 2
            && s.contains("engine:standby")
    });
    t.send(b"s");
    t.wait_for("the shell's prompt", |s| s.contains("/ # "));
    t.send(b"hostname\r");
    t.wait_for("its answer", |s| {
        s.contains("\nswarm-worker-0") || s.lines().any(|l| l.trim() == "swarm-worker-0")
    });
    t.send(b"exit 3\r");
    let back = t.wait_for("the console back", |s| {
        s.contains("the shell in swarm/swarm-worker-0 ended: exit code 3")
    });
    assert!(back.contains("Pods(swarm)"), "{back}");
    t.send(b"q");
    let after = t.wait_for("the shell", |s| s.contains("EXITED"));
    assert_terminal_restored(&t, &after);

    // Read-only: the key says why and nothing is asked.
    let from = served.cluster.requests().len();
    let t = Tui::start(&format!(
        "--read-only --kubeconfig {} -n swarm",
        served.kubeconfig.display()
    ));
    t.wait_for("the pods", |s| {
        s.contains("swarm-worker-0") && s.contains(" live ")
    });
    t.send(b"s");
    t.wait_for("the refusal", |s| {
        s.contains("read-only: `scale` is not available")
    });
    let execs: Vec<_> = served.cluster.requests()[from..]
        .iter()
        .filter(|r| r.path.ends_with("/exec"))
        .map(|r| r.path.clone())
        .collect();
    assert!(execs.is_empty(), "{execs:?}");
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED"));
}
