//! The assignment grid (ARCHITECTURE 7): one block per worker with its pod state,
//! version and convergence, and its streams as compact cells; a summary that
//! shows unassigned or duplicated streams in red; and, before a scale or a
//! rebalance, the engine's plan drawn in place (streams arriving and leaving,
//! workers that will refresh). Derived from the watch stores only.

use std::collections::{BTreeMap, BTreeSet};

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::cluster::metrics::Usage;
use crate::domain::assignment::{MAX_WORKERS, Policy, worker_name};
use crate::domain::handoff::{HandoffMode, HandoffState, Phase};
use crate::domain::quantity;
use crate::domain::swarm::{SwarmRef, WorkerPod};
use crate::engine::swarm::{SwarmInputs, desired_state, handoff_phases, statefulset_of};
use crate::ui::data::{Extra, Severity, Stores};

/// A plan to preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviewOf {
    Scale(u32),
    Rebalance,
}

impl std::fmt::Display for PreviewOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PreviewOf::Scale(n) => write!(f, "scale to {n}"),
            PreviewOf::Rebalance => f.write_str("rebalance"),
        }
    }
}

/// One worker as the grid shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkerLine {
    pub name: String,
    pub state: String,
    pub severity: Severity,
    pub jobs: Vec<String>,
    pub version: u64,
    pub reported: Option<u64>,
    pub converged: bool,
    /// Written a new job set, refresh not yet confirmed.
    pub refreshing: bool,
    /// Beyond the replica count: goes away with the next write.
    pub retiring: bool,
    /// In a preview: streams this worker gains, and those it gives up (to whom).
    pub gains: BTreeSet<String>,
    pub loses: BTreeMap<String, String>,
    pub will_refresh: bool,
    /// What its pod uses (metrics.k8s.io), when the cluster says.
    pub usage: Option<Usage>,
}

/// A previewed plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub of: PreviewOf,
    pub moves: usize,
    pub refresh: Vec<String>,
    pub version: u64,
    /// The writes of the handoff, one summary each.
    pub phases: Vec<String>,
    /// Why there is no plan (too few workers for the dedicated streams ...).
    pub error: Option<String>,
}

/// Everything the grid draws.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridData {
    pub swarm: SwarmRef,
    pub replicas: u32,
    pub jobs: usize,
    pub jobs_error: Option<String>,
    pub version: u64,
    pub workers: Vec<WorkerLine>,
    pub dedicated: BTreeSet<String>,
    pub unassigned: Vec<String>,
    /// Released, waiting for their grant.
    pub handing_off: usize,
    pub duplicated: Vec<String>,
    pub rebalance_requested: bool,
    /// The swarm's handoff mode (or why its annotation is not understood).
    pub handoff: Result<HandoffMode, String>,
    /// The handoff under way, as the output ConfigMap records it.
    pub in_handoff: Option<HandoffState>,
    pub scale_requested: Option<u32>,
    pub preview: Option<Preview>,
    /// Width of one stream cell: the longest stream name and its mark.
    pub cell_width: usize,
}

impl GridData {
    /// (fewest, most) streams on a worker without a dedicated stream.
    pub fn balance(&self) -> (usize, usize) {
        let counts: Vec<usize> = self
            .workers
            .iter()
            .filter(|w| !w.retiring && w.state != "new")
            .filter(|w| !w.jobs.iter().any(|j| self.dedicated.contains(j)))
            .map(|w| w.jobs.len())
            .collect();
        (
            counts.iter().copied().min().unwrap_or(0),
            counts.iter().copied().max().unwrap_or(0),
        )
    }

