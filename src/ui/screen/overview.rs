//! `:overview`, the wall screen: one screen for a control room, every
//! namespace the console watches, the worst first — each swarm's
//! convergence, balance by count and by load, handoff in flight and streams
//! unassigned or duplicated; Tasks by state and those in error; pods not
//! Ready or restarting; Warning events of the last 15 minutes grouped by
//! reason and object; who leads each namespace's engine; and the trends of
//! the last 15 minutes. When a watch it reads from is down, a banner that
//! cannot be missed replaces the header (`views.rs`).
//!
//! It only looks: its keys move between swarms, Enter opens a swarm's
//! grid, every other action is refused with a word on where to act.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::domain::quantity;
use crate::domain::swarm::SwarmRef;
use crate::ui::data::{Cell, Extra, Severity, Stores};
use crate::ui::grid::{GridData, grid_data, swarms};
use crate::ui::keymap::Action;
use crate::ui::model::*;
use crate::ui::views::block;

/// How far back Warning events and trends reach.
pub const WINDOW_MS: i64 = 15 * 60_000;
/// One trend sample every this often: 90 samples for the window.
pub const SAMPLE_MS: i64 = 10_000;
const SAMPLES: usize = (WINDOW_MS / SAMPLE_MS) as usize;
/// Rows of a section past which the rest is counted, not listed.
const MOST: usize = 50;

/// The overview's state: the selected swarm and what it last derived.
#[derive(Debug, Clone, Default)]
pub struct OverviewState {
    pub selected: usize,
    pub scroll: usize,
    pub data: Option<Arc<Overview>>,
    key: Option<(u64, u64, u64, u64, u64, u64, i64)>,
}

/// One swarm's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmHealth {
    pub swarm: SwarmRef,
    pub replicas: u32,
    pub converged: usize,
    /// Streams a worker (least, most), workers with dedicated streams aside.
    pub balance: (usize, usize),
    /// CPU in millicores (least, most, total), when metrics are served.
    pub load: Option<(u64, u64, u64)>,
    /// The handoff's phase and since when (ms).
    pub handoff: Option<(String, Option<i64>)>,
    pub unassigned: usize,
    pub duplicated: usize,
    pub scale_requested: Option<u32>,
    pub rebalance_requested: bool,
    pub problem: Option<String>,
    pub severity: Severity,
}

impl SwarmHealth {
    fn of(g: &GridData) -> Self {
        let converged = g.converged();
        let severity =
            if g.jobs_error.is_some() || !g.unassigned.is_empty() || !g.duplicated.is_empty() {
                Severity::Error
            } else if converged < g.replicas as usize {
                Severity::Warn
            } else if g.in_handoff.is_some() || g.scale_requested.is_some() || g.rebalance_requested
            {
                Severity::Pending
            } else {
                Severity::Ok
            };
        SwarmHealth {
            swarm: g.swarm.clone(),
            replicas: g.replicas,
            converged,
            balance: g.balance(),
            load: g.load(),
            handoff: g.in_handoff.as_ref().map(|h| {
                (
                    h.phase.as_str().to_owned(),
                    crate::time::parse_rfc3339(&h.since),
                )
            }),
            unassigned: g.unassigned.len(),
            duplicated: g.duplicated.len(),
            scale_requested: g.scale_requested,
            rebalance_requested: g.rebalance_requested,
            problem: g.jobs_error.clone(),
            severity,
        }
    }
}

/// A Task in error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTrouble {
    pub namespace: String,
    pub name: String,
    pub error: String,
    pub since_ms: Option<i64>,
}

/// A pod not Ready, or restarting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodTrouble {
    pub namespace: String,
    pub name: String,
    pub status: String,
    pub restarts: i64,
    pub last_exit: Option<String>,
    pub severity: Severity,
}

/// Warning events of one reason about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarningGroup {
    pub reason: String,
    pub object: String,
    pub count: usize,
    pub last_ms: i64,
    pub message: String,
}

