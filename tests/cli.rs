//! The offline commands, run as a user runs them: the real binary, its stdout,
//! stderr and exit code.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use swarmdeck::domain::assignment::WorkerConfig;
use swarmdeck::domain::manifest;

fn swarmdeck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_swarmdeck"))
        .args(args)
        .env_remove("O2_PARTITION")
        .env_remove("O2_DETECTOR")
        .env_remove("APP_NAMESPACE")
        .env_remove("IMAGE_TAG")
        .output()
        .expect("the swarmdeck binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = swarmdeck(args);
    assert!(
        out.status.success(),
        "swarmdeck {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn err(args: &[&str]) -> String {
    let out = swarmdeck(args);
    assert!(!out.status.success(), "swarmdeck {args:?} should fail");
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(e.starts_with("error: "), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    e
}

fn asset(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(path)
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

/// The example swarm's job list, as the `config.yml` of swarm-controller-config.
fn example_jobs_file(dir: &tempfile::TempDir) -> String {
    let text = std::fs::read_to_string(asset("examples/swarm.yaml")).unwrap();
    let docs = manifest::parse_documents(&text).unwrap();
    let cm = docs
        .iter()
        .find(|d| d.name() == "swarm-controller-config")
        .unwrap();
    write(
        dir,
        "config.yml",
        cm.value["data"]["config.yml"].as_str().unwrap(),
    )
}

#[test]
fn crds_match_the_shipped_assets() {
    let printed = ok(&["crds"]);
    let mut shipped = String::new();
    for name in ["tasks.aliecs.alice.cern.yaml", "swarms.k8slab.info.yaml"] {
        let text = std::fs::read_to_string(asset(&format!("crds/{name}"))).unwrap_or_else(|e| {
            panic!("assets/crds/{name}: {e}; regenerate with `swarmdeck crds`")
        });
        shipped.push_str(&text);
    }
    assert_eq!(
        printed, shipped,
        "assets/crds drifted from the code: regenerate with scripts/update-crds.sh"
    );
    let docs = manifest::load(&printed, |_| None).unwrap();
    let names: Vec<&str> = docs.iter().map(|d| d.name()).collect();
    assert_eq!(names, ["tasks.aliecs.alice.cern", "swarms.k8slab.info"]);
    let json: serde_json::Value = serde_json::from_str(&ok(&["crds", "-o", "json"])).unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 2);
}

#[test]
fn assign_prints_a_balanced_table() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = example_jobs_file(&dir);
    let out = ok(&["assign", "--jobs", &jobs, "--workers", "3"]);
    assert!(out.starts_with("WORKER"), "{out}");
    assert!(out.contains("swarm-worker-0"));
    assert!(out.contains("swarm-worker-2"));
    assert!(
        out.contains("32 jobs over 3 workers, spread 1 (balanced)"),
        "{out}"
    );
}

#[test]
fn assign_yaml_is_the_worker_config_format_and_stable() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = example_jobs_file(&dir);
    let a = ok(&["assign", "--jobs", &jobs, "--workers", "4", "-o", "yaml"]);
    let b = ok(&["assign", "--jobs", &jobs, "--workers", "4", "-o", "yaml"]);
    assert_eq!(a, b, "same input, same bytes");
    let cfg = WorkerConfig::parse(&a).unwrap();
    assert_eq!(cfg.version, 1);
    assert_eq!(cfg.workloads.len(), 4);
    let total: usize = cfg.workloads.values().map(|w| w.jobs.len()).sum();
    assert_eq!(total, 32);
    assert!(cfg.duplicated_jobs().is_empty());
    assert!(
        a.starts_with("version: 1\nworkloads:\n  swarm-worker-0:\n    jobs:\n    - stream:"),
        "{a}"
    );
}

#[test]
fn assign_plain_list_and_plan() {
    let dir = tempfile::tempdir().unwrap();
    let list: String = (0..100).map(|i| format!("stream:{i}\n")).collect();
    let jobs = write(&dir, "jobs.txt", &format!("# streams\n{list}"));
    let out = ok(&[
        "assign",
        "--jobs",
        &jobs,
        "--workers",
        "5",
        "--from-workers",
        "4",
    ]);
    assert!(out.contains("Plan 4 -> 5 workers:"), "{out}");
    assert!(out.contains("lower bound 20"), "{out}");
    assert!(out.contains("Workers to refresh: "), "{out}");
    let json: serde_json::Value = serde_json::from_str(&ok(&[
        "assign",
        "--jobs",
        &jobs,
        "--workers",
        "5",
        "--from-workers",
        "4",
        "-o",
        "json",
    ]))
    .unwrap();
    let moved = json["plan"]["moved"].as_u64().unwrap();
    assert!(
        moved >= 20,
        "at least the new worker's share moves: {moved}"
    );
    let to_new = json["plan"]["moves"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["to"] == 4)
        .count();
    assert_eq!(to_new, 20, "the new worker receives exactly its share");
}

