//! `swarmdeck logs`: kubectl's flags, and two targets kubectl does not have —
//! a whole swarm merged by time, and a stream followed to its owner; and
//! `swarmdeck exec`, which finds a stream's owner the same way.

use std::io::{IsTerminal, Write};

use tokio::sync::mpsc;

use super::{CommandError, Outcome, Session, fail, resolve};
use crate::cli::LogsArgs;
use crate::cluster::logs::{self, LogEvent, LogLine, LogOptions, NoteKind};

/// What `logs` reads.
enum Target {
    Pod(String),
    Swarm(crate::domain::swarm::SwarmRef),
    Stream(crate::domain::swarm::SwarmRef, String),
}

/// A Go-style duration as kubectl's `--since` takes it: `5s`, `2m`, `1h30m`.
pub fn parse_since(text: &str) -> Result<i64, String> {
    let bad = || format!("--since {text:?} is not a duration: write it as 30s, 5m, 2h or 1h30m");
    let mut total = 0i64;
    let mut num = String::new();
    let mut any = false;
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            num.push(ch);
            continue;
        }
        let n: i64 = num.parse().map_err(|_| bad())?;
        num.clear();
        total += n * match ch {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        any = true;
    }
    if !num.is_empty() || !any {
        return Err(bad());
    }
    if total <= 0 {
        return Err(format!(
            "--since {text:?} covers no time: give a duration longer than 0s, such as 30s or 5m"
        ));
    }
    Ok(total)
}

/// The swarm of the namespace that has `stream` assigned, and the worker
/// that owns it now.
async fn owner(
    session: &Session,
    stream: &str,
) -> Result<(crate::domain::swarm::SwarmRef, String), CommandError> {
    let swarms = crate::engine::swarm::discover(&session.client, Some(&session.namespace))
        .await
        .map_err(super::engine_err)?;
    let mut having = Vec::new();
    for s in swarms {
        let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(session.client.clone(), &s.namespace);
        if let Ok(Some(cm)) = cms.get_opt(&s.output_config_map).await
            && let Some((worker, _)) = logs::owner_of(&cm, stream)
        {
            having.push((s, worker));
        }
    }
    match having.len() {
        1 => Ok(having.remove(0)),
        0 => fail(format!(
            "no swarm in namespace {} has stream {stream} assigned; `swarmdeck grid -n {}` lists them, or name the swarm: swarmdeck logs swarm/NAME --stream {stream}",
            session.namespace, session.namespace
        )),
        _ => fail(format!(
            "stream {stream} is in several swarms ({}); name one: swarmdeck logs swarm/NAME --stream {stream}",
            having
                .iter()
                .map(|(s, _)| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Where a command's output goes: `to` itself, or through
/// [`crate::sanitize::lines`] when `sanitise` (UTF-8 cut between two chunks
/// is joined first). The task ends once everything written is out.
fn shown<W>(mut to: W, sanitise: bool) -> (tokio::io::DuplexStream, tokio::task::JoinHandle<()>)
where
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (writer, mut reader) = tokio::io::duplex(64 * 1024);
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        let mut held: Vec<u8> = Vec::new();
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if !sanitise {
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
                let _ = to.flush().await;
                continue;
            }
            held.extend_from_slice(&buf[..n]);
            // Keep an incomplete character for the next chunk.
            let keep = match std::str::from_utf8(&held) {
                Ok(_) => 0,
                Err(e) if e.error_len().is_none() => held.len() - e.valid_up_to(),
                Err(_) => 0,
            };
            let tail = held.split_off(held.len() - keep);
            let text = String::from_utf8_lossy(&held).into_owned();
            held = tail;
            if to
                .write_all(crate::sanitize::lines(&text).as_bytes())
                .await
                .is_err()
            {
                return;
            }
            let _ = to.flush().await;
        }
        if !held.is_empty() {
            let text = String::from_utf8_lossy(&held).into_owned();
            let _ = to.write_all(crate::sanitize::lines(&text).as_bytes()).await;
        }
        let _ = to.flush().await;
    });
    (writer, task)
}

/// `swarmdeck exec`: a command in a pod's container, or in the worker that
/// owns a stream now; its output as it comes, its exit code as this
/// command's; audited (`ops::exec`).
pub(super) async fn exec(session: Session, args: crate::cli::ExecArgs) -> Outcome {
    let pod = match (args.target.as_deref(), &args.stream) {
        (None, Some(stream)) => {
            let (_, worker) = owner(&session, stream).await?;
            eprintln!("stream {stream} is on {worker}");
            worker
        }
        (Some(_), Some(_)) => {
            return fail("--stream finds the pod itself: give a pod or --stream, not both");
        }
        (None, None) => return fail("which pod? give POD, task/NAME, or --stream STREAM"),
        (Some(t), None) => pod_of(t, "exec")?,
    };
    let e = crate::ops::exec::Exec {
        namespace: session.namespace.clone(),
        pod,
        container: args.container,
        command: args.command,
        stdin: args.stdin || args.tty,
        tty: args.tty,
    };
    // A terminal's keys go through as typed (raw mode), its size followed.
    let raw = e.tty && std::io::IsTerminal::is_terminal(&std::io::stdin());
    let sizes = if raw {
        crossterm::terminal::enable_raw_mode()
            .map_err(|x| CommandError(format!("cannot put the terminal in raw mode: {x}")))?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        if let Ok(size) = crossterm::terminal::size() {
            let _ = tx.try_send(size);
        }
        if let Ok(mut winch) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        {
            tokio::spawn(async move {
                while winch.recv().await.is_some() {
                    if let Ok(size) = crossterm::terminal::size()
                        && tx.send(size).await.is_err()
                    {
                        break;
                    }
                }
            });
        }
        Some(rx)
    } else {
        None
    };
    // Without -t the output is text, and a terminal gets it through the
    // one sanitising pass (a container's bytes do not drive it); with -t
    // the operator asked for the container's terminal itself.
    let (out, out_done) = shown(
        tokio::io::stdout(),
        !e.tty && std::io::stdout().is_terminal(),
    );
    let (err, err_done) = shown(
        tokio::io::stderr(),
        !e.tty && std::io::stderr().is_terminal(),
    );
    let result = crate::ops::exec::run(
        &session.client,
        &session.audit,
        &e,
        tokio::io::stdin(),
        out,
        err,
        sizes,
    )
    .await;
    let _ = out_done.await;
    let _ = err_done.await;
    if raw {
        let _ = crossterm::terminal::disable_raw_mode();
    }
    match result {
        Ok(code) => {
            super::REMOTE_EXIT.store(code, std::sync::atomic::Ordering::Relaxed);
            Ok(String::new())
        }
        Err(why) if why.contains("Upgrade request required") => fail(format!(
            "exec in pod {}/{}: the connection could not be upgraded to a WebSocket (the in-process embedded cluster of --embedded cannot be): serve it with `swarmdeck embedded serve` and use the kubeconfig it writes",
            e.namespace, e.pod
        )),
        Err(why) => fail(format!("exec in pod {}/{}: {why}", e.namespace, e.pod)),
    }
}

/// A pod named as exec and port-forward take it: POD, pod/NAME, task/NAME.
fn pod_of(target: &str, verb: &str) -> Result<String, CommandError> {
    match target.split_once('/') {
        Some(("pod" | "pods" | "po", n)) => Ok(n.to_owned()),
        Some(("task" | "tasks", n)) => Ok(crate::domain::task::task_pod_name(n)),
        Some((other, _)) => fail(format!(
            "{verb} works on a pod: give POD, pod/NAME or task/NAME, not `{other}`"
        )),
        None => Ok(target.to_owned()),
    }
}

/// Where a forward's connections go: a pod, or a stream's owner.
enum Forwarded<'a> {
    Pod(String),
    Stream(StreamOwner<'a>),
}

impl crate::ops::portforward::Target for Forwarded<'_> {
    async fn pod(&self) -> Result<String, String> {
        match self {
            Forwarded::Pod(p) => Ok(p.clone()),
            Forwarded::Stream(s) => s.pod().await,
        }
    }
}

