//! Drawing: every view renders from `&Model` and never touches a client.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::border;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row as TRow, Table, Wrap};

use super::app::{COMMANDS, MessageKind, Model, Screen, YamlState, completions};
use super::data::ViewKind;
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

fn block<'a>(model: &Model, title: Line<'a>) -> Block<'a> {
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
    }
    render_footer(model, f, footer);
    if model.help {
        render_help(model, f, area);
    }
    if let Some(c) = &model.confirm {
        let text = format!(
            "Delete {} {}/{}? y = yes, any other key = no",
            c.kind.title().trim_end_matches('s').to_lowercase(),
            c.namespace,
            c.name
        );
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
}

/// Connection state across the stores: live, or stale since when.
fn connection(model: &Model) -> (String, &'static str) {
    let mut since: Option<i64> = None;
    let mut synced = true;
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
            }
        }
    }
    match since {
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
    push(
        &mut spans,
        format!("ctx:{} ", h.context),
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
    push(
        &mut spans,
        format!("engine:{}", h.engine),
        "header",
        &mut used,
    );
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
    let mut widths: Vec<u16> = cols.iter().map(|(t, _)| t.chars().count() as u16).collect();
    for r in sample {
        for (i, c) in r.cells.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count() as u16);
            }
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
            Screen::Yaml(_) => None,
        })
        .collect();
    let ns = model.namespace.clone().unwrap_or_else(|| "all".into());
    let mut title = vec![Span::styled(
        format!(
            " {}({ns})[{}] ",
            crumbs.last().copied().unwrap_or(""),
            model.rows.len()
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
                let c = r.cells.get(*i).cloned().unwrap_or_default();
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
    let text = yaml_text(y);
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
    };
    wanted
        .iter()
        .filter_map(|(a, label)| model.keymap.keys_for(mode, *a).map(|k| (k, *label)))
        .collect()
}

fn render_footer(model: &Model, f: &mut Frame, area: Rect) {
    let t = &model.theme;
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
    // One line per action, all its keys together.
    let mut seen: Vec<Action> = Vec::new();
    for b in model.keymap.bindings(mode) {
        if seen.contains(&b.action) {
            continue;
        }
        seen.push(b.action);
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
        lines.push(Line::from(vec![
            Span::styled(format!("{:>14}  ", keys.join(", ")), t.style("footer.key")),
            Span::styled(format!("{:<14} {}", b.action.id(), b.desc), t.style("help")),
        ]));
    }
    lines.push(Line::from(Span::styled("Commands (:)", t.style("title"))));
    let cmds: Vec<String> = COMMANDS.iter().map(|(c, _)| format!(":{c}")).collect();
    lines.push(Line::from(Span::styled(cmds.join(" "), t.style("help"))));
    lines.push(Line::from(Span::styled(
        "any key closes this help",
        t.style("footer"),
    )));
    let w = area.width.min(72);
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

/// Style of a role, for callers outside the views.
pub fn style(model: &Model, role: &str) -> Style {
    model.theme.style(role)
}
