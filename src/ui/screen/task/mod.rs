//! A Task's state machine: its keys (targets, recovery, edit, logs) and its
//! view (the OCC or FairMQ graph, the planned path, the history).

/// The state machines drawn: the OCC graph and the FairMQ chain.
pub mod graph;

use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::domain::rbac::Attributes;
use crate::ui::data::{Row, ViewKind};
use crate::ui::keymap::Action;
use crate::ui::model::*;
use crate::ui::views::block;

/// The state machine view of one Task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskScreen {
    pub namespace: String,
    pub name: String,
}

/// What recording a target state asks of the server.
pub(crate) fn required(t: &TaskScreen, action: Action) -> Option<Attributes> {
    matches!(
        action,
        Action::SetStandby | Action::SetConfigured | Action::SetRunning | Action::Recover
    )
    .then(|| Attributes::new("patch", "aliecs.alice.cern", "tasks", None, &t.namespace))
}

/// The Task row of a task screen, from the store.
pub fn task_row(model: &Model, t: &TaskScreen) -> Option<Arc<Row>> {
    model
        .stores
        .tasks
        .read()
        .rows
        .get(&(t.namespace.clone(), t.name.clone()))
        .cloned()
}

pub(crate) fn apply_task(model: &mut Model, action: Action) -> Vec<Effect> {
    let Screen::Task(t) = model.screen().clone() else {
        return Vec::new();
    };
    if action == Action::Logs {
        return open_logs(model);
    }
    use crate::domain::task::OccState;
    let target = match action {
        Action::SetStandby => Some((OccState::Standby, false)),
        Action::SetConfigured => Some((OccState::Configured, false)),
        Action::SetRunning => Some((OccState::Running, false)),
        Action::Recover => {
            let row = task_row(model, &t);
            let target = row
                .as_ref()
                .and_then(|r| r.cells.get(3))
                .map(|c| c.show(0))
                .and_then(|s| s.parse::<OccState>().ok())
                .filter(|s| *s == OccState::Running || *s == OccState::Configured)
                .unwrap_or(OccState::Standby);
            Some((target, true))
        }
        _ => None,
    };
    if let Some((state, recover)) = target {
        let what = format!("Task {}/{}", t.namespace, t.name);
        let question = if recover {
            format!("Recover {what} (RECOVER to standby) and step on to {state}? y = yes")
        } else {
            format!("Set the target of {what} to {state}? y = yes, any other key = no")
        };
        model.confirm = Some(Confirm {
            question,
            then: Then::Effects {
                effects: vec![Effect::SetTarget {
                    namespace: t.namespace.clone(),
                    name: t.name.clone(),
                    state,
                    recover,
                }],
                doing: format!("target {state} recorded on {what}: the engine steps it ..."),
            },
            inline: false,
        });
        return Vec::new();
    }
    match action {
        Action::Edit => vec![Effect::EditFetch {
            api: ViewKind::Tasks.api_kind().expect("tasks have an API"),
            namespace: t.namespace,
            name: t.name,
        }],
        other => screen_action(model, other),
    }
}