    pub fn converged(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| !w.retiring && w.converged)
            .count()
    }

    /// The load behind the streams: (least, most, total) CPU in millicores
    /// over the workers that run, when the cluster serves metrics.
    pub fn load(&self) -> Option<(u64, u64, u64)> {
        let cpu: Vec<u64> = self
            .workers
            .iter()
            .filter(|w| !w.retiring)
            .filter_map(|w| w.usage.map(|u| u.cpu_m))
            .collect();
        Some((*cpu.iter().min()?, *cpu.iter().max()?, cpu.iter().sum()))
    }

    /// The first worker (index) holding a stream that matches.
    pub fn find(&self, re: &regex::Regex) -> Option<usize> {
        self.workers
            .iter()
            .position(|w| w.jobs.iter().any(|j| re.is_match(j)))
    }
}

/// The swarms the stores know: the seed swarm if its StatefulSet exists, and
/// every swarm named by a jobs ConfigMap.
pub fn swarms(stores: &Stores) -> Vec<SwarmRef> {
    let mut out = Vec::new();
    for row in stores.cms.read().rows.values() {
        if let Extra::Jobs(info) = &row.extra
            && let Some(s) = &info.swarm
        {
            let sts_exists = stores
                .sts
                .read()
                .rows
                .contains_key(&(s.namespace.clone(), statefulset_of(s)));
            if sts_exists && !out.iter().any(|o: &SwarmRef| o.name == s.name) {
                out.push(s.clone());
            }
        }
    }
    out
}

/// The swarm whose workers a StatefulSet row runs, if any.
pub fn swarm_of_sts(stores: &Stores, namespace: &str, name: &str) -> Option<SwarmRef> {
    swarms(stores)
        .into_iter()
        .find(|s| s.namespace == namespace && statefulset_of(s) == name)
}

/// What the grid of `swarm` is derived from, as the identities of the rows
/// (a store replaces a row's Arc only when the object changed): the grid is
/// derived again only when this moves, not on every change in the cluster.
pub fn fingerprint(stores: &Stores, swarm: &SwarmRef) -> Vec<usize> {
    let ns = swarm.namespace.clone();
    let sts = statefulset_of(swarm);
    let ptr = |r: Option<&std::sync::Arc<crate::ui::data::Row>>| {
        r.map_or(0, |r| std::sync::Arc::as_ptr(r) as usize)
    };
    let mut out = Vec::new();
    let sts_rows = stores.sts.read();
    let sts_row = sts_rows.rows.get(&(ns.clone(), sts.clone()));
    out.push(ptr(sts_row));
    let replicas = sts_row.map_or(0, |r| match r.extra {
        Extra::StatefulSet { replicas } => (replicas.max(0) as usize).min(MAX_WORKERS as usize),
        _ => 0,
    });
    drop(sts_rows);
    let cms = stores.cms.read();
    out.push(ptr(cms
        .rows
        .get(&(ns.clone(), swarm.jobs_config_map.clone()))));
    let output = cms.rows.get(&(ns.clone(), swarm.output_config_map.clone()));
    out.push(ptr(output));
    let written = output.map_or(0, |r| match &r.extra {
        Extra::WorkerConfig(cfg, _, _) => cfg.workloads.len(),
        _ => 0,
    });
    drop(cms);
    out.push(stores.metrics.read().generation as usize);
    let pods = stores.pods.read();
    for o in 0..replicas.max(written) {
        out.push(ptr(pods
            .rows
            .get(&(ns.clone(), worker_name(&sts, o as u32)))));
    }
    out
}

