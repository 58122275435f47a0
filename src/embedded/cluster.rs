//! The state of the embedded cluster and the API operations on it, shared by
//! the HTTP layer and the simulated world: every write bumps the global
//! resourceVersion and becomes a watch event, whoever makes it.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use super::defaults;
use super::registry::{self, ResourceType};
pub use super::selectors::Selectable;
use crate::domain::manifest;
use crate::time::Clock;

/// Group and plural: how objects of a type are stored (all versions share it).
pub type ResKey = (String, String);

/// A change as a watcher sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "ADDED",
            ChangeKind::Modified => "MODIFIED",
            ChangeKind::Deleted => "DELETED",
        }
    }
}

/// A change as a watcher sees it. The watch window keeps these: the object
/// as JSON (shared with the store while it is the current version) and
/// what selectors read of it, not its tree.
#[derive(Debug, Clone)]
pub struct Change {
    pub rv: u64,
    pub key: ResKey,
    pub namespace: String,
    pub kind: ChangeKind,
    /// The object at this change, as JSON: watches send these bytes as they are.
    pub json: Bytes,
    pub brief: Arc<Brief>,
    /// What a modified object was before (JSON, brief): a watch whose
    /// selector it no longer (or now) matches sees it leave (or enter).
    pub previous: Option<(Bytes, Arc<Brief>)>,
}

/// An API error, rendered as `metav1.Status`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: Value::Null,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }
    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", rt.qualified()),
        );
        e.details = json!({"name": name, "group": rt.group, "kind": rt.plural});
        e
    }
    pub fn conflict(rt: &ResourceType, name: &str, why: &str) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                rt.qualified()
            ),
        );
        e.details = json!({"name": name, "group": rt.group, "kind": rt.plural});
        e
    }
    pub fn invalid(rt: &ResourceType, name: &str, field: &str, why: &str) -> Self {
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {field}: {why}", rt.kind),
        );
        e.details = json!({"name": name, "group": rt.group, "kind": rt.kind,
            "causes": [{"reason": "FieldValueInvalid", "message": why, "field": field}]});
        e
    }

    pub fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if self.reason.is_empty() {
            // As kube-apiserver writes a Status without a reason.
            if let Some(m) = s.as_object_mut() {
                m.remove("reason");
            }
        }
        if !self.details.is_null() {
            s["details"] = self.details.clone();
        }
        s
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Options every write takes.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    /// `fieldValidation=Strict`: unknown fields are an error.
    pub strict: bool,
    pub force: bool,
}

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub dry_run: bool,
    pub grace_period: Option<i64>,
    pub orphan: bool,
    /// `preconditions.uid` and `.resourceVersion`: delete only that object.
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

/// How a list is narrowed.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub namespace: Option<String>,
    pub labels: super::selectors::LabelSelector,
    pub fields: super::selectors::FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

/// A stored object: its JSON as lists and watches send it, serialized once
/// at the write; what the simulated world and the selectors read of it (its
/// brief); and its tree, except for pods and events — the bulk of a big
/// cluster, about 16 KiB a pod's tree where its JSON is 1.8 KiB — whose tree
/// is parsed from the JSON when someone reads or writes one of them.
#[derive(Debug, Clone)]
pub struct Stored {
    tree: Option<Arc<Value>>,
    pub json: Bytes,
    pub brief: Arc<Brief>,
}

impl Stored {
    fn new(object: Arc<Value>, keep_tree: bool) -> Self {
        let json = json_of(&object);
        let brief = Arc::new(Brief::of(&object));
        Self {
            tree: keep_tree.then_some(object),
            json,
            brief,
        }
    }

    /// The tree, where the store keeps it.
    pub fn tree(&self) -> Option<&Arc<Value>> {
        self.tree.as_ref()
    }

    /// The object as a tree (parsed from its JSON for a pod).
    pub fn object(&self) -> Arc<Value> {
        match &self.tree {
            Some(t) => t.clone(),
            None => Arc::new(serde_json::from_slice(&self.json).unwrap_or(Value::Null)),
        }
    }
}

/// An object's JSON, allocated to its length: serialized into a growing
/// vector it held up to twice that (a pod's 1.8 KiB JSON in 2 KiB, 15 MiB
/// at 50,000 pods and more in the watch window).
fn json_of(object: &Value) -> Bytes {
    Bytes::from(
        serde_json::to_vec(object)
            .unwrap_or_default()
            .into_boxed_slice(),
    )
}

/// What the simulated world and the selectors read of every object, kept
/// beside its JSON: labels and selectable fields, uid, owners, and whether
/// it is being deleted or (a pod) Ready.
#[derive(Debug, Clone, Default)]
pub struct Brief {
    pub selectable: Selectable,
    pub uid: String,
    pub owners: Vec<String>,
    pub deleting: bool,
    /// Not being deleted, and the Ready condition is True.
    pub ready: bool,
}

impl Brief {
    pub fn of(o: &Value) -> Self {
        let deleting = !o["metadata"]["deletionTimestamp"].is_null();
        Self {
            selectable: Selectable::of(o),
            uid: o["metadata"]["uid"].as_str().unwrap_or_default().to_owned(),
            owners: owner_uids(o).map(str::to_owned).collect(),
            deleting,
            ready: !deleting
                && o["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|x| x["type"] == "Ready" && x["status"] == "True")
                }),
        }
    }

    pub fn name(&self) -> &str {
        self.selectable.field("metadata.name").unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        self.selectable
            .field("metadata.namespace")
            .unwrap_or_default()
    }

    pub fn field(&self, path: &str) -> Option<&str> {
        self.selectable.field(path)
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.selectable.label(key)
    }
}

/// Whether objects of this type keep their tree in the store: not pods and
/// events, the kinds that grow with a cluster and that nothing reads in
/// bulk beyond their brief.
fn keeps_tree(key: &ResKey) -> bool {
    !(key.0.is_empty() && (key.1 == "pods" || key.1 == "events"))
}

/// The result of a list: items, the collection's resourceVersion, and the
/// continue token when a limit cut it short.
#[derive(Debug, Clone)]
pub struct ListResult {
    pub items: Vec<Stored>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: usize,
}

struct State {
    rv: u64,
    types: Vec<ResourceType>,
    objects: HashMap<ResKey, BTreeMap<(String, String), Stored>>,
    log: VecDeque<Arc<Change>>,
    /// Events with a resourceVersion at or below this are no longer replayable.
    compacted: u64,
    /// How many stored objects name each uid as an owner (garbage collection
    /// only scans when someone does).
    owner_refs: HashMap<String, usize>,
}

fn owner_uids(o: &Value) -> impl Iterator<Item = &str> {
    o["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["uid"].as_str())
}

/// The kind of a request, as the API server's audit log would name it: the
/// verb (get, list, watch, create, update, patch, delete, deletecollection),
/// the resource and subresource (namespaces and names left out), and the
/// query parameters that change what the server does.
pub fn request_kind(method: &str, path: &str, query: &str) -> String {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest: &[&str] = match segs.as_slice() {
        ["api", _v, rest @ ..] => rest,
        ["apis", _g, _v, rest @ ..] => rest,
        _ => return format!("{method} {path}"),
    };
    if rest.is_empty() {
        return format!("{method} {path} (discovery)");
    }
    let group = match segs.as_slice() {
        ["apis", g, ..] => format!("{g}/"),
        _ => String::new(),
    };
    let rest = match rest {
        ["namespaces", _ns, more @ ..] if !more.is_empty() => more,
        other => other,
    };
    let (resource, name, sub) = match rest {
        [r] => (*r, None, None),
        [r, n] => (*r, Some(*n), None),
        [r, n, s, ..] => (*r, Some(*n), Some(*s)),
        [] => ("", None, None),
    };
    let params: std::collections::BTreeMap<&str, &str> = query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .filter(|(k, _)| !k.is_empty())
        .collect();
    let watch = params
        .get("watch")
        .is_some_and(|v| *v == "true" || *v == "1");
    let verb = match (method, name, watch) {
        ("GET", _, true) => "watch",
        ("GET", Some(_), _) => "get",
        ("GET", None, _) => "list",
        ("POST", _, _) => "create",
        ("PUT", _, _) => "update",
        ("PATCH", _, _) => "patch",
        ("DELETE", Some(_), _) => "delete",
        ("DELETE", None, _) => "deletecollection",
        (m, _, _) => m,
    };
    let mut out = format!("{verb} {group}{resource}");
    if let Some(s) = sub {
        out.push('/');
        out.push_str(s);
    }
    let notable: Vec<&str> = [
        "labelSelector",
        "fieldSelector",
        "limit",
        "continue",
        "resourceVersion",
        "allowWatchBookmarks",
        "sendInitialEvents",
        "dryRun",
        "fieldManager",
        "fieldValidation",
        "force",
        "propagationPolicy",
        "gracePeriodSeconds",
        "follow",
        "tailLines",
        "previous",
        "container",
        "sinceSeconds",
        "sinceTime",
        "timestamps",
    ]
    .into_iter()
    .filter(|k| params.contains_key(k))
    .collect();
    if !notable.is_empty() {
        out.push_str(&format!(" ({})", notable.join(", ")));
    }
    out
}

/// A method and path the server was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: String,
    /// The authenticated user (`system:anonymous` when refused with 401).
    pub user: String,
    /// The HTTP status of the answer (a watch: of its start).
    pub code: u16,
}

