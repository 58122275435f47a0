//! `pods/exec` over WebSocket, as kube-apiserver relays it to a kubelet: the
//! `v5.channel.k8s.io` and `v4.channel.k8s.io` subprotocols kubectl and
//! kube-rs speak (each binary message starts with its channel: 0 stdin,
//! 1 stdout, 2 stderr, 3 the exit Status, 4 a terminal resize; v5 adds 255,
//! a channel's end), and a small simulated container behind it.
//!
//! The container knows what the world records of it: a swarm worker answers
//! `cat /app/config/config.yml` with the entry it has loaded; `ls`, `env`,
//! `ps`, `hostname`, `echo`, `true`, `false` and `sh` (with a prompt on a
//! terminal, `sh -c LINE`, `exit N`) answer as a busybox would; anything
//! else is `not found` with exit code 127, as a shell says it.

use axum::extract::ws::{Message, WebSocket};
use serde_json::{Value, json};

use super::cluster::{ApiError, Cluster};

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

/// A line typed into `sh` past this many bytes is cut (a client decides
/// what it sends; nothing it sends sizes memory unbounded).
const MAX_LINE: usize = 64 * 1024;

/// What an exec asked for, checked before the upgrade.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub namespace: String,
    pub pod: Value,
    pub container: String,
    pub command: Vec<String>,
    pub stdin: bool,
    pub tty: bool,
}

fn flag(pairs: &[(String, String)], key: &str) -> bool {
    pairs
        .iter()
        .any(|(k, v)| k == key && (v == "true" || v == "1"))
}

/// Check an exec as kube-apiserver and the kubelet do: the pod on a node and
/// running, the container one of its own, a command given. `query` is the
/// request's pairs in order (`command` repeats).
pub fn prepare(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    query: &[(String, String)],
) -> Result<ExecRequest, ApiError> {
    let pods = cluster
        .resolve("", "v1", "pods")
        .ok_or_else(|| ApiError::new(404, "NotFound", "pods are not served"))?;
    let pod = (*cluster.get(&pods, Some(namespace), name)?).clone();
    if pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty) {
        return Err(ApiError::new(
            400,
            "BadRequest",
            format!("pod {name} does not have a host assigned"),
        ));
    }
    let names: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect();
    let container = match query.iter().find(|(k, _)| k == "container") {
        Some((_, c)) => c.clone(),
        None if names.len() == 1 => names[0].clone(),
        None => {
            return Err(ApiError::new(
                400,
                "BadRequest",
                format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    names.join(" ")
                ),
            ));
        }
    };
    if !names.contains(&container) {
        return Err(ApiError::new(
            400,
            "BadRequest",
            format!("container {container} is not valid for pod {name}"),
        ));
    }
    let phase = pod["status"]["phase"].as_str().unwrap_or("");
    if phase != "Running" {
        return Err(ApiError::new(
            400,
            "BadRequest",
            format!(
                "unable to upgrade connection: container not found (\"{container}\") in pod {name} ({})",
                if phase.is_empty() { "Pending" } else { phase }
            ),
        ));
    }
    let command: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    if command.is_empty() {
        return Err(ApiError::new(
            400,
            "BadRequest",
            "you must specify at least 1 command".to_owned(),
        ));
    }
    Ok(ExecRequest {
        namespace: namespace.to_owned(),
        pod,
        container,
        command,
        stdin: flag(query, "stdin"),
        tty: flag(query, "tty"),
    })
}

/// What one command wrote and how it ended.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ran {
    pub out: String,
    pub err: String,
    pub code: i32,
    /// `exit` was typed: the shell ends.
    pub exit: bool,
}

/// The simulated container of one pod.
pub struct Container<'a> {
    cluster: &'a Cluster,
    req: &'a ExecRequest,
}

