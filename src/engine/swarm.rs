//! The swarm controller: compute the assignment for the current replica count
//! and job list, write the output ConfigMap with a resourceVersion
//! precondition (on conflict: re-read and re-plan, never overwrite), then
//! refresh only the workers whose job set changed, one batch at a time,
//! waiting for each to be ready with its new version.

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use serde::Serialize;

use super::Error;
use std::collections::BTreeSet;

use crate::domain::assignment::{
    self, Assignment, Plan, Policy, WorkerConfig, parse_jobs, worker_name,
};
use crate::domain::handoff::{self, HandoffMode, HandoffState, Phase, Step};
use crate::domain::swarm::{
    CONFIG_KEY, PendingRefresh, RefreshPolicy, SwarmRef, WorkerPod, worker_converged,
};

/// What the controller reads from the cluster.
#[derive(Debug, Clone)]
pub struct SwarmInputs {
    pub replicas: u32,
    pub jobs: Vec<String>,
    pub current: WorkerConfig,
    /// resourceVersion of the output ConfigMap (None: it does not exist yet).
    pub output_version: Option<String>,
    /// Workers written a new job set whose refresh has not been confirmed
    /// (annotation `swarmdeck.io/pending-refresh` on the output ConfigMap),
    /// so that an engine taking over finishes what another started.
    pub pending: PendingRefresh,
    /// Value of `swarmdeck.io/rebalance-requested` on the jobs ConfigMap.
    pub rebalance_requested: Option<String>,
    /// Streams dedicated by `swarmdeck.io/dedicated` on the jobs ConfigMap.
    pub dedicated: std::collections::BTreeSet<String>,
    /// `swarmdeck.io/handoff` on the jobs ConfigMap (strict unless `fast`).
    pub mode: HandoffMode,
    /// Why the mode annotation was not understood (strict is used).
    pub mode_error: Option<String>,
    /// The handoff under way, as written with the assignment.
    pub handoff: Option<HandoffState>,
    /// `swarmdeck.io/scale-requested` on the jobs ConfigMap: a scale asked of
    /// swarmdeck, carried out after the new workers are granted their streams.
    pub scale_to: Option<u32>,
    /// Requests too old to carry out (left out of the above): the leading
    /// engine drops them with an audit line.
    pub expired: Vec<ExpiredRequest>,
}

impl SwarmInputs {
    /// Inputs for a plan made offline (previews): nothing pending, strict.
    pub fn offline(
        replicas: u32,
        jobs: Vec<String>,
        current: WorkerConfig,
        dedicated: std::collections::BTreeSet<String>,
    ) -> Self {
        Self {
            replicas,
            jobs,
            current,
            output_version: None,
            pending: PendingRefresh::default(),
            rebalance_requested: None,
            dedicated,
            mode: HandoffMode::Strict,
            mode_error: None,
            handoff: None,
            scale_to: None,
            expired: Vec::new(),
        }
    }

    /// The number of workers the swarm is being taken to.
    pub fn wanted_replicas(&self) -> u32 {
        self.scale_to.unwrap_or(self.replicas)
    }
}

pub use crate::domain::names::{
    DEDICATED_ANNOTATION, PENDING_ANNOTATION, REBALANCE_ANNOTATION, REBALANCE_BY_ANNOTATION,
    SCALE_ANNOTATION, SCALE_AT_ANNOTATION, SCALE_BY_ANNOTATION,
};

/// How long a request recorded for the engine stands: one older (or with no
/// time) is dropped with an audit line, never carried out — an engine that
/// takes the lease an hour later must not perform what someone asked for and
/// stopped waiting for.
pub const REQUEST_TTL_MS: i64 = 5 * 60 * 1000;

/// A request on a swarm's jobs ConfigMap, as written for the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Rebalance,
    Scale(u32),
}

/// The annotations that record `request` by `who` now (system clock: the
/// engine judges their age by it too).
pub fn request_annotations(request: Request, who: &str) -> serde_json::Value {
    let now = crate::time::rfc3339(crate::time::Clock::system().now_ms());
    match request {
        Request::Rebalance => serde_json::json!({
            REBALANCE_ANNOTATION: now,
            REBALANCE_BY_ANNOTATION: who,
        }),
        Request::Scale(n) => serde_json::json!({
            SCALE_ANNOTATION: n.to_string(),
            SCALE_AT_ANNOTATION: now,
            SCALE_BY_ANNOTATION: who,
        }),
    }
}

/// The same annotations removed.
pub fn request_cleared(request: Request) -> serde_json::Value {
    match request {
        Request::Rebalance => serde_json::json!({
            REBALANCE_ANNOTATION: null,
            REBALANCE_BY_ANNOTATION: null,
        }),
        Request::Scale(_) => serde_json::json!({
            SCALE_ANNOTATION: null,
            SCALE_AT_ANNOTATION: null,
            SCALE_BY_ANNOTATION: null,
        }),
    }
}

/// A request found too old to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredRequest {
    pub request: Request,
    /// Who asked, when, and how long ago, as the audit says it.
    pub said: String,
}

/// Is a request made at `at` (RFC 3339, or none) still standing at `now_ms`?
/// Its age, or why it is not.
fn request_age(at: Option<&str>, now_ms: i64) -> Result<i64, String> {
    let Some(at) = at else {
        return Err("it carries no time".into());
    };
    let Some(t) = crate::time::parse_rfc3339(at) else {
        return Err(format!("its time `{at}` does not parse"));
    };
    let age = now_ms - t;
    if !(-REQUEST_TTL_MS..=REQUEST_TTL_MS).contains(&age) {
        return Err(format!(
            "it was made at {at}, {} ago; requests stand for {} minutes",
            crate::time::human_duration(age.abs() / 1000),
            REQUEST_TTL_MS / 60_000
        ));
    }
    Ok(age)
}

