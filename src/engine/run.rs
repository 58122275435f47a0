//! The long-running engine (ARCHITECTURE 5): it holds the Lease `swarmdeck-engine`
//! in each namespace it manages and, while it leads, runs the swarm and Task
//! controllers whenever a StatefulSet, ConfigMap or Task changes (and on a
//! resync tick). An engine that does not lead is an observer: it computes the
//! same plans and reports drift, and never writes. The console runs one; so
//! does `swarmdeck operator`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::watcher;
use serde::Serialize;
use serde_json::json;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::Error;
use super::audit::{Auditor, Subject};
use super::lease::{self, Elector, Fences, LeaseConfig, Role};
use super::swarm::{self, Progress, ReconcileOptions, Verdict};
use super::task::TARGET_ANNOTATION;
use crate::domain::assignment::worker_name;
use crate::domain::swarm::{Swarm, SwarmRef};
use crate::domain::task::{OccState, Task, plan_path};
use crate::time::Clock;

pub use crate::domain::names::{RECOVER_ANNOTATION, REQUESTED_AT_ANNOTATION};

/// What an engine manages and how.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub namespaces: Vec<String>,
    pub identity: String,
    /// How long a lease lasts without renewal (in the clock's time).
    pub lease_duration: Duration,
    /// How often (real time) the lease is renewed or contested.
    pub renew_every: Duration,
    /// How long a renewal may take, and how long after a renewal was sent
    /// this engine still writes: shorter than the lease, so that a renewal
    /// that hangs stops the writes before another engine may take over.
    pub renew_deadline: Duration,
    /// Longest pause between two controller rounds without any change, while
    /// something is to be done (a step that may time out).
    pub resync: Duration,
    /// The same when nothing is to be done anywhere: watches wake the engine
    /// on every change, so an idle engine need not poll.
    pub idle_resync: Duration,
    /// The clock lease times are written in: the system clock, or the
    /// embedded cluster's.
    pub clock: Clock,
    pub reconcile: ReconcileOptions,
    /// How long a Task may take for one step before the engine gives up.
    pub task_step_timeout: Duration,
    /// Read-only: never contend for the lease, never write; plans only.
    pub plan_only: bool,
    /// Take a namespace's lease only while there is something to do there
    /// (an intent to carry out, a refresh pending), and give it back after:
    /// a console that only looks writes nothing. `operator` leads always.
    pub lease_on_demand: bool,
}

impl EngineConfig {
    pub fn new(namespaces: Vec<String>, identity: String) -> Self {
        Self {
            namespaces,
            identity,
            lease_duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
            renew_deadline: Duration::from_secs(10),
            resync: Duration::from_secs(5),
            idle_resync: Duration::from_secs(5),
            clock: Clock::system(),
            reconcile: ReconcileOptions::default(),
            task_step_timeout: Duration::from_secs(60),
            plan_only: false,
            lease_on_demand: false,
        }
    }
}

/// This engine's role in one namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EngineRole {
    #[default]
    Starting,
    Leader,
    Observer,
    PlanOnly,
    /// Leases on demand, nothing to do: holds no lease, writes nothing.
    Standby,
}

impl std::fmt::Display for EngineRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EngineRole::Starting => "starting",
            EngineRole::Leader => "leader",
            EngineRole::Observer => "observer",
            EngineRole::PlanOnly => "plan-only",
            EngineRole::Standby => "standby",
        })
    }
}

