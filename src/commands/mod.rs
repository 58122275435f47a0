//! The command-line verbs. Each returns its output as text or an error written
//! for the operator; `run` prints them and turns them into an exit code.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use kube::CustomResourceExt;
use serde_json::{Value, json};

use crate::cli::{
    AssignArgs, Cli, ClusterArgs, Command, CrdsArgs, EmbeddedCommand, GridArgs, NewCommand, Output,
    PoolArgs, RebalanceArgs, RenderArgs, ScaleArgs, ServeArgs,
};
use crate::domain::assignment::{self, Assignment, Policy, WorkerConfig};
use crate::domain::manifest::{self, PoolSpec};
use crate::domain::swarm::Swarm;
use crate::domain::task::{compact_crd, task_crd};

/// A failed command: the message names the input and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CommandError(pub String);

mod engine;
use engine::{Actor, take_or_delegate};

type Outcome = Result<String, CommandError>;

fn fail<T>(msg: impl Into<String>) -> Result<T, CommandError> {
    Err(CommandError(msg.into()))
}

/// Run a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let result = match cli.command {
        None => console(cli.console),
        Some(Command::Crds(args)) => crds(&args),
        Some(Command::Assign(args)) => assign(&args),
        Some(Command::Render(args)) => render(&args),
        Some(Command::New(NewCommand::Pool(args))) => new_pool(&args),
        Some(Command::Embedded(EmbeddedCommand::Serve(args))) => serve(&args),
        Some(Command::Grid(args)) => with_cluster(&args.cluster, |client, _| grid(client, &args)),
        Some(Command::Rebalance(args)) => with_cluster(&args.cluster, |client, audit| {
            rebalance(client, audit, &args)
        }),
        Some(Command::Scale(args)) => scale(&args),
        Some(Command::Get(args)) => with_cluster(&args.cluster, |client, _| get(client, &args)),
        Some(Command::Status(args)) => {
            with_cluster(&args.cluster, |client, _| status(client, &args))
        }
        Some(Command::Apply(args)) => with_cluster(&args.cluster, |client, audit| {
            engine::apply(client, audit, &args)
        }),
        Some(Command::Delete(args)) => with_cluster(&args.cluster, |client, audit| {
            engine::delete(client, audit, &args)
        }),
        Some(Command::Operator(args)) => engine::operator(&args),
        Some(Command::Task(crate::cli::TaskCommand::SetState(args))) => {
            with_cluster(&args.cluster, |client, audit| {
                set_state(client, audit, &args)
            })
        }
    };
    match result {
        Ok(out) => {
            print!("{out}");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// The CRDs swarmdeck uses, as one YAML stream (the same text as `assets/crds/`).
pub fn crd_manifests() -> Vec<(&'static str, String)> {
    let to_yaml = |v: &dyn erased_yaml::Serialize| v.to_yaml();
    vec![
        ("tasks.aliecs.alice.cern.yaml", to_yaml(&task_crd())),
        (
            "swarms.k8slab.info.yaml",
            to_yaml(&compact_crd(Swarm::crd())),
        ),
    ]
}

mod erased_yaml {
    /// Object-safe YAML rendering for the CRD list.
    pub trait Serialize {
        fn to_yaml(&self) -> String;
    }
    impl<T: serde::Serialize> Serialize for T {
        fn to_yaml(&self) -> String {
            serde_yaml::to_string(self).unwrap_or_default()
        }
    }
}

fn crds(args: &CrdsArgs) -> Outcome {
    match args.output {
        Output::Json => {
            let items = vec![
                serde_json::to_value(task_crd()).map_err(|e| CommandError(e.to_string()))?,
                serde_json::to_value(compact_crd(Swarm::crd()))
                    .map_err(|e| CommandError(e.to_string()))?,
            ];
            Ok(pretty(
                &json!({"apiVersion": "v1", "kind": "List", "items": items}),
            ))
        }
        _ => Ok(crd_manifests()
            .into_iter()
            .map(|(_, text)| format!("---\n{text}"))
            .collect()),
    }
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

fn parse_count(flag: &str, raw: &str) -> Result<u32, CommandError> {
    raw.trim().parse::<u32>().or_else(|_| {
        fail(format!(
            "{flag} `{raw}` is not a number of workers; give a whole number such as 3"
        ))
    })
}

fn read_input(path: &Path, what: &str) -> Result<String, CommandError> {
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CommandError(format!("cannot read {what} from standard input: {e}")))?;
        return Ok(s);
    }
    std::fs::read_to_string(path)
        .map_err(|e| CommandError(format!("cannot read {what} {}: {e}", path.display())))
}

fn assign(args: &AssignArgs) -> Outcome {
    let workers = parse_count("--workers", &args.workers)?;
    let from = args
        .from_workers
        .as_deref()
        .map(|m| parse_count("--from-workers", m))
        .transpose()?;
    let text = read_input(&args.jobs, "jobs file")?;
    let file = args.jobs.display();
    let jobs = assignment::parse_jobs(&text).map_err(|e| CommandError(format!("{file}: {e}")))?;
    if jobs.is_empty() {
        return fail(format!(
            "{file} holds no jobs; list one job per line (e.g. `stream:a`) or give a config.yml with a `jobs:` list"
        ));
    }
    let policy = Policy {
        dedicated: args.dedicated.iter().cloned().collect(),
    };
    let sts = &args.statefulset;
    let after =
        assignment::assign(&jobs, workers, &policy).map_err(|e| CommandError(e.to_string()))?;
    let before = from
        .map(|m| assignment::assign(&jobs, m, &policy))
        .transpose()
        .map_err(|e| CommandError(format!("--from-workers: {e}")))?;
    let base = match &before {
        Some(b) => assignment::plan(&WorkerConfig::default(), b, sts).config,
        None => WorkerConfig::default(),
    };
    let plan = assignment::plan(&base, &after, sts);
    let movement = before
        .as_ref()
        .map(|b| assignment::movement_on_scale(b, &after));

    match args.output {
        Output::Yaml => Ok(plan.config.to_yaml()),
        Output::Json => {
            let mut v = json!({
                "config": plan.config,
                "workers": after.workers,
                "spread": after.spread(),
            });
            if let Some(m) = movement {
                v["plan"] = json!({
                    "moves": plan.moves,
                    "changedWorkers": plan.changed,
                    "removedWorkers": plan.removed_workers,
                    "moved": m.moved,
                    "lowerBound": m.lower_bound,
                    "ratio": m.ratio(),
                });
            }
            Ok(pretty(&v))
        }
        Output::Table => {
            let mut out = assignment_table(&after, sts);
            out.push_str(&format!(
                "\n{} jobs over {} workers, spread {}{}\n",
                after.job_count(),
                after.worker_count(),
                after.spread(),
                if after.spread() <= 1 {
                    " (balanced)"
                } else {
                    ""
                }
            ));
            if let (Some(before), Some(m)) = (before, movement) {
                out.push_str(&format!(
                    "\nPlan {} -> {} workers: {m}\n",
                    before.worker_count(),
                    after.worker_count()
                ));
                out.push_str(&format!(
                    "Workers to refresh: {}\n",
                    if plan.changed.is_empty() {
                        "none".to_owned()
                    } else {
                        plan.changed
                            .iter()
                            .map(|c| assignment::worker_name(sts, c.ordinal))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ));
                if !plan.removed_workers.is_empty() {
                    let removed: Vec<String> = plan
                        .removed_workers
                        .iter()
                        .map(|o| assignment::worker_name(sts, *o))
                        .collect();
                    out.push_str(&format!("Workers removed: {}\n", removed.join(", ")));
                }
                if !plan.moves.is_empty() {
                    out.push_str("\nJOB  FROM  TO\n");
                    for mv in &plan.moves {
                        let name = |o: Option<u32>| {
                            o.map_or("-".to_owned(), |o| assignment::worker_name(sts, o))
                        };
                        out.push_str(&format!("{}  {}  {}\n", mv.job, name(mv.from), name(mv.to)));
                    }
                }
            }
            Ok(out)
        }
    }
}

fn assignment_table(a: &Assignment, sts: &str) -> String {
    let rows: Vec<[String; 3]> = a
        .workers
        .iter()
        .map(|w| {
            let mut jobs = w.jobs.join(", ");
            if w.dedicated {
                jobs.push_str("  (dedicated)");
            }
            [
                assignment::worker_name(sts, w.ordinal),
                w.jobs.len().to_string(),
                jobs,
            ]
        })
        .collect();
    table(&["WORKER", "JOBS", "ASSIGNED"], &rows)
}

/// Left-aligned columns separated by three spaces, like kubectl.
pub fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}   ", w = widths[i]));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

fn parse_sets(sets: &[String]) -> Result<BTreeMap<String, String>, CommandError> {
    sets.iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => fail(format!("--set `{s}` must be NAME=VALUE")),
        })
        .collect()
}

