//! The console's model and its pure, synchronous `update`: raw Events become
//! Actions through the keymap; I/O is requested as Effects that the runtime
//! performs and reports back as Events.

use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::data::{DisplayRow, Row, Stores, ViewKind, display_row, order_rows, worker_entries};
use super::keymap::{Action, Key, Keymap, Mode, Resolved};
use super::theme::Theme;
use std::sync::Arc;

/// Raw input and reports.
#[derive(Debug, Clone)]
pub enum Event {
    Key(KeyEvent),
    Resize,
    /// A store changed (coalesced: at most one per store until seen).
    StoreChanged,
    /// The YAML of an object arrived (or failed).
    Yaml {
        title: String,
        result: Result<serde_json::Value, String>,
    },
    /// A delete finished.
    Deleted {
        what: String,
        result: Result<(), String>,
    },
    /// Audit lines were read.
    Audit(Result<Vec<String>, String>),
    /// The connection changed (context switch).
    Connected(Header),
    /// A second passed: ages move on.
    Tick,
}

/// I/O the runtime performs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Quit,
    Copy(String),
    FetchYaml {
        kind: ViewKind,
        namespace: String,
        name: String,
    },
    Delete {
        kind: ViewKind,
        namespace: String,
        name: String,
    },
    LoadAudit,
    SwitchContext(String),
}

/// What the header shows about the connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    pub context: String,
    pub server: String,
    pub embedded: bool,
    pub fallback: bool,
    pub read_only: bool,
    pub engine: String,
}

#[derive(Debug, Clone, Default)]
pub struct TableState {
    pub selected: usize,
    pub sort: (usize, bool),
}

#[derive(Debug, Clone)]
pub struct YamlState {
    pub title: String,
    pub value: Option<serde_json::Value>,
    pub error: Option<String>,
    pub show_hidden: bool,
    pub scroll: usize,
    pub describe: bool,
}

#[derive(Debug, Clone)]
pub enum Screen {
    Table(ViewKind),
    Yaml(YamlState),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Info,
    Error,
}

#[derive(Debug, Clone, Default)]
pub struct Palette {
    pub input: String,
    pub selected: usize,
}

#[derive(Debug, Clone)]
pub struct Confirm {
    pub kind: ViewKind,
    pub namespace: String,
    pub name: String,
}

/// What the current rows were built from: rebuilt when any part moves.
type RowsKey = (
    ViewKind,
    u64,
    u64,
    Option<String>,
    Option<String>,
    (usize, bool),
);

/// Everything the views render from.
pub struct Model {
    pub stack: Vec<Screen>,
    pub tables: HashMap<ViewKind, TableState>,
    /// None: all namespaces.
    pub namespace: Option<String>,
    pub default_namespace: String,
    pub filter: Option<(String, Option<regex::Regex>)>,
    pub filter_input: Option<String>,
    pub filter_error: Option<String>,
    pub palette: Option<Palette>,
    pub help: bool,
    pub confirm: Option<Confirm>,
    pub message: Option<(String, MessageKind)>,
    pub header: Header,
    pub contexts: Vec<String>,
    pub typed: Vec<Key>,
    pub stores: Stores,
    pub audit: Vec<Row>,
    pub theme: Theme,
    pub themes: Vec<String>,
    pub keymap: Keymap,
    pub ascii: bool,
    pub page: usize,
    pub now_ms: i64,
    /// Rows of the current table view, rebuilt when something changed.
    pub rows: Vec<Arc<DisplayRow>>,
    /// Display rows by the row they came from: unchanged rows are reused.
    cache: HashMap<(String, String), (Arc<Row>, Arc<DisplayRow>)>,
    cache_key: Option<(ViewKind, u64, i64)>,
    rows_key: Option<RowsKey>,
    pub quit: bool,
    /// A theme switch asked for by the palette; the runtime loads it.
    pub wanted_theme: Option<String>,
}

impl Model {
    pub fn new(
        header: Header,
        namespace: String,
        stores: Stores,
        theme: Theme,
        keymap: Keymap,
    ) -> Self {
        Self {
            stack: vec![Screen::Table(ViewKind::Pods)],
            tables: HashMap::new(),
            namespace: Some(namespace.clone()),
            default_namespace: namespace,
            filter: None,
            filter_input: None,
            filter_error: None,
            palette: None,
            help: false,
            confirm: None,
            message: None,
            header,
            contexts: Vec::new(),
            typed: Vec::new(),
            stores,
            audit: Vec::new(),
            theme,
            themes: super::theme::SHIPPED
                .iter()
                .map(|(n, _)| (*n).to_owned())
                .collect(),
            keymap,
            ascii: false,
            page: 20,
            now_ms: 0,
            rows: Vec::new(),
            cache: HashMap::new(),
            cache_key: None,
            rows_key: None,
            quit: false,
            wanted_theme: None,
        }
    }

