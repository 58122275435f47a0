//! Moving a stream without running it twice (ARCHITECTURE 5.1): the writes that
//! take a swarm from the assignment the cluster holds to the one it should
//! hold, so that no stream is ever listed for two workers and none is granted
//! to its new owner before its old owner confirmed the release.
//!
//! Strict handoff takes at most two writes: a *release* (each stream that
//! must move is taken out of its old owner's list; streams nobody lists are
//! granted at once) and, once every worker the release changed has confirmed
//! it, a *grant* (the released streams are written to their new owners). The
//! engine waits for confirmation between the two; this module only says what
//! each write holds. Fast handoff writes the target at once, for consumers
//! that tolerate a stream processed twice while workers refresh.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::assignment::{Assignment, WorkerConfig, WorkerJobs, worker_name};

pub use super::names::{
    HANDOFF_MODE_ANNOTATION as MODE_ANNOTATION, HANDOFF_STATE_ANNOTATION as STATE_ANNOTATION,
};

/// How a swarm's streams change owner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HandoffMode {
    /// Release, wait for the old owners, then grant: never two consumers.
    #[default]
    Strict,
    /// One write: new owners may start before old owners stop.
    Fast,
}

impl HandoffMode {
    /// The scale rule: a swarm in strict handoff that grows from `current`
    /// to `wanted` workers has its new workers granted their streams before
    /// they start, so the count is asked of the engine (which sets it once
    /// they are granted); fewer workers, or fast handoff, are set at once.
    pub fn grants_first(self, current: u32, wanted: u32) -> bool {
        self == Self::Strict && wanted > current
    }

    /// The annotation's value; an absent one is strict. Anything else is an
    /// error naming the value, and the caller stays strict (the safe side).
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim) {
            None | Some("") | Some("strict") => Ok(Self::Strict),
            Some("fast") => Ok(Self::Fast),
            Some(other) => Err(format!(
                "annotation {MODE_ANNOTATION} is `{other}`; it must be `strict` or `fast` (strict is used until it is fixed)"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "strict",
            Self::Fast => "fast",
        }
    }
}

/// Which write of a handoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Streams that move are in no worker's list; their old owners refresh.
    Release,
    /// Released streams are written to their new owners, who refresh.
    Grant,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::Grant => "grant",
        }
    }
}

/// One stream in handoff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    pub stream: String,
    /// Workers that listed it before (none: a new stream).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<String>,
    /// The worker it goes to (none: it was removed from the jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// What the output ConfigMap records about a handoff under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffState {
    pub phase: Phase,
    /// When this phase was written (RFC 3339).
    pub since: String,
    pub streams: Vec<InFlight>,
}

impl HandoffState {
    /// Parse the annotation; the error names it.
    pub fn parse(value: &str) -> Result<Self, String> {
        // Kubernetes holds all of an object's annotations within 256 KiB;
        // a longer value is not one a server let through.
        if value.len() > 256 * 1024 {
            return Err(format!(
                "annotation {STATE_ANNOTATION} is {} bytes, more than the 256 KiB an object's annotations may hold",
                value.len()
            ));
        }
        serde_json::from_str(value)
            .map_err(|e| format!("annotation {STATE_ANNOTATION} does not parse: {e}"))
    }

