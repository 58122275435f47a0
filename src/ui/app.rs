//! The console's model and its pure, synchronous `update`: raw Events become
//! Actions through the keymap; I/O is requested as Effects that the runtime
//! performs and reports back as Events.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::editor::{EditorState, Pane};
use super::keymap::{Action, Key, Mode, Resolved};
pub use super::screen::grid::GridState;
use super::screen::grid::apply_grid;
pub use super::screen::table::TableState;
pub use super::screen::task::{TaskScreen, task_row};
pub use super::screen::yaml::YamlState;
use super::screen::{editor::apply_editor, task::apply_task};
use crate::engine::run::EngineStatus;

pub use super::model::*;

pub use super::overlay::filter::{compile_filter, start_filter};
use super::overlay::palette::run_command;
pub use super::overlay::palette::{COMMANDS, completions, start_command};

/// Apply one event to the model; returns the I/O to perform.
pub fn update(model: &mut Model, event: Event) -> Vec<Effect> {
    let mut effects = handle(model, event);
    effects.extend(super::screen::resource::sync(model));
    effects
}

fn handle(model: &mut Model, event: Event) -> Vec<Effect> {
    match event {
        Event::Key(k) => on_key(model, k),
        Event::Permissions(p) => {
            model.permissions = Some(p);
            Vec::new()
        }
        Event::Resize | Event::StoreChanged => Vec::new(),
        // Ages are computed when drawn: a tick only asks for a redraw.
        Event::Tick => Vec::new(),
        Event::Yaml { title, result } => {
            if let Some(Screen::Yaml(y)) = model.stack.last_mut()
                && y.title == title
            {
                match result {
                    Ok(v) => y.value = Some(v),
                    Err(e) => y.error = Some(e),
                }
            }
            Vec::new()
        }
        Event::Deleted { what, result } => {
            match result {
                Ok(()) => model.say(format!("deleted {what}"), MessageKind::Info),
                Err(e) => model.say(format!("could not delete {what}: {e}"), MessageKind::Error),
            }
            Vec::new()
        }
        Event::Audit(result) => {
            match result {
                Ok(lines) => {
                    model.audit = lines
                        .iter()
                        .filter_map(|l| super::data::audit_row(l))
                        .collect()
                }
                Err(e) => model.say(e, MessageKind::Info),
            }
            model.invalidate();
            Vec::new()
        }
        Event::Command(text) => run_command(model, &start_command(&text)),
        Event::Connected(h) => {
            model.say(
                format!("connected to context {}", h.context),
                MessageKind::Info,
            );
            model.header = h;
            // Another server serves other kinds; a table is read again from it.
            model.catalog = None;
            model.table_reading = None;
            model.invalidate();
            Vec::new()
        }
        Event::Engine(status) => {
            // Say each new verdict once.
            let mut said = None;
            if let Some(old) = &model.engine {
                for (ns, n) in &status.namespaces {
                    for (name, sw) in &n.swarms {
                        let before = old
                            .namespaces
                            .get(ns)
                            .and_then(|o| o.swarms.get(name))
                            .and_then(|o| o.last.clone());
                        if let Some(last) = &sw.last
                            && before.as_ref() != Some(last)
                        {
                            said = Some((
                                format!("swarm {name}: {last}"),
                                if sw.failed {
                                    MessageKind::Error
                                } else {
                                    MessageKind::Info
                                },
                            ));
                        }
                    }
                }
            }
            if let Some((text, kind)) = said {
                model.say(text, kind);
            }
            model.header.engine = engine_summary(&status);
            model.engine = Some(*status);
            Vec::new()
        }
        Event::EditorLoaded {
            title,
            namespace,
            result,
        } => {
            match result {
                Ok(object) => {
                    model.stack.retain(|s| !matches!(s, Screen::Editor(_)));
                    model
                        .stack
                        .push(Screen::Editor(Box::new(EditorState::of_live(
                            title, object, namespace,
                        ))));
                }
                Err(e) => model.say(format!("cannot edit {title}: {e}"), MessageKind::Error),
            }
            Vec::new()
        }
        Event::UnitDone { result, applied } => {
            if let Some(Screen::Editor(e)) = model.stack.last_mut() {
                e.busy = false;
                match &result {
                    Ok(text) => {
                        if applied {
                            // What was applied is the new baseline.
                            e.original = e.text();
                        }
                        e.result = Some((text.clone(), false));
                    }
                    Err(err) => e.result = Some((err.clone(), true)),
                }
            }
            match result {
                Ok(t) => model.say(t, MessageKind::Info),
                Err(e) => model.say(e, MessageKind::Error),
            }
            Vec::new()
        }
        Event::EditConflict { theirs, diff } => {
            let Some(Screen::Editor(e)) = model.stack.last_mut() else {
                return Vec::new();
            };
            e.busy = false;
            e.diff = Some(Ok(diff));
            e.pane = Pane::Diff;
            let said = format!(
                "not saved: {} changed in the cluster since you opened it (version {} → {}); the diff shows theirs against yours",
                e.title,
                e.live
                    .as_ref()
                    .and_then(|l| l["metadata"]["resourceVersion"].as_str())
                    .unwrap_or("?"),
                theirs["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or("?"),
            );
            e.result = Some((said.clone(), true));
            let mut how = e.sending();
            how.overwrite = true;
            let overwrite = Effect::ApplyUnit {
                text: e.text(),
                namespace: e.namespace.clone(),
                dry_run: false,
                how,
            };
            model.say(said, MessageKind::Error);
            model.confirm = Some(Confirm {
                question: "Changed meanwhile: r = re-open on theirs (drops your edits), o = overwrite theirs with yours, any other key = keep editing".into(),
                then: Then::Conflict {
                    theirs,
                    overwrite: Box::new(overwrite),
                },
                inline: false,
            });
            Vec::new()
        }
        Event::DiffReady(result) => {
            if let Some(Screen::Editor(e)) = model.stack.last_mut() {
                e.busy = false;
                e.diff = Some(result);
                e.pane = Pane::Diff;
            }
            Vec::new()
        }
        Event::Acted { what, result } => {
            match result {
                Ok(()) => model.say(what, MessageKind::Info),
                Err(e) => model.say(format!("{what}: {e}"), MessageKind::Error),
            }
            Vec::new()
        }
        Event::Logs { id, events } => {
            super::screen::logs::receive(model, id, events);
            Vec::new()
        }
        Event::Discovered(result) => super::screen::resource::discovered(model, result),
        Event::Table { id, updates } => {
            super::screen::resource::receive(model, id, updates);
            Vec::new()
        }
        Event::PodsOf {
            namespace,
            of,
            result,
        } => super::screen::resource::pods_of(model, namespace, of, result),
    }
}

/// The header's engine field: this console's role, and who leads, kept
/// short (one role for all its namespaces when they agree).
pub fn engine_summary(status: &EngineStatus) -> String {
    use crate::engine::run::EngineRole;
    let describe = |role: EngineRole, leader: Option<&str>, error: Option<&str>| match role {
        EngineRole::Leader => "leader".to_owned(),
        EngineRole::Observer => match (leader, error) {
            (Some(l), _) => format!("observer ({l} leads)"),
            // Typically a Role without leases: say so rather than guess.
            (None, Some(e)) => {
                let short: String = e.chars().take(60).collect();
                format!("observer, no lease: {short}")
            }
            (None, _) => "observer (another engine leads)".to_owned(),
        },
        EngineRole::PlanOnly => match leader {
            Some(l) => format!("plan-only ({l} leads)"),
            None => "plan-only (no engine leads)".to_owned(),
        },
        EngineRole::Starting => "starting".to_owned(),
        // Holds no lease until there is something to do: writes nothing.
        EngineRole::Standby => "standby".to_owned(),
    };
    let all: Vec<(String, String)> = status
        .namespaces
        .iter()
        .map(|(ns, n)| {
            (
                ns.clone(),
                describe(n.role, n.leader.as_deref(), n.lease_error.as_deref()),
            )
        })
        .collect();
    match all.first() {
        None => "no namespace to manage".into(),
        Some((_, first)) if all.iter().all(|(_, d)| d == first) => first.clone(),
        Some(_) => all
            .iter()
            .map(|(ns, d)| format!("{d} in {ns}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn on_key(model: &mut Model, k: KeyEvent) -> Vec<Effect> {
    if k.kind == crossterm::event::KeyEventKind::Release {
        return Vec::new();
    }
    // Ctrl-C always quits, whatever is open, but asks before dropping an
    // edited buffer.
    if k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL) {
        let edited = model
            .stack
            .iter()
            .any(|s| matches!(s, Screen::Editor(e) if e.modified()));
        if edited && model.confirm.is_none() {
            model.confirm = Some(Confirm {
                question: "The editor holds unapplied changes. Quit and lose them? y = quit".into(),
                then: Then::Quit,
                inline: false,
            });
            return Vec::new();
        }
        model.quit = true;
        return vec![Effect::Quit];
    }
    // An open overlay (confirmation, prompt, help, filter line, palette)
    // takes the key.
    if let Some(effects) = super::overlay::key(model, k) {
        return effects;
    }
    let Some(key) = Key::from_event(&k) else {
        return Vec::new();
    };
    let mode = model.mode();
    if mode == Mode::Editor {
        // The editor's own bindings first; every other key edits the buffer.
        return match model.keymap.resolve(mode, &[key]) {
            Resolved::Action(a) => apply(model, a),
            Resolved::Disabled(a) => disabled(model, a),
            _ => {
                if let Some(Screen::Editor(e)) = model.stack.last_mut()
                    && e.area.input(k)
                {
                    e.validate();
                    e.diff = None;
                    if e.pane == Pane::Diff {
                        e.pane = Pane::None;
                    }
                }
                Vec::new()
            }
        };
    }
    model.typed.push(key);
    match model.keymap.resolve(mode, &model.typed) {
        Resolved::Pending => Vec::new(),
        Resolved::Action(a) => {
            model.typed.clear();
            apply(model, a)
        }
        Resolved::Disabled(a) => {
            model.typed.clear();
            disabled(model, a)
        }
        Resolved::Unbound => {
            let single = model.typed.len() == 1;
            model.typed.clear();
            if !single {
                // The first key of a failed sequence may be a binding of its own.
                return on_key(model, k);
            }
            Vec::new()
        }
    }
}

/// A key bound to an action that read-only mode turns off.
fn disabled(model: &mut Model, a: Action) -> Vec<Effect> {
    model.say(
        format!(
            "read-only: `{}` is not available (the console was started with --read-only)",
            a.id()
        ),
        MessageKind::Error,
    );
    Vec::new()
}

/// What a mutating action will ask the server for, where the console can
/// tell before it asks (the editor's units are checked by the server's dry
/// run): each screen says for its own actions.
fn required(model: &Model, action: Action) -> Option<crate::domain::rbac::Attributes> {
    match model.stack.last()? {
        Screen::Resource(r) => super::screen::resource::required(r, action),
        Screen::Grid(g) => super::screen::grid::required(g, action),
        Screen::Task(t) => super::screen::task::required(t, action),
        Screen::Table(kind) => super::screen::table::required(*kind, model.selected_row()?, action),
        _ => None,
    }
}

fn apply(model: &mut Model, action: Action) -> Vec<Effect> {
    if action.is_mutating()
        && let (Some(p), Some(a)) = (&model.permissions, required(model, action))
        && !p.allow(&a)
    {
        let resource = match (&a.subresource, a.group.as_str()) {
            (Some(sub), "") => format!("{}/{sub}", a.resource),
            (Some(sub), g) => format!("{}/{sub}.{g}", a.resource),
            (None, "") => a.resource.clone(),
            (None, g) => format!("{}.{g}", a.resource),
        };
        model.say(
            format!(
                "forbidden: `{}` needs `{} {resource}` in namespace {}, which your Role does not grant",
                action.id(),
                a.verb,
                p.namespace
            ),
            MessageKind::Error,
        );
        return Vec::new();
    }
    if action == Action::Logs && matches!(model.mode(), Mode::Normal | Mode::Yaml) {
        return open_logs(model);
    }
    if matches!(model.stack.last(), Some(Screen::Resource(_))) {
        return super::screen::resource::apply(model, action);
    }
    if matches!(model.stack.last(), Some(Screen::Overview(_))) {
        return super::screen::overview::apply(model, action);
    }
    match model.mode() {
        Mode::Logs => super::screen::logs::apply(model, action),
        Mode::Grid => apply_grid(model, action),
        Mode::Task => apply_task(model, action),
        Mode::Editor => apply_editor(model, action),
        Mode::Yaml => super::screen::yaml::apply(model, action),
        Mode::Normal => super::screen::table::apply(model, action),
    }
}

#[cfg(test)]
mod engine_summary_tests {
    use super::engine_summary;
    use crate::engine::run::{EngineRole, EngineStatus, NamespaceStatus};

    fn status(list: &[(&str, EngineRole, Option<&str>, Option<&str>)]) -> EngineStatus {
        EngineStatus {
            identity: "me".into(),
            namespaces: list
                .iter()
                .map(|(ns, role, leader, lease_error)| {
                    (
                        (*ns).to_owned(),
                        NamespaceStatus {
                            role: *role,
                            leader: leader.map(str::to_owned),
                            lease_error: lease_error.map(str::to_owned),
                            ..Default::default()
                        },
                    )
                })
                .collect(),
            actions: 0,
        }
    }

    #[test]
    fn the_header_says_the_role_and_who_leads() {
        use EngineRole::*;
        assert_eq!(
            engine_summary(&status(&[
                ("a", Leader, Some("me"), None),
                ("b", Leader, Some("me"), None)
            ])),
            "leader"
        );
        assert_eq!(
            engine_summary(&status(&[("a", Observer, Some("op-1"), None)])),
            "observer (op-1 leads)"
        );
        assert_eq!(
            engine_summary(&status(&[(
                "a",
                Observer,
                None,
                Some("Lease a/swarmdeck-engine: forbidden")
            )])),
            "observer, no lease: Lease a/swarmdeck-engine: forbidden"
        );
        assert_eq!(
            engine_summary(&status(&[("a", PlanOnly, None, None)])),
            "plan-only (no engine leads)"
        );
        assert_eq!(
            engine_summary(&status(&[
                ("a", Leader, Some("me"), None),
                ("b", Observer, Some("x"), None)
            ])),
            "leader in a, observer (x leads) in b"
        );
    }
}