/// Derive the grid of `swarm` from the stores, with the plan of `preview`.
pub fn grid_data(stores: &Stores, swarm: &SwarmRef, preview: Option<PreviewOf>) -> GridData {
    let ns = swarm.namespace.clone();
    let sts = statefulset_of(swarm);
    let replicas = stores
        .sts
        .read()
        .rows
        .get(&(ns.clone(), sts.clone()))
        .and_then(|r| match r.extra {
            Extra::StatefulSet { replicas } => Some(replicas.max(0) as u32),
            _ => None,
        })
        .unwrap_or(0);
    // A replica count from the cluster is judged before it sizes the grid.
    let too_many = (replicas > MAX_WORKERS).then(|| {
        format!(
            "StatefulSet {ns}/{sts} has spec.replicas {replicas}, more than the {MAX_WORKERS} workers swarmdeck plans for: the first {MAX_WORKERS} are shown and nothing is planned"
        )
    });
    let replicas = replicas.min(MAX_WORKERS);
    let (handoff, scale_requested) = match stores
        .cms
        .read()
        .rows
        .get(&(ns.clone(), swarm.jobs_config_map.clone()))
        .map(|r| &r.extra)
    {
        Some(Extra::Jobs(info)) => (info.handoff.clone(), info.scale_requested),
        _ => (Ok(HandoffMode::Strict), None),
    };
    let (jobs, jobs_error, dedicated, rebalance_requested) = {
        let cms = stores.cms.read();
        match cms
            .rows
            .get(&(ns.clone(), swarm.jobs_config_map.clone()))
            .map(|r| &r.extra)
        {
            Some(Extra::Jobs(info)) => match &info.jobs {
                Ok(j) => (
                    std::sync::Arc::clone(j),
                    None,
                    info.dedicated.iter().cloned().collect::<BTreeSet<_>>(),
                    info.rebalance_requested,
                ),
                Err(e) => (
                    std::sync::Arc::new(Vec::new()),
                    Some(format!(
                        "ConfigMap {ns}/{} does not parse: {e}",
                        swarm.jobs_config_map
                    )),
                    BTreeSet::new(),
                    info.rebalance_requested,
                ),
            },
            _ => (
                std::sync::Arc::new(Vec::new()),
                Some(format!(
                    "no jobs ConfigMap {ns}/{} (key config.yml)",
                    swarm.jobs_config_map
                )),
                BTreeSet::new(),
                false,
            ),
        }
    };
    let (config, pending, in_handoff) = stores
        .cms
        .read()
        .rows
        .get(&(ns.clone(), swarm.output_config_map.clone()))
        .and_then(|r| match &r.extra {
            Extra::WorkerConfig(cfg, pending, state) => {
                Some(((**cfg).clone(), pending.clone(), state.as_deref().cloned()))
            }
            _ => None,
        })
        .unwrap_or_default();
    // Workers asked for and not started yet are not leaving.
    let wanted = scale_requested.unwrap_or(replicas).max(replicas);
    let pods = stores.pods.read();
    let metrics = stores.metrics.read();
    let mut names: Vec<String> = (0..replicas).map(|o| worker_name(&sts, o)).collect();
    let mut extra: Vec<String> = config
        .workloads
        .keys()
        .filter(|w| !names.contains(w))
        .cloned()
        .collect();
    extra.sort_by_key(|w| ordinal_of(w));
    names.extend(extra);
    let mut workers: Vec<WorkerLine> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let pod = pods.rows.get(&(ns.clone(), name.clone()));
            let (state, severity, facts) = match pod {
                Some(p) => {
                    let facts = match &p.extra {
                        Extra::Pod {
                            config_version,
                            ready,
                            uid,
                            ..
                        } => Some(WorkerPod {
                            uid: Some(uid.as_str()),
                            ready: *ready,
                            reported: *config_version,
                        }),
                        _ => None,
                    };
                    let state = match p.cells.get(1) {
                        Some(crate::ui::data::Cell::Text(t)) => t.clone(),
                        _ => String::new(),
                    };
                    (state, p.severity, facts)
                }
                // Granted its streams before the StatefulSet starts it.
                None if (i as u32) < wanted => ("new".to_owned(), Severity::Pending, None),
                None => ("Missing".to_owned(), Severity::Warn, None),
            };
            let w =
                crate::domain::swarm::worker_state(name, &config, &pending, swarm.refresh, facts);
            let refreshing = pending.contains(name);
            WorkerLine {
                name: name.clone(),
                state,
                severity,
                jobs: w.jobs,
                version: w.version,
                reported: w.reported,
                converged: w.converged,
                refreshing,
                retiring: i as u32 >= wanted,
                usage: metrics.pods.get(&(ns.clone(), name.clone())).copied(),
                ..Default::default()
            }
        })
        .collect();
    drop(pods);
    drop(metrics);
    // One pass over the assignment: how often each stream is assigned.
    let mut count: std::collections::HashMap<&str, u32> =
        std::collections::HashMap::with_capacity(jobs.len());
    for j in config.workloads.values().flat_map(|w| &w.jobs) {
        *count.entry(j.as_str()).or_default() += 1;
    }
    // Released streams waiting for their grant are in handoff, not lost.
    let in_flight: BTreeSet<&str> = in_handoff
        .iter()
        .flat_map(|s| s.waiting().map(|f| f.stream.as_str()))
        .collect();
    let unassigned: Vec<String> = jobs
        .iter()
        .filter(|j| !count.contains_key(j.as_str()) && !in_flight.contains(j.as_str()))
        .cloned()
        .collect();
    let handing_off = jobs
        .iter()
        .filter(|j| !count.contains_key(j.as_str()) && in_flight.contains(j.as_str()))
        .count();
    let mut duplicated: Vec<String> = count
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(j, _)| (*j).to_owned())
        .collect();
    duplicated.sort();
    let mode = handoff.clone().unwrap_or_default();
    let preview = preview.map(|of| {
        let n = match of {
            PreviewOf::Scale(n) => n,
            PreviewOf::Rebalance => replicas,
        };
        let mut inputs = SwarmInputs::offline(n, jobs.to_vec(), config.clone(), dedicated.clone());
        inputs.mode = mode;
        inputs.handoff = in_handoff.clone();
        if mode.grants_first(replicas, n) {
            // Granted before the StatefulSet grows, as the engine does.
            inputs.replicas = replicas;
            inputs.scale_to = Some(n);
        }
        plan_preview(swarm, &mut workers, of, &inputs, replicas)
    });
    let cell_width = workers
        .iter()
        .flat_map(|w| w.jobs.iter().chain(w.gains.iter()))
        .map(|j| j.chars().count())
        .max()
        .unwrap_or(8)
        .clamp(4, 40)
        + 2;
    GridData {
        cell_width,
        swarm: swarm.clone(),
        replicas,
        jobs: jobs.len(),
        jobs_error: too_many.or(jobs_error),
        version: config.version,
        duplicated,
        workers,
        dedicated,
        unassigned,
        handing_off,
        rebalance_requested,
        handoff,
        in_handoff,
        scale_requested,
        preview,
    }
}

