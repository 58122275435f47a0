//! The filter line (`/`): a filter typed, previewed as it is typed, applied
//! with Enter; plain text, or a regex when it has regex characters.

use crossterm::event::{KeyCode, KeyEvent};

use crate::ui::model::{Effect, MessageKind, Model, Screen};

/// A key while the filter line is open.
pub(crate) fn key(model: &mut Model, k: KeyEvent) -> Vec<Effect> {
    let Some(input) = model.filter_input.as_mut() else {
        return Vec::new();
    };
    match k.code {
        KeyCode::Esc => {
            model.filter_input = None;
            model.filter_error = None;
        }
        KeyCode::Enter => {
            let text = model.filter_input.take().unwrap_or_default();
            model.filter_error = None;
            apply_filter(model, &text);
        }
        KeyCode::Backspace => {
            input.pop();
            let t = input.clone();
            preview_filter(model, &t);
        }
        KeyCode::Char(c) => {
            input.push(c);
            let t = input.clone();
            preview_filter(model, &t);
        }
        _ => {}
    }
    Vec::new()
}

/// `/`: type a filter, starting from the one in force.
pub fn start_filter(model: &mut Model) {
    model.filter_input = Some(
        model
            .filter
            .as_ref()
            .map(|(t, _)| t.clone())
            .unwrap_or_default(),
    );
}

fn preview_filter(model: &mut Model, text: &str) {
    // A log view's search is its own: the filter of the views beneath stays.
    let searching_logs = matches!(model.stack.last(), Some(Screen::Logs(_)));
    match compile_filter(text) {
        Ok(_) if searching_logs => model.filter_error = None,
        Ok(re) => {
            model.filter_error = None;
            model.filter = if text.is_empty() {
                None
            } else {
                Some((text.to_owned(), re))
            };
        }
        Err(e) => model.filter_error = Some(e),
    }
}

fn apply_filter(model: &mut Model, text: &str) {
    if matches!(model.stack.last(), Some(Screen::Logs(_))) {
        // In a log view `/` searches: matches are highlighted, n/N move.
        match compile_filter(text) {
            Ok(re) => crate::ui::screen::logs::set_search(model, text, re),
            Err(e) => model.say_error(e),
        }
        return;
    }
    preview_filter(model, text);
    let re = model.filter.as_ref().and_then(|(_, re)| re.clone());
    if let Some(Screen::Grid(g)) = model.stack.last_mut() {
        // In the grid a filter finds a stream: jump to the worker holding it.
        let found = match (&g.data, &re) {
            (Some(d), Some(re)) => d.find(re),
            _ => None,
        };
        match found {
            Some(i) => g.selected = i,
            None if re.is_some() => {
                model.say(format!("no stream matches `{text}`"), MessageKind::Error)
            }
            None => {}
        }
        return;
    }
    if let Some(Screen::Resource(r)) = model.stack.last_mut() {
        r.table.selected = 0;
        return;
    }
    model.table_mut().selected = 0;
}

/// Plain text matches as a case-insensitive substring; text with regex
/// metacharacters is a case-insensitive regex (an error is shown inline).
pub fn compile_filter(text: &str) -> Result<Option<regex::Regex>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let is_regex = text.chars().any(|c| "^$.*+?()[]{}|\\".contains(c));
    let pattern = if is_regex {
        format!("(?i){text}")
    } else {
        format!("(?i){}", regex::escape(text))
    };
    regex::Regex::new(&pattern).map(Some).map_err(|e| {
        let first = e
            .to_string()
            .lines()
            .last()
            .unwrap_or("invalid")
            .trim()
            .to_owned();
        format!("bad regex `{text}`: {first}")
    })
}
