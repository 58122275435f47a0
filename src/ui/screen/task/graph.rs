//! The Task state machine view (ARCHITECTURE 7): the OCC graph as boxes and
//! arrows with the actual, desired and target states marked and the planned
//! path highlighted; for fairmq tasks the FairMQ device graph beside it; the
//! transition history from Events.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::domain::task::{FairMqState, OccState, fairmq_path, plan_path};

/// A small character canvas with a style per cell.
struct Canvas {
    width: usize,
    cells: Vec<Vec<(char, Style)>>,
}

impl Canvas {
    fn new(width: usize, height: usize, base: Style) -> Self {
        Self {
            width,
            cells: vec![vec![(' ', base); width]; height],
        }
    }

    fn put(&mut self, x: usize, y: usize, c: char, style: Style) {
        if let Some(row) = self.cells.get_mut(y)
            && x < self.width
        {
            row[x] = (c, style);
        }
    }

    fn text(&mut self, x: usize, y: usize, s: &str, style: Style) {
        for (i, c) in s.chars().enumerate() {
            self.put(x + i, y, c, style);
        }
    }

    /// An edge from column `x0` to `x1` on row 1 (its arrow after `x1`) and
    /// the edge back on row 3, each with its label at its column (row 0 and
    /// row 4).
    fn both_ways(
        &mut self,
        g: &Glyphs,
        (x0, x1): (usize, usize),
        (fwd, fx, forward): (Style, usize, &str),
        (back, bx, backward): (Style, usize, &str),
    ) {
        self.hline(x0, x1, 1, g.h, fwd);
        self.put(x1 + 1, 1, g.right, fwd);
        self.text(fx, 0, forward, fwd);
        self.put(x0, 3, g.left, back);
        self.hline(x0 + 1, x1 + 1, 3, g.h, back);
        self.text(bx, 4, backward, back);
    }

    fn hline(&mut self, x0: usize, x1: usize, y: usize, c: char, style: Style) {
        for x in x0.min(x1)..=x0.max(x1) {
            self.put(x, y, c, style);
        }
    }

    fn vline(&mut self, x: usize, y0: usize, y1: usize, c: char, style: Style) {
        for y in y0.min(y1)..=y0.max(y1) {
            self.put(x, y, c, style);
        }
    }

    /// A box of `w` columns and 3 rows with `label` centred.
    fn boxed(&mut self, x: usize, y: usize, w: usize, label: &str, style: Style, g: &Glyphs) {
        self.put(x, y, g.tl, style);
        self.hline(x + 1, x + w - 2, y, g.h, style);
        self.put(x + w - 1, y, g.tr, style);
        self.put(x, y + 1, g.v, style);
        let pad = (w - 2).saturating_sub(label.chars().count()) / 2;
        self.hline(x + 1, x + w - 2, y + 1, ' ', style);
        self.text(x + 1 + pad, y + 1, label, style);
        self.put(x + w - 1, y + 1, g.v, style);
        self.put(x, y + 2, g.bl, style);
        self.hline(x + 1, x + w - 2, y + 2, g.h, style);
        self.put(x + w - 1, y + 2, g.br, style);
    }

    fn lines(self) -> Vec<Line<'static>> {
        self.cells
            .into_iter()
            .map(|row| {
                let mut spans: Vec<Span<'static>> = Vec::new();
                let mut cur = String::new();
                let mut style = None;
                for (c, s) in row {
                    if style != Some(s) && !cur.is_empty() {
                        spans.push(Span::styled(std::mem::take(&mut cur), style.unwrap_or(s)));
                    }
                    style = Some(s);
                    cur.push(c);
                }
                if !cur.is_empty() {
                    spans.push(Span::styled(cur, style.unwrap_or_default()));
                }
                Line::from(spans)
            })
            .collect()
    }
}

struct Glyphs {
    tl: char,
    tr: char,
    bl: char,
    br: char,
    h: char,
    v: char,
    right: char,
    left: char,
    up: char,
    down: char,
}

const UNICODE: Glyphs = Glyphs {
    tl: '┌',
    tr: '┐',
    bl: '└',
    br: '┘',
    h: '─',
    v: '│',
    right: '▶',
    left: '◀',
    up: '▲',
    down: '▼',
};

const ASCII: Glyphs = Glyphs {
    tl: '+',
    tr: '+',
    bl: '+',
    br: '+',
    h: '-',
    v: '|',
    right: '>',
    left: '<',
    up: '^',
    down: 'v',
};

/// Styles by role.
pub struct MachineStyles {
    pub base: Style,
    pub dim: Style,
    pub actual: Style,
    pub error: Style,
    pub path: Style,
    pub target: Style,
}

/// What the graphs mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marks {
    pub actual: Option<OccState>,
    pub desired: Option<OccState>,
    pub target: Option<OccState>,
}

