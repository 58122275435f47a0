//! The manifest editor (ARCHITECTURE 7): tui-textarea holding one manifest unit,
//! validated on every edit (the error's line and column shown, the line
//! marked), with a `${VAR}` preview of the expanded text and a diff against
//! the live objects. The buffer is never lost: errors leave it as it was.

use tui_textarea::TextArea;

use crate::domain::manifest::{self, ManifestError};

/// What the side pane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    None,
    Expanded,
    Diff,
}

/// A validation problem and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    /// 1-based line and column in the buffer.
    pub line: Option<usize>,
    pub column: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct EditorState {
    pub title: String,
    pub area: TextArea<'static>,
    /// The text as loaded or last applied: leaving with other text asks first.
    pub original: String,
    /// Namespace for documents that name none.
    pub namespace: String,
    pub problem: Option<Problem>,
    pub pane: Pane,
    pub diff: Option<Result<String, String>>,
    /// The last dry run, apply or delete, as the operator reads it.
    pub result: Option<(String, bool)>,
    pub busy: bool,
    /// Values given with `:set`: the only values a `${VAR}` takes in the
    /// console (the environment is never read here).
    pub vars: Vars,
    /// The object as read from the cluster, when the buffer is one: it is
    /// sent back literally (no `${VAR}` filled), at the resourceVersion it
    /// was read at, with a Secret's masked values taken from here.
    pub live: Option<Box<serde_json::Value>>,
}

/// Template variables set in the console (`:set NAME=VALUE`).
pub type Vars = std::collections::BTreeMap<String, String>;

/// Where a variable's value comes from: `:set`, and nowhere else. The
/// console never reads its environment into a manifest (text from the
/// cluster could ask for any variable); `render` and `apply -f` on the
/// command line do, where the operator asked for it.
pub fn source(vars: &Vars, name: &str) -> Option<(String, &'static str)> {
    vars.get(name).map(|v| (v.clone(), ":set"))
}

impl EditorState {
    pub fn new(title: String, text: &str, namespace: String, vars: Vars) -> Self {
        let mut area = TextArea::new(text.lines().map(str::to_owned).collect());
        area.set_line_number_style(ratatui::style::Style::default());
        let mut s = Self {
            title,
            area,
            original: text.to_owned(),
            namespace,
            problem: None,
            pane: Pane::None,
            diff: None,
            result: None,
            busy: false,
            vars,
            live: None,
        };
        s.validate();
        s
    }

    /// An object read from the cluster, to be edited as it is: a Secret's
    /// values shown masked (left masked, they keep their values).
    pub fn of_live(title: String, object: serde_json::Value, namespace: String) -> Self {
        let mut shown = object.clone();
        crate::domain::secret::mask(&mut shown);
        let mut s = Self::new(title, &editable(shown), namespace, Vars::new());
        s.live = Some(Box::new(object));
        s.validate();
        s
    }

    pub fn text(&self) -> String {
        let mut t = self.area.lines().join("\n");
        t.push('\n');
        t
    }

    pub fn modified(&self) -> bool {
        self.text().trim_end() != self.original.trim_end()
    }

    /// Validate the buffer and mark the problem's line.
    pub fn validate(&mut self) {
        self.problem = documents(&self.text(), &self.vars, self.live.as_deref(), false).err();
        let pattern = match &self.problem {
            Some(Problem { line: Some(l), .. }) => self
                .area
                .lines()
                .get(l.saturating_sub(1))
                .filter(|t| !t.trim().is_empty())
                .map(|t| format!("^{}$", regex::escape(t))),
            _ => None,
        };
        let _ = self.area.set_search_pattern(pattern.unwrap_or_default());
    }

    /// The expanded text, or why it cannot be expanded.
    pub fn expanded(&self) -> Result<String, String> {
        if self.live.is_some() {
            return Err("an object read from the cluster is sent back as written: no ${VAR} in it is filled".into());
        }
        manifest::expand(&self.text(), |n| lookup(&self.vars, n)).map_err(|e| console_advice(&e))
    }

