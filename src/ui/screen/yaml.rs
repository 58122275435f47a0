//! The YAML and describe screen of one object: its state, its text (status
//! and managedFields hidden unless asked; describe with the object's Events)
//! and its view.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::ui::keymap::Action;
use crate::ui::model::*;
use crate::ui::views::block;

#[derive(Debug, Clone)]
pub struct YamlState {
    pub title: String,
    pub value: Option<serde_json::Value>,
    pub error: Option<String>,
    pub show_hidden: bool,
    pub scroll: usize,
    pub describe: bool,
    /// A Secret's values decoded (`x`); masked otherwise.
    pub revealed: bool,
}

use crate::domain::secret::is_secret;

/// A Secret's values masked (everywhere they are: `data`, `stringData`, the
/// last-applied annotation), or (revealed) decoded from base64 into text;
/// other objects as they are.
fn secret_values(v: &mut serde_json::Value, revealed: bool) {
    if revealed {
        crate::domain::secret::reveal(v);
    } else {
        crate::domain::secret::mask(v);
    }
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
    secret_values(&mut v, y.revealed);
    if y.describe {
        return describe(&v);
    }
    if !y.show_hidden {
        if let Some(m) = v.as_object_mut() {
            m.remove("status");
        }
        if let Some(meta) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            meta.remove("managedFields");
        }
    }
    serde_yaml::to_string(&v).unwrap_or_default()
}

