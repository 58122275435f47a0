//! The console's model: everything the views render from (`Model`), the
//! screens on its stack, the overlays' state, the raw Events that come in
//! and the Effects asked of the executor; and the moves every screen makes
//! (open a view, switch namespace, ask before acting, open logs). Screens
//! import this, not the dispatcher (`app.rs`).

use std::collections::HashMap;

use super::data::{DisplayRow, Row, Stores, ViewKind, display_row, order_rows, worker_entries};
use super::editor::EditorState;
use crossterm::event::KeyEvent;

use super::keymap::{Action, Key, Keymap, Mode};
pub use super::screen::grid::GridState;
pub use super::screen::table::TableState;
pub use super::screen::task::{TaskScreen, task_row};
pub use super::screen::yaml::YamlState;
use super::theme::Theme;
use crate::cluster::discovery::ApiKind;
use crate::domain::swarm::SwarmRef;
use crate::engine::run::EngineStatus;
use std::sync::Arc;

/// Raw input and reports.
#[derive(Debug, Clone)]
pub enum Event {
    Key(KeyEvent),
    /// What the user may do in a namespace arrived.
    Permissions(Permissions),
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
    /// A palette command to run as if typed (the start view: `--view`,
    /// `start_view` in settings.toml).
    Command(String),
    /// A second passed: ages move on.
    Tick,
    /// The console's engine reported a change.
    Engine(Box<EngineStatus>),
    /// The YAML of an object to edit arrived (or failed).
    EditorLoaded {
        title: String,
        namespace: String,
        /// The object as read from the cluster.
        result: Result<serde_json::Value, String>,
    },
    /// The editor's object changed in the cluster since it was read: the
    /// save was refused. `theirs` is the object as it is now.
    EditConflict {
        theirs: Box<serde_json::Value>,
        diff: String,
    },
    /// A dry run, apply or delete of the editor's unit finished.
    UnitDone {
        result: Result<String, String>,
        applied: bool,
    },
    /// The diff of the editor's unit against the live objects.
    DiffReady(Result<String, String>),
    /// An intent was written (scale, rebalance, target state, restart).
    Acted {
        what: String,
        result: Result<(), String>,
    },
    /// Lines (and marks) of the log reading `id`.
    Logs {
        id: u64,
        events: Vec<crate::cluster::logs::LogEvent>,
    },
    /// What the server serves (its discovery), or why it did not say.
    Discovered(Result<crate::cluster::discovery::Catalog, String>),
    /// Rows of the table reading `id`.
    Table {
        id: u64,
        updates: Vec<crate::cluster::tables::TableUpdate>,
    },
    /// The label selector of `of`'s pods (in `namespace`), or why not.
    PodsOf {
        namespace: String,
        of: String,
        result: Result<String, String>,
    },
}

