//! The console's log view, rendered to ratatui's TestBackend and compared as
//! insta snapshots: one pod's log read from the embedded demo by the same
//! reader the console runs, a swarm's workers merged by time, a stream
//! followed across a move, search, the bounded buffer and `:w FILE`.

mod common;

use ratatui::buffer::Buffer;
use swarmdeck::cluster::logs::{LogEvent, LogLine, NoteKind};
use swarmdeck::embedded::Cluster;
use swarmdeck::ui::app::{Effect, Event, Header, Model, update};
use swarmdeck::ui::data::Stores;
use swarmdeck::ui::keymap::Keymap;
use swarmdeck::ui::runtime::render_to_buffer;
use swarmdeck::ui::screen::logs::LogSource;
use swarmdeck::ui::theme::ThemeSource;

const T0: i64 = 1_795_305_600_000;

async fn demo() -> (Cluster, kube::Client, Stores) {
    // Long enough for the crash loop's first exit.
    common::still_demo(6_000).await
}

fn model(stores: Stores) -> Model {
    let (theme, _) = ThemeSource { user_dir: None }.load("default");
    let (keymap, _) = Keymap::load("default", None, true);
    let header = Header {
        context: "swarmdeck-embedded".into(),
        server: "in-process".into(),
        embedded: true,
        fallback: false,
        read_only: true,
        engine: "not running".into(),
    };
    let mut m = Model::new(header, "swarm".into(), stores, theme, keymap);
    m.now_ms = T0;
    m.namespace = None;
    m
}

fn keys(m: &mut Model, text: &str) -> Vec<Effect> {
    common::press(m, text)
}

fn text_of(buf: &Buffer) -> String {
    let out = common::screen_text(buf);
    // The crash-looping pod's generated suffix is random, and so is the
    // node the scheduler picks.
    let out = regex::Regex::new(r"payment-gateway-([0-9a-f]{8})-[a-z0-9]{1,5}")
        .unwrap()
        .replace_all(&out, "payment-gateway-$1-XXXXX")
        .into_owned();
    regex::Regex::new(r"on node-\d")
        .unwrap()
        .replace_all(&out, "on node-N")
        .into_owned()
}

