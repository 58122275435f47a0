//! `:overview`, the wall screen, on the demo with one Task in error, one
//! handoff in flight and one hot stream: snapshots at 80x24 and 200x60 in
//! colour, NO_COLOR (the mono theme) and ASCII; the stale banner when the
//! server stops answering and its going away when it answers again; the
//! metrics badge when metrics are forbidden.

mod common;

use std::time::Duration;

use ratatui::buffer::Buffer;
use serde_json::json;
use swarmdeck::embedded::Cluster;
use swarmdeck::embedded::scenario::{self, Scenario};
use swarmdeck::embedded::world::{Timing, World};
use swarmdeck::time::Clock;
use swarmdeck::ui::app::{Header, Model};
use swarmdeck::ui::data::Stores;
use swarmdeck::ui::keymap::Keymap;
use swarmdeck::ui::runtime::render_to_buffer;
use swarmdeck::ui::theme::ThemeSource;

const START: i64 = 1_795_305_600_000;

/// The demo, its swarm assigned by hand with `stream:zdc-0` released and on
/// its way to swarm-worker-1 (a handoff in flight), `qc-checker` asked to
/// jump from standby to running (the operator refuses: error), and the
/// world run on a still clock.
fn troubled_demo() -> Cluster {
    let cluster = Cluster::new(Clock::manual(START), 100_000);
    scenario::install_crds(&cluster).unwrap();
    let s = Scenario::parse(scenario::DEMO).unwrap();
    s.load_into(&cluster).unwrap();
    let cms = cluster.resolve("", "v1", "configmaps").unwrap();
    let mut cm = (*cluster
        .get(&cms, Some("swarm"), "swarm-worker-config")
        .unwrap())
    .clone();
    let jobs: Vec<String> = {
        let text = cluster
            .get(&cms, Some("swarm"), "swarm-controller-config")
            .unwrap()["data"]["config.yml"]
            .as_str()
            .unwrap()
            .to_owned();
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("- "))
            .map(str::to_owned)
            .collect()
    };
    // Every other stream to each worker, all but the one in flight.
    let kept: Vec<&String> = jobs.iter().filter(|j| *j != "stream:zdc-0").collect();
    let list = |parity: usize| {
        kept.iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == parity)
            .map(|(_, j)| format!("      - {j}\n"))
            .collect::<String>()
    };
    cm["data"]["config.yml"] = json!(format!(
        "version: 2\nworkloads:\n  swarm-worker-0:\n    version: 2\n    jobs:\n{}  swarm-worker-1:\n    version: 2\n    jobs:\n{}",
        list(0),
        list(1)
    ));
    cm["metadata"]["annotations"] = json!({
        swarmdeck::domain::names::HANDOFF_STATE_ANNOTATION: json!({
            "phase": "release",
            "since": swarmdeck::time::rfc3339(START - 40_000),
            "streams": [{"stream": "stream:zdc-0", "from": ["swarm-worker-0"], "to": "swarm-worker-1"}],
        }).to_string(),
    });
    cluster
        .replace(
            &cms,
            Some("swarm"),
            "swarm-worker-config",
            cm,
            None,
            &Default::default(),
        )
        .unwrap();
    let tasks = cluster
        .resolve("aliecs.alice.cern", "v1alpha1", "tasks")
        .unwrap();
    let mut world = World::new(cluster.clone(), s.faults, Timing::default(), s.nodes);
    world.run_for(4_000);
    let mut t = (*cluster
        .get(&tasks, Some("alice-tasks"), "qc-checker")
        .unwrap())
    .clone();
    t["spec"]["state"] = json!("running");
    cluster
        .replace(
            &tasks,
            Some("alice-tasks"),
            "qc-checker",
            t,
            None,
            &Default::default(),
        )
        .unwrap();
    // Past the workers' load spike, so that the load is the streams'.
    world.run_for(16_000);
    cluster
}

