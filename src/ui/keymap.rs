//! Keymaps: per-mode TOML tables of `{ on, action, desc }` with stable action
//! ids. Keys resolve to an [`Action`] once; help and the footer are generated
//! from the live keymap, so rebinding updates them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;

/// What a user means. Keymaps name these by their id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Quit,
    Down,
    Up,
    PageDown,
    PageUp,
    GoTop,
    GoBottom,
    Open,
    Describe,
    Back,
    Filter,
    Palette,
    Help,
    SortNext,
    SortPrev,
    SortReverse,
    CopyName,
    AllNamespaces,
    ViewPods,
    ViewSts,
    ViewCm,
    ViewTasks,
    ViewEvents,
    ViewAudit,
    ToggleHidden,
    Delete,
    Restart,
    Edit,
    Scale,
    Rebalance,
    NextMatch,
    SetStandby,
    SetConfigured,
    SetRunning,
    Recover,
    Apply,
    DryRun,
    Diff,
    Expand,
    DeleteUnit,
    Logs,
    StreamLogs,
    PrevMatch,
    LogPrevious,
    LogContainer,
    LogTimestamps,
    LogWrap,
    LogWorker,
    WarningsOnly,
    Reveal,
}

pub const ACTIONS: &[(&str, Action)] = &[
    ("quit", Action::Quit),
    ("down", Action::Down),
    ("up", Action::Up),
    ("page_down", Action::PageDown),
    ("page_up", Action::PageUp),
    ("go_top", Action::GoTop),
    ("go_bottom", Action::GoBottom),
    ("open", Action::Open),
    ("describe", Action::Describe),
    ("back", Action::Back),
    ("filter", Action::Filter),
    ("palette", Action::Palette),
    ("help", Action::Help),
    ("sort_next", Action::SortNext),
    ("sort_prev", Action::SortPrev),
    ("sort_reverse", Action::SortReverse),
    ("copy_name", Action::CopyName),
    ("all_namespaces", Action::AllNamespaces),
    ("view_pods", Action::ViewPods),
    ("view_sts", Action::ViewSts),
    ("view_cm", Action::ViewCm),
    ("view_tasks", Action::ViewTasks),
    ("view_events", Action::ViewEvents),
    ("view_audit", Action::ViewAudit),
    ("toggle_hidden", Action::ToggleHidden),
    ("delete", Action::Delete),
    ("restart", Action::Restart),
    ("edit", Action::Edit),
    ("scale", Action::Scale),
    ("rebalance", Action::Rebalance),
    ("next_match", Action::NextMatch),
    ("set_standby", Action::SetStandby),
    ("set_configured", Action::SetConfigured),
    ("set_running", Action::SetRunning),
    ("recover", Action::Recover),
    ("apply", Action::Apply),
    ("dry_run", Action::DryRun),
    ("diff", Action::Diff),
    ("expand", Action::Expand),
    ("delete_unit", Action::DeleteUnit),
    ("logs", Action::Logs),
    ("stream_logs", Action::StreamLogs),
    ("prev_match", Action::PrevMatch),
    ("log_previous", Action::LogPrevious),
    ("log_container", Action::LogContainer),
    ("log_timestamps", Action::LogTimestamps),
    ("log_wrap", Action::LogWrap),
    ("log_worker", Action::LogWorker),
    ("warnings_only", Action::WarningsOnly),
    ("reveal", Action::Reveal),
];

impl Action {
    pub fn id(self) -> &'static str {
        ACTIONS
            .iter()
            .find(|(_, a)| *a == self)
            .map_or("?", |(id, _)| id)
    }

    /// Actions that change the cluster: unbound in read-only mode.
    pub fn is_mutating(self) -> bool {
        matches!(
            self,
            Action::Delete
                | Action::Restart
                | Action::Edit
                | Action::Scale
                | Action::Rebalance
                | Action::SetStandby
                | Action::SetConfigured
                | Action::SetRunning
                | Action::Recover
                | Action::Apply
                | Action::DryRun
                | Action::DeleteUnit
        )
    }
}

/// The modes a keymap has tables for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    Normal,
    Yaml,
    Grid,
    Task,
    Editor,
    Logs,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Yaml => "yaml",
            Mode::Grid => "grid",
            Mode::Task => "task",
            Mode::Editor => "editor",
            Mode::Logs => "logs",
        }
    }
}

