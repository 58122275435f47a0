//! The embedded demo with its world ticking on a manual clock in a helper
//! thread, for engine tests that poll as they would against a real cluster.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod pty;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use swarmdeck::embedded::Cluster;
use swarmdeck::embedded::scenario::{self, Scenario};
use swarmdeck::embedded::world::{Timing, World};
use swarmdeck::time::Clock;

pub struct Demo {
    pub cluster: Cluster,
    pub client: kube::Client,
    /// Which worker pod had which stream loaded when.
    pub ownership: swarmdeck::embedded::world::Ownership,
    stop: Arc<AtomicBool>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub fn demo(read_only: bool) -> Demo {
    demo_with(read_only, Vec::new())
}

/// The demo with faults added to the scenario's.
pub fn demo_with(read_only: bool, faults: Vec<swarmdeck::embedded::world::Fault>) -> Demo {
    let cluster = Cluster::new(Clock::manual(1_795_305_600_000), 100_000);
    scenario::install_crds(&cluster).unwrap();
    let s = Scenario::parse(scenario::DEMO).unwrap();
    s.load_into(&cluster).unwrap();
    let mut all = s.faults;
    all.extend(faults);
    let mut world = World::new(cluster.clone(), all, Timing::default(), s.nodes);
    world.run_for(3_000);
    let ownership = world.ownership();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                world.run_for(100);
                std::thread::sleep(Duration::from_millis(3));
            }
        });
    }
    let client = swarmdeck::cluster::gate::in_process(&cluster, "swarm", read_only);
    Demo {
        cluster,
        client,
        ownership,
        stop,
    }
}

/// The embedded demo served on TCP from this test process (so the test can
/// read the server's request log), its world ticking on real time.
pub struct Served {
    pub rt: tokio::runtime::Runtime,
    pub cluster: swarmdeck::embedded::Cluster,
    pub addr: std::net::SocketAddr,
    pub server: Option<tokio::task::JoinHandle<()>>,
    pub stop: Arc<std::sync::atomic::AtomicBool>,
    pub ticker: Option<std::thread::JoinHandle<()>>,
    pub kubeconfig: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Served {
    pub fn start(namespace: &str) -> Served {
        Served::start_with(namespace, Vec::new())
    }

    /// The demo served with these faults in its world.
    pub fn start_with(namespace: &str, faults: Vec<swarmdeck::embedded::world::Fault>) -> Served {
        Served::start_full(namespace, faults, 10_000)
    }

    /// The demo served, keeping the last `window` changes replayable to a
    /// watch (older versions get a 410).
    pub fn start_full(
        namespace: &str,
        faults: Vec<swarmdeck::embedded::world::Fault>,
        window: usize,
    ) -> Served {
        use swarmdeck::embedded::{Cluster, scenario, serve_tcp};
        use swarmdeck::time::Clock;
        let rt = tokio::runtime::Runtime::new().unwrap();
        let cluster = Cluster::new(Clock::system(), window);
        scenario::install_crds(&cluster).unwrap();
        scenario::Scenario::parse(scenario::DEMO)
            .unwrap()
            .load_into(&cluster)
            .unwrap();
        let world =
            swarmdeck::embedded::world::World::new(cluster.clone(), faults, Default::default(), 3);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ticker = swarmdeck::embedded::runtime::run_world(world, 0, stop.clone());
        let (addr, server) = rt.block_on(serve_tcp(&cluster, 0)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            swarmdeck::embedded::kubeconfig(&cluster, &swarmdeck::embedded::url(addr), namespace),
        )
        .unwrap();
        Served {
            rt,
            cluster,
            addr,
            server: Some(server),
            stop,
            ticker: Some(ticker),
            kubeconfig,
            _dir: dir,
        }
    }
}

impl Served {
    /// The API server goes away (the world keeps running): every request
    /// and watch fails until [`Served::start_server`].
    pub fn stop_server(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
        self.cluster.disconnect_watchers();
    }

    /// The API server back on the same address.
    pub fn start_server(&mut self) {
        let (_, back) = self
            .rt
            .block_on(swarmdeck::embedded::serve_tcp(
                &self.cluster,
                self.addr.port(),
            ))
            .unwrap();
        self.server = Some(back);
    }

