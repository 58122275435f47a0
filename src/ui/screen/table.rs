//! The resource tables: a table's state (selection, sort), its keys (move,
//! sort, filter, views, and the actions on the selected row) and its view.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row as TRow, Table};

use crate::domain::rbac::Attributes;
use crate::ui::data::{DisplayRow, ViewKind};
use crate::ui::grid::swarm_of_sts;
use crate::ui::keymap::Action;
use crate::ui::model::*;
use crate::ui::screen::grid::{apply_grid, open_grid};
use crate::ui::views::block;

/// The one table component's state, for the watched kinds and for any kind
/// read as the server's Table: the selection and the sort (column,
/// descending). Its rows are [`DisplayRow`]s in the order
/// [`crate::rows::order_rows`] gives them; [`draw_rows`] draws them;
/// [`TableState::key`] moves and sorts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableState {
    pub selected: usize,
    pub sort: (usize, bool),
}

impl TableState {
    /// The keys every table has: move the selection among `len` rows
    /// (`page` at a time), sort by the next or previous of `columns`
    /// columns or reverse. False when `action` is none of them.
    pub(crate) fn key(&mut self, action: Action, len: usize, columns: usize, page: usize) -> bool {
        let last = len.saturating_sub(1);
        let n = columns.max(1);
        let (selected, sort) = (&mut self.selected, &mut self.sort);
        match action {
            Action::Down => *selected = (*selected + 1).min(last),
            Action::Up => *selected = selected.saturating_sub(1),
            Action::PageDown => *selected = (*selected + page).min(last),
            Action::PageUp => *selected = selected.saturating_sub(page),
            Action::GoTop => *selected = 0,
            Action::GoBottom => *selected = last,
            Action::SortNext => sort.0 = (sort.0 + 1) % n,
            Action::SortPrev => sort.0 = (sort.0 + n - 1) % n,
            Action::SortReverse => sort.1 = !sort.1,
            _ => return false,
        }
        true
    }

    /// A view's first state: events newest first (by LAST SEEN), the
    /// others by their first column.
    pub fn of(kind: ViewKind) -> Self {
        Self {
            selected: 0,
            sort: if kind == ViewKind::Events {
                (1, false)
            } else {
                (0, false)
            },
        }
    }
}

/// A table to draw: its columns (title, priority: lower stays longer on
/// narrow screens), its rows in order, the selection and the sort.
pub(crate) struct Rows<'a> {
    pub cols: Vec<(&'a str, u8)>,
    pub rows: &'a [std::sync::Arc<crate::ui::data::DisplayRow>],
    pub state: &'a TableState,
    pub hide_ns: bool,
}

