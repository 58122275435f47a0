//! The console's views rendered to ratatui's TestBackend from the embedded
//! demo (on a clock the test holds still), compared as insta snapshots: each
//! view at 120x40 and 80x24, in the default and mono themes. Random pod-name
//! suffixes are filtered; ages are fixed by the clock.

mod common;

use ratatui::buffer::Buffer;
use swarmdeck::ui::app::{Event, Header, Model, update};
use swarmdeck::ui::data::{Stores, ViewKind};
use swarmdeck::ui::keymap::Keymap;
use swarmdeck::ui::runtime::render_to_buffer;
use swarmdeck::ui::theme::ThemeSource;

async fn demo_stores() -> (Stores, i64) {
    let (cluster, _client, stores) = common::still_demo(6_000).await;
    (stores, cluster.clock().now_ms())
}

fn model(stores: Stores, now: i64, theme: &str, read_only: bool) -> Model {
    let (theme, _) = ThemeSource { user_dir: None }.load(theme);
    let (keymap, _) = Keymap::load("default", None, read_only);
    let header = Header {
        context: "swarmdeck-embedded".into(),
        server: "in-process".into(),
        embedded: true,
        fallback: false,
        read_only,
        engine: "not running".into(),
    };
    let mut m = Model::new(header, "swarm".into(), stores, theme, keymap);
    m.now_ms = now;
    m.namespace = None;
    m
}

/// Screen text, then the style of the header line and the selected row, so
/// that a theme change shows in the snapshot.
fn snapshot_text(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in 0..area.height {
        let line: String = (0..area.width)
            .map(|x| buf[(x, y)].symbol().to_owned())
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for (label, y) in [("header", 0u16), ("first row", 3u16)] {
        let mut runs: Vec<String> = Vec::new();
        let mut last = None;
        for x in 0..area.width {
            let c = &buf[(x, y)];
            let s = format!("{:?}/{:?}/{:?}", c.fg, c.bg, c.modifier);
            if last.as_ref() != Some(&s) {
                runs.push(format!("{x}:{s}"));
                last = Some(s);
            }
        }
        out.push_str(&format!("styles {label}: {}\n", runs.join(" ")));
    }
    out
}

fn settle(text: &str) -> String {
    let filters = [
        // generateName suffixes are random; the template hash is not.
        (
            r"(dashboard|payment-gateway)-([0-9a-f]{8})-[bcdfghjklmnpqrstvwxz2456789]{1,5}",
            "$1-$2-XXXXX",
        ),
        (r"node-\d", "node-N"),
    ];
    let mut t = text.to_owned();
    for (re, with) in filters {
        t = regex::Regex::new(re)
            .unwrap()
            .replace_all(&t, with)
            .into_owned();
    }
    t
}

#[tokio::test]
async fn every_view_at_two_sizes_in_two_themes() {
    let (stores, now) = demo_stores().await;
    for theme in ["default", "mono"] {
        for (w, h) in [(120u16, 40u16), (80, 24)] {
            for view in [
                ViewKind::Pods,
                ViewKind::StatefulSets,
                ViewKind::ConfigMaps,
                ViewKind::Tasks,
                ViewKind::Events,
            ] {
                let mut m = model(stores.clone(), now, theme, false);
                for c in format!(":{}\r", view.command()).chars() {
                    let code = if c == '\r' {
                        crossterm::event::KeyCode::Enter
                    } else {
                        crossterm::event::KeyCode::Char(c)
                    };
                    update(&mut m, Event::Key(crossterm::event::KeyEvent::from(code)));
                }
                m.message = None;
                let text = settle(&snapshot_text(&render_to_buffer(&mut m, w, h)));
                insta::assert_snapshot!(format!("{}_{w}x{h}_{theme}", view.command()), text);
            }
        }
    }
}

#[tokio::test]
async fn read_only_header_help_and_filter() {
    let (stores, now) = demo_stores().await;
    let mut m = model(stores, now, "default", true);
    let key = |m: &mut Model, code| {
        update(m, Event::Key(crossterm::event::KeyEvent::from(code)));
    };
    use crossterm::event::KeyCode::{Char, Enter};
    // A mutating key says why it does nothing.
    update(
        &mut m,
        Event::Key(crossterm::event::KeyEvent::new(
            Char('d'),
            crossterm::event::KeyModifiers::CONTROL,
        )),
    );
    let text = snapshot_text(&render_to_buffer(&mut m, 100, 20));
    assert!(text.lines().next().unwrap().contains("READ-ONLY"), "{text}");
    assert!(
        text.contains("read-only: `delete` is not available"),
        "{text}"
    );
    // A bad regex is an inline error; a good one narrows the rows.
    m.message = None;
    key(&mut m, Char('/'));
    for c in "swarm[".chars() {
        key(&mut m, Char(c));
    }
    let text = snapshot_text(&render_to_buffer(&mut m, 100, 20));
    assert!(text.contains("bad regex `swarm[`"), "{text}");
    key(&mut m, crossterm::event::KeyCode::Backspace);
    key(&mut m, Enter);
    let text = settle(&snapshot_text(&render_to_buffer(&mut m, 100, 20)));
    assert!(
        text.contains("swarm-worker-0") && !text.contains("report-builder"),
        "{text}"
    );
    insta::assert_snapshot!("filtered_pods_read_only", text);
    key(&mut m, Char('?'));
    let text = snapshot_text(&render_to_buffer(&mut m, 100, 40));
    assert!(
        text.contains("Keys (normal mode, keymap default)"),
        "{text}"
    );
    assert!(
        !text.contains("delete"),
        "read-only help lists no delete: {text}"
    );
}
