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
use crate::domain::assignment::{self, Plan, Policy, WorkerConfig, parse_jobs, worker_name};
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
}

/// Annotation on the output ConfigMap: workers still to refresh.
pub const PENDING_ANNOTATION: &str = "swarmdeck.io/pending-refresh";
/// Annotation on the jobs ConfigMap: streams that get a worker of their own
/// (comma-separated).
pub const DEDICATED_ANNOTATION: &str = "swarmdeck.io/dedicated";
/// Annotation on the jobs ConfigMap: a rebalance was asked for.
pub const REBALANCE_ANNOTATION: &str = "swarmdeck.io/rebalance-requested";

/// The plan for a swarm, or that nothing needs to change.
pub fn desired_state(
    swarm: &SwarmRef,
    inputs: &SwarmInputs,
    policy: &Policy,
) -> Result<Plan, Error> {
    let mut policy = policy.clone();
    policy.dedicated.extend(inputs.dedicated.iter().cloned());
    // From the assignment the cluster holds: a job moves only when balance
    // requires it, and then only the fewest move.
    let assignment = assignment::assign_from(
        &inputs.current,
        &statefulset_of(swarm),
        &inputs.jobs,
        inputs.replicas,
        &policy,
    )
    .map_err(|e| Error::Invalid {
        swarm: format!("swarm `{}`", swarm.name),
        message: e.to_string(),
    })?;
    Ok(assignment::plan(
        &inputs.current,
        &assignment,
        &statefulset_of(swarm),
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
        .list(&ListParams::default().labels(&format!("swarmdeck.io/swarm={name}")))
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

/// The swarm a labelled jobs ConfigMap describes (annotations may name the
/// StatefulSet's watch label, the output ConfigMap and the refresh policy).
pub fn swarm_of(name: &str, cm: &ConfigMap) -> SwarmRef {
    let ann = cm.metadata.annotations.clone().unwrap_or_default();
    SwarmRef {
        name: name.to_owned(),
        namespace: cm
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        watch_label: ann
            .get("swarmdeck.io/watch-label")
            .cloned()
            .unwrap_or_else(|| name.to_owned()),
        jobs_config_map: cm.metadata.name.clone().unwrap_or_default(),
        output_config_map: ann
            .get("swarmdeck.io/output-configmap")
            .cloned()
            .unwrap_or_else(|| format!("{name}-worker-config")),
        refresh: match ann.get("swarmdeck.io/refresh").map(String::as_str) {
            Some("hot-reload") => RefreshPolicy::HotReload,
            _ => RefreshPolicy::RestartPod,
        },
    }
}

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
        .list(&ListParams::default().labels("swarmdeck.io/swarm"))
        .await
        .map_err(|e| Error::kube("ConfigMaps labelled swarmdeck.io/swarm", e))?;
    for cm in labelled.items {
        let Some(name) = cm
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("swarmdeck.io/swarm"))
            .cloned()
        else {
            continue;
        };
        if !found.iter().any(|s: &SwarmRef| s.name == name) {
            found.push(swarm_of(&name, &cm));
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
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &swarm.namespace);
    let jobs_cm = cms.get(&swarm.jobs_config_map).await.map_err(|e| {
        Error::kube(
            format!("ConfigMap {}/{}", swarm.namespace, swarm.jobs_config_map),
            e,
        )
    })?;
    let text = jobs_cm
        .data
        .as_ref()
        .and_then(|d| d.get(CONFIG_KEY))
        .cloned()
        .unwrap_or_default();
    let jobs = parse_jobs(&text).map_err(|message| Error::JobsConfig {
        swarm: swarm.name.clone(),
        namespace: swarm.namespace.clone(),
        configmap: swarm.jobs_config_map.clone(),
        message,
    })?;
    let rebalance_requested = jobs_cm
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REBALANCE_ANNOTATION))
        .cloned();
    let dedicated = jobs_cm
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEDICATED_ANNOTATION))
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|j| !j.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let (current, output_version, pending) = match cms
        .get_opt(&swarm.output_config_map)
        .await
        .map_err(|e| {
            Error::kube(
                format!("ConfigMap {}/{}", swarm.namespace, swarm.output_config_map),
                e,
            )
        })? {
        Some(cm) => {
            let text = cm
                .data
                .as_ref()
                .and_then(|d| d.get(CONFIG_KEY))
                .cloned()
                .unwrap_or_default();
            let cfg = WorkerConfig::parse(&text).map_err(|message| Error::Invalid { swarm: format!("swarm `{}`", swarm.name),
                message: format!("the output ConfigMap {} does not parse ({message}); fix or delete it before the engine writes it again", swarm.output_config_map),
            })?;
            let pending = cm
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(PENDING_ANNOTATION))
                .map(|v| PendingRefresh::parse(v))
                .unwrap_or_default();
            (cfg, cm.metadata.resource_version.clone(), pending)
        }
        None => (WorkerConfig::default(), None, PendingRefresh::default()),
    };
    Ok(SwarmInputs {
        replicas,
        jobs,
        current,
        output_version,
        pending,
        rebalance_requested,
        dedicated,
    })
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

