//! Reading logs (ARCHITECTURE 7): one pod's container followed across breaks and
//! restarts, a swarm's workers merged, and a stream followed to whichever
//! worker owns it. Shared by `swarmdeck logs` and the console's log view;
//! every request is a GET of `pods/log` (and of the pods and ConfigMaps that
//! say where to read), so logs work in read-only mode.

use crate::time::now_ms;
use std::collections::HashMap;
use std::time::Duration;

use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, LogParams};
use kube::runtime::watcher;
use tokio::sync::mpsc;

use crate::domain::swarm::SwarmRef;

/// What to read, in kubectl's terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub container: Option<String>,
    pub follow: bool,
    pub previous: bool,
    /// The last N lines first (`None`: all).
    pub tail: Option<i64>,
    pub since_seconds: Option<i64>,
}

/// One line of a container's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When the container wrote it (ms since the epoch; 0 if the server sent
    /// no timestamp).
    pub at_ms: i64,
    /// The timestamp as the server wrote it.
    pub stamp: String,
    /// The pod it came from.
    pub pod: String,
    pub text: String,
}

/// Why a marker line was drawn between log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    /// Waiting for a container to start, or for a stream's owner.
    Waiting,
    /// The container exited or the pod went: nothing more comes from it
    /// until it starts again.
    Ended,
    /// The container started again; its new lines follow.
    Resumed,
    /// A stream moved to another worker.
    Switched,
    /// The server refused (the line says why and what to do).
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEvent {
    Line(LogLine),
    Note {
        kind: NoteKind,
        pod: String,
        at_ms: i64,
        text: String,
    },
    /// A pod's first batch (its tail) is complete.
    Caught {
        pod: String,
    },
    /// The pod's containers, and the one being read.
    Containers {
        pod: String,
        names: Vec<String>,
        shown: String,
    },
}

impl LogEvent {
    /// About how many bytes it holds (for a buffer kept within a budget).
    pub fn bytes(&self) -> usize {
        match self {
            LogEvent::Line(l) => l.text.len() + l.stamp.len() + l.pod.len() + 32,
            LogEvent::Note { pod, text, .. } => pod.len() + text.len() + 32,
            _ => 32,
        }
    }

    /// When it happened (ms since the epoch; 0 for bookkeeping events).
    pub fn at_ms(&self) -> i64 {
        match self {
            LogEvent::Line(l) => l.at_ms,
            LogEvent::Note { at_ms, .. } => *at_ms,
            LogEvent::Caught { .. } | LogEvent::Containers { .. } => 0,
        }
    }

    /// The pod it is about.
    pub fn pod(&self) -> &str {
        match self {
            LogEvent::Line(l) => &l.pod,
            LogEvent::Note { pod, .. }
            | LogEvent::Caught { pod }
            | LogEvent::Containers { pod, .. } => pod,
        }
    }

    /// As a log view shows (and saves) it: the pod first when several are
    /// merged, the timestamp when asked; a note as a marker line.
    pub fn shown_text(&self, timestamps: bool, prefix: bool) -> String {
        match self {
            LogEvent::Line(l) => {
                let mut s = String::new();
                if prefix {
                    s.push_str(&l.pod);
                    s.push(' ');
                }
                if timestamps && !l.stamp.is_empty() {
                    s.push_str(&l.stamp);
                    s.push(' ');
                }
                s.push_str(&l.text);
                s
            }
            LogEvent::Note { text, .. } => format!("--- {text} ---"),
            LogEvent::Caught { .. } | LogEvent::Containers { .. } => String::new(),
        }
    }
}

/// A timestamped line from the server (`--timestamps`), split.
pub fn split_stamp(raw: &str) -> (i64, &str, &str) {
    if let Some((stamp, text)) = raw.split_once(' ')
        && let Some(ms) = crate::time::parse_rfc3339(stamp)
    {
        return (ms, stamp, text);
    }
    (0, "", raw)
}

/// A failed request's code (0: no answer) and its line for the operator.
fn api_message(e: &kube::Error) -> (u16, String) {
    let code = match e {
        kube::Error::Api(s) => s.code,
        _ => 0,
    };
    (code, crate::cluster::explain(e))
}

