//! kubectl (from the machine image) against `swarmdeck embedded serve`: the
//! commands operators and the ECS KubectlTask run, verbatim where it matters.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    kubeconfig: PathBuf,
    dir: tempfile::TempDir,
}

fn require_kubectl() {
    let ok = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "kubectl is required for the compatibility tests and was not found on PATH: install it (the machine image ships one; Debian: apt-get install kubernetes-client)"
    );
}

impl Server {
    fn start() -> Self {
        require_kubectl();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let mut child = Command::new(env!("CARGO_BIN_EXE_swarmdeck"))
            .args(["embedded", "serve", "--port", "0", "--kubeconfig"])
            .arg(&kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("swarmdeck embedded serve starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("serve prints its URL").unwrap();
        assert!(
            first.starts_with("embedded cluster serving on https://127.0.0.1:"),
            "{first}"
        );
        let second = lines.next().unwrap().unwrap();
        assert_eq!(
            second,
            format!("export KUBECONFIG={}", kubeconfig.display())
        );
        Server {
            child,
            kubeconfig,
            dir,
        }
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run a command line through bash exactly as written (quotes and all).
    fn sh(&self, line: &str) -> Output {
        Command::new("bash")
            .arg("-c")
            .arg(line)
            .current_dir(self.dir.path())
            .env("KUBECONFIG", &self.kubeconfig)
            .output()
            .unwrap()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn wait_for(&self, what: &str, args: &[&str], want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.kubectl(args);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() && want(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last output: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn rendered(name: &str, sets: &[&str]) -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/examples")
        .join(name);
    let mut args = vec![
        "render".to_owned(),
        "-f".to_owned(),
        file.to_string_lossy().into_owned(),
    ];
    for s in sets {
        args.push("--set".into());
        args.push((*s).into());
    }
    let out = Command::new(env!("CARGO_BIN_EXE_swarmdeck"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn crds_namespaces_pods_and_task_columns() {
    let s = Server::start();
    let crds = Command::new(env!("CARGO_BIN_EXE_swarmdeck"))
        .arg("crds")
        .output()
        .unwrap()
        .stdout;
    let f = s.write("crds.yaml", &String::from_utf8(crds).unwrap());
    let out = s.ok(&["apply", "-f", path(&f)]);
    assert!(
        out.contains("customresourcedefinition.apiextensions.k8s.io/tasks.aliecs.alice.cern"),
        "{out}"
    );
    let ns = s.ok(&["get", "ns"]);
    for n in ["default", "swarm", "alice-tasks", "ops"] {
        assert!(
            ns.lines().any(|l| l.starts_with(n) && l.contains("Active")),
            "{ns}"
        );
    }
    let pods = s.wait_for("demo pods", &["get", "pods", "-A"], |t| {
        t.contains("swarm-worker-1") && t.contains("aliecs-task-pod-readout")
    });
    assert!(pods.starts_with("NAMESPACE"), "{pods}");
    assert!(
        pods.lines().next().unwrap().contains("READY")
            && pods.lines().next().unwrap().contains("STATUS"),
        "{pods}"
    );
    let tasks = s.wait_for("task states", &["get", "tasks", "-n", "alice-tasks"], |t| {
        t.contains("standby   standby")
    });
    let header: Vec<&str> = tasks.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "DESIRED", "ACTUAL", "AGE"]);
    // A `date` printer column arrives as an age, as kube-apiserver sends it.
    let age = tasks
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap();
    assert!(
        regex::Regex::new(r"^\d+(s|m\d*s?|h)$")
            .unwrap()
            .is_match(age),
        "{tasks}"
    );
    let resources = s.ok(&["api-resources"]);
    assert!(
        resources.contains("tasks") && resources.contains("aliecs.alice.cern/v1alpha1"),
        "{resources}"
    );
}

#[test]
fn apply_twice_then_server_side() {
    let s = Server::start();
    let ns = s.write(
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ingest\n",
    );
    s.ok(&["apply", "-f", path(&ns)]);
    let f = s.write(
        "unit.yaml",
        &rendered(
            "multi-resource.yaml",
            &["APP_NAMESPACE=ingest", "IMAGE_TAG=2.1"],
        ),
    );
    let first = s.ok(&["apply", "-f", path(&f)]);
    assert_eq!(first.matches(" created").count(), 5, "{first}");
    let second = s.ok(&["apply", "-f", path(&f)]);
    // The Secret's `stringData` is folded into `data` and never stored, so
    // kubectl's patch always carries it: "configured" again, as kubectl
    // says against kube-apiserver v1.36.3.
    assert_eq!(second.matches(" unchanged").count(), 4, "{second}");
    assert!(
        second.contains("secret/ingest-credentials configured"),
        "{second}"
    );
    let ssa = s.ok(&["apply", "--server-side", "-f", path(&f)]);
    assert_eq!(ssa.matches("serverside-applied").count(), 5, "{ssa}");
    s.wait_for(
        "gateway pods",
        &["get", "deploy", "ingest-gateway", "-n", "ingest"],
        |t| t.contains("2/2"),
    );
}

#[test]
fn json_merge_and_strategic_patches() {
    let s = Server::start();
    s.ok(&[
        "patch",
        "configmap",
        "swarm-controller-config",
        "-n",
        "swarm",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/data/extra","value":"1"}]"#,
    ]);
    s.ok(&[
        "patch",
        "configmap",
        "swarm-controller-config",
        "-n",
        "swarm",
        "--type=merge",
        "-p",
        r#"{"data":{"other":"2"}}"#,
    ]);
    let data = s.ok(&[
        "get",
        "configmap",
        "swarm-controller-config",
        "-n",
        "swarm",
        "-o",
        "jsonpath={.data.extra} {.data.other}",
    ]);
    assert_eq!(data, "1 2");
    // Strategic (kubectl's default): containers merge by name, env by name.
    s.ok(&["patch", "statefulset", "swarm-worker", "-n", "swarm", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"worker","env":[{"name":"LOG_LEVEL","value":"debug"}]}]}}}}"#]);
    let env = s.ok(&[
        "get",
        "sts",
        "swarm-worker",
        "-n",
        "swarm",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].env[*].name}",
    ]);
    assert_eq!(env, "SWARM_WORKER_CONFIG LOG_LEVEL");
    let bad = s.kubectl(&[
        "patch",
        "configmap",
        "swarm-controller-config",
        "-n",
        "swarm",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/data/nothing"}]"#,
    ]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("the JSON patch does not apply"), "{err}");
    // The server keeps serving after a refused request.
    s.ok(&["get", "configmap", "swarm-controller-config", "-n", "swarm"]);
}

#[test]
fn scale_is_seen_by_a_watch() {
    let s = Server::start();
    s.wait_for(
        "two workers",
        &["get", "sts", "swarm-worker", "-n", "swarm"],
        |t| t.contains("2/2"),
    );
    let mut watch = Command::new("kubectl")
        .env("KUBECONFIG", &s.kubeconfig)
        .args(["get", "pods", "-n", "swarm", "-w"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let out = s.ok(&[
        "scale",
        "sts",
        "swarm-worker",
        "-n",
        "swarm",
        "--replicas=3",
    ]);
    assert!(
        out.contains("statefulset.apps/swarm-worker scaled"),
        "{out}"
    );
    s.wait_for("three ready pods", &["get", "pods", "-n", "swarm", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status} {end}"], |t| {
        t.split_whitespace().filter(|x| x.ends_with("=True")).count() == 3
    });
    std::thread::sleep(Duration::from_millis(300));
    let _ = watch.kill();
    let seen = watch.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&seen.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("swarm-worker-2") && l.contains("Pending")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("swarm-worker-2") && l.contains("Running")),
        "{text}"
    );
}

