//! The HTTP face of the embedded cluster: discovery, the resource paths of the
//! Kubernetes API, watches, tables and errors as `metav1.Status`. One
//! implementation serves both TCP clients (kubectl) and an in-process
//! `kube::Client` handed the router as its tower `Service`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::cluster::{
    ApiError, Change, ChangeKind, Cluster, DeleteOptions, ListOptions, Stored, WriteOptions, key_of,
};
use super::rbac::{self, Attributes, Identity};
use super::registry::ResourceType;
use super::selectors::{FieldSelector, LabelSelector, Selectable};
use super::table;

/// The API server's router for in-process clients: a request without a
/// bearer token acts as `admin` (the process that embeds the cluster owns it);
/// one with a token acts as that token's user.
pub fn router(cluster: Cluster) -> Router {
    Router::new().fallback(handle).with_state(Front {
        cluster,
        anonymous_admin: true,
    })
}

/// The router served on TCP (over TLS, see `embedded::tls`), guarded as
/// kube-apiserver is: a request's bearer token names its user (an unknown
/// one is a 401), and a request without one is `system:anonymous` (group
/// `system:unauthenticated`), which may read `/version` and the health
/// paths and nothing else unless a binding names it.
pub fn tcp_router(cluster: Cluster) -> Router {
    Router::new().fallback(handle).with_state(Front {
        cluster,
        anonymous_admin: false,
    })
}

/// Who sends a request without credentials.
fn anonymous() -> Identity {
    Identity {
        name: "system:anonymous".into(),
        groups: vec!["system:unauthenticated".into()],
    }
}

#[derive(Clone)]
struct Front {
    cluster: Cluster,
    anonymous_admin: bool,
}

/// Who sends a request: the user of its bearer token (or, impersonated by a
/// `system:masters` user, the one it names), or why it is refused.
fn authenticate(front: &Front, headers: &HeaderMap) -> Result<Identity, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let user = match token {
        Some(t) => front
            .cluster
            .user_by_token(t)
            .ok_or_else(|| ApiError::new(401, "Unauthorized", "Unauthorized"))?,
        None if front.anonymous_admin => front
            .cluster
            .users()
            .into_iter()
            .find(|u| u.name == "admin")
            .unwrap_or_else(|| super::cluster::User {
                name: "admin".into(),
                token: String::new(),
                groups: vec!["system:masters".into()],
            }),
        None => return impersonating(anonymous(), headers),
    };
    impersonating(Identity::new(&user.name, &user.groups), headers)
}

/// The identity a request acts as: its own, or the one it impersonates if
/// it may.
fn impersonating(who: Identity, headers: &HeaderMap) -> Result<Identity, ApiError> {
    let Some(other) = headers
        .get("impersonate-user")
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(who);
    };
    let groups: Vec<String> = headers
        .get_all("impersonate-group")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    // Acting as oneself (the demo kubeconfig's `as:`, which lets kubectl,
    // sending no token over plain HTTP, reach the right user) needs no right.
    let as_oneself = other == who.name && groups.iter().all(|g| who.groups.contains(g));
    if !as_oneself && !who.groups.iter().any(|g| g == "system:masters") {
        return Err(ApiError::new(
            403,
            "Forbidden",
            format!(
                "users \"{other}\" is forbidden: User \"{}\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope",
                who.name
            ),
        ));
    }
    Ok(Identity::new(other, &groups))
}

/// The RBAC attributes of a request on a resource path.
fn attributes(method: &Method, t: &Target, query: &HashMap<String, String>) -> Attributes {
    let watching = query.get("watch").is_some_and(|w| w == "true" || w == "1");
    let verb = match (method.as_str(), t.name.is_some()) {
        ("GET" | "HEAD", true) => "get",
        ("GET" | "HEAD", false) if watching => "watch",
        ("GET" | "HEAD", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        (other, _) => {
            return Attributes {
                verb: other.to_ascii_lowercase(),
                group: t.rt.group.clone(),
                resource: t.rt.plural.clone(),
                subresource: t.sub.clone(),
                name: t.name.clone(),
                namespace: t.namespace.clone(),
            };
        }
    };
    Attributes {
        verb: verb.to_owned(),
        group: t.rt.group.clone(),
        resource: t.rt.plural.clone(),
        subresource: t.sub.clone(),
        name: t.name.clone(),
        namespace: t.namespace.clone(),
    }
}

/// A list's body: `head` (the list's kind, apiVersion and metadata, as one
/// JSON object) with the items' JSON as stored — no object is serialized
/// again. A list bigger than a [`CHUNK`] goes out in chunks as they are
/// written, so a list of 50,000 pods (87 MB) never sits whole in memory.
fn list_body(head: Vec<u8>, items: Vec<Stored>) -> Body {
    let size = head.len() + items.iter().map(|s| s.json.len() + 1).sum::<usize>();
    let mut chunks = list_chunks(head, items);
    if size < CHUNK {
        return Body::from(chunks.next().unwrap_or_default());
    }
    Body::from_stream(futures::stream::iter(chunks.map(Ok::<_, Infallible>)))
}

/// The chunks of a list's body, each about [`CHUNK`] long but the last.
fn list_chunks(mut head: Vec<u8>, items: Vec<Stored>) -> impl Iterator<Item = Bytes> {
    head.pop();
    head.extend_from_slice(b",\"items\":[");
    let mut items = items.into_iter().enumerate();
    let mut head = Some(head);
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut out = head
            .take()
            .unwrap_or_else(|| Vec::with_capacity(CHUNK + 4096));
        while out.len() < CHUNK {
            let Some((i, item)) = items.next() else {
                out.extend_from_slice(b"]}");
                done = true;
                break;
            };
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&item.json);
        }
        Some(Bytes::from(out))
    })
}