/// A user the embedded cluster authenticates by bearer token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub token: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The users every embedded cluster knows unless a scenario names others:
/// an administrator, an operator (bound by the demo to the namespaced Role of
/// assets/deploy) and a viewer (the read-only Role).
pub fn default_users() -> Vec<User> {
    [
        ("admin", vec!["system:masters"]),
        ("operator", vec!["swarmdeck-operators"]),
        ("viewer", vec!["swarmdeck-viewers"]),
    ]
    .into_iter()
    .map(|(name, groups)| User {
        name: name.into(),
        token: format!("{name}-token"),
        groups: groups.into_iter().map(str::to_owned).collect(),
    })
    .collect()
}

struct Shared {
    /// The certificate authority and serving certificate, made when first
    /// served over TCP.
    tls: std::sync::OnceLock<Result<Arc<super::tls::Identity>, String>>,
    state: Mutex<State>,
    changes: broadcast::Sender<Arc<Change>>,
    clock: Clock,
    window: usize,
    requests: Mutex<Vec<RequestRecord>>,
    users: Mutex<Vec<User>>,
    logs: super::logs::Logs,
    /// Bumped to end every open watch (as an API server restart would).
    epoch: tokio::sync::watch::Sender<u64>,
    /// The last cluster IP handed to a Service (in 10.96.0.0/16).
    last_ip: std::sync::atomic::AtomicU32,
    /// What each swarm worker's container is doing, by pod UID (the world
    /// records it; metrics.k8s.io reads it).
    loads: Mutex<HashMap<String, super::metrics::WorkerLoad>>,
}

/// The embedded cluster: cheap to clone, shared by the server and the world.
#[derive(Clone)]
pub struct Cluster {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves consistent data (every write is
    // one insert), so keep serving rather than poisoning the whole server.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Cluster {
    /// An empty cluster with namespaces `default`, `kube-system` and
    /// `kube-public`, keeping the last `window` changes replayable.
    pub fn new(clock: Clock, window: usize) -> Self {
        let (changes, _) = broadcast::channel(4096);
        let cluster = Self {
            shared: Arc::new(Shared {
                tls: std::sync::OnceLock::new(),
                state: Mutex::new(State {
                    rv: 1,
                    types: registry::builtins(),
                    objects: HashMap::new(),
                    log: VecDeque::new(),
                    compacted: 1,
                    owner_refs: HashMap::new(),
                }),
                changes,
                clock,
                window: window.max(16),
                requests: Mutex::new(Vec::new()),
                users: Mutex::new(default_users()),
                logs: super::logs::Logs::new(),
                epoch: tokio::sync::watch::channel(0).0,
                last_ip: std::sync::atomic::AtomicU32::new(0),
                loads: Mutex::new(HashMap::new()),
            }),
        };
        for ns in ["default", "kube-system", "kube-public"] {
            let _ = cluster.ensure_namespace(ns);
        }
        if let Some(rt) = cluster.resolve_kind("rbac.authorization.k8s.io/v1", "ClusterRole") {
            for role in super::rbac::default_cluster_roles() {
                let _ = cluster.create(&rt, None, role, &WriteOptions::default());
            }
        }
        cluster
    }

    /// A cluster IP for a new Service: 10.96.0.1, .2, … as a real server
    /// hands them out of its service range.
    fn allocate_ip(&self) -> String {
        let n = 1 + self
            .shared
            .last_ip
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("10.96.{}.{}", (n / 254) % 256, n % 254 + 1)
    }

    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// End every open watch stream; clients resume from their last version.
    pub fn disconnect_watchers(&self) {
        self.shared.epoch.send_modify(|e| *e += 1);
    }

    pub fn watch_epoch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.epoch.subscribe()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.shared.changes.subscribe()
    }

    pub fn resource_version(&self) -> u64 {
        lock(&self.shared.state).rv
    }

    pub fn record_request(&self, method: &str, path: &str, query: &str, user: &str, code: u16) {
        // `SWARMDECK_REQUEST_KINDS=FILE`: every request's kind appended to
        // FILE (scripts/request-kinds lists what a whole test run sends).
        if let Some(file) = std::env::var_os("SWARMDECK_REQUEST_KINDS") {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
            {
                // One write per line, so that processes appending at once
                // do not interleave.
                let line = format!("{}\n", request_kind(method, path, query));
                let _ = f.write_all(line.as_bytes());
            }
        }
        let mut requests = lock(&self.shared.requests);
        // The log is bounded: a long-running server keeps the latest half.
        if requests.len() >= MAX_REQUESTS_KEPT {
            requests.drain(..MAX_REQUESTS_KEPT / 2);
        }
        requests.push(RequestRecord {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            user: user.into(),
            code,
        });
    }

    /// The users this cluster authenticates.
    pub fn users(&self) -> Vec<User> {
        lock(&self.shared.users).clone()
    }

    /// This cluster's TLS identity (made once, on first use).
    pub fn tls(&self) -> Result<Arc<super::tls::Identity>, String> {
        self.shared
            .tls
            .get_or_init(|| {
                super::tls::Identity::generate()
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
    }

    /// Replace the users (a scenario's `users:`).
    pub fn set_users(&self, users: Vec<User>) {
        *lock(&self.shared.users) = users;
    }

    /// The user a bearer token belongs to.
    pub fn user_by_token(&self, token: &str) -> Option<User> {
        lock(&self.shared.users)
            .iter()
            .find(|u| u.token == token)
            .cloned()
    }

    /// The requests served, in order (the latest [`MAX_REQUESTS_KEPT`] at most).
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.requests).clone()
    }

    /// A line written now by the pod's first container.
    pub fn append_log(&self, namespace: &str, pod: &str, line: String) {
        let Some(container) = self.containers_of(namespace, pod).into_iter().next() else {
            return;
        };
        self.shared
            .logs
            .append(namespace, pod, &container, self.clock().now_ms(), line);
    }

    /// The texts the pod's first container wrote: its previous instance's
    /// (if any), then its current one's.
    pub fn pod_log(&self, namespace: &str, pod: &str) -> Vec<String> {
        use super::logs::Which;
        let Some(container) = self.containers_of(namespace, pod).into_iter().next() else {
            return Vec::new();
        };
        let now = self.clock().now_ms();
        let logs = &self.shared.logs;
        let previous = logs
            .read(namespace, pod, &container, Which::Previous, now)
            .map(|(l, _)| l)
            .unwrap_or_default();
        let current = logs
            .read(namespace, pod, &container, Which::Current, now)
            .map(|(l, _)| l)
            .unwrap_or_default();
        // During a back-off both are the exited instance: once.
        let both = if previous == current {
            current
        } else {
            previous.into_iter().chain(current).collect()
        };
        both.into_iter().map(|l| l.text).collect()
    }

    /// What the simulated containers wrote.
    pub fn logs(&self) -> &super::logs::Logs {
        &self.shared.logs
    }

