//! Themes: TOML files that give styles to roles (`table.header`,
//! `status.error`, `badge.readonly`, ...). Shipped themes are embedded; a user
//! file overrides only what it names; a broken file is reported with its path
//! and key while the defaults stay in force.

use std::collections::BTreeMap;
use std::path::Path;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

/// The shipped themes, by name.
pub const SHIPPED: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("ansi16", include_str!("../../themes/ansi16.toml")),
    ("mono", include_str!("../../themes/mono.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("light", include_str!("../../themes/light.toml")),
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStyle {
    fg: Option<String>,
    bg: Option<String>,
    bold: Option<bool>,
    italic: Option<bool>,
    underlined: Option<bool>,
    reversed: Option<bool>,
    dim: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTheme {
    inherits: Option<String>,
    #[serde(default)]
    palette: BTreeMap<String, String>,
    #[serde(default)]
    styles: BTreeMap<String, RawStyle>,
}

/// A theme problem: which file, which key, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {key}: {message}")]
pub struct ThemeError {
    pub path: String,
    pub key: String,
    pub message: String,
}

/// Resolved styles by role.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    styles: BTreeMap<String, Style>,
}

fn parse_color(raw: &str, palette: &BTreeMap<String, String>, depth: u8) -> Result<Color, String> {
    if let Some(p) = palette.get(raw)
        && depth < 4
    {
        return parse_color(p, palette, depth + 1);
    }
    let named = match raw.to_ascii_lowercase().as_str() {
        "reset" | "default" => Some(Color::Reset),
        "black" => Some(Color::Black),
        "red" => Some(Color::Red),
        "green" => Some(Color::Green),
        "yellow" => Some(Color::Yellow),
        "blue" => Some(Color::Blue),
        "magenta" => Some(Color::Magenta),
        "cyan" => Some(Color::Cyan),
        "gray" | "grey" => Some(Color::Gray),
        "darkgray" | "dark_gray" => Some(Color::DarkGray),
        "lightred" | "light_red" => Some(Color::LightRed),
        "lightgreen" | "light_green" => Some(Color::LightGreen),
        "lightyellow" | "light_yellow" => Some(Color::LightYellow),
        "lightblue" | "light_blue" => Some(Color::LightBlue),
        "lightmagenta" | "light_magenta" => Some(Color::LightMagenta),
        "lightcyan" | "light_cyan" => Some(Color::LightCyan),
        "white" => Some(Color::White),
        _ => None,
    };
    if let Some(c) = named {
        return Ok(c);
    }
    if let Some(hex) = raw.strip_prefix('#')
        && hex.len() == 6
        && let Ok(v) = u32::from_str_radix(hex, 16)
    {
        return Ok(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8));
    }
    if let Ok(i) = raw.parse::<u8>() {
        return Ok(Color::Indexed(i));
    }
    Err(format!(
        "`{raw}` is not a colour: use a name (red, light_blue ...), #rrggbb, 0-255, or a [palette] entry"
    ))
}

fn style_of(raw: &RawStyle, palette: &BTreeMap<String, String>) -> Result<Style, (String, String)> {
    let mut s = Style::default();
    if let Some(fg) = &raw.fg {
        s = s.fg(parse_color(fg, palette, 0).map_err(|m| ("fg".to_owned(), m))?);
    }
    if let Some(bg) = &raw.bg {
        s = s.bg(parse_color(bg, palette, 0).map_err(|m| ("bg".to_owned(), m))?);
    }
    for (flag, m) in [
        (raw.bold, Modifier::BOLD),
        (raw.italic, Modifier::ITALIC),
        (raw.underlined, Modifier::UNDERLINED),
        (raw.reversed, Modifier::REVERSED),
        (raw.dim, Modifier::DIM),
    ] {
        if flag == Some(true) {
            s = s.add_modifier(m);
        }
    }
    Ok(s)
}

fn parse_raw(text: &str, path: &str) -> Result<RawTheme, ThemeError> {
    toml::from_str(text).map_err(|e| {
        let key = e.span().map(|sp| {
            let line = text[..sp.start.min(text.len())].lines().count().max(1);
            format!("line {line}")
        });
        ThemeError {
            path: path.into(),
            key: key.unwrap_or_else(|| "file".into()),
            message: e.message().to_owned(),
        }
    })
}

/// Layer `raw` over `base` (palette and styles are merged key by key).
fn merge(base: &mut RawTheme, raw: RawTheme) {
    base.palette.extend(raw.palette);
    for (k, v) in raw.styles {
        base.styles.insert(k, v);
    }
}

/// Where theme text comes from: shipped files and the user's directory.
pub struct ThemeSource<'a> {
    pub user_dir: Option<&'a Path>,
}