pub(crate) fn visible_columns(model: &Model, t: &Rows, width: u16) -> (Vec<usize>, Vec<u16>) {
    let cols = &t.cols;
    let mut idx: Vec<usize> = (0..cols.len())
        .filter(|i| !(t.hide_ns && cols[*i].0 == "NAMESPACE"))
        .collect();
    let start = t.state.selected.saturating_sub(model.page);
    let sample = t.rows.iter().skip(start).take(model.page * 2 + 1);
    // The sorted column's title carries an arrow.
    let sorted = t.state.sort.0;
    let mut widths: Vec<u16> = cols
        .iter()
        .enumerate()
        .map(|(i, (t, _))| t.chars().count() as u16 + u16::from(i == sorted))
        .collect();
    for r in sample {
        for (i, w) in widths.iter_mut().enumerate().take(r.cells.len()) {
            *w = (*w).max(r.cell_at(i, model.now_ms).chars().count() as u16);
        }
    }
    for (i, (t, _)) in cols.iter().enumerate() {
        let cap = match *t {
            "NAME" | "OBJECT" => 48,
            "STATE" | "MESSAGE" | "CONDITION" => 60,
            _ => 24,
        };
        widths[i] = widths[i].min(cap);
    }
    let avail = width.saturating_sub(2);
    let flexible = |i: usize| {
        matches!(
            cols[i].0,
            "STATE" | "MESSAGE" | "CONDITION" | "OBJECT" | "NAME"
        )
    };
    let min_flex = |i: usize| if cols[i].0 == "NAME" { 24 } else { 16 };
    // Shrink the long free-text columns first, then drop columns by priority.
    loop {
        let total: u16 = idx.iter().map(|i| widths[*i] + 1).sum();
        if total <= avail {
            break;
        }
        let over = total - avail;
        // While minor columns remain, free text keeps a comfortable width.
        let minor_left = idx.iter().any(|i| cols[*i].1 >= 4);
        let floor = |i: usize| {
            if minor_left {
                32.max(min_flex(i))
            } else {
                min_flex(i)
            }
        };
        if let Some(&i) = idx
            .iter()
            .filter(|i| flexible(**i) && widths[**i] > floor(**i) && cols[**i].0 != "NAME")
            .max_by_key(|i| widths[**i])
        {
            widths[i] = widths[i].saturating_sub(over).max(floor(i));
            continue;
        }
        let worst = idx
            .iter()
            .enumerate()
            .filter(|(_, i)| cols[**i].1 > 0)
            .max_by_key(|(pos, i)| (cols[**i].1, *pos))
            .map(|(pos, _)| pos);
        if let Some(p) = worst
            && idx.len() > 2
        {
            idx.remove(p);
            continue;
        }
        // Only essentials left: shrink the widest.
        if let Some(&i) = idx.iter().max_by_key(|i| widths[**i]) {
            widths[i] = widths[i].saturating_sub(over).max(4);
        }
        break;
    }
    let w = idx.iter().map(|i| widths[*i]).collect();
    (idx, w)
}

pub(crate) fn render_table(model: &Model, kind: ViewKind, f: &mut Frame, area: Rect) {
    let t = &model.theme;
    let crumbs: Vec<&str> = model
        .stack
        .iter()
        .filter_map(|s| match s {
            Screen::Table(k) => Some(k.title()),
            _ => None,
        })
        .collect();
    let ns = model.namespace.clone().unwrap_or_else(|| "all".into());
    // While the first list streams in, its rows are shown as they come.
    let loading = model
        .stores
        .get(kind)
        .is_some_and(|s| !s.read().synced && !model.rows.is_empty());
    // Rows listed but the watch refused (a Role with get and list, no
    // watch): say the table does not follow changes; nothing polls instead.
    let not_live = model.stores.get(kind).is_some_and(|s| {
        s.read()
            .error
            .as_ref()
            .is_some_and(|(_, why)| why.contains("cannot watch"))
    }) && !model.rows.is_empty();
    let mut title = vec![Span::styled(
        format!(
            " {}({ns})[{}{}] ",
            crumbs.last().copied().unwrap_or(""),
            model.rows.len(),
            if loading {
                ", loading..."
            } else if not_live {
                ", not live: the Role allows list but not watch"
            } else {
                ""
            }
        ),
        t.style("title"),
    )];
    if crumbs.len() > 1 {
        title.insert(
            0,
            Span::styled(
                format!(" {} >", crumbs[..crumbs.len() - 1].join(" > ")),
                t.style("footer"),
            ),
        );
    }
    let inner = framed(model, f, area, title);
    if model.rows.is_empty() {
        let synced = model.stores.get(kind).is_none_or(|s| s.read().synced);
        // A view the server refuses says why (a 403 names the permission).
        let refused = model
            .stores
            .get(kind)
            .and_then(|s| s.read().error.as_ref().map(|(_, why)| why.clone()));
        if let Some(why) = refused {
            // kube-apiserver answers a group nobody serves with its plain
            // `404 page not found` (and a served group's missing kind with
            // a Status): either way the CRD is not there.
            let text = if kind == ViewKind::Tasks
                && (why.contains("could not find the requested resource")
                    || why.contains("404 page not found"))
            {
                "CRD tasks.aliecs.alice.cern is not installed in this cluster: `swarmdeck crds | kubectl apply -f -` installs it, and this view picks it up (it asks again now and then, less often the longer it is missing)".to_owned()
            } else {
                format!("Cannot show {}: {why}", kind.title().to_lowercase())
            };
            f.render_widget(
                Paragraph::new(text)
                    .wrap(ratatui::widgets::Wrap { trim: true })
                    .style(t.style("status.error")),
                inner,
            );
            return;
        }
        let text = match (kind, synced) {
            (ViewKind::Audit, _) => {
                "No audit entries: the reconcile engine records its actions here once it runs."
                    .to_owned()
            }
            (_, false) => "Loading ...".to_owned(),
            _ if model.filter.is_some() => "No rows match the filter (esc clears it).".to_owned(),
            _ => format!(
                "No {} in {}.",
                kind.title().to_lowercase(),
                model.namespace.as_deref().unwrap_or("any namespace")
            ),
        };
        f.render_widget(Paragraph::new(text).style(t.style("footer")), inner);
        return;
    }
    let state = model.table();
    let rows = Rows {
        cols: kind.columns().to_vec(),
        rows: &model.rows,
        state: &state,
        hide_ns: model.namespace.is_some() && kind != ViewKind::Audit,
    };
    // The pods' usage is read while its column is drawn.
    if kind == ViewKind::Pods
        && visible_columns(model, &rows, area.width)
            .0
            .iter()
            .any(|i| rows.cols[*i].0 == "CPU")
    {
        model.stores.metrics.want();
    }
    draw_rows(model, &rows, f, area.width, inner);
}

