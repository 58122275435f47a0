//! Property tests for the assignment (ARCHITECTURE 4.1): what holds for every input.

use std::collections::BTreeSet;

use proptest::prelude::*;
use swarmdeck::domain::assignment::{
    Assignment, Policy, WorkerConfig, assign, assign_from, moved_between, others_moved, plan,
};

/// An assignment as the cluster holds it.
fn written(a: &Assignment) -> WorkerConfig {
    plan(&WorkerConfig::default(), a, "w").config
}

fn unique(jobs: &[String]) -> Vec<String> {
    let set: BTreeSet<&String> = jobs.iter().collect();
    set.into_iter().cloned().collect()
}

fn job_names() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[a-z]{1,3}:[a-z0-9]{1,6}", 0..300)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_job_exactly_once(jobs in job_names(), n in 1u32..40) {
        let a = assign(&jobs, n, &Policy::default()).unwrap();
        let unique: BTreeSet<&String> = jobs.iter().collect();
        let mut seen = BTreeSet::new();
        for w in &a.workers {
            for j in &w.jobs {
                prop_assert!(seen.insert(j.clone()), "{j} assigned twice");
            }
        }
        prop_assert_eq!(seen.len(), unique.len());
        prop_assert_eq!(a.workers.len(), n as usize);
    }

    #[test]
    fn order_and_duplicates_do_not_matter(jobs in job_names(), n in 1u32..40, seed in any::<u64>()) {
        let a = assign(&jobs, n, &Policy::default()).unwrap();
        let mut shuffled = jobs.clone();
        shuffled.extend(jobs.iter().take(jobs.len() / 2).cloned());
        // A cheap deterministic shuffle driven by the seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let b = assign(&shuffled, n, &Policy::default()).unwrap();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn balanced_within_one(jobs in job_names(), n in 1u32..40) {
        let a = assign(&jobs, n, &Policy::default()).unwrap();
        prop_assert!(a.spread() <= 1, "spread {} for {} jobs over {n}", a.spread(), jobs.len());
    }

    #[test]
    fn dedicated_streams_are_alone(jobs in prop::collection::vec("s:[a-z]{1,4}", 1..80), n in 1u32..20, picks in prop::collection::vec(any::<prop::sample::Index>(), 0..5)) {
        let dedicated: BTreeSet<String> = picks.iter().map(|p| p.get(&jobs).clone()).collect();
        let policy = Policy { dedicated: dedicated.clone() };
        let shared = jobs.iter().filter(|j| !dedicated.contains(*j)).collect::<BTreeSet<_>>().len();
        match assign(&jobs, n, &policy) {
            Ok(a) => {
                for d in &dedicated {
                    let w = a.workers.iter().find(|w| w.jobs.contains(d)).unwrap();
                    prop_assert_eq!(&w.jobs, &vec![d.clone()]);
                    prop_assert!(w.dedicated);
                }
                prop_assert!(a.spread() <= 1);
            }
            Err(e) => {
                let needed = dedicated.len() + usize::from(shared > 0);
                prop_assert!(needed > n as usize, "refused although {needed} <= {n}: {e}");
            }
        }
    }

    #[test]
    fn config_is_canonical(jobs in job_names(), n in 1u32..30) {
        let a = assign(&jobs, n, &Policy::default()).unwrap();
        let p = plan(&WorkerConfig::default(), &a, "swarm-worker");
        let text = p.config.to_yaml();
        let back = WorkerConfig::parse(&text).unwrap();
        prop_assert_eq!(&back, &p.config);
        prop_assert_eq!(back.to_yaml(), text);
        prop_assert_eq!(back.to_assignment("swarm-worker"), a);
    }

    #[test]
    fn plan_explains_the_difference(jobs in job_names(), extra in job_names(), n in 1u32..20, m in 1u32..20) {
        let before = assign(&jobs, n, &Policy::default()).unwrap();
        let first = plan(&WorkerConfig::default(), &before, "w");
        let mut all = jobs.clone();
        all.extend(extra);
        let after = assign(&all, m, &Policy::default()).unwrap();
        let p = plan(&first.config, &after, "w");
        // Replaying the moves on the old owners gives the new owners.
        let mut owners: std::collections::BTreeMap<String, u32> =
            before.owners().into_iter().map(|(j, w)| (j.to_owned(), w)).collect();
        for mv in &p.moves {
            match mv.to {
                Some(to) => { owners.insert(mv.job.clone(), to); }
                None => { owners.remove(&mv.job); }
            }
        }
        let expected: std::collections::BTreeMap<String, u32> =
            after.owners().into_iter().map(|(j, w)| (j.to_owned(), w)).collect();
        prop_assert_eq!(owners, expected);
        // Exactly the workers whose job set changed get a new version.
        for w in &after.workers {
            let old = before.workers.get(w.ordinal as usize).map(|o| &o.jobs);
            let changed = p.changed.iter().any(|c| c.ordinal == w.ordinal);
            prop_assert_eq!(changed, old != Some(&w.jobs));
        }
        prop_assert_eq!(p.global_version, first.global_version + 1);
    }

    #[test]
    fn from_any_previous_every_job_once_and_balanced(
        jobs in job_names(), before in job_names(), n in 1u32..30, m in 1u32..30,
    ) {
        let previous = written(&assign(&before, m, &Policy::default()).unwrap());
        let a = assign_from(&previous, "w", &jobs, n, &Policy::default()).unwrap();
        let mut seen = BTreeSet::new();
        for w in &a.workers {
            for j in &w.jobs {
                prop_assert!(seen.insert(j.clone()), "{j} assigned twice");
            }
        }
        prop_assert_eq!(seen.len(), unique(&jobs).len());
        prop_assert!(a.spread() <= 1, "spread {}", a.spread());
        // Deterministic, whatever the input order.
        let mut reversed = jobs.clone();
        reversed.reverse();
        prop_assert_eq!(a, assign_from(&previous, "w", &reversed, n, &Policy::default()).unwrap());
    }

    #[test]
    fn scaling_by_one_moves_exactly_the_lower_bound(jobs in job_names(), n in 1u32..40) {
        let total = unique(&jobs).len();
        let small = assign(&jobs, n, &Policy::default()).unwrap();
        let up = assign_from(&written(&small), "w", &jobs, n + 1, &Policy::default()).unwrap();
        prop_assert_eq!(moved_between(&small, &up), total / (n as usize + 1));
        let down = assign_from(&written(&up), "w", &jobs, n, &Policy::default()).unwrap();
        let leaving = up.workers[n as usize].jobs.len();
        prop_assert_eq!(moved_between(&up, &down), leaving);
        prop_assert!(down.spread() <= 1);
    }

    #[test]
    fn one_added_or_removed_job_moves_at_most_one_other(
        jobs in job_names(), n in 1u32..40, extra in "[a-z]{1,3}:[a-z0-9]{7,9}",
    ) {
        let before = assign(&jobs, n, &Policy::default()).unwrap();
        let mut more = jobs.clone();
        more.push(extra.clone());
        let after = assign_from(&written(&before), "w", &more, n, &Policy::default()).unwrap();
        prop_assert!(others_moved(&before, &after, &extra) <= 1);
        let back = assign_from(&written(&after), "w", &jobs, n, &Policy::default()).unwrap();
        prop_assert!(others_moved(&after, &back, &extra) <= 1);
        prop_assert!(back.spread() <= 1);
    }
}

