//! The Task controller against the embedded cluster: one legal step at a
//! time, a clear failure on an injected fault, the recovery path, timeouts.

mod common;

use std::time::Duration;

use common::demo;
use kube::Api;
use swarmdeck::domain::task::Task;
use swarmdeck::engine::task::{
    TARGET_ANNOTATION, TaskOptions, TaskProgress, TaskVerdict, set_state,
};

fn opts() -> TaskOptions {
    TaskOptions {
        poll: Duration::from_millis(10),
        step_timeout: Duration::from_secs(20),
        ..Default::default()
    }
}

async fn wait_standby(client: &kube::Client, name: &str) {
    let api: Api<Task> = Api::namespaced(client.clone(), "alice-tasks");
    for _ in 0..2000 {
        if api
            .get(name)
            .await
            .unwrap()
            .status
            .and_then(|s| s.state)
            .as_deref()
            == Some("standby")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{name} never reached standby");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_to_running_passes_through_configured() {
    let d = demo(false);
    wait_standby(&d.client, "readout").await;
    let mut seen = Vec::new();
    let verdict = set_state(
        &d.client,
        "alice-tasks",
        "readout",
        "running",
        &opts(),
        |p| seen.push(p),
    )
    .await
    .unwrap();
    assert_eq!(
        verdict,
        TaskVerdict::Converged {
            state: "running".into()
        }
    );
    assert_eq!(
        seen,
        [
            TaskProgress::Planned {
                path: vec!["CONFIGURE -> configured".into(), "START -> running".into()]
            },
            TaskProgress::Stepping {
                event: "CONFIGURE".into(),
                from: "standby".into(),
                to: "configured".into()
            },
            TaskProgress::Reached {
                state: "configured".into()
            },
            TaskProgress::Stepping {
                event: "START".into(),
                from: "configured".into(),
                to: "running".into()
            },
            TaskProgress::Reached {
                state: "running".into()
            },
        ]
    );
    let t = Api::<Task>::namespaced(d.client.clone(), "alice-tasks")
        .get("readout")
        .await
        .unwrap();
    assert_eq!(
        t.metadata.annotations.unwrap()[TARGET_ANNOTATION],
        "running"
    );
    assert_eq!(t.spec.state.as_deref(), Some("running"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_at_configure_fails_clearly_and_recovery_is_offered() {
    let d = demo(false);
    wait_standby(&d.client, "qc-checker").await;
    // The demo's qc-checker fails every second CONFIGURE.
    set_state(
        &d.client,
        "alice-tasks",
        "qc-checker",
        "configured",
        &opts(),
        |_| {},
    )
    .await
    .unwrap();
    set_state(
        &d.client,
        "alice-tasks",
        "qc-checker",
        "standby",
        &opts(),
        |_| {},
    )
    .await
    .unwrap();
    let verdict = set_state(
        &d.client,
        "alice-tasks",
        "qc-checker",
        "running",
        &opts(),
        |_| {},
    )
    .await
    .unwrap();
    let TaskVerdict::Failed { reason, recovery } = verdict else {
        panic!("{verdict:?}")
    };
    assert!(reason.contains("CONFIGURE failed"), "{reason}");
    assert!(recovery.contains("set standby (RECOVER)"), "{recovery}");
    // Asked to recover, it goes back through standby and up again (the third
    // CONFIGURE succeeds).
    let verdict = set_state(
        &d.client,
        "alice-tasks",
        "qc-checker",
        "running",
        &TaskOptions {
            recover: true,
            ..opts()
        },
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(
        verdict,
        TaskVerdict::Converged {
            state: "running".into()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_states_and_timeouts_are_reported() {
    let d = demo(false);
    wait_standby(&d.client, "readout").await;
    let err = set_state(
        &d.client,
        "alice-tasks",
        "readout",
        "paused",
        &opts(),
        |_| {},
    )
    .await
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "alice-tasks/readout: unknown state `paused`: a Task can be asked for standby, configured or running"
    );
    let err = set_state(
        &d.client,
        "alice-tasks",
        "readout",
        "error",
        &opts(),
        |_| {},
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("`error` cannot be requested"), "{err}");
    let err = set_state(
        &d.client,
        "alice-tasks",
        "missing",
        "running",
        &opts(),
        |_| {},
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("Task alice-tasks/missing:") && err.contains("not found"),
        "{err}"
    );
    let quick = TaskOptions {
        step_timeout: Duration::from_millis(1),
        ..opts()
    };
    let err = set_state(
        &d.client,
        "alice-tasks",
        "readout",
        "configured",
        &quick,
        |_| {},
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("gave up after 0.001 s waiting for the task to reach configured"),
        "{err}"
    );
}
