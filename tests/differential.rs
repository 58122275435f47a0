//! The differential tier: one list of scenarios, each a sequence of requests
//! through `kube::Client`, run against the embedded cluster and against a real
//! kube-apiserver; what comes back is normalised (uids, resourceVersions and
//! times compared by shape, not value) and compared field by field. A
//! difference fails the test unless `tests/differential-allow.txt` lists it
//! with its reason.
//!
//! The real server is the one `../shared/realk8s/up.sh` starts; `.ci/run`
//! starts it and sets `SWARMDECK_REALK8S_KUBECONFIG`. Without it the tier
//! says it is skipped and passes (the README's test command stays the same on
//! a machine without the binaries).

mod common;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use common::context_client as client;

/// What a request gave: the object, or the Status of its error.
fn outcome<T: serde::Serialize>(r: Result<T, kube::Error>) -> Value {
    match r {
        Ok(v) => normalise(serde_json::to_value(v).unwrap_or(Value::Null)),
        Err(kube::Error::Api(s)) => {
            json!({"status": {"code": s.code, "reason": s.reason, "message": s.message}})
        }
        Err(e) => json!({"transport": e.to_string()}),
    }
}

fn is_timestamp(s: &str) -> bool {
    // RFC 3339 in whole seconds, as kube-apiserver writes creationTimestamp.
    s.len() == 20 && s.ends_with('Z') && s.as_bytes()[10] == b'T'
}

/// Values that differ by nature between two servers become their shape.
fn normalise(mut v: Value) -> Value {
    fn walk(v: &mut Value, key: &str) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    walk(x, k);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, key)),
            Value::String(s) => match key {
                "uid" => *s = "<uid>".into(),
                "clusterIP" | "clusterIPs" => *s = ip_shape(s),
                "resourceVersion" => *s = "<rv>".into(),
                "creationTimestamp" | "time" | "deletionTimestamp" | "firstTimestamp"
                | "lastTimestamp" => {
                    *s = if is_timestamp(s) {
                        "<time, whole seconds>".into()
                    } else {
                        format!("<time, other shape: {s}>")
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
    walk(&mut v, "");
    v
}

fn ip_shape(s: &str) -> String {
    if s.parse::<std::net::Ipv4Addr>().is_ok() {
        "<an IPv4 address>".into()
    } else {
        format!("<not an IPv4 address: {s}>")
    }
}

/// Every leaf that differs, as `path: embedded | real`.
fn differences(path: &str, a: &Value, b: &Value, out: &mut Vec<(String, String)>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                differences(
                    &format!("{path}.{k}"),
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differences(&format!("{path}[{i}]"), p, q, out);
            }
        }
        _ if a != b => out.push((path.to_owned(), format!("embedded {a} | real {b}"))),
        _ => {}
    }
}

