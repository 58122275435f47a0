//! Any kind the server serves (`:deploy`, `:svc`, `:nodes`, `:secrets`,
//! `:crd`, a custom resource by plural, short name, kind or
//! `plural.group`): its rows as `kubectl get` prints them (the server's
//! Table), followed live; YAML, describe (with the object's Events), edit
//! and delete of a row; `Enter` on a Deployment, ReplicaSet, StatefulSet,
//! DaemonSet, Job or Service lists its pods.
//!
//! One reading at a time feeds the topmost resource screen of the stack;
//! `sync` starts and ends it as screens, namespaces and selectors change.

use std::collections::BTreeMap;
use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::Paragraph;

use crate::cluster::discovery::{ApiKind, Catalog, Resolved};
use crate::cluster::tables::{Column, ColumnKind, TableRow, TableUpdate};
use crate::domain::rbac::Attributes;
use crate::ui::data::{Cell, DisplayRow, Severity, ViewKind};
use crate::ui::keymap::Action;
use crate::ui::model::*;

/// Pods chosen by a label selector: the pods of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub labels: String,
    /// "deployment web": whose pods they are.
    pub of: String,
}

/// What a reading reads: a kind, in a namespace (None: all, or a
/// cluster-scoped kind), with a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub kind: ApiKind,
    pub namespace: Option<String>,
    pub selector: Option<String>,
}

/// What the shown rows were derived from: the rows' generation, the
/// filter, the sort and whether a namespace column is drawn.
type ShownKey = (u64, Option<String>, (usize, bool), bool);

#[derive(Debug, Clone)]
pub struct ResourceScreen {
    pub kind: ApiKind,
    pub selector: Option<Selector>,
    /// Read in this namespace whatever the console shows (the pods of an
    /// object live in its namespace).
    pub pinned: Option<String>,
    /// The reading that fills it (0: none yet).
    pub id: u64,
    pub columns: Vec<Column>,
    pub rows: BTreeMap<(String, String), TableRow>,
    generation: u64,
    pub shown: Vec<Arc<DisplayRow>>,
    shown_key: Option<ShownKey>,
    pub table: super::table::TableState,
    pub synced: bool,
    pub live: bool,
    pub error: Option<String>,
}

impl ResourceScreen {
    pub fn new(kind: ApiKind) -> Self {
        Self {
            kind,
            selector: None,
            pinned: None,
            id: 0,
            columns: Vec::new(),
            rows: BTreeMap::new(),
            generation: 0,
            shown: Vec::new(),
            shown_key: None,
            table: Default::default(),
            synced: false,
            live: false,
            error: None,
        }
    }

    /// "Deployments", "Pods of deployment web".
    pub fn title(&self) -> String {
        let mut plural = self.kind.plural.clone();
        if let Some(first) = plural.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        // The kind's own capitals where the plural is the kind + "s".
        if plural.to_ascii_lowercase() == format!("{}s", self.kind.kind.to_ascii_lowercase()) {
            plural = format!("{}s", self.kind.kind);
        }
        match &self.selector {
            Some(s) => format!("{plural} of {}", s.of),
            None => plural,
        }
    }

    /// The namespace its rows are read in (None: all, or cluster-scoped).
    fn read_in<'a>(&'a self, namespace: Option<&'a String>) -> Option<&'a String> {
        if self.kind.namespaced {
            self.pinned.as_ref().or(namespace)
        } else {
            None
        }
    }

    fn reading(&self, namespace: Option<&String>) -> Reading {
        Reading {
            kind: self.kind.clone(),
            namespace: self.read_in(namespace).cloned(),
            selector: self.selector.as_ref().map(|s| s.labels.clone()),
        }
    }

    /// Is `reading` (with its id) the one that feeds this screen now?
    fn fed_by(&self, id: u64, reading: &Reading, namespace: Option<&String>) -> bool {
        self.id == id
            && reading.kind == self.kind
            && reading.namespace.as_ref() == self.read_in(namespace)
            && reading.selector.as_deref() == self.selector.as_ref().map(|s| s.labels.as_str())
    }

    /// The namespace column is drawn when the rows come from several.
    fn namespace_column(&self, namespace: Option<&String>) -> bool {
        self.kind.namespaced && self.reading(namespace).namespace.is_none()
    }

