//! A swarm (DESIGN 3): the five values that describe one, with the seed
//! defaults of the k8s-swarm operator, and the optional Swarm resource
//! (`swarms.k8slab.info`) whose size and members the engine keeps current.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a swarm lives and how it is wired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwarmRef {
    pub name: String,
    pub namespace: String,
    /// Worker StatefulSets and pods carry `app=<watch_label>`.
    pub watch_label: String,
    /// ConfigMap whose `config.yml` holds the `jobs:` list.
    pub jobs_config_map: String,
    /// ConfigMap the assignment is written to.
    pub output_config_map: String,
    /// How workers pick up a new assignment.
    pub refresh: RefreshPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefreshPolicy {
    /// Delete the worker's pod so that it restarts with its new jobs.
    RestartPod,
    /// The worker reloads the ConfigMap itself and reports
    /// `swarmdeck.io/config-version`.
    HotReload,
}

impl Default for SwarmRef {
    /// The seed defaults of the k8s-swarm operator.
    fn default() -> Self {
        Self {
            name: "swarm-worker".into(),
            namespace: "swarm".into(),
            watch_label: "swarm-worker".into(),
            jobs_config_map: "swarm-controller-config".into(),
            output_config_map: "swarm-worker-config".into(),
            refresh: RefreshPolicy::RestartPod,
        }
    }
}

/// The key both ConfigMaps keep their YAML under.
pub const CONFIG_KEY: &str = "config.yml";

/// The k8s-swarm Swarm resource.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "k8slab.info",
    version = "v1alpha1",
    kind = "Swarm",
    plural = "swarms",
    singular = "swarm",
    namespaced,
    status = "SwarmStatus",
    printcolumn = r#"{"name":"Replicas","type":"integer","jsonPath":".spec.replicas"}"#,
    printcolumn = r#"{"name":"Size","type":"integer","jsonPath":".status.size"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
pub struct SwarmSpec {
    #[schemars(range(min = 1))]
    pub replicas: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SwarmStatus {
    #[serde(default)]
    pub size: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}
