//! A hostile cluster: whoever can write an Event, a ConfigMap, a Secret, a
//! StatefulSet's replica count, one of swarmdeck's annotations or a log line
//! tries to drive the operator's terminal, read a secret, harvest the
//! console's environment or stop the engine. Over it: the console in a
//! pseudo-terminal on every screen (its bytes parsed: no escape sequence
//! swarmdeck did not write itself, no Secret value), the command line's
//! verbs, the editor's round trip and conflicts, the engine beside a
//! healthy swarm, and the embedded server's own guards.

mod common;
use common::Served;
use common::pty::Tui;

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use swarmdeck::embedded::Cluster;

/// Escape sequences of every kind a message can carry: set the clipboard
/// (OSC 52), set the window title (OSC 0), clear the screen (CSI), a C1
/// CSI, a device control string, a right-to-left override and a bell.
const HOSTILE: &str = "pwn \u{1b}]52;c;aGFja2Vk\u{7} \u{1b}]0;owned-title\u{7} \u{1b}[2J \u{9b}31m \u{1b}P1$r\u{1b}\\ \u{202e}gnp.exe \u{7}end";

/// The same without the C1 control: YAML has no way to carry a C1 control
/// unescaped, so an object holding one is refused by a server-side apply
/// (kube-apiserver's and the embedded one's), and the editor's round trip
/// uses this one.
const HOSTILE_C0: &str = "pwn \u{1b}]52;c;aGFja2Vk\u{7} \u{1b}]0;owned-title\u{7} \u{1b}[2J \u{1b}P1$r\u{1b}\\ \u{202e}gnp.exe \u{7}end";

/// The Secret's value, and the same in base64 as `data` holds it.
const SECRET: &str = "hunter2-PLAIN-value";

fn secret_b64() -> String {
    base64::engine::general_purpose::STANDARD.encode(SECRET)
}

fn create(cluster: &Cluster, group: &str, version: &str, plural: &str, ns: &str, v: Value) {
    let rt = cluster.resolve(group, version, plural).unwrap();
    cluster
        .create(&rt, Some(ns), v, &Default::default())
        .unwrap();
}

/// Hostile objects beside the demo's healthy ones.
fn load_hostile(cluster: &Cluster) {
    create(
        cluster,
        "",
        "v1",
        "events",
        "swarm",
        json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "hostile.1", "namespace": "swarm"},
            "involvedObject": {"kind": "Pod", "name": "swarm-worker-0", "namespace": "swarm"},
            "type": "Warning", "reason": format!("Bad{HOSTILE}"), "message": HOSTILE,
            "count": 1, "source": {"component": HOSTILE}}),
    );
    create(
        cluster,
        "",
        "v1",
        "configmaps",
        "swarm",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "hostile-cm", "namespace": "swarm",
                "annotations": {"note": HOSTILE_C0}},
            "data": {"run.sh": "echo ${SECRET_TOKEN}\n", "shell": "${HOME:-/root}", "esc": HOSTILE_C0}}),
    );
    create(
        cluster,
        "",
        "v1",
        "configmaps",
        "swarm",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "hostile-c1", "namespace": "swarm",
                "labels": {"note": "c1"}, "annotations": {"note": HOSTILE}},
            "data": {"esc": HOSTILE}}),
    );
    // A Secret as `kubectl apply` leaves it: its values once more in the
    // last-applied annotation.
    let applied = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "applied-secret", "namespace": "swarm"},
        "stringData": {"password": SECRET}});
    create(
        cluster,
        "",
        "v1",
        "secrets",
        "swarm",
        json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "applied-secret", "namespace": "swarm",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": applied.to_string()}},
            "type": "Opaque", "data": {"password": secret_b64()}}),
    );
    // A swarm whose StatefulSet asks for 2^31-1 workers.
    create(
        cluster,
        "",
        "v1",
        "namespaces",
        "",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "hostile"}}),
    );
    create(
        cluster,
        "",
        "v1",
        "configmaps",
        "hostile",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "huge-jobs", "namespace": "hostile",
                "labels": {"swarmdeck.io/swarm": "huge"}},
            "data": {"config.yml": "jobs:\n  - stream:a\n  - stream:b\n"}}),
    );
    create(
        cluster,
        "apps",
        "v1",
        "statefulsets",
        "hostile",
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "huge", "namespace": "hostile"},
            "spec": {"replicas": 2147483647, "serviceName": "huge",
                "selector": {"matchLabels": {"app": "huge"}},
                "template": {"metadata": {"labels": {"app": "huge"}},
                    "spec": {"containers": [{"name": "w", "image": "example/w"}]}}}}),
    );
    // A malformed handoff record on the demo swarm's output (a time with a
    // character where a digit goes) and hostile log lines.
    let cms = cluster.resolve("", "v1", "configmaps").unwrap();
    let mut out = (*cluster
        .get(&cms, Some("swarm"), "swarm-worker-config")
        .unwrap())
    .clone();
    out["metadata"]["annotations"]["swarmdeck.io/handoff-state"] = json!(
        json!({"phase": "release", "since": "2026-01-01T00:00:00.1€Z", "streams": []}).to_string()
    );
    cluster
        .replace(
            &cms,
            Some("swarm"),
            "swarm-worker-config",
            out,
            None,
            &Default::default(),
        )
        .unwrap();
    cluster.append_log("ops", "report-builder", format!("log {HOSTILE}"));
    cluster.append_log("ops", "report-builder", "A".repeat(10 << 20));
}