/// The scenarios, run as `admin` (and `viewer` where said) in `ns`.
async fn scenarios(
    admin: &kube::Client,
    viewer: &kube::Client,
    ns: &str,
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), ns);
    let cm = |name: &str, data: Value| -> ConfigMap {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"tier": "diff"}},
            "data": data,
        }))
        .unwrap()
    };
    let pp = PostParams::default();

    let created = cms.create(&pp, &cm("one", json!({"a": "1"}))).await;
    let rv = created
        .as_ref()
        .ok()
        .and_then(|c| c.metadata.resource_version.clone());
    out.insert("create".into(), outcome(created));
    out.insert(
        "create again".into(),
        outcome(cms.create(&pp, &cm("one", json!({"a": "1"}))).await),
    );
    out.insert("get missing".into(), outcome(cms.get("missing").await));
    let mut changed = cm("one", json!({"a": "2"}));
    changed.metadata.resource_version = rv.clone();
    out.insert(
        "update".into(),
        outcome(cms.replace("one", &pp, &changed).await),
    );
    let mut stale = cm("one", json!({"a": "3"}));
    stale.metadata.resource_version = rv;
    out.insert(
        "update stale".into(),
        outcome(cms.replace("one", &pp, &stale).await),
    );
    out.insert(
        "merge patch".into(),
        outcome(
            cms.patch(
                "one",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"b": "x"}})),
            )
            .await,
        ),
    );
    out.insert(
        "json patch".into(),
        outcome(
            cms.patch(
                "one",
                &PatchParams::default(),
                &Patch::<()>::Json(
                    serde_json::from_value(json!([{"op": "remove", "path": "/data/b"}])).unwrap(),
                ),
            )
            .await,
        ),
    );
    out.insert(
        "dry-run create".into(),
        outcome(
            cms.create(
                &PostParams {
                    dry_run: true,
                    ..Default::default()
                },
                &cm("dry", json!({})),
            )
            .await,
        ),
    );
    out.insert("dry-run left nothing".into(), outcome(cms.get("dry").await));
    // Server-side apply: a second manager changing a field another owns.
    let ssa = |v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owned"}, "data": {"k": v}});
    out.insert(
        "apply".into(),
        outcome(
            cms.patch(
                "owned",
                &PatchParams::apply("first"),
                &Patch::Apply(ssa("1")),
            )
            .await,
        ),
    );
    out.insert(
        "apply conflict".into(),
        outcome(
            cms.patch(
                "owned",
                &PatchParams::apply("second"),
                &Patch::Apply(ssa("2")),
            )
            .await,
        ),
    );
    out.insert(
        "apply forced".into(),
        outcome(
            cms.patch(
                "owned",
                &PatchParams::apply("second").force(),
                &Patch::Apply(ssa("2")),
            )
            .await,
        ),
    );
    let mut strict = PatchParams::apply("strict");
    strict.field_validation = Some(kube::api::ValidationDirective::Strict);
    out.insert(
        "apply unknown field, strict".into(),
        outcome(
            cms.patch(
                "strict",
                &strict,
                &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "strict"}, "data": {"k": "v"}, "bogus": 1})),
            )
            .await,
        ),
    );
    let names = |l: Result<kube::core::ObjectList<ConfigMap>, kube::Error>| match l {
        Ok(l) => {
            let mut n: Vec<String> = l
                .items
                .into_iter()
                .filter_map(|c| c.metadata.name)
                .collect();
            n.sort();
            json!(n)
        }
        Err(e) => outcome::<()>(Err(e)),
    };
    out.insert(
        "list by label".into(),
        names(cms.list(&ListParams::default().labels("tier=diff")).await),
    );
    out.insert(
        "list by field".into(),
        names(
            cms.list(&ListParams::default().fields("metadata.name=owned"))
                .await,
        ),
    );

    // RBAC: the viewer may read this namespace (view), not write it.
    let as_viewer: Api<ConfigMap> = Api::namespaced(viewer.clone(), ns);
    out.insert(
        "viewer get".into(),
        json!(as_viewer.get("one").await.is_ok()),
    );
    out.insert(
        "viewer delete".into(),
        outcome(
            as_viewer
                .delete("one", &DeleteParams::default())
                .await
                .map(|_| ()),
        ),
    );
    out.insert(
        "viewer list all namespaces".into(),
        names(
            Api::<ConfigMap>::all(viewer.clone())
                .list(&ListParams::default())
                .await,
        ),
    );
    {
        use k8s_openapi::api::authorization::v1::{
            ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
        };
        let ask = |verb: &str| SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(ns.to_owned()),
                    verb: Some(verb.to_owned()),
                    resource: Some("configmaps".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let reviews: Api<SelfSubjectAccessReview> = Api::all(viewer.clone());
        for verb in ["get", "delete"] {
            let allowed = reviews
                .create(&pp, &ask(verb))
                .await
                .ok()
                .and_then(|r| r.status)
                .map(|s| s.allowed);
            out.insert(format!("viewer can-i {verb} configmaps"), json!(allowed));
        }
        // The rules review the console reads to offer only what is allowed:
        // what it says of a few verbs and resources (the lists themselves
        // differ in the defaults each server grants every user).
        use k8s_openapi::api::authorization::v1::{
            SelfSubjectRulesReview, SelfSubjectRulesReviewSpec,
        };
        let review = SelfSubjectRulesReview {
            spec: SelfSubjectRulesReviewSpec {
                namespace: Some(ns.to_owned()),
            },
            ..Default::default()
        };
        let status = Api::<SelfSubjectRulesReview>::all(viewer.clone())
            .create(&pp, &review)
            .await
            .map(|r| r.status);
        let allows = |rules: &[k8s_openapi::api::authorization::v1::ResourceRule],
                      verb: &str,
                      group: &str,
                      resource: &str| {
            rules.iter().any(|r| {
                let has = |list: &Option<Vec<String>>, want: &str| {
                    list.as_ref()
                        .is_some_and(|l| l.iter().any(|x| x == want || x == "*"))
                };
                r.verbs.iter().any(|v| v == verb || v == "*")
                    && has(&r.api_groups, group)
                    && has(&r.resources, resource)
            })
        };
        out.insert(
            "viewer rules review".into(),
            outcome(status.map(|s| {
                let rules = s.map(|s| s.resource_rules).unwrap_or_default();
                json!({
                    "list configmaps": allows(&rules, "list", "", "configmaps"),
                    "watch pods": allows(&rules, "watch", "", "pods"),
                    "get statefulsets": allows(&rules, "get", "apps", "statefulsets"),
                    "delete configmaps": allows(&rules, "delete", "", "configmaps"),
                    "patch statefulsets/scale": allows(&rules, "patch", "apps", "statefulsets/scale"),
                    "create selfsubjectaccessreviews": allows(&rules, "create", "authorization.k8s.io", "selfsubjectaccessreviews"),
                })
            })),
        );
    }

    // The scale subresource of a StatefulSet.
    let sts: Api<StatefulSet> = Api::namespaced(admin.clone(), ns);
    let set: StatefulSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "pool"},
        "spec": {"replicas": 0, "serviceName": "pool",
            "selector": {"matchLabels": {"app": "pool"}},
            "template": {"metadata": {"labels": {"app": "pool"}},
                "spec": {"containers": [{"name": "w", "image": "example/w:1"}]}}},
    }))
    .unwrap();
    let _ = sts.create(&pp, &set).await;
    out.insert(
        "scale patch".into(),
        outcome(
            sts.patch_scale(
                "pool",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": 0}})),
            )
            .await
            .map(|s| s.spec),
        ),
    );
    // A watch from a resourceVersion sees what came after it, in order.
    let from = cms
        .get("owned")
        .await
        .ok()
        .and_then(|c| c.metadata.resource_version)
        .unwrap_or_default();
    for v in ["a", "b"] {
        let _ = cms
            .patch(
                "owned",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"w": v}})),
            )
            .await;
    }
    let _ = cms.delete("owned", &DeleteParams::default()).await;
    out.insert("watch from a version".into(), watched(&cms, &from).await);
    // From a version the server's watch cache holds (an object's).
    let seen = cms
        .get("one")
        .await
        .ok()
        .and_then(|c| c.metadata.resource_version)
        .unwrap_or_default();
    out.insert(
        "watch with bookmarks".into(),
        bookmarked(admin, &cms, &seen).await,
    );

    // A custom resource: its status only through /status, its Table with
    // the CRD's printer columns.
    let tasks: Api<swarmdeck::domain::task::Task> = Api::namespaced(admin.clone(), ns);
    let task: swarmdeck::domain::task::Task = serde_json::from_value(json!({
        "apiVersion": "aliecs.alice.cern/v1alpha1", "kind": "Task",
        "metadata": {"name": "readout"},
        "spec": {"pod": {"containers": [{"name": "readout", "image": "example/readout:1"}]},
            "control": {"mode": "direct", "port": 31000}, "state": "standby"},
        "status": {"state": "running"},
    }))
    .unwrap();
    out.insert(
        "task create with a status".into(),
        outcome(tasks.create(&pp, &task).await.map(|t| t.status)),
    );
    out.insert(
        "task status patch".into(),
        outcome(
            tasks
                .patch_status(
                    "readout",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"state": "standby"}})),
                )
                .await
                .map(|t| (t.status, t.spec.state)),
        ),
    );
    out.insert(
        "task spec patch leaves the status".into(),
        outcome(
            tasks
                .patch(
                    "readout",
                    &PatchParams::default(),
                    &Patch::Merge(
                        json!({"spec": {"state": "configured"}, "status": {"state": "error"}}),
                    ),
                )
                .await
                .map(|t| (t.status, t.spec.state, t.metadata.generation)),
        ),
    );
    out.insert("task table".into(), table(admin, ns).await);
    out.insert("discovery".into(), discovery(admin).await);
    out.insert("openapi".into(), openapi(admin).await);
    out.extend(watcher_scenarios(admin, ns).await);

    // Pods: one bound to a node is deleted gracefully and stays through an
    // update (the kubelet finishes it); one never scheduled goes at once.
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(admin.clone(), ns);
    let pod = |name: &str, node: Option<&str>| -> k8s_openapi::api::core::v1::Pod {
        let mut spec = json!({"containers": [{"name": "c", "image": "example/worker:1"}]});
        if let Some(n) = node {
            spec["nodeName"] = json!(n);
        }
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name}, "spec": spec}))
        .unwrap()
    };
    let shape = |p: Result<k8s_openapi::api::core::v1::Pod, kube::Error>| {
        outcome(p.map(|p| {
            json!({
                "terminating": p.metadata.deletion_timestamp.is_some(),
                "grace": p.metadata.deletion_grace_period_seconds,
                "annotations": p.metadata.annotations,
            })
        }))
    };
    let _ = pods.create(&pp, &pod("bound", Some("diff-node"))).await;
    let _ = pods.create(&pp, &pod("unscheduled", None)).await;
    let _ = pods.delete("bound", &DeleteParams::default()).await;
    out.insert("pod bound, deleted".into(), shape(pods.get("bound").await));
    out.insert(
        "pod terminating, annotated".into(),
        shape(
            pods.patch(
                "bound",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"metadata": {"annotations": {"swarmdeck.io/config-version": "3"}}}),
                ),
            )
            .await,
        ),
    );
    out.insert(
        "pod terminating, still there".into(),
        shape(pods.get("bound").await),
    );
    // No kubelet on the real server: finish the bound pod's deletion.
    let _ = pods
        .delete("bound", &DeleteParams::default().grace_period(0))
        .await;
    let _ = pods.delete("unscheduled", &DeleteParams::default()).await;
    out.insert(
        "pod never scheduled, deleted".into(),
        shape(pods.get("unscheduled").await),
    );

    // Deletion propagation through ownerReferences: background (the
    // dependent goes after the owner), orphan (it stays, without the
    // reference), foreground (the owner waits for it, then both go).
    for (policy, params) in [
        ("background", DeleteParams::background()),
        ("orphan", DeleteParams::orphan()),
        ("foreground", DeleteParams::foreground()),
    ] {
        let owner = format!("owner-{policy}");
        let dependent = format!("dependent-{policy}");
        let uid = cms
            .create(&pp, &cm(&owner, json!({"o": "1"})))
            .await
            .ok()
            .and_then(|c| c.metadata.uid)
            .unwrap_or_default();
        let mut dep = cm(&dependent, json!({"d": "1"}));
        dep.metadata.owner_references = Some(vec![
            serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "name": owner, "uid": uid}))
            .unwrap(),
        ]);
        let _ = cms.create(&pp, &dep).await;
        let answer = cms.delete(&owner, &params).await;
        out.insert(
            format!("delete {policy}: answer"),
            outcome(answer.map(|either| either.is_left())),
        );
        // The garbage collector works asynchronously on a real server.
        let settled = eventually(async || {
            let owner_gone = cms.get_opt(&owner).await.ok()?.is_none();
            let dep = cms.get_opt(&dependent).await.ok()?;
            let dep_state = dep.map(|d| d.metadata.owner_references.unwrap_or_default().len());
            let done = match policy {
                "orphan" => owner_gone && dep_state == Some(0),
                _ => owner_gone && dep_state.is_none(),
            };
            done.then_some(json!({"owner gone": owner_gone, "dependent references": dep_state}))
        })
        .await;
        out.insert(format!("delete {policy}: settled"), settled);
    }

    out.insert(
        "delete".into(),
        outcome(
            cms.delete("one", &DeleteParams::default())
                .await
                .map(|_| ()),
        ),
    );
    out.insert("deleted".into(), outcome(cms.get("one").await));

    // Null maps in ObjectMeta: stored as no map at all.
    let request = http::Request::post(format!("/api/v1/namespaces/{ns}/configmaps"))
        .header("Content-Type", "application/json")
        .body(
            serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "nulls", "labels": null, "annotations": null},
                "data": {"k": "v"}}))
            .unwrap(),
        )
        .unwrap();
    let created = admin.request::<Value>(request).await;
    out.insert(
        "create with null labels and annotations: the metadata's keys".into(),
        match created {
            Ok(v) => {
                let mut keys: Vec<&String> = v["metadata"]
                    .as_object()
                    .map(|m| m.keys().collect())
                    .unwrap_or_default();
                keys.retain(|k| ["labels", "annotations", "name"].contains(&k.as_str()));
                json!(keys)
            }
            Err(e) => outcome::<()>(Err(e)),
        },
    );
    let _ = cms.delete("nulls", &DeleteParams::default()).await;
    out
}

/// Poll `f` for up to 20 s until it gives a value (Null if it never does).
async fn eventually(mut f: impl AsyncFnMut() -> Option<Value>) -> Value {
    for _ in 0..200 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Value::Null
}