fn json_response(code: u16, v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The query's pairs in order, repeated keys kept (`command` of an exec).
fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    Some((decode(k)?, decode(v)?))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `pods/NAME/exec` and `pods/NAME/portforward`: checked as kube-apiserver
/// and the kubelet check them, then served on the upgraded connection
/// ([`super::exec`]).
fn session(
    cluster: &Cluster,
    t: &Target,
    uri: &Uri,
    upgrade: Option<axum::extract::ws::WebSocketUpgrade>,
) -> Response {
    let (Some(ns), Some(name)) = (t.namespace.as_deref(), t.name.as_deref()) else {
        return error_response(&ApiError::bad_request(
            "a session in a container needs a pod's namespace and name",
        ));
    };
    let query = query_pairs(uri);
    let forward = t.sub.as_deref() == Some("portforward");
    let prepared = if forward {
        super::exec::prepare_forward(cluster, ns, name, &query)
    } else {
        super::exec::prepare(cluster, ns, name, &query).map(|r| (r, Vec::new()))
    };
    let (req, ports) = match prepared {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let Some(upgrade) = upgrade else {
        return error_response(&ApiError::bad_request("Upgrade request required"));
    };
    let cluster = cluster.clone();
    let protocols = if forward {
        ["v4.channel.k8s.io", "portforward.k8s.io"]
    } else {
        ["v5.channel.k8s.io", "v4.channel.k8s.io"]
    };
    upgrade
        .protocols(protocols)
        .on_upgrade(move |socket| async move {
            if forward {
                super::exec::forward_session(socket, cluster, req, ports).await;
            } else {
                super::exec::session(socket, cluster, req).await;
            }
        })
}

/// The reason of an error kube-apiserver answers with its plain-text page,
/// not a Status: a path outside every group it serves.
const PAGE_NOT_FOUND: &str = "PageNotFound";

fn page_not_found() -> ApiError {
    ApiError::new(404, PAGE_NOT_FOUND, "404 page not found")
}

fn error_response(e: &ApiError) -> Response {
    if e.reason == PAGE_NOT_FOUND {
        return Response::builder()
            .status(404)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .header("X-Content-Type-Options", "nosniff")
            .body(Body::from("404 page not found\n"))
            .unwrap_or_default();
    }
    json_response(e.code, &e.status())
}

fn query_map(uri: &Uri) -> HashMap<String, String> {
    query_pairs(uri).into_iter().collect()
}

fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Where a request points.
#[derive(Debug)]
struct Target {
    rt: ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

enum Route {
    Version,
    Health,
    CoreVersions,
    Groups,
    Group(String),
    ResourceList(String, String),
    OpenApiV2,
    OpenApiV3Index,
    OpenApiV3(String),
    Resource(Box<Target>),
}

fn route(cluster: &Cluster, path: &str) -> Result<Route, ApiError> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    // A group nobody serves is outside the API: kube-apiserver's plain page.
    let served = |g: &str| cluster.types().iter().any(|t| t.group == g);
    if let ["apis", g, ..] = segs.as_slice()
        && !served(g)
    {
        return Err(page_not_found());
    }
    let (group, version, rest): (String, String, &[&str]) = match segs.as_slice() {
        ["version"] => return Ok(Route::Version),
        ["healthz" | "readyz" | "livez", ..] => return Ok(Route::Health),
        ["api"] => return Ok(Route::CoreVersions),
        ["apis"] => return Ok(Route::Groups),
        ["apis", g] => return Ok(Route::Group((*g).to_owned())),
        ["api", v] => return Ok(Route::ResourceList(String::new(), (*v).to_owned())),
        ["apis", g, v] => return Ok(Route::ResourceList((*g).to_owned(), (*v).to_owned())),
        ["openapi", "v2"] => return Ok(Route::OpenApiV2),
        ["openapi", "v3"] => return Ok(Route::OpenApiV3Index),
        ["openapi", "v3", rest @ ..] => return Ok(Route::OpenApiV3(rest.join("/"))),
        ["api", v, rest @ ..] => (String::new(), (*v).to_owned(), rest),
        ["apis", g, v, rest @ ..] => ((*g).to_owned(), (*v).to_owned(), rest),
        _ => return Err(page_not_found()),
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, next, more @ ..]
            if !(group.is_empty() && matches!(*next, "status" | "finalize") && more.is_empty()) =>
        {
            (Some((*ns).to_owned()), [&[*next][..], more].concat())
        }
        other => (None, other.to_vec()),
    };
    let (plural, name, sub) = match rest.as_slice() {
        [p] => (*p, None, None),
        [p, n] => (*p, Some((*n).to_owned()), None),
        [p, n, s] => (*p, Some((*n).to_owned()), Some((*s).to_owned())),
        _ => {
            return Err(ApiError::new(
                404,
                "NotFound",
                format!("the server could not find the requested resource ({path})"),
            ));
        }
    };
    let rt = cluster.resolve(&group, &version, plural).ok_or_else(|| {
        let gv = if group.is_empty() { version.clone() } else { format!("{group}/{version}") };
        ApiError::new(404, "NotFound", format!("the server could not find the requested resource: {plural} is not a resource of {gv}"))
    })?;
    if let Some(s) = &sub
        && !rt.subresources.contains(&s.as_str())
    {
        return Err(ApiError::new(
            404,
            "NotFound",
            format!("{} has no subresource `{s}`", rt.qualified()),
        ));
    }
    if namespace.is_some() && !rt.namespaced {
        return Err(ApiError::new(
            404,
            "NotFound",
            format!("{} is not namespaced", rt.qualified()),
        ));
    }
    Ok(Route::Resource(Box::new(Target {
        rt,
        namespace,
        name,
        sub,
    })))
}

async fn handle(State(front): State<Front>, request: axum::extract::Request) -> Response {
    let (mut parts, body) = request.into_parts();
    // An exec or port-forward upgrades its connection to a WebSocket.
    let upgrade = if parts
        .headers
        .get(header::UPGRADE)
        .is_some_and(|u| u.as_bytes().eq_ignore_ascii_case(b"websocket"))
    {
        use axum::extract::FromRequestParts;
        axum::extract::ws::WebSocketUpgrade::from_request_parts(&mut parts, &())
            .await
            .ok()
    } else {
        None
    };
    let (method, uri, headers) = (parts.method, parts.uri, parts.headers);
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            return error_response(&ApiError::bad_request(format!(
                "the request body could not be read: {e}"
            )));
        }
    };
    let cluster = front.cluster.clone();
    let user = authenticate(&front, &headers);
    let name = user
        .as_ref()
        .map_or("system:anonymous", |u| u.name.as_str())
        .to_owned();
    let response = match user {
        Ok(who) => respond(&cluster, who, &method, &uri, &headers, body, upgrade).await,
        Err(e) => error_response(&e),
    };
    cluster.record_request(
        method.as_str(),
        uri.path(),
        uri.query().unwrap_or(""),
        &name,
        response.status().as_u16(),
    );
    response
}