fn note(kind: NoteKind, pod: &str, text: String) -> LogEvent {
    LogEvent::Note {
        kind,
        pod: pod.to_owned(),
        at_ms: now_ms(),
        text,
    }
}

/// The server refused: the reader says why (in the operator's words) and stops.
async fn refused(tx: &mpsc::Sender<LogEvent>, namespace: &str, pod: &str, why: &str) {
    let _ = tx
        .send(note(
            NoteKind::Error,
            pod,
            format!("pod {namespace}/{pod}: {why}"),
        ))
        .await;
}

/// The pod went: a follower says so and stops.
async fn said_gone(tx: &mpsc::Sender<LogEvent>, pod: &str) {
    let _ = tx
        .send(note(NoteKind::Ended, pod, format!("pod {pod} was deleted")))
        .await;
}

/// One container as its pod reports it: when its running instance
/// started (None: not running), and why it is not running.
fn container_state(pod: &Pod, container: &str) -> (Option<String>, Option<String>) {
    let st = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.name == container));
    let Some(state) = st.and_then(|s| s.state.as_ref()) else {
        return (None, Some("ContainerCreating".into()));
    };
    if let Some(r) = &state.running {
        let started = r
            .started_at
            .as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_default();
        return (Some(started), None);
    }
    let why = if let Some(t) = &state.terminated {
        format!(
            "exited with code {}{}",
            t.exit_code,
            t.reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        )
    } else {
        state
            .waiting
            .as_ref()
            .and_then(|w| w.reason.clone())
            .unwrap_or_else(|| "waiting".into())
    };
    (None, Some(why))
}

/// The container a request means: the one named; else the pod's
/// `kubectl.kubernetes.io/default-container`, else its first (as kubectl
/// does, saying so when there were several). A name the pod does not have
/// is refused with the pod's containers listed.
pub fn pick_container(pod: &Pod, asked: Option<&str>) -> Result<(String, Option<String>), String> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let names: Vec<&str> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.iter().map(|c| c.name.as_str()).collect())
        .unwrap_or_default();
    match asked {
        Some(c) if names.contains(&c) => Ok((c.to_owned(), None)),
        Some(c) => Err(format!(
            "pod {name} has no container {c}; its containers: {} (pick one with -c)",
            names.join(", ")
        )),
        None if names.len() <= 1 => {
            Ok((names.first().copied().unwrap_or_default().to_owned(), None))
        }
        None => {
            let default = pod
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("kubectl.kubernetes.io/default-container"))
                .map(String::as_str)
                .filter(|d| names.contains(d))
                .unwrap_or(names[0]);
            Ok((
                default.to_owned(),
                Some(format!(
                    "Defaulted container \"{default}\" out of: {}",
                    names.join(", ")
                )),
            ))
        }
    }
}

/// Lines already passed on, to drop the ones a reconnect from the last
/// second sends again.
#[derive(Default)]
struct Seen {
    last_ms: i64,
    /// The texts passed on with the last timestamp.
    at_last: Vec<String>,
    /// Replaying from `last_ms`: the texts still to be skipped at it.
    skip: Option<(i64, Vec<String>)>,
}

impl Seen {
    /// A reconnect from the last line's second begins.
    fn replay(&mut self) {
        self.skip = Some((self.last_ms, self.at_last.clone()));
    }

    /// Whether a line is new; remembers it.
    fn fresh(&mut self, at_ms: i64, text: &str) -> bool {
        if let Some((ms, texts)) = self.skip.as_mut() {
            if at_ms < *ms {
                return false;
            }
            if at_ms == *ms
                && let Some(i) = texts.iter().position(|t| t == text)
            {
                texts.remove(i);
                return false;
            }
            self.skip = None;
        }
        if at_ms != self.last_ms {
            self.last_ms = at_ms;
            self.at_last.clear();
        }
        self.at_last.push(text.to_owned());
        true
    }
}

/// Say once that a pod's first batch is complete (`first` goes false).
/// False when the view is gone.
async fn caught_up(first: &mut bool, tx: &mpsc::Sender<LogEvent>, pod: &str) -> bool {
    if !std::mem::take(first) {
        return true;
    }
    tx.send(LogEvent::Caught {
        pod: pod.to_owned(),
    })
    .await
    .is_ok()
}

