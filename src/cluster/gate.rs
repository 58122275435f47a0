//! The read-only gate: in read-only mode every request other than get, list
//! and watch is refused inside the process, before anything is sent. The
//! console, the CLI and the engine all get their client from here.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Method, Request};
use tower::{Layer, Service};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The refusal, as the operator reads it.
#[derive(Debug, thiserror::Error)]
#[error(
    "read-only mode: refused {method} {path} before sending it; restart without --read-only to make changes"
)]
pub struct ReadOnlyRefused {
    pub method: String,
    pub path: String,
}

/// The gate's layer: refuses writes when `read_only`, and (with a `route`)
/// names the server and the proxy in a failure of the transport below it.
#[derive(Debug, Clone, Default)]
pub struct ReadOnlyLayer {
    pub read_only: bool,
    route: Option<RouteInfo>,
}

impl<S> Layer<S> for ReadOnlyLayer {
    type Service = ReadOnly<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ReadOnly {
            inner,
            gate: self.clone(),
        }
    }
}

/// A GET that is no read: exec, attach and port-forward open a session in a
/// container (kube-apiserver authorizes them as `create`), so read-only
/// refuses them as it refuses any write.
pub fn opens_session(path: &str) -> bool {
    let mut segs = path.trim_end_matches('/').rsplit('/');
    let last = segs.next().unwrap_or("");
    matches!(last, "exec" | "attach" | "portforward")
        && segs.nth(1).is_some_and(|kind| kind == "pods")
}

#[derive(Debug, Clone)]
pub struct ReadOnly<S> {
    inner: S,
    gate: ReadOnlyLayer,
}

impl<S, B> Service<Request<B>> for ReadOnly<S>
where
    S: Service<Request<B>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if self.gate.read_only
            && (!matches!(*req.method(), Method::GET | Method::HEAD)
                || opens_session(req.uri().path()))
        {
            let refused = ReadOnlyRefused {
                method: req.method().to_string(),
                path: req.uri().path().to_owned(),
            };
            return Box::pin(async move { Err(Box::new(refused) as BoxError) });
        }
        let fut = self.inner.call(req);
        let route = self.gate.route.clone();
        Box::pin(async move {
            fut.await.map_err(|e| {
                let e: BoxError = e.into();
                match route {
                    Some(route) => route.name(e),
                    None => e,
                }
            })
        })
    }
}

/// The API server could not be reached: where it is and the proxy in the
/// way, with the deepest cause the transport gave.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach the API server at {server}{}: {cause}; {}",
    proxy.as_ref().map(|p| format!(" through proxy {p}")).unwrap_or_default(),
    advice(cause, proxy.is_some()))]
pub struct Unreachable {
    pub server: String,
    /// The proxy, without its credentials.
    pub proxy: Option<String>,
    pub cause: String,
}

/// The credentials did not work: an exec plugin failed (its own last
/// words, kept rather than written over the screen), a token file is
/// missing, an OIDC refresh was refused.
#[derive(Debug, thiserror::Error)]
#[error("credentials for {server} failed: {cause}")]
pub struct Credentials {
    pub server: String,
    pub cause: String,
}

/// A credential failure in the operator's words.
fn credentials_cause(e: &kube::client::AuthError) -> String {
    match e {
        kube::client::AuthError::AuthExecRun { cmd, out } => {
            let said = String::from_utf8_lossy(&out.stderr);
            let last = said
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("it said nothing on stderr")
                .trim()
                .to_owned();
            let program = cmd
                .split('"')
                .nth(1)
                .unwrap_or(cmd.as_str())
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            format!(
                "the credential plugin `{program}` failed ({}): {last}",
                out.status
            )
        }
        kube::client::AuthError::Oidc(_) => format!(
            "{}; log in to the OIDC provider again for a new refresh token (its certificate must be one the system trusts, or name it in SSL_CERT_FILE)",
            chain(e)
        ),
        other => chain(other),
    }
}

