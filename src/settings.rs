//! The user's configuration directory and `settings.toml`: read by the
//! console and by the command line (per-context read-only, namespace,
//! theme, start view), written by the console (`:save-vars`).

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
    /// The view the console starts on (as `--view`).
    pub start_view: Option<String>,
    /// Template variables remembered per context (`:save-vars`): context ->
    /// name -> value.
    #[serde(default)]
    pub vars: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    /// `[logs]`: the log view.
    #[serde(default)]
    pub logs: LogSettings,
    /// `[contexts.NAME]`: what holds for one kubeconfig context (a
    /// production context read-only, its namespace, its theme).
    #[serde(default)]
    pub contexts: std::collections::BTreeMap<String, ContextSettings>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ContextSettings {
    /// Nothing is written while this context is used.
    #[serde(default)]
    pub read_only: bool,
    /// The namespace when `-n` is not given (before the kubeconfig's).
    pub namespace: Option<String>,
    /// The theme while this context is used (a red header for production).
    pub theme: Option<String>,
    /// The view the console starts on with this context.
    pub start_view: Option<String>,
}

impl Settings {
    /// Is `context` to be used read-only (everywhere, or for it)?
    pub fn read_only_for(&self, context: &str) -> bool {
        self.read_only || self.contexts.get(context).is_some_and(|c| c.read_only)
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// Lines a log view keeps (older ones are dropped; default 10,000).
    pub max_lines: Option<usize>,
}

/// Remember `vars` for `context` in `settings.toml` of `dir`, keeping every
/// other setting and comment of the file as it is.
pub fn save_vars(
    dir: &Path,
    context: &str,
    vars: &std::collections::BTreeMap<String, String>,
) -> Result<PathBuf, String> {
    let path = dir.join("settings.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| {
        format!(
            "{} does not parse ({e}); fix it first, nothing was written",
            path.display()
        )
    })?;
    let all = doc
        .entry("vars")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
    let Some(all) = all.as_table_like_mut() else {
        return Err(format!(
            "{}: `vars` is not a table; fix it first, nothing was written",
            path.display()
        ));
    };
    let mut table = toml_edit::Table::new();
    for (k, v) in vars {
        table.insert(k, toml_edit::value(v.as_str()));
    }
    all.insert(context, toml_edit::Item::Table(table));
    // settings.toml may hold secrets now: the operator's alone.
    crate::files::private_dir(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    crate::files::write_private(&path, doc.to_string().as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
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

// What the connection flags and the settings mean together, for the
// command line and the console alike.

use crate::cli::ConnectionArgs;

/// The read-only flag, settings.toml and a broken settings.toml, together:
/// read-only from any source wins, and a settings file that cannot be read
/// counts as asking for it (it might), so that nothing fails open. Returns
/// whether read-only is on and, when it is, which source asked for it.
pub fn read_only_from(
    flag: bool,
    config_dir: Option<&Path>,
    context: Option<&str>,
) -> (bool, Option<String>) {
    let dir = crate::settings::config_dir(config_dir);
    let (settings, broken) = crate::settings::load_settings(dir.as_deref());
    let file = || {
        dir.as_deref().map_or_else(
            || "settings.toml".to_owned(),
            |d| d.join("settings.toml").display().to_string(),
        )
    };
    if flag {
        (true, Some("--read-only".to_owned()))
    } else if let Some(why) = broken {
        (
            true,
            Some(format!(
                "settings: {why}; read-only until it is fixed, since it might ask for read-only"
            )),
        )
    } else if settings.read_only {
        (
            true,
            Some(format!("settings: read_only = true in {}", file())),
        )
    } else if let Some(ctx) = context.filter(|c| settings.read_only_for(c)) {
        (
            true,
            Some(format!(
                "settings: [contexts.\"{ctx}\"] read_only = true in {}",
                file()
            )),
        )
    } else {
        (false, None)
    }
}

/// The context a command will use: `--context`, the embedded cluster's, or
/// the current context of the kubeconfig kubectl would read.
pub fn effective_context(conn: &ConnectionArgs) -> Option<String> {
    if let Some(c) = &conn.context {
        return Some(c.clone());
    }
    if conn.embedded {
        return Some(crate::embedded::CONTEXT.to_owned());
    }
    let files = crate::cluster::kubeconfig_files(conn.kubeconfig.as_deref());
    crate::cluster::load_kubeconfig(&files)
        .ok()
        .flatten()
        .and_then(|kc| kc.current_context)
}

/// The connection the flags and `settings.toml` ask for, together: `-n`,
/// else the context's namespace in the settings; read-only from any source
/// ([`read_only_from`]). With the read-only note (which source asked).
pub fn connect_options(
    conn: &ConnectionArgs,
) -> Result<(crate::cluster::ConnectOptions, Option<String>), String> {
    let context = effective_context(conn);
    // A context's namespace in the settings comes before the kubeconfig's.
    let settings = crate::settings::load_settings(
        crate::settings::config_dir(conn.config_dir.as_deref()).as_deref(),
    )
    .0;
    let namespace = conn.namespace()?.or_else(|| {
        context
            .as_ref()
            .and_then(|c| settings.contexts.get(c))
            .and_then(|c| c.namespace.clone())
    });
    if let Some(ns) = &namespace
        && !crate::domain::manifest::is_dns_label(ns)
    {
        return Err(format!(
            "-n `{ns}` is not a namespace name (lowercase letters, digits and '-', at most 63)"
        ));
    }
    let (read_only, settings_note) = read_only_from(
        conn.read_only,
        conn.config_dir.as_deref(),
        context.as_deref(),
    );
    Ok((
        crate::cluster::ConnectOptions {
            embedded: conn.embedded,
            kubeconfig: conn.kubeconfig.clone(),
            context: conn.context.clone(),
            namespace,
            read_only,
            scenario: conn.scenario(),
            as_user: conn.as_user.clone(),
            quiet_credentials: false,
        },
        settings_note,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_variables_come_back_for_their_context_and_the_file_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("settings.toml"),
            "# my wall screen\ntheme = \"mono\"\n",
        )
        .unwrap();
        let vars: std::collections::BTreeMap<String, String> =
            [("O2_PARTITION".to_owned(), "p1".to_owned())].into();
        save_vars(dir.path(), "prod", &vars).unwrap();
        let text = std::fs::read_to_string(dir.path().join("settings.toml")).unwrap();
        assert!(
            text.starts_with("# my wall screen\ntheme = \"mono\"\n"),
            "{text}"
        );
        let (settings, error) = load_settings(Some(dir.path()));
        assert_eq!(error, None);
        assert_eq!(settings.theme.as_deref(), Some("mono"));
        assert_eq!(settings.vars["prod"], vars);
        // A broken file is not overwritten.
        std::fs::write(dir.path().join("settings.toml"), "theme = [\n").unwrap();
        assert!(
            save_vars(dir.path(), "prod", &vars)
                .unwrap_err()
                .contains("does not parse")
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("settings.toml")).unwrap(),
            "theme = [\n"
        );
    }
}
