//! Measures how many jobs move when the pool or the job list changes, the
//! way the engine assigns: from the assignment the cluster holds.
//! `cargo run --release --example movement [S_MAX] [N_MAX]`

use swarmdeck::domain::assignment::{
    Assignment, Policy, WorkerConfig, assign, assign_from, movement_on_scale, others_moved, plan,
};

fn written(a: &Assignment) -> WorkerConfig {
    plan(&WorkerConfig::default(), a, "w").config
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = [30usize, 100, 500, 1000, 5000];
    let workers = [2u32, 3, 4, 8, 16, 32, 64];
    let s_max = args.first().copied().unwrap_or(5000);
    let n_max = args.get(1).copied().unwrap_or(64) as u32;
    let p = Policy::default();
    let mut worst_ratio: f64 = 0.0;
    let mut sum_ratio = 0.0;
    let mut count_ratio = 0;
    let mut worst_others: f64 = 0.0;
    let mut sum_others = 0.0;
    let mut count_others = 0;
    println!(
        "{:>6} {:>4} {:>9} {:>9} {:>10} {:>10}",
        "S", "n", "up", "down", "add", "remove"
    );
    for &s in sizes.iter().filter(|s| **s <= s_max) {
        let jobs: Vec<String> = (0..s).map(|i| format!("stream:{i}")).collect();
        for &n in workers
            .iter()
            .filter(|n| **n <= n_max && (**n as usize) < s)
        {
            let a = assign(&jobs, n, &p).unwrap();
            let b = assign_from(&written(&a), "w", &jobs, n + 1, &p).unwrap();
            let back = assign_from(&written(&b), "w", &jobs, n, &p).unwrap();
            let up = movement_on_scale(&a, &b).ratio();
            let down = movement_on_scale(&b, &back).ratio();
            let trials = 40;
            let (mut add, mut rem) = (0usize, 0usize);
            for t in 0..trials {
                let extra = format!("stream:new-{t}");
                let mut more = jobs.clone();
                more.push(extra.clone());
                let c = assign_from(&written(&a), "w", &more, n, &p).unwrap();
                add += others_moved(&a, &c, &extra);
                let gone = &jobs[(t * 7919) % s];
                let fewer: Vec<&String> = jobs.iter().filter(|j| *j != gone).collect();
                let d = assign_from(&written(&a), "w", fewer, n, &p).unwrap();
                rem += others_moved(&a, &d, gone);
            }
            let add = add as f64 / trials as f64;
            let rem = rem as f64 / trials as f64;
            println!("{s:>6} {n:>4} {up:>9.3} {down:>9.3} {add:>10.2} {rem:>10.2}");
            for r in [up, down] {
                worst_ratio = worst_ratio.max(r);
                sum_ratio += r;
                count_ratio += 1;
            }
            for o in [add, rem] {
                worst_others = worst_others.max(o);
                sum_others += o;
                count_others += 1;
            }
        }
    }
    println!(
        "scaling ratio: mean {:.3}, worst {:.3}; other jobs moved per add/remove: mean {:.2}, worst {:.2}",
        sum_ratio / count_ratio as f64,
        worst_ratio,
        sum_others / count_others as f64,
        worst_others
    );
}
