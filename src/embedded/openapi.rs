//! OpenAPI documents, as much as kubectl needs: the v3 index of group
//! versions, and per group version the PATCH operations that tell kubectl the
//! server validates fields itself (`fieldValidation`), plus the kinds'
//! schemas for `kubectl explain`-style clients. v2 is a valid, minimal JSON
//! document.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::cluster::{ApiError, Cluster};
use super::registry::ResourceType;

fn gv_path(t: &ResourceType) -> String {
    if t.group.is_empty() {
        format!("api/{}", t.version)
    } else {
        format!("apis/{}/{}", t.group, t.version)
    }
}

fn hash_of(s: &str) -> String {
    format!("{:016X}", crate::domain::hash::stable_hash(s))
}

/// `/openapi/v3`: every group version with the URL of its document.
pub fn v3_index(cluster: &Cluster) -> Value {
    let mut paths = BTreeMap::new();
    for t in cluster.types() {
        let p = gv_path(&t);
        let fingerprint: String = cluster
            .types()
            .iter()
            .filter(|x| gv_path(x) == p)
            .map(|x| format!("{}:{}", x.plural, x.printer_columns.len()))
            .collect();
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", hash_of(&fingerprint))}),
        );
    }
    json!({"paths": paths})
}

fn parameter(name: &str, location: &str) -> Value {
    json!({"name": name, "in": location, "schema": {"type": "string", "uniqueItems": true}})
}

/// `/openapi/v3/{api/v1 | apis/group/version}`.
pub fn v3(cluster: &Cluster, gv: &str) -> Result<Value, ApiError> {
    let types: Vec<ResourceType> = cluster
        .types()
        .into_iter()
        .filter(|t| gv_path(t) == gv)
        .collect();
    if types.is_empty() {
        return Err(ApiError::new(
            404,
            "NotFound",
            format!("no OpenAPI document for {gv}"),
        ));
    }
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for t in &types {
        let gvk = json!({"group": t.group, "version": t.version, "kind": t.kind});
        let base = if t.namespaced {
            format!("/{gv}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
        } else {
            format!("/{gv}/{}/{{name}}", t.plural)
        };
        let schema_name = schema_name(t);
        let body = json!({"content": {
            "application/apply-patch+yaml": {"schema": {"type": "object"}},
            "application/json-patch+json": {"schema": {"type": "object"}},
            "application/merge-patch+json": {"schema": {"type": "object"}},
            "application/strategic-merge-patch+json": {"schema": {"type": "object"}}
        }});
        let ok = json!({"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema_name}")}}}}});
        let mut params = vec![parameter("name", "path")];
        if t.namespaced {
            params.push(parameter("namespace", "path"));
        }
        for q in ["dryRun", "fieldManager", "fieldValidation", "force"] {
            params.push(parameter(q, "query"));
        }
        paths.insert(
            base,
            json!({
                "get": {"operationId": format!("read{}", t.kind), "responses": ok, "x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk},
                "put": {"operationId": format!("replace{}", t.kind), "responses": ok, "parameters": params, "x-kubernetes-action": "put", "x-kubernetes-group-version-kind": gvk},
                "patch": {"operationId": format!("patch{}", t.kind), "requestBody": body, "responses": ok, "parameters": params, "x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk},
            }),
        );
        // Only custom resources carry their kind: for built-ins kubectl then
        // computes strategic merge patches from its own compiled-in types.
        let mut schema = kind_schema(cluster, t);
        if t.crd.is_some() {
            schema["x-kubernetes-group-version-kind"] = json!([gvk]);
        }
        schemas.insert(schema_name, schema);
    }
    schemas.insert(
        OBJECT_META.to_owned(),
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
    );
    Ok(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0-swarmdeck"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// The schema every kind's metadata refers to (an open object here).
const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// The schema's name as kube-apiserver gives it: the Go package of a
/// built-in (`io.k8s.api.core.v1.ConfigMap`), the reversed group of a custom
/// resource (`cern.alice.aliecs.v1alpha1.Task`).
fn schema_name(t: &ResourceType) -> String {
    if t.crd.is_some() {
        let reversed: Vec<&str> = t.group.split('.').rev().collect();
        return format!("{}.{}.{}", reversed.join("."), t.version, t.kind);
    }
    if t.kind == "CustomResourceDefinition" {
        return format!(
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{}.{}",
            t.version, t.kind
        );
    }
    let package = match t.group.as_str() {
        "" => "core",
        g => g.split('.').next().unwrap_or(g),
    };
    format!("io.k8s.api.{package}.{}.{}", t.version, t.kind)
}

/// A flat schema of the kind: the CRD's own for custom resources, an open
/// object for built-ins (the server validates them itself).
fn kind_schema(cluster: &Cluster, t: &ResourceType) -> Value {
    match cluster.crd_schema(t) {
        Some(mut s) => {
            // As kube-apiserver publishes a CRD's schema: an object with the
            // type's apiVersion, kind and metadata beside what it declares.
            s["type"] = json!("object");
            let typed = [
                ("apiVersion", json!({"type": "string"})),
                ("kind", json!({"type": "string"})),
                (
                    "metadata",
                    json!({"allOf": [{"$ref": format!("#/components/schemas/{OBJECT_META}")}]}),
                ),
            ];
            for (k, v) in typed {
                // kube-apiserver publishes its own metadata, whatever the CRD says.
                if k == "metadata" || s["properties"].get(k).is_none() {
                    s["properties"][k] = v;
                }
            }
            s
        }
        None => json!({
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            },
        }),
    }
}

/// `/openapi/v2`: a valid, minimal Swagger 2.0 document.
pub fn v2(cluster: &Cluster) -> Value {
    let mut definitions = serde_json::Map::new();
    for t in cluster.types() {
        let mut s = kind_schema(cluster, &t);
        if s["properties"]["metadata"].get("allOf").is_some() {
            s["properties"]["metadata"] = json!({"$ref": format!("#/definitions/{OBJECT_META}")});
        }
        s["x-kubernetes-group-version-kind"] =
            json!([{"group": t.group, "version": t.version, "kind": t.kind}]);
        definitions.insert(schema_name(&t), s);
    }
    definitions.insert(
        OBJECT_META.to_owned(),
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
    );
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0-swarmdeck"},
        "paths": {},
        "definitions": definitions,
    })
}