/// The namespace both servers run the scenarios in, with the viewer bound to
/// the `view` ClusterRole there.
async fn prepare(admin: &kube::Client, ns: &str) {
    use k8s_openapi::api::core::v1::Namespace;
    use k8s_openapi::api::rbac::v1::RoleBinding;
    common::task_crd_established(admin).await;
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
    Api::<Namespace>::all(admin.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "viewer-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "viewer"}],
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
}

fn allowed() -> Vec<(String, String)> {
    include_str!("differential-allow.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (path, why) = l.split_once(" -- ")?;
            Some((path.trim().to_owned(), why.trim().to_owned()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_cluster_answers_as_kube_apiserver_does() {
    let Some(real_kc) = std::env::var_os("SWARMDECK_REALK8S_KUBECONFIG") else {
        println!(
            "differential tier skipped: SWARMDECK_REALK8S_KUBECONFIG is not set (.ci/run sets it when ../shared/realk8s/up.sh exists)"
        );
        return;
    };
    let ns = format!("difftest-{}", std::process::id());
    let real_kc = std::path::PathBuf::from(real_kc);
    let real_admin = client(&real_kc, "realk8s-admin").await;
    let real_viewer = client(&real_kc, "realk8s-viewer").await;
    // A watch from a version the server no longer keeps: both start their
    // clock now (a real server keeps every change younger than 75 s).
    let served =
        tokio::task::spawn_blocking(|| common::Served::start_full("default", Vec::new(), 1_000))
            .await
            .unwrap();
    // The real control plane here runs no metrics-server: the embedded one
    // is compared without its metrics API (what the console does with the
    // API absent must be the same on both).
    served.cluster.remove_group("metrics.k8s.io");
    let emb_admin = client(&served.kubeconfig, "swarmdeck-embedded").await;
    let emb_viewer = client(&served.kubeconfig, "viewer").await;
    prepare(&real_admin, &ns).await;
    prepare(&emb_admin, &ns).await;
    let old_real = marker(&real_admin, &ns).await;
    let old_emb = marker(&emb_admin, &ns).await;
    let since = tokio::time::Instant::now();
    let real = scenarios(&real_admin, &real_viewer, &ns).await;
    let embedded = scenarios(&emb_admin, &emb_viewer, &ns).await;
    let mut real = real;
    let mut embedded = embedded;
    real.extend(log_scenarios(&real_admin, &ns).await);
    embedded.extend(log_scenarios(&emb_admin, &ns).await);
    real.extend(table_scenarios(&real_admin, &ns).await);
    embedded.extend(table_scenarios(&emb_admin, &ns).await);
    real.extend(metrics_absent(&real_admin, &ns).await);
    embedded.extend(metrics_absent(&emb_admin, &ns).await);
    real.extend(exec_scenarios(&real_admin, &real_viewer, &ns).await);
    embedded.extend(exec_scenarios(&emb_admin, &emb_viewer, &ns).await);
    real.extend(guard_scenarios(&real_kc, "realk8s-admin", &real_admin, &ns).await);
    embedded
        .extend(guard_scenarios(&served.kubeconfig, "swarmdeck-embedded", &emb_admin, &ns).await);
    {
        let (real_kc, emb_kc, ns) = (real_kc.clone(), served.kubeconfig.clone(), ns.clone());
        let (r, e) = tokio::task::spawn_blocking(move || {
            (
                kubectl_scenarios(&real_kc, "realk8s-admin", "realk8s-viewer", &ns)
                    .into_iter()
                    .chain(unit_scenarios(&real_kc, "realk8s-admin", &ns))
                    .collect::<BTreeMap<_, _>>(),
                kubectl_scenarios(&emb_kc, "swarmdeck-embedded", "viewer", &ns)
                    .into_iter()
                    .chain(unit_scenarios(&emb_kc, "swarmdeck-embedded", &ns))
                    .collect::<BTreeMap<_, _>>(),
            )
        })
        .await
        .unwrap();
        real.extend(r);
        embedded.extend(e);
    }
    let (r, e) = tokio::join!(
        expired(&real_admin, &ns, &old_real, since),
        expired(&emb_admin, &ns, &old_emb, since)
    );
    real.insert("watch from a version no longer kept".into(), r);
    embedded.insert("watch from a version no longer kept".into(), e);
    real.extend(delete_namespace(&real_admin, &ns).await);
    embedded.extend(delete_namespace(&emb_admin, &ns).await);
    tokio::task::spawn_blocking(move || drop(served))
        .await
        .unwrap();

    // What each server answered, for a reader who wants to see it.
    if let Some(path) = std::env::var_os("SWARMDECK_DIFFERENTIAL_DUMP") {
        let both = json!({"real": real, "embedded": embedded});
        std::fs::write(path, serde_json::to_string_pretty(&both).unwrap()).unwrap();
    }
    let allow = allowed();
    let mut found = Vec::new();
    let mut fields = 0usize;
    for (name, want) in &real {
        let got = embedded.get(name).cloned().unwrap_or(Value::Null);
        fields += count(want);
        differences(name, &got, want, &mut found);
    }
    let unexplained: Vec<String> = found
        .iter()
        .filter(|(path, _)| !allow.iter().any(|(p, _)| path.starts_with(p.as_str())))
        .map(|(p, d)| format!("{p}: {d}"))
        .collect();
    println!(
        "differential tier: {} scenarios, {fields} fields compared, {} differences ({} allowed)",
        real.len(),
        found.len(),
        found.len() - unexplained.len()
    );
    assert!(
        unexplained.is_empty(),
        "the embedded cluster differs from kube-apiserver:\n{}",
        unexplained.join("\n")
    );
}

/// A server's guards: a request without credentials (`system:anonymous`),
/// one with a token nobody has, a body in a media type the server does not
/// read (a web page's cross-origin `text/plain` POST).
async fn guard_scenarios(
    kubeconfig: &std::path::Path,
    context: &str,
    admin: &kube::Client,
    ns: &str,
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let with_token = async |token: Option<&str>| {
        let kc = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
        let options = kube::config::KubeConfigOptions {
            context: Some(context.to_owned()),
            ..Default::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(kc, &options)
            .await
            .unwrap();
        config.auth_info = kube::config::AuthInfo {
            token: token.map(|t| t.to_owned().into()),
            ..Default::default()
        };
        kube::Client::try_from(config).unwrap()
    };
    let anonymous = with_token(None).await;
    let stranger = with_token(Some("a-token-nobody-has")).await;
    let get = |path: String| http::Request::get(path).body(Vec::new()).unwrap();
    for (name, client, path) in [
        (
            "anonymous: list configmaps",
            &anonymous,
            format!("/api/v1/namespaces/{ns}/configmaps"),
        ),
        ("anonymous: discovery", &anonymous, "/api".to_owned()),
        ("anonymous: openapi", &anonymous, "/openapi/v3".to_owned()),
        (
            "an unknown token: list configmaps",
            &stranger,
            format!("/api/v1/namespaces/{ns}/configmaps"),
        ),
    ] {
        out.insert(
            format!("guards: {name}"),
            outcome(client.request::<Value>(get(path)).await.map(|_| "served")),
        );
    }
    out.insert(
        "guards: anonymous: version".into(),
        outcome(
            anonymous
                .request::<Value>(get("/version".into()))
                .await
                .map(|v| v["major"].is_string()),
        ),
    );
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "from-a-web-page"}})
    .to_string();
    let post = http::Request::post(format!("/api/v1/namespaces/{ns}/configmaps"))
        .header("Content-Type", "text/plain")
        .body(body.into_bytes())
        .unwrap();
    out.insert(
        "guards: a text/plain POST".into(),
        outcome(admin.request::<Value>(post).await.map(|_| "created")),
    );
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), ns);
    out.insert(
        "guards: a text/plain POST: created nothing".into(),
        outcome(cms.get_opt("from-a-web-page").await.map(|c| c.is_none())),
    );
    out
}

/// Namespace deletion: the answer says Terminating; what is in it goes, then
/// the namespace itself.
async fn delete_namespace(admin: &kube::Client, ns: &str) -> BTreeMap<String, Value> {
    use k8s_openapi::api::core::v1::Namespace;
    let mut out = BTreeMap::new();
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    let answer = namespaces.delete(ns, &DeleteParams::default()).await;
    out.insert(
        "namespace delete: answer".into(),
        outcome(answer.map(|e| {
            e.left()
                .and_then(|n| n.status?.phase)
                .unwrap_or_else(|| "gone".into())
        })),
    );
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), ns);
    let settled = eventually(async || {
        let gone = namespaces.get_opt(ns).await.ok()?.is_none();
        gone.then_some(json!({"namespace gone": true}))
    })
    .await;
    out.insert("namespace delete: settled".into(), settled);
    out.insert(
        "namespace delete: its objects".into(),
        outcome(
            cms.list(&ListParams::default())
                .await
                .map(|l| l.items.len()),
        ),
    );
    out
}

