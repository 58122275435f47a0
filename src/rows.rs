//! The rows the tables show, built from objects — by the console's watch
//! stores off the UI thread, and by `swarmdeck get` — and the row order
//! (filter and sort). Shared by the console and the command line.

use std::cmp::Ordering;
use std::collections::HashMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod};

use crate::domain::assignment::WorkerConfig;
use crate::domain::quantity::Usage;
use crate::domain::task::Task;
use crate::domain::workload::{ExecState, pod_state};

/// The resource views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ViewKind {
    Pods,
    StatefulSets,
    ConfigMaps,
    Tasks,
    Events,
    Audit,
}

impl ViewKind {
    pub const ALL: [ViewKind; 6] = [
        ViewKind::Pods,
        ViewKind::StatefulSets,
        ViewKind::ConfigMaps,
        ViewKind::Tasks,
        ViewKind::Events,
        ViewKind::Audit,
    ];

    pub fn title(self) -> &'static str {
        match self {
            ViewKind::Pods => "Pods",
            ViewKind::StatefulSets => "StatefulSets",
            ViewKind::ConfigMaps => "ConfigMaps",
            ViewKind::Tasks => "Tasks",
            ViewKind::Events => "Events",
            ViewKind::Audit => "Audit log",
        }
    }

    /// One object of the view, in lower case ("pod", "statefulset").
    pub fn singular(self) -> &'static str {
        match self {
            ViewKind::Pods => "pod",
            ViewKind::StatefulSets => "statefulset",
            ViewKind::ConfigMaps => "configmap",
            ViewKind::Tasks => "task",
            ViewKind::Events => "event",
            ViewKind::Audit => "audit entry",
        }
    }

    /// The palette command that opens it.
    pub fn command(self) -> &'static str {
        match self {
            ViewKind::Pods => "pods",
            ViewKind::StatefulSets => "sts",
            ViewKind::ConfigMaps => "cm",
            ViewKind::Tasks => "tasks",
            ViewKind::Events => "events",
            ViewKind::Audit => "audit",
        }
    }

    /// (group, version, plural, kind) for API calls about a row.
    pub fn api(self) -> Option<(&'static str, &'static str, &'static str, &'static str)> {
        Some(match self {
            ViewKind::Pods => ("", "v1", "pods", "Pod"),
            ViewKind::StatefulSets => ("apps", "v1", "statefulsets", "StatefulSet"),
            ViewKind::ConfigMaps => ("", "v1", "configmaps", "ConfigMap"),
            ViewKind::Tasks => ("aliecs.alice.cern", "v1alpha1", "tasks", "Task"),
            ViewKind::Events => ("", "v1", "events", "Event"),
            ViewKind::Audit => return None,
        })
    }

    /// The kind of the view's objects, for calls about one of them.
    pub fn api_kind(self) -> Option<crate::cluster::discovery::ApiKind> {
        let (group, version, plural, kind) = self.api()?;
        Some(crate::cluster::discovery::ApiKind::known(
            group, version, kind, plural, true,
        ))
    }

    /// Column titles with their priority: lower stays longer on narrow screens.
    pub fn columns(self) -> &'static [(&'static str, u8)] {
        match self {
            ViewKind::Pods => &[
                ("NAMESPACE", 3),
                ("NAME", 0),
                ("READY", 1),
                ("STATUS", 0),
                ("STATE", 2),
                ("RESTARTS", 4),
                ("CPU", 6),
                ("MEM", 7),
                ("JOBS", 5),
                ("CONFIG", 5),
                ("AGE", 1),
                ("NODE", 6),
            ],
            ViewKind::StatefulSets => &[
                ("NAMESPACE", 3),
                ("NAME", 0),
                ("READY", 0),
                ("SWARM", 1),
                ("JOBS/WORKER", 2),
                ("AGE", 1),
            ],
            ViewKind::ConfigMaps => &[
                ("NAMESPACE", 3),
                ("NAME", 0),
                ("KEYS", 1),
                ("SIZE", 2),
                ("AGE", 1),
            ],
            ViewKind::Tasks => &[
                ("NAMESPACE", 3),
                ("NAME", 0),
                ("MODE", 2),
                ("DESIRED", 0),
                ("ACTUAL", 0),
                ("TARGET", 1),
                ("CONDITION", 4),
                ("AGE", 1),
            ],
            ViewKind::Events => &[
                ("NAMESPACE", 4),
                ("LAST SEEN", 0),
                ("TYPE", 1),
                ("REASON", 0),
                ("OBJECT", 1),
                ("MESSAGE", 2),
            ],
            ViewKind::Audit => &[
                ("TIME", 0),
                ("USER", 2),
                ("OBJECT", 0),
                ("ACTION", 0),
                ("RESULT", 1),
            ],
        }
    }
}

