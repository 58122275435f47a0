//! The simulated world behind the embedded API: a StatefulSet and a Deployment
//! controller, a scheduler and kubelet with injectable faults, swarm workers
//! that load their ConfigMap entry, and a Task operator that behaves like the
//! ECS control-operator. It acts only through the cluster's API operations, on
//! the cluster's clock, so tests drive it by advancing time.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::cluster::{Cluster, DeleteOptions, ListOptions, Stored, WriteOptions};
use super::registry::ResourceType;
use crate::domain::task::{FairMqState, OccState, occ_transition, task_pod_labels, task_pod_name};

/// A fault the scenario injects.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fault {
    /// `namespace/name-glob` of the pods (or Tasks, or nodes by name) it hits.
    #[serde(default)]
    pub pod: Option<String>,
    #[serde(default)]
    pub task: Option<String>,
    #[serde(default)]
    pub node: Option<String>,
    pub fault: FaultKind,
    /// For `failTransition`: which OCC event fails.
    #[serde(default)]
    pub event: Option<String>,
    /// For `failTransition`: fail every Nth time (1 = always).
    #[serde(default)]
    pub every: Option<u32>,
    /// For `nodeNotReady`: seconds after start.
    #[serde(default)]
    pub after_seconds: Option<u64>,
    /// For `hotStream`: `namespace/stream-glob`, the streams that cost more.
    #[serde(default)]
    pub stream: Option<String>,
    /// For `hotStream`: what one such stream costs, where an ordinary one
    /// costs 1 (CPU and memory of the worker that holds it).
    #[serde(default)]
    pub cost: Option<u64>,
}

impl Fault {
    /// `fault` on the pods `namespace/name-glob` names.
    pub fn on_pod(pods: &str, fault: FaultKind) -> Self {
        Fault {
            pod: Some(pods.to_owned()),
            task: None,
            node: None,
            fault,
            event: None,
            every: None,
            after_seconds: None,
            stream: None,
            cost: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FaultKind {
    CrashLoop,
    ImagePullError,
    SlowStart,
    Unschedulable,
    NodeNotReady,
    FailTransition,
    /// A swarm worker that loads its entry but never reports
    /// `swarmdeck.io/config-version`, as k8s-swarm's own workers do.
    SilentWorker,
    /// A pod that never finishes terminating once deleted (a finalizer or a
    /// node that stopped answering): it keeps running what it loaded.
    StuckTerminating,
    /// A stream whose data costs its worker more than the others (its CPU
    /// and memory in metrics.k8s.io): a swarm balanced by count is not
    /// balanced by load.
    HotStream,
}

/// Timing of the simulated kubelet and operator, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub schedule_ms: i64,
    pub start_ms: i64,
    pub slow_start_ms: i64,
    pub transition_ms: i64,
    pub terminate_ms: i64,
    pub crash_ms: i64,
    /// A hot-reload worker reloads this long after its ConfigMap changed
    /// (a kubelet syncs ConfigMap volumes periodically), plus up to
    /// `reload_jitter_ms`.
    pub reload_ms: i64,
    pub reload_jitter_ms: i64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            schedule_ms: 200,
            start_ms: 1_000,
            slow_start_ms: 10_000,
            transition_ms: 800,
            terminate_ms: 1_000,
            crash_ms: 3_000,
            reload_ms: 2_000,
            reload_jitter_ms: 2_000,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct PodSim {
    since_ms: i64,
    restarts: i64,
}

#[derive(Debug, Clone, Default)]
struct TaskSim {
    since_ms: i64,
    /// The spec.state last seen: a new request starts the transition delay.
    last_requested: String,
    attempts: HashMap<String, u32>,
    history: Vec<String>,
}

/// A pod's namespace as the world names it: `default` for none.
fn namespace_or_default(ns: &str) -> String {
    if ns.is_empty() { "default" } else { ns }.to_owned()
}

/// The simulated world.
pub struct World {
    cluster: Cluster,
    faults: Vec<Fault>,
    timing: Timing,
    nodes: Vec<String>,
    pods: HashMap<String, PodSim>,
    tasks: HashMap<String, TaskSim>,
    started_ms: i64,
    not_ready: HashSet<String>,
    events: u64,
    recent_events: std::collections::VecDeque<(String, String)>,
    /// What each swarm worker's container has loaded, by pod UID.
    loaded: HashMap<String, Loaded>,
    ownership: Ownership,
    /// The cluster's version when the last tick began: a tick that changed
    /// nothing and left nothing waiting on the clock lets the next ones
    /// pass until the cluster changes (so an idle world costs nothing).
    quiet_at: Option<u64>,
    /// Something waits on the clock (a pod starting or terminating, a Task
    /// stepping, a worker's reload, a crash loop's back-off).
    waiting: bool,
    /// The next time a scheduled fault is due.
    due_ms: Option<i64>,
}

/// A worker container's loaded entry.
#[derive(Debug, Clone)]
struct Loaded {
    version: u64,
    jobs: Vec<String>,
    /// When it last loaded a config (world clock, ms).
    loaded_at: i64,
    /// A hot reload due at (ms, version).
    reload_at: Option<(i64, u64)>,
}

/// One worker holding one stream over an interval of the world's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub namespace: String,
    pub stream: String,
    pub worker: String,
    pub pod_uid: String,
    pub from_ms: i64,
    /// None: still held.
    pub to_ms: Option<i64>,
}

/// Which worker had which stream loaded when (ARCHITECTURE 5.1): the record the
/// handoff's guarantees are checked against. A handle: clones share it.
#[derive(Debug, Clone, Default)]
pub struct Ownership(Arc<std::sync::Mutex<OwnershipLog>>);

#[derive(Debug, Default)]
struct OwnershipLog {
    done: Vec<Holding>,
    open: BTreeMap<(String, String, String), Holding>,
    now_ms: i64,
    /// Every pod container started: (namespace, pod, uid, ms).
    starts: Vec<(String, String, String, i64)>,
}

impl Ownership {
    fn observe(&self, now: i64, holding: Vec<(String, String, String, String)>) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.now_ms = now;
        let current: HashSet<(String, String, String)> = holding
            .iter()
            .map(|(ns, s, _, uid)| (ns.clone(), s.clone(), uid.clone()))
            .collect();
        let ended: Vec<(String, String, String)> = log
            .open
            .keys()
            .filter(|k| !current.contains(*k))
            .cloned()
            .collect();
        for k in ended {
            if let Some(mut h) = log.open.remove(&k) {
                h.to_ms = Some(now);
                log.done.push(h);
            }
        }
        for (ns, stream, worker, uid) in holding {
            log.open
                .entry((ns.clone(), stream.clone(), uid.clone()))
                .or_insert(Holding {
                    namespace: ns,
                    stream,
                    worker,
                    pod_uid: uid,
                    from_ms: now,
                    to_ms: None,
                });
        }
    }

    fn started(&self, namespace: &str, pod: &str, uid: &str, now: i64) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.starts
            .push((namespace.to_owned(), pod.to_owned(), uid.to_owned(), now));
    }