#[test]
fn delete_by_file() {
    let s = Server::start();
    let f = s.write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gone-soon\n  namespace: default\ndata: {a: b}\n");
    s.ok(&["apply", "-f", path(&f)]);
    let out = s.ok(&["delete", "-f", path(&f)]);
    assert_eq!(out.trim(), "configmap \"gone-soon\" deleted");
    let after = s.kubectl(&["get", "-f", path(&f)]);
    assert!(String::from_utf8_lossy(&after.stderr).contains("configmaps \"gone-soon\" not found"));
}

#[test]
fn strict_field_validation_reaches_kubectl() {
    let s = Server::start();
    let f = s.write(
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\ndatta: {a: b}\n",
    );
    let out = s.kubectl(&["apply", "-f", path(&f)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown field \"datta\""), "{err}");
    assert!(
        s.kubectl(&["get", "cm", "typo"])
            .stderr
            .starts_with(b"Error from server (NotFound)")
    );
}

const TASK: &str = "apiVersion: aliecs.alice.cern/v1alpha1
kind: Task
metadata:
  name: flp-readout
  namespace: alice-tasks
spec:
  control:
    mode: direct
    port: 31000
  state: standby
  pod:
    containers:
      - name: readout
        image: registry.example.org/o2/readout:1.24
";

