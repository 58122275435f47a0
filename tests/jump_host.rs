//! From a jump host: real proxies between swarmdeck and the cluster —
//! Debian's tinyproxy (HTTP CONNECT) and microsocks (SOCKS5), which
//! `.ci/run` installs — and several kubeconfig files. The embedded cluster is
//! served over HTTPS, so CONNECT is exercised; each proxy's own log shows
//! whether a connection went through it. Without the proxies installed the
//! proxy tests say so and pass (the README's test command stays the same on
//! a machine without them).

mod common;
use common::Served;
use common::pty::Tui;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A proxy process and its log, stopped on drop.
struct Proxy {
    child: Child,
    log: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    fn installed(binary: &str) -> bool {
        Command::new("sh")
            .args(["-c", &format!("command -v {binary}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn tinyproxy() -> Option<Proxy> {
        if !Self::installed("tinyproxy") {
            eprintln!(
                "tinyproxy is not installed (apt-get install tinyproxy): HTTP proxy tests skipped"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("tinyproxy.log");
        let conf = dir.path().join("tinyproxy.conf");
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 600\nLogFile \"{}\"\nLogLevel Connect\nMaxClients 100\nAllow 127.0.0.1\n",
                log.display()
            ),
        )
        .unwrap();
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let p = Proxy {
            child,
            log,
            port,
            _dir: dir,
        };
        p.wait_listening();
        Some(p)
    }

    fn microsocks() -> Option<Proxy> {
        if !Self::installed("microsocks") {
            eprintln!(
                "microsocks is not installed (apt-get install microsocks): SOCKS5 tests skipped"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("microsocks.log");
        // It logs each connection on stderr.
        let child = Command::new("microsocks")
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let p = Proxy {
            child,
            log,
            port,
            _dir: dir,
        };
        p.wait_listening();
        Some(p)
    }

    fn wait_listening(&self) {
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the proxy did not listen on {}", self.port);
    }

    /// Connections it made to 127.0.0.1:`port`, as its own log says.
    fn connections_to(&self, port: u16) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter(|l| {
                l.contains(&format!("CONNECT 127.0.0.1:{port} "))
                    || l.contains(&format!("connected to 127.0.0.1:{port}"))
            })
            .count()
    }
}

/// `swarmdeck ARGS` with `env` (and no KUBECONFIG unless given there).
fn run(args: &[&str], env: &[(&str, &str)], home: &Path) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_swarmdeck"));
    cmd.args(args)
        .env_remove("KUBECONFIG")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env("HOME", home)
        .env("XDG_STATE_HOME", home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// A command that failed as it should: exit code 1 and one line on stderr,
/// which is returned.
fn one_line_error(out: &std::process::Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    err
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn an_http_connect_proxy_as_kubectl_has_it() {
    let Some(proxy) = Proxy::tinyproxy() else {
        return;
    };
    let served = Served::start("swarm");
    let home = tempfile::tempdir().unwrap();
    let kc = served.kubeconfig.to_str().unwrap();
    let url = format!("http://127.0.0.1:{}", proxy.port);
    let port = served.addr.port();
    // HTTPS_PROXY, and https_proxy as curl and kubectl also read it.
    for var in ["HTTPS_PROXY", "https_proxy"] {
        let before = proxy.connections_to(port);
        let out = run(
            &["get", "pods", "--kubeconfig", kc],
            &[(var, &url)],
            home.path(),
        );
        assert!(ok(&out).contains("swarm-worker-0"));
        assert!(
            proxy.connections_to(port) > before,
            "{var}: not through the proxy"
        );
    }
    // NO_PROXY covering the cluster: direct, the proxy sees nothing.
    for no_proxy in ["127.0.0.1", "127.0.0.0/8", "localhost,127.0.0.1"] {
        let before = proxy.connections_to(port);
        let out = run(
            &["get", "pods", "--kubeconfig", kc],
            &[("HTTPS_PROXY", &url), ("NO_PROXY", no_proxy)],
            home.path(),
        );
        assert!(ok(&out).contains("swarm-worker-0"));
        assert_eq!(proxy.connections_to(port), before, "NO_PROXY={no_proxy}");
    }
    // A verb that changes something, through the proxy.
    let unit = home.path().join("unit.yaml");
    std::fs::write(
        &unit,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: via-proxy, namespace: swarm}\ndata: {a: b}\n",
    )
    .unwrap();
    let before = proxy.connections_to(port);
    let out = run(
        &["apply", "-f", unit.to_str().unwrap(), "--kubeconfig", kc],
        &[("HTTPS_PROXY", &url)],
        home.path(),
    );
    ok(&out);
    assert!(proxy.connections_to(port) > before);
    let cms = served.cluster.resolve("", "v1", "configmaps").unwrap();
    assert!(served.cluster.get(&cms, Some("swarm"), "via-proxy").is_ok());
    // The console, through the proxy.
    let before = proxy.connections_to(port);
    let t = Tui::start_with(&format!("--kubeconfig {kc}"), &[("HTTPS_PROXY", &url)]);
    t.wait_for("the pods through the proxy", |s| {
        s.contains("swarm-worker-0")
    });
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
    assert!(
        proxy.connections_to(port) > before,
        "the console went around the proxy"
    );
}

#[test]
fn a_socks5_proxy_url_in_the_kubeconfig() {
    let Some(proxy) = Proxy::microsocks() else {
        return;
    };
    let served = Served::start("swarm");
    let home = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&served.kubeconfig).unwrap();
    let with_proxy = text.replacen(
        "    server: ",
        &format!(
            "    proxy-url: socks5://127.0.0.1:{}\n    server: ",
            proxy.port
        ),
        1,
    );
    let kc = home.path().join("kubeconfig");
    std::fs::write(&kc, with_proxy).unwrap();
    let out = run(
        &["get", "pods", "--kubeconfig", kc.to_str().unwrap()],
        &[],
        home.path(),
    );
    assert!(ok(&out).contains("swarm-worker-0"));
    assert!(
        proxy.connections_to(served.addr.port()) > 0,
        "not through the SOCKS5 proxy: {:?}",
        std::fs::read_to_string(&proxy.log)
    );
}

#[test]
fn a_proxy_that_cannot_be_reached_is_named_in_one_line() {
    let served = Served::start("swarm");
    let home = tempfile::tempdir().unwrap();
    let dead = free_port();
    let out = run(
        &[
            "get",
            "pods",
            "--kubeconfig",
            served.kubeconfig.to_str().unwrap(),
        ],
        &[(
            "HTTPS_PROXY",
            &format!("http://someone:secret@127.0.0.1:{dead}"),
        )],
        home.path(),
    );
    let err = one_line_error(&out);
    assert!(
        err.contains(&format!(
            "cannot reach the API server at https://127.0.0.1:{}/ through proxy http://127.0.0.1:{dead}",
            served.addr.port()
        )),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "{err}");
    assert!(
        !err.contains("secret"),
        "the proxy's password is not shown: {err}"
    );
}

/// Several kubeconfig files, merged by kubectl's rules: what swarmdeck reads
/// agrees with `kubectl config view --merge`, and a context of the second
/// file is found.
#[test]
fn several_kubeconfig_files_merge_as_kubectl_merges_them() {
    let served = Served::start("swarm");
    let home = tempfile::tempdir().unwrap();
    // The first file: no current context, a context `shared` of its own (the
    // first definition of a name wins), a relative certificate path.
    let first = home.path().join("a").join("config");
    std::fs::create_dir_all(first.parent().unwrap()).unwrap();
    std::fs::write(
        &first,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster: {server: 'https://10.255.255.1:6443', certificate-authority: certs/ca.crt}\nusers:\n- name: other-user\n  user: {token: other-token}\ncontexts:\n- name: shared\n  context: {cluster: other, user: other-user, namespace: first}\n- name: only-first\n  context: {cluster: other, user: other-user}\n",
    )
    .unwrap();
    let second_text = std::fs::read_to_string(&served.kubeconfig)
        .unwrap()
        .replacen("contexts:\n", "contexts:\n- name: shared\n  context:\n    cluster: swarmdeck-embedded\n    user: admin\n    namespace: second\n", 1);
    let second = home.path().join("second.yaml");
    std::fs::write(&second, second_text).unwrap();
    let missing = home.path().join("not-there.yaml");
    let joined = std::env::join_paths([&first, &missing, &second]).unwrap();
    let joined = joined.to_str().unwrap();

    // kubectl's view of the merge.
    let kubectl = Command::new("kubectl")
        .args(["config", "view", "--merge", "-o", "json"])
        .env("KUBECONFIG", joined)
        .output();
    let Ok(kubectl) = kubectl else {
        eprintln!("kubectl is not installed: the comparison is skipped");
        return;
    };
    let theirs: serde_json::Value = serde_json::from_slice(&kubectl.stdout).unwrap();
    let files = vec![first.clone(), second.clone()];
    let ours = swarmdeck::cluster::load_kubeconfig(&files)
        .unwrap()
        .unwrap();
    assert_eq!(
        ours.current_context.as_deref(),
        theirs["current-context"].as_str(),
        "current-context"
    );
    let names = |v: &serde_json::Value| -> Vec<String> {
        let mut n: Vec<String> = v["contexts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        n.sort();
        n
    };
    let mut our_names: Vec<String> = ours.contexts.iter().map(|c| c.name.clone()).collect();
    our_names.sort();
    assert_eq!(our_names, names(&theirs));
    let shared = |v: &serde_json::Value| {
        v["contexts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "shared")
            .map(|c| c["context"]["namespace"].clone())
    };
    let our_shared = ours
        .contexts
        .iter()
        .find(|c| c.name == "shared")
        .and_then(|c| c.context.as_ref()?.namespace.clone());
    assert_eq!(our_shared.as_deref(), shared(&theirs).unwrap().as_str());
    let ca = ours.clusters.iter().find(|c| c.name == "other").unwrap();
    let ca = ca
        .cluster
        .as_ref()
        .unwrap()
        .certificate_authority
        .clone()
        .unwrap();
    assert_eq!(
        ca,
        first
            .parent()
            .unwrap()
            .join("certs/ca.crt")
            .display()
            .to_string(),
        "a relative path is resolved against its file"
    );

    // swarmdeck through KUBECONFIG=a:missing:b: the current context is the
    // second file's; --context of the second file's users works too.
    let out = run(&["get", "pods"], &[("KUBECONFIG", joined)], home.path());
    assert!(ok(&out).contains("swarm-worker-0"));
    let out = run(
        &["get", "pods", "--context", "viewer"],
        &[("KUBECONFIG", joined)],
        home.path(),
    );
    assert!(ok(&out).contains("swarm-worker-0"));
    // An unknown context names the files read and the contexts found.
    let out = run(
        &["get", "pods", "--context", "nope"],
        &[("KUBECONFIG", joined)],
        home.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("context `nope` is not in the kubeconfig"),
        "{err}"
    );
    assert!(
        err.contains(first.to_str().unwrap()) && err.contains(second.to_str().unwrap()),
        "{err}"
    );
    assert!(
        err.contains("only-first") && err.contains("viewer"),
        "{err}"
    );
}

/// The embedded kubeconfig with its admin user's credentials from an exec
/// plugin: a shell script in `home` named `name`, whose `gate` part runs
/// first (it may fail or ask) and which then prints the admin's token with
/// an expiry 3 s away. Returns the kubeconfig and the plugin's path.
fn with_exec_plugin(served: &Served, home: &Path, name: &str, gate: &str) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let mut kc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&served.kubeconfig).unwrap()).unwrap();
    let users = kc["users"].as_sequence_mut().unwrap();
    let admin = users.iter_mut().find(|u| u["name"] == "admin").unwrap();
    let token = admin["user"]["token"].as_str().unwrap().to_owned();
    let plugin = home.join(name);
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\n{gate}exp=$(date -u -d '+3 seconds' +%Y-%m-%dT%H:%M:%SZ)\nprintf '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{token}\",\"expirationTimestamp\":\"%s\"}}}}' \"$exp\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    admin["user"] = serde_yaml::from_str(&format!(
        "exec:\n  apiVersion: client.authentication.k8s.io/v1\n  command: {}\n  interactiveMode: IfAvailable\n",
        plugin.display()
    ))
    .unwrap();
    let path = home.join("kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&kc).unwrap()).unwrap();
    (path, plugin)
}

/// A credential plugin that talks on stderr and whose credentials expire
/// every few seconds: once the console owns the screen, nothing it says
/// reaches the terminal, and the console keeps working.
#[test]
fn a_chatty_expiring_credential_plugin_leaves_the_screen_clean() {
    let served = Served::start("swarm");
    let home = tempfile::tempdir().unwrap();
    let (path, plugin) = with_exec_plugin(
        &served,
        home.path(),
        "sso-plugin.sh",
        "if [ -e \"$0.expired\" ]; then echo \"sso-plugin: the SSO session expired, log in again\" >&2; exit 1; fi\necho \"sso-plugin: refreshing your credentials now\" >&2\n",
    );
    let t = Tui::start(&format!("--kubeconfig {}", path.display()));
    t.wait_for("the pods", |s| s.contains("swarm-worker-0"));
    // Several expiries, and views that make requests meanwhile.
    for view in [":sts\r", ":cm\r", ":pods\r"] {
        std::thread::sleep(Duration::from_millis(1500));
        t.send(view.as_bytes());
    }
    let s = t.wait_for("the pods again", |s| s.contains("swarm-worker-0"));
    assert!(!s.contains("sso-plugin"), "{s}");
    // The session expires: the header says so in the plugin's words; once
    // the plugin succeeds again, the console is live again by itself.
    let expired = PathBuf::from(format!("{}.expired", plugin.display()));
    std::fs::write(&expired, "").unwrap();
    served.cluster.disconnect_watchers();
    let s = t.wait_for("the expiry in the header", |s| {
        s.lines()
            .next()
            .is_some_and(|h| h.contains("credentials expired for swarmdeck-embedded"))
    });
    assert!(s.lines().next().unwrap().contains("the SSO session"), "{s}");
    std::fs::remove_file(&expired).unwrap();
    t.wait_for("live again", |s| {
        s.lines().next().is_some_and(|h| h.contains(" live "))
    });
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
    // Before the console took the screen the plugin could talk (a login may
    // need the operator); after it, not one byte of it reached the terminal.
    let raw = t.raw.lock().unwrap().clone();
    let text = String::from_utf8_lossy(&raw);
    let owned = text.find("\u{1b}[?1049h").expect("the alternate screen");
    let left = text[owned..]
        .find("\u{1b}[?1049l")
        .map_or(text.len(), |i| owned + i);
    // (Its failure is shown in the header, through the console; its chatter
    // on a refresh never is.)
    assert!(
        !text[owned..left].contains("refreshing your credentials now"),
        "the plugin wrote over the console's screen"
    );
}

/// A server whose certificate the kubeconfig does not trust: one line that
/// names the server and says what to check.
#[test]
fn a_certificate_that_is_not_trusted_is_explained_in_one_line() {
    let served = Served::start("swarm");
    let other = swarmdeck::embedded::Cluster::new(swarmdeck::time::Clock::system(), 10);
    let home = tempfile::tempdir().unwrap();
    // The kubeconfig of another cluster's authority, pointed at this server.
    let theirs = std::fs::read_to_string(&served.kubeconfig).unwrap();
    let wrong_ca = swarmdeck::embedded::kubeconfig(&other, "https://x", "swarm");
    let ca_line = |text: &str| {
        text.lines()
            .find(|l| l.contains("certificate-authority-data"))
            .unwrap()
            .to_owned()
    };
    let kc = home.path().join("kubeconfig");
    std::fs::write(&kc, theirs.replace(&ca_line(&theirs), &ca_line(&wrong_ca))).unwrap();
    let out = run(
        &["get", "pods", "--kubeconfig", kc.to_str().unwrap()],
        &[],
        home.path(),
    );
    let err = one_line_error(&out);
    assert!(
        err.contains(&format!(
            "cannot reach the API server at https://127.0.0.1:{}/",
            served.addr.port()
        )),
        "{err}"
    );
    assert!(err.contains("certificate-authority"), "{err}");
}

/// The same proxies in front of a real kube-apiserver (`../shared/realk8s`,
/// which `.ci/run` starts and names in `SWARMDECK_REALK8S_KUBECONFIG`): a
/// list and a namespaced user's refusal through tinyproxy, through a SOCKS5
/// `proxy-url`, and around the proxy with NO_PROXY.
#[test]
fn proxies_in_front_of_a_real_kube_apiserver() {
    let Some(real) = std::env::var_os("SWARMDECK_REALK8S_KUBECONFIG") else {
        eprintln!("no SWARMDECK_REALK8S_KUBECONFIG: the real-server proxy tier is skipped");
        return;
    };
    let (Some(http), Some(socks)) = (Proxy::tinyproxy(), Proxy::microsocks()) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let real = PathBuf::from(real);
    let text = std::fs::read_to_string(&real).unwrap();
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .unwrap()
        .trim()
        .to_owned();
    let port: u16 = server
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let kc = real.to_str().unwrap();
    let url = format!("http://127.0.0.1:{}", http.port);
    let before = http.connections_to(port);
    let out = run(
        &["get", "pods", "-A", "--kubeconfig", kc],
        &[("HTTPS_PROXY", &url)],
        home.path(),
    );
    ok(&out);
    assert!(http.connections_to(port) > before, "not through tinyproxy");
    // A namespaced user's refusal arrives through the proxy as the server said it.
    let out = run(
        &[
            "get",
            "cm",
            "-n",
            "default",
            "--context",
            "realk8s-viewer",
            "--kubeconfig",
            kc,
        ],
        &[("HTTPS_PROXY", &url)],
        home.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("User \"viewer\" cannot list resource \"configmaps\""),
        "{err}"
    );
    // NO_PROXY: around it.
    let before = http.connections_to(port);
    let out = run(
        &["get", "pods", "-A", "--kubeconfig", kc],
        &[("HTTPS_PROXY", &url), ("NO_PROXY", "127.0.0.0/8")],
        home.path(),
    );
    ok(&out);
    assert_eq!(
        http.connections_to(port),
        before,
        "NO_PROXY went through the proxy"
    );
    // SOCKS5 in the kubeconfig.
    let socks_kc = home.path().join("kubeconfig");
    std::fs::write(
        &socks_kc,
        text.replace(
            &format!("server: {server}"),
            &format!(
                "server: {server}\n    proxy-url: socks5://127.0.0.1:{}",
                socks.port
            ),
        ),
    )
    .unwrap();
    let out = run(
        &[
            "get",
            "pods",
            "-A",
            "--kubeconfig",
            socks_kc.to_str().unwrap(),
        ],
        &[],
        home.path(),
    );
    ok(&out);
    assert!(socks.connections_to(port) > 0, "not through microsocks");
}

/// A JWT as an OIDC provider issues it (unsigned here: the client reads only
/// its expiry; the server knows the whole token as a user's).
fn jwt(subject: &str, exp: i64) -> String {
    use base64::Engine;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(serde_json::json!({"alg": "RS256", "typ": "JWT"})),
        b64(serde_json::json!({"iss": "test-idp", "sub": subject, "exp": exp}))
    )
}

/// An OIDC provider over HTTPS: its discovery document and a token endpoint
/// that answers a refresh-token grant with `answer` (None: 400), recording
/// each grant's form.
struct Idp {
    url: String,
    ca_file: PathBuf,
    grants: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Idp {
    fn start(rt: &tokio::runtime::Runtime, dir: &Path, answer: Option<String>) -> Idp {
        use axum::routing::{get, post};
        let identity = swarmdeck::embedded::tls::Identity::generate().unwrap();
        let ca_file = dir.join("idp-ca.pem");
        std::fs::write(&ca_file, &identity.ca_pem).unwrap();
        let acceptor = identity.acceptor().unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        let grants = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let discovery = serde_json::json!({
            "issuer": url,
            "token_endpoint": format!("{url}/token"),
        });
        let seen = grants.clone();
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { axum::Json(discovery) }),
            )
            .route(
                "/token",
                post(move |body: String| async move {
                    seen.lock().unwrap().push(body);
                    match answer {
                        Some(token) => (
                            axum::http::StatusCode::OK,
                            axum::Json(serde_json::json!({
                                "id_token": token,
                                "refresh_token": "refresh-2",
                                "token_type": "Bearer",
                            })),
                        ),
                        None => (
                            axum::http::StatusCode::BAD_REQUEST,
                            axum::Json(serde_json::json!({"error": "invalid_grant"})),
                        ),
                    }
                }),
            );
        let task = rt.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
                });
            }
        });
        Idp {
            url,
            ca_file,
            grants,
            _task: task,
        }
    }
}