/// I/O the runtime performs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Quit,
    Copy(String),
    /// Read one object for the YAML screen titled `title`.
    FetchYaml {
        api: ApiKind,
        namespace: String,
        name: String,
        title: String,
    },
    /// Delete one object; `what` names it in the answer.
    Delete {
        api: ApiKind,
        namespace: String,
        name: String,
        what: String,
    },
    LoadAudit,
    SwitchContext(String),
    /// Lend the terminal to the context's credential plugin (a sign-in
    /// that needs the operator), then reconnect.
    Login,
    /// Lend the terminal to a shell in a pod's container
    /// ([`crate::ops::exec`]), then come back.
    Shell(crate::ops::exec::Exec),
    /// Watch this namespace instead (the stores watch one namespace only).
    Rescope(String),
    /// Remember the `:set` variables for this context in settings.toml.
    SaveVars(super::editor::Vars),
    /// Scale the swarm the grid shows ([`crate::ops::scale`]).
    Scale {
        swarm: SwarmRef,
        replicas: u32,
    },
    /// Intent: `swarmdeck.io/rebalance-requested` on the jobs ConfigMap.
    Rebalance(SwarmRef),
    /// Intent: `swarmdeck.io/target-state` on the Task.
    SetTarget {
        namespace: String,
        name: String,
        state: crate::domain::task::OccState,
        recover: bool,
    },
    Restart {
        kind: ViewKind,
        namespace: String,
        name: String,
    },
    EditFetch {
        api: ApiKind,
        namespace: String,
        name: String,
    },
    ApplyUnit {
        text: String,
        namespace: String,
        dry_run: bool,
        how: super::editor::Sending,
    },
    DeleteUnit {
        text: String,
        namespace: String,
        how: super::editor::Sending,
    },
    DiffUnit {
        text: String,
        namespace: String,
        how: super::editor::Sending,
    },
    /// Read logs for the log screen `id` (ends the reading before it).
    OpenLogs {
        id: u64,
        source: super::screen::logs::LogSource,
        options: crate::cluster::logs::LogOptions,
    },
    /// Stop reading logs.
    CloseLogs,
    /// Ask the server what it serves (discovery).
    Discover,
    /// Read a kind as Tables for the resource screen `id` (ends the
    /// reading before it).
    ReadTable {
        id: u64,
        reading: super::screen::resource::Reading,
    },
    /// Stop reading tables.
    CloseTable,
    /// Find the pods of one object (its label selector).
    PodsOf {
        api: ApiKind,
        namespace: String,
        name: String,
    },
    /// Write `text` to a file (`:w FILE`); `what` says what it holds.
    WriteFile {
        path: String,
        text: String,
        what: String,
    },
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

/// The rules that apply to the user in one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    pub namespace: String,
    pub rules: Vec<crate::domain::rbac::Rule>,
}

impl Permissions {
    /// May the user do `a`? Unknown (another namespace): yes, the server decides.
    pub fn allow(&self, a: &crate::domain::rbac::Attributes) -> bool {
        a.namespace.as_deref() != Some(self.namespace.as_str())
            || self.rules.iter().any(|r| r.allows(a))
    }
}

#[derive(Debug, Clone)]
pub enum Screen {
    Table(ViewKind),
    Yaml(YamlState),
    Grid(GridState),
    Task(TaskScreen),
    Editor(Box<EditorState>),
    Logs(Box<super::screen::logs::LogScreen>),
    Resource(Box<super::screen::resource::ResourceScreen>),
    Overview(Box<super::screen::overview::OverviewState>),
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

/// A question before an action; `y` answers yes.
#[derive(Debug, Clone)]
pub struct Confirm {
    pub question: String,
    pub then: Then,
    /// Drawn in the view (the grid's plan line) rather than as a dialog.
    pub inline: bool,
}

/// What a yes does.
#[derive(Debug, Clone)]
pub enum Then {
    Effects {
        effects: Vec<Effect>,
        doing: String,
    },
    /// Close the editor, dropping its changes.
    DiscardEditor,
    /// The editor's object changed since it was read: `r` re-opens the
    /// editor on theirs, `o` sends `overwrite`, any other key keeps editing.
    Conflict {
        theirs: Box<serde_json::Value>,
        overwrite: Box<Effect>,
    },
    Quit,
}

/// A line of input asked for by an action, validated as it is typed.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub label: String,
    pub input: String,
    pub error: Option<String>,
    pub purpose: PromptFor,
}

#[derive(Debug, Clone)]
pub enum PromptFor {
    Replicas { swarm: SwarmRef, current: u32 },
}

