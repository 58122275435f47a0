//! The embedded API through `kube::Client`, as swarmdeck's engine and console
//! use it: watches, conflicts, server-side apply, dry runs and bad input.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher;
use serde_json::json;
use swarmdeck::embedded::{Cluster, in_process_client};
use swarmdeck::time::Clock;

fn cluster(window: usize) -> Cluster {
    Cluster::new(Clock::manual(1_795_305_600_000), window)
}

fn cm(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": "test"}},
        "data": {"k": value}
    }))
    .unwrap()
}

#[tokio::test]
async fn watcher_sees_every_change_in_order() {
    let c = cluster(10_000);
    let api: Api<ConfigMap> = Api::namespaced(in_process_client(&c, "default"), "default");
    let mut stream = watcher(api.clone(), watcher::Config::default().labels("app=test")).boxed();
    // The initial (empty) list completes first.
    loop {
        if let watcher::Event::InitDone = stream.try_next().await.unwrap().unwrap() {
            break;
        }
    }
    api.create(&PostParams::default(), &cm("a", "0"))
        .await
        .unwrap();
    for i in 1..=3 {
        api.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": i.to_string()}})),
        )
        .await
        .unwrap();
    }
    api.delete("a", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let ev = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .expect("watch event in time")
            .unwrap()
            .unwrap();
        match ev {
            watcher::Event::Apply(o) => seen.push(format!("apply {}", o.data.unwrap()["k"])),
            watcher::Event::Delete(o) => seen.push(format!("delete {}", o.metadata.name.unwrap())),
            _ => {}
        }
    }
    assert_eq!(
        seen,
        ["apply 0", "apply 1", "apply 2", "apply 3", "delete a"]
    );
}

#[tokio::test]
async fn watch_from_a_compacted_version_is_410_gone() {
    let c = cluster(16);
    let api: Api<ConfigMap> = Api::namespaced(in_process_client(&c, "default"), "default");
    for i in 0..40 {
        api.create(&PostParams::default(), &cm(&format!("c{i}"), "x"))
            .await
            .unwrap();
    }
    let mut stream = api
        .watch(&WatchParams::default(), "2")
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(e) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
        }
        other => panic!("expected 410 Gone, got {other:?}"),
    }
}

