//! A command in a container (`pods/exec` over WebSocket): the session, its
//! exit code, and its audit line — who, which pod and container, the
//! command, start, end and exit code. The command line's `exec` and the
//! console's shell both run it here.

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{AttachParams, TerminalSize};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::engine::audit::{Auditor, Subject};

/// What to run where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exec {
    pub namespace: String,
    pub pod: String,
    /// None: the pod's one container (or its default one).
    pub container: Option<String>,
    pub command: Vec<String>,
    /// Send standard input; `tty`: as a terminal (raw keys, one stream out).
    pub stdin: bool,
    pub tty: bool,
}

/// The object an exec's audit line is about: the pod.
pub fn subject(e: &Exec) -> Subject {
    Subject {
        api_version: "v1".into(),
        kind: "Pod".into(),
        namespace: e.namespace.clone(),
        name: e.pod.clone(),
    }
}

/// The exit code a finished session's Status gives: 0 on success, the
/// kubelet's `ExitCode` cause on failure; the Status's message when it has
/// no code (the container is gone, the command does not exist).
pub fn exit_code(
    status: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>,
) -> Result<i32, String> {
    let Some(s) = status else {
        return Err("the session ended without an exit status".into());
    };
    if s.status.as_deref() == Some("Success") {
        return Ok(0);
    }
    s.details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.reason.as_deref() == Some("ExitCode"))
        .and_then(|c| c.message.as_deref()?.parse().ok())
        .ok_or_else(|| {
            s.message
                .clone()
                .unwrap_or_else(|| "the command failed".into())
        })
}

/// Run `e`: `input` to its stdin (when `e.stdin`), its stdout and stderr to
/// `out` and `err`, terminal sizes from `sizes` (when `e.tty`). The exit
/// code, or why there is none; the attempt is audited either way (a
/// read-only refusal sends nothing and records nothing).
pub async fn run(
    client: &kube::Client,
    audit: &Auditor,
    e: &Exec,
    mut input: impl AsyncRead + Unpin + Send + 'static,
    mut out: impl AsyncWrite + Unpin + Send + 'static,
    mut err: impl AsyncWrite + Unpin + Send + 'static,
    sizes: Option<tokio::sync::mpsc::Receiver<(u16, u16)>>,
) -> Result<i32, String> {
    let started = crate::time::now_rfc3339();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &e.namespace);
    let mut params = AttachParams::default()
        .stdin(e.stdin)
        .stdout(true)
        .stderr(!e.tty)
        .tty(e.tty);
    if let Some(c) = &e.container {
        params = params.container(c.clone());
    }
    let result = async {
        let mut process = pods
            .exec(&e.pod, e.command.clone(), &params)
            .await
            .map_err(|x| {
                if crate::cluster::gate::is_refusal(&x) {
                    "read-only mode: nothing was sent".to_owned()
                } else {
                    crate::cluster::explain(&x)
                }
            })?;
        let status = process.take_status();
        let mut tasks = Vec::new();
        if e.stdin
            && let Some(mut stdin) = process.stdin()
        {
            tasks.push(tokio::spawn(async move {
                let _ = tokio::io::copy(&mut input, &mut stdin).await;
                let _ = stdin.shutdown().await;
            }));
        }
        if let Some(mut stdout) = process.stdout() {
            tasks.push(tokio::spawn(async move {
                let _ = tokio::io::copy(&mut stdout, &mut out).await;
                let _ = out.flush().await;
            }));
        }
        if let Some(mut stderr) = process.stderr() {
            tasks.push(tokio::spawn(async move {
                let _ = tokio::io::copy(&mut stderr, &mut err).await;
                let _ = err.flush().await;
            }));
        }
        if let (Some(mut sizes), Some(mut tx)) = (sizes, process.terminal_size()) {
            tokio::spawn(async move {
                use futures::SinkExt;
                while let Some((width, height)) = sizes.recv().await {
                    if tx.send(TerminalSize { width, height }).await.is_err() {
                        break;
                    }
                }
            });
        }
        let status = match status {
            Some(s) => s.await,
            None => None,
        };
        // Output first, then the verdict: the last bytes are not cut off.
        for t in tasks.into_iter().skip(usize::from(e.stdin)) {
            let _ = t.await;
        }
        process.abort();
        exit_code(status.as_ref())
    }
    .await;
    let said = match &result {
        Ok(code) => format!(
            "exit code {code} (started {started}, ended {})",
            crate::time::now_rfc3339()
        ),
        Err(why) => why.clone(),
    };
    let container = e.container.as_deref().unwrap_or("(default)");
    let plan = format!("container {container}: {}", e.command.join(" "));
    super::audited(
        audit,
        &subject(e),
        "Exec",
        &plan,
        result
            .as_ref()
            .map(|_| said.as_str())
            .map_err(String::as_str),
    )
    .await;
    result
}
