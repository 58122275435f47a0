//! The connection flags mean the same before and after every verb: each verb
//! that talks to a cluster, enumerated from the clap definition (so a verb
//! added later must be classified here or this test fails), is run with
//! `--read-only` before and after it, and with `--context` of a second user
//! before and after it, against the embedded cluster served on TCP from this
//! process. The server's request log says what reached it, and as whom.

mod common;

use std::process::Output;

use common::Served;
use common::verbs::{Class, UNIT, leaf_verbs, sample};

fn run(args: &[String], state: &std::path::Path) -> Output {
    common::swarmdeck(args, None, state)
}

/// `flags` placed before the verb's words, or after its arguments.
fn line(verb: &[String], rest: &[String], flags: &[String], before: bool) -> Vec<String> {
    let mut out = Vec::new();
    if before {
        out.extend(flags.iter().cloned());
    }
    out.extend(verb.iter().cloned());
    // After the verb means before `--`: what follows it is the command's
    // own (exec's), as kubectl takes it.
    let end = rest.iter().position(|a| a == "--").unwrap_or(rest.len());
    out.extend(rest[..end].iter().cloned());
    if !before {
        out.extend(flags.iter().cloned());
    }
    out.extend(rest[end..].iter().cloned());
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn every_verb_is_classified() {
    let unknown: Vec<String> = leaf_verbs()
        .into_iter()
        .filter(|v| sample(v, "unit.yaml").is_none())
        .map(|v| v.join(" "))
        .collect();
    assert!(
        unknown.is_empty(),
        "verbs without a class in tests/connection_flags.rs: {unknown:?}; say how they use the cluster so that the flag tests cover them"
    );
}

#[test]
fn read_only_and_context_mean_the_same_before_and_after_every_verb() {
    let served = Served::start("swarm");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("unit.yaml");
    std::fs::write(&file, UNIT).unwrap();
    let unit = file.to_str().unwrap().to_owned();
    let kubeconfig = served.kubeconfig.to_str().unwrap().to_owned();
    let mut covered = 0;
    for verb in leaf_verbs() {
        let (class, rest, ns) = sample(&verb, &unit).expect("classified");
        if matches!(class, Class::Offline | Class::Server) {
            continue;
        }
        covered += 1;
        let name = verb.join(" ");
        for before in [true, false] {
            let place = if before { "before" } else { "after" };

            // --read-only: no write reaches the server, whoever would send it.
            let flags: Vec<String> = ["--kubeconfig", &kubeconfig, "-n", ns, "--read-only"]
                .map(str::to_owned)
                .to_vec();
            let from = served.cluster.requests().len();
            let out = run(&line(&verb, &rest, &flags, before), dir.path());
            let writes: Vec<String> = served.cluster.requests()[from..]
                .iter()
                .filter(|r| r.method != "GET")
                .map(|r| format!("{} {} as {}", r.method, r.path, r.user))
                .collect();
            assert!(
                writes.is_empty(),
                "`{name}` with --read-only {place} it sent writes: {writes:?}"
            );
            let err = text(&out.stderr);
            match class {
                Class::Writes => {
                    assert!(
                        !out.status.success(),
                        "`{name}` with --read-only {place} it succeeded"
                    );
                    assert!(
                        err.starts_with("error: read-only mode (--read-only): `swarmdeck ")
                            && err.contains("refused before anything was sent")
                            && err.lines().count() == 1,
                        "`{name}` with --read-only {place}: {err}"
                    );
                    assert_eq!(
                        served.cluster.requests().len(),
                        from,
                        "`{name}` refused in read-only mode still sent requests"
                    );
                }
                _ => assert!(
                    out.status.success(),
                    "`{name}` with --read-only {place} it failed: {err}"
                ),
            }

            // --context: every request is sent as that context's user.
            // (The operator's Role is the engine's: it runs no command in a
            // container, so exec is tried as the cluster's owner.)
            let (context, user) = match (class, name.as_str()) {
                (Class::Reads, _) => ("viewer", "viewer"),
                (_, "exec") => ("swarmdeck-embedded", "admin"),
                _ => ("operator", "operator"),
            };
            let flags: Vec<String> = ["--kubeconfig", &kubeconfig, "-n", ns, "--context", context]
                .map(str::to_owned)
                .to_vec();
            let from = served.cluster.requests().len();
            let out = run(&line(&verb, &rest, &flags, before), dir.path());
            let err = text(&out.stderr);
            assert!(
                out.status.success(),
                "`{name}` with --context {user} {place} it failed: {err}"
            );
            let requests = served.cluster.requests()[from..].to_vec();
            assert!(!requests.is_empty(), "`{name}` sent nothing");
            let strangers: Vec<String> = requests
                .iter()
                .filter(|r| r.user != user)
                .map(|r| format!("{} {} as {}", r.method, r.path, r.user))
                .collect();
            assert!(
                strangers.is_empty(),
                "`{name}` with --context {user} {place} it: {strangers:?}"
            );
            if class != Class::Reads {
                let first = err.lines().next().unwrap_or("");
                assert!(
                    first.starts_with(&format!(
                        "acting as {user} (context {context}) in namespace"
                    )) && first.contains(ns),
                    "`{name}` does not say who acts before acting: {err}"
                );
            }
        }
    }
    assert!(covered >= 9, "only {covered} verbs talk to a cluster?");
}

#[test]
fn read_only_in_the_settings_file_wins_and_a_broken_one_fails_closed() {
    let served = Served::start("swarm");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("swarmdeck");
    std::fs::create_dir_all(&config).unwrap();
    let kubeconfig = served.kubeconfig.to_str().unwrap().to_owned();
    let args: Vec<String> = ["--kubeconfig", &kubeconfig, "scale", "swarm-worker", "3"]
        .map(str::to_owned)
        .to_vec();
    for (settings, needle) in [
        ("read_only = true\n", "read-only mode (settings"),
        ("read_only = tru\n", "settings.toml: line 1"),
    ] {
        std::fs::write(config.join("settings.toml"), settings).unwrap();
        let from = served.cluster.requests().len();
        let out = run(&args, dir.path());
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{settings}: {err}");
        assert!(err.contains(needle), "{settings}: {err}");
        assert_eq!(served.cluster.requests().len(), from, "{settings}");
    }
}

#[test]
fn flags_that_cannot_apply_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let own = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    for (args, needle) in [
        (
            own(&["--embedded", "-A", "scale", "swarm-worker", "3"]),
            "-A lists across namespaces; `scale` acts in one",
        ),
        (
            own(&["--embedded", "get", "pods", "-n", "swarm", "-n", "ops"]),
            "-n/--namespace was given 2 namespaces (swarm, ops)",
        ),
        (
            own(&["--theme", "mono", "--embedded", "status"]),
            "--theme is an option of the console",
        ),
        (
            own(&["--embedded", "-n", "Not_A_Namespace", "status"]),
            "-n `Not_A_Namespace` is not a namespace name",
        ),
        (
            own(&["--embedded", "-n", "ops", "grid", "swarm-worker"]),
            "swarm `swarm-worker` is not in namespace ops (swarms there: none)",
        ),
    ] {
        let out = run(&args, dir.path());
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn every_flag_and_argument_has_a_help_line() {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{path} {id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(&swarmdeck::cli::Cli::command(), "swarmdeck", &mut missing);
    assert!(missing.is_empty(), "flags without help: {missing:#?}");
}
