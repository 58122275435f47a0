//! What kube-apiserver fills in on every write (its defaulting functions and
//! the admission plugins every cluster runs), so that an object read back
//! from the embedded cluster looks as it would on a real one: a Service's
//! cluster IP and port protocol, a Secret's `stringData` folded into `data`,
//! a pod template's restart and DNS policies, a Deployment's strategy.
//! Measured against kube-apiserver v1.36.3 by the differential tier.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::registry::ResourceType;

/// Whether kube-apiserver keeps `metadata.generation` for this kind: every
/// kind with a spec, except those whose strategy leaves it out.
pub fn has_generation(rt: &ResourceType) -> bool {
    let without = [
        ("", "Service"),
        ("", "PersistentVolumeClaim"),
        ("", "PersistentVolume"),
        ("", "Namespace"),
        ("", "Node"),
        ("coordination.k8s.io", "Lease"),
    ];
    !without.contains(&(rt.group.as_str(), rt.kind.as_str()))
}

/// Fill in what the server defaults on `obj` (a create, or the result of an
/// update or patch); `next_ip` hands out a cluster IP for a new Service.
pub fn apply(rt: &ResourceType, obj: &mut Value, mut next_ip: impl FnMut() -> String) {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Pod") => {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                pod_spec(spec);
                // The Priority admission plugin and the pod's own defaults.
                or_insert(spec, "enableServiceLinks", json!(true));
                or_insert(spec, "priority", json!(0));
                or_insert(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
                // The ServiceAccount admission plugin (without the token
                // volume: there is no token issuer) and DefaultTolerationSeconds.
                or_insert(spec, "serviceAccountName", json!("default"));
                let account = spec["serviceAccountName"].clone();
                or_insert(spec, "serviceAccount", account);
                default_tolerations(spec);
            }
        }
        ("", "Namespace") => {
            // Every namespace carries its name as a label, for selectors.
            let name = obj["metadata"]["name"].clone();
            if name.is_string() {
                obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
            }
        }
        ("", "Secret") => secret(obj),
        ("", "Service") => service(obj, &mut next_ip),
        ("", "PersistentVolumeClaim") => {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                or_insert(spec, "volumeMode", json!("Filesystem"));
            }
        }
        ("apps", "Deployment") => {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                or_insert(spec, "replicas", json!(1));
                or_insert(
                    spec,
                    "strategy",
                    json!({"type": "RollingUpdate",
                        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
                );
                or_insert(spec, "revisionHistoryLimit", json!(10));
                or_insert(spec, "progressDeadlineSeconds", json!(600));
                template(spec);
            }
        }
        ("apps", "StatefulSet") => {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                or_insert(spec, "replicas", json!(1));
                or_insert(spec, "podManagementPolicy", json!("OrderedReady"));
                or_insert(
                    spec,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
                );
                or_insert(spec, "revisionHistoryLimit", json!(10));
                or_insert(
                    spec,
                    "persistentVolumeClaimRetentionPolicy",
                    json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
                );
                template(spec);
            }
        }
        ("apps", "ReplicaSet" | "DaemonSet") => {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                template(spec);
            }
        }
        _ => {}
    }
}

fn or_insert(m: &mut Map<String, Value>, key: &str, v: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_owned(), v);
    }
}

/// A pod tolerates a not-ready or unreachable node for 300 s unless it says
/// otherwise (the DefaultTolerationSeconds admission plugin).
fn default_tolerations(spec: &mut Map<String, Value>) {
    let list = spec
        .entry("tolerations")
        .or_insert_with(|| json!([]))
        .as_array_mut();
    let Some(list) = list else { return };
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let covered = list.iter().any(|t| {
            (t["key"] == key || (t["key"].is_null() && t["operator"] == "Exists"))
                && (t["effect"].is_null() || t["effect"] == "NoExecute")
        });
        if !covered {
            list.push(
                json!({"key": key, "operator": "Exists", "effect": "NoExecute",
                "tolerationSeconds": 300}),
            );
        }
    }
}

fn template(spec: &mut Map<String, Value>) {
    if let Some(pod) = spec
        .get_mut("template")
        .and_then(|t| t.get_mut("spec"))
        .and_then(Value::as_object_mut)
    {
        pod_spec(pod);
    }
}