impl Container<'_> {
    fn name(&self) -> &str {
        self.req.pod["metadata"]["name"].as_str().unwrap_or("")
    }

    /// The config this worker has loaded, as its mounted file says it.
    fn config(&self) -> Option<String> {
        let (version, jobs) = self.config_entry()?;
        let mut out = format!("version: {version}\njobs:\n");
        for j in &jobs {
            out.push_str(&format!("- {j}\n"));
        }
        Some(out)
    }

    fn env(&self) -> String {
        let mut out = vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
            format!("HOSTNAME={}", self.name()),
        ];
        let container = self.req.pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == self.req.container.as_str());
        for e in container
            .and_then(|c| c["env"].as_array())
            .into_iter()
            .flatten()
        {
            if let (Some(n), Some(v)) = (e["name"].as_str(), e["value"].as_str()) {
                out.push(format!("{n}={v}"));
            }
        }
        out.push("HOME=/root".to_owned());
        out.join("\n") + "\n"
    }

    /// Run one command line's words.
    pub fn run(&self, argv: &[String]) -> Ran {
        let said = |out: String| Ran {
            out,
            ..Default::default()
        };
        let failed = |err: String, code: i32| Ran {
            err,
            code,
            ..Default::default()
        };
        let Some((cmd, args)) = argv.split_first() else {
            return Ran::default();
        };
        let cmd = cmd.rsplit('/').next().unwrap_or(cmd);
        match (cmd, args) {
            ("sh" | "bash" | "ash", [flag, line, ..]) if flag == "-c" => {
                self.run(&shell_words(line))
            }
            ("cat", []) => Ran::default(),
            ("cat", files) => {
                let mut ran = Ran::default();
                for f in files {
                    match (f.as_str(), self.config()) {
                        ("/app/config/config.yml", Some(cfg)) => ran.out.push_str(&cfg),
                        ("/etc/hostname", _) => ran.out.push_str(&format!("{}\n", self.name())),
                        _ => {
                            ran.err.push_str(&format!(
                                "cat: can't open '{f}': No such file or directory\n"
                            ));
                            ran.code = 1;
                        }
                    }
                }
                ran
            }
            ("ls", dirs) => {
                let worker = self.config().is_some();
                let dir = dirs
                    .iter()
                    .find(|d| !d.starts_with('-'))
                    .map_or("/", String::as_str);
                match dir.trim_end_matches('/') {
                    "" => said("app\nbin\netc\nproc\ntmp\n".into()),
                    "/app" if worker => said("config\nspool\n".into()),
                    "/app/config" if worker => said("config.yml\n".into()),
                    "/app/spool" | "/tmp" => said(String::new()),
                    other => failed(format!("ls: {other}: No such file or directory\n"), 1),
                }
            }
            ("env" | "printenv", []) => said(self.env()),
            ("hostname", []) => said(format!("{}\n", self.name())),
            ("ps", _) => {
                let image = self.req.pod["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap_or("app");
                said(format!(
                    "PID   USER     COMMAND\n    1 root     {image}\n   42 root     ps\n"
                ))
            }
            ("echo", words) => said(format!("{}\n", words.join(" "))),
            ("true", _) => Ran::default(),
            ("false", _) => failed(String::new(), 1),
            ("exit", code) => Ran {
                code: code.first().and_then(|c| c.parse().ok()).unwrap_or(0),
                exit: true,
                ..Default::default()
            },
            (other, _) => failed(format!("sh: {other}: not found\n"), 127),
        }
    }
}

/// Words of a command line: split at blanks, quotes keep a word whole.
pub fn shell_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            (None, c) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        out.push(word);
    }
    out
}

/// The exit Status the kubelet sends on channel 3.
pub fn exit_status(command: &[String], code: i32) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
            command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

async fn send(socket: &mut WebSocket, channel: u8, data: &[u8]) -> bool {
    let mut frame = Vec::with_capacity(data.len() + 1);
    frame.push(channel);
    frame.extend_from_slice(data);
    socket.send(Message::Binary(frame.into())).await.is_ok()
}

/// A terminal's line ends.
fn on_terminal(text: &str, tty: bool) -> String {
    if tty {
        text.replace('\n', "\r\n")
    } else {
        text.to_owned()
    }
}

/// Serve one exec session on an upgraded connection; the exit code it
/// ended with.
pub async fn session(mut socket: WebSocket, cluster: Cluster, req: ExecRequest) -> i32 {
    let container = Container {
        cluster: &cluster,
        req: &req,
    };
    // The first frame of each output channel, empty: the channels are open.
    for ch in [STDOUT, STDERR] {
        if !send(&mut socket, ch, &[]).await {
            return -1;
        }
    }
    let interactive_shell = req.stdin
        && matches!(
            req.command.as_slice(),
            [one] if matches!(one.rsplit('/').next(), Some("sh" | "bash" | "ash"))
        );
    let code = if interactive_shell {
        shell(&mut socket, &container, req.tty).await
    } else {
        let ran = container.run(&req.command);
        let ok = send(
            &mut socket,
            STDOUT,
            on_terminal(&ran.out, req.tty).as_bytes(),
        )
        .await
            && send(
                &mut socket,
                STDERR,
                on_terminal(&ran.err, req.tty).as_bytes(),
            )
            .await;
        if !ok {
            return -1;
        }
        ran.code
    };
    let status = exit_status(&req.command, code).to_string();
    let _ = send(&mut socket, STATUS, status.as_bytes()).await;
    // A normal closure: a client reads it as the end of every stream.
    let _ = socket
        .send(Message::Close(Some(axum::extract::ws::CloseFrame {
            code: axum::extract::ws::close_code::NORMAL,
            reason: "".into(),
        })))
        .await;
    code
}

