//! Assignment speed (ARCHITECTURE 10: 1,000,000 jobs over 1,000 workers in under a
//! second) and movement when the pool grows (100,000 jobs, 99 -> 100 workers).
//! `cargo bench --bench assignment`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use swarmdeck::domain::assignment::{Policy, WorkerConfig, assign, movement_on_scale, plan};

fn jobs(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("stream:{i:07}")).collect()
}

fn bench(c: &mut Criterion) {
    let million = jobs(1_000_000);
    let policy = Policy::default();
    let mut group = c.benchmark_group("assign");
    group.sample_size(10);
    group.bench_function("1M jobs over 1000 workers", |b| {
        b.iter(|| assign(black_box(&million), 1000, &policy).unwrap())
    });

    let hundred_k = jobs(100_000);
    let before = assign(&hundred_k, 99, &policy).unwrap();
    let after = assign(&hundred_k, 100, &policy).unwrap();
    let up = movement_on_scale(&before, &after);
    let down = movement_on_scale(&after, &before);
    println!("movement 100000 jobs 99->100 workers: {up}");
    println!("movement 100000 jobs 100->99 workers: {down}");
    group.bench_function("100k jobs over 100 workers", |b| {
        b.iter(|| assign(black_box(&hundred_k), 100, &policy).unwrap())
    });
    let current = plan(&WorkerConfig::default(), &before, "swarm-worker").config;
    group.bench_function("plan 100k jobs 99->100", |b| {
        b.iter(|| plan(black_box(&current), &after, "swarm-worker"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