fn ordinal_of(worker: &str) -> u32 {
    worker
        .rsplit('-')
        .next()
        .and_then(|o| o.parse().ok())
        .unwrap_or(u32::MAX)
}

fn plan_preview(
    swarm: &SwarmRef,
    workers: &mut Vec<WorkerLine>,
    of: PreviewOf,
    inputs: &SwarmInputs,
    running: u32,
) -> Preview {
    let replicas = inputs.wanted_replicas();
    let config = &inputs.current;
    let plan = match desired_state(swarm, inputs, &Policy::default()) {
        Ok(p) => p,
        Err(e) => {
            return Preview {
                of,
                moves: 0,
                refresh: Vec::new(),
                version: config.version,
                phases: Vec::new(),
                error: Some(e.to_string()),
            };
        }
    };
    // Leaving workers whose pod is gone are not waited for.
    let gone: BTreeSet<u32> = workers
        .iter()
        .filter(|w| w.state == "Missing")
        .map(|w| ordinal_of(&w.name))
        .filter(|o| *o >= replicas)
        .collect();
    let phases = handoff_phases(swarm, inputs, &Policy::default(), &gone)
        .unwrap_or_default()
        .iter()
        .map(|(step, p)| {
            let (starts, refresh): (Vec<String>, Vec<String>) = p
                .changed
                .iter()
                .map(|c| (c, worker_name(&statefulset_of(swarm), c.ordinal)))
                .fold((Vec::new(), Vec::new()), |(mut s, mut r), (c, w)| {
                    // A worker not started yet is given its streams, and
                    // starts with them: no refresh.
                    if c.ordinal < running {
                        r.push(w);
                    } else if !c.added.is_empty() {
                        s.push(w);
                    }
                    (s, r)
                });
            let mut text = format!(
                "{} v{}: {} streams",
                step.phase.as_str(),
                p.global_version,
                step.streams.iter().filter(|s| s.to.is_some()).count()
            );
            if step.phase == Phase::Release {
                text.push_str(" leave");
            }
            if !refresh.is_empty() {
                text.push_str(&format!(", refresh {}", refresh.join(", ")));
            }
            if !starts.is_empty() {
                text.push_str(&format!(", {} start with them", starts.join(", ")));
            }
            text
        })
        .collect();
    let sts = statefulset_of(swarm);
    for o in 0..replicas {
        let name = worker_name(&sts, o);
        if !workers.iter().any(|w| w.name == name) {
            workers.push(WorkerLine {
                name,
                state: "new".into(),
                severity: Severity::Pending,
                ..Default::default()
            });
        }
    }
    workers.sort_by_key(|w| ordinal_of(&w.name));
    for w in workers.iter_mut() {
        w.retiring = ordinal_of(&w.name) >= replicas;
    }
    let index: BTreeMap<String, usize> = workers
        .iter()
        .enumerate()
        .map(|(i, w)| (w.name.clone(), i))
        .collect();
    for mv in &plan.moves {
        let to = mv.to.map(|o| worker_name(&sts, o));
        if let Some(from) = mv.from.map(|o| worker_name(&sts, o))
            && let Some(&i) = index.get(&from)
        {
            workers[i].loses.insert(
                mv.job.clone(),
                to.clone().unwrap_or_else(|| "nobody".into()),
            );
        }
        if let Some(to) = &to
            && let Some(&i) = index.get(to)
        {
            workers[i].gains.insert(mv.job.clone());
        }
    }
    let refresh: Vec<String> = plan
        .changed
        .iter()
        .filter(|c| c.ordinal < running || inputs.scale_to.is_none())
        .map(|c| worker_name(&sts, c.ordinal))
        .collect();
    for w in workers.iter_mut() {
        w.will_refresh = refresh.contains(&w.name);
    }
    Preview {
        of,
        moves: plan.relocated(),
        refresh,
        version: plan.global_version,
        phases,
        error: None,
    }
}

