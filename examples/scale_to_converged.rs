//! Time from confirming a scale in the console to a converged grid, on the
//! embedded demo (real clock, default pod start-up times of the simulated
//! kubelet): the console's model, its engine and its effects, without a
//! terminal. `cargo run --release --example scale_to_converged`

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent};
use swarmdeck::engine::audit::Auditor;
use swarmdeck::engine::run::{Engine, EngineConfig};
use swarmdeck::ui::app::{Effect, Event, Header, Model, Screen, update};
use swarmdeck::ui::keymap::Keymap;
use swarmdeck::ui::theme::ThemeSource;

fn keys(model: &mut Model, text: &str) -> Vec<Effect> {
    let mut effects = Vec::new();
    for c in text.chars() {
        let code = if c == '\r' {
            KeyCode::Enter
        } else {
            KeyCode::Char(c)
        };
        effects.extend(update(model, Event::Key(KeyEvent::from(code))));
        model.refresh_rows();
    }
    effects
}

#[tokio::main]
async fn main() {
    if std::env::var_os("SWARMDECK_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter("info,kube=warn")
            .init();
    }
    let world = swarmdeck::embedded::runtime::embedded_world("demo", 0).unwrap();
    let cluster = world.cluster().clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let _ticker = swarmdeck::embedded::runtime::run_world(world, 0, stop.clone());
    let client = swarmdeck::cluster::gate::in_process(&cluster, "swarm", false);
    let auditor = Auditor {
        client: client.clone(),
        user: "bench".into(),
        context: "swarmdeck-embedded".into(),
        log: None,
    };
    let engine = Engine::new(
        client.clone(),
        EngineConfig::new(vec!["swarm".into()], "bench".into()),
        Some(auditor.clone()),
    );
    let (_stop_engine, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(engine.run(async {
        let _ = stopped.await;
    }));
    let (tx, mut changes) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move { while changes.recv().await.is_some() {} });
    let (stores, _tasks) = swarmdeck::ui::runtime::spawn_stores(&client, &tx, Some("swarm"));
    let (theme, _) = ThemeSource { user_dir: None }.load("default");
    let (keymap, _) = Keymap::load("default", None, false);
    let mut model = Model::new(Header::default(), "swarm".into(), stores, theme, keymap);
    let converged = |model: &mut Model, workers: u32, version: u64| {
        model.refresh_rows();
        match model.screen() {
            Screen::Grid(g) => g.data.as_ref().is_some_and(|d| {
                d.replicas == workers
                    && d.converged() == workers as usize
                    && d.version == version
                    && d.unassigned.is_empty()
                    && d.duplicated.is_empty()
            }),
            _ => false,
        }
    };
    // Wait for the engine's first assignment on 2 workers.
    while !matches!(model.screen(), Screen::Grid(_)) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        keys(&mut model, ":grid\r");
    }
    while !converged(&mut model, 2, 1) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut runs = Vec::new();
    for (to, version) in [(3u32, 2u64), (2, 3), (3, 4), (2, 5), (3, 6)] {
        let effects = keys(&mut model, &format!("s{to}\ry"));
        let start = Instant::now();
        for e in effects {
            let (client, auditor) = (client.clone(), auditor.clone());
            tokio::spawn(async move {
                swarmdeck::ui::effects::perform_acting(e, &client, &auditor).await;
            });
        }
        while !converged(&mut model, to, version) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let took = start.elapsed();
        println!("scale to {to}: converged grid after {took:.2?}");
        runs.push(took);
    }
    runs.sort();
    println!(
        "median {:.2?}, worst {:.2?} over {} scales",
        runs[runs.len() / 2],
        runs[runs.len() - 1],
        runs.len()
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
}