/// One table cell; ages are kept as timestamps and shown relative to now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Text(String),
    Num(i64),
    Age(Option<i64>),
}

impl Cell {
    pub fn show(&self, now_ms: i64) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Num(n) => n.to_string(),
            Cell::Age(Some(t)) => crate::time::human_duration((now_ms - t).max(0) / 1000),
            Cell::Age(None) => "<unknown>".into(),
        }
    }

    fn cmp_with(&self, other: &Cell) -> Ordering {
        match (self, other) {
            (Cell::Num(a), Cell::Num(b)) => a.cmp(b),
            // Newest first reads as "smallest age" first.
            (Cell::Age(a), Cell::Age(b)) => b.cmp(a),
            (a, b) => a.text().cmp(b.text()),
        }
    }

    fn text(&self) -> &str {
        match self {
            Cell::Text(s) => s,
            _ => "",
        }
    }
}

/// How a row should look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Severity {
    #[default]
    Normal,
    Ok,
    Pending,
    Warn,
    Error,
}

impl Severity {
    pub fn role(self) -> &'static str {
        match self {
            Severity::Normal => "status",
            Severity::Ok => "status.ok",
            Severity::Pending => "status.pending",
            Severity::Warn => "status.warn",
            Severity::Error => "status.error",
        }
    }
}

/// What some views need beyond their cells.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Extra {
    #[default]
    None,
    Pod {
        config_version: Option<u64>,
        ready: bool,
        /// For the convergence rule: was this pod created after a write?
        uid: String,
        /// Why a container last ended (`OOMKilled`, `Error`, exit 137), if one did.
        last_exit: Option<String>,
        /// Its containers' requests and limits, summed (0: none set).
        requests: Usage,
        limits: Usage,
    },
    /// A Task's error, and since when (ms) its latest condition stands.
    Task {
        error: Option<String>,
        since_ms: Option<i64>,
    },
    StatefulSet {
        replicas: i64,
    },
    /// An output ConfigMap: the assignment, and the workers whose refresh
    /// is not confirmed yet (annotation `swarmdeck.io/pending-refresh`).
    /// The handoff record (`swarmdeck.io/handoff-state`) rides along.
    WorkerConfig(
        Box<WorkerConfig>,
        crate::domain::swarm::PendingRefresh,
        Option<Box<crate::domain::handoff::HandoffState>>,
    ),
    /// A jobs ConfigMap: its jobs (or why they do not parse), dedicated
    /// streams, and whether a rebalance was requested.
    Jobs(Box<JobsInfo>),
}

/// What the grid needs from a jobs ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobsInfo {
    /// The swarm this ConfigMap feeds (seed defaults, or its labels).
    pub swarm: Option<crate::domain::swarm::SwarmRef>,
    pub jobs: Result<std::sync::Arc<Vec<String>>, String>,
    pub dedicated: Vec<String>,
    pub rebalance_requested: bool,
    /// `swarmdeck.io/handoff` (or why it is not understood: strict is used).
    pub handoff: Result<crate::domain::handoff::HandoffMode, String>,
    /// `swarmdeck.io/scale-requested`, when it holds a count.
    pub scale_requested: Option<u32>,
}

