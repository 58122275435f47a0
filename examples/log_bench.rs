//! What the log view costs (ARCHITECTURE 7, logs), measured:
//! 1. lines per second the view takes without a frame over 16 ms: for one
//!    pod and for a 50-worker swarm (lines from 50 pods, a little out of
//!    time order, as merged readings deliver them), each frame = one batch
//!    handed to `update` as the runtime hands it, then the whole screen
//!    drawn at 200x60 (following, then paused with a search highlighting);
//! 2. memory of a view holding `logs.max_lines` (10,000) lines of 120 bytes;
//! 3. the time from a stream's move (the assignment written) to the log
//!    view naming the new owner, and to the new owner's first line, on the
//!    embedded cluster with its world on the wall clock.
//!
//! `cargo run --release --example log_bench` (about half a minute).

use std::time::{Duration, Instant};

use swarmdeck::cluster::logs::{LogEvent, LogLine, NoteKind};
use swarmdeck::ui::app::{Event, Header, Model, update};
use swarmdeck::ui::data::Stores;
use swarmdeck::ui::keymap::Keymap;
use swarmdeck::ui::runtime::render_to_buffer;
use swarmdeck::ui::screen::logs::{self, LogSource};
use swarmdeck::ui::theme::ThemeSource;

const FRAME_MS: f64 = 1000.0 / 60.0;

fn model() -> Model {
    let (theme, _) = ThemeSource { user_dir: None }.load("default");
    let (keymap, _) = Keymap::load("default", None, true);
    Model::new(
        Header::default(),
        "swarm".into(),
        Stores::default(),
        theme,
        keymap,
    )
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4)
}