fn the_open(effects: &[Effect]) -> (u64, LogSource, swarmdeck::cluster::logs::LogOptions) {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::OpenLogs {
                id,
                source,
                options,
            } => Some((*id, source.clone(), options.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no log reading asked for: {effects:?}"))
}

/// Read as the runtime does, without following.
async fn read(
    client: &kube::Client,
    source: &LogSource,
    mut options: swarmdeck::cluster::logs::LogOptions,
) -> Vec<LogEvent> {
    options.follow = false;
    let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
    let LogSource::Pod { namespace, pod } = source.clone() else {
        panic!("a pod's log: {source:?}")
    };
    swarmdeck::cluster::logs::follow_pod(client.clone(), namespace, pod, options, tx).await;
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

fn line(pod: &str, at_s: i64, text: &str) -> LogEvent {
    let at_ms = T0 + at_s * 1000;
    LogEvent::Line(LogLine {
        at_ms,
        stamp: swarmdeck::time::rfc3339_nano(at_ms),
        pod: pod.into(),
        text: text.into(),
    })
}

#[tokio::test]
async fn a_crash_looping_pod_s_log_and_its_previous_container() {
    let (_cluster, client, stores) = demo().await;
    let mut m = model(stores);
    keys(&mut m, ":pods\r/payment\r");
    let effects = keys(&mut m, "l");
    let (id, source, options) = the_open(&effects);
    assert_eq!(options.tail, Some(1000));
    assert!(options.follow && !options.previous, "{options:?}");
    let events = read(&client, &source, options).await;
    update(&mut m, Event::Logs { id, events });
    let text = text_of(&render_to_buffer(&mut m, 100, 14));
    assert!(text.contains("cannot connect to upstream"), "{text}");
    insta::assert_snapshot!("pod_log_100x14", text);

    // `p`: the previous container, a new reading; lines of the old one are dropped.
    let effects = keys(&mut m, "p");
    let (id2, _, options) = the_open(&effects);
    assert!(
        id2 > id && options.previous && !options.follow,
        "{options:?}"
    );
    update(
        &mut m,
        Event::Logs {
            id,
            events: vec![line("late", 9, "a line of the reading replaced")],
        },
    );
    let events = read(&client, &source, options).await;
    update(&mut m, Event::Logs { id: id2, events });
    keys(&mut m, "t");
    let text = text_of(&render_to_buffer(&mut m, 100, 14));
    assert!(
        text.contains("(previous container) ended, timestamps"),
        "{text}"
    );
    assert!(!text.contains("a line of the reading replaced"), "{text}");
    insta::assert_snapshot!("pod_log_previous_timestamps_100x14", text);

    // Esc closes the reading and returns to the pods.
    let effects = keys(&mut m, "\x1b");
    assert_eq!(effects, vec![Effect::CloseLogs]);
    assert!(text_of(&render_to_buffer(&mut m, 100, 14)).contains("payment-gateway"));
}

#[tokio::test]
async fn a_swarm_s_workers_merged_by_time_and_one_worker_alone() {
    let (_cluster, _client, stores) = demo().await;
    let mut m = model(stores);
    keys(&mut m, ":sts\r/swarm-worker\r");
    let (id, source, _) = the_open(&keys(&mut m, "l"));
    assert!(
        matches!(source, LogSource::Swarm(ref s) if s.name == "swarm-worker"),
        "{source:?}"
    );
    // The first batches arrive one worker after the other.
    let mut events = vec![
        line(
            "swarm-worker-0",
            0,
            "starting registry.example.org/swarm/worker:0.4 on node-1",
        ),
        line("swarm-worker-0", 1, "loaded 16 jobs (config version 1)"),
        line(
            "swarm-worker-0",
            6,
            "processed 673 records from stream:cpv-0 (config version 1)",
        ),
        line(
            "swarm-worker-0",
            11,
            "processed 206 records from stream:hmp-0 (config version 1)",
        ),
        LogEvent::Caught {
            pod: "swarm-worker-0".into(),
        },
    ];
    events.extend([
        line(
            "swarm-worker-1",
            2,
            "starting registry.example.org/swarm/worker:0.4 on node-2",
        ),
        line("swarm-worker-1", 3, "loaded 16 jobs (config version 1)"),
        line(
            "swarm-worker-1",
            8,
            "processed 832 records from stream:emc-0 (config version 1)",
        ),
        LogEvent::Caught {
            pod: "swarm-worker-1".into(),
        },
    ]);
    update(&mut m, Event::Logs { id, events });
    let text = text_of(&render_to_buffer(&mut m, 100, 14));
    let order: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim_start_matches('│').split_whitespace().next())
        .filter(|w| w.starts_with("swarm-worker-"))
        .collect();
    assert_eq!(
        order,
        [
            "swarm-worker-0",
            "swarm-worker-0",
            "swarm-worker-1",
            "swarm-worker-1",
            "swarm-worker-0",
            "swarm-worker-1",
            "swarm-worker-0"
        ],
        "{text}"
    );
    insta::assert_snapshot!("swarm_log_100x14", text);
    // Each worker's prefix has its own colour.
    let buf = render_to_buffer(&mut m, 100, 14);
    let colour_at = |y: u16| buf[(1, y)].fg;
    assert_ne!(colour_at(2), colour_at(4), "{text}");
    // `f`: one worker only.
    keys(&mut m, "f");
    let text = text_of(&render_to_buffer(&mut m, 100, 14));
    assert!(text.contains("only swarm-worker-0"), "{text}");
    assert!(!text.contains("emc-0"), "{text}");
    keys(&mut m, "ff");
    let text = text_of(&render_to_buffer(&mut m, 100, 14));
    assert!(
        text.contains("emc-0") && text.contains("hmp-0"),
        "all again: {text}"
    );
}

#[tokio::test]
async fn a_stream_followed_across_a_move() {
    let (_cluster, _client, stores) = demo().await;
    let mut m = model(stores);
    keys(&mut m, ":grid\r");
    // No stream found yet: L says how to pick one.
    keys(&mut m, "L");
    assert!(
        m.message
            .as_ref()
            .is_some_and(|(t, _)| t.contains("find a stream with / first")),
        "{:?}",
        m.message
    );
    keys(&mut m, "\x1b");
    // The demo's swarm has no assignment until an engine writes one: the
    // grid has no stream to find, so open the stream's logs as the grid would.
    let swarm = swarmdeck::domain::swarm::SwarmRef::default();
    let effects =
        swarmdeck::ui::screen::logs::open(&mut m, LogSource::Stream(swarm, "stream:tof-0".into()));
    let (id, _, _) = the_open(&effects);
    let note = |kind, pod: &str, at_s: i64, text: &str| LogEvent::Note {
        kind,
        pod: pod.into(),
        at_ms: T0 + at_s * 1000,
        text: text.into(),
    };
    let events = vec![
        note(
            NoteKind::Switched,
            "stream:tof-0",
            0,
            "stream:tof-0 is on swarm-worker-0, v1",
        ),
        line("swarm-worker-0", 1, "loaded 16 jobs (config version 1)"),
        line(
            "swarm-worker-0",
            6,
            "processed 396 records from stream:tof-0 (config version 1)",
        ),
        note(
            NoteKind::Waiting,
            "stream:tof-0",
            20,
            "stream:tof-0 released by swarm-worker-0; waiting for its new owner",
        ),
        note(
            NoteKind::Switched,
            "stream:tof-0",
            22,
            "stream:tof-0 moved swarm-worker-0 → swarm-worker-2, v1",
        ),
        note(
            NoteKind::Waiting,
            "swarm-worker-2",
            22,
            "waiting for pod swarm-worker-2 to be created",
        ),
        line(
            "swarm-worker-2",
            24,
            "starting registry.example.org/swarm/worker:0.4 on node-3",
        ),
        line("swarm-worker-2", 24, "loaded 10 jobs (config version 1)"),
        line(
            "swarm-worker-2",
            29,
            "processed 512 records from stream:tof-0 (config version 1)",
        ),
    ];
    update(&mut m, Event::Logs { id, events });
    m.message = None;
    let text = text_of(&render_to_buffer(&mut m, 100, 16));
    assert!(
        text.contains("logs stream:tof-0 in swarm swarm/swarm-worker (its owner) following"),
        "{text}"
    );
    assert!(
        text.contains("--- stream:tof-0 moved swarm-worker-0 → swarm-worker-2, v1 ---"),
        "{text}"
    );
    insta::assert_snapshot!("stream_log_100x16", text);
}

#[tokio::test]
async fn search_pauses_n_moves_g_resumes_and_the_buffer_is_bounded() {
    let (_cluster, _client, stores) = demo().await;
    let mut m = model(stores);
    m.log_max_lines = 100;
    keys(&mut m, ":pods\r/swarm-worker-0\r");
    let (id, _, _) = the_open(&keys(&mut m, "l"));
    let mut events: Vec<LogEvent> = (0..250)
        .map(|i| line("swarm-worker-0", i, &format!("record batch {i} done")))
        .collect();
    events.push(LogEvent::Caught {
        pod: "swarm-worker-0".into(),
    });
    update(&mut m, Event::Logs { id, events });
    let text = text_of(&render_to_buffer(&mut m, 80, 12));
    assert!(
        text.contains("following, 150 dropped (max_lines 100)"),
        "{text}"
    );
    assert!(
        text.contains("record batch 249 done"),
        "the end is shown: {text}"
    );
    // `/`: the last match above the end, highlighted; following pauses.
    keys(&mut m, "/batch 2[0-9]0\r");
    let buf = render_to_buffer(&mut m, 80, 12);
    let text = text_of(&buf);
    assert!(
        text.contains("paused (G resumes), /batch 2[0-9]0"),
        "{text}"
    );
    let first = text.lines().nth(2).unwrap();
    assert!(first.contains("record batch 240 done"), "{text}");
    let hit = (0..80u16).find(|x| buf[(*x, 2)].symbol() == "b").unwrap();
    assert_eq!(
        Some(buf[(hit, 2)].bg),
        m.theme.style("filter.match").bg,
        "the match is highlighted"
    );
    insta::assert_snapshot!("searched_log_80x12", text);
    keys(&mut m, "N");
    let text = text_of(&render_to_buffer(&mut m, 80, 12));
    assert!(
        text.lines()
            .nth(2)
            .unwrap()
            .contains("record batch 230 done"),
        "{text}"
    );
    keys(&mut m, "n");
    let text = text_of(&render_to_buffer(&mut m, 80, 12));
    assert!(
        text.lines()
            .nth(2)
            .unwrap()
            .contains("record batch 240 done"),
        "{text}"
    );
    // New lines while paused are counted, not shown; G follows again.
    update(
        &mut m,
        Event::Logs {
            id,
            events: vec![line("swarm-worker-0", 300, "a late line")],
        },
    );
    let text = text_of(&render_to_buffer(&mut m, 80, 12));
    assert!(
        text.contains("paused, 1 new below (G resumes)") && !text.contains("a late line"),
        "{text}"
    );
    keys(&mut m, "G");
    let text = text_of(&render_to_buffer(&mut m, 80, 12));
    assert!(
        text.contains("following") && text.contains("a late line"),
        "{text}"
    );
    // `:w FILE` writes what is shown.
    let effects = keys(&mut m, ":w /tmp/swarmdeck-test.log\r");
    let Some(Effect::WriteFile { path, text, what }) = effects.first() else {
        panic!("{effects:?}")
    };
    assert_eq!(path, "/tmp/swarmdeck-test.log");
    assert_eq!(what, "100 lines");
    assert_eq!(text.lines().next(), Some("record batch 151 done"));
    assert_eq!(text.lines().last(), Some("a late line"));
    // The search was the log view's own: the pods view keeps its filter.
    keys(&mut m, "\x1b");
    assert_eq!(
        m.filter.as_ref().map(|(t, _)| t.as_str()),
        Some("swarm-worker-0")
    );
}