/// kubectl's own requests: the same commands through kubectl against a
/// server; what it prints (ages and the version of kubectl's client-side
/// apply annotation left out) and its exit code.
fn kubectl_scenarios(
    kubeconfig: &std::path::Path,
    admin: &str,
    viewer: &str,
    ns: &str,
) -> BTreeMap<String, Value> {
    let run = |context: &str, args: &[&str], input: Option<&str>| -> Value {
        use std::io::Write;
        let mut cmd = std::process::Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--context")
            .arg(context)
            .arg("-n")
            .arg(ns)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let Ok(mut child) = cmd.spawn() else {
            return json!("kubectl not found");
        };
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input.unwrap_or("").as_bytes());
        }
        let out = child.wait_with_output().unwrap();
        let age = regex::Regex::new(r"\b\d+(s|m|h|d)(\d+(s|m))?\b").unwrap();
        let text = |b: &[u8]| {
            age.replace_all(String::from_utf8_lossy(b).trim(), "AGE")
                .into_owned()
        };
        json!({"code": out.status.code(), "out": text(&out.stdout), "err": text(&out.stderr)})
    };
    let manifest = |name: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  labels: {{tier: kc}}\ndata:\n  a: \"1\"\n"
        )
    };
    let sts = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: kc-sts\nspec:\n  replicas: 1\n  serviceName: kc-sts\n  selector:\n    matchLabels: {app: kc-sts}\n  template:\n    metadata:\n      labels: {app: kc-sts}\n    spec:\n      containers: [{name: c, image: example/worker:1}]\n";
    let mut out = BTreeMap::new();
    let mut step = |name: &str, v: Value| {
        out.insert(format!("kubectl {name}"), v);
    };
    step(
        "create configmap (generator)",
        run(
            admin,
            &["create", "configmap", "kc-gen", "--from-literal=a=1"],
            None,
        ),
    );
    let one = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kc-one\ndata:\n  a: \"1\"\n";
    step("create -f", run(admin, &["create", "-f", "-"], Some(one)));
    step(
        "create -f again",
        run(admin, &["create", "-f", "-"], Some(one)),
    );
    step(
        "get -o jsonpath",
        run(
            admin,
            &["get", "configmap", "kc-one", "-o", "jsonpath={.data}"],
            None,
        ),
    );
    step(
        "get missing",
        run(admin, &["get", "configmap", "missing"], None),
    );
    step(
        "apply",
        run(admin, &["apply", "-f", "-"], Some(&manifest("kc-two"))),
    );
    step(
        "apply unchanged",
        run(admin, &["apply", "-f", "-"], Some(&manifest("kc-two"))),
    );
    step(
        "apply server-side",
        run(
            admin,
            &["apply", "--server-side", "-f", "-"],
            Some(&manifest("kc-three")),
        ),
    );
    step(
        "get by label -o name",
        run(
            admin,
            &["get", "configmaps", "-l", "tier=kc", "-o", "name"],
            None,
        ),
    );
    step(
        "label",
        run(admin, &["label", "configmap", "kc-one", "team=ops"], None),
    );
    step(
        "patch --type=merge",
        run(
            admin,
            &[
                "patch",
                "configmap",
                "kc-one",
                "--type=merge",
                "-p",
                r#"{"data":{"b":"2"}}"#,
            ],
            None,
        ),
    );
    step(
        "apply a StatefulSet",
        run(admin, &["apply", "-f", "-"], Some(sts)),
    );
    step(
        "scale",
        run(
            admin,
            &["scale", "statefulset", "kc-sts", "--replicas=2"],
            None,
        ),
    );
    step("get tasks (Table): the header", {
        // The rows move with the Task operator (the real server has none).
        let mut v = run(admin, &["get", "tasks"], None);
        // (its widths follow the cells): the column names.
        let head = v["out"]
            .as_str()
            .and_then(|o| o.lines().next())
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "));
        v["out"] = json!(head);
        v
    });
    step(
        "auth can-i as viewer",
        run(viewer, &["auth", "can-i", "delete", "configmaps"], None),
    );
    step(
        "delete as viewer",
        run(viewer, &["delete", "configmap", "kc-one"], None),
    );
    step(
        "delete",
        run(
            admin,
            &[
                "delete",
                "configmap",
                "kc-one",
                "kc-two",
                "kc-three",
                "--ignore-not-found",
            ],
            None,
        ),
    );
    out
}

fn count(v: &Value) -> usize {
    match v {
        Value::Object(m) => m.values().map(count).sum(),
        Value::Array(a) => a.iter().map(count).sum::<usize>().max(1),
        _ => 1,
    }
}

/// The events of a watch from `from` (it ends after a second).
async fn watched(cms: &Api<ConfigMap>, from: &str) -> Value {
    use futures::StreamExt;
    let params = kube::api::WatchParams::default().timeout(1);
    let stream = match cms.watch(&params, from).await {
        Ok(s) => s,
        Err(e) => return outcome::<()>(Err(e)),
    };
    let events: Vec<Value> = stream
        .filter_map(|e| async move {
            match e {
                Ok(kube::api::WatchEvent::Added(c)) => {
                    Some(json!(["ADDED", c.metadata.name, c.data]))
                }
                Ok(kube::api::WatchEvent::Modified(c)) => {
                    Some(json!(["MODIFIED", c.metadata.name, c.data]))
                }
                Ok(kube::api::WatchEvent::Deleted(c)) => Some(json!(["DELETED", c.metadata.name])),
                Ok(kube::api::WatchEvent::Bookmark(_)) => None,
                Ok(kube::api::WatchEvent::Error(s)) => Some(json!(["ERROR", s.code])),
                Err(e) => Some(json!(["ERROR", e.to_string()])),
            }
        })
        .collect()
        .await;
    json!(events)
}

/// A watch that asked for bookmarks, ending after 10 s: kube-apiserver sends a
/// bookmark shortly before the deadline (and every minute), carrying a
/// version no older than where the watch started.
async fn bookmarked(admin: &kube::Client, cms: &Api<ConfigMap>, from: &str) -> Value {
    use futures::StreamExt;
    // kube-rs asks for bookmarks unless told not to.
    let params = kube::api::WatchParams::default().timeout(10);
    let stream = match cms.watch(&params, from).await {
        Ok(s) => s,
        Err(e) => return outcome::<()>(Err(e)),
    };
    let start: u64 = from.parse().unwrap_or(0);
    // Something moves elsewhere (another namespace): the watch's events
    // stay empty, but the server's version moves past the watch's start.
    let elsewhere: Api<ConfigMap> = Api::namespaced(admin.clone(), "default");
    let name = format!("bookmark-{}", std::process::id());
    let _ = elsewhere
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
        )
        .await;
    let versions: Vec<u64> = stream
        .filter_map(|e| async move {
            match e {
                Ok(kube::api::WatchEvent::Bookmark(b)) => {
                    b.metadata.resource_version.parse::<u64>().ok()
                }
                _ => None,
            }
        })
        .collect()
        .await;
    let _ = elsewhere.delete(&name, &DeleteParams::default()).await;
    json!({"bookmarked": !versions.is_empty(), "not older than the start": versions.iter().all(|v| *v >= start)})
}

/// `kubectl get tasks`' Table: the columns and the cells but the age.
async fn table(client: &kube::Client, ns: &str) -> Value {
    let request = http::Request::get(format!(
        "/apis/aliecs.alice.cern/v1alpha1/namespaces/{ns}/tasks"
    ))
    .header(
        "Accept",
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    )
    .body(Vec::new())
    .unwrap();
    let v: Value = match client.request(request).await {
        Ok(v) => v,
        Err(e) => return outcome::<()>(Err(e)),
    };
    let columns: Vec<Value> = v["columnDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| json!([c["name"], c["type"], c["format"], c["priority"]]))
        .collect();
    let age = columns.iter().position(|c| c[0] == "Age");
    let rows: Vec<Value> = v["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let mut cells = r["cells"].as_array().cloned().unwrap_or_default();
            if let Some(i) = age
                && i < cells.len()
            {
                let shown = cells[i].as_str().unwrap_or("").to_owned();
                let is_age = regex::Regex::new(r"^\d+(s|m\d*s?|h\d*m?|d\d*h?|y)$")
                    .unwrap()
                    .is_match(&shown);
                cells[i] = json!(if is_age {
                    "<age>".to_owned()
                } else {
                    format!("<not an age: {shown}>")
                });
            }
            json!(cells)
        })
        .collect();
    json!({"kind": v["kind"], "apiVersion": v["apiVersion"], "columns": columns, "rows": rows})
}