/// Write the plan's config with a precondition, recording with it which
/// workers must refresh and the pod each ran at the write. `Ok(false)`:
/// someone else changed the ConfigMap since we read it; re-read and re-plan.
pub async fn write_plan(
    client: &kube::Client,
    swarm: &SwarmRef,
    plan: &Plan,
    version: Option<&str>,
    dry_run: bool,
) -> Result<bool, Error> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &swarm.namespace);
    let before = worker_uids(client, swarm).await?;
    let mut pending = PendingRefresh(
        changed_workers(swarm, plan)
            .into_iter()
            .map(|w| {
                let uid = before.get(&w).cloned();
                (w, uid)
            })
            .collect(),
    );
    let mut cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": swarm.output_config_map, "namespace": swarm.namespace,
            "labels": {"app.kubernetes.io/managed-by": "swarmdeck"},
            "annotations": {PENDING_ANNOTATION: pending.to_annotation()}},
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
        cms.patch(
            &swarm.output_config_map,
            &kube::api::PatchParams {
                field_manager: Some("swarmdeck".into()),
                ..Default::default()
            },
            &kube::api::Patch::Merge(serde_json::json!({"metadata": {"annotations": {
                PENDING_ANNOTATION: pending.to_annotation()
            }}})),
        )
        .await
        .map_err(|e| Error::kube(object, e))?;
    }
    Ok(true)
}

fn changed_workers(swarm: &SwarmRef, plan: &Plan) -> Vec<String> {
    plan.changed
        .iter()
        .map(|c| worker_name(&statefulset_of(swarm), c.ordinal))
        .collect()
}

/// Mark the refresh of `plan`'s workers done (only the annotation changes).
async fn clear_pending(client: &kube::Client, swarm: &SwarmRef) -> Result<(), Error> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &swarm.namespace);
    cms.patch(
        &swarm.output_config_map,
        &kube::api::PatchParams {
            field_manager: Some("swarmdeck".into()),
            ..Default::default()
        },
        &kube::api::Patch::Merge(
            serde_json::json!({"metadata": {"annotations": {PENDING_ANNOTATION: null}}}),
        ),
    )
    .await
    .map_err(|e| {
        Error::kube(
            format!("ConfigMap {}/{}", swarm.namespace, swarm.output_config_map),
            e,
        )
    })?;
    Ok(())
}

/// Progress as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Progress {
    Planned { moves: usize, changed: Vec<String> },
    Replanned { attempt: u32 },
    Written { version: u64 },
    Refreshing { worker: String },
    Refreshed { worker: String },
}

/// The final verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Verdict {
    Converged {
        version: u64,
        refreshed: Vec<String>,
    },
    Unchanged,
    DryRun,
}

