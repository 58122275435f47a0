//! The console's actions: each writes an intent to the cluster (the engine
//! carries it out) or applies a manifest unit, records it in the audit, and
//! reports back as an Event. And the console's own engine.

use kube::Api;
use tokio::sync::mpsc;

use super::data::ViewKind;
use super::model::{Effect, Event};
use crate::domain::task::Task;
use crate::engine::audit::{Auditor, Subject};
use crate::engine::run::{Engine, EngineConfig};
use crate::ops;

fn why(e: &kube::Error) -> String {
    if crate::cluster::gate::is_refusal(e) {
        "read-only mode: nothing was sent".to_owned()
    } else {
        match e {
            kube::Error::Api(s) => s.message.clone(),
            other => other.to_string(),
        }
    }
}

/// An engine error in the console's words (a request's: the server's).
fn engine_why(e: crate::engine::Error) -> String {
    match e {
        crate::engine::Error::Kube { source, .. } => why(&source),
        other => other.to_string(),
    }
}

/// Audit a console action that records an intent for the engine.
async fn record(
    audit: &Auditor,
    subject: &Subject,
    action: &str,
    plan: &str,
    result: &Result<(), String>,
) {
    let result = result
        .as_ref()
        .map(|()| "intent recorded")
        .map_err(String::as_str);
    ops::audited(audit, subject, action, plan, result).await;
}

/// Perform one of the acting effects in a task; the result comes back on `tx`.
pub fn spawn(effect: Effect, client: kube::Client, auditor: Auditor, tx: mpsc::Sender<Event>) {
    tokio::spawn(async move {
        let event = perform(effect, &client, &auditor).await;
        if let Some(e) = event {
            let _ = tx.send(e).await;
        }
    });
}

/// Carry out one of the effects this module performs; the Event it brings
/// back (None: nothing to report).
pub async fn perform(effect: Effect, client: &kube::Client, audit: &Auditor) -> Option<Event> {
    match effect {
        Effect::Scale { swarm, replicas } => {
            let result = async {
                let inputs = crate::engine::swarm::read_inputs(client, &swarm).await?;
                ops::scale::write(client, &swarm, &inputs, replicas, &audit.user, false).await
            }
            .await
            .map_err(engine_why);
            let plan = ops::scale::plan(replicas);
            let r = result.as_ref().map(|_| ()).map_err(Clone::clone);
            record(audit, &ops::scale::subject(&swarm), "Scale", &plan, &r).await;
            let sts = format!(
                "{}/{}",
                swarm.namespace,
                crate::engine::swarm::statefulset_of(&swarm)
            );
            Some(Event::Acted {
                what: match result {
                    Ok(ops::scale::Written::AskedEngine) => format!(
                        "asked for {replicas} workers of {sts}: the engine grants the new workers their streams, then starts them"
                    ),
                    _ => format!(
                        "scaled {sts} to {replicas}: the engine re-plans and refreshes the changed workers"
                    ),
                },
                result: r,
            })
        }
        Effect::Rebalance(swarm) => {
            let result = crate::engine::swarm::request_rebalance(client, &swarm, &audit.user)
                .await
                .map_err(engine_why);
            let subject = Subject {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: swarm.namespace.clone(),
                name: swarm.jobs_config_map.clone(),
            };
            record(audit, &subject, "RequestRebalance", &swarm.name, &result).await;
            Some(Event::Acted {
                what: format!("rebalance of {} requested", swarm.name),
                result,
            })
        }
        Effect::SetTarget {
            namespace,
            name,
            state,
            recover,
        } => {
            let result = ops::task::record_target(client, &namespace, &name, state, recover)
                .await
                .map_err(engine_why);
            let subject = ops::task::subject(&namespace, &name);
            let plan = format!("target {state}");
            record(audit, &subject, "SetTargetState", &plan, &result).await;
            Some(Event::Acted {
                what: format!("target {state} recorded on Task {namespace}/{name}"),
                result,
            })
        }
        Effect::Restart {
            kind,
            namespace,
            name,
        } => {
            let what = match kind {
                ViewKind::Pods => ops::workload::Restartable::Pod,
                _ => ops::workload::Restartable::StatefulSet,
            };
            let result = ops::workload::restart(client, what, &namespace, &name)
                .await
                .map_err(|e| why(&e));
            let subject = what.subject(&namespace, &name);
            record(audit, &subject, "Restart", "restart", &result).await;
            Some(Event::Acted {
                what: format!("restarted {} {namespace}/{name}", kind.singular()),
                result,
            })
        }
        Effect::Delete {
            api,
            namespace,
            name,
            what,
        } => {
            let result = ops::workload::delete(client, &api, &namespace, &name)
                .await
                .map_err(|e| {
                    if crate::cluster::gate::is_refusal(&e) {
                        "read-only mode: nothing was sent".to_owned()
                    } else {
                        crate::cluster::explain(&e)
                    }
                });
            // Every write the console sends leaves its line in the audit.
            let subject = ops::workload::subject(&api, &namespace, &name);
            let said = result.as_ref().map(|()| "deleted").map_err(String::as_str);
            ops::audited(audit, &subject, "Delete", "delete from the console", said).await;
            Some(Event::Deleted { what, result })
        }
        Effect::EditFetch {
            api,
            namespace,
            name,
        } => {
            let title = if namespace.is_empty() {
                format!("{} {name}", api.singular)
            } else {
                format!("{} {namespace}/{name}", api.singular)
            };
            let result = fetch(client, &api, &namespace, &name).await;
            Some(Event::EditorLoaded {
                title,
                namespace,
                result,
            })
        }
        Effect::ApplyUnit {
            text,
            namespace,
            dry_run,
            how,
        } => {
            let result = apply_unit(client, audit, &text, &how, &namespace, dry_run).await;
            if result.is_err()
                && !how.overwrite
                && let Some(live) = &how.live
                && let Some(event) = conflict(client, live, &text, &how).await
            {
                return Some(event);
            }
            Some(Event::UnitDone {
                result,
                applied: !dry_run,
            })
        }
        Effect::DeleteUnit {
            text,
            namespace,
            how,
        } => {
            let result = match how.documents(&text) {
                Err(p) => Err(p.message),
                Ok(docs) => {
                    let summary = "delete from the editor";
                    let outcome =
                        ops::unit::delete(client, audit, &docs, &namespace, summary, |_| {}).await;
                    match outcome {
                        Ok(done) => {
                            let deleted = done
                                .iter()
                                .filter(|d| d.action == crate::engine::unit::Action::Delete)
                                .count();
                            Ok(format!(
                                "deleted as one unit: {deleted} objects deleted, {} already absent",
                                done.len() - deleted
                            ))
                        }
                        Err(e) => Err(e.to_string()),
                    }
                }
            };
            Some(Event::UnitDone {
                result,
                applied: false,
            })
        }
        Effect::DiffUnit {
            text,
            namespace,
            how,
        } => {
            let result = match how.documents(&text) {
                Err(p) => Err(p.message),
                Ok(docs) => crate::engine::unit::plan_apply(client, &docs, &namespace, true)
                    .await
                    .map(|steps| crate::engine::unit::diff(&steps))
                    .map_err(|e| e.to_string()),
            };
            Some(Event::DiffReady(result))
        }
        _ => None,
    }
}

/// A save of an object read from the cluster failed: if the object changed
/// since it was read, that is a conflict to show (theirs against yours),
/// never a write over their change.
async fn conflict(
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

async fn apply_unit(
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