/// Everything the overview draws but the engine and the trends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overview {
    pub swarms: Vec<SwarmHealth>,
    /// Tasks by their actual state (`""`: no state yet).
    pub task_states: BTreeMap<String, usize>,
    pub task_errors: Vec<TaskTrouble>,
    pub pods: Vec<PodTrouble>,
    pub pods_total: usize,
    pub warnings: Vec<WarningGroup>,
}

fn rank(s: Severity) -> u8 {
    match s {
        Severity::Error => 0,
        Severity::Warn => 1,
        Severity::Pending => 2,
        Severity::Normal => 3,
        Severity::Ok => 4,
    }
}

/// Derive the overview from the stores at `now_ms`.
pub fn derive(stores: &Stores, now_ms: i64) -> Overview {
    let mut swarms: Vec<SwarmHealth> = swarms(stores)
        .iter()
        .map(|s| SwarmHealth::of(&grid_data(stores, s, None)))
        .collect();
    swarms.sort_by(|a, b| {
        (rank(a.severity), &a.swarm.namespace, &a.swarm.name).cmp(&(
            rank(b.severity),
            &b.swarm.namespace,
            &b.swarm.name,
        ))
    });
    let mut task_states = BTreeMap::new();
    let mut task_errors = Vec::new();
    for row in stores.tasks.read().rows.values() {
        let actual = match row.cells.get(2) {
            Some(Cell::Text(t)) => t.clone(),
            _ => String::new(),
        };
        *task_states.entry(actual.clone()).or_insert(0) += 1;
        if actual == "error" {
            let (error, since_ms) = match &row.extra {
                Extra::Task { error, since_ms } => (error.clone(), *since_ms),
                _ => (None, None),
            };
            task_errors.push(TaskTrouble {
                namespace: row.namespace.clone(),
                name: row.name.clone(),
                error: error.unwrap_or_else(|| "no error text".into()),
                since_ms,
            });
        }
    }
    // The longest in error first.
    task_errors.sort_by_key(|t| {
        (
            t.since_ms.unwrap_or(i64::MAX),
            t.namespace.clone(),
            t.name.clone(),
        )
    });
    let pods_st = stores.pods.read();
    let pods_total = pods_st.rows.len();
    let mut pods: Vec<PodTrouble> = pods_st
        .rows
        .values()
        .filter_map(|row| {
            let text = |i: usize| match row.cells.get(i) {
                Some(Cell::Text(t)) => t.clone(),
                _ => String::new(),
            };
            let restarts = match row.cells.get(3) {
                Some(Cell::Num(n)) => *n,
                _ => 0,
            };
            let (ready, last_exit) = match &row.extra {
                Extra::Pod {
                    ready, last_exit, ..
                } => (*ready, last_exit.clone()),
                _ => (false, None),
            };
            let status = text(1);
            // A pod that finished is not in trouble.
            if status == "Succeeded" || status == "Completed" {
                return None;
            }
            (!ready || restarts > 0).then(|| PodTrouble {
                namespace: row.namespace.clone(),
                name: row.name.clone(),
                status,
                restarts,
                last_exit,
                severity: if ready { Severity::Warn } else { row.severity },
            })
        })
        .collect();
    drop(pods_st);
    pods.sort_by(|a, b| {
        (rank(a.severity), -a.restarts, &a.namespace, &a.name).cmp(&(
            rank(b.severity),
            -b.restarts,
            &b.namespace,
            &b.name,
        ))
    });
    let since = now_ms - WINDOW_MS;
    let mut groups: BTreeMap<(String, String), WarningGroup> = BTreeMap::new();
    for row in stores.events.read().rows.values() {
        let last = match row.cells.first() {
            Some(Cell::Age(Some(t))) => *t,
            _ => continue,
        };
        if row.severity != Severity::Warn || last < since {
            continue;
        }
        let text = |i: usize| match row.cells.get(i) {
            Some(Cell::Text(t)) => t.clone(),
            _ => String::new(),
        };
        let (reason, object) = (text(2), format!("{}/{}", row.namespace, text(3)));
        let g = groups
            .entry((reason.clone(), object.clone()))
            .or_insert_with(|| WarningGroup {
                reason,
                object,
                count: 0,
                last_ms: last,
                message: text(4),
            });
        g.count += 1;
        if last >= g.last_ms {
            g.last_ms = last;
            g.message = text(4);
        }
    }
    let mut warnings: Vec<WarningGroup> = groups.into_values().collect();
    warnings.sort_by_key(|w| std::cmp::Reverse((w.count, w.last_ms)));
    Overview {
        swarms,
        task_states,
        task_errors,
        pods,
        pods_total,
        warnings,
    }
}

