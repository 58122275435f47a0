//! A swarm (ARCHITECTURE 3): the five values that describe one, with the seed
//! defaults of the k8s-swarm operator, and the optional Swarm resource
//! (`swarms.k8slab.info`) whose size and members the engine keeps current.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a swarm lives and how it is wired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwarmRef {
    pub name: String,
    pub namespace: String,
    /// Worker StatefulSets and pods carry `app=<watch_label>`.
    pub watch_label: String,
    /// ConfigMap whose `config.yml` holds the `jobs:` list.
    pub jobs_config_map: String,
    /// ConfigMap the assignment is written to.
    pub output_config_map: String,
    /// How workers pick up a new assignment.
    pub refresh: RefreshPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefreshPolicy {
    /// Delete the worker's pod so that it restarts with its new jobs.
    RestartPod,
    /// The worker reloads the ConfigMap itself and reports
    /// `swarmdeck.io/config-version`.
    HotReload,
}

impl Default for SwarmRef {
    /// The seed defaults of the k8s-swarm operator.
    fn default() -> Self {
        Self {
            name: "swarm-worker".into(),
            namespace: "swarm".into(),
            watch_label: "swarm-worker".into(),
            jobs_config_map: "swarm-controller-config".into(),
            output_config_map: "swarm-worker-config".into(),
            refresh: RefreshPolicy::RestartPod,
        }
    }
}

/// The key both ConfigMaps keep their YAML under.
pub const CONFIG_KEY: &str = "config.yml";

/// The k8s-swarm Swarm resource.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "k8slab.info",
    version = "v1alpha1",
    kind = "Swarm",
    plural = "swarms",
    singular = "swarm",
    namespaced,
    status = "SwarmStatus",
    printcolumn = r#"{"name":"Replicas","type":"integer","jsonPath":".spec.replicas"}"#,
    printcolumn = r#"{"name":"Size","type":"integer","jsonPath":".status.size"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
