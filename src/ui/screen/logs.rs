//! The log screen: one pod's container, a swarm's workers merged by time, or
//! whichever worker owns a stream. It owns its state (a bounded buffer, the
//! scroll position, search and toggles), its keys and its view; the runtime
//! streams the lines in (`Effect::OpenLogs`, `Event::Logs`).

use std::collections::VecDeque;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::cluster::logs::{LogEvent, LogOptions, NoteKind};
use crate::domain::swarm::SwarmRef;
use crate::ui::keymap::Action;
use crate::ui::model::{Effect, MessageKind, Model, Screen};

/// Lines kept by default (settings `logs.max_lines`).
pub const DEFAULT_MAX_LINES: usize = 10_000;

/// Bytes of log text kept, whatever the line count: lines are up to 64 KiB
/// each (`cluster::logs::MAX_LINE_BYTES`), so a count alone does not bound
/// the buffer.
pub const MAX_BYTES: usize = 32 * 1024 * 1024;
/// Lines of each pod shown first (kubectl's --tail).
pub const DEFAULT_TAIL: i64 = 1000;

/// Whose logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSource {
    Pod { namespace: String, pod: String },
    Swarm(SwarmRef),
    Stream(SwarmRef, String),
}

impl LogSource {
    pub fn title(&self) -> String {
        match self {
            LogSource::Pod { namespace, pod } => format!("pod {namespace}/{pod}"),
            LogSource::Swarm(s) => format!("swarm {}/{} (all workers)", s.namespace, s.name),
            LogSource::Stream(s, stream) => {
                format!("{stream} in swarm {}/{} (its owner)", s.namespace, s.name)
            }
        }
    }
}

/// One line of the buffer: a log line or a marker drawn between them (the
/// reader's events as they came; `Caught` and `Containers` are not kept).
pub type Entry = LogEvent;

#[derive(Debug, Clone)]
pub struct LogScreen {
    /// Which reading the lines belong to (a reading replaced by another —
    /// previous, another container — sends lines that are dropped).
    pub id: u64,
    pub source: LogSource,
    pub container: Option<String>,
    pub containers: Vec<String>,
    pub previous: bool,
    pub entries: VecDeque<Entry>,
    pub max_lines: usize,
    /// Lines dropped from the front to stay within `max_lines` and
    /// [`MAX_BYTES`].
    pub dropped: u64,
    /// Bytes the entries hold.
    pub bytes: usize,
    /// The first entry shown, when not following the end.
    pub top: usize,
    /// Autoscroll: the view stays at the end as lines arrive.
    pub follow: bool,
    pub timestamps: bool,
    pub wrap: bool,
    pub search: Option<(String, regex::Regex)>,
    /// Only this worker's lines (a swarm's view).
    pub only: Option<String>,
    /// Pods seen, in worker order (colours, the worker filter).
    pub pods: Vec<String>,
    /// Pods whose first batch is still coming.
    pub loading: bool,
    /// Lines that arrived below the view while it was paused.
    pub unseen: usize,
    /// Rows the view had when last drawn (for paging and for following).
    pub height: usize,
}

impl LogScreen {
    pub fn new(id: u64, source: LogSource, max_lines: usize) -> Self {
        Self {
            id,
            source,
            container: None,
            containers: Vec::new(),
            previous: false,
            entries: VecDeque::new(),
            max_lines: max_lines.max(100),
            dropped: 0,
            bytes: 0,
            top: 0,
            follow: true,
            timestamps: false,
            wrap: false,
            search: None,
            only: None,
            pods: Vec::new(),
            loading: true,
            unseen: 0,
            height: 20,
        }
    }

    /// Several pods' lines in one view (each is prefixed by its pod).
    pub fn merged(&self) -> bool {
        matches!(self.source, LogSource::Swarm(_))
    }

    /// What the runtime reads for this screen.
    pub fn options(&self) -> LogOptions {
        LogOptions {
            container: self.container.clone(),
            follow: !self.previous,
            previous: self.previous,
            tail: Some(DEFAULT_TAIL),
            since_seconds: None,
        }
    }