async fn respond(
    cluster: &Cluster,
    who: Identity,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    upgrade: Option<axum::extract::ws::WebSocketUpgrade>,
) -> Response {
    let cluster = cluster.clone();
    let method = method.clone();
    let query = query_map(uri);
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    let route = match route(&cluster, uri.path()) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    // Discovery and the OpenAPI documents are for authenticated users
    // (`system:discovery`); the version and health, for anyone.
    if who.name == "system:anonymous"
        && !matches!(route, Route::Version | Route::Health | Route::Resource(_))
    {
        return error_response(&ApiError::new(
            403,
            "Forbidden",
            format!(
                "forbidden: User \"system:anonymous\" cannot get path \"{}\"",
                uri.path()
            ),
        ));
    }
    let result = match route {
        Route::Version => Ok(json_response(
            200,
            &json!({
                "major": "1", "minor": "32", "gitVersion": "v1.32.0-swarmdeck", "gitCommit": "swarmdeck",
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "n/a",
                "compiler": "rustc", "platform": "linux/amd64"
            }),
        )),
        Route::Health => Ok(Response::new(Body::from("ok"))),
        Route::CoreVersions => Ok(json_response(
            200,
            &json!({
                "kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]
            }),
        )),
        Route::Groups => Ok(json_response(200, &groups(&cluster))),
        Route::Group(g) => match groups(&cluster)["groups"]
            .as_array()
            .and_then(|gs| gs.iter().find(|x| x["name"] == g.as_str()).cloned())
        {
            Some(mut grp) => {
                grp["kind"] = json!("APIGroup");
                grp["apiVersion"] = json!("v1");
                Ok(json_response(200, &grp))
            }
            None => Err(ApiError::new(
                404,
                "NotFound",
                format!("the server could not find the requested resource: group {g}"),
            )),
        },
        Route::ResourceList(g, v) => resource_list(&cluster, &g, &v),
        Route::OpenApiV2 => Ok(json_response(200, &super::openapi::v2(&cluster))),
        Route::OpenApiV3Index => Ok(json_response(200, &super::openapi::v3_index(&cluster))),
        Route::OpenApiV3(gv) => super::openapi::v3(&cluster, &gv).map(|v| json_response(200, &v)),
        Route::Resource(t) => {
            let attrs = attributes(&method, &t, &query);
            if !rbac::allowed(&cluster, &who, &attrs) {
                return error_response(&rbac::forbidden(&who, &attrs));
            }
            // A session in a container opened by a WebSocket's GET needs
            // `create` as well, as kube-apiserver checks it after `get`.
            if matches!(t.sub.as_deref(), Some("exec" | "attach" | "portforward")) {
                let create = Attributes {
                    verb: "create".into(),
                    ..attrs.clone()
                };
                if !rbac::allowed(&cluster, &who, &create) {
                    return error_response(&rbac::forbidden(&who, &create));
                }
            }
            if matches!(t.sub.as_deref(), Some("exec" | "portforward")) {
                return session(&cluster, &t, uri, upgrade);
            }
            if super::metrics::is_metrics(&t.rt) {
                let watch = query.get("watch").is_some_and(|w| w == "true" || w == "1");
                let lo = match list_options(&query, t.namespace.clone()) {
                    Ok(lo) => lo,
                    Err(e) => return error_response(&e),
                };
                let served = super::metrics::serve(
                    &cluster,
                    method.as_str(),
                    &t.rt,
                    t.namespace.as_deref(),
                    t.name.as_deref(),
                    Some(lo),
                    watch,
                );
                return match served {
                    Ok(v) if wants_table(&accept) => {
                        let items: Vec<&Value> = match v["items"].as_array() {
                            Some(items) => items.iter().collect(),
                            None => vec![&v],
                        };
                        json_response(
                            200,
                            &table::table(
                                &t.rt,
                                items,
                                cluster.resource_version(),
                                None,
                                cluster.clock().now_ms(),
                            ),
                        )
                    }
                    Ok(v) => json_response(200, &v),
                    Err(e) => error_response(&e),
                };
            }
            if t.rt.group == "authorization.k8s.io" {
                let parsed = if content_type.contains("protobuf") {
                    rbac::review_from_protobuf(&body).ok_or_else(|| {
                        ApiError::bad_request("the review body is not a protobuf the embedded cluster reads; send it as JSON")
                    })
                } else {
                    parse_body(&content_type, &body)
                };
                return match parsed {
                    Ok(review) if t.rt.plural == "selfsubjectaccessreviews" => {
                        json_response(201, &rbac::access_review(&cluster, &who, &review))
                    }
                    Ok(review) => json_response(201, &rbac::rules_review(&cluster, &who, &review)),
                    Err(e) => error_response(&e),
                };
            }
            let mut query = query;
            // Like the real server: without fieldManager, the client's name is the manager.
            if !query.contains_key("fieldManager") && !user_agent.is_empty() {
                let agent = user_agent.split('/').next().unwrap_or("").to_owned();
                query.insert("defaultFieldManager".into(), agent);
            }
            resource(&cluster, &method, *t, &query, &accept, &content_type, &body).await
        }
    };
    result.unwrap_or_else(|e| error_response(&e))
}

fn groups(cluster: &Cluster) -> Value {
    let mut order: Vec<String> = Vec::new();
    let mut versions: HashMap<String, Vec<String>> = HashMap::new();
    for t in cluster.types().into_iter().filter(|t| !t.group.is_empty()) {
        if !order.contains(&t.group) {
            order.push(t.group.clone());
        }
        let vs = versions.entry(t.group.clone()).or_default();
        if !vs.contains(&t.version) {
            vs.push(t.version.clone());
        }
    }
    let groups: Vec<Value> = order
        .iter()
        .map(|g| {
            let vs: Vec<Value> = versions[g]
                .iter()
                .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                .collect();
            json!({"name": g, "versions": vs, "preferredVersion": vs[0]})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(cluster: &Cluster, group: &str, version: &str) -> Result<Response, ApiError> {
    let types: Vec<ResourceType> = cluster
        .types()
        .into_iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    if types.is_empty() {
        return Err(ApiError::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource: {group}/{version}"),
        ));
    }
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    let resources: Vec<Value> = types
        .iter()
        .flat_map(ResourceType::discovery_entries)
        .collect();
    Ok(json_response(
        200,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    ))
}

fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

fn parse_body(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    if content_type.contains("protobuf") || content_type.contains("cbor") {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {content_type}); the embedded cluster speaks JSON only, and `kubectl create <kind> NAME` sends protobuf: use `kubectl create -f FILE` or `kubectl apply -f FILE` instead"
            ),
        ));
    }
    // Only the media types kube-apiserver reads (an empty one is JSON): a
    // `text/plain` POST, which a web page may send across origins without
    // asking, is refused as kube-apiserver refuses it.
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !matches!(media.as_str(), "" | "application/json" | "application/yaml") {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        ));
    }
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "the request has no body; send the object as JSON",
        ));
    }
    if media == "application/yaml" {
        let y: serde_yaml::Value = serde_yaml::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body is not valid YAML: {}",
                crate::domain::manifest::describe_yaml_error(&e)
            ))
        })?;
        return serde_json::to_value(y).map_err(|e| ApiError::bad_request(e.to_string()));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))
}

