//! The overlays over a screen: the confirmation, the prompt, the help, the
//! filter line and the palette. While one is open it takes every key (but
//! Ctrl-C); `app.rs` asks them first.

pub mod filter;
pub mod palette;

use crossterm::event::{KeyCode, KeyEvent};

use super::editor::EditorState;
use super::model::{Effect, MessageKind, Model, Prompt, PromptFor, Screen, Then};

/// The key to the overlay that is open, if one is: the effects it asks for.
pub(crate) fn key(model: &mut Model, k: KeyEvent) -> Option<Vec<Effect>> {
    if model.confirm.is_some() {
        Some(confirm(model, k))
    } else if model.prompt.is_some() {
        Some(prompt(model, k))
    } else if model.help {
        Some(help(model, k))
    } else if model.filter_input.is_some() {
        Some(filter::key(model, k))
    } else if model.palette.is_some() {
        Some(palette::key(model, k))
    } else {
        None
    }
}

/// A question asked: `y` does what it asked about, any other key cancels.
fn confirm(model: &mut Model, k: KeyEvent) -> Vec<Effect> {
    let Some(c) = model.confirm.take() else {
        return Vec::new();
    };
    if let Then::Conflict { theirs, overwrite } = c.then {
        return resolve_conflict(model, k.code, *theirs, *overwrite);
    }
    if matches!(k.code, KeyCode::Char('y' | 'Y')) {
        return match c.then {
            Then::Effects { effects, doing } => {
                model.say(doing, MessageKind::Info);
                crate::ui::screen::grid::end_preview(model);
                effects
            }
            Then::DiscardEditor => {
                model.stack.pop();
                model.invalidate();
                model.say("changes discarded", MessageKind::Info);
                Vec::new()
            }
            Then::Quit => {
                model.quit = true;
                vec![Effect::Quit]
            }
            Then::Conflict { .. } => Vec::new(),
        };
    }
    crate::ui::screen::grid::end_preview(model);
    model.say("cancelled: nothing was changed", MessageKind::Info);
    Vec::new()
}

/// A value typed in the message line (the grid's worker count).
fn prompt(model: &mut Model, k: KeyEvent) -> Vec<Effect> {
    let Some(p) = model.prompt.as_mut() else {
        return Vec::new();
    };
    match k.code {
        KeyCode::Esc => {
            model.prompt = None;
            model.say("cancelled: nothing was changed", MessageKind::Info);
        }
        KeyCode::Backspace => {
            p.input.pop();
            p.error = crate::ui::screen::grid::parse_replicas(&p.input).err();
        }
        KeyCode::Char(c) => {
            p.input.push(c);
            p.error = crate::ui::screen::grid::parse_replicas(&p.input).err();
        }
        KeyCode::Enter => match crate::ui::screen::grid::parse_replicas(&p.input) {
            Err(e) => p.error = Some(e),
            Ok(n) => {
                if let Some(Prompt {
                    purpose: PromptFor::Replicas { swarm, current },
                    ..
                }) = model.prompt.take()
                {
                    return crate::ui::screen::grid::preview_scale(model, swarm, current, n);
                }
            }
        },
        _ => {}
    }
    Vec::new()
}

/// The help: it scrolls (every description whole, even at 80x24); any
/// other key closes it.
fn help(model: &mut Model, k: KeyEvent) -> Vec<Effect> {
    // The help scrolls (every description whole, even at 80x24); any
    // other key closes it.
    match k.code {
        KeyCode::Char('j') | KeyCode::Down => model.help_scroll += 1,
        KeyCode::Char('k') | KeyCode::Up => model.help_scroll = model.help_scroll.saturating_sub(1),
        KeyCode::PageDown | KeyCode::Char(' ') => model.help_scroll += model.page.max(1),
        KeyCode::PageUp => model.help_scroll = model.help_scroll.saturating_sub(model.page.max(1)),
        _ => {
            model.help = false;
            model.help_scroll = 0;
        }
    }
    Vec::new()
}

/// The operator's answer to an edit conflict: nothing is written unless
/// they say overwrite.
fn resolve_conflict(
    model: &mut Model,
    key: KeyCode,
    theirs: serde_json::Value,
    overwrite: Effect,
) -> Vec<Effect> {
    match key {
        KeyCode::Char('o' | 'O') => {
            model.say(
                "overwriting their change with yours ...".to_owned(),
                MessageKind::Info,
            );
            if let Some(Screen::Editor(e)) = model.stack.last_mut() {
                e.busy = true;
            }
            vec![overwrite]
        }
        KeyCode::Char('r' | 'R') => {
            if let Some(Screen::Editor(e)) = model.stack.last_mut() {
                let (title, namespace, vars) =
                    (e.title.clone(), e.namespace.clone(), e.vars.clone());
                **e = EditorState::of_live(title, theirs, namespace);
                e.vars = vars;
            }
            model.say(
                "re-opened on their version: your edits were dropped".to_owned(),
                MessageKind::Info,
            );
            Vec::new()
        }
        _ => {
            model.say(
                "nothing was saved; your edits are still in the editor".to_owned(),
                MessageKind::Info,
            );
            Vec::new()
        }
    }
}
