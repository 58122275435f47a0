//! Drawing: every view renders from `&Model` and never touches a client.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::border;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row as TRow, Table, Wrap};

use super::app::{
    COMMANDS, GridState, MessageKind, Model, Screen, TaskScreen, YamlState, completions,
};
use super::data::ViewKind;
use super::editor::{EditorState, Pane};
use super::keymap::{Action, Mode};

const ASCII_BORDER: border::Set = border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

pub(crate) fn block<'a>(model: &Model, title: Line<'a>) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_set(if model.ascii {
            ASCII_BORDER
        } else {
            border::PLAIN
        })
        .border_style(model.theme.style("border"))
        .title(title)
}

/// Draw the whole console.
pub fn render(model: &Model, f: &mut Frame) {
    let area = f.area();
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    f.render_widget(
        Paragraph::new(header_line(model, header.width)).style(model.theme.style("header")),
        header,
    );
    match model.screen() {
        Screen::Table(kind) => render_table(model, *kind, f, body),
        Screen::Yaml(y) => render_yaml(model, y, f, body),
        Screen::Grid(g) => render_grid(model, g, f, body),
        Screen::Task(t) => render_task(model, t, f, body),
        Screen::Editor(e) => render_editor(model, e, f, body),
        Screen::Logs(l) => super::screen::logs::render(model, l, f, body),
    }
    render_footer(model, f, footer);
    if model.help {
        render_help(model, f, area);
    }
    if let Some(c) = model.confirm.as_ref().filter(|c| !c.inline) {
        let text = c.question.clone();
        let w = (text.chars().count() as u16 + 4).min(area.width);
        let r = Rect {
            x: area.width.saturating_sub(w) / 2,
            y: area.height / 2,
            width: w,
            height: 3.min(area.height),
        };
        f.render_widget(Clear, r);
        f.render_widget(
            Paragraph::new(text)
                .style(model.theme.style("message.error"))
                .block(block(model, Line::from(" confirm "))),
            r,
        );
    }
    if model.ascii {
        ascii_only(f.buffer_mut());
    }
}

/// ASCII mode (`--ascii`, `ascii = true`, a locale that is not UTF-8): every
/// cell of every screen is drawn in printable ASCII, whatever a screen put
/// there — one place, so that a new screen cannot forget it. Each symbol
/// becomes one character, so nothing moves.
fn ascii_only(buf: &mut ratatui::buffer::Buffer) {
    for cell in buf.content.iter_mut() {
        let symbol = cell.symbol();
        if symbol.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            continue;
        }
        let first = symbol.chars().next().unwrap_or(' ');
        let plain = match first {
            '─' | '━' | '═' | '–' | '—' | '╌' => '-',
            '│' | '┃' | '║' | '╎' => '|',
            '┌' | '┐' | '└' | '┘' | '├' | '┤' | '┬' | '┴' | '┼' | '╭' | '╮' | '╯' | '╰' | '╔'
            | '╗' | '╚' | '╝' => '+',
            '▶' | '→' | '►' | '»' => '>',
            '◀' | '←' | '◄' | '«' => '<',
            '▲' | '↑' => '^',
            '▼' | '↓' => 'v',
            '·' | '…' | '•' => '.',
            '●' | '█' | '■' => '#',
            '✓' | '✔' => 'v',
            '✗' | '✘' | '×' => 'x',
            // Controls and anything else a terminal without UTF-8 would garble.
            c if c.is_whitespace() || c.is_control() => ' ',
            _ => '?',
        };
        cell.set_char(plain);
    }
}

/// Connection state across the stores: live, or stale since when.
fn connection(model: &Model) -> (String, &'static str) {
    let mut since: Option<i64> = None;
    let mut synced = true;
    let mut forbidden = false;
    for kind in [
        ViewKind::Pods,
        ViewKind::StatefulSets,
        ViewKind::ConfigMaps,
        ViewKind::Events,
    ] {
        if let Some(s) = model.stores.get(kind) {
            let st = s.read();
            synced &= st.synced;
            if let Some(t) = st.stale_since(model.now_ms) {
                since = Some(since.map_or(t, |x: i64| x.min(t)));
                forbidden |= st
                    .error
                    .as_ref()
                    .is_some_and(|(_, why)| why.contains("(403)"));
            }
        }
    }
    match since {
        Some(_) if forbidden => ("forbidden".into(), "header.stale"),
        Some(t) => (
            format!(
                "reconnecting, stale since {}s",
                ((model.now_ms - t).max(0)) / 1000
            ),
            "header.stale",
        ),
        None if !synced => ("syncing".into(), "header.stale"),
        None => ("live".into(), "header.live"),
    }
}

