//! The assignment grid of one swarm: its state, its keys (move between
//! workers, find a stream, scale and rebalance with the plan drawn first,
//! logs) and its view.

/// The grid's model: workers, cells and the previewed plan, derived from the stores.
pub mod model;

use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::domain::rbac::Attributes;
use crate::domain::swarm::SwarmRef;
use crate::ui::grid::{GridData, PreviewOf, fingerprint};
use crate::ui::keymap::Action;
use crate::ui::model::*;
use crate::ui::views::block;

/// The assignment grid of one swarm.
#[derive(Debug, Clone)]
pub struct GridState {
    pub swarm: SwarmRef,
    pub selected: usize,
    pub preview: Option<PreviewOf>,
    pub data: Option<Arc<GridData>>,
    /// Store generations last looked at, and what the data was derived from.
    pub(crate) generations: Option<(u64, u64, u64, u64)>,
    pub(crate) key: Option<(Vec<usize>, Option<PreviewOf>)>,
}

impl GridState {
    pub fn new(swarm: SwarmRef) -> Self {
        Self {
            swarm,
            selected: 0,
            preview: None,
            data: None,
            generations: None,
            key: None,
        }
    }
}

pub(crate) fn open_grid(model: &mut Model, swarm: SwarmRef) -> Vec<Effect> {
    let effects = super::logs::close_all(model);
    model.stack.retain(|s| !matches!(s, Screen::Grid(_)));
    model.stack.push(Screen::Grid(GridState::new(swarm)));
    model.filter = None;
    refresh(model);
    effects
}

/// `L` in the grid: the logs of whichever worker owns the stream found
/// with `/` (following it when it moves).
pub(crate) fn open_stream_logs(model: &mut Model) -> Vec<Effect> {
    let Some((swarm, data)) = grid_data(model) else {
        return Vec::new();
    };
    let Some(re) = model.filter.as_ref().and_then(|(_, re)| re.clone()) else {
        model.say_error("find a stream with / first: L follows the stream found");
        return Vec::new();
    };
    let selected = match model.screen() {
        Screen::Grid(g) => g.selected,
        _ => 0,
    };
    let stream = data
        .workers
        .get(selected)
        .and_then(|w| w.jobs.iter().find(|j| re.is_match(j)))
        .or_else(|| {
            data.workers
                .iter()
                .flat_map(|w| w.jobs.iter())
                .find(|j| re.is_match(j))
        })
        .cloned();
    match stream {
        Some(stream) => super::logs::open(model, super::logs::LogSource::Stream(swarm, stream)),
        None => {
            model.say_error("no stream matches the search: / finds one");
            Vec::new()
        }
    }
}

/// A question about the grid's previewed plan was answered: the preview
/// goes (the plan runs, or nothing changes).
pub(crate) fn end_preview(model: &mut Model) {
    if let Some(Screen::Grid(g)) = model.stack.last_mut() {
        g.preview = None;
    }
}

pub(crate) fn grid_data(model: &Model) -> Option<(SwarmRef, Arc<GridData>)> {
    match model.screen() {
        Screen::Grid(g) => Some((g.swarm.clone(), g.data.clone()?)),
        _ => None,
    }
}

/// The highest replica count the console asks for without a second thought.
pub const MAX_REPLICAS: u32 = 500;

/// Parse a replica count as typed in the prompt ([`crate::domain::swarm::parse_replicas`],
/// worded for the prompt's line).
pub fn parse_replicas(input: &str) -> Result<u32, String> {
    use crate::domain::swarm::BadReplicas;
    crate::domain::swarm::parse_replicas(input, MAX_REPLICAS).map_err(|e| match e {
        BadReplicas::Empty => "type a number of workers".to_owned(),
        BadReplicas::NotANumber(t) => format!("`{t}` is not a whole number of workers"),
        BadReplicas::Zero => "0 would leave the jobs unassigned: at least 1".to_owned(),
        BadReplicas::AboveCeiling { wanted, ceiling } => {
            format!("{wanted} is above the ceiling of {ceiling} (swarmdeck scale --max-replicas)")
        }
    })
}

