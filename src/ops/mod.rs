//! Operations: one function per intent an operator has — scale a swarm,
//! record a Task's target, restart, delete, apply or delete a manifest
//! unit — written once and used by both
//! the command line (`commands/`) and the console (`ui/`).
//!
//! An operation takes typed references (the swarm the grid already holds),
//! applies the rule that decides what to write, sends the write through the
//! client it is given (whose gate refuses it in read-only mode, and whose
//! identity and fence are the caller's), and says what it did in one type
//! that each surface words for its place. The audit line of an attempt is
//! recorded by [`audited`], the same way for both.
//!
//! Layering: `commands/` and `ui/` call down into `ops/`; `ops/` calls
//! `engine/`, `cluster/` and `domain/`, never back up.

pub mod exec;
pub mod portforward;
pub mod scale;
pub mod task;
pub mod unit;
pub mod workload;

use crate::engine::audit::{Auditor, Subject};

/// Record an attempted write in the audit (a Kubernetes Event on the object
/// and a line in the local log): what it did, or why it failed. A write the
/// read-only gate refused sent nothing and records nothing.
pub async fn audited(
    audit: &Auditor,
    subject: &Subject,
    action: &str,
    plan: &str,
    result: Result<&str, &str>,
) {
    match result {
        Ok(said) => audit.record(subject, action, plan, said, false).await,
        Err(e) if e.contains("read-only mode") => {}
        Err(e) => {
            audit
                .record(subject, action, plan, &format!("failed: {e}"), true)
                .await
        }
    }
}

/// The field manager every write of swarmdeck's carries.
pub fn patch_params(dry_run: bool) -> kube::api::PatchParams {
    kube::api::PatchParams {
        dry_run,
        field_manager: Some("swarmdeck".into()),
        ..Default::default()
    }
}