    pub fn screen(&self) -> &Screen {
        self.stack.last().unwrap_or(&Screen::Table(ViewKind::Pods))
    }

    pub fn view(&self) -> ViewKind {
        self.stack
            .iter()
            .rev()
            .find_map(|s| match s {
                Screen::Table(k) => Some(*k),
                _ => None,
            })
            .unwrap_or(ViewKind::Pods)
    }

    pub fn mode(&self) -> Mode {
        match self.screen() {
            Screen::Yaml(_) => Mode::Yaml,
            Screen::Table(_) => Mode::Normal,
        }
    }

    pub fn table(&self) -> TableState {
        self.tables.get(&self.view()).cloned().unwrap_or_default()
    }

    fn table_mut(&mut self) -> &mut TableState {
        let v = self.view();
        self.tables.entry(v).or_default()
    }

    /// Rebuild the current view's rows if its store, the filter, the sort or
    /// the namespace changed since the last time. Call once per frame.
    pub fn refresh_rows(&mut self) {
        let kind = self.view();
        let generation = self
            .stores
            .get(kind)
            .map_or(self.audit.len() as u64, |s| s.read().generation);
        let cm_generation = self.stores.cms.read().generation;
        let filter_text = self.filter.as_ref().map(|(t, _)| t.clone());
        let key = (
            kind,
            generation,
            cm_generation,
            self.namespace.clone(),
            filter_text,
            self.table().sort,
        );
        // Ages move with time: rebuild at least when the clock moved a second.
        if self.rows_key.as_ref() == Some(&key) && !self.rows.is_empty() {
            return;
        }
        let workers = if matches!(kind, ViewKind::Pods | ViewKind::StatefulSets) {
            worker_entries(&self.stores.cms)
        } else {
            HashMap::new()
        };
        let filter = self.filter.as_ref().and_then(|(_, re)| re.clone());
        let ns = self.namespace.clone();
        let sort = self.table().sort;
        // Cached display rows stay valid while the view and the swarm
        // configs stay the same; a row is re-derived only when its Arc moved.
        let cache_key = (kind, cm_generation, 0);
        if self.cache_key != Some(cache_key) {
            self.cache.clear();
            self.cache_key = Some(cache_key);
        }
        let now = self.now_ms;
        self.rows = match self.stores.get(kind) {
            Some(store) => {
                let st = store.read();
                let cache = &mut self.cache;
                let rows: Vec<Arc<DisplayRow>> = st
                    .rows
                    .iter()
                    .filter(|((n, _), _)| ns.as_deref().is_none_or(|want| n == want))
                    .map(|(k, row)| match cache.get(k) {
                        Some((old, d)) if Arc::ptr_eq(old, row) => d.clone(),
                        _ => {
                            let d = Arc::new(display_row(kind, row, &workers, now));
                            cache.insert(k.clone(), (row.clone(), d.clone()));
                            d
                        }
                    })
                    .collect();
                if cache.len() > 2 * st.rows.len() + 64 {
                    cache.retain(|k, _| st.rows.contains_key(k));
                }
                order_rows(kind, rows.into_iter(), filter.as_ref(), sort)
            }
            None => order_rows(
                kind,
                self.audit
                    .iter()
                    .map(|r| Arc::new(display_row(kind, r, &workers, now))),
                filter.as_ref(),
                sort,
            ),
        };
        if let Some(store) = self.stores.get(kind) {
            store.seen();
        }
        self.stores.cms.seen();
        let len = self.rows.len();
        let t = self.table_mut();
        if t.selected >= len {
            t.selected = len.saturating_sub(1);
        }
        self.rows_key = Some(key);
    }

    /// Force the next refresh (ages, audit).
    pub fn invalidate(&mut self) {
        self.rows_key = None;
    }

    /// Forget every derived row (benchmarks: the cost of a view's first frame).
    pub fn clear_cache(&mut self) {
        self.cache.clear();
        self.rows_key = None;
    }

    pub fn selected_row(&self) -> Option<&DisplayRow> {
        self.rows.get(self.table().selected).map(|r| &**r)
    }

    fn say(&mut self, text: impl Into<String>, kind: MessageKind) {
        self.message = Some((text.into(), kind));
    }
}

/// Palette commands and what they take.
pub const COMMANDS: &[(&str, &str)] = &[
    ("pods", "pods"),
    ("sts", "statefulsets"),
    ("cm", "configmaps"),
    ("tasks", "tasks"),
    ("events", "events"),
    ("audit", "the engine's audit log"),
    ("ns", "NAME | all: switch namespace"),
    ("ctx", "NAME: switch context"),
    ("theme", "NAME: switch theme"),
    ("q", "quit"),
];