/// The assignment the swarm should hold: from the one the cluster holds (and
/// the handoff under way), a job moves only when balance requires it, and
/// then only the fewest move.
pub fn target(
    swarm: &SwarmRef,
    inputs: &SwarmInputs,
    policy: &Policy,
) -> Result<Assignment, Error> {
    let mut policy = policy.clone();
    policy.dedicated.extend(inputs.dedicated.iter().cloned());
    let sts = statefulset_of(swarm);
    let base = handoff::planning_base(&inputs.current, inputs.handoff.as_ref(), &sts);
    assignment::assign_from(&base, &sts, &inputs.jobs, inputs.wanted_replicas(), &policy).map_err(
        |e| Error::Invalid {
            swarm: format!("swarm `{}`", swarm.name),
            message: e.to_string(),
        },
    )
}

/// The plan for a swarm, from what is written to the target (whatever the
/// number of writes the handoff takes), or that nothing needs to change.
pub fn desired_state(
    swarm: &SwarmRef,
    inputs: &SwarmInputs,
    policy: &Policy,
) -> Result<Plan, Error> {
    let target = target(swarm, inputs, policy)?;
    Ok(assignment::plan(
        &inputs.current,
        &target,
        &statefulset_of(swarm),
    ))
}

/// The writes that take the swarm to its target, each with its plan, as the
/// engine will make them (`gone`: leaving ordinals with no pod any more).
pub fn handoff_phases(
    swarm: &SwarmRef,
    inputs: &SwarmInputs,
    policy: &Policy,
    gone: &BTreeSet<u32>,
) -> Result<Vec<(Step, Plan)>, Error> {
    let target = target(swarm, inputs, policy)?;
    Ok(handoff::phases(
        &inputs.current,
        &target,
        &statefulset_of(swarm),
        inputs.mode,
        gone,
    ))
}

/// The StatefulSet of a swarm's workers: the seed swarm's is `swarm-worker`.
pub fn statefulset_of(swarm: &SwarmRef) -> String {
    swarm.name.clone()
}

/// Does a plan change anything in the cluster?
pub fn is_noop(plan: &Plan, current: &WorkerConfig) -> bool {
    plan.changed.is_empty()
        && plan.removed_workers.is_empty()
        && plan.config.workloads == current.workloads
}

/// Does the swarm have anything to do: a write, a refresh to finish, a scale
/// to carry out, a handoff record to close?
pub fn has_work(plan: &Plan, inputs: &SwarmInputs) -> bool {
    !is_noop(plan, &inputs.current)
        || !inputs.pending.is_empty()
        || inputs.scale_to.is_some()
        || inputs.handoff.is_some()
        || inputs.rebalance_requested.is_some()
}

/// Find a swarm by name in a namespace: a jobs ConfigMap there labelled
/// `swarmdeck.io/swarm=<name>` (annotations may name the StatefulSet, output
/// ConfigMap and watch label; defaults follow the name), or the seed swarm in
/// its namespace. Reads only that namespace, so a namespaced Role suffices.
pub async fn resolve(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<SwarmRef, Error> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let found = cms
        .list(
            &ListParams::default().labels(&format!("{}={name}", crate::domain::names::SWARM_LABEL)),
        )
        .await
        .map_err(|e| {
            Error::kube(
                format!("ConfigMaps labelled swarmdeck.io/swarm={name} in namespace {namespace}"),
                e,
            )
        })?;
    if let Some(cm) = found.items.into_iter().next() {
        return Ok(swarm_of(name, &cm));
    }
    let seed = SwarmRef::default();
    if name == seed.name && namespace == seed.namespace {
        return Ok(seed);
    }
    let known = discover(client, Some(namespace))
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    Err(Error::UnknownSwarm {
        name: name.to_owned(),
        namespace: namespace.to_owned(),
        known,
    })
}

pub use crate::domain::swarm::swarm_of;

/// Every swarm in `namespace` (all namespaces when None): the seed swarm if
/// its StatefulSet exists, and each jobs ConfigMap labelled
/// `swarmdeck.io/swarm`.
pub async fn discover(
    client: &kube::Client,
    namespace: Option<&str>,
) -> Result<Vec<SwarmRef>, Error> {
    let mut found = Vec::new();
    let seed = SwarmRef::default();
    if namespace.is_none_or(|ns| ns == seed.namespace) {
        let sts: Api<StatefulSet> = Api::namespaced(client.clone(), &seed.namespace);
        let exists = sts
            .get_opt(&seed.name)
            .await
            .map_err(|e| Error::kube(format!("StatefulSet {}/{}", seed.namespace, seed.name), e))?;
        if exists.is_some() {
            found.push(seed);
        }
    }
    let cms: Api<ConfigMap> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let labelled = cms
        .list(&ListParams::default().labels(crate::domain::names::SWARM_LABEL))
        .await
        .map_err(|e| Error::kube("ConfigMaps labelled swarmdeck.io/swarm", e))?;
    for cm in labelled.items {
        let Some(name) = cm
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(crate::domain::names::SWARM_LABEL))
            .cloned()
        else {
            continue;
        };
        // A labelled jobs ConfigMap describes its swarm, the seed one too.
        let described = swarm_of(&name, &cm);
        match found.iter_mut().find(|s: &&mut SwarmRef| s.name == name) {
            Some(seed) if seed.namespace == described.namespace => *seed = described,
            Some(_) => {}
            None => found.push(described),
        }
    }
    Ok(found)
}