impl Marks {
    /// The planned path as (from, to) edges.
    fn path(&self) -> Vec<(OccState, OccState)> {
        match (self.actual, self.target) {
            (Some(a), Some(t)) if a != t => plan_path(a, t)
                .map(|p| p.iter().map(|s| (s.from, s.to)).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

/// The OCC graph: 78 columns, 13 rows.
pub fn occ_graph(m: &Marks, s: &MachineStyles, ascii: bool) -> Vec<Line<'static>> {
    let g = if ascii { &ASCII } else { &UNICODE };
    let mut c = Canvas::new(78, 13, s.base);
    let path = m.path();
    let on = |a: OccState, b: OccState| path.contains(&(a, b));
    let edge = |a, b| if on(a, b) { s.path } else { s.dim };
    let box_style = |st: OccState| {
        if m.actual == Some(st) {
            if st == OccState::Error {
                s.error
            } else {
                s.actual
            }
        } else if m.target == Some(st) {
            s.target
        } else {
            s.base
        }
    };
    let label = |st: OccState| {
        let mut l = st.as_str().to_uppercase();
        if m.actual == Some(st) {
            l = format!("● {l}");
        }
        l
    };
    use OccState::*;
    // Boxes: STANDBY (0,1) CONFIGURED (28,1) RUNNING (58,1) ERROR (28,8); DONE is a line
    c.boxed(0, 1, 16, &label(Standby), box_style(Standby), g);
    c.boxed(28, 1, 18, &label(Configured), box_style(Configured), g);
    c.boxed(58, 1, 16, &label(Running), box_style(Running), g);
    c.boxed(28, 8, 18, &label(Error), box_style(Error), g);
    // STANDBY -> CONFIGURED (row 1) and back (row 3)
    let (fwd, back) = (edge(Standby, Configured), edge(Configured, Standby));
    c.both_ways(g, (16, 26), (fwd, 17, "CONFIGURE"), (back, 19, "RESET"));
    // CONFIGURED -> RUNNING and back
    let (fwd, back) = (edge(Configured, Running), edge(Running, Configured));
    c.both_ways(g, (46, 56), (fwd, 49, "START"), (back, 50, "STOP"));
    // CONFIGURED -> ERROR, RUNNING -> ERROR
    let st = edge(Configured, Error);
    c.vline(37, 4, 6, g.v, st);
    c.put(37, 7, g.down, st);
    c.text(38, 5, "GO_ERROR", st);
    let st = edge(Running, Error);
    c.vline(66, 4, 8, g.v, st);
    c.hline(47, 66, 9, g.h, st);
    c.put(46, 9, g.left, st);
    c.text(56, 8, "GO_ERROR", st);
    // ERROR -> STANDBY (RECOVER)
    let st = edge(Error, Standby);
    c.hline(8, 27, 9, g.h, st);
    c.vline(8, 5, 8, g.v, st);
    c.put(8, 4, g.up, st);
    c.text(10, 8, "RECOVER", st);
    // EXIT
    let done = if m.actual == Some(Done) {
        format!("EXIT from any state {} ● DONE", g.right)
    } else {
        format!("EXIT from any state {} DONE", g.right)
    };
    c.text(48, 11, &done, box_style(Done));
    // Legend
    let mut legend = Vec::new();
    if let Some(a) = m.actual {
        legend.push(format!("● actual {a}"));
    }
    if let Some(d) = m.desired {
        legend.push(format!("desired {d}"));
    }
    if let Some(t) = m.target {
        legend.push(format!("target {t}"));
    }
    c.text(0, 12, &legend.join("   "), s.base);
    c.lines()
}

/// The FairMQ device chain: one box per state from IDLE to RUNNING, with
/// the device's current state and the transitions the plan takes.
pub fn fairmq_graph(m: &Marks, s: &MachineStyles, ascii: bool) -> Vec<Line<'static>> {
    let g = if ascii { &ASCII } else { &UNICODE };
    let chain = FairMqState::CHAIN;
    let current = m.actual.map(OccState::fairmq);
    let planned: Vec<(FairMqState, FairMqState)> = match (m.actual, m.target) {
        (Some(a), Some(t)) if a != t => {
            let mut from = a.fairmq();
            fairmq_path(a.fairmq(), t.fairmq())
                .unwrap_or_default()
                .into_iter()
                .map(|(_, to)| {
                    let e = (from, to);
                    from = to;
                    e
                })
                .collect()
        }
        _ => Vec::new(),
    };
    let mut c = Canvas::new(26, chain.len() * 2 + 2, s.base);
    for (i, st) in chain.iter().enumerate() {
        let y = i * 2;
        let style = if current == Some(*st) {
            s.actual
        } else {
            s.base
        };
        let mark = if current == Some(*st) { "● " } else { "  " };
        c.text(
            0,
            y,
            &format!("{mark}{}", st.as_str()),
            style.add_modifier(Modifier::BOLD),
        );
        if i + 1 < chain.len() {
            let next = chain[i + 1];
            let on = planned.contains(&(*st, next)) || planned.contains(&(next, *st));
            c.put(
                2,
                y + 1,
                if on { g.down } else { g.v },
                if on { s.path } else { s.dim },
            );
        }
    }
    let y = chain.len() * 2;
    let err_style = if current == Some(FairMqState::Error) {
        s.error
    } else {
        s.dim
    };
    c.text(0, y, "  ERROR (from any)", err_style);
    c.lines()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lines: &[Line]) -> String {
        lines
            .iter()
            .map(|l| {
                l.spans
                    .iter()
                    .map(|s| s.content.as_ref())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_graph_marks_the_actual_state_and_the_path() {
        let styles = MachineStyles {
            base: Style::default(),
            dim: Style::default(),
            actual: Style::default(),
            error: Style::default(),
            path: Style::default().add_modifier(Modifier::BOLD),
            target: Style::default(),
        };
        let m = Marks {
            actual: Some(OccState::Standby),
            desired: Some(OccState::Standby),
            target: Some(OccState::Running),
        };
        let lines = occ_graph(&m, &styles, false);
        let text = plain(&lines);
        assert!(text.contains("● STANDBY"), "{text}");
        assert!(text.contains("CONFIGURE"), "{text}");
        // The CONFIGURE label is on the path: drawn bold.
        let bold = lines[0]
            .spans
            .iter()
            .find(|s| s.content.contains("CONFIGURE"))
            .unwrap();
        assert!(bold.style.add_modifier.contains(Modifier::BOLD));
        let fmq = plain(&fairmq_graph(&m, &styles, true));
        assert!(fmq.contains("● IDLE"), "{fmq}");
    }
}