fn write_options(q: &HashMap<String, String>) -> WriteOptions {
    WriteOptions {
        dry_run: q.get("dryRun").is_some_and(|v| v == "All"),
        field_manager: q
            .get("fieldManager")
            .or_else(|| q.get("defaultFieldManager"))
            .cloned()
            .filter(|s| !s.is_empty()),
        strict: q.get("fieldValidation").is_some_and(|v| v == "Strict"),
        force: q.get("force").is_some_and(|v| v == "true"),
    }
}

fn list_options(q: &HashMap<String, String>, ns: Option<String>) -> Result<ListOptions, ApiError> {
    Ok(ListOptions {
        namespace: ns,
        labels: LabelSelector::parse(q.get("labelSelector").map_or("", String::as_str))
            .map_err(ApiError::bad_request)?,
        fields: FieldSelector::parse(q.get("fieldSelector").map_or("", String::as_str))
            .map_err(ApiError::bad_request)?,
        limit: q.get("limit").and_then(|l| l.parse().ok()),
        continue_token: q.get("continue").cloned().filter(|s| !s.is_empty()),
    })
}

/// kube-apiserver's checks of a list's or watch's options that concern the
/// streaming list (`sendInitialEvents`, `resourceVersionMatch`), with its
/// words: a 422 on `ListOptions.meta.k8s.io ""` listing every cause.
fn check_list_options(q: &HashMap<String, String>, watching: bool) -> Result<(), ApiError> {
    let rv_match = q.get("resourceVersionMatch").map_or("", String::as_str);
    let send_initial = q.contains_key("sendInitialEvents");
    let has_continue = q.get("continue").is_some_and(|c| !c.is_empty());
    let mut causes: Vec<(&str, &str, String)> = Vec::new();
    let forbidden = |why: &str| {
        (
            "FieldValueForbidden",
            "resourceVersionMatch",
            format!("Forbidden: {why}"),
        )
    };
    let unsupported = |supported: &str| {
        (
            "FieldValueNotSupported",
            "resourceVersionMatch",
            format!("Unsupported value: \"{rv_match}\": supported values: {supported}"),
        )
    };
    if watching {
        if send_initial && rv_match != "NotOlderThan" {
            causes.push(forbidden(
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if !rv_match.is_empty() {
            if !send_initial {
                causes.push(forbidden(
                    "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                ));
            }
            if rv_match != "NotOlderThan" {
                causes.push(unsupported("\"NotOlderThan\""));
            }
            if has_continue {
                causes.push(forbidden(
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
        }
    } else {
        if !rv_match.is_empty() {
            if q.get("resourceVersion").is_none_or(|v| v.is_empty()) {
                causes.push(forbidden(
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                ));
            }
            if has_continue {
                causes.push(forbidden(
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
            if rv_match != "Exact" && rv_match != "NotOlderThan" {
                causes.push(unsupported("\"Exact\", \"NotOlderThan\", \"\""));
            }
            if rv_match == "Exact" && q.get("resourceVersion").is_some_and(|v| v == "0") {
                causes.push(forbidden(
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ));
            }
        }
        if send_initial {
            causes.push((
                "FieldValueForbidden",
                "sendInitialEvents",
                "Forbidden: sendInitialEvents is forbidden for list".into(),
            ));
        }
    }
    if causes.is_empty() {
        return Ok(());
    }
    let each: Vec<String> = causes.iter().map(|(_, f, m)| format!("{f}: {m}")).collect();
    let listed = if each.len() == 1 {
        each[0].clone()
    } else {
        format!("[{}]", each.join(", "))
    };
    let mut e = ApiError::new(
        422,
        "Invalid",
        format!("ListOptions.meta.k8s.io \"\" is invalid: {listed}"),
    );
    e.details = json!({"group": "meta.k8s.io", "kind": "ListOptions",
        "causes": causes.iter().map(|(r, f, m)| json!({"reason": r, "message": m, "field": f})).collect::<Vec<_>>()});
    Err(e)
}

#[allow(clippy::too_many_arguments)]
async fn resource(
    cluster: &Cluster,
    method: &Method,
    t: Target,
    q: &HashMap<String, String>,
    accept: &str,
    content_type: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let rt = &t.rt;
    let ns = t.namespace.as_deref();
    let opts = write_options(q);
    match (method.as_str(), t.name.as_deref(), t.sub.as_deref()) {
        ("GET", None, None) if q.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            check_list_options(q, true)?;
            let lo = list_options(q, t.namespace.clone())?;
            Ok(watch(
                cluster.clone(),
                rt.clone(),
                lo,
                q,
                wants_table(accept),
            ))
        }
        ("GET", None, None) => {
            check_list_options(q, false)?;
            let lo = list_options(q, t.namespace.clone())?;
            let result = cluster.list(rt, &lo);
            if wants_table(accept) {
                let trees: Vec<Arc<Value>> = result.items.iter().map(|s| s.object()).collect();
                let items: Vec<&Value> = trees.iter().map(|t| t.as_ref()).collect();
                return Ok(json_response(
                    200,
                    &table::table(
                        rt,
                        items,
                        result.resource_version,
                        result.continue_token.as_deref(),
                        cluster.clock().now_ms(),
                    ),
                ));
            }
            let mut meta = json!({"resourceVersion": result.resource_version.to_string()});
            if let Some(tok) = &result.continue_token {
                meta["continue"] = json!(tok);
                // kube-apiserver counts what is left only without selectors.
                if lo.labels == Default::default() && lo.fields == Default::default() {
                    meta["remainingItemCount"] = json!(result.remaining);
                }
            }
            let head = serde_json::to_vec(&json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": meta}))
                .unwrap_or_default();
            Ok(Response::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(list_body(head, result.items))
                .unwrap_or_default())
        }
        ("GET", Some(name), None) => {
            let obj = cluster.get(rt, ns, name)?;
            if wants_table(accept) {
                return Ok(json_response(
                    200,
                    &table::table(
                        rt,
                        [obj.as_ref()],
                        cluster.resource_version(),
                        None,
                        cluster.clock().now_ms(),
                    ),
                ));
            }
            Ok(json_response(200, &obj))
        }
        ("GET", Some(name), Some("status")) => {
            Ok(json_response(200, cluster.get(rt, ns, name)?.as_ref()))
        }
        ("GET", Some(name), Some("scale")) => Ok(json_response(
            200,
            &scale_of(cluster.get(rt, ns, name)?.as_ref()),
        )),
        ("GET", Some(name), Some("log")) => {
            let pod = cluster.get(rt, ns, name)?;
            pod_log(cluster, ns.unwrap_or("default"), &pod, q)
        }
        ("POST", None, None) => {
            let obj = parse_body(content_type, body)?;
            Ok(json_response(
                201,
                cluster.create(rt, ns, obj, &opts)?.as_ref(),
            ))
        }
        ("PUT", Some(name), Some("scale")) => {
            let scale = parse_body(content_type, body)?;
            Ok(json_response(
                200,
                &set_scale(cluster, rt, ns, name, &scale, &opts)?,
            ))
        }
        ("PUT", Some(name), sub) => {
            let obj = parse_body(content_type, body)?;
            Ok(json_response(
                200,
                cluster.replace(rt, ns, name, obj, sub, &opts)?.as_ref(),
            ))
        }
        ("PATCH", Some(name), Some("scale")) => {
            let patch: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("the patch is not valid JSON: {e}")))?;
            let ct = content_type.split(';').next().unwrap_or("");
            // As kube-apiserver's GuaranteedUpdate: a patch that names no
            // resourceVersion is applied again to the latest object when a
            // concurrent write (a controller's status) got there first.
            let mut attempts = 0;
            loop {
                let current = scale_of(cluster.get(rt, ns, name)?.as_ref());
                let next = match ct {
                    "application/json-patch+json" => {
                        super::patch::json_patch(&current, &patch).map_err(ApiError::bad_request)?
                    }
                    _ => super::patch::merge_patch(&current, &patch),
                };
                match set_scale(cluster, rt, ns, name, &next, &opts) {
                    Err(e)
                        if e.code == 409
                            && attempts < 1000
                            && next["metadata"]["resourceVersion"]
                                == current["metadata"]["resourceVersion"] =>
                    {
                        attempts += 1;
                    }
                    result => return Ok(json_response(200, &result?)),
                }
            }
        }
        ("PATCH", Some(name), sub) => Ok(json_response(
            200,
            cluster
                .patch(rt, ns, name, sub, content_type, body, &opts)?
                .as_ref(),
        )),
        ("DELETE", Some(name), None) => {
            let dopts = delete_options(q, body);
            let obj = cluster.delete(rt, ns, name, &dopts)?;
            // As kube-apiserver: an object removed at once is answered with a
            // Status, except the kinds whose registry returns the object
            // (pods, services, service accounts, namespaces); one still there
            // (grace period, finalizers) with the object.
            let gone = !dopts.dry_run && cluster.get(rt, ns, name).is_err();
            let returns_object = matches!(
                rt.kind.as_str(),
                "Pod" | "Service" | "ServiceAccount" | "Namespace"
            );
            // Orphan and foreground deletion add a finalizer that the garbage
            // collector removes later: the answer is the object, being
            // deleted with it (the collector's work is done here already).
            let b: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let policy = q
                .get("propagationPolicy")
                .cloned()
                .or_else(|| b["propagationPolicy"].as_str().map(str::to_owned));
            let finalizer = match policy.as_deref() {
                Some("Orphan") => Some("orphan"),
                Some("Foreground") => Some("foregroundDeletion"),
                _ if dopts.orphan => Some("orphan"),
                _ => None,
            };
            if gone && let Some(f) = finalizer {
                let mut answer = (*obj).clone();
                answer["metadata"]["deletionTimestamp"] = json!(cluster.clock().timestamp());
                answer["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                answer["metadata"]["finalizers"] = json!([f]);
                return Ok(json_response(200, &answer));
            }
            if gone && !returns_object {
                let mut details = json!({"name": name, "kind": rt.plural,
                    "uid": obj["metadata"]["uid"]});
                if !rt.group.is_empty() {
                    details["group"] = json!(rt.group);
                }
                return Ok(json_response(
                    200,
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                        "status": "Success", "details": details}),
                ));
            }
            Ok(json_response(200, &obj))
        }
        ("DELETE", None, None) => {
            let lo = list_options(q, t.namespace.clone())?;
            let dopts = delete_options(q, body);
            let mut deleted = Vec::new();
            for obj in cluster.list(rt, &lo).items {
                let name = obj.brief.name().to_owned();
                let ons = Some(obj.brief.namespace())
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned);
                if let Ok(d) = cluster.delete(rt, ons.as_deref(), &name, &dopts) {
                    deleted.push((*d).clone());
                }
            }
            Ok(json_response(
                200,
                &json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": {}, "items": deleted}),
            ))
        }
        (m, _, _) => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{m} is not supported on this path of {}", rt.qualified()),
        )),
    }
}

/// `GET pods/NAME/log` as the kubelet answers it through kube-apiserver:
/// one container's current (or `previous`) instance, the last `tailLines`,
/// those since `sinceSeconds`/`sinceTime`, `timestamps` in front, at most
/// `limitBytes`, and with `follow` the lines still to come until the
/// instance ends or the pod goes.
fn pod_log(
    cluster: &Cluster,
    ns: &str,
    pod: &Value,
    q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let flag = |k: &str| q.get(k).is_some_and(|v| v == "true" || v == "1");
    let int = |k: &str| -> Result<Option<i64>, ApiError> {
        q.get(k)
            .map(|v| {
                // kube-apiserver's words (Go's strconv).
                v.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "strconv.ParseInt: parsing {v:?}: invalid syntax"
                    ))
                })
            })
            .transpose()
    };
    let invalid = |field: &str, why: String| {
        let mut e = ApiError::new(
            422,
            "Invalid",
            format!("PodLogOptions \"{name}\" is invalid: {field}: {why}"),
        );
        let reason = if why.starts_with("Forbidden") {
            "FieldValueForbidden"
        } else {
            "FieldValueInvalid"
        };
        e.details = json!({"name": name, "kind": "PodLogOptions",
            "causes": [{"reason": reason, "message": why, "field": field}]});
        e
    };
    let tail = int("tailLines")?;
    let since_seconds = int("sinceSeconds")?;
    let limit = int("limitBytes")?;
    if let Some(n) = tail.filter(|n| *n < 0) {
        return Err(invalid(
            "tailLines",
            format!("Invalid value: {n}: must be greater than or equal to 0"),
        ));
    }
    if let Some(n) = since_seconds.filter(|n| *n < 1) {
        return Err(invalid(
            "sinceSeconds",
            format!("Invalid value: {n}: must be greater than 0"),
        ));
    }
    if let Some(n) = limit.filter(|n| *n < 1) {
        return Err(invalid(
            "limitBytes",
            format!("Invalid value: {n}: must be greater than 0"),
        ));
    }
    let since_time = match q.get("sinceTime") {
        Some(t) => Some(crate::time::parse_rfc3339(t).ok_or_else(|| {
            ApiError::bad_request(format!(
                "invalid value for sinceTime: {t:?} is not an RFC 3339 time"
            ))
        })?),
        None => None,
    };
    if since_seconds.is_some() && since_time.is_some() {
        return Err(invalid(
            "[]",
            "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified".into(),
        ));
    }
    let containers = cluster.containers_of(ns, &name);
    let container = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) if containers.contains(c) => c.clone(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    // A pod no node runs yet has no log: kube-apiserver answers 204.
    if pod["spec"]["nodeName"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
    {
        return Ok(Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(Body::empty())
            .unwrap_or_default());
    }
    let previous = flag("previous");
    let which = if previous {
        super::logs::Which::Previous
    } else {
        super::logs::Which::Current
    };
    let now = cluster.clock().now_ms();
    let Some((mut lines, cursor)) = cluster.logs().read(ns, &name, &container, which, now) else {
        if previous {
            return Err(ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            )));
        }
        let status = pod["status"]["containerStatuses"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == container.as_str()));
        // The kubelet's words for the common pending failures.
        let reason = match status
            .and_then(|c| c["state"]["waiting"]["reason"].as_str())
            .unwrap_or("ContainerCreating")
        {
            "ErrImagePull" => "image can't be pulled",
            "ImagePullBackOff" => "trying and failing to pull image",
            other => other,
        };
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
        )));
    };
    let cutoff = since_time.or(since_seconds.map(|s| now - s * 1000));
    if let Some(cutoff) = cutoff {
        lines.retain(|l| l.at_ms >= cutoff);
    }
    if let Some(n) = tail {
        lines.drain(..lines.len().saturating_sub(n as usize));
    }
    let timestamps = flag("timestamps");
    let render = move |l: &super::logs::LogLine| -> Bytes {
        if timestamps {
            Bytes::from(format!(
                "{} {}\n",
                crate::time::rfc3339_nano(l.at_ms),
                l.text
            ))
        } else {
            Bytes::from(format!("{}\n", l.text))
        }
    };
    let first: Vec<Bytes> = lines.iter().map(&render).collect();
    let mut budget = limit.map(|n| n as usize);
    let mut take = move |b: Bytes| -> Option<Bytes> {
        match budget.as_mut() {
            None => Some(b),
            Some(0) => None,
            Some(left) => {
                let b = b.slice(..b.len().min(*left));
                *left -= b.len();
                Some(b)
            }
        }
    };
    let text = |b: Vec<Bytes>| {
        Response::builder()
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from(b.concat()))
            .unwrap_or_default()
    };
    if !flag("follow") || previous {
        return Ok(text(first.into_iter().map_while(&mut take).collect()));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(64);
    let cluster = cluster.clone();
    let ns = ns.to_owned();
    tokio::spawn(async move {
        let logs = cluster.logs();
        let mut changed = logs.subscribe();
        let mut epoch = cluster.watch_epoch();
        for b in first {
            let Some(b) = take(b) else { return };
            if tx.send(Ok(b)).await.is_err() {
                return;
            }
        }
        let mut cursor = cursor;
        loop {
            let now = cluster.clock().now_ms();
            match logs.after(&ns, &name, &container, cursor, now) {
                super::logs::More::Ended => return,
                super::logs::More::Lines(more, next) => {
                    cursor = next;
                    for l in &more {
                        let Some(b) = take(render(l)) else { return };
                        if tx.send(Ok(b)).await.is_err() {
                            return;
                        }
                    }
                }
            }
            // Sleep until something is written or the next beat is due (a
            // clock moved by hand is looked at every 200 ms).
            let wait = match logs.next_due(&ns, &name, &container) {
                _ if cluster.clock().is_manual() => 200,
                Some(due) => (due - now).clamp(10, 5000),
                None => 5000,
            };
            tokio::select! {
                _ = changed.changed() => {}
                _ = epoch.changed() => return,
                _ = tx.closed() => return,
                _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "text/plain")
        .header(header::TRANSFER_ENCODING, "chunked")
        .body(Body::from_stream(stream))
        .unwrap_or_default())
}

fn delete_options(q: &HashMap<String, String>, body: &[u8]) -> DeleteOptions {
    let b: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let grace = q
        .get("gracePeriodSeconds")
        .and_then(|g| g.parse().ok())
        .or_else(|| b["gracePeriodSeconds"].as_i64());
    let policy = q
        .get("propagationPolicy")
        .cloned()
        .or_else(|| b["propagationPolicy"].as_str().map(str::to_owned));
    let orphan = policy.as_deref() == Some("Orphan")
        || q.get("orphanDependents").is_some_and(|v| v == "true")
        || b["orphanDependents"] == true;
    let dry_run = q.get("dryRun").is_some_and(|v| v == "All")
        || b["dryRun"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "All"));
    let precondition = |key: &str| b["preconditions"][key].as_str().map(str::to_owned);
    DeleteOptions {
        dry_run,
        grace_period: grace,
        orphan,
        uid: precondition("uid"),
        resource_version: precondition("resourceVersion"),
    }
}

fn scale_of(obj: &Value) -> Value {
    let selector = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let mut scale = json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"],
            "uid": obj["metadata"]["uid"], "resourceVersion": obj["metadata"]["resourceVersion"],
            "creationTimestamp": obj["metadata"]["creationTimestamp"],
        },
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    });
    // autoscaling/v1 declares replicas omitempty: zero is not written.
    if scale["spec"]["replicas"] == 0 {
        scale["spec"] = json!({});
    }
    scale
}

