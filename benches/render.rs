//! Console rendering at scale (ARCHITECTURE 10): one 200x60 frame of 50,000 pods,
//! and rebuilding the sorted, filtered row order after a change.
//! `cargo bench --bench render`

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use swarmdeck::cluster::stores::Store;
use swarmdeck::ui::app::{Header, Model};
use swarmdeck::ui::data::{Stores, pod_row};
use swarmdeck::ui::keymap::Keymap;
use swarmdeck::ui::theme::ThemeSource;

fn pods(n: usize) -> Store<swarmdeck::ui::data::Row> {
    let mut rows = BTreeMap::new();
    for i in 0..n {
        let sts = i / 100;
        let p: Pod = serde_json::from_value(json!({
            "metadata": {"name": format!("load-{sts:04}-{}", i % 100), "namespace": "load", "creationTimestamp": "2026-11-22T00:00:00Z"},
            "spec": {"nodeName": format!("node-{}", i % 3), "containers": [{"name": "app", "image": "x"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "app", "image": "x", "imageID": "", "ready": true, "restartCount": i % 4, "state": {"running": {}}}]}
        }))
        .unwrap();
        let row = pod_row(&p);
        rows.insert((row.namespace.clone(), row.name.clone()), row);
    }
    Store::from_rows(rows)
}

fn bench(c: &mut Criterion) {
    let pod_store = pods(50_000);
    let stores = Stores {
        pods: pod_store.clone(),
        ..Default::default()
    };
    let (theme, _) = ThemeSource { user_dir: None }.load("default");
    let (keymap, _) = Keymap::load("default", None, false);
    let mut model = Model::new(Header::default(), "load".into(), stores, theme, keymap);
    model.now_ms = 1_795_305_700_000;
    let backend = ratatui::backend::TestBackend::new(200, 60);
    let mut terminal = ratatui::Terminal::new(backend).unwrap();
    model.page = 56;
    model.refresh_rows();
    let mut group = c.benchmark_group("console");
    group.sample_size(20);
    group.bench_function("frame 200x60 of 50000 pods", |b| {
        b.iter(|| {
            terminal
                .draw(|f| swarmdeck::ui::views::render(black_box(&model), f))
                .unwrap();
        })
    });
    group.bench_function("rebuild rows of 50000 pods after a change", |b| {
        b.iter(|| {
            model.invalidate();
            model.refresh_rows();
        })
    });
    let changed: Vec<_> = (0..1000)
        .map(|i| {
            let key = (
                "load".to_owned(),
                format!("load-{:04}-{}", i * 7 % 500, i % 100),
            );
            let row = pod_store.read().rows.get(&key).map(|r| (**r).clone());
            (key, row)
        })
        .collect();
    let mut next = 0;
    group.bench_function("move one changed row in 50000 pods (a watch event)", |b| {
        b.iter(|| {
            let (key, row) = &changed[next % changed.len()];
            next += 1;
            pod_store.apply(key.clone(), row.clone().map(std::sync::Arc::new));
            model.refresh_rows();
        })
    });
    group.bench_function(
        "derive every row of 50000 pods (first frame of a view)",
        |b| {
            b.iter(|| {
                model.clear_cache();
                model.refresh_rows();
            })
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