    /// The names of a pod's containers, in its spec's order.
    pub fn containers_of(&self, namespace: &str, pod: &str) -> Vec<String> {
        let stored = lock(&self.shared.state)
            .objects
            .get(&(String::new(), "pods".to_owned()))
            .and_then(|m| m.get(&(namespace.to_owned(), pod.to_owned())))
            .cloned();
        let Some(pod) = stored.map(|s| s.object()) else {
            return Vec::new();
        };
        pod["spec"]["containers"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn types(&self) -> Vec<ResourceType> {
        lock(&self.shared.state).types.clone()
    }

    /// Find a type by group, version and plural.
    pub fn resolve(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        lock(&self.shared.state)
            .types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    /// Find a type by apiVersion and kind.
    pub fn resolve_kind(&self, api_version: &str, kind: &str) -> Option<ResourceType> {
        lock(&self.shared.state)
            .types
            .iter()
            .find(|t| t.api_version() == api_version && t.kind == kind)
            .cloned()
    }

    /// Make sure a namespace exists (used at start and by scenarios).
    pub fn ensure_namespace(&self, name: &str) -> ApiResult<()> {
        let rt = self
            .resolve("", "v1", "namespaces")
            .ok_or_else(|| ApiError::bad_request("no namespaces"))?;
        match self.create(
            &rt,
            None,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
            &WriteOptions::default(),
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.code == 409 => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Commit a change to an object that exists (its state `before`):
    /// `Some(next)` replaces it (MODIFIED, a new resourceVersion), `None`
    /// removes it (the change a watch sees as DELETED).
    fn commit_change(
        &self,
        st: &mut State,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        next: Option<Value>,
        before: Arc<Value>,
    ) -> Arc<Value> {
        let kind = if next.is_some() {
            ChangeKind::Modified
        } else {
            ChangeKind::Deleted
        };
        self.commit(st, &key_of(rt), ns, name, next, kind, Some(before))
    }

    // The arguments are the parts of one change; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &self,
        st: &mut State,
        key: &ResKey,
        ns: &str,
        name: &str,
        obj: Option<Value>,
        kind: ChangeKind,
        previous: Option<Arc<Value>>,
    ) -> Arc<Value> {
        st.rv += 1;
        let rv = st.rv;
        let before = st
            .objects
            .get(key)
            .and_then(|m| m.get(&(ns.to_owned(), name.to_owned())))
            .cloned();
        if let Some(b) = &before {
            for uid in &b.brief.owners {
                if let Some(n) = st.owner_refs.get_mut(uid) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        st.owner_refs.remove(uid);
                    }
                }
            }
        }
        if let Some(o) = &obj {
            for uid in owner_uids(o) {
                *st.owner_refs.entry(uid.to_owned()).or_default() += 1;
            }
        }
        let (stored, object) = match obj {
            Some(mut o) => {
                o["metadata"]["resourceVersion"] = json!(rv.to_string());
                let object = Arc::new(o);
                let stored = Stored::new(object.clone(), keeps_tree(key));
                st.objects
                    .entry(key.clone())
                    .or_default()
                    .insert((ns.to_owned(), name.to_owned()), stored.clone());
                (stored, object)
            }
            None => {
                if let Some(m) = st.objects.get_mut(key) {
                    m.remove(&(ns.to_owned(), name.to_owned()));
                }
                if key.0.is_empty() && key.1 == "pods" {
                    self.shared.logs.remove(ns, name);
                }
                let mut last = previous
                    .as_ref()
                    .map(|p| (**p).clone())
                    .unwrap_or(Value::Null);
                last["metadata"]["resourceVersion"] = json!(rv.to_string());
                let object = Arc::new(last);
                (Stored::new(object.clone(), false), object)
            }
        };
        let previous = match (kind, &before, &previous) {
            (ChangeKind::Modified, Some(b), _) => Some((b.json.clone(), b.brief.clone())),
            (ChangeKind::Modified, None, Some(p)) => Some((json_of(p), Arc::new(Brief::of(p)))),
            _ => None,
        };
        let change = Arc::new(Change {
            rv,
            key: key.clone(),
            namespace: ns.to_owned(),
            kind,
            json: stored.json.clone(),
            brief: stored.brief.clone(),
            previous,
        });
        st.log.push_back(change.clone());
        while st.log.len() > self.shared.window {
            if let Some(old) = st.log.pop_front() {
                st.compacted = old.rv;
            }
        }
        let _ = self.shared.changes.send(change);
        object
    }

    /// Changes after `rv` of one type, or Err when `rv` left the window (410).
    pub fn changes_since(&self, key: &ResKey, rv: u64) -> Result<(Vec<Arc<Change>>, u64), u64> {
        let st = lock(&self.shared.state);
        if rv < st.compacted {
            return Err(st.compacted);
        }
        let changes = st
            .log
            .iter()
            .filter(|c| c.rv > rv && &c.key == key)
            .cloned()
            .collect();
        Ok((changes, st.rv))
    }

    pub fn get(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> ApiResult<Arc<Value>> {
        let st = lock(&self.shared.state);
        get_in(&st, rt, ns, name)
    }

    pub fn list(&self, rt: &ResourceType, opts: &ListOptions) -> ListResult {
        let st = lock(&self.shared.state);
        let key = key_of(rt);
        let empty = BTreeMap::new();
        let all = st.objects.get(&key).unwrap_or(&empty);
        let after: Option<(String, String)> = opts
            .continue_token
            .as_deref()
            .and_then(|t| t.split_once('/'))
            .map(|(a, b)| (a.to_owned(), b.to_owned()));
        // Keys sort by namespace, then name: a namespace is one range, and a
        // continue token starts the range after the last key handed out.
        let lower = match (&after, &opts.namespace) {
            (Some(a), Some(ns)) if a.0 >= *ns => Bound::Excluded(a.clone()),
            (Some(a), None) => Bound::Excluded(a.clone()),
            (_, Some(ns)) => Bound::Included((ns.clone(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        // Without selectors no object is looked into (a list of 50,000 pods
        // would otherwise walk every tree it does not send).
        let selective = opts.labels != Default::default() || opts.fields != Default::default();
        let mut matching = all
            .range((lower, Bound::Unbounded))
            .take_while(|((ns, _), _)| opts.namespace.as_deref().is_none_or(|want| want == ns))
            .filter(|(_, o)| !selective || o.brief.selectable.matches(&opts.labels, &opts.fields));
        let mut items = Vec::new();
        let mut last_key = None;
        let limit = opts.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        for (k, o) in matching.by_ref() {
            if items.len() == limit {
                // One more exists: stop here and hand out a token.
                let remaining = 1 + matching.count();
                let token = last_key.map(|(ns, name): &(String, String)| format!("{ns}/{name}"));
                return ListResult {
                    items,
                    resource_version: st.rv,
                    continue_token: token,
                    remaining,
                };
            }
            last_key = Some(k);
            items.push(o.clone());
        }
        ListResult {
            items,
            resource_version: st.rv,
            continue_token: None,
            remaining: 0,
        }
    }

    pub fn create(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        body: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Arc<Value>> {
        let mut obj = body;
        let Some(map) = obj.as_object_mut() else {
            return Err(ApiError::bad_request(format!(
                "the body of a {} must be a JSON object",
                rt.kind
            )));
        };
        check_type(rt, map)?;
        map.insert("apiVersion".into(), json!(rt.api_version()));
        map.insert("kind".into(), json!(rt.kind));
        let ns = self.namespace_for(rt, ns, &obj)?;
        let name = match obj["metadata"]["name"].as_str().filter(|n| !n.is_empty()) {
            Some(n) => n.to_owned(),
            None => match obj["metadata"]["generateName"].as_str() {
                Some(prefix) => format!("{prefix}{}", random_suffix()),
                None => {
                    return Err(ApiError::invalid(
                        rt,
                        "",
                        "metadata.name",
                        "Required value: name or generateName is required",
                    ));
                }
            },
        };
        validate_name(rt, &name)?;
        if opts.strict {
            self.strict_check(rt, &obj, &name)?;
        }
        let mut st = lock(&self.shared.state);
        if rt.namespaced
            && !st
                .objects
                .get(&("".into(), "namespaces".into()))
                .is_some_and(|m| m.contains_key(&(String::new(), ns.clone())))
        {
            return Err(ApiError::new(
                404,
                "NotFound",
                format!("namespaces \"{ns}\" not found"),
            ));
        }
        if get_in(&st, rt, Some(&ns), &name).is_ok() {
            let mut e = ApiError::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", rt.qualified()),
            );
            e.details = json!({"name": name, "group": rt.group, "kind": rt.plural});
            return Err(e);
        }
        let now = self.shared.clock.timestamp();
        {
            let meta = obj["metadata"]
                .as_object_mut()
                .map(std::mem::take)
                .unwrap_or_default();
            let mut meta = meta;
            meta.insert("name".into(), json!(name));
            if rt.namespaced {
                meta.insert("namespace".into(), json!(ns));
            } else {
                meta.remove("namespace");
            }
            meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            meta.insert("creationTimestamp".into(), json!(now));
            meta.remove("resourceVersion");
            meta.remove("deletionTimestamp");
            if obj.get("spec").is_some() && defaults::has_generation(rt) {
                meta.insert("generation".into(), json!(1));
            }
            obj["metadata"] = Value::Object(meta);
        }
        omit_empty(&mut obj);
        prepare_status_on_create(rt, &mut obj);
        defaults::apply(rt, &mut obj, || self.allocate_ip());
        if let Some(manager) = &opts.field_manager {
            let fields = field_set(&obj, rt);
            set_managed(
                &mut obj,
                manager,
                "Update",
                &rt.api_version(),
                &self.shared.clock.timestamp(),
                fields,
            );
        }
        let new_types = if rt.kind == "CustomResourceDefinition" {
            let types = registry::from_crd(&obj)
                .map_err(|why| ApiError::invalid(rt, &name, "spec", &why))?;
            establish_crd(&mut obj);
            Some(types)
        } else {
            None
        };
        if opts.dry_run {
            return Ok(Arc::new(obj));
        }
        if let Some(types) = new_types {
            st.types.retain(|t| t.crd.as_deref() != Some(name.as_str()));
            st.types.extend(types);
        }
        let key = key_of(rt);
        let ns_key = if rt.namespaced { ns } else { String::new() };
        Ok(self.commit(
            &mut st,
            &key,
            &ns_key,
            &name,
            Some(obj),
            ChangeKind::Added,
            None,
        ))
    }

    fn namespace_for(
        &self,
        rt: &ResourceType,
        url_ns: Option<&str>,
        obj: &Value,
    ) -> ApiResult<String> {
        if !rt.namespaced {
            return Ok(String::new());
        }
        let body_ns = obj["metadata"]["namespace"]
            .as_str()
            .filter(|s| !s.is_empty());
        match (url_ns, body_ns) {
            (Some(u), Some(b)) if u != b => Err(ApiError::bad_request(format!(
                "the namespace of the provided object ({b}) does not match the namespace sent on the request ({u})"
            ))),
            (Some(u), _) => Ok(u.to_owned()),
            (None, Some(b)) => Ok(b.to_owned()),
            (None, None) => Ok("default".into()),
        }
    }

    /// The first field `fieldValidation=Strict` refuses: its dotted path and
    /// what is wrong with it.
    fn strict_problem(&self, rt: &ResourceType, obj: &Value) -> Option<(String, String)> {
        let mut checked = obj.clone();
        if let Some(m) = checked.as_object_mut() {
            m.remove("status");
            if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("managedFields");
            }
        }
        let problems = match manifest::schema_problems(&rt.api_version(), &rt.kind, &checked) {
            Some(p) => p,
            None => match self.crd_schema(rt) {
                Some(schema) => manifest::unknown_fields(&checked, &schema),
                None => Vec::new(),
            },
        };
        problems
            .into_iter()
            .next()
            .map(|(path, msg)| (path.join("."), msg))
    }

    /// `fieldValidation=Strict` on a create or update, in kube-apiserver's words.
    fn strict_check(&self, rt: &ResourceType, obj: &Value, name: &str) -> ApiResult<()> {
        let Some((field, msg)) = self.strict_problem(rt, obj) else {
            return Ok(());
        };
        let detail = if msg.starts_with("unknown field") {
            format!("unknown field \"{field}\"")
        } else {
            msg
        };
        Err(ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {detail} (object {name})",
            rt.kind, rt.version, rt.kind
        )))
    }

    /// The `openAPIV3Schema` of a custom resource's version.
    pub fn crd_schema(&self, rt: &ResourceType) -> Option<Value> {
        let crd_name = rt.crd.as_ref()?;
        let st = lock(&self.shared.state);
        let crd = st
            .objects
            .get(&(
                "apiextensions.k8s.io".into(),
                "customresourcedefinitions".into(),
            ))?
            .get(&(String::new(), crd_name.clone()))?
            .object();
        crd["spec"]["versions"]
            .as_array()?
            .iter()
            .find(|v| v["name"] == rt.version)
            .map(|v| v["schema"]["openAPIV3Schema"].clone())
            .filter(|s| !s.is_null())
    }

    /// PUT of an object or of its `status`.
    pub fn replace(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        body: Value,
        sub: Option<&str>,
        opts: &WriteOptions,
    ) -> ApiResult<Arc<Value>> {
        if !body.is_object() {
            return Err(ApiError::bad_request(format!(
                "the body of a {} must be a JSON object",
                rt.kind
            )));
        }
        if let Some(map) = body.as_object() {
            check_type(rt, map)?;
        }
        if let Some(body_name) = body["metadata"]["name"].as_str()
            && body_name != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if opts.strict && sub.is_none() {
            self.strict_check(rt, &body, name)?;
        }
        let mut body = body;
        omit_empty(&mut body);
        let mut st = lock(&self.shared.state);
        let current = get_in(&st, rt, ns, name)?;
        check_resource_version(rt, name, &current, &body)?;
        let mut next = match sub {
            Some("status") => {
                let mut n = (*current).clone();
                n["status"] = body.get("status").cloned().unwrap_or(Value::Null);
                if n["status"].is_null() {
                    n.as_object_mut().map(|m| m.remove("status"));
                }
                n
            }
            _ => {
                let mut n = body;
                if rt.has_status() {
                    match current.get("status") {
                        Some(s) => n["status"] = s.clone(),
                        None => {
                            n.as_object_mut().map(|m| m.remove("status"));
                        }
                    }
                }
                n
            }
        };
        self.finish_update(&mut st, rt, &current, &mut next, opts)?;
        if opts.dry_run {
            return Ok(Arc::new(next));
        }
        if metadata_without_rv(&next) == metadata_without_rv(&current)
            && strip_meta(&next) == strip_meta(&current)
        {
            return Ok(current);
        }
        let ns_key = if rt.namespaced {
            ns.unwrap_or("default").to_owned()
        } else {
            String::new()
        };
        // The last finalizer removed from an object being deleted removes it;
        // a pod in its grace period stays until the kubelet deletes it
        // (updates to it — status, annotations — keep it, as on a real server).
        let graceful_pod = rt.kind == "Pod"
            && next["metadata"]["deletionGracePeriodSeconds"]
                .as_i64()
                .is_some_and(|g| g > 0);
        let finalizing = next["metadata"]["deletionTimestamp"].is_string()
            && !graceful_pod
            && next["metadata"]["finalizers"]
                .as_array()
                .is_none_or(Vec::is_empty);
        if rt.kind == "CustomResourceDefinition" {
            let types = registry::from_crd(&next)
                .map_err(|why| ApiError::invalid(rt, name, "spec", &why))?;
            st.types.retain(|t| t.crd.as_deref() != Some(name));
            st.types.extend(types);
        }
        if finalizing {
            return Ok(self.commit_change(&mut st, rt, &ns_key, name, None, Arc::new(next)));
        }
        Ok(self.commit_change(&mut st, rt, &ns_key, name, Some(next), current))
    }

    /// Keep what a client may not change, and bump the generation on spec changes.
    fn finish_update(
        &self,
        _st: &mut State,
        rt: &ResourceType,
        current: &Value,
        next: &mut Value,
        opts: &WriteOptions,
    ) -> ApiResult<()> {
        next["apiVersion"] = json!(rt.api_version());
        next["kind"] = json!(rt.kind);
        if !next["metadata"].is_object() {
            next["metadata"] = json!({});
        }
        defaults::carry_allocated(rt, current, next);
        defaults::apply(rt, next, || self.allocate_ip());
        omit_empty(next);
        let next_managed = next["metadata"].get("managedFields").cloned();
        for key in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "managedFields",
        ] {
            match current["metadata"].get(key) {
                Some(v) => next["metadata"][key] = v.clone(),
                None => {
                    if let Some(m) = next["metadata"].as_object_mut() {
                        m.remove(key);
                    }
                }
            }
        }
        // A pod's binding to a node (the scheduler's) is not a spec change
        // its generation counts.
        let spec_changed = if rt.kind == "Pod" {
            let unbound = |v: &Value| {
                let mut v = strip_meta_status(v);
                if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.remove("nodeName");
                }
                v
            };
            unbound(next) != unbound(current)
        } else {
            strip_meta_status(next) != strip_meta_status(current)
        };
        if spec_changed && current["metadata"]["generation"].is_number() {
            let g = current["metadata"]["generation"].as_i64().unwrap_or(1);
            next["metadata"]["generation"] = json!(g + 1);
        } else if spec_changed && next.get("spec").is_some() && defaults::has_generation(rt) {
            next["metadata"]["generation"] = json!(1);
        }
        // A client may rewrite managedFields (kubectl does, to move ownership
        // from client-side to server-side apply); otherwise they are kept.
        if let Some(given) = next_managed.filter(Value::is_array) {
            next["metadata"]["managedFields"] = given;
        }
        if let Some(manager) = &opts.field_manager {
            let changed: BTreeSet<Vec<String>> = field_set(next, rt)
                .into_iter()
                .filter(|p| value_at(next, p) != value_at(current, p))
                .collect();
            if !changed.is_empty() {
                let mut owned = managed_entries(next)
                    .into_iter()
                    .find(|(m, op, _)| m == manager && op == "Update")
                    .map(|(_, _, f)| f)
                    .unwrap_or_default();
                owned.extend(changed);
                set_managed(
                    next,
                    manager,
                    "Update",
                    &rt.api_version(),
                    &self.shared.clock.timestamp(),
                    owned,
                );
            }
        }
        Ok(())
    }

    /// PATCH of an object or its `status`, in any of the API's patch formats.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        sub: Option<&str>,
        content_type: &str,
        body: &[u8],
        opts: &WriteOptions,
    ) -> ApiResult<Arc<Value>> {
        let ct = content_type.split(';').next().unwrap_or("").trim();
        if ct == "application/apply-patch+yaml" || ct == "application/apply-patch+cbor" {
            return self.apply(rt, ns, name, sub, body, opts);
        }
        let patch: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the patch is not valid JSON: {e}")))?;
        // As kube-apiserver's GuaranteedUpdate: the patch is applied to the
        // object as read, written only if nobody wrote in between, and
        // applied again to the newer object if somebody did (unless the patch
        // itself names a resourceVersion: then that is its precondition).
        let mut attempts = 0;
        loop {
            let current = self.get(rt, ns, name)?;
            let next = self.patched(rt, name, ct, &current, &patch)?;
            let own_precondition =
                next["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"];
            match self.replace(rt, ns, name, next, sub, opts) {
                Err(e) if e.code == 409 && !own_precondition && attempts < 1000 => attempts += 1,
                result => return result,
            }
        }
    }

    /// A JSON, merge or strategic merge patch applied to `current`.
    fn patched(
        &self,
        rt: &ResourceType,
        name: &str,
        ct: &str,
        current: &Value,
        patch: &Value,
    ) -> ApiResult<Value> {
        let next = match ct {
            "application/json-patch+json" => {
                super::patch::json_patch(current, patch).map_err(ApiError::bad_request)?
            }
            "application/merge-patch+json" => {
                if !patch.is_object() {
                    return Err(ApiError::bad_request("a merge patch must be a JSON object"));
                }
                super::patch::merge_patch(current, patch)
            }
            "application/strategic-merge-patch+json" => {
                if rt.crd.is_some() {
                    return Err(ApiError::new(
                        415,
                        "UnsupportedMediaType",
                        format!(
                            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (strategic merge patch is not supported for custom resource {}; use --type=merge)",
                            rt.qualified()
                        ),
                    ));
                }
                if !patch.is_object() {
                    return Err(ApiError::bad_request(
                        "a strategic merge patch must be a JSON object",
                    ));
                }
                super::patch::strategic_merge(&rt.kind, current, patch)
                    .map_err(ApiError::bad_request)?
            }
            other => {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    format!(
                        "the body of the request was in an unknown format `{other}` - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json"
                    ),
                ));
            }
        };
        if !next.is_object() || !next["metadata"].is_object() {
            return Err(ApiError::invalid(
                rt,
                name,
                "metadata",
                "the patch removed the object's metadata",
            ));
        }
        Ok(next)
    }

    /// Server-side apply: create or merge the applied configuration, record
    /// which fields the manager owns, refuse to take fields another manager
    /// set to a different value unless forced, and drop fields the manager
    /// applied before and no longer does.
    fn apply(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        sub: Option<&str>,
        body: &[u8],
        opts: &WriteOptions,
    ) -> ApiResult<Arc<Value>> {
        let manager = opts.field_manager.clone().ok_or_else(|| {
            ApiError::bad_request(
                "PATCH of type application/apply-patch+yaml requires fieldManager to be set",
            )
        })?;
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad_request("the applied configuration is not UTF-8"))?;
        let yaml: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
            ApiError::bad_request(format!(
                "the applied configuration is not valid YAML: {}",
                manifest::describe_yaml_error(&e)
            ))
        })?;
        let applied: Value =
            serde_json::to_value(yaml).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let Some(map) = applied.as_object() else {
            return Err(ApiError::bad_request(
                "the applied configuration must be an object",
            ));
        };
        if map.get("apiVersion").is_none() || map.get("kind").is_none() {
            return Err(ApiError::bad_request(
                "the applied configuration must set apiVersion and kind",
            ));
        }
        check_type(rt, map)?;
        if let Some(n) = applied["metadata"]["name"].as_str()
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the applied object ({n}) does not match the name on the URL ({name})"
            )));
        }
        // Server-side apply builds a typed patch first and fails there, as
        // kube-apiserver does: 500, no reason, for an unknown field.
        if opts.strict
            && let Some((field, msg)) = self.strict_problem(rt, &applied)
        {
            if !msg.starts_with("unknown field") {
                self.strict_check(rt, &applied, name)?;
            }
            return Err(ApiError::new(
                500,
                "",
                format!(
                    "failed to create typed patch object ({}/{name}; {}, Kind={}): .{field}: field not declared in schema",
                    applied["metadata"]["namespace"].as_str().unwrap_or(""),
                    if rt.group.is_empty() {
                        format!("/{}", rt.version)
                    } else {
                        rt.api_version()
                    },
                    rt.kind
                ),
            ));
        }
        let applied_fields = field_set(&applied, rt);
        let now = self.shared.clock.micro_timestamp();
        let current = match self.get(rt, ns, name) {
            Ok(c) => c,
            Err(e) if e.code == 404 && sub.is_none() => {
                let mut obj = applied.clone();
                obj["metadata"]["name"] = json!(name);
                let created = self.create(
                    rt,
                    ns,
                    obj,
                    &WriteOptions {
                        field_manager: None,
                        ..opts.clone()
                    },
                )?;
                if opts.dry_run {
                    return Ok(created);
                }
                let mut owned = (*created).clone();
                set_managed(
                    &mut owned,
                    &manager,
                    "Apply",
                    &rt.api_version(),
                    &now,
                    applied_fields,
                );
                owned["metadata"]["resourceVersion"] =
                    created["metadata"]["resourceVersion"].clone();
                return self.replace(
                    rt,
                    ns,
                    name,
                    owned,
                    None,
                    &WriteOptions {
                        field_manager: None,
                        strict: false,
                        ..opts.clone()
                    },
                );
            }
            Err(e) => return Err(e),
        };
        // A resourceVersion in the applied configuration is a precondition,
        // as kube-apiserver's GuaranteedUpdate makes it.
        check_resource_version(rt, name, &current, &applied)?;
        // Conflicts: fields this apply sets to a new value that others own.
        let managers = managed_entries(&current);
        let mut conflicts = Vec::new();
        for (other, _op, fields) in &managers {
            if *other == manager {
                continue;
            }
            for path in applied_fields.intersection(fields) {
                if value_at(&current, path) != value_at(&applied, path) {
                    conflicts.push((other.clone(), path.clone()));
                }
            }
        }
        if !conflicts.is_empty() && !opts.force {
            let list: Vec<String> = conflicts
                .iter()
                .map(|(m, p)| format!("conflict with \"{m}\": .{}", display_path(p)))
                .collect();
            let mut e = ApiError::conflict(rt, name, "");
            e.message = format!(
                "Apply failed with {} conflict{}: {}",
                list.len(),
                if list.len() == 1 { "" } else { "s" },
                list.join("; ")
            );
            e.details["causes"] = json!(conflicts.iter().map(|(m, p)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{m}\""), "field": format!(".{}", display_path(p))})).collect::<Vec<_>>());
            return Err(e);
        }
        let previously: BTreeSet<Vec<String>> = managers
            .iter()
            .find(|(m, op, _)| *m == manager && op == "Apply")
            .map(|(_, _, f)| f.clone())
            .unwrap_or_default();
        let others: BTreeSet<Vec<String>> = managers
            .iter()
            .filter(|(m, _, _)| *m != manager)
            .flat_map(|(_, _, f)| f.iter().cloned())
            .collect();
        let mut next = (*current).clone();
        for gone in previously.difference(&applied_fields) {
            if !others.contains(gone) {
                remove_at(&mut next, gone);
            }
        }
        let mut patch = applied.clone();
        if sub.is_none() && rt.has_status() {
            patch.as_object_mut().map(|m| m.remove("status"));
        }
        if let Some(m) = patch["metadata"].as_object_mut() {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
        next = if rt.crd.is_some() {
            super::patch::merge_patch(&next, &patch)
        } else {
            super::patch::strategic_merge(&rt.kind, &next, &patch).map_err(ApiError::bad_request)?
        };
        // Forced fields change hands.
        let mut entries = managers;
        if opts.force {
            for (m, _, fields) in entries.iter_mut() {
                if *m != manager {
                    for (_, p) in conflicts.iter().filter(|(o, _)| o == m) {
                        fields.remove(p);
                    }
                }
            }
        }
        entries.retain(|(m, op, _)| !(m == &manager && op == "Apply"));
        entries.push((manager.clone(), "Apply".into(), applied_fields));
        next["metadata"]["managedFields"] = render_managed(&entries, &rt.api_version(), &now);
        next["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
        // replace() keeps managedFields from the current object; write them through.
        let managed = next["metadata"]["managedFields"].clone();
        let result = {
            let mut st = lock(&self.shared.state);
            let cur = get_in(&st, rt, ns, name)?;
            let mut n = next;
            self.finish_update(
                &mut st,
                rt,
                &cur,
                &mut n,
                &WriteOptions {
                    field_manager: None,
                    ..opts.clone()
                },
            )?;
            n["metadata"]["managedFields"] = managed;
            if opts.dry_run {
                return Ok(Arc::new(n));
            }
            if strip_meta(&n) == strip_meta(&cur)
                && n["metadata"] == {
                    let mut m = cur["metadata"].clone();
                    m["managedFields"] = n["metadata"]["managedFields"].clone();
                    m
                }
                && n["metadata"]["managedFields"] == cur["metadata"]["managedFields"]
            {
                return Ok(cur);
            }
            let ns_key = if rt.namespaced {
                ns.unwrap_or("default").to_owned()
            } else {
                String::new()
            };
            self.commit_change(&mut st, rt, &ns_key, name, Some(n), cur)
        };
        Ok(result)
    }

    pub fn delete(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Arc<Value>> {
        let current = self.get(rt, ns, name)?;
        // Preconditions, in kube-apiserver's words.
        for (want, field, key) in [
            (&opts.uid, "UID", "uid"),
            (&opts.resource_version, "ResourceVersion", "resourceVersion"),
        ] {
            if let Some(want) = want {
                let have = current["metadata"][key].as_str().unwrap_or("");
                if want != have {
                    return Err(ApiError::conflict(
                        rt,
                        name,
                        &format!(
                            "Precondition failed: {field} in precondition: {want}, {field} in object meta: {have}"
                        ),
                    ));
                }
            }
        }
        if opts.dry_run {
            return Ok(current);
        }
        let ns_key = if rt.namespaced {
            ns.unwrap_or("default").to_owned()
        } else {
            String::new()
        };
        let has_finalizers = current["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        // As kube-apiserver: a pod never scheduled, or whose containers
        // have all finished, has no kubelet to wait for and goes at once.
        let settled = current["spec"]["nodeName"]
            .as_str()
            .is_none_or(str::is_empty)
            || matches!(
                current["status"]["phase"].as_str(),
                Some("Succeeded" | "Failed")
            );
        let grace = if rt.kind == "Pod" && !settled {
            opts.grace_period
                .filter(|g| *g >= 0)
                .or_else(|| current["spec"]["terminationGracePeriodSeconds"].as_i64())
                .unwrap_or(30)
        } else {
            0
        };
        if (grace > 0 && rt.kind == "Pod") || (has_finalizers && rt.kind != "Namespace") {
            if current["metadata"]["deletionTimestamp"].is_string() && grace > 0 {
                return Ok(current);
            }
            let mut next = (*current).clone();
            let when = self.shared.clock.now_ms() + grace * 1000;
            next["metadata"]["deletionTimestamp"] = json!(crate::time::rfc3339(when));
            next["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
            let mut st = lock(&self.shared.state);
            let answer = self.commit_change(&mut st, rt, &ns_key, name, Some(next), current);
            drop(st);
            if rt.group.is_empty() && rt.kind == "PersistentVolumeClaim" {
                self.release_claim_if_unused(rt, &ns_key, name);
            }
            return Ok(answer);
        }
        let uid = current["metadata"]["uid"].as_str().unwrap_or("").to_owned();
        let removed = {
            let mut st = lock(&self.shared.state);
            if rt.kind == "CustomResourceDefinition" {
                let group = current["spec"]["group"].as_str().unwrap_or("").to_owned();
                let plural = current["spec"]["names"]["plural"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                let key = (group, plural);
                self.remove_where(&mut st, &key, |_| true);
                st.types.retain(|t| t.crd.as_deref() != Some(name));
            }
            if rt.kind == "Namespace" {
                let keys: Vec<ResKey> = st.objects.keys().cloned().collect();
                for key in keys {
                    self.remove_where(&mut st, &key, |ons| ons == name);
                }
            }
            self.commit_change(&mut st, rt, &ns_key, name, None, current)
        };
        self.collect_dependents(&uid, opts.orphan);
        if rt.kind == "Namespace" {
            // The answer kube-apiserver gives: the namespace, terminating (its
            // controller then empties and removes it; here that is done).
            let mut answer = (*removed).clone();
            answer["metadata"]["deletionTimestamp"] = json!(self.shared.clock.timestamp());
            answer["spec"]["finalizers"] = json!(["kubernetes"]);
            answer["status"]["phase"] = json!("Terminating");
            return Ok(Arc::new(answer));
        }
        Ok(removed)
    }

    /// Remove every object of one type whose namespace is in scope,
    /// each as a DELETED watch event (a CRD or namespace going away).
    fn remove_where(&self, st: &mut State, key: &ResKey, in_scope: impl Fn(&str) -> bool) {
        let doomed: Vec<((String, String), Arc<Value>)> = st
            .objects
            .get(key)
            .map(|m| {
                m.iter()
                    .filter(|((ns, _), _)| in_scope(ns))
                    .map(|(k, v)| (k.clone(), v.object()))
                    .collect()
            })
            .unwrap_or_default();
        for ((ns, name), prev) in doomed {
            self.commit(st, key, &ns, &name, None, ChangeKind::Deleted, Some(prev));
        }
    }

    /// Garbage collection: objects owned by `uid` go too (or lose the
    /// reference when orphaned).
    fn collect_dependents(&self, uid: &str, orphan: bool) {
        if uid.is_empty() || !lock(&self.shared.state).owner_refs.contains_key(uid) {
            return;
        }
        let dependents: Vec<(ResourceType, String, String)> = {
            let st = lock(&self.shared.state);
            let mut out = Vec::new();
            for (key, objs) in &st.objects {
                let Some(rt) = st
                    .types
                    .iter()
                    .find(|t| (t.group.clone(), t.plural.clone()) == *key)
                else {
                    continue;
                };
                for ((ns, name), o) in objs {
                    if o.brief.owners.iter().any(|u| u == uid) {
                        out.push((rt.clone(), ns.clone(), name.clone()));
                    }
                }
            }
            out
        };
        for (rt, ns, name) in dependents {
            let ns = if rt.namespaced {
                Some(ns.as_str())
            } else {
                None
            };
            if orphan {
                if let Ok(cur) = self.get(&rt, ns, &name) {
                    let mut next = (*cur).clone();
                    if let Some(refs) = next["metadata"]["ownerReferences"].as_array_mut() {
                        refs.retain(|r| r["uid"] != uid);
                    }
                    let _ = self.replace(&rt, ns, &name, next, None, &WriteOptions::default());
                }
            } else {
                let _ = self.delete(
                    &rt,
                    ns,
                    &name,
                    &DeleteOptions {
                        grace_period: Some(0),
                        ..Default::default()
                    },
                );
            }
        }
    }

    /// Remove an object now, whatever its grace period (the kubelet's last word).
    pub fn remove_now(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
    ) -> ApiResult<Arc<Value>> {
        let current = self.get(rt, ns, name)?;
        let uid = current["metadata"]["uid"].as_str().unwrap_or("").to_owned();
        let ns_key = if rt.namespaced {
            ns.unwrap_or("default").to_owned()
        } else {
            String::new()
        };
        let removed = {
            let mut st = lock(&self.shared.state);
            self.commit_change(&mut st, rt, &ns_key, name, None, current)
        };
        self.collect_dependents(&uid, false);
        Ok(removed)
    }

    /// Every object of a type (all namespaces), for the simulated world.
    /// kube-controller-manager's pvc-protection controller: a claim being
    /// deleted loses its finalizer (and goes) once no pod in its namespace
    /// uses it.
    pub fn release_claim_if_unused(&self, rt: &ResourceType, ns: &str, name: &str) {
        let Ok(claim) = self.get(rt, Some(ns), name) else {
            return;
        };
        let protected = claim["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == PVC_PROTECTION));
        if claim["metadata"]["deletionTimestamp"].is_null() || !protected {
            return;
        }
        let in_use = self.stored("", "pods").iter().any(|p| {
            p.brief.namespace() == ns
                && p.object()["spec"]["volumes"].as_array().is_some_and(|vs| {
                    vs.iter()
                        .any(|v| v["persistentVolumeClaim"]["claimName"] == name)
                })
        });
        if in_use {
            return;
        }
        let mut next = (*claim).clone();
        if let Some(f) = next["metadata"]["finalizers"].as_array_mut() {
            f.retain(|x| x != PVC_PROTECTION);
        }
        let _ = self.replace(rt, Some(ns), name, next, None, &WriteOptions::default());
    }

    /// Every stored object of a type, as stored (no pod's tree is parsed).
    pub fn stored(&self, group: &str, plural: &str) -> Vec<Stored> {
        let st = lock(&self.shared.state);
        st.objects
            .get(&(group.to_owned(), plural.to_owned()))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Serve no more the resource types of `group` (the metrics API of a
    /// cluster without metrics-server, for a comparison with one).
    pub fn remove_group(&self, group: &str) {
        lock(&self.shared.state).types.retain(|t| t.group != group);
    }

    /// Record what the swarm workers' containers are doing (by pod UID),
    /// for metrics.k8s.io: the world's whole picture, replacing the last.
    pub fn set_worker_loads(&self, loads: HashMap<String, super::metrics::WorkerLoad>) {
        *lock(&self.shared.loads) = loads;
    }

    pub fn worker_loads(&self) -> HashMap<String, super::metrics::WorkerLoad> {
        lock(&self.shared.loads).clone()
    }

    pub fn all(&self, group: &str, plural: &str) -> Vec<Arc<Value>> {
        let st = lock(&self.shared.state);
        st.objects
            .get(&(group.to_owned(), plural.to_owned()))
            .map(|m| m.values().map(Stored::object).collect())
            .unwrap_or_default()
    }
}

pub fn key_of(rt: &ResourceType) -> ResKey {
    (rt.group.clone(), rt.plural.clone())
}

fn get_in(st: &State, rt: &ResourceType, ns: Option<&str>, name: &str) -> ApiResult<Arc<Value>> {
    let ns_key = if rt.namespaced {
        ns.unwrap_or("default")
    } else {
        ""
    };
    st.objects
        .get(&key_of(rt))
        .and_then(|m| m.get(&(ns_key.to_owned(), name.to_owned())))
        .map(|s| s.object())
        .ok_or_else(|| ApiError::not_found(rt, name))
}

/// Requests the server remembers (for tests and the request kinds' count).
pub const MAX_REQUESTS_KEPT: usize = 100_000;

/// A write that names a resourceVersion only applies to that version (409).
pub fn check_resource_version(
    rt: &ResourceType,
    name: &str,
    current: &Value,
    body: &Value,
) -> ApiResult<()> {
    match body["metadata"]["resourceVersion"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        Some(want) if current["metadata"]["resourceVersion"].as_str() != Some(want) => {
            Err(ApiError::conflict(
                rt,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ))
        }
        _ => Ok(()),
    }
}

fn check_type(rt: &ResourceType, map: &Map<String, Value>) -> ApiResult<()> {
    if let Some(kind) = map.get("kind").and_then(Value::as_str)
        && kind != rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind of the object ({kind}) does not match the resource of the URL ({}, kind {})",
            rt.qualified(),
            rt.kind
        )));
    }
    if let Some(av) = map.get("apiVersion").and_then(Value::as_str)
        && av != rt.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the apiVersion of the object ({av}) does not match the URL ({})",
            rt.api_version()
        )));
    }
    Ok(())
}