mod handoff {
    use std::collections::BTreeSet;

    use proptest::prelude::*;
    use swarmdeck::domain::assignment::{Policy, WorkerConfig, assign, assign_from, plan};
    use swarmdeck::domain::handoff::{HandoffMode, Phase, holds, phases};

    fn listed_by(cfg: &WorkerConfig, job: &str) -> Vec<String> {
        cfg.workloads
            .iter()
            .filter(|(_, e)| e.jobs.iter().any(|j| j == job))
            .map(|(w, _)| w.clone())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// ARCHITECTURE 5.1: no written version lists a stream twice; a stream is
        /// written to a worker only when nobody (alive) listed it in the
        /// version before; the target is reached in at most two writes.
        #[test]
        fn strict_handoff_never_grants_what_another_holds(
            jobs in prop::collection::vec("[a-z]{1,2}:[0-9]{1,3}", 1..120),
            n in 1u32..12,
            m in 1u32..12,
            drop_every in 2usize..9,
            added in prop::collection::vec("new:[0-9]{1,3}", 0..6),
            dup in any::<bool>(),
            leaving_gone in any::<bool>(),
        ) {
            let mut before = plan(&WorkerConfig::default(), &assign(&jobs, n, &Policy::default()).unwrap(), "w").config;
            if dup && n > 1 {
                // A hand edit lists one stream under two workers.
                if let Some(j) = before.workloads["w-0"].jobs.first().cloned() {
                    before.workloads.get_mut("w-1").unwrap().jobs.push(j);
                }
            }
            let mut next: Vec<String> = jobs.iter().enumerate().filter(|(i, _)| i % drop_every != 0).map(|(_, j)| j.clone()).collect();
            next.extend(added);
            let target = assign_from(&before, "w", &next, m, &Policy::default()).unwrap();
            let gone: BTreeSet<u32> = if leaving_gone { (m..n).collect() } else { BTreeSet::new() };
            let steps = phases(&before, &target, "w", HandoffMode::Strict, &gone);
            prop_assert!(steps.len() <= 2, "{} writes", steps.len());
            let mut prev = before.clone();
            for (i, (step, p)) in steps.iter().enumerate() {
                let cfg = &p.config;
                prop_assert!(cfg.duplicated_jobs().is_empty(), "write {i} lists a stream twice");
                for (w, e) in &cfg.workloads {
                    for j in &e.jobs {
                        let had = prev.workloads.get(w).is_some_and(|p| p.jobs.contains(j));
                        if had { continue; }
                        let others: Vec<String> = listed_by(&prev, j).into_iter()
                            .filter(|o| o != w)
                            .filter(|o| !gone.iter().any(|g| *o == format!("w-{g}")))
                            .collect();
                        prop_assert!(others.is_empty(), "write {i} ({:?}) grants {j} to {w} while {others:?} list it", step.phase);
                    }
                }
                if i + 1 < steps.len() {
                    prop_assert_eq!(step.phase, Phase::Release);
                }
                prev = cfg.clone();
            }
            prop_assert!(holds(&prev, &target, "w"));
        }
    }
}