/// `sh` with its input from stdin: a prompt on a terminal (which echoes
/// what is typed, as a terminal's line discipline does), one command a line,
/// `exit` or the end of input ends it.
async fn shell(socket: &mut WebSocket, container: &Container<'_>, tty: bool) -> i32 {
    let prompt = "/ # ";
    if tty && !send(socket, STDOUT, prompt.as_bytes()).await {
        return -1;
    }
    let mut line: Vec<u8> = Vec::new();
    let mut last = 0;
    while let Some(Ok(msg)) = socket.recv().await {
        let data = match msg {
            Message::Binary(b) => b,
            Message::Close(_) => break,
            _ => continue,
        };
        match data.first() {
            Some(&STDIN) => {}
            Some(&CLOSE) if data.get(1) == Some(&STDIN) => return last,
            Some(&RESIZE) | Some(_) | None => continue,
        }
        for &b in &data[1..] {
            match b {
                b'\r' | b'\n' => {
                    if tty && !send(socket, STDOUT, b"\r\n").await {
                        return -1;
                    }
                    let text = String::from_utf8_lossy(&line).into_owned();
                    line.clear();
                    let ran = container.run(&shell_words(&text));
                    if ran.exit {
                        return ran.code;
                    }
                    last = ran.code;
                    if !send(socket, STDOUT, on_terminal(&ran.out, tty).as_bytes()).await
                        || !send(socket, STDERR, on_terminal(&ran.err, tty).as_bytes()).await
                    {
                        return -1;
                    }
                    if tty && !send(socket, STDOUT, prompt.as_bytes()).await {
                        return -1;
                    }
                }
                // Ctrl-D on an empty line: the end of input.
                4 if line.is_empty() => return last,
                // Backspace, as a terminal's line discipline takes it.
                0x7f | 8
                    if line.pop().is_some() && tty && !send(socket, STDOUT, b"\x08 \x08").await =>
                {
                    return -1;
                }
                0x7f | 8 => {}
                b if line.len() < MAX_LINE => {
                    line.push(b);
                    if tty && !send(socket, STDOUT, &[b]).await {
                        return -1;
                    }
                }
                _ => {}
            }
        }
    }
    last
}

/// The port of a swarm worker's status server: `/healthz`, `/streams`
/// (the streams it has loaded, one a line) and `/metrics` (Prometheus text).
pub const STATUS_PORT: u16 = 8080;