/// Options of a reconcile.
#[derive(Debug, Clone)]
pub struct ReconcileOptions {
    pub dry_run: bool,
    pub max_unavailable: usize,
    pub worker_timeout: Duration,
    pub poll: Duration,
    pub policy: Policy,
    /// While this engine leads; checked before each refresh batch so that an
    /// engine that lost its lease stops acting.
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

/// Plan, write and refresh until the swarm converged (or why not).
pub async fn reconcile(
    client: &kube::Client,
    swarm: &SwarmRef,
    opts: &ReconcileOptions,
    mut progress: impl FnMut(&Plan, Progress),
) -> Result<Verdict, Error> {
    const ATTEMPTS: u32 = 5;
    for attempt in 1..=ATTEMPTS {
        let inputs = read_inputs(client, swarm).await?;
        let plan = desired_state(swarm, &inputs, &opts.policy)?;
        if is_noop(&plan, &inputs.current) {
            if inputs.pending.is_empty() || opts.dry_run {
                return Ok(Verdict::Unchanged);
            }
            // An engine wrote this assignment and stopped before every
            // changed worker had refreshed: finish its work.
            let targets: Vec<(String, u64)> = inputs
                .pending
                .workers()
                .into_iter()
                .map(|w| {
                    let v = inputs.current.workloads.get(&w).map_or(0, |e| e.version);
                    (w, v)
                })
                .collect();
            let refreshed = refresh(
                client,
                swarm,
                &plan,
                &targets,
                &inputs.pending,
                opts,
                &mut progress,
            )
            .await?;
            clear_pending(client, swarm).await?;
            return Ok(Verdict::Converged {
                version: inputs.current.version,
                refreshed,
            });
        }
        let changed = changed_workers(swarm, &plan);
        progress(
            &plan,
            Progress::Planned {
                moves: plan.relocated(),
                changed: changed.clone(),
            },
        );
        if opts.dry_run {
            // The server checks the write (dryRun=All) unless the client is
            // read-only, which sends no write at all: then the plan stands alone.
            match write_plan(client, swarm, &plan, inputs.output_version.as_deref(), true).await {
                Err(Error::Kube { source, .. }) if crate::cluster::gate::is_refusal(&source) => {}
                other => {
                    other?;
                }
            }
            return Ok(Verdict::DryRun);
        }
        if !write_plan(
            client,
            swarm,
            &plan,
            inputs.output_version.as_deref(),
            false,
        )
        .await?
        {
            progress(&plan, Progress::Replanned { attempt });
            continue;
        }
        progress(
            &plan,
            Progress::Written {
                version: plan.global_version,
            },
        );
        let targets: Vec<(String, u64)> = plan
            .changed
            .iter()
            .map(|c| (worker_name(&statefulset_of(swarm), c.ordinal), c.version))
            .collect();
        // What was recorded with the write: which pod each worker ran then.
        let written = read_inputs(client, swarm).await?.pending;
        let refreshed = refresh(
            client,
            swarm,
            &plan,
            &targets,
            &written,
            opts,
            &mut progress,
        )
        .await?;
        clear_pending(client, swarm).await?;
        return Ok(Verdict::Converged {
            version: plan.global_version,
            refreshed,
        });
    }
    Err(Error::Contended {
        swarm: swarm.name.clone(),
        attempts: ATTEMPTS,
    })
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
            .and_then(|a| a.get("swarmdeck.io/config-version"))
            .and_then(|v| v.parse::<u64>().ok()),
    }
}