fn set_scale(
    cluster: &Cluster,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    scale: &Value,
    opts: &WriteOptions,
) -> Result<Value, ApiError> {
    let replicas = scale["spec"]["replicas"].as_i64().ok_or_else(|| {
        ApiError::invalid(
            rt,
            name,
            "spec.replicas",
            "Required value: the Scale must set spec.replicas to a whole number",
        )
    })?;
    if replicas < 0 {
        return Err(ApiError::invalid(
            rt,
            name,
            "spec.replicas",
            &format!("Invalid value: {replicas}: must be greater than or equal to 0"),
        ));
    }
    let current = cluster.get(rt, ns, name)?;
    super::cluster::check_resource_version(rt, name, &current, scale)?;
    let mut next = (*current).clone();
    next["spec"]["replicas"] = json!(replicas);
    let updated = cluster.replace(
        rt,
        ns,
        name,
        next,
        None,
        &WriteOptions {
            strict: false,
            ..opts.clone()
        },
    )?;
    Ok(scale_of(&updated))
}

fn watch_line(kind: &str, object: &Value) -> Bytes {
    let mut line = Vec::with_capacity(2048);
    write_watch_line(&mut line, kind, object);
    Bytes::from(line)
}

/// How much of a watch's initial state goes out in one message.
const CHUNK: usize = 256 * 1024;

