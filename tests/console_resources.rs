//! Every other kind in the console: `:deploy`, `:svc`, `:nodes`, `:secrets`
//! and anything discovery lists, with the server's own Table columns; YAML
//! and describe of any row (a Node's conditions and allocatable, a Secret
//! masked until `x`); `Enter` on a Deployment or Service lists its pods; an
//! unknown name gets the nearest names; a namespaced user opening a
//! cluster-scoped kind gets the 403 line. On the embedded demo, the effects
//! performed as the runtime performs them (discovery, table reads, GETs).

mod common;

use std::time::Duration;

use ratatui::buffer::Buffer;
use swarmdeck::cluster::tables::{TableUpdate, follow_table};
use swarmdeck::embedded::Cluster;
use swarmdeck::ui::app::{Effect, Event, Header, Model, Screen, completions, update};
use swarmdeck::ui::data::Stores;
use swarmdeck::ui::keymap::Keymap;
use swarmdeck::ui::runtime::render_to_buffer;
use swarmdeck::ui::theme::ThemeSource;

fn model(stores: Stores, cluster: &Cluster, namespace: &str) -> Model {
    let (theme, _) = ThemeSource { user_dir: None }.load("default");
    let (keymap, _) = Keymap::load("default", None, false);
    let mut m = Model::new(Header::default(), namespace.into(), stores, theme, keymap);
    m.now_ms = cluster.clock().now_ms();
    m
}

/// Perform the effects as the runtime does, feeding what they bring back
/// into the model, until none is left; the rest are returned.
async fn drive(m: &mut Model, client: &kube::Client, effects: Vec<Effect>) -> Vec<Effect> {
    let mut todo = effects;
    let mut left = Vec::new();
    while let Some(effect) = (!todo.is_empty()).then(|| todo.remove(0)) {
        let event = match effect {
            Effect::Discover => Event::Discovered(
                swarmdeck::cluster::discovery::Catalog::discover(client)
                    .await
                    .map_err(|e| e.to_string()),
            ),
            Effect::ReadTable { id, reading } => {
                let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
                let reader = tokio::spawn(follow_table(
                    client.clone(),
                    reading.kind,
                    reading.namespace,
                    reading.selector,
                    tx,
                ));
                let mut updates = Vec::new();
                while let Ok(Some(u)) =
                    tokio::time::timeout(Duration::from_secs(5), rx.recv()).await
                {
                    let last = matches!(u, TableUpdate::Synced { .. } | TableUpdate::Error(_));
                    updates.push(u);
                    if last {
                        break;
                    }
                }
                reader.abort();
                Event::Table { id, updates }
            }
            Effect::FetchYaml {
                api,
                namespace,
                name,
                title,
            } => Event::Yaml {
                title,
                result: swarmdeck::ui::act::fetch(client, &api, &namespace, &name).await,
            },
            Effect::PodsOf {
                api,
                namespace,
                name,
            } => Event::PodsOf {
                of: format!("{} {name}", api.singular),
                result: swarmdeck::ui::act::fetch(client, &api, &namespace, &name)
                    .await
                    .and_then(|v| swarmdeck::ui::screen::resource::pod_selector(&v)),
                namespace,
            },
            Effect::CloseTable => continue,
            other => {
                left.push(other);
                continue;
            }
        };
        todo.extend(update(m, event));
    }
    left
}

/// Keys typed one by one, each key's effects performed before the next.
async fn type_keys(m: &mut Model, client: &kube::Client, keys: &str) -> Vec<Effect> {
    let mut left = Vec::new();
    for c in keys.chars() {
        let effects = common::press(m, &c.to_string());
        left.extend(drive(m, client, effects).await);
    }
    left
}

fn text_of(buf: &Buffer) -> String {
    common::screen_text(buf)
}