pub(crate) fn render_task(model: &Model, ts: &TaskScreen, f: &mut Frame, area: Rect) {
    use crate::domain::task::OccState;
    use crate::ui::machine::{MachineStyles, Marks, fairmq_graph, occ_graph};
    let t = &model.theme;
    let row = task_row(model, ts);
    let cell = |i: usize| {
        row.as_ref()
            .and_then(|r| r.cells.get(i))
            .map(|c| c.show(model.now_ms))
            .unwrap_or_default()
    };
    let (mode, desired, actual, target, condition) = (cell(0), cell(1), cell(2), cell(3), cell(4));
    let b = block(
        model,
        Line::from(vec![
            Span::styled(
                format!(" task {}/{} ", ts.namespace, ts.name),
                t.style("title"),
            ),
            Span::styled(format!("mode {mode} "), t.style("footer")),
        ]),
    );
    let inner = b.inner(area);
    f.render_widget(b, area);
    if row.is_none() {
        f.render_widget(
            Paragraph::new(format!("Task {}/{} is gone.", ts.namespace, ts.name))
                .style(t.style("message.error")),
            inner,
        );
        return;
    }
    let marks = Marks {
        actual: actual.parse::<OccState>().ok(),
        desired: desired.parse::<OccState>().ok(),
        target: target.parse::<OccState>().ok(),
    };
    let styles = MachineStyles {
        base: t.style("status"),
        dim: t.style("footer"),
        actual: t
            .style("status.ok")
            .add_modifier(ratatui::style::Modifier::BOLD),
        error: t.style("status.error"),
        path: t
            .style("status.pending")
            .add_modifier(ratatui::style::Modifier::BOLD),
        target: t.style("title"),
    };
    let occ = occ_graph(&marks, &styles, model.ascii);
    let fairmq = mode == "fairmq";
    let [graphs, rest] =
        Layout::vertical([Constraint::Length(16), Constraint::Min(3)]).areas(inner);
    if fairmq && graphs.width >= 108 {
        let [left, right] =
            Layout::horizontal([Constraint::Length(80), Constraint::Min(26)]).areas(graphs);
        f.render_widget(Paragraph::new(occ), left);
        let mut fl = vec![Line::from(Span::styled("FairMQ device", t.style("title")))];
        fl.extend(fairmq_graph(&marks, &styles, model.ascii));
        f.render_widget(Paragraph::new(fl), right);
    } else {
        let mut lines = occ;
        if fairmq {
            let dev = marks
                .actual
                .map(|a| a.fairmq().as_str().to_owned())
                .unwrap_or_else(|| "unknown".into());
            lines.push(Line::from(Span::styled(
                format!("FairMQ device: {dev} (widen the terminal for its graph)"),
                t.style("footer"),
            )));
        }
        f.render_widget(Paragraph::new(lines), graphs);
    }
    // Status, the engine's word on it, and the history from Events.
    let mut lines: Vec<Line> = Vec::new();
    let engine = model
        .engine
        .as_ref()
        .and_then(|e| e.namespaces.get(&ts.namespace))
        .and_then(|n| n.tasks.get(&ts.name));
    if actual == "error" {
        lines.push(Line::from(Span::styled(
            format!("error: {condition}"),
            t.style("status.error"),
        )));
        lines.push(Line::from(Span::styled(
            "recovery: RECOVER to standby, then step up again — press the recover key (x)",
            t.style("status.warn"),
        )));
    } else if !condition.is_empty() {
        lines.push(Line::from(Span::styled(
            condition.clone(),
            t.style("status"),
        )));
    }
    if let Some(e) = engine {
        if !e.path.is_empty() {
            lines.push(Line::from(Span::styled(
                format!("planned: {}", e.path.join(", ")),
                t.style("status.pending"),
            )));
        }
        if let Some(last) = &e.last {
            lines.push(Line::from(Span::styled(
                format!("engine: {last}"),
                t.style(if e.failed { "status.error" } else { "status" }),
            )));
        }
    }
    lines.push(Line::from(Span::styled("History", t.style("title"))));
    let object = format!("task/{}", ts.name);
    let events = model.stores.events.read();
    let mut history: Vec<(i64, String, String, bool)> = events
        .rows
        .values()
        .filter(|r| r.namespace == ts.namespace)
        .filter(|r| matches!(r.cells.get(3), Some(crate::ui::data::Cell::Text(o)) if *o == object))
        .map(|r| {
            let at = match r.cells.first() {
                Some(crate::ui::data::Cell::Age(Some(t))) => *t,
                _ => 0,
            };
            let text = |i: usize| r.cells.get(i).map(|c| c.show(0)).unwrap_or_default();
            (
                at,
                text(2),
                text(4),
                r.severity == crate::ui::data::Severity::Warn,
            )
        })
        .collect();
    drop(events);
    history.sort_by_key(|h| std::cmp::Reverse(h.0));
    for (at, reason, message, warn) in history
        .iter()
        .take(rest.height.saturating_sub(lines.len() as u16) as usize)
    {
        lines.push(Line::from(vec![
            Span::styled(
                format!(
                    "{:>9} ago  ",
                    crate::time::human_duration((model.now_ms - at).max(0) / 1000)
                ),
                t.style("footer"),
            ),
            Span::styled(
                format!("{reason:<20} "),
                t.style(if *warn { "status.warn" } else { "status" }),
            ),
            Span::styled(message.clone(), t.style("status")),
        ]));
    }
    if history.is_empty() {
        lines.push(Line::from(Span::styled("no events yet", t.style("footer"))));
    }
    f.render_widget(Paragraph::new(lines), rest);
}
