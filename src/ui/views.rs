//! Drawing: every view renders from `&Model` and never touches a client.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::border;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::data::ViewKind;
use super::keymap::{Action, Mode};
use super::model::{MessageKind, Model, Screen};
use super::overlay::palette::{COMMANDS, completions};
use super::screen::{
    editor::render_editor, grid::render_grid, table::render_table, task::render_task,
    yaml::render_yaml,
};

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
    match stale_banner(model) {
        Some(banner) => f.render_widget(banner, header),
        None => f.render_widget(
            Paragraph::new(header_line(model, header.width)).style(model.theme.style("header")),
            header,
        ),
    }
    match model.screen() {
        Screen::Table(kind) => render_table(model, *kind, f, body),
        Screen::Yaml(y) => render_yaml(model, y, f, body),
        Screen::Grid(g) => render_grid(model, g, f, body),
        Screen::Task(t) => render_task(model, t, f, body),
        Screen::Editor(e) => render_editor(model, e, f, body),
        Screen::Logs(l) => super::screen::logs::render(model, l, f, body),
        Screen::Resource(r) => super::screen::resource::render(model, r, f, body),
        Screen::Overview(o) => super::screen::overview::render(model, o, f, body),
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
    // Whatever a screen drew from the cluster, nothing of it drives the terminal.
    crate::sanitize::frame(f.buffer_mut());
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
            '·' | '…' => '.',
            // A masked Secret value stays visibly masked.
            '•' => '*',
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

/// On the overview (a wall screen, read from across a room), a watch that is
/// down replaces the header with a full-width inverse banner: inverse and
/// bold whatever the theme, so it shows in NO_COLOR and ASCII modes too.
fn stale_banner(model: &Model) -> Option<Paragraph<'static>> {
    if !matches!(model.screen(), Screen::Overview(_)) {
        return None;
    }
    let since = [
        ViewKind::Pods,
        ViewKind::StatefulSets,
        ViewKind::ConfigMaps,
        ViewKind::Tasks,
        ViewKind::Events,
    ]
    .iter()
    .filter_map(|k| model.stores.get(*k))
    .filter_map(|s| s.read().stale_since(model.now_ms))
    .min()?;
    let text = format!(
        " DATA STALE since {}s — reconnecting ",
        ((model.now_ms - since).max(0)) / 1000
    );
    let style = Style::default()
        .add_modifier(ratatui::style::Modifier::REVERSED | ratatui::style::Modifier::BOLD);
    Some(
        Paragraph::new(text)
            .style(style)
            .alignment(ratatui::layout::Alignment::Center),
    )
}

/// Connection state across the stores: live, or stale since when.
fn connection(model: &Model) -> (String, &'static str) {
    let mut since: Option<i64> = None;
    let mut synced = true;
    let mut forbidden = false;
    // A credential plugin that failed: its own words, in the header.
    let mut credentials: Option<String> = None;
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
                if let Some((_, why)) = &st.error
                    && why.contains("credentials for ")
                {
                    // The plugin's own last words (after its exit status),
                    // short enough for the header.
                    let said = why.rsplit("): ").next().unwrap_or(why);
                    credentials = Some(said.chars().take(40).collect());
                }
            }
        }
    }
    match since {
        Some(_) if forbidden => ("forbidden".into(), "header.stale"),
        Some(_) if credentials.is_some() => (
            format!(
                "credentials expired for {}: {}",
                model.header.context,
                credentials.unwrap_or_default()
            ),
            "header.stale",
        ),
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
    let mut wanted: Vec<(Action, &'static str)> = wanted.to_vec();
    match model.screen() {
        // The overview only looks.
        Screen::Overview(_) => {
            wanted = vec![
                (Action::Open, "grid"),
                (Action::Palette, "cmd"),
                (Action::Help, "help"),
                (Action::Quit, "quit"),
            ];
        }
        // Enter on a Deployment, Service ... lists its pods.
        Screen::Resource(r) if super::screen::resource::has_pods(&r.kind) => {
            wanted[0] = (Action::Open, "pods");
        }
        Screen::Resource(r) if r.kind.group.is_empty() && r.kind.plural == "namespaces" => {
            wanted[0] = (Action::Open, "switch to");
        }
        Screen::Resource(r) if r.kind.group.is_empty() && r.kind.plural == "pods" => {
            wanted.insert(1, (Action::Logs, "logs"));
        }
        Screen::Yaml(y) if y.value.as_ref().is_some_and(|v| v["kind"] == "Secret") => {
            wanted.insert(0, (Action::Reveal, "reveal"));
        }
        _ => {}
    }
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
    // action id only where a keymap gives none), whole: a description wraps
    // under itself, and the help scrolls when it does not fit.
    let words = |action: &Action, desc: &str| {
        if desc.is_empty() {
            action.id().to_owned()
        } else {
            desc.to_owned()
        }
    };
    let w = area.width.min(100);
    let inner = (w as usize).saturating_sub(2);
    let key_w = 14usize.min(inner / 3);
    let text_w = inner.saturating_sub(key_w + 2).max(10);
    for (keys, action, desc) in &entries {
        let wrapped = wrap_words(&words(action, desc), text_w);
        for (i, part) in wrapped.into_iter().enumerate() {
            let k = if i == 0 { keys.as_str() } else { "" };
            lines.push(Line::from(vec![
                Span::styled(format!("{k:>key_w$}  "), t.style("footer.key")),
                Span::styled(part, t.style("help")),
            ]));
        }
    }
    lines.push(Line::from(Span::styled("Commands (:)", t.style("title"))));
    let cmds: Vec<String> = COMMANDS.iter().map(|(c, _)| format!(":{c}")).collect();
    for part in wrap_words(&cmds.join(" "), inner) {
        lines.push(Line::from(Span::styled(part, t.style("help"))));
    }
    let h = (lines.len() as u16 + 3).min(area.height);
    let room = (h as usize).saturating_sub(3);
    let scroll = model.help_scroll.min(lines.len().saturating_sub(room));
    let more = lines.len() > room;
    let mut shown: Vec<Line> = lines.into_iter().skip(scroll).take(room).collect();
    shown.push(Line::from(Span::styled(
        if more {
            "j/k, PgDn/PgUp scroll · any other key closes this help"
        } else {
            "any key closes this help"
        },
        t.style("footer"),
    )));
    let r = Rect {
        x: (area.width - w) / 2,
        y: (area.height - h) / 2,
        width: w,
        height: h,
    };
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(shown)
            .style(t.style("help"))
            .block(block(model, Line::from(" help "))),
        r,
    );
}

/// Text in lines of at most `width` characters, broken between words (a
/// word longer than a line is broken where it must be).
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word = word.to_owned();
        loop {
            let len = line.chars().count();
            let wlen = word.chars().count();
            let gap = usize::from(len > 0);
            if len + gap + wlen <= width {
                if gap == 1 {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            if len > 0 {
                out.push(std::mem::take(&mut line));
                continue;
            }
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            out.push(head);
            if word.is_empty() {
                break;
            }
        }
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

/// Style of a role, for callers outside the views.
pub fn style(model: &Model, role: &str) -> Style {
    model.theme.style(role)
}

#[cfg(test)]
mod wrap_tests {
    use super::wrap_words;

    #[test]
    fn descriptions_wrap_whole() {
        let text = "logs: the pod's, the swarm's workers merged, the Task's pod";
        let lines = wrap_words(text, 20);
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        assert_eq!(lines.join(" "), text);
        assert_eq!(wrap_words("abcdefghij", 4), ["abcd", "efgh", "ij"]);
    }
}