fn message(m: &Model) -> String {
    m.message
        .as_ref()
        .map(|(t, _)| t.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn three_generic_kinds_show_the_columns_the_server_gives() {
    let (cluster, client, stores) = common::still_demo(30_000).await;
    let mut m = model(stores, &cluster, "ops");
    type_keys(&mut m, &client, ":deploy\r").await;
    let deploy = text_of(&render_to_buffer(&mut m, 100, 8));
    assert!(deploy.contains("Deployments(ops)[2]"), "{deploy}");
    assert!(deploy.contains("UP-TO-DATE"), "{deploy}");
    insta::assert_snapshot!("deployments", deploy);

    type_keys(&mut m, &client, ":svc\r").await;
    let svc = text_of(&render_to_buffer(&mut m, 100, 6));
    assert!(
        svc.contains("CLUSTER-IP") && svc.contains("80/TCP"),
        "{svc}"
    );
    insta::assert_snapshot!("services", svc);

    type_keys(&mut m, &client, ":no\r").await;
    let nodes = text_of(&render_to_buffer(&mut m, 100, 8));
    assert!(nodes.contains("Nodes(cluster)[3]"), "{nodes}");
    insta::assert_snapshot!("nodes", nodes);

    // Ages move with the clock, not with the server's text of the moment.
    m.now_ms += 3_600_000;
    let later = text_of(&render_to_buffer(&mut m, 100, 8));
    assert!(later.contains("60m") || later.contains("61m"), "{later}");

    // Esc goes back through the kinds opened, to the tables beneath.
    type_keys(&mut m, &client, "\x1b").await;
    assert!(matches!(m.stack.last(), Some(Screen::Resource(r)) if r.kind.plural == "services"));
}

#[tokio::test]
async fn a_secret_is_masked_until_x_reveals_it() {
    let (cluster, client, stores) = common::still_demo(30_000).await;
    let mut m = model(stores, &cluster, "ops");
    type_keys(&mut m, &client, ":secrets\r").await;
    let list = text_of(&render_to_buffer(&mut m, 100, 6));
    assert!(list.contains("payment-gateway-db"), "{list}");
    type_keys(&mut m, &client, "\r").await;
    let masked = text_of(&render_to_buffer(&mut m, 100, 16));
    assert!(masked.contains("password: ••••"), "{masked}");
    assert!(
        !masked.contains("s3cr3t") && !masked.contains("czNjcjN0"),
        "{masked}"
    );
    // Every run gives the Secret another uid.
    let uid = regex::Regex::new(r"uid: [0-9a-f-]{36}").unwrap();
    insta::assert_snapshot!("secret_masked", uid.replace(&masked, "uid: <uid>    "));

    type_keys(&mut m, &client, "x").await;
    let shown = text_of(&render_to_buffer(&mut m, 100, 16));
    assert!(shown.contains("password: s3cr3t-do-not-show"), "{shown}");
    assert!(shown.contains("username: gateway"), "{shown}");
    type_keys(&mut m, &client, "x").await;
    let again = text_of(&render_to_buffer(&mut m, 100, 16));
    assert!(!again.contains("s3cr3t"), "{again}");

    // describe says how big each value is, never what it is.
    type_keys(&mut m, &client, "\x1bd").await;
    let described = text_of(&render_to_buffer(&mut m, 100, 20));
    assert!(described.contains("Data"), "{described}");
    assert!(
        !described.contains("s3cr3t") && !described.contains("czNjcjN0"),
        "{described}"
    );
}

#[tokio::test]
async fn a_nodes_describe_has_its_conditions_and_allocatable() {
    let (cluster, client, stores) = common::still_demo(30_000).await;
    let mut m = model(stores, &cluster, "ops");
    type_keys(&mut m, &client, ":nodes\rd").await;
    let text = text_of(&render_to_buffer(&mut m, 120, 50));
    for want in [
        "Conditions:",
        "KubeletReady",
        "Allocatable:",
        "Capacity:",
        "memory:  64Gi",
    ] {
        assert!(text.contains(want), "{want}:\n{text}");
    }
}

#[tokio::test]
async fn enter_on_a_deployment_or_a_service_lists_its_pods() {
    let (cluster, client, stores) = common::still_demo(30_000).await;
    let mut m = model(stores, &cluster, "ops");
    type_keys(&mut m, &client, ":deploy\r").await;
    // Sorted by name: dashboard first.
    type_keys(&mut m, &client, "\r").await;
    let pods = text_of(&render_to_buffer(&mut m, 100, 8));
    assert!(
        pods.contains("Pods of deployment dashboard(ops)[2]"),
        "{pods}"
    );
    assert!(pods.contains("-l app=dashboard"), "{pods}");
    assert_eq!(pods.matches("dashboard-").count(), 2, "{pods}");
    assert!(!pods.contains("payment-gateway"), "{pods}");
    // The pods' logs are a key away.
    let effects = type_keys(&mut m, &client, "l").await;
    assert!(
        effects.iter().any(|e| matches!(e, Effect::OpenLogs { .. })),
        "{effects:?}"
    );

    type_keys(&mut m, &client, "\x1b:svc\r\r").await;
    let of_svc = text_of(&render_to_buffer(&mut m, 100, 8));
    assert!(
        of_svc.contains("Pods of service dashboard(ops)[2]"),
        "{of_svc}"
    );
}

#[tokio::test]
async fn names_resolve_as_kubectl_takes_them_and_unknown_ones_get_the_nearest() {
    let (cluster, client, stores) = common::still_demo(30_000).await;
    let mut m = model(stores, &cluster, "ops");
    for name in ["deployments.apps", "Deployment", "deployment"] {
        type_keys(&mut m, &client, &format!(":{name}\r")).await;
        assert!(
            matches!(m.stack.last(), Some(Screen::Resource(r)) if r.kind.plural == "deployments"),
            "{name}: {}",
            message(&m)
        );
    }
    // The console's own views win for the kinds it has one of.
    type_keys(&mut m, &client, ":po\r").await;
    assert!(matches!(m.stack.last(), Some(Screen::Table(_))));
    type_keys(&mut m, &client, ":deploymnets\r").await;
    assert!(
        message(&m).contains("no kind `deploymnets`: did you mean :deployments"),
        "{}",
        message(&m)
    );
    // Completion offers what discovery listed.
    let offered = completions(&m, "dep");
    assert!(
        offered.contains(&"deploy".to_owned()) && offered.contains(&"deployments".to_owned()),
        "{offered:?}"
    );
    assert!(completions(&m, "crd").contains(&"crds".to_owned()));
    // A CRD installed while the console runs: found on the next ask.
    let (_, admin) = (
        cluster.clone(),
        swarmdeck::cluster::gate::in_process(&cluster, "ops", false),
    );
    let crd: serde_json::Value = serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.org"},
        "spec": {"group": "example.org", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    });
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(
        admin.clone(),
        &kube::discovery::ApiResource::erase::<
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
        >(&()),
    );
    api.create(&Default::default(), &serde_json::from_value(crd).unwrap())
        .await
        .unwrap();
    for _ in 0..50 {
        if admin
            .list_api_group_resources("example.org/v1")
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    type_keys(&mut m, &client, ":wd\r").await;
    let widgets = text_of(&render_to_buffer(&mut m, 100, 6));
    assert!(
        widgets.contains("Widgets(ops)[0]"),
        "{widgets}\n{}",
        message(&m)
    );
    assert!(widgets.contains("No widgets in ops."), "{widgets}");
}

#[tokio::test]
async fn a_namespaced_user_opening_a_cluster_scoped_kind_gets_the_403_line() {
    let (cluster, _, stores) = common::still_demo(30_000).await;
    let viewer =
        swarmdeck::cluster::gate::in_process_as(&cluster, "ops", true, Some("viewer-token"));
    let mut m = model(stores, &cluster, "ops");
    type_keys(&mut m, &viewer, ":nodes\r").await;
    let text = text_of(&render_to_buffer(&mut m, 160, 8));
    assert!(text.contains("Cannot show nodes"), "{text}");
    assert!(text.contains("forbidden"), "{text}");
    assert!(text.contains("cluster scope"), "{text}");
}

/// ASCII mode on the new screens: a kind's table and a masked Secret draw
/// nothing above 0x7E (the mask becomes `****`).
#[tokio::test]
async fn ascii_mode_holds_on_resource_screens() {
    let (cluster, client, stores) = common::still_demo(30_000).await;
    let mut m = model(stores, &cluster, "ops");
    m.ascii = true;
    for (keys, what) in [
        (":deploy\r", "deployments"),
        (":secrets\r\r", "a masked Secret"),
    ] {
        type_keys(&mut m, &client, keys).await;
        let shown = text_of(&render_to_buffer(&mut m, 100, 16));
        let wide: Vec<char> = shown.chars().filter(|c| *c as u32 > 0x7e).collect();
        assert!(wide.is_empty(), "{what} draws {wide:?}:\n{shown}");
        if what == "a masked Secret" {
            assert!(shown.contains("password: ****"), "{shown}");
        }
    }
}

/// `:ns` lists the namespaces; Enter on one goes there, as `:ns NAME` does.
#[tokio::test]
async fn ns_lists_the_namespaces_and_enter_goes_to_one() {
    let (cluster, client, stores) = common::still_demo(30_000).await;
    let mut m = model(stores, &cluster, "swarm");
    type_keys(&mut m, &client, ":ns\r").await;
    let list = text_of(&render_to_buffer(&mut m, 100, 12));
    assert!(list.contains("Namespaces(cluster)"), "{list}");
    assert!(
        list.contains("alice-tasks") && list.contains("ops"),
        "{list}"
    );
    type_keys(&mut m, &client, "/^ops$\r\r").await;
    assert_eq!(m.namespace.as_deref(), Some("ops"));
    let pods = text_of(&render_to_buffer(&mut m, 100, 12));
    assert!(pods.contains("Pods(ops)"), "{pods}");
    assert!(pods.contains("dashboard-"), "{pods}");
}