fn header_line(model: &Model, width: u16) -> Line<'static> {
    let h = &model.header;
    let t = &model.theme;
    let mut spans: Vec<Span> = vec![Span::styled(" swarmdeck ", t.style("header.context"))];
    let mut used = 11usize;
    let push = |spans: &mut Vec<Span<'static>>, text: String, role: &str, used: &mut usize| {
        let len = text.chars().count();
        if *used + len <= width as usize {
            *used += len;
            spans.push(Span::styled(text, t.style(role)));
        }
    };
    if h.read_only {
        push(
            &mut spans,
            " READ-ONLY ".into(),
            "badge.readonly",
            &mut used,
        );
        push(&mut spans, " ".into(), "header", &mut used);
    }
    let (conn, role) = connection(model);
    push(&mut spans, format!("{} ", conn), role, &mut used);
    let ns = model
        .namespace
        .clone()
        .unwrap_or_else(|| "all namespaces".into());
    push(&mut spans, format!("ns:{ns} "), "header", &mut used);
    // Warning events of the last 10 minutes where the operator looks.
    if model.warnings > 0 {
        push(
            &mut spans,
            format!("warnings:{}/10m ", model.warnings),
            "status.warn",
            &mut used,
        );
    }
    push(
        &mut spans,
        format!("ctx:{} ", h.context),
        "header",
        &mut used,
    );
    // The engine's role matters more than the server's address.
    push(
        &mut spans,
        format!("engine:{} ", h.engine),
        "header",
        &mut used,
    );
    if h.embedded {
        let label = if h.fallback {
            " embedded cluster (no kubeconfig found) "
        } else {
            " embedded cluster "
        };
        push(&mut spans, label.into(), "badge.embedded", &mut used);
        push(&mut spans, " ".into(), "header", &mut used);
    } else {
        push(&mut spans, format!("{} ", h.server), "header", &mut used);
    }
    Line::from(spans)
}