/// Whichever worker owns a stream at each connection.
struct StreamOwner<'a> {
    session: &'a Session,
    stream: String,
}

impl StreamOwner<'_> {
    async fn pod(&self) -> Result<String, String> {
        owner(self.session, &self.stream)
            .await
            .map(|(_, worker)| worker)
            .map_err(|e| e.0)
    }
}

/// `swarmdeck port-forward`: 127.0.0.1:LOCAL to REMOTE of a pod, or of the
/// worker that owns a stream (found again for each connection), until
/// Ctrl-C or SIGTERM; audited when it opens and when it closes.
pub(super) async fn port_forward(session: Session, args: crate::cli::PortForwardArgs) -> Outcome {
    let (target, ports) = match args.words.as_slice() {
        [ports] => (None, ports.clone()),
        [target, ports] => (Some(target.clone()), ports.clone()),
        _ => return fail("give [POD] [LOCAL]:REMOTE"),
    };
    let bad = || {
        CommandError(format!(
            "`{}` is not a port mapping: give LOCAL:REMOTE (8080:8080), REMOTE, or :REMOTE for a free local port",
            ports
        ))
    };
    let (local, remote) = match ports.split_once(':') {
        Some((l, r)) => (l, r),
        None => (ports.as_str(), ports.as_str()),
    };
    let remote: u16 = remote.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?;
    let local: u16 = if local.is_empty() {
        0
    } else {
        local.parse().map_err(|_| bad())?
    };
    let pod = match (target.as_deref(), &args.stream) {
        (None, Some(stream)) => owner(&session, stream).await?.1,
        (Some(t), None) => pod_of(t, "port-forward")?,
        (Some(_), Some(_)) => {
            return fail("--stream finds the pod itself: give a pod or --stream, not both");
        }
        (None, None) => return fail("which pod? give POD, task/NAME, or --stream STREAM"),
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", local))
        .await
        .map_err(|e| {
            CommandError(format!(
                "cannot listen on 127.0.0.1:{local}: {e}; give another local port"
            ))
        })?;
    let bound = listener
        .local_addr()
        .map_err(|e| CommandError(e.to_string()))?
        .port();
    let exit_after = args.exit_after;
    let stop = async move {
        let timer = async {
            match exit_after {
                Some(s) => tokio::time::sleep(std::time::Duration::from_secs(s)).await,
                None => std::future::pending().await,
            }
        };
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term {
            Ok(mut t) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = t.recv() => {}
                    () = timer => {}
                }
            }
            Err(_) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    () = timer => {}
                }
            }
        }
    };
    let say = |line: String| eprintln!("{}", crate::sanitize::line(&line));
    println!(
        "Forwarding from 127.0.0.1:{bound} -> {remote} ({}/{pod})",
        session.namespace
    );
    {
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
    let target = match &args.stream {
        Some(stream) => Forwarded::Stream(StreamOwner {
            session: &session,
            stream: stream.clone(),
        }),
        None => Forwarded::Pod(pod),
    };
    let (client, audit) = (&session.client, &session.audit);
    let result = crate::ops::portforward::forward(
        client,
        audit,
        &session.namespace,
        &target,
        listener,
        remote,
        say,
        stop,
    )
    .await;
    result.map(|()| String::new()).map_err(|why| {
        CommandError(format!(
            "port-forward in namespace {}: {why}",
            session.namespace
        ))
    })
}