/// The styles the grid draws with, by role.
pub struct GridStyles {
    pub base: Style,
    pub ok: Style,
    pub pending: Style,
    pub warn: Style,
    pub error: Style,
    pub selected: Style,
    pub matched: Style,
    pub dim: Style,
}

/// The summary line.
pub fn summary(g: &GridData, s: &GridStyles) -> Line<'static> {
    let (lo, hi) = g.balance();
    let mut spans = vec![Span::styled(
        format!(
            " {} jobs · {} workers ({} converged) · balance {lo}–{hi} · version {} ",
            g.jobs,
            g.replicas,
            g.converged(),
            g.version
        ),
        s.base,
    )];
    let bad = |n: usize| if n == 0 { s.ok } else { s.error };
    spans.push(Span::styled(
        format!("· unassigned {} ", g.unassigned.len()),
        bad(g.unassigned.len()),
    ));
    spans.push(Span::styled(
        format!("· duplicated {} ", g.duplicated.len()),
        bad(g.duplicated.len()),
    ));
    if g.handing_off > 0 {
        spans.push(Span::styled(
            format!("· in handoff {} ", g.handing_off),
            s.pending,
        ));
    }
    match &g.handoff {
        Ok(mode) => spans.push(Span::styled(
            format!("· handoff {} ", mode.as_str()),
            s.base,
        )),
        Err(_) => spans.push(Span::styled(
            "· handoff strict (annotation not understood) ",
            s.warn,
        )),
    }
    if let Some((lo, hi, total)) = g.load() {
        // Balanced by count is not balanced by load: the most loaded worker
        // at twice the least (and past a floor) is worth a look.
        let style = if hi > 2 * lo && hi > lo + 100 {
            s.warn
        } else {
            s.base
        };
        spans.push(Span::styled(
            format!(
                "· load {}–{} (total {}) ",
                quantity::show_millicores(lo),
                quantity::show_millicores(hi),
                quantity::show_millicores(total)
            ),
            style,
        ));
    }
    if g.rebalance_requested {
        spans.push(Span::styled("· rebalance requested ", s.pending));
    }
    Line::from(spans)
}