    pub fn to_annotation(&self) -> String {
        // A struct of strings and vectors always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Streams released and waiting for their new owner.
    pub fn waiting(&self) -> impl Iterator<Item = &InFlight> {
        self.streams.iter().filter(|s| s.to.is_some())
    }
}

/// What the grid says about a swarm's handoff, one line each: the mode, the
/// phase under way with its streams (from → to) and for how long, a scale
/// waiting for its grant, and streams a hand edit listed twice.
pub fn summary_lines(
    mode: HandoffMode,
    state: Option<&HandoffState>,
    scale_to: Option<u32>,
    duplicated: &BTreeMap<String, usize>,
    now_ms: i64,
) -> Vec<String> {
    let mut out = Vec::new();
    match state {
        None => out.push(format!("handoff {}: no stream in handoff", mode.as_str())),
        Some(st) => {
            let age = crate::time::parse_rfc3339(&st.since)
                .map(|t| {
                    format!(
                        " for {}",
                        crate::time::human_duration((now_ms - t).max(0) / 1000)
                    )
                })
                .unwrap_or_default();
            let moving: Vec<&InFlight> = st.waiting().collect();
            out.push(format!(
                "handoff {}: {}{age} · {} streams {}",
                mode.as_str(),
                st.phase.as_str(),
                moving.len(),
                match st.phase {
                    Phase::Release => "released, granted once their old owners confirm",
                    Phase::Grant => "granted, waiting for their new owners",
                }
            ));
            for s in moving {
                let from = if s.from.is_empty() {
                    "new".to_owned()
                } else {
                    s.from.join(", ")
                };
                out.push(format!(
                    "  {}  {from} → {}",
                    s.stream,
                    s.to.as_deref().unwrap_or("-")
                ));
            }
        }
    }
    if let Some(n) = scale_to {
        out.push(format!(
            "scale to {n} workers requested: the StatefulSet is set once the new workers are granted their streams"
        ));
    }
    if !duplicated.is_empty() {
        out.push(format!(
            "{} streams listed twice ({}): the engine releases the extra copy before anything else",
            duplicated.len(),
            duplicated.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    out
}

/// One write of a handoff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub phase: Phase,
    /// What to write (workers `0..n` of the target).
    pub assignment: Assignment,
    /// The streams this write releases (phase release) or grants (grant).
    pub streams: Vec<InFlight>,
}

impl Step {
    /// A grant names where its streams come from: the workers that released
    /// them (the written lists no longer say).
    pub fn with_origins(mut self, released: Option<&HandoffState>) -> Self {
        let Some(released) = released.filter(|r| r.phase == Phase::Release) else {
            return self;
        };
        if self.phase == Phase::Grant {
            for s in self.streams.iter_mut().filter(|s| s.from.is_empty()) {
                if let Some(r) = released.streams.iter().find(|r| r.stream == s.stream) {
                    s.from = r.from.clone();
                }
            }
        }
        self
    }
}

/// Who lists each stream in `current`, by ordinal (a hand-edited config may
/// list one twice). Workers in `gone` (leaving, with no pod any more) are
/// not counted: nobody runs what they list.
fn listers(current: &Assignment, gone: &BTreeSet<u32>) -> BTreeMap<String, Vec<u32>> {
    let mut out: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for w in &current.workers {
        if gone.contains(&w.ordinal) {
            continue;
        }
        for j in &w.jobs {
            let l = out.entry(j.clone()).or_default();
            if !l.contains(&w.ordinal) {
                l.push(w.ordinal);
            }
        }
    }
    out
}

/// Does `current` (as written) hold exactly `target`?
pub fn holds(current: &WorkerConfig, target: &Assignment, statefulset: &str) -> bool {
    if current.workloads.len() != target.workers.len() {
        return false;
    }
    target.workers.iter().all(|w| {
        current
            .workloads
            .get(&worker_name(statefulset, w.ordinal))
            .is_some_and(|e| {
                let mut jobs = e.jobs.clone();
                jobs.sort();
                jobs == w.jobs
            })
    })
}

/// The next write from `current` towards `target`, or None when the
/// cluster holds the target. `gone`: ordinals beyond the target that have no
/// pod any more (their lists are dead). Strict: a stream listed by a worker
/// that is not its target owner is released first; a stream nobody lists is
/// granted. Fast: the target, at once.
pub fn next_step(
    current: &WorkerConfig,
    target: &Assignment,
    statefulset: &str,
    mode: HandoffMode,
    gone: &BTreeSet<u32>,
) -> Option<Step> {
    if holds(current, target, statefulset) {
        return None;
    }
    let cur = current.to_assignment(statefulset);
    let listed = listers(&cur, gone);
    let owner = target.owners();
    let name = |o: u32| worker_name(statefulset, o);
    let from_of = |job: &str| -> Vec<String> {
        listed
            .get(job)
            .map(|l| l.iter().map(|o| name(*o)).collect())
            .unwrap_or_default()
    };
    if mode == HandoffMode::Fast {
        let streams = moved(&listed, &owner, statefulset);
        return Some(Step {
            phase: Phase::Grant,
            assignment: target.clone(),
            streams,
        });
    }
    let cur_jobs: BTreeMap<u32, &Vec<String>> =
        cur.workers.iter().map(|w| (w.ordinal, &w.jobs)).collect();
    let mut release: BTreeSet<&str> = BTreeSet::new();
    let workers: Vec<WorkerJobs> = target
        .workers
        .iter()
        .map(|w| {
            let mut keep: BTreeSet<String> = BTreeSet::new();
            if let Some(jobs) = cur_jobs.get(&w.ordinal) {
                for j in jobs.iter() {
                    if owner.get(j.as_str()) == Some(&w.ordinal) {
                        keep.insert(j.clone());
                    }
                }
            }
            for j in &w.jobs {
                match listed.get(j) {
                    None => {
                        keep.insert(j.clone());
                    }
                    Some(l) if l.iter().any(|o| *o != w.ordinal) => {
                        release.insert(j.as_str());
                    }
                    Some(_) => {}
                }
            }
            WorkerJobs {
                ordinal: w.ordinal,
                jobs: keep.into_iter().collect(),
                dedicated: w.dedicated,
            }
        })
        .collect();
    let assignment = Assignment { workers };
    if assignment == *target {
        let streams = moved(&listed, &owner, statefulset);
        return Some(Step {
            phase: Phase::Grant,
            assignment,
            streams,
        });
    }
    // Released: every stream that goes to a new owner and is still listed
    // elsewhere, and every removed stream (to: none).
    let mut streams: Vec<InFlight> = release
        .iter()
        .map(|j| InFlight {
            stream: (*j).to_owned(),
            from: listed[*j]
                .iter()
                .filter(|o| Some(*o) != owner.get(*j))
                .map(|o| name(*o))
                .collect(),
            to: owner.get(*j).map(|o| name(*o)),
        })
        .collect();
    for (job, _) in listed
        .iter()
        .filter(|(j, _)| !owner.contains_key(j.as_str()))
    {
        streams.push(InFlight {
            stream: job.clone(),
            from: from_of(job),
            to: None,
        });
    }
    streams.sort_by(|a, b| a.stream.cmp(&b.stream));
    Some(Step {
        phase: Phase::Release,
        assignment,
        streams,
    })
}

/// Streams whose set of listers differs from their target owner.
fn moved(
    listed: &BTreeMap<String, Vec<u32>>,
    owner: &BTreeMap<&str, u32>,
    statefulset: &str,
) -> Vec<InFlight> {
    let name = |o: u32| worker_name(statefulset, o);
    let mut out = Vec::new();
    let all: BTreeSet<&str> = listed
        .keys()
        .map(String::as_str)
        .chain(owner.keys().copied())
        .collect();
    for job in all {
        let from: Vec<u32> = listed.get(job).cloned().unwrap_or_default();
        let to = owner.get(job).copied();
        if from.len() == 1 && Some(from[0]) == to {
            continue;
        }
        out.push(InFlight {
            stream: job.to_owned(),
            from: from.into_iter().map(name).collect(),
            to: to.map(name),
        });
    }
    out
}

/// The plan of one step from `current`: versions as `assignment::plan`
/// gives them, except that a release does not create an entry for a worker
/// that had none and is given nothing yet (a worker about to be granted
/// its streams is written once, with them, and needs no refresh before).
pub fn step_plan(
    current: &WorkerConfig,
    step: &Step,
    statefulset: &str,
) -> super::assignment::Plan {
    let mut plan = super::assignment::plan(current, &step.assignment, statefulset);
    if step.phase == Phase::Release {
        let empty_new: Vec<u32> = plan
            .changed
            .iter()
            .filter(|c| c.added.is_empty() && c.removed.is_empty())
            .map(|c| c.ordinal)
            .filter(|o| {
                !current
                    .workloads
                    .contains_key(&worker_name(statefulset, *o))
            })
            .collect();
        plan.changed.retain(|c| !empty_new.contains(&c.ordinal));
        for o in empty_new {
            plan.config.workloads.remove(&worker_name(statefulset, o));
        }
    }
    plan
}

/// Every write from `current` to `target`, as the engine would make them
/// (each applied to the config the previous one wrote): for previews.
pub fn phases(
    current: &WorkerConfig,
    target: &Assignment,
    statefulset: &str,
    mode: HandoffMode,
    gone: &BTreeSet<u32>,
) -> Vec<(Step, super::assignment::Plan)> {
    let mut out = Vec::new();
    let mut written = current.clone();
    let mut released: Option<HandoffState> = None;
    // Strict needs two writes at most; a third would be a bug, not a plan.
    for _ in 0..3 {
        let Some(step) = next_step(&written, target, statefulset, mode, gone)
            .map(|s| s.with_origins(released.as_ref()))
        else {
            break;
        };
        released = Some(HandoffState {
            phase: step.phase,
            since: String::new(),
            streams: step.streams.clone(),
        });
        let plan = step_plan(&written, &step, statefulset);
        written = plan.config.clone();
        out.push((step, plan));
    }
    out
}

/// The assignment to plan from while a handoff is under way: what is written,
/// plus each released stream at the owner it was released for (while nobody
/// lists it), so that a new leader grants what the release meant and does
/// not send a stream back where it came from.
pub fn planning_base(
    current: &WorkerConfig,
    state: Option<&HandoffState>,
    statefulset: &str,
) -> WorkerConfig {
    let Some(state) = state.filter(|s| s.phase == Phase::Release) else {
        return current.clone();
    };
    let listed: BTreeSet<&str> = current
        .workloads
        .values()
        .flat_map(|e| e.jobs.iter().map(String::as_str))
        .collect();
    let mut base = current.clone();
    for s in state.waiting() {
        let Some(to) = &s.to else { continue };
        if listed.contains(s.stream.as_str()) || !to.starts_with(statefulset) {
            continue;
        }
        base.workloads
            .entry(to.clone())
            .or_insert_with(|| super::assignment::WorkerEntry {
                jobs: Vec::new(),
                version: 0,
            })
            .jobs
            .push(s.stream.clone());
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::assignment::{Policy, assign, assign_from, plan};

    fn jobs(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("stream:{i}")).collect()
    }

    fn written(a: &Assignment) -> WorkerConfig {
        plan(&WorkerConfig::default(), a, "w").config
    }

    #[test]
    fn scaling_up_releases_then_grants() {
        let all = jobs(12);
        let before = written(&assign(&all, 2, &Policy::default()).unwrap());
        let target = assign_from(&before, "w", &all, 3, &Policy::default()).unwrap();
        let steps = phases(&before, &target, "w", HandoffMode::Strict, &BTreeSet::new());
        assert_eq!(steps.len(), 2);
        let (release, rplan) = &steps[0];
        assert_eq!(release.phase, Phase::Release);
        assert_eq!(release.streams.len(), 4);
        assert!(
            release
                .streams
                .iter()
                .all(|s| s.to.as_deref() == Some("w-2"))
        );
        // Released streams are in nobody's list; w-2 is not written yet
        // (so it is not refreshed before it has something).
        assert!(!rplan.config.workloads.contains_key("w-2"));
        assert!(rplan.changed.iter().all(|c| c.ordinal != 2));
        assert_eq!(
            rplan
                .config
                .workloads
                .values()
                .map(|e| e.jobs.len())
                .sum::<usize>(),
            8
        );
        let (grant, gplan) = &steps[1];
        assert_eq!(grant.phase, Phase::Grant);
        assert!(holds(&gplan.config, &target, "w"));
        // The grant changes only the new owner.
        assert_eq!(gplan.changed.len(), 1);
        assert_eq!(gplan.changed[0].ordinal, 2);
    }

    #[test]
    fn new_streams_go_at_once_and_removed_ones_are_dropped() {
        let all = jobs(6);
        let before = written(&assign(&all, 2, &Policy::default()).unwrap());
        let mut next = all.clone();
        next.retain(|j| j != "stream:0");
        next.push("stream:new".into());
        let target = assign_from(&before, "w", &next, 2, &Policy::default()).unwrap();
        let steps = phases(&before, &target, "w", HandoffMode::Strict, &BTreeSet::new());
        // One removed and one added: if the new one lands where the removed
        // one was, one write; otherwise the balance moves one, two writes.
        assert!(!steps.is_empty() && steps.len() <= 2, "{steps:?}");
        let last = &steps.last().unwrap().1.config;
        assert!(holds(last, &target, "w"));
        assert!(
            !last
                .workloads
                .values()
                .any(|e| e.jobs.contains(&"stream:0".to_owned()))
        );
    }

    #[test]
    fn a_stream_listed_twice_is_released_from_the_other_first() {
        let mut cfg = written(&assign(jobs(4), 2, &Policy::default()).unwrap());
        let dup = cfg.workloads["w-0"].jobs[0].clone();
        cfg.workloads.get_mut("w-1").unwrap().jobs.push(dup.clone());
        let target = assign_from(&cfg, "w", jobs(4), 2, &Policy::default()).unwrap();
        let step = next_step(&cfg, &target, "w", HandoffMode::Strict, &BTreeSet::new()).unwrap();
        // The copy the target does not keep is dropped; nothing is granted.
        let cfg2 = plan(&cfg, &step.assignment, "w").config;
        assert!(cfg2.duplicated_jobs().is_empty());
        let keeper = if target.owners()[dup.as_str()] == 0 {
            "w-0"
        } else {
            "w-1"
        };
        assert!(cfg2.workloads[keeper].jobs.contains(&dup));
        assert_eq!(
            step.streams,
            vec![InFlight {
                stream: dup.clone(),
                from: vec!["w-0".into(), "w-1".into()],
                to: Some(keeper.into()),
            }]
        );
    }

    #[test]
    fn a_leaving_worker_without_a_pod_is_granted_from_in_one_write() {
        let all = jobs(9);
        let before = written(&assign(&all, 3, &Policy::default()).unwrap());
        let target = assign_from(&before, "w", &all, 2, &Policy::default()).unwrap();
        let live = phases(&before, &target, "w", HandoffMode::Strict, &BTreeSet::new());
        assert_eq!(live.len(), 2, "the leaving pod must confirm first");
        assert!(!live[0].1.config.workloads.contains_key("w-2"));
        let gone = phases(
            &before,
            &target,
            "w",
            HandoffMode::Strict,
            &BTreeSet::from([2]),
        );
        assert_eq!(gone.len(), 1);
        assert!(holds(&gone[0].1.config, &target, "w"));
    }

    #[test]
    fn fast_is_one_write() {
        let all = jobs(12);
        let before = written(&assign(&all, 2, &Policy::default()).unwrap());
        let target = assign_from(&before, "w", &all, 3, &Policy::default()).unwrap();
        let steps = phases(&before, &target, "w", HandoffMode::Fast, &BTreeSet::new());
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].0.streams.len(), 4);
    }

    #[test]
    fn a_new_leader_grants_what_the_release_meant() {
        let all = jobs(12);
        let before = written(&assign(&all, 2, &Policy::default()).unwrap());
        let target = assign_from(&before, "w", &all, 3, &Policy::default()).unwrap();
        let step = next_step(&before, &target, "w", HandoffMode::Strict, &BTreeSet::new()).unwrap();
        let released = plan(&before, &step.assignment, "w").config;
        let grant = next_step(
            &released,
            &target,
            "w",
            HandoffMode::Strict,
            &BTreeSet::new(),
        )
        .unwrap();
        assert!(grant.streams.iter().all(|s| s.from.is_empty()));
        let state = HandoffState {
            phase: Phase::Release,
            since: "2026-12-02T10:00:00Z".into(),
            streams: step.streams.clone(),
        };
        let back = HandoffState::parse(&state.to_annotation()).unwrap();
        assert_eq!(back, state);
        let base = planning_base(&released, Some(&back), "w");
        let replanned = assign_from(&base, "w", &all, 3, &Policy::default()).unwrap();
        assert_eq!(replanned, target);
        // The grant names the workers that released each stream.
        let grant = grant.with_origins(Some(&back));
        assert!(
            grant.streams.iter().all(|s| !s.from.is_empty()),
            "{grant:?}"
        );
    }

    #[test]
    fn a_stream_removed_while_in_handoff_is_dropped() {
        let all = jobs(12);
        let before = written(&assign(&all, 2, &Policy::default()).unwrap());
        let target = assign_from(&before, "w", &all, 3, &Policy::default()).unwrap();
        let step = next_step(&before, &target, "w", HandoffMode::Strict, &BTreeSet::new()).unwrap();
        let released = plan(&before, &step.assignment, "w").config;
        let state = HandoffState {
            phase: Phase::Release,
            since: String::new(),
            streams: step.streams.clone(),
        };
        let gone = step.streams[0].stream.clone();
        let fewer: Vec<String> = all.iter().filter(|j| **j != gone).cloned().collect();
        let base = planning_base(&released, Some(&state), "w");
        let target = assign_from(&base, "w", &fewer, 3, &Policy::default()).unwrap();
        let steps = phases(
            &released,
            &target,
            "w",
            HandoffMode::Strict,
            &BTreeSet::new(),
        );
        let last = &steps.last().unwrap().1.config;
        assert!(holds(last, &target, "w"));
        assert!(last.workloads.values().all(|e| !e.jobs.contains(&gone)));
        assert_eq!(
            last.workloads.values().map(|e| e.jobs.len()).sum::<usize>(),
            11
        );
    }

    #[test]
    fn the_mode_annotation_is_strict_unless_it_says_fast() {
        assert_eq!(HandoffMode::parse(None), Ok(HandoffMode::Strict));
        assert_eq!(HandoffMode::parse(Some("fast")), Ok(HandoffMode::Fast));
        let e = HandoffMode::parse(Some("quick")).unwrap_err();
        assert!(e.contains("`quick`") && e.contains("strict"), "{e}");
    }
}