/// A row of a resource view. Cells exclude NAMESPACE and the swarm columns,
/// which the view fills in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub namespace: String,
    pub name: String,
    pub cells: Vec<Cell>,
    pub severity: Severity,
    pub extra: Extra,
}

fn created(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<i64> {
    meta.creation_timestamp
        .as_ref()
        .map(|t| t.0.as_millisecond())
}

pub fn pod_row(p: &Pod) -> Row {
    let state = pod_state(p);
    let spec_count = p.spec.as_ref().map_or(0, |s| s.containers.len());
    let cs = p
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref());
    let ready = cs.map_or(0, |c| c.iter().filter(|s| s.ready).count());
    let restarts: i64 = cs.map_or(0, |c| c.iter().map(|s| i64::from(s.restart_count)).sum());
    let status = if p.metadata.deletion_timestamp.is_some() {
        "Terminating".to_owned()
    } else {
        cs.and_then(|c| {
            c.iter()
                .find_map(|s| s.state.as_ref()?.waiting.as_ref()?.reason.clone())
        })
        .or_else(|| {
            p.status
                .as_ref()
                .and_then(|s| s.reason.clone().or_else(|| s.phase.clone()))
        })
        .unwrap_or_else(|| "Unknown".into())
    };
    let severity = match state.state {
        ExecState::Running | ExecState::Succeeded => Severity::Ok,
        ExecState::Pending(crate::domain::workload::PendingSubstate::StartingFailed)
        | ExecState::Failed(_) => Severity::Error,
        ExecState::NotScheduled | ExecState::Stopping => Severity::Warn,
        ExecState::Pending(_) => Severity::Pending,
        ExecState::Removed => Severity::Normal,
    };
    let state_text = if state.reason.is_empty() {
        state.state.name().to_owned()
    } else {
        format!("{}: {}", state.state.name(), state.reason)
    };
    let config_version = p
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(crate::domain::names::CONFIG_VERSION_ANNOTATION))
        .and_then(|v| v.parse().ok());
    Row {
        namespace: p.metadata.namespace.clone().unwrap_or_default(),
        name: p.metadata.name.clone().unwrap_or_default(),
        cells: vec![
            Cell::Text(format!("{ready}/{spec_count}")),
            Cell::Text(status),
            Cell::Text(state_text),
            Cell::Num(restarts),
            Cell::Age(created(&p.metadata)),
            Cell::Text(
                p.spec
                    .as_ref()
                    .and_then(|s| s.node_name.clone())
                    .unwrap_or_else(|| "<none>".into()),
            ),
        ],
        severity,
        extra: Extra::Pod {
            config_version,
            last_exit: last_exit(p),
            requests: resources(p, |r| r.requests.as_ref()),
            limits: resources(p, |r| r.limits.as_ref()),
            uid: p.metadata.uid.clone().unwrap_or_default(),
            ready: p.metadata.deletion_timestamp.is_none()
                && p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
        },
    }
}

/// The sum over `p`'s containers of one side of their resources (requests
/// or limits); what does not parse counts as unset.
fn resources(
    p: &Pod,
    side: impl Fn(
        &k8s_openapi::api::core::v1::ResourceRequirements,
    ) -> Option<
        &std::collections::BTreeMap<
            String,
            k8s_openapi::apimachinery::pkg::api::resource::Quantity,
        >,
    >,
) -> Usage {
    p.spec
        .iter()
        .flat_map(|s| &s.containers)
        .filter_map(|c| side(c.resources.as_ref()?))
        .map(|m| Usage {
            cpu_m: m
                .get("cpu")
                .and_then(|q| crate::domain::quantity::millicores(&q.0))
                .unwrap_or(0),
            memory: m
                .get("memory")
                .and_then(|q| crate::domain::quantity::bytes(&q.0))
                .unwrap_or(0),
        })
        .fold(Usage::default(), |a, b| a + b)
}

