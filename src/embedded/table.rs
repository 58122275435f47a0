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

/// One column of a kind's Table, as kube-apiserver defines it.
pub struct Col {
    pub name: String,
    pub ty: &'static str,
    /// `name` for the column that holds the object's name.
    pub format: &'static str,
    /// 0: `kubectl get` prints it; 1: only `-o wide`.
    pub priority: u8,
}

fn col(name: &str, ty: &'static str, priority: u8) -> Col {
    Col {
        name: name.to_owned(),
        ty,
        format: if name == "Name" { "name" } else { "" },
        priority,
    }
}

/// Column definitions of a kind, as kube-apiserver v1.36 gives them
/// (checked by the differential tier).
pub fn columns(rt: &ResourceType) -> Vec<Col> {
    let s = |name: &str| col(name, "string", 0);
    let wide = |name: &str| col(name, "string", 1);
    let mut cols = vec![s("Name")];
    match rt.kind.as_str() {
        "Pod" => cols.extend([
            s("Ready"),
            s("Status"),
            s("Restarts"),
            s("Age"),
            wide("IP"),
            wide("Node"),
            wide("Nominated Node"),
            wide("Readiness Gates"),
        ]),
        "StatefulSet" => cols.extend([s("Ready"), s("Age"), wide("Containers"), wide("Images")]),
        "Deployment" => cols.extend([
            s("Ready"),
            s("Up-to-date"),
            s("Available"),
            s("Age"),
            wide("Containers"),
            wide("Images"),
            wide("Selector"),
        ]),
        "ReplicaSet" => cols.extend([
            col("Desired", "integer", 0),
            col("Current", "integer", 0),
            col("Ready", "integer", 0),
            s("Age"),
            wide("Containers"),
            wide("Images"),
            wide("Selector"),
        ]),
        "ConfigMap" => cols.extend([s("Data"), s("Age")]),
        "Secret" => cols.extend([s("Type"), s("Data"), s("Age")]),
        "Service" => cols.extend([
            s("Type"),
            s("Cluster-IP"),
            s("External-IP"),
            s("Port(s)"),
            s("Age"),
            wide("Selector"),
        ]),
        "Namespace" => cols.extend([s("Status"), s("Age")]),
        "Node" => cols.extend([
            s("Status"),
            s("Roles"),
            s("Age"),
            s("Version"),
            wide("Internal-IP"),
            wide("External-IP"),
            wide("OS-Image"),
            wide("Kernel-Version"),
            wide("Container-Runtime"),
        ]),
        "Event" => {
            // The name comes last and only with -o wide.
            cols = vec![
                s("Last Seen"),
                s("Type"),
                s("Reason"),
                s("Object"),
                wide("Subobject"),
                wide("Source"),
                s("Message"),
                wide("First Seen"),
                wide("Count"),
                wide("Name"),
            ];
        }
        "Lease" => cols.extend([s("Holder"), s("Age")]),
        "Role" | "ClusterRole" | "CustomResourceDefinition" => {
            cols.push(col("Created At", "date", 0))
        }
        "RoleBinding" => cols.extend([
            s("Role"),
            s("Age"),
            wide("Users"),
            wide("Groups"),
            wide("ServiceAccounts"),
        ]),
        "PersistentVolumeClaim" => cols.extend([
            s("Status"),
            s("Volume"),
            s("Capacity"),
            s("Access Modes"),
            s("StorageClass"),
            s("VolumeAttributesClass"),
            s("Age"),
            wide("VolumeMode"),
        ]),
        _ if !rt.printer_columns.is_empty() => {
            // As kube-apiserver: a `date` column says so, and its cells
            // hold the age already (the server converts it).
            for (name, ty, _) in &rt.printer_columns {
                let ty: &'static str = match ty.as_str() {
                    "integer" => "integer",
                    "number" => "number",
                    "boolean" => "boolean",
                    "date" => "date",
                    _ => "string",
                };
                cols.push(col(name, ty, 0));
            }
        }
        _ => cols.push(s("Age")),
    }
    cols
}