/// The map fields Kubernetes declares `omitempty`, which it never stores
/// empty: an object written with `data: {}` comes back without `data`, and
/// one written with `annotations: null` without `annotations`.
fn omit_empty(obj: &mut Value) {
    let empty = |v: &Value| v.as_object().is_some_and(|m| m.is_empty());
    if let Some(m) = obj.as_object_mut() {
        for k in ["data", "binaryData", "stringData"] {
            if m.get(k).is_some_and(empty) {
                m.remove(k);
            }
        }
    }
    // ObjectMeta is typed for every kind: a null map is no map.
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in ["labels", "annotations"] {
            if meta.get(k).is_some_and(|v| v.is_null() || empty(v)) {
                meta.remove(k);
            }
        }
    }
}

fn validate_name(rt: &ResourceType, name: &str) -> ApiResult<()> {
    // RBAC names are path segments, as upstream (`system:aggregate-to-view`).
    if rt.group == "rbac.authorization.k8s.io" {
        if name == "."
            || name == ".."
            || name.contains('/')
            || name.contains('%')
            || name.is_empty()
        {
            return Err(ApiError::invalid(
                rt,
                name,
                "metadata.name",
                &format!(
                    "Invalid value: \"{name}\": may not be '.' or '..', and may not contain '/' or '%'"
                ),
            ));
        }
        return Ok(());
    }
    let label_kinds = ["Namespace", "Service"];
    let ok = if label_kinds.contains(&rt.kind.as_str()) {
        manifest::is_dns_label(name)
    } else {
        manifest::is_dns_subdomain(name)
    };
    if ok {
        return Ok(());
    }
    let rule = if label_kinds.contains(&rt.kind.as_str()) {
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')"
    } else {
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')"
    };
    Err(ApiError::invalid(
        rt,
        name,
        "metadata.name",
        &format!("Invalid value: \"{name}\": {rule}"),
    ))
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let n = uuid::Uuid::new_v4().as_u128();
    (0..5)
        .map(|i| ALPHABET[((n >> (i * 8)) % ALPHABET.len() as u128) as usize] as char)
        .collect()
}