/// Check a port-forward: the pod running, the ports numbers.
pub fn prepare_forward(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    query: &[(String, String)],
) -> Result<(ExecRequest, Vec<u16>), ApiError> {
    let mut q: Vec<(String, String)> = query.to_vec();
    q.push(("command".into(), "portforward".into()));
    let pod_name = name;
    let req = prepare(cluster, namespace, pod_name, &q).or_else(|e| {
        // A pod of several containers forwards to its network, not a
        // container: take the first.
        if e.message.starts_with("a container name must be specified") {
            let pods = cluster.resolve("", "v1", "pods").expect("pods are served");
            let pod = cluster.get(&pods, Some(namespace), pod_name)?;
            let first = pod["spec"]["containers"][0]["name"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            q.push(("container".into(), first));
            prepare(cluster, namespace, pod_name, &q)
        } else {
            Err(e)
        }
    })?;
    let mut ports = Vec::new();
    for (_, v) in query.iter().filter(|(k, _)| k == "ports") {
        for p in v.split(',').filter(|p| !p.is_empty()) {
            let port: u16 =
                p.trim().parse().ok().filter(|p| *p > 0).ok_or_else(|| {
                    ApiError::new(400, "BadRequest", format!("invalid port: {p}"))
                })?;
            ports.push(port);
        }
    }
    if ports.is_empty() {
        return Err(ApiError::new(
            400,
            "BadRequest",
            "at least 1 port must be specified".to_owned(),
        ));
    }
    Ok((req, ports))
}

/// What the container's port answers to one HTTP request (`None`: nothing
/// listens there, the connection is refused).
fn http_answer(container: &Container<'_>, port: u16, request: &str) -> Option<String> {
    if port != STATUS_PORT {
        return None;
    }
    let path = request
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/");
    let (code, body) = match (path, container.config_entry()) {
        ("/healthz", _) => ("200 OK", "ok\n".to_owned()),
        ("/streams", Some((_, jobs))) => {
            ("200 OK", jobs.iter().map(|j| format!("{j}\n")).collect())
        }
        ("/streams", None) => ("200 OK", String::new()),
        ("/metrics", entry) => {
            let (version, jobs) = entry.unwrap_or_default();
            (
                "200 OK",
                format!(
                    "# TYPE swarm_worker_streams gauge\nswarm_worker_streams {}\n# TYPE swarm_worker_config_version gauge\nswarm_worker_config_version {version}\n",
                    jobs.len()
                ),
            )
        }
        _ => ("404 Not Found", "404 page not found\n".to_owned()),
    };
    Some(format!(
        "HTTP/1.1 {code}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
}

impl Container<'_> {
    /// The worker's loaded entry: its version and streams.
    fn config_entry(&self) -> Option<(u64, Vec<String>)> {
        let uid = self.req.pod["metadata"]["uid"].as_str()?;
        let loaded = self.cluster.worker_loads().get(uid)?.clone();
        Some((loaded.version, loaded.jobs))
    }
}

/// Serve one port-forward session: for each port a data channel (2i) and an
/// error channel (2i+1), each opened with the port's number; a request on a
/// data channel gets the container's answer, then the session ends.
pub async fn forward_session(
    mut socket: WebSocket,
    cluster: Cluster,
    req: ExecRequest,
    ports: Vec<u16>,
) {
    let container = Container {
        cluster: &cluster,
        req: &req,
    };
    for (i, port) in ports.iter().enumerate() {
        for ch in [2 * i as u8, 2 * i as u8 + 1] {
            if !send(&mut socket, ch, &port.to_le_bytes()).await {
                return;
            }
        }
    }
    let mut pending: Vec<Vec<u8>> = vec![Vec::new(); ports.len()];
    let mut answered = vec![false; ports.len()];
    while let Some(Ok(msg)) = socket.recv().await {
        let data = match msg {
            Message::Binary(b) => b,
            Message::Close(_) => break,
            _ => continue,
        };
        let Some((&ch, bytes)) = data.split_first() else {
            continue;
        };
        let i = usize::from(ch / 2);
        if ch % 2 == 1 || i >= ports.len() || answered[i] {
            continue;
        }
        if pending[i].len() + bytes.len() > MAX_LINE {
            pending[i].clear();
        }
        pending[i].extend_from_slice(bytes);
        let text = String::from_utf8_lossy(&pending[i]).into_owned();
        if !text.contains("\r\n\r\n") && !text.contains("\n\n") {
            continue;
        }
        answered[i] = true;
        match http_answer(&container, ports[i], &text) {
            Some(answer) => {
                if !send(&mut socket, 2 * i as u8, answer.as_bytes()).await {
                    return;
                }
            }
            None => {
                let why = format!(
                    "error forwarding port {} to pod {}: dial tcp4 127.0.0.1:{}: connect: connection refused",
                    ports[i],
                    container.name(),
                    ports[i]
                );
                if !send(&mut socket, 2 * i as u8 + 1, why.as_bytes()).await {
                    return;
                }
            }
        }
        if answered.iter().all(|a| *a) {
            break;
        }
    }
    let _ = socket
        .send(Message::Close(Some(axum::extract::ws::CloseFrame {
            code: axum::extract::ws::close_code::NORMAL,
            reason: "".into(),
        })))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_statuses_as_a_shell_and_the_kubelet_give_them() {
        assert_eq!(
            shell_words(r#"cat "/app/config/config.yml"  'a b' c"#),
            ["cat", "/app/config/config.yml", "a b", "c"]
        );
        assert_eq!(shell_words("  "), Vec::<String>::new());
        assert_eq!(exit_status(&["true".into()], 0)["status"], "Success");
        let failed = exit_status(&["false".into()], 1);
        assert_eq!(failed["details"]["causes"][0]["message"], "1");
        assert_eq!(failed["reason"], "NonZeroExitCode");
    }
}
