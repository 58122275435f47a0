//! Scaling a swarm's worker pool: the rule that decides what to write, and
//! the write.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::Patch;
use serde_json::json;

use crate::domain::swarm::SwarmRef;
use crate::engine::Error;
use crate::engine::audit::Subject;
use crate::engine::swarm::{self, Request, SwarmInputs};

/// How a scale was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Asked of the engine (an annotation on the jobs ConfigMap): the new
    /// workers are granted their streams before the StatefulSet starts them.
    AskedEngine,
    /// The StatefulSet's scale subresource set; the engine re-plans.
    Scaled,
}

/// Does scaling to `replicas` ask the engine ([`HandoffMode::grants_first`](crate::domain::handoff::HandoffMode::grants_first))?
pub fn grants_first(inputs: &SwarmInputs, replicas: u32) -> bool {
    inputs.mode.grants_first(inputs.replicas, replicas)
}

/// Scale `swarm` (read as `inputs`) to `replicas` on behalf of `who`: ask
/// the engine, or set the scale subresource, as [`grants_first`] says. A
/// `dry_run` is the server's (nothing is kept).
pub async fn write(
    client: &kube::Client,
    swarm: &SwarmRef,
    inputs: &SwarmInputs,
    replicas: u32,
    who: &str,
    dry_run: bool,
) -> Result<Written, Error> {
    let pp = super::patch_params(dry_run);
    if grants_first(inputs, replicas) {
        Api::<ConfigMap>::namespaced(client.clone(), &swarm.namespace)
            .patch(
                &swarm.jobs_config_map,
                &pp,
                &Patch::Merge(json!({"metadata": {"annotations":
                    swarm::request_annotations(Request::Scale(replicas), who)
                }})),
            )
            .await
            .map_err(|e| {
                Error::kube(
                    format!("ConfigMap {}/{}", swarm.namespace, swarm.jobs_config_map),
                    e,
                )
            })?;
        return Ok(Written::AskedEngine);
    }
    let sts = swarm::statefulset_of(swarm);
    Api::<StatefulSet>::namespaced(client.clone(), &swarm.namespace)
        .patch_scale(
            &sts,
            &pp,
            &Patch::Merge(json!({"spec": {"replicas": replicas}})),
        )
        .await
        .map_err(|e| Error::kube(format!("StatefulSet {}/{sts}", swarm.namespace), e))?;
    Ok(Written::Scaled)
}

/// The object a scale's audit line is about: the swarm's StatefulSet.
pub fn subject(swarm: &SwarmRef) -> Subject {
    Subject {
        api_version: "apps/v1".into(),
        kind: "StatefulSet".into(),
        namespace: swarm.namespace.clone(),
        name: swarm::statefulset_of(swarm),
    }
}

/// The plan a scale's audit line records.
pub fn plan(replicas: u32) -> String {
    format!("replicas -> {replicas}")
}