/// What the current rows were built from: rebuilt when any part moves.
type RowsKey = (
    ViewKind,
    u64,
    // What the swarm and usage columns read: the ConfigMaps' generation,
    // the metrics' (pods only).
    (u64, u64),
    Option<String>,
    Option<String>,
    (usize, bool),
    bool,
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
    /// The first line of the help shown (it scrolls when it does not fit).
    pub help_scroll: usize,
    pub confirm: Option<Confirm>,
    pub prompt: Option<Prompt>,
    pub message: Option<(String, MessageKind)>,
    /// The console's engine, as it last reported.
    pub engine: Option<EngineStatus>,
    pub header: Header,
    pub contexts: Vec<String>,
    /// The stores watch this namespace only (the credentials may not list
    /// all): another namespace needs stores of its own.
    pub watch_only: Option<String>,
    /// Namespaces offered by `:ns` completion besides those seen in the stores.
    pub known_namespaces: Vec<String>,
    /// Template variables set with `:set NAME=VALUE` (they win over the
    /// environment in the editor, its dry runs and applies).
    pub vars: super::editor::Vars,
    /// What the user may do in a namespace (a SelfSubjectRulesReview's
    /// rules): mutating keys say "forbidden" before asking, not after.
    pub permissions: Option<Permissions>,
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
    cache_key: Option<(ViewKind, (u64, u64))>,
    rows_key: Option<RowsKey>,
    /// When the rows were last derived afresh (a pass over every row).
    derived_at: Option<std::time::Instant>,
    /// Rows are behind their store on purpose (a first list streaming in):
    /// the runtime comes back for them.
    pub refresh_owed: bool,
    pub quit: bool,
    /// A theme switch asked for by the palette; the runtime loads it.
    pub wanted_theme: Option<String>,
    /// The last log reading started (each has its own id).
    pub log_id: u64,
    /// `:events` shows Warning events only.
    pub warnings_only: bool,
    /// Warning events in the namespace shown in the last 10 minutes (the
    /// header), and what that was counted from.
    pub warnings: usize,
    warnings_key: Option<(u64, Option<String>, i64)>,
    /// The last 15 minutes, sampled whichever screen is shown (`:overview`).
    pub trends: super::screen::overview::Trends,
    /// Lines a log screen keeps (settings `logs.max_lines`).
    pub log_max_lines: usize,
    /// What the server serves, once asked (the palette's first use, or a
    /// `:NAME` that is no command).
    pub catalog: Option<crate::cluster::discovery::Catalog>,
    pub discovering: bool,
    /// A `:NAME` typed while discovery was on its way.
    pub pending_kind: Option<String>,
    /// The table reading that feeds the topmost resource screen.
    pub table_reading: Option<(u64, super::screen::resource::Reading)>,
    pub table_id: u64,
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
            help_scroll: 0,
            confirm: None,
            prompt: None,
            message: None,
            engine: None,
            header,
            contexts: Vec::new(),
            watch_only: None,
            known_namespaces: Vec::new(),
            permissions: None,
            vars: Default::default(),
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
            derived_at: None,
            refresh_owed: false,
            quit: false,
            wanted_theme: None,
            log_id: 0,
            warnings_only: false,
            warnings: 0,
            warnings_key: None,
            trends: Default::default(),
            log_max_lines: super::screen::logs::DEFAULT_MAX_LINES,
            catalog: None,
            discovering: false,
            pending_kind: None,
            table_reading: None,
            table_id: 0,
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
            Screen::Grid(_) => Mode::Grid,
            Screen::Task(_) => Mode::Task,
            Screen::Editor(_) => Mode::Editor,
            Screen::Logs(_) => Mode::Logs,
            Screen::Resource(_) | Screen::Overview(_) => Mode::Normal,
        }
    }

    pub fn table(&self) -> TableState {
        let v = self.view();
        self.tables
            .get(&v)
            .cloned()
            .unwrap_or_else(|| TableState::of(v))
    }

    pub(crate) fn table_mut(&mut self) -> &mut TableState {
        let v = self.view();
        self.tables.entry(v).or_insert_with(|| TableState::of(v))
    }

    /// Count the Warning events of the last 10 minutes in the namespace
    /// shown (again when the events or the namespace change, or 10 s pass).
    fn count_warnings(&mut self) {
        let key = (
            self.stores.events.read().generation,
            self.namespace.clone(),
            self.now_ms / 10_000,
        );
        if self.warnings_key.as_ref() == Some(&key) {
            return;
        }
        let since = self.now_ms - 600_000;
        let st = self.stores.events.read();
        self.warnings = st
            .rows
            .iter()
            .filter(|((ns, _), _)| self.namespace.as_deref().is_none_or(|want| ns == want))
            .filter(|(_, r)| {
                r.severity == super::data::Severity::Warn
                    && matches!(r.cells.first(), Some(super::data::Cell::Age(Some(t))) if *t >= since)
            })
            .count();
        drop(st);
        self.warnings_key = Some(key);
    }

    /// Rebuild the current view's rows if its store, the filter, the sort or
    /// the namespace changed since the last time. Call once per frame.
    pub fn refresh_rows(&mut self) {
        // Before anything is read: a change from here on wakes the UI again.
        self.stores.seen_all();
        super::screen::grid::refresh(self);
        super::screen::resource::refresh(self);
        super::screen::overview::refresh(self);
        let page = self.page;
        if let Some(Screen::Logs(l)) = self.stack.last_mut() {
            l.height = page;
        }
        self.count_warnings();
        let kind = self.view();
        let generation = self
            .stores
            .get(kind)
            .map_or(self.audit.len() as u64, |s| s.read().generation);
        let cm_generation = (
            self.stores.cms.read().generation,
            if kind == ViewKind::Pods {
                self.stores.metrics.read().generation
            } else {
                0
            },
        );
        let filter_text = self.filter.as_ref().map(|(t, _)| t.clone());
        let key = (
            kind,
            generation,
            cm_generation,
            self.namespace.clone(),
            filter_text,
            self.table().sort,
            self.warnings_only && kind == ViewKind::Events,
        );
        // Ages are drawn from the clock: a row is derived only when it changed.
        if self.rows_key.as_ref() == Some(&key) && !self.rows.is_empty() {
            return;
        }
        let workers = if matches!(kind, ViewKind::Pods | ViewKind::StatefulSets) {
            worker_entries(&self.stores.cms)
        } else {
            HashMap::new()
        };
        let usage = self.stores.metrics.read().pods.clone();
        let filter = self.filter.as_ref().and_then(|(_, re)| re.clone());
        let warnings_only = key.6;
        let keep = |d: &DisplayRow| {
            (!warnings_only || d.severity == super::data::Severity::Warn)
                && d.matches(filter.as_ref())
        };
        let ns = self.namespace.clone();
        let sort = self.table().sort;
        // While a first list streams in, every page would cost a pass over
        // all rows (and hold the store the watcher fills): the rows follow
        // it at most LOADING_REFRESH apart, the first page at once.
        let loading = self.stores.get(kind).is_some_and(|s| !s.read().synced);
        let same_view = self.rows_key.as_ref().is_some_and(|old| {
            (old.0, &old.2, &old.3, &old.4, old.5, old.6)
                == (key.0, &key.2, &key.3, &key.4, key.5, key.6)
        });
        if loading
            && same_view
            && !self.rows.is_empty()
            && self
                .derived_at
                .is_some_and(|t| t.elapsed() < LOADING_REFRESH)
        {
            self.refresh_owed = true;
            return;
        }
        self.refresh_owed = false;
        if self.move_changed_rows(&key, &workers, &keep) {
            self.finish_refresh(key);
            return;
        }
        // Cached display rows stay valid while the view and the swarm
        // configs stay the same; a row is re-derived only when its Arc moved.
        let cache_key = (kind, cm_generation);
        if self.cache_key != Some(cache_key) {
            self.cache.clear();
            self.cache_key = Some(cache_key);
        }
        let now = self.now_ms;
        // Stores hold rows by namespace and name; the audit and Events are
        // shown in another order.
        let presorted = kind != ViewKind::Audit && kind != ViewKind::Events;
        self.rows = match self.stores.get(kind) {
            Some(store) => {
                // Under the store's lock only what is cheap: which rows are
                // derived already. The watcher waits for this lock to add
                // the next page of a first list.
                let picked: Vec<Picked> = {
                    let st = store.read();
                    let cache = &mut self.cache;
                    if cache.len() > 2 * st.rows.len() + 64 {
                        cache.retain(|k, _| st.rows.contains_key(k));
                    }
                    st.rows
                        .iter()
                        .filter(|((n, _), _)| ns.as_deref().is_none_or(|want| n == want))
                        .map(|(k, row)| match cache.get(k) {
                            Some((old, d)) if Arc::ptr_eq(old, row) => Ok(d.clone()),
                            _ => Err((k.clone(), row.clone())),
                        })
                        .collect()
                };
                let cache = &mut self.cache;
                let rows = picked.into_iter().map(|p| match p {
                    Ok(d) => d,
                    Err((k, row)) => {
                        let d = Arc::new(display_row(kind, &row, &workers, &usage, now));
                        cache.insert(k, (row, d.clone()));
                        d
                    }
                });
                order_rows(rows, &keep, sort, presorted)
            }
            None => order_rows(
                self.audit
                    .iter()
                    .map(|r| Arc::new(display_row(kind, r, &workers, &usage, now))),
                &keep,
                sort,
                presorted,
            ),
        };
        self.derived_at = Some(std::time::Instant::now());
        self.finish_refresh(key);
    }

    fn finish_refresh(&mut self, key: RowsKey) {
        let len = self.rows.len();
        let t = self.table_mut();
        if t.selected >= len {
            t.selected = len.saturating_sub(1);
        }
        self.rows_key = Some(key);
    }

    /// When only some rows of the view's store changed since the rows were
    /// last derived (same view, namespace, filter, sort and swarm configs),
    /// move just those: each changed row leaves its place and, if it is
    /// still there and still passes the filters, is derived again and put
    /// where the order wants it. The cost follows the changes, not the size
    /// of the view (a few changes in 50,000 rows cost microseconds, where
    /// deriving the order afresh costs tens of milliseconds). False when the
    /// rows must be derived afresh.
    fn move_changed_rows(
        &mut self,
        key: &RowsKey,
        workers: &HashMap<(String, String), super::data::WorkerEntry>,
        keep: &dyn Fn(&DisplayRow) -> bool,
    ) -> bool {
        let Some(old) = &self.rows_key else {
            return false;
        };
        let kind = key.0;
        let same_view = (old.0, &old.2, &old.3, &old.4, old.5, old.6)
            == (key.0, &key.2, &key.3, &key.4, key.5, key.6);
        if !same_view || self.rows.is_empty() || self.cache_key.is_none_or(|c| c.1 != key.2) {
            return false;
        }
        let Some(store) = self.stores.get(kind) else {
            return false;
        };
        let usage = self.stores.metrics.read().pods.clone();
        let st = store.read();
        let Some(changed) = st.changed_since(old.1) else {
            return false;
        };
        // Past this many, one pass over every row is cheaper.
        if changed.len() > 256.max(self.rows.len() / 16) {
            return false;
        }
        let sort = key.5;
        let order = |a: &DisplayRow, b: &DisplayRow| super::data::row_order(sort, a, b);
        for k in changed {
            if let Some((_, before)) = self.cache.remove(&k)
                && let Ok(at) = self.rows.binary_search_by(|r| order(r, &before))
            {
                self.rows.remove(at);
            }
            let Some(row) = st.rows.get(&k) else {
                continue;
            };
            if key.3.as_deref().is_some_and(|want| *want != k.0) {
                continue;
            }
            let d = Arc::new(display_row(kind, row, workers, &usage, self.now_ms));
            self.cache.insert(k, (row.clone(), d.clone()));
            if keep(&d) {
                let at = self
                    .rows
                    .binary_search_by(|r| order(r, &d))
                    .unwrap_or_else(|at| at);
                self.rows.insert(at, d);
            }
        }
        true
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

    pub(crate) fn say(&mut self, text: impl Into<String>, kind: MessageKind) {
        self.message = Some((text.into(), kind));
    }

    pub(crate) fn say_error(&mut self, text: impl Into<String>) {
        self.say(text, MessageKind::Error);
    }
}