#[tokio::test]
async fn watcher_relists_after_410() {
    let c = cluster(16);
    let api: Api<ConfigMap> = Api::namespaced(in_process_client(&c, "default"), "default");
    let (reader, writer) = kube::runtime::reflector::store();
    let stream = kube::runtime::reflector(writer, watcher(api.clone(), watcher::Config::default()));
    let handle = tokio::spawn(async move {
        stream.for_each(|_| async {}).await;
    });
    reader.wait_until_ready().await.unwrap();
    api.create(&PostParams::default(), &cm("before", "1"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Drop every watch, then change more than the server's window before the
    // watcher can come back: its resume version is gone and it must relist.
    c.disconnect_watchers();
    let rt = c.resolve("", "v1", "configmaps").unwrap();
    for i in 0..40 {
        c.create(
            &rt,
            Some("default"),
            serde_json::to_value(cm(&format!("after{i}"), "2")).unwrap(),
            &Default::default(),
        )
        .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while reader.state().len() != 41 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "store has {} objects, expected 41",
            reader.state().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let requests = c.requests();
    let lists = requests
        .iter()
        .filter(|r| {
            r.method == "GET"
                && r.path == "/api/v1/namespaces/default/configmaps"
                && !r.query.contains("watch=true")
        })
        .count();
    assert!(
        lists >= 2,
        "the watcher listed again after the 410 ({lists} lists)"
    );
    handle.abort();
}

#[tokio::test]
async fn stale_update_is_a_conflict() {
    let c = cluster(1000);
    let api: Api<ConfigMap> = Api::namespaced(in_process_client(&c, "default"), "default");
    api.create(&PostParams::default(), &cm("x", "1"))
        .await
        .unwrap();
    let stale = api.get("x").await.unwrap();
    let mut fresh = stale.clone();
    fresh.data.as_mut().unwrap().insert("k".into(), "2".into());
    api.replace("x", &PostParams::default(), &fresh)
        .await
        .unwrap();
    let mut late = stale.clone();
    late.data.as_mut().unwrap().insert("k".into(), "3".into());
    let err = api
        .replace("x", &PostParams::default(), &late)
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert!(
                s.message.contains("the object has been modified"),
                "{}",
                s.message
            );
        }
        other => panic!("expected 409, got {other}"),
    }
    assert_eq!(api.get("x").await.unwrap().data.unwrap()["k"], "2");
    let dup = api
        .create(&PostParams::default(), &cm("x", "9"))
        .await
        .unwrap_err();
    assert!(
        matches!(dup, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{dup}"
    );
}

#[tokio::test]
async fn server_side_apply_twice_is_idempotent() {
    let c = cluster(1000);
    let api: Api<ConfigMap> = Api::namespaced(in_process_client(&c, "default"), "default");
    let pp = PatchParams::apply("swarmdeck-test");
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "1", "b": "2"}});
    let first = api.patch("ssa", &pp, &Patch::Apply(&obj)).await.unwrap();
    let second = api.patch("ssa", &pp, &Patch::Apply(&obj)).await.unwrap();
    assert_eq!(
        first.metadata.resource_version,
        second.metadata.resource_version
    );
    let managed = second.metadata.managed_fields.unwrap();
    assert!(
        managed
            .iter()
            .any(|m| m.manager.as_deref() == Some("swarmdeck-test")
                && m.operation.as_deref() == Some("Apply"))
    );
    // Dropping a field from the applied configuration removes it.
    let smaller = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "1"}});
    let third = api
        .patch("ssa", &pp, &Patch::Apply(&smaller))
        .await
        .unwrap();
    assert_eq!(third.data.unwrap().keys().collect::<Vec<_>>(), ["a"]);
    // Another manager may not take a field silently, but may with force.
    let rival = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "other"}});
    let err = api
        .patch("ssa", &PatchParams::apply("rival"), &Patch::Apply(&rival))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.message.contains("conflict with \"swarmdeck-test\"")),
        "{err}"
    );
    let forced = api
        .patch(
            "ssa",
            &PatchParams::apply("rival").force(),
            &Patch::Apply(&rival),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["a"], "other");
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let c = cluster(1000);
    let api: Api<ConfigMap> = Api::namespaced(in_process_client(&c, "default"), "default");
    let rv = c.resource_version();
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let would = api.create(&pp, &cm("dry", "1")).await.unwrap();
    assert_eq!(would.metadata.name.as_deref(), Some("dry"));
    assert!(api.get_opt("dry").await.unwrap().is_none());
    api.create(&PostParams::default(), &cm("real", "1"))
        .await
        .unwrap();
    let before = api.get("real").await.unwrap();
    let patched = api
        .patch(
            "real",
            &PatchParams {
                dry_run: true,
                ..Default::default()
            },
            &Patch::Merge(json!({"data": {"k": "2"}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["k"], "2");
    assert_eq!(api.get("real").await.unwrap(), before);
    api.delete(
        "real",
        &DeleteParams {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(api.get_opt("real").await.unwrap().is_some());
    assert_eq!(
        c.resource_version(),
        rv + 1,
        "only the real create moved the resourceVersion"
    );
}

#[tokio::test]
async fn lists_page_and_select() {
    let c = cluster(1000);
    let api: Api<ConfigMap> = Api::namespaced(in_process_client(&c, "default"), "default");
    for i in 0..7 {
        let mut m = cm(&format!("p{i}"), "x");
        if i % 2 == 0 {
            m.metadata
                .labels
                .as_mut()
                .unwrap()
                .insert("even".into(), "yes".into());
        }
        api.create(&PostParams::default(), &m).await.unwrap();
    }
    let page = api.list(&ListParams::default().limit(3)).await.unwrap();
    assert_eq!(page.items.len(), 3);
    let token = page.metadata.continue_.clone().expect("a continue token");
    let rest = api
        .list(&ListParams::default().limit(10).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 4);
    let even = api
        .list(&ListParams::default().labels("even=yes"))
        .await
        .unwrap();
    assert_eq!(even.items.len(), 4);
    let named = api
        .list(&ListParams::default().fields("metadata.name=p3"))
        .await
        .unwrap();
    assert_eq!(named.items.len(), 1);
}

async fn raw(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(body.as_bytes().to_vec())
        .unwrap();
    let resp = client
        .send(req.map(kube::client::Body::from))
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (
        code,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn bad_input_gets_a_status_and_the_server_keeps_serving() {
    let c = cluster(1000);
    let client = in_process_client(&c, "default");
    let cases = [
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            "{not json",
            400,
            "not valid JSON",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/json",
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#,
            400,
            "does not match the resource of the URL",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}"#,
            422,
            "metadata.name: Invalid value: \"Bad_Name\"",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/widgets",
            "application/json",
            "",
            404,
            "widgets is not a resource of v1",
        ),
        (
            "POST",
            "/api/v1/namespaces/nowhere/configmaps",
            "application/json",
            r#"{"metadata":{"name":"x"}}"#,
            404,
            "namespaces \"nowhere\" not found",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/present",
            "application/json-patch+json",
            r#"[{"op":"remove","path":"/data/missing"}]"#,
            400,
            "the JSON patch does not apply",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/present",
            "application/strategic-merge-patch+json",
            "[1,2]",
            400,
            "must be a JSON object",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/vnd.kubernetes.protobuf",
            "\u{1}\u{2}",
            415,
            "speaks JSON only",
        ),
        (
            "PUT",
            "/api/v1/namespaces/default/configmaps/other",
            "application/json",
            r#"{"metadata":{"name":"present"}}"#,
            400,
            "does not match the name on the URL",
        ),
    ];
    raw(
        &client,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        r#"{"metadata":{"name":"present"},"data":{"k":"v"}}"#,
    )
    .await;
    for (method, path, ct, body, code, needle) in cases {
        let (got, status) = raw(&client, method, path, ct, body).await;
        assert_eq!(got, code, "{method} {path}: {status}");
        assert_eq!(status["kind"], "Status", "{method} {path}");
        assert_eq!(status["code"], code);
        let msg = status["message"].as_str().unwrap_or("");
        assert!(
            msg.contains(needle),
            "{method} {path}: `{msg}` lacks `{needle}`"
        );
    }
    let (code, obj) = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default/configmaps/present",
        "application/json",
        "",
    )
    .await;
    assert_eq!((code, obj["data"]["k"].as_str()), (200, Some("v")));
}

#[tokio::test]
async fn deleting_a_namespace_or_a_crd_removes_what_it_holds() {
    use k8s_openapi::api::core::v1::Namespace;
    use swarmdeck::domain::task::Task;
    let c = cluster(1000);
    swarmdeck::embedded::scenario::install_crds(&c).unwrap();
    let client = in_process_client(&c, "default");
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "doomed"}})).unwrap(),
    )
    .await
    .unwrap();
    let doomed: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    doomed
        .create(&PostParams::default(), &cm("a", "1"))
        .await
        .unwrap();
    let kept: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    kept.create(&PostParams::default(), &cm("b", "1"))
        .await
        .unwrap();
    nss.delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        Api::<ConfigMap>::all(client.clone())
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .all(|c| c.metadata.namespace.as_deref() != Some("doomed"))
    );
    assert!(kept.get_opt("b").await.unwrap().is_some());

    let tasks: Api<Task> = Api::namespaced(client.clone(), "default");
    tasks.create(&PostParams::default(), &serde_json::from_value(json!({"apiVersion": "aliecs.alice.cern/v1alpha1", "kind": "Task", "metadata": {"name": "t"}, "spec": {"state": "standby"}})).unwrap()).await.unwrap();
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> = Api::all(client.clone());
    crds.delete("tasks.aliecs.alice.cern", &DeleteParams::default())
        .await
        .unwrap();
    assert!(c.all("aliecs.alice.cern", "tasks").is_empty());
    assert!(
        c.resolve("aliecs.alice.cern", "v1alpha1", "tasks")
            .is_none()
    );
}