/// The console's stores as the user of `token` (none: the cluster's owner,
/// every namespace) sees them (in namespace swarm).
async fn stores_of(cluster: &Cluster, token: Option<&str>) -> Stores {
    let client = swarmdeck::cluster::gate::in_process_as(cluster, "swarm", true, token);
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    std::mem::forget(rx);
    let only = token.map(|_| "swarm");
    let stores = swarmdeck::ui::runtime::spawn_stores(&client, &tx, only).0;
    // The overview reads usage when it is drawn; these tests read it first.
    stores.metrics.want();
    for _ in 0..500 {
        if stores.synced()
            && stores.metrics.read().availability
                != swarmdeck::cluster::metrics::Availability::Unknown
        {
            return stores;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("stores never synced");
}

fn model(stores: Stores, now: i64, theme: &str, ascii: bool) -> Model {
    let (theme, _) = ThemeSource { user_dir: None }.load(theme);
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
    m.now_ms = now;
    m.namespace = None;
    m.ascii = ascii;
    common::press(&mut m, ":overview\r");
    m.message = None;
    m
}

fn text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width)
            .map(|x| buf[(x, y)].symbol().to_owned())
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn settle(text: &str) -> String {
    regex::Regex::new(
        r"(dashboard|payment-gateway)-([0-9a-f]{8})-[bcdfghjklmnpqrstvwxz2456789]{1,5}",
    )
    .unwrap()
    .replace_all(text, "$1-$2-XXXXX")
    .into_owned()
}

#[tokio::test]
async fn the_overview_on_the_troubled_demo_in_every_mode() {
    let cluster = troubled_demo();
    let now = cluster.clock().now_ms();
    let stores = stores_of(&cluster, None).await;
    for (mode, theme, ascii) in [
        ("colour", "default", false),
        ("no_color", "mono", false),
        ("ascii", "default", true),
    ] {
        for (w, h) in [(80u16, 24u16), (200, 60)] {
            let mut m = model(stores.clone(), now, theme, ascii);
            let shown = text(&render_to_buffer(&mut m, w, h));
            // The essentials fit 80x24, the worst first.
            assert!(shown.contains("swarm/swarm-worker"), "{shown}");
            assert!(
                shown.contains("1 unassigned") || shown.contains("handoff release"),
                "{shown}"
            );
            assert!(shown.contains("qc-checker error"), "{shown}");
            assert!(shown.contains("load "), "{shown}");
            if ascii {
                assert!(shown.is_ascii(), "{shown}");
            }
            insta::assert_snapshot!(format!("overview_{w}x{h}_{mode}"), settle(&shown));
        }
    }
}

/// The count balance hides the load: the worker with the hot stream uses
/// far more CPU, and the overview says so next to an even count.
#[tokio::test]
async fn a_count_balanced_swarm_shows_its_load_imbalance() {
    let cluster = troubled_demo();
    let stores = stores_of(&cluster, None).await;
    let data = swarmdeck::ui::screen::overview::derive(&stores, cluster.clock().now_ms());
    let swarm = &data.swarms[0];
    assert_eq!(swarm.balance, (15, 16));
    let (lo, hi, _) = swarm.load.expect("metrics are served");
    assert!(hi > 2 * lo, "{lo}m and {hi}m");
    assert_eq!(
        swarm.handoff.as_ref().map(|h| h.0.as_str()),
        Some("release")
    );
    assert_eq!(data.task_errors.len(), 1);
    assert!(
        data.task_errors[0].error.contains("not allowed"),
        "{:?}",
        data.task_errors
    );
}

/// The viewer may not read metrics.k8s.io: one quiet badge, nothing else.
#[tokio::test]
async fn metrics_forbidden_for_the_viewer_is_one_quiet_badge() {
    let cluster = troubled_demo();
    let now = cluster.clock().now_ms();
    let stores = stores_of(&cluster, Some("viewer-token")).await;
    assert_eq!(
        stores.metrics.read().availability,
        swarmdeck::cluster::metrics::Availability::Forbidden
    );
    let mut m = model(stores, now, "default", false);
    m.namespace = Some("swarm".into());
    let shown = text(&render_to_buffer(&mut m, 200, 60));
    assert!(shown.contains("metrics: forbidden"), "{shown}");
    assert!(!shown.contains("load "), "{shown}");
    assert!(!shown.contains("403"), "{shown}");
    assert!(m.message.is_none(), "{:?}", m.message);
}
