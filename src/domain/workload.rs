//! Workload state (ARCHITECTURE 4.3) in the vocabulary of Ankaios: one state with a
//! sub-state and a human reason for every pod, and for every workload the worst
//! of its pods'.

use std::fmt;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum PendingSubstate {
    Initial,
    WaitingToStart,
    Starting,
    StartingFailed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum FailedSubstate {
    ExecFailed,
    Unknown,
    Lost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ExecState {
    Pending(PendingSubstate),
    Running,
    Stopping,
    Succeeded,
    Failed(FailedSubstate),
    NotScheduled,
    Removed,
}

impl ExecState {
    pub fn name(self) -> &'static str {
        match self {
            ExecState::Pending(_) => "Pending",
            ExecState::Running => "Running",
            ExecState::Stopping => "Stopping",
            ExecState::Succeeded => "Succeeded",
            ExecState::Failed(_) => "Failed",
            ExecState::NotScheduled => "NotScheduled",
            ExecState::Removed => "Removed",
        }
    }

    pub fn substate(self) -> &'static str {
        match self {
            ExecState::Pending(PendingSubstate::Initial) => "Initial",
            ExecState::Pending(PendingSubstate::WaitingToStart) => "WaitingToStart",
            ExecState::Pending(PendingSubstate::Starting) => "Starting",
            ExecState::Pending(PendingSubstate::StartingFailed) => "StartingFailed",
            ExecState::Failed(FailedSubstate::ExecFailed) => "ExecFailed",
            ExecState::Failed(FailedSubstate::Unknown) => "Unknown",
            ExecState::Failed(FailedSubstate::Lost) => "Lost",
            _ => "Ok",
        }
    }

    /// Higher is worse: what an operator should look at first.
    pub fn severity(self) -> u8 {
        match self {
            ExecState::Succeeded => 0,
            ExecState::Running => 1,
            ExecState::Removed => 2,
            ExecState::Pending(PendingSubstate::Initial) => 3,
            ExecState::Pending(PendingSubstate::WaitingToStart) => 4,
            ExecState::Pending(PendingSubstate::Starting) => 5,
            ExecState::Stopping => 6,
            ExecState::NotScheduled => 7,
            ExecState::Pending(PendingSubstate::StartingFailed) => 8,
            ExecState::Failed(FailedSubstate::Unknown) => 9,
            ExecState::Failed(FailedSubstate::Lost) => 10,
            ExecState::Failed(FailedSubstate::ExecFailed) => 11,
        }
    }
}

/// A state with the reason an operator reads next to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkloadState {
    pub state: ExecState,
    pub reason: String,
}

impl WorkloadState {
    fn new(state: ExecState, reason: impl Into<String>) -> Self {
        Self {
            state,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for WorkloadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.state.name(), self.state.substate())?;
        if !self.reason.is_empty() {
            write!(f, ": {}", self.reason)?;
        }
        Ok(())
    }
}

const START_FAILURES: [&str; 7] = [
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "ErrImageNeverPull",
];

