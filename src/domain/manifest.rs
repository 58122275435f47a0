//! Manifests (ARCHITECTURE 4.4): multi-document YAML with `${VAR}` templates as the
//! ECS KubectlTask fills them, validation before anything is sent, the order in
//! which a unit is applied and deleted, and the Teraslice-style pool generator.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::OnceLock;

use serde_json::{Value, json};

/// Where in a file something is: 1-based document, line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub document: usize,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "document {}, line {}, column {}",
            self.document, self.line, self.column
        )
    }
}

/// A problem with a manifest, always with its place and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("{0}")]
    Variables(MissingVariables),
    #[error(
        "line {line}, column {column}: `${{` is not closed; write `${{NAME}}`, or `$${{` for a literal `${{`"
    )]
    UnclosedPlaceholder { line: usize, column: usize },
    #[error(
        "line {line}, column {column}: `${{{name}}}` is not a variable name; names are letters, digits and `_`, not starting with a digit"
    )]
    BadPlaceholder {
        line: usize,
        column: usize,
        name: String,
    },
    #[error("{at}: {message}")]
    Syntax { at: Location, message: String },
    #[error("{at} ({object}): {message}")]
    Invalid {
        at: Location,
        object: String,
        message: String,
    },
    #[error(
        "the file holds no Kubernetes objects; add at least one document with apiVersion, kind and metadata.name"
    )]
    Empty,
}

/// Every `${VAR}` that had no value, in one error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingVariables(pub BTreeMap<String, Vec<usize>>);

impl MissingVariables {
    /// "2 variables are not set: A (line 1, 3), B (line 2)", without advice:
    /// the command line and the console each say how to set them.
    pub fn listing(&self) -> String {
        let list: Vec<String> = self
            .0
            .iter()
            .map(|(name, lines)| {
                let lines: Vec<String> = lines.iter().map(usize::to_string).collect();
                format!("{name} (line {})", lines.join(", "))
            })
            .collect();
        format!(
            "{} variable{} not set: {}",
            list.len(),
            if list.len() == 1 { " is" } else { "s are" },
            list.join(", ")
        )
    }

    /// "it" or "them", for the advice that follows the listing.
    pub fn them(&self) -> &'static str {
        if self.0.len() == 1 { "it" } else { "them" }
    }
}

impl fmt::Display for MissingVariables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; set {} in the environment (or pass --set NAME=VALUE), or write `$${{NAME}}` for a literal",
            self.listing(),
            self.them()
        )
    }
}

/// Expand `${VAR}` from `lookup`; `$${VAR}` stays as the literal `${VAR}`.
/// Nothing is ever expanded to an empty string silently: every variable
/// `lookup` does not know is listed in one error.
pub fn expand(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, ManifestError> {
    let mut out = String::with_capacity(text.len());
    let mut missing: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (ln, line) in text.split_inclusive('\n').enumerate() {
        let mut rest = line;
        let mut col = 1;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos..];
            if let Some(tail) = after.strip_prefix("$${") {
                out.push_str("${");
                rest = tail;
                col += pos + 3;
                continue;
            }
            if !after.starts_with("${") {
                out.push('$');
                rest = &after[1..];
                col += pos + 1;
                continue;
            }
            let Some(end) = after.find('}') else {
                return Err(ManifestError::UnclosedPlaceholder {
                    line: ln + 1,
                    column: col + pos,
                });
            };
            let name = &after[2..end];
            if !is_var_name(name) {
                return Err(ManifestError::BadPlaceholder {
                    line: ln + 1,
                    column: col + pos,
                    name: name.to_owned(),
                });
            }
            match lookup(name) {
                Some(v) => out.push_str(&v),
                None => {
                    let lines = missing.entry(name.to_owned()).or_default();
                    if !lines.contains(&(ln + 1)) {
                        lines.push(ln + 1);
                    }
                }
            }
            rest = &after[end + 1..];
            col += pos + end + 1;
        }
        out.push_str(rest);
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(ManifestError::Variables(MissingVariables(missing)))
    }
}

fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One object of a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// 1-based position in the file.
    pub index: usize,
    /// 1-based line where the document's text starts.
    pub line: usize,
    pub text: String,
    pub value: Value,
}