/// What the engine knows, for the console and `operator`'s log.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EngineStatus {
    pub identity: String,
    pub namespaces: BTreeMap<String, NamespaceStatus>,
    /// Actions this engine has taken (each one audited).
    pub actions: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NamespaceStatus {
    pub role: EngineRole,
    pub leader: Option<String>,
    /// Since when (this engine's clock, ms) the leader has been the one it
    /// sees now: how long the namespace has been led by it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_since_ms: Option<i64>,
    pub swarms: BTreeMap<String, SwarmStatus>,
    pub tasks: BTreeMap<String, TaskStatus>,
    /// The last controller error in this namespace.
    pub error: Option<String>,
    /// Why the lease could not be read or taken (e.g. forbidden by RBAC).
    pub lease_error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SwarmStatus {
    /// Jobs the current plan would move, and workers it would refresh
    /// (drift, for an observer; work in progress, for the leader).
    pub pending_moves: usize,
    pub pending_refresh: Vec<String>,
    /// The worker being refreshed right now.
    pub refreshing: Option<String>,
    /// The last verdict or error, as the operator reads it.
    pub last: Option<String>,
    pub failed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TaskStatus {
    pub target: String,
    pub actual: Option<String>,
    /// The planned path from the actual state to the target.
    pub path: Vec<String>,
    pub last: Option<String>,
    pub failed: bool,
}

/// A step this engine asked a Task to take.
struct InFlight {
    /// The target and when it was asked for.
    request: String,
    to: OccState,
    since: tokio::time::Instant,
    /// Why the engine stopped driving this target (timeout, error).
    stopped: Option<String>,
}

/// The engine. Build it, take `status()` receivers, then `run` it.
pub struct Engine {
    client: kube::Client,
    cfg: EngineConfig,
    auditor: Option<Auditor>,
    status: Arc<watch::Sender<EngineStatus>>,
    leading: BTreeMap<String, Arc<AtomicBool>>,
    /// Per namespace: until when this engine may write (checked by its
    /// client right before each write).
    fences: Fences,
    /// Per namespace: is there something to do (leases on demand)?
    wanted: BTreeMap<String, Arc<AtomicBool>>,
    /// Tells the lease keeper that a namespace now wants its lease, or that
    /// a Lease changed.
    want_lease: Arc<Notify>,
    wake: Arc<Notify>,
    steps: HashMap<(String, String), InFlight>,
    actions: Arc<AtomicU64>,
}

impl Engine {
    pub fn new(client: kube::Client, cfg: EngineConfig, auditor: Option<Auditor>) -> Self {
        let status = EngineStatus {
            identity: cfg.identity.clone(),
            namespaces: cfg
                .namespaces
                .iter()
                .map(|ns| (ns.clone(), NamespaceStatus::default()))
                .collect(),
            actions: 0,
        };
        let leading: BTreeMap<String, Arc<AtomicBool>> = cfg
            .namespaces
            .iter()
            .map(|ns| (ns.clone(), Arc::new(AtomicBool::new(false))))
            .collect();
        let fences = Fences::new(cfg.clock.clone());
        Self {
            client: lease::fenced(client, fences.clone()),
            fences,
            cfg,
            auditor,
            status: Arc::new(watch::channel(status).0),
            wanted: leading
                .keys()
                .map(|ns| (ns.clone(), Arc::new(AtomicBool::new(false))))
                .collect(),
            want_lease: Arc::new(Notify::new()),
            leading,
            wake: Arc::new(Notify::new()),
            steps: HashMap::new(),
            actions: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The engine's status as it changes.
    pub fn status(&self) -> watch::Receiver<EngineStatus> {
        self.status.subscribe()
    }

    /// A handle that wakes the engine for a round now (after writing an intent).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Run until `shutdown` completes; on a clean exit the leases are released.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        // Dropping this future (a crash, an abort) stops the helpers too.
        let mut helpers = AbortOnDrop(self.spawn_watchers());
        helpers.0.push(self.spawn_keeper());
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.round() => {}
            }
            let busy = self.wanted.values().any(|w| w.load(Ordering::SeqCst));
            let resync = if busy {
                self.cfg.resync
            } else {
                self.cfg.idle_resync
            };
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(resync) => {}
            }
        }
        drop(helpers);
        if !self.cfg.plan_only {
            for ns in &self.cfg.namespaces {
                let lease = self.lease_config(ns);
                if let Err(e) = lease::release(&self.client, &lease).await {
                    tracing::warn!("releasing the lease in {ns}: {e}");
                }
            }
        }
    }

    fn lease_config(&self, namespace: &str) -> LeaseConfig {
        LeaseConfig {
            namespace: namespace.to_owned(),
            identity: self.cfg.identity.clone(),
            duration: self.cfg.lease_duration,
        }
    }

    /// Elect (or, plan-only, just read the holder) in every namespace, again
    /// every `renew_every`, and publish the role.
    fn spawn_keeper(&self) -> JoinHandle<()> {
        let client = self.client.clone();
        let cfg = self.cfg.clone();
        let leading = self.leading.clone();
        let fences = self.fences.clone();
        let auditor = self.auditor.clone();
        let wanted = self.wanted.clone();
        let want_lease = self.want_lease.clone();
        let status = self.status.clone();
        let wake = self.wake.clone();
        tokio::spawn(async move {
            let mut electors: BTreeMap<String, Elector> = cfg
                .namespaces
                .iter()
                .map(|ns| {
                    let lc = LeaseConfig {
                        namespace: ns.clone(),
                        identity: cfg.identity.clone(),
                        duration: cfg.lease_duration,
                    };
                    (ns.clone(), Elector::new(lc))
                })
                .collect();
            loop {
                for ns in &cfg.namespaces {
                    let now = cfg.clock.now_ms();
                    let idle = cfg.lease_on_demand && !wanted[ns].load(Ordering::SeqCst);
                    if idle && !cfg.plan_only && leading[ns].swap(false, Ordering::SeqCst) {
                        fences.revoke(ns);
                        // The work is done: give the lease back, write no more.
                        let lc = LeaseConfig {
                            namespace: ns.clone(),
                            identity: cfg.identity.clone(),
                            duration: cfg.lease_duration,
                        };
                        if let Err(e) = lease::release(&client, &lc).await {
                            tracing::warn!("releasing the lease in {ns}: {e}");
                        }
                    }
                    let outcome = if cfg.plan_only {
                        lease::holder(&client, ns, now)
                            .await
                            .map(|h| (EngineRole::PlanOnly, h))
                    } else if idle {
                        lease::holder(&client, ns, now).await.map(|h| match h {
                            Some(other) => (EngineRole::Observer, Some(other)),
                            None => (EngineRole::Standby, None),
                        })
                    } else {
                        // The renewal has its own deadline; the writes are
                        // allowed for that long from the moment it was sent.
                        let sent = cfg.clock.local_ms();
                        let deadline = cfg.renew_deadline.min(cfg.lease_duration);
                        let elector = electors.get_mut(ns).expect("one elector per namespace");
                        match tokio::time::timeout(deadline, elector.round(&client, now, sent))
                            .await
                        {
                            Ok(Ok(Role::Leader)) => {
                                fences.grant(ns, sent + deadline.as_millis() as i64);
                                Ok((EngineRole::Leader, Some(cfg.identity.clone())))
                            }
                            Ok(Ok(Role::Observer { leader })) => {
                                fences.revoke(ns);
                                Ok((EngineRole::Observer, leader))
                            }
                            Ok(Err(e)) => {
                                fences.revoke(ns);
                                Err(e)
                            }
                            Err(_) => {
                                fences.revoke(ns);
                                Err(super::Error::Invalid {
                                    swarm: format!("Lease {ns}/{}", lease::LEASE_NAME),
                                    message: format!(
                                        "the renewal did not answer within {} s: not leading, nothing is written until a renewal succeeds",
                                        deadline.as_secs()
                                    ),
                                })
                            }
                        }
                    };
                    let flag = &leading[ns];
                    if flag.load(Ordering::SeqCst)
                        && !matches!(outcome, Ok((EngineRole::Leader, _)))
                    {
                        // Losing the lease stops the work at once, and says so.
                        let why = match &outcome {
                            Ok((_, Some(other))) => format!("{other} leads now"),
                            Ok(_) => "the lease was given up".to_owned(),
                            Err(e) => e.to_string(),
                        };
                        tracing::warn!("{}: no longer leading {ns}: {why}", cfg.identity);
                        if let Some(a) = &auditor {
                            let subject = super::audit::Subject {
                                api_version: "coordination.k8s.io/v1".into(),
                                kind: "Lease".into(),
                                namespace: ns.clone(),
                                name: lease::LEASE_NAME.into(),
                            };
                            a.record(&subject, "LostLease", "lead the namespace", &why, true)
                                .await;
                        }
                    }
                    match outcome {
                        Ok((role, leader)) => {
                            let was = flag.swap(role == EngineRole::Leader, Ordering::SeqCst);
                            if !was && role == EngineRole::Leader {
                                tracing::info!("{}: leading namespace {ns}", cfg.identity);
                                wake.notify_one();
                            }
                            status.send_if_modified(|s| {
                                let n = s.namespaces.entry(ns.clone()).or_default();
                                let changed =
                                    n.role != role || n.leader != leader || n.lease_error.is_some();
                                if n.leader != leader || n.leader_since_ms.is_none() {
                                    n.leader_since_ms = leader.as_ref().map(|_| cfg.clock.now_ms());
                                }
                                n.role = role;
                                n.leader = leader;
                                n.lease_error = None;
                                changed
                            });
                        }
                        Err(e) => {
                            // Without a renewed lease this engine must not act.
                            flag.store(false, Ordering::SeqCst);
                            fences.revoke(ns);
                            status.send_modify(|s| {
                                let n = s.namespaces.entry(ns.clone()).or_default();
                                n.role = if cfg.plan_only {
                                    EngineRole::PlanOnly
                                } else {
                                    EngineRole::Observer
                                };
                                n.lease_error = Some(e.to_string());
                            });
                        }
                    }
                }
                // A lease held (or wanted) is renewed on time; otherwise the
                // keeper waits for a namespace to want one or a Lease to change.
                let active = !cfg.lease_on_demand
                    || cfg.namespaces.iter().any(|ns| {
                        wanted[ns].load(Ordering::SeqCst) || leading[ns].load(Ordering::SeqCst)
                    });
                let pause = if active {
                    cfg.renew_every
                } else {
                    cfg.idle_resync
                };
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = want_lease.notified() => {}
                }
            }
        })
    }

    /// Wake the controllers when a StatefulSet, ConfigMap or Task changes.
    fn spawn_watchers(&self) -> Vec<JoinHandle<()>> {
        let mut handles = Vec::new();
        for ns in &self.cfg.namespaces {
            handles.push(watch_kind::<StatefulSet>(
                Api::namespaced(self.client.clone(), ns),
                self.wake.clone(),
            ));
            handles.push(watch_kind::<ConfigMap>(
                Api::namespaced(self.client.clone(), ns),
                self.wake.clone(),
            ));
            handles.push(watch_kind::<Task>(
                Api::namespaced(self.client.clone(), ns),
                self.wake.clone(),
            ));
            if self.cfg.lease_on_demand {
                // Who leads, without polling: the keeper looks when it changes.
                handles.push(
                    watch_kind_with::<k8s_openapi::api::coordination::v1::Lease>(
                        Api::namespaced(self.client.clone(), ns),
                        watcher::Config::default()
                            .fields(&format!("metadata.name={}", lease::LEASE_NAME)),
                        self.want_lease.clone(),
                    ),
                );
            }
        }
        handles
    }

    /// One pass of both controllers over every namespace.
    pub async fn round(&mut self) {
        for ns in self.cfg.namespaces.clone() {
            let leading = self.leading[&ns].clone();
            let swarms = self.swarms(&ns, &leading).await;
            let tasks = self.tasks(&ns, leading.load(Ordering::SeqCst)).await;
            let need = matches!(swarms, Ok(true)) || matches!(tasks, Ok(true));
            if !self.wanted[&ns].swap(need, Ordering::SeqCst) && need {
                self.want_lease.notify_one();
            }
            let error = swarms.err().or(tasks.err()).map(|e: Error| e.to_string());
            self.status.send_if_modified(|s| {
                let n = s.namespaces.entry(ns.clone()).or_default();
                let changed = n.error != error;
                n.error = error;
                changed
            });
        }
    }

    fn set_swarm(&self, ns: &str, name: &str, f: impl FnOnce(&mut SwarmStatus)) {
        self.status.send_if_modified(|s| {
            let entry = s
                .namespaces
                .entry(ns.to_owned())
                .or_default()
                .swarms
                .entry(name.to_owned())
                .or_default();
            let before = entry.clone();
            f(entry);
            *entry != before
        });
    }

    fn set_task(&self, ns: &str, name: &str, st: TaskStatus) {
        self.status.send_if_modified(|s| {
            let tasks = &mut s.namespaces.entry(ns.to_owned()).or_default().tasks;
            if tasks.get(name) == Some(&st) {
                return false;
            }
            tasks.insert(name.to_owned(), st);
            true
        });
    }

    async fn audit(&self, subject: &Subject, action: &str, plan: &str, result: &str, failed: bool) {
        let n = self.actions.fetch_add(1, Ordering::SeqCst) + 1;
        self.status.send_modify(|s| s.actions = n);
        if let Some(a) = &self.auditor {
            a.record(subject, action, plan, result, failed).await;
        }
    }

    /// One round of the swarm controller; whether a swarm has work to do.
    async fn swarms(&self, ns: &str, leading: &Arc<AtomicBool>) -> Result<bool, Error> {
        let found = swarm::discover(&self.client, Some(ns)).await?;
        let mut need = false;
        for sw in found {
            let inputs = match swarm::read_inputs(&self.client, &sw).await {
                Ok(i) => i,
                Err(e) => {
                    self.set_swarm(ns, &sw.name, |s| {
                        s.last = Some(e.to_string());
                        s.failed = true;
                    });
                    continue;
                }
            };
            if !inputs.expired.is_empty() && leading.load(Ordering::SeqCst) {
                let subject = Subject {
                    api_version: "v1".into(),
                    kind: "ConfigMap".into(),
                    namespace: ns.to_owned(),
                    name: sw.jobs_config_map.clone(),
                };
                // Recorded before the requests are removed: an engine
                // stopped in between leaves a request that the next one
                // drops (and records) again, never a removal unrecorded.
                for e in &inputs.expired {
                    tracing::warn!("swarm {ns}/{}: {}", sw.name, e.said);
                    self.audit(&subject, "ExpiredRequest", &sw.name, &e.said, false)
                        .await;
                }
                if let Err(err) = swarm::drop_expired(&self.client, &sw, &inputs.expired).await {
                    let said = format!("removing the expired requests failed: {err}");
                    self.audit(&subject, "ExpiredRequest", &sw.name, &said, true)
                        .await;
                }
            }
            let plan = match swarm::desired_state(&sw, &inputs, &self.cfg.reconcile.policy) {
                Ok(p) => p,
                Err(e) => {
                    self.set_swarm(ns, &sw.name, |s| {
                        s.last = Some(e.to_string());
                        s.failed = true;
                    });
                    continue;
                }
            };
            let sts = swarm::statefulset_of(&sw);
            let noop = swarm::is_noop(&plan, &inputs.current);
            let pending: Vec<String> = if noop {
                inputs.pending.workers()
            } else {
                plan.changed
                    .iter()
                    .map(|c| worker_name(&sts, c.ordinal))
                    .collect()
            };
            self.set_swarm(ns, &sw.name, |s| {
                s.pending_moves = if noop { 0 } else { plan.relocated() };
                s.pending_refresh = pending.clone();
                if s.failed && noop && pending.is_empty() {
                    s.failed = false;
                }
            });
            let work = swarm::has_work(&plan, &inputs);
            need |= work;
            if !leading.load(Ordering::SeqCst) {
                continue;
            }
            if work {
                self.reconcile_swarm(&sw, leading, inputs.rebalance_requested.is_some())
                    .await;
            }
            if let Err(e) = self.keep_swarm_resource(&sw).await {
                tracing::warn!("Swarm {ns}/{}: {e}", sw.name);
            }
        }
        Ok(need)
    }

    async fn reconcile_swarm(&self, sw: &SwarmRef, leading: &Arc<AtomicBool>, requested: bool) {
        let ns = sw.namespace.clone();
        let sts = swarm::statefulset_of(sw);
        let opts = ReconcileOptions {
            leading: Some(leading.clone()),
            ..self.cfg.reconcile.clone()
        };
        let mut summary = String::new();
        let result = swarm::reconcile(&self.client, sw, &opts, |plan, p| {
            match &p {
                Progress::Planned {
                    moves,
                    changed,
                    phase,
                    streams,
                } => {
                    if !summary.is_empty() {
                        summary.push_str("; then ");
                    }
                    summary.push_str(&format!(
                        "version {} -> {} ({}): {moves} jobs move, {streams} streams in handoff, refresh {}",
                        plan.global_version.saturating_sub(1),
                        plan.global_version,
                        phase.as_str(),
                        if changed.is_empty() {
                            "none".to_owned()
                        } else {
                            changed.join(", ")
                        }
                    ));
                }
                Progress::Refreshing { worker } => {
                    self.set_swarm(&ns, &sw.name, |s| s.refreshing = Some(worker.clone()));
                }
                Progress::Refreshed { worker } => self.set_swarm(&ns, &sw.name, |s| {
                    s.refreshing = None;
                    s.pending_refresh.retain(|w| w != worker);
                }),
                Progress::Replanned { .. } | Progress::Written { .. } | Progress::Scaled { .. } => {}
            }
            tracing::info!("swarm {}/{}: {p:?}", ns, sw.name);
        })
        .await;
        if requested {
            let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), &ns);
            let clear = json!({"metadata": {"annotations": swarm::request_cleared(swarm::Request::Rebalance)}});
            if let Err(e) = cms
                .patch(
                    &sw.jobs_config_map,
                    &PatchParams {
                        field_manager: Some("swarmdeck".into()),
                        ..Default::default()
                    },
                    &Patch::Merge(clear),
                )
                .await
            {
                tracing::warn!(
                    "clearing the rebalance request on {ns}/{}: {e}",
                    sw.jobs_config_map
                );
            }
        }
        let (text, failed) = match &result {
            Ok(v @ Verdict::Converged { .. }) => (v.to_string(), false),
            Ok(Verdict::Unchanged) => ("nothing to do: the assignment is current".into(), false),
            Ok(Verdict::DryRun) => ("dry run".into(), false),
            // Not a failure: the next round plans for the new count.
            Err(e @ Error::Rescaled { .. }) => (e.to_string(), false),
            Err(e) => (e.to_string(), true),
        };
        let rescaled = matches!(result, Err(Error::Rescaled { .. }));
        if rescaled {
            self.wake.notify_one();
        }
        self.set_swarm(&ns, &sw.name, |s| {
            s.refreshing = None;
            s.last = Some(text.clone());
            s.failed = failed;
            if !failed && !rescaled {
                s.pending_moves = 0;
                s.pending_refresh.clear();
            }
        });
        let subject = Subject {
            api_version: "apps/v1".into(),
            kind: "StatefulSet".into(),
            namespace: ns.clone(),
            name: sts,
        };
        let action = if requested { "Rebalance" } else { "Reconcile" };
        let plan = if summary.is_empty() {
            "no change".to_owned()
        } else {
            summary
        };
        self.audit(&subject, action, &plan, &text, failed).await;
    }

    /// If the k8s-swarm Swarm resource exists, keep its size and members
    /// (the ready workers) current.
    async fn keep_swarm_resource(&self, sw: &SwarmRef) -> Result<(), Error> {
        let api: Api<Swarm> = Api::namespaced(self.client.clone(), &sw.namespace);
        let object = format!("Swarm {}/{}", sw.namespace, sw.name);
        let current = match api.get_opt(&sw.name).await {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(()),
            // The CRD is not installed.
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
            Err(e) => return Err(Error::kube(object, e)),
        };
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &sw.namespace);
        let list = pods
            .list(&ListParams::default().labels(&format!("app={}", sw.watch_label)))
            .await
            .map_err(|e| Error::kube(format!("Pods app={}", sw.watch_label), e))?;
        let mut members: Vec<String> = list
            .items
            .iter()
            .filter(|p| swarm::pod_ready(p))
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        members.sort_by_key(|m| {
            m.rsplit('-')
                .next()
                .and_then(|o| o.parse::<u32>().ok())
                .unwrap_or(u32::MAX)
        });
        let size = members.len() as i32;
        let status = current.status.clone().unwrap_or_default();
        if status.size == size && status.members == members {
            return Ok(());
        }
        api.patch_status(
            &sw.name,
            &PatchParams {
                field_manager: Some("swarmdeck".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"status": {"size": size, "members": members}})),
        )
        .await
        .map_err(|e| Error::kube(object, e))?;
        Ok(())
    }

    /// One round of the Task controller; whether a Task has a step to take.
    async fn tasks(&mut self, ns: &str, leading: bool) -> Result<bool, Error> {
        let api: Api<Task> = Api::namespaced(self.client.clone(), ns);
        let mut need = false;
        let list = match api.list(&ListParams::default()).await {
            Ok(l) => l,
            // The Task CRD is not installed here: nothing to drive.
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(false),
            Err(e) => return Err(Error::kube(format!("Tasks in {ns}"), e)),
        };
        let mut seen = Vec::new();
        for t in list.items {
            let Some(name) = t.metadata.name.clone() else {
                continue;
            };
            let Some(raw) = t
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(TARGET_ANNOTATION))
                .cloned()
            else {
                continue;
            };
            seen.push(name.clone());
            let st = self.drive_task(ns, &name, &raw, &t, leading, &api).await;
            need |= !st.failed && st.actual.as_deref() != Some(st.target.as_str());
            self.set_task(ns, &name, st);
        }
        self.steps
            .retain(|(n, name), _| n != ns || seen.contains(name));
        self.status.send_if_modified(|s| {
            let tasks = &mut s.namespaces.entry(ns.to_owned()).or_default().tasks;
            let before = tasks.len();
            tasks.retain(|name, _| seen.contains(name));
            tasks.len() != before
        });
        Ok(need)
    }

    async fn drive_task(
        &mut self,
        ns: &str,
        name: &str,
        raw: &str,
        t: &Task,
        leading: bool,
        api: &Api<Task>,
    ) -> TaskStatus {
        let key = (ns.to_owned(), name.to_owned());
        let actual_raw = t.status.as_ref().and_then(|s| s.state.clone());
        let mut st = TaskStatus {
            target: raw.to_owned(),
            actual: actual_raw.clone(),
            ..Default::default()
        };
        let fail = |mut st: TaskStatus, why: String| {
            st.last = Some(why);
            st.failed = true;
            st
        };
        let target: OccState = match raw.parse() {
            Ok(s) => s,
            Err(e) => {
                return fail(
                    st,
                    format!(
                        "annotation {TARGET_ANNOTATION}=`{raw}`: {e}; set standby, configured or running"
                    ),
                );
            }
        };
        if !target.requestable() {
            return fail(
                st,
                format!(
                    "annotation {TARGET_ANNOTATION}=`{raw}`: a Task can be asked for standby, configured or running"
                ),
            );
        }
        let Some(actual) = actual_raw
            .as_deref()
            .and_then(|s| s.parse::<OccState>().ok())
        else {
            st.last = Some("waiting for the task to report a state".into());
            return st;
        };
        let subject = Subject {
            api_version: "aliecs.alice.cern/v1alpha1".into(),
            kind: "Task".into(),
            namespace: ns.to_owned(),
            name: name.to_owned(),
        };
        if actual == target {
            if let Some(f) = self.steps.remove(&key)
                && leading
                && f.stopped.is_none()
            {
                self.audit(
                    &subject,
                    "ReachedTargetState",
                    &format!("target {target}"),
                    &format!("converged: {target}"),
                    false,
                )
                .await;
            }
            st.last = Some(format!("converged: {target}"));
            return st;
        }
        let annotation = |k: &str| {
            t.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(k))
                .cloned()
        };
        let recover = annotation(RECOVER_ANNOTATION).is_some_and(|v| v == "true");
        let request = format!(
            "{target}@{}",
            annotation(REQUESTED_AT_ANNOTATION).unwrap_or_default()
        );
        // A target the engine gave up on stays given up until it changes.
        if let Some(f) = self.steps.get(&key)
            && f.request == request
            && let Some(why) = &f.stopped
        {
            return fail(st, why.clone());
        }
        if actual == OccState::Error && !recover {
            let reason = t
                .status
                .as_ref()
                .and_then(|s| s.error.clone())
                .unwrap_or_else(|| "no reason given".into());
            let why = format!(
                "Task {ns}/{name} is in error: {reason}; recovery: set standby, then step up again (swarmdeck task set-state {name} {target} --recover)"
            );
            if leading {
                self.audit(
                    &subject,
                    "TaskError",
                    &format!("target {target}"),
                    &why,
                    true,
                )
                .await;
                self.steps.insert(
                    key,
                    InFlight {
                        request,
                        to: actual,
                        since: tokio::time::Instant::now(),
                        stopped: Some(why.clone()),
                    },
                );
            }
            return fail(st, why);
        }
        let path = match plan_path(actual, target) {
            Ok(p) => p,
            Err(e) => return fail(st, format!("Task {ns}/{name}: {e}")),
        };
        st.path = path
            .iter()
            .map(|s| format!("{} -> {}", s.event, s.to))
            .collect();
        let Some(step) = path.first() else {
            return st;
        };
        if let Some(f) = self.steps.get_mut(&key)
            && f.request == request
            && actual != f.to
        {
            if f.since.elapsed() > self.cfg.task_step_timeout {
                let why = format!(
                    "Task {ns}/{name}: gave up after {} s waiting for it to reach {} (status.state is {actual}); check the task pod and its events",
                    self.cfg.task_step_timeout.as_secs(),
                    f.to
                );
                f.stopped = Some(why.clone());
                self.audit(
                    &subject,
                    "TaskTimeout",
                    &format!("target {target}"),
                    &why,
                    true,
                )
                .await;
                return fail(st, why);
            }
            st.last = Some(format!("{actual} -> {} ...", f.to));
            return st;
        }
        if !leading {
            st.last = Some(format!("next step {}: {actual} -> {}", step.event, step.to));
            return st;
        }
        let pp = PatchParams {
            field_manager: Some("swarmdeck".into()),
            ..Default::default()
        };
        let patch = Patch::Merge(json!({"spec": {"state": step.to.as_str()}}));
        if let Err(e) = api.patch(name, &pp, &patch).await {
            return fail(
                st,
                format!("Task {ns}/{name}: {}", crate::cluster::explain(&e)),
            );
        }
        self.audit(
            &subject,
            "StepTaskState",
            &format!("target {target}: {}", st.path.join(", ")),
            &format!("{}: {actual} -> {}", step.event, step.to),
            false,
        )
        .await;
        self.steps.insert(
            key,
            InFlight {
                request,
                to: step.to,
                since: tokio::time::Instant::now(),
                stopped: None,
            },
        );
        st.last = Some(format!("{}: {actual} -> {} ...", step.event, step.to));
        st
    }
}

struct AbortOnDrop(Vec<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

fn watch_kind<K>(api: Api<K>, wake: Arc<Notify>) -> JoinHandle<()>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    K::DynamicType: Default,
{
    watch_kind_with(api, watcher::Config::default(), wake)
}

fn watch_kind_with<K>(api: Api<K>, config: watcher::Config, wake: Arc<Notify>) -> JoinHandle<()>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    K::DynamicType: Default,
{
    tokio::spawn(async move {
        let mut events = watcher(api, config).boxed();
        let mut retry = crate::cluster::stores::Retry::default();
        while let Some(event) = events.next().await {
            match event {
                Ok(
                    watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone,
                ) => {
                    retry.reset();
                    wake.notify_one();
                }
                // Init comes before every (re)list, also one that fails.
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!("engine watch: {e}");
                    tokio::time::sleep(retry.delay(&e)).await;
                }
            }
        }
    })
}
