//! A Task's target state: recorded on the Task for the engine that leads,
//! which steps it there one legal transition at a time.

use kube::Api;
use kube::api::Patch;
use serde_json::json;

use crate::domain::names::{RECOVER_ANNOTATION, REQUESTED_AT_ANNOTATION, TARGET_ANNOTATION};
use crate::domain::task::{OccState, Task};
use crate::engine::Error;
use crate::engine::audit::Subject;

/// Record `want` as Task `namespace/name`'s target, asked for now (asking
/// again for a target the engine gave up on starts afresh); `recover` takes
/// the recovery path out of `error` on the way.
pub async fn record_target(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    want: OccState,
    recover: bool,
) -> Result<(), Error> {
    Api::<Task>::namespaced(client.clone(), namespace)
        .patch(
            name,
            &super::patch_params(false),
            &Patch::Merge(json!({"metadata": {"annotations": {
                TARGET_ANNOTATION: want.as_str(),
                REQUESTED_AT_ANNOTATION: crate::time::now_rfc3339(),
                RECOVER_ANNOTATION: if recover { Some("true") } else { None },
            }}})),
        )
        .await
        .map(|_| ())
        .map_err(|e| Error::kube(format!("Task {namespace}/{name}"), e))
}

/// The object a target's audit line is about.
pub fn subject(namespace: &str, name: &str) -> Subject {
    Subject {
        api_version: "aliecs.alice.cern/v1alpha1".into(),
        kind: "Task".into(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}
