//! Streams to workers (ARCHITECTURE 4.1): which StatefulSet ordinal owns which job,
//! the plan between two assignments, and the `swarm-worker-config` format.
//!
//! The scheme is *balanced consistent hashing*:
//! 1. every shared job has a home worker by jump consistent hash, so growing the
//!    pool by one moves a job only into the new worker;
//! 2. each worker's capacity is `floor(S/k)` or `ceil(S/k)`; the extra slots go to
//!    the workers whose homes are most in demand (ties to the lower ordinal);
//! 3. an over-full worker keeps the home jobs with the highest affinity for it
//!    and sheds the rest; shed jobs go to under-full workers by the stable
//!    matching of affinities (equivalently: best remaining job–worker pair first).
//!
//! Completeness, exclusivity, determinism and balance are guaranteed and
//! property-tested; movement is measured (see [`movement_on_scale`] and README).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::hash::{affinity, jump, stable_hash};

/// The most workers a swarm is planned for. A replica count comes from the
/// cluster (anyone who may scale a StatefulSet sets it), and a plan holds an
/// entry per worker: past this the swarm is refused, not planned.
pub const MAX_WORKERS: u32 = 10_000;

/// The most streams a swarm is planned for (the design's target is a million
/// over a thousand workers; a jobs ConfigMap holds at most about 1.5 MB).
pub const MAX_STREAMS: usize = 1_000_000;

/// Errors an assignment request can fail with, written for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignError {
    #[error(
        "a swarm needs at least one worker; got 0 workers (scale the StatefulSet to 1 or more)"
    )]
    NoWorkers,
    #[error(
        "{dedicated} dedicated streams need {dedicated} workers of their own but the pool has only {workers}: scale the pool to at least {needed} or dedicate fewer streams"
    )]
    TooManyDedicated {
        dedicated: usize,
        workers: u32,
        needed: u32,
    },
    #[error(
        "{workers} workers is more than the {MAX_WORKERS} swarmdeck plans for; nothing was planned (scale the StatefulSet to {MAX_WORKERS} or fewer)"
    )]
    TooManyWorkers { workers: u32 },
    #[error(
        "{streams} streams is more than the {MAX_STREAMS} swarmdeck plans for; nothing was planned (split the jobs list over several swarms)"
    )]
    TooManyStreams { streams: usize },
}

/// What the operator asked for beyond "spread evenly".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Streams that get a worker of their own (taken from the lowest ordinals,
    /// in name order).
    #[serde(default)]
    pub dedicated: BTreeSet<String>,
}

/// The jobs of one worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerJobs {
    pub ordinal: u32,
    /// Sorted by name.
    pub jobs: Vec<String>,
    /// True when this worker holds a dedicated stream.
    pub dedicated: bool,
}

/// Every worker's sorted job list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub workers: Vec<WorkerJobs>,
}

impl Assignment {
    pub fn worker_count(&self) -> u32 {
        self.workers.len() as u32
    }

    pub fn job_count(&self) -> usize {
        self.workers.iter().map(|w| w.jobs.len()).sum()
    }

    /// Which worker holds each job.
    pub fn owners(&self) -> BTreeMap<&str, u32> {
        let mut owners = BTreeMap::new();
        for w in &self.workers {
            for j in &w.jobs {
                owners.insert(j.as_str(), w.ordinal);
            }
        }
        owners
    }

    /// max − min job count among workers without a dedicated stream.
    pub fn spread(&self) -> usize {
        let counts = self
            .workers
            .iter()
            .filter(|w| !w.dedicated)
            .map(|w| w.jobs.len());
        let max = counts.clone().max().unwrap_or(0);
        let min = counts.min().unwrap_or(0);
        max - min
    }
}

