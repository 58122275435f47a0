//! The console's configuration: the settings file (shared with the command
//! line, [`crate::settings`]) and the terminal facts (NO_COLOR, UTF-8) that
//! choose its defaults.

pub use crate::settings::*;

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