/// The finalizer that keeps a claim while a pod uses it.
pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";

fn prepare_status_on_create(rt: &ResourceType, obj: &mut Value) {
    match rt.kind.as_str() {
        "Pod" => obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"}),
        "Namespace" => {
            obj["status"] = json!({"phase": "Active"});
            if obj["spec"].is_null() {
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
            }
        }
        "StatefulSet" | "Deployment" => {
            obj["status"] = json!({"replicas": 0, "availableReplicas": 0})
        }
        "PersistentVolumeClaim" => {
            obj["status"] = json!({"phase": "Pending"});
            // The StorageObjectInUseProtection admission plugin: the claim
            // stays while a pod uses it (the world plays its controller).
            let finalizers = obj["metadata"]
                .as_object_mut()
                .map(|m| m.entry("finalizers").or_insert_with(|| json!([])));
            if let Some(Value::Array(f)) = finalizers
                && !f.iter().any(|x| x == PVC_PROTECTION)
            {
                f.push(json!(PVC_PROTECTION));
            }
        }
        _ if rt.has_status() => {
            if let Some(m) = obj.as_object_mut() {
                m.remove("status");
            }
        }
        _ => {}
    }
}

fn establish_crd(obj: &mut Value) {
    let mut names = obj["spec"]["names"].clone();
    // kube-apiserver accepts the list kind too (`WidgetList` unless named).
    if names["listKind"].is_null()
        && let Some(kind) = names["kind"].as_str()
    {
        names["listKind"] = json!(format!("{kind}List"));
    }
    let stored: Vec<Value> = obj["spec"]["versions"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .filter(|v| v["storage"].as_bool() == Some(true))
                .map(|v| v["name"].clone())
                .collect()
        })
        .unwrap_or_default();
    obj["status"] = json!({
        "acceptedNames": names,
        "storedVersions": stored,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
        ]
    });
}