/// One watch event as a line, around an object's JSON as stored.
fn write_raw_watch_line(out: &mut Vec<u8>, kind: &str, json: &[u8]) {
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(json);
    out.extend_from_slice(b"}\n");
}

/// One watch event as a line, the object written in place (no copy of it).
fn write_watch_line(out: &mut Vec<u8>, kind: &str, object: &Value) {
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    let _ = serde_json::to_writer(&mut *out, object);
    out.extend_from_slice(b"}\n");
}

fn watch(
    cluster: Cluster,
    rt: ResourceType,
    lo: ListOptions,
    q: &HashMap<String, String>,
    as_table: bool,
) -> Response {
    let rv: Option<u64> = q
        .get("resourceVersion")
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse().ok());
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|v| v == "true");
    // The streaming list: `sendInitialEvents=true` sends the state as ADDED
    // events whatever the version asked (not older than it), then a bookmark
    // that marks their end; `false` without a version starts from now.
    let send_initial = q.get("sendInitialEvents").map(|v| v == "true");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(1800);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(256);
    let mut changes = cluster.subscribe();
    let mut epoch = cluster.watch_epoch();
    epoch.mark_unchanged();
    // One event as a line: the object as a Table row when asked, else its
    // JSON as stored when the event carries the stored object.
    let render = move |out: &mut Vec<u8>,
                       kind: &str,
                       rt: &ResourceType,
                       cluster: &Cluster,
                       obj: Option<&Value>,
                       json: Option<&[u8]>| {
        if as_table {
            let parsed;
            let obj = match obj {
                Some(o) => o,
                None => {
                    parsed = json
                        .and_then(|j| serde_json::from_slice(j).ok())
                        .unwrap_or(Value::Null);
                    &parsed
                }
            };
            let row = table::table(
                rt,
                [obj],
                cluster.resource_version(),
                None,
                cluster.clock().now_ms(),
            );
            write_watch_line(out, kind, &row);
        } else if let Some(json) = json {
            write_raw_watch_line(out, kind, json);
        } else {
            write_watch_line(out, kind, obj.unwrap_or(&Value::Null));
        }
    };
    let line = move |kind: &str, rt: &ResourceType, cluster: &Cluster, event: &Event| {
        let mut out = Vec::with_capacity(2048);
        render(
            &mut out,
            kind,
            rt,
            cluster,
            event.object.as_ref(),
            event.json.as_deref(),
        );
        Bytes::from(out)
    };
    tokio::spawn(async move {
        let key = key_of(&rt);
        let mut last;
        // The starting point: a list for "" and "0", a replay otherwise.
        let start = match send_initial {
            Some(true) => Start::State,
            Some(false) => match rv.filter(|v| *v > 0) {
                None => Start::Now,
                Some(from) => Start::Replay(from),
            },
            None => match rv.filter(|v| *v > 0) {
                None => Start::State,
                Some(from) => Start::Replay(from),
            },
        };
        if send_initial == Some(true)
            && let Some(asked) = rv
            && asked > cluster.resource_version()
        {
            let mut e = ApiError::new(
                504,
                "Timeout",
                format!(
                    "Timeout: Too large resource version: {asked}, current: {}",
                    cluster.resource_version()
                ),
            );
            e.details = json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1});
            let _ = tx.send(Ok(watch_line("ERROR", &e.status()))).await;
            return;
        }
        match start {
            Start::Now => last = cluster.resource_version(),
            Start::State => {
                let result = cluster.list(
                    &rt,
                    &ListOptions {
                        limit: None,
                        continue_token: None,
                        ..lo.clone()
                    },
                );
                last = result.resource_version;
                // The state in chunks of about 256 KiB: one message per
                // object costs more than the objects at 50,000 pods.
                let mut chunk = Vec::with_capacity(CHUNK + 4096);
                for item in result.items {
                    render(
                        &mut chunk,
                        "ADDED",
                        &rt,
                        &cluster,
                        item.tree().map(|t| t.as_ref()),
                        Some(&item.json),
                    );
                    if chunk.len() >= CHUNK {
                        let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK + 4096));
                        if tx.send(Ok(Bytes::from(full))).await.is_err() {
                            return;
                        }
                    }
                }
                if !chunk.is_empty() && tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                    return;
                }
                if send_initial == Some(true) && bookmarks {
                    let end = json!({"kind": rt.kind, "apiVersion": rt.api_version(),
                        "metadata": {"resourceVersion": last.to_string(),
                            "annotations": {"k8s.io/initial-events-end": "true"}}});
                    if tx.send(Ok(watch_line("BOOKMARK", &end))).await.is_err() {
                        return;
                    }
                }
            }
            Start::Replay(from) => match cluster.changes_since(&key, from) {
                Ok((replay, now)) => {
                    for c in replay {
                        let Some((kind, event)) = watch_event(&c, &lo) else {
                            continue;
                        };
                        if tx
                            .send(Ok(line(kind, &rt, &cluster, &event)))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    last = now.max(from);
                }
                Err(oldest) => {
                    let gone = ApiError::new(
                        410,
                        "Expired",
                        format!("too old resource version: {from} ({oldest})"),
                    );
                    let _ = tx.send(Ok(watch_line("ERROR", &gone.status()))).await;
                    return;
                }
            },
        }
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        // As kube-apiserver's watch cache: a bookmark every minute, and one
        // two seconds before the watch's deadline (so that a client resumes
        // from a recent version), for watches that asked for them.
        let mut bookmark = tokio::time::interval(Duration::from_secs(60));
        bookmark.tick().await;
        let pre_deadline = tokio::time::sleep(Duration::from_secs(timeout.saturating_sub(2)));
        tokio::pin!(pre_deadline);
        let mut pre_sent = timeout < 4;
        let mut bookmarked = 0;
        loop {
            let bookmark_due = tokio::select! {
                _ = &mut deadline => return,
                _ = epoch.changed() => return,
                _ = bookmark.tick(), if bookmarks => true,
                _ = &mut pre_deadline, if bookmarks && !pre_sent => {
                    pre_sent = true;
                    true
                }
                change = changes.recv() => {
                    let c: Arc<Change> = match change {
                        Ok(c) => c,
                        // Fell behind: end the watch; the client resumes from
                        // its last version (or relists after a 410).
                        Err(_) => return,
                    };
                    if c.rv <= last || c.key != key {
                        continue;
                    }
                    let Some((kind, event)) = watch_event(&c, &lo) else {
                        continue;
                    };
                    last = c.rv;
                    if tx.send(Ok(line(kind, &rt, &cluster, &event))).await.is_err() {
                        return;
                    }
                    false
                }
            };
            // Only a version the watcher has not seen: kube-apiserver's cache
            // sends none while nothing moved.
            if bookmark_due && cluster.resource_version() > last.max(bookmarked) {
                let rv = cluster.resource_version();
                bookmarked = rv;
                let obj = json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": {"resourceVersion": rv.to_string()}});
                if tx.send(Ok(watch_line("BOOKMARK", &obj))).await.is_err() {
                    return;
                }
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::TRANSFER_ENCODING, "chunked")
        .body(Body::from_stream(stream))
        .unwrap_or_default()
}