/// Re-derive the grid on top of the stack when its inputs moved (its stores
/// or its preview). Once per frame, and when a preview is asked for.
pub(crate) fn refresh(model: &mut Model) {
    let generations = (
        model.stores.sts.read().generation,
        model.stores.cms.read().generation,
        model.stores.pods.read().generation,
        model.stores.metrics.read().generation,
    );
    let stores = model.stores.clone();
    if let Some(Screen::Grid(g)) = model.stack.last_mut() {
        let preview = g.key.as_ref().and_then(|k| k.1);
        if g.generations == Some(generations) && g.data.is_some() && preview == g.preview {
            return;
        }
        g.generations = Some(generations);
        let key = (fingerprint(&stores, &g.swarm), g.preview);
        if g.key.as_ref() != Some(&key) || g.data.is_none() {
            let data = crate::ui::grid::grid_data(&stores, &g.swarm, g.preview);
            if g.selected >= data.workers.len() {
                g.selected = data.workers.len().saturating_sub(1);
            }
            g.data = Some(Arc::new(data));
            g.key = Some(key);
        }
    }
}

/// Show the plan of scaling to `n` in the grid and ask to confirm.
pub(crate) fn preview_scale(
    model: &mut Model,
    swarm: SwarmRef,
    current: u32,
    n: u32,
) -> Vec<Effect> {
    if let Some(Screen::Grid(g)) = model.stack.last_mut() {
        g.preview = Some(PreviewOf::Scale(n));
    }
    refresh(model);
    let Some((_, data)) = grid_data(model) else {
        return Vec::new();
    };
    if let Some(err) = data.preview.as_ref().and_then(|p| p.error.clone()) {
        if let Some(Screen::Grid(g)) = model.stack.last_mut() {
            g.preview = None;
        }
        model.say(format!("cannot scale to {n}: {err}"), MessageKind::Error);
        return Vec::new();
    }
    let sts = crate::engine::swarm::statefulset_of(&swarm);
    model.confirm = Some(Confirm {
        question: format!("Scale {}/{sts} from {current} to {n}?", swarm.namespace),
        then: Then::Effects {
            effects: vec![Effect::Scale { swarm, replicas: n }],
            doing: format!("scaling {sts} to {n}: the engine re-plans and refreshes ..."),
        },
        inline: true,
    });
    Vec::new()
}

/// What scaling and rebalancing ask of the server: the StatefulSet's scale,
/// the jobs ConfigMap's annotations.
pub(crate) fn required(g: &GridState, action: Action) -> Option<Attributes> {
    let ns = &g.swarm.namespace;
    match action {
        Action::Scale => Some(Attributes::new(
            "patch",
            "apps",
            "statefulsets",
            Some("scale"),
            ns,
        )),
        Action::Rebalance => Some(Attributes::new("patch", "", "configmaps", None, ns)),
        _ => None,
    }
}

pub(crate) fn apply_grid(model: &mut Model, action: Action) -> Vec<Effect> {
    let Some((swarm, data)) = grid_data(model) else {
        return Vec::new();
    };
    let workers = data.workers.len();
    let select = |model: &mut Model, f: &dyn Fn(usize) -> usize| {
        if let Some(Screen::Grid(g)) = model.stack.last_mut() {
            g.selected = f(g.selected).min(workers.saturating_sub(1));
        }
    };
    match action {
        Action::Down => select(model, &|s| s + 1),
        Action::Up => select(model, &|s| s.saturating_sub(1)),
        Action::PageDown => select(model, &|s| s + 10),
        Action::PageUp => select(model, &|s| s.saturating_sub(10)),
        Action::GoTop => select(model, &|_| 0),
        Action::GoBottom => select(model, &|_| usize::MAX),
        Action::Filter => crate::ui::overlay::filter::start_filter(model),
        Action::Logs => return open_logs(model),
        Action::StreamLogs => return open_stream_logs(model),
        Action::NextMatch => {
            let Some(re) = model.filter.as_ref().and_then(|(_, re)| re.clone()) else {
                model.say("find a stream first with /", MessageKind::Info);
                return Vec::new();
            };
            let current = match model.screen() {
                Screen::Grid(g) => g.selected,
                _ => 0,
            };
            let next = (1..=workers)
                .map(|d| (current + d) % workers.max(1))
                .find(|&i| data.workers[i].jobs.iter().any(|j| re.is_match(j)));
            match next {
                Some(i) => select(model, &|_| i),
                None => model.say("no other worker holds a matching stream", MessageKind::Info),
            }
        }
        Action::Scale => {
            model.prompt = Some(Prompt {
                label: format!("Workers (now {}, Enter plans, Esc cancels):", data.replicas),
                input: String::new(),
                error: None,
                purpose: PromptFor::Replicas {
                    swarm,
                    current: data.replicas,
                },
            });
        }
        Action::Rebalance => {
            if let Some(Screen::Grid(g)) = model.stack.last_mut() {
                g.preview = Some(PreviewOf::Rebalance);
            }
            refresh(model);
            model.confirm = Some(Confirm {
                question: format!("Rebalance swarm {}?", swarm.name),
                then: Then::Effects {
                    effects: vec![Effect::Rebalance(swarm.clone())],
                    doing: format!(
                        "rebalance of {} requested: the engine re-plans ...",
                        swarm.name
                    ),
                },
                inline: true,
            });
        }
        Action::Back if model.filter.is_some() => model.filter = None,
        other => return screen_action(model, other),
    }
    Vec::new()
}