/// Read one pod's container and send its lines (and what happens to it) to
/// `tx` until the log ends (not following), the pod goes, or `tx` closes.
/// Following: a broken stream is resumed from the last line's second
/// without repeating lines, and a container that exits is waited for and
/// read again when it restarts.
pub async fn follow_pod(
    client: kube::Client,
    namespace: String,
    pod: String,
    opts: LogOptions,
    tx: mpsc::Sender<LogEvent>,
) {
    let pods: Api<Pod> = Api::namespaced(client, &namespace);
    let object = match pods.get(&pod).await {
        Ok(p) => p,
        Err(e) => {
            let (_, m) = api_message(&e);
            return refused(&tx, &namespace, &pod, &m).await;
        }
    };
    let container = match pick_container(&object, opts.container.as_deref()) {
        Ok((c, said)) => {
            let names = object
                .spec
                .as_ref()
                .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
                .unwrap_or_default();
            let shown = LogEvent::Containers {
                pod: pod.clone(),
                names,
                shown: c.clone(),
            };
            if tx.send(shown).await.is_err() {
                return;
            }
            if let Some(said) = said
                && tx.send(note(NoteKind::Waiting, &pod, said)).await.is_err()
            {
                return;
            }
            c
        }
        Err(m) => {
            let _ = tx.send(note(NoteKind::Error, &pod, m)).await;
            return;
        }
    };
    // The instance being read (its start), to tell a restart from a break.
    let (mut instance, _) = container_state(&object, &container);
    let mut seen = Seen::default();
    // What to ask for next: the tail first, then from the last line's second.
    let mut resume: Option<i64> = None;
    let mut first = true;
    let mut said_waiting = false;
    let mut backoff = 500u64;
    loop {
        let mut lp = LogParams {
            container: Some(container.clone()),
            follow: opts.follow && !opts.previous,
            previous: opts.previous,
            timestamps: true,
            ..LogParams::default()
        };
        match resume {
            Some(ms) => {
                lp.since_time =
                    k8s_openapi::jiff::Timestamp::from_millisecond(ms / 1000 * 1000).ok();
            }
            None if first => {
                lp.tail_lines = opts.tail;
                lp.since_seconds = opts.since_seconds;
            }
            None => {}
        }
        if resume.is_some() {
            seen.replay();
        }
        let reader = match pods.log_stream(&pod, &lp).await {
            Ok(r) => r,
            Err(e) => {
                let (code, m) = api_message(&e);
                if code == 404 {
                    let _ = tx
                        .send(note(NoteKind::Ended, &pod, format!("pod {pod} is gone")))
                        .await;
                    return;
                }
                if code == 400 && m.contains("is waiting to start") && opts.follow && !opts.previous
                {
                    if !said_waiting {
                        said_waiting = true;
                        if !caught_up(&mut first, &tx, &pod).await {
                            return;
                        }
                        if tx
                            .send(note(
                                NoteKind::Waiting,
                                &pod,
                                format!("no logs yet: {m}; waiting"),
                            ))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                } else if code == 400 || code == 403 || code == 422 || !opts.follow {
                    return refused(&tx, &namespace, &pod, &m).await;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(backoff)) => {}
                    _ = tx.closed() => return,
                }
                backoff = (backoff * 2).min(5000);
                continue;
            }
        };
        backoff = 500;
        let mut lines = LineReader::new(reader);
        let mut broke = false;
        loop {
            // Following, the tail is over when the server pauses: say so
            // (the view stops saying "loading").
            let quiet = tokio::time::sleep(Duration::from_millis(150));
            let next = tokio::select! {
                l = lines.next_line() => l,
                _ = tx.closed() => return,
                _ = quiet, if first => {
                    if !caught_up(&mut first, &tx, &pod).await {
                        return;
                    }
                    continue;
                }
            };
            match next {
                Ok(Some(raw)) => {
                    let (at_ms, stamp, text) = split_stamp(&raw);
                    if !seen.fresh(at_ms, text) {
                        continue;
                    }
                    let line = LogLine {
                        at_ms,
                        stamp: stamp.to_owned(),
                        pod: pod.clone(),
                        text: text.to_owned(),
                    };
                    if tx.send(LogEvent::Line(line)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    broke = true;
                    break;
                }
            }
        }
        if !caught_up(&mut first, &tx, &pod).await {
            return;
        }
        if !opts.follow || opts.previous {
            return;
        }
        // The stream ended: a break, the container's exit, or the pod's end.
        let object = match pods.get(&pod).await {
            Ok(p) => p,
            Err(e) if api_message(&e).0 == 404 => {
                return said_gone(&tx, &pod).await;
            }
            Err(_) => {
                resume = Some(seen.last_ms);
                continue;
            }
        };
        let (now, why) = container_state(&object, &container);
        if now.is_some() && now == instance {
            // A break, or the server closed a healthy stream (a timeout):
            // read on from the last line, after a breath.
            tracing::debug!(
                pod,
                broke,
                "log stream ended while the container runs; resuming"
            );
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = tx.closed() => return,
            }
            resume = Some(seen.last_ms);
            continue;
        }
        if now.is_none() {
            let why = why.unwrap_or_default();
            // Never started (a pod not yet scheduled is answered with no
            // content), or exited.
            let said = if instance.is_none() && seen.last_ms == 0 {
                note(
                    NoteKind::Waiting,
                    &pod,
                    format!("no logs yet: container {container} has not started ({why}); waiting"),
                )
            } else {
                note(
                    NoteKind::Ended,
                    &pod,
                    format!("container {container} {why}; waiting for it to restart"),
                )
            };
            if tx.send(said).await.is_err() {
                return;
            }
            // Wait for the next instance (or the pod's end).
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = tx.closed() => return,
                }
                match pods.get(&pod).await {
                    Ok(p) => {
                        let (started, _) = container_state(&p, &container);
                        if started.is_some() && started != instance {
                            instance = started;
                            break;
                        }
                    }
                    Err(e) if api_message(&e).0 == 404 => {
                        return said_gone(&tx, &pod).await;
                    }
                    Err(_) => {}
                }
            }
        } else {
            instance = now;
        }
        if tx
            .send(note(
                NoteKind::Resumed,
                &pod,
                format!("container {container} started again"),
            ))
            .await
            .is_err()
        {
            return;
        }
        // A new instance: all of its lines, none of the old ones.
        resume = None;
        seen = Seen::default();
    }
}