/// The trends of the last 15 minutes, one sample every [`SAMPLE_MS`],
/// bounded to the window.
#[derive(Debug, Clone, Default)]
pub struct Trends {
    pub at_ms: Option<i64>,
    /// Warning and Normal events per second.
    pub events: VecDeque<u64>,
    /// Container restarts in each sample.
    pub restarts: VecDeque<u64>,
    pub unassigned: VecDeque<u64>,
    /// Total CPU (millicores) of each swarm's workers.
    pub cpu: BTreeMap<String, VecDeque<u64>>,
    last_events: Option<u64>,
    last_restarts: Option<u64>,
}

fn push(q: &mut VecDeque<u64>, v: u64) {
    if q.len() == SAMPLES {
        q.pop_front();
    }
    q.push_back(v);
}

impl Trends {
    /// Take a sample if one is due at `now_ms`.
    pub fn sample(&mut self, stores: &Stores, overview: &Overview, now_ms: i64) {
        if self.at_ms.is_some_and(|t| now_ms - t < SAMPLE_MS) {
            return;
        }
        let elapsed = self.at_ms.map_or(SAMPLE_MS, |t| (now_ms - t).max(1));
        self.at_ms = Some(now_ms);
        // The events store's generation moves once a change: a rate of
        // events created and updated.
        let events = stores.events.read().generation;
        let restarts: u64 = stores
            .pods
            .read()
            .rows
            .values()
            .map(|r| match r.cells.get(3) {
                Some(Cell::Num(n)) => (*n).max(0) as u64,
                _ => 0,
            })
            .sum();
        let per_s = self
            .last_events
            .map_or(0, |e| events.saturating_sub(e) * 1000 / elapsed as u64);
        push(&mut self.events, per_s);
        push(
            &mut self.restarts,
            self.last_restarts.map_or(0, |r| restarts.saturating_sub(r)),
        );
        self.last_events = Some(events);
        self.last_restarts = Some(restarts);
        push(
            &mut self.unassigned,
            overview.swarms.iter().map(|s| s.unassigned as u64).sum(),
        );
        let names: Vec<String> = overview.swarms.iter().map(|s| key_of(&s.swarm)).collect();
        // Swarms that went away leave the trends.
        self.cpu.retain(|k, _| names.contains(k));
        for s in &overview.swarms {
            if let Some((_, _, total)) = s.load {
                push(self.cpu.entry(key_of(&s.swarm)).or_default(), total);
            }
        }
    }
}

fn key_of(s: &SwarmRef) -> String {
    format!("{}/{}", s.namespace, s.name)
}

/// A sparkline of `values` in at most `width` cells (the latest last).
pub fn sparkline(values: &VecDeque<u64>, width: usize, ascii: bool) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    const ASCII: [char; 8] = ['_', '.', '-', '-', '=', '=', '#', '#'];
    let bars = if ascii { ASCII } else { BARS };
    let shown: Vec<u64> = values
        .iter()
        .skip(values.len().saturating_sub(width))
        .copied()
        .collect();
    let max = shown.iter().copied().max().unwrap_or(0).max(1);
    shown
        .iter()
        .map(|v| bars[((v * 7).div_ceil(max)).min(7) as usize])
        .collect()
}

