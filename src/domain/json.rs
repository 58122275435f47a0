//! Small readers of the JSON objects the API server sends.

use serde_json::Value;

/// The strings of a JSON array (anything else in it, or no array: left out).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