    pub fn open_effect(&self) -> Effect {
        Effect::OpenLogs {
            id: self.id,
            source: self.source.clone(),
            options: self.options(),
        }
    }

    fn visible(&self, e: &Entry) -> bool {
        self.only.as_deref().is_none_or(|p| e.pod() == p)
    }

    /// The entries shown (after the worker filter), by index into `entries`.
    pub fn shown(&self) -> Vec<usize> {
        (0..self.entries.len())
            .filter(|i| self.visible(&self.entries[*i]))
            .collect()
    }

    /// How many entries are shown, without listing them (the view's
    /// position is asked for on every key and frame).
    fn shown_len(&self) -> usize {
        match &self.only {
            None => self.entries.len(),
            Some(_) => self.entries.iter().filter(|e| self.visible(e)).count(),
        }
    }

    /// Take a batch from the reader.
    pub fn receive(&mut self, events: Vec<LogEvent>) {
        for ev in events {
            let entry = match ev {
                LogEvent::Line(_) => ev,
                LogEvent::Note { .. } => {
                    self.loading = false;
                    ev
                }
                LogEvent::Caught { pod } => {
                    self.note_pod(&pod);
                    self.loading = false;
                    continue;
                }
                LogEvent::Containers { pod, names, shown } => {
                    self.note_pod(&pod);
                    if matches!(self.source, LogSource::Pod { .. }) {
                        self.containers = names;
                        self.container = Some(shown);
                    }
                    continue;
                }
            };
            self.note_pod(entry.pod());
            let visible = self.visible(&entry);
            // Merged pods arrive one after the other: place by time.
            let at = if self.merged() {
                let t = entry.at_ms();
                self.entries.partition_point(|e| e.at_ms() <= t)
            } else {
                self.entries.len()
            };
            self.bytes += entry.bytes();
            if at == self.entries.len() {
                self.entries.push_back(entry);
            } else {
                self.entries.insert(at, entry);
                if !self.follow && at < self.top {
                    self.top += 1;
                }
            }
            if !self.follow && visible {
                self.unseen += 1;
            }
            while self.entries.len() > self.max_lines
                || (self.bytes > MAX_BYTES && self.entries.len() > 1)
            {
                if let Some(gone) = self.entries.pop_front() {
                    self.bytes -= gone.bytes();
                }
                self.dropped += 1;
                self.top = self.top.saturating_sub(1);
            }
        }
    }

    fn note_pod(&mut self, pod: &str) {
        if !pod.is_empty() && !self.pods.iter().any(|p| p == pod) && !pod.starts_with("stream:") {
            self.pods.push(pod.to_owned());
            self.pods
                .sort_by_key(|p| crate::cluster::logs::worker_order(p));
        }
    }

    /// The first shown entry's position when following: the end, less a
    /// page.
    fn end_top(&self, shown: usize) -> usize {
        shown.saturating_sub(self.height.max(1))
    }

    /// The position of the view among the shown entries.
    pub fn view_top(&self) -> usize {
        let shown = self.shown_len();
        if self.follow {
            self.end_top(shown)
        } else {
            self.top.min(self.end_top(shown))
        }
    }

    fn scroll_to(&mut self, top: usize) {
        let shown = self.shown_len();
        let end = self.end_top(shown);
        if top >= end {
            self.follow = true;
            self.unseen = 0;
        } else {
            self.follow = false;
            self.top = top;
        }
    }

    /// Jump to the next (or previous) line matching the search, from the
    /// view's top; true if one was found.
    fn jump(&mut self, forward: bool) -> bool {
        let Some((_, re)) = &self.search else {
            return false;
        };
        let shown = self.shown();
        let from = self.view_top();
        let hit = |i: &usize| {
            re.is_match(&self.entries[shown[*i]].shown_text(self.timestamps, self.merged()))
        };
        let found = if forward {
            (from + 1..shown.len()).find(|i| hit(i))
        } else {
            (0..from.min(shown.len())).rev().find(|i| hit(i))
        };
        match found {
            Some(i) => {
                self.follow = false;
                self.top = i;
                true
            }
            None => false,
        }
    }