/// The embedded kubeconfig with its admin user replaced by an OIDC
/// auth-provider whose ID token has expired and whose refresh token works.
fn oidc_kubeconfig(served: &Served, dir: &Path, idp: &Idp) -> PathBuf {
    let mut kc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&served.kubeconfig).unwrap()).unwrap();
    let users = kc["users"].as_sequence_mut().unwrap();
    let admin = users.iter_mut().find(|u| u["name"] == "admin").unwrap();
    let expired = jwt(
        "alice",
        swarmdeck::time::Clock::system().now_ms() / 1000 - 3600,
    );
    admin["user"] = serde_yaml::from_str(&format!(
        "auth-provider:\n  name: oidc\n  config:\n    client-id: swarmdeck\n    client-secret: s3cret\n    id-token: {expired}\n    refresh-token: refresh-1\n    idp-issuer-url: {}\n",
        idp.url
    ))
    .unwrap();
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&kc).unwrap()).unwrap();
    path
}

/// An OIDC auth-provider whose ID token has expired: swarmdeck refreshes it
/// with the refresh token at the provider's token endpoint (found by its
/// discovery document), as kubectl does, and the server sees the new
/// token's user — a list, a changing verb, and the console.
#[test]
fn an_expired_oidc_id_token_is_refreshed() {
    let served = Served::start("swarm");
    let home = tempfile::tempdir().unwrap();
    let fresh = jwt(
        "alice",
        swarmdeck::time::Clock::system().now_ms() / 1000 + 3600,
    );
    let mut users = served.cluster.users();
    users.push(swarmdeck::embedded::cluster::User {
        name: "oidc:alice".into(),
        token: fresh.clone(),
        groups: vec!["system:masters".into()],
    });
    served.cluster.set_users(users);
    let idp = Idp::start(&served.rt, home.path(), Some(fresh));
    let kc = oidc_kubeconfig(&served, home.path(), &idp);
    // The provider's certificate is trusted as the system's roots are read.
    let trust = [("SSL_CERT_FILE", idp.ca_file.to_str().unwrap())];
    let out = run(
        &[
            "get",
            "pods",
            "-n",
            "swarm",
            "--kubeconfig",
            kc.to_str().unwrap(),
        ],
        &trust,
        home.path(),
    );
    assert!(ok(&out).contains("swarm-worker-0"));
    let manifest = home.path().join("cm.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-oidc, namespace: swarm}\ndata: {a: b}\n",
    )
    .unwrap();
    let out = run(
        &[
            "apply",
            "-f",
            manifest.to_str().unwrap(),
            "--kubeconfig",
            kc.to_str().unwrap(),
        ],
        &trust,
        home.path(),
    );
    ok(&out);
    let grants = idp.grants.lock().unwrap().clone();
    assert!(!grants.is_empty());
    assert!(
        grants.iter().all(
            |g| g.contains("grant_type=refresh_token") && g.contains("refresh_token=refresh-1")
        ),
        "{grants:?}"
    );
    let requests = served.cluster.requests();
    let users: std::collections::BTreeSet<_> = requests.iter().map(|r| r.user.clone()).collect();
    assert_eq!(
        users.into_iter().collect::<Vec<_>>(),
        vec!["oidc:alice".to_owned()],
        "every request carried the refreshed token"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.method == "PATCH" && r.path.contains("configmaps/from-oidc")),
        "the apply was written"
    );
    // The console, too.
    let t = Tui::start_with(
        &format!("--kubeconfig {}", kc.display()),
        &[("SSL_CERT_FILE", idp.ca_file.to_str().unwrap())],
    );
    t.wait_for("the pods", |s| s.contains("swarm-worker-0"));
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
}