    /// Every `${VAR}` of the buffer with its value and where it comes from
    /// (None: not set).
    pub fn variables(&self) -> Vec<(String, Option<(String, &'static str)>)> {
        let names = std::cell::RefCell::new(Vec::<String>::new());
        let _ = manifest::expand(&self.text(), |n| {
            let mut names = names.borrow_mut();
            if !names.iter().any(|x| x == n) {
                names.push(n.to_owned());
            }
            Some(String::new())
        });
        let mut names = names.into_inner();
        names.sort();
        names
            .into_iter()
            .map(|n| {
                let value = source(&self.vars, &n);
                (n, value)
            })
            .collect()
    }
}

/// A template variable's value: `:set` first, then the environment.
pub fn lookup(vars: &Vars, name: &str) -> Option<String> {
    source(vars, name).map(|(v, _)| v)
}

/// An error as the console's user can act on it: unset variables are set
/// with `:set`, not with a command-line flag.
fn console_advice(e: &ManifestError) -> String {
    match e {
        ManifestError::Variables(v) => format!(
            "{}; set {} with `:set NAME=VALUE` in the palette, or write `$${{NAME}}` for a literal",
            v.listing(),
            v.them()
        ),
        other => other.to_string(),
    }
}

/// Validate a manifest as `apply` would, with the problem's place. Unset
/// `${VAR}`s are reported only once the rest is valid, so that a template
/// is still checked as it is edited.
pub fn validate(text: &str, vars: &Vars) -> Result<Vec<manifest::Document>, Problem> {
    let look = |name: &str| lookup(vars, name);
    if let Err(ManifestError::Variables(_)) = manifest::expand(text, look) {
        manifest::load(text, |name| Some(look(name).unwrap_or_else(|| "x".into())))
            .map_err(problem)?;
    }
    manifest::load(text, look).map_err(problem)
}

/// How the editor's text is turned into what is sent (see [`documents`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sending {
    pub vars: Vars,
    pub live: Option<Box<serde_json::Value>>,
    /// Send without the resourceVersion precondition: the operator chose
    /// to overwrite a change made since the object was read.
    pub overwrite: bool,
}

impl Sending {
    pub fn documents(&self, text: &str) -> Result<Vec<manifest::Document>, Problem> {
        documents(text, &self.vars, self.live.as_deref(), self.overwrite)
    }
}

impl EditorState {
    pub fn sending(&self) -> Sending {
        Sending {
            vars: self.vars.clone(),
            live: self.live.clone(),
            overwrite: false,
        }
    }
}

/// The documents the editor sends: a template's with its `${VAR}`s filled
/// from `:set`; an object read from the cluster's literally, its masked
/// Secret values restored from `live`, and — unless the operator chose to
/// overwrite — its metadata naming the resourceVersion it was read at, so
/// that the server refuses the write if someone changed it meanwhile.
pub fn documents(
    text: &str,
    vars: &Vars,
    live: Option<&serde_json::Value>,
    overwrite: bool,
) -> Result<Vec<manifest::Document>, Problem> {
    let Some(live) = live else {
        return validate(text, vars);
    };
    // Parsed, made whole (masked values restored), then validated.
    let mut docs = manifest::parse_documents(text).map_err(problem)?;
    if docs.is_empty() {
        return Err(problem(ManifestError::Empty));
    }
    for d in &mut docs {
        let same = d.kind() == live["kind"].as_str().unwrap_or_default()
            && d.name() == live["metadata"]["name"].as_str().unwrap_or_default();
        if !same {
            continue;
        }
        let missing = crate::domain::secret::unmask(&mut d.value, live);
        if !missing.is_empty() {
            return Err(Problem {
                message: format!(
                    "{} {} is shown masked but the Secret has no such value: give it a value (base64 under data, text under stringData)",
                    if missing.len() == 1 {
                        "value"
                    } else {
                        "values"
                    },
                    missing.join(", ")
                ),
                line: None,
                column: None,
            });
        }
        if !overwrite
            && let (Some(meta), Some(rv)) = (
                d.value.get_mut("metadata").and_then(|m| m.as_object_mut()),
                live["metadata"]["resourceVersion"].as_str(),
            )
        {
            meta.insert("resourceVersion".into(), rv.into());
        }
    }
    for d in &docs {
        manifest::validate(d).map_err(problem)?;
    }
    Ok(docs)
}

fn problem(e: ManifestError) -> Problem {
    {
        let (line, column) = match &e {
            ManifestError::Syntax { at, .. } | ManifestError::Invalid { at, .. } => {
                (Some(at.line), Some(at.column))
            }
            ManifestError::UnclosedPlaceholder { line, column }
            | ManifestError::BadPlaceholder { line, column, .. } => (Some(*line), Some(*column)),
            ManifestError::Variables(v) => (v.0.values().flatten().min().copied(), None),
            ManifestError::Empty => (None, None),
        };
        Problem {
            message: console_advice(&e),
            line,
            column,
        }
    }
}