/// A pod's spec, in a pod or a template.
fn pod_spec(spec: &mut Map<String, Value>) {
    or_insert(spec, "restartPolicy", json!("Always"));
    or_insert(spec, "dnsPolicy", json!("ClusterFirst"));
    or_insert(spec, "schedulerName", json!("default-scheduler"));
    or_insert(spec, "securityContext", json!({}));
    or_insert(spec, "terminationGracePeriodSeconds", json!(30));
    for list in ["initContainers", "containers"] {
        for c in objects_in(spec, list) {
            let pull = image_pull_policy(c.get("image").and_then(Value::as_str).unwrap_or(""));
            or_insert(c, "imagePullPolicy", json!(pull));
            or_insert(c, "resources", json!({}));
            or_insert(c, "terminationMessagePath", json!("/dev/termination-log"));
            or_insert(c, "terminationMessagePolicy", json!("File"));
            for p in objects_in(c, "ports") {
                or_insert(p, "protocol", json!("TCP"));
            }
        }
    }
}

/// The objects of the list under `key` (none when it is absent or not a list).
fn objects_in<'a>(
    parent: &'a mut serde_json::Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a mut serde_json::Map<String, Value>> {
    parent
        .get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

/// `Always` for an untagged or `:latest` image, `IfNotPresent` otherwise.
fn image_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

/// `stringData` is write-only: folded into `data` (base64), `type` Opaque.
fn secret(obj: &mut Value) {
    let Some(m) = obj.as_object_mut() else { return };
    if let Some(Value::Object(plain)) = m.remove("stringData") {
        let data = m
            .entry("data")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        let mut data = data;
        for (k, v) in plain {
            let text = v.as_str().unwrap_or_default().to_owned();
            data.insert(
                k,
                json!(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
        m.insert("data".into(), Value::Object(data));
    }
    or_insert(m, "type", json!("Opaque"));
}

fn service(obj: &mut Value, next_ip: &mut impl FnMut() -> String) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    or_insert(spec, "type", json!("ClusterIP"));
    let kind = spec["type"].as_str().unwrap_or("ClusterIP").to_owned();
    or_insert(spec, "sessionAffinity", json!("None"));
    if kind != "ExternalName" {
        if spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            spec.insert("clusterIP".into(), json!(next_ip()));
        }
        let ip = spec["clusterIP"].clone();
        or_insert(spec, "clusterIPs", json!([ip]));
        or_insert(spec, "ipFamilies", json!(["IPv4"]));
        or_insert(spec, "ipFamilyPolicy", json!("SingleStack"));
        or_insert(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if kind == "NodePort" || kind == "LoadBalancer" {
        or_insert(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if kind == "LoadBalancer" {
        or_insert(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    for p in objects_in(spec, "ports") {
        or_insert(p, "protocol", json!("TCP"));
        let port = p.get("port").cloned().unwrap_or(Value::Null);
        or_insert(p, "targetPort", port);
    }
    if let Some(m) = obj.as_object_mut() {
        or_insert(m, "status", json!({"loadBalancer": {}}));
    }
}

/// On an update, what the server allocated stays unless the client names it:
/// a Service's cluster IPs.
pub fn carry_allocated(rt: &ResourceType, current: &Value, next: &mut Value) {
    if rt.group.is_empty() && rt.kind == "Service" {
        for key in ["clusterIP", "clusterIPs"] {
            let given = next["spec"].get(key).is_some_and(|v| {
                !v.is_null() && v.as_str() != Some("") && v.as_array().is_none_or(|a| !a.is_empty())
            });
            if !given
                && let Some(v) = current["spec"].get(key)
                && next["spec"].is_object()
            {
                next["spec"][key] = v.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_pulled_always_only_when_untagged_or_latest() {
        assert_eq!(image_pull_policy("x/y"), "Always");
        assert_eq!(image_pull_policy("x/y:latest"), "Always");
        assert_eq!(image_pull_policy("registry:5000/x/y"), "Always");
        assert_eq!(image_pull_policy("registry:5000/x/y:1"), "IfNotPresent");
        assert_eq!(image_pull_policy("x/y@sha256:ab"), "IfNotPresent");
    }

    #[test]
    fn string_data_is_folded_into_data() {
        let mut s = json!({"data": {"user": "YWRtaW4="}, "stringData": {"password": "s3cret"}});
        secret(&mut s);
        assert_eq!(
            s,
            json!({"data": {"user": "YWRtaW4=", "password": "czNjcmV0"}, "type": "Opaque"})
        );
    }
}