/// Refresh `targets` (worker, version), `max_unavailable` at a time: a
/// restart-pod worker still running the pod recorded at the write is deleted,
/// then each is awaited until the convergence rule holds. A worker already
/// replaced (by an engine that stopped half-way, or because its pod started
/// after the write) is not restarted again.
async fn refresh(
    client: &kube::Client,
    swarm: &SwarmRef,
    plan: &Plan,
    targets: &[(String, u64)],
    pending: &PendingRefresh,
    opts: &ReconcileOptions,
    progress: &mut impl FnMut(&Plan, Progress),
) -> Result<Vec<String>, Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &swarm.namespace);
    let mut refreshed = Vec::new();
    for batch in targets.chunks(opts.max_unavailable.max(1)) {
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
        for (worker, _) in batch {
            progress(
                plan,
                Progress::Refreshing {
                    worker: worker.clone(),
                },
            );
            let uid = pods
                .get_opt(worker)
                .await
                .map_err(|e| Error::kube(format!("Pod {}/{worker}", swarm.namespace), e))?
                .and_then(|p| p.metadata.uid);
            let stale = uid.is_some() && uid.as_deref() == pending.replaced_uid(worker);
            if swarm.refresh == RefreshPolicy::RestartPod && stale {
                match pods.delete(worker, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => {
                        return Err(Error::kube(format!("Pod {}/{worker}", swarm.namespace), e));
                    }
                }
            }
        }
        for (worker, version) in batch {
            let deadline = tokio::time::Instant::now() + opts.worker_timeout;
            loop {
                let pod = pods
                    .get_opt(worker)
                    .await
                    .map_err(|e| Error::kube(format!("Pod {}/{worker}", swarm.namespace), e))?;
                let facts = pod.as_ref().map(worker_pod);
                if worker_converged(worker, facts, *version, pending, swarm.refresh) {
                    break;
                }
                // A worker the StatefulSet no longer wants will not come back:
                // stop here and let the next round plan for the new count.
                let replicas = Api::<StatefulSet>::namespaced(client.clone(), &swarm.namespace)
                    .get(&statefulset_of(swarm))
                    .await
                    .ok()
                    .and_then(|s| s.spec.and_then(|sp| sp.replicas))
                    .map(|r| r.max(0) as u32);
                if let Some(replicas) = replicas
                    && ordinal_of(worker).is_some_and(|o| o >= replicas)
                {
                    return Err(Error::Rescaled {
                        swarm: swarm.name.clone(),
                        worker: worker.clone(),
                        replicas,
                    });
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(Error::Timeout {
                        swarm: swarm.name.clone(),
                        worker: worker.clone(),
                        seconds: opts.worker_timeout.as_secs(),
                    });
                }
                tokio::time::sleep(opts.poll).await;
            }
            progress(
                plan,
                Progress::Refreshed {
                    worker: worker.clone(),
                },
            );
            refreshed.push(worker.clone());
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
    let inputs = read_inputs(client, swarm).await?;
    let pods = worker_pods(client, swarm).await?;
    let sts = statefulset_of(swarm);
    let mut rows = Vec::new();
    for ordinal in 0..inputs.replicas {
        let worker = worker_name(&sts, ordinal);
        let entry =
            inputs
                .current
                .workloads
                .get(&worker)
                .cloned()
                .unwrap_or(assignment::WorkerEntry {
                    jobs: Vec::new(),
                    version: 0,
                });
        let pod = pods
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(worker.as_str()));
        let state = pod.map_or_else(
            || "missing".to_owned(),
            |p| crate::domain::workload::pod_state(p).to_string(),
        );
        let facts = pod.map(worker_pod);
        let reported = facts.and_then(|f| f.reported);
        let conv = worker_converged(
            &worker,
            facts,
            entry.version,
            &inputs.pending,
            swarm.refresh,
        );
        rows.push(GridRow {
            worker,
            pod: state,
            jobs: entry.jobs,
            version: entry.version,
            reported,
            converged: conv,
        });
    }
    Ok((inputs.current, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_a_pure_function_of_the_inputs() {
        let swarm = SwarmRef::default();
        let jobs: Vec<String> = (0..30).map(|i| format!("stream:{i}")).collect();
        let inputs = SwarmInputs {
            replicas: 2,
            jobs: jobs.clone(),
            current: WorkerConfig::default(),
            output_version: None,
            pending: PendingRefresh::default(),
            rebalance_requested: None,
            dedicated: Default::default(),
        };
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