/// Why a container of `p` last ended: the reason its last state records
/// (`OOMKilled`, `Error`), else its exit code.
fn last_exit(p: &Pod) -> Option<String> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .filter_map(|c| c.last_state.as_ref()?.terminated.as_ref())
        .map(|t| match &t.reason {
            Some(r) if !r.is_empty() => r.clone(),
            _ => format!("exit {}", t.exit_code),
        })
        .next()
}

pub fn sts_row(s: &StatefulSet) -> Row {
    let want = s.spec.as_ref().and_then(|sp| sp.replicas).unwrap_or(1);
    let ready = s
        .status
        .as_ref()
        .and_then(|st| st.ready_replicas)
        .unwrap_or(0);
    let severity = if ready == want {
        Severity::Ok
    } else {
        Severity::Pending
    };
    Row {
        namespace: s.metadata.namespace.clone().unwrap_or_default(),
        name: s.metadata.name.clone().unwrap_or_default(),
        cells: vec![
            Cell::Text(format!("{ready}/{want}")),
            Cell::Age(created(&s.metadata)),
        ],
        severity,
        extra: Extra::StatefulSet {
            replicas: i64::from(want),
        },
    }
}

pub fn cm_row(c: &ConfigMap) -> Row {
    let data = c.data.as_ref();
    let mut keys: Vec<&String> = data.map(|d| d.keys().collect()).unwrap_or_default();
    keys.extend(
        c.binary_data
            .as_ref()
            .map(|d| d.keys().collect::<Vec<_>>())
            .unwrap_or_default(),
    );
    let size: usize = data.map_or(0, |d| d.values().map(String::len).sum::<usize>())
        + c.binary_data
            .as_ref()
            .map_or(0, |d| d.values().map(|b| b.0.len()).sum());
    let config = data.and_then(|d| d.get(crate::domain::swarm::CONFIG_KEY));
    let annotation = |k: &str| {
        c.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(k))
            .cloned()
    };
    let assigned = config
        .filter(|t| t.contains("workloads"))
        .and_then(|_| crate::domain::swarm::Assigned::read(c).ok());
    let extra = match assigned {
        Some(a) => Extra::WorkerConfig(Box::new(a.config), a.pending, a.handoff.map(Box::new)),
        None if config.is_some_and(|t| t.lines().any(|l| l.trim_start().starts_with("jobs:")))
            || c.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(crate::domain::names::SWARM_LABEL)) =>
        {
            let seed = crate::domain::swarm::SwarmRef::default();
            let label = c
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(crate::domain::names::SWARM_LABEL))
                .cloned();
            let swarm = match label {
                Some(name) => Some(crate::domain::swarm::swarm_of(&name, c)),
                None if c.metadata.namespace.as_deref() == Some(seed.namespace.as_str())
                    && c.metadata.name.as_deref() == Some(seed.jobs_config_map.as_str()) =>
                {
                    Some(seed)
                }
                None => None,
            };
            Extra::Jobs(Box::new(JobsInfo {
                swarm,
                jobs: crate::domain::assignment::parse_jobs(config.map_or("", String::as_str))
                    .map(std::sync::Arc::new),
                dedicated: crate::domain::swarm::dedicated(c),
                rebalance_requested: annotation(crate::domain::names::REBALANCE_ANNOTATION)
                    .is_some(),
                handoff: crate::domain::handoff::HandoffMode::parse(
                    annotation(crate::domain::handoff::MODE_ANNOTATION).as_deref(),
                ),
                scale_requested: annotation(crate::domain::names::SCALE_ANNOTATION)
                    .and_then(|v| v.trim().parse().ok()),
            }))
        }
        None => Extra::None,
    };
    let mut names: Vec<String> = keys.iter().map(|k| (*k).clone()).collect();
    names.sort();
    Row {
        namespace: c.metadata.namespace.clone().unwrap_or_default(),
        name: c.metadata.name.clone().unwrap_or_default(),
        cells: vec![
            Cell::Text(names.join(",")),
            Cell::Text(human_bytes(size)),
            Cell::Age(created(&c.metadata)),
        ],
        severity: Severity::Normal,
        extra,
    }
}

