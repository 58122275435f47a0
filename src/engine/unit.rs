//! Manifests applied and deleted as one unit (as Ankaios' podman-kube
//! runtime does): every document is first checked by a server-side dry run,
//! so that one bad document means nothing is applied; then the documents are
//! applied in order with server-side apply; if one still fails, the objects
//! this apply created are deleted again, the ones it configured are applied
//! back to their previous version, and the failure names the document and
//! says exactly what is left changed if putting something back failed too.

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use serde::Serialize;
use serde_json::Value;

use super::Error;
use crate::domain::manifest::{Document, apply_order, delete_order};

pub const FIELD_MANAGER: &str = "swarmdeck";

/// What applying or deleting one document does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Configure,
    Unchanged,
    Delete,
    /// Deleting an object that does not exist.
    Absent,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::Create => "create",
            Action::Configure => "configure",
            Action::Unchanged => "unchanged",
            Action::Delete => "delete",
            Action::Absent => "absent",
        })
    }
}

/// One step of a unit's plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnitStep {
    /// 1-based document number in the file.
    pub document: usize,
    /// `Kind namespace/name` (or `Kind name` for cluster-scoped kinds).
    pub object: String,
    pub action: Action,
    /// The live object, without status and managedFields (None: absent).
    #[serde(skip)]
    pub live: Option<Value>,
    /// The object as the server's dry run says it would be after the apply.
    #[serde(skip)]
    pub after: Option<Value>,
}

/// How the unit is addressed in the cluster.
struct Target {
    api: Api<DynamicObject>,
    name: String,
    object: String,
}

fn described(doc: &Document, ns: Option<&str>) -> String {
    match ns {
        Some(ns) => format!("{} {ns}/{}", doc.kind(), doc.name()),
        None => format!("{} {}", doc.kind(), doc.name()),
    }
}

fn invalid(doc: &Document, object: &str, message: String) -> Error {
    Error::Invalid {
        swarm: format!("document {} ({object}, line {})", doc.index, doc.line),
        message,
    }
}

/// Does another document of the unit create what `doc` needs first (its
/// namespace, or the CRD of its kind)?
fn provided_by_unit(doc: &Document, docs: &[Document], ns: Option<&str>) -> bool {
    let group = doc.api_version().split('/').next().unwrap_or("");
    docs.iter().any(|d| {
        (d.kind() == "Namespace" && Some(d.name()) == ns)
            || (d.kind() == "CustomResourceDefinition"
                && d.value.pointer("/spec/names/kind").and_then(Value::as_str) == Some(doc.kind())
                && d.value.pointer("/spec/group").and_then(Value::as_str) == Some(group))
    })
}

async fn target(
    client: &kube::Client,
    doc: &Document,
    default_ns: &str,
) -> Result<Result<Target, String>, Error> {
    let (group, version) = match doc.api_version().split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", doc.api_version()),
    };
    let gvk = GroupVersionKind::gvk(group, version, doc.kind());
    let (ar, caps): (ApiResource, ApiCapabilities) =
        match kube::discovery::pinned_kind(client, &gvk).await {
            Ok(found) => found,
            Err(e) => {
                return Ok(Err(format!(
                    "the cluster does not serve {} {} ({e}); install its CRD first",
                    doc.api_version(),
                    doc.kind()
                )));
            }
        };
    let (api, object) = match caps.scope {
        Scope::Namespaced => {
            let ns = doc.namespace().unwrap_or(default_ns);
            (
                Api::namespaced_with(client.clone(), ns, &ar),
                described(doc, Some(ns)),
            )
        }
        Scope::Cluster => (Api::all_with(client.clone(), &ar), described(doc, None)),
    };
    Ok(Ok(Target {
        api,
        name: doc.name().to_owned(),
        object,
    }))
}

/// The object as an operator compares it: no status, no server bookkeeping.
pub fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "managedFields",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "uid",
                "selfLink",
            ] {
                m.remove(k);
            }
        }
    }
    v
}

fn body(doc: &Document, ns: Option<&str>) -> Value {
    let mut v = doc.value.clone();
    if let (Some(ns), Some(meta)) = (ns, v.get_mut("metadata").and_then(Value::as_object_mut))
        && !meta.contains_key("namespace")
    {
        meta.insert("namespace".into(), Value::String(ns.to_owned()));
    }
    v
}

fn namespace_of(t: &Target, doc: &Document, default_ns: &str) -> Option<String> {
    t.object
        .contains('/')
        .then(|| doc.namespace().unwrap_or(default_ns).to_owned())
}