fn strip_meta(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
    }
    v
}

fn strip_meta_status(v: &Value) -> Value {
    let mut v = strip_meta(v);
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
    }
    v
}

fn metadata_without_rv(v: &Value) -> Value {
    let mut m = v["metadata"].clone();
    if let Some(o) = m.as_object_mut() {
        o.remove("resourceVersion");
    }
    m
}

/// The leaf field paths of an object, as server-side apply tracks them:
/// `f:name` segments, `k:{"name":"x"}` for items of keyed lists, and
/// whole lists as leaves otherwise.
pub fn field_set(obj: &Value, rt: &ResourceType) -> BTreeSet<Vec<String>> {
    fn walk(
        v: &Value,
        kind: &str,
        names: &mut Vec<String>,
        path: &mut Vec<String>,
        out: &mut BTreeSet<Vec<String>>,
    ) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, child) in m {
                    names.push(k.clone());
                    path.push(format!("f:{k}"));
                    walk(child, kind, names, path, out);
                    path.pop();
                    names.pop();
                }
            }
            Value::Array(items) if !items.is_empty() => {
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                match super::patch::merge_key(kind, &refs) {
                    Some(key) if items.iter().all(|i| i.get(key).is_some()) => {
                        for item in items {
                            path.push(format!("k:{}", json!({key: item[key]})));
                            walk(item, kind, names, path, out);
                            path.pop();
                        }
                    }
                    _ => {
                        out.insert(path.clone());
                    }
                }
            }
            _ => {
                out.insert(path.clone());
            }
        }
    }
    let mut out = BTreeSet::new();
    let mut trimmed = obj.clone();
    if let Some(m) = trimmed.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "name",
                "namespace",
                "uid",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "managedFields",
                "deletionTimestamp",
            ] {
                meta.remove(k);
            }
        }
        if m.get("metadata")
            .is_some_and(|v| v.as_object().is_some_and(|o| o.is_empty()))
        {
            m.remove("metadata");
        }
        if rt.has_status() {
            m.remove("status");
        }
    }
    walk(
        &trimmed,
        &rt.kind,
        &mut Vec::new(),
        &mut Vec::new(),
        &mut out,
    );
    out.retain(|p| !p.is_empty());
    out
}

