//! The manifest editor (DESIGN 7): tui-textarea holding one manifest unit,
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
    /// Values given with `:set`, which win over the environment.
    pub vars: Vars,
}

/// Template variables set in the console (`:set NAME=VALUE`).
pub type Vars = std::collections::BTreeMap<String, String>;

/// Where a variable's value comes from.
pub fn source(vars: &Vars, name: &str) -> Option<(String, &'static str)> {
    match vars.get(name) {
        Some(v) => Some((v.clone(), ":set")),
        None => std::env::var(name).ok().map(|v| (v, "environment")),
    }
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
        };
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
        self.problem = validate(&self.text(), &self.vars).err();
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
            "{}; set {} with `:set NAME=VALUE` in the palette (or in the environment before starting the console), or write `$${{NAME}}` for a literal",
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
            include_str!("../../assets/examples/task-direct.yaml").to_owned(),
        ),
        "fairmq" => (
            "new fairmq task".into(),
            include_str!("../../assets/examples/task-fairmq.yaml").to_owned(),
        ),
        "manifest" => (
            "new manifest".into(),
            include_str!("../../assets/examples/multi-resource.yaml").to_owned(),
        ),
        "swarm" => (
            "new swarm".into(),
            include_str!("../../assets/examples/swarm.yaml").to_owned(),
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
