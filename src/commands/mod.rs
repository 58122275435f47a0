//! The command-line verbs. Each returns its output as text or an error written
//! for the operator; `run` prints them and turns them into an exit code.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use kube::CustomResourceExt;
use serde_json::{Value, json};

use crate::cli::{
    AssignArgs, Cli, Command, ConnectionArgs, ConsoleArgs, CrdsArgs, EmbeddedCommand, GridArgs,
    NewCommand, Output, PoolArgs, RebalanceArgs, RenderArgs, ScaleArgs, ServeArgs, TaskCommand,
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
mod logs;
use engine::{Actor, take_or_delegate};

type Outcome = Result<String, CommandError>;

/// The exit code of a command `exec` ran in a container (0 otherwise).
static REMOTE_EXIT: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

fn fail<T>(msg: impl Into<String>) -> Result<T, CommandError> {
    Err(CommandError(msg.into()))
}

/// Run a parsed command line; returns the process exit code.
pub fn run(cli: Cli, console: Console) -> i32 {
    let conn = cli.connection;
    let console_flag = cli.console.given().first().copied();
    let result = match (cli.command, console_flag) {
        (Some(_), Some(flag)) => fail(format!(
            "{flag} is an option of the console; run `swarmdeck {flag} ...` without a verb"
        )),
        (None, _) => crate::settings::connect_options(&conn)
            .and_then(|(connect, _)| console(cli.console, connect, &conn))
            .map(|()| String::new())
            .map_err(CommandError),
        (Some(command), None) => dispatch(command, &conn),
    };
    match result {
        Ok(out) => {
            print!("{}", for_terminal(&out, &std::io::stdout()));
            // A command run in a container ends with its own code.
            REMOTE_EXIT.load(std::sync::atomic::Ordering::Relaxed)
        }
        Err(e) => {
            eprintln!("error: {}", for_terminal(&e.0, &std::io::stderr()));
            1
        }
    }
}

/// What the command line prints to a terminal shows control characters
/// from the cluster (a name, a message, a cell) instead of obeying them; a
/// pipe or a file gets the text as it is.
fn for_terminal<'a>(text: &'a str, stream: &impl std::io::IsTerminal) -> std::borrow::Cow<'a, str> {
    if stream.is_terminal() {
        crate::sanitize::lines(text)
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// The console, handed to [`run`] by the binary's entry: started when no
/// verb is given, with the connection the flags and settings ask for. (The
/// command line does not reach into the console; the entry joins them.)
pub type Console =
    fn(ConsoleArgs, crate::cluster::ConnectOptions, &ConnectionArgs) -> Result<(), String>;

fn dispatch(command: Command, conn: &ConnectionArgs) -> Outcome {
    match command {
        Command::Crds(args) => crds(&args),
        Command::Assign(args) => assign(&args),
        Command::Render(args) => render(&args),
        Command::New(NewCommand::Pool(args)) => new_pool(&args, conn),
        Command::Embedded(EmbeddedCommand::Serve(args)) => serve(&args, conn),
        Command::Grid(args) => with_cluster(conn, Verb::Reads, |s| grid(s, &args)),
        Command::Rebalance(args) => {
            let verb = Verb::writes("rebalance", args.dry_run);
            with_cluster(conn, verb, |s| rebalance(s, &args))
        }
        Command::Scale(args) => scale(&args, conn),
        Command::Get(args) => with_cluster(conn, Verb::Lists, |s| get(s, &args)),
        Command::Status(args) => with_cluster(conn, Verb::Lists, |s| status(s, &args)),
        Command::Apply(args) => {
            let verb = Verb::unit("apply", args.dry_run);
            with_cluster(conn, verb, |s| engine::apply(s, &args))
        }
        Command::Delete(args) => {
            let verb = Verb::unit("delete", args.dry_run);
            with_cluster(conn, verb, |s| engine::delete(s, &args))
        }
        Command::Operator(args) => engine::operator(&args, conn),
        Command::Logs(args) => with_cluster(conn, Verb::Reads, |s| logs::logs(s, args)),
        // A session in a container is a write: read-only refuses it first.
        Command::Exec(args) => {
            with_cluster(conn, Verb::writes("exec", false), |s| logs::exec(s, args))
        }
        Command::PortForward(args) => {
            with_cluster(conn, Verb::writes("port-forward", false), |s| {
                logs::port_forward(s, args)
            })
        }
        Command::Task(TaskCommand::SetState(args)) => {
            let verb = Verb::writes("task set-state", false);
            with_cluster(conn, verb, |s| set_state(s, &args))
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
    let previous = args
        .previous
        .as_ref()
        .map(|p| {
            let text = read_input(p, "previous assignment")?;
            WorkerConfig::parse(&text).map_err(|e| {
                CommandError(format!(
                    "{}: {e}; give the config.yml of a swarm-worker-config",
                    p.display()
                ))
            })
        })
        .transpose()?;
    let after = match &previous {
        Some(prev) => assignment::assign_from(prev, sts, &jobs, workers, &policy),
        None => assignment::assign(&jobs, workers, &policy),
    }
    .map_err(|e| CommandError(e.to_string()))?;
    let before = match &previous {
        Some(prev) => Some(prev.to_assignment(sts)),
        None => from
            .map(|m| assignment::assign(&jobs, m, &policy))
            .transpose()
            .map_err(|e| CommandError(format!("--from-workers: {e}")))?,
    };
    let base = match (&previous, &before) {
        (Some(prev), _) => prev.clone(),
        (None, Some(b)) => assignment::plan(&WorkerConfig::default(), b, sts).config,
        (None, None) => WorkerConfig::default(),
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

fn new_pool(args: &PoolArgs, conn: &ConnectionArgs) -> Outcome {
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
        namespace: conn.namespace().map_err(CommandError)?,
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

fn serve(args: &ServeArgs, conn: &ConnectionArgs) -> Outcome {
    for (given, flag) in [
        (conn.read_only, "--read-only"),
        (conn.context.is_some(), "--context"),
        (conn.all_namespaces, "-A"),
    ] {
        if given {
            return fail(format!(
                "embedded serve: {flag} is for clients of a cluster; give it to the commands that use the kubeconfig this writes"
            ));
        }
    }
    let namespace = conn.namespace().map_err(CommandError)?;
    let world = crate::embedded::runtime::embedded_world(&conn.scenario(), args.pods)
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
        // The kubeconfig holds the users' tokens: 0600, and by default in
        // swarmdeck's own state folder, not a shared one.
        let path = match conn.kubeconfig.clone() {
            Some(p) => p,
            None => {
                let dir = crate::files::state_dir();
                crate::files::private_dir(&dir).map_err(|e| {
                    CommandError(format!(
                        "cannot create {}: {e}; or give --kubeconfig FILE",
                        dir.display()
                    ))
                })?;
                dir.join("embedded.kubeconfig")
            }
        };
        let url = crate::embedded::url(addr);
        crate::files::write_private(
            &path,
            crate::embedded::kubeconfig(&cluster, &url, namespace.as_deref().unwrap_or("default"))
                .as_bytes(),
        )
        .map_err(|e| {
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
        let (stop_engine, stopped) = tokio::sync::oneshot::channel();
        let operator = if args.no_operator {
            None
        } else {
            let kubeconfig = crate::embedded::kubeconfig(&cluster, &url, "default");
            engine::serve_operator(&cluster, &kubeconfig, stopped).await?
        };
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| CommandError(format!("cannot watch for SIGTERM: {e}")))?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        let _ = stop_engine.send(());
        if let Some(operator) = operator {
            // It hands back its Leases; a server gone quiet does not hold the exit.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), operator).await;
        }
        task.abort();
        Ok::<_, CommandError>(String::new())
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = ticker.join();
    result
}

/// What a verb does to the cluster. The connection flags are checked once,
/// here, for every verb: in read-only mode a verb that would write is refused
/// before anything is sent; `-A` is taken only by verbs that list.
#[derive(Debug, Clone, Copy)]
enum Verb {
    /// Reads in one namespace.
    Reads,
    /// Lists in one namespace, or with -A in all.
    Lists,
    /// Changes the cluster (`name` for messages). A dry run only reads, except
    /// where `server_dry_run`: then it sends the writes with dryRun=All.
    Writes {
        name: &'static str,
        dry_run: bool,
        server_dry_run: bool,
    },
}

impl Verb {
    fn writes(name: &'static str, dry_run: bool) -> Verb {
        Verb::Writes {
            name,
            dry_run,
            server_dry_run: false,
        }
    }

    fn unit(name: &'static str, dry_run: bool) -> Verb {
        Verb::Writes {
            name,
            dry_run,
            server_dry_run: name == "apply",
        }
    }
}

/// A connected command: its client, its identity, the namespace it works in.
pub(crate) struct Session {
    pub client: kube::Client,
    pub audit: crate::engine::audit::Auditor,
    /// `-n`, else the context's namespace, else `default`.
    pub namespace: String,
    /// `-n` was given (so a miss is not explained by the context's default).
    pub namespace_given: bool,
    pub all_namespaces: bool,
    pub read_only: bool,
    pub context: String,
    pub user: String,
}

impl Session {
    /// Who acts, where: printed (on stderr) by every command that changes
    /// something, before it acts.
    pub fn acting_as(&self) -> String {
        format!(
            "acting as {} (context {}) in namespace {}{}",
            self.user,
            self.context,
            self.namespace,
            if self.read_only {
                ", read-only: every write is refused before it is sent"
            } else {
                ""
            }
        )
    }
}

/// Run an async command against the cluster the flags name, as the flags say.
fn with_cluster<F, Fut>(conn: &ConnectionArgs, verb: Verb, f: F) -> Outcome
where
    F: FnOnce(Session) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let (opts, settings_note) = crate::settings::connect_options(conn).map_err(CommandError)?;
    match verb {
        Verb::Writes { name, .. } if conn.all_namespaces => {
            return fail(format!(
                "-A lists across namespaces; `{name}` acts in one: give -n NAMESPACE"
            ));
        }
        Verb::Reads if conn.all_namespaces => {
            return fail(
                "-A lists across namespaces; this verb reads one object: give -n NAMESPACE",
            );
        }
        Verb::Writes {
            name,
            dry_run,
            server_dry_run,
        } if opts.read_only && (!dry_run || server_dry_run) => {
            let why = settings_note.unwrap_or_else(|| "--read-only".to_owned());
            let what = if dry_run {
                "its dry run is checked by the server with write requests (dryRun=All)"
            } else {
                "it changes the cluster"
            };
            return fail(format!(
                "read-only mode ({why}): `swarmdeck {name}` refused before anything was sent: {what}{}",
                if dry_run {
                    "; `swarmdeck render` validates a manifest without the server"
                } else {
                    "; --dry-run shows the plan"
                }
            ));
        }
        _ => {}
    }
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| CommandError(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let connection = crate::cluster::connect(&opts)
            .await
            .map_err(|e| CommandError(e.to_string()))?;
        if connection.embedded {
            // Give the demo world a moment to bring its workers up.
            wait_for_workers(&connection.client).await;
        }
        let session = Session {
            client: connection.client.clone(),
            audit: crate::engine::audit::Auditor {
                client: connection.client.clone(),
                user: connection.user.clone(),
                context: connection.context.clone(),
                log: Some(crate::engine::audit::default_log()),
            },
            namespace: connection.namespace.clone(),
            namespace_given: opts.namespace.is_some(),
            all_namespaces: conn.all_namespaces,
            read_only: opts.read_only,
            context: connection.context.clone(),
            user: connection.user.clone(),
        };
        if matches!(verb, Verb::Writes { .. }) {
            eprintln!("{}", session.acting_as());
        }
        f(session).await
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

/// A failed request on `object`, in the operator's words.
fn kube_err(object: &str, e: &kube::Error) -> CommandError {
    CommandError(format!("{object}: {}", crate::cluster::explain(e)))
}

/// The swarm a command names, in the session's namespace. When the namespace
/// came from the context and the swarm is not there, say so.
async fn resolve(
    session: &Session,
    name: &str,
) -> Result<crate::domain::swarm::SwarmRef, CommandError> {
    // kubectl's TYPE/NAME: a swarm is also named by its StatefulSet.
    let name = ["swarm/", "swarms/", "sts/", "statefulset/", "statefulsets/"]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name);
    crate::engine::swarm::resolve(&session.client, &session.namespace, name)
        .await
        .map_err(|e| match e {
            crate::engine::Error::UnknownSwarm { .. } if !session.namespace_given => {
                CommandError(format!(
                    "{e} (namespace {} is context {}'s default)",
                    session.namespace, session.context
                ))
            }
            e => engine_err(e),
        })
}

async fn grid(session: Session, args: &GridArgs) -> Outcome {
    let Some(name) = &args.swarm else {
        return status(
            session,
            &crate::cli::StatusArgs {
                output: args.output,
            },
        )
        .await;
    };
    let client = session.client.clone();
    let swarm = resolve(&session, name).await?;
    let (inputs, rows) = crate::engine::swarm::grid_with_inputs(&client, &swarm)
        .await
        .map_err(engine_err)?;
    let cfg = &inputs.current;
    match args.output {
        Output::Yaml => Ok(cfg.to_yaml()),
        Output::Json => Ok(pretty(&json!({
            "version": cfg.version,
            "workers": rows,
            "handoff": {
                "mode": inputs.mode,
                "state": inputs.handoff,
                "scaleRequested": inputs.scale_to,
                "duplicated": cfg.duplicated_jobs(),
            },
        }))),
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
            for line in crate::domain::handoff::summary_lines(
                inputs.mode,
                inputs.handoff.as_ref(),
                inputs.scale_to,
                &dup,
                crate::time::Clock::system().now_ms(),
            ) {
                out.push_str(&line);
                out.push('\n');
            }
            if let Some(e) = &inputs.mode_error {
                out.push_str(&format!("warning: {e}\n"));
            }
            Ok(out)
        }
    }
}

/// The plan from what is written to the target; `running`: the workers
/// that run now (higher ordinals are new: they start with their jobs).
fn describe_plan(plan: &crate::domain::assignment::Plan, sts: &str, running: u32) -> String {
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
            "  {} {} (version {}, +{} -{} jobs)\n",
            if c.ordinal < running {
                "refresh"
            } else {
                "new"
            },
            assignment::worker_name(sts, c.ordinal),
            c.version,
            c.added.len(),
            c.removed.len()
        ));
    }
    out
}

/// What a changing verb tells as it goes: progress lines, printed at once
/// (on stdout for `-o table`, on stderr for yaml/json so that stdout holds
/// one document), and the plan it acted on, for the structured verdict.
pub(crate) struct Report {
    output: Output,
    plan: std::sync::Mutex<Option<Value>>,
    lines: std::sync::Mutex<Vec<String>>,
}

impl Report {
    fn new(output: Output) -> Self {
        Self {
            output,
            plan: std::sync::Mutex::new(None),
            lines: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn say(&self, line: impl Into<String>) {
        let line: String = line.into();
        for l in line.lines() {
            if self.output == Output::Table {
                println!("{}", for_terminal(l, &std::io::stdout()));
            } else {
                eprintln!("{}", for_terminal(l, &std::io::stderr()));
            }
            if let Ok(mut lines) = self.lines.lock() {
                lines.push(l.to_owned());
            }
        }
    }

    fn plan(&self, plan: Value) {
        if let Ok(mut p) = self.plan.lock() {
            *p = Some(plan);
        }
    }

    /// The verb's result: the verdict text for a table, else one document
    /// with the object, the plan, the progress and the verdict.
    fn finish(&self, object: Value, result: Outcome) -> Outcome {
        let verdict = result?;
        let doc = json!({
            "object": object,
            "plan": self.plan.lock().ok().and_then(|p| p.clone()),
            "progress": self.lines.lock().map(|l| l.clone()).unwrap_or_default(),
            "verdict": verdict.trim_end(),
        });
        Ok(match self.output {
            Output::Table => verdict,
            Output::Json => pretty(&doc),
            Output::Yaml => serde_yaml::to_string(&doc).unwrap_or_default(),
        })
    }
}

fn plan_json(plan: &crate::domain::assignment::Plan, sts: &str) -> Value {
    let name = |o: Option<u32>| o.map(|o| assignment::worker_name(sts, o));
    json!({
        "version": plan.global_version,
        "moves": plan.moves.iter().map(|m| json!({"job": m.job, "from": name(m.from), "to": name(m.to)})).collect::<Vec<_>>(),
        "refresh": plan.changed.iter().map(|c| json!({"worker": assignment::worker_name(sts, c.ordinal), "version": c.version})).collect::<Vec<_>>(),
    })
}

/// The handoff's writes, one paragraph each: what each releases or grants,
/// and who refreshes (a worker that has no pod yet starts with its streams).
fn describe_phases(
    phases: &[(
        crate::domain::handoff::Step,
        crate::domain::assignment::Plan,
    )],
    mode: crate::domain::handoff::HandoffMode,
    replicas: u32,
    sts: &str,
) -> String {
    use crate::domain::handoff::Phase;
    if phases.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "Handoff {}: {} write{}\n",
        mode.as_str(),
        phases.len(),
        if phases.len() == 1 { "" } else { "s" }
    );
    for (i, (step, plan)) in phases.iter().enumerate() {
        out.push_str(&format!(
            "  {}. {} (version {}): {}\n",
            i + 1,
            step.phase.as_str(),
            plan.global_version,
            match step.phase {
                Phase::Release =>
                    "streams that move leave their owners; none is granted until they confirm",
                Phase::Grant => "streams go to their new owners",
            }
        ));
        for s in &step.streams {
            let from = if s.from.is_empty() {
                "new".to_owned()
            } else {
                s.from.join(", ")
            };
            let line = match (&s.to, step.phase) {
                (None, _) => format!("drop {} from {from}", s.stream),
                (Some(to), Phase::Release) => {
                    format!("release {} from {from} (for {to})", s.stream)
                }
                (Some(to), Phase::Grant) => format!("grant {} to {to} (from {from})", s.stream),
            };
            out.push_str(&format!("     {line}\n"));
        }
        for c in &plan.changed {
            let w = assignment::worker_name(sts, c.ordinal);
            if c.ordinal >= replicas {
                // Not started yet: it starts with what it is granted.
                if !c.added.is_empty() {
                    out.push_str(&format!(
                        "     {w} starts with version {} (no restart)\n",
                        c.version
                    ));
                }
            } else {
                out.push_str(&format!("     refresh {w} (version {})\n", c.version));
            }
        }
        for o in &plan.removed_workers {
            out.push_str(&format!(
                "     {} leaves: its streams are granted once its pod is gone\n",
                assignment::worker_name(sts, *o)
            ));
        }
    }
    out
}

fn phases_json(
    phases: &[(
        crate::domain::handoff::Step,
        crate::domain::assignment::Plan,
    )],
) -> Value {
    phases
        .iter()
        .map(|(step, plan)| {
            json!({"phase": step.phase, "version": plan.global_version, "streams": step.streams})
        })
        .collect()
}

async fn run_reconcile(
    client: &kube::Client,
    swarm: &crate::domain::swarm::SwarmRef,
    dry_run: bool,
    report: &Report,
) -> Outcome {
    use crate::engine::swarm::{Progress, ReconcileOptions, Verdict, reconcile};
    let sts = crate::engine::swarm::statefulset_of(swarm);
    let mut out = String::new();
    let inputs = crate::engine::swarm::read_inputs(client, swarm)
        .await
        .map_err(engine_err)?;
    let plan = crate::engine::swarm::desired_state(swarm, &inputs, &Default::default())
        .map_err(engine_err)?;
    let phases = crate::engine::swarm::preview(client, swarm, &inputs, &Default::default())
        .await
        .map_err(engine_err)?;
    let duplicated = inputs.current.duplicated_jobs();
    if !duplicated.is_empty() {
        report.say(format!(
            "{} lists {} streams under two workers or more ({}): the extra copies are released before anything is granted",
            swarm.output_config_map,
            duplicated.len(),
            duplicated.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if !phases.is_empty() {
        report.say(format!(
            "{}{}",
            describe_plan(&plan, &sts, inputs.replicas),
            describe_phases(&phases, inputs.mode, inputs.replicas, &sts)
        ));
        let mut doc = plan_json(&plan, &sts);
        doc["phases"] = phases_json(&phases);
        report.plan(doc);
    }
    let verdict = reconcile(client, swarm, &ReconcileOptions { dry_run, ..Default::default() }, |plan, p| match p {
        Progress::Planned { phase, streams, .. } if !dry_run => {
            report.say(format!("writing the {} (version {}, {streams} streams)", phase.as_str(), plan.global_version));
        }
        Progress::Planned { .. } => {}
        Progress::Replanned { attempt } => report.say(format!("the output ConfigMap changed under us (attempt {attempt}): re-planning from its new content")),
        Progress::Written { version, phase } => report.say(format!("wrote {} version {version} ({})", swarm.output_config_map, phase.as_str())),
        Progress::Refreshing { worker } => report.say(format!("refreshing {worker} ...")),
        Progress::Refreshed { worker } => report.say(format!("{worker} confirmed")),
        Progress::Scaled { replicas } => report.say(format!("scaled {}/{sts} to {replicas}", swarm.namespace)),
    })
    .await
    .map_err(engine_err)?;
    match verdict {
        v @ Verdict::Converged { .. } if !duplicated.is_empty() => out.push_str(&format!(
            "{v}; {} streams listed twice were repaired\n",
            duplicated.len()
        )),
        v @ Verdict::Converged { .. } => out.push_str(&format!("{v}\n")),
        Verdict::Unchanged => out.push_str("nothing to do: the assignment is current\n"),
        Verdict::DryRun => out.push_str("dry run: nothing was changed\n"),
    }
    Ok(out)
}

async fn rebalance(session: Session, args: &RebalanceArgs) -> Outcome {
    let client = session.client.clone();
    let audit = session.audit.clone();
    let swarm = resolve(&session, &args.swarm).await?;
    let report = Report::new(args.output);
    let object = json!({"swarm": swarm.name, "namespace": swarm.namespace});
    if args.dry_run {
        let r = run_reconcile(&client, &swarm, true, &report).await;
        return report.finish(object, r);
    }
    let result = match take_or_delegate(&client, &swarm.namespace, &audit.user).await {
        Err(e) => Err(e),
        Ok(Actor::Here(held)) => {
            let r = run_reconcile(held.client(), &swarm, false, &report).await;
            held.release().await;
            r
        }
        Ok(Actor::Engine(leader)) => {
            request_rebalance(&client, &swarm, &leader, &audit.user, &report).await
        }
    };
    {
        record(
            &audit,
            &crate::ops::scale::subject(&swarm),
            "Rebalance",
            "re-plan the assignment",
            &result,
        )
        .await;
    }
    report.finish(object, result)
}

/// Audit an action that was attempted (a read-only refusal sent nothing):
/// its verdict's last line, or why it failed.
async fn record(
    audit: &crate::engine::audit::Auditor,
    subject: &crate::engine::audit::Subject,
    action: &str,
    plan: &str,
    result: &Outcome,
) {
    let result = match result {
        Ok(out) => Ok(out.lines().last().unwrap_or("done")),
        Err(e) => Err(e.0.as_str()),
    };
    crate::ops::audited(audit, subject, action, plan, result).await;
}

fn scale(args: &ScaleArgs, conn: &ConnectionArgs) -> Outcome {
    use crate::domain::swarm::BadReplicas;
    let replicas = crate::domain::swarm::parse_replicas(&args.replicas, args.max_replicas)
        .map_err(|e| {
            CommandError(match e {
                BadReplicas::Empty | BadReplicas::NotANumber(_) => format!(
                    "replicas `{}` is not a whole number of workers (1 or more, e.g. 3)",
                    args.replicas
                ),
                BadReplicas::AboveCeiling { wanted, ceiling } => format!(
                    "{wanted} replicas is above the ceiling of {ceiling}; raise --max-replicas if you mean it"
                ),
                BadReplicas::Zero => "0 replicas would leave the swarm's jobs unassigned; scale to at least 1 (delete the StatefulSet to retire a swarm)".to_owned(),
            })
        })?;
    let verb = Verb::writes("scale", args.dry_run);
    with_cluster(conn, verb, |session| async move {
        let audit = session.audit.clone();
        let swarm = resolve(&session, &args.statefulset).await?;
        let report = Report::new(args.output);
        let object =
            json!({"swarm": swarm.name, "namespace": swarm.namespace, "replicas": replicas});
        let result = scale_swarm(&session, &swarm, replicas, args, &report).await;
        if !args.dry_run {
            let plan = crate::ops::scale::plan(replicas);
            record(
                &audit,
                &crate::ops::scale::subject(&swarm),
                "Scale",
                &plan,
                &result,
            )
            .await;
        }
        report.finish(object, result)
    })
}

/// Ask the engine that leads for a rebalance (annotation on the jobs
/// ConfigMap) and wait for its verdict.
async fn request_rebalance(
    client: &kube::Client,
    swarm: &crate::domain::swarm::SwarmRef,
    leader: &str,
    who: &str,
    report: &Report,
) -> Outcome {
    use crate::engine::swarm::REBALANCE_ANNOTATION;
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client.clone(), &swarm.namespace);
    let object = format!("ConfigMap {}/{}", swarm.namespace, swarm.jobs_config_map);
    crate::engine::swarm::request_rebalance(client, swarm, who)
        .await
        .map_err(engine_err)?;
    report.say(format!(
        "engine {leader} leads namespace {}: rebalance requested on {object}; waiting for its verdict",
        swarm.namespace
    ));
    loop {
        let cm = cms
            .get(&swarm.jobs_config_map)
            .await
            .map_err(|e| kube_err(&object, &e))?;
        let pending = cm
            .metadata
            .annotations
            .is_some_and(|a| a.contains_key(REBALANCE_ANNOTATION));
        if !pending {
            return wait_converged(client, swarm, None, report).await;
        }
        // An engine that no longer leads will not take it up: withdraw the
        // request rather than leave it for whoever leads next.
        if let Some(why) = no_engine_leads(client, &swarm.namespace).await {
            let _ = crate::engine::swarm::annotate_jobs(
                client,
                swarm,
                crate::engine::swarm::request_cleared(crate::engine::swarm::Request::Rebalance),
            )
            .await;
            return fail(format!(
                "{why}: the rebalance request on {object} was withdrawn, nothing was rebalanced; run `swarmdeck rebalance {}` again (without an engine leading, it acts itself)",
                swarm.name
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Why no engine leads `namespace` now (its Lease unheld or expired), or None.
async fn no_engine_leads(client: &kube::Client, namespace: &str) -> Option<String> {
    let now = crate::time::Clock::system().now_ms();
    match crate::engine::lease::holder(client, namespace, now).await {
        Ok(Some(_)) => None,
        Ok(None) => Some(format!(
            "no engine leads namespace {namespace} any more (Lease {namespace}/{} is unheld or expired)",
            crate::engine::lease::LEASE_NAME
        )),
        Err(_) => None,
    }
}

/// Wait until every worker of the swarm (`replicas` of them, when given)
/// reports its current version, printing progress as workers converge.
async fn wait_converged(
    client: &kube::Client,
    swarm: &crate::domain::swarm::SwarmRef,
    replicas: Option<u32>,
    report: &Report,
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
            report.say(format!("{done}/{} workers converged", rows.len()));
            last = Some(done);
        }
        let sized =
            replicas.is_none_or(|n| rows.len() == n as usize) && cfg.workloads.len() == rows.len();
        if sized
            && done == rows.len()
            && inputs.pending.is_empty()
            && inputs.handoff.is_none()
            && inputs.scale_to.is_none()
        {
            return Ok(format!(
                "converged: version {}, {} workers\n",
                cfg.version,
                rows.len()
            ));
        }
        // A scale asked of an engine that no longer leads is withdrawn,
        // not left for whoever leads next.
        if let Some(n) = inputs.scale_to
            && let Some(why) = no_engine_leads(client, &swarm.namespace).await
        {
            let _ = crate::engine::swarm::annotate_jobs(
                client,
                swarm,
                crate::engine::swarm::request_cleared(crate::engine::swarm::Request::Scale(n)),
            )
            .await;
            return fail(format!(
                "{why}: the request for {n} workers of swarm `{}` was withdrawn, nothing was scaled; run the scale again (without an engine leading, it acts itself)",
                swarm.name
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
    session: &Session,
    swarm: &crate::domain::swarm::SwarmRef,
    replicas: u32,
    args: &ScaleArgs,
    report: &Report,
) -> Outcome {
    let client = &session.client;
    let user = &session.user;
    let sts = crate::engine::swarm::statefulset_of(swarm);
    let sts_object = format!("StatefulSet {}/{sts}", swarm.namespace);
    let mut inputs = crate::engine::swarm::read_inputs(client, swarm)
        .await
        .map_err(engine_err)?;
    let grant_first = crate::ops::scale::grants_first(&inputs, replicas);
    // In read-only mode a dry run is planned here only: the server's dry run
    // is a write request, which read-only mode does not send.
    if !(args.dry_run && session.read_only) {
        crate::ops::scale::write(client, swarm, &inputs, replicas, user, args.dry_run)
            .await
            .map_err(engine_err)?;
    }
    if args.dry_run {
        if grant_first {
            inputs.scale_to = Some(replicas);
        } else {
            inputs.replicas = replicas;
            inputs.scale_to = None;
        }
        let plan = crate::engine::swarm::desired_state(swarm, &inputs, &Default::default())
            .map_err(engine_err)?;
        let phases = crate::engine::swarm::preview(client, swarm, &inputs, &Default::default())
            .await
            .map_err(engine_err)?;
        let mut doc = plan_json(&plan, &sts);
        doc["phases"] = phases_json(&phases);
        report.plan(doc);
        return Ok(format!(
            "{}{}dry run: nothing was changed\n",
            describe_plan(&plan, &sts, inputs.replicas),
            describe_phases(&phases, inputs.mode, inputs.replicas, &sts)
        ));
    }
    if grant_first {
        report.say(format!(
            "asked for {replicas} workers of {sts_object} (annotation {} on ConfigMap {}/{}): the new workers are granted their streams before they start",
            crate::engine::swarm::SCALE_ANNOTATION,
            swarm.namespace,
            swarm.jobs_config_map
        ));
    } else {
        report.say(format!("scaled {}/{sts} to {replicas}", swarm.namespace));
    }
    let held = match take_or_delegate(client, &swarm.namespace, user).await? {
        Actor::Engine(leader) => {
            report.say(format!(
                "engine {leader} leads namespace {}: it re-plans and refreshes; waiting for its verdict",
                swarm.namespace
            ));
            return wait_converged(client, swarm, Some(replicas), report).await;
        }
        Actor::Here(held) => held,
    };
    let result = if grant_first {
        run_reconcile(held.client(), swarm, false, report).await
    } else {
        let api: kube::Api<k8s_openapi::api::apps::v1::StatefulSet> =
            kube::Api::namespaced(held.client().clone(), &swarm.namespace);
        scale_here(held.client(), swarm, replicas, &api, &sts, report).await
    };
    held.release().await;
    result
}

async fn scale_here(
    client: &kube::Client,
    swarm: &crate::domain::swarm::SwarmRef,
    replicas: u32,
    api: &kube::Api<k8s_openapi::api::apps::v1::StatefulSet>,
    sts: &str,
    report: &Report,
) -> Outcome {
    // Wait until the StatefulSet has the new count of ready pods.
    for _ in 0..600 {
        let s = api
            .get(sts)
            .await
            .map_err(|e| kube_err(&format!("StatefulSet {}/{sts}", swarm.namespace), &e))?;
        if s.status.and_then(|st| st.ready_replicas).unwrap_or(0) as u32 == replicas {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    run_reconcile(client, swarm, false, report).await
}

async fn set_state(session: Session, args: &crate::cli::SetStateArgs) -> Outcome {
    let client = session.client.clone();
    let audit = session.audit.clone();
    let ns = session.namespace.as_str();
    let report = Report::new(args.output);
    let object = json!({"task": args.task, "namespace": ns, "target": args.state});
    let result = match take_or_delegate(&client, ns, &audit.user).await {
        Err(e) => Err(e),
        Ok(Actor::Here(held)) => {
            let r = set_state_inner(held.client(), ns, args, &report).await;
            held.release().await;
            r
        }
        Ok(Actor::Engine(leader)) => request_state(&client, ns, args, &leader, &report).await,
    };
    let subject = crate::engine::audit::Subject {
        api_version: "aliecs.alice.cern/v1alpha1".into(),
        kind: "Task".into(),
        namespace: ns.to_owned(),
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
    report.finish(object, result)
}

/// Record the target for the engine that leads and wait for its verdict.
async fn request_state(
    client: &kube::Client,
    namespace: &str,
    args: &crate::cli::SetStateArgs,
    leader: &str,
    report: &Report,
) -> Outcome {
    use crate::domain::task::{OccState, Task};
    let object = format!("Task {}/{}", namespace, args.task);
    let want: OccState = args
        .state
        .parse()
        .map_err(|e: crate::domain::task::StateError| CommandError(format!("{object}: {e}")))?;
    if !want.requestable() {
        return fail(format!(
            "{object}: `{want}` cannot be requested: a Task can be asked for standby, configured or running"
        ));
    }
    let api: kube::Api<Task> = kube::Api::namespaced(client.clone(), namespace);
    crate::ops::task::record_target(client, namespace, &args.task, want, args.recover)
        .await
        .map_err(engine_err)?;
    report.say(format!(
        "engine {leader} leads namespace {}: target {want} recorded on {object}; waiting for its verdict",
        namespace
    ));
    if args.no_wait {
        return Ok(format!("target recorded ({object})\n"));
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(args.timeout * 4);
    let mut last: Option<String> = None;
    loop {
        let t = api
            .get(&args.task)
            .await
            .map_err(|e| kube_err(&object, &e))?;
        let status = t.status.unwrap_or_default();
        let state = status.state.clone().unwrap_or_default();
        if last.as_deref() != Some(state.as_str()) && !state.is_empty() {
            report.say(format!("{object} is {state}"));
            last = Some(state.clone());
        }
        if state == want.as_str() {
            return Ok(format!(
                "converged: {}/{} is {want}\n",
                namespace, args.task
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

async fn set_state_inner(
    client: &kube::Client,
    namespace: &str,
    args: &crate::cli::SetStateArgs,
    report: &Report,
) -> Outcome {
    use crate::engine::task::{TaskOptions, TaskProgress, TaskVerdict};
    let opts = TaskOptions {
        step_timeout: std::time::Duration::from_secs(args.timeout),
        recover: args.recover,
        no_wait: args.no_wait,
        ..Default::default()
    };
    let verdict =
        crate::engine::task::set_state(client, namespace, &args.task, &args.state, &opts, |p| {
            match p {
                TaskProgress::Planned { path } => {
                    report.say(format!(
                        "Plan for {}/{}: {}",
                        namespace,
                        args.task,
                        path.join(", ")
                    ));
                    report.plan(json!({"path": path}));
                }
                TaskProgress::Stepping { event, from, to } => {
                    report.say(format!("{event}: {from} -> {to} ..."))
                }
                TaskProgress::Reached { state } => report.say(format!("reached {state}")),
            }
        })
        .await
        .map_err(engine_err)?;
    match verdict {
        TaskVerdict::Converged { state } => Ok(format!(
            "converged: {}/{} is {state}\n",
            namespace, args.task
        )),
        TaskVerdict::Started => Ok(format!(
            "target recorded; first step taken ({}/{})\n",
            namespace, args.task
        )),
        TaskVerdict::Failed { reason, recovery } => fail(format!(
            "Task {}/{} is in error: {reason}; recovery: {recovery}",
            namespace, args.task
        )),
    }
}

async fn get(session: Session, args: &crate::cli::GetArgs) -> Outcome {
    let client = session.client.clone();
    use crate::cli::GetKind;
    use crate::rows::{self as data, ViewKind};
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
    let api: kube::Api<kube::api::DynamicObject> = if session.all_namespaces {
        kube::Api::all_with(client, &ar)
    } else {
        kube::Api::namespaced_with(client, &session.namespace, &ar)
    };
    let list = api.list(&Default::default()).await.map_err(|e| {
        let place = if session.all_namespaces {
            "in all namespaces".to_owned()
        } else {
            format!("in namespace {}", session.namespace)
        };
        kube_err(&format!("listing {plural} {place}"), &e)
    })?;
    let mut values: Vec<Value> = list
        .items
        .iter()
        .filter_map(|o| serde_json::to_value(o).ok())
        .collect();
    for v in &mut values {
        if let Some(m) = v["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
        // A Secret's values never leave masked (a no-op for other kinds).
        crate::domain::secret::mask(v);
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
            let now = crate::time::now_ms();
            let workers = std::collections::HashMap::new();
            // Usage is the console's (and `kubectl top`'s): not read here.
            let workers_usage = std::collections::HashMap::new();
            let cols = kind.columns();
            let skip_ns = !session.all_namespaces;
            let keep: Vec<usize> = (0..cols.len())
                .filter(|i| {
                    !(matches!(
                        cols[*i].0,
                        "JOBS" | "CONFIG" | "SWARM" | "JOBS/WORKER" | "CPU" | "MEM"
                    ) || skip_ns && cols[*i].0 == "NAMESPACE")
                })
                .collect();
            let mut out = String::new();
            let lines: Vec<Vec<String>> =
                std::iter::once(keep.iter().map(|i| cols[*i].0.to_owned()).collect())
                    .chain(rows.iter().map(|r| {
                        let d = data::display_row(kind, r, &workers, &workers_usage, now);
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
                    if session.all_namespaces {
                        "any namespace".to_owned()
                    } else {
                        format!("namespace {}", session.namespace)
                    }
                );
            }
            Ok(out)
        }
    }
}

async fn status(session: Session, args: &crate::cli::StatusArgs) -> Outcome {
    use k8s_openapi::api::coordination::v1::Lease;
    let client = session.client.clone();
    // The swarms of the namespace (of all, with -A): the seed swarm if its
    // StatefulSet exists, and every jobs ConfigMap labelled swarmdeck.io/swarm.
    let scope = (!session.all_namespaces).then_some(session.namespace.as_str());
    let found = crate::engine::swarm::discover(&client, scope)
        .await
        .map_err(engine_err)?;
    let now = crate::time::now_ms();
    let mut swarms = Vec::new();
    for swarm in &found {
        let (cfg, rows) = crate::engine::swarm::grid(&client, swarm)
            .await
            .map_err(engine_err)?;
        let lease = kube::Api::<Lease>::namespaced(client.clone(), &swarm.namespace)
            .get_opt("swarmdeck-engine")
            .await
            .map_err(|e| kube_err(&format!("Lease {}/swarmdeck-engine", swarm.namespace), &e))?;
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
                let place = match scope {
                    Some(ns) => format!("in namespace {ns}"),
                    None => "in any namespace".to_owned(),
                };
                return Ok(format!(
                    "No swarms {place}: no ConfigMap labelled swarmdeck.io/swarm (and the seed swarm is StatefulSet swarm-worker in namespace swarm).\n"
                ));
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