/// Completions for what is typed in the palette.
pub fn completions(model: &Model, input: &str) -> Vec<String> {
    let (cmd, arg) = match input.split_once(' ') {
        Some((c, a)) => (c, Some(a)),
        None => (input, None),
    };
    match arg {
        None => COMMANDS
            .iter()
            .filter(|(c, _)| c.starts_with(cmd))
            .map(|(c, _)| (*c).to_owned())
            .collect(),
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
                    seen.sort();
                    seen.dedup();
                    n.extend(seen);
                    n
                }
                "ctx" => model.contexts.clone(),
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

/// Apply one event to the model; returns the I/O to perform.
pub fn update(model: &mut Model, event: Event) -> Vec<Effect> {
    match event {
        Event::Key(k) => on_key(model, k),
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
        Event::Connected(h) => {
            model.say(
                format!("connected to context {}", h.context),
                MessageKind::Info,
            );
            model.header = h;
            model.invalidate();
            Vec::new()
        }
    }
}

fn on_key(model: &mut Model, k: KeyEvent) -> Vec<Effect> {
    if k.kind == crossterm::event::KeyEventKind::Release {
        return Vec::new();
    }
    // Ctrl-C always quits, whatever is open.
    if k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL) {
        model.quit = true;
        return vec![Effect::Quit];
    }
    if model.confirm.is_some() {
        let c = model.confirm.take();
        if let (Some(c), KeyCode::Char('y' | 'Y')) = (c, k.code) {
            let what = format!(
                "{} {}/{}",
                c.kind.title().trim_end_matches('s').to_lowercase(),
                c.namespace,
                c.name
            );
            model.say(format!("deleting {what} ..."), MessageKind::Info);
            return vec![Effect::Delete {
                kind: c.kind,
                namespace: c.namespace,
                name: c.name,
            }];
        }
        model.say("nothing deleted", MessageKind::Info);
        return Vec::new();
    }
    if model.help {
        model.help = false;
        return Vec::new();
    }
    if let Some(input) = model.filter_input.as_mut() {
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
        return Vec::new();
    }
    if let Some(p) = model.palette.as_mut() {
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
        return Vec::new();
    }
    let Some(key) = Key::from_event(&k) else {
        return Vec::new();
    };
    model.typed.push(key);
    let mode = model.mode();
    match model.keymap.resolve(mode, &model.typed) {
        Resolved::Pending => Vec::new(),
        Resolved::Action(a) => {
            model.typed.clear();
            apply(model, a)
        }
        Resolved::Disabled(a) => {
            model.typed.clear();
            model.say(
                format!(
                    "read-only: `{}` is not available (the console was started with --read-only)",
                    a.id()
                ),
                MessageKind::Error,
            );
            Vec::new()
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

fn preview_filter(model: &mut Model, text: &str) {
    match compile_filter(text) {
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
    preview_filter(model, text);
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

fn run_command(model: &mut Model, input: &str) -> Vec<Effect> {
    let (cmd, arg) = match input.split_once(' ') {
        Some((c, a)) => (c, a.trim()),
        None => (input, ""),
    };
    let cmd = cmd.trim_start_matches(':');
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
        ("ns", "") => {
            model.say("usage: :ns NAME (or :ns all)", MessageKind::Error);
            Vec::new()
        }
        ("ns", "all" | "-A") => {
            model.namespace = None;
            model.say("all namespaces", MessageKind::Info);
            Vec::new()
        }
        ("ns", ns) => {
            model.namespace = Some(ns.to_owned());
            model.table_mut().selected = 0;
            model.say(format!("namespace {ns}"), MessageKind::Info);
            Vec::new()
        }
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
        ("", _) => Vec::new(),
        (other, _) => {
            let known: Vec<&str> = COMMANDS.iter().map(|(c, _)| *c).collect();
            model.say(
                format!(
                    "unknown command `:{other}` (commands: {})",
                    known.join(", ")
                ),
                MessageKind::Error,
            );
            Vec::new()
        }
    }
}

fn open_view(model: &mut Model, kind: ViewKind) -> Vec<Effect> {
    model.stack.retain(|s| matches!(s, Screen::Table(_)));
    match model
        .stack
        .iter()
        .position(|s| matches!(s, Screen::Table(k) if *k == kind))
    {
        Some(p) => model.stack.truncate(p + 1),
        None => model.stack.push(Screen::Table(kind)),
    }
    if model.stack.len() > 8 {
        model.stack.remove(0);
    }
    model.filter = None;
    model.invalidate();
    if kind == ViewKind::Audit {
        vec![Effect::LoadAudit]
    } else {
        Vec::new()
    }
}

fn apply(model: &mut Model, action: Action) -> Vec<Effect> {
    let len = model.rows.len();
    let page = model.page.max(1);
    if let Screen::Yaml(y) = model
        .stack
        .last_mut()
        .unwrap_or(&mut Screen::Table(ViewKind::Pods))
    {
        match action {
            Action::Down => y.scroll += 1,
            Action::Up => y.scroll = y.scroll.saturating_sub(1),
            Action::PageDown => y.scroll += page,
            Action::PageUp => y.scroll = y.scroll.saturating_sub(page),
            Action::GoTop => y.scroll = 0,
            Action::GoBottom => y.scroll = usize::MAX / 2,
            Action::ToggleHidden => y.show_hidden = !y.show_hidden,
            Action::CopyName => {
                let name = y.title.rsplit('/').next().unwrap_or("").to_owned();
                model.say(format!("copied {name}"), MessageKind::Info);
                return vec![Effect::Copy(name)];
            }
            Action::Back => {
                model.stack.pop();
            }
            Action::Help => model.help = true,
            Action::Quit => {
                model.quit = true;
                return vec![Effect::Quit];
            }
            _ => {}
        }
        return Vec::new();
    }
    match action {
        Action::Quit => {
            model.quit = true;
            return vec![Effect::Quit];
        }
        Action::Down => {
            model.table_mut().selected = (model.table().selected + 1).min(len.saturating_sub(1))
        }
        Action::Up => model.table_mut().selected = model.table().selected.saturating_sub(1),
        Action::PageDown => {
            model.table_mut().selected = (model.table().selected + page).min(len.saturating_sub(1))
        }
        Action::PageUp => model.table_mut().selected = model.table().selected.saturating_sub(page),
        Action::GoTop => model.table_mut().selected = 0,
        Action::GoBottom => model.table_mut().selected = len.saturating_sub(1),
        Action::Filter => {
            model.filter_input = Some(
                model
                    .filter
                    .as_ref()
                    .map(|(t, _)| t.clone())
                    .unwrap_or_default(),
            );
        }
        Action::Palette => model.palette = Some(Palette::default()),
        Action::Help => model.help = true,
        Action::Back => {
            if model.filter.is_some() {
                model.filter = None;
            } else if model.stack.len() > 1 {
                model.stack.pop();
                model.invalidate();
            }
        }
        Action::SortNext | Action::SortPrev => {
            let n = model.view().columns().len();
            let t = model.table_mut();
            t.sort.0 = if action == Action::SortNext {
                (t.sort.0 + 1) % n
            } else {
                (t.sort.0 + n - 1) % n
            };
            let name = model.view().columns()[model.table().sort.0].0;
            model.say(format!("sorted by {name}"), MessageKind::Info);
        }
        Action::SortReverse => {
            let t = model.table_mut();
            t.sort.1 = !t.sort.1;
        }
        Action::AllNamespaces => {
            model.namespace = if model.namespace.is_some() {
                None
            } else {
                Some(model.default_namespace.clone())
            };
            let what = model
                .namespace
                .clone()
                .unwrap_or_else(|| "all namespaces".into());
            model.say(what, MessageKind::Info);
        }
        Action::ViewPods => return open_view(model, ViewKind::Pods),
        Action::ViewSts => return open_view(model, ViewKind::StatefulSets),
        Action::ViewCm => return open_view(model, ViewKind::ConfigMaps),
        Action::ViewTasks => return open_view(model, ViewKind::Tasks),
        Action::ViewEvents => return open_view(model, ViewKind::Events),
        Action::ViewAudit => return open_view(model, ViewKind::Audit),
        Action::Open | Action::Describe => {
            let kind = model.view();
            if let Some(row) = model.selected_row().cloned()
                && kind != ViewKind::Audit
            {
                let title = format!("{}/{}/{}", kind.command(), row.namespace, row.name);
                model.stack.push(Screen::Yaml(YamlState {
                    title,
                    value: None,
                    error: None,
                    show_hidden: false,
                    scroll: 0,
                    describe: action == Action::Describe,
                }));
                return vec![Effect::FetchYaml {
                    kind,
                    namespace: row.namespace,
                    name: row.name,
                }];
            }
        }
        Action::CopyName => {
            if let Some(row) = model.selected_row() {
                let name = row.name.clone();
                model.say(format!("copied {name}"), MessageKind::Info);
                return vec![Effect::Copy(name)];
            }
        }
        Action::Delete => {
            let kind = model.view();
            if let Some(row) = model.selected_row().cloned()
                && kind != ViewKind::Audit
            {
                model.confirm = Some(Confirm {
                    kind,
                    namespace: row.namespace,
                    name: row.name,
                });
            }
        }
        Action::ToggleHidden => {}
    }
    Vec::new()
}
