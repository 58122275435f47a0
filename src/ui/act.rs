//! What the editor's effects need from the cluster (the object to edit, a
//! unit applied, a conflict found after a failed save), and the console's
//! own engine. The effects themselves are performed in `effects.rs`.

use kube::Api;
use tokio::sync::mpsc;

use super::model::Event;
use crate::domain::task::Task;
use crate::engine::audit::Auditor;
use crate::engine::run::{Engine, EngineConfig};
use crate::ops;

/// A save of an object read from the cluster failed: if the object changed
/// since it was read, that is a conflict to show (theirs against yours),
/// never a write over their change.
pub(super) async fn conflict(
    client: &kube::Client,
    live: &serde_json::Value,
    text: &str,
    how: &super::editor::Sending,
) -> Option<Event> {
    let (group, version) = match live["apiVersion"].as_str()?.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", live["apiVersion"].as_str()?),
    };
    let gvk = kube::core::GroupVersionKind::gvk(group, version, live["kind"].as_str()?);
    let (ar, caps) = kube::discovery::pinned_kind(client, &gvk).await.ok()?;
    let name = live["metadata"]["name"].as_str()?;
    let api: Api<kube::api::DynamicObject> = match live["metadata"]["namespace"].as_str() {
        Some(ns) if caps.scope == kube::discovery::Scope::Namespaced => {
            Api::namespaced_with(client.clone(), ns, &ar)
        }
        _ => Api::all_with(client.clone(), &ar),
    };
    let theirs = serde_json::to_value(api.get(name).await.ok()?).ok()?;
    if theirs["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"] {
        return None;
    }
    let mut yours = how
        .documents(text)
        .ok()?
        .into_iter()
        .find(|d| d.name() == name && Some(d.kind()) == live["kind"].as_str())?
        .value;
    let mut shown = crate::engine::unit::comparable(&theirs);
    yours = crate::engine::unit::comparable(&yours);
    crate::domain::secret::mask_pair(&mut shown, &mut yours);
    let yaml = |v: &serde_json::Value| serde_yaml::to_string(v).unwrap_or_default();
    let (a, b) = (yaml(&shown), yaml(&yours));
    let diff = similar::TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(2)
        .header(&format!("{name} (theirs, now)"), &format!("{name} (yours)"))
        .to_string();
    Some(Event::EditConflict {
        theirs: Box::new(theirs),
        diff,
    })
}

pub(super) async fn apply_unit(
    client: &kube::Client,
    audit: &Auditor,
    text: &str,
    how: &super::editor::Sending,
    namespace: &str,
    dry_run: bool,
) -> Result<String, String> {
    let docs = how.documents(text).map_err(|p| p.message)?;
    if dry_run {
        let steps = crate::engine::unit::plan_apply(client, &docs, namespace, true)
            .await
            .map_err(|e| format!("dry run refused: {e}"))?;
        let list: Vec<String> = steps
            .iter()
            .map(|s| format!("{} {}", s.action, s.object))
            .collect();
        return Ok(format!(
            "dry run passed, nothing changed: {}",
            list.join(", ")
        ));
    }
    let summary = "apply from the editor";
    let outcome = ops::unit::apply(client, audit, &docs, namespace, true, summary, |_| {}).await;
    match outcome {
        Ok(done) => {
            let list: Vec<String> = done
                .iter()
                .map(|d| format!("{} {}", d.object, d.action))
                .collect();
            Ok(format!("applied as one unit: {}", list.join(", ")))
        }
        Err(e @ crate::engine::Error::Unit(_)) => Err(format!("not applied: {e}")),
        Err(e) => Err(format!("nothing applied: {e}")),
    }
}

pub use crate::ops::workload::api_of;

/// One object as JSON, or the server's reason (a 403 names the permission).
pub async fn fetch(
    client: &kube::Client,
    api: &crate::cluster::discovery::ApiKind,
    namespace: &str,
    name: &str,
) -> Result<serde_json::Value, String> {
    let obj = api_of(client.clone(), api, namespace)
        .get(name)
        .await
        .map_err(|e| crate::cluster::explain(&e))?;
    let mut v = serde_json::to_value(obj).map_err(|e| e.to_string())?;
    // DynamicObject leaves the type out when the server did: put it back.
    if v["kind"].as_str().is_none_or(str::is_empty) {
        v["kind"] = api.kind.clone().into();
        v["apiVersion"] = api.api_version().into();
    }
    Ok(v)
}

/// Start the console's engine: it manages `only`, or every namespace that
/// holds a swarm or a Task; read-only consoles plan only. Its status comes
/// back as Events. Dropping the returned sender stops it (and releases its
/// leases).
pub fn start_engine(
    client: kube::Client,
    auditor: Auditor,
    only: Option<String>,
    fallback_namespace: String,
    read_only: bool,
    tx: mpsc::Sender<Event>,
) -> EngineHandle {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        let namespaces = match only {
            Some(ns) => vec![ns],
            None => managed_namespaces(&client, &fallback_namespace).await,
        };
        let identity = crate::engine::lease::default_identity(&auditor.user);
        let mut cfg = EngineConfig::new(namespaces, format!("console:{identity}"));
        cfg.plan_only = read_only;
        // A console that only looks writes nothing: a lease only while there
        // is an intent to carry out.
        cfg.lease_on_demand = true;
        cfg.idle_resync = std::time::Duration::from_secs(300);
        let engine = Engine::new(client, cfg, Some(auditor));
        let mut status = engine.status();
        let forward = tokio::spawn(async move {
            loop {
                let s = status.borrow_and_update().clone();
                if tx.send(Event::Engine(Box::new(s))).await.is_err() {
                    break;
                }
                if status.changed().await.is_err() {
                    break;
                }
            }
        });
        engine
            .run(async {
                let _ = stopped.await;
            })
            .await;
        forward.abort();
    });
    EngineHandle { stop, done }
}

/// The console's engine, running until stopped.
pub struct EngineHandle {
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
}

impl EngineHandle {
    /// Stop it: it hands back the Leases it holds; wait for that at most
    /// `within` (a server that does not answer must not hold the exit).
    pub async fn stop(self, within: std::time::Duration) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(within, self.done).await;
    }
}

async fn managed_namespaces(client: &kube::Client, fallback: &str) -> Vec<String> {
    let mut out: Vec<String> = crate::engine::swarm::discover(client, None)
        .await
        .map(|s| s.into_iter().map(|s| s.namespace).collect())
        .unwrap_or_default();
    if let Ok(tasks) = Api::<Task>::all(client.clone())
        .list(&kube::api::ListParams::default())
        .await
    {
        out.extend(tasks.items.into_iter().filter_map(|t| t.metadata.namespace));
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        out.push(fallback.to_owned());
    }
    out
}