fn human_bytes(n: usize) -> String {
    match n {
        n if n < 1024 => format!("{n}B"),
        n if n < 1024 * 1024 => format!("{:.1}KiB", n as f64 / 1024.0),
        n => format!("{:.1}MiB", n as f64 / (1024.0 * 1024.0)),
    }
}

pub fn task_row(t: &Task) -> Row {
    let mode = t
        .spec
        .control
        .as_ref()
        .and_then(|c| c.mode.clone())
        .unwrap_or_else(|| "direct".into());
    let actual = t
        .status
        .as_ref()
        .and_then(|s| s.state.clone())
        .unwrap_or_default();
    let target = t
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(crate::domain::names::TARGET_ANNOTATION))
        .cloned()
        .unwrap_or_default();
    let condition = t
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().max_by_key(|c| c.last_transition_time.0))
        .map(|c| format!("{}={}: {}", c.type_, c.status, c.message))
        .unwrap_or_default();
    let severity = match actual.as_str() {
        "error" => Severity::Error,
        "running" => Severity::Ok,
        "" => Severity::Pending,
        _ => Severity::Normal,
    };
    Row {
        namespace: t.metadata.namespace.clone().unwrap_or_default(),
        name: t.metadata.name.clone().unwrap_or_default(),
        cells: vec![
            Cell::Text(mode),
            Cell::Text(t.spec.state.clone().unwrap_or_default()),
            Cell::Text(actual),
            Cell::Text(target),
            Cell::Text(condition),
            Cell::Age(created(&t.metadata)),
        ],
        severity,
        extra: Extra::Task {
            error: t
                .status
                .as_ref()
                .and_then(|s| s.error.clone())
                .filter(|e| !e.is_empty()),
            since_ms: t
                .status
                .as_ref()
                .and_then(|s| s.conditions.iter().map(|c| c.last_transition_time.0).max())
                .map(|t| t.as_millisecond()),
        },
    }
}

pub fn event_row(e: &Event) -> Row {
    let last = e
        .last_timestamp
        .as_ref()
        .map(|t| t.0.as_millisecond())
        .or_else(|| e.event_time.as_ref().map(|t| t.0.as_millisecond()))
        .or_else(|| created(&e.metadata));
    let kind = e.type_.clone().unwrap_or_default();
    let object = format!(
        "{}/{}",
        e.involved_object
            .kind
            .clone()
            .unwrap_or_default()
            .to_lowercase(),
        e.involved_object.name.clone().unwrap_or_default()
    );
    Row {
        namespace: e.metadata.namespace.clone().unwrap_or_default(),
        name: e.metadata.name.clone().unwrap_or_default(),
        cells: vec![
            Cell::Age(last),
            Cell::Text(kind.clone()),
            Cell::Text(e.reason.clone().unwrap_or_default()),
            Cell::Text(object),
            Cell::Text(e.message.clone().unwrap_or_default().replace('\n', " ")),
        ],
        severity: if kind == "Warning" {
            Severity::Warn
        } else {
            Severity::Normal
        },
        extra: Extra::None,
    }
}

/// One line of the engine's JSONL audit log.
pub fn audit_row(line: &str) -> Option<Row> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
    let result = s("result");
    Some(Row {
        namespace: String::new(),
        name: format!("{} {}", s("time"), s("object")),
        cells: vec![
            Cell::Text(s("time")),
            Cell::Text(s("user")),
            Cell::Text(s("object")),
            Cell::Text(s("action")),
            Cell::Text(result.clone()),
        ],
        severity: if result.starts_with("fail") {
            Severity::Error
        } else {
            Severity::Normal
        },
        extra: Extra::None,
    })
}