fn display_path(path: &[String]) -> String {
    path.iter()
        .map(|s| {
            s.strip_prefix("f:").map_or_else(
                || format!("[{}]", s.trim_start_matches("k:")),
                str::to_owned,
            )
        })
        .collect::<Vec<_>>()
        .join(".")
        .replace(".[", "[")
}

fn step<'a>(v: &'a Value, seg: &str) -> Option<&'a Value> {
    if let Some(f) = seg.strip_prefix("f:") {
        return v.get(f);
    }
    let key: Value = serde_json::from_str(seg.strip_prefix("k:")?).ok()?;
    let (k, want) = key.as_object()?.iter().next()?;
    v.as_array()?.iter().find(|i| i.get(k) == Some(want))
}

fn value_at<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |acc, seg| step(acc, seg))
}

fn remove_at(v: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for seg in parents {
        let next = if let Some(f) = seg.strip_prefix("f:") {
            cur.get_mut(f)
        } else {
            let key: Option<Value> = seg
                .strip_prefix("k:")
                .and_then(|k| serde_json::from_str(k).ok());
            match key
                .as_ref()
                .and_then(|k| k.as_object())
                .and_then(|o| o.iter().next())
            {
                Some((k, want)) => cur
                    .as_array_mut()
                    .and_then(|a| a.iter_mut().find(|i| i.get(k) == Some(want))),
                None => None,
            }
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(key) = last
        .strip_prefix("k:")
        .and_then(|k| serde_json::from_str::<Value>(k).ok())
        && let Some((k, want)) = key.as_object().and_then(|o| o.iter().next())
        && let Some(a) = cur.as_array_mut()
    {
        a.retain(|i| i.get(k) != Some(want));
    }
}

fn fields_v1(paths: &BTreeSet<Vec<String>>) -> Value {
    let mut root = json!({});
    for p in paths {
        let mut cur = &mut root;
        for seg in p {
            if !cur.get(seg).is_some_and(Value::is_object) {
                cur[seg.as_str()] = json!({});
            }
            cur = &mut cur[seg.as_str()];
        }
    }
    root
}

fn paths_of(fields: &Value) -> BTreeSet<Vec<String>> {
    fn walk(v: &Value, path: &mut Vec<String>, out: &mut BTreeSet<Vec<String>>) {
        match v.as_object() {
            Some(m) if !m.is_empty() => {
                for (k, child) in m {
                    if k == "." {
                        continue;
                    }
                    path.push(k.clone());
                    walk(child, path, out);
                    path.pop();
                }
            }
            _ => {
                out.insert(path.clone());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(fields, &mut Vec::new(), &mut out);
    out.retain(|p| !p.is_empty());
    out
}

/// (manager, operation, fields) of every managedFields entry.
fn managed_entries(obj: &Value) -> Vec<(String, String, BTreeSet<Vec<String>>)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    (
                        e["manager"].as_str().unwrap_or("").to_owned(),
                        e["operation"].as_str().unwrap_or("").to_owned(),
                        paths_of(&e["fieldsV1"]),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn render_managed(
    entries: &[(String, String, BTreeSet<Vec<String>>)],
    api_version: &str,
    time: &str,
) -> Value {
    Value::Array(
        entries
            .iter()
            .filter(|(_, _, f)| !f.is_empty())
            .map(|(m, op, f)| {
                json!({"manager": m, "operation": op, "apiVersion": api_version, "time": time,
                    "fieldsType": "FieldsV1", "fieldsV1": fields_v1(f)})
            })
            .collect(),
    )
}

fn set_managed(
    obj: &mut Value,
    manager: &str,
    operation: &str,
    api_version: &str,
    time: &str,
    fields: BTreeSet<Vec<String>>,
) {
    let mut entries = managed_entries(obj);
    // An update takes the fields it wrote away from other updaters.
    if operation == "Update" {
        for (m, op, f) in entries.iter_mut() {
            if m != manager && op == "Update" {
                f.retain(|p| !fields.contains(p));
            }
        }
    }
    entries.retain(|(m, op, _)| !(m == manager && op == operation));
    entries.push((manager.to_owned(), operation.to_owned(), fields));
    obj["metadata"]["managedFields"] = render_managed(&entries, api_version, time);
}

#[cfg(test)]
mod request_kind_tests {
    use super::request_kind;

    #[test]
    fn kinds_name_the_verb_resource_and_what_changes_the_answer() {
        assert_eq!(
            request_kind(
                "GET",
                "/api/v1/namespaces/swarm/pods",
                "watch=true&labelSelector=app%3Dx&resourceVersion=5"
            ),
            "watch pods (labelSelector, resourceVersion)"
        );
        assert_eq!(
            request_kind(
                "PATCH",
                "/apis/apps/v1/namespaces/swarm/statefulsets/w/scale",
                ""
            ),
            "patch apps/statefulsets/scale"
        );
        assert_eq!(
            request_kind("GET", "/api/v1/namespaces/swarm", ""),
            "get namespaces"
        );
        assert_eq!(
            request_kind("GET", "/api/v1/namespaces", ""),
            "list namespaces"
        );
        assert_eq!(request_kind("GET", "/apis", ""), "GET /apis");
        assert_eq!(
            request_kind(
                "DELETE",
                "/api/v1/namespaces/x/pods/p",
                "gracePeriodSeconds=0"
            ),
            "delete pods (gracePeriodSeconds)"
        );
    }
}

#[cfg(test)]
mod list_tests {
    use super::*;

    fn cluster_with_configmaps() -> (Cluster, ResourceType) {
        let cluster = Cluster::new(Clock::manual(1_795_305_600_000), 64);
        let rt = cluster.resolve("", "v1", "configmaps").unwrap();
        for ns in ["a", "b", "c"] {
            cluster.ensure_namespace(ns).unwrap();
            for i in 0..5 {
                let cm = json!({"metadata": {"name": format!("cm-{i}"), "labels": {"odd": (i % 2 == 1).to_string()}}, "data": {"i": i.to_string()}});
                cluster
                    .create(&rt, Some(ns), cm, &WriteOptions::default())
                    .unwrap();
            }
        }
        (cluster, rt)
    }

    /// Every page of every list, followed by its continue token.
    fn paged(cluster: &Cluster, rt: &ResourceType, opts: ListOptions) -> Vec<String> {
        let mut seen = Vec::new();
        let mut token = None;
        loop {
            let page = cluster.list(
                rt,
                &ListOptions {
                    continue_token: token,
                    ..opts.clone()
                },
            );
            seen.extend(
                page.items
                    .iter()
                    .map(|s| format!("{}/{}", s.brief.namespace(), s.brief.name())),
            );
            match page.continue_token {
                Some(t) => token = Some(t),
                None => return seen,
            }
        }
    }

    /// A namespace's list is its objects only, page by page as in one go,
    /// with and without selectors; a list's JSON is each object as stored.
    #[test]
    fn pages_of_a_namespace_and_the_stored_json() {
        let (cluster, rt) = cluster_with_configmaps();
        let whole = |ns: Option<&str>, odd: bool| {
            let mut opts = ListOptions {
                namespace: ns.map(str::to_owned),
                ..Default::default()
            };
            if odd {
                opts.labels = super::super::selectors::LabelSelector::parse("odd=true").unwrap();
            }
            opts
        };
        for ns in [None, Some("a"), Some("b"), Some("c")] {
            for odd in [false, true] {
                let all = paged(&cluster, &rt, whole(ns, odd));
                let want: Vec<String> = ["a", "b", "c"]
                    .iter()
                    .filter(|n| ns.is_none_or(|want| want == **n))
                    .flat_map(|n| {
                        (0..5)
                            .filter(move |i| !odd || i % 2 == 1)
                            .map(move |i| format!("{n}/cm-{i}"))
                    })
                    .collect();
                assert_eq!(all, want, "namespace {ns:?}, odd {odd}");
                for limit in [1, 2, 3] {
                    let pages = paged(
                        &cluster,
                        &rt,
                        ListOptions {
                            limit: Some(limit),
                            ..whole(ns, odd)
                        },
                    );
                    assert_eq!(pages, want, "namespace {ns:?}, odd {odd}, limit {limit}");
                }
            }
        }
        let first = cluster.list(
            &rt,
            &ListOptions {
                namespace: Some("b".into()),
                limit: Some(2),
                ..Default::default()
            },
        );
        assert_eq!(first.remaining, 3);
        let cm = &first.items[0];
        assert_eq!(cm.json, serde_json::to_vec(cm.object().as_ref()).unwrap());
        assert!(cm.tree().is_some(), "a ConfigMap keeps its tree");
        let mut next = (*cm.object()).clone();
        next["data"]["i"] = json!("changed");
        let updated = cluster
            .replace(&rt, Some("b"), "cm-0", next, None, &WriteOptions::default())
            .unwrap();
        let again = cluster.list(&rt, &whole(Some("b"), false));
        let text = std::str::from_utf8(&again.items[0].json).unwrap();
        assert!(text.contains("\"changed\""), "{text}");
        assert!(
            text.contains(&format!(
                "\"resourceVersion\":\"{}\"",
                updated["metadata"]["resourceVersion"].as_str().unwrap()
            )),
            "{text}"
        );
    }

    /// A pod is kept as its JSON and its brief, no tree: reading it parses
    /// the JSON (the object written, with its version), selectors and the
    /// world read the brief, and a write replaces both.
    #[test]
    fn a_pod_is_kept_as_json_and_brief() {
        let cluster = Cluster::new(Clock::manual(1_795_305_600_000), 64);
        let rt = cluster.resolve("", "v1", "pods").unwrap();
        cluster.ensure_namespace("a").unwrap();
        let created = cluster
            .create(
                &rt,
                Some("a"),
                json!({"metadata": {"name": "p", "labels": {"app": "w"},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "w", "uid": "owner-1", "controller": true}]},
                    "spec": {"containers": [{"name": "main", "image": "busybox"}]}}),
                &WriteOptions::default(),
            )
            .unwrap();
        let stored = cluster.stored("", "pods");
        assert_eq!(stored.len(), 1);
        assert!(stored[0].tree().is_none(), "no tree kept for a pod");
        assert_eq!(stored[0].object(), created);
        assert_eq!(cluster.get(&rt, Some("a"), "p").unwrap(), created);
        let brief = &stored[0].brief;
        assert_eq!((brief.namespace(), brief.name()), ("a", "p"));
        assert_eq!(brief.owners, vec!["owner-1".to_owned()]);
        assert_eq!(brief.label("app"), Some("w"));
        assert!(!brief.ready && !brief.deleting);
        assert_eq!(cluster.containers_of("a", "p"), vec!["main".to_owned()]);
        let mut next = (*created).clone();
        next["status"] =
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]});
        cluster
            .replace(
                &rt,
                Some("a"),
                "p",
                next,
                Some("status"),
                &WriteOptions::default(),
            )
            .unwrap();
        let brief = cluster.stored("", "pods")[0].brief.clone();
        assert!(brief.ready);
        assert_eq!(brief.field("status.phase"), Some("Running"));
        let by_label = |sel: &str| {
            cluster
                .list(
                    &rt,
                    &ListOptions {
                        labels: super::super::selectors::LabelSelector::parse(sel).unwrap(),
                        ..Default::default()
                    },
                )
                .items
                .len()
        };
        assert_eq!((by_label("app=w"), by_label("app=x")), (1, 0));
    }
}
