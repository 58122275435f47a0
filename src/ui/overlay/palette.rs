//! The command palette (`:`): its commands, completion with Tab, and what
//! each command does.

use crossterm::event::{KeyCode, KeyEvent};

use crate::ui::data::ViewKind;
use crate::ui::editor::EditorState;
use crate::ui::model::*;
use crate::ui::screen::grid::open_grid;

/// A key while the palette is open.
pub(crate) fn key(model: &mut Model, k: KeyEvent) -> Vec<Effect> {
    let Some(p) = model.palette.as_mut() else {
        return Vec::new();
    };
    match k.code {
        KeyCode::Esc => model.palette = None,
        KeyCode::Tab => {
            let input = p.input.clone();
            let options = completions(model, &input);
            if let Some(p) = model.palette.as_mut()
                && !options.is_empty()
            {
                let pick = options[p.selected % options.len()].clone();
                p.input = if pick.contains(' ') || input.contains(' ') {
                    pick
                } else {
                    format!("{pick} ")
                };
                p.selected += 1;
            }
        }
        KeyCode::Backspace => {
            p.input.pop();
            p.selected = 0;
        }
        KeyCode::Char(c) => {
            p.input.push(c);
            p.selected = 0;
        }
        KeyCode::Enter => {
            let input = model.palette.take().map(|p| p.input).unwrap_or_default();
            return run_command(model, input.trim());
        }
        _ => {}
    }
    Vec::new()
}

/// Palette commands and what they take.
pub const COMMANDS: &[(&str, &str)] = &[
    ("pods", "pods"),
    ("sts", "statefulsets"),
    ("cm", "configmaps"),
    ("tasks", "tasks"),
    ("events", "events"),
    ("audit", "the engine's audit log"),
    ("ns", "[NAME | all]: the namespaces, or switch to one"),
    ("set", "NAME=VALUE: a ${VAR} for the editor"),
    ("unset", "NAME: forget a :set variable"),
    ("vars", "the :set variables"),
    ("save-vars", "remember the :set variables for this context"),
    ("ctx", "NAME: switch context"),
    (
        "login",
        "sign in again: the context's credential plugin gets the terminal",
    ),
    ("theme", "NAME: switch theme"),
    ("grid", "[SWARM]: the assignment grid"),
    (
        "overview",
        "every swarm, Task and pod in trouble at a glance (a wall screen)",
    ),
    ("w", "FILE: save the log view's lines"),
    (
        "new",
        "task | fairmq | pool | swarm | manifest: start a manifest in the editor",
    ),
    ("q", "quit"),
];

/// Completions for what is typed in the palette.
pub fn completions(model: &Model, input: &str) -> Vec<String> {
    let (cmd, arg) = match input.split_once(' ') {
        Some((c, a)) => (c, Some(a)),
        None => (input, None),
    };
    match arg {
        None => {
            let mut out: Vec<String> = COMMANDS
                .iter()
                .filter(|(c, _)| c.starts_with(cmd))
                .map(|(c, _)| (*c).to_owned())
                .collect();
            // The kinds the server serves, once something is typed.
            if let Some(catalog) = model.catalog.as_ref().filter(|_| !cmd.is_empty()) {
                for n in catalog.completion_names() {
                    if n.starts_with(cmd) && !out.contains(&n) {
                        out.push(n);
                    }
                }
            }
            out
        }
        Some(a) => {
            let pool: Vec<String> = match cmd {
                "ns" => {
                    let mut n: Vec<String> = vec!["all".into()];
                    let mut seen: Vec<String> = model
                        .stores
                        .pods
                        .read()
                        .rows
                        .keys()
                        .map(|(ns, _)| ns.clone())
                        .collect();
                    seen.extend(
                        model
                            .stores
                            .cms
                            .read()
                            .rows
                            .keys()
                            .map(|(ns, _)| ns.clone()),
                    );
                    seen.extend(model.known_namespaces.iter().cloned());
                    seen.sort();
                    seen.dedup();
                    n.extend(seen);
                    n
                }
                "ctx" => model.contexts.clone(),
                "grid" => crate::ui::grid::swarms(&model.stores)
                    .into_iter()
                    .map(|s| s.name)
                    .collect(),
                "new" => ["task", "fairmq", "pool", "swarm", "manifest"]
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect(),
                "theme" => model.themes.clone(),
                _ => Vec::new(),
            };
            pool.into_iter()
                .filter(|p| p.starts_with(a))
                .map(|p| format!("{cmd} {p}"))
                .collect()
        }
    }
}

/// `:set` and `:unset` reach open editors at once: they validate again.
pub(crate) fn sync_editor_vars(model: &mut Model) {
    for screen in &mut model.stack {
        if let Screen::Editor(e) = screen {
            e.vars = model.vars.clone();
            e.validate();
        }
    }
}

/// A start view as the palette command it means: `grid/NAME` is
/// `grid NAME`, `pods`, `sts`, `events`, ... are themselves.
pub fn start_command(view: &str) -> String {
    let view = view.trim().trim_start_matches(':');
    match view.split_once('/') {
        Some((kind, name)) => format!("{kind} {name}"),
        None => view.to_owned(),
    }
}

