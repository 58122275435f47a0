//! The embedded cluster (ARCHITECTURE 6): a Kubernetes-API-compatible HTTP server
//! over an in-memory store, and a simulated world that makes it behave like a
//! live cluster. Depends only on the domain and the API types.

pub mod api;
pub mod cluster;
pub mod defaults;
pub mod exec;
pub mod logs;
pub mod metrics;
pub mod openapi;
pub mod patch;
pub mod rbac;
pub mod registry;
pub mod selectors;
pub mod table;
pub mod tls;

use std::net::SocketAddr;

pub use cluster::Cluster;

/// A `kube::Client` that talks to the cluster in-process, through the same
/// router a TCP client reaches.
pub fn in_process_client(cluster: &Cluster, namespace: &str) -> kube::Client {
    kube::Client::new(api::router(cluster.clone()), namespace.to_owned())
}

/// Serve the API over TLS on 127.0.0.1:`port` (0 picks a free port) until
/// the returned task is aborted, with the cluster's own certificate
/// authority ([`Cluster::tls`]). Returns the bound address; [`url`] makes
/// the server's URL of it.
pub async fn serve_tcp(
    cluster: &Cluster,
    port: u16,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let acceptor = cluster
        .tls()
        .and_then(|t| t.acceptor().map_err(|e| e.to_string()))
        .map_err(|e| std::io::Error::other(format!("the embedded cluster's TLS: {e}")))?;
    let app = api::tcp_router(cluster.clone());
    let task = tokio::spawn(async move {
        // Connections end with the server (aborting the task drops this),
        // as a stopped kube-apiserver's do.
        let (alive, _) = tokio::sync::watch::channel(());
        loop {
            let (tcp, _) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("embedded API server: accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let (acceptor, app) = (acceptor.clone(), app.clone());
            let mut gone = alive.subscribe();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let builder = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                );
                let connection = builder
                    .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tls), service);
                tokio::select! {
                    _ = connection => {}
                    _ = gone.changed() => {}
                }
            });
        }
    });
    Ok((addr, task))
}

/// A client of the cluster served at `addr`, as its admin context (the
/// kubeconfig `embedded serve` writes, without writing it).
pub async fn tcp_client(
    cluster: &Cluster,
    addr: SocketAddr,
    namespace: &str,
) -> Result<kube::Client, String> {
    let kc = kube::config::Kubeconfig::from_yaml(&kubeconfig(cluster, &url(addr), namespace))
        .map_err(|e| e.to_string())?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .map_err(|e| e.to_string())?;
    kube::Client::try_from(config).map_err(|e| e.to_string())
}

/// The URL of the embedded cluster served at `addr`.
pub fn url(addr: SocketAddr) -> String {
    format!("https://{addr}")
}

/// The name of the kubeconfig context that points at the embedded cluster.
pub const CONTEXT: &str = "swarmdeck-embedded";

/// A kubeconfig for `server` (HTTPS on loopback, the cluster's certificate
/// authority in it) with one context per
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
    use base64::Engine;
    let ca = cluster.tls().map_or_else(
        |_| String::new(),
        |t| {
            format!(
                "    certificate-authority-data: {}\n",
                base64::engine::general_purpose::STANDARD.encode(&t.ca_pem)
            )
        },
    );
    let mut out = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {CONTEXT}\n  cluster:\n    server: {server}\n{ca}current-context: {}\ncontexts:\n",
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
    }
    out
}
pub mod runtime;
pub mod scenario;
pub mod world;