/// Assign `jobs` (any order, duplicates ignored) to workers `0..workers`.
pub fn assign<I, S>(jobs: I, workers: u32, policy: &Policy) -> Result<Assignment, AssignError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    if workers == 0 {
        return Err(AssignError::NoWorkers);
    }
    if workers > MAX_WORKERS {
        return Err(AssignError::TooManyWorkers { workers });
    }
    let all: BTreeSet<String> = jobs.into_iter().map(|j| j.as_ref().to_owned()).collect();
    if all.len() > MAX_STREAMS {
        return Err(AssignError::TooManyStreams { streams: all.len() });
    }
    let dedicated: Vec<&String> = all
        .iter()
        .filter(|j| policy.dedicated.contains(*j))
        .collect();
    let shared: Vec<&String> = all
        .iter()
        .filter(|j| !policy.dedicated.contains(*j))
        .collect();
    let d = dedicated.len() as u32;
    if d > workers || (d == workers && !shared.is_empty()) {
        let needed = d + u32::from(!shared.is_empty());
        return Err(AssignError::TooManyDedicated {
            dedicated: dedicated.len(),
            workers,
            needed,
        });
    }

    let mut out: Vec<WorkerJobs> = (0..workers)
        .map(|ordinal| WorkerJobs {
            ordinal,
            jobs: Vec::new(),
            dedicated: ordinal < d,
        })
        .collect();
    for (i, job) in dedicated.iter().enumerate() {
        out[i].jobs.push((*job).to_owned());
    }
    let pool = workers - d;
    let keys: Vec<u64> = shared.iter().map(|j| stable_hash(j)).collect();
    for (idx, bucket) in balanced_buckets(&keys, pool).into_iter().enumerate() {
        out[(d + bucket) as usize].jobs.push(shared[idx].to_owned());
    }
    // `shared` was sorted, so every job list already is.
    Ok(Assignment { workers: out })
}

/// Assign `jobs` to workers `0..workers` starting from `previous` (the
/// current `swarm-worker-config` of StatefulSet `statefulset`): every job
/// stays where it is unless balance requires it to move, and then only the
/// minimum moves. Capacities are `floor(S/k)` or `ceil(S/k)`, the larger ones
/// going to the workers that hold the most already; each worker keeps the
/// previous jobs that fit its capacity (those with the highest affinity for
/// it); the others — jobs beyond a capacity, of a removed worker, new, or
/// listed twice — fill the free places, each from its jump-hash home onward.
/// So scaling n → n±1 moves exactly the lower bound, and one added or removed
/// job moves at most one other. Deterministic for a given (previous, set of
/// jobs, workers, policy); with nothing usable in `previous` it is `assign`.
pub fn assign_from<I, S>(
    previous: &WorkerConfig,
    statefulset: &str,
    jobs: I,
    workers: u32,
    policy: &Policy,
) -> Result<Assignment, AssignError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let all: BTreeSet<String> = jobs.into_iter().map(|j| j.as_ref().to_owned()).collect();
    // The canonical function checks the policy and places dedicated streams.
    let canonical = assign(&all, workers, policy)?;
    let d = canonical.workers.iter().filter(|w| w.dedicated).count() as u32;
    let pool = workers - d;
    let shared: Vec<&String> = all
        .iter()
        .filter(|j| !policy.dedicated.contains(*j))
        .collect();
    let wanted: BTreeSet<&str> = shared.iter().map(|j| j.as_str()).collect();
    // What each pool worker held, each job counted once (a job listed twice
    // stays with the lowest ordinal; the other copy is released).
    let mut held: Vec<Vec<&str>> = vec![Vec::new(); pool as usize];
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for i in 0..pool {
        if let Some(entry) = previous.workloads.get(&worker_name(statefulset, d + i)) {
            let mut mine: Vec<&str> = entry
                .jobs
                .iter()
                .map(String::as_str)
                .filter(|j| wanted.contains(j) && seen.insert(j))
                .collect();
            mine.sort_unstable();
            held[i as usize] = mine;
        }
    }
    if held.iter().all(Vec::is_empty) || pool == 0 {
        return Ok(canonical);
    }
    let total = shared.len();
    let k = pool as usize;
    let (q, r) = (total / k, total % k);
    let mut by_holding: Vec<usize> = (0..k).collect();
    by_holding.sort_by_key(|&w| (std::cmp::Reverse(held[w].len()), w));
    let mut capacity = vec![q; k];
    for &w in &by_holding[..r] {
        capacity[w] += 1;
    }
    let mut out: Vec<Vec<String>> = vec![Vec::new(); k];
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    for w in 0..k {
        let mut mine = held[w].clone();
        if mine.len() > capacity[w] {
            let score = |j: &&str| std::cmp::Reverse(affinity(stable_hash(j), w as u32));
            mine.sort_by_key(score);
            mine.truncate(capacity[w]);
        }
        for j in mine {
            placed.insert(j);
            out[w].push(j.to_owned());
        }
    }
    let mut free: Vec<(u64, &str)> = shared
        .iter()
        .map(|j| j.as_str())
        .filter(|j| !placed.contains(j))
        .map(|j| (stable_hash(j), j))
        .collect();
    free.sort_unstable();
    let mut open: BTreeSet<usize> = (0..k).filter(|&w| out[w].len() < capacity[w]).collect();
    for (key, job) in free {
        let home = jump(key, pool) as usize;
        let Some(w) = open
            .range(home..)
            .next()
            .or_else(|| open.iter().next())
            .copied()
        else {
            break; // Cannot happen: capacities add up to the job count.
        };
        out[w].push(job.to_owned());
        if out[w].len() == capacity[w] {
            open.remove(&w);
        }
    }
    let mut result = canonical;
    for (i, mut jobs) in out.into_iter().enumerate() {
        jobs.sort_unstable();
        result.workers[d as usize + i].jobs = jobs;
    }
    Ok(result)
}