/// A StatefulSet worker followed as [`follow_pod`], and again each time its
/// pod is recreated under the same name (a restart-pod refresh): the new
/// pod's lines from its start.
pub async fn follow_worker(
    client: kube::Client,
    namespace: String,
    pod: String,
    opts: LogOptions,
    tx: mpsc::Sender<LogEvent>,
) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let mut opts = opts;
    let mut said = false;
    loop {
        // A worker granted streams before its pod exists (a scale-up), or
        // between two pods: wait for it.
        loop {
            match pods.get_opt(&pod).await {
                Ok(Some(p)) if p.metadata.deletion_timestamp.is_none() => break,
                Ok(_) if !said => {
                    said = true;
                    if tx
                        .send(note(
                            NoteKind::Waiting,
                            &pod,
                            format!("waiting for pod {pod} to be created"),
                        ))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => return refused(&tx, &namespace, &pod, &api_message(&e).1).await,
            }
            if !opts.follow {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = tx.closed() => return,
            }
        }
        follow_pod(
            client.clone(),
            namespace.clone(),
            pod.clone(),
            opts.clone(),
            tx.clone(),
        )
        .await;
        if !opts.follow || opts.previous || tx.is_closed() {
            return;
        }
        // The worker's next pod: everything it writes.
        said = true;
        opts = LogOptions {
            tail: None,
            since_seconds: None,
            ..opts
        };
    }
}

