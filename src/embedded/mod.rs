//! The embedded cluster (DESIGN 6): a Kubernetes-API-compatible HTTP server
//! over an in-memory store, and a simulated world that makes it behave like a
//! live cluster. Depends only on the domain and the API types.

pub mod api;
pub mod cluster;
pub mod defaults;
pub mod logs;
pub mod openapi;
pub mod patch;
pub mod rbac;
pub mod registry;
pub mod selectors;
pub mod table;

use std::net::SocketAddr;

pub use cluster::Cluster;

/// A `kube::Client` that talks to the cluster in-process, through the same
/// router a TCP client reaches.
pub fn in_process_client(cluster: &Cluster, namespace: &str) -> kube::Client {
    kube::Client::new(api::router(cluster.clone()), namespace.to_owned())
}

/// Serve the API on 127.0.0.1:`port` (0 picks a free port) until the
/// returned task is aborted. Returns the bound address.
pub async fn serve_tcp(
    cluster: &Cluster,
    port: u16,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let app = api::tcp_router(cluster.clone());
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("embedded API server stopped: {e}");
        }
    });
    Ok((addr, task))
}

/// The name of the kubeconfig context that points at the embedded cluster.
pub const CONTEXT: &str = "swarmdeck-embedded";

/// A kubeconfig for `server` (plain HTTP on loopback) with one context per
/// user of `cluster`: `swarmdeck-embedded` (current) for `admin`, and a context
/// named after each other user (`operator`, `viewer` in the demo), all with
/// `namespace` as their namespace.
pub fn kubeconfig(cluster: &Cluster, server: &str, namespace: &str) -> String {
    let users = cluster.users();
    let context_of = |user: &str| {
        if user == "admin" {
            CONTEXT.to_owned()
        } else {
            user.to_owned()
        }
    };
    let mut out = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {CONTEXT}\n  cluster:\n    server: {server}\ncurrent-context: {}\ncontexts:\n",
        users
            .iter()
            .find(|u| u.name == "admin")
            .or(users.first())
            .map_or_else(|| CONTEXT.to_owned(), |u| context_of(&u.name))
    );
    for u in &users {
        out.push_str(&format!(
            "- name: {}\n  context:\n    cluster: {CONTEXT}\n    user: {}\n    namespace: {namespace}\n",
            context_of(&u.name),
            u.name
        ));
    }
    out.push_str("users:\n");
    for u in &users {
        out.push_str(&format!(
            "- name: {}\n  user:\n    token: {}\n",
            u.name, u.token
        ));
        // kubectl sends no token over plain HTTP: name the user to act as,
        // so that its requests are not the tokenless admin's.
        if !u.groups.iter().any(|g| g == "system:masters") {
            out.push_str(&format!("    as: {}\n", u.name));
            if !u.groups.is_empty() {
                out.push_str(&format!("    as-groups: [{}]\n", u.groups.join(", ")));
            }
        }
    }
    out
}
pub mod runtime;
pub mod scenario;
pub mod world;