impl Document {
    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }
    pub fn api_version(&self) -> &str {
        self.value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    pub fn name(&self) -> &str {
        let meta = self.value.get("metadata");
        meta.and_then(|m| m.get("name"))
            .or_else(|| meta.and_then(|m| m.get("generateName")))
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    pub fn namespace(&self) -> Option<&str> {
        self.value.get("metadata")?.get("namespace")?.as_str()
    }
    /// `Kind/name` as kubectl prints it.
    pub fn object(&self) -> String {
        let name = if self.name().is_empty() {
            "<no name>"
        } else {
            self.name()
        };
        if self.kind().is_empty() {
            format!("<no kind>/{name}")
        } else {
            format!("{}/{name}", self.kind())
        }
    }
    /// The document as YAML.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(&self.value).unwrap_or_default()
    }
}

/// Turn a serde_yaml error into "line L, column C: message".
pub fn describe_yaml_error(e: &serde_yaml::Error) -> String {
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
    match e.location() {
        Some(l) => format!("line {}, column {}: {msg}", l.line(), l.column()),
        None => msg,
    }
}

/// Split a multi-document YAML text and parse every document. Empty documents
/// (only comments or blank lines) are skipped but still counted.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, ManifestError> {
    let mut docs = Vec::new();
    let mut index = 0;
    let mut start_line = 1;
    let mut current = String::new();
    let mut flush =
        |current: &mut String, start: usize, index: &mut usize| -> Result<(), ManifestError> {
            *index += 1;
            let body = std::mem::take(current);
            if body
                .lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
            {
                return Ok(());
            }
            docs.push(parse_one(&body, *index, start)?);
            Ok(())
        };
    let mut saw_marker = false;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_end();
        let is_marker =
            trimmed == "---" || trimmed.starts_with("--- ") || trimmed.starts_with("---#");
        if is_marker {
            let preamble_only = current
                .lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
            if saw_marker || !preamble_only {
                flush(&mut current, start_line, &mut index)?;
            } else {
                current.clear();
            }
            saw_marker = true;
            start_line = i + 2;
            let rest = trimmed[3..].trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                return Err(ManifestError::Syntax {
                    at: Location {
                        document: index + 1,
                        line: i + 1,
                        column: 5,
                    },
                    message: "put the document on the line after `---`".into(),
                });
            }
        } else if trimmed == "..." {
            continue;
        } else {
            current.push_str(line);
        }
    }
    flush(&mut current, start_line, &mut index)?;
    Ok(docs)
}

fn parse_one(body: &str, index: usize, start: usize) -> Result<Document, ManifestError> {
    for (i, line) in body.lines().enumerate() {
        let indent: String = line
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        if let Some(col) = indent.find('\t') {
            return Err(ManifestError::Syntax {
                at: Location { document: index, line: start + i, column: col + 1 },
                message: "a tab is used for indentation; YAML allows only spaces: replace the tab with spaces".into(),
            });
        }
    }
    let yaml: serde_yaml::Value = serde_yaml::from_str(body).map_err(|e| {
        let (line, column) = e
            .location()
            .map_or((start, 1), |l| (start + l.line() - 1, l.column()));
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        ManifestError::Syntax {
            at: Location {
                document: index,
                line,
                column,
            },
            message: msg,
        }
    })?;
    let value = serde_json::to_value(&yaml).map_err(|e| ManifestError::Syntax {
        at: Location {
            document: index,
            line: start,
            column: 1,
        },
        message: format!("cannot be represented as JSON: {e}"),
    })?;
    Ok(Document {
        index,
        line: start,
        text: body.to_owned(),
        value,
    })
}

