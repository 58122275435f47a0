//! The resource types the embedded API server knows: the built-in kinds
//! swarmdeck and kubectl use, and whatever installed CRDs define.

use serde_json::{Value, json};

/// One resource type as discovery describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    /// Empty for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    /// Groups `kubectl get` accepts for it (`all` for workloads).
    pub categories: Vec<String>,
    pub subresources: Vec<&'static str>,
    /// Printer columns of a CRD: (name, type, jsonPath).
    pub printer_columns: Vec<(String, String, String)>,
    /// Where it came from: a built-in, or the CRD's name.
    pub crd: Option<String>,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods`, `statefulsets.apps`: how kubectl and errors name it.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn has_status(&self) -> bool {
        self.subresources.contains(&"status")
    }

    pub fn verbs(&self) -> Vec<&'static str> {
        let mut v = vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ];
        // As kube-apiserver: namespaces go one by one (their deletion is a
        // controller's work).
        if self.kind == "Namespace" {
            v.retain(|x| *x != "deletecollection");
        }
        if self.group == "authorization.k8s.io" {
            v = vec!["create"];
        }
        if self.group == super::metrics::GROUP {
            v = vec!["get", "list"];
        }
        v
    }

    /// The entry of this type in an `APIResourceList`.
    pub fn discovery_entries(&self) -> Vec<Value> {
        let mut entry = json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": self.verbs(),
            "storageVersionHash": format!("{:016x}", crate::domain::hash::stable_hash(&self.qualified())),
        });
        // Empty lists are left out (`omitempty`), as kube-apiserver does.
        if !self.short_names.is_empty() {
            entry["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            entry["categories"] = json!(self.categories);
        }
        let mut out = vec![entry];
        for sub in &self.subresources {
            let (kind, verbs, group, version) = match *sub {
                "scale" => ("Scale", vec!["get", "patch", "update"], "autoscaling", "v1"),
                "log" => ("Pod", vec!["get"], "", ""),
                // As kube-apiserver lists them: the options kinds of a session.
                "exec" => ("PodExecOptions", vec!["create", "get"], "", ""),
                "portforward" => ("PodPortForwardOptions", vec!["create", "get"], "", ""),
                _ => (self.kind.as_str(), vec!["get", "patch", "update"], "", ""),
            };
            let mut e = json!({
                "name": format!("{}/{}", self.plural, sub),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": kind,
                "verbs": verbs,
            });
            if !group.is_empty() {
                e["group"] = json!(group);
                e["version"] = json!(version);
            }
            out.push(e);
        }
        out
    }
}

fn builtin(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
    short: &[&str],
    subresources: &[&'static str],
) -> ResourceType {
    ResourceType {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_ascii_lowercase(),
        namespaced,
        short_names: short.iter().map(|s| (*s).to_owned()).collect(),
        categories: builtin_categories(group, kind)
            .iter()
            .map(|c| (*c).to_owned())
            .collect(),
        subresources: subresources.to_vec(),
        printer_columns: Vec::new(),
        crd: None,
    }
}

/// The categories kube-apiserver gives a built-in kind.
fn builtin_categories(group: &str, kind: &str) -> &'static [&'static str] {
    match (group, kind) {
        ("", "Pod" | "Service" | "ReplicationController")
        | ("apps", "StatefulSet" | "Deployment" | "ReplicaSet" | "DaemonSet")
        | ("batch", "Job" | "CronJob") => &["all"],
        ("apiextensions.k8s.io", "CustomResourceDefinition") => &["api-extensions"],
        _ => &[],
    }
}

/// The built-in kinds the embedded server serves: (group/version, kind,
/// plural, namespaced, short names, subresources).
#[allow(clippy::type_complexity)]
#[rustfmt::skip]
const BUILTINS: &[(&str, &str, &str, bool, &[&str], &[&str])] = &[
    ("v1", "Namespace", "namespaces", false, &["ns"], &["status"]),
    ("v1", "Node", "nodes", false, &["no"], &["status"]),
    ("v1", "Pod", "pods", true, &["po"], &["status", "log", "exec", "portforward"]),
    ("v1", "ConfigMap", "configmaps", true, &["cm"], &[]),
    ("v1", "Secret", "secrets", true, &[], &[]),
    ("v1", "Event", "events", true, &["ev"], &[]),
    ("v1", "Service", "services", true, &["svc"], &["status"]),
    ("v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, &["pvc"], &["status"]),
    ("v1", "ServiceAccount", "serviceaccounts", true, &["sa"], &[]),
    ("apps/v1", "StatefulSet", "statefulsets", true, &["sts"], &["status", "scale"]),
    ("apps/v1", "Deployment", "deployments", true, &["deploy"], &["status", "scale"]),
    ("apps/v1", "ReplicaSet", "replicasets", true, &["rs"], &["status", "scale"]),
    ("events.k8s.io/v1", "Event", "events", true, &["ev"], &[]),
    ("coordination.k8s.io/v1", "Lease", "leases", true, &[], &[]),
    ("rbac.authorization.k8s.io/v1", "Role", "roles", true, &[], &[]),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", true, &[], &[]),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", false, &[], &[]),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", false, &[], &[]),
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", false, &[], &[]),
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", false, &[], &[]),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", false, &["crd", "crds"], &["status"]),
    // Served as metrics-server serves them (an aggregated API there): metrics.rs.
    ("metrics.k8s.io/v1beta1", "PodMetrics", "pods", true, &[], &[]),
    ("metrics.k8s.io/v1beta1", "NodeMetrics", "nodes", false, &[], &[]),
];

/// The built-in kinds the embedded server serves.
pub fn builtins() -> Vec<ResourceType> {
    BUILTINS
        .iter()
        .map(|(gv, kind, plural, namespaced, short, subresources)| {
            let (group, version) = gv.split_once('/').unwrap_or(("", gv));
            builtin(
                group,
                version,
                kind,
                plural,
                *namespaced,
                short,
                subresources,
            )
        })
        .collect()
}

/// The resource types a CRD object defines (one per served version), or a
/// message naming the field that makes it unusable.
pub fn from_crd(crd: &Value) -> Result<Vec<ResourceType>, String> {
    let name = crd["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let spec = &crd["spec"];
    let group = spec["group"].as_str().ok_or("spec.group is required")?;
    let names = &spec["names"];
    let plural = names["plural"]
        .as_str()
        .ok_or("spec.names.plural is required")?;
    let kind = names["kind"]
        .as_str()
        .ok_or("spec.names.kind is required")?;
    if name != format!("{plural}.{group}") {
        return Err(format!(
            "metadata.name must be `{plural}.{group}` (spec.names.plural + \".\" + spec.group), not `{name}`"
        ));
    }
    let singular = names["singular"]
        .as_str()
        .map_or_else(|| kind.to_ascii_lowercase(), str::to_owned);
    let short_names = crate::domain::json::strings(&names["shortNames"]);
    let categories = crate::domain::json::strings(&names["categories"]);
    let namespaced = match spec["scope"].as_str() {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        _ => return Err("spec.scope must be Namespaced or Cluster".into()),
    };
    let versions = spec["versions"]
        .as_array()
        .ok_or("spec.versions is required")?;
    if versions.is_empty() {
        return Err("spec.versions must list at least one version".into());
    }
    let mut out = Vec::new();
    for v in versions {
        let version = v["name"]
            .as_str()
            .ok_or("spec.versions[].name is required")?;
        if v["served"].as_bool() == Some(false) {
            continue;
        }
        let mut subresources = Vec::new();
        if v["subresources"]["status"].is_object() {
            subresources.push("status");
        }
        if v["subresources"]["scale"].is_object() {
            subresources.push("scale");
        }
        let printer_columns = v["additionalPrinterColumns"]
            .as_array()
            .map(|cols| {
                cols.iter()
                    .filter_map(|c| {
                        Some((
                            c["name"].as_str()?.to_owned(),
                            c["type"].as_str().unwrap_or("string").to_owned(),
                            c["jsonPath"].as_str()?.to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(ResourceType {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: singular.clone(),
            namespaced,
            short_names: short_names.clone(),
            categories: categories.clone(),
            subresources,
            printer_columns,
            crd: Some(name.clone()),
        });
    }
    Ok(out)
}