/// A row of a full derive: derived already, or still to derive (its key and row).
type Picked = Result<Arc<DisplayRow>, ((String, String), Arc<Row>)>;

/// How far apart the rows follow a first list while it streams in.
const LOADING_REFRESH: std::time::Duration = std::time::Duration::from_millis(200);

/// Show namespace `ns` (new stores when the credentials watch one at a time).
pub(crate) fn switch_namespace(model: &mut Model, ns: &str) -> Vec<Effect> {
    model.namespace = Some(ns.to_owned());
    model.table_mut().selected = 0;
    model.say(format!("namespace {ns}"), MessageKind::Info);
    match &model.watch_only {
        Some(only) if only != ns => vec![Effect::Rescope(ns.to_owned())],
        _ => Vec::new(),
    }
}

pub(crate) fn open_view(model: &mut Model, kind: ViewKind) -> Vec<Effect> {
    let mut effects = super::screen::logs::close_all(model);
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
        effects.push(Effect::LoadAudit);
    }
    effects
}

/// Ask before `effects`; `doing` is said when the answer is yes.
pub(crate) fn ask(model: &mut Model, question: String, effects: Vec<Effect>, doing: String) {
    model.confirm = Some(Confirm {
        question,
        then: Then::Effects { effects, doing },
        inline: false,
    });
}