pub(crate) fn describe(v: &serde_json::Value) -> String {
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
                        val.as_str().unwrap_or("").trim_end()
                    ));
                }
            }
            _ => out.push_str(&format!("{title:<14}<none>\n")),
        }
    }
    if v["kind"] == "Node" {
        out.push_str(&describe_node(v));
    } else if is_secret(v) {
        out.push_str(&format!(
            "Type:         {}\n\nData\n====\n",
            v["type"].as_str().unwrap_or("Opaque")
        ));
        if let Some(data) = v["data"].as_object() {
            for (k, val) in data {
                out.push_str(&format!("{k}:  {}\n", val.as_str().unwrap_or_default()));
            }
        }
    } else if let Some(spec) = v.get("spec") {
        out.push_str("Spec:\n");
        for line in serde_yaml::to_string(spec).unwrap_or_default().lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

/// kubectl's columns: each cell padded to the widest of its column.
fn aligned(indent: &str, rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == r.len() {
                    c.clone()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(&format!("{indent}{}\n", cells.join("   ")));
    }
    out
}

/// A Node as an operator checks it: conditions, addresses, capacity and
/// allocatable side by side, taints, the kubelet's system info.
fn describe_node(v: &serde_json::Value) -> String {
    let s = &v["status"];
    let text = |x: &serde_json::Value| x.as_str().unwrap_or_default().to_owned();
    let mut out = String::new();
    match v["spec"]["taints"].as_array() {
        Some(taints) if !taints.is_empty() => {
            for (i, t) in taints.iter().enumerate() {
                out.push_str(&format!(
                    "{:<14}{}={}:{}\n",
                    if i == 0 { "Taints:" } else { "" },
                    text(&t["key"]),
                    text(&t["value"]),
                    text(&t["effect"])
                ));
            }
        }
        _ => out.push_str("Taints:       <none>\n"),
    }
    out.push_str(&format!(
        "Unschedulable:  {}\n",
        v["spec"]["unschedulable"].as_bool().unwrap_or(false)
    ));
    out.push_str("Conditions:\n");
    let mut rows = vec![
        ["Type", "Status", "LastHeartbeatTime", "Reason", "Message"]
            .map(str::to_owned)
            .to_vec(),
        ["----", "------", "-----------------", "------", "-------"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for c in s["conditions"].as_array().into_iter().flatten() {
        rows.push(vec![
            text(&c["type"]),
            text(&c["status"]),
            c["lastHeartbeatTime"]
                .as_str()
                .unwrap_or("<unknown>")
                .to_owned(),
            text(&c["reason"]),
            text(&c["message"]),
        ]);
    }
    out.push_str(&aligned("  ", &rows));
    out.push_str("Addresses:\n");
    for a in s["addresses"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {}:  {}\n",
            text(&a["type"]),
            text(&a["address"])
        ));
    }
    for (title, key) in [("Capacity:", "capacity"), ("Allocatable:", "allocatable")] {
        out.push_str(title);
        out.push('\n');
        match s[key].as_object() {
            Some(m) if !m.is_empty() => {
                for (k, q) in m {
                    out.push_str(&format!("  {k}:  {}\n", q.as_str().unwrap_or_default()));
                }
            }
            _ => out.push_str("  <none>\n"),
        }
    }
    if let Some(info) = s["nodeInfo"].as_object().filter(|m| !m.is_empty()) {
        out.push_str("System Info:\n");
        for (k, val) in info {
            out.push_str(&format!("  {k}:  {}\n", val.as_str().unwrap_or_default()));
        }
    }
    out
}

/// kubectl describe's Events section: the object's events from the events
/// store, oldest first.
pub fn events_section(model: &Model, v: &serde_json::Value) -> String {
    use crate::ui::data::Cell;
    let object = format!(
        "{}/{}",
        v["kind"].as_str().unwrap_or_default().to_lowercase(),
        v["metadata"]["name"].as_str().unwrap_or_default()
    );
    let ns = v["metadata"]["namespace"].as_str().unwrap_or_default();
    let st = model.stores.events.read();
    let mut events: Vec<&crate::ui::data::Row> = st
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
    let at = |r: &crate::ui::data::Row| match r.cells.first() {
        Some(Cell::Age(Some(t))) => *t,
        _ => 0,
    };
    events.sort_by_key(|r| at(r));
    let cell = |r: &crate::ui::data::Row, i: usize| {
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

pub(crate) fn render_yaml(model: &Model, y: &YamlState, f: &mut Frame, area: Rect) {
    let t = &model.theme;
    let hidden = if y.show_hidden {
        "status and managedFields shown"
    } else {
        "status and managedFields hidden"
    };
    let label = if y.describe { "describe" } else { "yaml" };
    let hidden = match &y.value {
        Some(v) if is_secret(v) && y.revealed => format!("{hidden}; values decoded, x masks"),
        Some(v) if is_secret(v) => format!("{hidden}; values masked, x reveals"),
        _ => hidden.to_owned(),
    };
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
    // Only the lines on screen are styled: an object of any length scrolls
    // (a u16 scroll offset wrapped past 65,535 lines).
    let count = text.lines().count();
    let max = count.saturating_sub(inner.height as usize);
    let scroll = y.scroll.min(max);
    let lines: Vec<Line> = text
        .lines()
        .skip(scroll)
        .take(inner.height as usize)
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
    f.render_widget(Paragraph::new(lines), inner);
}

/// The YAML screen's keys: scroll, status/managedFields, copy, back.
pub(crate) fn apply(model: &mut Model, action: Action) -> Vec<Effect> {
    let page = model.page.max(1);
    let Some(Screen::Yaml(y)) = model.stack.last_mut() else {
        return Vec::new();
    };
    match action {
        Action::Down => y.scroll += 1,
        Action::Up => y.scroll = y.scroll.saturating_sub(1),
        Action::PageDown => y.scroll += page,
        Action::PageUp => y.scroll = y.scroll.saturating_sub(page),
        Action::GoTop => y.scroll = 0,
        Action::GoBottom => y.scroll = usize::MAX / 2,
        Action::ToggleHidden => y.show_hidden = !y.show_hidden,
        Action::Reveal => match &y.value {
            Some(v) if is_secret(v) => {
                y.revealed = !y.revealed;
                let said = if y.revealed {
                    "values decoded (x masks them again; nothing is recorded)"
                } else {
                    "values masked"
                };
                model.say(said, MessageKind::Info);
            }
            Some(v) => {
                let kind = v["kind"].as_str().unwrap_or("object").to_owned();
                model.say_error(format!("x reveals a Secret's values; this is a {kind}"));
            }
            None => {}
        },
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
    Vec::new()
}