pub(crate) fn run_command(model: &mut Model, input: &str) -> Vec<Effect> {
    let (cmd, arg) = match input.split_once(' ') {
        Some((c, a)) => (c, a.trim()),
        None => (input, ""),
    };
    let cmd = cmd.trim_start_matches(':');
    // Over the editor the palette sets variables only: nothing may take the
    // buffer away.
    if matches!(model.stack.last(), Some(Screen::Editor(_)))
        && !matches!(cmd, "set" | "unset" | "vars" | "save-vars")
    {
        model.say(
            format!("`:{cmd}` is not available in the editor: it takes :set, :unset and :vars (Esc closes the editor first)"),
            MessageKind::Error,
        );
        return Vec::new();
    }
    if let Some(kind) = ViewKind::ALL
        .iter()
        .find(|v| v.command() == cmd || v.title().eq_ignore_ascii_case(cmd))
    {
        return open_view(model, *kind);
    }
    match (cmd, arg) {
        ("q" | "quit", _) => {
            model.quit = true;
            vec![Effect::Quit]
        }
        ("w", path) => crate::ui::screen::logs::save(model, path),
        // The namespaces, where Enter switches to one (as k9s does).
        ("ns", "") => crate::ui::screen::resource::open_named(model, "namespaces", false),
        ("ns", "all" | "-A") => {
            if let Some(only) = &model.watch_only {
                model.say(
                    format!("these credentials may not list all namespaces: still watching {only}"),
                    MessageKind::Error,
                );
                return Vec::new();
            }
            model.namespace = None;
            model.say("all namespaces", MessageKind::Info);
            Vec::new()
        }
        ("ns", ns) => switch_namespace(model, ns),
        ("set", assignment) => {
            match assignment.split_once('=') {
                Some((name, value))
                    if !name.is_empty()
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                {
                    model.vars.insert(name.to_owned(), value.to_owned());
                    model.say(format!("${{{name}}} = {value}"), MessageKind::Info);
                }
                _ => model.say(
                    format!("usage: :set NAME=VALUE (a name of letters, digits and _), not `{assignment}`"),
                    MessageKind::Error,
                ),
            }
            sync_editor_vars(model);
            Vec::new()
        }
        ("unset", name) => {
            if model.vars.remove(name).is_some() {
                model.say(format!("${{{name}}} unset"), MessageKind::Info);
            } else {
                model.say(
                    format!("${{{name}}} was not set with :set"),
                    MessageKind::Error,
                );
            }
            sync_editor_vars(model);
            Vec::new()
        }
        ("save-vars", _) => vec![Effect::SaveVars(model.vars.clone())],
        ("vars", _) => {
            let list: Vec<String> = model.vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
            model.say(
                if list.is_empty() {
                    "no variables set with :set (the editor never reads the environment)".to_owned()
                } else {
                    list.join("  ")
                },
                MessageKind::Info,
            );
            Vec::new()
        }
        ("login", "") => vec![Effect::Login],
        ("ctx", "") => {
            model.say(
                format!("usage: :ctx NAME (contexts: {})", model.contexts.join(", ")),
                MessageKind::Error,
            );
            Vec::new()
        }
        ("ctx", name) => {
            if model.contexts.iter().any(|c| c == name) {
                vec![Effect::SwitchContext(name.to_owned())]
            } else {
                model.say(
                    format!("no context `{name}` (known: {})", model.contexts.join(", ")),
                    MessageKind::Error,
                );
                Vec::new()
            }
        }
        ("theme", name) => {
            if model.themes.iter().any(|t| t == name) {
                model.wanted_theme = Some(name.to_owned());
            } else {
                model.say(
                    format!("no theme `{name}` (known: {})", model.themes.join(", ")),
                    MessageKind::Error,
                );
            }
            Vec::new()
        }
        ("overview", _) => crate::ui::screen::overview::open(model),
        ("grid", name) => {
            let swarms = crate::ui::grid::swarms(&model.stores);
            let pick = if name.is_empty() {
                swarms
                    .iter()
                    .find(|s| {
                        model
                            .namespace
                            .as_deref()
                            .is_none_or(|ns| ns == s.namespace)
                    })
                    .or(swarms.first())
                    .cloned()
            } else {
                swarms.iter().find(|s| s.name == name).cloned()
            };
            match pick {
                Some(s) => open_grid(model, s),
                None => {
                    let known: Vec<&str> = swarms.iter().map(|s| s.name.as_str()).collect();
                    model.say(
                        if known.is_empty() {
                            "no swarm here: neither the seed swarm nor a ConfigMap labelled swarmdeck.io/swarm".to_owned()
                        } else {
                            format!("no swarm `{name}` (known: {})", known.join(", "))
                        },
                        MessageKind::Error,
                    );
                    Vec::new()
                }
            }
        }
        ("new", what) => {
            if model.header.read_only {
                model.say(
                    "read-only: `:new` is not available (the console was started with --read-only)",
                    MessageKind::Error,
                );
                return Vec::new();
            }
            match crate::ui::editor::template(what) {
                Some((title, text)) => {
                    let ns = model
                        .namespace
                        .clone()
                        .unwrap_or_else(|| model.default_namespace.clone());
                    model.stack.push(Screen::Editor(Box::new(EditorState::new(
                        title,
                        &text,
                        ns,
                        model.vars.clone(),
                    ))));
                }
                None => model.say(
                    "usage: :new task | fairmq | pool | swarm | manifest",
                    MessageKind::Error,
                ),
            }
            Vec::new()
        }
        ("", _) => Vec::new(),
        // Any kind the server serves, by the names kubectl takes.
        (other, _) => crate::ui::screen::resource::open_named(model, other, false),
    }
}