/// The unit `swarmdeck apply -f` and `delete -f` are given in the tier: one
/// object of each kind an operator's manifests hold beside the swarm's own.
const UNIT: &str = "apiVersion: v1
kind: ServiceAccount
metadata: {name: unit-sa}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: unit-role}
rules:
- apiGroups: ['']
  resources: [configmaps]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: unit-binding}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: unit-role}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: unit-user}
---
apiVersion: v1
kind: Secret
metadata: {name: unit-secret}
data: {user: YWRtaW4=}
stringData: {password: s3cret}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: unit-data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Service
metadata: {name: unit-svc}
spec:
  selector: {app: unit}
  ports: [{name: http, port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: unit}
spec:
  selector: {matchLabels: {app: unit}}
  template:
    metadata: {labels: {app: unit}}
    spec:
      containers: [{name: c, image: example/unit:1}]
---
apiVersion: v1
kind: Pod
metadata: {name: unit-probe}
spec:
  # On no node: the real control plane has no scheduler and no kubelet.
  nodeSelector: {difftest: nowhere}
  containers: [{name: probe, image: example/probe, ports: [{containerPort: 8080}]}]
";

/// A unit of cluster-scoped objects: a Namespace and a CRD.
const CLUSTER_UNIT: &str = "apiVersion: v1
kind: Namespace
metadata: {name: difftest-unit}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.difftest.swarmdeck.io}
spec:
  group: difftest.swarmdeck.io
  names: {kind: Widget, plural: widgets, singular: widget, shortNames: [wd], categories: [difftest]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
";

/// `swarmdeck apply -f` / `delete -f` of [`UNIT`] through the binary: what it
/// prints, and each object as the server holds it afterwards (status left
/// out where a controller the embedded world plays writes it).
fn unit_scenarios(kubeconfig: &std::path::Path, admin: &str, ns: &str) -> BTreeMap<String, Value> {
    let state = tempfile::tempdir().unwrap();
    let file = state.path().join("unit.yaml");
    std::fs::write(&file, UNIT).unwrap();
    let file = file.to_str().unwrap().to_owned();
    let run = |args: &[&str]| -> Value {
        let mut all = vec!["--context", admin, "-n", ns];
        all.extend_from_slice(args);
        let out = common::swarmdeck(&all, Some(kubeconfig), state.path());
        let text = |b: &[u8]| {
            String::from_utf8_lossy(b)
                .replace(&file, "FILE")
                .replace(admin, "CONTEXT")
        };
        json!({"code": out.status.code(), "out": text(&out.stdout), "err": text(&out.stderr)})
    };
    let kinds = [
        "serviceaccount/unit-sa",
        "role/unit-role",
        "rolebinding/unit-binding",
        "secret/unit-secret",
        "persistentvolumeclaim/unit-data",
        "service/unit-svc",
        "deployment/unit",
        "pod/unit-probe",
    ];
    let objects = || -> Value {
        let mut all = serde_json::Map::new();
        for k in kinds {
            let out = std::process::Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .args(["--context", admin, "-n", ns, "get", k, "-o", "json"])
                .output()
                .unwrap();
            let mut v: Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|_| json!({"error": String::from_utf8_lossy(&out.stderr)}));
            if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("managedFields");
            }
            if ["deployment", "persistentvolumeclaim", "pod"]
                .iter()
                .any(|p| k.starts_with(p))
            {
                v.as_object_mut().map(|m| m.remove("status"));
            }
            all.insert(k.to_owned(), normalise(v));
        }
        Value::Object(all)
    };
    let mut out = BTreeMap::new();
    out.insert(
        "unit apply --dry-run".into(),
        run(&["apply", "-f", &file, "--dry-run"]),
    );
    out.insert("unit apply".into(), run(&["apply", "-f", &file]));
    out.insert("unit objects".into(), objects());
    out.insert("unit apply unchanged".into(), run(&["apply", "-f", &file]));
    out.insert("unit delete".into(), run(&["delete", "-f", &file]));
    // The claim goes once the pvc-protection controller has seen that no pod
    // uses it: at once on the embedded cluster, a moment later on a real one.
    for _ in 0..200 {
        let claim = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args([
                "--context",
                admin,
                "-n",
                ns,
                "get",
                "pvc",
                "unit-data",
                "-o",
                "name",
            ])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&claim.stderr).contains("NotFound") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    out.insert("unit delete again".into(), run(&["delete", "-f", &file]));

    let cluster_file = state.path().join("cluster-unit.yaml");
    std::fs::write(&cluster_file, CLUSTER_UNIT).unwrap();
    let cluster_file = cluster_file.to_str().unwrap().to_owned();
    out.insert(
        "cluster unit apply".into(),
        run(&["apply", "-f", &cluster_file]),
    );
    let get = |args: &[&str]| -> Value {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--context", admin])
            .args(args)
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| json!({"error": String::from_utf8_lossy(&out.stderr)}))
    };
    let ns_obj = get(&["get", "namespace", "difftest-unit", "-o", "json"]);
    out.insert(
        "cluster unit namespace".into(),
        json!({"phase": ns_obj["status"]["phase"], "finalizers": ns_obj["spec"]["finalizers"],
            "labels": ns_obj["metadata"]["labels"]}),
    );
    // The CRD is served once Established (a real server takes a moment).
    let mut crd = Value::Null;
    for _ in 0..100 {
        crd = get(&["get", "crd", "widgets.difftest.swarmdeck.io", "-o", "json"]);
        let established = crd["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Established" && c["status"] == "True");
        if established {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let mut conditions: Vec<Value> = crd["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| json!([c["type"], c["status"], c["reason"]]))
        .collect();
    conditions.sort_by_key(|c| c.to_string());
    out.insert(
        "cluster unit CRD".into(),
        json!({"acceptedNames": crd["status"]["acceptedNames"], "storedVersions": crd["status"]["storedVersions"],
            "conditions": conditions}),
    );
    out.insert(
        "cluster unit delete".into(),
        run(&["delete", "-f", &cluster_file]),
    );
    out
}

/// The streaming list the console's watchers use (`sendInitialEvents`): the
/// state as ADDED events, then a bookmark that marks their end; a watch from
/// now; and kube-apiserver's refusals of options that do not go together.
async fn streaming_list(admin: &kube::Client, ns: &str) -> BTreeMap<String, Value> {
    use futures::StreamExt;
    let mut out = BTreeMap::new();
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), ns);
    let mut params = kube::api::WatchParams::default()
        .labels("page=x")
        .timeout(5);
    params.bookmarks = true;
    params.send_initial_events = true;
    let events: Vec<Value> = match cms.watch(&params, "0").await {
        Ok(stream) => {
            let mut stream = stream.boxed();
            let mut seen = Vec::new();
            while let Some(e) = stream.next().await {
                match e {
                    Ok(kube::api::WatchEvent::Added(c)) => {
                        seen.push(json!(["ADDED", c.metadata.name]))
                    }
                    Ok(kube::api::WatchEvent::Bookmark(b)) => {
                        let end = b
                            .metadata
                            .annotations
                            .get("k8s.io/initial-events-end")
                            .cloned();
                        seen.push(json!([
                            "BOOKMARK",
                            end,
                            b.metadata.resource_version.parse::<u64>().is_ok()
                        ]));
                        if end.is_some() {
                            break;
                        }
                    }
                    Ok(other) => seen.push(json!(["OTHER", format!("{other:?}")])),
                    Err(e) => seen.push(json!(["ERROR", e.to_string()])),
                }
            }
            seen
        }
        Err(e) => vec![outcome::<()>(Err(e))],
    };
    out.insert("streaming list".into(), json!(events));
    let base = format!("/api/v1/namespaces/{ns}/configmaps");
    let text = |path: String| {
        let admin = admin.clone();
        async move {
            let request = http::Request::get(path).body(Vec::new()).unwrap();
            match admin.request_text(request).await {
                Ok(body) => {
                    let lines: Vec<Value> = body
                        .lines()
                        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                        .map(|e| {
                            let numbers = regex::Regex::new(r"\d+").unwrap();
                            json!([
                                e["type"],
                                e["object"]["code"],
                                e["object"]["reason"],
                                numbers.replace_all(
                                    e["object"]["message"].as_str().unwrap_or(""),
                                    "N"
                                ),
                                e["object"]["details"]["causes"]
                            ])
                        })
                        .collect();
                    json!(lines)
                }
                Err(e) => outcome::<()>(Err(e)),
            }
        }
    };
    out.insert(
        "watch from now (sendInitialEvents=false)".into(),
        text(format!("{base}?watch=1&labelSelector=page%3Dx&sendInitialEvents=false&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1")).await,
    );
    out.insert(
        "streaming list from a version not yet reached".into(),
        text(format!("{base}?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&resourceVersion=999999999&timeoutSeconds=1")).await,
    );
    for (name, query) in [
        (
            "list with sendInitialEvents",
            "sendInitialEvents=true&resourceVersionMatch=NotOlderThan",
        ),
        (
            "list with resourceVersionMatch but no version",
            "resourceVersionMatch=Exact",
        ),
        (
            "list Exact at version 0",
            "resourceVersion=0&resourceVersionMatch=Exact",
        ),
        (
            "watch with sendInitialEvents and Exact",
            "watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=Exact",
        ),
        (
            "watch with resourceVersionMatch alone",
            "watch=1&resourceVersionMatch=NotOlderThan",
        ),
    ] {
        let answer = raw(admin, &format!("{base}?{query}")).await;
        out.insert(
            format!("refused: {name}"),
            match answer {
                Ok(v) => json!({"accepted": v["kind"]}),
                Err(status) => status,
            },
        );
    }
    out
}