/// Why the swarm cannot be planned (its jobs do not parse, its replica
/// count is past the limit): a line of its own, under the summary, so that
/// a narrow terminal still shows it.
pub fn problem_line(g: &GridData, s: &GridStyles) -> Option<Line<'static>> {
    g.jobs_error
        .as_ref()
        .map(|e| Line::from(Span::styled(e.clone(), s.error)))
}

/// The handoff under way (phase, for how long, each stream from → to), a
/// scale waiting for its grant, streams listed twice: nothing when all is
/// quiet.
pub fn handoff_lines(g: &GridData, s: &GridStyles, now_ms: i64) -> Vec<Line<'static>> {
    let duplicated: BTreeMap<String, usize> = g.duplicated.iter().map(|d| (d.clone(), 2)).collect();
    if g.in_handoff.is_none() && g.scale_requested.is_none() && duplicated.is_empty() {
        return Vec::new();
    }
    let lines = crate::domain::handoff::summary_lines(
        g.handoff.clone().unwrap_or_default(),
        g.in_handoff.as_ref(),
        g.scale_requested,
        &duplicated,
        now_ms,
    );
    // At most a handful of streams: the grid below shows the rest.
    const SHOWN: usize = 5;
    let streams = lines.iter().filter(|l| l.starts_with("  ")).count();
    let mut lines: Vec<String> = lines;
    if streams > SHOWN {
        let mut seen = 0;
        lines.retain(|l| {
            if !l.starts_with("  ") {
                return true;
            }
            seen += 1;
            seen <= SHOWN
        });
        let at = lines
            .iter()
            .rposition(|l| l.starts_with("  "))
            .map_or(lines.len(), |i| i + 1);
        lines.insert(at, format!("  … and {} more", streams - SHOWN));
    }
    let mut out: Vec<Line<'static>> = lines
        .into_iter()
        .filter(|l| !l.ends_with("no stream in handoff"))
        .map(|l| {
            let style = if l.contains("listed twice") {
                s.error
            } else {
                s.pending
            };
            Line::from(Span::styled(format!(" {l} "), style))
        })
        .collect();
    if let Err(e) = &g.handoff {
        out.push(Line::from(Span::styled(format!(" {e} "), s.warn)));
    }
    out
}

/// The preview lines, when a plan is shown.
pub fn preview_lines(g: &GridData, s: &GridStyles) -> Vec<Line<'static>> {
    let Some(p) = g.preview.as_ref() else {
        return Vec::new();
    };
    match &p.error {
        Some(e) => vec![Line::from(Span::styled(
            format!(" {}: {e} ", p.of),
            s.error,
        ))],
        None => vec![Line::from(Span::styled(
            format!(
                " plan ({}): version {} → {}, {} streams move, refresh {} ",
                p.of,
                g.version,
                p.version,
                p.moves,
                if p.refresh.is_empty() {
                    "none".to_owned()
                } else {
                    p.refresh.join(", ")
                }
            ),
            s.pending,
        ))]
        .into_iter()
        .chain(
            p.phases
                .iter()
                .enumerate()
                .map(|(i, ph)| Line::from(Span::styled(format!("   {}. {ph} ", i + 1), s.pending))),
        )
        .chain(std::iter::once(Line::from(Span::styled(
            " y = apply through the engine, any other key = cancel ",
            s.warn,
        ))))
        .collect(),
    }
}

