//! Scenarios: a multi-document YAML file of objects to create, with one
//! `kind: Scenario` document that sets the world's nodes and faults.

use serde::Deserialize;
use serde_json::{Value, json};

use super::cluster::{Cluster, WriteOptions};
use super::world::Fault;
use crate::domain::manifest;

/// The demo scenario shipped with swarmdeck (assets/demo/scenario.yaml).
pub const DEMO: &str = include_str!("../../assets/demo/scenario.yaml");

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScenarioSpec {
    #[serde(default)]
    nodes: Option<usize>,
    #[serde(default)]
    faults: Vec<Fault>,
    /// Users authenticated by bearer token (default: admin, operator, viewer).
    #[serde(default)]
    users: Option<Vec<super::cluster::User>>,
    /// Namespaces that get the Roles swarmdeck ships (assets/deploy:
    /// `swarmdeck-operator` and `swarmdeck-read-only`); bind them in the scenario.
    #[serde(default)]
    deploy_roles: Vec<String>,
}

/// The Roles of assets/deploy, in `namespace`.
fn deploy_roles(namespace: &str) -> Vec<Value> {
    [
        include_str!("../../assets/deploy/operator.yaml"),
        include_str!("../../assets/deploy/read-only.yaml"),
    ]
    .into_iter()
    .filter_map(|text| manifest::parse_documents(text).ok())
    .flatten()
    .filter(|d| d.kind() == "Role")
    .map(|d| {
        let mut v = d.value;
        v["metadata"]["namespace"] = json!(namespace);
        v
    })
    .collect()
}

/// A parsed scenario.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    pub nodes: usize,
    pub faults: Vec<Fault>,
    pub objects: Vec<Value>,
    /// The scenario's users; None keeps the cluster's default users.
    pub users: Option<Vec<super::cluster::User>>,
}

impl Scenario {
    /// Parse a scenario; errors name the document and line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let docs = manifest::parse_documents(text).map_err(|e| e.to_string())?;
        let mut scenario = Scenario {
            nodes: 3,
            ..Default::default()
        };
        for d in docs {
            if d.kind() == "Scenario" {
                let spec: ScenarioSpec =
                    serde_json::from_value(d.value.get("spec").cloned().unwrap_or(json!({})))
                        .map_err(|e| {
                            format!(
                                "document {}, line {} (Scenario): spec: {e}",
                                d.index, d.line
                            )
                        })?;
                scenario.nodes = spec.nodes.unwrap_or(3);
                scenario.faults = spec.faults;
                scenario.users = spec.users;
                for ns in &spec.deploy_roles {
                    scenario.objects.extend(deploy_roles(ns));
                }
                continue;
            }
            manifest::validate(&d).map_err(|e| e.to_string())?;
            scenario.objects.push(d.value);
        }
        Ok(scenario)
    }

    /// Create the scenario's objects in apply order (CRDs and namespaces first).
    pub fn load_into(&self, cluster: &Cluster) -> Result<(), String> {
        if let Some(users) = &self.users {
            cluster.set_users(users.clone());
        }
        let mut objects: Vec<&Value> = self.objects.iter().collect();
        objects.sort_by_key(|o| manifest::apply_rank(o["kind"].as_str().unwrap_or("")));
        for obj in objects {
            let kind = obj["kind"].as_str().unwrap_or("");
            let api_version = obj["apiVersion"].as_str().unwrap_or("");
            let name = obj["metadata"]["name"].as_str().unwrap_or("");
            let rt = cluster
                .resolve_kind(api_version, kind)
                .ok_or_else(|| format!("{kind}/{name}: the embedded cluster does not serve {api_version} {kind}; install its CRD first"))?;
            let ns = obj["metadata"]["namespace"].as_str().map(str::to_owned);
            if let Some(ns) = &ns {
                cluster.ensure_namespace(ns).map_err(|e| e.message)?;
            }
            cluster
                .create(&rt, ns.as_deref(), obj.clone(), &WriteOptions::default())
                .map_err(|e| format!("{kind}/{name}: {}", e.message))?;
        }
        Ok(())
    }
}

/// Install the CRDs swarmdeck uses.
pub fn install_crds(cluster: &Cluster) -> Result<(), String> {
    let rt = cluster
        .resolve("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .ok_or("no CRD support")?;
    for crd in [
        crate::domain::task::task_crd(),
        crate::domain::task::compact_crd(
            <crate::domain::swarm::Swarm as kube::CustomResourceExt>::crd(),
        ),
    ] {
        let v = serde_json::to_value(crd).map_err(|e| e.to_string())?;
        match cluster.create(&rt, None, v, &WriteOptions::default()) {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => return Err(e.message),
        }
    }
    Ok(())
}

/// StatefulSets of 100 pods in namespace `load`, `pods` pods in all.
pub fn load_pods(cluster: &Cluster, pods: usize) -> Result<(), String> {
    if pods == 0 {
        return Ok(());
    }
    cluster.ensure_namespace("load").map_err(|e| e.message)?;
    let rt = cluster
        .resolve("apps", "v1", "statefulsets")
        .ok_or("no statefulsets")?;
    let sets = pods.div_ceil(100);
    for i in 0..sets {
        let replicas = (pods - i * 100).min(100);
        let name = format!("load-{i:04}");
        let sts = json!({
            "metadata": {"name": name, "namespace": "load", "labels": {"app": name}},
            "spec": {
                "replicas": replicas, "serviceName": name, "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "registry.example.org/load/app:1"}]}}
            }
        });
        cluster
            .create(&rt, Some("load"), sts, &WriteOptions::default())
            .map_err(|e| e.message)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_scenario_parses() {
        let s = Scenario::parse(DEMO).unwrap();
        assert!(
            s.objects
                .iter()
                .any(|o| o["kind"] == "StatefulSet" && o["metadata"]["name"] == "swarm-worker")
        );
        assert!(!s.faults.is_empty());
    }

    #[test]
    fn bad_scenario_names_the_document() {
        let err = Scenario::parse("apiVersion: swarmdeck.io/v1alpha1\nkind: Scenario\nmetadata: {name: s}\nspec: {faults: [{pod: x, fault: explode}]}\n").unwrap_err();
        assert!(
            err.starts_with("document 1, line 1 (Scenario): spec:"),
            "{err}"
        );
    }
}