/// The escape sequences in what a program wrote to its terminal that the
/// console itself never writes: OSC, DCS, APC, PM and SOS strings, C1
/// controls, a bell, and control sequences that act on the window or reset
/// the terminal.
fn foreign_sequences(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\u{1b}' => {
                let next = chars.get(i + 1).copied().unwrap_or(' ');
                match next {
                    '[' => {
                        let mut j = i + 2;
                        while j < chars.len() && !('\u{40}'..='\u{7e}').contains(&chars[j]) {
                            j += 1;
                        }
                        let fin = chars.get(j).copied().unwrap_or('?');
                        // Window manipulation, device attributes, printing.
                        if matches!(fin, 't' | 'c' | 'i' | 'x') {
                            found.push(chars[i..=j.min(chars.len() - 1)].iter().collect());
                        }
                        i = j + 1;
                        continue;
                    }
                    '7' | '8' | '=' | '>' | 'M' => i += 2,
                    '(' | ')' => i += 3,
                    other => {
                        found.push(format!("ESC {other:?}"));
                        i += 2;
                    }
                }
                continue;
            }
            '\u{7}' => found.push("BEL".into()),
            '\u{80}'..='\u{9f}' => found.push(format!("C1 {:?}", c)),
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                found.push(format!("bidi {:?}", c))
            }
            _ => {}
        }
        i += 1;
    }
    found
}

#[test]
fn the_parser_finds_what_a_hostile_object_would_send() {
    let raw = format!("\u{1b}[1;1H\u{1b}[0m{HOSTILE}\u{1b}[?1049l");
    let found = foreign_sequences(raw.as_bytes());
    assert!(found.iter().any(|f| f == "ESC ']'"), "{found:?}");
    assert!(found.iter().any(|f| f == "ESC 'P'"), "{found:?}");
    assert!(found.iter().any(|f| f.starts_with("C1")), "{found:?}");
    assert!(found.iter().any(|f| f.starts_with("bidi")), "{found:?}");
    assert!(foreign_sequences(b"\x1b[1;1H\x1b[38;5;2mok\x1b[?25h\x1b7\x1b8").is_empty());
}

/// The console's bytes up to its exit (the shell's own after it are not its).
fn console_bytes(t: &Tui) -> Vec<u8> {
    let raw = t.raw.lock().unwrap().clone();
    let end = raw
        .windows(6)
        .position(|w| w == b"EXITED")
        .unwrap_or(raw.len());
    raw[..end].to_vec()
}

