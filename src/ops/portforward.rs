//! A local port forwarded to a pod's (`pods/portforward` over WebSocket):
//! each connection accepted on 127.0.0.1 opens its own stream to the pod,
//! and a forward opened for a stream finds the stream's owner again for
//! each connection, so that it follows a handoff instead of dying. Audited
//! when it opens and when it ends.

use k8s_openapi::api::core::v1::Pod;
use kube::Api;

use crate::engine::audit::{Auditor, Subject};

/// Where the connections go: a pod, or whichever worker owns a stream.
pub trait Target: Send + Sync {
    /// The pod to reach now; `Err`: why there is none.
    fn pod(&self) -> impl std::future::Future<Output = Result<String, String>> + Send;
}

/// Forward connections on `listener` to port `remote` of the pod `target`
/// names at each connection, in `namespace`, until `stop` resolves. `say`
/// gets one line for each move to another pod ("now to swarm-worker-2") and
/// each connection that failed.
#[allow(clippy::too_many_arguments)]
pub async fn forward(
    client: &kube::Client,
    audit: &Auditor,
    namespace: &str,
    target: &impl Target,
    listener: tokio::net::TcpListener,
    remote: u16,
    say: impl Fn(String) + Send + Sync,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let first = target.pod().await?;
    let local = listener.local_addr().map_err(|e| e.to_string())?.port();
    let subject = Subject {
        api_version: "v1".into(),
        kind: "Pod".into(),
        namespace: namespace.to_owned(),
        name: first.clone(),
    };
    let plan = format!("127.0.0.1:{local} -> {remote}");
    // The right is asked of the server before the first connection comes.
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let probe = pods.portforward(&first, &[remote]).await;
    if let Err(e) = probe {
        let why = if crate::cluster::gate::is_refusal(&e) {
            "read-only mode: nothing was sent".to_owned()
        } else {
            crate::cluster::explain(&e)
        };
        super::audited(audit, &subject, "PortForward", &plan, Err(&why)).await;
        return Err(why);
    }
    super::audited(audit, &subject, "PortForward", &plan, Ok("opened")).await;
    let mut current = first;
    tokio::pin!(stop);
    loop {
        let (mut socket, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    say(format!("accepting a connection on 127.0.0.1:{local} failed: {e}"));
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let pod = match target.pod().await {
            Ok(p) => p,
            Err(why) => {
                say(why);
                continue;
            }
        };
        if pod != current {
            say(format!(
                "now forwarding to {namespace}/{pod} (was {current})"
            ));
            current = pod.clone();
        }
        let pods = pods.clone();
        tokio::spawn(async move {
            let Ok(mut pf) = pods.portforward(&pod, &[remote]).await else {
                return;
            };
            let Some(mut upstream) = pf.take_stream(remote) else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut socket, &mut upstream).await;
            drop(upstream);
            let _ = pf.join().await;
        });
    }
    super::audited(audit, &subject, "PortForward", &plan, Ok("closed")).await;
    Ok(())
}