/// Read replicas, jobs and the current output.
pub async fn read_inputs(client: &kube::Client, swarm: &SwarmRef) -> Result<SwarmInputs, Error> {
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), &swarm.namespace);
    let sts_name = statefulset_of(swarm);
    let set = sts
        .get(&sts_name)
        .await
        .map_err(|e| Error::kube(format!("StatefulSet {}/{sts_name}", swarm.namespace), e))?;
    let replicas = set
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1)
        .max(0) as u32;
    // A number from the cluster is judged before it sizes anything.
    if replicas > assignment::MAX_WORKERS {
        return Err(Error::Invalid {
            swarm: format!("swarm `{}`", swarm.name),
            message: format!(
                "StatefulSet {}/{sts_name} has spec.replicas {replicas}, more than the {} workers swarmdeck plans for; nothing is planned for this swarm until it is scaled to {} or fewer (other swarms are served as usual)",
                swarm.namespace,
                assignment::MAX_WORKERS,
                assignment::MAX_WORKERS
            ),
        });
    }
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &swarm.namespace);
    let jobs_cm = cms.get(&swarm.jobs_config_map).await.map_err(|e| {
        Error::kube(
            format!("ConfigMap {}/{}", swarm.namespace, swarm.jobs_config_map),
            e,
        )
    })?;
    let jobs = parse_jobs(crate::domain::swarm::config_text(&jobs_cm)).map_err(|message| {
        Error::JobsConfig {
            swarm: swarm.name.clone(),
            namespace: swarm.namespace.clone(),
            configmap: swarm.jobs_config_map.clone(),
            message,
        }
    })?;
    let annotation = |key: &str| {
        jobs_cm
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .cloned()
    };
    let now_ms = crate::time::Clock::system().now_ms();
    let mut expired = Vec::new();
    let requested_by =
        |key: &str| annotation(key).map_or_else(|| "someone".to_owned(), |w| format!("`{w}`"));
    let rebalance_requested =
        annotation(REBALANCE_ANNOTATION).filter(|at| match request_age(Some(at), now_ms) {
            Ok(_) => true,
            Err(why) => {
                expired.push(ExpiredRequest {
                    request: Request::Rebalance,
                    said: format!(
                        "the rebalance requested by {} was dropped, not carried out: {why}",
                        requested_by(REBALANCE_BY_ANNOTATION)
                    ),
                });
                false
            }
        });
    let dedicated = crate::domain::swarm::dedicated(&jobs_cm)
        .into_iter()
        .collect();
    let (mode, mode_error) =
        match HandoffMode::parse(annotation(handoff::MODE_ANNOTATION).as_deref()) {
            Ok(m) => (m, None),
            Err(e) => (HandoffMode::Strict, Some(e)),
        };
    let scale_to = match annotation(SCALE_ANNOTATION) {
        None => None,
        Some(v) => match v.trim().parse::<u32>() {
            Ok(n) if n > 0 && n <= assignment::MAX_WORKERS => Some(n),
            _ => {
                return Err(Error::Invalid {
                    swarm: format!("swarm `{}`", swarm.name),
                    message: format!(
                        "annotation {SCALE_ANNOTATION} on ConfigMap {}/{} is `{v}`, not a worker count from 1 to {}; remove it or run `swarmdeck scale {} N`",
                        swarm.namespace,
                        swarm.jobs_config_map,
                        assignment::MAX_WORKERS,
                        swarm.name
                    ),
                });
            }
        },
    };
    let scale_to = scale_to.filter(|n| {
        match request_age(annotation(SCALE_AT_ANNOTATION).as_deref(), now_ms) {
            Ok(_) => true,
            Err(why) => {
                expired.push(ExpiredRequest {
                    request: Request::Scale(*n),
                    said: format!(
                        "the scale to {n} workers requested by {} was dropped, not carried out: {why}",
                        requested_by(SCALE_BY_ANNOTATION)
                    ),
                });
                false
            }
        }
    });
    let (current, output_version, pending, state) = match cms
        .get_opt(&swarm.output_config_map)
        .await
        .map_err(|e| {
            Error::kube(
                format!("ConfigMap {}/{}", swarm.namespace, swarm.output_config_map),
                e,
            )
        })? {
        Some(cm) => {
            let read = crate::domain::swarm::Assigned::read(&cm).map_err(|message| Error::Invalid { swarm: format!("swarm `{}`", swarm.name),
                message: format!("the output ConfigMap {} does not parse ({message}); fix or delete it before the engine writes it again", swarm.output_config_map),
            })?;
            if let Some(e) = &read.handoff_error {
                tracing::warn!("swarm {}: {e}", swarm.name);
            }
            (
                read.config,
                cm.metadata.resource_version.clone(),
                read.pending,
                read.handoff,
            )
        }
        None => (
            WorkerConfig::default(),
            None,
            PendingRefresh::default(),
            None,
        ),
    };
    Ok(SwarmInputs {
        replicas,
        jobs,
        current,
        output_version,
        pending,
        rebalance_requested,
        dedicated,
        mode,
        mode_error,
        handoff: state,
        scale_to,
        expired,
    })
}

/// Change annotations of the swarm's jobs ConfigMap (null removes one).
pub async fn annotate_jobs(
    client: &kube::Client,
    swarm: &SwarmRef,
    annotations: serde_json::Value,
) -> Result<(), Error> {
    annotate(client, swarm, &swarm.jobs_config_map, annotations).await
}