/// `pods/NAME/log` as swarmdeck and kubectl ask for it, on pods no node
/// runs (the real control plane here has no kubelet): the option checks,
/// the container checks and the empty answer, in kube-apiserver's words.
async fn log_scenarios(admin: &kube::Client, ns: &str) -> BTreeMap<String, Value> {
    use k8s_openapi::api::core::v1::Pod;
    let pods: Api<Pod> = Api::namespaced(admin.clone(), ns);
    let pod = |name: &str, containers: &[&str]| -> Pod {
        let cs: Vec<Value> = containers
            .iter()
            .map(|c| json!({"name": c, "image": format!("example/{c}:1")}))
            .collect();
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name},
            "spec": {"nodeSelector": {"diff": "nowhere"}, "containers": cs},
        }))
        .unwrap()
    };
    pods.create(&PostParams::default(), &pod("logs-one", &["app"]))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod("logs-two", &["a", "b"]))
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for (name, path) in [
        ("unscheduled", "logs-one/log"),
        ("unscheduled, previous", "logs-one/log?previous=true"),
        (
            "unscheduled, follow",
            "logs-two/log?container=a&follow=true",
        ),
        (
            "unscheduled, options",
            "logs-two/log?container=b&timestamps=true&tailLines=5&sinceTime=2026-01-01T00:00:00Z&limitBytes=100",
        ),
        ("several containers, none named", "logs-two/log"),
        (
            "a container the pod does not have",
            "logs-one/log?container=nope",
        ),
        ("sinceSeconds 0", "logs-one/log?sinceSeconds=0"),
        ("tailLines -1", "logs-one/log?tailLines=-1"),
        ("limitBytes 0", "logs-one/log?limitBytes=0"),
        (
            "sinceSeconds and sinceTime",
            "logs-one/log?sinceSeconds=3&sinceTime=2026-01-01T00:00:00Z",
        ),
        ("sinceSeconds not a number", "logs-one/log?sinceSeconds=abc"),
        ("a pod that does not exist", "missing/log"),
    ] {
        let request = http::Request::get(format!("/api/v1/namespaces/{ns}/pods/{path}"))
            .body(Vec::new())
            .unwrap();
        let answer = match admin.request_text(request).await {
            Ok(text) => json!({"text": text}),
            Err(e) => outcome::<()>(Err(e)),
        };
        out.insert(format!("pod log: {name}"), answer);
    }
    for name in ["logs-one", "logs-two"] {
        pods.delete(name, &DeleteParams::default().grace_period(0))
            .await
            .unwrap();
    }
    out
}

/// The Tables the console's resource screens show (`:svc`, `:deploy`,
/// `:nodes` ...): every kind's column definitions, and the cells of objects
/// created alike on both servers (ages and allocated addresses by shape).
async fn table_scenarios(admin: &kube::Client, ns: &str) -> BTreeMap<String, Value> {
    let create = |path: String, body: Value| {
        let admin = admin.clone();
        async move {
            let request = http::Request::post(path)
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(&body).unwrap())
                .unwrap();
            admin.request::<Value>(request).await.unwrap();
        }
    };
    create(
        format!("/api/v1/namespaces/{ns}/services"),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "tbl-svc"},
            "spec": {"selector": {"app": "tbl"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}),
    )
    .await;
    create(
        format!("/api/v1/namespaces/{ns}/secrets"),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tbl-secret"},
            "type": "Opaque", "data": {"a": "YQ==", "b": "Yg=="}}),
    )
    .await;
    create(
        format!("/apis/apps/v1/namespaces/{ns}/deployments"),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "tbl-deploy"},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "tbl"}},
                "template": {"metadata": {"labels": {"app": "tbl"}},
                    "spec": {"containers": [{"name": "c", "image": "example/tbl:1"}]}}}}),
    )
    .await;
    let mut out = BTreeMap::new();
    for (kind, path, row) in [
        (
            "services",
            format!("/api/v1/namespaces/{ns}/services"),
            Some("tbl-svc"),
        ),
        (
            "secrets",
            format!("/api/v1/namespaces/{ns}/secrets"),
            Some("tbl-secret"),
        ),
        (
            "deployments",
            format!("/apis/apps/v1/namespaces/{ns}/deployments"),
            Some("tbl-deploy"),
        ),
        ("pods", format!("/api/v1/namespaces/{ns}/pods"), None),
        (
            "statefulsets",
            format!("/apis/apps/v1/namespaces/{ns}/statefulsets"),
            None,
        ),
        (
            "replicasets",
            format!("/apis/apps/v1/namespaces/{ns}/replicasets"),
            None,
        ),
        (
            "configmaps",
            format!("/api/v1/namespaces/{ns}/configmaps"),
            None,
        ),
        (
            "serviceaccounts",
            format!("/api/v1/namespaces/{ns}/serviceaccounts"),
            None,
        ),
        (
            "persistentvolumeclaims",
            format!("/api/v1/namespaces/{ns}/persistentvolumeclaims"),
            None,
        ),
        ("events", format!("/api/v1/namespaces/{ns}/events"), None),
        (
            "leases",
            format!("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"),
            None,
        ),
        (
            "roles",
            format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles"),
            None,
        ),
        (
            "rolebindings",
            format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"),
            None,
        ),
        ("namespaces", "/api/v1/namespaces".to_owned(), None),
        ("nodes", "/api/v1/nodes".to_owned(), None),
        (
            "customresourcedefinitions",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions".to_owned(),
            None,
        ),
    ] {
        let request = http::Request::get(format!("{path}?limit=500"))
            .header(
                "Accept",
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
            )
            .body(Vec::new())
            .unwrap();
        let v: Value = match admin.request(request).await {
            Ok(v) => v,
            Err(e) => {
                out.insert(format!("table: {kind}"), outcome::<()>(Err(e)));
                continue;
            }
        };
        let defs: Vec<Value> = v["columnDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| json!([c["name"], c["type"], c["format"], c["priority"]]))
            .collect();
        out.insert(format!("table: {kind}, columns"), json!(defs));
        let Some(row) = row else { continue };
        let cells = v["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["object"]["metadata"]["name"] == row)
            .map(|r| {
                let cells = r["cells"].as_array().cloned().unwrap_or_default();
                let shaped: Vec<Value> = cells
                    .into_iter()
                    .zip(&defs)
                    .map(|(c, d)| match d[0].as_str() {
                        Some("Age") => json!("<age>"),
                        Some("Cluster-IP") => json!(ip_shape(c.as_str().unwrap_or(""))),
                        _ => c,
                    })
                    .collect();
                json!({"cells": shaped, "object kind": r["object"]["kind"]})
            });
        out.insert(format!("table: {kind}, the row of {row}"), json!(cells));
    }
    out
}

/// GET `path` as JSON (the Status of an error otherwise).
/// Exec where no container runs (the real control plane here has no
/// kubelet): a pod no node took, a pod that does not exist, and a user who
/// may not exec. The error each server gives, as swarmdeck reads it.
async fn exec_scenarios(
    admin: &kube::Client,
    viewer: &kube::Client,
    ns: &str,
) -> BTreeMap<String, Value> {
    use kube::api::AttachParams;
    let pods: Api<Pod> = Api::namespaced(admin.clone(), ns);
    // More memory than any node has: unbound on both (the real one has no
    // scheduler at all, the embedded one finds no room).
    let unbound: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "exec-unbound"},
        "spec": {"containers": [{"name": "c", "image": "busybox",
            "resources": {"requests": {"memory": "64Ti"}}}]}
    }))
    .unwrap();
    let _ = pods.create(&PostParams::default(), &unbound).await;
    let mut out = BTreeMap::new();
    let try_exec = |client: &kube::Client, pod: &'static str| {
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        async move {
            let ap = AttachParams::default().stdout(true).stderr(true);
            outcome(api.exec(pod, ["ls"], &ap).await.map(|_| "opened"))
        }
    };
    out.insert(
        "exec: a pod no node took".into(),
        try_exec(admin, "exec-unbound").await,
    );
    out.insert(
        "exec: a pod that does not exist".into(),
        try_exec(admin, "exec-missing").await,
    );
    out.insert(
        "exec: a user who may not".into(),
        try_exec(viewer, "exec-unbound").await,
    );
    let _ = pods.delete("exec-unbound", &Default::default()).await;
    out
}

