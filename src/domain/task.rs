//! Task custom resource of the ALICE O2 ECS control-operator (ARCHITECTURE 3) and its
//! two state machines, OCC and FairMQ (ARCHITECTURE 4.2), kept as data so that the
//! views and the planner read the same table.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;

use k8s_openapi::api::core::v1::{PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The requested state and the channels of one ECS task.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "aliecs.alice.cern",
    version = "v1alpha1",
    kind = "Task",
    plural = "tasks",
    singular = "task",
    namespaced,
    status = "TaskStatus",
    printcolumn = r#"{"name":"Desired","type":"string","jsonPath":".spec.state"}"#,
    printcolumn = r#"{"name":"Actual","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TaskSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<TaskControl>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub bind: Vec<TaskChannelInbound>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub connect: Vec<TaskChannelOutbound>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub properties: BTreeMap<String, String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub arguments: BTreeMap<String, String>,
    /// The *requested* state: standby, deployed, configured or running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["standby", "deployed", "configured", "running"]))]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TaskControl {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["direct", "fairmq", "basic", "hook"]))]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
}

/// What every FairMQ channel has, bound or connected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskChannel {
    pub name: String,
    #[serde(rename = "type")]
    #[schemars(extend("enum" = ["push", "pull", "pub", "sub"]))]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snd_buf_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcv_buf_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_logging: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["default", "zeromq", "nanomsg", "shmem"], "default" = "default"))]
    pub transport: Option<String>,
    pub target: String,
}

/// A channel the Task binds (`bind[]`): also its global name and addressing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskChannelInbound {
    #[serde(flatten)]
    pub channel: TaskChannel,
    pub global: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["tcp", "ipc"], "default" = "tcp"))]
    pub addressing: Option<String>,
}

/// A channel the Task connects (`connect[]`).
pub type TaskChannelOutbound = TaskChannel;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaskStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Types: PodReady, GRPCConnected, StateAccessible, StateTransitionResult.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// A CRD as the cluster should store it: no descriptions in the schema (the
/// embedded PodSpec would otherwise make it too large for the
/// `last-applied-configuration` annotation of `kubectl apply`), and
/// `metadata` as a plain object, as controller-gen writes it.
pub fn compact_crd(
    crd: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.remove("description");
                for (_, child) in map.iter_mut() {
                    strip(child);
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut crd = crd;
    for version in &mut crd.spec.versions {
        let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        else {
            continue;
        };
        let Ok(mut value) = serde_json::to_value(&*schema) else {
            continue;
        };
        strip(&mut value);
        if let Some(props) = value.get_mut("properties").and_then(|p| p.as_object_mut()) {
            props.insert("metadata".into(), serde_json::json!({"type": "object"}));
        }
        if let Ok(compact) = serde_json::from_value(value) {
            *schema = compact;
        }
    }
    crd
}

/// The Task CRD as swarmdeck installs it.
pub fn task_crd()
-> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    use kube::CustomResourceExt;
    compact_crd(Task::crd())
}

/// ECS manifests write an empty list as `connect:` with nothing after it.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Condition types the operator reports.
pub const CONDITION_TYPES: [&str; 4] = [
    "PodReady",
    "GRPCConnected",
    "StateAccessible",
    "StateTransitionResult",
];

/// The pod the operator creates for a task, and its labels.
pub fn task_pod_name(task: &str) -> String {
    format!("aliecs-task-pod-{task}")
}

pub fn task_pod_labels(task: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("task_name".to_owned(), task.to_owned()),
        ("application".to_owned(), "ControlOperator".to_owned()),
    ])
}

/// Control mode of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ControlMode {
    Direct,
    Fairmq,
    Basic,
    Hook,
}

impl ControlMode {
    pub fn of(spec: &TaskSpec) -> Result<Self, StateError> {
        match spec.control.as_ref().and_then(|c| c.mode.as_deref()) {
            None | Some("direct") => Ok(Self::Direct),
            Some("fairmq") => Ok(Self::Fairmq),
            Some("basic") => Ok(Self::Basic),
            Some("hook") => Ok(Self::Hook),
            Some(other) => Err(StateError::UnknownMode(other.to_owned())),
        }
    }
}