/// Drop requests too old to carry out (their annotations removed); the
/// caller audits each.
pub async fn drop_expired(
    client: &kube::Client,
    swarm: &SwarmRef,
    expired: &[ExpiredRequest],
) -> Result<(), Error> {
    let mut clear = serde_json::Map::new();
    for e in expired {
        if let serde_json::Value::Object(m) = request_cleared(e.request) {
            clear.extend(m);
        }
    }
    annotate(
        client,
        swarm,
        &swarm.jobs_config_map,
        serde_json::Value::Object(clear),
    )
    .await
}

/// The swarm's worker pods (label `app=<watch label>`).
async fn worker_pods(client: &kube::Client, swarm: &SwarmRef) -> Result<Vec<Pod>, Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &swarm.namespace);
    pods.list(&ListParams::default().labels(&format!("app={}", swarm.watch_label)))
        .await
        .map(|l| l.items)
        .map_err(|e| {
            Error::kube(
                format!("Pods app={} in {}", swarm.watch_label, swarm.namespace),
                e,
            )
        })
}

/// The UIDs of the swarm's worker pods now, by worker name.
async fn worker_uids(
    client: &kube::Client,
    swarm: &SwarmRef,
) -> Result<std::collections::BTreeMap<String, String>, Error> {
    Ok(worker_pods(client, swarm)
        .await?
        .into_iter()
        .filter_map(|p| Some((p.metadata.name?, p.metadata.uid?)))
        .collect())
}

/// Write a plan's config in one write (no handoff record), every changed
/// worker to refresh. `Ok(false)`: someone else changed the ConfigMap since
/// we read it; re-read and re-plan.
pub async fn write_plan(
    client: &kube::Client,
    swarm: &SwarmRef,
    plan: &Plan,
    version: Option<&str>,
    dry_run: bool,
) -> Result<bool, Error> {
    write_step(client, swarm, plan, None, u32::MAX, version, dry_run).await
}

/// Write one step of a handoff with a precondition, recording with it the
/// workers that must confirm it — each with the pod it ran at the write — and
/// the handoff's phase. Workers that must confirm: those whose list changed
/// and that run or will run (ordinal below `replicas`, or a pod now), and
/// leaving workers that still have a pod. `Ok(false)`: someone else changed
/// the ConfigMap since we read it; re-read and re-plan.
pub async fn write_step(
    client: &kube::Client,
    swarm: &SwarmRef,
    plan: &Plan,
    state: Option<&HandoffState>,
    replicas: u32,
    version: Option<&str>,
    dry_run: bool,
) -> Result<bool, Error> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &swarm.namespace);
    let sts = statefulset_of(swarm);
    let before = worker_uids(client, swarm).await?;
    let changed = plan.changed.iter().map(|c| (c.ordinal, false));
    let leaving = plan.removed_workers.iter().map(|o| (*o, true));
    let mut pending = PendingRefresh(
        changed
            .chain(leaving)
            .map(|(o, leaving)| (worker_name(&sts, o), o, leaving))
            .filter(|(w, o, leaving)| before.contains_key(w) || (!leaving && *o < replicas))
            .map(|(w, _, _)| {
                let uid = before.get(&w).cloned();
                (w, uid)
            })
            .collect(),
    );
    let mut annotations = serde_json::Map::new();
    if !pending.is_empty() {
        annotations.insert(PENDING_ANNOTATION.into(), pending.to_annotation().into());
    }
    if let Some(state) = state {
        annotations.insert(
            handoff::STATE_ANNOTATION.into(),
            state.to_annotation().into(),
        );
    }
    let mut cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": swarm.output_config_map, "namespace": swarm.namespace,
            "labels": {"app.kubernetes.io/managed-by": "swarmdeck"},
            "annotations": annotations},
        "data": {CONFIG_KEY: plan.config.to_yaml()},
    }))
    .map_err(|e| Error::Invalid {
        swarm: format!("swarm `{}`", swarm.name),
        message: e.to_string(),
    })?;
    let pp = PostParams {
        dry_run,
        field_manager: Some("swarmdeck".into()),
    };
    let object = format!("ConfigMap {}/{}", swarm.namespace, swarm.output_config_map);
    let result = match version {
        Some(v) => {
            cm.metadata.resource_version = Some(v.to_owned());
            cms.replace(&swarm.output_config_map, &pp, &cm).await
        }
        None => cms.create(&pp, &cm).await,
    };
    match result {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => return Ok(false),
        Err(e) => return Err(Error::kube(object, e)),
    }
    if dry_run {
        return Ok(true);
    }
    // A pod created between the list above and the write may have read the
    // old assignment: record it too, so that it is replaced (one restart too
    // many at worst, never a worker left on stale jobs).
    let after = worker_uids(client, swarm).await?;
    let mut raced = false;
    for (worker, uid) in pending.0.iter_mut() {
        if uid.is_none()
            && let Some(now) = after.get(worker)
        {
            *uid = Some(now.clone());
            raced = true;
        }
    }
    if raced {
        annotate(
            client,
            swarm,
            &swarm.output_config_map,
            serde_json::json!({PENDING_ANNOTATION: pending.to_annotation()}),
        )
        .await?;
    }
    Ok(true)
}