/// Plan an apply: each document in apply order, checked by a server-side
/// dry run. The first document the server refuses fails the whole plan.
/// `force` takes over fields another manager set (as `kubectl apply
/// --server-side --force-conflicts`); without it such a change is refused.
pub async fn plan_apply(
    client: &kube::Client,
    docs: &[Document],
    default_ns: &str,
    force: bool,
) -> Result<Vec<UnitStep>, Error> {
    let mut steps = Vec::new();
    for doc in apply_order(docs) {
        let ns_hint = doc.namespace().or(Some(default_ns));
        let t = match target(client, doc, default_ns).await? {
            Ok(t) => t,
            Err(why) if provided_by_unit(doc, docs, ns_hint) => {
                steps.push(UnitStep {
                    document: doc.index,
                    object: described(doc, doc.namespace()),
                    action: Action::Create,
                    live: None,
                    after: Some(comparable(&doc.value)),
                });
                tracing::debug!("{why}: created by the same unit");
                continue;
            }
            Err(why) => return Err(invalid(doc, &described(doc, doc.namespace()), why)),
        };
        let live = t
            .api
            .get_opt(&t.name)
            .await
            .map_err(|e| Error::kube(&t.object, e))?;
        let live = live.map(|o| comparable(&serde_json::to_value(o).unwrap_or_default()));
        let ns = namespace_of(&t, doc, default_ns);
        let mut pp = PatchParams::apply(FIELD_MANAGER).dry_run();
        pp.force = force;
        let tried = t
            .api
            .patch(&t.name, &pp, &Patch::Apply(body(doc, ns.as_deref())))
            .await;
        let after = match tried {
            Ok(o) => comparable(&serde_json::to_value(o).unwrap_or_default()),
            Err(kube::Error::Api(s))
                if s.code == 404 && provided_by_unit(doc, docs, ns.as_deref()) =>
            {
                Value::Null
            }
            Err(e) => return Err(invalid(doc, &t.object, refusal(&e))),
        };
        let action = match &live {
            None => Action::Create,
            Some(l) if *l == after => Action::Unchanged,
            Some(_) => Action::Configure,
        };
        steps.push(UnitStep {
            document: doc.index,
            object: t.object,
            action,
            live,
            after: Some(if after.is_null() {
                comparable(&doc.value)
            } else {
                after
            }),
        });
    }
    Ok(steps)
}

fn refusal(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.code == 409 && s.message.contains("has been modified") => format!(
            "{}; it changed since it was read: read it again and redo the change",
            s.message
        ),
        kube::Error::Api(s) if s.code == 409 => format!(
            "{}; another field manager owns these fields: take them over with --force-conflicts (the editor does), change them with the tool that set them, or leave them out of the manifest",
            s.message
        ),
        kube::Error::Api(_) => format!("the server refused it: {}", crate::cluster::explain(e)),
        other => crate::cluster::explain(other),
    }
}

/// Progress of a unit as it is applied or deleted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Done {
    pub object: String,
    pub action: Action,
}

/// Apply the unit: plan (with its dry runs), then server-side apply each
/// document in order. On a failure the objects this apply created are
/// deleted again, and the error names the document.
pub async fn apply(
    client: &kube::Client,
    docs: &[Document],
    default_ns: &str,
    force: bool,
    mut progress: impl FnMut(&Done),
) -> Result<Vec<Done>, Error> {
    let plan = plan_apply(client, docs, default_ns, force).await?;
    let mut done: Vec<Done> = Vec::new();
    let mut created: Vec<Target> = Vec::new();
    let mut configured: Vec<(Target, Value)> = Vec::new();
    for (doc, step) in apply_order(docs).into_iter().zip(&plan) {
        let t = match target(client, doc, default_ns).await? {
            Ok(t) => t,
            Err(why) => {
                let e = invalid(doc, &step.object, why);
                return Err(rollback(created, configured, done, e).await);
            }
        };
        let ns = namespace_of(&t, doc, default_ns);
        let mut pp = PatchParams::apply(FIELD_MANAGER);
        pp.force = force;
        match t
            .api
            .patch(&t.name, &pp, &Patch::Apply(body(doc, ns.as_deref())))
            .await
        {
            Ok(_) => {
                let d = Done {
                    object: t.object.clone(),
                    action: step.action,
                };
                progress(&d);
                done.push(d);
                match (step.action, &step.live) {
                    (Action::Create, _) => created.push(t),
                    (Action::Configure, Some(previous)) => configured.push((t, previous.clone())),
                    _ => {}
                }
            }
            Err(e) => {
                let e = invalid(doc, &t.object, refusal(&e));
                return Err(rollback(created, configured, done, e).await);
            }
        }
    }
    Ok(done)
}

