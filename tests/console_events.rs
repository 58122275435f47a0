//! Events beside the objects they are about: describe ends with the
//! object's Events (as `kubectl describe`), the header counts the Warning
//! events of the last 10 minutes where the operator looks, and `:events`
//! lists the newest first with a Warning-only toggle. On the embedded demo,
//! whose crash loop, image pull failure and unschedulable pod write them.

mod common;

use k8s_openapi::api::core::v1::Event as K8sEvent;
use kube::Api;
use kube::api::ListParams;
use ratatui::buffer::Buffer;
use swarmdeck::embedded::Cluster;
use swarmdeck::ui::app::{Effect, Event, Header, Model, update};
use swarmdeck::ui::data::Stores;
use swarmdeck::ui::keymap::Keymap;
use swarmdeck::ui::runtime::render_to_buffer;
use swarmdeck::ui::theme::ThemeSource;

async fn demo() -> (Cluster, kube::Client, Stores) {
    common::still_demo(30_000).await
}

fn model(stores: Stores, now: i64) -> Model {
    let (theme, _) = ThemeSource { user_dir: None }.load("default");
    let (keymap, _) = Keymap::load("default", None, true);
    let mut m = Model::new(Header::default(), "swarm".into(), stores, theme, keymap);
    m.now_ms = now;
    m.namespace = None;
    m
}

fn keys(m: &mut Model, text: &str) -> Vec<Effect> {
    common::press(m, text)
}

fn text_of(buf: &Buffer) -> String {
    common::screen_text(buf)
}

/// Warning events the cluster holds, seen in the last 10 minutes.
async fn warnings_in(client: &kube::Client, ns: Option<&str>, now: i64) -> usize {
    let api: Api<K8sEvent> = match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .filter(|e| {
            let t = e
                .last_timestamp
                .as_ref()
                .map(|t| t.0.as_millisecond())
                .or_else(|| e.event_time.as_ref().map(|t| t.0.as_millisecond()))
                .unwrap_or(0);
            t >= now - 600_000
        })
        .count()
}

#[tokio::test]
async fn the_header_counts_recent_warnings_where_the_operator_looks() {
    let (cluster, client, stores) = demo().await;
    let now = cluster.clock().now_ms();
    let mut m = model(stores, now);
    let all = warnings_in(&client, None, now).await;
    assert!(all >= 3, "the demo's faults write warnings: {all}");
    let text = text_of(&render_to_buffer(&mut m, 140, 10));
    let header = text.lines().next().unwrap();
    assert!(header.contains(&format!("warnings:{all}/10m")), "{header}");
    // One namespace: its own warnings; none: no mark at all.
    keys(&mut m, ":ns ops\r");
    let ops = warnings_in(&client, Some("ops"), now).await;
    let header = text_of(&render_to_buffer(&mut m, 140, 10));
    assert!(
        header
            .lines()
            .next()
            .unwrap()
            .contains(&format!("warnings:{ops}/10m")),
        "{header}"
    );
    keys(&mut m, ":ns alice-tasks\r");
    assert_eq!(warnings_in(&client, Some("alice-tasks"), now).await, 0);
    let header = text_of(&render_to_buffer(&mut m, 140, 10));
    assert!(
        !header.lines().next().unwrap().contains("warnings:"),
        "{header}"
    );
    // Ten minutes later they are old news.
    m.now_ms = now + 601_000;
    keys(&mut m, ":ns ops\r");
    let header = text_of(&render_to_buffer(&mut m, 140, 10));
    assert!(
        !header.lines().next().unwrap().contains("warnings:"),
        "{header}"
    );
}

#[tokio::test]
async fn events_newest_first_and_warnings_only() {
    let (cluster, _client, stores) = demo().await;
    let mut m = model(stores, cluster.clock().now_ms());
    keys(&mut m, ":events\r");
    m.refresh_rows();
    let ages: Vec<i64> = m
        .rows
        .iter()
        .map(|r| match r.sort_cells.get(1) {
            Some(swarmdeck::ui::data::Cell::Age(Some(t))) => *t,
            other => panic!("LAST SEEN is a time: {other:?}"),
        })
        .collect();
    assert!(ages.len() > 5, "{ages:?}");
    assert!(
        ages.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {ages:?}"
    );
    let types = |m: &Model| -> Vec<String> { m.rows.iter().map(|r| r.cells[2].clone()).collect() };
    assert!(types(&m).iter().any(|t| t == "Normal"));
    keys(&mut m, "W");
    m.refresh_rows();
    let only = types(&m);
    assert!(
        !only.is_empty() && only.iter().all(|t| t == "Warning"),
        "{only:?}"
    );
    let text = text_of(&render_to_buffer(&mut m, 140, 30));
    assert!(
        text.contains("BackOff") && !text.contains("Scheduled "),
        "{text}"
    );
    // A filter narrows within the warnings.
    keys(&mut m, "/pull\r");
    m.refresh_rows();
    assert!(
        m.rows
            .iter()
            .all(|r| r.cells.iter().any(|c| c.to_lowercase().contains("pull")))
    );
    assert!(!m.rows.is_empty());
    keys(&mut m, "\x1bW");
    m.refresh_rows();
    assert!(types(&m).iter().any(|t| t == "Normal"), "all again");
    // Elsewhere W says what it is for.
    keys(&mut m, ":pods\rW");
    assert!(
        m.message
            .as_ref()
            .is_some_and(|(t, _)| t.contains("toggle of :events")),
        "{:?}",
        m.message
    );
}

/// `d` on the selected row, answered as the runtime answers it (the object
/// read from the cluster), then the end of the text, where the Events are.
async fn describe(m: &mut Model, client: &kube::Client, kind: &str) -> String {
    let effects = keys(m, "d");
    let Some(Effect::FetchYaml {
        api,
        namespace,
        name,
        title,
    }) = effects.first().cloned()
    else {
        panic!("{effects:?}")
    };
    let path = format!("{}/{name}", api.collection_path(Some(&namespace)));
    let request = http::Request::get(path).body(Vec::new()).unwrap();
    let mut value: serde_json::Value = client.request(request).await.unwrap();
    value["kind"] = kind.into();
    update(
        m,
        Event::Yaml {
            title,
            result: Ok(value),
        },
    );
    keys(m, "G");
    text_of(&render_to_buffer(m, 120, 60))
}

#[tokio::test]
async fn describe_ends_with_the_object_s_events() {
    let (cluster, client, stores) = demo().await;
    let mut m = model(stores, cluster.clock().now_ms());
    keys(&mut m, ":pods\r/payment\r");
    let text = describe(&mut m, &client, "Pod").await;
    assert!(text.contains("Events:"), "{text}");
    assert!(text.contains("Type     Reason"), "{text}");
    assert!(text.contains("Warning  BackOff"), "{text}");
    assert!(
        text.contains("Back-off restarting failed container"),
        "{text}"
    );
    assert!(text.contains("Normal   Scheduled"), "{text}");
    // Another pod's events are not here.
    assert!(
        !text.contains("ImagePullBackOff") && !text.contains("FailedScheduling"),
        "{text}"
    );
    // An object nothing happened to: <none>.
    keys(&mut m, "\x1b:cm\r/swarm-controller\r");
    let text = describe(&mut m, &client, "ConfigMap").await;
    assert!(text.contains("Events:       <none>"), "{text}");
}