#[test]
fn the_four_kubectl_task_commands() {
    let s = Server::start();
    s.write("task.yaml", TASK);
    let run = |line: &str| {
        let out = s.sh(line);
        assert!(
            out.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let state = || {
        s.ok(&[
            "get",
            "task",
            "flp-readout",
            "-n",
            "alice-tasks",
            "-o",
            "jsonpath={.status.state}",
        ])
    };
    let wait_state = |want: &str| {
        s.wait_for(
            &format!("state {want}"),
            &[
                "get",
                "task",
                "flp-readout",
                "-n",
                "alice-tasks",
                "-o",
                "jsonpath={.status.state}",
            ],
            |t| t == want,
        );
    };
    assert!(
        run("kubectl apply -f task.yaml").contains("task.aliecs.alice.cern/flp-readout created")
    );
    wait_state("standby");
    // A jump from standby to running is refused by the operator: error.
    run(
        r#"kubectl patch -f task.yaml --type='json' -p='[{"op": "replace", "path": "/spec/state", "value": "running"}]'"#,
    );
    wait_state("error");
    let why = s.ok(&[
        "get",
        "task",
        "flp-readout",
        "-n",
        "alice-tasks",
        "-o",
        "jsonpath={.status.error}",
    ]);
    assert!(why.contains("standby to running is not allowed"), "{why}");
    // Back to standby, then the legal way: configured first.
    run(
        r#"kubectl patch -f task.yaml --type='json' -p='[{"op": "replace", "path": "/spec/state", "value": "standby"}]'"#,
    );
    wait_state("standby");
    run(
        r#"kubectl patch -f task.yaml --type='json' -p='[{"op": "replace", "path": "/spec/state", "value": "configured"}]'"#,
    );
    wait_state("configured");
    run(
        r#"kubectl patch -f task.yaml --type='json' -p='[{"op": "replace", "path": "/spec/state", "value": "running"}]'"#,
    );
    wait_state("running");
    assert_eq!(state(), "running");
    assert_eq!(
        run("kubectl get -f task.yaml -o jsonpath='{.spec.state}'"),
        "running"
    );
    assert!(
        run("kubectl delete -f task.yaml")
            .contains("task.aliecs.alice.cern \"flp-readout\" deleted")
    );
    s.wait_for(
        "task pod gone",
        &["get", "pods", "-n", "alice-tasks", "-o", "name"],
        |t| !t.contains("aliecs-task-pod-flp-readout"),
    );
}

#[test]
fn the_operator_deployment_and_its_rbac_apply_with_kubectl() {
    let s = Server::start();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/deploy");
    let out = s.ok(&["apply", "-f", dir]);
    for line in [
        "serviceaccount/swarmdeck created",
        "deployment.apps/swarmdeck-operator created",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }
    // The demo already holds these Roles and bindings (for its users): kubectl
    // applies the shipped ones over them.
    for object in [
        "role.rbac.authorization.k8s.io/swarmdeck-operator",
        "rolebinding.rbac.authorization.k8s.io/swarmdeck-operator",
        "role.rbac.authorization.k8s.io/swarmdeck-read-only",
        "rolebinding.rbac.authorization.k8s.io/swarmdeck-read-only",
    ] {
        assert!(
            ["created", "configured", "unchanged"]
                .iter()
                .any(|how| out.contains(&format!("{object} {how}"))),
            "{object}: {out}"
        );
    }
    let sa = s.ok(&[
        "get",
        "deploy",
        "swarmdeck-operator",
        "-n",
        "swarm",
        "-o",
        "jsonpath={.spec.template.spec.serviceAccountName}",
    ]);
    assert_eq!(sa, "swarmdeck");
}

/// README's first steps on the embedded cluster: `embedded serve` runs the
/// engine as the operator Deployment would, so a `kubectl scale` of the
/// workers is followed by an assignment that includes the new worker.
#[test]
fn embedded_serve_runs_the_operator_so_kubectl_scale_rebalances() {
    let s = Server::start();
    let config = [
        "get",
        "configmap",
        "swarm-worker-config",
        "-n",
        "swarm",
        "-o",
        "jsonpath={.data.config\\.yml}",
    ];
    s.wait_for("the first assignment", &config, |t| {
        t.contains("swarm-worker-0") && t.contains("swarm-worker-1")
    });
    s.ok(&[
        "scale",
        "sts",
        "swarm-worker",
        "-n",
        "swarm",
        "--replicas=3",
    ]);
    let assigned = s.wait_for("the third worker's streams", &config, |t| {
        t.contains("swarm-worker-2:")
    });
    let cfg = swarmdeck::domain::assignment::WorkerConfig::parse(&assigned).unwrap();
    let counts: Vec<usize> = cfg.workloads.values().map(|w| w.jobs.len()).collect();
    assert_eq!(counts.iter().sum::<usize>(), 32, "{assigned}");
    assert!(counts.iter().all(|n| (10..=11).contains(n)), "{assigned}");
}

/// metrics.k8s.io as metrics-server serves it: `kubectl top` works, a worker
/// uses more the more it holds, and the one with the hot stream most.
#[test]
fn kubectl_top_pods_and_nodes() {
    let s = Server::start();
    s.wait_for(
        "the first assignment",
        &[
            "get",
            "configmap",
            "swarm-worker-config",
            "-n",
            "swarm",
            "-o",
            "jsonpath={.data.config\\.yml}",
        ],
        |t| t.contains("stream:tpc-a00"),
    );
    s.wait_for(
        "both workers measured",
        &["top", "pods", "-n", "swarm", "--no-headers"],
        |t| t.contains("swarm-worker-0") && t.contains("swarm-worker-1"),
    );
    let config = s.ok(&[
        "get",
        "configmap",
        "swarm-worker-config",
        "-n",
        "swarm",
        "-o",
        "jsonpath={.data.config\\.yml}",
    ]);
    let cfg = swarmdeck::domain::assignment::WorkerConfig::parse(&config).unwrap();
    let hot = cfg
        .workloads
        .iter()
        .find(|(_, w)| w.jobs.iter().any(|j| j == "stream:tpc-a00"))
        .map(|(name, _)| name.clone())
        .unwrap();
    let cold = if hot == "swarm-worker-0" {
        "swarm-worker-1"
    } else {
        "swarm-worker-0"
    };
    // Loading spikes for a while: wait until both are past it.
    std::thread::sleep(Duration::from_secs(13));
    let top = s.ok(&["top", "pods", "-n", "swarm", "--no-headers"]);
    let cpu_now = |pod: &str| -> u64 {
        let line = top.lines().find(|l| l.starts_with(pod)).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .trim_end_matches('m')
            .parse()
            .unwrap()
    };
    assert!(
        cpu_now(&hot) > cpu_now(cold) + 100,
        "the worker with the hot stream ({hot}) uses more CPU:\n{top}"
    );
    let memory = top
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(2)
        .unwrap();
    assert!(memory.ends_with("Mi"), "{top}");
    let nodes = s.ok(&["top", "nodes", "--no-headers"]);
    for n in ["node-1", "node-2", "node-3"] {
        assert!(nodes.contains(n), "{nodes}");
    }
    // Read-only, as metrics-server: a write is refused.
    let refused = s.kubectl(&[
        "delete",
        "podmetrics.metrics.k8s.io",
        "swarm-worker-0",
        "-n",
        "swarm",
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("MethodNotAllowed")
            || String::from_utf8_lossy(&refused.stderr).contains("not allow"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
