//! `metrics.k8s.io/v1beta1` as metrics-server serves it: PodMetrics and
//! NodeMetrics, read-only (get and list; no watch), from simulated usage
//! that follows the world.
//!
//! A swarm worker's usage grows with the streams it has loaded, each at its
//! cost (a `hotStream` fault makes one stream cost more), and spikes for a
//! while after it loads a new config; the world records it
//! ([`Cluster::set_worker_load`]). Any other running pod uses a small steady
//! amount; a node sums its pods and the system's share. What a read returns is
//! computed when it is asked, so an idle world still costs nothing.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::cluster::{ApiError, Cluster, ListOptions};
use super::registry::ResourceType;

/// The group and version metrics-server serves.
pub const GROUP: &str = "metrics.k8s.io";
pub const VERSION: &str = "v1beta1";

/// The window metrics-server reports usage over.
const WINDOW: &str = "15s";
/// How long a worker's usage stays raised after it loads a new config.
pub const SPIKE_MS: i64 = 12_000;
/// CPU (millicores) and memory (bytes) of one stream of cost 1.
const STREAM_CPU_M: u64 = 20;
const STREAM_MEM: u64 = 12 << 20;
/// A worker's own share, streams aside.
const WORKER_CPU_M: u64 = 15;
const WORKER_MEM: u64 = 48 << 20;
/// What loading a config costs while it lasts.
const SPIKE_CPU_M: u64 = 250;
const SPIKE_MEM: u64 = 32 << 20;
/// The system's share of a node (kubelet, runtime).
const NODE_CPU_M: u64 = 120;
const NODE_MEM: u64 = 900 << 20;

/// What a swarm worker's container is doing: the entry it has loaded (its
/// version and streams: what `cat /app/config/config.yml` shows in it), the
/// cost of those streams (1 a stream, more for a hot one) and when it last
/// loaded a config.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkerLoad {
    pub cost: u64,
    pub loaded_at_ms: i64,
    pub version: u64,
    pub jobs: Vec<String>,
}

pub use crate::domain::quantity::Usage;

/// As metrics-server writes usage: nanocores and KiB.
fn usage_json(u: Usage) -> Value {
    json!({
        "cpu": format!("{}n", u.cpu_m.saturating_mul(1_000_000)),
        "memory": format!("{}Ki", u.memory / 1024),
    })
}

/// A worker's usage at `now_ms`.
pub fn worker_usage(load: &WorkerLoad, now_ms: i64) -> Usage {
    let spiking = now_ms - load.loaded_at_ms < SPIKE_MS;
    Usage {
        cpu_m: WORKER_CPU_M + load.cost * STREAM_CPU_M + if spiking { SPIKE_CPU_M } else { 0 },
        memory: WORKER_MEM + load.cost * STREAM_MEM + if spiking { SPIKE_MEM } else { 0 },
    }
}

/// Any other running container: small and steady, different for each pod
/// template (`namespace/name`).
fn steady_usage(template: &str) -> Usage {
    let h = crate::domain::hash::stable_hash(template);
    Usage {
        cpu_m: 2 + h % 18,
        memory: (16 << 20) + (h >> 8) % (48 << 20),
    }
}

/// The resource types the group serves (registered as built-ins).
pub fn is_metrics(rt: &ResourceType) -> bool {
    rt.group == GROUP
}

/// Serve a request for PodMetrics or NodeMetrics: GET one or a list; any
/// other verb, and watch, are refused as metrics-server refuses them.
pub fn serve(
    cluster: &Cluster,
    method: &str,
    rt: &ResourceType,
    namespace: Option<&str>,
    name: Option<&str>,
    lo: Option<ListOptions>,
    watch: bool,
) -> Result<Value, ApiError> {
    if method != "GET" || watch {
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource".to_owned(),
        ));
    }
    let items = if rt.plural == "nodes" {
        node_metrics(cluster)
    } else {
        pod_metrics(cluster, namespace, lo.as_ref())
    };
    match name {
        Some(n) => items
            .into_iter()
            .find(|i| i["metadata"]["name"] == n)
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "NotFound",
                    format!("{}.{GROUP} \"{n}\" not found", rt.plural),
                )
            }),
        None => Ok(json!({
            "kind": format!("{}List", rt.kind),
            "apiVersion": format!("{GROUP}/{VERSION}"),
            "metadata": {},
            "items": items,
        })),
    }
}