pub struct SwarmSpec {
    #[schemars(range(min = 1))]
    pub replicas: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SwarmStatus {
    #[serde(default)]
    pub size: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

/// The workers whose new job set is not confirmed yet, written with the
/// assignment into annotation `swarmdeck.io/pending-refresh` of the output
/// ConfigMap: each with the UID of the pod it ran when the assignment was
/// written (`swarm-worker-0=<uid>`), or bare when it had none. A pod whose UID
/// is not the recorded one was created after the write, so it read the new
/// assignment: this needs no timestamp, which real API servers round to the
/// second.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingRefresh(pub std::collections::BTreeMap<String, Option<String>>);

impl PendingRefresh {
    /// Parse the annotation's value (`w0=uid,w1`); blanks are skipped.
    pub fn parse(value: &str) -> Self {
        Self(
            value
                .split(',')
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .map(|entry| match entry.split_once('=') {
                    Some((w, uid)) if !uid.trim().is_empty() => {
                        (w.trim().to_owned(), Some(uid.trim().to_owned()))
                    }
                    Some((w, _)) => (w.trim().to_owned(), None),
                    None => (entry.to_owned(), None),
                })
                .collect(),
        )
    }

    /// The annotation's value, workers in name order.
    pub fn to_annotation(&self) -> String {
        self.0
            .iter()
            .map(|(w, uid)| match uid {
                Some(u) => format!("{w}={u}"),
                None => w.clone(),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, worker: &str) -> bool {
        self.0.contains_key(worker)
    }

    pub fn workers(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    /// The UID of the pod `worker` ran when the assignment was written.
    pub fn replaced_uid(&self, worker: &str) -> Option<&str> {
        self.0.get(worker)?.as_deref()
    }
}

/// What the convergence rule needs to know of a worker's pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerPod<'a> {
    pub uid: Option<&'a str>,
    /// Ready and not being deleted.
    pub ready: bool,
    /// Its `swarmdeck.io/config-version` annotation, if the worker reports one.
    pub reported: Option<u64>,
}

/// The one convergence rule, shared by the engine, the commands and the
/// console: is this worker running the job set of `version`?
/// - a pod that is not ready is not;
/// - a worker that reports its loaded version is judged by it;
/// - otherwise, a worker whose refresh is pending is converged once its pod is
///   not the one recorded at the write (restart-pod workers; hot-reload workers
///   must report), and one with nothing pending is converged when ready.
pub fn worker_converged(
    worker: &str,
    pod: Option<WorkerPod<'_>>,
    version: u64,
    pending: &PendingRefresh,
    refresh: RefreshPolicy,
) -> bool {
    let entry = pending.0.get(worker).map(Option::as_deref);
    converged_with(pod, version, entry, refresh)
}

/// One worker as a grid shows it (the command line's `grid` and `status`,
/// and the console's): its place in the assignment and whether it runs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerState {
    /// Its streams in the assignment (none: the assignment does not list it).
    pub jobs: Vec<String>,
    /// The version of its job set (0: not listed).
    pub version: u64,
    /// The version its pod reports having loaded, if it reports one.
    pub reported: Option<u64>,
    /// Converged: listed in the assignment and running that job set
    /// ([`worker_converged`]). A worker the assignment does not list is not.
    pub converged: bool,
}

/// [`WorkerState`] of `worker` from the assignment, the refreshes still
/// pending and its pod's facts (None: no pod).
pub fn worker_state(
    worker: &str,
    config: &super::assignment::WorkerConfig,
    pending: &PendingRefresh,
    refresh: RefreshPolicy,
    pod: Option<WorkerPod<'_>>,
) -> WorkerState {
    let entry = config.workloads.get(worker);
    let version = entry.map_or(0, |e| e.version);
    WorkerState {
        jobs: entry.map(|e| e.jobs.clone()).unwrap_or_default(),
        version,
        reported: pod.and_then(|p| p.reported),
        converged: entry.is_some() && worker_converged(worker, pod, version, pending, refresh),
    }
}

/// The rule of `worker_converged` for one worker: `pending` is None when its
/// refresh is not pending, else the UID recorded at the write (if it had a pod).
pub fn converged_with(
    pod: Option<WorkerPod<'_>>,
    version: u64,
    pending: Option<Option<&str>>,
    refresh: RefreshPolicy,
) -> bool {
    let Some(pod) = pod.filter(|p| p.ready) else {
        return false;
    };
    if let Some(reported) = pod.reported {
        return reported >= version;
    }
    let Some(recorded) = pending else {
        return true;
    };
    match refresh {
        RefreshPolicy::HotReload => false,
        RefreshPolicy::RestartPod => match recorded {
            Some(old) => pod.uid.is_some_and(|uid| uid != old),
            None => true,
        },
    }
}

#[cfg(test)]
mod convergence_tests {
    use super::*;

    fn pod(uid: &str, ready: bool, reported: Option<u64>) -> Option<WorkerPod<'_>> {
        Some(WorkerPod {
            uid: Some(uid),
            ready,
            reported,
        })
    }

    #[test]
    fn the_pending_annotation_round_trips() {
        let p = PendingRefresh::parse(" w-1=u1, w-0 ,w-2=, ");
        assert_eq!(p.replaced_uid("w-1"), Some("u1"));
        assert!(p.contains("w-0") && p.replaced_uid("w-0").is_none());
        assert!(p.contains("w-2") && p.replaced_uid("w-2").is_none());
        assert_eq!(p.to_annotation(), "w-0,w-1=u1,w-2");
        assert_eq!(PendingRefresh::parse(&p.to_annotation()), p);
        assert!(PendingRefresh::parse("").is_empty());
    }

    #[test]
    fn a_restarted_worker_converges_by_its_new_uid_not_by_time() {
        let pending = PendingRefresh::parse("w-0=old,w-1");
        let restart = RefreshPolicy::RestartPod;
        // Still the pod that ran when the assignment was written.
        assert!(!worker_converged(
            "w-0",
            pod("old", true, None),
            3,
            &pending,
            restart
        ));
        // Replaced (whatever the second it was created in), but not ready yet.
        assert!(!worker_converged(
            "w-0",
            pod("new", false, None),
            3,
            &pending,
            restart
        ));
        assert!(worker_converged(
            "w-0",
            pod("new", true, None),
            3,
            &pending,
            restart
        ));
        // No pod at the write: any ready pod started after it.
        assert!(worker_converged(
            "w-1",
            pod("any", true, None),
            3,
            &pending,
            restart
        ));
        assert!(!worker_converged("w-1", None, 3, &pending, restart));
        // Nothing pending: ready is enough.
        assert!(worker_converged(
            "w-2",
            pod("x", true, None),
            3,
            &pending,
            restart
        ));
    }

    #[test]
    fn a_reporting_worker_is_judged_by_what_it_reports() {
        let pending = PendingRefresh::parse("w-0=old");
        for policy in [RefreshPolicy::RestartPod, RefreshPolicy::HotReload] {
            assert!(!worker_converged(
                "w-0",
                pod("new", true, Some(2)),
                3,
                &pending,
                policy
            ));
            assert!(worker_converged(
                "w-0",
                pod("old", true, Some(3)),
                3,
                &pending,
                policy
            ));
            assert!(!worker_converged(
                "w-5",
                pod("x", true, Some(1)),
                3,
                &pending,
                policy
            ));
        }
        // A hot-reload worker that does not report is not converged while pending.
        assert!(!worker_converged(
            "w-0",
            pod("new", true, None),
            3,
            &pending,
            RefreshPolicy::HotReload
        ));
    }
}

/// The swarm a labelled jobs ConfigMap describes (annotations may name the
/// StatefulSet's watch label, the output ConfigMap and the refresh policy).
pub fn swarm_of(name: &str, cm: &k8s_openapi::api::core::v1::ConfigMap) -> SwarmRef {
    let ann = cm.metadata.annotations.clone().unwrap_or_default();
    SwarmRef {
        name: name.to_owned(),
        namespace: cm
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        watch_label: ann
            .get(super::names::WATCH_LABEL_ANNOTATION)
            .cloned()
            .unwrap_or_else(|| name.to_owned()),
        jobs_config_map: cm.metadata.name.clone().unwrap_or_default(),
        output_config_map: ann
            .get(super::names::OUTPUT_CONFIGMAP_ANNOTATION)
            .cloned()
            .unwrap_or_else(|| format!("{name}-worker-config")),
        refresh: match ann
            .get(super::names::REFRESH_ANNOTATION)
            .map(String::as_str)
        {
            Some("hot-reload") => RefreshPolicy::HotReload,
            _ => RefreshPolicy::RestartPod,
        },
    }
}

/// The `config.yml` of a swarm's ConfigMap (empty when there is none).
pub fn config_text(cm: &k8s_openapi::api::core::v1::ConfigMap) -> &str {
    cm.data
        .as_ref()
        .and_then(|d| d.get(CONFIG_KEY))
        .map_or("", String::as_str)
}

/// One annotation of a ConfigMap.
fn annotation<'a>(cm: &'a k8s_openapi::api::core::v1::ConfigMap, key: &str) -> Option<&'a str> {
    cm.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// The streams `swarmdeck.io/dedicated` names (comma-separated), in order.
pub fn dedicated(cm: &k8s_openapi::api::core::v1::ConfigMap) -> Vec<String> {
    annotation(cm, super::names::DEDICATED_ANNOTATION)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|j| !j.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What a swarm's output ConfigMap holds, read the same way by the engine
/// and by the console's rows.
#[derive(Debug, Clone, Default)]
pub struct Assigned {
    /// The assignment (`config.yml`).
    pub config: super::assignment::WorkerConfig,
    /// Workers written a new job set whose refresh is not confirmed yet.
    pub pending: PendingRefresh,
    /// The handoff under way, as written with the assignment.
    pub handoff: Option<super::handoff::HandoffState>,
    /// Why the handoff record was dropped (it did not parse: the written
    /// lists are the truth, and planning from them alone stays safe).
    pub handoff_error: Option<String>,
}

impl Assigned {
    /// Read an output ConfigMap; Err: its `config.yml` does not parse.
    pub fn read(cm: &k8s_openapi::api::core::v1::ConfigMap) -> Result<Self, String> {
        let config = super::assignment::WorkerConfig::parse(config_text(cm))?;
        let pending = PendingRefresh::parse(
            annotation(cm, super::names::PENDING_ANNOTATION).unwrap_or_default(),
        );
        let (handoff, handoff_error) = match annotation(cm, super::names::HANDOFF_STATE_ANNOTATION)
            .map(super::handoff::HandoffState::parse)
        {
            None => (None, None),
            Some(Ok(h)) => (Some(h), None),
            Some(Err(e)) => (None, Some(e)),
        };
        Ok(Self {
            config,
            pending,
            handoff,
            handoff_error,
        })
    }
}

/// A worker count that cannot be asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadReplicas {
    /// Nothing typed.
    Empty,
    /// Not a whole number (what was typed).
    NotANumber(String),
    /// 0 would leave the jobs unassigned.
    Zero,
    /// Above the ceiling (`--max-replicas`, or the console's).
    AboveCeiling { wanted: u32, ceiling: u32 },
}

/// A worker count as typed (the console's prompt, `swarmdeck scale`):
/// a whole number from 1 to `ceiling`. The console and the command line
/// word a refusal each for their place; the rule is this one.
pub fn parse_replicas(text: &str, ceiling: u32) -> Result<u32, BadReplicas> {
    let t = text.trim();
    if t.is_empty() {
        return Err(BadReplicas::Empty);
    }
    let n: u32 = t
        .parse()
        .map_err(|_| BadReplicas::NotANumber(t.to_owned()))?;
    if n == 0 {
        return Err(BadReplicas::Zero);
    }
    if n > ceiling {
        return Err(BadReplicas::AboveCeiling { wanted: n, ceiling });
    }
    Ok(n)
}

#[cfg(test)]
mod replica_tests {
    use super::*;