fn render(args: &RenderArgs) -> Outcome {
    let text = read_input(&args.file, "manifest")?;
    let sets = parse_sets(&args.set)?;
    let lookup = |name: &str| sets.get(name).cloned().or_else(|| std::env::var(name).ok());
    let docs = manifest::load(&text, lookup)
        .map_err(|e| CommandError(format!("{}: {e}", args.file.display())))?;
    let ordered = manifest::apply_order(&docs);
    match args.output {
        Output::Json => {
            let items: Vec<&Value> = ordered.iter().map(|d| &d.value).collect();
            Ok(pretty(
                &json!({"apiVersion": "v1", "kind": "List", "items": items}),
            ))
        }
        _ => Ok(manifest::to_yaml_stream(ordered)),
    }
}

fn new_pool(args: &PoolArgs) -> Outcome {
    let workers = parse_count("--workers", &args.workers)?;
    if workers == 0 {
        return fail("--workers must be at least 1: a pool with no workers runs no jobs");
    }
    let targets = args
        .targets
        .iter()
        .map(|t| t.parse())
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| CommandError(format!("--target: {e}")))?;
    let volumes = args
        .volumes
        .iter()
        .map(|v| v.parse())
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| CommandError(format!("--volume: {e}")))?;
    let spec = PoolSpec {
        name: args.name.clone(),
        namespace: args.namespace.clone(),
        workers,
        image: args.image.clone(),
        cpu: args.cpu.clone(),
        memory: args.memory.clone(),
        targets,
        volumes,
    };
    let sts = manifest::generate_pool(&spec).map_err(CommandError)?;
    match args.output {
        Output::Json => Ok(pretty(&sts)),
        _ => Ok(serde_yaml::to_string(&sts).unwrap_or_default()),
    }
}