/// The containers' names and images of a pod template, as kubectl joins them.
fn containers(template_spec: &Value) -> (Value, Value) {
    let cs = template_spec["containers"].as_array();
    let join = |field: &str| {
        json!(
            cs.into_iter()
                .flatten()
                .filter_map(|c| c[field].as_str())
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    (join("name"), join("image"))
}

/// A selector's cell: kubectl's text, `<none>` when empty.
fn selector_cell(text: Option<String>) -> Value {
    json!(text.unwrap_or_else(|| "<none>".to_owned()))
}

fn text_or(v: &Value, none: &str) -> Value {
    json!(v.as_str().filter(|s| !s.is_empty()).unwrap_or(none))
}

pub fn cells(rt: &ResourceType, obj: &Value, now_ms: i64) -> Vec<Value> {
    let name = json!(obj["metadata"]["name"].as_str().unwrap_or(""));
    let mut row = vec![name.clone()];
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
                text_or(&obj["status"]["podIP"], "<none>"),
                text_or(&obj["spec"]["nodeName"], "<none>"),
                text_or(&obj["status"]["nominatedNodeName"], "<none>"),
                json!("<none>"),
            ]);
        }
        "StatefulSet" => {
            let ready = obj["status"]["readyReplicas"].as_i64().unwrap_or(0);
            let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
            let (names, images) = containers(&obj["spec"]["template"]["spec"]);
            row.extend([
                json!(format!("{ready}/{want}")),
                json!(age(obj, now_ms)),
                names,
                images,
            ]);
        }
        "Deployment" | "ReplicaSet" => {
            let ready = obj["status"]["readyReplicas"].as_i64().unwrap_or(0);
            let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
            let (names, images) = containers(&obj["spec"]["template"]["spec"]);
            if rt.kind == "Deployment" {
                row.extend([
                    json!(format!("{ready}/{want}")),
                    json!(obj["status"]["updatedReplicas"].as_i64().unwrap_or(0)),
                    json!(obj["status"]["availableReplicas"].as_i64().unwrap_or(0)),
                ]);
            } else {
                row.extend([
                    json!(want),
                    json!(obj["status"]["replicas"].as_i64().unwrap_or(0)),
                    json!(ready),
                ]);
            }
            row.extend([
                json!(age(obj, now_ms)),
                names,
                images,
                selector_cell(crate::domain::selector::label_selector_text(
                    &obj["spec"]["selector"],
                )),
            ]);
        }
        "ConfigMap" | "Secret" => {
            let n = obj["data"].as_object().map_or(0, |m| m.len())
                + obj["binaryData"].as_object().map_or(0, |m| m.len());
            if rt.kind == "Secret" {
                row.push(text_or(&obj["type"], "Opaque"));
            }
            row.extend([json!(n), json!(age(obj, now_ms))]);
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
                selector_cell(crate::domain::selector::map_selector_text(
                    &obj["spec"]["selector"],
                )),
            ]);
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
            let address = |kind: &str| {
                obj["status"]["addresses"]
                    .as_array()
                    .and_then(|a| a.iter().find(|x| x["type"] == kind))
                    .and_then(|x| x["address"].as_str())
                    .unwrap_or("<none>")
                    .to_owned()
            };
            let info = &obj["status"]["nodeInfo"];
            row.extend([
                json!(status),
                json!("<none>"),
                json!(age(obj, now_ms)),
                json!(info["kubeletVersion"].as_str().unwrap_or("")),
                json!(address("InternalIP")),
                json!(address("ExternalIP")),
                text_or(&info["osImage"], "<unknown>"),
                text_or(&info["kernelVersion"], "<unknown>"),
                text_or(&info["containerRuntimeVersion"], "<unknown>"),
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
            let ago = |field: &str| {
                obj[field]
                    .as_str()
                    .or(obj["eventTime"].as_str())
                    .and_then(parse_rfc3339)
                    .map_or("<unknown>".into(), |t| {
                        human_duration((now_ms - t).max(0) / 1000)
                    })
            };
            let source = [
                obj["source"]["component"].as_str().unwrap_or(""),
                obj["source"]["host"].as_str().unwrap_or(""),
            ]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
            row = vec![
                json!(ago("lastTimestamp")),
                json!(obj["type"].as_str().unwrap_or("")),
                json!(obj["reason"].as_str().unwrap_or("")),
                json!(involved),
                json!(obj["involvedObject"]["fieldPath"].as_str().unwrap_or("")),
                json!(source),
                json!(
                    obj["message"]
                        .as_str()
                        .or(obj["note"].as_str())
                        .unwrap_or("")
                ),
                json!(ago("firstTimestamp")),
                json!(obj["count"].as_i64().unwrap_or(1)),
                name,
            ];
        }
        "Lease" => row.extend([
            json!(obj["spec"]["holderIdentity"].as_str().unwrap_or("")),
            json!(age(obj, now_ms)),
        ]),
        "Role" | "ClusterRole" | "CustomResourceDefinition" => row.push(json!(
            obj["metadata"]["creationTimestamp"].as_str().unwrap_or("")
        )),
        "RoleBinding" => {
            let subjects = |kind: &str| {
                let names: Vec<String> = obj["subjects"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|s| s["kind"] == kind)
                    .map(|s| match s["namespace"].as_str() {
                        Some(ns) if kind == "ServiceAccount" => {
                            format!("{ns}/{}", s["name"].as_str().unwrap_or(""))
                        }
                        _ => s["name"].as_str().unwrap_or("").to_owned(),
                    })
                    .collect();
                json!(names.join(", "))
            };
            row.extend([
                json!(format!(
                    "{}/{}",
                    obj["roleRef"]["kind"].as_str().unwrap_or(""),
                    obj["roleRef"]["name"].as_str().unwrap_or("")
                )),
                json!(age(obj, now_ms)),
                subjects("User"),
                subjects("Group"),
                subjects("ServiceAccount"),
            ]);
        }
        "PersistentVolumeClaim" => {
            let modes: Vec<&str> = obj["status"]["accessModes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|m| match m {
                    "ReadWriteOnce" => "RWO",
                    "ReadOnlyMany" => "ROX",
                    "ReadWriteMany" => "RWX",
                    "ReadWriteOncePod" => "RWOP",
                    other => other,
                })
                .collect();
            row.extend([
                json!(obj["status"]["phase"].as_str().unwrap_or("Pending")),
                json!(obj["spec"]["volumeName"].as_str().unwrap_or("")),
                json!(obj["status"]["capacity"]["storage"].as_str().unwrap_or("")),
                json!(modes.join(",")),
                text_or(&obj["spec"]["storageClassName"], "<unset>"),
                text_or(&obj["spec"]["volumeAttributesClassName"], "<unset>"),
                json!(age(obj, now_ms)),
                text_or(&obj["spec"]["volumeMode"], "<unset>"),
            ]);
        }
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
        .map(|c| {
            json!({"name": c.name, "type": c.ty, "format": c.format, "description": "", "priority": c.priority})
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