/// One key press as a keymap writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub code: KeyCodeOrd,
    pub ctrl: bool,
    pub alt: bool,
}

/// KeyCode with an order, for maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyCodeOrd {
    Char(char),
    Named(&'static str),
}

const NAMED: &[(&str, KeyCode)] = &[
    ("Enter", KeyCode::Enter),
    ("Esc", KeyCode::Esc),
    ("Tab", KeyCode::Tab),
    ("BackTab", KeyCode::BackTab),
    ("Up", KeyCode::Up),
    ("Down", KeyCode::Down),
    ("Left", KeyCode::Left),
    ("Right", KeyCode::Right),
    ("PgUp", KeyCode::PageUp),
    ("PgDn", KeyCode::PageDown),
    ("Home", KeyCode::Home),
    ("End", KeyCode::End),
    ("Del", KeyCode::Delete),
    ("Backspace", KeyCode::Backspace),
];

impl Key {
    pub fn parse(s: &str) -> Result<Key, String> {
        let bad = || {
            format!(
                "`{s}` is not a key: write a character, or <Enter>, <Esc>, <C-x>, <A-x>, <PgDn> ..."
            )
        };
        if let Some(inner) = s
            .strip_prefix('<')
            .and_then(|r| r.strip_suffix('>'))
            .filter(|i| !i.is_empty())
        {
            let (mut ctrl, mut alt, mut rest) = (false, false, inner);
            loop {
                if let Some(r) = rest.strip_prefix("C-") {
                    ctrl = true;
                    rest = r;
                } else if let Some(r) = rest.strip_prefix("A-") {
                    alt = true;
                    rest = r;
                } else {
                    break;
                }
            }
            if rest == "Space" {
                return Ok(Key {
                    code: KeyCodeOrd::Char(' '),
                    ctrl,
                    alt,
                });
            }
            let mut chars = rest.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                return Ok(Key {
                    code: KeyCodeOrd::Char(c),
                    ctrl,
                    alt,
                });
            }
            return NAMED
                .iter()
                .find(|(n, _)| *n == rest)
                .map(|(n, _)| Key {
                    code: KeyCodeOrd::Named(n),
                    ctrl,
                    alt,
                })
                .ok_or_else(bad);
        }
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(Key {
                code: KeyCodeOrd::Char(c),
                ctrl: false,
                alt: false,
            }),
            _ => Err(bad()),
        }
    }

    pub fn from_event(e: &KeyEvent) -> Option<Key> {
        let ctrl = e.modifiers.contains(KeyModifiers::CONTROL);
        let alt = e.modifiers.contains(KeyModifiers::ALT);
        let code = match e.code {
            KeyCode::Char(c) => KeyCodeOrd::Char(if ctrl { c.to_ascii_lowercase() } else { c }),
            other => KeyCodeOrd::Named(NAMED.iter().find(|(_, k)| *k == other)?.0),
        };
        Some(Key { code, ctrl, alt })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base = match self.code {
            KeyCodeOrd::Char(' ') => "Space".to_owned(),
            KeyCodeOrd::Char(c) => c.to_string(),
            KeyCodeOrd::Named(n) => n.to_owned(),
        };
        match (self.ctrl, self.alt) {
            (false, false) if matches!(self.code, KeyCodeOrd::Char(c) if c != ' ') => {
                write!(f, "{base}")
            }
            (false, false) => write!(f, "<{base}>"),
            (c, a) => write!(
                f,
                "<{}{}{base}>",
                if c { "C-" } else { "" },
                if a { "A-" } else { "" }
            ),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBinding {
    on: Vec<String>,
    action: String,
    #[serde(default)]
    desc: String,
    #[serde(default, rename = "override")]
    override_: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMode {
    #[serde(default)]
    keymap: Vec<RawBinding>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeymap {
    #[serde(default)]
    normal: RawMode,
    #[serde(default)]
    yaml: RawMode,
    #[serde(default)]
    grid: RawMode,
    #[serde(default)]
    task: RawMode,
    #[serde(default)]
    editor: RawMode,
    #[serde(default)]
    logs: RawMode,
}

/// A keymap problem: which file, which key, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {key}: {message}")]
pub struct KeymapError {
    pub path: String,
    pub key: String,
    pub message: String,
}

/// A resolved binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub keys: Vec<Key>,
    pub action: Action,
    pub desc: String,
}

/// The live keymap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    pub name: String,
    modes: BTreeMap<Mode, Vec<Binding>>,
    /// Mutating bindings left out in read-only mode, so a press can say why.
    disabled: BTreeMap<Mode, Vec<Binding>>,
}

pub const SHIPPED: &[(&str, &str)] = &[
    ("default", include_str!("../../keymaps/default.toml")),
    ("vim", include_str!("../../keymaps/vim.toml")),
];

/// The result of feeding a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    Action(Action),
    /// A prefix of a longer binding: wait for the next key.
    Pending,
    /// A mutating binding switched off by read-only mode.
    Disabled(Action),
    Unbound,
}

fn parse_raw(text: &str, path: &str) -> Result<RawKeymap, KeymapError> {
    toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|sp| text[..sp.start.min(text.len())].lines().count().max(1));
        KeymapError {
            path: path.into(),
            key: line.map_or("file".into(), |l| format!("line {l}")),
            message: e.message().to_owned(),
        }
    })
}

