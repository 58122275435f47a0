//! A manifest unit applied or deleted as one (Ankaios' podman-kube way), and
//! its audit: one line per object it touched, or one on the unit's first
//! object when it was refused before anything changed.

use crate::domain::manifest::{Document, apply_order, delete_order};
use crate::engine::Error;
use crate::engine::audit::Auditor;
use crate::engine::unit::{self, Done};

/// The unit's first object in `order`, as its audit line names it.
fn first(order: Vec<&Document>, namespace: &str) -> Option<String> {
    order.first().map(|d| {
        format!(
            "{} {}/{}",
            d.kind(),
            d.namespace().unwrap_or(namespace),
            d.name()
        )
    })
}

/// Apply `docs` as one unit in `namespace` (server-side apply in order,
/// rolled back on a failure; `each` hears of every object done) and audit
/// it as `summary`.
pub async fn apply(
    client: &kube::Client,
    audit: &Auditor,
    docs: &[Document],
    namespace: &str,
    force_conflicts: bool,
    summary: &str,
    each: impl FnMut(&Done),
) -> Result<Vec<Done>, Error> {
    let result = unit::apply(client, docs, namespace, force_conflicts, each).await;
    let first = first(apply_order(docs), namespace);
    unit::audit_outcome(audit, "Apply", summary, first.as_deref(), &result).await;
    result
}

/// Delete `docs` as one unit (in delete order; objects already gone are
/// absent) and audit it as `summary`.
pub async fn delete(
    client: &kube::Client,
    audit: &Auditor,
    docs: &[Document],
    namespace: &str,
    summary: &str,
    each: impl FnMut(&Done),
) -> Result<Vec<Done>, Error> {
    let result = unit::delete(client, docs, namespace, each).await;
    let first = first(delete_order(docs), namespace);
    unit::audit_outcome(audit, "Delete", summary, first.as_deref(), &result).await;
    result
}