/// `l`: the logs of the selected pod, the swarm of the selected
/// StatefulSet, the Task's pod, or (in the grid) the swarm's workers.
pub(crate) fn open_logs(model: &mut Model) -> Vec<Effect> {
    use super::screen::logs::{LogSource, open};
    match model.screen() {
        Screen::Grid(g) => {
            let swarm = g.swarm.clone();
            return open(model, LogSource::Swarm(swarm));
        }
        Screen::Task(t) => {
            let source = LogSource::Pod {
                namespace: t.namespace.clone(),
                pod: crate::domain::task::task_pod_name(&t.name),
            };
            return open(model, source);
        }
        Screen::Resource(r) => {
            let is_pods = r.kind.group.is_empty() && r.kind.plural == "pods";
            return match r.selected_row() {
                Some(row) if is_pods => {
                    let source = LogSource::Pod {
                        namespace: row.namespace.clone(),
                        pod: row.name.clone(),
                    };
                    open(model, source)
                }
                Some(_) => {
                    let what = r.kind.plural.clone();
                    model.say_error(format!(
                        "logs are read from pods: Enter on {what} that run pods lists them, then l"
                    ));
                    Vec::new()
                }
                None => {
                    model.say_error("no row selected");
                    Vec::new()
                }
            };
        }
        _ => {}
    }
    let kind = model.view();
    let Some(row) = model.selected_row().cloned() else {
        model.say_error("no row selected");
        return Vec::new();
    };
    let source = match kind {
        ViewKind::Pods => LogSource::Pod {
            namespace: row.namespace,
            pod: row.name,
        },
        ViewKind::Tasks => LogSource::Pod {
            pod: crate::domain::task::task_pod_name(&row.name),
            namespace: row.namespace,
        },
        ViewKind::StatefulSets => {
            match super::grid::swarm_of_sts(&model.stores, &row.namespace, &row.name) {
                Some(swarm) => LogSource::Swarm(swarm),
                None => {
                    model.say_error(format!(
                        "{} is not a swarm's StatefulSet: open one of its pods' logs from :pods",
                        row.name
                    ));
                    return Vec::new();
                }
            }
        }
        _ => {
            model.say_error("logs are read from pods, swarms' StatefulSets and Tasks");
            return Vec::new();
        }
    };
    open(model, source)
}