/// What became of a unit that failed part way.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnitFailure {
    /// Why it stopped (the document and the server's reason).
    pub cause: String,
    /// What had been done when it stopped.
    pub done: Vec<Done>,
    /// Put back: `Kind ns/name deleted again` or `... restored`.
    pub undone: Vec<String>,
    /// Left changed, with why it could not be put back.
    pub left: Vec<String>,
    /// A delete: nothing is put back (what is gone stays gone).
    pub deleting: bool,
}

impl std::fmt::Display for UnitFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.cause)?;
        if self.deleting {
            let gone: Vec<&str> = self
                .done
                .iter()
                .filter(|d| d.action == Action::Delete)
                .map(|d| d.object.as_str())
                .collect();
            return if gone.is_empty() {
                write!(f, "; nothing was deleted")
            } else {
                write!(f, "; deleted before it stopped: {}", gone.join(", "))
            };
        }
        if !self.undone.is_empty() {
            write!(f, "; rolled back: {}", self.undone.join(", "))?;
        }
        if self.left.is_empty() {
            write!(f, "; nothing of the unit is left changed")
        } else {
            write!(f, "; LEFT CHANGED: {}", self.left.join(", "))
        }
    }
}

/// Put back what a failed apply changed: configured objects applied back
/// to their previous version (newest first), created ones deleted again.
async fn rollback(
    created: Vec<Target>,
    configured: Vec<(Target, Value)>,
    done: Vec<Done>,
    cause: Error,
) -> Error {
    if created.is_empty() && configured.is_empty() {
        return cause;
    }
    let mut undone = Vec::new();
    let mut left = Vec::new();
    for (t, previous) in configured.into_iter().rev() {
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        match t.api.patch(&t.name, &pp, &Patch::Apply(previous)).await {
            Ok(_) => undone.push(format!("{} restored to its previous version", t.object)),
            Err(e) => left.push(format!(
                "{} (restoring it failed: {})",
                t.object,
                crate::cluster::explain(&e)
            )),
        }
    }
    for t in created.into_iter().rev() {
        match t.api.delete(&t.name, &DeleteParams::background()).await {
            Ok(_) => undone.push(format!("{} deleted again", t.object)),
            Err(kube::Error::Api(s)) if s.code == 404 => {
                undone.push(format!("{} deleted again", t.object))
            }
            Err(e) => left.push(format!(
                "{} (deleting it again failed: {})",
                t.object,
                crate::cluster::explain(&e)
            )),
        }
    }
    Error::Unit(Box::new(UnitFailure {
        cause: cause.to_string(),
        done,
        undone,
        left,
        deleting: false,
    }))
}

/// Record a unit's outcome in the audit, one line per object it touched:
/// what was done, what was put back, what is left changed; a refusal before
/// anything was changed is one line on the unit's first object.
pub async fn audit_outcome(
    audit: &super::audit::Auditor,
    action: &str,
    summary: &str,
    first: Option<&str>,
    outcome: &Result<Vec<Done>, Error>,
) {
    match outcome {
        Ok(done) => {
            for d in done {
                if d.action == Action::Absent {
                    continue;
                }
                audit
                    .record(
                        &subject_of(&d.object),
                        action,
                        summary,
                        past(d.action),
                        false,
                    )
                    .await;
            }
        }
        Err(Error::Unit(f)) => {
            for d in &f.done {
                if matches!(d.action, Action::Absent | Action::Unchanged) {
                    continue;
                }
                let put_back = f
                    .undone
                    .iter()
                    .any(|u| u.starts_with(&format!("{} ", d.object)));
                let said = if f.deleting {
                    format!("{}; the unit stopped: {}", past(d.action), f.cause)
                } else if put_back {
                    format!("{}, then rolled back: {}", past(d.action), f.cause)
                } else {
                    format!("{}; LEFT CHANGED, rolling back failed: {f}", past(d.action))
                };
                audit
                    .record(&subject_of(&d.object), action, summary, &said, true)
                    .await;
            }
        }
        Err(e) => {
            if let Some(first) = first {
                audit
                    .record(
                        &subject_of(first),
                        action,
                        summary,
                        &format!("failed, nothing was changed: {e}"),
                        true,
                    )
                    .await;
            }
        }
    }
}