/// Merge `annotations` (a null removes one) into ConfigMap `name` of the
/// swarm's namespace, as field manager `swarmdeck`; an error names it.
async fn annotate(
    client: &kube::Client,
    swarm: &SwarmRef,
    name: &str,
    annotations: serde_json::Value,
) -> Result<(), Error> {
    Api::<ConfigMap>::namespaced(client.clone(), &swarm.namespace)
        .patch(
            name,
            &kube::api::PatchParams {
                field_manager: Some("swarmdeck".into()),
                ..Default::default()
            },
            &kube::api::Patch::Merge(serde_json::json!({"metadata": {"annotations": annotations}})),
        )
        .await
        .map(|_| ())
        .map_err(|e| Error::kube(format!("ConfigMap {}/{name}", swarm.namespace), e))
}

/// The refresh of the last write is confirmed: drop the pending mark, and the
/// handoff record unless a grant still follows a release.
async fn finish_phase(
    client: &kube::Client,
    swarm: &SwarmRef,
    state: Option<&HandoffState>,
) -> Result<(), Error> {
    let keep = state.is_some_and(|s| s.phase == Phase::Release);
    let mut clear = serde_json::json!({PENDING_ANNOTATION: null});
    if !keep {
        clear[handoff::STATE_ANNOTATION] = serde_json::Value::Null;
    }
    annotate(client, swarm, &swarm.output_config_map, clear).await
}

/// Ask swarmdeck for `replicas` workers: the annotation on the jobs
/// ConfigMap that the engine carries out (granting new workers their
/// streams before the StatefulSet starts them).
pub async fn request_scale(
    client: &kube::Client,
    swarm: &SwarmRef,
    replicas: u32,
    who: &str,
) -> Result<(), Error> {
    annotate(
        client,
        swarm,
        &swarm.jobs_config_map,
        request_annotations(Request::Scale(replicas), who),
    )
    .await
}

/// Ask the engine that leads for a rebalance of `swarm`.
pub async fn request_rebalance(
    client: &kube::Client,
    swarm: &SwarmRef,
    who: &str,
) -> Result<(), Error> {
    annotate(
        client,
        swarm,
        &swarm.jobs_config_map,
        request_annotations(Request::Rebalance, who),
    )
    .await
}

/// Carry out a requested scale: set the StatefulSet's scale subresource and
/// remove the request.
async fn carry_out_scale(
    client: &kube::Client,
    swarm: &SwarmRef,
    replicas: u32,
    current: u32,
) -> Result<(), Error> {
    let sts = statefulset_of(swarm);
    if replicas != current {
        Api::<StatefulSet>::namespaced(client.clone(), &swarm.namespace)
            .patch_scale(
                &sts,
                &kube::api::PatchParams {
                    field_manager: Some("swarmdeck".into()),
                    ..Default::default()
                },
                &kube::api::Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}})),
            )
            .await
            .map_err(|e| Error::kube(format!("StatefulSet {}/{sts}", swarm.namespace), e))?;
    }
    annotate(
        client,
        swarm,
        &swarm.jobs_config_map,
        request_cleared(Request::Scale(replicas)),
    )
    .await
}

/// The writes the engine would make for `inputs`, as it would make them now
/// (leaving workers whose pods are gone are not waited for).
pub async fn preview(
    client: &kube::Client,
    swarm: &SwarmRef,
    inputs: &SwarmInputs,
    policy: &Policy,
) -> Result<Vec<(Step, Plan)>, Error> {
    let pods = worker_uids(client, swarm).await?;
    let gone = gone_workers(swarm, &inputs.current, inputs.wanted_replicas(), &pods);
    handoff_phases(swarm, inputs, policy, &gone)
}

/// Ordinals beyond `replicas` listed in `current` whose pod is gone.
fn gone_workers(
    swarm: &SwarmRef,
    current: &WorkerConfig,
    replicas: u32,
    pods: &std::collections::BTreeMap<String, String>,
) -> BTreeSet<u32> {
    let sts = statefulset_of(swarm);
    current
        .workloads
        .keys()
        .filter_map(|w| ordinal_of(w).filter(|_| !pods.contains_key(w)))
        .filter(|o| *o >= replicas)
        .filter(|o| current.workloads.contains_key(&worker_name(&sts, *o)))
        .collect()
}

/// Progress as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Progress {
    /// A write is planned: a release, a grant, or (fast) the whole change.
    Planned {
        moves: usize,
        changed: Vec<String>,
        phase: Phase,
        streams: usize,
    },
    Replanned {
        attempt: u32,
    },
    Written {
        version: u64,
        phase: Phase,
    },
    Refreshing {
        worker: String,
    },
    Refreshed {
        worker: String,
    },
    /// The StatefulSet was set to the requested count.
    Scaled {
        replicas: u32,
    },
}

/// The final verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Verdict {
    Converged {
        version: u64,
        /// Workers restarted or reloaded (each once per write it confirmed).
        refreshed: Vec<String>,
        /// New workers that started with their streams (no restart).
        started: Vec<String>,
    },
    Unchanged,
    DryRun,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Converged {
                version,
                refreshed,
                started,
            } => {
                write!(
                    f,
                    "converged: version {version}, {} workers refreshed",
                    refreshed.len()
                )?;
                if !started.is_empty() {
                    write!(
                        f,
                        ", {} started with their streams ({})",
                        started.len(),
                        started.join(", ")
                    )?;
                }
                Ok(())
            }
            Verdict::Unchanged => f.write_str("nothing to do: the assignment is current"),
            Verdict::DryRun => f.write_str("dry run: nothing was changed"),
        }
    }
}