fn resolve_mode(
    mode: Mode,
    raw: &RawMode,
    path: &str,
    base: &mut Vec<Binding>,
    user: bool,
) -> Result<(), KeymapError> {
    let mut seen_here: Vec<Vec<Key>> = Vec::new();
    for (i, b) in raw.keymap.iter().enumerate() {
        let key = format!("{}.keymap[{i}]", mode.name());
        let action = ACTIONS
            .iter()
            .find(|(id, _)| *id == b.action)
            .map(|(_, a)| *a)
            .ok_or_else(|| {
                let ids: Vec<&str> = ACTIONS.iter().map(|(id, _)| *id).collect();
                KeymapError {
                    path: path.into(),
                    key: format!("{key}.action"),
                    message: format!("unknown action `{}` (known: {})", b.action, ids.join(", ")),
                }
            })?;
        if b.on.is_empty() {
            return Err(KeymapError {
                path: path.into(),
                key: format!("{key}.on"),
                message: "`on` needs at least one key".into(),
            });
        }
        let keys =
            b.on.iter()
                .map(|k| Key::parse(k))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|m| KeymapError {
                    path: path.into(),
                    key: format!("{key}.on"),
                    message: m,
                })?;
        let on_text = b.on.join(" ");
        if seen_here.contains(&keys) {
            return Err(KeymapError {
                path: path.into(),
                key: format!("{key}.on"),
                message: format!("`{on_text}` is bound twice in mode {}", mode.name()),
            });
        }
        seen_here.push(keys.clone());
        if let Some(pos) = base.iter().position(|x| x.keys == keys) {
            if user && !b.override_ {
                return Err(KeymapError {
                    path: path.into(),
                    key: format!("{key}.on"),
                    message: format!(
                        "`{on_text}` is already bound to `{}` in mode {}; add `override = true` to rebind it",
                        base[pos].action.id(),
                        mode.name()
                    ),
                });
            }
            base.remove(pos);
        }
        base.push(Binding {
            keys,
            action,
            desc: b.desc.clone(),
        });
    }
    Ok(())
}