/// Every running pod's usage, by (namespace, name), with the node it runs on.
fn running_pods(cluster: &Cluster, now: i64) -> Vec<(Value, Usage)> {
    let loads = cluster.worker_loads();
    cluster
        .all("", "pods")
        .into_iter()
        .filter(|p| {
            p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null()
        })
        .map(|p| {
            let uid = p["metadata"]["uid"].as_str().unwrap_or_default();
            // The same for the pods of one template (and for a test that
            // runs the same world twice): not by uid, which is random.
            let template = p["metadata"]["generateName"]
                .as_str()
                .or(p["metadata"]["name"].as_str())
                .unwrap_or_default();
            let usage = match loads.get(uid) {
                Some(load) => worker_usage(load, now),
                None => steady_usage(&format!(
                    "{}/{template}",
                    p["metadata"]["namespace"].as_str().unwrap_or_default()
                )),
            };
            ((*p).clone(), usage)
        })
        .collect()
}

fn pod_metrics(cluster: &Cluster, namespace: Option<&str>, lo: Option<&ListOptions>) -> Vec<Value> {
    let now = cluster.clock().now_ms();
    let stamp = crate::time::rfc3339(now);
    running_pods(cluster, now)
        .into_iter()
        .filter(|(p, _)| namespace.is_none_or(|ns| p["metadata"]["namespace"] == ns))
        .filter(|(p, _)| lo.is_none_or(|lo| lo.labels.matches(p)))
        .map(|(p, usage)| {
            let containers: Vec<&str> = p["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["name"].as_str())
                .collect();
            // The pod's usage is its first container's; the others idle.
            let each: Vec<Value> = containers
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let u = if i == 0 {
                        usage
                    } else {
                        Usage {
                            cpu_m: 1,
                            memory: 4 << 20,
                        }
                    };
                    json!({"name": c, "usage": usage_json(u)})
                })
                .collect();
            json!({
                "kind": "PodMetrics",
                "apiVersion": format!("{GROUP}/{VERSION}"),
                "metadata": {
                    "name": p["metadata"]["name"],
                    "namespace": p["metadata"]["namespace"],
                    "labels": p["metadata"]["labels"],
                    "creationTimestamp": stamp,
                },
                "timestamp": stamp,
                "window": WINDOW,
                "containers": each,
            })
        })
        .collect()
}

fn node_metrics(cluster: &Cluster) -> Vec<Value> {
    let now = cluster.clock().now_ms();
    let stamp = crate::time::rfc3339(now);
    let mut per_node: BTreeMap<String, Usage> = cluster
        .all("", "nodes")
        .iter()
        .filter(|n| {
            // A node that stopped answering reports nothing.
            n["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .filter_map(|n| n["metadata"]["name"].as_str())
        .map(|n| {
            (
                n.to_owned(),
                Usage {
                    cpu_m: NODE_CPU_M,
                    memory: NODE_MEM,
                },
            )
        })
        .collect();
    for (p, usage) in running_pods(cluster, now) {
        if let Some(total) = p["spec"]["nodeName"]
            .as_str()
            .and_then(|n| per_node.get_mut(n))
        {
            *total = *total + usage;
        }
    }
    let labels: HashMap<String, Value> = cluster
        .all("", "nodes")
        .iter()
        .map(|n| {
            (
                n["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                n["metadata"]["labels"].clone(),
            )
        })
        .collect();
    per_node
        .into_iter()
        .map(|(name, usage)| {
            json!({
                "kind": "NodeMetrics",
                "apiVersion": format!("{GROUP}/{VERSION}"),
                "metadata": {
                    "name": name,
                    "labels": labels.get(&name).cloned().unwrap_or(Value::Null),
                    "creationTimestamp": stamp,
                },
                "timestamp": stamp,
                "window": WINDOW,
                "usage": usage_json(usage),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(cost: u64, loaded_at_ms: i64) -> WorkerLoad {
        WorkerLoad {
            cost,
            loaded_at_ms,
            ..Default::default()
        }
    }

    #[test]
    fn a_worker_grows_with_its_streams_and_spikes_while_it_loads() {
        let calm = worker_usage(&load(10, 0), 60_000);
        let hot = worker_usage(&load(17, 0), 60_000);
        assert!(hot.cpu_m > calm.cpu_m && hot.memory > calm.memory);
        let loading = worker_usage(&load(10, 55_000), 60_000);
        assert_eq!(loading.cpu_m, calm.cpu_m + SPIKE_CPU_M);
        assert_eq!(
            usage_json(Usage {
                cpu_m: 5,
                memory: 2048
            }),
            json!({"cpu": "5000000n", "memory": "2Ki"})
        );
    }
}