/// Options of a reconcile.
#[derive(Debug, Clone)]
pub struct ReconcileOptions {
    pub dry_run: bool,
    pub max_unavailable: usize,
    pub worker_timeout: Duration,
    pub poll: Duration,
    pub policy: Policy,
    /// While this engine leads; checked before each write and refresh batch
    /// so that an engine that lost its lease stops acting.
    pub leading: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Default for ReconcileOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            max_unavailable: 1,
            worker_timeout: Duration::from_secs(120),
            poll: Duration::from_millis(200),
            policy: Policy::default(),
            leading: None,
        }
    }
}

fn check_leading(swarm: &SwarmRef, opts: &ReconcileOptions) -> Result<(), Error> {
    if opts
        .leading
        .as_ref()
        .is_some_and(|l| !l.load(std::sync::atomic::Ordering::SeqCst))
    {
        return Err(Error::Superseded {
            swarm: swarm.name.clone(),
            namespace: swarm.namespace.clone(),
        });
    }
    Ok(())
}

/// Plan, write and refresh until the swarm converged (or why not). Each
/// round reads what the cluster holds and takes one step: finish the refresh
/// the last write asked for (ours or another engine's), else make the next
/// write of the handoff (release, then grant), else carry out a requested
/// scale. So an engine that takes over mid-handoff finishes it, and a change
/// of jobs or workers meanwhile re-plans from what is written.
pub async fn reconcile(
    client: &kube::Client,
    swarm: &SwarmRef,
    opts: &ReconcileOptions,
    mut progress: impl FnMut(&Plan, Progress),
) -> Result<Verdict, Error> {
    const CONFLICTS: u32 = 5;
    // A strict handoff takes two writes; more than this means the inputs
    // keep changing under us.
    const WRITES: u32 = 8;
    let sts = statefulset_of(swarm);
    let (mut conflicts, mut writes) = (0, 0);
    let mut refreshed = Vec::new();
    let mut started = Vec::new();
    let mut acted = false;
    loop {
        let inputs = read_inputs(client, swarm).await?;
        if !inputs.pending.is_empty() && !opts.dry_run {
            check_leading(swarm, opts)?;
            let streams = inputs
                .handoff
                .as_ref()
                .filter(|s| s.phase == Phase::Release)
                .map(|s| s.streams.clone())
                .unwrap_or_default();
            let targets: Vec<Target> = inputs
                .pending
                .workers()
                .into_iter()
                .map(|w| {
                    let held = streams.iter().filter(|s| s.from.contains(&w)).count();
                    // A worker the StatefulSet no longer wants confirms by
                    // going away, whatever was written for it.
                    let leaving = ordinal_of(&w).is_some_and(|o| o >= inputs.wanted_replicas());
                    match inputs.current.workloads.get(&w).filter(|_| !leaving) {
                        Some(e) => Target::Refresh {
                            worker: w,
                            version: e.version,
                            releases: held,
                        },
                        None => Target::Leave {
                            worker: w,
                            releases: held,
                        },
                    }
                })
                .collect();
            let plan = assignment::plan(&inputs.current, &inputs.current.to_assignment(&sts), &sts);
            refreshed.extend(
                refresh(
                    client,
                    swarm,
                    &plan,
                    &targets,
                    &inputs.pending,
                    opts,
                    &mut progress,
                )
                .await?,
            );
            finish_phase(client, swarm, inputs.handoff.as_ref()).await?;
            acted = true;
            continue;
        }
        let target = target(swarm, &inputs, &opts.policy)?;
        let pods = worker_uids(client, swarm).await?;
        let gone = gone_workers(swarm, &inputs.current, inputs.wanted_replicas(), &pods);
        let Some(step) = handoff::next_step(&inputs.current, &target, &sts, inputs.mode, &gone)
            .map(|s| s.with_origins(inputs.handoff.as_ref()))
        else {
            if opts.dry_run {
                return Ok(if inputs.scale_to.is_some() {
                    Verdict::DryRun
                } else {
                    Verdict::Unchanged
                });
            }
            if inputs.handoff.is_some() {
                finish_phase(client, swarm, None).await?;
            }
            if let Some(n) = inputs.scale_to {
                check_leading(swarm, opts)?;
                carry_out_scale(client, swarm, n, inputs.replicas).await?;
                let plan = assignment::plan(&inputs.current, &target, &sts);
                progress(&plan, Progress::Scaled { replicas: n });
                // The new workers start with their streams: wait until they
                // run (nothing to restart).
                let new: Vec<Target> = (inputs.replicas..n)
                    .map(|o| worker_name(&sts, o))
                    .map(|w| Target::Refresh {
                        version: inputs.current.workloads.get(&w).map_or(0, |e| e.version),
                        worker: w,
                        releases: 0,
                    })
                    .collect();
                started = refresh(
                    client,
                    swarm,
                    &plan,
                    &new,
                    &inputs.pending,
                    opts,
                    &mut progress,
                )
                .await?;
                acted = true;
            }
            return Ok(if acted {
                Verdict::Converged {
                    version: inputs.current.version,
                    refreshed,
                    started,
                }
            } else {
                Verdict::Unchanged
            });
        };
        let plan = handoff::step_plan(&inputs.current, &step, &sts);
        progress(
            &plan,
            Progress::Planned {
                moves: plan.relocated(),
                changed: plan
                    .changed
                    .iter()
                    .map(|c| worker_name(&sts, c.ordinal))
                    .collect(),
                phase: step.phase,
                streams: step.streams.len(),
            },
        );
        let state = (inputs.mode == HandoffMode::Strict).then(|| HandoffState {
            phase: step.phase,
            since: crate::time::rfc3339(crate::time::Clock::system().now_ms()),
            streams: step.streams.clone(),
        });
        let replicas = inputs.replicas;
        if opts.dry_run {
            // The server checks the first write (dryRun=All) unless the
            // client is read-only, which sends no write at all: then the plan
            // stands alone.
            match write_step(
                client,
                swarm,
                &plan,
                state.as_ref(),
                replicas,
                inputs.output_version.as_deref(),
                true,
            )
            .await
            {
                Err(Error::Kube { source, .. }) if crate::cluster::gate::is_refusal(&source) => {}
                other => {
                    other?;
                }
            }
            return Ok(Verdict::DryRun);
        }
        check_leading(swarm, opts)?;
        writes += 1;
        if writes > WRITES {
            return Err(Error::Contended {
                swarm: swarm.name.clone(),
                attempts: WRITES,
            });
        }
        if !write_step(
            client,
            swarm,
            &plan,
            state.as_ref(),
            replicas,
            inputs.output_version.as_deref(),
            false,
        )
        .await?
        {
            conflicts += 1;
            progress(&plan, Progress::Replanned { attempt: conflicts });
            if conflicts >= CONFLICTS {
                return Err(Error::Contended {
                    swarm: swarm.name.clone(),
                    attempts: CONFLICTS,
                });
            }
            continue;
        }
        acted = true;
        progress(
            &plan,
            Progress::Written {
                version: plan.global_version,
                phase: step.phase,
            },
        );
    }
}