/// An action as the operator reads it afterwards.
pub fn past(a: Action) -> &'static str {
    match a {
        Action::Create => "created",
        Action::Configure => "configured",
        Action::Unchanged => "unchanged",
        Action::Delete => "deleted",
        Action::Absent => "already absent",
    }
}

/// Plan a delete: each document in delete order, present or absent.
pub async fn plan_delete(
    client: &kube::Client,
    docs: &[Document],
    default_ns: &str,
) -> Result<Vec<UnitStep>, Error> {
    let mut steps = Vec::new();
    for doc in delete_order(docs) {
        let t = match target(client, doc, default_ns).await? {
            Ok(t) => t,
            Err(_) => {
                steps.push(UnitStep {
                    document: doc.index,
                    object: described(doc, doc.namespace()),
                    action: Action::Absent,
                    live: None,
                    after: None,
                });
                continue;
            }
        };
        let live = t
            .api
            .get_opt(&t.name)
            .await
            .map_err(|e| Error::kube(&t.object, e))?;
        steps.push(UnitStep {
            document: doc.index,
            action: if live.is_some() {
                Action::Delete
            } else {
                Action::Absent
            },
            object: t.object,
            live: live.map(|o| comparable(&serde_json::to_value(o).unwrap_or_default())),
            after: None,
        });
    }
    Ok(steps)
}

/// Delete the unit, in delete order; objects already gone are reported absent.
pub async fn delete(
    client: &kube::Client,
    docs: &[Document],
    default_ns: &str,
    mut progress: impl FnMut(&Done),
) -> Result<Vec<Done>, Error> {
    let mut done = Vec::new();
    for doc in delete_order(docs) {
        let Ok(t) = target(client, doc, default_ns).await? else {
            let d = Done {
                object: described(doc, doc.namespace()),
                action: Action::Absent,
            };
            progress(&d);
            done.push(d);
            continue;
        };
        let action = match t.api.delete(&t.name, &DeleteParams::background()).await {
            Ok(_) => Action::Delete,
            Err(kube::Error::Api(s)) if s.code == 404 => Action::Absent,
            Err(e) => {
                let cause = invalid(doc, &t.object, refusal(&e));
                if !done.iter().any(|d: &Done| d.action == Action::Delete) {
                    return Err(cause);
                }
                return Err(Error::Unit(Box::new(UnitFailure {
                    cause: cause.to_string(),
                    done,
                    undone: Vec::new(),
                    left: Vec::new(),
                    deleting: true,
                })));
            }
        };
        let d = Done {
            object: t.object,
            action,
        };
        progress(&d);
        done.push(d);
    }
    Ok(done)
}

/// A unified diff of what an apply changes, object by object (live → after
/// the server's dry run).
pub fn diff(steps: &[UnitStep]) -> String {
    let yaml = |v: &Option<Value>| {
        v.as_ref()
            .map(|v| serde_yaml::to_string(v).unwrap_or_default())
            .unwrap_or_default()
    };
    let mut out = String::new();
    for s in steps {
        // A Secret's values never reach a diff: a changed one says so.
        let (mut live, mut after) = (s.live.clone(), s.after.clone());
        if let (Some(l), Some(a)) = (live.as_mut(), after.as_mut()) {
            crate::domain::secret::mask_pair(l, a);
        } else {
            live.iter_mut()
                .chain(after.iter_mut())
                .for_each(crate::domain::secret::mask);
        }
        let (before, after) = (yaml(&live), yaml(&after));
        if before == after {
            out.push_str(&format!("  {} unchanged\n", s.object));
            continue;
        }
        let d = similar::TextDiff::from_lines(&before, &after);
        out.push_str(&format!(
            "--- {} (live)\n+++ {} (after apply)\n",
            s.object, s.object
        ));
        for hunk in d.unified_diff().context_radius(2).iter_hunks() {
            out.push_str(&hunk.to_string());
        }
    }
    out
}

/// The audit subject of an object as `Done` and `UnitStep` name it
/// (`Kind namespace/name`, or `Kind name` for cluster-scoped kinds).
pub fn subject_of(object: &str) -> super::audit::Subject {
    let (kind, rest) = object.split_once(' ').unwrap_or((object, ""));
    let (namespace, name) = rest.split_once('/').unwrap_or(("default", rest));
    super::audit::Subject {
        api_version: String::new(),
        kind: kind.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}
