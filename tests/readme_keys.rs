//! README's key tables are generated from the shipped default keymap: this
//! test fails when they drift. `SWARMDECK_BLESS=1 cargo test --test
//! readme_keys` writes them anew.

use swarmdeck::ui::keymap::{Keymap, Mode};

const BEGIN: &str =
    "<!-- keys:begin (generated from keymaps/default.toml by tests/readme_keys.rs) -->";
const END: &str = "<!-- keys:end -->";

fn tables() -> String {
    let (keymap, errors) = Keymap::load("default", None, false);
    assert!(errors.is_empty(), "{errors:?}");
    let mut out = String::new();
    for mode in [
        Mode::Normal,
        Mode::Yaml,
        Mode::Grid,
        Mode::Task,
        Mode::Editor,
        Mode::Logs,
    ] {
        out.push_str(&format!(
            "\n**{}**\n\n| keys | what it does |\n|---|---|\n",
            mode.name()
        ));
        let mut seen: Vec<(String, String)> = Vec::new();
        for b in keymap.bindings(mode) {
            let keys = b
                .keys
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ");
            match seen.iter_mut().find(|(_, d)| *d == b.desc) {
                Some((k, _)) => k.push_str(&format!(", `{keys}`")),
                None => seen.push((format!("`{keys}`"), b.desc.clone())),
            }
        }
        for (keys, desc) in seen {
            out.push_str(&format!("| {} | {desc} |\n", keys.replace('|', "\\|")));
        }
    }
    out
}

#[test]
fn readme_key_tables_match_the_shipped_keymap() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let (Some(a), Some(b)) = (readme.find(BEGIN), readme.find(END)) else {
        panic!("README.md has no generated key section ({BEGIN} ... {END})");
    };
    let current = &readme[a + BEGIN.len()..b];
    let wanted = format!("{}\n", tables());
    if current == wanted {
        return;
    }
    if std::env::var_os("SWARMDECK_BLESS").is_some() {
        let updated = format!("{}{BEGIN}{wanted}{}", &readme[..a], &readme[b..]);
        std::fs::write(path, updated).unwrap();
        return;
    }
    panic!(
        "README.md's key tables differ from keymaps/default.toml; run `SWARMDECK_BLESS=1 cargo test --test readme_keys` and commit README.md"
    );
}