fn text(i: u64) -> String {
    // About 120 bytes, like a worker's line.
    format!(
        "processed {} records from stream:tpc-a{:02} in {} ms (config version 7, offset {})",
        200 + i % 800,
        i % 36,
        3 + i % 40,
        1_000_000 + i * 37
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Frames of `rate` lines/s for 3 s from `pods` pods; returns frame times (ms).
fn frames(rate: u64, pods: u64, search: bool) -> Vec<f64> {
    let mut m = model();
    let source = if pods == 1 {
        LogSource::Pod {
            namespace: "swarm".into(),
            pod: "swarm-worker-0".into(),
        }
    } else {
        LogSource::Swarm(swarmdeck::domain::swarm::SwarmRef::default())
    };
    logs::open(&mut m, source);
    let id = m.log_id;
    let per_frame = (rate as f64 / 60.0).round() as u64;
    let mut times = Vec::new();
    let mut n = 0u64;
    let t0 = 1_795_305_600_000i64;
    for frame in 0..180u64 {
        let events: Vec<LogEvent> = (0..per_frame)
            .map(|k| {
                n += 1;
                let pod = n % pods;
                // Merged readings: each pod's lines in order, pods a little apart.
                let at_ms = t0 + (frame as i64) * 16 + (k as i64 * 16 / per_frame as i64)
                    - (pod as i64 % 5) * 3;
                LogEvent::Line(LogLine {
                    at_ms,
                    stamp: swarmdeck::time::rfc3339_nano(at_ms),
                    pod: format!("swarm-worker-{pod}"),
                    text: text(n),
                })
            })
            .collect();
        if frame == 90 && search {
            for c in "/offset 1[0-9]*7\r".chars() {
                let code = if c == '\r' {
                    crossterm::event::KeyCode::Enter
                } else {
                    crossterm::event::KeyCode::Char(c)
                };
                update(&mut m, Event::Key(crossterm::event::KeyEvent::from(code)));
            }
        }
        let start = Instant::now();
        update(&mut m, Event::Logs { id, events });
        let _ = render_to_buffer(&mut m, 200, 60);
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times
}

fn throughput() {
    println!("log view: one batch per frame, update + draw at 200x60 (3 s of frames)");
    println!(
        "{:<26} {:>9} {:>9} {:>9} {:>9}  frames over 16 ms",
        "source", "lines/s", "p50 ms", "p99 ms", "max ms"
    );
    for (label, pods, search) in [
        ("one pod, following", 1, false),
        ("one pod, search, paused", 1, true),
        ("50-worker swarm, merged", 50, false),
        ("50-worker swarm, search", 50, true),
    ] {
        for rate in [20_000u64, 50_000] {
            let mut t = frames(rate, pods, search);
            t.sort_by(|a, b| a.total_cmp(b));
            let over = t.iter().filter(|x| **x > FRAME_MS).count();
            println!(
                "{label:<26} {rate:>9} {:>9.2} {:>9.2} {:>9.2}  {over}/{}",
                percentile(&t, 0.5),
                percentile(&t, 0.99),
                t.last().copied().unwrap_or(0.0),
                t.len()
            );
        }
    }
}

fn memory() {
    let mut m = model();
    logs::open(
        &mut m,
        LogSource::Pod {
            namespace: "swarm".into(),
            pod: "swarm-worker-0".into(),
        },
    );
    let id = m.log_id;
    let before = rss_kib();
    // Twice the limit: the buffer keeps the last 10,000.
    for batch in 0..20u64 {
        let events = (0..1000u64)
            .map(|k| {
                let n = batch * 1000 + k;
                LogEvent::Line(LogLine {
                    at_ms: n as i64,
                    stamp: swarmdeck::time::rfc3339_nano(1_795_305_600_000 + n as i64),
                    pod: "swarm-worker-0".into(),
                    text: text(n),
                })
            })
            .collect();
        update(&mut m, Event::Logs { id, events });
    }
    let after = rss_kib();
    println!(
        "memory: a view at logs.max_lines = {} (20,000 lines of ~120 bytes received): +{:.1} MiB RSS",
        m.log_max_lines,
        (after.saturating_sub(before)) as f64 / 1024.0
    );
}

/// Reconcile the demo swarm until it converges (a scale re-plans).
async fn converge(client: &kube::Client, swarm: &swarmdeck::domain::swarm::SwarmRef) {
    use swarmdeck::engine::swarm::{ReconcileOptions, reconcile};
    let opts = ReconcileOptions {
        poll: Duration::from_millis(20),
        worker_timeout: Duration::from_secs(60),
        ..Default::default()
    };
    for _ in 0..10 {
        match reconcile(client, swarm, &opts, |_, _| {}).await {
            Ok(_) => return,
            Err(swarmdeck::engine::Error::Rescaled { .. }) => continue,
            Err(e) => panic!("{e}"),
        }
    }
}

async fn stream_move() {
    use k8s_openapi::api::apps::v1::StatefulSet;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::Api;
    use kube::api::{Patch, PatchParams};
    use swarmdeck::embedded::{Cluster, scenario};
    use swarmdeck::engine::swarm::resolve;

    let cluster = Cluster::new(swarmdeck::time::Clock::system(), 100_000);
    scenario::install_crds(&cluster).unwrap();
    scenario::Scenario::parse(scenario::DEMO)
        .unwrap()
        .load_into(&cluster)
        .unwrap();
    let world =
        swarmdeck::embedded::world::World::new(cluster.clone(), Vec::new(), Default::default(), 3);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let _ticker = swarmdeck::embedded::runtime::run_world(world, 0, stop.clone());
    let client = swarmdeck::cluster::gate::in_process(&cluster, "swarm", false);
    let swarm = resolve(&client, "swarm", "swarm-worker").await.unwrap();
    converge(&client, &swarm).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "swarm");
    let owner = |cm: &ConfigMap, s: &str| swarmdeck::cluster::logs::owner_of(cm, s).map(|o| o.0);
    // A stream the scale to 3 gives the new worker.
    let before = cms.get("swarm-worker-config").await.unwrap();
    let text = before.data.as_ref().unwrap()["config.yml"].clone();
    let cfg = swarmdeck::domain::assignment::WorkerConfig::parse(&text).unwrap();
    let all: Vec<String> = cfg
        .workloads
        .values()
        .flat_map(|w| w.jobs.clone())
        .collect();
    let after = swarmdeck::domain::assignment::assign_from(
        &cfg,
        "swarm-worker",
        &all,
        3,
        &Default::default(),
    )
    .unwrap();
    let stream = all
        .iter()
        .find(|j| after.owners().get(j.as_str()) == Some(&2))
        .cloned()
        .expect("a stream moves to the new worker");
    let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
    let reader = tokio::spawn(swarmdeck::cluster::logs::follow_stream(
        client.clone(),
        swarm.clone(),
        stream.clone(),
        swarmdeck::cluster::logs::LogOptions {
            follow: true,
            tail: Some(10),
            ..Default::default()
        },
        tx,
    ));
    // The reader names the owner; then scale.
    while let Some(ev) = rx.recv().await {
        if matches!(
            ev,
            LogEvent::Note {
                kind: NoteKind::Switched,
                ..
            }
        ) {
            break;
        }
    }
    Api::<StatefulSet>::namespaced(client.clone(), "swarm")
        .patch_scale(
            "swarm-worker",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    let engine = {
        let (client, swarm) = (client.clone(), swarm.clone());
        tokio::spawn(async move { converge(&client, &swarm).await })
    };
    // When the assignment gives the stream to swarm-worker-2 (watched here).
    let granted = {
        let cms = cms.clone();
        let stream = stream.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(cm) = cms.get("swarm-worker-config").await
                    && owner(&cm, &stream).as_deref() == Some("swarm-worker-2")
                {
                    return Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let mut named = None;
    let mut first_line = None;
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .ok()
        .flatten()
    {
        match ev {
            LogEvent::Note {
                kind: NoteKind::Switched,
                text,
                ..
            } if text.contains("swarm-worker-2") => named = Some(Instant::now()),
            LogEvent::Line(l) if l.pod == "swarm-worker-2" && named.is_some() => {
                first_line = Some(Instant::now());
                break;
            }
            _ => {}
        }
    }
    let granted = granted.await.unwrap();
    let ms = |t: Option<Instant>| {
        t.map_or("-".to_owned(), |t| {
            format!("{:.1} ms", t.duration_since(granted).as_secs_f64() * 1000.0)
        })
    };
    println!(
        "stream move ({stream} to swarm-worker-2 on a scale 2 -> 3): log view names the new owner {} after the assignment grants it; the new owner's first line {} after (its pod starts in between)",
        ms(named),
        ms(first_line)
    );
    reader.abort();
    let _ = engine.await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn main() {
    // Memory first: the allocator has not yet got pages to spare.
    memory();
    throughput();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(stream_move());
}
