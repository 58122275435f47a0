//! The embedded cluster (DESIGN 6): a Kubernetes-API-compatible HTTP server
//! over an in-memory store, and a simulated world that makes it behave like a
//! live cluster. Depends only on the domain and the API types.

pub mod api;
pub mod clock;
pub mod cluster;
pub mod openapi;
pub mod patch;
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
    let app = api::router(cluster.clone());
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("embedded API server stopped: {e}");
        }
    });
    Ok((addr, task))
}

/// The name of the kubeconfig context that points at the embedded cluster.
pub const CONTEXT: &str = "swarmdeck-embedded";

/// A kubeconfig for `server` (plain HTTP on loopback, no credentials).
pub fn kubeconfig(server: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {CONTEXT}\n  cluster:\n    server: {server}\ncontexts:\n- name: {CONTEXT}\n  context:\n    cluster: {CONTEXT}\n    user: {CONTEXT}\n    namespace: {namespace}\ncurrent-context: {CONTEXT}\nusers:\n- name: {CONTEXT}\n  user: {{}}\n"
    )
}
pub mod runtime;
pub mod scenario;
pub mod world;