pub fn pod_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// What the convergence rule needs of a worker's pod.
pub fn worker_pod(p: &Pod) -> WorkerPod<'_> {
    WorkerPod {
        uid: p.metadata.uid.as_deref(),
        ready: pod_ready(p),
        reported: p
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(crate::domain::names::CONFIG_VERSION_ANNOTATION))
            .and_then(|v| v.parse::<u64>().ok()),
    }
}

/// A worker a write asked to confirm it.
#[derive(Debug, Clone)]
enum Target {
    /// Run the job set of `version` (restart, or hot-reload and report).
    Refresh {
        worker: String,
        version: u64,
        /// Streams it releases with this write.
        releases: usize,
    },
    /// Leave: its pod must be gone (a scale-down), or replaced if the
    /// StatefulSet wants it back.
    Leave { worker: String, releases: usize },
}

impl Target {
    fn worker(&self) -> &str {
        match self {
            Target::Refresh { worker, .. } | Target::Leave { worker, .. } => worker,
        }
    }
}

/// What a worker that has not confirmed is waiting for, in the operator's words.
fn waiting_for(
    pod: Option<&Pod>,
    target: &Target,
    pending: &PendingRefresh,
    refresh: RefreshPolicy,
) -> String {
    let Some(p) = pod else {
        return "its pod does not exist".into();
    };
    if p.metadata.deletion_timestamp.is_some() {
        return "its pod is still terminating".into();
    }
    let facts = worker_pod(p);
    match target {
        Target::Leave { .. } => "its pod is still running".into(),
        Target::Refresh {
            worker, version, ..
        } => {
            if !facts.ready {
                return "its pod is not ready".into();
            }
            match facts.reported {
                Some(r) => format!("it reports swarmdeck.io/config-version {r}, not {version}"),
                None if refresh == RefreshPolicy::HotReload => {
                    format!("it has not reported swarmdeck.io/config-version {version}")
                }
                None if facts.uid.is_some() && facts.uid == pending.replaced_uid(worker) => {
                    "its pod is still the one that ran at the write".into()
                }
                None => "its pod has not confirmed".into(),
            }
        }
    }
}