/// A table's frame: its title (with the filter typed, if any) on the
/// border; the area inside it.
pub(crate) fn framed(
    model: &Model,
    f: &mut Frame,
    area: Rect,
    mut title: Vec<Span<'static>>,
) -> Rect {
    if let Some((text, _)) = &model.filter {
        title.push(Span::styled(
            format!(" /{text} "),
            model.theme.style("filter.match"),
        ));
    }
    let b = block(model, Line::from(title));
    let inner = b.inner(area);
    f.render_widget(b, area);
    inner
}

/// The header and the rows that fit, the selected one in view.
pub(crate) fn draw_rows(model: &Model, r: &Rows, f: &mut Frame, width: u16, inner: Rect) {
    let t = &model.theme;
    let (idx, widths) = visible_columns(model, r, width);
    let cols = &r.cols;
    let sort = r.state.sort;
    let header = TRow::new(idx.iter().map(|i| {
        let mut name = cols[*i].0.to_owned();
        if *i == sort.0 {
            name.push_str(if sort.1 { "↓" } else { "↑" });
            if model.ascii {
                name = name.replace('↓', "v").replace('↑', "^");
            }
        }
        name
    }))
    .style(t.style("table.header"));
    let height = inner.height.saturating_sub(1) as usize;
    let selected = r.state.selected;
    let offset = selected.saturating_sub(height.saturating_sub(1));
    let rows = r
        .rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(n, r)| {
            let mut style = t.style(r.severity.role());
            if n == selected {
                style = style.patch(t.style("table.selected"));
            }
            TRow::new(idx.iter().map(|i| {
                let c = r.cell_at(*i, model.now_ms).into_owned();
                if model.ascii {
                    c.replace('✓', "ok").replace('→', "->")
                } else {
                    c
                }
            }))
            .style(style)
        });
    let table = Table::new(rows, widths.iter().map(|w| Constraint::Length(*w)))
        .header(header)
        .column_spacing(1);
    f.render_widget(table, inner);
}

/// `Esc` on a table: clear the filter, else go back a screen.
pub(crate) fn back(model: &mut Model) {
    if model.filter.is_some() {
        model.filter = None;
    } else if model.stack.len() > 1 {
        model.stack.pop();
        model.invalidate();
    }
}