/// Where a watch starts: from now, with the current state as ADDED events,
/// or with the changes after a version.
enum Start {
    Now,
    State,
    Replay(u64),
}

/// The event a watch with these options sees for a change, as
/// kube-apiserver's watch cache decides it: an object that starts to match
/// the selectors is ADDED, one that stops matching is DELETED (as it was, at
/// the change's version), one that never matched is not seen.
fn watch_event(c: &Change, lo: &ListOptions) -> Option<(&'static str, Event)> {
    if let Some(ns) = &lo.namespace
        && &c.namespace != ns
    {
        return None;
    }
    let passes = |parts: &Selectable| parts.matches(&lo.labels, &lo.fields);
    let now = passes(&c.brief.selectable);
    let stored = || Event {
        object: None,
        json: Some(c.json.clone()),
    };
    if c.kind != ChangeKind::Modified {
        return now.then(|| (c.kind.as_str(), stored()));
    }
    let before = c
        .previous
        .as_ref()
        .is_none_or(|(_, brief)| passes(&brief.selectable));
    match (before, now) {
        (true, true) => Some(("MODIFIED", stored())),
        (false, true) => Some(("ADDED", stored())),
        (true, false) => {
            let mut last: Value = c
                .previous
                .as_ref()
                .and_then(|(json, _)| serde_json::from_slice(json).ok())
                .unwrap_or(Value::Null);
            last["metadata"]["resourceVersion"] = json!(c.rv.to_string());
            Some((
                "DELETED",
                Event {
                    object: Some(last),
                    json: None,
                },
            ))
        }
        (false, false) => None,
    }
}