fn assert_no_secret(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    assert!(!text.contains(SECRET), "{what} holds the Secret's value");
    assert!(
        !text.contains(&secret_b64()),
        "{what} holds the Secret's base64 value"
    );
}

/// Every screen over the hostile objects; `read_only` leaves out the editor.
fn visit_every_screen(read_only: bool) {
    let served = Served::start("swarm");
    load_hostile(&served.cluster);
    let flags = if read_only { " --read-only" } else { "" };
    let t = Tui::start_with(
        &format!("--kubeconfig {}{flags}", served.kubeconfig.display()),
        &[("SECRET_TOKEN", "token-from-the-operators-environment")],
    );
    t.wait_for("the pods", |s| s.contains("swarm-worker-0"));
    // Events: the hostile message shown, its escapes as stand-ins.
    t.send(b":events\r");
    let s = t.wait_for("the hostile event", |s| s.contains("pwn"));
    assert!(s.contains('␛'), "escape shown as a stand-in:\n{s}");
    t.send(b"d");
    t.wait_for("describe of the event's object", |s| s.contains("describe"));
    t.send(b"\x1b");
    // ConfigMaps: the hostile one's YAML and describe.
    t.send(b":cm\r");
    t.wait_for("the configmaps", |s| s.contains("hostile-cm"));
    t.send(b"/hostile\r");
    t.wait_for("filtered", |s| !s.contains("swarm-controller-config"));
    t.send(b"\r");
    t.wait_for("its YAML", |s| {
        s.contains("hostile-c1") && s.contains("esc:")
    });
    t.send(b"\x1b");
    t.send(b"d");
    t.wait_for("its description", |s| s.contains("Annotations:"));
    t.send(b"\x1b");
    // The applied Secret: YAML and describe masked.
    t.send(b":secrets\r");
    t.wait_for("the secrets", |s| s.contains("applied-secret"));
    t.send(b"/applied\r\r");
    let s = t.wait_for("the Secret's YAML", |s| s.contains("password: ••••"));
    assert!(s.contains("last-applied-configuration"), "{s}");
    t.send(b"\x1b");
    t.send(b"d");
    t.wait_for("the Secret described", |s| s.contains("Data"));
    t.send(b"\x1b");
    // The grid of the demo swarm (its handoff record is malformed) and of
    // the swarm of 2^31-1 workers.
    t.send(b":grid swarm-worker\r");
    t.wait_for("the grid", |s| {
        s.contains("grid swarm-worker") && s.contains("handoff strict")
    });
    t.send(b"\x1b");
    t.send(b":ns hostile\r");
    t.send(b":grid huge\r");
    t.wait_for("the huge swarm refused", |s| {
        s.contains("more than the 10000 workers")
    });
    t.send(b"\x1b");
    // A pod's log: hostile and 10 MB lines.
    t.send(b":ns ops\r");
    t.send(b":pods\r");
    t.send(b"/report-builder\r");
    t.wait_for("the pod", |s| {
        s.contains("report-builder") && !s.contains("ingest-probe")
    });
    t.send(b"l");
    t.wait_for("its log", |s| s.contains("logs pod ops/report-builder"));
    t.send(b"gg");
    let s = t.wait_for("the hostile line", |s| s.contains("log pwn"));
    assert!(s.contains("␛]52;c;aGFja2Vk␇"), "{s}");
    t.send(b"\x1b");
    t.send(b":ns swarm\r");
    t.send(b"?");
    t.wait_for("help", |s| s.contains("Keys ("));
    t.send(b"\x1b");
    if !read_only {
        // The editor on the ConfigMap holding ${SECRET_TOKEN}: saved as it
        // is, the cluster keeps the text, not the environment's value.
        t.send(b":cm\r");
        t.send(b"/hostile-cm\r");
        t.wait_for("the configmap", |s| s.contains("hostile-cm"));
        t.send(b"e");
        t.wait_for("the editor", |s| {
            s.contains("edit configmap swarm/hostile-cm")
        });
        t.send(b"\x13");
        t.wait_for("the question", |s| s.contains("y = apply"));
        t.send(b"y");
        t.wait_for("applied", |s| s.contains("applied as one unit"));
        let cms = served.cluster.resolve("", "v1", "configmaps").unwrap();
        let cm = served
            .cluster
            .get(&cms, Some("swarm"), "hostile-cm")
            .unwrap();
        assert_eq!(cm["data"]["run.sh"], "echo ${SECRET_TOKEN}\n");
        assert_eq!(cm["data"]["shell"], "${HOME:-/root}");
        assert_eq!(cm["data"]["esc"], HOSTILE_C0);
        t.send(b"\x1b");
        // The Secret edited and saved untouched keeps its value.
        t.send(b":secrets\r");
        t.send(b"/applied\r");
        t.wait_for("the secret row", |s| s.contains("applied-secret"));
        t.send(b"e");
        let s = t.wait_for("the Secret in the editor", |s| {
            s.contains("edit secret swarm/applied-secret")
        });
        assert!(s.contains("password: ••••"), "{s}");
        t.send(b"\x13");
        t.wait_for("the question", |s| s.contains("y = apply"));
        t.send(b"y");
        t.wait_for("applied", |s| s.contains("applied as one unit"));
        let secrets = served.cluster.resolve("", "v1", "secrets").unwrap();
        let secret = served
            .cluster
            .get(&secrets, Some("swarm"), "applied-secret")
            .unwrap();
        assert_eq!(secret["data"]["password"], secret_b64().as_str());
        t.send(b"\x1b");
    }
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
    let raw = console_bytes(&t);
    let foreign = foreign_sequences(&raw);
    assert!(foreign.is_empty(), "the terminal was sent {foreign:?}");
    assert_no_secret("the terminal output", &raw);
    let state = t.home().join("state").join("swarmdeck");
    for file in ["console.log", "audit.jsonl"] {
        if let Ok(bytes) = std::fs::read(state.join(file)) {
            assert_no_secret(file, &bytes);
        }
    }
}