/// States of the OCC machine. `deployed` is the ECS name of `standby` as a
/// requested state (the pod exists, nothing is configured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OccState {
    Standby,
    Configured,
    Running,
    Error,
    Done,
}

impl OccState {
    pub const ALL: [OccState; 5] = [
        OccState::Standby,
        OccState::Configured,
        OccState::Running,
        OccState::Error,
        OccState::Done,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OccState::Standby => "standby",
            OccState::Configured => "configured",
            OccState::Running => "running",
            OccState::Error => "error",
            OccState::Done => "done",
        }
    }

    /// Whether an operator may request this state in `spec.state`.
    pub fn requestable(self) -> bool {
        matches!(
            self,
            OccState::Standby | OccState::Configured | OccState::Running
        )
    }

    /// The FairMQ device state this OCC state corresponds to.
    pub fn fairmq(self) -> FairMqState {
        match self {
            OccState::Standby => FairMqState::Idle,
            OccState::Configured => FairMqState::Ready,
            OccState::Running => FairMqState::Running,
            OccState::Error => FairMqState::Error,
            OccState::Done => FairMqState::Exiting,
        }
    }
}

impl fmt::Display for OccState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OccState {
    type Err = StateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "standby" | "deployed" => Ok(OccState::Standby),
            "configured" => Ok(OccState::Configured),
            "running" => Ok(OccState::Running),
            "error" => Ok(OccState::Error),
            "done" => Ok(OccState::Done),
            _ => Err(StateError::UnknownState(s.to_owned())),
        }
    }
}

/// OCC events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OccEvent {
    Configure,
    Start,
    Stop,
    Reset,
    GoError,
    Recover,
    Exit,
}

impl OccEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            OccEvent::Configure => "CONFIGURE",
            OccEvent::Start => "START",
            OccEvent::Stop => "STOP",
            OccEvent::Reset => "RESET",
            OccEvent::GoError => "GO_ERROR",
            OccEvent::Recover => "RECOVER",
            OccEvent::Exit => "EXIT",
        }
    }
}

impl fmt::Display for OccEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One edge of a state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge<S, E> {
    pub from: S,
    pub event: E,
    pub to: S,
}

/// The OCC machine (control mode direct).
pub const OCC_EDGES: &[Edge<OccState, OccEvent>] = &[
    Edge {
        from: OccState::Standby,
        event: OccEvent::Configure,
        to: OccState::Configured,
    },
    Edge {
        from: OccState::Configured,
        event: OccEvent::Start,
        to: OccState::Running,
    },
    Edge {
        from: OccState::Running,
        event: OccEvent::Stop,
        to: OccState::Configured,
    },
    Edge {
        from: OccState::Configured,
        event: OccEvent::Reset,
        to: OccState::Standby,
    },
    Edge {
        from: OccState::Configured,
        event: OccEvent::GoError,
        to: OccState::Error,
    },
    Edge {
        from: OccState::Running,
        event: OccEvent::GoError,
        to: OccState::Error,
    },
    Edge {
        from: OccState::Error,
        event: OccEvent::Recover,
        to: OccState::Standby,
    },
    Edge {
        from: OccState::Standby,
        event: OccEvent::Exit,
        to: OccState::Done,
    },
    Edge {
        from: OccState::Configured,
        event: OccEvent::Exit,
        to: OccState::Done,
    },
    Edge {
        from: OccState::Running,
        event: OccEvent::Exit,
        to: OccState::Done,
    },
    Edge {
        from: OccState::Error,
        event: OccEvent::Exit,
        to: OccState::Done,
    },
];

/// The event that takes `from` to `to` in one step, if the machine has one.
pub fn occ_transition(from: OccState, to: OccState) -> Option<OccEvent> {
    OCC_EDGES
        .iter()
        .find(|e| e.from == from && e.to == to)
        .map(|e| e.event)
}

/// FairMQ device states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FairMqState {
    Idle,
    InitializingDevice,
    Initialized,
    Bound,
    DeviceReady,
    Ready,
    Running,
    Exiting,
    Error,
}