/// The core: a bucket in `0..k` for every key, with bucket sizes differing by at
/// most one. Works on indices so that it allocates no strings.
fn balanced_buckets(keys: &[u64], k: u32) -> Vec<u32> {
    let s = keys.len();
    if s == 0 || k == 0 {
        return vec![0; s];
    }
    let ku = k as usize;
    let home: Vec<u32> = keys.iter().map(|&key| jump(key, k)).collect();
    let mut homes: Vec<Vec<u32>> = vec![Vec::new(); ku];
    for (i, &h) in home.iter().enumerate() {
        homes[h as usize].push(i as u32);
    }

    // Capacities: q each, and one more for the r most demanded workers.
    let (q, r) = (s / ku, s % ku);
    let mut by_demand: Vec<u32> = (0..k).collect();
    by_demand.sort_by_key(|&w| (std::cmp::Reverse(homes[w as usize].len()), w));
    let mut capacity = vec![q; ku];
    for &w in &by_demand[..r] {
        capacity[w as usize] = q + 1;
    }

    // Over-full workers keep their best-attached home jobs.
    let mut bucket = home;
    let mut shed: Vec<u32> = Vec::new();
    let mut room = vec![0usize; ku];
    for w in 0..ku {
        let list = &mut homes[w];
        let cap = capacity[w];
        if list.len() > cap {
            let score = |i: &u32| std::cmp::Reverse(affinity(keys[*i as usize], w as u32));
            list.select_nth_unstable_by_key(cap, score);
            shed.extend_from_slice(&list[cap..]);
        } else {
            room[w] = cap - list.len();
        }
    }
    if shed.is_empty() {
        return bucket;
    }

    // Stable matching of shed jobs to free slots, affinity on both sides
    // (equivalently: best remaining job-worker pair first). Jobs propose in
    // falling affinity; a worker keeps its best `room` proposers.
    let open: Vec<u32> = (0..k).filter(|&w| room[w as usize] > 0).collect();
    let mut held: Vec<std::collections::BinaryHeap<std::cmp::Reverse<(u64, u32)>>> =
        vec![std::collections::BinaryHeap::new(); ku];
    // The affinity each job last proposed with; it next proposes below it.
    let mut last: Vec<u64> = vec![u64::MAX; shed.len()];
    let mut queue: Vec<u32> = (0..shed.len() as u32).collect();
    while let Some(slot) = queue.pop() {
        let key = keys[shed[slot as usize] as usize];
        let bound = last[slot as usize];
        let best = open
            .iter()
            .map(|&w| (affinity(key, w), w))
            .filter(|(a, _)| *a < bound)
            .max();
        let Some((score, w)) = best else {
            // Cannot happen: there are exactly as many free slots as shed jobs.
            continue;
        };
        last[slot as usize] = score;
        let heap = &mut held[w as usize];
        heap.push(std::cmp::Reverse((score, slot)));
        if heap.len() > room[w as usize]
            && let Some(std::cmp::Reverse((_, rejected))) = heap.pop()
        {
            queue.push(rejected);
        }
    }
    for (w, heap) in held.into_iter().enumerate() {
        for std::cmp::Reverse((_, slot)) in heap {
            bucket[shed[slot as usize] as usize] = w as u32;
        }
    }
    bucket
}

