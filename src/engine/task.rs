//! The Task controller: the target state is an intent in the cluster
//! (annotation `swarmdeck.io/target-state`); the engine steps `spec.state`
//! along the planner's shortest legal path, one step at a time, waiting for
//! `status.state` after each, and stops on `error` with the recovery path.

use std::time::Duration;

use kube::Api;
use kube::api::{Patch, PatchParams};
use serde::Serialize;
use serde_json::json;

use super::Error;
use crate::domain::task::{OccState, Task, plan_path};

pub use crate::domain::names::TARGET_ANNOTATION;

/// Progress of a state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TaskProgress {
    Planned {
        path: Vec<String>,
    },
    Stepping {
        event: String,
        from: String,
        to: String,
    },
    Reached {
        state: String,
    },
}

/// How a state change ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TaskVerdict {
    Converged {
        state: String,
    },
    /// The task went to `error`; the engine did not recover on its own.
    Failed {
        reason: String,
        recovery: String,
    },
    /// Only the intent and the first step were written.
    Started,
}

#[derive(Debug, Clone)]
pub struct TaskOptions {
    pub step_timeout: Duration,
    pub poll: Duration,
    /// From `error`, take the recovery path (standby) instead of stopping.
    pub recover: bool,
    /// Record the intent and take the first step, without waiting.
    pub no_wait: bool,
}

impl Default for TaskOptions {
    fn default() -> Self {
        Self {
            step_timeout: Duration::from_secs(60),
            poll: Duration::from_millis(200),
            recover: false,
            no_wait: false,
        }
    }
}

fn actual(t: &Task) -> Option<OccState> {
    t.status.as_ref()?.state.as_deref()?.parse().ok()
}

/// Set a Task's target state and step it there.
pub async fn set_state(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    target: &str,
    opts: &TaskOptions,
    mut progress: impl FnMut(TaskProgress),
) -> Result<TaskVerdict, Error> {
    let object = format!("Task {namespace}/{name}");
    let invalid = |message: String| Error::Invalid {
        swarm: format!("{namespace}/{name}"),
        message,
    };
    let want: OccState = target
        .parse()
        .map_err(|e: crate::domain::task::StateError| invalid(e.to_string()))?;
    if !want.requestable() {
        return Err(invalid(format!(
            "`{want}` cannot be requested: a Task can be asked for standby, configured or running"
        )));
    }
    let api: Api<Task> = Api::namespaced(client.clone(), namespace);
    let pp = PatchParams {
        field_manager: Some("swarmdeck".into()),
        ..Default::default()
    };
    api.patch(
        name,
        &pp,
        &Patch::Merge(json!({"metadata": {"annotations": {TARGET_ANNOTATION: want.as_str()}}})),
    )
    .await
    .map_err(|e| Error::kube(&object, e))?;
    let mut planned = false;
    let mut reported: Option<OccState> = None;
    loop {
        let task = api.get(name).await.map_err(|e| Error::kube(&object, e))?;
        let Some(now) = actual(&task) else {
            // The operator has not reported a state yet (pod starting).
            wait(
                opts,
                &api,
                name,
                &object,
                |t| actual(t).is_some(),
                "report a state",
            )
            .await?;
            continue;
        };
        if now == want {
            if reported != Some(now) {
                progress(TaskProgress::Reached {
                    state: now.to_string(),
                });
            }
            return Ok(TaskVerdict::Converged {
                state: now.to_string(),
            });
        }
        if now == OccState::Error && !opts.recover {
            let reason = task
                .status
                .as_ref()
                .and_then(|s| s.error.clone())
                .unwrap_or_else(|| "no reason given".into());
            return Ok(TaskVerdict::Failed {
                reason,
                recovery: format!(
                    "set standby (RECOVER), then step up again: swarmdeck task set-state {name} {want} --recover"
                ),
            });
        }
        let path = plan_path(now, want).map_err(|e| invalid(e.to_string()))?;
        if !planned {
            progress(TaskProgress::Planned {
                path: path
                    .iter()
                    .map(|s| format!("{} -> {}", s.event, s.to))
                    .collect(),
            });
            planned = true;
        }
        let Some(step) = path.first() else { continue };
        progress(TaskProgress::Stepping {
            event: step.event.to_string(),
            from: now.to_string(),
            to: step.to.to_string(),
        });
        api.patch(
            name,
            &pp,
            &Patch::Merge(json!({"spec": {"state": step.to.as_str()}})),
        )
        .await
        .map_err(|e| Error::kube(&object, e))?;
        if opts.no_wait {
            return Ok(TaskVerdict::Started);
        }
        let to = step.to;
        wait(
            opts,
            &api,
            name,
            &object,
            |t| matches!(actual(t), Some(s) if s == to || s == OccState::Error),
            &format!("reach {to}"),
        )
        .await?;
        if let Ok(t) = api.get(name).await
            && actual(&t) == Some(to)
        {
            progress(TaskProgress::Reached {
                state: to.to_string(),
            });
            reported = Some(to);
        }
    }
}

async fn wait(
    opts: &TaskOptions,
    api: &Api<Task>,
    name: &str,
    object: &str,
    done: impl Fn(&Task) -> bool,
    what: &str,
) -> Result<(), Error> {
    let deadline = tokio::time::Instant::now() + opts.step_timeout;
    loop {
        let t = api.get(name).await.map_err(|e| Error::kube(object, e))?;
        if done(&t) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let state = actual(&t).map_or_else(|| "none yet".to_owned(), |s| s.to_string());
            return Err(Error::Invalid {
                swarm: object.trim_start_matches("Task ").to_owned(),
                message: format!(
                    "gave up after {} s waiting for the task to {what} (status.state is {state}); check the task pod and its events",
                    opts.step_timeout.as_secs_f64()
                ),
            });
        }
        tokio::time::sleep(opts.poll).await;
    }
}