/// Lines of one worker's block at `width` columns.
pub fn worker_lines(
    g: &GridData,
    w: &WorkerLine,
    selected: bool,
    search: Option<&regex::Regex>,
    width: usize,
    s: &GridStyles,
) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let reported = w.reported.map_or("-".to_owned(), |r| r.to_string());
    let status = if w.retiring {
        ("retiring", s.warn)
    } else if w.will_refresh {
        ("will refresh", s.pending)
    } else if w.converged {
        ("converged", s.ok)
    } else if w.refreshing {
        ("refreshing", s.pending)
    } else {
        ("not converged", s.warn)
    };
    let state_style = match w.severity {
        Severity::Ok => s.ok,
        Severity::Error => s.error,
        Severity::Warn => s.warn,
        Severity::Pending => s.pending,
        Severity::Normal => s.base,
    };
    let head_style = if selected { s.selected } else { s.base };
    let gained = w.gains.len();
    let count = if g.preview.is_some() {
        format!(
            "{:>4} jobs {:+}",
            w.jobs.len(),
            gained as i64 - w.loses.len() as i64
        )
    } else {
        format!("{:>4} jobs", w.jobs.len())
    };
    out.push(Line::from(vec![
        Span::styled(
            format!("{}{:<20}", if selected { "▶ " } else { "  " }, w.name),
            head_style,
        ),
        Span::styled(format!(" {:<14}", truncate(&w.state, 14)), state_style),
        Span::styled(format!(" {count}"), head_style),
        Span::styled(
            w.usage.map_or_else(String::new, |u| {
                format!(
                    "  cpu {:>5} mem {:>6}",
                    quantity::show_millicores(u.cpu_m),
                    quantity::show_bytes(u.memory)
                )
            }),
            head_style,
        ),
        Span::styled(
            format!("  v{} (reports {reported})  ", w.version),
            head_style,
        ),
        Span::styled(status.0.to_owned(), status.1),
    ]));
    // Cells: the current streams (leaving ones marked), then arriving ones.
    let cell_width = g.cell_width;
    let per_line = (width.saturating_sub(4) / (cell_width + 1)).max(1);
    let mut cells: Vec<Span<'static>> = Vec::new();
    for j in &w.jobs {
        let mark = if g.dedicated.contains(j) { "*" } else { " " };
        let (prefix, style) = if w.loses.contains_key(j) {
            ("-", s.error)
        } else {
            (mark, s.base)
        };
        let style = if search.is_some_and(|re| re.is_match(j)) {
            s.matched
        } else {
            style
        };
        cells.push(Span::styled(
            format!("{prefix}{:<width$}", j, width = cell_width - 1),
            style,
        ));
    }
    for j in &w.gains {
        let style = if search.is_some_and(|re| re.is_match(j)) {
            s.matched
        } else {
            s.ok
        };
        cells.push(Span::styled(
            format!("+{:<width$}", j, width = cell_width - 1),
            style,
        ));
    }
    for chunk in cells.chunks(per_line) {
        let mut spans = vec![Span::raw("    ")];
        for c in chunk {
            spans.push(c.clone());
            spans.push(Span::raw(" "));
        }
        out.push(Line::from(spans));
    }
    if !w.loses.is_empty() {
        let mut moves: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (j, to) in &w.loses {
            moves.entry(to.as_str()).or_default().push(j.as_str());
        }
        for (to, js) in moves {
            out.push(Line::from(Span::styled(
                format!("    {} → {to}", js.join(", ")),
                s.dim,
            )));
        }
    }
    out
}

/// How many lines a worker's block takes at `width` (without building it).
pub fn worker_height(g: &GridData, w: &WorkerLine, width: usize) -> usize {
    let cell_width = g.cell_width;
    let per_line = (width.saturating_sub(4) / (cell_width + 1)).max(1);
    let cells = w.jobs.len() + w.gains.len();
    let targets: BTreeSet<&String> = w.loses.values().collect();
    1 + cells.div_ceil(per_line) + targets.len()
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
