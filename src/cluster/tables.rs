//! Any kind as `kubectl get` prints it: the server's own Table (columns and
//! cells, `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), listed
//! page by page and then followed with a watch of the same format. Only
//! GETs: works in read-only mode.

use std::time::Duration;

use futures::StreamExt;
use kube::api::{ListParams, WatchEvent, WatchParams};
use serde_json::Value;
use tokio::sync::mpsc;

use super::discovery::ApiKind;

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
const PAGE: u32 = 500;

/// What a column holds, for sorting and for ages that move with the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Number,
    /// The object's age (drawn from its creationTimestamp, not the
    /// server's text of the moment it answered).
    Age,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Upper case, as kubectl prints it.
    pub name: String,
    pub kind: ColumnKind,
}

/// One object's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    pub namespace: String,
    pub name: String,
    pub cells: Vec<String>,
    /// creationTimestamp, ms since the epoch.
    pub created_ms: Option<i64>,
    pub resource_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableUpdate {
    /// The first page of a (re)list: these rows replace all before.
    Reset {
        columns: Vec<Column>,
        rows: Vec<TableRow>,
    },
    /// A further page of the same list.
    More(Vec<TableRow>),
    /// The list is complete; changes follow (`live`: a watch follows them,
    /// false when the server does not allow watching this kind).
    Synced {
        live: bool,
    },
    Upsert(TableRow),
    Removed {
        namespace: String,
        name: String,
    },
    /// The server refused or could not be reached; the reader tries again.
    Error(String),
}