/// The state of one pod.
pub fn pod_state(pod: &Pod) -> WorkloadState {
    if pod.metadata.deletion_timestamp.is_some() {
        return WorkloadState::new(ExecState::Stopping, "Terminating");
    }
    let Some(status) = pod.status.as_ref() else {
        return WorkloadState::new(
            ExecState::Pending(PendingSubstate::Initial),
            "no status yet",
        );
    };
    let containers: Vec<&ContainerStatus> = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .collect();

    if status.reason.as_deref() == Some("NodeLost") || status.phase.as_deref() == Some("Unknown") {
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or("its node");
        return WorkloadState::new(
            ExecState::Failed(FailedSubstate::Lost),
            format!("{node} stopped reporting (node unreachable)"),
        );
    }

    // A container stuck in a failing wait wins over the phase.
    for c in &containers {
        let Some(waiting) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
            continue;
        };
        let reason = waiting.reason.as_deref().unwrap_or("");
        if reason == "CrashLoopBackOff" {
            let last = c
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .map(|t| format!(", last exit code {}", t.exit_code))
                .unwrap_or_default();
            return WorkloadState::new(
                ExecState::Failed(FailedSubstate::ExecFailed),
                format!(
                    "CrashLoopBackOff ({}: {} restarts{last})",
                    c.name, c.restart_count
                ),
            );
        }
        if START_FAILURES.contains(&reason) {
            let msg = waiting
                .message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            return WorkloadState::new(
                ExecState::Pending(PendingSubstate::StartingFailed),
                format!("{reason} ({}{msg})", c.name),
            );
        }
    }

    match status.phase.as_deref() {
        Some("Succeeded") => WorkloadState::new(
            ExecState::Succeeded,
            exit_reason(&containers, "exit code 0"),
        ),
        Some("Failed") => {
            let why = status.reason.clone().unwrap_or_default();
            let exit = exit_reason(&containers, "");
            let reason = match (why.is_empty(), exit.is_empty()) {
                (false, false) => format!("{why}, {exit}"),
                (false, true) => why,
                (true, _) => exit,
            };
            WorkloadState::new(ExecState::Failed(FailedSubstate::ExecFailed), reason)
        }
        Some("Running") => {
            let ready = status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            if ready {
                WorkloadState::new(ExecState::Running, "")
            } else {
                WorkloadState::new(
                    ExecState::Pending(PendingSubstate::Starting),
                    "containers running, not ready yet",
                )
            }
        }
        Some("Pending") | None => {
            let unschedulable = status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False");
            if let Some(c) = unschedulable {
                let reason = c
                    .message
                    .clone()
                    .or_else(|| c.reason.clone())
                    .unwrap_or_default();
                return WorkloadState::new(ExecState::NotScheduled, reason);
            }
            let scheduled = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_ref())
                .is_some();
            let waiting = containers
                .iter()
                .find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone());
            match waiting {
                Some(r) if r == "ContainerCreating" || r == "PodInitializing" => {
                    WorkloadState::new(ExecState::Pending(PendingSubstate::Starting), r)
                }
                Some(r) => {
                    WorkloadState::new(ExecState::Pending(PendingSubstate::WaitingToStart), r)
                }
                None if scheduled => WorkloadState::new(
                    ExecState::Pending(PendingSubstate::WaitingToStart),
                    "scheduled, waiting for the kubelet",
                ),
                None => WorkloadState::new(
                    ExecState::Pending(PendingSubstate::Initial),
                    "waiting to be scheduled",
                ),
            }
        }
        Some(other) => WorkloadState::new(
            ExecState::Failed(FailedSubstate::Unknown),
            format!("unknown pod phase {other}"),
        ),
    }
}

fn exit_reason(containers: &[&ContainerStatus], default: &str) -> String {
    containers
        .iter()
        .find_map(|c| {
            let t = c.state.as_ref()?.terminated.as_ref()?;
            let mut s = format!("{}: exit code {}", c.name, t.exit_code);
            if let Some(r) = t
                .reason
                .as_deref()
                .filter(|r| *r != "Completed" && *r != "Error")
            {
                s.push_str(&format!(" ({r})"));
            } else if t.exit_code == 137 {
                s.push_str(" (killed)");
            }
            Some(s)
        })
        .unwrap_or_else(|| default.to_owned())
}

