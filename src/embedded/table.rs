//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`: the rows `kubectl
//! get` prints, with the columns a real API server gives each kind.

use serde_json::{Value, json};

use super::registry::ResourceType;
use crate::time::{human_duration, parse_rfc3339};

fn age(obj: &Value, now_ms: i64) -> String {
    let Some(created) = obj["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(parse_rfc3339)
    else {
        return "<unknown>".into();
    };
    human_duration((now_ms - created).max(0) / 1000)
}

fn pod_status(obj: &Value) -> String {
    if obj["metadata"]["deletionTimestamp"].is_string() {
        return "Terminating".into();
    }
    let statuses = obj["status"]["containerStatuses"].as_array();
    if let Some(reason) = statuses.and_then(|cs| {
        cs.iter().find_map(|c| {
            c["state"]["waiting"]["reason"]
                .as_str()
                .or_else(|| c["state"]["terminated"]["reason"].as_str())
        })
    }) {
        return reason.to_owned();
    }
    obj["status"]["reason"]
        .as_str()
        .or_else(|| obj["status"]["phase"].as_str())
        .unwrap_or("Unknown")
        .to_owned()
}

fn jsonpath(obj: &Value, path: &str) -> Value {
    let mut v = obj;
    for seg in path
        .trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
    {
        v = &v[seg];
    }
    v.clone()
}

/// Column definitions and the cells of one object.
pub fn columns(rt: &ResourceType) -> Vec<(&'static str, String, String)> {
    let c = |name: &str, ty: &str| ("", name.to_owned(), ty.to_owned());
    let mut cols = vec![c("Name", "string")];
    match rt.kind.as_str() {
        "Pod" => cols.extend([
            c("Ready", "string"),
            c("Status", "string"),
            c("Restarts", "string"),
            c("Age", "string"),
            c("IP", "string"),
            c("Node", "string"),
        ]),
        "StatefulSet" => cols.extend([c("Ready", "string"), c("Age", "string")]),
        "Deployment" => cols.extend([
            c("Ready", "string"),
            c("Up-to-date", "integer"),
            c("Available", "integer"),
            c("Age", "string"),
        ]),
        "ConfigMap" | "Secret" => cols.extend([c("Data", "integer"), c("Age", "string")]),
        "Service" => cols.extend([
            c("Type", "string"),
            c("Cluster-IP", "string"),
            c("External-IP", "string"),
            c("Port(s)", "string"),
            c("Age", "string"),
        ]),
        "ReplicaSet" => cols.extend([
            c("Desired", "integer"),
            c("Current", "integer"),
            c("Ready", "integer"),
            c("Age", "string"),
        ]),
        "Namespace" => cols.extend([c("Status", "string"), c("Age", "string")]),
        "Node" => cols.extend([
            c("Status", "string"),
            c("Roles", "string"),
            c("Age", "string"),
            c("Version", "string"),
        ]),
        "Event" => cols.extend([
            c("Last Seen", "string"),
            c("Type", "string"),
            c("Reason", "string"),
            c("Object", "string"),
            c("Message", "string"),
        ]),
        "PersistentVolumeClaim" => cols.extend([c("Status", "string"), c("Age", "string")]),
        "CustomResourceDefinition" => cols.extend([c("Created At", "date")]),
        _ if !rt.printer_columns.is_empty() => {
            // As kube-apiserver: a `date` column says so, and its cells
            // hold the age already (the server converts it).
            for (name, ty, _) in &rt.printer_columns {
                cols.push(("", name.clone(), ty.clone()));
            }
        }
        _ => cols.push(c("Age", "string")),
    }
    cols
}

pub fn cells(rt: &ResourceType, obj: &Value, now_ms: i64) -> Vec<Value> {
    let name = json!(obj["metadata"]["name"].as_str().unwrap_or(""));
    let mut row = vec![name];
    match rt.kind.as_str() {
        "Pod" => {
            let specs = obj["spec"]["containers"].as_array().map_or(0, Vec::len);
            let cs = obj["status"]["containerStatuses"].as_array();
            let ready = cs.map_or(0, |c| c.iter().filter(|s| s["ready"] == true).count());
            let restarts: i64 = cs.map_or(0, |c| {
                c.iter()
                    .map(|s| s["restartCount"].as_i64().unwrap_or(0))
                    .sum()
            });
            row.extend([
                json!(format!("{ready}/{specs}")),
                json!(pod_status(obj)),
                json!(restarts.to_string()),
                json!(age(obj, now_ms)),
                json!(obj["status"]["podIP"].as_str().unwrap_or("<none>")),
                json!(obj["spec"]["nodeName"].as_str().unwrap_or("<none>")),
            ]);
        }
        "StatefulSet" => {
            let ready = obj["status"]["readyReplicas"].as_i64().unwrap_or(0);
            let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
            row.extend([json!(format!("{ready}/{want}")), json!(age(obj, now_ms))]);
        }
        "Deployment" => {
            let ready = obj["status"]["readyReplicas"].as_i64().unwrap_or(0);
            let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
            row.extend([
                json!(format!("{ready}/{want}")),
                json!(obj["status"]["updatedReplicas"].as_i64().unwrap_or(0)),
                json!(obj["status"]["availableReplicas"].as_i64().unwrap_or(0)),
                json!(age(obj, now_ms)),
            ]);
        }
        "Service" => {
            let ports: Vec<String> = obj["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    let port = p["port"].as_i64().unwrap_or(0);
                    let proto = p["protocol"].as_str().unwrap_or("TCP");
                    match p["nodePort"].as_i64() {
                        Some(np) => format!("{port}:{np}/{proto}"),
                        None => format!("{port}/{proto}"),
                    }
                })
                .collect();
            let external = obj["spec"]["externalIPs"]
                .as_array()
                .filter(|a| !a.is_empty())
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                });
            row.extend([
                json!(obj["spec"]["type"].as_str().unwrap_or("ClusterIP")),
                json!(obj["spec"]["clusterIP"].as_str().unwrap_or("<none>")),
                json!(external.unwrap_or_else(|| "<none>".into())),
                json!(if ports.is_empty() {
                    "<none>".to_owned()
                } else {
                    ports.join(",")
                }),
                json!(age(obj, now_ms)),
            ]);
        }
        "ReplicaSet" => row.extend([
            json!(obj["spec"]["replicas"].as_i64().unwrap_or(1)),
            json!(obj["status"]["replicas"].as_i64().unwrap_or(0)),
            json!(obj["status"]["readyReplicas"].as_i64().unwrap_or(0)),
            json!(age(obj, now_ms)),
        ]),
        "ConfigMap" | "Secret" => {
            let n = obj["data"].as_object().map_or(0, |m| m.len())
                + obj["binaryData"].as_object().map_or(0, |m| m.len());
            row.extend([json!(n), json!(age(obj, now_ms))]);
        }
        "Namespace" => row.extend([
            json!(obj["status"]["phase"].as_str().unwrap_or("Active")),
            json!(age(obj, now_ms)),
        ]),
        "Node" => {
            let ready = obj["status"]["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                .map(|c| c["status"] == "True");
            let status = match ready {
                Some(true) => "Ready",
                Some(false) => "NotReady",
                None => "Unknown",
            };
            row.extend([
                json!(status),
                json!("<none>"),
                json!(age(obj, now_ms)),
                json!(
                    obj["status"]["nodeInfo"]["kubeletVersion"]
                        .as_str()
                        .unwrap_or("")
                ),
            ]);
        }
        "Event" => {
            let involved = format!(
                "{}/{}",
                obj["involvedObject"]["kind"]
                    .as_str()
                    .or(obj["regarding"]["kind"].as_str())
                    .unwrap_or("")
                    .to_lowercase(),
                obj["involvedObject"]["name"]
                    .as_str()
                    .or(obj["regarding"]["name"].as_str())
                    .unwrap_or("")
            );
            let last = obj["lastTimestamp"]
                .as_str()
                .or(obj["eventTime"].as_str())
                .and_then(parse_rfc3339);
            row.extend([
                json!(last.map_or("<unknown>".into(), |t| human_duration(
                    (now_ms - t).max(0) / 1000
                ))),
                json!(obj["type"].as_str().unwrap_or("")),
                json!(obj["reason"].as_str().unwrap_or("")),
                json!(involved),
                json!(
                    obj["message"]
                        .as_str()
                        .or(obj["note"].as_str())
                        .unwrap_or("")
                ),
            ]);
        }
        "PersistentVolumeClaim" => row.extend([
            json!(obj["status"]["phase"].as_str().unwrap_or("Pending")),
            json!(age(obj, now_ms)),
        ]),
        "CustomResourceDefinition" => row.push(json!(
            obj["metadata"]["creationTimestamp"].as_str().unwrap_or("")
        )),
        _ if !rt.printer_columns.is_empty() => {
            for (_, ty, path) in &rt.printer_columns {
                let v = jsonpath(obj, path);
                let cell = if ty == "date" {
                    v.as_str()
                        .and_then(parse_rfc3339)
                        .map_or(json!("<unknown>"), |t| {
                            json!(human_duration((now_ms - t).max(0) / 1000))
                        })
                } else if v.is_null() {
                    json!("")
                } else {
                    v
                };
                row.push(cell);
            }
        }
        _ => row.push(json!(age(obj, now_ms))),
    }
    row
}

/// A `meta.k8s.io/v1` Table of `objects`.
pub fn table<'a>(
    rt: &ResourceType,
    objects: impl IntoIterator<Item = &'a Value>,
    resource_version: u64,
    continue_token: Option<&str>,
    now_ms: i64,
) -> Value {
    let defs: Vec<Value> = columns(rt)
        .into_iter()
        .enumerate()
        .map(|(i, (_, name, ty))| {
            json!({"name": name, "type": ty, "format": if i == 0 { "name" } else { "" }, "description": "", "priority": 0})
        })
        .collect();
    let rows: Vec<Value> = objects
        .into_iter()
        .map(|o| {
            json!({
                "cells": cells(rt, o, now_ms),
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o["metadata"],
                }
            })
        })
        .collect();
    let mut meta = json!({"resourceVersion": resource_version.to_string()});
    if let Some(t) = continue_token {
        meta["continue"] = json!(t);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": defs,
        "rows": rows,
    })
}