/// Re-derive the overview on top of the stack when a store moved (and at
/// least every ten seconds, for the ages and the Warning window); sample
/// the trends whichever screen is shown.
pub(crate) fn refresh(model: &mut Model) {
    let key = (
        model.stores.pods.read().generation,
        model.stores.sts.read().generation,
        model.stores.cms.read().generation,
        model.stores.tasks.read().generation,
        model.stores.events.read().generation,
        model.stores.metrics.read().generation,
        model.now_ms / SAMPLE_MS,
    );
    let on_screen = matches!(model.stack.last(), Some(Screen::Overview(_)));
    let due = model
        .trends
        .at_ms
        .is_none_or(|t| model.now_ms - t >= SAMPLE_MS);
    if !on_screen && !due {
        return;
    }
    let fresh = match model.stack.last() {
        Some(Screen::Overview(o)) if o.key == Some(key) => o.data.clone(),
        _ => None,
    };
    let data = fresh.unwrap_or_else(|| Arc::new(derive(&model.stores, model.now_ms)));
    let now = model.now_ms;
    let stores = model.stores.clone();
    model.trends.sample(&stores, &data, now);
    if let Some(Screen::Overview(o)) = model.stack.last_mut() {
        o.selected = o.selected.min(data.swarms.len().saturating_sub(1));
        o.data = Some(data);
        o.key = Some(key);
    }
}

/// `:overview`.
pub(crate) fn open(model: &mut Model) -> Vec<Effect> {
    let effects = super::logs::close_all(model);
    model.stack.retain(|s| !matches!(s, Screen::Overview(_)));
    model.stack.push(Screen::Overview(Box::default()));
    model.filter = None;
    refresh(model);
    effects
}

/// The overview's keys: move between swarms, Enter opens the grid, the
/// page keys scroll; what would act is refused.
pub(crate) fn apply(model: &mut Model, action: Action) -> Vec<Effect> {
    let Some(Screen::Overview(o)) = model.stack.last_mut() else {
        return Vec::new();
    };
    let swarms = o.data.as_ref().map_or(0, |d| d.swarms.len());
    match action {
        Action::Down => o.selected = (o.selected + 1).min(swarms.saturating_sub(1)),
        Action::Up => o.selected = o.selected.saturating_sub(1),
        Action::PageDown => o.scroll += 10,
        Action::PageUp => o.scroll = o.scroll.saturating_sub(10),
        Action::GoTop => {
            o.selected = 0;
            o.scroll = 0;
        }
        Action::Open => {
            let pick = o
                .data
                .as_ref()
                .and_then(|d| d.swarms.get(o.selected))
                .map(|s| s.swarm.clone());
            if let Some(swarm) = pick {
                return super::grid::open_grid(model, swarm);
            }
        }
        Action::Back => super::table::back(model),
        a if a.is_mutating() || matches!(a, Action::Filter | Action::Logs | Action::Describe | Action::CopyName | Action::SortNext | Action::SortPrev | Action::SortReverse) => {
            model.say_error("the overview only looks: Enter opens a swarm's grid, :pods, :tasks and :events the rest")
        }
        other => return super::table::apply(model, other),
    }
    Vec::new()
}

fn ago(now_ms: i64, at_ms: Option<i64>) -> String {
    at_ms.map_or_else(
        || "?".to_owned(),
        |t| crate::time::human_duration(((now_ms - t).max(0)) / 1000),
    )
}

struct Styles {
    base: Style,
    ok: Style,
    warn: Style,
    error: Style,
    pending: Style,
    title: Style,
    dim: Style,
    selected: Style,
}

impl Styles {
    fn of(model: &Model) -> Self {
        let t = &model.theme;
        Styles {
            base: t.style("text"),
            ok: t.style("status.ok"),
            warn: t.style("status.warn"),
            error: t.style("status.error"),
            pending: t.style("status.pending"),
            title: t.style("title"),
            dim: t.style("footer"),
            selected: t.style("table.selected"),
        }
    }

    fn severity(&self, s: Severity) -> Style {
        match s {
            Severity::Ok => self.ok,
            Severity::Warn => self.warn,
            Severity::Error => self.error,
            Severity::Pending => self.pending,
            Severity::Normal => self.base,
        }
    }
}