/// One job changing owner between two assignments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    pub job: String,
    /// None: the job is new.
    pub from: Option<u32>,
    /// None: the job was removed.
    pub to: Option<u32>,
}

/// A worker whose job set changes, with the version it will carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerChange {
    pub ordinal: u32,
    pub version: u64,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// What going from one assignment to another means for the swarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub moves: Vec<Move>,
    /// Only these workers need a refresh.
    pub changed: Vec<WorkerChange>,
    /// Workers that exist before but not after (scale-down).
    pub removed_workers: Vec<u32>,
    pub global_version: u64,
    pub config: WorkerConfig,
}

impl Plan {
    /// Jobs that existed before and after but changed owner.
    pub fn relocated(&self) -> usize {
        self.moves
            .iter()
            .filter(|m| m.from.is_some() && m.to.is_some())
            .count()
    }
}

/// Diff `before` (as currently written in `current`, if any) against `after`.
/// Versions: the global one increments; a worker's increments when its job set
/// changes and is carried over otherwise.
pub fn plan(current: &WorkerConfig, after: &Assignment, statefulset: &str) -> Plan {
    let before = current.to_assignment(statefulset);
    let old_owner = before.owners();
    let new_owner = after.owners();
    let mut moves = Vec::new();
    for (job, to) in &new_owner {
        match old_owner.get(job) {
            Some(from) if from == to => {}
            from => moves.push(Move {
                job: (*job).to_owned(),
                from: from.copied(),
                to: Some(*to),
            }),
        }
    }
    for (job, from) in &old_owner {
        if !new_owner.contains_key(job) {
            moves.push(Move {
                job: (*job).to_owned(),
                from: Some(*from),
                to: None,
            });
        }
    }
    moves.sort_by(|a, b| a.job.cmp(&b.job));

    let mut changed = Vec::new();
    let mut workloads = BTreeMap::new();
    for w in &after.workers {
        let name = worker_name(statefulset, w.ordinal);
        let prev = current.workloads.get(&name);
        let prev_jobs: BTreeSet<&str> = prev
            .map(|p| p.jobs.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let now: BTreeSet<&str> = w.jobs.iter().map(String::as_str).collect();
        let version = match prev {
            Some(p) if prev_jobs == now => p.version,
            Some(p) => p.version + 1,
            None => 1,
        };
        if prev.is_none() || prev_jobs != now {
            changed.push(WorkerChange {
                ordinal: w.ordinal,
                version,
                added: now
                    .difference(&prev_jobs)
                    .map(|s| (*s).to_owned())
                    .collect(),
                removed: prev_jobs
                    .difference(&now)
                    .map(|s| (*s).to_owned())
                    .collect(),
            });
        }
        workloads.insert(
            name,
            WorkerEntry {
                jobs: w.jobs.clone(),
                version,
            },
        );
    }
    let removed_workers = current
        .workloads
        .keys()
        .filter(|name| !workloads.contains_key(*name))
        .filter_map(|name| ordinal_of(statefulset, name))
        .collect();
    let global_version = current.version + 1;
    Plan {
        moves,
        changed,
        removed_workers,
        global_version,
        config: WorkerConfig {
            version: global_version,
            workloads,
        },
    }
}

pub fn worker_name(statefulset: &str, ordinal: u32) -> String {
    format!("{statefulset}-{ordinal}")
}

fn ordinal_of(statefulset: &str, name: &str) -> Option<u32> {
    name.strip_prefix(statefulset)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

/// One worker's entry in `swarm-worker-config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerEntry {
    #[serde(default)]
    pub jobs: Vec<String>,
    #[serde(default)]
    pub version: u64,
}

/// The `config.yml` key of ConfigMap `swarm-worker-config` (ARCHITECTURE 3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub workloads: BTreeMap<String, WorkerEntry>,
}