/// The YAML an operator edits: no status, no server bookkeeping.
pub fn editable(mut v: serde_json::Value) -> String {
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
        if let Some(m) = o.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            for k in [
                "managedFields",
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "generation",
                "selfLink",
            ] {
                m.remove(k);
            }
            if let Some(a) = m.get_mut("annotations").and_then(|a| a.as_object_mut()) {
                a.remove("kubectl.kubernetes.io/last-applied-configuration");
                if a.is_empty() {
                    m.remove("annotations");
                }
            }
        }
    }
    serde_yaml::to_string(&v).unwrap_or_default()
}

/// Templates for `:new task|pool|manifest`.
pub fn template(what: &str) -> Option<(String, String)> {
    Some(match what {
        "task" => (
            "new task".into(),
            include_str!("../../../../assets/examples/task-direct.yaml").to_owned(),
        ),
        "fairmq" => (
            "new fairmq task".into(),
            include_str!("../../../../assets/examples/task-fairmq.yaml").to_owned(),
        ),
        "manifest" => (
            "new manifest".into(),
            include_str!("../../../../assets/examples/multi-resource.yaml").to_owned(),
        ),
        "swarm" => (
            "new swarm".into(),
            include_str!("../../../../assets/examples/swarm.yaml").to_owned(),
        ),
        "pool" => {
            let spec = manifest::PoolSpec {
                name: "new-pool".into(),
                namespace: Some("default".into()),
                workers: 2,
                image: "registry.example.org/worker:1.0".into(),
                cpu: Some("500m".into()),
                memory: Some("1Gi".into()),
                targets: Vec::new(),
                volumes: Vec::new(),
            };
            let v = manifest::generate_pool(&spec).ok()?;
            let docs: Vec<serde_json::Value> = match v {
                serde_json::Value::Array(a) => a,
                serde_json::Value::Object(ref o)
                    if o.get("kind").and_then(|k| k.as_str()) == Some("List") =>
                {
                    o.get("items")
                        .and_then(|i| i.as_array())
                        .cloned()
                        .unwrap_or_default()
                }
                other => vec![other],
            };
            let text = docs
                .iter()
                .map(|d| serde_yaml::to_string(d).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("---\n");
            ("new pool".into(), text)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syntax_error_has_its_line_and_column() {
        let p = validate(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n",
            &Vars::new(),
        )
        .unwrap_err();
        assert!(p.line.is_some(), "{p:?}");
        assert!(p.message.contains("line"), "{}", p.message);
        let mut e = EditorState::new(
            "t".into(),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
            "default".into(),
            Vars::new(),
        );
        assert!(e.problem.is_none());
        assert!(!e.modified());
        e.area.insert_str("bad: [");
        e.validate();
        assert!(e.modified());
        assert!(e.problem.is_some());
    }

    #[test]
    fn set_variables_win_over_the_environment_and_the_advice_names_set() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${SD_TEST_NAME}\n  namespace: ${SD_TEST_NS}\n";
        let mut e = EditorState::new("t".into(), text, "default".into(), Vars::new());
        let p = e.problem.clone().expect("two unset variables");
        assert!(
            p.message.starts_with("2 variables are not set: SD_TEST_NAME (line 4), SD_TEST_NS (line 5); set them with `:set NAME=VALUE`"),
            "{}",
            p.message
        );
        assert_eq!(p.line, Some(4));
        e.vars.insert("SD_TEST_NAME".into(), "cfg".into());
        e.vars.insert("SD_TEST_NS".into(), "swarm".into());
        e.validate();
        assert!(e.problem.is_none(), "{:?}", e.problem);
        assert!(e.expanded().unwrap().contains("name: cfg"));
        assert_eq!(
            e.variables(),
            vec![
                ("SD_TEST_NAME".to_owned(), Some(("cfg".to_owned(), ":set"))),
                ("SD_TEST_NS".to_owned(), Some(("swarm".to_owned(), ":set"))),
            ]
        );
    }

    #[test]
    fn every_template_is_valid_once_its_variables_are_set() {
        for what in ["task", "fairmq", "manifest", "swarm", "pool"] {
            let (_, text) = template(what).unwrap();
            let expanded = manifest::expand(&text, |_| Some("x1".into())).unwrap();
            assert!(
                manifest::parse_documents(&expanded).is_ok(),
                "{what}: {expanded}"
            );
        }
    }
}