    #[test]
    fn worker_counts_from_one_to_the_ceiling() {
        assert_eq!(parse_replicas(" 3 ", 500), Ok(3));
        assert_eq!(parse_replicas("500", 500), Ok(500));
        assert_eq!(parse_replicas("", 500), Err(BadReplicas::Empty));
        assert_eq!(
            parse_replicas("x", 500),
            Err(BadReplicas::NotANumber("x".into()))
        );
        assert_eq!(
            parse_replicas("-1", 500),
            Err(BadReplicas::NotANumber("-1".into()))
        );
        assert_eq!(parse_replicas("0", 500), Err(BadReplicas::Zero));
        assert_eq!(
            parse_replicas("501", 500),
            Err(BadReplicas::AboveCeiling {
                wanted: 501,
                ceiling: 500
            })
        );
    }
}

#[cfg(test)]
mod worker_state_tests {
    use super::*;
    use crate::domain::assignment::{WorkerConfig, WorkerEntry};

    #[test]
    fn a_worker_is_converged_only_when_the_assignment_lists_it() {
        let mut config = WorkerConfig::default();
        config.workloads.insert(
            "w-0".into(),
            WorkerEntry {
                jobs: vec!["stream:a".into()],
                version: 3,
            },
        );
        let ready = Some(WorkerPod {
            uid: Some("u"),
            ready: true,
            reported: Some(3),
        });
        let pending = PendingRefresh::default();
        let listed = worker_state("w-0", &config, &pending, RefreshPolicy::RestartPod, ready);
        assert_eq!(listed.jobs, vec!["stream:a".to_owned()]);
        assert_eq!((listed.version, listed.reported), (3, Some(3)));
        assert!(listed.converged);
        // A ready pod the assignment does not list has nothing loaded yet.
        let unlisted = worker_state("w-1", &config, &pending, RefreshPolicy::RestartPod, ready);
        assert!(unlisted.jobs.is_empty());
        assert!(!unlisted.converged);
        // No pod: not converged.
        let gone = worker_state("w-0", &config, &pending, RefreshPolicy::RestartPod, None);
        assert!(!gone.converged);
    }
}
