//! Label selectors as kubectl prints them and takes them with `-l`:
//! `app=web,tier in (a,b),!canary`.

use serde_json::Value;

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A plain map of labels (a Service's or a ReplicationController's
/// selector); None when it is empty.
pub fn map_selector_text(map: &Value) -> Option<String> {
    let parts: Vec<String> = map
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", text(v)))
        .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

/// A LabelSelector (`matchLabels` and `matchExpressions`); None when it is
/// empty.
pub fn label_selector_text(sel: &Value) -> Option<String> {
    let mut parts: Vec<String> = map_selector_text(&sel["matchLabels"]).into_iter().collect();
    for e in sel["matchExpressions"].as_array().into_iter().flatten() {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<String> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        parts.push(match e["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_owned(),
            // DoesNotExist (the API server admits no other operator).
            _ => format!("!{key}"),
        });
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_read_as_kubectl_prints_them() {
        let sel = json!({"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                 {"key": "env", "operator": "NotIn", "values": ["dev"]},
                                 {"key": "zone", "operator": "Exists"},
                                 {"key": "canary", "operator": "DoesNotExist"}]});
        assert_eq!(
            label_selector_text(&sel).as_deref(),
            Some("app=web,tier in (a,b),env notin (dev),zone,!canary")
        );
        assert_eq!(label_selector_text(&json!({})), None);
        assert_eq!(
            map_selector_text(&json!({"app": "web", "n": 1})).as_deref(),
            Some("app=web,n=1")
        );
        assert_eq!(map_selector_text(&json!({})), None);
    }
}