impl ThemeSource<'_> {
    fn text(&self, name: &str) -> Option<(String, String)> {
        if let Some(dir) = self.user_dir {
            let p = dir.join("themes").join(format!("{name}.toml"));
            if let Ok(t) = std::fs::read_to_string(&p) {
                return Some((p.display().to_string(), t));
            }
        }
        SHIPPED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, t)| (format!("themes/{n}.toml (built in)"), (*t).to_owned()))
    }

    fn shipped(name: &str) -> Option<&'static str> {
        SHIPPED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    /// Load theme `name`: shipped base (if any), its `inherits` chain, then a
    /// user file of the same name layered on top. Errors leave the defaults.
    pub fn load(&self, name: &str) -> (Theme, Vec<ThemeError>) {
        let mut errors = Vec::new();
        let fallback = || {
            Theme::from_raw(
                "default",
                &parse_raw(SHIPPED[0].1, "themes/default.toml").unwrap_or_default(),
            )
            .unwrap_or_else(|_| Theme::bare())
        };
        let mut chain: Vec<(String, RawTheme)> = Vec::new();
        let mut next = Some(name.to_owned());
        let mut seen = Vec::new();
        while let Some(n) = next.take() {
            if seen.contains(&n) {
                errors.push(ThemeError {
                    path: format!("themes/{n}.toml"),
                    key: "inherits".into(),
                    message: format!("`{n}` inherits from itself"),
                });
                break;
            }
            seen.push(n.clone());
            let mut layers = Vec::new();
            if let Some(t) = Self::shipped(&n) {
                layers.push((format!("themes/{n}.toml (built in)"), t.to_owned()));
            }
            if let Some(dir) = self.user_dir {
                let p = dir.join("themes").join(format!("{n}.toml"));
                if let Ok(t) = std::fs::read_to_string(&p) {
                    layers.push((p.display().to_string(), t));
                }
            }
            if layers.is_empty() {
                let known: Vec<&str> = SHIPPED.iter().map(|(n, _)| *n).collect();
                errors.push(ThemeError {
                    path: format!("themes/{n}.toml"),
                    key: "theme".into(),
                    message: format!("no theme `{n}` (shipped: {})", known.join(", ")),
                });
                return (fallback(), errors);
            }
            let mut combined = RawTheme::default();
            for (path, text) in layers {
                match parse_raw(&text, &path) {
                    Ok(raw) => {
                        if raw.inherits.is_some() {
                            combined.inherits = raw.inherits.clone();
                        }
                        merge(&mut combined, raw);
                    }
                    Err(e) => errors.push(e),
                }
            }
            next = combined.inherits.clone();
            chain.push((n, combined));
        }
        let mut resolved = RawTheme::default();
        for (_, raw) in chain.into_iter().rev() {
            merge(&mut resolved, raw);
        }
        match Theme::from_raw(name, &resolved) {
            Ok(t) => (t, errors),
            Err((key, message)) => {
                let path = self.text(name).map(|(p, _)| p).unwrap_or_default();
                errors.push(ThemeError { path, key, message });
                (fallback(), errors)
            }
        }
    }
}

impl Theme {
    fn bare() -> Self {
        Self {
            name: "bare".into(),
            styles: BTreeMap::new(),
        }
    }

    fn from_raw(name: &str, raw: &RawTheme) -> Result<Self, (String, String)> {
        let mut styles = BTreeMap::new();
        for (role, rs) in &raw.styles {
            let st = style_of(rs, &raw.palette)
                .map_err(|(field, m)| (format!("styles.\"{role}\".{field}"), m))?;
            styles.insert(role.clone(), st);
        }
        Ok(Self {
            name: name.into(),
            styles,
        })
    }

    /// The style of a role, falling back along its dots to `base`.
    pub fn style(&self, role: &str) -> Style {
        let mut r = role;
        loop {
            if let Some(s) = self.styles.get(r) {
                return *s;
            }
            match r.rsplit_once('.') {
                Some((parent, _)) => r = parent,
                None => return self.styles.get("base").copied().unwrap_or_default(),
            }
        }
    }

    /// Parse one theme file on its own (for tests of user files).
    pub fn parse_file(text: &str, path: &str) -> Result<Theme, ThemeError> {
        let raw = parse_raw(text, path)?;
        Theme::from_raw("file", &raw).map_err(|(key, message)| ThemeError {
            path: path.into(),
            key,
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_theme_loads_cleanly() {
        for (name, _) in SHIPPED {
            let (t, errors) = ThemeSource { user_dir: None }.load(name);
            assert!(errors.is_empty(), "{name}: {errors:?}");
            assert_eq!(t.name, *name);
            assert_ne!(
                t.style("table.header"),
                Style::default(),
                "{name} styles table.header"
            );
        }
    }

    #[test]
    fn roles_fall_back_to_their_parent() {
        let (t, _) = ThemeSource { user_dir: None }.load("default");
        assert_eq!(t.style("status.error.deep"), t.style("status.error"));
        assert_eq!(t.style("nothing"), t.style("base"));
        let (hc, _) = ThemeSource { user_dir: None }.load("high-contrast");
        // Inherited from default, recoloured by high-contrast's palette.
        assert_eq!(hc.style("status.ok").fg, Some(Color::Rgb(0, 255, 0)));
    }
}