    fn apply_update(&mut self, update: TableUpdate) {
        let key = |r: &TableRow| (r.namespace.clone(), r.name.clone());
        match update {
            TableUpdate::Reset { columns, rows } => {
                self.columns = columns;
                self.rows = rows.into_iter().map(|r| (key(&r), r)).collect();
                self.synced = false;
                self.error = None;
            }
            TableUpdate::More(rows) => self.rows.extend(rows.into_iter().map(|r| (key(&r), r))),
            TableUpdate::Synced { live } => {
                self.synced = true;
                self.live = live;
            }
            TableUpdate::Upsert(r) => {
                self.rows.insert(key(&r), r);
            }
            TableUpdate::Removed { namespace, name } => {
                self.rows.remove(&(namespace, name));
            }
            TableUpdate::Error(why) => self.error = Some(why),
        }
        self.generation += 1;
    }

    /// Column titles with their priority (lower stays longer when narrow).
    fn column_titles(&self, with_ns: bool) -> Vec<(&str, u8)> {
        let mut cols = Vec::with_capacity(self.columns.len() + 1);
        if with_ns {
            cols.push(("NAMESPACE", 3));
        }
        for (i, c) in self.columns.iter().enumerate() {
            let p = match (i, c.kind) {
                (0, _) => 0,
                (_, ColumnKind::Age) => 1,
                _ => (i as u8).clamp(1, 6),
            };
            cols.push((c.name.as_str(), p));
        }
        cols
    }

    /// The selected row's namespace and name.
    pub fn selected_row(&self) -> Option<&DisplayRow> {
        self.shown.get(self.table.selected).map(|r| &**r)
    }
}

/// Derive the shown rows of the topmost resource screen when its rows, the
/// filter, the sort or the namespace moved. Once per frame.
pub fn refresh(model: &mut Model) {
    if !matches!(model.stack.last(), Some(Screen::Resource(_))) {
        return;
    }
    let filter = model.filter.clone();
    let namespace = model.namespace.clone();
    let Some(Screen::Resource(r)) = model.stack.last_mut() else {
        return;
    };
    let with_ns = r.namespace_column(namespace.as_ref());
    let key = (
        r.generation,
        filter.as_ref().map(|(t, _)| t.clone()),
        r.table.sort,
        with_ns,
    );
    if r.shown_key.as_ref() == Some(&key) {
        return;
    }
    let re = filter.and_then(|(_, re)| re);
    let kinds: Vec<ColumnKind> = r.columns.iter().map(|c| c.kind).collect();
    let rows = r.rows.values().map(|row| {
        let mut cells = Vec::with_capacity(row.cells.len() + 1);
        let mut sort_cells = Vec::with_capacity(row.cells.len() + 1);
        if with_ns {
            cells.push(row.namespace.clone());
            sort_cells.push(Cell::Text(row.namespace.clone()));
        }
        for (text, kind) in row.cells.iter().zip(&kinds) {
            cells.push(text.clone());
            sort_cells.push(match kind {
                ColumnKind::Age if row.created_ms.is_some() => Cell::Age(row.created_ms),
                // Servers type some counts as strings (a Deployment's
                // UP-TO-DATE): a whole number sorts as one either way.
                _ => text
                    .parse()
                    .map_or_else(|_| Cell::Text(text.clone()), Cell::Num),
            });
        }
        Arc::new(DisplayRow {
            namespace: row.namespace.clone(),
            name: row.name.clone(),
            cells,
            severity: severity(&row.cells),
            sort_cells,
        })
    });
    // Rows are held by namespace and name, as the namespace or name column
    // sorts them.
    let shown = crate::rows::order_rows(rows, &|d| d.matches(re.as_ref()), r.table.sort, true);
    r.table.selected = r.table.selected.min(shown.len().saturating_sub(1));
    r.shown = shown;
    r.shown_key = Some(key);
}

/// A row whose status cell says something is wrong is drawn as such.
fn severity(cells: &[String]) -> Severity {
    let bad = [
        "NotReady",
        "Failed",
        "Error",
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "Lost",
        "Terminating",
        "Warning",
    ];
    if cells.iter().any(|c| bad.contains(&c.as_str())) {
        Severity::Warn
    } else {
        Severity::Normal
    }
}