#[test]
fn assign_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = example_jobs_file(&dir);
    let e = err(&["assign", "--jobs", &jobs, "--workers", "three"]);
    assert!(
        e.contains("--workers `three` is not a number of workers"),
        "{e}"
    );
    let e = err(&["assign", "--jobs", &jobs, "--workers", "-2"]);
    assert!(e.contains("--workers `-2`"), "{e}");
    let e = err(&["assign", "--jobs", &jobs, "--workers", "0"]);
    assert!(e.contains("at least one worker"), "{e}");
    let empty = write(&dir, "empty.txt", "# nothing yet\n\n");
    let e = err(&["assign", "--jobs", &empty, "--workers", "2"]);
    assert!(e.contains(&format!("{empty} holds no jobs")), "{e}");
    let junk = write(&dir, "junk.txt", "stream:a\nthis is prose\n");
    let e = err(&["assign", "--jobs", &junk, "--workers", "2"]);
    assert!(
        e.contains(&format!(
            "{junk}: line 2: `this is prose` is not a job name"
        )),
        "{e}"
    );
    let tab = write(&dir, "tab.yml", "jobs:\n\t- stream:a\n");
    let e = err(&["assign", "--jobs", &tab, "--workers", "2"]);
    assert!(e.contains(&format!("{tab}: line 2, column")), "{e}");
    let e = err(&[
        "assign",
        "--jobs",
        "/nonexistent/jobs.txt",
        "--workers",
        "2",
    ]);
    assert!(
        e.contains("cannot read jobs file /nonexistent/jobs.txt"),
        "{e}"
    );
    let e = err(&[
        "assign",
        "--jobs",
        &jobs,
        "--workers",
        "2",
        "--dedicated",
        "stream:tof-0",
        "--dedicated",
        "stream:tof-1",
    ]);
    assert!(e.contains("scale the pool to at least 3"), "{e}");
}

#[test]
fn render_expands_validates_and_orders() {
    let f = asset("examples/multi-resource.yaml");
    let out = ok(&[
        "render",
        "-f",
        f.to_str().unwrap(),
        "--set",
        "APP_NAMESPACE=ingest",
        "--set",
        "IMAGE_TAG=2.1",
    ]);
    let docs = manifest::parse_documents(&out).unwrap();
    let kinds: Vec<&str> = docs.iter().map(|d| d.kind()).collect();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "Secret",
            "PersistentVolumeClaim",
            "Pod",
            "Deployment"
        ]
    );
    assert!(docs.iter().all(|d| d.namespace() == Some("ingest")));
    assert!(out.contains("registry.example.org/ingest/gateway:2.1"));
    assert!(!out.contains("${"));
    // What render prints, render accepts again.
    let dir = tempfile::tempdir().unwrap();
    let again = write(&dir, "out.yaml", &out);
    assert_eq!(ok(&["render", "-f", &again]), out);
}

#[test]
fn every_example_renders() {
    let sets = [
        "--set",
        "O2_PARTITION=2rRm96N6ZV3",
        "--set",
        "O2_DETECTOR=TST",
        "--set",
        "APP_NAMESPACE=apps",
        "--set",
        "IMAGE_TAG=1",
    ];
    for dir in ["examples", "deploy", "crds"] {
        for entry in std::fs::read_dir(asset(dir)).unwrap() {
            let path = entry.unwrap().path();
            let mut args = vec!["render", "-f", path.to_str().unwrap()];
            args.extend(sets);
            let out = ok(&args);
            assert!(out.starts_with("---\n"), "{}", path.display());
        }
    }
}

#[test]
fn render_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let f = asset("examples/multi-resource.yaml");
    let e = err(&["render", "-f", f.to_str().unwrap()]);
    assert!(
        e.contains("2 variables are not set: APP_NAMESPACE (line 7, 20, 53, 62, 71), IMAGE_TAG (line 13, 33)"),
        "{e}"
    );
    let no_kind = write(
        &dir,
        "nokind.yaml",
        "apiVersion: v1\nmetadata:\n  name: x\n",
    );
    let e = err(&["render", "-f", &no_kind]);
    assert!(
        e.contains(&format!(
            "{no_kind}: document 1, line 1, column 1 (<no kind>/x): `kind` is missing"
        )),
        "{e}"
    );
    let tab = write(
        &dir,
        "tab.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n",
    );
    let e = err(&["render", "-f", &tab]);
    assert!(
        e.contains("document 1, line 4, column 1: a tab is used for indentation"),
        "{e}"
    );
    let unknown = write(
        &dir,
        "unknown.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: busybox\n  restartPolcy: Never\n",
    );
    let e = err(&["render", "-f", &unknown]);
    assert!(
        e.contains("document 2, line 13, column 3 (Pod/p): unknown field `spec.restartPolcy` (did you mean `restartPolicy`?)"),
        "{e}"
    );
    let e = err(&["render", "-f", &unknown, "--set", "novalue"]);
    assert!(e.contains("--set `novalue` must be NAME=VALUE"), "{e}");
}

