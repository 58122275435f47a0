//! Into the worker: `swarmdeck exec` and kubectl exec against the embedded
//! cluster's pods/exec (WebSocket), a stream followed to its owner after a
//! scale moved it, exit codes, an interactive shell on standard input, and
//! the audit line of every session.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::Served;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn kubectl(served: &Served, args: &[&str]) -> std::process::Output {
    Command::new("kubectl")
        .env("KUBECONFIG", &served.kubeconfig)
        .args(args)
        .output()
        .expect("kubectl is on the machine image")
}

/// The config a worker has loaded, once it has loaded one.
fn wait_loaded(served: &Served, state: &std::path::Path, pod: &str) -> String {
    for _ in 0..200 {
        let out = common::swarmdeck(
            &[
                "exec",
                "-n",
                "swarm",
                pod,
                "--",
                "cat",
                "/app/config/config.yml",
            ],
            Some(&served.kubeconfig),
            state,
        );
        if out.status.success() && text(&out.stdout).contains("- stream:") {
            return text(&out.stdout);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{pod} never loaded a config");
}

#[test]
fn swarmdeck_exec_prints_what_kubectl_exec_prints_and_is_audited() {
    let served = Served::start("swarm");
    let state = tempfile::tempdir().unwrap();
    // The demo's first assignment, by the engine as `scale` runs it.
    let out = common::swarmdeck(
        &["rebalance", "swarm-worker", "-n", "swarm"],
        Some(&served.kubeconfig),
        state.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ours = wait_loaded(&served, state.path(), "swarm-worker-0");
    let theirs = kubectl(
        &served,
        &[
            "exec",
            "swarm-worker-0",
            "-n",
            "swarm",
            "--",
            "cat",
            "/app/config/config.yml",
        ],
    );
    assert!(theirs.status.success(), "{}", text(&theirs.stderr));
    assert_eq!(ours, text(&theirs.stdout));
    assert!(ours.starts_with("version: "), "{ours}");

    // The command's exit code is the command line's, as kubectl's is.
    let out = common::swarmdeck(
        &[
            "exec",
            "-n",
            "swarm",
            "swarm-worker-0",
            "--",
            "sh",
            "-c",
            "exit 4",
        ],
        Some(&served.kubeconfig),
        state.path(),
    );
    assert_eq!(out.status.code(), Some(4));
    let theirs = kubectl(
        &served,
        &[
            "exec",
            "swarm-worker-0",
            "-n",
            "swarm",
            "--",
            "sh",
            "-c",
            "exit 4",
        ],
    );
    assert_eq!(theirs.status.code(), Some(4));
    let out = common::swarmdeck(
        &["exec", "-n", "swarm", "swarm-worker-0", "--", "nope"],
        Some(&served.kubeconfig),
        state.path(),
    );
    assert_eq!(out.status.code(), Some(127));
    assert!(
        text(&out.stderr).contains("sh: nope: not found"),
        "{}",
        text(&out.stderr)
    );

    // A shell reading its commands from standard input.
    let mut child = Command::new(env!("CARGO_BIN_EXE_swarmdeck"))
        .args(["--kubeconfig"])
        .arg(&served.kubeconfig)
        .args(["exec", "-i", "-n", "swarm", "swarm-worker-1", "--", "sh"])
        .env("HOME", state.path())
        .env("XDG_STATE_HOME", state.path())
        .env_remove("KUBECONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hostname\nls /app/config\nexit 6\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "swarm-worker-1\nconfig.yml\n");

    // A container the pod does not have: the server's words, exit 1.
    let out = common::swarmdeck(
        &[
            "exec",
            "-n",
            "swarm",
            "swarm-worker-0",
            "-c",
            "sidecar",
            "--",
            "ls",
        ],
        Some(&served.kubeconfig),
        state.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("container sidecar is not valid for pod swarm-worker-0"),
        "{}",
        text(&out.stderr)
    );

    // Every session is in the audit: who, the pod, container, command, the
    // exit code and when it started and ended.
    let audit = std::fs::read_to_string(state.path().join("swarmdeck/audit.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = audit
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["action"] == "Exec")
        .collect();
    let sh = lines
        .iter()
        .find(|v| v["plan"] == "container (default): sh")
        .expect("the shell's session is audited");
    assert_eq!(sh["object"], "Pod swarm/swarm-worker-1");
    assert_eq!(sh["user"], "admin");
    let said = sh["result"].as_str().unwrap();
    assert!(
        said.starts_with("exit code 6 (started 20") && said.contains(", ended 20"),
        "{said}"
    );
    assert!(
        lines.iter().any(|v| v["plan"] == "container sidecar: ls"
            && v["result"]
                .as_str()
                .unwrap()
                .starts_with("failed: container sidecar is not valid")),
        "{audit}"
    );
}

/// `--stream` runs in whichever worker owns the stream now: after a scale
/// moved it to the new worker, there.
#[test]
fn exec_follows_a_stream_to_its_owner_after_a_scale() {
    let served = Served::start("swarm");
    let state = tempfile::tempdir().unwrap();
    let out = common::swarmdeck(
        &["scale", "swarm-worker", "3", "-n", "swarm"],
        Some(&served.kubeconfig),
        state.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = wait_loaded(&served, state.path(), "swarm-worker-2");
    let moved = config
        .lines()
        .find_map(|l| l.strip_prefix("- "))
        .expect("the new worker holds a stream")
        .to_owned();
    let out = common::swarmdeck(
        &["exec", "-n", "swarm", "--stream", &moved, "--", "hostname"],
        Some(&served.kubeconfig),
        state.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "swarm-worker-2\n");
    assert!(
        text(&out.stderr).contains(&format!("stream {moved} is on swarm-worker-2")),
        "{}",
        text(&out.stderr)
    );
    // A stream nobody has: where to look.
    let out = common::swarmdeck(
        &[
            "exec",
            "-n",
            "swarm",
            "--stream",
            "stream:nope",
            "--",
            "hostname",
        ],
        Some(&served.kubeconfig),
        state.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no swarm in namespace swarm has stream stream:nope assigned")
    );
}

/// Start `swarmdeck port-forward ARGS`; the local port it listens on.
fn forward(served: &Served, state: &std::path::Path, args: &[&str]) -> (std::process::Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_swarmdeck"))
        .arg("--kubeconfig")
        .arg(&served.kubeconfig)
        .args(["port-forward", "-n", "swarm"])
        .args(args)
        .env("HOME", state)
        .env("XDG_STATE_HOME", state)
        .env_remove("KUBECONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let port = first
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("port-forward says where it listens: {first}"));
    (child, port)
}

/// An HTTP GET through a forward: the body.
fn get(port: u16, path: &str) -> String {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: worker\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// A worker's status port through `swarmdeck port-forward`: by pod, and by
/// stream (the forward goes to whichever worker owns it); audited.
#[test]
fn port_forward_reaches_a_workers_status_port() {
    let served = Served::start("swarm");
    let state = tempfile::tempdir().unwrap();
    let out = common::swarmdeck(
        &["rebalance", "swarm-worker", "-n", "swarm"],
        Some(&served.kubeconfig),
        state.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = wait_loaded(&served, state.path(), "swarm-worker-1");
    let loaded: Vec<&str> = config
        .lines()
        .filter_map(|l| l.strip_prefix("- "))
        .collect();

    let (mut child, port) = forward(&served, state.path(), &["swarm-worker-1", ":8080"]);
    assert_eq!(get(port, "/healthz"), "ok\n");
    let streams = get(port, "/streams");
    assert_eq!(streams.lines().collect::<Vec<_>>(), loaded);
    assert!(get(port, "/metrics").contains(&format!("swarm_worker_streams {}", loaded.len())));
    child.kill().unwrap();
    let _ = child.wait();

    let (mut child, port) = forward(&served, state.path(), &["--stream", loaded[0], ":8080"]);
    assert!(get(port, "/streams").lines().any(|l| l == loaded[0]));
    child.kill().unwrap();
    let _ = child.wait();

    let audit = std::fs::read_to_string(state.path().join("swarmdeck/audit.jsonl")).unwrap();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"action\":\"PortForward\"")
                && l.contains("Pod swarm/swarm-worker-1")
                && l.contains("\"result\":\"opened\"")),
        "{audit}"
    );
}