async fn target(session: &Session, args: &LogsArgs) -> Result<Target, CommandError> {
    let raw = args.target.as_deref();
    let (kind, name) = match raw.and_then(|t| t.split_once('/')) {
        Some((k, n)) => (k, n),
        None => ("pod", raw.unwrap_or("")),
    };
    match (kind, &args.stream) {
        ("sts" | "statefulset" | "statefulsets" | "swarm" | "swarms", stream) => {
            let swarm = resolve(session, name).await?;
            Ok(match stream {
                Some(s) => Target::Stream(swarm, s.clone()),
                None => Target::Swarm(swarm),
            })
        }
        ("pod" | "pods" | "po", None) if !name.is_empty() => Ok(Target::Pod(name.to_owned())),
        ("task" | "tasks", None) => Ok(Target::Pod(crate::domain::task::task_pod_name(name))),
        ("pod" | "pods" | "po", Some(stream)) if name.is_empty() => {
            let (swarm, _) = owner(session, stream).await?;
            Ok(Target::Stream(swarm, stream.clone()))
        }
        (_, Some(_)) => fail(format!(
            "--stream follows a swarm's stream: give swarm/NAME (or no target), not {}",
            raw.unwrap_or_default()
        )),
        ("pod" | "pods" | "po", None) => {
            fail("which logs? give a pod, sts/NAME, swarm/NAME, task/NAME, or --stream STREAM")
        }
        (other, None) => fail(format!(
            "logs reads pods, swarms (sts/NAME, swarm/NAME) and Tasks (task/NAME), not `{other}`"
        )),
    }
}

/// Write lines to standard output; false once it is closed (`| head`).
fn emit(out: &mut impl Write, text: &str) -> bool {
    out.write_all(text.as_bytes()).is_ok()
}

/// One line as kubectl prints it: `[pod/NAME/CONTAINER] ` first with
/// `--prefix`, then the timestamp with `--timestamps`.
fn format_line(line: &LogLine, prefix: Option<&str>, timestamps: bool) -> String {
    let mut s = String::new();
    if let Some(container) = prefix {
        s.push_str(&format!("[pod/{}/{container}] ", line.pod));
    }
    if timestamps && !line.stamp.is_empty() {
        s.push_str(&line.stamp);
        s.push(' ');
    }
    s.push_str(&line.text);
    s.push('\n');
    s
}