    /// What is shown, as text (`:w FILE`).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for i in self.shown() {
            out.push_str(&self.entries[i].shown_text(self.timestamps, self.merged()));
            out.push('\n');
        }
        out
    }
}

fn top(model: &mut Model) -> Option<&mut LogScreen> {
    match model.stack.last_mut() {
        Some(Screen::Logs(l)) => Some(l),
        _ => None,
    }
}

/// Open a log screen on top (replacing one already open: one reading at a
/// time).
pub fn open(model: &mut Model, source: LogSource) -> Vec<Effect> {
    let mut effects = close_all(model);
    model.log_id += 1;
    let screen = LogScreen::new(model.log_id, source, model.log_max_lines);
    effects.push(screen.open_effect());
    model.stack.push(Screen::Logs(Box::new(screen)));
    effects
}

/// Close every log screen (and its reading).
pub fn close_all(model: &mut Model) -> Vec<Effect> {
    let had = model.stack.iter().any(|s| matches!(s, Screen::Logs(_)));
    model.stack.retain(|s| !matches!(s, Screen::Logs(_)));
    if had {
        vec![Effect::CloseLogs]
    } else {
        Vec::new()
    }
}

/// Lines from the runtime.
pub fn receive(model: &mut Model, id: u64, events: Vec<LogEvent>) {
    for s in model.stack.iter_mut() {
        if let Screen::Logs(l) = s
            && l.id == id
        {
            l.receive(events);
            return;
        }
    }
}

/// Start the screen's reading anew (previous instance, another container).
fn restart(model: &mut Model) -> Vec<Effect> {
    model.log_id += 1;
    let id = model.log_id;
    let Some(l) = top(model) else {
        return Vec::new();
    };
    l.id = id;
    l.entries.clear();
    l.dropped = 0;
    l.bytes = 0;
    l.follow = true;
    l.unseen = 0;
    l.loading = true;
    vec![l.open_effect()]
}

/// The search typed with `/` (highlighted; `n`/`N` move between matches).
pub fn set_search(model: &mut Model, text: &str, re: Option<regex::Regex>) {
    let Some(l) = top(model) else { return };
    l.search = re.map(|re| (text.to_owned(), re));
    if l.search.is_none() {
        return;
    }
    // The first match at or above the end of the view, as `?` would.
    let shown = l.shown();
    let from = (l.view_top() + l.height).min(shown.len());
    let re = l.search.as_ref().map(|(_, r)| r.clone());
    let found = re.and_then(|re| {
        (0..from)
            .rev()
            .find(|i| re.is_match(&l.entries[shown[*i]].shown_text(l.timestamps, l.merged())))
    });
    match found {
        Some(i) => {
            l.follow = false;
            l.top = i;
        }
        None => model.say_error(format!("no line matches `{text}`")),
    }
}

/// Save what is shown (`:w FILE`).
pub fn save(model: &mut Model, path: &str) -> Vec<Effect> {
    let Some(l) = top(model) else {
        model.say_error(":w saves a log view: open one with `l` first");
        return Vec::new();
    };
    if path.is_empty() {
        model.say_error(":w needs a file name: `:w /tmp/worker.log`");
        return Vec::new();
    }
    let text = l.text();
    let lines = l.shown().len();
    vec![Effect::WriteFile {
        path: path.to_owned(),
        text,
        what: format!("{lines} lines"),
    }]
}