/// A swarm's worker pods now (by its `app=` label), in worker order.
pub async fn swarm_pods(client: &kube::Client, swarm: &SwarmRef) -> Result<Vec<String>, String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &swarm.namespace);
    let lp = kube::api::ListParams::default().labels(&format!("app={}", swarm.watch_label));
    let mut names: Vec<String> = pods
        .list(&lp)
        .await
        .map_err(|e| {
            format!(
                "pods app={} in {}: {}",
                swarm.watch_label,
                swarm.namespace,
                api_message(&e).1
            )
        })?
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    names.sort_by_key(|n| worker_order(n));
    Ok(names)
}

/// `sts-10` after `sts-9`.
pub fn worker_order(name: &str) -> (String, u64) {
    match name.rsplit_once('-') {
        Some((base, n)) if n.parse::<u64>().is_ok() => (base.to_owned(), n.parse().unwrap_or(0)),
        _ => (name.to_owned(), 0),
    }
}

/// Every worker of a swarm, each followed as [`follow_pod`]; following, a
/// worker that appears (a scale-up, a pod recreated) is read too.
pub async fn follow_swarm(
    client: kube::Client,
    swarm: SwarmRef,
    opts: LogOptions,
    tx: mpsc::Sender<LogEvent>,
) {
    let mut running: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let start = |name: &str,
                 running: &mut HashMap<String, tokio::task::JoinHandle<()>>,
                 opts: &LogOptions| {
        if running.get(name).is_some_and(|h| !h.is_finished()) {
            return;
        }
        let task = tokio::spawn(follow_pod(
            client.clone(),
            swarm.namespace.clone(),
            name.to_owned(),
            opts.clone(),
            tx.clone(),
        ));
        running.insert(name.to_owned(), task);
    };
    match swarm_pods(&client, &swarm).await {
        Ok(names) => {
            for n in &names {
                start(n, &mut running, &opts);
            }
        }
        Err(m) => {
            let _ = tx.send(note(NoteKind::Error, &swarm.name, m)).await;
            return;
        }
    }
    if !opts.follow || opts.previous {
        for (_, h) in running.drain() {
            let _ = h.await;
        }
        return;
    }
    // Later workers: everything they wrote since they started.
    let later = LogOptions {
        tail: None,
        since_seconds: None,
        ..opts.clone()
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), &swarm.namespace);
    let cfg = watcher::Config::default().labels(&format!("app={}", swarm.watch_label));
    let mut events = watcher(pods, cfg).boxed();
    loop {
        let ev = tokio::select! {
            ev = events.next() => ev,
            _ = tx.closed() => break,
        };
        match ev {
            Some(Ok(watcher::Event::Apply(p))) | Some(Ok(watcher::Event::InitApply(p))) => {
                if let Some(name) = p.metadata.name.as_deref()
                    && p.metadata.deletion_timestamp.is_none()
                {
                    start(name, &mut running, &later);
                }
            }
            Some(Ok(_)) => {}
            Some(Err(_)) => tokio::time::sleep(Duration::from_secs(1)).await,
            None => break,
        }
    }
    for (_, h) in running.drain() {
        h.abort();
    }
}

/// Who owns a stream in an assignment ConfigMap: the worker and the
/// assignment's version for it.
pub fn owner_of(cm: &ConfigMap, stream: &str) -> Option<(String, u64)> {
    let text = cm.data.as_ref()?.get(crate::domain::swarm::CONFIG_KEY)?;
    let cfg = crate::domain::assignment::WorkerConfig::parse(text).ok()?;
    cfg.workloads
        .iter()
        .find(|(_, e)| e.jobs.iter().any(|j| j == stream))
        .map(|(w, e)| (w.clone(), e.version))
}