/// Start, move or end the reading so that it feeds the topmost resource
/// screen of the stack; ask the server what it serves when the palette
/// first needs it. Called after every update.
pub fn sync(model: &mut Model) -> Vec<Effect> {
    let mut effects = Vec::new();
    if model.palette.is_some() && model.catalog.is_none() && !model.discovering {
        model.discovering = true;
        effects.push(Effect::Discover);
    }
    // Called after every event: nothing is cloned while the reading fits.
    let top = model.stack.iter().rev().find_map(|s| match s {
        Screen::Resource(r) => Some(&**r),
        _ => None,
    });
    match (top, &model.table_reading) {
        (Some(r), Some((id, now))) if r.fed_by(*id, now, model.namespace.as_ref()) => {}
        (Some(r), _) => {
            let want = r.reading(model.namespace.as_ref());
            model.table_id += 1;
            let id = model.table_id;
            if let Some(Screen::Resource(r)) = model
                .stack
                .iter_mut()
                .rev()
                .find(|s| matches!(s, Screen::Resource(_)))
            {
                r.id = id;
                r.rows.clear();
                r.columns.clear();
                r.synced = false;
                r.error = None;
                r.generation += 1;
            }
            model.table_reading = Some((id, want.clone()));
            effects.push(Effect::ReadTable { id, reading: want });
        }
        (None, Some(_)) => {
            model.table_reading = None;
            effects.push(Effect::CloseTable);
        }
        (None, None) => {}
    }
    effects
}

/// Rows from the runtime.
pub fn receive(model: &mut Model, id: u64, updates: Vec<TableUpdate>) {
    for s in model.stack.iter_mut() {
        if let Screen::Resource(r) = s
            && r.id == id
        {
            for u in updates {
                r.apply_update(u);
            }
            return;
        }
    }
}

/// The kind the server's discovery arrived with: remember it, and open
/// what was asked for while it was on its way.
pub fn discovered(model: &mut Model, result: Result<Catalog, String>) -> Vec<Effect> {
    model.discovering = false;
    match result {
        Ok(c) => {
            model.catalog = Some(c);
            match model.pending_kind.take() {
                Some(name) => open_named(model, &name, true),
                None => Vec::new(),
            }
        }
        Err(e) => {
            if let Some(name) = model.pending_kind.take() {
                model.say_error(format!(
                    "cannot open `:{name}`: the server did not say what it serves ({e})"
                ));
            }
            Vec::new()
        }
    }
}