/// A refresh the provider refuses: one line naming the server and what
/// failed, and nothing sent to the cluster as anyone else.
#[test]
fn a_refused_oidc_refresh_is_one_line() {
    let served = Served::start("swarm");
    let home = tempfile::tempdir().unwrap();
    let idp = Idp::start(&served.rt, home.path(), None);
    let kc = oidc_kubeconfig(&served, home.path(), &idp);
    let out = run(
        &[
            "get",
            "pods",
            "-n",
            "swarm",
            "--kubeconfig",
            kc.to_str().unwrap(),
        ],
        &[("SSL_CERT_FILE", idp.ca_file.to_str().unwrap())],
        home.path(),
    );
    let err = one_line_error(&out);
    assert!(err.contains("refreshing failed"), "{err}");
    assert!(err.contains("log in to the OIDC provider again"), "{err}");
    assert!(
        !err.contains("s3cret") && !err.contains("refresh-1"),
        "{err}"
    );
    assert!(served.cluster.requests().is_empty(), "nothing sent");
}

/// A credential plugin that needs the operator mid-session (an SSO session
/// expired, a device-code login): `:login` lends it the terminal — the
/// console steps aside, the plugin asks and reads the answer from the
/// keyboard — and the console comes back live.
#[test]
fn login_lends_the_terminal_to_an_interactive_plugin_mid_session() {
    let served = Served::start("swarm");
    let home = tempfile::tempdir().unwrap();
    // Quietly (no terminal) it fails once the session has expired; with the
    // terminal it asks for the device code and signs in again.
    let (path, plugin) = with_exec_plugin(
        &served,
        home.path(),
        "device-login.sh",
        "if [ -e \"$0.expired\" ]; then\n  if [ -t 0 ]; then\n    echo \"device-login: open https://sso.example/device and enter WXYZ-1234, then press Enter\" >&2\n    read answer\n    rm -f \"$0.expired\"\n  else\n    echo \"device-login: the SSO session expired, sign in again\" >&2\n    exit 1\n  fi\nfi\n",
    );
    let t = Tui::start(&format!("--kubeconfig {}", path.display()));
    t.wait_for("the pods", |s| s.contains("swarm-worker-0"));
    std::fs::write(format!("{}.expired", plugin.display()), "").unwrap();
    served.cluster.disconnect_watchers();
    t.wait_for("the expiry in the header", |s| {
        s.lines()
            .next()
            .is_some_and(|h| h.contains("credentials expired for swarmdeck-embedded"))
    });
    t.send(b":login\r");
    t.wait_for("the plugin's question on the shell's screen", |s| {
        s.contains("enter WXYZ-1234, then press Enter") && !s.contains("swarm-worker-0")
    });
    t.send(b"\r");
    t.wait_for("the console back, live", |s| {
        s.contains("swarm-worker-0") && s.lines().next().is_some_and(|h| h.contains(" live "))
    });
    assert!(!PathBuf::from(format!("{}.expired", plugin.display())).exists());
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
}