/// The columns `kubectl get` shows (priority 0), in its words.
fn columns(table: &Value) -> Vec<(usize, Column)> {
    table["columnDefinitions"]
        .as_array()
        .map(|defs| {
            defs.iter()
                .enumerate()
                .filter(|(_, d)| d["priority"].as_i64().unwrap_or(0) == 0)
                .map(|(i, d)| {
                    let name = d["name"].as_str().unwrap_or("").to_uppercase();
                    let kind = match d["type"].as_str() {
                        _ if name == "AGE" => ColumnKind::Age,
                        Some("integer" | "number") => ColumnKind::Number,
                        _ => ColumnKind::Text,
                    };
                    (i, Column { name, kind })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn cell_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".into(),
        Value::Array(a) if a.is_empty() => "<none>".into(),
        other => other.to_string(),
    }
}

fn rows(table: &Value, picked: &[usize]) -> Vec<TableRow> {
    table["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    let meta = &r["object"]["metadata"];
                    let cells = r["cells"].as_array();
                    TableRow {
                        namespace: meta["namespace"].as_str().unwrap_or("").to_owned(),
                        name: meta["name"]
                            .as_str()
                            .map(str::to_owned)
                            .or_else(|| cells.and_then(|c| c.first()).map(cell_text))
                            .unwrap_or_default(),
                        cells: picked
                            .iter()
                            .map(|i| {
                                cells
                                    .and_then(|c| c.get(*i))
                                    .map_or_else(String::new, cell_text)
                            })
                            .collect(),
                        created_ms: meta["creationTimestamp"]
                            .as_str()
                            .and_then(crate::time::parse_rfc3339),
                        resource_version: meta["resourceVersion"].as_str().unwrap_or("").to_owned(),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A failed read as one line; a 403 says what to ask for in this kind's
/// terms (a cluster-scoped kind needs a ClusterRole: no `-n` helps).
fn refusal(e: &kube::Error, kind: &ApiKind) -> String {
    match e {
        kube::Error::Api(s) if s.code == 403 => {
            let resource = kind.qualified();
            let need = if kind.namespaced {
                "a Role in the namespace (or a ClusterRole) that grants it".to_owned()
            } else {
                format!(
                    "a ClusterRole that grants it: {} are cluster-scoped, no namespaced Role can",
                    kind.plural
                )
            };
            format!(
                "{} (403): needs `list {resource}` and `watch {resource}`; ask for {need}",
                s.message
            )
        }
        other => super::explain(other),
    }
}

fn table_request(mut req: http::Request<Vec<u8>>) -> http::Request<Vec<u8>> {
    req.headers_mut()
        .insert(http::header::ACCEPT, http::HeaderValue::from_static(TABLE));
    req
}

/// List `kind` (in `namespace`, with `selector`) as Tables, then follow it,
/// sending what changes to `tx` until the receiver goes. Errors are sent
/// and retried with a growing pause (to 30 s).
pub async fn follow_table(
    client: kube::Client,
    kind: ApiKind,
    namespace: Option<String>,
    selector: Option<String>,
    tx: mpsc::Sender<TableUpdate>,
) {
    let request = kube::core::Request::new(kind.collection_path(namespace.as_deref()));
    let mut pause = Duration::from_millis(500);
    loop {
        match list_and_watch(&client, &kind, &request, selector.as_deref(), &tx).await {
            Ok(Flow::Gone) => return,
            Ok(Flow::Relist) => pause = Duration::from_millis(500),
            Err(why) => {
                if tx.send(TableUpdate::Error(why)).await.is_err() {
                    return;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// How one list-and-watch ended, when the server did not refuse.
enum Flow {
    /// The receiver went: stop.
    Gone,
    /// The watch's version expired: list again.
    Relist,
}

/// Err carries the reason to show.
async fn list_and_watch(
    client: &kube::Client,
    kind: &ApiKind,
    request: &kube::core::Request,
    selector: Option<&str>,
    tx: &mpsc::Sender<TableUpdate>,
) -> Result<Flow, String> {
    let explain = |e: &kube::Error| refusal(e, kind);
    let mut lp = ListParams::default().limit(PAGE);
    if let Some(s) = selector {
        lp = lp.labels(s);
    }
    let mut picked: Option<Vec<usize>> = None;
    let version;
    loop {
        let req = request.list(&lp).map_err(|e| e.to_string())?;
        let page: Value = client
            .request(table_request(req))
            .await
            .map_err(|e| explain(&e))?;
        let update = match &picked {
            None => {
                let cols = columns(&page);
                let idx: Vec<usize> = cols.iter().map(|(i, _)| *i).collect();
                let update = TableUpdate::Reset {
                    columns: cols.into_iter().map(|(_, c)| c).collect(),
                    rows: rows(&page, &idx),
                };
                picked = Some(idx);
                update
            }
            Some(idx) => TableUpdate::More(rows(&page, idx)),
        };
        if tx.send(update).await.is_err() {
            return Ok(Flow::Gone);
        }
        match page["metadata"]["continue"]
            .as_str()
            .filter(|c| !c.is_empty())
        {
            Some(token) => lp.continue_token = Some(token.to_owned()),
            None => {
                version = page["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or("0")
                    .to_owned();
                break;
            }
        }
    }
    let live = kind.allows("watch");
    if tx.send(TableUpdate::Synced { live }).await.is_err() {
        return Ok(Flow::Gone);
    }
    if !live {
        // Nothing to follow: the receiver keeps what was listed.
        tx.closed().await;
        return Ok(Flow::Gone);
    }
    let picked = picked.unwrap_or_default();
    let mut version = version;
    loop {
        let mut wp = WatchParams::default().disable_bookmarks();
        if let Some(s) = selector {
            wp = wp.labels(s);
        }
        let req = request.watch(&wp, &version).map_err(|e| e.to_string())?;
        let stream = client
            .request_events::<Value>(table_request(req))
            .await
            .map_err(|e| explain(&e))?;
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            let update = match event.map_err(|e| explain(&e))? {
                WatchEvent::Added(t) | WatchEvent::Modified(t) => {
                    let mut found = rows(&t, &picked);
                    let Some(row) = found.pop() else { continue };
                    version = row.resource_version.clone();
                    TableUpdate::Upsert(row)
                }
                WatchEvent::Deleted(t) => {
                    let mut found = rows(&t, &picked);
                    let Some(row) = found.pop() else { continue };
                    version = row.resource_version.clone();
                    TableUpdate::Removed {
                        namespace: row.namespace,
                        name: row.name,
                    }
                }
                WatchEvent::Bookmark(b) => {
                    version = b.metadata.resource_version;
                    continue;
                }
                // 410 Gone: the version is too old, list again now; any
                // other error is said and retried after a pause.
                WatchEvent::Error(e) if e.code == 410 => {
                    tracing::debug!(message = %e.message, "table watch expired");
                    return Ok(Flow::Relist);
                }
                WatchEvent::Error(e) => return Err(format!("{} ({})", e.message, e.code)),
            };
            if tx.send(update).await.is_err() {
                return Ok(Flow::Gone);
            }
        }
        // The server ended the watch (its timeout): go on from where it was.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_gives_the_columns_kubectl_prints_and_their_cells() {
        let t = serde_json::json!({
            "columnDefinitions": [
                {"name": "Name", "type": "string", "priority": 0},
                {"name": "Ready", "type": "string", "priority": 0},
                {"name": "Up-to-date", "type": "integer", "priority": 0},
                {"name": "Age", "type": "string", "priority": 0},
                {"name": "Containers", "type": "string", "priority": 1}
            ],
            "rows": [{"cells": ["web", "2/3", 3, "5m", "nginx"], "object": {"metadata": {
                "name": "web", "namespace": "shop", "resourceVersion": "12",
                "creationTimestamp": "2026-12-03T10:00:00Z"}}}]
        });
        let cols = columns(&t);
        let names: Vec<&str> = cols.iter().map(|(_, c)| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["NAME", "READY", "UP-TO-DATE", "AGE"],
            "wide columns stay out"
        );
        assert_eq!(cols[2].1.kind, ColumnKind::Number);
        assert_eq!(cols[3].1.kind, ColumnKind::Age);
        let idx: Vec<usize> = cols.iter().map(|(i, _)| *i).collect();
        let r = &rows(&t, &idx)[0];
        assert_eq!((r.namespace.as_str(), r.name.as_str()), ("shop", "web"));
        assert_eq!(r.cells, ["web", "2/3", "3", "5m"]);
        assert_eq!(
            r.created_ms,
            crate::time::parse_rfc3339("2026-12-03T10:00:00Z")
        );
    }
}