/// Expand, parse and validate a manifest, returning its documents in file order.
pub fn load(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Document>, ManifestError> {
    load_literal(&expand(text, lookup)?)
}

/// Parse and validate a manifest as written: a `${VAR}` in it is text like
/// any other (an object read from the cluster is sent back literally).
pub fn load_literal(text: &str) -> Result<Vec<Document>, ManifestError> {
    let docs = parse_documents(text)?;
    if docs.is_empty() {
        return Err(ManifestError::Empty);
    }
    for d in &docs {
        validate(d)?;
    }
    Ok(docs)
}

/// Check one document before it is sent: apiVersion, kind, metadata.name, and
/// for known kinds the fields against the kind's schema.
pub fn validate(doc: &Document) -> Result<(), ManifestError> {
    let invalid = |path: &[String], message: String| {
        let (line, column) = locate(&doc.text, path);
        ManifestError::Invalid {
            at: Location {
                document: doc.index,
                line: doc.line + line - 1,
                column,
            },
            object: doc.object(),
            message,
        }
    };
    let Some(obj) = doc.value.as_object() else {
        return Err(invalid(
            &[],
            "a document must be a mapping with apiVersion, kind and metadata".into(),
        ));
    };
    for field in ["apiVersion", "kind"] {
        match obj.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(_) => {
                return Err(invalid(
                    &[field.into()],
                    format!("`{field}` must be a non-empty string"),
                ));
            }
            None => {
                let example = if field == "kind" {
                    "kind: ConfigMap"
                } else {
                    "apiVersion: v1"
                };
                return Err(invalid(
                    &[],
                    format!("`{field}` is missing; add it (e.g. `{example}`)"),
                ));
            }
        }
    }
    let meta = obj.get("metadata").and_then(Value::as_object);
    let name = meta.and_then(|m| m.get("name").or_else(|| m.get("generateName")));
    match name {
        Some(Value::String(n)) if !n.is_empty() => {
            if meta.and_then(|m| m.get("name")).is_some() && !is_dns_subdomain(n) {
                return Err(invalid(
                    &["metadata".into(), "name".into()],
                    format!(
                        "`{n}` is not a valid name: use lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit, at most 253 characters"
                    ),
                ));
            }
        }
        _ => {
            return Err(invalid(
                &["metadata".into()],
                "`metadata.name` is missing; every object needs a name".into(),
            ));
        }
    }
    let Some(kind) = known_kind(doc.api_version(), doc.kind()) else {
        return Ok(());
    };
    let mut problems = Vec::new();
    check_fields(&doc.value, schema_for(kind), &mut Vec::new(), &mut problems);
    if let Some((path, msg)) = problems.into_iter().next() {
        return Err(invalid(&path, msg));
    }
    typed_check(kind, &doc.value).map_err(|(path, msg)| invalid(&path, msg))
}

pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

/// Kinds whose schema swarmdeck knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Known {
    Namespace,
    Pod,
    ConfigMap,
    Secret,
    PersistentVolumeClaim,
    Service,
    ServiceAccount,
    Deployment,
    StatefulSet,
    Role,
    RoleBinding,
    Lease,
    CustomResourceDefinition,
    Task,
}

fn known_kind(api_version: &str, kind: &str) -> Option<Known> {
    Some(match (api_version, kind) {
        ("v1", "Namespace") => Known::Namespace,
        ("v1", "Pod") => Known::Pod,
        ("v1", "ConfigMap") => Known::ConfigMap,
        ("v1", "Secret") => Known::Secret,
        ("v1", "PersistentVolumeClaim") => Known::PersistentVolumeClaim,
        ("v1", "Service") => Known::Service,
        ("v1", "ServiceAccount") => Known::ServiceAccount,
        ("apps/v1", "Deployment") => Known::Deployment,
        ("apps/v1", "StatefulSet") => Known::StatefulSet,
        ("rbac.authorization.k8s.io/v1", "Role") => Known::Role,
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => Known::RoleBinding,
        ("coordination.k8s.io/v1", "Lease") => Known::Lease,
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => Known::CustomResourceDefinition,
        ("aliecs.alice.cern/v1alpha1", "Task") => Known::Task,
        _ => return None,
    })
}

fn schema_for(kind: Known) -> &'static Value {
    use k8s_openapi::api::{apps, coordination, core, rbac};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as ext;
    static CACHE: OnceLock<BTreeMap<Known, Value>> = OnceLock::new();
    fn schema_of<T: schemars::JsonSchema>() -> Value {
        schemars::schema_for!(T).to_value()
    }
    let cache = CACHE.get_or_init(|| {
        BTreeMap::from([
            (Known::Namespace, schema_of::<core::v1::Namespace>()),
            (Known::Pod, schema_of::<core::v1::Pod>()),
            (Known::ConfigMap, schema_of::<core::v1::ConfigMap>()),
            (Known::Secret, schema_of::<core::v1::Secret>()),
            (
                Known::PersistentVolumeClaim,
                schema_of::<core::v1::PersistentVolumeClaim>(),
            ),
            (Known::Service, schema_of::<core::v1::Service>()),
            (
                Known::ServiceAccount,
                schema_of::<core::v1::ServiceAccount>(),
            ),
            (Known::Deployment, schema_of::<apps::v1::Deployment>()),
            (Known::StatefulSet, schema_of::<apps::v1::StatefulSet>()),
            (Known::Role, schema_of::<rbac::v1::Role>()),
            (Known::RoleBinding, schema_of::<rbac::v1::RoleBinding>()),
            (Known::Lease, schema_of::<coordination::v1::Lease>()),
            (
                Known::CustomResourceDefinition,
                schema_of::<ext::CustomResourceDefinition>(),
            ),
            (Known::Task, task_schema()),
        ])
    });
    &cache[&kind]
}