impl FairMqState {
    /// The device chain from IDLE up to RUNNING, in order.
    pub const CHAIN: [FairMqState; 7] = [
        FairMqState::Idle,
        FairMqState::InitializingDevice,
        FairMqState::Initialized,
        FairMqState::Bound,
        FairMqState::DeviceReady,
        FairMqState::Ready,
        FairMqState::Running,
    ];

    pub const ALL: [FairMqState; 9] = {
        let c = Self::CHAIN;
        [
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            c[6],
            FairMqState::Exiting,
            FairMqState::Error,
        ]
    };

    pub fn as_str(self) -> &'static str {
        match self {
            FairMqState::Idle => "IDLE",
            FairMqState::InitializingDevice => "INITIALIZING DEVICE",
            FairMqState::Initialized => "INITIALIZED",
            FairMqState::Bound => "BOUND",
            FairMqState::DeviceReady => "DEVICE READY",
            FairMqState::Ready => "READY",
            FairMqState::Running => "RUNNING",
            FairMqState::Exiting => "EXITING",
            FairMqState::Error => "ERROR",
        }
    }

    /// The OCC state a device state is reported as, where there is one.
    pub fn occ(self) -> Option<OccState> {
        OccState::ALL.into_iter().find(|s| s.fairmq() == self)
    }
}

impl fmt::Display for FairMqState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FairMqState {
    type Err = StateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_uppercase().replace(['_', '-'], " ");
        FairMqState::ALL
            .into_iter()
            .find(|st| st.as_str() == norm)
            .ok_or_else(|| StateError::UnknownState(s.to_owned()))
    }
}

/// FairMQ device transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FairMqEvent {
    InitDevice,
    CompleteInit,
    Bind,
    Connect,
    InitTask,
    Run,
    Stop,
    ResetTask,
    ResetDevice,
    End,
    ErrorFound,
}

impl FairMqEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            FairMqEvent::InitDevice => "INIT DEVICE",
            FairMqEvent::CompleteInit => "COMPLETE INIT",
            FairMqEvent::Bind => "BIND",
            FairMqEvent::Connect => "CONNECT",
            FairMqEvent::InitTask => "INIT TASK",
            FairMqEvent::Run => "RUN",
            FairMqEvent::Stop => "STOP",
            FairMqEvent::ResetTask => "RESET TASK",
            FairMqEvent::ResetDevice => "RESET DEVICE",
            FairMqEvent::End => "END",
            FairMqEvent::ErrorFound => "ERROR FOUND",
        }
    }
}

impl fmt::Display for FairMqEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The FairMQ device machine (control mode fairmq). Every state can also fail
/// into ERROR; those edges are listed by [`fairmq_edges`].
pub const FAIRMQ_MAIN_EDGES: &[Edge<FairMqState, FairMqEvent>] = &[
    Edge {
        from: FairMqState::Idle,
        event: FairMqEvent::InitDevice,
        to: FairMqState::InitializingDevice,
    },
    Edge {
        from: FairMqState::InitializingDevice,
        event: FairMqEvent::CompleteInit,
        to: FairMqState::Initialized,
    },
    Edge {
        from: FairMqState::Initialized,
        event: FairMqEvent::Bind,
        to: FairMqState::Bound,
    },
    Edge {
        from: FairMqState::Bound,
        event: FairMqEvent::Connect,
        to: FairMqState::DeviceReady,
    },
    Edge {
        from: FairMqState::DeviceReady,
        event: FairMqEvent::InitTask,
        to: FairMqState::Ready,
    },
    Edge {
        from: FairMqState::Ready,
        event: FairMqEvent::Run,
        to: FairMqState::Running,
    },
    Edge {
        from: FairMqState::Running,
        event: FairMqEvent::Stop,
        to: FairMqState::Ready,
    },
    Edge {
        from: FairMqState::Ready,
        event: FairMqEvent::ResetTask,
        to: FairMqState::DeviceReady,
    },
    Edge {
        from: FairMqState::DeviceReady,
        event: FairMqEvent::ResetDevice,
        to: FairMqState::Idle,
    },
    Edge {
        from: FairMqState::Idle,
        event: FairMqEvent::End,
        to: FairMqState::Exiting,
    },
];