/// Confirm `targets`, `max_unavailable` at a time: a restart-pod worker
/// still running the pod recorded at the write is deleted, then each is
/// awaited until the convergence rule holds; a leaving worker until its pod
/// is gone. A worker already replaced (by an engine that stopped half-way,
/// or because its pod started after the write) is not restarted again.
async fn refresh(
    client: &kube::Client,
    swarm: &SwarmRef,
    plan: &Plan,
    targets: &[Target],
    pending: &PendingRefresh,
    opts: &ReconcileOptions,
    progress: &mut impl FnMut(&Plan, Progress),
) -> Result<Vec<String>, Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &swarm.namespace);
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &swarm.namespace);
    let replicas_now = async || {
        sets.get(&statefulset_of(swarm))
            .await
            .ok()
            .and_then(|s| s.spec.and_then(|sp| sp.replicas))
            .map(|r| r.max(0) as u32)
    };
    let mut refreshed = Vec::new();
    for batch in targets.chunks(opts.max_unavailable.max(1)) {
        check_leading(swarm, opts)?;
        for target in batch {
            let worker = target.worker();
            progress(
                plan,
                Progress::Refreshing {
                    worker: worker.to_owned(),
                },
            );
            let uid = pods
                .get_opt(worker)
                .await
                .map_err(|e| Error::kube(format!("Pod {}/{worker}", swarm.namespace), e))?
                .and_then(|p| p.metadata.uid);
            let stale = uid.is_some() && uid.as_deref() == pending.replaced_uid(worker);
            // A leaving worker the StatefulSet wants back must drop what it
            // released: restart it whatever the refresh policy.
            let wanted_back = matches!(target, Target::Leave { .. })
                && ordinal_of(worker)
                    .zip(replicas_now().await)
                    .is_some_and(|(o, n)| o < n);
            let restart = match target {
                Target::Refresh { .. } => swarm.refresh == RefreshPolicy::RestartPod,
                Target::Leave { .. } => wanted_back,
            };
            if restart && stale {
                // Only the pod read above: one replaced meanwhile is refreshed already.
                let only_that = DeleteParams {
                    preconditions: Some(kube::api::Preconditions {
                        uid: uid.clone(),
                        resource_version: None,
                    }),
                    ..Default::default()
                };
                match pods.delete(worker, &only_that).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                    Err(e) => {
                        return Err(Error::kube(format!("Pod {}/{worker}", swarm.namespace), e));
                    }
                }
            }
        }
        for target in batch {
            let worker = target.worker();
            let deadline = tokio::time::Instant::now() + opts.worker_timeout;
            loop {
                let pod = pods
                    .get_opt(worker)
                    .await
                    .map_err(|e| Error::kube(format!("Pod {}/{worker}", swarm.namespace), e))?;
                let done = match target {
                    Target::Refresh { version, .. } => worker_converged(
                        worker,
                        pod.as_ref().map(worker_pod),
                        *version,
                        pending,
                        swarm.refresh,
                    ),
                    // Gone, or replaced by a pod that read the release.
                    Target::Leave { .. } => pod.as_ref().is_none_or(|p| {
                        p.metadata.uid.is_some()
                            && p.metadata.uid.as_deref() != pending.replaced_uid(worker)
                    }),
                };
                if done {
                    break;
                }
                // A worker the StatefulSet no longer wants will not come back:
                // stop here and let the next round plan for the new count.
                if let Target::Refresh { .. } = target
                    && let Some(replicas) = replicas_now().await
                    && ordinal_of(worker).is_some_and(|o| o >= replicas)
                {
                    return Err(Error::Rescaled {
                        swarm: swarm.name.clone(),
                        worker: worker.to_owned(),
                        replicas,
                    });
                }
                if tokio::time::Instant::now() >= deadline {
                    let waiting = waiting_for(pod.as_ref(), target, pending, swarm.refresh);
                    let (Target::Refresh { releases, .. } | Target::Leave { releases, .. }) =
                        target;
                    return Err(if *releases > 0 {
                        Error::ReleaseTimeout {
                            swarm: swarm.name.clone(),
                            worker: worker.to_owned(),
                            streams: *releases,
                            seconds: opts.worker_timeout.as_secs(),
                            waiting,
                        }
                    } else {
                        Error::Timeout {
                            swarm: swarm.name.clone(),
                            worker: worker.to_owned(),
                            seconds: opts.worker_timeout.as_secs(),
                            waiting,
                        }
                    });
                }
                tokio::time::sleep(opts.poll).await;
            }
            progress(
                plan,
                Progress::Refreshed {
                    worker: worker.to_owned(),
                },
            );
            refreshed.push(worker.to_owned());
        }
    }
    Ok(refreshed)
}

fn ordinal_of(worker: &str) -> Option<u32> {
    worker.rsplit('-').next()?.parse().ok()
}

/// One row of the assignment grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GridRow {
    pub worker: String,
    pub pod: String,
    pub jobs: Vec<String>,
    pub version: u64,
    pub reported: Option<u64>,
    pub converged: bool,
}

/// The assignment as the cluster holds it, with each worker's convergence.
pub async fn grid(
    client: &kube::Client,
    swarm: &SwarmRef,
) -> Result<(WorkerConfig, Vec<GridRow>), Error> {
    let (inputs, rows) = grid_with_inputs(client, swarm).await?;
    Ok((inputs.current, rows))
}

/// The grid and what it was derived from (handoff state, scale request).
pub async fn grid_with_inputs(
    client: &kube::Client,
    swarm: &SwarmRef,
) -> Result<(SwarmInputs, Vec<GridRow>), Error> {
    let inputs = read_inputs(client, swarm).await?;
    let pods = worker_pods(client, swarm).await?;
    let sts = statefulset_of(swarm);
    let mut rows = Vec::new();
    for ordinal in 0..inputs.replicas {
        let worker = worker_name(&sts, ordinal);
        let pod = pods
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(worker.as_str()));
        let state = pod.map_or_else(
            || "missing".to_owned(),
            |p| crate::domain::workload::pod_state(p).to_string(),
        );
        let w = crate::domain::swarm::worker_state(
            &worker,
            &inputs.current,
            &inputs.pending,
            swarm.refresh,
            pod.map(worker_pod),
        );
        rows.push(GridRow {
            worker,
            pod: state,
            jobs: w.jobs,
            version: w.version,
            reported: w.reported,
            converged: w.converged,
        });
    }
    Ok((inputs, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_a_pure_function_of_the_inputs() {
        let swarm = SwarmRef::default();
        let jobs: Vec<String> = (0..30).map(|i| format!("stream:{i}")).collect();
        let inputs =
            SwarmInputs::offline(2, jobs.clone(), WorkerConfig::default(), Default::default());
        let first = desired_state(&swarm, &inputs, &Policy::default()).unwrap();
        assert_eq!(first.changed.len(), 2);
        let applied = SwarmInputs {
            current: first.config.clone(),
            ..inputs.clone()
        };
        let again = desired_state(&swarm, &applied, &Policy::default()).unwrap();
        assert!(is_noop(&again, &applied.current));
        let bigger = SwarmInputs {
            replicas: 3,
            ..applied
        };
        let up = desired_state(&swarm, &bigger, &Policy::default()).unwrap();
        assert!(up.changed.iter().any(|c| c.ordinal == 2));
        assert_eq!(up.global_version, first.global_version + 1);
        let none = SwarmInputs {
            replicas: 0,
            ..inputs
        };
        assert!(
            desired_state(&swarm, &none, &Policy::default())
                .unwrap_err()
                .to_string()
                .contains("at least one worker")
        );
    }
}
