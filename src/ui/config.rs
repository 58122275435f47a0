//! The user's configuration directory and settings file, and the terminal
//! facts (NO_COLOR, UTF-8) that choose defaults.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `settings.toml` in the configuration directory.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub read_only: bool,
    pub theme: Option<String>,
    pub keymap: Option<String>,
    pub ascii: Option<bool>,
}

/// The configuration directory: `--config-dir`, `SWARMDECK_CONFIG_DIR`,
/// `$XDG_CONFIG_HOME/swarmdeck`, `~/.config/swarmdeck`.
pub fn config_dir(flag: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = flag {
        return Some(p.to_owned());
    }
    if let Some(p) = std::env::var_os("SWARMDECK_CONFIG_DIR").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p).join("swarmdeck"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config").join("swarmdeck"))
}

pub use crate::cluster::state_dir;

/// Read `settings.toml`; a broken file is reported (path and key) and ignored.
pub fn load_settings(dir: Option<&Path>) -> (Settings, Option<String>) {
    let Some(dir) = dir else {
        return (Settings::default(), None);
    };
    let path = dir.join("settings.toml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return (Settings::default(), None);
    };
    match toml::from_str(&text) {
        Ok(s) => (s, None),
        Err(e) => {
            let line = e
                .span()
                .map(|sp| text[..sp.start.min(text.len())].lines().count().max(1));
            (
                Settings::default(),
                Some(format!(
                    "{}: {}: {}",
                    path.display(),
                    line.map_or("file".into(), |l| format!("line {l}")),
                    e.message()
                )),
            )
        }
    }
}

/// NO_COLOR (any non-empty value) selects the mono theme.
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Whether the locale promises UTF-8; otherwise borders and marks are ASCII.
pub fn utf8_locale() -> bool {
    for var in ["LC_ALL", "LC_CTYPE", "LANG"] {
        if let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            let v = v.to_ascii_lowercase();
            return v.contains("utf-8") || v.contains("utf8");
        }
    }
    false
}