/// What an action on the selected row of a watched kind asks of the server:
/// scale and rebalance of a StatefulSet's swarm as in the grid, delete,
/// edit and restart (of a pod: a delete; of a workload: a patch).
pub(crate) fn required(kind: ViewKind, row: &DisplayRow, action: Action) -> Option<Attributes> {
    let ns = &row.namespace;
    match (kind, action) {
        (ViewKind::StatefulSets, Action::Scale) => Some(Attributes::new(
            "patch",
            "apps",
            "statefulsets",
            Some("scale"),
            ns,
        )),
        // A shell: kube-apiserver checks get, then create, on pods/exec.
        (ViewKind::Pods, Action::Scale) => {
            Some(Attributes::new("create", "", "pods", Some("exec"), ns))
        }
        (ViewKind::StatefulSets, Action::Rebalance) => {
            Some(Attributes::new("patch", "", "configmaps", None, ns))
        }
        (_, Action::Delete | Action::Edit | Action::Restart) => {
            let (group, _, plural, _) = kind.api()?;
            let verb = match (action, kind) {
                (Action::Delete, _) | (Action::Restart, ViewKind::Pods) => "delete",
                _ => "patch",
            };
            Some(Attributes::new(verb, group, plural, None, ns))
        }
        _ => None,
    }
}