fn task_schema() -> Value {
    let spec = schemars::schema_for!(super::task::TaskSpec).to_value();
    let status = schemars::schema_for!(super::task::TaskStatus).to_value();
    let meta = schemars::schema_for!(k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta)
        .to_value();
    json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": meta,
            "spec": spec,
            "status": status,
        }
    })
}

/// Walk `value` against a JSON schema and report fields the schema does not
/// know, with their path. References resolve within the root schema.
fn check_fields(
    value: &Value,
    root: &Value,
    path: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, String)>,
) {
    fn resolve<'a>(mut schema: &'a Value, root: &'a Value, defs_root: &'a Value) -> &'a Value {
        for _ in 0..32 {
            let Some(r) = schema.get("$ref").and_then(Value::as_str) else {
                break;
            };
            let name = r.rsplit('/').next().unwrap_or("");
            match defs_root
                .get("$defs")
                .and_then(|d| d.get(name))
                .or_else(|| root.get("$defs").and_then(|d| d.get(name)))
            {
                Some(s) => schema = s,
                None => break,
            }
        }
        schema
    }
    fn walk(
        value: &Value,
        schema: &Value,
        root: &Value,
        path: &mut Vec<String>,
        out: &mut Vec<(Vec<String>, String)>,
    ) {
        // Nested roots (the Task schema embeds whole generated schemas) carry their own $defs.
        let defs_root = if schema.get("$defs").is_some() {
            schema
        } else {
            root
        };
        let schema = resolve(schema, root, defs_root);
        let defs_root = if schema.get("$defs").is_some() {
            schema
        } else {
            defs_root
        };
        for key in ["anyOf", "oneOf", "allOf"] {
            if let Some(alts) = schema.get(key).and_then(Value::as_array) {
                if let Some(alt) = alts
                    .iter()
                    .find(|a| a.get("type").and_then(Value::as_str) != Some("null"))
                {
                    walk(value, alt, defs_root, path, out);
                }
                return;
            }
        }
        match value {
            Value::Object(map) => {
                let props = schema.get("properties").and_then(Value::as_object);
                let additional = schema.get("additionalProperties");
                for (k, v) in map {
                    path.push(k.clone());
                    match (props.and_then(|p| p.get(k)), additional) {
                        (Some(sub), _) => walk(v, sub, defs_root, path, out),
                        (None, Some(extra)) if extra.is_object() => {
                            walk(v, extra, defs_root, path, out)
                        }
                        (None, Some(Value::Bool(true))) => {}
                        (None, _) if props.is_some() => {
                            let known: Vec<&String> =
                                props.map(|p| p.keys().collect()).unwrap_or_default();
                            let hint = closest(k, &known)
                                .map(|c| format!(" (did you mean `{c}`?)"))
                                .unwrap_or_default();
                            out.push((
                                path.clone(),
                                format!(
                                    "unknown field `{}`{hint}; remove it or fix its spelling",
                                    path.join(".")
                                ),
                            ));
                        }
                        (None, _) => {}
                    }
                    path.pop();
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, v) in items.iter().enumerate() {
                        path.push(i.to_string());
                        walk(v, item_schema, defs_root, path, out);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
    }
    walk(value, root, root, path, out);
}

fn closest<'a>(word: &str, candidates: &[&'a String]) -> Option<&'a str> {
    let lw = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&lw, &c.to_ascii_lowercase()), c.as_str()))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Deserialise into the typed object to catch wrong types ("replicas: three").