/// A cluster without metrics-server: what the console's reading makes of it
/// (the quiet `metrics: not served`), and the server's answer to a list of
/// PodMetrics and to its group.
async fn metrics_absent(admin: &kube::Client, ns: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let seen = swarmdeck::cluster::metrics::read(admin, Some(ns)).await;
    out.insert(
        "metrics absent: the console's reading".into(),
        json!(format!("{:?}", seen.map(|m| m.len()))),
    );
    for path in [
        format!("/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods"),
        "/apis/metrics.k8s.io".to_owned(),
    ] {
        let answer = raw(admin, &path).await;
        out.insert(
            format!("metrics absent: GET {}", path.replace(ns, "NS")),
            match answer {
                Ok(v) => json!({"ok": v["kind"]}),
                Err(e) => json!({"code": e["status"]["code"], "reason": e["status"]["reason"],
                    "not a Status": e.get("transport").is_some()}),
            },
        );
    }
    out
}

async fn raw(client: &kube::Client, path: &str) -> Result<Value, Value> {
    let request = http::Request::get(path).body(Vec::new()).unwrap();
    client
        .request::<Value>(request)
        .await
        .map_err(|e| outcome::<()>(Err(e)))
}

/// Discovery as swarmdeck and kubectl read it: the API versions, the groups
/// swarmdeck uses with their versions, and for each resource it reads or
/// writes (subresources included) what a client decides by: kind,
/// namespaced, verbs, short names, categories, and the group/version of a
/// subresource's kind. `storageVersionHash` differs by nature.
async fn discovery(client: &kube::Client) -> Value {
    let groups = [
        (
            "api/v1",
            &[
                "pods",
                "pods/status",
                "pods/log",
                "configmaps",
                "secrets",
                "services",
                "persistentvolumeclaims",
                "serviceaccounts",
                "namespaces",
                "events",
                "nodes",
            ][..],
        ),
        (
            "apis/apps/v1",
            &[
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
                "deployments",
                "deployments/scale",
                "replicasets",
            ][..],
        ),
        ("apis/coordination.k8s.io/v1", &["leases"][..]),
        (
            "apis/rbac.authorization.k8s.io/v1",
            &[
                "roles",
                "rolebindings",
                "clusterroles",
                "clusterrolebindings",
            ][..],
        ),
        (
            "apis/authorization.k8s.io/v1",
            &["selfsubjectaccessreviews", "selfsubjectrulesreviews"][..],
        ),
        (
            "apis/apiextensions.k8s.io/v1",
            &["customresourcedefinitions"][..],
        ),
        ("apis/events.k8s.io/v1", &["events"][..]),
        (
            "apis/aliecs.alice.cern/v1alpha1",
            &["tasks", "tasks/status"][..],
        ),
    ];
    let mut out = serde_json::Map::new();
    out.insert(
        "/api".into(),
        raw(client, "/api").await.map_or_else(
            |e| e,
            |v| json!({"kind": v["kind"], "versions": v["versions"]}),
        ),
    );
    let wanted: Vec<&str> = groups
        .iter()
        .filter_map(|(p, _)| p.strip_prefix("apis/"))
        .collect();
    out.insert(
        "/apis".into(),
        raw(client, "/apis").await.map_or_else(
            |e| e,
            |v| {
                let mut gs: Vec<Value> = v["groups"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|g| wanted.iter().any(|w| w.starts_with(&format!("{}/", g["name"].as_str().unwrap_or("")))))
                    .map(|g| json!({"name": g["name"], "versions": g["versions"], "preferred": g["preferredVersion"]}))
                    .collect();
                gs.sort_by_key(|g| g["name"].to_string());
                json!({"kind": v["kind"], "apiVersion": v["apiVersion"], "groups": gs})
            },
        ),
    );
    for (path, resources) in groups {
        let v = match raw(client, &format!("/{path}")).await {
            Ok(v) => v,
            Err(e) => {
                out.insert(format!("/{path}"), e);
                continue;
            }
        };
        let listed = v["resources"].as_array().cloned().unwrap_or_default();
        let mut entries = serde_json::Map::new();
        entries.insert("kind".into(), v["kind"].clone());
        entries.insert("groupVersion".into(), v["groupVersion"].clone());
        for name in resources {
            let entry = listed.iter().find(|r| r["name"] == *name);
            entries.insert(
                (*name).to_owned(),
                entry.map_or(Value::Null, |r| {
                    let mut verbs: Vec<String> = r["verbs"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect();
                    verbs.sort();
                    json!({"kind": r["kind"], "singularName": r["singularName"],
                        "namespaced": r["namespaced"], "verbs": verbs,
                        "shortNames": r["shortNames"], "categories": r["categories"],
                        "group": r["group"], "version": r["version"]})
                }),
            );
        }
        out.insert(format!("/{path}"), Value::Object(entries));
    }
    out.insert(
        "/version".into(),
        raw(client, "/version").await.map_or_else(
            |e| e,
            |v| {
                json!({"major": v["major"].is_string(), "minor": v["minor"].is_string(),
                    "gitVersion starts with v": v["gitVersion"].as_str().is_some_and(|g| g.starts_with('v'))})
            },
        ),
    );
    Value::Object(out)
}

/// The OpenAPI documents kubectl and the editor's validation read: the v3
/// index (an entry per group/version, a URL with its hash), and in each
/// document the schema of a kind swarmdeck writes: its properties' names
/// and types, its group/version/kind.
async fn openapi(client: &kube::Client) -> Value {
    let mut out = serde_json::Map::new();
    let index = raw(client, "/openapi/v3").await;
    let hashed = regex::Regex::new(r"^/openapi/v3/[a-z0-9./-]+\?hash=[0-9A-F]+$").unwrap();
    let docs = [
        ("api/v1", "io.k8s.api.core.v1.ConfigMap"),
        ("apis/apps/v1", "io.k8s.api.apps.v1.StatefulSet"),
        (
            "apis/rbac.authorization.k8s.io/v1",
            "io.k8s.api.rbac.v1.Role",
        ),
        (
            "apis/aliecs.alice.cern/v1alpha1",
            "cern.alice.aliecs.v1alpha1.Task",
        ),
    ];
    for (path, schema) in docs {
        let entry = index
            .as_ref()
            .map(|i| i["paths"][path]["serverRelativeURL"].clone());
        out.insert(
            format!("index {path}"),
            match &entry {
                Ok(Value::String(u)) => json!(hashed.is_match(u) && u.contains(path)),
                Ok(other) => json!(format!("no URL: {other}")),
                Err(e) => Value::clone(e),
            },
        );
        let doc = match entry {
            Ok(Value::String(u)) => raw(client, &u).await,
            _ => raw(client, &format!("/openapi/v3/{path}")).await,
        };
        out.insert(
            format!("{path} {schema}"),
            doc.map_or_else(
                |e| e,
                |d| {
                    let s = &d["components"]["schemas"][schema];
                    let props: BTreeMap<String, Value> = s["properties"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v["type"].clone()))
                        .collect();
                    json!({"openapi": d["openapi"], "type": s["type"], "properties": props,
                        "gvk": s["x-kubernetes-group-version-kind"]})
                },
            ),
        );
    }
    out.insert(
        "v2 ConfigMap".into(),
        raw(client, "/openapi/v2").await.map_or_else(
            |e| e,
            |d| json!({"swagger": d["swagger"],
                "ConfigMap": d["definitions"]["io.k8s.api.core.v1.ConfigMap"]["x-kubernetes-group-version-kind"]}),
        ),
    );
    Value::Object(out)
}