/// What the swarm columns need of one worker: its job count and version from
/// the output ConfigMap, and what the convergence rule needs besides its pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerEntry {
    pub jobs: usize,
    pub version: u64,
    /// None: no refresh pending; else the pod UID recorded at the write.
    pub pending: Option<Option<String>>,
    pub refresh: crate::domain::swarm::RefreshPolicy,
}

/// A display row: all cells in column order, ready to print, and the typed
/// cells its sort compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayRow {
    pub namespace: String,
    pub name: String,
    pub cells: Vec<String>,
    pub severity: Severity,
    pub sort_cells: Vec<Cell>,
}

/// Derive the display row of one row: swarm columns filled in.
pub fn display_row(
    kind: ViewKind,
    r: &Row,
    workers: &HashMap<(String, String), WorkerEntry>,
    usage: &HashMap<(String, String), Usage>,
    now_ms: i64,
) -> DisplayRow {
    let mut cells: Vec<Cell> = Vec::with_capacity(kind.columns().len());
    if kind != ViewKind::Audit {
        cells.push(Cell::Text(r.namespace.clone()));
    }
    match kind {
        ViewKind::Pods => {
            cells.push(Cell::Text(r.name.clone()));
            cells.extend(r.cells[..4].iter().cloned());
            let used = if usage.is_empty() {
                None
            } else {
                usage.get(&(r.namespace.clone(), r.name.clone()))
            };
            cells.push(usage_cell(used.map(|u| u.cpu_m)));
            cells.push(usage_cell(used.map(|u| u.memory)));
            // Most pods are not swarm workers: no key to build for them.
            let entry = if workers.is_empty() {
                None
            } else {
                workers.get(&(r.namespace.clone(), r.name.clone()))
            };
            let (jobs, config) = match (entry, &r.extra) {
                (
                    Some(e),
                    Extra::Pod {
                        config_version,
                        ready,
                        uid,
                        ..
                    },
                ) => {
                    let (n, v) = (&e.jobs, &e.version);
                    let pod = crate::domain::swarm::WorkerPod {
                        uid: Some(uid.as_str()),
                        ready: *ready,
                        reported: *config_version,
                    };
                    let converged = crate::domain::swarm::converged_with(
                        Some(pod),
                        e.version,
                        e.pending.as_ref().map(Option::as_deref),
                        e.refresh,
                    );
                    // A worker that reports the version has loaded it, ready or not.
                    let mark = if converged || config_version.is_some_and(|c| c >= *v) {
                        format!("v{v} ✓")
                    } else {
                        format!(
                            "v{}→{v}",
                            config_version.map_or("-".into(), |c| c.to_string())
                        )
                    };
                    (Cell::Num(*n as i64), Cell::Text(mark))
                }
                _ => (Cell::Text(String::new()), Cell::Text(String::new())),
            };
            cells.push(jobs);
            cells.push(config);
            cells.push(r.cells[4].clone());
            cells.push(r.cells[5].clone());
        }
        ViewKind::StatefulSets => {
            cells.push(Cell::Text(r.name.clone()));
            cells.push(r.cells[0].clone());
            let prefix = format!("{}-", r.name);
            let mine: Vec<usize> = workers
                .iter()
                .filter(|((ns, w), _)| {
                    *ns == r.namespace
                        && w.strip_prefix(&prefix)
                            .is_some_and(|o| o.parse::<u32>().is_ok())
                })
                .map(|(_, e)| e.jobs)
                .collect();
            if mine.is_empty() {
                cells.push(Cell::Text(String::new()));
                cells.push(Cell::Text(String::new()));
            } else {
                let total: usize = mine.iter().sum();
                let (min, max) = (
                    mine.iter().min().copied().unwrap_or(0),
                    mine.iter().max().copied().unwrap_or(0),
                );
                cells.push(Cell::Text(r.name.clone()));
                cells.push(Cell::Text(if min == max {
                    format!("{min} ({total} jobs)")
                } else {
                    format!("{min}-{max} ({total} jobs)")
                }));
            }
            cells.push(r.cells[1].clone());
        }
        ViewKind::Events | ViewKind::Audit => cells.extend(r.cells.iter().cloned()),
        _ => {
            cells.push(Cell::Text(r.name.clone()));
            cells.extend(r.cells.iter().cloned());
        }
    }
    let mut shown: Vec<String> = cells.iter().map(|c| c.show(now_ms)).collect();
    if kind == ViewKind::Pods
        && let Extra::Pod {
            requests, limits, ..
        } = &r.extra
    {
        // CPU and MEM sort by the number and read as kubectl top writes
        // them, with their share of the request (or limit).
        use crate::domain::quantity::{show_bytes, show_millicores};
        if let Some(Cell::Num(n)) = cells.get(6) {
            shown[6] = usage_text(*n as u64, requests.cpu_m, limits.cpu_m, show_millicores);
        }
        if let Some(Cell::Num(n)) = cells.get(7) {
            shown[7] = usage_text(*n as u64, requests.memory, limits.memory, show_bytes);
        }
    }
    DisplayRow {
        namespace: r.namespace.clone(),
        name: r.name.clone(),
        cells: shown,
        severity: r.severity,
        sort_cells: cells,
    }
}

