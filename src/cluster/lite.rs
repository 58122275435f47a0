//! A pod as the console's pod table reads it: decoded straight from the
//! server's JSON into what a row is built from — name, namespace, uid,
//! version, creation and deletion times, annotations, the containers' names
//! and resources (requests and limits), the node, and the status — and
//! nothing else. The rest of a pod (its
//! containers' env, resources, probes and mounts, volumes, tolerations,
//! affinity, managedFields) is skipped without being built, which is most of
//! the cost of the first list of a big namespace.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::Deserialize;

/// A pod with only what the pod table needs (see the module's words).
#[derive(Debug, Clone, Default)]
pub struct PodLite(pub Pod);

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Meta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    creation_timestamp: Option<Time>,
    deletion_timestamp: Option<Time>,
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct Named {
    #[serde(default)]
    name: String,
    resources: Option<k8s_openapi::api::core::v1::ResourceRequirements>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    containers: Vec<Named>,
    node_name: Option<String>,
}

#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    metadata: Meta,
    spec: Option<Spec>,
    status: Option<PodStatus>,
}

impl<'de> Deserialize<'de> for PodLite {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        let m = w.metadata;
        Ok(PodLite(Pod {
            metadata: ObjectMeta {
                name: m.name,
                namespace: m.namespace,
                uid: m.uid,
                resource_version: m.resource_version,
                creation_timestamp: m.creation_timestamp,
                deletion_timestamp: m.deletion_timestamp,
                annotations: m.annotations,
                ..ObjectMeta::default()
            },
            spec: w.spec.map(|s| PodSpec {
                containers: s
                    .containers
                    .into_iter()
                    .map(|c| Container {
                        name: c.name,
                        resources: c.resources,
                        ..Container::default()
                    })
                    .collect(),
                node_name: s.node_name,
                ..PodSpec::default()
            }),
            status: w.status,
        }))
    }
}

impl k8s_openapi::Resource for PodLite {
    const API_VERSION: &'static str = <Pod as k8s_openapi::Resource>::API_VERSION;
    const GROUP: &'static str = <Pod as k8s_openapi::Resource>::GROUP;
    const KIND: &'static str = <Pod as k8s_openapi::Resource>::KIND;
    const VERSION: &'static str = <Pod as k8s_openapi::Resource>::VERSION;
    const URL_PATH_SEGMENT: &'static str = <Pod as k8s_openapi::Resource>::URL_PATH_SEGMENT;
    type Scope = <Pod as k8s_openapi::Resource>::Scope;
}

impl k8s_openapi::Metadata for PodLite {
    type Ty = ObjectMeta;
    fn metadata(&self) -> &ObjectMeta {
        &self.0.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.0.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pod decoded lite makes the same row as the pod decoded whole.
    #[test]
    fn a_lite_pod_makes_the_row_the_whole_pod_makes() {
        let json = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "w-0", "namespace": "swarm", "uid": "u-1", "resourceVersion": "7",
                "creationTimestamp": "2026-12-03T10:00:00Z",
                "labels": {"app": "w"}, "annotations": {"swarmdeck.io/config-version": "4"},
                "managedFields": [{"manager": "x", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}],
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "w", "uid": "s"}]},
            "spec": {"nodeName": "node-1", "containers": [
                {"name": "a", "image": "x:1", "env": [{"name": "E", "value": "v"}],
                 "resources": {"requests": {"cpu": "1"}}},
                {"name": "b", "image": "y:1"}],
                "volumes": [{"name": "v", "emptyDir": {}}]},
            "status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [
                    {"name": "a", "image": "x:1", "imageID": "", "ready": true, "restartCount": 2,
                     "state": {"running": {"startedAt": "2026-12-03T10:00:05Z"}}},
                    {"name": "b", "image": "y:1", "imageID": "", "ready": false, "restartCount": 5,
                     "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                     "lastState": {"terminated": {"exitCode": 1}}}]}
        });
        let whole: Pod = serde_json::from_value(json.clone()).unwrap();
        let lite: PodLite = serde_json::from_value(json).unwrap();
        let (a, b) = (crate::rows::pod_row(&whole), crate::rows::pod_row(&lite.0));
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert!(lite.0.metadata.managed_fields.is_none());
        assert_eq!(
            k8s_openapi::Metadata::metadata(&lite)
                .resource_version
                .as_deref(),
            Some("7")
        );
    }
}