#[test]
fn every_screen_over_a_hostile_cluster_read_write() {
    visit_every_screen(false);
}

#[test]
fn every_screen_over_a_hostile_cluster_read_only() {
    visit_every_screen(true);
}

/// The command line over the same objects: no panic, one-line messages,
/// nothing raw on a terminal (a pipe here: the texts come through as they
/// are, and the verdicts name the object and the limit).
#[test]
fn every_verb_over_a_hostile_cluster() {
    let served = Served::start("swarm");
    load_hostile(&served.cluster);
    let state = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = common::swarmdeck(args, Some(&served.kubeconfig), state.path());
        let code = out.status.code();
        assert_ne!(code, Some(101), "{args:?} panicked: {out:?}");
        assert!(code.is_some(), "{args:?} was killed: {out:?}");
        out
    };
    // `logs` reads a container that has started.
    served.wait_running("swarm", "swarm-worker-0");
    for args in [
        &["get", "pods"][..],
        &["get", "cm"],
        &["get", "cm", "-o", "yaml"],
        &["get", "sts", "-A"],
        &["status"],
        &["grid", "swarm-worker"],
        &["logs", "swarm-worker-0"],
    ] {
        let out = run(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    for args in [
        &["grid", "huge", "-n", "hostile"][..],
        &["rebalance", "huge", "-n", "hostile", "--dry-run"],
        &["scale", "huge", "3", "-n", "hostile", "--dry-run"],
    ] {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        assert!(
            err.contains("StatefulSet hostile/huge") && err.contains("10000"),
            "{args:?}: {err}"
        );
        let said: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
        assert_eq!(said.len(), 1, "one line: {err}");
    }
    // A log line of 10 MB comes out cut, the stream goes on.
    // (Once the pod's container has started: before, it has no log.)
    let mut text = String::new();
    for _ in 0..100 {
        let out = run(&["logs", "report-builder", "-n", "ops"]);
        text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("AAAA") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let long = text
        .lines()
        .find(|l| l.starts_with("AAAA"))
        .unwrap_or_else(|| panic!("no long line in {:.300}", text));
    // Cut at 64 KiB (the line as read includes the kubelet's timestamp).
    let (kept, cut) = long.split_once('…').unwrap();
    assert!(
        kept.len() > 60_000 && kept.len() <= 64 * 1024,
        "{}",
        kept.len()
    );
    let cut: usize = cut
        .strip_prefix('[')
        .and_then(|c| c.strip_suffix(" bytes cut]"))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(cut > (10 << 20) - 64 * 1024 && cut < 10 << 20, "{cut}");
    // To a pipe the log is as written (a terminal gets stand-ins).
    assert!(text.contains(&format!("log {HOSTILE}")));
}

/// To a terminal, the command line shows what the cluster wrote and obeys
/// none of it: `logs`, `get -o yaml` and `get` in a pseudo-terminal.
#[test]
fn the_command_line_to_a_terminal_sends_no_escape() {
    let served = Served::start("swarm");
    load_hostile(&served.cluster);
    let kc = served.kubeconfig.display().to_string();
    served.wait_running("ops", "report-builder");
    for args in [
        format!("logs report-builder -n ops --kubeconfig {kc}"),
        format!("get cm -o yaml --kubeconfig {kc}"),
        format!("get cm --kubeconfig {kc}"),
    ] {
        let t = Tui::start(&args);
        let s = t.wait_for("the command's exit", |s| s.contains("EXITED"));
        assert!(s.contains("EXITED 0"), "{args}: {s}");
        let raw = console_bytes(&t);
        let foreign = foreign_sequences(&raw);
        assert!(
            foreign.is_empty(),
            "{args}: the terminal was sent {foreign:?}"
        );
        if args.starts_with("logs") {
            let text = String::from_utf8_lossy(&raw);
            assert!(text.contains("log pwn ␛]52;c;aGFja2Vk␇"), "{text:.400}");
        }
    }
}

/// Someone else changes the ConfigMap under the editor.
fn change_theirs(cluster: &Cluster, esc: &str) {
    let cms = cluster.resolve("", "v1", "configmaps").unwrap();
    let mut theirs = (*cluster.get(&cms, Some("swarm"), "hostile-cm").unwrap()).clone();
    theirs["data"]["esc"] = json!(esc);
    cluster
        .replace(
            &cms,
            Some("swarm"),
            "hostile-cm",
            theirs,
            None,
            &Default::default(),
        )
        .unwrap();
}

/// Press `keys`, carry out the one effect they asked for as the runtime
/// does, and hand what it brought back to the model; that event, as the
/// test reads it.
async fn carry_out(
    m: &mut swarmdeck::ui::app::Model,
    keys: &str,
    client: &kube::Client,
    audit: &swarmdeck::engine::audit::Auditor,
) -> String {
    let effects = common::press(m, keys);
    assert_eq!(effects.len(), 1, "{effects:?}");
    let event = swarmdeck::ui::effects::perform_acting(effects[0].clone(), client, audit)
        .await
        .expect("the effect reports back");
    let said = format!("{event:?}");
    swarmdeck::ui::app::update(m, event);
    said
}

/// A save of an object someone changed since it was opened is refused
/// with a diff; `r` re-opens on theirs, `o` overwrites on request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_over_a_change_made_meanwhile_is_a_conflict() {
    use swarmdeck::ui::app::{Event, Screen, update};
    let demo = common::demo(false);
    load_hostile(&demo.cluster);
    let client = demo.client.clone();
    let audit = swarmdeck::engine::audit::Auditor {
        client: client.clone(),
        user: "admin".into(),
        context: "test".into(),
        log: None,
    };
    let api =
        swarmdeck::cluster::discovery::ApiKind::known("", "v1", "ConfigMap", "configmaps", true);
    let mut m = common::console_model(&demo.cluster);
    let open = async |m: &mut swarmdeck::ui::app::Model| {
        let object = swarmdeck::ui::act::fetch(&client, &api, "swarm", "hostile-cm")
            .await
            .unwrap();
        update(
            m,
            Event::EditorLoaded {
                title: "configmap swarm/hostile-cm".into(),
                namespace: "swarm".into(),
                result: Ok(object),
            },
        );
    };
    open(&mut m).await;
    // Someone else changes it meanwhile.
    change_theirs(&demo.cluster, "their change");
    let cms = demo.cluster.resolve("", "v1", "configmaps").unwrap();
    // Ours: a new key, then Ctrl-S, y.
    if let Some(Screen::Editor(e)) = m.stack.last_mut() {
        let text = e.text().replacen("\ndata:\n", "\ndata:\n  mine: ours\n", 1);
        e.area = tui_textarea::TextArea::new(text.lines().map(str::to_owned).collect());
        e.validate();
        assert!(e.problem.is_none(), "{:?}", e.problem);
    }
    let effects = common::press_ctrl(&mut m, 's');
    assert!(effects.is_empty(), "asks first: {effects:?}");
    let said = carry_out(&mut m, "y", &client, &audit).await;
    assert!(said.starts_with("EditConflict"), "{said}");
    let now = demo.cluster.get(&cms, Some("swarm"), "hostile-cm").unwrap();
    assert_eq!(now["data"]["esc"], "their change", "their change stands");
    assert!(now["data"].get("mine").is_none());
    let Some(Screen::Editor(e)) = m.stack.last() else {
        panic!("the editor stays open");
    };
    let diff = e.diff.clone().unwrap().unwrap();
    assert!(diff.contains("-  esc: their change"), "{diff}");
    assert!(diff.contains("+  mine: ours"), "{diff}");
    assert!(e.modified(), "the edits are kept");
    assert!(m.confirm.is_some(), "asks what to do");
    // Any other key keeps editing, sending nothing.
    assert!(common::press(&mut m, "n").is_empty());
    let Some(Screen::Editor(e)) = m.stack.last() else {
        panic!("the editor stays open");
    };
    assert!(e.text().contains("mine: ours"));
    // Saved again: the conflict again; `o` overwrites on request.
    common::press_ctrl(&mut m, 's');
    let said = carry_out(&mut m, "y", &client, &audit).await;
    assert!(said.starts_with("EditConflict"), "{said}");
    let said = carry_out(&mut m, "o", &client, &audit).await;
    assert!(said.starts_with("UnitDone { result: Ok("), "{said}");
    let now = demo.cluster.get(&cms, Some("swarm"), "hostile-cm").unwrap();
    assert_eq!(now["data"]["mine"], "ours", "overwritten on request");
    // Re-opened on theirs after another change: the buffer is theirs.
    open(&mut m).await;
    change_theirs(&demo.cluster, "changed again");
    if let Some(Screen::Editor(e)) = m.stack.last_mut() {
        e.area.insert_str("# a comment\n");
    }
    common::press_ctrl(&mut m, 's');
    let said = carry_out(&mut m, "y", &client, &audit).await;
    assert!(said.starts_with("EditConflict"), "{said}");
    common::press(&mut m, "r");
    let Some(Screen::Editor(e)) = m.stack.last() else {
        panic!("the editor stays open");
    };
    assert!(e.text().contains("changed again"), "{}", e.text());
    assert!(!e.modified());
}

/// The engine serving the hostile namespace and the demo's keeps the demo
/// swarm converging; the huge swarm gets a verdict, not a plan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_serves_a_healthy_swarm_beside_a_hostile_one() {
    use swarmdeck::engine::run::{Engine, EngineConfig};
    let demo = common::demo(false);
    load_hostile(&demo.cluster);
    let mut cfg = EngineConfig::new(
        vec!["hostile".into(), "swarm".into()],
        "engine-under-test".into(),
    );
    cfg.clock = demo.cluster.clock().clone();
    cfg.renew_every = Duration::from_millis(20);
    cfg.resync = Duration::from_millis(50);
    let engine = Engine::new(demo.client.clone(), cfg, None);
    let status = engine.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(engine.run(async {
        let _ = stopped.await;
    }));
    common::scale(&demo.client, 3).await;
    let mut converged = false;
    for _ in 0..3000 {
        let swarm = swarmdeck::domain::swarm::SwarmRef::default();
        if let Ok((cfg, _)) = swarmdeck::engine::swarm::grid(&demo.client, &swarm).await
            && cfg.workloads.len() == 3
        {
            converged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let said = format!("{:?}", status.borrow().clone());
    let _ = stop.send(());
    let _ = handle.await;
    assert!(
        converged,
        "the demo swarm was assigned to 3 workers: {said}"
    );
}

/// The embedded server as guarded as kube-apiserver: no credentials is
/// `system:anonymous`; only the media types it reads; its kubeconfig 0600.
#[test]
fn the_embedded_server_is_guarded_as_a_real_one() {
    use std::os::unix::fs::PermissionsExt;
    let served = Served::start("swarm");
    let kc = std::fs::read_to_string(&served.kubeconfig).unwrap();
    let ca = kc
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate-authority-data: "))
        .unwrap()
        .to_owned();
    let ca_file = served.kubeconfig.with_file_name("ca.crt");
    std::fs::write(
        &ca_file,
        base64::engine::general_purpose::STANDARD
            .decode(ca)
            .unwrap(),
    )
    .unwrap();
    let url = swarmdeck::embedded::url(served.addr);
    let curl = |args: &[&str]| -> (String, String) {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(&ca_file)
            .args(["-w", "\n%{http_code}"])
            .args(args)
            .output()
            .expect("curl runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
        (body.to_owned(), code.to_owned())
    };
    let (body, code) = curl(&[&format!("{url}/api/v1/namespaces/swarm/pods")]);
    assert_eq!(code, "403", "{body}");
    assert!(
        body.contains("User \\\"system:anonymous\\\" cannot list resource \\\"pods\\\""),
        "{body}"
    );
    let (_, code) = curl(&[&format!("{url}/version")]);
    assert_eq!(code, "200");
    let (body, code) = curl(&[&format!("{url}/api")]);
    assert_eq!(code, "403", "{body}");
    // A page in the operator's browser may POST text/plain anywhere.
    let (body, code) = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: text/plain",
        "-H",
        &format!("Authorization: Bearer {}", admin_token(&kc)),
        "--data",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"from-a-web-page"}}"#,
        &format!("{url}/api/v1/namespaces/swarm/configmaps"),
    ]);
    assert_eq!(code, "415", "{body}");
    let cms = served.cluster.resolve("", "v1", "configmaps").unwrap();
    assert!(
        served
            .cluster
            .get(&cms, Some("swarm"), "from-a-web-page")
            .is_err()
    );
    // An unknown token is a 401.
    let (_, code) = curl(&[
        "-H",
        "Authorization: Bearer not-a-token",
        &format!("{url}/api/v1/namespaces/swarm/pods"),
    ]);
    assert_eq!(code, "401");
    // `embedded serve` writes its kubeconfig for its user alone.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kc");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_swarmdeck"))
        .args(["embedded", "serve", "--port", "0", "--kubeconfig"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..300 {
        if path.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(mode, 0o600);
}

fn admin_token(kubeconfig: &str) -> String {
    let v: serde_yaml::Value = serde_yaml::from_str(kubeconfig).unwrap();
    v["users"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "admin")
        .and_then(|u| u["user"]["token"].as_str())
        .unwrap()
        .to_owned()
}