impl Keymap {
    /// Load keymap `name` (shipped) with a user file of the same name from
    /// `user_dir/keymaps/` layered on top. Errors leave the shipped bindings.
    pub fn load(
        name: &str,
        user_dir: Option<&Path>,
        read_only: bool,
    ) -> (Keymap, Vec<KeymapError>) {
        let mut errors = Vec::new();
        let shipped = SHIPPED.iter().find(|(n, _)| *n == name);
        let (base_name, base_text) = match shipped {
            Some((n, t)) => (*n, *t),
            None => {
                let user_file = user_dir.map(|d| d.join("keymaps").join(format!("{name}.toml")));
                if user_file.as_ref().is_none_or(|p| !p.exists()) {
                    errors.push(KeymapError {
                        path: format!("keymaps/{name}.toml"),
                        key: "keymap".into(),
                        message: format!("no keymap `{name}` (shipped: default, vim)"),
                    });
                }
                ("default", SHIPPED[0].1)
            }
        };
        let mut km = Self::from_text(
            base_text,
            &format!("keymaps/{base_name}.toml (built in)"),
            None,
        )
        .unwrap_or_else(|e| {
            errors.push(e);
            Keymap {
                name: "empty".into(),
                modes: BTreeMap::new(),
                disabled: BTreeMap::new(),
            }
        });
        km.name = name.to_owned();
        if let Some(dir) = user_dir {
            let p = dir.join("keymaps").join(format!("{name}.toml"));
            if let Ok(text) = std::fs::read_to_string(&p) {
                match Self::from_text(&text, &p.display().to_string(), Some(&km)) {
                    Ok(mut user) => {
                        user.name = name.to_owned();
                        km = user;
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
        if read_only {
            km.disable_mutating();
        }
        (km, errors)
    }

    /// Parse a keymap file, over `base` when given (then it is a user file:
    /// rebinding a taken key needs `override = true`).
    pub fn from_text(text: &str, path: &str, base: Option<&Keymap>) -> Result<Keymap, KeymapError> {
        let raw = parse_raw(text, path)?;
        let mut modes = base.map(|b| b.modes.clone()).unwrap_or_default();
        for (mode, raw_mode) in [
            (Mode::Normal, &raw.normal),
            (Mode::Yaml, &raw.yaml),
            (Mode::Grid, &raw.grid),
            (Mode::Task, &raw.task),
            (Mode::Editor, &raw.editor),
            (Mode::Logs, &raw.logs),
        ] {
            let list = modes.entry(mode).or_default();
            resolve_mode(mode, raw_mode, path, list, base.is_some())?;
        }
        Ok(Keymap {
            name: String::new(),
            modes,
            disabled: BTreeMap::new(),
        })
    }

    fn disable_mutating(&mut self) {
        for (mode, list) in self.modes.iter_mut() {
            let (off, on): (Vec<Binding>, Vec<Binding>) =
                list.drain(..).partition(|b| b.action.is_mutating());
            *list = on;
            self.disabled.entry(*mode).or_default().extend(off);
        }
    }

    pub fn bindings(&self, mode: Mode) -> &[Binding] {
        self.modes.get(&mode).map_or(&[], Vec::as_slice)
    }

    /// Resolve the keys typed so far in `mode`.
    pub fn resolve(&self, mode: Mode, typed: &[Key]) -> Resolved {
        let list = self.bindings(mode);
        if let Some(b) = list.iter().find(|b| b.keys == typed) {
            return Resolved::Action(b.action);
        }
        if list
            .iter()
            .any(|b| b.keys.len() > typed.len() && b.keys.starts_with(typed))
        {
            return Resolved::Pending;
        }
        if let Some(b) = self
            .disabled
            .get(&mode)
            .and_then(|d| d.iter().find(|b| b.keys == typed))
        {
            return Resolved::Disabled(b.action);
        }
        if self.disabled.get(&mode).is_some_and(|d| {
            d.iter()
                .any(|b| b.keys.len() > typed.len() && b.keys.starts_with(typed))
        }) {
            return Resolved::Pending;
        }
        Resolved::Unbound
    }

    /// The keys bound to an action in a mode, as the footer shows them.
    pub fn keys_for(&self, mode: Mode, action: Action) -> Option<String> {
        self.bindings(mode)
            .iter()
            .find(|b| b.action == action)
            .map(|b| {
                b.keys
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_keymaps_load() {
        for (name, _) in SHIPPED {
            let (km, errors) = Keymap::load(name, None, false);
            assert!(errors.is_empty(), "{name}: {errors:?}");
            assert_eq!(
                km.resolve(Mode::Normal, &[Key::parse("<C-c>").unwrap()]),
                Resolved::Action(Action::Quit)
            );
        }
    }

    #[test]
    fn sequences_and_read_only() {
        let (km, _) = Keymap::load("default", None, true);
        let g = Key::parse("g").unwrap();
        assert_eq!(km.resolve(Mode::Normal, &[g]), Resolved::Pending);
        assert_eq!(
            km.resolve(Mode::Normal, &[g, g]),
            Resolved::Action(Action::GoTop)
        );
        assert_eq!(
            km.resolve(Mode::Normal, &[Key::parse("<C-d>").unwrap()]),
            Resolved::Disabled(Action::Delete)
        );
        assert!(
            km.bindings(Mode::Normal)
                .iter()
                .all(|b| !b.action.is_mutating())
        );
    }

    #[test]
    fn key_notation_round_trips() {
        for k in ["j", "G", "<C-d>", "<Enter>", "<PgDn>", "<A-x>", "<Space>"] {
            assert_eq!(Key::parse(k).unwrap().to_string(), k);
        }
        assert!(Key::parse("<Nope>").is_err());
        assert!(Key::parse("ab").is_err());
    }
}