fn typed_check(kind: Known, value: &Value) -> Result<(), (Vec<String>, String)> {
    use k8s_openapi::api::{apps, coordination, core, rbac};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as ext;
    fn check<T: serde::de::DeserializeOwned>(value: &Value) -> Result<(), (Vec<String>, String)> {
        serde_path_to_error::deserialize::<_, T>(value.clone())
            .map(|_| ())
            .map_err(|e| {
                let path: Vec<String> = e
                    .path()
                    .iter()
                    .map(|seg| match seg {
                        serde_path_to_error::Segment::Seq { index } => index.to_string(),
                        serde_path_to_error::Segment::Map { key } => key.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                let msg = format!("`{}`: {}", path.join("."), e.inner());
                (path, msg)
            })
    }
    match kind {
        Known::Namespace => check::<core::v1::Namespace>(value),
        Known::Pod => check::<core::v1::Pod>(value),
        Known::ConfigMap => check::<core::v1::ConfigMap>(value),
        Known::Secret => check::<core::v1::Secret>(value),
        Known::PersistentVolumeClaim => check::<core::v1::PersistentVolumeClaim>(value),
        Known::Service => check::<core::v1::Service>(value),
        Known::ServiceAccount => check::<core::v1::ServiceAccount>(value),
        Known::Deployment => check::<apps::v1::Deployment>(value),
        Known::StatefulSet => check::<apps::v1::StatefulSet>(value),
        Known::Role => check::<rbac::v1::Role>(value),
        Known::RoleBinding => check::<rbac::v1::RoleBinding>(value),
        Known::Lease => check::<coordination::v1::Lease>(value),
        Known::CustomResourceDefinition => check::<ext::CustomResourceDefinition>(value),
        Known::Task => check::<super::task::Task>(value),
    }
}

/// Unknown fields of `value` against a JSON or OpenAPI schema (a CRD's
/// `openAPIV3Schema`, say): each with its path and a message.
pub fn unknown_fields(value: &Value, schema: &Value) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    check_fields(value, schema, &mut Vec::new(), &mut out);
    out
}

/// Unknown fields and wrong types of an object of a kind swarmdeck knows;
/// `None` for other kinds.
pub fn schema_problems(
    api_version: &str,
    kind: &str,
    value: &Value,
) -> Option<Vec<(Vec<String>, String)>> {
    let known = known_kind(api_version, kind)?;
    let mut out = Vec::new();
    check_fields(value, schema_for(known), &mut Vec::new(), &mut out);
    if out.is_empty()
        && let Err(problem) = typed_check(known, value)
    {
        out.push(problem);
    }
    Some(out)
}

/// Best-effort line and column (1-based, within `text`) of a field path: each
/// named segment is searched for as a key after the previous one was found.
fn locate(text: &str, path: &[String]) -> (usize, usize) {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    let mut found = None;
    for seg in path.iter().filter(|s| s.parse::<usize>().is_err()) {
        let hit = lines.iter().enumerate().skip(from).find_map(|(i, l)| {
            let t = l.trim_start();
            let t = t.strip_prefix("- ").map(str::trim_start).unwrap_or(t);
            let key_here = t
                .strip_prefix(seg.as_str())
                .is_some_and(|r| r.trim_start().starts_with(':'))
                || t.strip_prefix(&format!("\"{seg}\""))
                    .is_some_and(|r| r.trim_start().starts_with(':'));
            if key_here {
                return Some((i, l.len() - t.len() + 1));
            }
            // Flow mappings: `{name: x, imagee: y}`.
            l.find(&format!("{seg}:"))
                .filter(|p| *p > 0 && matches!(l.as_bytes()[p - 1], b'{' | b' ' | b','))
                .map(|p| (i, p + 1))
        });
        if let Some((i, col)) = hit {
            found = Some((i + 1, col));
            from = i + 1;
        }
    }
    found.unwrap_or((1, 1))
}

/// Rank of a kind in a unit's apply order (ARCHITECTURE 4.4).
pub fn apply_rank(kind: &str) -> u8 {
    match kind {
        "Namespace" => 0,
        "CustomResourceDefinition" => 1,
        "ServiceAccount" => 2,
        "Role" | "ClusterRole" => 3,
        "RoleBinding" | "ClusterRoleBinding" => 4,
        "ConfigMap" => 5,
        "Secret" => 6,
        "PersistentVolumeClaim" => 7,
        "Service" => 8,
        _ => 9,
    }
}

/// The documents in the order a unit is applied; file order within a rank.
pub fn apply_order(docs: &[Document]) -> Vec<&Document> {
    let mut v: Vec<&Document> = docs.iter().collect();
    v.sort_by_key(|d| apply_rank(d.kind()));
    v
}

/// The documents in the order a unit is deleted: the reverse of applying.
pub fn delete_order(docs: &[Document]) -> Vec<&Document> {
    let mut v = apply_order(docs);
    v.reverse();
    v
}

/// Print documents as one multi-document YAML stream.
pub fn to_yaml_stream<'a>(docs: impl IntoIterator<Item = &'a Document>) -> String {
    let mut out = String::new();
    for d in docs {
        out.push_str("---\n");
        out.push_str(&d.to_yaml());
    }
    out
}

/// How a node target constrains scheduling (Teraslice `targets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetConstraint {
    Required,
    Preferred,
    Accepted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub key: String,
    pub value: String,
    pub constraint: TargetConstraint,
}