/// All FairMQ edges: the main ones plus "any → ERROR".
pub fn fairmq_edges() -> Vec<Edge<FairMqState, FairMqEvent>> {
    let mut edges = FAIRMQ_MAIN_EDGES.to_vec();
    for s in FairMqState::ALL {
        if !matches!(s, FairMqState::Error | FairMqState::Exiting) {
            edges.push(Edge {
                from: s,
                event: FairMqEvent::ErrorFound,
                to: FairMqState::Error,
            });
        }
    }
    edges
}

/// The FairMQ device transitions that make up one OCC step, in order
/// (standby → configured is INIT DEVICE, COMPLETE INIT, BIND, CONNECT, INIT TASK).
pub fn fairmq_path(from: FairMqState, to: FairMqState) -> Option<Vec<(FairMqEvent, FairMqState)>> {
    shortest(from, to, &fairmq_edges())
}

/// Why a state change cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("unknown state `{0}`: a Task can be asked for standby, configured or running")]
    UnknownState(String),
    #[error("unknown control mode `{0}`: expected direct, fairmq, basic or hook")]
    UnknownMode(String),
    #[error("`{0}` cannot be requested: a Task can be asked for standby, configured or running")]
    NotRequestable(OccState),
    #[error("the task is done (exited); it cannot reach {0}: delete and re-create it")]
    Done(OccState),
}

/// One planned step: send `event` so that the task moves to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Step {
    pub event: OccEvent,
    pub from: OccState,
    pub to: OccState,
}

/// Shortest legal OCC path from `from` to the requested `to`. From `error` the
/// path starts with RECOVER (the operator then sees `spec.state = standby`).
pub fn plan_path(from: OccState, to: OccState) -> Result<Vec<Step>, StateError> {
    if !to.requestable() {
        return Err(StateError::NotRequestable(to));
    }
    if from == OccState::Done {
        return Err(StateError::Done(to));
    }
    // Error handling and exit are not planned steps: GO_ERROR and EXIT never
    // help reach a requested state.
    let edges: Vec<Edge<OccState, OccEvent>> = OCC_EDGES
        .iter()
        .copied()
        .filter(|e| !matches!(e.event, OccEvent::GoError | OccEvent::Exit))
        .collect();
    let path = shortest(from, to, &edges).ok_or(StateError::Done(to))?;
    let mut at = from;
    Ok(path
        .into_iter()
        .map(|(event, next)| {
            let step = Step {
                event,
                from: at,
                to: next,
            };
            at = next;
            step
        })
        .collect())
}

