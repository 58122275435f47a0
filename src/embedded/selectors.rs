//! Label and field selectors as the API server parses them.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed `labelSelector`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Req>);

/// Split on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let words: Vec<&str> = part.split_whitespace().collect();
            let req = if let Some(key) = part.strip_prefix('!') {
                Req::NotExists(key.trim().to_owned())
            } else if let Some((k, v)) = part.split_once("!=") {
                Req::NotEq(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Req::Eq(k.trim().to_owned(), v.trim().to_owned())
            } else if words.len() >= 2 && (words[1] == "in" || words[1] == "notin") {
                let rest = part.split_once(words[1]).map_or("", |x| x.1).trim();
                let inner = rest
                    .strip_prefix('(')
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(|| {
                        format!(
                            "invalid label selector `{part}`: expected `key {} (a,b)`",
                            words[1]
                        )
                    })?;
                let values = inner
                    .split(',')
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
                    .collect();
                if words[1] == "in" {
                    Req::In(words[0].to_owned(), values)
                } else {
                    Req::NotIn(words[0].to_owned(), values)
                }
            } else if words.len() == 1 {
                Req::Exists(part.to_owned())
            } else {
                return Err(format!("invalid label selector `{part}`"));
            };
            reqs.push(req);
        }
        Ok(Self(reqs))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        self.matches_with(|k| labels.get(k).and_then(Value::as_str))
    }

    /// Whether labels read through `get` match.
    pub fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::NotEq(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
        })
    }
}

/// A parsed `fieldSelector` (equality on the fields Kubernetes supports for
/// the kinds served here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

pub const SUPPORTED_FIELDS: [&str; 6] = [
    "metadata.name",
    "metadata.namespace",
    "status.phase",
    "spec.nodeName",
    "involvedObject.name",
    "involvedObject.kind",
];

impl FieldSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let (k, eq, v) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (k, true, v)
            } else {
                return Err(format!(
                    "invalid field selector `{part}`: expected field=value"
                ));
            };
            let k = k.trim();
            if !SUPPORTED_FIELDS.contains(&k) {
                return Err(format!(
                    "field label not supported: {k} (supported: {})",
                    SUPPORTED_FIELDS.join(", ")
                ));
            }
            reqs.push((k.to_owned(), eq, v.trim().to_owned()));
        }
        Ok(Self(reqs))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.matches_with(|path| field_of(obj, path))
    }

    /// Whether fields read through `get` (by path) match; a missing field is "".
    pub fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.0.iter().all(|(path, eq, want)| {
            let have = get(path).unwrap_or("");
            (have == want) == *eq
        })
    }
}

fn field_of<'a>(obj: &'a Value, path: &str) -> Option<&'a str> {
    let mut v = obj;
    for seg in path.split('.') {
        v = &v[seg];
    }
    v.as_str()
}

/// What selectors read of an object — its labels and the fields a field
/// selector may name — kept apart from the object, so that a watch window
/// can judge a change by its selectors without keeping the object's tree.
///
/// Packed into one string: a pod's labels and fields were a dozen small
/// allocations, kept for every object in the store and every change in the
/// watch window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selectable {
    /// Each label's key and value, then each field's value, end to end.
    text: Box<str>,
    /// Where each label's key and value end in `text`.
    labels: Box<[(u32, u32)]>,
    /// Each field present: its index in [`SUPPORTED_FIELDS`] and where its
    /// value ends in `text`.
    fields: Box<[(u8, u32)]>,
}

impl Selectable {
    pub fn of(obj: &Value) -> Self {
        let mut text = String::new();
        let end = |text: &mut String, s: &str| {
            text.push_str(s);
            u32::try_from(text.len()).unwrap_or(u32::MAX)
        };
        let labels = obj["metadata"]["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        let v = v.as_str()?;
                        Some((end(&mut text, k), end(&mut text, v)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let fields = SUPPORTED_FIELDS
            .iter()
            .enumerate()
            .filter_map(|(i, path)| Some((i as u8, end(&mut text, field_of(obj, path)?))))
            .collect();
        Self {
            text: text.into_boxed_str(),
            labels,
            fields,
        }
    }

    pub fn matches(&self, labels: &LabelSelector, fields: &FieldSelector) -> bool {
        labels.matches_with(|k| self.label(k)) && fields.matches_with(|path| self.field(path))
    }

    fn slice(&self, from: u32, to: u32) -> &str {
        self.text
            .get(from as usize..to as usize)
            .unwrap_or_default()
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        let mut at = 0;
        for &(k, v) in &self.labels {
            if self.slice(at, k) == key {
                return Some(self.slice(k, v));
            }
            at = v;
        }
        None
    }

    /// A selectable field by its path (`status.phase`).
    pub fn field(&self, path: &str) -> Option<&str> {
        let mut at = self.labels.last().map_or(0, |l| l.1);
        for &(i, end) in &self.fields {
            if SUPPORTED_FIELDS[i as usize] == path {
                return Some(self.slice(at, end));
            }
            at = end;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An object's selectable parts answer every selector as the object does.
    #[test]
    fn selectable_parts_answer_as_the_object() {
        let o = json!({"metadata": {"name": "p", "namespace": "ns", "labels": {"app": "w", "tier": "a"}},
            "spec": {"nodeName": "node-1"}, "status": {"phase": "Running"}});
        let parts = Selectable::of(&o);
        for labels in [
            "",
            "app=w",
            "app!=w",
            "tier in (a,b)",
            "tier notin (a)",
            "missing",
            "!missing",
            "app=w,tier=b",
        ] {
            for fields in [
                "",
                "status.phase=Running",
                "spec.nodeName!=node-1",
                "metadata.name=p",
                "involvedObject.kind=",
                "involvedObject.kind=Pod",
            ] {
                let (l, f) = (
                    LabelSelector::parse(labels).unwrap(),
                    FieldSelector::parse(fields).unwrap(),
                );
                assert_eq!(
                    parts.matches(&l, &f),
                    l.matches(&o) && f.matches(&o),
                    "{labels} / {fields}"
                );
            }
        }
    }

    #[test]
    fn label_selectors() {
        let o = json!({"metadata": {"labels": {"app": "swarm-worker", "tier": "a"}}});
        for (sel, want) in [
            ("app=swarm-worker", true),
            ("app==swarm-worker,tier=a", true),
            ("app!=swarm-worker", false),
            ("tier in (a, b)", true),
            ("tier notin (a)", false),
            ("app", true),
            ("!missing", true),
            ("!app", false),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&o),
                want,
                "{sel}"
            );
        }
        assert!(LabelSelector::parse("tier in a").is_err());
    }

    #[test]
    fn field_selectors() {
        let o = json!({"metadata": {"name": "p", "namespace": "swarm"}, "status": {"phase": "Running"}});
        assert!(
            FieldSelector::parse("metadata.name=p,status.phase!=Pending")
                .unwrap()
                .matches(&o)
        );
        assert!(
            !FieldSelector::parse("spec.nodeName=n1")
                .unwrap()
                .matches(&o)
        );
        assert!(
            FieldSelector::parse("spec.foo=1")
                .unwrap_err()
                .contains("field label not supported")
        );
    }
}
