//! A Secret's values, masked wherever swarmdeck shows, diffs, edits or
//! records an object, until the operator reveals that one Secret. The values
//! live in `data` and `stringData`, and — for a Secret created with
//! `kubectl apply` — once more inside the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation.

use base64::Engine;
use serde_json::Value;

/// What a Secret's value is drawn as until it is revealed.
pub const MASK: &str = "••••";

pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Is this object a Secret (`v1`, kind `Secret`)?
pub fn is_secret(v: &Value) -> bool {
    v["kind"] == "Secret" && v["apiVersion"] == "v1"
}

/// Every value of a Secret masked: `data`, `stringData` and the copy of them
/// in the last-applied annotation (masked inside its JSON, which stays
/// JSON). A `List` masks its items. Anything that is not a Secret is left
/// as it is.
pub fn mask(v: &mut Value) {
    if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
        items.iter_mut().for_each(mask);
    }
    if !is_secret(v) {
        return;
    }
    mask_values(v);
    let Some(note) = v
        .pointer_mut(&format!(
            "/metadata/annotations/{}",
            LAST_APPLIED.replace('/', "~1")
        ))
        .filter(|a| a.is_string())
    else {
        return;
    };
    *note = match serde_json::from_str::<Value>(note.as_str().unwrap_or_default()) {
        Ok(mut applied) if applied.is_object() => {
            mask_values(&mut applied);
            Value::String(applied.to_string())
        }
        // Not JSON: nothing in it can be told apart from a value.
        _ => Value::String(MASK.into()),
    };
}

fn mask_values(v: &mut Value) {
    for key in ["data", "stringData"] {
        match v.get_mut(key) {
            Some(Value::Object(map)) => map.values_mut().for_each(|x| *x = MASK.into()),
            Some(Value::Null) | None => {}
            Some(other) => *other = MASK.into(),
        }
    }
}

/// A Secret's values decoded from base64 into text, for the operator who
/// asked to see them (`x`); other objects are left as they are.
pub fn reveal(v: &mut Value) {
    if !is_secret(v) {
        return;
    }
    if let Some(map) = v.get_mut("data").and_then(Value::as_object_mut) {
        for value in map.values_mut() {
            let raw = value.as_str().unwrap_or_default();
            *value = match base64::engine::general_purpose::STANDARD.decode(raw) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => text.into(),
                    Err(e) => format!("<{} bytes, not text>", e.as_bytes().len()).into(),
                },
                Err(_) => format!("<not base64: {raw}>").into(),
            };
        }
    }
}

/// An edited Secret made whole again: every value still shown as the mask
/// takes the value it had in `live` (so that saving without touching a
/// value keeps it); a value the operator typed stays. Returns the keys that
/// were masked but are not in `live` (the operator must give those).
pub fn unmask(edited: &mut Value, live: &Value) -> Vec<String> {
    let mut missing = Vec::new();
    if !is_secret(edited) {
        return missing;
    }
    for key in ["data", "stringData"] {
        let Some(map) = edited.get_mut(key).and_then(Value::as_object_mut) else {
            continue;
        };
        for (name, value) in map.iter_mut() {
            if value.as_str() != Some(MASK) {
                continue;
            }
            match live[key].get(name) {
                Some(old) => *value = old.clone(),
                None => missing.push(format!("{key}.{name}")),
            }
        }
    }
    missing
}

/// Two versions of an object for a diff: both masked, and where a Secret's
/// value differs the second says so (`•••• (changed)`), so that a diff
/// still shows that a value changes without showing either value.
pub fn mask_pair(before: &mut Value, after: &mut Value) {
    let changed: Vec<(&str, String)> = ["data", "stringData"]
        .into_iter()
        .flat_map(|key| {
            let old = &before[key];
            after[key]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(name, value)| old.get(name.as_str()) != Some(*value))
                .map(move |(name, _)| (key, name.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let secret = is_secret(after);
    mask(before);
    mask(after);
    if secret {
        for (key, name) in changed {
            after[key][name.as_str()] = format!("{MASK} (changed)").into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn applied_secret() -> Value {
        let applied = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "ops"},
            "stringData": {"password": "hunter2"}, "data": {"token": "c2VjcmV0LXRva2Vu"}});
        json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "ops",
                "annotations": {LAST_APPLIED: applied.to_string(), "team": "ops"}},
            "data": {"password": "aHVudGVyMg==", "token": "c2VjcmV0LXRva2Vu"}})
    }

    #[test]
    fn every_copy_of_a_value_is_masked() {
        let mut v = applied_secret();
        mask(&mut v);
        let text = serde_json::to_string(&v).unwrap();
        for secret in ["hunter2", "aHVudGVyMg==", "c2VjcmV0LXRva2Vu"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(v["data"]["password"], MASK);
        assert_eq!(v["metadata"]["annotations"]["team"], "ops");
        let note: Value =
            serde_json::from_str(v["metadata"]["annotations"][LAST_APPLIED].as_str().unwrap())
                .unwrap();
        assert_eq!(note["stringData"]["password"], MASK);
        assert_eq!(note["metadata"]["name"], "db");
    }

    #[test]
    fn a_list_masks_its_secrets_and_leaves_the_rest() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
        let mut list = json!({"kind": "List", "items": [applied_secret(), cm.clone()]});
        mask(&mut list);
        assert_eq!(list["items"][0]["data"]["token"], MASK);
        assert_eq!(list["items"][1], cm);
    }

    #[test]
    fn an_edit_keeps_the_values_left_masked() {
        let live = applied_secret();
        let mut edited = live.clone();
        mask(&mut edited);
        edited["data"]["token"] = "bmV3".into();
        edited["data"]["extra"] = MASK.into();
        let missing = unmask(&mut edited, &live);
        assert_eq!(edited["data"]["password"], "aHVudGVyMg==");
        assert_eq!(edited["data"]["token"], "bmV3");
        assert_eq!(missing, vec!["data.extra".to_owned()]);
    }

    #[test]
    fn a_diff_shows_that_a_value_changed_and_neither_value() {
        let mut before = applied_secret();
        let mut after = before.clone();
        after["data"]["token"] = "bmV3".into();
        mask_pair(&mut before, &mut after);
        assert_eq!(before["data"]["token"], MASK);
        assert_eq!(after["data"]["token"], format!("{MASK} (changed)"));
        assert_eq!(after["data"]["password"], MASK);
    }

    #[test]
    fn revealing_decodes_data() {
        let mut v = applied_secret();
        reveal(&mut v);
        assert_eq!(v["data"]["password"], "hunter2");
    }

    proptest::proptest! {
        #[test]
        fn no_value_survives_masking(value in "[a-zA-Z0-9]{12,20}", note in ".*") {
            let mut v = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s",
                "annotations": {LAST_APPLIED: note.clone() + &value}},
                "data": {"k": value.clone()}, "stringData": {"j": value.clone()}});
            mask(&mut v);
            proptest::prop_assert!(!serde_json::to_string(&v).unwrap().contains(&value));
        }
    }
}