/// A patch that names no resourceVersion is applied to the latest object even
/// while another writer (a controller updating status) keeps changing it, as
/// kube-apiserver retries it: no 409, and neither write is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patches_without_a_version_win_races_with_status_writes() {
    let c = cluster(100_000);
    swarmdeck::embedded::scenario::install_crds(&c).unwrap();
    let client = in_process_client(&c, "default");
    let sts: k8s_openapi::api::apps::v1::StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "pool", "namespace": "default"},
        "spec": {"replicas": 1, "serviceName": "pool", "selector": {"matchLabels": {"app": "pool"}},
            "template": {"metadata": {"labels": {"app": "pool"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}
    }))
    .unwrap();
    let api: Api<k8s_openapi::api::apps::v1::StatefulSet> =
        Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &sts).await.unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (c, stop) = (c.clone(), stop.clone());
        std::thread::spawn(move || {
            let rt = c.resolve("apps", "v1", "statefulsets").unwrap();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut next = (*c.get(&rt, Some("default"), "pool").unwrap()).clone();
                n += 1;
                next["status"] = json!({"replicas": n, "observedGeneration": 1});
                next["metadata"]
                    .as_object_mut()
                    .unwrap()
                    .remove("resourceVersion");
                c.replace(
                    &rt,
                    Some("default"),
                    "pool",
                    next,
                    Some("status"),
                    &Default::default(),
                )
                .unwrap();
                std::thread::sleep(Duration::from_micros(100));
            }
            n
        })
    };
    for i in 0..200 {
        api.patch_scale(
            "pool",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": i % 5}})),
        )
        .await
        .unwrap_or_else(|e| panic!("scale patch {i}: {e}"));
        api.patch(
            "pool",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"round": i.to_string()}}})),
        )
        .await
        .unwrap_or_else(|e| panic!("label patch {i}: {e}"));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    let last = api.get("pool").await.unwrap();
    assert_eq!(last.spec.unwrap().replicas, Some(199 % 5));
    assert_eq!(last.metadata.labels.unwrap()["round"], "199");
    assert_eq!(last.status.unwrap().replicas, written);
}