/// The object a watch event carries: its JSON as stored (parsed only for a
/// Table), or an object made for the event.
struct Event {
    object: Option<Value>,
    json: Option<Bytes>,
}

#[cfg(test)]
mod list_body_tests {
    use super::*;
    use crate::time::Clock;

    /// A list's body reads as one JSON list whatever its size: empty, one
    /// chunk, or many chunks whose seams fall between items.
    #[test]
    fn a_list_body_in_chunks_is_the_list() {
        for count in [0usize, 1, 3, 700] {
            let cluster = Cluster::new(Clock::manual(1_795_305_600_000), 64);
            let rt = cluster.resolve("", "v1", "configmaps").unwrap();
            cluster.ensure_namespace("a").unwrap();
            for i in 0..count {
                let cm = json!({"metadata": {"name": format!("cm-{i:04}")}, "data": {"pad": "x".repeat(1000)}});
                cluster
                    .create(&rt, Some("a"), cm, &WriteOptions::default())
                    .unwrap();
            }
            let items = cluster.list(&rt, &ListOptions::default()).items;
            let chunks: Vec<Bytes> =
                list_chunks(br#"{"kind":"ConfigMapList"}"#.to_vec(), items).collect();
            if count == 700 {
                assert!(chunks.len() > 2, "700 KiB in {} chunks", chunks.len());
                assert!(chunks[..chunks.len() - 1].iter().all(|c| c.len() >= CHUNK));
            } else {
                assert_eq!(chunks.len(), 1);
            }
            let list: Value = serde_json::from_slice(&chunks.concat()).unwrap();
            assert_eq!(list["kind"], "ConfigMapList");
            let names: Vec<&str> = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap())
                .collect();
            let want: Vec<String> = (0..count).map(|i| format!("cm-{i:04}")).collect();
            assert_eq!(names, want);
        }
    }
}