pub fn apply(model: &mut Model, action: Action) -> Vec<Effect> {
    let page = top(model).map_or(20, |l| l.height.max(1));
    match action {
        Action::Back => {
            let effects = close_all(model);
            if model.stack.is_empty() {
                model
                    .stack
                    .push(Screen::Table(crate::ui::data::ViewKind::Pods));
            }
            model.invalidate();
            return effects;
        }
        Action::Quit => {
            model.quit = true;
            return vec![Effect::Quit];
        }
        Action::Help => model.help = true,
        Action::Palette => model.palette = Some(Default::default()),
        Action::Filter => {
            let current = top(model)
                .and_then(|l| l.search.as_ref().map(|(t, _)| t.clone()))
                .unwrap_or_default();
            model.filter_input = Some(current);
        }
        _ => {}
    }
    let Some(l) = top(model) else {
        return Vec::new();
    };
    let at = l.view_top();
    match action {
        Action::Down => l.scroll_to(at + 1),
        Action::Up => l.scroll_to(at.saturating_sub(1)),
        Action::PageDown => l.scroll_to(at + page),
        Action::PageUp => l.scroll_to(at.saturating_sub(page)),
        Action::GoTop => l.scroll_to(0),
        Action::GoBottom => l.scroll_to(usize::MAX),
        Action::LogTimestamps => l.timestamps = !l.timestamps,
        Action::LogWrap => l.wrap = !l.wrap,
        Action::NextMatch | Action::PrevMatch => {
            let forward = action == Action::NextMatch;
            if l.search.is_none() {
                model.say_error("no search: type / and a text or regex first");
            } else if !l.jump(forward) {
                let which = if forward { "below" } else { "above" };
                model.say_error(format!("no more matches {which}"));
            }
        }
        Action::LogPrevious => {
            if !matches!(l.source, LogSource::Pod { .. }) {
                model.say_error("the previous container is a pod's: open a worker's logs with l in the pods view");
                return Vec::new();
            }
            l.previous = !l.previous;
            let what = if l.previous {
                "the previous container (its last words); p again: the current one"
            } else {
                "the current container, following"
            };
            model.say(what, MessageKind::Info);
            return restart(model);
        }
        Action::LogContainer => {
            if l.containers.len() < 2 {
                let only = l.container.clone().unwrap_or_default();
                model.say_error(format!("this pod has one container ({only})"));
                return Vec::new();
            }
            let at = l
                .container
                .as_ref()
                .and_then(|c| l.containers.iter().position(|n| n == c))
                .map_or(0, |i| (i + 1) % l.containers.len());
            let next = l.containers[at].clone();
            l.container = Some(next.clone());
            model.say(format!("container {next}"), MessageKind::Info);
            return restart(model);
        }
        Action::LogWorker => {
            if l.pods.len() < 2 {
                model.say_error("one pod in this view: the worker filter is for a swarm's logs");
                return Vec::new();
            }
            let next = match &l.only {
                None => Some(l.pods[0].clone()),
                Some(p) => {
                    let i = l.pods.iter().position(|x| x == p).map_or(0, |i| i + 1);
                    l.pods.get(i).cloned()
                }
            };
            l.only = next.clone();
            l.follow = true;
            l.unseen = 0;
            model.say(
                match next {
                    Some(p) => format!("only {p}"),
                    None => "all workers".to_owned(),
                },
                MessageKind::Info,
            );
        }
        _ => {}
    }
    Vec::new()
}

/// The style of a worker's prefix: one colour per worker, from the theme.
fn worker_style(model: &Model, l: &LogScreen, pod: &str) -> Style {
    let i = l.pods.iter().position(|p| p == pod).unwrap_or(0);
    model.theme.style(&format!("logs.worker.{}", i % 6))
}

fn highlight(text: &str, re: Option<&regex::Regex>, base: Style, hit: Style) -> Vec<Span<'static>> {
    let Some(re) = re else {
        return vec![Span::styled(text.to_owned(), base)];
    };
    let mut spans = Vec::new();
    let mut last = 0;
    for m in re.find_iter(text) {
        if m.start() == m.end() {
            continue;
        }
        if m.start() > last {
            spans.push(Span::styled(text[last..m.start()].to_owned(), base));
        }
        spans.push(Span::styled(m.as_str().to_owned(), hit));
        last = m.end();
    }
    if last < text.len() {
        spans.push(Span::styled(text[last..].to_owned(), base));
    }
    spans
}