/// A usage cell: the number to sort by, or `-` when not measured.
fn usage_cell(used: Option<u64>) -> Cell {
    match used {
        Some(n) => Cell::Num(n.min(i64::MAX as u64) as i64),
        None => Cell::Text("-".into()),
    }
}

/// `315m 31%`: the usage and its share of the request (else of the limit;
/// `/L` marks a limit's share).
fn usage_text(used: u64, request: u64, limit: u64, show: fn(u64) -> String) -> String {
    let pct = |of: u64| used.saturating_mul(100) / of.max(1);
    match (request, limit) {
        (r, _) if r > 0 => format!("{} {}%", show(used), pct(r)),
        (_, l) if l > 0 => format!("{} {}%/L", show(used), pct(l)),
        _ => show(used),
    }
}

/// Order a table's rows: those `keep` passes, by `sort`. Rows that arrive
/// `presorted` (by namespace and name, as stores and server Tables hold
/// them) need no sort for column 0 ascending.
pub fn order_rows(
    rows: impl Iterator<Item = std::sync::Arc<DisplayRow>>,
    keep: &dyn Fn(&DisplayRow) -> bool,
    sort: (usize, bool),
    presorted: bool,
) -> Vec<std::sync::Arc<DisplayRow>> {
    let mut out: Vec<std::sync::Arc<DisplayRow>> = rows.filter(|d| keep(d)).collect();
    if presorted && sort == (0, false) {
        return out;
    }
    out.sort_by(|a, b| row_order(sort, a, b));
    out
}

/// The order of a view's rows: by the sorted column, then by namespace and
/// name (so that no two rows are equal). Rows as a store holds them (by
/// namespace and name) are already in the order of column 0 ascending.
pub fn row_order(sort: (usize, bool), a: &DisplayRow, b: &DisplayRow) -> Ordering {
    let (col, desc) = sort;
    let o = match (a.sort_cells.get(col), b.sort_cells.get(col)) {
        (Some(x), Some(y)) => x.cmp_with(y),
        _ => Ordering::Equal,
    }
    .then_with(|| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    if desc { o.reverse() } else { o }
}

impl DisplayRow {
    /// Does the filter (if any) match one of its cells?
    pub fn matches(&self, filter: Option<&regex::Regex>) -> bool {
        filter.is_none_or(|re| self.cells.iter().any(|c| re.is_match(c)))
    }

    /// The text of cell `i` at `now_ms`: ages move with the clock, the rest
    /// is as derived.
    pub fn cell_at(&self, i: usize, now_ms: i64) -> std::borrow::Cow<'_, str> {
        match self.sort_cells.get(i) {
            Some(age @ Cell::Age(_)) => std::borrow::Cow::Owned(age.show(now_ms)),
            _ => std::borrow::Cow::Borrowed(self.cells.get(i).map_or("", String::as_str)),
        }
    }
}