fn shortest<S, E>(from: S, to: S, edges: &[Edge<S, E>]) -> Option<Vec<(E, S)>>
where
    S: Copy + Eq + std::hash::Hash,
    E: Copy,
{
    let mut prev: HashMap<S, (S, E)> = HashMap::new();
    let mut queue = VecDeque::from([from]);
    let mut seen = vec![from];
    while let Some(s) = queue.pop_front() {
        if s == to {
            let mut path = Vec::new();
            let mut at = to;
            while at != from {
                let (p, e) = prev[&at];
                path.push((e, at));
                at = p;
            }
            path.reverse();
            return Some(path);
        }
        for e in edges.iter().filter(|e| e.from == s) {
            if !seen.contains(&e.to) {
                seen.push(e.to);
                prev.insert(e.to, (s, e.event));
                queue.push_back(e.to);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;

    #[test]
    fn crd_matches_the_ecs_operator() {
        let crd = task_crd();
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some("tasks.aliecs.alice.cern")
        );
        assert_eq!(crd.spec.group, "aliecs.alice.cern");
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.kind, "Task");
        let v = &crd.spec.versions[0];
        assert_eq!(v.name, "v1alpha1");
        assert!(v.subresources.as_ref().unwrap().status.is_some());
        let cols: Vec<(&str, &str)> = v
            .additional_printer_columns
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| (c.name.as_str(), c.json_path.as_str()))
            .collect();
        assert_eq!(
            cols,
            [
                ("Desired", ".spec.state"),
                ("Actual", ".status.state"),
                ("Age", ".metadata.creationTimestamp")
            ]
        );
        assert_eq!(Task::api_version(&()), "aliecs.alice.cern/v1alpha1");
        let yaml = serde_yaml::to_string(&crd).unwrap();
        assert!(!yaml.contains("description:"));
        assert!(
            yaml.len() < 250_000,
            "CRD too large for kubectl apply: {}",
            yaml.len()
        );
        let schema = serde_json::to_value(&v.schema).unwrap();
        let bind = &schema["openAPIV3Schema"]["properties"]["spec"]["properties"]["bind"]["items"];
        assert_eq!(
            bind["required"],
            serde_json::json!(["global", "name", "target", "type"])
        );
        assert_eq!(bind["properties"]["transport"]["default"], "default");
    }

    #[test]
    fn spec_reads_an_ecs_manifest() {
        let yaml = r#"
apiVersion: aliecs.alice.cern/v1alpha1
kind: Task
metadata: {name: readout}
spec:
  control: {mode: direct, port: 47100}
  bind:
    - {name: readout, type: push, transport: shmem, target: "ipc:///tmp/readout", global: ""}
  properties: {severity: trace}
  arguments: {config: "file:/etc/readout.cfg"}
  state: standby
  pod:
    containers: [{name: readout, image: "o2/readout:1"}]
"#;
        let t: Task = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(t.spec.state.as_deref(), Some("standby"));
        assert_eq!(t.spec.bind[0].channel.kind, "push");
        assert_eq!(ControlMode::of(&t.spec).unwrap(), ControlMode::Direct);
    }

    #[test]
    fn shortest_paths() {
        use OccEvent::*;
        use OccState::*;
        let events = |f, t| {
            plan_path(f, t)
                .unwrap()
                .into_iter()
                .map(|s| s.event)
                .collect::<Vec<_>>()
        };
        assert_eq!(events(Standby, Running), [Configure, Start]);
        assert_eq!(events(Running, Standby), [Stop, Reset]);
        assert_eq!(events(Error, Running), [Recover, Configure, Start]);
        assert_eq!(events(Error, Standby), [Recover]);
        assert!(events(Running, Running).is_empty());
        assert_eq!(plan_path(Done, Running), Err(StateError::Done(Running)));
        assert_eq!(
            plan_path(Standby, Error),
            Err(StateError::NotRequestable(Error))
        );
        assert_eq!(
            "paused".parse::<OccState>().unwrap_err().to_string(),
            "unknown state `paused`: a Task can be asked for standby, configured or running"
        );
        assert_eq!("deployed".parse::<OccState>().unwrap(), Standby);
    }

    #[test]
    fn every_planned_step_is_an_edge() {
        for from in OccState::ALL {
            for to in OccState::ALL {
                if let Ok(steps) = plan_path(from, to) {
                    let mut at = from;
                    for s in &steps {
                        assert_eq!(occ_transition(at, s.to), Some(s.event));
                        at = s.to;
                    }
                    assert_eq!(at, to);
                }
            }
        }
    }

    #[test]
    fn fairmq_mapping_and_paths() {
        use FairMqState::*;
        assert_eq!(OccState::Standby.fairmq(), Idle);
        assert_eq!(OccState::Configured.fairmq(), Ready);
        assert_eq!(Ready.occ(), Some(OccState::Configured));
        assert_eq!(Bound.occ(), None);
        let path = fairmq_path(Idle, Running).unwrap();
        let names: Vec<&str> = path.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(
            names,
            [
                "INIT DEVICE",
                "COMPLETE INIT",
                "BIND",
                "CONNECT",
                "INIT TASK",
                "RUN"
            ]
        );
        assert_eq!(fairmq_path(Running, Idle).unwrap().len(), 3);
        assert!(fairmq_path(Error, Idle).is_none());
        assert_eq!("device_ready".parse::<FairMqState>().unwrap(), DeviceReady);
    }
}