/// What to check, by what failed: the server's certificate, the proxy, or
/// the network path.
fn advice(cause: &str, proxied: bool) -> &'static str {
    let lower = cause.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("unknownissuer") || lower.contains("tls") {
        "the server's certificate is not one this kubeconfig trusts for that name: check the cluster's certificate-authority(-data) and tls-server-name (and that the server is the one meant)"
    } else if proxied {
        "check the proxy (proxy-url in the kubeconfig, HTTPS_PROXY, NO_PROXY) and that it lets CONNECT through to the server"
    } else {
        "check the network path (VPN, tunnel, firewall), or use --embedded"
    }
}

/// Every message of an error's chain, once each (the transport's outer
/// words say little: "client error (Connect)"; the root says why).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = src {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        src = err.source();
    }
    parts.join(": ")
}

/// Where the requests go: the server, and the proxy in the way.
#[derive(Debug, Clone)]
struct RouteInfo {
    server: String,
    proxy: Option<String>,
}

impl RouteInfo {
    /// A failure of the transport, named: a credential that failed, or a
    /// server (through a proxy) that could not be reached.
    fn name(&self, e: BoxError) -> BoxError {
        let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e.as_ref());
        while let Some(err) = src {
            if let Some(a) = err.downcast_ref::<kube::client::AuthError>() {
                return Box::new(Credentials {
                    server: self.server.clone(),
                    cause: credentials_cause(a),
                });
            }
            src = err.source();
        }
        Box::new(Unreachable {
            server: self.server.clone(),
            proxy: self.proxy.clone(),
            cause: chain(e.as_ref()),
        })
    }
}

/// A proxy URL as it may be shown: without user and password.
fn shown_proxy(uri: &http::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    let host = uri.host().unwrap_or("?");
    match uri.port_u16() {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    }
}

/// A client for a kubeconfig or in-cluster configuration, behind the gate.
pub fn client_from_config(
    config: kube::Config,
    read_only: bool,
) -> Result<kube::Client, kube::Error> {
    let gate = ReadOnlyLayer {
        read_only,
        route: Some(RouteInfo {
            server: config.cluster_url.to_string(),
            proxy: config.proxy_url.as_ref().map(shown_proxy),
        }),
    };
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&gate)
        .build())
}

/// A client that talks to the embedded cluster in-process, behind the gate.
pub fn in_process(
    cluster: &crate::embedded::Cluster,
    namespace: &str,
    read_only: bool,
) -> kube::Client {
    in_process_as(cluster, namespace, read_only, None)
}

/// The same, sending `token` as its bearer token (the embedded cluster's
/// user of that token; none: the embedding process, admin).
pub fn in_process_as(
    cluster: &crate::embedded::Cluster,
    namespace: &str,
    read_only: bool,
    token: Option<&str>,
) -> kube::Client {
    let auth = token.and_then(|t| http::HeaderValue::from_str(&format!("Bearer {t}")).ok());
    let service = tower::ServiceBuilder::new()
        .layer(ReadOnlyLayer {
            read_only,
            route: None,
        })
        .map_request(move |mut req: Request<kube::client::Body>| {
            if let Some(v) = &auth {
                req.headers_mut()
                    .insert(http::header::AUTHORIZATION, v.clone());
            }
            req
        })
        .service(crate::embedded::api::router(cluster.clone()));
    kube::Client::new(service, namespace.to_owned())
}

/// True when a kube error is the gate's refusal.
pub fn is_refusal(e: &kube::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = src {
        if err.is::<ReadOnlyRefused>() {
            return true;
        }
        src = err.source();
    }
    e.to_string().contains("read-only mode: refused")
}

#[cfg(test)]
mod tests {
    use super::opens_session;

    #[test]
    fn exec_attach_and_port_forward_are_sessions_not_reads() {
        for sub in ["exec", "attach", "portforward"] {
            assert!(opens_session(&format!(
                "/api/v1/namespaces/swarm/pods/w-0/{sub}"
            )));
        }
        assert!(!opens_session("/api/v1/namespaces/swarm/pods/w-0/log"));
        assert!(!opens_session("/api/v1/namespaces/swarm/pods/exec"));
        assert!(!opens_session(
            "/apis/example.com/v1/namespaces/x/widgets/a/exec"
        ));
    }
}