/// What every screen above the tables does with palette, help, back, quit.
pub(crate) fn screen_action(model: &mut Model, action: Action) -> Vec<Effect> {
    match action {
        Action::Palette => model.palette = Some(Palette::default()),
        Action::Help => model.help = true,
        Action::Back => {
            model.stack.pop();
            model.invalidate();
        }
        Action::Quit => {
            model.quit = true;
            return vec![Effect::Quit];
        }
        _ => {}
    }
    Vec::new()
}

#[cfg(test)]
mod incremental_rows_tests {
    use super::*;
    use crate::cluster::stores::Store;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn pod(ns: &str, name: &str, restarts: u32, phase: &str, age_s: u32) -> Row {
        let p: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": ns,
                "creationTimestamp": format!("2026-11-22T00:{:02}:{:02}Z", age_s / 60 % 60, age_s % 60)},
            "spec": {"containers": [{"name": "c", "image": "x"}]},
            "status": {"phase": phase, "containerStatuses": [{"name": "c", "image": "x", "imageID": "",
                "ready": phase == "Running", "restartCount": restarts, "state": {"running": {}}}]}
        }))
        .unwrap();
        super::super::data::pod_row(&p)
    }

    fn model(
        store: Store<Row>,
        namespace: Option<&str>,
        sort: (usize, bool),
        filter: Option<&str>,
    ) -> Model {
        let (theme, _) = super::super::theme::ThemeSource { user_dir: None }.load("default");
        let (keymap, _) = super::super::keymap::Keymap::load("default", None, false);
        let stores = Stores {
            pods: store,
            ..Default::default()
        };
        let mut m = Model::new(Header::default(), "a".into(), stores, theme, keymap);
        m.namespace = namespace.map(str::to_owned);
        m.now_ms = 1_795_305_700_000;
        m.tables.entry(ViewKind::Pods).or_default().sort = sort;
        m.filter = filter.map(|f| (f.to_owned(), regex::Regex::new(f).ok()));
        m
    }

    fn names(m: &Model) -> Vec<(String, String, Vec<String>)> {
        m.rows
            .iter()
            .map(|r| (r.namespace.clone(), r.name.clone(), r.cells.clone()))
            .collect()
    }

    /// (namespace, name index, restarts, running, age) or a deletion.
    fn change() -> impl Strategy<Value = (bool, usize, u32, bool, u32, bool)> {
        (
            any::<bool>(),
            0usize..40,
            0u32..5,
            any::<bool>(),
            0u32..3600,
            prop::bool::weighted(0.2),
        )
    }

    fn screen(m: &Model) -> String {
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 8)).unwrap();
        terminal
            .draw(|f| super::super::views::render(m, f))
            .unwrap();
        let buf = terminal.backend().buffer();
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol())
                    .collect::<String>()
                    + "\n"
            })
            .collect()
    }

    /// Ages move with the clock while nothing changes: no row is derived
    /// again, yet the drawn age is the age now.
    #[test]
    fn ages_move_while_the_view_is_idle() {
        let store: Store<Row> = Store::default();
        store.apply(
            ("ns-a".into(), "pod-1".into()),
            Some(Arc::new(pod("ns-a", "pod-1", 0, "Running", 0))),
        );
        let created = crate::time::parse_rfc3339("2026-11-22T00:00:00Z").unwrap();
        let mut m = model(store, Some("ns-a"), (0, false), None);
        m.now_ms = created + 5_000;
        m.refresh_rows();
        assert!(screen(&m).contains(" 5s "), "{}", screen(&m));
        m.now_ms = created + 125_000;
        m.refresh_rows();
        assert!(screen(&m).contains(" 2m5s "), "{}", screen(&m));
    }

    /// After a frame, a change to any store wakes the UI again, whichever
    /// view is shown: the header counts the events while the pods are
    /// shown, and a store's change is never left unnotified.
    #[test]
    fn every_store_notifies_again_after_a_frame() {
        let pods: Store<Row> = Store::default();
        let mut m = model(pods.clone(), Some("ns-a"), (0, false), None);
        let events = m.stores.events.clone();
        let row = || Some(Arc::new(pod("ns-a", "x", 0, "Running", 0)));
        assert!(events.apply(("ns-a".into(), "e1".into()), row()));
        assert!(
            !events.apply(("ns-a".into(), "e2".into()), row()),
            "coalesced until a frame reads it"
        );
        m.refresh_rows();
        assert!(
            events.apply(("ns-a".into(), "e3".into()), row()),
            "a change after the frame notifies, though the view shows pods"
        );
        assert!(pods.apply(("ns-a".into(), "p1".into()), row()));
        m.refresh_rows();
        assert!(pods.apply(("ns-a".into(), "p2".into()), row()));
    }

    /// While a first list streams in, its first page shows at once and the
    /// next ones join at most LOADING_REFRESH apart (each costs a pass over
    /// every row); the runtime is told to come back, and the completed list
    /// shows in full at once.
    #[test]
    fn a_first_list_shows_its_first_page_at_once_and_the_rest_paced() {
        let store: Store<Row> = Store::default();
        let page = |from: usize| {
            (from..from + 3)
                .map(|i| {
                    let name = format!("pod-{i:02}");
                    let row = Arc::new(pod("ns-a", &name, 0, "Running", 0));
                    (("ns-a".to_owned(), name), row)
                })
                .collect::<BTreeMap<_, _>>()
        };
        let mut m = model(store.clone(), Some("ns-a"), (0, false), None);
        store.extend(page(0));
        m.refresh_rows();
        assert_eq!(m.rows.len(), 3, "the first page at once");
        assert!(!m.refresh_owed);
        store.extend(page(3));
        m.refresh_rows();
        assert_eq!(m.rows.len(), 3, "the second page waits");
        assert!(m.refresh_owed, "the runtime is to come back");
        std::thread::sleep(LOADING_REFRESH);
        m.refresh_rows();
        assert_eq!(m.rows.len(), 6, "then joins");
        store.extend(page(6));
        m.refresh_rows();
        assert_eq!(m.rows.len(), 6);
        store.listed(page(9), true);
        m.refresh_rows();
        assert_eq!(m.rows.len(), 12, "the complete list at once");
        assert!(!m.refresh_owed);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Rows moved one by one after changes are the rows derived afresh:
        /// same rows, same order, same cells, whatever the sort and filters.
        #[test]
        fn moved_rows_are_the_rows_derived_afresh(
            initial in prop::collection::vec(change(), 0..60),
            rounds in prop::collection::vec(prop::collection::vec(change(), 1..12), 1..6),
            sort_col in 0usize..10,
            desc in any::<bool>(),
            namespace in prop::option::of(Just("ns-a")),
            filter in prop::option::of(Just("Running")),
        ) {
            let store: Store<Row> = Store::default();
            store.listed(BTreeMap::new(), true);
            let apply = |(in_a, n, restarts, running, age, delete): (bool, usize, u32, bool, u32, bool)| {
                let ns = if in_a { "ns-a" } else { "ns-b" };
                let key = (ns.to_owned(), format!("pod-{n:02}"));
                let row = (!delete).then(|| {
                    Arc::new(pod(ns, &key.1, restarts, if running { "Running" } else { "Pending" }, age))
                });
                store.apply(key, row);
            };
            initial.into_iter().for_each(apply);
            // A first row so that the view has something to move from.
            apply((true, 99, 0, true, 0, false));
            let mut live = model(store.clone(), namespace, (sort_col, desc), filter);
            live.refresh_rows();
            for round in rounds {
                round.into_iter().for_each(apply);
                live.refresh_rows();
                let mut fresh = model(store.clone(), namespace, (sort_col, desc), filter);
                fresh.refresh_rows();
                prop_assert_eq!(names(&live), names(&fresh));
            }
        }
    }
}