/// The state of a workload: the worst of its pods', or Removed with no pods.
pub fn workload_state<'a>(pods: impl IntoIterator<Item = &'a Pod>) -> WorkloadState {
    pods.into_iter()
        .map(pod_state)
        .max_by_key(|s| s.state.severity())
        .unwrap_or_else(|| WorkloadState::new(ExecState::Removed, "no pods"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(yaml: &str) -> Pod {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn state_of(yaml: &str) -> String {
        pod_state(&pod(yaml)).to_string()
    }

    const META: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n";

    #[test]
    fn pending_unscheduled() {
        let s = state_of(&format!(
            "{META}status:\n  phase: Pending\n  conditions:\n  - type: PodScheduled\n    status: \"False\"\n    reason: Unschedulable\n    message: '0/3 nodes are available: 3 Insufficient cpu.'\n"
        ));
        assert_eq!(
            s,
            "NotScheduled(Ok): 0/3 nodes are available: 3 Insufficient cpu."
        );
    }

    #[test]
    fn container_creating() {
        let s = state_of(&format!(
            "{META}spec: {{nodeName: n1, containers: [{{name: c}}]}}\nstatus:\n  phase: Pending\n  containerStatuses:\n  - name: c\n    image: i\n    imageID: ''\n    ready: false\n    restartCount: 0\n    state: {{waiting: {{reason: ContainerCreating}}}}\n"
        ));
        assert_eq!(s, "Pending(Starting): ContainerCreating");
    }

    #[test]
    fn running_ready() {
        let s = state_of(&format!(
            "{META}status:\n  phase: Running\n  conditions:\n  - {{type: Ready, status: 'True'}}\n"
        ));
        assert_eq!(s, "Running(Ok)");
    }

    #[test]
    fn crash_loop() {
        let s = state_of(&format!(
            "{META}status:\n  phase: Running\n  containerStatuses:\n  - name: worker\n    image: i\n    imageID: ''\n    ready: false\n    restartCount: 7\n    state: {{waiting: {{reason: CrashLoopBackOff, message: back-off 5m0s}}}}\n    lastState: {{terminated: {{exitCode: 1, reason: Error}}}}\n"
        ));
        assert_eq!(
            s,
            "Failed(ExecFailed): CrashLoopBackOff (worker: 7 restarts, last exit code 1)"
        );
    }

    #[test]
    fn image_pull_backoff() {
        let s = state_of(&format!(
            "{META}status:\n  phase: Pending\n  containerStatuses:\n  - name: c\n    image: nope:1\n    imageID: ''\n    ready: false\n    restartCount: 0\n    state: {{waiting: {{reason: ImagePullBackOff, message: 'Back-off pulling image \"nope:1\"'}}}}\n"
        ));
        assert_eq!(
            s,
            "Pending(StartingFailed): ImagePullBackOff (c: Back-off pulling image \"nope:1\")"
        );
    }

    #[test]
    fn exit_zero() {
        let s = state_of(&format!(
            "{META}status:\n  phase: Succeeded\n  containerStatuses:\n  - name: job\n    image: i\n    imageID: ''\n    ready: false\n    restartCount: 0\n    state: {{terminated: {{exitCode: 0, reason: Completed}}}}\n"
        ));
        assert_eq!(s, "Succeeded(Ok): job: exit code 0");
    }

    #[test]
    fn exit_137() {
        let s = state_of(&format!(
            "{META}status:\n  phase: Failed\n  containerStatuses:\n  - name: job\n    image: i\n    imageID: ''\n    ready: false\n    restartCount: 0\n    state: {{terminated: {{exitCode: 137, reason: OOMKilled}}}}\n"
        ));
        assert_eq!(s, "Failed(ExecFailed): job: exit code 137 (OOMKilled)");
    }

    #[test]
    fn terminating() {
        let s = state_of(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p, deletionTimestamp: '2026-01-01T00:00:00Z'}\nstatus: {phase: Running}\n",
        );
        assert_eq!(s, "Stopping(Ok): Terminating");
    }

    #[test]
    fn unknown_node() {
        let s = state_of(&format!(
            "{META}spec: {{nodeName: node-7, containers: [{{name: c}}]}}\nstatus: {{phase: Unknown, reason: NodeLost}}\n"
        ));
        assert_eq!(
            s,
            "Failed(Lost): node-7 stopped reporting (node unreachable)"
        );
    }

    #[test]
    fn workload_is_worst_of_pods() {
        let ok = pod(&format!(
            "{META}status:\n  phase: Running\n  conditions: [{{type: Ready, status: 'True'}}]\n"
        ));
        let bad = pod(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: q}\nstatus: {phase: Failed, reason: Evicted}\n",
        );
        assert_eq!(workload_state([&ok]).state, ExecState::Running);
        assert_eq!(
            workload_state([&ok, &bad]).to_string(),
            "Failed(ExecFailed): Evicted"
        );
        assert_eq!(workload_state(std::iter::empty()).state, ExecState::Removed);
    }
}