fn serve(args: &ServeArgs) -> Outcome {
    let world = crate::embedded::runtime::embedded_world(&args.scenario, args.pods)
        .map_err(CommandError)?;
    let cluster = world.cluster().clone();
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| CommandError(format!("cannot start the async runtime: {e}")))?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = crate::embedded::runtime::run_world(world, args.churn, stop.clone());
    let result = runtime.block_on(async {
        let (addr, task) = crate::embedded::serve_tcp(&cluster, args.port)
            .await
            .map_err(|e| {
                CommandError(format!(
                    "cannot listen on 127.0.0.1:{}: {e}; pick another --port (0 picks a free one)",
                    args.port
                ))
            })?;
        let path = args
            .kubeconfig
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("swarmdeck-embedded.kubeconfig"));
        let url = format!("http://{addr}");
        std::fs::write(&path, crate::embedded::kubeconfig(&url, "default")).map_err(|e| {
            CommandError(format!(
                "cannot write the kubeconfig {}: {e}",
                path.display()
            ))
        })?;
        println!(
            "embedded cluster serving on {url} (context {})",
            crate::embedded::CONTEXT
        );
        println!("export KUBECONFIG={}", path.display());
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| CommandError(format!("cannot watch for SIGTERM: {e}")))?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        task.abort();
        Ok::<_, CommandError>(String::new())
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = ticker.join();
    result
}

fn console(args: crate::cli::ConsoleArgs) -> Outcome {
    use crate::ui::runtime::{ConsoleOptions, run};
    let opts = ConsoleOptions {
        connect: crate::cluster::ConnectOptions {
            embedded: args.embedded,
            kubeconfig: args.kubeconfig,
            context: args.context,
            namespace: args.namespace,
            read_only: args.read_only,
            scenario: args.scenario,
        },
        all_namespaces: args.all_namespaces,
        theme: args.theme,
        keymap: args.keymap,
        config_dir: args.config_dir,
        ascii: args.ascii,
    };
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| CommandError(format!("cannot start the async runtime: {e}")))?;
    runtime
        .block_on(run(opts))
        .map_err(|e| CommandError(format!("{e}")))?;
    Ok(String::new())
}

/// Run an async command against the cluster the flags name.
fn with_cluster<F, Fut>(args: &ClusterArgs, f: F) -> Outcome
where
    F: FnOnce(kube::Client, crate::engine::audit::Auditor) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| CommandError(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let opts = crate::cluster::ConnectOptions {
            embedded: args.embedded,
            kubeconfig: args.kubeconfig.clone(),
            context: args.context.clone(),
            namespace: None,
            read_only: args.read_only,
            scenario: "demo".into(),
        };
        let conn = crate::cluster::connect(&opts)
            .await
            .map_err(|e| CommandError(e.to_string()))?;
        if conn.embedded {
            // Give the demo world a moment to bring its workers up.
            wait_for_workers(&conn.client).await;
        }
        let auditor = crate::engine::audit::Auditor {
            client: conn.client.clone(),
            user: conn.user.clone(),
            context: conn.context.clone(),
            log: Some(crate::engine::audit::default_log()),
        };
        f(conn.client.clone(), auditor).await
    })
}