pub(crate) fn grid_styles(model: &Model) -> crate::ui::grid::GridStyles {
    let t = &model.theme;
    crate::ui::grid::GridStyles {
        base: t.style("status"),
        ok: t.style("status.ok"),
        pending: t.style("status.pending"),
        warn: t.style("status.warn"),
        error: t.style("status.error"),
        selected: t.style("table.selected"),
        matched: t.style("filter.match"),
        dim: t.style("footer"),
    }
}

pub(crate) fn render_grid(model: &Model, g: &GridState, f: &mut Frame, area: Rect) {
    // Each worker's usage is drawn: read it.
    model.stores.metrics.want();
    let t = &model.theme;
    let title = Line::from(vec![
        Span::styled(
            format!(" grid {} ({}) ", g.swarm.name, g.swarm.namespace),
            t.style("title"),
        ),
        Span::styled(
            format!(
                "jobs {} → {} ",
                g.swarm.jobs_config_map, g.swarm.output_config_map
            ),
            t.style("footer"),
        ),
    ]);
    let b = block(model, title);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let Some(data) = &g.data else {
        return;
    };
    let styles = grid_styles(model);
    let mut lines = vec![crate::ui::grid::summary(data, &styles)];
    lines.extend(crate::ui::grid::problem_line(data, &styles));
    lines.extend(crate::ui::grid::handoff_lines(data, &styles, model.now_ms));
    lines.extend(crate::ui::grid::preview_lines(data, &styles));
    if let Some(engine) = model
        .engine
        .as_ref()
        .and_then(|e| e.namespaces.get(&g.swarm.namespace))
        .and_then(|n| n.swarms.get(&g.swarm.name))
        && let Some(w) = &engine.refreshing
    {
        lines.push(Line::from(Span::styled(
            format!(" engine: refreshing {w} ..."),
            styles.pending,
        )));
    }
    let head = lines.len();
    let room = (inner.height as usize).saturating_sub(head);
    let width = inner.width as usize;
    let search = model.filter.as_ref().and_then(|(_, re)| re.as_ref());
    // Start early enough that the selected worker's block is on screen.
    let selected = g.selected.min(data.workers.len().saturating_sub(1));
    let mut first = selected;
    let mut used = data
        .workers
        .get(selected)
        .map_or(0, |w| crate::ui::grid::worker_height(data, w, width));
    while first > 0 {
        let h = crate::ui::grid::worker_height(data, &data.workers[first - 1], width);
        if used + h > room {
            break;
        }
        used += h;
        first -= 1;
    }
    let mut last = first;
    for (i, w) in data.workers.iter().enumerate().skip(first) {
        if lines.len() >= inner.height as usize {
            break;
        }
        last = i;
        lines.extend(crate::ui::grid::worker_lines(
            data,
            w,
            i == selected,
            search,
            width,
            &styles,
        ));
    }
    let height = inner.height as usize;
    if (lines.len() > height || last + 1 < data.workers.len()) && height > head + 1 {
        // Say what is cut off rather than cutting it silently.
        let more = data.workers.len().saturating_sub(last + 1);
        lines.truncate(height - 1);
        lines.push(Line::from(Span::styled(
            format!(
                "    … the rest of {} and {more} more workers below (j/k select, / finds a stream)",
                data.workers[last].name
            ),
            styles.dim,
        )));
    }
    lines.truncate(height);
    f.render_widget(Paragraph::new(lines), inner);
}