pub fn render(model: &Model, l: &LogScreen, f: &mut Frame, area: Rect) {
    let t = &model.theme;
    let mut title = vec![Span::styled(
        format!(" logs {} ", l.source.title()),
        t.style("title"),
    )];
    if let Some(c) = &l.container {
        title.push(Span::styled(format!("[{c}] "), t.style("title")));
    }
    if l.previous {
        title.push(Span::styled(
            "(previous container) ",
            t.style("status.warn"),
        ));
    }
    if let Some(p) = &l.only {
        title.push(Span::styled(format!("only {p} "), t.style("status.warn")));
    }
    let state = if l.loading {
        "loading ...".to_owned()
    } else if l.previous {
        "ended".to_owned()
    } else if l.follow {
        "following".to_owned()
    } else if l.unseen > 0 {
        format!("paused, {} new below (G resumes)", l.unseen)
    } else {
        "paused (G resumes)".to_owned()
    };
    let mut flags = vec![state];
    if l.timestamps {
        flags.push("timestamps".into());
    }
    if l.wrap {
        flags.push("wrap".into());
    }
    if let Some((s, _)) = &l.search {
        flags.push(format!("/{s}"));
    }
    if l.dropped > 0 {
        flags.push(format!("{} dropped (max_lines {})", l.dropped, l.max_lines));
    }
    title.push(Span::styled(
        format!("{} ", flags.join(", ")),
        t.style("footer"),
    ));
    let b = crate::ui::views::block(model, Line::from(title));
    let inner = b.inner(area);
    f.render_widget(b, area);
    let height = inner.height as usize;
    let shown = l.shown();
    let merged = l.merged();
    let hit = t.style("filter.match");
    let re = l.search.as_ref().map(|(_, r)| r);
    let line_of = |e: &Entry| -> Line<'static> {
        match e {
            LogEvent::Note { kind, text, .. } => {
                let role = match kind {
                    NoteKind::Error | NoteKind::Ended => "status.error",
                    NoteKind::Waiting => "status.pending",
                    NoteKind::Resumed => "status.ok",
                    NoteKind::Switched => "status.warn",
                };
                Line::from(Span::styled(
                    format!("--- {text} ---"),
                    t.style(role).add_modifier(Modifier::BOLD),
                ))
            }
            LogEvent::Line(line) => {
                let mut spans = Vec::new();
                if merged {
                    spans.push(Span::styled(
                        format!("{} ", line.pod),
                        worker_style(model, l, &line.pod),
                    ));
                }
                if l.timestamps && !line.stamp.is_empty() {
                    spans.push(Span::styled(format!("{} ", line.stamp), t.style("footer")));
                }
                spans.extend(highlight(&line.text, re, t.style("base"), hit));
                Line::from(spans)
            }
            // Not kept in the buffer.
            LogEvent::Caught { .. } | LogEvent::Containers { .. } => Line::default(),
        }
    };
    // Following with wrap: take lines from the end until the rows are full.
    let width = inner.width.max(1) as usize;
    let rows_of = |e: &Entry| -> usize {
        if !l.wrap {
            return 1;
        }
        let len = e.shown_text(l.timestamps, merged).chars().count().max(1);
        len.div_ceil(width)
    };
    let start = if l.follow && l.wrap {
        let mut rows = 0;
        let mut i = shown.len();
        while i > 0 && rows + rows_of(&l.entries[shown[i - 1]]) <= height {
            rows += rows_of(&l.entries[shown[i - 1]]);
            i -= 1;
        }
        i
    } else {
        l.view_top().min(shown.len())
    };
    let lines: Vec<Line> = shown[start..]
        .iter()
        .take(height)
        .map(|i| line_of(&l.entries[*i]))
        .collect();
    if lines.is_empty() {
        let text = if l.loading {
            "waiting for the first lines ..."
        } else {
            "no lines (yet): the container has written nothing"
        };
        f.render_widget(Paragraph::new(text).style(t.style("footer")), inner);
        return;
    }
    let mut p = Paragraph::new(lines);
    if l.wrap {
        p = p.wrap(Wrap { trim: false });
    }
    f.render_widget(p, inner);
}
