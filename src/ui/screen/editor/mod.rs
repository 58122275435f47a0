//! The manifest editor's keys (apply, dry run, diff, expansion, delete) and
//! its view; the buffer and its validation live in `ui::editor`.

/// The editor's model: the buffer, validation, expansion, diff.
pub mod buffer;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::ui::editor::{EditorState, Pane};
use crate::ui::keymap::Action;
use crate::ui::model::*;
use crate::ui::views::block;

pub(crate) fn apply_editor(model: &mut Model, action: Action) -> Vec<Effect> {
    if action == Action::Palette {
        model.palette = Some(Palette::default());
        return Vec::new();
    }
    let Some(Screen::Editor(e)) = model.stack.last_mut() else {
        return Vec::new();
    };
    match action {
        Action::Back => {
            if e.modified() {
                model.confirm = Some(Confirm {
                    question: "Close the editor and lose your changes? y = discard, any other key = keep editing".into(),
                    then: Then::DiscardEditor,
                    inline: false,
                });
            } else {
                model.stack.pop();
                model.invalidate();
            }
            Vec::new()
        }
        Action::Expand => {
            e.pane = if e.pane == Pane::Expanded {
                Pane::None
            } else {
                Pane::Expanded
            };
            Vec::new()
        }
        Action::Apply | Action::DryRun | Action::Diff | Action::DeleteUnit => {
            e.validate();
            if let Some(p) = &e.problem {
                let at = match (p.line, p.column) {
                    (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
                    (Some(l), None) => format!(" (line {l})"),
                    _ => String::new(),
                };
                let at = if p.message.contains("line ") {
                    String::new()
                } else {
                    at
                };
                let msg = format!("not sent, buffer unchanged{at}: {}", p.message);
                e.result = Some((msg.clone(), true));
                model.say(msg, MessageKind::Error);
                return Vec::new();
            }
            let text = e.text();
            let namespace = e.namespace.clone();
            let how = e.sending();
            match action {
                Action::DryRun => {
                    e.busy = true;
                    vec![Effect::ApplyUnit {
                        text,
                        namespace,
                        dry_run: true,
                        how,
                    }]
                }
                Action::Diff => {
                    e.busy = true;
                    vec![Effect::DiffUnit {
                        text,
                        namespace,
                        how,
                    }]
                }
                Action::Apply => {
                    let docs = how.documents(&text).map(|d| d.len()).unwrap_or(0);
                    ask(
                        model,
                        format!(
                            "Apply {docs} document{} as one unit? y = apply, any other key = no",
                            if docs == 1 { "" } else { "s" }
                        ),
                        vec![Effect::ApplyUnit {
                            text,
                            namespace,
                            dry_run: false,
                            how,
                        }],
                        "applying ...".into(),
                    );
                    Vec::new()
                }
                _ => {
                    let docs = how.documents(&text).map(|d| d.len()).unwrap_or(0);
                    ask(
                        model,
                        format!(
                            "Delete the {docs} object{} of this manifest? y = delete, any other key = no",
                            if docs == 1 { "" } else { "s" }
                        ),
                        vec![Effect::DeleteUnit {
                            text,
                            namespace,
                            how,
                        }],
                        "deleting ...".into(),
                    );
                    Vec::new()
                }
            }
        }
        _ => Vec::new(),
    }
}

pub(crate) fn render_editor(model: &Model, e: &EditorState, f: &mut Frame, area: Rect) {
    let t = &model.theme;
    let modified = if e.modified() { " [modified]" } else { "" };
    let b = block(
        model,
        Line::from(vec![
            Span::styled(format!(" edit {}{modified} ", e.title), t.style("title")),
            Span::styled(
                format!("default namespace {} ", e.namespace),
                t.style("footer"),
            ),
        ]),
    );
    let inner = b.inner(area);
    f.render_widget(b, area);
    let [main, status] = Layout::vertical([Constraint::Min(3), Constraint::Length(2)]).areas(inner);
    let (text_area, side) = if e.pane != Pane::None && main.width >= 80 {
        let [l, r] = Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
            .areas(main);
        (l, Some(r))
    } else if e.pane != Pane::None {
        let [l, r] =
            Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(main);
        (l, Some(r))
    } else {
        (main, None)
    };
    let mut area_widget = e.area.clone();
    area_widget.set_line_number_style(t.style("footer"));
    area_widget.set_cursor_line_style(Style::default());
    area_widget.set_search_style(
        t.style("message.error")
            .add_modifier(ratatui::style::Modifier::REVERSED),
    );
    f.render_widget(&area_widget, text_area);
    if let Some(side) = side {
        let (title, body): (&str, Vec<Line>) = match e.pane {
            Pane::Expanded => (" ${VAR} expanded ", {
                // The variables first: each value and where it comes from.
                let mut lines: Vec<Line> = e
                    .variables()
                    .into_iter()
                    .map(|(name, value)| match value {
                        Some((v, from)) => Line::from(Span::styled(
                            format!("{name} = {v}  ({from})"),
                            t.style("status.ok"),
                        )),
                        None => Line::from(Span::styled(
                            format!("{name} not set: `:set {name}=VALUE`"),
                            t.style("status.error"),
                        )),
                    })
                    .collect();
                if !lines.is_empty() {
                    lines.push(Line::from(""));
                }
                match e.expanded() {
                    Ok(text) => lines.extend(text.lines().map(|l| Line::from(l.to_owned()))),
                    Err(err) => lines.push(Line::from(Span::styled(err, t.style("message.error")))),
                }
                lines
            }),
            _ => (
                " diff against the live objects ",
                match &e.diff {
                    Some(Ok(text)) => text
                        .lines()
                        .map(|l| {
                            let role = if l.starts_with('+') && !l.starts_with("+++") {
                                "status.ok"
                            } else if l.starts_with('-') && !l.starts_with("---") {
                                "status.error"
                            } else if l.starts_with("@@") {
                                "status.pending"
                            } else {
                                "status"
                            };
                            Line::from(Span::styled(l.to_owned(), t.style(role)))
                        })
                        .collect(),
                    Some(Err(err)) => vec![Line::from(Span::styled(
                        err.clone(),
                        t.style("message.error"),
                    ))],
                    None => vec![Line::from("computing ...")],
                },
            ),
        };
        let pb = block(model, Line::from(Span::styled(title, t.style("title"))));
        let pi = pb.inner(side);
        f.render_widget(pb, side);
        f.render_widget(Paragraph::new(body).wrap(Wrap { trim: false }), pi);
    }
    let (cursor_row, cursor_col) = e.area.cursor();
    let mut lines = vec![match &e.problem {
        Some(p) => Line::from(Span::styled(
            format!(
                "✗ {}{}",
                match (p.line, p.column) {
                    _ if p.message.contains("line ") => String::new(),
                    (Some(l), Some(c)) => format!("line {l}, column {c}: "),
                    (Some(l), None) => format!("line {l}: "),
                    _ => String::new(),
                },
                p.message
            ),
            t.style("message.error"),
        )),
        None => Line::from(Span::styled(
            format!(
                "✓ valid — line {}, column {}{}",
                cursor_row + 1,
                cursor_col + 1,
                if e.busy { " — working ..." } else { "" }
            ),
            t.style("message.info"),
        )),
    }];
    if let Some((text, failed)) = &e.result {
        lines.push(Line::from(Span::styled(
            text.clone(),
            t.style(if *failed {
                "message.error"
            } else {
                "message.info"
            }),
        )));
    }
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), status);
}