    /// Pods of `namespace` whose name starts with `prefix` started from
    /// `since_ms` on (a new pod, not a container restart), in order.
    pub fn starts(&self, namespace: &str, prefix: &str, since_ms: i64) -> Vec<String> {
        let log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.starts
            .iter()
            .filter(|(ns, pod, _, at)| {
                ns == namespace && pod.starts_with(prefix) && *at >= since_ms
            })
            .map(|(_, pod, _, _)| pod.clone())
            .collect()
    }

    /// Every interval so far, closed ones first.
    pub fn intervals(&self) -> Vec<Holding> {
        let log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.done
            .iter()
            .cloned()
            .chain(log.open.values().cloned())
            .collect()
    }

    /// The world's clock at the last observation.
    pub fn now_ms(&self) -> i64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).now_ms
    }

    /// Milliseconds, summed over the streams of `namespace`, during which two
    /// or more pods had one stream loaded at once, from `since_ms` on.
    pub fn overlap_ms(&self, namespace: &str, since_ms: i64) -> i64 {
        let now = self.now_ms();
        let mut by_stream: BTreeMap<String, Vec<(i64, i32)>> = BTreeMap::new();
        for h in self.intervals() {
            if h.namespace != namespace {
                continue;
            }
            let (from, to) = (h.from_ms.max(since_ms), h.to_ms.unwrap_or(now));
            if to <= from {
                continue;
            }
            let ev = by_stream.entry(h.stream).or_default();
            ev.push((from, 1));
            ev.push((to, -1));
        }
        let mut total = 0;
        for (_, mut ev) in by_stream {
            ev.sort();
            let (mut count, mut last) = (0, 0);
            for (t, d) in ev {
                if count >= 2 {
                    total += t - last;
                }
                count += d;
                last = t;
            }
        }
        total
    }

    /// Streams of `namespace` that were overlapping, each with its pods,
    /// from `since_ms` on (for a failing test's message).
    pub fn overlapping(&self, namespace: &str, since_ms: i64) -> Vec<(String, Vec<Holding>)> {
        let now = self.now_ms();
        let all: Vec<Holding> = self
            .intervals()
            .into_iter()
            .filter(|h| h.namespace == namespace && h.to_ms.unwrap_or(now) > since_ms)
            .collect();
        let mut out = Vec::new();
        let streams: BTreeSet<&str> = all.iter().map(|h| h.stream.as_str()).collect();
        for s in streams {
            let hs: Vec<&Holding> = all.iter().filter(|h| h.stream == s).collect();
            let clash = hs.iter().enumerate().any(|(i, a)| {
                hs[i + 1..].iter().any(|b| {
                    a.from_ms.max(b.from_ms) < a.to_ms.unwrap_or(now).min(b.to_ms.unwrap_or(now))
                })
            });
            if clash {
                out.push((s.to_owned(), hs.into_iter().cloned().collect()));
            }
        }
        out
    }

    /// For each stream of `namespace` that changed pod after `since_ms`:
    /// the time nobody had it loaded between the last holder before and the
    /// first after (0 when they overlapped).
    pub fn gaps_ms(&self, namespace: &str, since_ms: i64) -> Vec<(String, i64)> {
        let mut by_stream: BTreeMap<String, Vec<Holding>> = BTreeMap::new();
        for h in self.intervals() {
            if h.namespace == namespace {
                by_stream.entry(h.stream.clone()).or_default().push(h);
            }
        }
        let mut out = Vec::new();
        for (stream, mut hs) in by_stream {
            hs.sort_by_key(|h| h.from_ms);
            let Some(before) = hs.iter().rev().find(|h| h.from_ms <= since_ms) else {
                continue;
            };
            let Some(after) = hs
                .iter()
                .find(|h| h.from_ms > since_ms && h.worker != before.worker)
            else {
                continue;
            };
            let end = before.to_ms.unwrap_or(after.from_ms);
            out.push((stream, (after.from_ms - end).max(0)));
        }
        out
    }
}

/// Events kept before the oldest are removed, as a real cluster expires them.
const EVENT_CAP: usize = 5_000;

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((pre, rest)) => {
            text.starts_with(pre) && {
                let tail = &text[pre.len()..];
                if rest.is_empty() {
                    true
                } else {
                    (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob(rest, &tail[i..]))
                }
            }
        }
    }
}

fn uid_key(o: &Value) -> String {
    o["metadata"]["uid"].as_str().unwrap_or("").to_owned()
}

fn ns_of(o: &Value) -> Option<&str> {
    o["metadata"]["namespace"].as_str()
}

fn name_of(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("")
}

/// The most pods the simulated StatefulSet controller makes for one
/// StatefulSet, whatever its `spec.replicas` says.
pub const MAX_ORDINALS: i64 = 100_000;

