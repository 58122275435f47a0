//! Untrusted text on its way to a terminal. Whoever can write an Event, a
//! custom resource or a log line decides some of the bytes swarmdeck draws;
//! none of them may drive the terminal. Control characters (C0, DEL, C1) and
//! the bidirectional overrides are shown as visible stand-ins, never sent.
//!
//! The console applies [`frame`] to every finished frame (one place, as ASCII
//! mode is applied, so that no screen can forget it); the command line applies
//! [`line`] to what it prints to a terminal.

use std::borrow::Cow;

/// A character that would act on the terminal (or reorder what it shows)
/// instead of being shown: C0 controls, DEL, C1 controls, and the
/// bidirectional embeddings, overrides, isolates and marks.
pub fn is_hostile(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
        | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// The visible stand-in of a hostile character: the Unicode control
/// pictures for C0 and DEL (`␛` for ESC, `␇` for BEL), `�` for the rest.
pub fn stand_in(c: char) -> char {
    match c as u32 {
        n @ 0..=0x1f => char::from_u32(0x2400 + n).unwrap_or('\u{fffd}'),
        0x7f => '\u{2421}',
        _ => '\u{fffd}',
    }
}

/// One line of text for a terminal: every hostile character shown by its
/// stand-in. A tab stays a tab (it only moves the cursor right).
pub fn line(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c != '\t' && is_hostile(c)) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if c != '\t' && is_hostile(c) {
                    stand_in(c)
                } else {
                    c
                }
            })
            .collect(),
    )
}

/// Text of several lines for a terminal: each line as [`line`] makes it.
pub fn lines(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c != '\t' && c != '\n' && is_hostile(c)) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.split('\n').map(line).collect::<Vec<_>>().join("\n"))
}

/// The finished frame, cell by cell. A hostile character has no width, so
/// ratatui appends it to the cell before it; such a cell shows the stand-in
/// of the first hostile character it holds instead (the character it was
/// attached to gives way, so that nothing on the screen moves).
pub fn frame(buf: &mut ratatui::buffer::Buffer) {
    for cell in buf.content.iter_mut() {
        let symbol = cell.symbol();
        if symbol.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            continue;
        }
        if let Some(c) = symbol.chars().find(|c| is_hostile(*c)) {
            cell.set_char(stand_in(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;
    use ratatui::widgets::{Paragraph, Widget};

    #[test]
    fn a_frame_keeps_no_control_and_shows_where_one_was() {
        let hostile = "ok \x1b]52;c;aGk=\x07 title\x1b]0;pwned\x07 \u{202e}evil \u{9b}31m";
        let mut buf = Buffer::empty(Rect::new(0, 0, 60, 1));
        Paragraph::new(hostile).render(buf.area, &mut buf);
        frame(&mut buf);
        let shown: String = buf.content.iter().map(|c| c.symbol()).collect();
        assert!(!shown.chars().any(is_hostile), "{shown:?}");
        assert!(shown.contains("␛]52;c;aGk="), "{shown:?}");
        assert!(shown.contains('␇'), "{shown:?}");
        assert!(shown.contains('\u{fffd}'), "{shown:?}");
        // Nothing moved: every cell is one column wide.
        assert_eq!(buf.content.len(), 60);
    }

    #[test]
    fn a_line_shows_its_controls_and_keeps_tabs() {
        assert_eq!(line("plain\ttext"), "plain\ttext");
        assert!(matches!(line("plain"), Cow::Borrowed(_)));
        assert_eq!(line("a\x1b[2Jb\rc\u{7f}"), "a␛[2Jb␍c␡");
        assert_eq!(line("x\u{2066}y"), "x\u{fffd}y");
        assert_eq!(lines("a\nb\x07"), "a\nb␇");
    }

    proptest::proptest! {
        #[test]
        fn nothing_hostile_survives(s in ".*") {
            proptest::prop_assert!(!lines(&s).chars().any(|c| c != '\t' && c != '\n' && is_hostile(c)));
            let mut buf = Buffer::empty(Rect::new(0, 0, 40, 2));
            Paragraph::new(s.as_str()).render(buf.area, &mut buf);
            frame(&mut buf);
            proptest::prop_assert!(!buf.content.iter().any(|c| c.symbol().chars().any(is_hostile)));
        }
    }
}