fn visible_columns(model: &Model, kind: ViewKind, width: u16) -> (Vec<usize>, Vec<u16>) {
    let cols = kind.columns();
    let hide_ns = model.namespace.is_some() && kind != ViewKind::Audit;
    let mut idx: Vec<usize> = (0..cols.len())
        .filter(|i| !(hide_ns && cols[*i].0 == "NAMESPACE"))
        .collect();
    let start = model.table().selected.saturating_sub(model.page);
    let sample = model.rows.iter().skip(start).take(model.page * 2 + 1);
    // The sorted column's title carries an arrow.
    let sorted = model.table().sort.0;
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

fn render_table(model: &Model, kind: ViewKind, f: &mut Frame, area: Rect) {
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
    if let Some((text, _)) = &model.filter {
        title.push(Span::styled(format!(" /{text} "), t.style("filter.match")));
    }
    let b = block(model, Line::from(title));
    let inner = b.inner(area);
    f.render_widget(b, area);
    if model.rows.is_empty() {
        let synced = model.stores.get(kind).is_none_or(|s| s.read().synced);
        // A view the server refuses says why (a 403 names the permission).
        let refused = model
            .stores
            .get(kind)
            .and_then(|s| s.read().error.as_ref().map(|(_, why)| why.clone()));
        if let Some(why) = refused {
            let text = if kind == ViewKind::Tasks
                && why.contains("could not find the requested resource")
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
    let (idx, widths) = visible_columns(model, kind, area.width);
    let cols = kind.columns();
    let sort = model.table().sort;
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
    let selected = model.table().selected;
    let offset = selected.saturating_sub(height.saturating_sub(1));
    let rows = model
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

/// The YAML (or describe) text of an object, hiding status and managedFields
/// unless asked.
pub fn yaml_text(y: &YamlState) -> String {
    let Some(v) = &y.value else {
        return y
            .error
            .clone()
            .map_or_else(|| "Loading ...".into(), |e| format!("error: {e}"));
    };
    let mut v = v.clone();
    if !y.show_hidden {
        if let Some(m) = v.as_object_mut() {
            m.remove("status");
        }
        if let Some(meta) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            meta.remove("managedFields");
        }
    }
    if y.describe {
        return describe(&v);
    }
    serde_yaml::to_string(&v).unwrap_or_default()
}

fn describe(v: &serde_json::Value) -> String {
    let mut out = String::new();
    let m = &v["metadata"];
    out.push_str(&format!(
        "Name:         {}\n",
        m["name"].as_str().unwrap_or("")
    ));
    out.push_str(&format!(
        "Namespace:    {}\n",
        m["namespace"].as_str().unwrap_or("")
    ));
    out.push_str(&format!(
        "Kind:         {}\n",
        v["kind"].as_str().unwrap_or("")
    ));
    out.push_str(&format!(
        "Created:      {}\n",
        m["creationTimestamp"].as_str().unwrap_or("")
    ));
    for key in ["labels", "annotations"] {
        let title = if key == "labels" {
            "Labels:"
        } else {
            "Annotations:"
        };
        match m[key].as_object() {
            Some(map) if !map.is_empty() => {
                for (i, (k, val)) in map.iter().enumerate() {
                    out.push_str(&format!(
                        "{:<14}{k}={}\n",
                        if i == 0 { title } else { "" },
                        val.as_str().unwrap_or("")
                    ));
                }
            }
            _ => out.push_str(&format!("{title:<14}<none>\n")),
        }
    }
    if let Some(spec) = v.get("spec") {
        out.push_str("Spec:\n");
        for line in serde_yaml::to_string(spec).unwrap_or_default().lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

/// kubectl describe's Events section: the object's events from the events
/// store, oldest first.
pub fn events_section(model: &Model, v: &serde_json::Value) -> String {
    use super::data::Cell;
    let object = format!(
        "{}/{}",
        v["kind"].as_str().unwrap_or_default().to_lowercase(),
        v["metadata"]["name"].as_str().unwrap_or_default()
    );
    let ns = v["metadata"]["namespace"].as_str().unwrap_or_default();
    let st = model.stores.events.read();
    let mut events: Vec<&super::data::Row> = st
        .rows
        .iter()
        .filter(|((n, _), r)| {
            n == ns && matches!(r.cells.get(3), Some(Cell::Text(o)) if *o == object)
        })
        .map(|(_, r)| &**r)
        .collect();
    if events.is_empty() {
        return "Events:       <none>\n".into();
    }
    let at = |r: &super::data::Row| match r.cells.first() {
        Some(Cell::Age(Some(t))) => *t,
        _ => 0,
    };
    events.sort_by_key(|r| at(r));
    let cell = |r: &super::data::Row, i: usize| {
        r.cells
            .get(i)
            .map(|c| c.show(model.now_ms))
            .unwrap_or_default()
    };
    let rows: Vec<[String; 4]> = events
        .iter()
        .map(|r| [cell(r, 1), cell(r, 2), cell(r, 0), cell(r, 4)])
        .collect();
    let header = ["Type", "Reason", "Age", "Message"];
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2) = (width(0), width(1), width(2));
    let mut out = String::from("Events:\n");
    let line =
        |a: &str, b: &str, c: &str, d: &str| format!("  {a:<w0$}  {b:<w1$}  {c:<w2$}  {d}\n");
    out.push_str(&line("Type", "Reason", "Age", "Message"));
    out.push_str(&line("----", "------", "----", "-------"));
    for r in &rows {
        out.push_str(&line(&r[0], &r[1], &r[2], &r[3]));
    }
    out
}

fn render_yaml(model: &Model, y: &YamlState, f: &mut Frame, area: Rect) {
    let t = &model.theme;
    let hidden = if y.show_hidden {
        "status and managedFields shown"
    } else {
        "status and managedFields hidden"
    };
    let label = if y.describe { "describe" } else { "yaml" };
    let b = block(
        model,
        Line::from(vec![
            Span::styled(format!(" {label} {} ", y.title), t.style("title")),
            Span::styled(format!("({hidden}) "), t.style("footer")),
        ]),
    );
    let inner = b.inner(area);
    f.render_widget(b, area);
    let mut text = yaml_text(y);
    if y.describe
        && let Some(v) = &y.value
    {
        text.push_str(&events_section(model, v));
    }
    let lines: Vec<Line> = text
        .lines()
        .map(|l| match l.split_once(':') {
            Some((k, rest)) if !k.trim_start().starts_with('-') || k.contains(' ') => {
                Line::from(vec![
                    Span::styled(k.to_owned(), t.style("yaml.key")),
                    Span::styled(format!(":{rest}"), t.style("yaml.value")),
                ])
            }
            _ => Line::from(Span::styled(l.to_owned(), t.style("yaml.value"))),
        })
        .collect();
    let max = lines.len().saturating_sub(inner.height as usize);
    let scroll = y.scroll.min(max);
    f.render_widget(Paragraph::new(lines).scroll((scroll as u16, 0)), inner);
}

/// The footer's hints, from the live keymap.
pub fn footer_hints(model: &Model) -> Vec<(String, &'static str)> {
    let mode = model.mode();
    let wanted: &[(Action, &str)] = match mode {
        Mode::Normal => &[
            (Action::Open, "yaml"),
            (Action::Describe, "describe"),
            (Action::Filter, "filter"),
            (Action::Palette, "cmd"),
            (Action::Delete, "delete"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
        Mode::Yaml => &[
            (Action::ToggleHidden, "status"),
            (Action::CopyName, "copy"),
            (Action::Back, "back"),
            (Action::Help, "help"),
        ],
        Mode::Grid => &[
            (Action::Filter, "find stream"),
            (Action::NextMatch, "next"),
            (Action::Scale, "scale"),
            (Action::Rebalance, "rebalance"),
            (Action::Back, "back"),
            (Action::Help, "help"),
        ],
        Mode::Task => &[
            (Action::SetStandby, "standby"),
            (Action::SetConfigured, "configured"),
            (Action::SetRunning, "running"),
            (Action::Recover, "recover"),
            (Action::Back, "back"),
            (Action::Help, "help"),
        ],
        Mode::Logs => &[
            (Action::Filter, "search"),
            (Action::LogPrevious, "previous"),
            (Action::LogContainer, "container"),
            (Action::LogWorker, "worker"),
            (Action::LogTimestamps, "time"),
            (Action::LogWrap, "wrap"),
            (Action::GoBottom, "follow"),
            (Action::Back, "back"),
        ],
        Mode::Editor => &[
            (Action::Apply, "apply"),
            (Action::DryRun, "dry run"),
            (Action::Diff, "diff"),
            (Action::Expand, "${VAR}"),
            (Action::DeleteUnit, "delete"),
            (Action::Back, "close"),
        ],
    };
    wanted
        .iter()
        .filter_map(|(a, label)| model.keymap.keys_for(mode, *a).map(|k| (k, *label)))
        .collect()
}

fn render_footer(model: &Model, f: &mut Frame, area: Rect) {
    let t = &model.theme;
    if let Some(p) = &model.prompt {
        let mut spans = vec![
            Span::styled(format!("{} ", p.label), t.style("footer.key")),
            Span::raw(p.input.clone()),
            Span::styled("█", t.style("footer.key")),
        ];
        if let Some(e) = &p.error
            && !p.input.is_empty()
        {
            spans.push(Span::styled(format!("  {e}"), t.style("message.error")));
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    if let Some(input) = &model.filter_input {
        let mut spans = vec![
            Span::styled("/", t.style("footer.key")),
            Span::raw(input.clone()),
            Span::styled("█", t.style("footer.key")),
        ];
        if let Some(e) = &model.filter_error {
            spans.push(Span::styled(format!("  {e}"), t.style("message.error")));
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    if let Some(p) = &model.palette {
        let options = completions(model, &p.input);
        let mut spans = vec![
            Span::styled(":", t.style("footer.key")),
            Span::raw(p.input.clone()),
            Span::styled("█ ", t.style("footer.key")),
        ];
        for o in options.iter().take(8) {
            let desc = COMMANDS
                .iter()
                .find(|(c, _)| c == o)
                .map(|(_, d)| format!(" ({d})"))
                .unwrap_or_default();
            spans.push(Span::styled(
                format!(" {o}{desc}"),
                t.style("palette.match"),
            ));
        }
        f.render_widget(
            Paragraph::new(Line::from(spans)).style(t.style("palette")),
            area,
        );
        return;
    }
    if let Some((text, kind)) = &model.message {
        let role = if *kind == MessageKind::Error {
            "message.error"
        } else {
            "message.info"
        };
        f.render_widget(Paragraph::new(text.clone()).style(t.style(role)), area);
        return;
    }
    let mut spans = Vec::new();
    for (k, label) in footer_hints(model) {
        spans.push(Span::styled(k, t.style("footer.key")));
        spans.push(Span::styled(format!(" {label}  "), t.style("footer")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_help(model: &Model, f: &mut Frame, area: Rect) {
    let t = &model.theme;
    let mode = model.mode();
    let mut lines = vec![Line::from(Span::styled(
        format!("Keys ({} mode, keymap {})", mode.name(), model.keymap.name),
        t.style("title"),
    ))];
    // One entry per action, all its keys together.
    let mut entries: Vec<(String, Action, String)> = Vec::new();
    for b in model.keymap.bindings(mode) {
        if entries.iter().any(|(_, a, _)| *a == b.action) {
            continue;
        }
        let keys: Vec<String> = model
            .keymap
            .bindings(mode)
            .iter()
            .filter(|x| x.action == b.action)
            .map(|x| {
                x.keys
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        entries.push((keys.join(", "), b.action, b.desc.clone()));
    }
    // In the operator's words: each binding's `desc` from the keymap (the
    // action id only where a keymap gives none). Too many for one column:
    // two columns, each description cut to fit.
    let words = |action: &Action, desc: &str| {
        if desc.is_empty() {
            action.id().to_owned()
        } else {
            desc.to_owned()
        }
    };
    if entries.len() + 6 > area.height as usize && area.width >= 80 {
        let half = entries.len().div_ceil(2);
        for i in 0..half {
            let mut spans = Vec::new();
            for (keys, action, desc) in [entries.get(i), entries.get(i + half)]
                .into_iter()
                .flatten()
            {
                spans.push(Span::styled(
                    format!("{:>12}  ", keys),
                    t.style("footer.key"),
                ));
                let text: String = words(action, desc).chars().take(22).collect();
                spans.push(Span::styled(format!("{text:<22}"), t.style("help")));
            }
            lines.push(Line::from(spans));
        }
    } else {
        for (keys, action, desc) in &entries {
            lines.push(Line::from(vec![
                Span::styled(format!("{keys:>14}  "), t.style("footer.key")),
                Span::styled(words(action, desc), t.style("help")),
            ]));
        }
    }
    lines.push(Line::from(Span::styled("Commands (:)", t.style("title"))));
    let cmds: Vec<String> = COMMANDS.iter().map(|(c, _)| format!(":{c}")).collect();
    lines.push(Line::from(Span::styled(cmds.join(" "), t.style("help"))));
    lines.push(Line::from(Span::styled(
        "any key closes this help",
        t.style("footer"),
    )));
    let w = area.width.min(if entries.len() + 6 > area.height as usize {
        76
    } else {
        72
    });
    let h = (lines.len() as u16 + 2).min(area.height);
    let r = Rect {
        x: (area.width - w) / 2,
        y: (area.height - h) / 2,
        width: w,
        height: h,
    };
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .style(t.style("help"))
            .wrap(Wrap { trim: false })
            .block(block(model, Line::from(" help "))),
        r,
    );
}

fn grid_styles(model: &Model) -> super::grid::GridStyles {
    let t = &model.theme;
    super::grid::GridStyles {
        base: t.style("status"),
        ok: t.style("status.ok"),
        pending: t.style("status.pending"),
        warn: t.style("status.warn"),
        error: t.style("status.error"),
        selected: t.style("table.selected"),
        matched: t.style("filter.match"),
        dim: t.style("footer"),
    }
}

fn render_grid(model: &Model, g: &GridState, f: &mut Frame, area: Rect) {
    let t = &model.theme;
    let title = Line::from(vec![
        Span::styled(
            format!(" grid {} ({}) ", g.swarm.name, g.swarm.namespace),
            t.style("title"),
        ),
        Span::styled(
            format!(
                "jobs {} → {} ",
                g.swarm.jobs_config_map, g.swarm.output_config_map
            ),
            t.style("footer"),
        ),
    ]);
    let b = block(model, title);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let Some(data) = &g.data else {
        return;
    };
    let styles = grid_styles(model);
    let mut lines = vec![super::grid::summary(data, &styles)];
    lines.extend(super::grid::handoff_lines(data, &styles, model.now_ms));
    lines.extend(super::grid::preview_lines(data, &styles));
    if let Some(engine) = model
        .engine
        .as_ref()
        .and_then(|e| e.namespaces.get(&g.swarm.namespace))
        .and_then(|n| n.swarms.get(&g.swarm.name))
        && let Some(w) = &engine.refreshing
    {
        lines.push(Line::from(Span::styled(
            format!(" engine: refreshing {w} ..."),
            styles.pending,
        )));
    }
    let head = lines.len();
    let room = (inner.height as usize).saturating_sub(head);
    let width = inner.width as usize;
    let search = model.filter.as_ref().and_then(|(_, re)| re.as_ref());
    // Start early enough that the selected worker's block is on screen.
    let selected = g.selected.min(data.workers.len().saturating_sub(1));
    let mut first = selected;
    let mut used = data
        .workers
        .get(selected)
        .map_or(0, |w| super::grid::worker_height(data, w, width));
    while first > 0 {
        let h = super::grid::worker_height(data, &data.workers[first - 1], width);
        if used + h > room {
            break;
        }
        used += h;
        first -= 1;
    }
    let mut last = first;
    for (i, w) in data.workers.iter().enumerate().skip(first) {
        if lines.len() >= inner.height as usize {
            break;
        }
        last = i;
        lines.extend(super::grid::worker_lines(
            data,
            w,
            i == selected,
            search,
            width,
            &styles,
        ));
    }
    let height = inner.height as usize;
    if (lines.len() > height || last + 1 < data.workers.len()) && height > head + 1 {
        // Say what is cut off rather than cutting it silently.
        let more = data.workers.len().saturating_sub(last + 1);
        lines.truncate(height - 1);
        lines.push(Line::from(Span::styled(
            format!(
                "    … the rest of {} and {more} more workers below (j/k select, / finds a stream)",
                data.workers[last].name
            ),
            styles.dim,
        )));
    }
    lines.truncate(height);
    f.render_widget(Paragraph::new(lines), inner);
}

fn render_task(model: &Model, ts: &TaskScreen, f: &mut Frame, area: Rect) {
    use super::machine::{MachineStyles, Marks, fairmq_graph, occ_graph};
    use crate::domain::task::OccState;
    let t = &model.theme;
    let row = super::app::task_row(model, ts);
    let cell = |i: usize| {
        row.as_ref()
            .and_then(|r| r.cells.get(i))
            .map(|c| c.show(model.now_ms))
            .unwrap_or_default()
    };
    let (mode, desired, actual, target, condition) = (cell(0), cell(1), cell(2), cell(3), cell(4));
    let b = block(
        model,
        Line::from(vec![
            Span::styled(
                format!(" task {}/{} ", ts.namespace, ts.name),
                t.style("title"),
            ),
            Span::styled(format!("mode {mode} "), t.style("footer")),
        ]),
    );
    let inner = b.inner(area);
    f.render_widget(b, area);
    if row.is_none() {
        f.render_widget(
            Paragraph::new(format!("Task {}/{} is gone.", ts.namespace, ts.name))
                .style(t.style("message.error")),
            inner,
        );
        return;
    }
    let marks = Marks {
        actual: actual.parse::<OccState>().ok(),
        desired: desired.parse::<OccState>().ok(),
        target: target.parse::<OccState>().ok(),
    };
    let styles = MachineStyles {
        base: t.style("status"),
        dim: t.style("footer"),
        actual: t
            .style("status.ok")
            .add_modifier(ratatui::style::Modifier::BOLD),
        error: t.style("status.error"),
        path: t
            .style("status.pending")
            .add_modifier(ratatui::style::Modifier::BOLD),
        target: t.style("title"),
    };
    let occ = occ_graph(&marks, &styles, model.ascii);
    let fairmq = mode == "fairmq";
    let [graphs, rest] =
        Layout::vertical([Constraint::Length(16), Constraint::Min(3)]).areas(inner);
    if fairmq && graphs.width >= 108 {
        let [left, right] =
            Layout::horizontal([Constraint::Length(80), Constraint::Min(26)]).areas(graphs);
        f.render_widget(Paragraph::new(occ), left);
        let mut fl = vec![Line::from(Span::styled("FairMQ device", t.style("title")))];
        fl.extend(fairmq_graph(&marks, &styles, model.ascii));
        f.render_widget(Paragraph::new(fl), right);
    } else {
        let mut lines = occ;
        if fairmq {
            let dev = marks
                .actual
                .map(|a| a.fairmq().as_str().to_owned())
                .unwrap_or_else(|| "unknown".into());
            lines.push(Line::from(Span::styled(
                format!("FairMQ device: {dev} (widen the terminal for its graph)"),
                t.style("footer"),
            )));
        }
        f.render_widget(Paragraph::new(lines), graphs);
    }
    // Status, the engine's word on it, and the history from Events.
    let mut lines: Vec<Line> = Vec::new();
    let engine = model
        .engine
        .as_ref()
        .and_then(|e| e.namespaces.get(&ts.namespace))
        .and_then(|n| n.tasks.get(&ts.name));
    if actual == "error" {
        lines.push(Line::from(Span::styled(
            format!("error: {condition}"),
            t.style("status.error"),
        )));
        lines.push(Line::from(Span::styled(
            "recovery: RECOVER to standby, then step up again — press the recover key (x)",
            t.style("status.warn"),
        )));
    } else if !condition.is_empty() {
        lines.push(Line::from(Span::styled(
            condition.clone(),
            t.style("status"),
        )));
    }
    if let Some(e) = engine {
        if !e.path.is_empty() {
            lines.push(Line::from(Span::styled(
                format!("planned: {}", e.path.join(", ")),
                t.style("status.pending"),
            )));
        }
        if let Some(last) = &e.last {
            lines.push(Line::from(Span::styled(
                format!("engine: {last}"),
                t.style(if e.failed { "status.error" } else { "status" }),
            )));
        }
    }
    lines.push(Line::from(Span::styled("History", t.style("title"))));
    let object = format!("task/{}", ts.name);
    let events = model.stores.events.read();
    let mut history: Vec<(i64, String, String, bool)> = events
        .rows
        .values()
        .filter(|r| r.namespace == ts.namespace)
        .filter(|r| matches!(r.cells.get(3), Some(super::data::Cell::Text(o)) if *o == object))
        .map(|r| {
            let at = match r.cells.first() {
                Some(super::data::Cell::Age(Some(t))) => *t,
                _ => 0,
            };
            let text = |i: usize| r.cells.get(i).map(|c| c.show(0)).unwrap_or_default();
            (
                at,
                text(2),
                text(4),
                r.severity == super::data::Severity::Warn,
            )
        })
        .collect();
    drop(events);
    history.sort_by_key(|h| std::cmp::Reverse(h.0));
    for (at, reason, message, warn) in history
        .iter()
        .take(rest.height.saturating_sub(lines.len() as u16) as usize)
    {
        lines.push(Line::from(vec![
            Span::styled(
                format!(
                    "{:>9} ago  ",
                    crate::time::human_duration((model.now_ms - at).max(0) / 1000)
                ),
                t.style("footer"),
            ),
            Span::styled(
                format!("{reason:<20} "),
                t.style(if *warn { "status.warn" } else { "status" }),
            ),
            Span::styled(message.clone(), t.style("status")),
        ]));
    }
    if history.is_empty() {
        lines.push(Line::from(Span::styled("no events yet", t.style("footer"))));
    }
    f.render_widget(Paragraph::new(lines), rest);
}

fn render_editor(model: &Model, e: &EditorState, f: &mut Frame, area: Rect) {
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

/// Style of a role, for callers outside the views.
pub fn style(model: &Model, role: &str) -> Style {
    model.theme.style(role)
}
