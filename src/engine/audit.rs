//! Audit: every action the engine takes becomes a Kubernetes Event on the
//! object (reporting controller `swarmdeck`) and a line in a local JSONL log
//! (time, user, context, object, action, plan summary, result).

use crate::time::now_rfc3339 as now;
use std::io::Write;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

/// Where an action happened and who did it.
#[derive(Clone)]
pub struct Auditor {
    pub client: kube::Client,
    pub user: String,
    pub context: String,
    /// The JSONL file; None writes no local log.
    pub log: Option<PathBuf>,
}

/// The object an action was about.
#[derive(Debug, Clone)]
pub struct Subject {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl Auditor {
    /// Record one action. Failing to record is logged, never fatal: the
    /// action itself already happened.
    pub async fn record(
        &self,
        subject: &Subject,
        action: &str,
        plan: &str,
        result: &str,
        failed: bool,
    ) {
        let time = now();
        if let Some(path) = &self.log {
            let line = json!({
                "time": time, "user": self.user, "context": self.context,
                "object": format!("{} {}/{}", subject.kind, subject.namespace, subject.name),
                "action": action, "plan": plan, "result": result,
            });
            // One line is one write() on a file opened to append, so that
            // writers at once never interleave inside a line.
            let written = path
                .parent()
                .map_or(Ok(()), crate::files::private_dir)
                .and_then(|_| crate::files::append_private(path))
                .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
            if let Err(e) = written {
                tracing::warn!("cannot append to the audit log {}: {e}", path.display());
            }
        }
        // An action the server refused for want of rights: the Event would
        // be refused too (one more failing request, and one more line in the
        // API server's log). The local line says what happened.
        if failed && is_forbidden(result) {
            return;
        }
        let events: Api<Event> = Api::namespaced(self.client.clone(), &subject.namespace);
        let event: Result<Event, _> = serde_json::from_value(json!({
            "metadata": {"generateName": format!("{}.", subject.name), "namespace": subject.namespace},
            "involvedObject": {"apiVersion": subject.api_version, "kind": subject.kind, "name": subject.name, "namespace": subject.namespace},
            "reason": action, "message": format!("{result} (by {} via swarmdeck; {plan})", self.user),
            "type": if failed { "Warning" } else { "Normal" },
            "source": {"component": "swarmdeck"},
            "reportingComponent": "swarmdeck", "reportingInstance": self.context,
            "firstTimestamp": time, "lastTimestamp": time, "count": 1,
        }));
        match event {
            Ok(e) => {
                if let Err(err) = events.create(&PostParams::default(), &e).await {
                    tracing::warn!(
                        "cannot record the audit Event on {}/{}: {err}",
                        subject.namespace,
                        subject.name
                    );
                }
            }
            Err(err) => tracing::warn!("cannot build the audit Event: {err}"),
        }
    }
}

/// Does a result say the server refused for want of rights (HTTP 403, whose
/// message always reads "... is forbidden: User ... cannot ...")?
fn is_forbidden(result: &str) -> bool {
    result.contains("is forbidden: User ") || result.contains("(403)")
}

/// The audit log's default place: `$XDG_STATE_HOME/swarmdeck/audit.jsonl`.
pub fn default_log() -> PathBuf {
    crate::cluster::state_dir().join("audit.jsonl")
}