impl WorkerConfig {
    /// Parse `config.yml`; the error names the line and column.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_yaml::from_str(text).map_err(|e| super::manifest::describe_yaml_error(&e))
    }

    /// Canonical bytes: workers by ordinal (not by string order, so that
    /// `-10` follows `-9`), jobs by name. Same assignment, same bytes.
    pub fn to_yaml(&self) -> String {
        let mut names: Vec<&String> = self.workloads.keys().collect();
        names.sort_by_key(|n| worker_sort_key(n));
        let mut out = format!("version: {}\nworkloads:", self.version);
        if names.is_empty() {
            out.push_str(" {}\n");
            return out;
        }
        out.push('\n');
        for name in names {
            let entry = &self.workloads[name];
            let mut jobs = entry.jobs.clone();
            jobs.sort();
            out.push_str(&format!("  {}:\n    jobs:", yaml_scalar(name)));
            if jobs.is_empty() {
                out.push_str(" []\n");
            } else {
                out.push('\n');
                for j in jobs {
                    out.push_str(&format!("    - {}\n", yaml_scalar(&j)));
                }
            }
            out.push_str(&format!("    version: {}\n", entry.version));
        }
        out
    }

    /// The assignment this config describes, for workers of `statefulset`
    /// (entries of other names are ignored; missing ordinals are empty).
    pub fn to_assignment(&self, statefulset: &str) -> Assignment {
        let mut by_ordinal: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for (name, entry) in &self.workloads {
            if let Some(o) = ordinal_of(statefulset, name) {
                let mut jobs = entry.jobs.clone();
                jobs.sort();
                by_ordinal.insert(o, jobs);
            }
        }
        let n = by_ordinal.keys().next_back().map_or(0, |m| m + 1);
        Assignment {
            workers: (0..n)
                .map(|ordinal| WorkerJobs {
                    ordinal,
                    jobs: by_ordinal.remove(&ordinal).unwrap_or_default(),
                    dedicated: false,
                })
                .collect(),
        }
    }

    /// Jobs listed under more than one worker, and how often.
    pub fn duplicated_jobs(&self) -> BTreeMap<String, usize> {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for entry in self.workloads.values() {
            for j in &entry.jobs {
                *seen.entry(j.clone()).or_default() += 1;
            }
        }
        seen.retain(|_, n| *n > 1);
        seen
    }
}

fn worker_sort_key(name: &str) -> (String, u64, String) {
    match name.rsplit_once('-') {
        Some((prefix, ord)) if ord.parse::<u64>().is_ok() => {
            (prefix.to_owned(), ord.parse().unwrap_or(0), String::new())
        }
        _ => (name.to_owned(), 0, name.to_owned()),
    }
}