    /// Until pod `ns/name` runs (the simulated kubelet starts it after a
    /// while, longer on a busy machine).
    pub fn wait_running(&self, ns: &str, name: &str) {
        let pods = self.cluster.resolve("", "v1", "pods").unwrap();
        for _ in 0..1200 {
            if let Ok(pod) = self.cluster.get(&pods, Some(ns), name)
                && pod["status"]["phase"] == "Running"
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("pod {ns}/{name} did not start within a minute");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

/// Run the swarmdeck binary with `args` (and `--kubeconfig` when given),
/// its home, state and configuration in `state`, and no KUBECONFIG.
pub fn swarmdeck<S: AsRef<std::ffi::OsStr>>(
    args: &[S],
    kubeconfig: Option<&std::path::Path>,
    state: &std::path::Path,
) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_swarmdeck"));
    // First: after the verb's `--` every word is the command's (exec).
    if let Some(k) = kubeconfig {
        cmd.arg("--kubeconfig").arg(k);
    }
    cmd.args(args);
    cmd.env_remove("KUBECONFIG")
        .env("HOME", state)
        .env("XDG_STATE_HOME", state)
        .env("XDG_CONFIG_HOME", state)
        .output()
        .unwrap()
}

/// Every verb of the command line, classified by how it uses the cluster,
/// with arguments a user would give it: the flag and permission tests run
/// each one, and a verb added later fails them until it is classified.
pub mod verbs {
    use clap::CommandFactory;

    /// The manifest `apply` and `delete` are given: its namespace is the `-n` in play.
    pub const UNIT: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: flags-settings
data:
  interval: 10s
";

    /// How a verb uses the cluster, with arguments a user would give it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Class {
        /// Works offline; sends nothing.
        Offline,
        /// The embedded server itself.
        Server,
        /// Reads (get, list, watch) only.
        Reads,
        /// Changes the cluster: refused in read-only mode before anything is sent.
        Writes,
        /// The engine: in read-only mode it runs plan-only and sends no write.
        Engine,
    }

    /// Every leaf verb of the command line, as its words (`task set-state`).
    pub fn leaf_verbs() -> Vec<Vec<String>> {
        fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<Vec<String>>) {
            let subs: Vec<&clap::Command> = cmd.get_subcommands().collect();
            if subs.is_empty() {
                out.push(path);
                return;
            }
            for s in subs {
                let mut p = path.clone();
                p.push(s.get_name().to_owned());
                walk(s, p, out);
            }
        }
        let mut out = Vec::new();
        walk(&swarmdeck::cli::Cli::command(), Vec::new(), &mut out);
        out
    }

