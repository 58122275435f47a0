//! The operator workflows of the console, on the embedded demo through
//! kube::Client, rendered to ratatui's TestBackend: the assignment grid
//! (balanced, mid-refresh, a previewed scale), the Task state machines, and
//! the manifest editor with a validation error.

mod common;

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use swarmdeck::domain::swarm::SwarmRef;
use swarmdeck::engine::swarm::{ReconcileOptions, reconcile};
use swarmdeck::ui::app::{Event, Header, Model, Screen, update};
use swarmdeck::ui::data::Stores;
use swarmdeck::ui::keymap::Keymap;
use swarmdeck::ui::runtime::render_to_buffer;
use swarmdeck::ui::theme::ThemeSource;

fn stores_of(client: &kube::Client) -> Stores {
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    // Nobody listens for changes here: the tests render when they want.
    std::mem::forget(rx);
    // Without the pods' usage, which moves with the clock (a worker's load
    // spikes after a refresh): these snapshots are of the assignment, and
    // usage is tested in console_overview.rs.
    Stores {
        metrics: Default::default(),
        ..swarmdeck::ui::runtime::spawn_stores(client, &tx, None).0
    }
}

async fn synced(stores: &Stores) {
    for _ in 0..500 {
        if stores.synced() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("stores never synced");
}

fn model(stores: Stores, read_only: bool) -> Model {
    let (theme, _) = ThemeSource { user_dir: None }.load("default");
    let (keymap, _) = Keymap::load("default", None, read_only);
    let header = Header {
        context: "swarmdeck-embedded".into(),
        server: "in-process".into(),
        embedded: true,
        fallback: false,
        read_only,
        engine: "leader".into(),
    };
    let mut m = Model::new(header, "swarm".into(), stores, theme, keymap);
    m.namespace = None;
    m
}

fn text(buf: &Buffer) -> String {
    let out = common::screen_text(buf);
    // Ages move with the world's clock, and so does the count of warnings
    // (the crash loop's back-offs).
    let out = regex::Regex::new(r"warnings:\d+/10m")
        .unwrap()
        .replace_all(&out, "warnings:N")
        .into_owned();
    regex::Regex::new(r"\b\d+[smhd](\d+[smh])?\b")
        .unwrap()
        .replace_all(&out, "AGE")
        .into_owned()
}

fn key(m: &mut Model, code: KeyCode) -> Vec<swarmdeck::ui::app::Effect> {
    update(m, Event::Key(KeyEvent::from(code)))
}

fn typed(m: &mut Model, s: &str) {
    for c in s.chars() {
        let code = match c {
            '\r' => KeyCode::Enter,
            '\x1b' => KeyCode::Esc,
            c => KeyCode::Char(c),
        };
        key(m, code);
    }
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The demo with its seed swarm assigned once, and the console's stores
/// synced with it.
async fn assigned_demo() -> (common::Demo, SwarmRef, Stores) {
    let d = common::demo(false);
    let swarm = SwarmRef::default();
    let opts = ReconcileOptions {
        poll: Duration::from_millis(10),
        worker_timeout: Duration::from_secs(30),
        ..Default::default()
    };
    reconcile(&d.client, &swarm, &opts, |_, _| {})
        .await
        .unwrap();
    let stores = stores_of(&d.client);
    synced(&stores).await;
    (d, swarm, stores)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grid_balanced_mid_refresh_and_previewed() {
    let (d, swarm, stores) = assigned_demo().await;
    let mut m = model(stores.clone(), false);
    // `:grid` opens the seed swarm.
    typed(&mut m, ":grid\r");
    assert!(matches!(m.screen(), Screen::Grid(_)));
    until("every worker converged", || {
        let t = text(&render_to_buffer(&mut m, 120, 30));
        t.contains("(2 converged)")
    })
    .await;
    let balanced = text(&render_to_buffer(&mut m, 120, 30));
    assert!(
        balanced.contains("32 jobs · 2 workers (2 converged) · balance 16–16"),
        "{balanced}"
    );
    assert!(
        balanced.contains("unassigned 0 · duplicated 0"),
        "{balanced}"
    );
    insta::assert_snapshot!("grid_balanced", balanced);
    // A screen too short for the swarm says what is below.
    let short = text(&render_to_buffer(&mut m, 120, 10));
    assert!(
        short.contains("… the rest of swarm-worker-0 and 1 more workers below"),
        "{short}"
    );

    // A stream search highlights and jumps to its worker.
    typed(&mut m, "/tof-1\r");
    let Screen::Grid(g) = m.screen() else {
        panic!()
    };
    let data = g.data.clone().unwrap();
    let holder = data
        .workers
        .iter()
        .position(|w| w.jobs.iter().any(|j| j == "stream:tof-1"))
        .unwrap();
    assert_eq!(g.selected, holder);
    key(&mut m, KeyCode::Esc);

    // s asks for a count, validated as typed; the plan shows in the grid.
    key(&mut m, KeyCode::Char('s'));
    typed(&mut m, "0");
    let t = text(&render_to_buffer(&mut m, 120, 30));
    assert!(t.contains("0 would leave the jobs unassigned"), "{t}");
    key(&mut m, KeyCode::Backspace);
    typed(&mut m, "3\r");
    let previewed = text(&render_to_buffer(&mut m, 120, 30));
    assert!(
        previewed.contains("plan (scale to 3): version 1 → 2"),
        "{previewed}"
    );
    assert!(previewed.contains("swarm-worker-2"), "{previewed}");
    assert!(previewed.contains("→ swarm-worker-2"), "{previewed}");
    insta::assert_snapshot!("grid_previewed_scale", previewed);
    // Any key but y cancels: nothing was asked of the cluster.
    let effects = key(&mut m, KeyCode::Char('n'));
    assert!(effects.is_empty());
    let t = text(&render_to_buffer(&mut m, 120, 30));
    assert!(!t.contains("plan (scale"), "{t}");

    // Mid-handoff: 3 workers asked for, the release written (the streams
    // that go to the new worker are in nobody's list), no worker refreshed
    // yet, the StatefulSet not grown.
    use swarmdeck::domain::handoff::{self, HandoffMode, HandoffState, Phase};
    swarmdeck::engine::swarm::request_scale(&d.client, &swarm, 3, "test")
        .await
        .unwrap();
    let inputs = swarmdeck::engine::swarm::read_inputs(&d.client, &swarm)
        .await
        .unwrap();
    let target = swarmdeck::engine::swarm::target(&swarm, &inputs, &Default::default()).unwrap();
    let step = handoff::next_step(
        &inputs.current,
        &target,
        "swarm-worker",
        HandoffMode::Strict,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(step.phase, Phase::Release);
    let plan =
        swarmdeck::domain::assignment::plan(&inputs.current, &step.assignment, "swarm-worker");
    let state = HandoffState {
        phase: Phase::Release,
        since: swarmdeck::time::rfc3339(d.cluster.clock().now_ms()),
        streams: step.streams.clone(),
    };
    swarmdeck::engine::swarm::write_step(
        &d.client,
        &swarm,
        &plan,
        Some(&state),
        inputs.replicas,
        inputs.output_version.as_deref(),
        false,
    )
    .await
    .unwrap();
    until("the grid to show the release", || {
        let t = text(&render_to_buffer(&mut m, 120, 30));
        t.contains("version 2") && t.contains("handoff strict: release")
    })
    .await;
    let mid = text(&render_to_buffer(&mut m, 120, 30));
    assert!(mid.contains("refreshing"), "{mid}");
    assert!(
        mid.contains("streams released, granted once their old owners confirm"),
        "{mid}"
    );
    assert!(mid.contains("scale to 3 workers requested"), "{mid}");
    let moving = step.streams.len();
    assert!(mid.contains(&format!("{moving} streams released")), "{mid}");
    assert!(mid.contains(&format!("in handoff {moving}")), "{mid}");
    let mid = regex::Regex::new(r"\((\d) converged\)")
        .unwrap()
        .replace_all(&mid, "(N converged)")
        .into_owned();
    insta::assert_snapshot!("grid_mid_refresh", mid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_state_machines() {
    let d = common::demo(false);
    let stores = stores_of(&d.client);
    synced(&stores).await;
    until("tasks in standby", || {
        stores
            .tasks
            .read()
            .rows
            .values()
            .filter(|r| r.cells.get(2).map(|c| c.show(0)) == Some("standby".into()))
            .count()
            >= 3
    })
    .await;
    let cluster = d.cluster.clone();
    drop(d);
    let mut m = model(stores, false);
    m.now_ms = cluster.clock().now_ms();
    typed(&mut m, ":tasks\r");
    typed(&mut m, "/readout\r");
    render_to_buffer(&mut m, 120, 36);
    key(&mut m, KeyCode::Enter);
    assert!(matches!(m.screen(), Screen::Task(_)));
    let direct = text(&render_to_buffer(&mut m, 120, 36));
    assert!(direct.contains("● STANDBY"), "{direct}");
    assert!(direct.contains("CONFIGURE"), "{direct}");
    assert!(direct.contains("History"), "{direct}");
    insta::assert_snapshot!("task_direct", direct);
    // r asks first, then writes the intent.
    key(&mut m, KeyCode::Char('r'));
    let ask = text(&render_to_buffer(&mut m, 120, 36));
    assert!(
        ask.contains("Set the target of Task alice-tasks/readout to running?"),
        "{ask}"
    );
    let effects = key(&mut m, KeyCode::Char('y'));
    assert_eq!(
        effects,
        vec![swarmdeck::ui::app::Effect::SetTarget {
            namespace: "alice-tasks".into(),
            name: "readout".into(),
            state: swarmdeck::domain::task::OccState::Running,
            recover: false
        }]
    );
    key(&mut m, KeyCode::Esc);
    m.filter = None;
    typed(&mut m, "/stfbuilder\r");
    render_to_buffer(&mut m, 120, 36);
    key(&mut m, KeyCode::Enter);
    let fairmq = text(&render_to_buffer(&mut m, 120, 36));
    assert!(fairmq.contains("FairMQ device"), "{fairmq}");
    assert!(fairmq.contains("● IDLE"), "{fairmq}");
    insta::assert_snapshot!("task_fairmq", fairmq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_editor_shows_a_validation_error_and_keeps_the_buffer() {
    let d = common::demo(false);
    let stores = stores_of(&d.client);
    synced(&stores).await;
    let mut m = model(stores, false);
    typed(&mut m, ":new task\r");
    assert!(matches!(m.screen(), Screen::Editor(_)));
    // The template's ${VAR}s are not set: said, but the text is checked.
    let shown = text(&render_to_buffer(&mut m, 120, 30));
    assert!(shown.contains("not set: O2_DETECTOR"), "{shown}");
    // Break the YAML on line 4 (apiVersion: v1).
    for _ in 0..3 {
        key(&mut m, KeyCode::Down);
    }
    typed(&mut m, "[");
    let shown = text(&render_to_buffer(&mut m, 120, 30));
    assert!(shown.contains("✗ document 1, line 5, column 5"), "{shown}");
    insta::assert_snapshot!("editor_validation_error", shown);
    // Apply is refused and the buffer kept.
    let effects = update(
        &mut m,
        Event::Key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL)),
    );
    assert!(effects.is_empty());
    assert!(m.confirm.is_none());
    let Screen::Editor(e) = m.screen() else {
        panic!()
    };
    assert!(e.text().contains("\n[apiVersion: v1\n"), "{}", e.text());
    // Leaving asks first; answering no keeps the buffer.
    key(&mut m, KeyCode::Esc);
    assert!(m.confirm.is_some());
    key(&mut m, KeyCode::Char('n'));
    assert!(matches!(m.screen(), Screen::Editor(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_offers_none_of_the_actions() {
    let d = common::demo(true);
    let stores = stores_of(&d.client);
    synced(&stores).await;
    let mut m = model(stores, true);
    typed(&mut m, ":grid\r");
    for k in ['s', 'r'] {
        assert!(key(&mut m, KeyCode::Char(k)).is_empty());
        assert!(m.prompt.is_none() && m.confirm.is_none());
        let t = text(&render_to_buffer(&mut m, 120, 30));
        assert!(t.contains("read-only: `"), "{t}");
    }
    key(&mut m, KeyCode::Esc);
    typed(&mut m, ":tasks\r");
    render_to_buffer(&mut m, 120, 30);
    key(&mut m, KeyCode::Enter);
    assert!(matches!(m.screen(), Screen::Task(_)));
    for k in ['s', 'c', 'r', 'x', 'e'] {
        assert!(key(&mut m, KeyCode::Char(k)).is_empty());
        assert!(m.confirm.is_none());
    }
    key(&mut m, KeyCode::Esc);
    typed(&mut m, ":pods\r");
    for k in ['e', 'R'] {
        assert!(key(&mut m, KeyCode::Char(k)).is_empty());
    }
    typed(&mut m, ":new task\r");
    assert!(!matches!(m.screen(), Screen::Editor(_)));
    key(&mut m, KeyCode::Char('?'));
    let help = text(&render_to_buffer(&mut m, 120, 50));
    for action in ["edit", "restart", "scale", "rebalance", "delete"] {
        assert!(
            !help.contains(&format!(" {action} ")),
            "read-only help lists {action}: {help}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_variables_are_set_from_the_editor() {
    let d = common::demo(false);
    let stores = stores_of(&d.client);
    synced(&stores).await;
    let mut m = model(stores, false);
    typed(&mut m, ":new task\r");
    let ctrl = |m: &mut Model, c: char| {
        update(
            m,
            Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)),
        )
    };
    let problem = |m: &Model| match m.screen() {
        Screen::Editor(e) => e.problem.clone().map(|p| p.message),
        _ => panic!("the editor closed"),
    };
    let said = problem(&m).expect("the template's variables are not set");
    assert!(
        said.contains("with `:set NAME=VALUE` in the palette"),
        "{said}"
    );
    // Every unset name, from the message: set each from the editor's palette.
    let names: Vec<String> = regex::Regex::new(r"(O2_[A-Z_]+) \(line")
        .unwrap()
        .captures_iter(&said)
        .map(|c| c[1].to_owned())
        .collect();
    assert!(!names.is_empty(), "{said}");
    for name in &names {
        ctrl(&mut m, 'o');
        typed(&mut m, &format!("set {name}=v1\r"));
    }
    assert_eq!(problem(&m), None, "all set, the template validates");
    // The expanded pane lists each variable with its value and source.
    ctrl(&mut m, 'p');
    let shown = text(&render_to_buffer(&mut m, 160, 40));
    assert!(
        shown.contains(&format!("{} = v1  (:set)", names[0])),
        "{shown}"
    );
    // Unset again: said again, and the buffer is still there.
    ctrl(&mut m, 'o');
    typed(&mut m, &format!("unset {}\r", names[0]));
    assert!(problem(&m).is_some_and(|p| p.contains(&names[0])));
    // Nothing in the palette takes the editor away.
    ctrl(&mut m, 'o');
    typed(&mut m, "pods\r");
    assert!(matches!(m.screen(), Screen::Editor(_)));
    let shown = text(&render_to_buffer(&mut m, 160, 40));
    assert!(
        shown.contains("`:pods` is not available in the editor"),
        "{shown}"
    );
}

/// ASCII mode means ASCII on every screen: tables (and the help over
/// them), YAML, the grid with a previewed scale, both state machines, the
/// editor — no cell holds a character above 0x7E.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ascii_mode_draws_only_ascii_on_every_screen() {
    let (_d, _, stores) = assigned_demo().await;
    let mut m = model(stores, false);
    m.ascii = true;
    let mut seen = Vec::new();
    let mut check = |m: &mut Model, what: &str| {
        let buf = render_to_buffer(m, 120, 36);
        let shown = text(&buf);
        let wide: Vec<char> = shown.chars().filter(|c| *c as u32 > 0x7e).collect();
        assert!(wide.is_empty(), "{what} draws {wide:?}:\n{shown}");
        seen.push(what.to_owned());
        shown
    };
    for view in [":pods", ":sts", ":cm", ":tasks", ":events", ":audit"] {
        typed(&mut m, &format!("{view}\r"));
        check(&mut m, view);
    }
    typed(&mut m, ":pods\r");
    typed(&mut m, "?");
    check(&mut m, "help");
    key(&mut m, KeyCode::Esc);
    key(&mut m, KeyCode::Enter);
    check(&mut m, "yaml");
    key(&mut m, KeyCode::Esc);
    typed(&mut m, ":grid\r");
    until("the grid's workers", || {
        let t = text(&render_to_buffer(&mut m, 120, 36));
        t.contains("converged")
    })
    .await;
    let grid = check(&mut m, "grid");
    assert!(grid.contains("> swarm-worker-0"), "{grid}");
    typed(&mut m, "s3\r");
    let preview = check(&mut m, "grid with a previewed scale");
    assert!(preview.contains("plan ("), "{preview}");
    key(&mut m, KeyCode::Esc);
    key(&mut m, KeyCode::Esc);
    typed(&mut m, ":tasks\r");
    typed(&mut m, "/readout\r");
    render_to_buffer(&mut m, 120, 36);
    key(&mut m, KeyCode::Enter);
    assert!(matches!(m.screen(), Screen::Task(_)));
    check(&mut m, "OCC state machine");
    key(&mut m, KeyCode::Esc);
    typed(&mut m, "/stfbuilder\r");
    render_to_buffer(&mut m, 120, 36);
    key(&mut m, KeyCode::Enter);
    check(&mut m, "FairMQ state machine");
    key(&mut m, KeyCode::Esc);
    typed(&mut m, ":new task\r");
    assert!(matches!(m.screen(), Screen::Editor(_)));
    typed(&mut m, "[");
    check(&mut m, "editor with an error");
    // The log view: a stream's move marker (an arrow) and a worker's lines.
    key(&mut m, KeyCode::Esc);
    typed(&mut m, "y");
    let effects = swarmdeck::ui::screen::logs::open(
        &mut m,
        swarmdeck::ui::screen::logs::LogSource::Stream(
            swarmdeck::domain::swarm::SwarmRef::default(),
            "stream:tof-0".into(),
        ),
    );
    let Some(swarmdeck::ui::app::Effect::OpenLogs { id, .. }) = effects.last().cloned() else {
        panic!("{effects:?}")
    };
    update(
        &mut m,
        Event::Logs {
            id,
            events: vec![
                swarmdeck::cluster::logs::LogEvent::Note {
                    kind: swarmdeck::cluster::logs::NoteKind::Switched,
                    pod: "stream:tof-0".into(),
                    at_ms: 0,
                    text: "stream:tof-0 moved swarm-worker-0 → swarm-worker-1, v2".into(),
                },
                swarmdeck::cluster::logs::LogEvent::Line(swarmdeck::cluster::logs::LogLine {
                    at_ms: 1,
                    stamp: String::new(),
                    pod: "swarm-worker-1".into(),
                    text: "loaded 16 jobs (config version 2)".into(),
                }),
            ],
        },
    );
    check(&mut m, "log view");
    assert_eq!(seen.len(), 14, "{seen:?}");
}