/// A YAML scalar that reads back as the same string.
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '/'))
        && !s.ends_with(':')
        && !s.contains(": ")
        && !s.starts_with(['-', ':'])
        && serde_yaml::from_str::<serde_yaml::Value>(s)
            .map(|v| v.as_str() == Some(s))
            .unwrap_or(false);
    if plain {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

/// Parse a jobs file: one job per line (`#` comments and blank lines skipped),
/// or a `config.yml` with a `jobs:` list (the `swarm-controller-config` format).
pub fn parse_jobs(text: &str) -> Result<Vec<String>, String> {
    let looks_yaml = text
        .lines()
        .map(str::trim_start)
        .any(|l| l.starts_with("jobs:"));
    if looks_yaml {
        #[derive(Deserialize)]
        struct JobsFile {
            jobs: Option<Vec<serde_yaml::Value>>,
        }
        let parsed: JobsFile =
            serde_yaml::from_str(text).map_err(|e| super::manifest::describe_yaml_error(&e))?;
        let mut jobs = Vec::new();
        for (i, v) in parsed.jobs.unwrap_or_default().into_iter().enumerate() {
            match v {
                serde_yaml::Value::String(s) => jobs.push(s),
                serde_yaml::Value::Number(n) => jobs.push(n.to_string()),
                other => {
                    return Err(format!(
                        "jobs[{i}] is {} but every job must be a string such as `stream:name`",
                        value_kind(&other)
                    ));
                }
            }
        }
        return Ok(jobs);
    }
    let mut jobs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.contains(char::is_whitespace) || line.starts_with('-') || line.ends_with(':') {
            return Err(format!(
                "line {}: `{line}` is not a job name; write one job per line (e.g. `stream:a`) or a YAML file with a `jobs:` list",
                n + 1
            ));
        }
        jobs.push(line.to_owned());
    }
    Ok(jobs)
}

fn value_kind(v: &serde_yaml::Value) -> &'static str {
    match v {
        serde_yaml::Value::Null => "empty",
        serde_yaml::Value::Bool(_) => "a boolean",
        serde_yaml::Value::Number(_) => "a number",
        serde_yaml::Value::String(_) => "a string",
        serde_yaml::Value::Sequence(_) => "a list",
        serde_yaml::Value::Mapping(_) => "a mapping",
        serde_yaml::Value::Tagged(_) => "a tagged value",
    }
}

/// Movement when the pool changes size, against the lower bound.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Movement {
    pub moved: usize,
    pub lower_bound: usize,
}

impl Movement {
    pub fn ratio(&self) -> f64 {
        if self.lower_bound == 0 {
            if self.moved == 0 { 1.0 } else { f64::INFINITY }
        } else {
            self.moved as f64 / self.lower_bound as f64
        }
    }
}

impl fmt::Display for Movement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} jobs moved, lower bound {}, ratio {:.3}",
            self.moved,
            self.lower_bound,
            self.ratio()
        )
    }
}

/// Jobs moved between two assignments of the same jobs.
pub fn moved_between(a: &Assignment, b: &Assignment) -> usize {
    let ob = b.owners();
    a.owners()
        .into_iter()
        .filter(|(j, w)| ob.get(j).is_some_and(|x| x != w))
        .count()
}

/// Movement for a change of pool size `from -> to` (shared jobs only). The lower
/// bound is `floor(S/to)` growing by one, the removed worker's jobs shrinking by
/// one, and in general the jobs that must leave or enter the changed workers.
pub fn movement_on_scale(a: &Assignment, b: &Assignment) -> Movement {
    let moved = moved_between(a, b);
    let (small, big) = if a.worker_count() <= b.worker_count() {
        (a, b)
    } else {
        (b, a)
    };
    let lower_bound = if a.worker_count() < b.worker_count() {
        let s = b.job_count();
        let added = (b.worker_count() - a.worker_count()) as usize;
        added * (s / b.workers.len())
    } else {
        big.workers[small.workers.len()..]
            .iter()
            .map(|w| w.jobs.len())
            .sum()
    };
    Movement { moved, lower_bound }
}