/// Requests the console's watchers and the engine send: a paged list with a
/// label selector (what the watcher's initial list does), a watch with a
/// label selector as objects enter and leave it, a Lease as the engine holds
/// it (create, a stale update, a list and a watch by field selector), and an
/// Event as the audit records it.
async fn watcher_scenarios(admin: &kube::Client, ns: &str) -> BTreeMap<String, Value> {
    use futures::StreamExt;
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::api::core::v1::Event;
    let mut out = BTreeMap::new();
    let pp = PostParams::default();
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), ns);
    for name in ["page-a", "page-b", "page-c"] {
        let cm: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": name, "labels": {"page": "x"}}, "data": {"n": name}}),
        )
        .unwrap();
        let _ = cms.create(&pp, &cm).await;
    }
    let page = |l: Result<kube::api::ObjectList<ConfigMap>, kube::Error>| {
        let token = l
            .as_ref()
            .ok()
            .and_then(|l| l.metadata.continue_.clone())
            .filter(|t| !t.is_empty());
        let v = outcome(l.map(|l| {
            json!({
                "names": l.items.iter().map(|c| c.metadata.name.clone()).collect::<Vec<_>>(),
                "continue": l.metadata.continue_.as_deref().is_some_and(|t| !t.is_empty()),
                "remainingItemCount": l.metadata.remaining_item_count,
            })
        }));
        (v, token)
    };
    let (first, token) = page(
        cms.list(&ListParams::default().labels("page=x").limit(2))
            .await,
    );
    out.insert("paged list, first page".into(), first);
    let (rest, _) = page(
        cms.list(
            &ListParams::default()
                .labels("page=x")
                .limit(2)
                .continue_token(token.as_deref().unwrap_or("")),
        )
        .await,
    );
    out.insert("paged list, next page".into(), rest);
    // Without a selector the server counts what is left: the page and the
    // count make up the whole list (a real namespace also holds
    // kube-root-ca.crt, which the embedded cluster has no CA for).
    let total = cms
        .list(&ListParams::default())
        .await
        .map(|l| l.items.len());
    let first = cms.list(&ListParams::default().limit(1)).await;
    out.insert(
        "paged list without a selector".into(),
        outcome(first.map(|l| {
            let counted = l
                .metadata
                .remaining_item_count
                .map(|r| r as usize + l.items.len());
            json!({"items": l.items.len(), "page and remainingItemCount make the whole list":
                total.as_ref().ok().is_some_and(|t| counted == Some(*t))})
        })),
    );

    // A watch by label: an object that loses the label leaves it (DELETED),
    // one that gains it enters it (ADDED).
    let from = cms
        .list(&ListParams::default().labels("page=x"))
        .await
        .ok()
        .and_then(|l| l.metadata.resource_version)
        .unwrap_or_default();
    let params = kube::api::WatchParams::default()
        .labels("page=x")
        .timeout(2);
    let label = |v: Option<&str>| Patch::Merge(json!({"metadata": {"labels": {"page": v}}}));
    let pm = PatchParams::default();
    let _ = cms.patch("page-a", &pm, &label(None)).await;
    let _ = cms.patch("page-a", &pm, &label(Some("x"))).await;
    let _ = cms.patch("page-b", &pm, &label(Some("y"))).await;
    let events: Vec<Value> = match cms.watch(&params, &from).await {
        Ok(stream) => {
            stream
                .filter_map(|e| async move {
                    match e {
                        Ok(kube::api::WatchEvent::Added(c)) => {
                            Some(json!(["ADDED", c.metadata.name]))
                        }
                        Ok(kube::api::WatchEvent::Modified(c)) => {
                            Some(json!(["MODIFIED", c.metadata.name]))
                        }
                        Ok(kube::api::WatchEvent::Deleted(c)) => {
                            Some(json!(["DELETED", c.metadata.name, c.metadata.labels]))
                        }
                        Ok(kube::api::WatchEvent::Bookmark(_)) => None,
                        Ok(kube::api::WatchEvent::Error(s)) => Some(json!(["ERROR", s.code])),
                        Err(e) => Some(json!(["ERROR", e.to_string()])),
                    }
                })
                .collect()
                .await
        }
        Err(e) => vec![outcome::<()>(Err(e))],
    };
    out.insert("watch by label".into(), json!(events));
    out.extend(streaming_list(admin, ns).await);

    // The engine's Lease.
    let leases: Api<Lease> = Api::namespaced(admin.clone(), ns);
    let lease: Lease = serde_json::from_value(json!({"metadata": {"name": "swarmdeck-engine"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15, "leaseTransitions": 0}}))
    .unwrap();
    let created = leases.create(&pp, &lease).await;
    let rv = created
        .as_ref()
        .ok()
        .and_then(|l| l.metadata.resource_version.clone());
    out.insert("lease create".into(), outcome(created));
    let now = swarmdeck::time::Clock::system();
    let mut renewed = serde_json::to_value(&lease).unwrap();
    renewed["metadata"]["resourceVersion"] = json!(rv);
    renewed["spec"]["renewTime"] = json!(now.micro_timestamp());
    let renewed: Lease = serde_json::from_value(renewed).unwrap();
    out.insert(
        "lease renew".into(),
        outcome(
            leases
                .replace("swarmdeck-engine", &pp, &renewed)
                .await
                .map(|l| {
                    // A MicroTime keeps microseconds: "2026-12-02T18:40:54.123456Z".
                    let t =
                        serde_json::to_value(l.spec.and_then(|s| s.renew_time)).unwrap_or_default();
                    json!({"renewTime has microseconds": t.as_str().is_some_and(|t| t.len() == 27)})
                }),
        ),
    );
    let mut stale = lease.clone();
    stale.metadata.resource_version = rv;
    out.insert(
        "lease stale update".into(),
        outcome(leases.replace("swarmdeck-engine", &pp, &stale).await),
    );
    out.insert(
        "lease list by name".into(),
        outcome(
            leases
                .list(&ListParams::default().fields("metadata.name=swarmdeck-engine"))
                .await
                .map(|l| {
                    l.items
                        .into_iter()
                        .map(|l| l.metadata.name)
                        .collect::<Vec<_>>()
                }),
        ),
    );
    out.insert(
        "lease list by another name".into(),
        outcome(
            leases
                .list(&ListParams::default().fields("metadata.name=other"))
                .await
                .map(|l| l.items.len()),
        ),
    );

    // The audit's Event.
    let events: Api<Event> = Api::namespaced(admin.clone(), ns);
    let time = now.timestamp();
    let event: Event = serde_json::from_value(json!({
        "metadata": {"generateName": "swarm-worker.", "namespace": ns},
        "involvedObject": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "swarm-worker", "namespace": ns},
        "reason": "Scale", "message": "scaled 2 -> 3 (by admin via swarmdeck)", "type": "Normal",
        "source": {"component": "swarmdeck"}, "reportingComponent": "swarmdeck", "reportingInstance": "ctx",
        "firstTimestamp": time, "lastTimestamp": time, "count": 1,
    }))
    .unwrap();
    out.insert(
        "event create".into(),
        outcome(events.create(&pp, &event).await.map(|mut e| {
            let generated = e.metadata.name.take().is_some_and(|n| {
                n.starts_with("swarm-worker.") && n.len() == "swarm-worker.".len() + 5
            });
            json!({"event": e, "name generated (prefix and 5 characters)": generated})
        })),
    );
    out
}

/// A ConfigMap whose version a later watch starts from.
async fn marker(admin: &kube::Client, ns: &str) -> String {
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "marker"}, "data": {"n": "0"}}))
            .unwrap();
    Api::<ConfigMap>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &cm)
        .await
        .ok()
        .and_then(|c| c.metadata.resource_version)
        .unwrap_or_default()
}

/// A watch from `from` once that version is no longer kept: kube-apiserver's
/// watch cache keeps every change younger than 75 s and, past that, as many
/// as it has room for; so wait until `since` + 76 s, then change objects
/// until the watch answers 410 Expired (the embedded cluster keeps a number
/// of changes: the same answer, reached by the number alone).
async fn expired(admin: &kube::Client, ns: &str, from: &str, since: tokio::time::Instant) -> Value {
    use futures::StreamExt;
    tokio::time::sleep_until(since + std::time::Duration::from_secs(76)).await;
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), ns);
    let shape = regex::Regex::new(r"^too old resource version: (\d+) \((\d+)\)$").unwrap();
    let answer = |code: u16, reason: &str, message: &str| {
        let numbers = shape.captures(message).map(|c| {
            let asked: u64 = c[1].parse().unwrap_or(0);
            let oldest: u64 = c[2].parse().unwrap_or(0);
            asked < oldest
        });
        json!({"code": code, "reason": reason,
            "message: too old resource version: ASKED (OLDEST), ASKED < OLDEST": numbers})
    };
    // The cache may have grown while the scenarios ran (it doubles while its
    // oldest change is fresh), so keep changing until it has let go, up to a
    // bound far above what one test run can have grown it to.
    for round in 0..50 {
        for i in 0..200 {
            let _ = cms
                .patch(
                    "marker",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": {"n": format!("{round}-{i}")}})),
                )
                .await;
        }
        let params = kube::api::WatchParams::default().timeout(1);
        let stream = match cms.watch(&params, from).await {
            Ok(stream) => stream,
            Err(kube::Error::Api(s)) if s.code == 410 => {
                return answer(s.code, &s.reason, &s.message);
            }
            Err(_) => continue,
        };
        let first = stream.boxed().next().await;
        if let Some(Ok(kube::api::WatchEvent::Error(s))) = first {
            return answer(s.code, &s.reason, &s.message);
        }
    }
    json!("no 410 after 10,000 changes")
}