/// The logs of whichever worker owns `stream` now: when the assignment
/// moves it, a `Switched` note ("stream:tof-0 moved swarm-worker-1 →
/// swarm-worker-2, v7") and the new owner's lines from then on.
pub async fn follow_stream(
    client: kube::Client,
    swarm: SwarmRef,
    stream: String,
    opts: LogOptions,
    tx: mpsc::Sender<LogEvent>,
) {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &swarm.namespace);
    let cfg =
        watcher::Config::default().fields(&format!("metadata.name={}", swarm.output_config_map));
    let mut events = watcher(cms.clone(), cfg).boxed();
    let mut owner: Option<(String, u64)> = None;
    let mut released_by: Option<String> = None;
    let mut reading: Option<tokio::task::JoinHandle<()>> = None;
    let mut first = true;
    let initial = cms.get_opt(&swarm.output_config_map).await;
    let mut pending: Vec<ConfigMap> = match initial {
        Ok(Some(cm)) => vec![cm],
        Ok(None) => {
            let _ = tx
                .send(note(
                    NoteKind::Error,
                    &swarm.name,
                    format!(
                        "swarm {} has no assignment yet (ConfigMap {}/{} is missing)",
                        swarm.name, swarm.namespace, swarm.output_config_map
                    ),
                ))
                .await;
            return;
        }
        Err(e) => {
            let _ = tx
                .send(note(NoteKind::Error, &swarm.name, api_message(&e).1))
                .await;
            return;
        }
    };
    loop {
        for cm in pending.drain(..) {
            let now = owner_of(&cm, &stream);
            if now.as_ref().map(|o| &o.0) == owner.as_ref().map(|o| &o.0) && !first {
                owner = now;
                continue;
            }
            if let Some(h) = reading.take() {
                h.abort();
            }
            let text = match (&owner, &now) {
                (_, None) if first => format!(
                    "{stream} has no owner in swarm {}; waiting for one",
                    swarm.name
                ),
                (Some((from, _)), None) => {
                    format!("{stream} released by {from}; waiting for its new owner")
                }
                (None, Some((to, v))) if first => format!("{stream} is on {to}, v{v}"),
                // Released by one worker, then granted to another (a
                // two-phase handoff): one move.
                (None, Some((to, v))) => match &released_by {
                    Some(from) if from != to => format!("{stream} moved {from} → {to}, v{v}"),
                    _ => format!("{stream} granted to {to}, v{v}"),
                },
                (Some((from, _)), Some((to, v))) => format!("{stream} moved {from} → {to}, v{v}"),
                (None, None) => continue,
            };
            released_by = match (&owner, &now) {
                (Some((from, _)), None) => Some(from.clone()),
                _ => None,
            };
            let kind = if now.is_some() {
                NoteKind::Switched
            } else {
                NoteKind::Waiting
            };
            if tx.send(note(kind, &stream, text)).await.is_err() {
                return;
            }
            if let Some((to, _)) = &now {
                let o = if first {
                    opts.clone()
                } else {
                    // From the move on (the server's clock decides "since").
                    LogOptions {
                        tail: None,
                        since_seconds: Some(2),
                        ..opts.clone()
                    }
                };
                let task = tokio::spawn(follow_worker(
                    client.clone(),
                    swarm.namespace.clone(),
                    to.clone(),
                    o,
                    tx.clone(),
                ));
                if !opts.follow {
                    let _ = task.await;
                    return;
                }
                reading = Some(task);
            } else if !opts.follow {
                return;
            }
            owner = now;
            first = false;
        }
        let ev = tokio::select! {
            ev = events.next() => ev,
            _ = tx.closed() => break,
        };
        match ev {
            Some(Ok(watcher::Event::Apply(cm))) | Some(Ok(watcher::Event::InitApply(cm))) => {
                pending.push(cm)
            }
            Some(Ok(_)) => {}
            Some(Err(_)) => tokio::time::sleep(Duration::from_secs(1)).await,
            None => break,
        }
    }
    if let Some(h) = reading.take() {
        h.abort();
    }
}

/// Merge lines from several pods by time: a line older than the newest one
/// placed goes where its time says (the first batches of many workers
/// arrive one pod after the other).
pub fn insert_by_time(buf: &mut std::collections::VecDeque<LogLine>, line: LogLine) {
    let at = buf.partition_point(|l| l.at_ms <= line.at_ms);
    if at == buf.len() {
        buf.push_back(line);
    } else {
        buf.insert(at, line);
    }
}

/// The most bytes of one log line kept: a container can write a line of
/// any length, and every line is held in a buffer and drawn.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Lines of a container's log, bounded and decoded whatever the bytes: a
/// line past [`MAX_LINE_BYTES`] keeps its start and says how much was cut,
/// bytes that are not UTF-8 are shown as `�` and the stream goes on.
/// Cancel-safe: a line half read stays here until the rest arrives.
pub struct LineReader<R> {
    reader: R,
    kept: Vec<u8>,
    cut: usize,
}