/// The lines of the overview at `width` columns, the worst first in each
/// section; `wide` (a wall screen) adds detail.
pub fn lines(model: &Model, o: &OverviewState, width: usize) -> Vec<Line<'static>> {
    let s = Styles::of(model);
    let now = model.now_ms;
    let wide = width >= 120;
    let Some(d) = o.data.as_ref() else {
        return vec![Line::from(Span::styled("Reading the cluster ...", s.dim))];
    };
    let mut out: Vec<Line<'static>> = Vec::new();
    let heading = |text: String| Line::from(Span::styled(text, s.title));
    // The swarms.
    out.push(heading(format!("SWARMS ({})", d.swarms.len())));
    if d.swarms.is_empty() {
        out.push(Line::from(Span::styled(
            "  no swarm in the namespaces watched",
            s.dim,
        )));
    }
    for (i, h) in d.swarms.iter().enumerate() {
        let mark = if i == o.selected { "▶ " } else { "  " };
        let name_style = if i == o.selected { s.selected } else { s.base };
        let mut spans = vec![
            Span::styled(
                format!("{mark}{:<24}", truncate(&key_of(&h.swarm), 24)),
                name_style,
            ),
            Span::styled(
                format!(" {}/{} converged", h.converged, h.replicas),
                if h.converged < h.replicas as usize {
                    s.warn
                } else {
                    s.ok
                },
            ),
            Span::styled(format!(" · count {}–{}", h.balance.0, h.balance.1), s.base),
        ];
        if let Some((lo, hi, total)) = h.load {
            let uneven = hi > 2 * lo && hi > lo + 100;
            spans.push(Span::styled(
                format!(
                    " · load {}–{}{}",
                    quantity::show_millicores(lo),
                    quantity::show_millicores(hi),
                    if wide {
                        format!(" (total {})", quantity::show_millicores(total))
                    } else {
                        String::new()
                    }
                ),
                if uneven { s.warn } else { s.base },
            ));
        }
        if h.unassigned > 0 {
            spans.push(Span::styled(
                format!(" · {} unassigned", h.unassigned),
                s.error,
            ));
        }
        if h.duplicated > 0 {
            spans.push(Span::styled(
                format!(" · {} duplicated", h.duplicated),
                s.error,
            ));
        }
        if let Some((phase, since)) = &h.handoff {
            spans.push(Span::styled(
                format!(" · handoff {phase} for {}", ago(now, *since)),
                s.pending,
            ));
        }
        if let Some(n) = h.scale_requested {
            spans.push(Span::styled(format!(" · scale to {n} pending"), s.pending));
        }
        if h.rebalance_requested {
            spans.push(Span::styled(" · rebalance pending", s.pending));
        }
        out.push(Line::from(spans));
        if let Some(p) = &h.problem {
            out.push(Line::from(Span::styled(format!("    {p}"), s.error)));
        }
    }
    // The Tasks.
    let tasks: usize = d.task_states.values().sum();
    let mut spans = vec![Span::styled(format!("TASKS ({tasks})"), s.title)];
    for (state, n) in &d.task_states {
        let style = match state.as_str() {
            "error" => s.error,
            "running" => s.ok,
            "" => s.pending,
            _ => s.base,
        };
        let state = if state.is_empty() { "no state" } else { state };
        spans.push(Span::styled(format!("  {state} {n}"), style));
    }
    out.push(Line::from(spans));
    for t in d.task_errors.iter().take(MOST) {
        out.push(Line::from(vec![
            Span::styled(
                format!(
                    "  {}/{} error for {}: ",
                    t.namespace,
                    t.name,
                    ago(now, t.since_ms)
                ),
                s.error,
            ),
            Span::styled(t.error.clone(), s.base),
        ]));
    }
    // The pods.
    out.push(heading(format!(
        "PODS not Ready or restarting: {} of {}",
        d.pods.len(),
        d.pods_total
    )));
    let pod_rows = if wide { MOST } else { 5 };
    for p in d.pods.iter().take(pod_rows) {
        let mut text = format!("  {}/{} {}", p.namespace, p.name, p.status);
        if p.restarts > 0 {
            text.push_str(&format!(" · {} restarts", p.restarts));
        }
        if let Some(why) = &p.last_exit {
            text.push_str(&format!(" (last: {why})"));
        }
        out.push(Line::from(Span::styled(text, s.severity(p.severity))));
    }
    if d.pods.len() > pod_rows {
        out.push(Line::from(Span::styled(
            format!("  ... {} more (:pods)", d.pods.len() - pod_rows),
            s.dim,
        )));
    }
    // The Warning events.
    let count: usize = d.warnings.iter().map(|w| w.count).sum();
    out.push(heading(format!("WARNINGS in 15m: {count}")));
    let warn_rows = if wide { MOST } else { 4 };
    for w in d.warnings.iter().take(warn_rows) {
        let mut spans = vec![Span::styled(
            format!(
                "  {}×{} {} ({} ago)",
                w.count,
                w.reason,
                w.object,
                ago(now, Some(w.last_ms))
            ),
            s.warn,
        )];
        if wide {
            spans.push(Span::styled(format!("  {}", w.message), s.dim));
        }
        out.push(Line::from(spans));
    }
    if d.warnings.len() > warn_rows {
        out.push(Line::from(Span::styled(
            format!(
                "  ... {} more (:events, 5 for Warnings only)",
                d.warnings.len() - warn_rows
            ),
            s.dim,
        )));
    }
    // The engine.
    let mut spans = vec![Span::styled("ENGINE", s.title)];
    match &model.engine {
        Some(e) if !e.namespaces.is_empty() => {
            for (ns, n) in &e.namespaces {
                let who = match (&n.leader, n.leader_since_ms) {
                    (Some(l), Some(t)) => format!("{l} for {}", ago(now, Some(t))),
                    (Some(l), None) => l.clone(),
                    (None, _) => "nobody".into(),
                };
                let style = if n.lease_error.is_some() || n.error.is_some() {
                    s.warn
                } else {
                    s.base
                };
                spans.push(Span::styled(
                    format!("  {ns}: {} (leads: {who})", n.role),
                    style,
                ));
            }
        }
        _ => spans.push(Span::styled("  not running in this console", s.dim)),
    }
    if model.header.read_only {
        spans.push(Span::styled("  · read-only", s.warn));
    }
    if let Some(badge) = model.stores.metrics.read().availability.badge() {
        spans.push(Span::styled(format!("  · {badge}"), s.dim));
    }
    out.push(Line::from(spans));
    // The trends.
    let t = &model.trends;
    let spark_w = width.saturating_sub(36).clamp(8, SAMPLES);
    out.push(heading("TRENDS 15m".to_owned()));
    let trend = |label: String, q: &VecDeque<u64>, style: Style| {
        let last = q.back().copied().unwrap_or(0);
        Line::from(vec![
            Span::styled(format!("  {label:<24}"), s.base),
            Span::styled(sparkline(q, spark_w, model.ascii), style),
            Span::styled(format!(" {last}"), s.base),
        ])
    };
    out.push(trend("events/s".into(), &t.events, s.base));
    out.push(trend("restarts".into(), &t.restarts, s.warn));
    out.push(trend("unassigned".into(), &t.unassigned, s.error));
    for (name, q) in &t.cpu {
        out.push(trend(format!("cpu {}", truncate(name, 20)), q, s.ok));
    }
    out
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