/// Jobs other than `changed` that move when one job is added or removed.
pub fn others_moved(a: &Assignment, b: &Assignment, changed: &str) -> usize {
    let ob = b.owners();
    a.owners()
        .into_iter()
        .filter(|(j, w)| *j != changed && ob.get(j).is_some_and(|x| x != w))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("stream:{i:04}")).collect()
    }

    #[test]
    fn every_job_once_and_balanced() {
        let a = assign(jobs(31), 4, &Policy::default()).unwrap();
        assert_eq!(a.job_count(), 31);
        assert_eq!(a.owners().len(), 31);
        assert!(a.spread() <= 1);
        for w in &a.workers {
            let mut sorted = w.jobs.clone();
            sorted.sort();
            assert_eq!(sorted, w.jobs);
        }
    }

    #[test]
    fn zero_workers_is_an_error() {
        assert_eq!(
            assign(jobs(3), 0, &Policy::default()),
            Err(AssignError::NoWorkers)
        );
    }

    #[test]
    fn dedicated_streams_get_their_own_worker() {
        let policy = Policy {
            dedicated: ["stream:0003".to_owned(), "stream:0001".to_owned()].into(),
        };
        let a = assign(jobs(10), 4, &policy).unwrap();
        assert_eq!(a.workers[0].jobs, vec!["stream:0001"]);
        assert_eq!(a.workers[1].jobs, vec!["stream:0003"]);
        assert!(a.workers[0].dedicated && a.workers[1].dedicated);
        assert_eq!(a.workers[2].jobs.len() + a.workers[3].jobs.len(), 8);
        let err = assign(jobs(10), 2, &policy).unwrap_err();
        assert_eq!(
            err.to_string(),
            "2 dedicated streams need 2 workers of their own but the pool has only 2: scale the pool to at least 3 or dedicate fewer streams"
        );
    }

    #[test]
    fn config_bytes_are_canonical_and_ordinal_sorted() {
        let a = assign(jobs(12), 11, &Policy::default()).unwrap();
        let p = plan(&WorkerConfig::default(), &a, "swarm-worker");
        let text = p.config.to_yaml();
        let nine = text.find("swarm-worker-9:").unwrap();
        let ten = text.find("swarm-worker-10:").unwrap();
        assert!(nine < ten, "{text}");
        let back = WorkerConfig::parse(&text).unwrap();
        assert_eq!(back, p.config);
        assert_eq!(back.to_yaml(), text);
        assert_eq!(back.to_assignment("swarm-worker"), a);
    }

    #[test]
    fn plan_versions_only_changed_workers() {
        let a = assign(jobs(30), 2, &Policy::default()).unwrap();
        let first = plan(&WorkerConfig::default(), &a, "swarm-worker");
        assert_eq!(first.global_version, 1);
        assert_eq!(first.changed.len(), 2);
        let b = assign(jobs(30), 3, &Policy::default()).unwrap();
        let second = plan(&first.config, &b, "swarm-worker");
        assert_eq!(second.global_version, 2);
        assert_eq!(second.relocated(), moved_between(&a, &b));
        for w in &second.changed {
            let entry = &second.config.workloads[&worker_name("swarm-worker", w.ordinal)];
            assert_eq!(entry.version, w.version);
        }
        let unchanged = plan(&second.config, &b, "swarm-worker");
        assert!(unchanged.changed.is_empty());
        assert!(unchanged.moves.is_empty());
        let down = plan(&second.config, &a, "swarm-worker");
        assert_eq!(down.removed_workers, vec![2]);
    }

    #[test]
    fn jobs_file_formats() {
        assert_eq!(
            parse_jobs("# c\nstream:a\n\nstream:b\n").unwrap(),
            ["stream:a", "stream:b"]
        );
        assert_eq!(
            parse_jobs("jobs:\n  - stream:a\n  - stream:b\n").unwrap(),
            ["stream:a", "stream:b"]
        );
        let err = parse_jobs("stream a\n").unwrap_err();
        assert!(err.starts_with("line 1:"), "{err}");
        let err = parse_jobs("jobs:\n  - {a: 1}\n").unwrap_err();
        assert!(err.contains("jobs[0] is a mapping"), "{err}");
    }

    #[test]
    fn odd_job_names_round_trip() {
        let names = [
            "stream:a", "yes", "1", "a b", "x: y", "-dash", "#hash", "ünï",
        ];
        let a = assign(names, 3, &Policy::default()).unwrap();
        let p = plan(&WorkerConfig::default(), &a, "w");
        let back = WorkerConfig::parse(&p.config.to_yaml()).unwrap();
        assert_eq!(back, p.config);
    }
}