pub(crate) fn apply(model: &mut Model, action: Action) -> Vec<Effect> {
    let len = model.rows.len();
    let page = model.page.max(1);
    let columns = model.view().columns().len();
    let t = model.table_mut();
    if t.key(action, len, columns, page) {
        if matches!(action, Action::SortNext | Action::SortPrev) {
            let name = model.view().columns()[model.table().sort.0].0;
            model.say(format!("sorted by {name}"), MessageKind::Info);
        }
        return Vec::new();
    }
    match action {
        Action::Quit => {
            model.quit = true;
            return vec![Effect::Quit];
        }
        Action::Filter => crate::ui::overlay::filter::start_filter(model),
        Action::Palette => model.palette = Some(Palette::default()),
        Action::Help => model.help = true,
        Action::Back => back(model),
        Action::AllNamespaces if model.watch_only.is_some() => {
            model.say(
                "these credentials may not list all namespaces: `:ns NAME` watches another",
                MessageKind::Error,
            );
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
        Action::WarningsOnly if model.view() == ViewKind::Events => {
            model.warnings_only = !model.warnings_only;
            model.table_mut().selected = 0;
            let what = if model.warnings_only {
                "Warning events only"
            } else {
                "all events"
            };
            model.say(what, MessageKind::Info);
        }
        Action::WarningsOnly => model.say(
            "Warning events only is a toggle of :events (5)",
            MessageKind::Error,
        ),
        Action::ViewPods => return open_view(model, ViewKind::Pods),
        Action::ViewSts => return open_view(model, ViewKind::StatefulSets),
        Action::ViewCm => return open_view(model, ViewKind::ConfigMaps),
        Action::ViewTasks => return open_view(model, ViewKind::Tasks),
        Action::ViewEvents => return open_view(model, ViewKind::Events),
        Action::ViewAudit => return open_view(model, ViewKind::Audit),
        Action::Open | Action::Describe => {
            let kind = model.view();
            if action == Action::Open
                && let Some(row) = model.selected_row().cloned()
            {
                if kind == ViewKind::StatefulSets
                    && let Some(swarm) = swarm_of_sts(&model.stores, &row.namespace, &row.name)
                {
                    return open_grid(model, swarm);
                }
                if kind == ViewKind::Tasks {
                    model.stack.push(Screen::Task(TaskScreen {
                        namespace: row.namespace,
                        name: row.name,
                    }));
                    return Vec::new();
                }
            }
            if let Some(row) = model.selected_row().cloned()
                && kind != ViewKind::Audit
            {
                let title = format!("{}/{}/{}", kind.command(), row.namespace, row.name);
                let Some(api) = kind.api_kind() else {
                    return Vec::new();
                };
                return open_yaml(
                    model,
                    api,
                    row.namespace,
                    row.name,
                    title,
                    action == Action::Describe,
                );
            }
        }
        Action::CopyName => {
            if let Some(row) = model.selected_row() {
                let name = row.name.clone();
                return copy_name(model, name);
            }
        }
        Action::Delete => {
            let kind = model.view();
            if let Some(row) = model.selected_row().cloned()
                && !matches!(kind, ViewKind::Audit | ViewKind::Events)
            {
                let api = kind.api_kind().expect("events and audit are not deleted");
                ask_delete(model, api, row.namespace, row.name);
            }
        }
        Action::Restart => {
            let kind = model.view();
            match (kind, model.selected_row().cloned()) {
                (ViewKind::Pods | ViewKind::StatefulSets, Some(row)) => {
                    let what = format!("{} {}/{}", kind.singular(), row.namespace, row.name);
                    let how = if kind == ViewKind::Pods {
                        "its controller starts a new one"
                    } else {
                        "its pods are replaced one at a time"
                    };
                    ask(
                        model,
                        format!("Restart {what} ({how})? y = yes, any other key = no"),
                        vec![Effect::Restart {
                            kind,
                            namespace: row.namespace,
                            name: row.name,
                        }],
                        format!("restarting {what} ..."),
                    );
                }
                _ => model.say("restart works on pods and statefulsets", MessageKind::Error),
            }
        }
        Action::Edit => {
            let kind = model.view();
            if let Some(row) = model.selected_row().cloned()
                && !matches!(kind, ViewKind::Audit | ViewKind::Events)
            {
                let api = kind.api_kind().expect("audit is not edited");
                return edit(model, api, row.namespace, row.name);
            }
        }
        // `s` on a pod: a shell in it (the terminal is lent to it).
        Action::Scale if model.view() == ViewKind::Pods => {
            if let Some(row) = model.selected_row() {
                return vec![Effect::Shell(crate::ops::exec::Exec {
                    namespace: row.namespace.clone(),
                    pod: row.name.clone(),
                    container: None,
                    command: vec!["sh".into()],
                    stdin: true,
                    tty: true,
                })];
            }
        }
        Action::Scale | Action::Rebalance => {
            let row = model.selected_row().cloned();
            let swarm = match (model.view(), row) {
                (ViewKind::StatefulSets, Some(r)) => {
                    swarm_of_sts(&model.stores, &r.namespace, &r.name)
                }
                _ => None,
            };
            match swarm {
                Some(swarm) => {
                    open_grid(model, swarm);
                    return apply_grid(model, action);
                }
                None => model.say(
                    "scale and rebalance work on a swarm's StatefulSet (or in :grid)",
                    MessageKind::Error,
                ),
            }
        }
        _ => {}
    }
    Vec::new()
}

/// Push the YAML (or describe) screen of one object and ask for it.
pub(crate) fn open_yaml(
    model: &mut Model,
    api: crate::cluster::discovery::ApiKind,
    namespace: String,
    name: String,
    title: String,
    describe: bool,
) -> Vec<Effect> {
    model.stack.push(Screen::Yaml(YamlState {
        title: title.clone(),
        value: None,
        error: None,
        show_hidden: false,
        scroll: 0,
        describe,
        revealed: false,
    }));
    vec![Effect::FetchYaml {
        api,
        namespace,
        name,
        title,
    }]
}

/// "deployment shop/web", "node rk-1": one object in the messages.
fn object_words(api: &crate::cluster::discovery::ApiKind, namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        format!("{} {name}", api.singular)
    } else {
        format!("{} {namespace}/{name}", api.singular)
    }
}

/// `y`: the name to the clipboard (OSC 52).
pub(crate) fn copy_name(model: &mut Model, name: String) -> Vec<Effect> {
    model.say(format!("copied {name}"), MessageKind::Info);
    vec![Effect::Copy(name)]
}

/// `Ctrl-D`: delete one object, once the operator says yes.
pub(crate) fn ask_delete(
    model: &mut Model,
    api: crate::cluster::discovery::ApiKind,
    namespace: String,
    name: String,
) {
    let what = object_words(&api, &namespace, &name);
    ask(
        model,
        format!("Delete {what}? y = yes, any other key = no"),
        vec![Effect::Delete {
            api,
            namespace,
            name,
            what: what.clone(),
        }],
        format!("deleting {what} ..."),
    );
}

/// `e`: load one object into the manifest editor.
pub(crate) fn edit(
    model: &mut Model,
    api: crate::cluster::discovery::ApiKind,
    namespace: String,
    name: String,
) -> Vec<Effect> {
    model.say(
        format!("loading {} ...", object_words(&api, &namespace, &name)),
        MessageKind::Info,
    );
    vec![Effect::EditFetch {
        api,
        namespace,
        name,
    }]
}
