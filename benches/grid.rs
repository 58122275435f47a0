//! The assignment grid at scale (ARCHITECTURE 10): 100,000 streams over 500
//! workers — one 200x60 frame, deriving the grid after a change, and
//! deriving it with a previewed scale plan.
//! `cargo bench --bench grid`

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use crossterm::event::{KeyCode, KeyEvent};
use swarmdeck::cluster::stores::Store;
use swarmdeck::domain::assignment::{self, Policy, WorkerConfig, worker_name};
use swarmdeck::domain::swarm::{RefreshPolicy, SwarmRef};
use swarmdeck::ui::app::{Event, Header, Model, update};
use swarmdeck::ui::data::{Cell, Extra, JobsInfo, Row, Severity, Stores};
use swarmdeck::ui::grid::{PreviewOf, grid_data};
use swarmdeck::ui::keymap::Keymap;
use swarmdeck::ui::theme::ThemeSource;

const JOBS: usize = 100_000;
const WORKERS: u32 = 500;

fn row(ns: &str, name: &str, extra: Extra) -> Row {
    Row {
        namespace: ns.into(),
        name: name.into(),
        // As pod_row lays them out (the pods view lies under the grid).
        cells: vec![
            Cell::Text("1/1".into()),
            Cell::Text("Running".into()),
            Cell::Text("Running".into()),
            Cell::Num(0),
            Cell::Age(Some(1_795_305_600_000)),
            Cell::Text("node-1".into()),
        ],
        severity: Severity::Ok,
        extra,
    }
}

fn stores(swarm: &SwarmRef) -> Stores {
    let jobs: Vec<String> = (0..JOBS).map(|i| format!("stream:{i:06}")).collect();
    let a = assignment::assign(&jobs, WORKERS, &Policy::default()).unwrap();
    let config = assignment::plan(&WorkerConfig::default(), &a, &swarm.name).config;
    let store = |rows: Vec<Row>| {
        Store::from_rows(
            rows.into_iter()
                .map(|r| ((r.namespace.clone(), r.name.clone()), r))
                .collect::<BTreeMap<_, _>>(),
        )
    };
    let pods = (0..WORKERS)
        .map(|o| {
            row(
                &swarm.namespace,
                &worker_name(&swarm.name, o),
                Extra::Pod {
                    config_version: Some(1),
                    ready: true,
                    uid: format!("uid-{o}"),
                    last_exit: None,
                    requests: Default::default(),
                    limits: Default::default(),
                },
            )
        })
        .collect();
    Stores {
        pods: store(pods),
        sts: store(vec![row(
            &swarm.namespace,
            &swarm.name,
            Extra::StatefulSet {
                replicas: i64::from(WORKERS),
            },
        )]),
        cms: store(vec![
            row(
                &swarm.namespace,
                &swarm.jobs_config_map,
                Extra::Jobs(Box::new(JobsInfo {
                    swarm: Some(swarm.clone()),
                    jobs: Ok(std::sync::Arc::new(jobs)),
                    dedicated: Vec::new(),
                    rebalance_requested: false,
                    handoff: Ok(Default::default()),
                    scale_requested: None,
                })),
            ),
            row(
                &swarm.namespace,
                &swarm.output_config_map,
                Extra::WorkerConfig(Box::new(config), Default::default(), None),
            ),
        ]),
        ..Default::default()
    }
}

fn bench(c: &mut Criterion) {
    let swarm = SwarmRef {
        name: "big-worker".into(),
        namespace: "big".into(),
        watch_label: "big-worker".into(),
        jobs_config_map: "big-jobs".into(),
        output_config_map: "big-worker-config".into(),
        refresh: RefreshPolicy::RestartPod,
    };
    let stores = stores(&swarm);
    let (theme, _) = ThemeSource { user_dir: None }.load("default");
    let (keymap, _) = Keymap::load("default", None, false);
    let mut model = Model::new(
        Header::default(),
        "big".into(),
        stores.clone(),
        theme,
        keymap,
    );
    for c in ":grid big-worker\r".chars() {
        let code = if c == '\r' {
            KeyCode::Enter
        } else {
            KeyCode::Char(c)
        };
        update(&mut model, Event::Key(KeyEvent::from(code)));
    }
    // Somewhere in the middle of the swarm.
    for _ in 0..250 {
        update(&mut model, Event::Key(KeyEvent::from(KeyCode::Char('j'))));
    }
    let backend = ratatui::backend::TestBackend::new(200, 60);
    let mut terminal = ratatui::Terminal::new(backend).unwrap();
    model.refresh_rows();
    let mut group = c.benchmark_group("grid");
    group.sample_size(20);
    group.bench_function("frame 200x60 of 100000 streams over 500 workers", |b| {
        b.iter(|| {
            terminal
                .draw(|f| swarmdeck::ui::views::render(black_box(&model), f))
                .unwrap();
        })
    });
    group.bench_function("derive the grid of 100000 streams (after a change)", |b| {
        b.iter(|| black_box(grid_data(&stores, &swarm, None)))
    });
    group.bench_function("derive with a previewed scale 500 -> 501", |b| {
        b.iter(|| black_box(grid_data(&stores, &swarm, Some(PreviewOf::Scale(501)))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