impl<R: futures::AsyncBufRead + Unpin> LineReader<R> {
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            kept: Vec::new(),
            cut: 0,
        }
    }

    /// The next line without its end, or None at the end of the stream.
    pub async fn next_line(&mut self) -> std::io::Result<Option<String>> {
        loop {
            let buf = self.reader.fill_buf().await?;
            if buf.is_empty() {
                let any = !self.kept.is_empty() || self.cut > 0;
                return Ok(any.then(|| self.finish()));
            }
            let end = buf.iter().position(|b| *b == b'\n');
            let chunk = &buf[..end.unwrap_or(buf.len())];
            let take = chunk.len().min(MAX_LINE_BYTES - self.kept.len());
            self.kept.extend_from_slice(&chunk[..take]);
            self.cut += chunk.len() - take;
            let consumed = end.map_or(buf.len(), |i| i + 1);
            self.reader.consume_unpin(consumed);
            if end.is_some() {
                return Ok(Some(self.finish()));
            }
        }
    }

    fn finish(&mut self) -> String {
        if self.kept.last() == Some(&b'\r') && self.cut == 0 {
            self.kept.pop();
        }
        let mut line = String::from_utf8_lossy(&self.kept).into_owned();
        if self.cut > 0 {
            line.push_str(&format!("…[{} bytes cut]", self.cut));
        }
        self.kept.clear();
        self.cut = 0;
        line
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_line_reader_goes_on_past_bad_bytes_and_cuts_long_lines() {
        let mut bytes = b"plain\r\nbad \xff\xfe bytes\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        bytes.extend_from_slice(b"\nlast");
        // Read a few bytes at a time, as a slow stream delivers them.
        let reader = futures::io::BufReader::with_capacity(7, futures::io::Cursor::new(bytes));
        let mut lines = LineReader::new(reader);
        let mut got = Vec::new();
        while let Some(l) = lines.next_line().await.unwrap() {
            got.push(l);
        }
        assert_eq!(got[0], "plain");
        assert_eq!(got[1], "bad \u{fffd}\u{fffd} bytes");
        assert_eq!(got[2].len(), MAX_LINE_BYTES + "…[10 bytes cut]".len());
        assert!(got[2].ends_with("x…[10 bytes cut]"));
        assert_eq!(got[3], "last");
        assert_eq!(got.len(), 4);
    }

    use super::*;

    #[test]
    fn a_reconnect_repeats_no_line() {
        let mut seen = Seen::default();
        assert!(seen.fresh(1000, "a"));
        assert!(seen.fresh(1500, "b"));
        assert!(seen.fresh(1500, "c"));
        // Resumed from second 1: the server sends everything from 1000 on.
        seen.replay();
        assert!(!seen.fresh(1000, "a"));
        assert!(!seen.fresh(1500, "b"));
        assert!(!seen.fresh(1500, "c"));
        assert!(seen.fresh(1500, "d"));
        assert!(seen.fresh(2000, "e"));
        // A second break: d and e were passed on and are not repeated.
        seen.replay();
        assert!(!seen.fresh(1500, "d"));
        assert!(!seen.fresh(2000, "e"));
        assert!(seen.fresh(2000, "f"));
    }

    #[test]
    fn stamps_split_from_text() {
        let (ms, stamp, text) = split_stamp("2026-12-03T12:00:01.5Z processed 3 records");
        assert_eq!(
            ms,
            crate::time::parse_rfc3339("2026-12-03T12:00:01Z").unwrap() + 500
        );
        assert_eq!(stamp, "2026-12-03T12:00:01.5Z");
        assert_eq!(text, "processed 3 records");
        assert_eq!(split_stamp("no stamp here"), (0, "", "no stamp here"));
    }

    #[test]
    fn workers_sort_by_ordinal() {
        let mut v = vec!["w-10", "w-9", "w-1"];
        v.sort_by_key(|n| worker_order(n));
        assert_eq!(v, ["w-1", "w-9", "w-10"]);
    }
}