async fn wait_for_workers(client: &kube::Client) {
    use k8s_openapi::api::apps::v1::StatefulSet;
    let api: kube::Api<StatefulSet> = kube::Api::namespaced(client.clone(), "swarm");
    for _ in 0..100 {
        if let Ok(s) = api.get("swarm-worker").await
            && s.status.as_ref().and_then(|st| st.ready_replicas)
                == s.spec.as_ref().and_then(|sp| sp.replicas)
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn engine_err(e: crate::engine::Error) -> CommandError {
    CommandError(e.to_string())
}

async fn grid(client: kube::Client, args: &GridArgs) -> Outcome {
    let swarm = crate::engine::swarm::resolve(&client, &args.swarm)
        .await
        .map_err(engine_err)?;
    let (cfg, rows) = crate::engine::swarm::grid(&client, &swarm)
        .await
        .map_err(engine_err)?;
    match args.output {
        Output::Yaml => Ok(cfg.to_yaml()),
        Output::Json => Ok(pretty(&json!({"version": cfg.version, "workers": rows}))),
        Output::Table => {
            let table_rows: Vec<[String; 6]> = rows
                .iter()
                .map(|r| {
                    let reported = r.reported.map_or("-".to_owned(), |v| v.to_string());
                    [
                        r.worker.clone(),
                        r.pod.clone(),
                        r.jobs.len().to_string(),
                        format!("v{} (reports {reported})", r.version),
                        if r.converged {
                            "yes".into()
                        } else {
                            "refreshing".into()
                        },
                        r.jobs.join(", "),
                    ]
                })
                .collect();
            let mut out = table(
                &["WORKER", "POD", "JOBS", "VERSION", "CONVERGED", "ASSIGNED"],
                &table_rows,
            );
            let total: usize = rows.iter().map(|r| r.jobs.len()).sum();
            let dup = cfg.duplicated_jobs();
            out.push_str(&format!(
                "\n{total} jobs over {} workers, global version {}, {} duplicated\n",
                rows.len(),
                cfg.version,
                dup.len()
            ));
            Ok(out)
        }
    }
}

fn describe_plan(plan: &crate::domain::assignment::Plan, sts: &str) -> String {
    let mut out = format!(
        "Plan: global version {} -> {}, {} jobs move\n",
        plan.global_version - 1,
        plan.global_version,
        plan.relocated()
    );
    for mv in plan
        .moves
        .iter()
        .filter(|m| m.from.is_some() && m.to.is_some())
    {
        let name = |o: Option<u32>| o.map_or("-".to_owned(), |o| assignment::worker_name(sts, o));
        out.push_str(&format!(
            "  move {}: {} -> {}\n",
            mv.job,
            name(mv.from),
            name(mv.to)
        ));
    }
    for c in &plan.changed {
        out.push_str(&format!(
            "  refresh {} (version {}, +{} -{} jobs)\n",
            assignment::worker_name(sts, c.ordinal),
            c.version,
            c.added.len(),
            c.removed.len()
        ));
    }
    out
}

async fn run_reconcile(
    client: &kube::Client,
    swarm: &crate::domain::swarm::SwarmRef,
    dry_run: bool,
) -> Outcome {
    use crate::engine::swarm::{Progress, ReconcileOptions, Verdict, reconcile};
    let sts = crate::engine::swarm::statefulset_of(swarm);
    let mut out = String::new();
    let verdict = reconcile(client, swarm, &ReconcileOptions { dry_run, ..Default::default() }, |plan, p| match p {
        Progress::Planned { .. } => {
            let text = describe_plan(plan, &sts);
            print!("{text}");
        }
        Progress::Replanned { attempt } => println!("the output ConfigMap changed under us (attempt {attempt}): re-planning from its new content"),
        Progress::Written { version } => println!("wrote {} version {version}", swarm.output_config_map),
        Progress::Refreshing { worker } => println!("refreshing {worker} ..."),
        Progress::Refreshed { worker } => println!("{worker} ready with its new jobs"),
    })
    .await
    .map_err(engine_err)?;
    match verdict {
        Verdict::Converged { version, refreshed } => out.push_str(&format!(
            "converged: version {version}, {} workers refreshed\n",
            refreshed.len()
        )),
        Verdict::Unchanged => out.push_str("nothing to do: the assignment is current\n"),
        Verdict::DryRun => out.push_str("dry run: nothing was changed\n"),
    }
    Ok(out)
}

async fn rebalance(
    client: kube::Client,
    audit: crate::engine::audit::Auditor,
    args: &RebalanceArgs,
) -> Outcome {
    let swarm = crate::engine::swarm::resolve(&client, &args.swarm)
        .await
        .map_err(engine_err)?;
    if args.dry_run {
        return run_reconcile(&client, &swarm, true).await;
    }
    let result = match take_or_delegate(&client, &swarm.namespace, &audit.user).await {
        Err(e) => Err(e),
        Ok(Actor::Here(held)) => {
            let r = run_reconcile(&client, &swarm, false).await;
            held.release().await;
            r
        }
        Ok(Actor::Engine(leader)) => request_rebalance(&client, &swarm, &leader).await,
    };
    {
        record(
            &audit,
            &sts_subject(&swarm),
            "Rebalance",
            "re-plan the assignment",
            &result,
        )
        .await;
    }
    result
}

fn sts_subject(swarm: &crate::domain::swarm::SwarmRef) -> crate::engine::audit::Subject {
    crate::engine::audit::Subject {
        api_version: "apps/v1".into(),
        kind: "StatefulSet".into(),
        namespace: swarm.namespace.clone(),
        name: crate::engine::swarm::statefulset_of(swarm),
    }
}

/// Audit an action that was attempted (a read-only refusal sent nothing).
async fn record(
    audit: &crate::engine::audit::Auditor,
    subject: &crate::engine::audit::Subject,
    action: &str,
    plan: &str,
    result: &Outcome,
) {
    match result {
        Ok(out) => {
            audit
                .record(
                    subject,
                    action,
                    plan,
                    out.lines().last().unwrap_or("done"),
                    false,
                )
                .await
        }
        Err(e) if e.0.contains("read-only mode") => {}
        Err(e) => {
            audit
                .record(subject, action, plan, &format!("failed: {e}"), true)
                .await
        }
    }
}

fn scale(args: &ScaleArgs) -> Outcome {
    let replicas: u32 = args.replicas.trim().parse().map_err(|_| {
        CommandError(format!(
            "replicas `{}` is not a whole number of workers (0 or more, e.g. 3)",
            args.replicas
        ))
    })?;
    if replicas > args.max_replicas {
        return fail(format!(
            "{replicas} replicas is above the ceiling of {}; raise --max-replicas if you mean it",
            args.max_replicas
        ));
    }
    if replicas == 0 {
        return fail(
            "0 replicas would leave the swarm's jobs unassigned; scale to at least 1 (delete the StatefulSet to retire a swarm)",
        );
    }
    with_cluster(&args.cluster, |client, audit| async move {
        let swarm = crate::engine::swarm::resolve(&client, &args.statefulset)
            .await
            .map_err(engine_err)?;
        let result = scale_swarm(&client, &swarm, replicas, args, &audit.user).await;
        if !args.dry_run {
            record(
                &audit,
                &sts_subject(&swarm),
                "Scale",
                &format!("replicas -> {replicas}"),
                &result,
            )
            .await;
        }
        result
    })
}

/// Ask the engine that leads for a rebalance (annotation on the jobs
/// ConfigMap) and wait for its verdict.
async fn request_rebalance(
    client: &kube::Client,
    swarm: &crate::domain::swarm::SwarmRef,
    leader: &str,
) -> Outcome {
    use crate::engine::swarm::REBALANCE_ANNOTATION;
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client.clone(), &swarm.namespace);
    let now = crate::embedded::clock::rfc3339(crate::embedded::clock::Clock::system().now_ms());
    let object = format!("ConfigMap {}/{}", swarm.namespace, swarm.jobs_config_map);
    cms.patch(
        &swarm.jobs_config_map,
        &kube::api::PatchParams {
            field_manager: Some("swarmdeck".into()),
            ..Default::default()
        },
        &kube::api::Patch::Merge(json!({"metadata": {"annotations": {REBALANCE_ANNOTATION: now}}})),
    )
    .await
    .map_err(|e| CommandError(format!("{object}: {e}")))?;
    println!(
        "engine {leader} leads namespace {}: rebalance requested on {object}; waiting for its verdict",
        swarm.namespace
    );
    for _ in 0..3000 {
        let cm = cms
            .get(&swarm.jobs_config_map)
            .await
            .map_err(|e| CommandError(format!("{object}: {e}")))?;
        let pending = cm
            .metadata
            .annotations
            .is_some_and(|a| a.contains_key(REBALANCE_ANNOTATION));
        if !pending {
            return wait_converged(client, swarm, None).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    fail(format!(
        "engine {leader} did not take up the rebalance request on {object} within 10 minutes; see `swarmdeck status` and its Events"
    ))
}

/// Wait until every worker of the swarm (`replicas` of them, when given)
/// reports its current version, printing progress as workers converge.
async fn wait_converged(
    client: &kube::Client,
    swarm: &crate::domain::swarm::SwarmRef,
    replicas: Option<u32>,
) -> Outcome {
    let mut last = None;
    for _ in 0..3000 {
        let (cfg, rows) = crate::engine::swarm::grid(client, swarm)
            .await
            .map_err(engine_err)?;
        let inputs = crate::engine::swarm::read_inputs(client, swarm)
            .await
            .map_err(engine_err)?;
        let done = rows.iter().filter(|r| r.converged).count();
        if last != Some(done) {
            println!("{done}/{} workers converged", rows.len());
            last = Some(done);
        }
        let sized =
            replicas.is_none_or(|n| rows.len() == n as usize) && cfg.workloads.len() == rows.len();
        if sized && done == rows.len() && inputs.pending.is_empty() {
            return Ok(format!(
                "converged: version {}, {} workers\n",
                cfg.version,
                rows.len()
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    fail(format!(
        "swarm `{}` did not converge within 10 minutes; see `swarmdeck grid {}`",
        swarm.name, swarm.name
    ))
}

async fn scale_swarm(
    client: &kube::Client,
    swarm: &crate::domain::swarm::SwarmRef,
    replicas: u32,
    args: &ScaleArgs,
    user: &str,
) -> Outcome {
    let api: kube::Api<k8s_openapi::api::apps::v1::StatefulSet> =
        kube::Api::namespaced(client.clone(), &swarm.namespace);
    let sts = crate::engine::swarm::statefulset_of(swarm);
    let pp = kube::api::PatchParams {
        dry_run: args.dry_run,
        field_manager: Some("swarmdeck".into()),
        ..Default::default()
    };
    api.patch_scale(
        &sts,
        &pp,
        &kube::api::Patch::Merge(json!({"spec": {"replicas": replicas}})),
    )
    .await
    .map_err(|e| CommandError(format!("StatefulSet {}/{sts}: {e}", swarm.namespace)))?;
    if args.dry_run {
        let mut inputs = crate::engine::swarm::read_inputs(client, swarm)
            .await
            .map_err(engine_err)?;
        inputs.replicas = replicas;
        let plan = crate::engine::swarm::desired_state(swarm, &inputs, &Default::default())
            .map_err(engine_err)?;
        return Ok(format!(
            "{}dry run: nothing was changed\n",
            describe_plan(&plan, &sts)
        ));
    }
    println!("scaled {}/{sts} to {replicas}", swarm.namespace);
    let held = match take_or_delegate(client, &swarm.namespace, user).await? {
        Actor::Engine(leader) => {
            println!(
                "engine {leader} leads namespace {}: it re-plans and refreshes; waiting for its verdict",
                swarm.namespace
            );
            return wait_converged(client, swarm, Some(replicas)).await;
        }
        Actor::Here(held) => held,
    };
    let result = scale_here(client, swarm, replicas, &api, &sts).await;
    held.release().await;
    result
}

async fn scale_here(
    client: &kube::Client,
    swarm: &crate::domain::swarm::SwarmRef,
    replicas: u32,
    api: &kube::Api<k8s_openapi::api::apps::v1::StatefulSet>,
    sts: &str,
) -> Outcome {
    // Wait until the StatefulSet has the new count of ready pods.
    for _ in 0..600 {
        let s = api
            .get(sts)
            .await
            .map_err(|e| CommandError(e.to_string()))?;
        if s.status.and_then(|st| st.ready_replicas).unwrap_or(0) as u32 == replicas {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    run_reconcile(client, swarm, false).await
}

async fn set_state(
    client: kube::Client,
    audit: crate::engine::audit::Auditor,
    args: &crate::cli::SetStateArgs,
) -> Outcome {
    let result = match take_or_delegate(&client, &args.namespace, &audit.user).await {
        Err(e) => Err(e),
        Ok(Actor::Here(held)) => {
            let r = set_state_inner(&client, args).await;
            held.release().await;
            r
        }
        Ok(Actor::Engine(leader)) => request_state(&client, args, &leader).await,
    };
    let subject = crate::engine::audit::Subject {
        api_version: "aliecs.alice.cern/v1alpha1".into(),
        kind: "Task".into(),
        namespace: args.namespace.clone(),
        name: args.task.clone(),
    };
    record(
        &audit,
        &subject,
        "SetTargetState",
        &format!("target {}", args.state),
        &result,
    )
    .await;
    result
}

/// Record the target for the engine that leads and wait for its verdict.
async fn request_state(
    client: &kube::Client,
    args: &crate::cli::SetStateArgs,
    leader: &str,
) -> Outcome {
    use crate::domain::task::{OccState, Task};
    use crate::engine::run::{RECOVER_ANNOTATION, REQUESTED_AT_ANNOTATION};
    use crate::engine::task::TARGET_ANNOTATION;
    let object = format!("Task {}/{}", args.namespace, args.task);
    let want: OccState = args
        .state
        .parse()
        .map_err(|e: crate::domain::task::StateError| CommandError(format!("{object}: {e}")))?;
    if !want.requestable() {
        return fail(format!(
            "{object}: `{want}` cannot be requested: a Task can be asked for standby, configured or running"
        ));
    }
    let api: kube::Api<Task> = kube::Api::namespaced(client.clone(), &args.namespace);
    let now = crate::embedded::clock::rfc3339(crate::embedded::clock::Clock::system().now_ms());
    api.patch(
        &args.task,
        &kube::api::PatchParams {
            field_manager: Some("swarmdeck".into()),
            ..Default::default()
        },
        &kube::api::Patch::Merge(json!({"metadata": {"annotations": {
            TARGET_ANNOTATION: want.as_str(),
            REQUESTED_AT_ANNOTATION: now,
            RECOVER_ANNOTATION: if args.recover { Some("true") } else { None },
        }}})),
    )
    .await
    .map_err(|e| CommandError(format!("{object}: {e}")))?;
    println!(
        "engine {leader} leads namespace {}: target {want} recorded on {object}; waiting for its verdict",
        args.namespace
    );
    if args.no_wait {
        return Ok(format!("target recorded ({object})\n"));
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(args.timeout * 4);
    let mut last: Option<String> = None;
    loop {
        let t = api
            .get(&args.task)
            .await
            .map_err(|e| CommandError(format!("{object}: {e}")))?;
        let status = t.status.unwrap_or_default();
        let state = status.state.clone().unwrap_or_default();
        if last.as_deref() != Some(state.as_str()) && !state.is_empty() {
            println!("{object} is {state}");
            last = Some(state.clone());
        }
        if state == want.as_str() {
            return Ok(format!(
                "converged: {}/{} is {want}\n",
                args.namespace, args.task
            ));
        }
        if state == "error" && !args.recover {
            return fail(format!(
                "{object} is in error: {}; recovery: set standby, then step up again: swarmdeck task set-state {} {want} --recover",
                status.error.unwrap_or_else(|| "no reason given".into()),
                args.task
            ));
        }
        if tokio::time::Instant::now() >= deadline {
            return fail(format!(
                "{object}: engine {leader} did not bring it to {want} within {} s (status.state is {state}); see its Events",
                args.timeout * 4
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn set_state_inner(client: &kube::Client, args: &crate::cli::SetStateArgs) -> Outcome {
    use crate::engine::task::{TaskOptions, TaskProgress, TaskVerdict};
    let opts = TaskOptions {
        step_timeout: std::time::Duration::from_secs(args.timeout),
        recover: args.recover,
        no_wait: args.no_wait,
        ..Default::default()
    };
    let verdict = crate::engine::task::set_state(
        client,
        &args.namespace,
        &args.task,
        &args.state,
        &opts,
        |p| match p {
            TaskProgress::Planned { path } => println!(
                "Plan for {}/{}: {}",
                args.namespace,
                args.task,
                path.join(", ")
            ),
            TaskProgress::Stepping { event, from, to } => println!("{event}: {from} -> {to} ..."),
            TaskProgress::Reached { state } => println!("reached {state}"),
        },
    )
    .await
    .map_err(engine_err)?;
    match verdict {
        TaskVerdict::Converged { state } => Ok(format!(
            "converged: {}/{} is {state}\n",
            args.namespace, args.task
        )),
        TaskVerdict::Started => Ok(format!(
            "target recorded; first step taken ({}/{})\n",
            args.namespace, args.task
        )),
        TaskVerdict::Failed { reason, recovery } => fail(format!(
            "Task {}/{} is in error: {reason}; recovery: {recovery}",
            args.namespace, args.task
        )),
    }
}

async fn get(client: kube::Client, args: &crate::cli::GetArgs) -> Outcome {
    use crate::cli::GetKind;
    use crate::ui::data::{self, ViewKind};
    let kind = match args.kind {
        GetKind::Pods => ViewKind::Pods,
        GetKind::Sts => ViewKind::StatefulSets,
        GetKind::Cm => ViewKind::ConfigMaps,
        GetKind::Tasks => ViewKind::Tasks,
    };
    let (group, version, plural, k) = kind
        .api()
        .ok_or_else(|| CommandError("no API for this kind".into()))?;
    let ar = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk(group, version, k),
        plural,
    );
    let api: kube::Api<kube::api::DynamicObject> = if args.all_namespaces {
        kube::Api::all_with(client, &ar)
    } else {
        kube::Api::namespaced_with(client, &args.namespace, &ar)
    };
    let list = api
        .list(&Default::default())
        .await
        .map_err(|e| CommandError(format!("listing {plural}: {e}")))?;
    let mut values: Vec<Value> = list
        .items
        .iter()
        .filter_map(|o| serde_json::to_value(o).ok())
        .collect();
    for v in &mut values {
        if let Some(m) = v["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
    }
    match args.output {
        Output::Json => Ok(pretty(
            &json!({"apiVersion": "v1", "kind": "List", "items": values}),
        )),
        Output::Yaml => Ok(serde_yaml::to_string(
            &json!({"apiVersion": "v1", "kind": "List", "items": values}),
        )
        .unwrap_or_default()),
        Output::Table => {
            let rows: Vec<data::Row> = values
                .iter()
                .filter_map(|v| {
                    Some(match kind {
                        ViewKind::Pods => data::pod_row(&serde_json::from_value(v.clone()).ok()?),
                        ViewKind::StatefulSets => {
                            data::sts_row(&serde_json::from_value(v.clone()).ok()?)
                        }
                        ViewKind::ConfigMaps => {
                            data::cm_row(&serde_json::from_value(v.clone()).ok()?)
                        }
                        _ => data::task_row(&serde_json::from_value(v.clone()).ok()?),
                    })
                })
                .collect();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let workers = std::collections::HashMap::new();
            let cols = kind.columns();
            let skip_ns = !args.all_namespaces;
            let keep: Vec<usize> = (0..cols.len())
                .filter(|i| {
                    !(matches!(cols[*i].0, "JOBS" | "CONFIG" | "SWARM" | "JOBS/WORKER")
                        || skip_ns && cols[*i].0 == "NAMESPACE")
                })
                .collect();
            let mut out = String::new();
            let lines: Vec<Vec<String>> =
                std::iter::once(keep.iter().map(|i| cols[*i].0.to_owned()).collect())
                    .chain(rows.iter().map(|r| {
                        let d = data::display_row(kind, r, &workers, now);
                        keep.iter()
                            .map(|i| d.cells.get(*i).cloned().unwrap_or_default())
                            .collect()
                    }))
                    .collect();
            let widths: Vec<usize> = (0..keep.len())
                .map(|c| {
                    lines
                        .iter()
                        .map(|l| l[c].chars().count())
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            for l in &lines {
                let mut line = String::new();
                for (c, cell) in l.iter().enumerate() {
                    line.push_str(&format!("{cell:<w$}   ", w = widths[c]));
                }
                out.push_str(line.trim_end());
                out.push('\n');
            }
            if rows.is_empty() {
                out = format!(
                    "No {plural} in {}.\n",
                    if args.all_namespaces {
                        "any namespace".to_owned()
                    } else {
                        format!("namespace {}", args.namespace)
                    }
                );
            }
            Ok(out)
        }
    }
}

async fn status(client: kube::Client, args: &crate::cli::StatusArgs) -> Outcome {
    use crate::domain::swarm::SwarmRef;
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::api::core::v1::ConfigMap;
    // The swarms: the seed one if its StatefulSet exists, and every jobs
    // ConfigMap labelled swarmdeck.io/swarm.
    let mut names: Vec<String> = Vec::new();
    let seed = SwarmRef::default();
    let sts: kube::Api<k8s_openapi::api::apps::v1::StatefulSet> =
        kube::Api::namespaced(client.clone(), &seed.namespace);
    if sts
        .get_opt(&seed.name)
        .await
        .map_err(|e| CommandError(e.to_string()))?
        .is_some()
    {
        names.push(seed.name.clone());
    }
    let labelled = kube::Api::<ConfigMap>::all(client.clone())
        .list(&kube::api::ListParams::default().labels("swarmdeck.io/swarm"))
        .await
        .map_err(|e| CommandError(format!("listing swarm ConfigMaps: {e}")))?;
    for cm in labelled.items {
        if let Some(n) = cm
            .metadata
            .labels
            .and_then(|l| l.get("swarmdeck.io/swarm").cloned())
            && !names.contains(&n)
        {
            names.push(n);
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut swarms = Vec::new();
    for name in &names {
        let swarm = crate::engine::swarm::resolve(&client, name)
            .await
            .map_err(engine_err)?;
        let (cfg, rows) = crate::engine::swarm::grid(&client, &swarm)
            .await
            .map_err(engine_err)?;
        let lease = kube::Api::<Lease>::namespaced(client.clone(), &swarm.namespace)
            .get_opt("swarmdeck-engine")
            .await
            .map_err(|e| CommandError(e.to_string()))?;
        let engine = match lease.and_then(|l| l.spec) {
            Some(spec) => {
                let holder = spec.holder_identity.unwrap_or_default();
                let renewed = spec.renew_time.map(|t| (now - t.0.as_millisecond()) / 1000);
                let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15));
                match renewed {
                    _ if holder.is_empty() => "no engine leads (lease released)".to_owned(),
                    Some(age) if age <= duration => {
                        format!("leader {holder} (renewed {age}s ago)")
                    }
                    _ => format!("lease expired (last holder {holder})"),
                }
            }
            None => {
                "no engine holds Lease swarmdeck-engine: commands act in the foreground".to_owned()
            }
        };
        let jobs: usize = rows.iter().map(|r| r.jobs.len()).sum();
        swarms.push(json!({
            "name": swarm.name, "namespace": swarm.namespace, "workers": rows.len(),
            "converged": rows.iter().filter(|r| r.converged).count(), "version": cfg.version,
            "jobs": jobs, "duplicated": cfg.duplicated_jobs().len(), "engine": engine,
        }));
    }
    match args.output {
        Output::Json => Ok(pretty(&json!({"swarms": swarms}))),
        Output::Yaml => Ok(serde_yaml::to_string(&json!({"swarms": swarms})).unwrap_or_default()),
        Output::Table => {
            if swarms.is_empty() {
                return Ok("No swarms: neither the seed swarm (StatefulSet swarm-worker in namespace swarm) nor ConfigMaps labelled swarmdeck.io/swarm.\n".into());
            }
            let rows: Vec<[String; 7]> = swarms
                .iter()
                .map(|s| {
                    let txt = |k: &str| {
                        s[k].as_str()
                            .map_or_else(|| s[k].to_string(), str::to_owned)
                    };
                    [
                        txt("name"),
                        txt("namespace"),
                        format!("{}/{}", s["converged"], s["workers"]),
                        format!("v{}", s["version"]),
                        txt("jobs"),
                        txt("duplicated"),
                        txt("engine"),
                    ]
                })
                .collect();
            Ok(table(
                &[
                    "SWARM",
                    "NAMESPACE",
                    "CONVERGED",
                    "VERSION",
                    "JOBS",
                    "DUPLICATED",
                    "ENGINE",
                ],
                &rows,
            ))
        }
    }
}
