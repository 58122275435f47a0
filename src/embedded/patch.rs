//! The patch formats of the Kubernetes API: JSON patch, JSON merge patch and
//! strategic merge patch (lists merged by their merge keys, `$patch`
//! directives) for the built-in kinds swarmdeck and its examples use.

use serde_json::{Map, Value};

/// The merge key of a list at `path` (field names only, no indices), or None
/// when the list is replaced as a whole.
pub fn merge_key(kind: &str, path: &[&str]) -> Option<&'static str> {
    let last = *path.last()?;
    Some(match last {
        "containers" | "initContainers" | "ephemeralContainers" => "name",
        "env" | "volumes" | "imagePullSecrets" | "hostAliases" => match last {
            "hostAliases" => "ip",
            _ => "name",
        },
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "ports" if kind == "Service" => "port",
        "ports" => "containerPort",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "topologySpreadConstraints" => "topologyKey",
        "resourceClaims" => "name",
        _ => return None,
    })
}

/// Lists of scalars that merge as sets instead of being replaced.
fn is_set_list(path: &[&str]) -> bool {
    matches!(path.last(), Some(&"finalizers"))
}

/// Apply a strategic merge patch to `target`.
pub fn strategic_merge(kind: &str, target: &Value, patch: &Value) -> Result<Value, String> {
    let mut path = Vec::new();
    merge_value(kind, target, patch, &mut path)
}

fn merge_value(
    kind: &str,
    target: &Value,
    patch: &Value,
    path: &mut Vec<String>,
) -> Result<Value, String> {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => merge_object(kind, t, p, path).map(Value::Object),
        (_, Value::Object(p)) => merge_object(kind, &Map::new(), p, path).map(Value::Object),
        (Value::Array(t), Value::Array(p)) => {
            let names: Vec<&str> = path.iter().map(String::as_str).collect();
            if let Some(key) = merge_key(kind, &names) {
                merge_list(kind, t, p, key, path).map(Value::Array)
            } else if is_set_list(&names) {
                let mut out = t.clone();
                for v in p {
                    if !out.contains(v) {
                        out.push(v.clone());
                    }
                }
                Ok(Value::Array(out))
            } else {
                Ok(Value::Array(strip_directives_list(p)))
            }
        }
        (_, other) => Ok(strip_directives(other)),
    }
}

fn merge_object(
    kind: &str,
    target: &Map<String, Value>,
    patch: &Map<String, Value>,
    path: &mut Vec<String>,
) -> Result<Map<String, Value>, String> {
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut p = patch.clone();
        p.remove("$patch");
        return Ok(strip_directives(&Value::Object(p))
            .as_object()
            .cloned()
            .unwrap_or_default());
    }
    if patch.get("$patch").and_then(Value::as_str) == Some("delete") {
        return Ok(Map::new());
    }
    let mut out = target.clone();
    for (k, v) in patch {
        if k.starts_with('$') {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(del)) = (out.get_mut(field), v) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if k.starts_with("$setElementOrder/") || k == "$retainKeys" {
            continue;
        }
        if v.is_null() {
            out.remove(k);
            continue;
        }
        path.push(k.clone());
        let merged = match out.get(k) {
            Some(existing) => merge_value(kind, existing, v, path)?,
            None => merge_value(kind, &Value::Null, v, path)?,
        };
        path.pop();
        out.insert(k.clone(), merged);
    }
    for (k, v) in patch {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/")
            && let (Some(Value::Array(list)), Value::Array(del)) = (out.get_mut(field), v)
        {
            list.retain(|x| !del.contains(x));
        }
    }
    Ok(out)
}

fn merge_list(
    kind: &str,
    target: &[Value],
    patch: &[Value],
    key: &str,
    path: &mut Vec<String>,
) -> Result<Vec<Value>, String> {
    if patch
        .iter()
        .any(|p| p.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Ok(patch
            .iter()
            .filter(|p| p.get("$patch").is_none())
            .map(strip_directives)
            .collect());
    }
    let mut out: Vec<Value> = target.to_vec();
    for item in patch {
        let Some(id) = item.get(key) else {
            return Err(format!(
                "the items of `{}` must carry the merge key `{key}`",
                path.join(".")
            ));
        };
        let pos = out.iter().position(|t| t.get(key) == Some(id));
        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(i) = pos {
                out.remove(i);
            }
            continue;
        }
        match pos {
            Some(i) => out[i] = merge_value(kind, &out[i], item, path)?,
            None => out.push(strip_directives(item)),
        }
    }
    Ok(out)
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(strip_directives_list(items)),
        other => other.clone(),
    }
}

fn strip_directives_list(items: &[Value]) -> Vec<Value> {
    items.iter().map(strip_directives).collect()
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let mut out = target.clone();
    json_patch::merge(&mut out, patch);
    out
}

/// RFC 6902 JSON patch; the error names the failing operation.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, String> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| format!("the JSON patch is not a list of operations: {e}"))?;
    let mut out = target.clone();
    json_patch::patch(&mut out, &ops).map_err(|e| format!("the JSON patch does not apply: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_merge_by_name() {
        let target = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"}
        ]}});
        let patch = json!({"spec": {"containers": [{"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]}]}});
        let out = strategic_merge("Pod", &target, &patch).unwrap();
        assert_eq!(out["spec"]["containers"][0]["image"], "a:2");
        assert_eq!(
            out["spec"]["containers"][0]["env"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(out["spec"]["containers"][1]["image"], "b:1");
    }

    #[test]
    fn directives() {
        let target = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "args": ["x"]}, "metadata": {"finalizers": ["f1"]}});
        let patch = json!({
            "spec": {"containers": [{"name": "a", "$patch": "delete"}], "args": ["y"], "$setElementOrder/containers": [{"name": "b"}]},
            "metadata": {"finalizers": ["f2"], "labels": {"x": null}}
        });
        let out = strategic_merge("Pod", &target, &patch).unwrap();
        assert_eq!(out["spec"]["containers"], json!([{"name": "b"}]));
        assert_eq!(out["spec"]["args"], json!(["y"]));
        assert_eq!(out["metadata"]["finalizers"], json!(["f1", "f2"]));
        assert!(out["spec"].get("$setElementOrder/containers").is_none());
    }

    #[test]
    fn json_and_merge_patches() {
        let t = json!({"spec": {"state": "standby", "x": 1}});
        let out = json_patch(
            &t,
            &json!([{"op": "replace", "path": "/spec/state", "value": "running"}]),
        )
        .unwrap();
        assert_eq!(out["spec"]["state"], "running");
        assert!(json_patch(&t, &json!([{"op": "remove", "path": "/spec/missing"}])).is_err());
        let out = merge_patch(&t, &json!({"spec": {"x": null, "y": 2}}));
        assert_eq!(out, json!({"spec": {"state": "standby", "y": 2}}));
    }
}