pub(crate) fn render(model: &Model, o: &OverviewState, f: &mut Frame, area: Rect) {
    // The swarms' load is drawn: read it.
    model.stores.metrics.want();
    let b = block(
        model,
        Line::from(Span::styled(
            " Overview (all namespaces watched) ",
            model.theme.style("title"),
        )),
    );
    let inner = b.inner(area);
    f.render_widget(b, area);
    let all = lines(model, o, inner.width as usize);
    let start = o.scroll.min(all.len().saturating_sub(1));
    let shown: Vec<Line<'static>> = all.into_iter().skip(start).collect();
    // A narrow terminal wraps a long line rather than cutting it off.
    f.render_widget(
        Paragraph::new(shown).wrap(ratatui::widgets::Wrap { trim: false }),
        inner,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_scales_to_its_highest_and_keeps_the_latest() {
        let q: VecDeque<u64> = [0, 1, 2, 4, 8].into_iter().collect();
        assert_eq!(sparkline(&q, 10, false), "▁▂▃▅█");
        assert_eq!(sparkline(&q, 3, true), "-=#");
        let mut t = VecDeque::new();
        for i in 0..200 {
            push(&mut t, i);
        }
        assert_eq!(t.len(), SAMPLES);
        assert_eq!(t.back(), Some(&199));
    }
}