/// `:NAME` that is not a console command: a kind the server serves, by
/// plural, short name, kind or `plural.group`. `asked_again`: discovery was
/// just refreshed for it (a CRD installed since the console started).
pub fn open_named(model: &mut Model, name: &str, asked_again: bool) -> Vec<Effect> {
    let Some(catalog) = &model.catalog else {
        model.pending_kind = Some(name.to_owned());
        model.say(
            format!("asking the server what it serves, for `:{name}` ..."),
            MessageKind::Info,
        );
        if model.discovering {
            return Vec::new();
        }
        model.discovering = true;
        return vec![Effect::Discover];
    };
    match catalog.resolve(name) {
        Resolved::Found(kind) => open_kind(model, kind, name),
        Resolved::Unknown { .. } if !asked_again => {
            // Perhaps a CRD installed since: ask once more before saying no.
            model.pending_kind = Some(name.to_owned());
            model.discovering = true;
            vec![Effect::Discover]
        }
        Resolved::Unknown { suggestions } => {
            let commands: Vec<&str> = crate::ui::overlay::palette::COMMANDS
                .iter()
                .map(|(c, _)| *c)
                .collect();
            let mut near = suggestions;
            for c in commands {
                if strsim::levenshtein(c, name) <= 1 && !near.iter().any(|n| n == c) {
                    near.insert(0, c.to_owned());
                }
            }
            model.say_error(if near.is_empty() {
                format!(
                    "the server has no kind `{name}` and it is no command (`:` then Tab lists both)"
                )
            } else {
                format!(
                    "the server has no kind `{name}`: did you mean {}?",
                    near.iter()
                        .take(3)
                        .map(|n| format!(":{n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
            Vec::new()
        }
    }
}

/// Open the table of `kind` (the console's own view for the kinds it has
/// one of: it shows more).
pub fn open_kind(model: &mut Model, kind: ApiKind, typed: &str) -> Vec<Effect> {
    if let Some(view) = ViewKind::ALL.iter().find(|v| {
        v.api()
            .is_some_and(|(g, _, plural, _)| g == kind.group && plural == kind.plural)
    }) {
        return open_view(model, *view);
    }
    if !kind.allows("list") {
        model.say_error(format!(
            "`:{typed}` is {}, which the server does not list (it allows: {})",
            kind.qualified(),
            kind.verbs.join(", ")
        ));
        return Vec::new();
    }
    let mut effects = crate::ui::screen::logs::close_all(model);
    model
        .stack
        .retain(|s| matches!(s, Screen::Table(_) | Screen::Resource(_)));
    // Opening a kind again goes back to its screen.
    if let Some(p) = model
        .stack
        .iter()
        .position(|s| matches!(s, Screen::Resource(r) if r.kind == kind && r.selector.is_none()))
    {
        model.stack.truncate(p + 1);
    } else {
        model
            .stack
            .push(Screen::Resource(Box::new(ResourceScreen::new(kind))));
    }
    if model.stack.len() > 8 {
        model.stack.remove(0);
    }
    model.filter = None;
    effects.extend(sync(model));
    effects
}

/// The pods of an object arrived as a label selector: show them.
pub fn pods_of(
    model: &mut Model,
    namespace: String,
    of: String,
    result: Result<String, String>,
) -> Vec<Effect> {
    match result {
        Err(e) => {
            model.say_error(format!("cannot list the pods of {of}: {e}"));
            Vec::new()
        }
        Ok(labels) => {
            let pods = match model.catalog.as_ref().map(|c| c.resolve("pods")) {
                Some(Resolved::Found(k)) => k,
                _ => ApiKind::known("", "v1", "Pod", "pods", true),
            };
            let mut screen = ResourceScreen::new(pods);
            screen.selector = Some(Selector { labels, of });
            screen.pinned = Some(namespace);
            model.stack.push(Screen::Resource(Box::new(screen)));
            model.filter = None;
            sync(model)
        }
    }
}

/// The kinds whose pods `Enter` lists.
pub(crate) fn has_pods(kind: &ApiKind) -> bool {
    matches!(
        (kind.group.as_str(), kind.kind.as_str()),
        (
            "apps",
            "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet"
        ) | ("batch", "Job")
            | ("", "Service" | "ReplicationController")
    )
}

/// The label selector of an object's pods, as `kubectl get -l` takes it.
pub fn pod_selector(object: &serde_json::Value) -> Result<String, String> {
    use crate::domain::selector::{label_selector_text, map_selector_text};
    let kind = object["kind"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let sel = &object["spec"]["selector"];
    if kind == "Service" || kind == "ReplicationController" {
        return map_selector_text(sel).ok_or_else(|| {
            format!(
                "{} {name} has no selector: its endpoints are set by hand, not by pod labels",
                kind.to_lowercase()
            )
        });
    }
    label_selector_text(sel).ok_or_else(|| {
        format!(
            "{} {name} selects no pods (its selector is empty)",
            kind.to_lowercase()
        )
    })
}

pub(crate) fn render(model: &Model, r: &ResourceScreen, f: &mut Frame, area: Rect) {
    let t = &model.theme;
    let reading = r.reading(model.namespace.as_ref());
    let scope = if !r.kind.namespaced {
        "cluster".to_owned()
    } else {
        reading.namespace.clone().unwrap_or_else(|| "all".into())
    };
    let state = if r.error.is_some() && !r.shown.is_empty() {
        ", reconnecting"
    } else if !r.synced && !r.shown.is_empty() {
        ", loading..."
    } else if r.synced && !r.live {
        ", not live: the server does not watch this kind"
    } else {
        ""
    };
    let mut title = vec![Span::styled(
        format!(" {}({scope})[{}{state}] ", r.title(), r.shown.len()),
        t.style("title"),
    )];
    if let Some(s) = &r.selector {
        title.push(Span::styled(
            format!(" -l {} ", s.labels),
            t.style("footer"),
        ));
    }
    let inner = super::table::framed(model, f, area, title);
    if r.shown.is_empty() {
        let (text, style) = match (&r.error, r.synced) {
            (Some(why), _) => (
                format!("Cannot show {}: {why}", r.kind.qualified()),
                "status.error",
            ),
            (None, false) => ("Loading ...".to_owned(), "footer"),
            _ if model.filter.is_some() => (
                "No rows match the filter (esc clears it).".to_owned(),
                "footer",
            ),
            _ => (
                format!(
                    "No {} {}.",
                    r.kind.plural,
                    match (&r.selector, r.kind.namespaced) {
                        (Some(s), _) => format!("match {} in {scope}", s.labels),
                        (None, true) if scope == "all" => "in any namespace".to_owned(),
                        (None, true) => format!("in {scope}"),
                        (None, false) => "in this cluster".to_owned(),
                    }
                ),
                "footer",
            ),
        };
        f.render_widget(
            Paragraph::new(text)
                .wrap(ratatui::widgets::Wrap { trim: true })
                .style(t.style(style)),
            inner,
        );
        return;
    }
    let with_ns = r.namespace_column(model.namespace.as_ref());
    let rows = super::table::Rows {
        cols: r.column_titles(with_ns),
        rows: &r.shown,
        state: &r.table,
        hide_ns: false,
    };
    super::table::draw_rows(model, &rows, f, area.width, inner);
}

/// What deleting or editing the selected row asks of the server.
pub(crate) fn required(r: &ResourceScreen, action: Action) -> Option<Attributes> {
    let verb = match action {
        Action::Delete => "delete",
        Action::Edit => "patch",
        _ => return None,
    };
    let row = r.selected_row()?;
    let mut a = Attributes::new(verb, &r.kind.group, &r.kind.plural, None, &row.namespace);
    if !r.kind.namespaced {
        a.namespace = None;
    }
    Some(a)
}

/// The keys of a resource screen: move, sort, filter and the namespace as
/// in the tables; YAML, describe, edit, delete; `Enter` lists the pods of
/// the kinds that have them.
pub(crate) fn apply(model: &mut Model, action: Action) -> Vec<Effect> {
    let page = model.page.max(1);
    let Some(Screen::Resource(r)) = model.stack.last_mut() else {
        return Vec::new();
    };
    let len = r.shown.len();
    let columns = r.shown.first().map_or(r.columns.len(), |d| d.cells.len());
    if r.table.key(action, len, columns, page) {
        return Vec::new();
    }
    match action {
        Action::Back => super::table::back(model),
        Action::Open | Action::Describe => {
            let Some(row) = r.selected_row().cloned() else {
                return Vec::new();
            };
            let kind = r.kind.clone();
            if action == Action::Open && kind.group.is_empty() && kind.plural == "namespaces" {
                // Enter on a namespace goes there, as `:ns NAME` does.
                let mut effects = switch_namespace(model, &row.name);
                effects.extend(open_view(model, ViewKind::Pods));
                return effects;
            }
            if action == Action::Open && has_pods(&kind) {
                model.say(
                    format!("finding the pods of {} {} ...", kind.singular, row.name),
                    MessageKind::Info,
                );
                return vec![Effect::PodsOf {
                    api: kind,
                    namespace: row.namespace,
                    name: row.name,
                }];
            }
            let title = if row.namespace.is_empty() {
                format!("{}/{}", kind.plural, row.name)
            } else {
                format!("{}/{}/{}", kind.plural, row.namespace, row.name)
            };
            return super::table::open_yaml(
                model,
                kind,
                row.namespace,
                row.name,
                title,
                action == Action::Describe,
            );
        }
        Action::CopyName => {
            if let Some(row) = r.selected_row() {
                let name = row.name.clone();
                return super::table::copy_name(model, name);
            }
        }
        Action::Delete => {
            let Some(row) = r.selected_row().cloned() else {
                return Vec::new();
            };
            let kind = r.kind.clone();
            if !kind.allows("delete") {
                model.say_error(format!("the server does not delete {}", kind.qualified()));
                return Vec::new();
            }
            super::table::ask_delete(model, kind, row.namespace, row.name);
        }
        Action::Edit => {
            let Some(row) = r.selected_row().cloned() else {
                return Vec::new();
            };
            let kind = r.kind.clone();
            if !kind.allows("patch") {
                model.say_error(format!("the server does not change {}", kind.qualified()));
                return Vec::new();
            }
            return super::table::edit(model, kind, row.namespace, row.name);
        }
        Action::Restart | Action::Scale | Action::Rebalance => {
            model.say_error("restart, scale and rebalance work in :pods, :sts and :grid")
        }
        Action::WarningsOnly => model.say_error("Warning events only is a toggle of :events (5)"),
        // Quit, filter, palette, help, the namespace and the view keys act
        // as they do on the tables.
        other => return super::table::apply(model, other),
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::pod_selector;
    use serde_json::json;

    #[test]
    fn an_objects_pods_are_found_by_its_selector() {
        let d = json!({"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"selector": {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                 {"key": "canary", "operator": "DoesNotExist"}]}}});
        assert_eq!(pod_selector(&d).unwrap(), "app=web,tier in (a,b),!canary");
        let s = json!({"kind": "Service", "metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}}});
        assert_eq!(pod_selector(&s).unwrap(), "app=web");
        let bare = json!({"kind": "Service", "metadata": {"name": "db"}, "spec": {}});
        assert!(
            pod_selector(&bare)
                .unwrap_err()
                .contains("service db has no selector")
        );
    }
}