/// `:login` on a context without a credential plugin says so and runs
/// nothing.
#[test]
fn login_without_a_plugin_says_so() {
    let served = Served::start("swarm");
    let t = Tui::start(&format!("--kubeconfig {}", served.kubeconfig.display()));
    t.wait_for("the pods", |s| s.contains("swarm-worker-0"));
    t.send(b":login\r");
    t.wait_for("the answer", |s| s.contains("has no credential plugin"));
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
}

/// Client certificates (files, relative to the kubeconfig that names them,
/// and data) and `tls-server-name` on a real kube-apiserver: the server
/// knows the certificate's user (its audit log says so), and a
/// `tls-server-name` the server's certificate does not carry is one line
/// naming the server and what to check.
#[test]
fn client_certificates_and_tls_server_name_on_a_real_kube_apiserver() {
    use base64::Engine;
    let Some(real) = std::env::var_os("SWARMDECK_REALK8S_KUBECONFIG") else {
        eprintln!("no SWARMDECK_REALK8S_KUBECONFIG: the real-server certificate tier is skipped");
        return;
    };
    let real = PathBuf::from(real);
    let root = real.parent().unwrap();
    let pki = root.join("pki");
    let home = tempfile::tempdir().unwrap();
    let certs = home.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    let sh = |script: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(&certs)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // A client certificate the cluster's authority signs, as an
    // administrator hands one out.
    sh(&format!(
        "openssl genrsa -out cert-user.key 2048 2>/dev/null && \
         openssl req -new -key cert-user.key -subj '/CN=cert-user/O=system:masters' -out cert-user.csr && \
         printf 'extendedKeyUsage = clientAuth\\n' > ext.cnf && \
         openssl x509 -req -in cert-user.csr -CA {ca} -CAkey {key} -CAcreateserial -CAserial serial -days 1 -sha256 -extfile ext.cnf -out cert-user.crt 2>/dev/null",
        ca = pki.join("ca.crt").display(),
        key = pki.join("ca.key").display()
    ));
    let text = std::fs::read_to_string(&real).unwrap();
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .unwrap()
        .trim()
        .to_owned();
    let ca_data = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate-authority-data: "))
        .unwrap()
        .trim()
        .to_owned();
    let b64 = |name: &str| {
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(certs.join(name)).unwrap())
    };
    let kubeconfig = |name: &str, server_name: &str, user: &str| {
        let path = home.path().join(name);
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: real\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca_data}\n    tls-server-name: {server_name}\nusers:\n- name: cert-user\n  user:\n{user}\ncontexts:\n- name: real\n  context: {{cluster: real, user: cert-user, namespace: default}}\ncurrent-context: real\n"
            ),
        )
        .unwrap();
        path
    };
    let files = kubeconfig(
        "files.yaml",
        "kubernetes.default",
        "    client-certificate: certs/cert-user.crt\n    client-key: certs/cert-user.key",
    );
    let data = kubeconfig(
        "data.yaml",
        "kubernetes.default.svc",
        &format!(
            "    client-certificate-data: {}\n    client-key-data: {}",
            b64("cert-user.crt"),
            b64("cert-user.key")
        ),
    );
    let manifest = home.path().join("cm.yaml");
    for (kc, cm) in [(&files, "from-cert-files"), (&data, "from-cert-data")] {
        let out = run(
            &["get", "pods", "-A", "--kubeconfig", kc.to_str().unwrap()],
            &[],
            home.path(),
        );
        ok(&out);
        std::fs::write(
            &manifest,
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {cm}, namespace: default}}\ndata: {{a: b}}\n"),
        )
        .unwrap();
        let out = run(
            &[
                "apply",
                "-f",
                manifest.to_str().unwrap(),
                "--kubeconfig",
                kc.to_str().unwrap(),
            ],
            &[],
            home.path(),
        );
        ok(&out);
    }
    // The server's audit log: the ConfigMaps were written as cert-user.
    let audit = std::fs::read_to_string(root.join("logs/audit.log")).unwrap();
    for cm in ["from-cert-files", "from-cert-data"] {
        assert!(
            audit.lines().any(|l| {
                let e: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
                e["user"]["username"] == "cert-user"
                    && e["objectRef"]["name"] == cm
                    && e["verb"] == "patch"
            }),
            "no patch of {cm} by cert-user in the audit log"
        );
    }
    // A name the server's certificate does not carry.
    let wrong = kubeconfig(
        "wrong-name.yaml",
        "api.elsewhere.example",
        "    client-certificate: certs/cert-user.crt\n    client-key: certs/cert-user.key",
    );
    let out = run(
        &["get", "pods", "--kubeconfig", wrong.to_str().unwrap()],
        &[],
        home.path(),
    );
    let err = one_line_error(&out);
    assert!(
        err.contains(&format!("cannot reach the API server at {server}")),
        "{err}"
    );
    assert!(err.contains("tls-server-name"), "{err}");
}
