//! Themes and keymaps as files: every shipped one loads; every file in the
//! folder of invalid fixtures fails with the message its first line expects,
//! naming the path and the key; a user file overrides only what it names.

use std::path::Path;

use swarmdeck::ui::keymap::{Action, Key, Keymap, Mode, Resolved};
use swarmdeck::ui::theme::{SHIPPED, Theme, ThemeSource};

fn fixtures(kind: &str) -> Vec<(String, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/invalid")
        .join(kind);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} lacks `# expect:`", path.display()))
            .to_owned();
        out.push((path.display().to_string(), text, expect));
    }
    assert!(out.len() >= 4, "fixtures for {kind}");
    out
}

#[test]
fn every_shipped_theme_and_keymap_loads() {
    for (name, _) in SHIPPED {
        let (_, errors) = ThemeSource { user_dir: None }.load(name);
        assert!(errors.is_empty(), "theme {name}: {errors:?}");
    }
    for (name, _) in swarmdeck::ui::keymap::SHIPPED {
        let (_, errors) = Keymap::load(name, None, false);
        assert!(errors.is_empty(), "keymap {name}: {errors:?}");
    }
}

#[test]
fn invalid_themes_fail_with_path_and_key() {
    for (path, text, expect) in fixtures("themes") {
        let err = Theme::parse_file(&text, &path)
            .expect_err(&path)
            .to_string();
        assert!(err.starts_with(&path), "{err}");
        assert!(err.contains(&expect), "{path}: `{err}` lacks `{expect}`");
    }
}

#[test]
fn invalid_keymaps_fail_with_path_and_key() {
    let (base, _) = Keymap::load("default", None, false);
    for (path, text, expect) in fixtures("keymaps") {
        let err = Keymap::from_text(&text, &path, Some(&base))
            .expect_err(&path)
            .to_string();
        assert!(err.starts_with(&path), "{err}");
        assert!(err.contains(&expect), "{path}: `{err}` lacks `{expect}`");
    }
}

#[test]
fn user_files_override_only_what_they_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("themes")).unwrap();
    std::fs::create_dir_all(dir.path().join("keymaps")).unwrap();
    std::fs::write(
        dir.path().join("themes/default.toml"),
        "[styles]\n\"status.error\" = { fg = \"#010203\" }\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("keymaps/default.toml"), "[normal]\nkeymap = [\n  { on = [\"x\"], action = \"down\", desc = \"also down\" },\n  { on = [\"j\"], action = \"up\", desc = \"inverted\", override = true },\n]\n").unwrap();
    let (shipped, _) = ThemeSource { user_dir: None }.load("default");
    let (user, errors) = ThemeSource {
        user_dir: Some(dir.path()),
    }
    .load("default");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        user.style("status.error").fg,
        Some(ratatui::style::Color::Rgb(1, 2, 3))
    );
    assert_eq!(user.style("table.header"), shipped.style("table.header"));
    let (km, errors) = Keymap::load("default", Some(dir.path()), false);
    assert!(errors.is_empty(), "{errors:?}");
    let key = |k: &str| vec![Key::parse(k).unwrap()];
    assert_eq!(
        km.resolve(Mode::Normal, &key("x")),
        Resolved::Action(Action::Down)
    );
    assert_eq!(
        km.resolve(Mode::Normal, &key("j")),
        Resolved::Action(Action::Up)
    );
    assert_eq!(
        km.resolve(Mode::Normal, &key("k")),
        Resolved::Action(Action::Up)
    );
}

#[test]
fn a_broken_user_file_is_reported_and_the_defaults_stay() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("themes")).unwrap();
    std::fs::create_dir_all(dir.path().join("keymaps")).unwrap();
    std::fs::write(
        dir.path().join("themes/default.toml"),
        "[styles]\nbase = { fg = \"nocolour\" }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("keymaps/default.toml"),
        "[normal]\nkeymap = [ { on = [\"q\"], action = \"down\" } ]\n",
    )
    .unwrap();
    let (theme, errors) = ThemeSource {
        user_dir: Some(dir.path()),
    }
    .load("default");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].to_string().contains("styles.\"base\".fg"),
        "{}",
        errors[0]
    );
    let (shipped, _) = ThemeSource { user_dir: None }.load("default");
    assert_eq!(theme.style("table.header"), shipped.style("table.header"));
    let (km, errors) = Keymap::load("default", Some(dir.path()), false);
    assert!(
        errors[0]
            .to_string()
            .contains("keymaps/default.toml: normal.keymap[0].on: `q` is already bound to `quit`"),
        "{}",
        errors[0]
    );
    assert_eq!(
        km.resolve(Mode::Normal, &[Key::parse("q").unwrap()]),
        Resolved::Action(Action::Quit)
    );
}