    /// The class and sample arguments (after the verb's words) of each verb, and
    /// the namespace it works in.
    pub fn sample(verb: &[String], unit: &str) -> Option<(Class, Vec<String>, &'static str)> {
        let words: Vec<&str> = verb.iter().map(String::as_str).collect();
        let own = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        Some(match words.as_slice() {
            ["crds"] | ["assign"] | ["render"] | ["new", "pool"] => {
                (Class::Offline, own(&[]), "swarm")
            }
            ["embedded", "serve"] => (Class::Server, own(&[]), "swarm"),
            ["grid"] => (Class::Reads, own(&["swarm-worker"]), "swarm"),
            ["get"] => (Class::Reads, own(&["pods"]), "swarm"),
            ["status"] => (Class::Reads, own(&[]), "swarm"),
            ["logs"] => (
                Class::Reads,
                own(&["swarm-worker-0", "--tail", "5"]),
                "swarm",
            ),
            ["rebalance"] => (Class::Writes, own(&["swarm-worker"]), "swarm"),
            ["scale"] => (Class::Writes, own(&["swarm-worker", "3"]), "swarm"),
            ["task", "set-state"] => (
                Class::Writes,
                own(&["readout", "configured", "--timeout", "20"]),
                "alice-tasks",
            ),
            ["apply"] => (Class::Writes, own(&["-f", unit]), "swarm"),
            ["delete"] => (Class::Writes, own(&["-f", unit]), "swarm"),
            ["operator"] => (Class::Engine, own(&["--exit-after", "2"]), "swarm"),
            ["exec"] => (
                Class::Writes,
                own(&["swarm-worker-0", "--", "ls", "/app"]),
                "swarm",
            ),
            ["port-forward"] => (
                Class::Writes,
                own(&["swarm-worker-0", ":8080", "--exit-after", "1"]),
                "swarm",
            ),
            _ => return None,
        })
    }
}

/// A client for a context of a kubeconfig.
pub async fn context_client(path: &std::path::Path, context: &str) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(path).unwrap();
    let options = kube::config::KubeConfigOptions {
        context: Some(context.to_owned()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// Scale the demo's swarm from outside, as `kubectl scale` does.
pub async fn scale(client: &kube::Client, n: i32) {
    use kube::api::{Patch, PatchParams};
    kube::Api::<k8s_openapi::api::apps::v1::StatefulSet>::namespaced(client.clone(), "swarm")
        .patch_scale(
            "swarm-worker",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": n}})),
        )
        .await
        .unwrap();
}

/// The Task CRD as `swarmdeck crds` gives it, created if missing and
/// awaited until the server says it is established.
pub async fn task_crd_established(admin: &kube::Client) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crds: kube::Api<CustomResourceDefinition> = kube::Api::all(admin.clone());
    if crds
        .get_opt("tasks.aliecs.alice.cern")
        .await
        .unwrap()
        .is_none()
    {
        crds.create(&Default::default(), &swarmdeck::domain::task::task_crd())
            .await
            .unwrap();
    }
    for _ in 0..100 {
        let established = crds
            .get("tasks.aliecs.alice.cern")
            .await
            .ok()
            .and_then(|c| c.status?.conditions)
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
        if established {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("CRD tasks.aliecs.alice.cern never became established");
}

/// The demo after `run_ms` of world time, its clock then held still, and the
/// console's stores filled from it through a read-only client.
pub async fn still_demo(run_ms: i64) -> (Cluster, kube::Client, swarmdeck::ui::data::Stores) {
    let cluster = Cluster::new(Clock::manual(1_795_305_600_000), 100_000);
    scenario::install_crds(&cluster).unwrap();
    let s = Scenario::parse(scenario::DEMO).unwrap();
    s.load_into(&cluster).unwrap();
    let mut world = World::new(cluster.clone(), s.faults, Timing::default(), s.nodes);
    world.run_for(run_ms);
    let client = swarmdeck::cluster::gate::in_process(&cluster, "swarm", true);
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    std::mem::forget(rx);
    let stores = swarmdeck::ui::runtime::spawn_stores(&client, &tx, None).0;
    // The pods' usage too: the pods view shows it (read once asked for).
    stores.metrics.want();
    for _ in 0..200 {
        if stores.synced()
            && stores.metrics.read().availability
                != swarmdeck::cluster::metrics::Availability::Unknown
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (cluster, client, stores)
}

/// Keys typed into the console's model (`\r` Enter, `\x1b` Esc); each acts
/// on the rows as they would be drawn.
pub fn press(m: &mut swarmdeck::ui::app::Model, text: &str) -> Vec<swarmdeck::ui::app::Effect> {
    use crossterm::event::{KeyCode, KeyEvent};
    let mut effects = Vec::new();
    for c in text.chars() {
        m.refresh_rows();
        let code = match c {
            '\r' => KeyCode::Enter,
            '\x1b' => KeyCode::Esc,
            c => KeyCode::Char(c),
        };
        effects.extend(swarmdeck::ui::app::update(
            m,
            swarmdeck::ui::app::Event::Key(KeyEvent::from(code)),
        ));
    }
    effects
}

/// Ctrl and a letter typed into the console's model.
pub fn press_ctrl(m: &mut swarmdeck::ui::app::Model, c: char) -> Vec<swarmdeck::ui::app::Effect> {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    m.refresh_rows();
    swarmdeck::ui::app::update(
        m,
        swarmdeck::ui::app::Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)),
    )
}

/// The console's model with the default theme and keymap over `cluster`'s
/// clock, in namespace swarm, with no stores behind it.
pub fn console_model(cluster: &Cluster) -> swarmdeck::ui::app::Model {
    use swarmdeck::ui::app::{Header, Model};
    let (theme, _) = swarmdeck::ui::theme::ThemeSource { user_dir: None }.load("default");
    let (keymap, _) = swarmdeck::ui::keymap::Keymap::load("default", None, false);
    let mut m = Model::new(
        Header::default(),
        "swarm".into(),
        swarmdeck::ui::data::Stores::default(),
        theme,
        keymap,
    );
    m.now_ms = cluster.clock().now_ms();
    m
}

/// A drawn buffer as text: one line per row, trailing blanks trimmed.
pub fn screen_text(buf: &ratatui::buffer::Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width)
            .map(|x| buf[(x, y)].symbol().to_owned())
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The first stream a scale of the demo swarm to 3 moves, from swarmdeck's
/// own dry-run plan: (stream, from, to).
pub fn first_move_to_three(
    kubeconfig: &std::path::Path,
    state: &std::path::Path,
) -> (String, String, String) {
    let out = swarmdeck(
        &[
            "scale",
            "swarm-worker",
            "3",
            "-n",
            "swarm",
            "--dry-run",
            "-o",
            "json",
        ],
        Some(kubeconfig),
        state,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let moved = &plan["plan"]["moves"][0];
    let field = |k: &str| {
        moved[k]
            .as_str()
            .unwrap_or_else(|| panic!("no {k} in {plan}"))
            .to_owned()
    };
    (field("job"), field("from"), field("to"))
}