impl World {
    pub fn new(cluster: Cluster, faults: Vec<Fault>, timing: Timing, nodes: usize) -> Self {
        let started_ms = cluster.clock().now_ms();
        let mut w = Self {
            cluster,
            faults,
            timing,
            nodes: (1..=nodes.max(1)).map(|i| format!("node-{i}")).collect(),
            pods: HashMap::new(),
            tasks: HashMap::new(),
            started_ms,
            not_ready: HashSet::new(),
            events: 0,
            recent_events: std::collections::VecDeque::new(),
            loaded: HashMap::new(),
            ownership: Ownership::default(),
            quiet_at: None,
            waiting: true,
            due_ms: None,
        };
        w.create_nodes();
        w
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The ownership record: a handle that stays valid when the world moves
    /// to another thread.
    pub fn ownership(&self) -> Ownership {
        self.ownership.clone()
    }

    fn rt(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.cluster.resolve(group, version, plural)
    }

    /// A kind that owns pods, and pods: both served, or no tick.
    fn with_pods(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Option<(ResourceType, ResourceType)> {
        Some((self.rt(group, version, plural)?, self.rt("", "v1", "pods")?))
    }

    /// A controller creates `pod` for `owner` and records it as
    /// kube-controller-manager does (`message` from the created pod).
    fn create_owned(
        &mut self,
        pod_rt: &ResourceType,
        owner: &Value,
        pod: Value,
        controller: &str,
        message: impl FnOnce(&Value) -> String,
    ) {
        let ns = ns_of(owner).unwrap_or("default").to_owned();
        if let Ok(p) = self
            .cluster
            .create(pod_rt, Some(&ns), pod, &WriteOptions::default())
        {
            let msg = message(&p);
            self.record_event(owner, "Normal", "SuccessfulCreate", &msg, controller);
        }
    }

    /// Write `status` as the status subresource of `obj` (of type `rt`), as
    /// its controller does: the object as written, or None when refused.
    fn write_status(&self, rt: &ResourceType, obj: &Value, status: Value) -> Option<Arc<Value>> {
        let mut next = obj.clone();
        next["status"] = status;
        self.cluster
            .replace(
                rt,
                ns_of(obj),
                name_of(obj),
                next,
                Some("status"),
                &WriteOptions::default(),
            )
            .ok()
    }

    /// [`Self::write_status`] when the status differs from the one `obj` has.
    fn update_status(&self, rt: &ResourceType, obj: &Value, status: Value) {
        if obj["status"] != status {
            let _ = self.write_status(rt, obj, status);
        }
    }

    fn create_nodes(&mut self) {
        let Some(rt) = self.rt("", "v1", "nodes") else {
            return;
        };
        for name in self.nodes.clone() {
            let node = json!({
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
                "spec": {},
                "status": {
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
                    "nodeInfo": {"kubeletVersion": "v1.32.0-swarmdeck", "osImage": "simulated", "architecture": "amd64", "operatingSystem": "linux"},
                    "capacity": {"cpu": "16", "memory": "64Gi", "pods": "1000"},
                    "allocatable": {"cpu": "16", "memory": "64Gi", "pods": "1000"}
                }
            });
            // As a kubelet does: the Node first, then its status (a create
            // leaves status out, as kube-apiserver does for kinds with a
            // status subresource).
            let status = node["status"].clone();
            if let Ok(created) = self
                .cluster
                .create(&rt, None, node, &WriteOptions::default())
            {
                let _ = self.write_status(&rt, &created, status);
            }
        }
    }

    /// Advance the world to the cluster clock's now.
    pub fn tick(&mut self) {
        let now = self.cluster.clock().now_ms();
        let version = self.cluster.resource_version();
        let due = self.due_ms.is_some_and(|d| now >= d);
        if !self.waiting && !due && self.quiet_at == Some(version) {
            return;
        }
        // Versions written by this tick make the next one run: controllers
        // react to what the kubelet did, and so on until nothing moves.
        self.quiet_at = Some(version);
        self.waiting = false;
        self.due_ms = None;
        self.nodes_tick(now);
        self.statefulsets_tick();
        self.deployments_tick();
        self.pvc_protection_tick();
        self.tasks_tick(now);
        self.kubelet_tick(now);
        self.workers_tick(now);
    }

    /// Advance a manual clock by `ms` in steps, ticking after each (tests).
    pub fn run_for(&mut self, ms: i64) {
        let step = 100;
        let mut left = ms;
        while left > 0 {
            let d = left.min(step);
            self.cluster.clock().advance_ms(d);
            self.tick();
            left -= d;
        }
    }

    fn silent_worker(&self, ns: &str, name: &str) -> bool {
        let full = format!("{ns}/{name}");
        self.faults.iter().any(|f| {
            f.fault == FaultKind::SilentWorker && f.pod.as_deref().is_some_and(|p| glob(p, &full))
        })
    }

    fn fault_for_pod(&self, ns: &str, name: &str) -> Option<FaultKind> {
        let full = format!("{ns}/{name}");
        self.faults
            .iter()
            .find(|f| f.pod.as_deref().is_some_and(|p| glob(p, &full)))
            .map(|f| f.fault)
    }

    fn record_event(
        &mut self,
        obj: &Value,
        kind: &str,
        reason: &str,
        message: &str,
        component: &str,
    ) {
        let Some(rt) = self.rt("", "v1", "events") else {
            return;
        };
        self.events += 1;
        let ns = ns_of(obj).unwrap_or("default").to_owned();
        let now = self.cluster.clock().timestamp();
        let event = json!({
            "metadata": {"name": format!("{}.{:x}{:04x}", name_of(obj), self.cluster.clock().now_ms(), self.events % 0xffff), "namespace": ns},
            "involvedObject": {
                "kind": obj["kind"], "name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"],
                "uid": obj["metadata"]["uid"], "apiVersion": obj["apiVersion"], "resourceVersion": obj["metadata"]["resourceVersion"]
            },
            "reason": reason, "message": message, "type": kind,
            "source": {"component": component},
            "reportingComponent": component, "reportingInstance": "swarmdeck-embedded",
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        });
        if let Ok(e) = self
            .cluster
            .create(&rt, Some(&ns), event, &WriteOptions::default())
        {
            self.recent_events.push_back((ns, name_of(&e).to_owned()));
        }
        while self.recent_events.len() > EVENT_CAP {
            if let Some((ons, oname)) = self.recent_events.pop_front() {
                let _ = self.cluster.remove_now(&rt, Some(&ons), &oname);
            }
        }
    }

    fn nodes_tick(&mut self, now: i64) {
        let due: Vec<String> = self
            .faults
            .iter()
            .filter(|f| f.fault == FaultKind::NodeNotReady)
            .filter(|f| now - self.started_ms >= f.after_seconds.unwrap_or(0) as i64 * 1000)
            .filter_map(|f| f.node.clone())
            .filter(|n| !self.not_ready.contains(n))
            .collect();
        self.due_ms = self
            .faults
            .iter()
            .filter(|f| f.fault == FaultKind::NodeNotReady)
            .map(|f| self.started_ms + f.after_seconds.unwrap_or(0) as i64 * 1000)
            .filter(|at| *at > now)
            .min();
        let Some(rt) = self.rt("", "v1", "nodes") else {
            return;
        };
        for node in due {
            self.not_ready.insert(node.clone());
            if let Ok(cur) = self.cluster.get(&rt, None, &node) {
                let mut status = cur["status"].clone();
                status["conditions"] = json!([{"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."}]);
                if let Some(n) = self.write_status(&rt, &cur, status) {
                    self.record_event(
                        &n,
                        "Normal",
                        "NodeNotReady",
                        &format!("Node {node} status is now: NodeNotReady"),
                        "node-controller",
                    );
                }
            }
        }
    }

    fn owner_ref(owner: &Value) -> Value {
        json!({"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true})
    }

    /// Pods by the uid of their owners, built once per tick from what the
    /// store keeps of each pod (no pod is parsed).
    fn pods_by_owner(&self) -> HashMap<String, Vec<Stored>> {
        let mut index: HashMap<String, Vec<Stored>> = HashMap::new();
        for p in self.cluster.stored("", "pods") {
            for uid in &p.brief.owners {
                index.entry(uid.clone()).or_default().push(p.clone());
            }
        }
        index
    }

    fn new_pod(
        template: &Value,
        name: &str,
        ns: &str,
        owner: &Value,
        extra_labels: &[(&str, String)],
    ) -> Value {
        let mut labels = template["metadata"]["labels"].clone();
        if !labels.is_object() {
            labels = json!({});
        }
        for (k, v) in extra_labels {
            labels[*k] = json!(v);
        }
        let mut spec = template["spec"].clone();
        if !spec.is_object() {
            spec = json!({"containers": [{"name": "main", "image": "busybox"}]});
        }
        json!({
            "metadata": {
                "name": name, "namespace": ns, "labels": labels,
                "annotations": template["metadata"]["annotations"].clone(),
                "ownerReferences": [Self::owner_ref(owner)],
            },
            "spec": spec,
        })
    }

    fn is_ready(pod: &Value) -> bool {
        pod["metadata"]["deletionTimestamp"].is_null()
            && pod["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|x| x["type"] == "Ready" && x["status"] == "True")
            })
    }

    fn statefulsets_tick(&mut self) {
        let Some((sts_rt, pod_rt)) = self.with_pods("apps", "v1", "statefulsets") else {
            return;
        };
        let index = self.pods_by_owner();
        for sts in self.cluster.all("apps", "statefulsets") {
            let ns = ns_of(&sts).unwrap_or("default").to_owned();
            let name = name_of(&sts).to_owned();
            // A number from a client sizes no loop unbounded: the simulated
            // controller makes at most MAX_ORDINALS pods of one StatefulSet.
            let want = sts["spec"]["replicas"]
                .as_i64()
                .unwrap_or(1)
                .clamp(0, MAX_ORDINALS);
            let parallel = sts["spec"]["podManagementPolicy"] == "Parallel";
            let owned = index.get(&uid_key(&sts)).cloned().unwrap_or_default();
            let by_ordinal: BTreeMap<i64, Stored> = owned
                .iter()
                .filter_map(|p| {
                    p.brief
                        .name()
                        .strip_prefix(&format!("{name}-"))
                        .and_then(|o| o.parse().ok())
                        .map(|o| (o, p.clone()))
                })
                .collect();
            // Create missing ordinals: all at once when Parallel, otherwise
            // the next one only once every lower ordinal is Ready.
            for ord in 0..want {
                if let Some(existing) = by_ordinal.get(&ord) {
                    if !parallel && !existing.brief.ready {
                        break;
                    }
                    continue;
                }
                let pod_name = format!("{name}-{ord}");
                let pod = Self::new_pod(
                    &sts["spec"]["template"],
                    &pod_name,
                    &ns,
                    &sts,
                    &[
                        ("statefulset.kubernetes.io/pod-name", pod_name.clone()),
                        ("apps.kubernetes.io/pod-index", ord.to_string()),
                    ],
                );
                self.create_owned(&pod_rt, &sts, pod, "statefulset-controller", |_| {
                    format!("create Pod {pod_name} in StatefulSet {name} successful")
                });
                if !parallel {
                    break;
                }
            }
            // Remove extra ordinals from the highest down.
            let extra: Vec<(i64, Stored)> = by_ordinal
                .iter()
                .rev()
                .filter(|(o, _)| **o >= want)
                .map(|(o, p)| (*o, p.clone()))
                .collect();
            for (_, pod) in extra.iter().take(if parallel { usize::MAX } else { 1 }) {
                if !pod.brief.deleting {
                    let pname = pod.brief.name().to_owned();
                    if self
                        .cluster
                        .delete(&pod_rt, Some(&ns), &pname, &DeleteOptions::default())
                        .is_ok()
                    {
                        self.record_event(
                            &sts,
                            "Normal",
                            "SuccessfulDelete",
                            &format!("delete Pod {pname} in StatefulSet {name} successful"),
                            "statefulset-controller",
                        );
                    }
                }
            }
            let live: Vec<&Stored> = by_ordinal.values().filter(|p| !p.brief.deleting).collect();
            let ready = live.iter().filter(|p| p.brief.ready).count() as i64;
            let status = json!({
                "observedGeneration": sts["metadata"]["generation"], "replicas": live.len(), "readyReplicas": ready,
                "currentReplicas": live.len(), "updatedReplicas": live.len(), "availableReplicas": ready,
            });
            self.update_status(&sts_rt, &sts, status);
        }
    }

    fn deployments_tick(&mut self) {
        const REVISION: &str = "deployment.kubernetes.io/revision";
        let Some((rt, pod_rt)) = self.with_pods("apps", "v1", "deployments") else {
            return;
        };
        let index = self.pods_by_owner();
        for mut dep in self.cluster.all("apps", "deployments") {
            let ns = ns_of(&dep).unwrap_or("default").to_owned();
            let name = name_of(&dep).to_owned();
            let want = dep["spec"]["replicas"].as_i64().unwrap_or(1).max(0) as usize;
            let hash = format!(
                "{:08x}",
                crate::domain::hash::stable_hash(&dep["spec"]["template"].to_string())
                    & 0xffff_ffff
            );
            let live: Vec<Stored> = index
                .get(&uid_key(&dep))
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|p| !p.brief.deleting)
                .collect();
            let (current, stale): (Vec<_>, Vec<_>) = live
                .into_iter()
                .partition(|p| p.brief.label("pod-template-hash") == Some(hash.as_str()));
            for p in &stale {
                let _ = self.cluster.delete(
                    &pod_rt,
                    Some(&ns),
                    p.brief.name(),
                    &DeleteOptions::default(),
                );
            }
            // The revision kube-controller-manager records: 1 for the first
            // template, one more at each rollout of a new one.
            let revision = dep["metadata"]["annotations"][REVISION]
                .as_str()
                .and_then(|r| r.parse::<u64>().ok());
            let wanted = match revision {
                None => Some(1),
                Some(r) if !stale.is_empty() => Some(r + 1),
                Some(_) => None,
            };
            if let Some(r) = wanted {
                let mut next = (*dep).clone();
                next["metadata"]["annotations"][REVISION] = json!(r.to_string());
                if let Ok(d) = self.cluster.replace(
                    &rt,
                    Some(&ns),
                    &name,
                    next,
                    None,
                    &WriteOptions::default(),
                ) {
                    dep = d;
                }
            }
            for _ in current.len()..want {
                let pod = Self::new_pod(
                    &dep["spec"]["template"],
                    "",
                    &ns,
                    &dep,
                    &[("pod-template-hash", hash.clone())],
                );
                let mut pod = pod;
                pod["metadata"].as_object_mut().map(|m| m.remove("name"));
                pod["metadata"]["generateName"] = json!(format!("{name}-{hash}-"));
                self.create_owned(&pod_rt, &dep, pod, "replicaset-controller", |p| {
                    format!("Created pod: {}", name_of(p))
                });
            }
            for p in current.iter().skip(want) {
                let _ = self.cluster.delete(
                    &pod_rt,
                    Some(&ns),
                    p.brief.name(),
                    &DeleteOptions::default(),
                );
            }
            let ready = current.iter().take(want).filter(|p| p.brief.ready).count();
            let status = json!({"observedGeneration": dep["metadata"]["generation"], "replicas": current.len().min(want), "readyReplicas": ready,
                "updatedReplicas": current.len().min(want), "availableReplicas": ready});
            self.update_status(&rt, &dep, status);
        }
    }

    /// kube-controller-manager's pvc-protection controller, for claims whose
    /// pods were still there when they were deleted.
    fn pvc_protection_tick(&mut self) {
        let Some(rt) = self.rt("", "v1", "persistentvolumeclaims") else {
            return;
        };
        for claim in self.cluster.all("", "persistentvolumeclaims") {
            if claim["metadata"]["deletionTimestamp"].is_string() {
                let ns = ns_of(&claim).unwrap_or("default").to_owned();
                self.cluster
                    .release_claim_if_unused(&rt, &ns, name_of(&claim));
            }
        }
    }

    /// The scheduler cannot place `pod`: a FailedScheduling event and the
    /// PodScheduled=False condition saying why (once, not on every tick).
    fn unschedulable(&mut self, pod: &Value, message: String, qos: &str) {
        let cond = json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}]);
        if pod["status"]["conditions"] != cond {
            self.record_event(
                pod,
                "Warning",
                "FailedScheduling",
                &message,
                "default-scheduler",
            );
            let _ = self.set_pod_status(
                pod,
                json!({"phase": "Pending", "conditions": cond, "qosClass": qos}),
            );
        }
    }

    fn set_pod_status(&mut self, pod: &Value, status: Value) -> Option<Arc<Value>> {
        let rt = self.rt("", "v1", "pods")?;
        self.write_status(&rt, pod, status)
    }

    fn container_statuses(
        pod: &Value,
        state: &Value,
        ready: bool,
        restarts: i64,
        last: Option<&Value>,
    ) -> Value {
        let containers = pod["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Value::Array(
            containers
                .iter()
                .map(|c| {
                    let mut s = json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": ready,
                        "restartCount": restarts, "started": ready, "state": state});
                    if let Some(l) = last {
                        s["lastState"] = l.clone();
                    }
                    s
                })
                .collect(),
        )
    }

    fn kubelet_tick(&mut self, now: i64) {
        let Some(pod_rt) = self.rt("", "v1", "pods") else {
            return;
        };
        let t = self.timing;
        let mut seen = HashSet::new();
        for stored in self.cluster.stored("", "pods") {
            let brief = &stored.brief;
            let uid = brief.uid.clone();
            seen.insert(uid.clone());
            let ns = namespace_or_default(brief.namespace());
            let name = brief.name().to_owned();
            let sim = self
                .pods
                .entry(uid.clone())
                .or_insert_with(|| PodSim {
                    since_ms: now,
                    restarts: 0,
                })
                .clone();
            let age = now - sim.since_ms;
            let fault = self.fault_for_pod(&ns, &name);
            // Settled: bound, running (or finished) and not being deleted,
            // with no fault that acts on the clock; anything else waits on it.
            let node = brief.field("spec.nodeName");
            let settled = !brief.deleting
                && node.is_some()
                && matches!(
                    brief.field("status.phase"),
                    Some("Running" | "Succeeded" | "Failed")
                )
                && fault != Some(FaultKind::CrashLoop);
            if !settled {
                self.waiting = true;
            }
            // Settled without a fault on a ready node: nothing to do, and
            // the pod's tree is not parsed (most pods of a big cluster).
            if settled && fault.is_none() && !node.is_some_and(|n| self.not_ready.contains(n)) {
                continue;
            }
            let pod = stored.object();
            if pod["metadata"]["deletionTimestamp"].is_string() {
                let grace = pod["metadata"]["deletionGracePeriodSeconds"]
                    .as_i64()
                    .unwrap_or(30)
                    * 1000;
                let ends = self.pods.get(&uid).map_or(now, |s| s.since_ms);
                let entered = pod["status"]["phase"] == "Terminating";
                if !entered {
                    self.pods.insert(
                        uid.clone(),
                        PodSim {
                            since_ms: now,
                            ..sim
                        },
                    );
                    let mut st = pod["status"].clone();
                    st["phase"] = json!("Terminating");
                    self.record_event(&pod, "Normal", "Killing", "Stopping container", "kubelet");
                    let _ = self.set_pod_status(&pod, st);
                } else if now - ends >= t.terminate_ms.min(grace)
                    && fault != Some(FaultKind::StuckTerminating)
                {
                    self.cluster
                        .append_log(&ns, &name, "received SIGTERM, shutting down".into());
                    let _ = self.cluster.remove_now(&pod_rt, Some(&ns), &name);
                    self.pods.remove(&uid);
                }
                continue;
            }
            let node = pod["spec"]["nodeName"].as_str().map(str::to_owned);
            let phase = pod["status"]["phase"]
                .as_str()
                .unwrap_or("Pending")
                .to_owned();
            // Scheduling.
            if node.is_none() {
                if fault == Some(FaultKind::Unschedulable) {
                    let total = self.nodes.len();
                    self.unschedulable(
                        &pod,
                        format!("0/{total} nodes are available: {total} Insufficient memory. preemption: 0/{total} nodes are available: no preemption victims found."),
                        "Burstable",
                    );
                    continue;
                }
                if age < t.schedule_ms {
                    continue;
                }
                let selector = pod["spec"]["nodeSelector"].as_object();
                let node_rt = self.rt("", "v1", "nodes");
                let fits = |n: &String| {
                    let Some(selector) = selector else {
                        return true;
                    };
                    let labels = node_rt
                        .as_ref()
                        .and_then(|rt| self.cluster.get(rt, None, n).ok())
                        .map(|node| node["metadata"]["labels"].clone())
                        .unwrap_or(Value::Null);
                    selector.iter().all(|(k, v)| labels[k.as_str()] == *v)
                };
                let ready_nodes: Vec<&String> = self
                    .nodes
                    .iter()
                    .filter(|n| !self.not_ready.contains(*n) && fits(n))
                    .collect();
                if ready_nodes.is_empty() {
                    if selector.is_some() {
                        let total = self.nodes.len();
                        let message = format!(
                            "0/{total} nodes are available: {total} node(s) didn't match Pod's node affinity/selector. preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling."
                        );
                        self.unschedulable(&pod, message, "BestEffort");
                    }
                    continue;
                }
                let pick = ready_nodes[(crate::domain::hash::stable_hash(&format!("{ns}/{name}"))
                    % ready_nodes.len() as u64) as usize]
                    .clone();
                let mut next = (*pod).clone();
                next["spec"]["nodeName"] = json!(pick);
                if let Ok(p) = self.cluster.replace(
                    &pod_rt,
                    Some(&ns),
                    &name,
                    next,
                    None,
                    &WriteOptions::default(),
                ) {
                    self.record_event(
                        &p,
                        "Normal",
                        "Scheduled",
                        &format!("Successfully assigned {ns}/{name} to {pick}"),
                        "default-scheduler",
                    );
                    let waiting = json!({"waiting": {"reason": "ContainerCreating"}});
                    let st = json!({"phase": "Pending", "qosClass": "BestEffort",
                        "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
                        "containerStatuses": Self::container_statuses(&p, &waiting, false, 0, None)});
                    let _ = self.set_pod_status(&p, st);
                    self.pods.insert(
                        uid.clone(),
                        PodSim {
                            since_ms: now,
                            restarts: 0,
                        },
                    );
                }
                continue;
            }
            let node = node.unwrap_or_default();
            if self.not_ready.contains(&node) {
                if pod["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|x| x["type"] == "Ready" && x["status"] == "True")
                }) {
                    let mut st = pod["status"].clone();
                    st["conditions"] = json!([{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown"}]);
                    let _ = self.set_pod_status(&pod, st);
                }
                continue;
            }
            let image = pod["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            match (phase.as_str(), fault) {
                ("Pending", Some(FaultKind::ImagePullError)) => {
                    let reason = if age < 2 * t.start_ms {
                        "ErrImagePull"
                    } else {
                        "ImagePullBackOff"
                    };
                    let already = pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                        == reason;
                    if age >= t.start_ms && !already {
                        let waiting = json!({"waiting": {"reason": reason, "message": format!("Back-off pulling image \"{image}\": failed to pull and unpack image: not found")}});
                        let mut st = pod["status"].clone();
                        st["containerStatuses"] =
                            Self::container_statuses(&pod, &waiting, false, 0, None);
                        self.record_event(
                            &pod,
                            "Warning",
                            "Failed",
                            &format!("Failed to pull image \"{image}\": not found"),
                            "kubelet",
                        );
                        let _ = self.set_pod_status(&pod, st);
                    }
                }
                ("Pending", f) => {
                    let needed = if f == Some(FaultKind::SlowStart) {
                        t.slow_start_ms
                    } else {
                        t.start_ms
                    };
                    if age >= needed {
                        self.start_pod(&pod, &node, &image, now, sim.restarts);
                    }
                }
                ("Running", Some(FaultKind::CrashLoop))
                    if age >= t.crash_ms
                        && pod["status"]["containerStatuses"][0]["state"]["running"]
                            .is_object() =>
                {
                    let restarts = sim.restarts + 1;
                    self.pods.insert(
                        uid.clone(),
                        PodSim {
                            since_ms: now,
                            restarts,
                        },
                    );
                    let waiting = json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off {}s restarting failed container", 10 * restarts.min(30))}});
                    let last = json!({"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": self.cluster.clock().timestamp()}});
                    let mut st = pod["status"].clone();
                    st["containerStatuses"] =
                        Self::container_statuses(&pod, &waiting, false, restarts, Some(&last));
                    st["conditions"] = json!([{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}]);
                    self.cluster.append_log(
                        &ns,
                        &name,
                        "error: cannot connect to upstream: connection refused".into(),
                    );
                    self.cluster.append_log(
                        &ns,
                        &name,
                        format!("exiting with status 1 after {} attempts", 3),
                    );
                    for c in self.cluster.containers_of(&ns, &name) {
                        self.cluster.logs().exit(&ns, &name, &c, now);
                    }
                    self.record_event(
                        &pod,
                        "Warning",
                        "BackOff",
                        "Back-off restarting failed container",
                        "kubelet",
                    );
                    let _ = self.set_pod_status(&pod, st);
                }
                ("Running", Some(FaultKind::CrashLoop)) => {
                    let waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                        == "CrashLoopBackOff";
                    // Back-off doubles with every restart, as the kubelet's does.
                    let backoff = (t.crash_ms * 10 / 3) << (sim.restarts - 1).clamp(0, 5);
                    if waiting && age >= backoff.min(300_000) {
                        self.start_pod(&pod, &node, &image, now, sim.restarts);
                    }
                }
                _ => {}
            }
        }
        self.pods.retain(|k, _| seen.contains(k));
    }

    /// A worker reports, every few seconds, what it processed of each stream
    /// it has loaded (derived when its log is read: no tick writes them).
    fn worker_beats(&self, ns: &str, name: &str, now: i64, jobs: &[String], version: u64) {
        if let Some(container) = self.cluster.containers_of(ns, name).into_iter().next() {
            self.cluster
                .logs()
                .beat(ns, name, &container, now, jobs.to_vec(), version);
        }
    }

    fn start_pod(&mut self, pod: &Value, node: &str, image: &str, now: i64, restarts: i64) {
        let running = json!({"running": {"startedAt": self.cluster.clock().timestamp()}});
        let ip = crate::domain::hash::stable_hash(name_of(pod));
        let st = json!({
            "phase": "Running", "qosClass": "BestEffort", "hostIP": format!("10.0.0.{}", 1 + ip % 3),
            "podIP": format!("10.244.{}.{}", (ip >> 8) % 250, ip % 250 + 2),
            "startTime": self.cluster.clock().timestamp(),
            "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Initialized", "status": "True"},
                {"type": "ContainersReady", "status": "True"}, {"type": "Ready", "status": "True"}],
            "containerStatuses": Self::container_statuses(pod, &running, true, restarts, None),
        });
        let uid = uid_key(pod);
        self.pods.insert(
            uid,
            PodSim {
                since_ms: now,
                restarts,
            },
        );
        if restarts == 0 {
            self.ownership.started(
                ns_of(pod).unwrap_or("default"),
                name_of(pod),
                &uid_key(pod),
                now,
            );
            self.record_event(
                pod,
                "Normal",
                "Pulled",
                &format!("Container image \"{image}\" already present on machine"),
                "kubelet",
            );
            self.record_event(pod, "Normal", "Started", "Started container", "kubelet");
        }
        let (ns, name) = (
            ns_of(pod).unwrap_or("default").to_owned(),
            name_of(pod).to_owned(),
        );
        let containers = pod["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for c in &containers {
            let container = c["name"].as_str().unwrap_or_default();
            let image = c["image"].as_str().unwrap_or(image);
            let logs = self.cluster.logs();
            logs.start(&ns, &name, container, now, restarts == 0);
            logs.append(
                &ns,
                &name,
                container,
                now,
                format!("starting {image} on {node}"),
            );
        }
        if self.fault_for_pod(&ns, &name) == Some(FaultKind::CrashLoop) {
            self.cluster
                .append_log(&ns, &name, "connecting to upstream upstream:9000".into());
        }
        let _ = self.set_pod_status(pod, st);
    }

    /// Swarm workers: a pod whose name is a key under `workloads` of a
    /// `config.yml` in a ConfigMap of its namespace loads that entry when its
    /// container starts and reports the version it loaded. A restart-pod
    /// worker keeps what it loaded until its pod is replaced; a hot-reload
    /// worker (its swarm's jobs ConfigMap says `swarmdeck.io/refresh:
    /// hot-reload`) reloads after the propagation delay a kubelet takes to
    /// sync a ConfigMap volume. Every stream a running worker has loaded is
    /// written to the ownership record.
    fn workers_tick(&mut self, now: i64) {
        let Some(pod_rt) = self.rt("", "v1", "pods") else {
            return;
        };
        let mut entries: HashMap<(String, String), (u64, Vec<String>, bool)> = HashMap::new();
        let mut hot: HashSet<(String, String)> = HashSet::new();
        let configmaps = self.cluster.all("", "configmaps");
        for cm in &configmaps {
            let Some(swarm) = cm["metadata"]["labels"][crate::domain::names::SWARM_LABEL].as_str()
            else {
                continue;
            };
            if cm["metadata"]["annotations"][crate::domain::names::REFRESH_ANNOTATION]
                == "hot-reload"
            {
                let output = cm["metadata"]["annotations"]
                    [crate::domain::names::OUTPUT_CONFIGMAP_ANNOTATION]
                    .as_str()
                    .map_or_else(|| format!("{swarm}-worker-config"), str::to_owned);
                hot.insert((ns_of(cm).unwrap_or("default").to_owned(), output));
            }
        }
        for cm in &configmaps {
            let Some(text) = cm["data"]["config.yml"].as_str() else {
                continue;
            };
            if !text.contains("workloads") {
                continue;
            }
            let Ok(cfg) = crate::domain::assignment::WorkerConfig::parse(text) else {
                continue;
            };
            let ns = ns_of(cm).unwrap_or("default").to_owned();
            let reload = hot.contains(&(ns.clone(), name_of(cm).to_owned()));
            for (worker, entry) in cfg.workloads {
                entries.insert((ns.clone(), worker), (entry.version, entry.jobs, reload));
            }
        }
        if entries.is_empty() && self.loaded.is_empty() {
            return;
        }
        let mut holding: Vec<(String, String, String, String)> = Vec::new();
        let mut alive = HashSet::new();
        for stored in self.cluster.stored("", "pods") {
            let brief = &stored.brief;
            let ns = namespace_or_default(brief.namespace());
            let name = brief.name().to_owned();
            let uid = brief.uid.clone();
            let key = (ns.clone(), name.clone());
            let entry = entries.get(&key);
            let terminating = brief.deleting;
            let ready = brief.ready;
            if !self.loaded.contains_key(&uid) {
                // A container that starts reads its entry (none: no jobs).
                let Some((version, jobs, _)) = entry.filter(|_| ready) else {
                    continue;
                };
                self.loaded.insert(
                    uid.clone(),
                    Loaded {
                        version: *version,
                        jobs: jobs.clone(),
                        loaded_at: now,
                        reload_at: None,
                    },
                );
                self.cluster.append_log(
                    &ns,
                    &name,
                    format!("loaded {} jobs (config version {version})", jobs.len()),
                );
                self.worker_beats(&ns, &name, now, jobs, *version);
            }
            alive.insert(uid.clone());
            if let Some((version, jobs, true)) = entry
                && !terminating
            {
                let delay = self.timing.reload_ms
                    + (crate::domain::hash::stable_hash(&format!("{uid}/{version}"))
                        % self.timing.reload_jitter_ms.max(1) as u64) as i64;
                let loaded = self.loaded.get_mut(&uid).expect("inserted above");
                if loaded.version != *version {
                    match loaded.reload_at {
                        Some((due, v)) if v == *version && now >= due => {
                            loaded.version = *version;
                            loaded.jobs = jobs.clone();
                            loaded.loaded_at = now;
                            loaded.reload_at = None;
                            self.cluster.append_log(
                                &ns,
                                &name,
                                format!("reloaded {} jobs (config version {version})", jobs.len()),
                            );
                            self.worker_beats(&ns, &name, now, jobs, *version);
                        }
                        Some((_, v)) if v == *version => self.waiting = true,
                        _ => {
                            loaded.reload_at = Some((now + delay, *version));
                            self.waiting = true;
                        }
                    }
                }
            }
            let loaded = &self.loaded[&uid];
            // A worker processes its streams while its container runs: ready,
            // or shutting down after a delete until the pod is gone.
            if ready || terminating {
                for j in &loaded.jobs {
                    holding.push((ns.clone(), j.clone(), name.clone(), uid.clone()));
                }
            }
            if !ready || self.silent_worker(&ns, &name) || loaded.version == 0 {
                continue;
            }
            let pod = stored.object();
            let reported = pod["metadata"]["annotations"]
                [crate::domain::names::CONFIG_VERSION_ANNOTATION]
                .as_str()
                .and_then(|v| v.parse::<u64>().ok());
            if reported == Some(loaded.version) {
                continue;
            }
            let mut next = (*pod).clone();
            if !next["metadata"]["annotations"].is_object() {
                next["metadata"]["annotations"] = json!({});
            }
            next["metadata"]["annotations"][crate::domain::names::CONFIG_VERSION_ANNOTATION] =
                json!(loaded.version.to_string());
            let _ = self.cluster.replace(
                &pod_rt,
                Some(&ns),
                &name,
                next,
                None,
                &WriteOptions::default(),
            );
        }
        self.loaded.retain(|uid, _| alive.contains(uid));
        let loads = holding
            .iter()
            .fold(HashMap::new(), |mut loads, (ns, stream, _, uid)| {
                let load = loads.entry(uid.clone()).or_insert_with(|| {
                    let loaded = self.loaded.get(uid);
                    crate::embedded::metrics::WorkerLoad {
                        cost: 0,
                        loaded_at_ms: loaded.map_or(0, |l| l.loaded_at),
                        version: loaded.map_or(0, |l| l.version),
                        jobs: loaded.map(|l| l.jobs.clone()).unwrap_or_default(),
                    }
                });
                load.cost += self.stream_cost(ns, stream);
                loads
            });
        self.cluster.set_worker_loads(loads);
        self.ownership.observe(now, holding);
    }

    /// What holding `stream` costs a worker: 1, or a `hotStream` fault's cost.
    fn stream_cost(&self, ns: &str, stream: &str) -> u64 {
        let full = format!("{ns}/{stream}");
        self.faults
            .iter()
            .find(|f| {
                f.fault == FaultKind::HotStream
                    && f.stream.as_deref().is_some_and(|p| glob(p, &full))
            })
            .map_or(1, |f| f.cost.unwrap_or(5).min(1000))
    }

    fn tasks_tick(&mut self, now: i64) {
        let Some((task_rt, pod_rt)) = self.with_pods("aliecs.alice.cern", "v1alpha1", "tasks")
        else {
            return;
        };
        let t = self.timing;
        let mut seen = HashSet::new();
        for task in self.cluster.all("aliecs.alice.cern", "tasks") {
            let uid = uid_key(&task);
            seen.insert(uid.clone());
            let ns = ns_of(&task).unwrap_or("default").to_owned();
            let name = name_of(&task).to_owned();
            let pod_name = task_pod_name(&name);
            // The task's pod, as the ECS operator creates it.
            let pod = match self.cluster.get(&pod_rt, Some(&ns), &pod_name) {
                Ok(p) => p,
                Err(_) => {
                    let labels: serde_json::Map<String, Value> = task_pod_labels(&name)
                        .into_iter()
                        .map(|(k, v)| (k, json!(v)))
                        .collect();
                    let mut spec = task["spec"]["pod"].clone();
                    if !spec.is_object() {
                        spec = json!({"containers": [{"name": "task", "image": "busybox"}]});
                    }
                    if let Some(n) = task["spec"]["nodeName"].as_str() {
                        spec["nodeName"] = json!(n);
                    }
                    let p = json!({"metadata": {"name": pod_name, "namespace": ns, "labels": labels,
                        "ownerReferences": [Self::owner_ref(&task)]}, "spec": spec});
                    if self
                        .cluster
                        .create(&pod_rt, Some(&ns), p, &WriteOptions::default())
                        .is_ok()
                    {
                        self.record_event(
                            &task,
                            "Normal",
                            "PodCreated",
                            &format!("created pod {pod_name}"),
                            "control-operator",
                        );
                    }
                    continue;
                }
            };
            let sim = self.tasks.entry(uid.clone()).or_insert_with(|| TaskSim {
                since_ms: now,
                ..Default::default()
            });
            let pod_ready = Self::is_ready(&pod);
            let actual = task["status"]["state"].as_str().map(str::to_owned);
            let mode = task["spec"]["control"]["mode"]
                .as_str()
                .unwrap_or("direct")
                .to_owned();
            let mut status = task["status"].clone();
            if !status.is_object() {
                status = json!({});
            }
            status["pod"] = pod["status"].clone();
            let stamp = self.cluster.clock().timestamp();
            let generation = task["metadata"]["generation"].as_i64().unwrap_or(1);
            let cond = |t: &str, ok: bool, reason: &str, msg: &str| json!({"type": t, "status": if ok { "True" } else { "False" }, "reason": reason, "message": msg, "lastTransitionTime": stamp, "observedGeneration": generation});
            if !pod_ready {
                status["conditions"] = json!([cond(
                    "PodReady",
                    false,
                    "PodNotReady",
                    "waiting for the task pod to be ready"
                )]);
                self.update_status(&task_rt, &task, status);
                continue;
            }
            let actual_state = match actual.as_deref() {
                None => {
                    status["state"] = json!("standby");
                    status["conditions"] = json!([
                        cond("PodReady", true, "PodReady", "task pod is ready"),
                        cond(
                            "GRPCConnected",
                            true,
                            "Connected",
                            "control connection established"
                        ),
                        cond("StateAccessible", true, "StateRead", "state is standby"),
                    ]);
                    if mode == "fairmq"
                        && let Some(c) = status["conditions"].as_array_mut()
                    {
                        c.push(cond(
                            "StateTransitionResult",
                            true,
                            "FairMQ",
                            "device state: IDLE",
                        ));
                    }
                    let mut next = (*task).clone();
                    next["status"] = status;
                    let _ = self.cluster.replace(
                        &task_rt,
                        Some(&ns),
                        &name,
                        next,
                        Some("status"),
                        &WriteOptions::default(),
                    );
                    sim.since_ms = now;
                    continue;
                }
                Some(s) => s.parse::<OccState>().unwrap_or(OccState::Error),
            };
            let requested = task["spec"]["state"]
                .as_str()
                .unwrap_or("standby")
                .to_owned();
            if sim.last_requested != requested {
                sim.last_requested = requested.clone();
                sim.since_ms = now;
            }
            let Ok(want) = requested.parse::<OccState>() else {
                continue;
            };
            if want != actual_state
                && (actual_state != OccState::Error || want == OccState::Standby)
            {
                self.waiting = true;
            }
            if want == actual_state || now - sim.since_ms < t.transition_ms {
                continue;
            }
            // From error the operator acts only once standby is requested.
            if actual_state == OccState::Error && want != OccState::Standby {
                continue;
            }
            let step = occ_transition(actual_state, want);
            let full = format!("{ns}/{name}");
            let (next_state, error, reason, message) = match step {
                None => (
                    OccState::Error,
                    Some(format!(
                        "transition from {actual_state} to {want} is not allowed: the task moves one legal transition at a time (e.g. standby -> configured -> running)"
                    )),
                    "TransitionRefused".to_owned(),
                    format!("illegal transition {actual_state} -> {want}"),
                ),
                Some(event) => {
                    let attempts = sim.attempts.entry(event.as_str().to_owned()).or_default();
                    *attempts += 1;
                    let n = *attempts;
                    let fails = self.faults.iter().any(|f| {
                        f.fault == FaultKind::FailTransition
                            && f.task.as_deref().is_some_and(|p| glob(p, &full))
                            && f.event
                                .as_deref()
                                .is_none_or(|e| e.eq_ignore_ascii_case(event.as_str()))
                            && n.is_multiple_of(f.every.unwrap_or(1).max(1))
                    });
                    if fails {
                        (
                            OccState::Error,
                            Some(format!(
                                "{event} failed: device reported an error during {event} (attempt {n})"
                            )),
                            "TransitionFailed".into(),
                            format!("{event} failed"),
                        )
                    } else {
                        (
                            want,
                            None,
                            "TransitionSucceeded".into(),
                            format!("{event}: {actual_state} -> {want}"),
                        )
                    }
                }
            };
            sim.since_ms = now;
            sim.history.push(message.clone());
            status["state"] = json!(next_state.as_str());
            match &error {
                Some(e) => status["error"] = json!(e),
                None => {
                    status.as_object_mut().map(|m| m.remove("error"));
                }
            }
            let mut conds = vec![
                cond("PodReady", true, "PodReady", "task pod is ready"),
                cond(
                    "GRPCConnected",
                    true,
                    "Connected",
                    "control connection established",
                ),
                cond(
                    "StateAccessible",
                    true,
                    "StateRead",
                    &format!("state is {next_state}"),
                ),
                cond(
                    "StateTransitionResult",
                    error.is_none(),
                    &reason,
                    error.as_deref().unwrap_or(&message),
                ),
            ];
            if mode == "fairmq" {
                let device: FairMqState = next_state.fairmq();
                let path = crate::domain::task::fairmq_path(actual_state.fairmq(), device)
                    .unwrap_or_default();
                let steps: Vec<String> = path.iter().map(|(e, s)| format!("{e} -> {s}")).collect();
                conds[3]["message"] = json!(format!(
                    "{}; device state: {device} (via {})",
                    conds[3]["message"].as_str().unwrap_or(""),
                    if steps.is_empty() {
                        "no device transitions".into()
                    } else {
                        steps.join(", ")
                    }
                ));
            }
            status["conditions"] = Value::Array(conds);
            if let Some(updated) = self.write_status(&task_rt, &task, status) {
                let kind = if error.is_some() { "Warning" } else { "Normal" };
                let text = error.clone().unwrap_or(message);
                self.record_event(&updated, kind, &reason, &text, "control-operator");
                self.cluster
                    .append_log(&ns, &task_pod_name(&name), format!("OCC: {text}"));
            }
        }
        self.tasks.retain(|k, _| seen.contains(k));
    }

    /// Status churn for load tests: touch `n` pods of namespace `load`, in turn.
    pub fn churn(&mut self, n: usize, cursor: &mut usize) {
        let Some(rt) = self.rt("", "v1", "pods") else {
            return;
        };
        let pods = self
            .cluster
            .list(
                &rt,
                &ListOptions {
                    namespace: Some("load".into()),
                    ..Default::default()
                },
            )
            .items;
        if pods.is_empty() {
            return;
        }
        for _ in 0..n {
            *cursor = (*cursor + 1) % pods.len();
            let pod = pods[*cursor].object();
            let mut next = (*pod).clone();
            let beat = self.cluster.clock().now_ms().to_string();
            if !next["metadata"]["annotations"].is_object() {
                next["metadata"]["annotations"] = json!({});
            }
            next["metadata"]["annotations"][crate::domain::names::HEARTBEAT_ANNOTATION] =
                json!(beat);
            let _ = self.cluster.replace(
                &rt,
                Some("load"),
                name_of(&pod),
                next,
                None,
                &WriteOptions::default(),
            );
        }
    }

    /// Every Task's transition history, as the operator recorded it.
    pub fn task_history(&self, task_uid: &str) -> Vec<String> {
        self.tasks
            .get(task_uid)
            .map(|t| t.history.clone())
            .unwrap_or_default()
    }

    /// A list of objects, for scenarios and tests.
    pub fn list(&self, rt: &ResourceType, ns: Option<&str>) -> Vec<Arc<Value>> {
        self.cluster
            .list(
                rt,
                &ListOptions {
                    namespace: ns.map(str::to_owned),
                    ..Default::default()
                },
            )
            .items
            .into_iter()
            .map(|s| s.object())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("ops/flaky-*", "ops/flaky-7"));
        assert!(glob("*/x", "a/x"));
        assert!(!glob("ops/flaky-*", "ops/steady-1"));
        assert!(glob("a*b*c", "aXXbYYc"));
    }
}
