//! Restarting and deleting objects.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, Patch};
use serde_json::json;

use crate::cluster::discovery::ApiKind;
use crate::engine::audit::Subject;

/// What can be restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restartable {
    /// Deleted: its controller starts it again.
    Pod,
    /// Its pod template stamped (`kubectl rollout restart`'s annotation):
    /// the controller replaces its pods.
    StatefulSet,
}

impl Restartable {
    /// The object a restart's audit line is about.
    pub fn subject(self, namespace: &str, name: &str) -> Subject {
        let (api_version, kind) = match self {
            Self::Pod => ("v1", "Pod"),
            Self::StatefulSet => ("apps/v1", "StatefulSet"),
        };
        Subject {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }
}

/// Restart `namespace/name` as [`Restartable`] says.
pub async fn restart(
    client: &kube::Client,
    what: Restartable,
    namespace: &str,
    name: &str,
) -> Result<(), kube::Error> {
    match what {
        Restartable::Pod => Api::<Pod>::namespaced(client.clone(), namespace)
            .delete(name, &DeleteParams::default())
            .await
            .map(|_| ()),
        Restartable::StatefulSet => Api::<StatefulSet>::namespaced(client.clone(), namespace)
            .patch(
                name,
                &super::patch_params(false),
                &Patch::Merge(json!({"spec": {"template": {"metadata": {"annotations": {
                    "kubectl.kubernetes.io/restartedAt": crate::time::now_rfc3339()
                }}}}})),
            )
            .await
            .map(|_| ()),
    }
}

/// The API of one kind: in `namespace` when the kind is namespaced.
pub fn api_of(
    client: kube::Client,
    api: &ApiKind,
    namespace: &str,
) -> Api<kube::api::DynamicObject> {
    let ar = api.api_resource();
    if api.namespaced && !namespace.is_empty() {
        Api::namespaced_with(client, namespace, &ar)
    } else {
        Api::all_with(client, &ar)
    }
}

/// Delete one object of any kind.
pub async fn delete(
    client: &kube::Client,
    api: &ApiKind,
    namespace: &str,
    name: &str,
) -> Result<(), kube::Error> {
    api_of(client.clone(), api, namespace)
        .delete(name, &DeleteParams::default())
        .await
        .map(|_| ())
}

/// The object a delete's audit line is about.
pub fn subject(api: &ApiKind, namespace: &str, name: &str) -> Subject {
    Subject {
        api_version: api.api_version(),
        kind: api.kind.clone(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}