pub(super) async fn logs(session: Session, args: LogsArgs) -> Outcome {
    if args.tail < -1 {
        return fail(format!(
            "--tail {}: give a count of lines, or -1 for all",
            args.tail
        ));
    }
    let since_seconds = args
        .since
        .as_deref()
        .map(parse_since)
        .transpose()
        .map_err(CommandError)?;
    let target = target(&session, &args).await?;
    let opts = LogOptions {
        container: args.container.clone(),
        follow: args.follow,
        previous: args.previous,
        tail: (args.tail >= 0).then_some(args.tail),
        since_seconds,
    };
    let (tx, mut rx) = mpsc::channel(4096);
    let client = session.client.clone();
    let ns = session.namespace.clone();
    let several = matches!(target, Target::Swarm(_));
    let waiting_for = match &target {
        Target::Swarm(swarm) => Some(
            logs::swarm_pods(&session.client, swarm)
                .await
                .map_err(CommandError)?
                .len(),
        ),
        _ => None,
    };
    let prefix = args.prefix.unwrap_or(several);
    let task = match target {
        Target::Pod(pod) => tokio::spawn(logs::follow_pod(client, ns, pod, opts, tx)),
        Target::Swarm(swarm) => tokio::spawn(logs::follow_swarm(client, swarm, opts, tx)),
        Target::Stream(swarm, stream) => {
            tokio::spawn(logs::follow_stream(client, swarm, stream, opts, tx))
        }
    };
    let mut out = std::io::stdout().lock();
    let mut errors = Vec::new();
    let mut lines = 0usize;
    // Merged pods: their first batches arrive one pod after the other, so
    // hold lines until every pod has caught up (or the read ends), then
    // print them in time order; later lines are printed as they come.
    let mut held: std::collections::VecDeque<LogLine> = Default::default();
    let mut holding = several;
    // Pods whose first batch is in (or that will send none).
    let mut caught = std::collections::HashSet::new();
    // Each pod's container, for the prefix.
    let mut containers: std::collections::HashMap<String, String> = Default::default();
    // To a terminal a log line is shown, never obeyed: its control
    // characters become visible stand-ins (`--raw` or a pipe: as written).
    let shown = std::io::IsTerminal::is_terminal(&std::io::stdout()) && !args.raw;
    let text = |l: &LogLine, containers: &std::collections::HashMap<String, String>| {
        let container = containers.get(&l.pod).map_or("", String::as_str);
        let line = format_line(l, prefix.then_some(container), args.timestamps);
        if shown {
            crate::sanitize::lines(&line).into_owned()
        } else {
            line
        }
    };
    let flush_held = |held: &mut std::collections::VecDeque<LogLine>,
                      out: &mut std::io::StdoutLock,
                      containers: &std::collections::HashMap<String, String>| {
        for l in held.drain(..) {
            if !emit(out, &text(&l, containers)) {
                return false;
            }
        }
        let _ = out.flush();
        true
    };
    while let Some(ev) = rx.recv().await {
        match ev {
            LogEvent::Line(l) => {
                lines += 1;
                if holding {
                    logs::insert_by_time(&mut held, l);
                } else if !emit(&mut out, &text(&l, &containers)) {
                    task.abort();
                    return Ok(String::new());
                }
            }
            // A pod's first batch is in, or it will send none.
            LogEvent::Caught { ref pod }
            | LogEvent::Note {
                kind: NoteKind::Error,
                ref pod,
                ..
            } => {
                if let LogEvent::Note { text, .. } = &ev {
                    errors.push(text.clone());
                }
                caught.insert(pod.clone());
                if holding && args.follow && waiting_for.is_some_and(|n| caught.len() >= n) {
                    holding = false;
                    if !flush_held(&mut held, &mut out, &containers) {
                        task.abort();
                        return Ok(String::new());
                    }
                }
            }
            LogEvent::Note {
                kind: NoteKind::Switched,
                text,
                ..
            } => {
                // A stream's owner is part of what its log says.
                if !emit(&mut out, &format!("--- {}\n", crate::sanitize::line(&text))) {
                    task.abort();
                    return Ok(String::new());
                }
            }
            LogEvent::Note { text, .. } => eprintln!("--- {}", crate::sanitize::line(&text)),
            LogEvent::Containers { pod, shown, .. } => {
                containers.insert(pod, shown);
            }
        }
        if !holding {
            let _ = out.flush();
        }
    }
    if !flush_held(&mut held, &mut out, &containers) {
        return Ok(String::new());
    }
    let _ = out.flush();
    match errors.as_slice() {
        [] => Ok(String::new()),
        [one] if lines == 0 => fail(one.clone()),
        many => {
            for e in many {
                eprintln!("error: {}", crate::sanitize::line(e));
            }
            if lines == 0 {
                fail(format!("{} pods could not be read (above)", many.len()))
            } else {
                Ok(String::new())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_go_durations() {
        assert_eq!(parse_since("5s"), Ok(5));
        assert_eq!(parse_since("2m"), Ok(120));
        assert_eq!(parse_since("1h30m"), Ok(5400));
        for bad in ["", "5", "m", "5x", "-5s", "0s"] {
            let e = parse_since(bad).unwrap_err();
            assert!(e.contains("--since") && e.contains("30s"), "{bad}: {e}");
        }
        assert!(parse_since("0s").unwrap_err().contains("longer than 0s"));
    }
}