#[test]
fn new_pool_prints_a_valid_statefulset() {
    let out = ok(&[
        "new",
        "pool",
        "ingest",
        "--workers",
        "3",
        "--image",
        "example/worker:1",
        "--cpu",
        "500m",
        "--memory",
        "1Gi",
        "--target",
        "zone=west",
        "--target",
        "disk=ssd:preferred",
        "--volume",
        "spool:/var/spool",
    ]);
    let docs = manifest::load(&out, |_| None).unwrap();
    assert_eq!(docs[0].kind(), "StatefulSet");
    assert_eq!(docs[0].value["spec"]["replicas"], 3);
    let e = err(&[
        "new",
        "pool",
        "ingest",
        "--workers",
        "3",
        "--image",
        "x",
        "--cpu",
        "fast",
    ]);
    assert!(
        e.contains("--cpu `fast` is not a Kubernetes quantity"),
        "{e}"
    );
    let e = err(&[
        "new",
        "pool",
        "ingest",
        "--workers",
        "3",
        "--image",
        "x",
        "--target",
        "zone",
    ]);
    assert!(
        e.contains("--target: target `zone` must be key=value"),
        "{e}"
    );
    let e = err(&["new", "pool", "Ingest!", "--workers", "3", "--image", "x"]);
    assert!(e.contains("pool name `Ingest!`"), "{e}");
    let e = err(&["new", "pool", "ingest", "--workers", "0", "--image", "x"]);
    assert!(e.contains("--workers must be at least 1"), "{e}");
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["crds", "--help"],
        vec!["assign", "--help"],
        vec!["render", "--help"],
        vec!["new", "pool", "--help"],
    ] {
        let out = ok(&args);
        assert!(out.contains("Usage: swarmdeck"), "{args:?}: {out}");
    }
}

#[test]
fn assign_from_a_previous_assignment_moves_only_the_lower_bound() {
    let dir = tempfile::tempdir().unwrap();
    let jobs: String = (0..30).map(|i| format!("stream:s{i:02}\n")).collect();
    let jobs = write(&dir, "jobs.txt", &jobs);
    let previous = write(
        &dir,
        "previous.yml",
        &ok(&["assign", "--jobs", &jobs, "--workers", "2", "-o", "yaml"]),
    );
    let out = ok(&[
        "assign",
        "--jobs",
        &jobs,
        "--workers",
        "3",
        "--previous",
        &previous,
    ]);
    assert!(
        out.contains("Plan 2 -> 3 workers: 10 jobs moved, lower bound 10, ratio 1.000"),
        "{out}"
    );
    // The new assignment as the cluster would hold it: one job more moves none.
    let three = write(
        &dir,
        "three.yml",
        &ok(&[
            "assign",
            "--jobs",
            &jobs,
            "--workers",
            "3",
            "--previous",
            &previous,
            "-o",
            "yaml",
        ]),
    );
    let before = WorkerConfig::parse(&std::fs::read_to_string(&three).unwrap()).unwrap();
    let more = write(
        &dir,
        "more.txt",
        &format!("{}stream:new\n", std::fs::read_to_string(&jobs).unwrap()),
    );
    let after = WorkerConfig::parse(&ok(&[
        "assign",
        "--jobs",
        &more,
        "--workers",
        "3",
        "--previous",
        &three,
        "-o",
        "yaml",
    ]))
    .unwrap();
    for (worker, entry) in &before.workloads {
        for job in &entry.jobs {
            assert!(after.workloads[worker].jobs.contains(job), "{job} moved");
        }
    }
    // A previous assignment that does not parse is named.
    let broken = write(&dir, "broken.yml", "workloads: [\n");
    let e = err(&[
        "assign",
        "--jobs",
        &jobs,
        "--workers",
        "3",
        "--previous",
        &broken,
    ]);
    assert!(
        e.contains("broken.yml") && e.contains("swarm-worker-config"),
        "{e}"
    );
}