impl std::str::FromStr for Target {
    type Err = String;
    /// `key=value[:required|preferred|accepted]`
    fn from_str(s: &str) -> Result<Self, String> {
        let (kv, constraint) = match s.rsplit_once(':') {
            Some((kv, c)) if matches!(c, "required" | "preferred" | "accepted") => (kv, c),
            _ => (s, "required"),
        };
        let Some((key, value)) = kv.split_once('=') else {
            return Err(format!(
                "target `{s}` must be key=value[:required|preferred|accepted], e.g. zone=west:preferred"
            ));
        };
        if key.is_empty() || value.is_empty() {
            return Err(format!(
                "target `{s}` has an empty key or value; write key=value"
            ));
        }
        let constraint = match constraint {
            "preferred" => TargetConstraint::Preferred,
            "accepted" => TargetConstraint::Accepted,
            _ => TargetConstraint::Required,
        };
        Ok(Target {
            key: key.to_owned(),
            value: value.to_owned(),
            constraint,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolVolume {
    pub claim: String,
    pub path: String,
}

impl std::str::FromStr for PoolVolume {
    type Err = String;
    /// `claim:/path`
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            Some((claim, path)) if !claim.is_empty() && path.starts_with('/') => Ok(PoolVolume {
                claim: claim.to_owned(),
                path: path.to_owned(),
            }),
            _ => Err(format!(
                "volume `{s}` must be CLAIM:/mount/path, e.g. data:/var/data"
            )),
        }
    }
}

/// Everything needed to generate a worker pool for a new swarm.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSpec {
    pub name: String,
    pub namespace: Option<String>,
    pub workers: u32,
    pub image: String,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub targets: Vec<Target>,
    pub volumes: Vec<PoolVolume>,
}

/// Teraslice's label sanitising: characters outside `[a-zA-Z0-9_.-]` become `_`,
/// cut to 63 characters.
pub fn sanitize_label(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect()
}

/// A StatefulSet for a new swarm, with Teraslice's resource, target and volume
/// mapping. Errors name the flag to fix.
pub fn generate_pool(spec: &PoolSpec) -> Result<Value, String> {
    if spec.name.len() > 52 || !is_dns_label(&spec.name) {
        return Err(format!(
            "pool name `{}` must be a DNS label of at most 52 characters (lowercase letters, digits and `-`) so that pod names fit",
            spec.name
        ));
    }
    if spec.image.trim().is_empty() {
        return Err("--image must name a container image".into());
    }
    let mut resources = serde_json::Map::new();
    for (key, value) in [("cpu", &spec.cpu), ("memory", &spec.memory)] {
        if let Some(v) = value {
            if !is_quantity(v) {
                return Err(format!(
                    "--{key} `{v}` is not a Kubernetes quantity (e.g. 500m, 2, 512Mi, 4Gi)"
                ));
            }
            resources.insert(key.into(), json!(v));
        }
    }
    let label = sanitize_label(&spec.name);
    let mut pod_spec = json!({
        "containers": [{
            "name": "worker",
            "image": spec.image,
            "env": [{"name": "SWARM_WORKER_CONFIG", "value": "/etc/swarm/config.yml"}],
            "volumeMounts": [{"name": "swarm-config", "mountPath": "/etc/swarm", "readOnly": true}],
        }],
        "volumes": [{"name": "swarm-config", "configMap": {"name": format!("{}-config", spec.name), "optional": true}}],
    });
    if !resources.is_empty() {
        pod_spec["containers"][0]["resources"] = json!({"requests": Value::Object(resources.clone()), "limits": Value::Object(resources)});
    }
    let required: Vec<Value> = spec
        .targets
        .iter()
        .filter(|t| t.constraint == TargetConstraint::Required)
        .map(|t| json!({"key": t.key, "operator": "In", "values": [t.value]}))
        .collect();
    let preferred: Vec<Value> = spec
        .targets
        .iter()
        .filter(|t| t.constraint == TargetConstraint::Preferred)
        .map(|t| json!({"weight": 1, "preference": {"matchExpressions": [{"key": t.key, "operator": "In", "values": [t.value]}]}}))
        .collect();
    let tolerations: Vec<Value> = spec
        .targets
        .iter()
        .filter(|t| t.constraint == TargetConstraint::Accepted)
        .map(|t| json!({"key": t.key, "operator": "Equal", "value": t.value, "effect": "NoSchedule"}))
        .collect();
    let mut affinity = serde_json::Map::new();
    if !required.is_empty() {
        affinity.insert(
            "requiredDuringSchedulingIgnoredDuringExecution".into(),
            json!({"nodeSelectorTerms": [{"matchExpressions": required}]}),
        );
    }
    if !preferred.is_empty() {
        affinity.insert(
            "preferredDuringSchedulingIgnoredDuringExecution".into(),
            json!(preferred),
        );
    }
    if !affinity.is_empty() {
        pod_spec["affinity"] = json!({"nodeAffinity": Value::Object(affinity)});
    }
    if !tolerations.is_empty() {
        pod_spec["tolerations"] = json!(tolerations);
    }
    let mut seen = BTreeSet::new();
    for v in &spec.volumes {
        if !is_dns_label(&v.claim) {
            return Err(format!(
                "volume claim `{}` is not a valid claim name (lowercase letters, digits and `-`)",
                v.claim
            ));
        }
        if !seen.insert(v.claim.clone()) {
            return Err(format!("volume claim `{}` is given twice", v.claim));
        }
        pod_spec["volumes"]
            .as_array_mut()
            .expect("volumes is an array")
            .push(json!({"name": v.claim, "persistentVolumeClaim": {"claimName": v.claim}}));
        pod_spec["containers"][0]["volumeMounts"]
            .as_array_mut()
            .expect("volumeMounts is an array")
            .push(json!({"name": v.claim, "mountPath": v.path}));
    }
    let mut metadata = json!({
        "name": spec.name,
        "labels": {"app": label, super::names::SWARM_LABEL: label},
    });
    if let Some(ns) = &spec.namespace {
        metadata["namespace"] = json!(ns);
    }
    Ok(json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata,
        "spec": {
            "serviceName": spec.name,
            "replicas": spec.workers,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": label}},
            "template": {
                "metadata": {"labels": {"app": label, super::names::SWARM_LABEL: label}},
                "spec": pod_spec,
            },
        },
    }))
}

pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_quantity(s: &str) -> bool {
    serde_json::from_value::<k8s_openapi::apimachinery::pkg::api::resource::Quantity>(json!(s))
        .is_ok()
        && {
            let num: String = s
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let suffix = &s[num.len()..];
            !num.is_empty()
                && num.parse::<f64>().is_ok()
                && [
                    "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
                ]
                .contains(&suffix)
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn expands_and_escapes() {
        let out = expand(
            "a: ${X}\nb: $${X}\nc: $5 ${Y}z\n",
            env(&[("X", "1"), ("Y", "two")]),
        )
        .unwrap();
        assert_eq!(out, "a: 1\nb: ${X}\nc: $5 twoz\n");
    }

    #[test]
    fn lists_every_missing_variable() {
        let err = expand("a: ${A}\nb: ${B}\nc: ${A}\n", env(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "2 variables are not set: A (line 1, 3), B (line 2); set them in the environment (or pass --set NAME=VALUE), or write `$${NAME}` for a literal"
        );
        let err = expand("x\n  a: ${OPEN\n", env(&[])).unwrap_err();
        assert_eq!(
            err,
            ManifestError::UnclosedPlaceholder { line: 2, column: 6 }
        );
    }

    #[test]
    fn documents_with_positions() {
        let text = "# head\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n";
        let docs = parse_documents(text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!((docs[0].index, docs[0].line), (1, 3));
        assert_eq!((docs[1].index, docs[1].line), (3, 8));
        assert_eq!(docs[1].object(), "Secret/b");
    }

    #[test]
    fn syntax_error_names_document_line_column() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: [oops\n";
        let err = parse_documents(text).unwrap_err();
        let ManifestError::Syntax { at, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(at.document, 2);
        assert_eq!(at.line, 7);
        assert!(
            err.to_string().starts_with("document 2, line 7, column"),
            "{err}"
        );
    }

    #[test]
    fn tab_indentation() {
        let err = parse_documents("apiVersion: v1\nmetadata:\n\tname: x\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "document 1, line 3, column 1: a tab is used for indentation; YAML allows only spaces: replace the tab with spaces"
        );
    }

    #[test]
    fn missing_kind_and_name() {
        let err = load("apiVersion: v1\nmetadata: {name: a}\n", env(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "document 1, line 1, column 1 (<no kind>/a): `kind` is missing; add it (e.g. `kind: ConfigMap`)"
        );
        let err = load("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", env(&[])).unwrap_err();
        assert!(
            err.to_string().contains("`metadata.name` is missing"),
            "{err}"
        );
    }

    #[test]
    fn unknown_field_with_path_and_line() {
        let text = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: w\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: w}}\n  template:\n    metadata: {labels: {app: w}}\n    spec:\n      containers:\n      - name: w\n        image: busybox\n        imagePullPolicyy: Always\n";
        let err = load(text, env(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "document 1, line 14, column 9 (StatefulSet/w): unknown field `spec.template.spec.containers.0.imagePullPolicyy` (did you mean `imagePullPolicy`?); remove it or fix its spelling"
        );
    }

    #[test]
    fn wrong_type_is_reported() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: three\n  selector: {}\n  template: {}\n";
        let err = load(text, env(&[])).unwrap_err();
        assert!(
            err.to_string().contains("line 5") && err.to_string().contains("spec.replicas"),
            "{err}"
        );
    }

    #[test]
    fn task_fields_are_checked() {
        let text = "apiVersion: aliecs.alice.cern/v1alpha1\nkind: Task\nmetadata: {name: t}\nspec:\n  state: standby\n  contrl: {mode: direct}\n";
        let err = load(text, env(&[])).unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown field `spec.contrl` (did you mean `control`?)"),
            "{err}"
        );
    }

    #[test]
    fn unknown_kinds_pass_with_basic_checks() {
        let docs = load(
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {anything: 1}\n",
            env(&[]),
        )
        .unwrap();
        assert_eq!(docs.len(), 1);
    }

    #[test]
    fn apply_and_delete_order() {
        let text = [
            "Pod",
            "ConfigMap",
            "Namespace",
            "PersistentVolumeClaim",
            "Secret",
            "RoleBinding",
            "Role",
            "ServiceAccount",
            "CustomResourceDefinition",
        ]
        .iter()
        .enumerate()
        .map(|(i, k)| format!("---\napiVersion: x/v1\nkind: {k}\nmetadata: {{name: n{i}}}\n"))
        .collect::<String>();
        let docs = parse_documents(&text).unwrap();
        let kinds: Vec<&str> = apply_order(&docs).iter().map(|d| d.kind()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "CustomResourceDefinition",
                "ServiceAccount",
                "Role",
                "RoleBinding",
                "ConfigMap",
                "Secret",
                "PersistentVolumeClaim",
                "Pod"
            ]
        );
        let rev: Vec<&str> = delete_order(&docs).iter().map(|d| d.kind()).collect();
        assert_eq!(rev.first(), Some(&"Pod"));
        assert_eq!(rev.last(), Some(&"Namespace"));
    }

    #[test]
    fn pool_generator_maps_like_teraslice() {
        let spec = PoolSpec {
            name: "ingest".into(),
            namespace: Some("swarm".into()),
            workers: 3,
            image: "example/worker:1".into(),
            cpu: Some("500m".into()),
            memory: Some("1Gi".into()),
            targets: vec![
                "zone=west".parse().unwrap(),
                "disk=ssd:preferred".parse().unwrap(),
                "gpu=yes:accepted".parse().unwrap(),
            ],
            volumes: vec!["data:/var/data".parse().unwrap()],
        };
        let sts = generate_pool(&spec).unwrap();
        let pod = &sts["spec"]["template"]["spec"];
        assert_eq!(
            pod["containers"][0]["resources"]["requests"],
            json!({"cpu": "500m", "memory": "1Gi"})
        );
        assert_eq!(
            pod["containers"][0]["resources"]["limits"],
            json!({"cpu": "500m", "memory": "1Gi"})
        );
        let na = &pod["affinity"]["nodeAffinity"];
        assert_eq!(
            na["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"]
                [0],
            json!({"key": "zone", "operator": "In", "values": ["west"]})
        );
        assert_eq!(
            na["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"],
            json!(1)
        );
        assert_eq!(
            pod["tolerations"][0],
            json!({"key": "gpu", "operator": "Equal", "value": "yes", "effect": "NoSchedule"})
        );
        assert_eq!(
            pod["volumes"][1],
            json!({"name": "data", "persistentVolumeClaim": {"claimName": "data"}})
        );
        assert_eq!(
            pod["containers"][0]["volumeMounts"][1],
            json!({"name": "data", "mountPath": "/var/data"})
        );
        // The generated manifest passes our own validation.
        let text = serde_yaml::to_string(&sts).unwrap();
        load(&text, env(&[])).unwrap();
        assert!(
            generate_pool(&PoolSpec {
                cpu: Some("lots".into()),
                ..spec.clone()
            })
            .unwrap_err()
            .contains("--cpu `lots`")
        );
        assert!(
            generate_pool(&PoolSpec {
                name: "Bad_Name".into(),
                ..spec
            })
            .unwrap_err()
            .contains("DNS label")
        );
    }

    #[test]
    fn label_sanitising() {
        assert_eq!(sanitize_label("my pool/v2:β"), "my_pool_v2__");
        assert_eq!(sanitize_label(&"x".repeat(80)).len(), 63);
        assert_eq!(sanitize_label("ok-name_1.2"), "ok-name_1.2");
    }
}
