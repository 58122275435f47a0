//! Command-line definitions (clap). The console is the default command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "swarmdeck",
    version,
    about = "A terminal console for Kubernetes stream-processing swarms and state-machine Tasks",
    long_about = None
)]
pub struct Cli {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub console: ConsoleArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Which cluster, as whom, in which namespace, and whether writes are
/// allowed: one set of flags, global, so that they mean the same before and
/// after any verb (`swarmdeck --read-only scale ...` is `swarmdeck scale ...
/// --read-only`).
#[derive(Debug, Args, Clone, Default)]
pub struct ConnectionArgs {
    /// Use the embedded cluster in this process (also chosen when no kubeconfig exists).
    #[arg(long, global = true)]
    pub embedded: bool,
    /// Scenario of the embedded cluster: `demo` (default), `none` or a file.
    #[arg(long, global = true, value_name = "FILE|demo|none")]
    pub scenario: Option<String>,
    /// Kubeconfig file (default: KUBECONFIG, then ~/.kube/config); `embedded serve` writes it.
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context, and so the user, to act as (default: the current one).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Act as this user: impersonation on a real cluster (as kubectl's --as); one of
    /// the embedded cluster's users (admin, operator, viewer) with --embedded.
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
    /// Namespace (default: the context's, then `default`); `operator` takes it repeatedly.
    #[arg(short = 'n', long = "namespace", global = true, value_name = "NS")]
    pub namespaces: Vec<String>,
    /// All namespaces (for verbs that list).
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,
    /// Refuse every change before it is sent: only get, list and watch leave the process.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Configuration directory with settings.toml, themes and keymaps (default:
    /// SWARMDECK_CONFIG_DIR, then ~/.config/swarmdeck); `read_only = true` there wins.
    #[arg(long, global = true, value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
}

impl ConnectionArgs {
    /// The one namespace asked for, if any; `-n` given twice with different
    /// values is an error (only `operator` manages several).
    pub fn namespace(&self) -> Result<Option<String>, String> {
        let mut distinct: Vec<&String> = Vec::new();
        for n in &self.namespaces {
            if !distinct.contains(&n) {
                distinct.push(n);
            }
        }
        match distinct.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some((*one).clone())),
            many => Err(format!(
                "-n/--namespace was given {} namespaces ({}); this verb acts in one",
                many.len(),
                many.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// The embedded cluster's scenario (`demo` unless one was named).
    pub fn scenario(&self) -> String {
        self.scenario.clone().unwrap_or_else(|| "demo".to_owned())
    }
}

/// Options of the console only (the default command).
#[derive(Debug, Args, Default)]
pub struct ConsoleArgs {
    /// Theme: default, ansi16, mono, high-contrast, light, or a user theme.
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
    /// Keymap: default, vim, or a user keymap.
    #[arg(long, value_name = "NAME")]
    pub keymap: Option<String>,
    /// ASCII borders and marks (automatic when the locale is not UTF-8).
    #[arg(long)]
    pub ascii: bool,
    /// The view to start on: pods, sts, cm, tasks, events, audit, grid/SWARM,
    /// task/NAME, or any palette command (a wall screen's view).
    #[arg(long, value_name = "VIEW")]
    pub view: Option<String>,
}

impl ConsoleArgs {
    /// The console-only flags that were given, by name.
    pub fn given(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.theme.is_some() {
            out.push("--theme");
        }
        if self.keymap.is_some() {
            out.push("--keymap");
        }
        if self.ascii {
            out.push("--ascii");
        }
        if self.view.is_some() {
            out.push("--view");
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    #[default]
    Table,
    Yaml,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the CustomResourceDefinitions swarmdeck uses (Task, Swarm).
    Crds(CrdsArgs),
    /// Assign jobs to workers offline and, with --from-workers, show the plan.
    Assign(AssignArgs),
    /// Expand ${VAR}s, validate and print a manifest in apply order.
    Render(RenderArgs),
    /// Generate manifests for new objects.
    #[command(subcommand)]
    New(NewCommand),
    /// The embedded, kubectl-compatible cluster.
    #[command(subcommand)]
    Embedded(EmbeddedCommand),
    /// Show a swarm's assignment: workers, their jobs, versions and convergence.
    Grid(GridArgs),
    /// Re-plan a swarm's assignment and refresh the workers whose jobs change.
    Rebalance(RebalanceArgs),
    /// Scale a swarm's StatefulSet, then re-plan and refresh until converged.
    Scale(ScaleArgs),
    /// Task state machines.
    #[command(subcommand)]
    Task(TaskCommand),
    /// List pods, sts, cm or tasks, with swarmdeck's columns.
    Get(GetArgs),
    /// Which engine leads, and every swarm's convergence.
    Status(StatusArgs),
    /// Apply a manifest as one unit: ${VAR}s expanded, every document checked
    /// by a server dry run first, then server-side applied in order.
    Apply(UnitArgs),
    /// Delete the objects of a manifest as one unit, in reverse order.
    Delete(UnitArgs),
    /// Run the reconcile engine headless (in a cluster: see assets/deploy/).
    Operator(OperatorArgs),
    /// Print a pod's logs, a swarm's merged, or those of whichever worker owns a stream.
    Logs(LogsArgs),
    /// Run a command in a container, as kubectl exec (no kubectl needed), or
    /// in whichever worker owns a stream now.
    Exec(ExecArgs),
    /// Forward a local port to a pod's, or to whichever worker owns a stream
    /// (following it when it moves), until Ctrl-C.
    PortForward(PortForwardArgs),
}

#[derive(Debug, Args)]
pub struct PortForwardArgs {
    /// [POD] [LOCAL]:REMOTE — the pod (or pod/NAME, task/NAME; none with
    /// --stream), then LOCAL:REMOTE, REMOTE (the same port here) or :REMOTE
    /// (a free local port).
    #[arg(num_args = 1..=2, required = true, value_name = "[POD] [LOCAL]:REMOTE")]
    pub words: Vec<String>,
    /// Forward to the worker that owns this stream, found again for each
    /// connection: a handoff moves the forward with the stream.
    #[arg(long, value_name = "STREAM")]
    pub stream: Option<String>,
    /// Stop after this many seconds (a script's forward); default: at Ctrl-C.
    #[arg(long, value_name = "SECONDS")]
    pub exit_after: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// POD (or pod/NAME), task/NAME (the Task's pod); none with --stream.
    pub target: Option<String>,
    /// Run it in the worker that owns this stream now (of the one swarm in
    /// the namespace that has it).
    #[arg(long, value_name = "STREAM")]
    pub stream: Option<String>,
    /// The container (needed when the pod has several).
    #[arg(short = 'c', long, value_name = "NAME")]
    pub container: Option<String>,
    /// Pass standard input to the command.
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Standard input is a terminal (raw keys, its size followed).
    #[arg(short = 't', long)]
    pub tty: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// POD (or pod/NAME), sts/NAME or swarm/NAME (every worker, merged by
    /// time, each line prefixed [pod/NAME/CONTAINER]), task/NAME (the Task's pod).
    pub target: Option<String>,
    /// The logs of the worker that owns this stream now (of the swarm named,
    /// or the one swarm in the namespace that has it); with -f, switch to
    /// the new owner when the stream moves.
    #[arg(long, value_name = "STREAM")]
    pub stream: Option<String>,
    /// The container (needed when the pod has several).
    #[arg(short = 'c', long, value_name = "NAME")]
    pub container: Option<String>,
    /// Keep reading as lines are written (across restarts of the container).
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// The last N lines of each pod (-1: all).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true, value_name = "N")]
    pub tail: i64,
    /// Only lines newer than this (5s, 2m, 3h, 1h30m).
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// The previous instance of the container (a crash loop's last words).
    #[arg(short = 'p', long)]
    pub previous: bool,
    /// Put each line's timestamp in front of it.
    #[arg(long)]
    pub timestamps: bool,
    /// Prefix each line with its pod (default: only for several pods).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub prefix: Option<bool>,
    /// Write log lines as the containers wrote them, control characters
    /// included, even to a terminal (a pipe always gets them as written).
    #[arg(long)]
    pub raw: bool,
}

#[derive(Debug, Args)]
pub struct UnitArgs {
    /// The manifest; `-` reads standard input.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: PathBuf,
    /// Set a template variable (repeatable); wins over the environment.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// Print the plan (checked by a server dry run) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// apply: take over fields another field manager set.
    #[arg(long)]
    pub force_conflicts: bool,
    /// table: the plan, then each object as it is done; yaml/json: one document at the end.
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct OperatorArgs {
    /// Identity in the Lease (default: POD_NAME, then user@host/pid).
    #[arg(long)]
    pub identity: Option<String>,
    /// Seconds a lease lasts without renewal.
    #[arg(long, default_value_t = 15)]
    pub lease_seconds: u64,
    /// Workers refreshed at once.
    #[arg(long, default_value_t = 1)]
    pub max_unavailable: usize,
    /// Seconds to wait for a refreshed worker, or for one Task step.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Stop after this many seconds (default: run until SIGTERM or Ctrl-C).
    #[arg(long, value_name = "SECONDS")]
    pub exit_after: Option<u64>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Output: table (for people), yaml or json (for scripts).
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GetKind {
    #[value(alias = "pod")]
    Pods,
    #[value(alias = "statefulsets", alias = "statefulset")]
    Sts,
    #[value(alias = "configmaps", alias = "configmap")]
    Cm,
    #[value(alias = "task")]
    Tasks,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// What to list: pods, sts, cm or tasks.
    #[arg(value_enum)]
    pub kind: GetKind,
    /// Output: table (for people), yaml or json (for scripts).
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Record a Task's target state and step it there one legal transition at a time.
    SetState(SetStateArgs),
}

#[derive(Debug, Args)]
pub struct SetStateArgs {
    /// The Task's name, in the namespace.
    pub task: String,
    /// standby, configured or running.
    pub state: String,
    /// Record the target and take the first step only; do not wait.
    #[arg(long, conflicts_with = "wait")]
    pub no_wait: bool,
    /// Wait until the Task is there (the default; the explicit form scripts
    /// written for earlier versions use).
    #[arg(long)]
    pub wait: bool,
    /// From error, take the recovery path (standby) and go on.
    #[arg(long)]
    pub recover: bool,
    /// Seconds to wait for each step.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Output: table (progress and verdict as lines), yaml or json (progress on
    /// stderr, then one document with the plan and the verdict on stdout).
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct GridArgs {
    /// Swarm name in the namespace (the seed swarm is `swarm-worker`); without
    /// one, the swarms of the namespace (or of all, with -A) are listed.
    pub swarm: Option<String>,
    /// Output: table (for people), yaml or json (for scripts).
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct RebalanceArgs {
    /// Swarm name in the namespace (the seed swarm is `swarm-worker`).
    pub swarm: String,
    /// Print the plan only; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output: table (progress and verdict as lines), yaml or json (progress on
    /// stderr, then one document with the plan and the verdict on stdout).
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// The swarm's StatefulSet (its swarm has the same name).
    pub statefulset: String,
    /// New replica count.
    #[arg(allow_hyphen_values = true)]
    pub replicas: String,
    /// Print the plan only; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Refuse counts above this ceiling.
    #[arg(long, default_value_t = 500)]
    pub max_replicas: u32,
    /// Output: table (progress and verdict as lines), yaml or json (progress on
    /// stderr, then one document with the plan and the verdict on stdout).
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum EmbeddedCommand {
    /// Serve the embedded cluster on 127.0.0.1 and write a kubeconfig for it.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Add this many pods, in StatefulSets of 100 in namespace `load`.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub pods: usize,
    /// Keep this many pod changes per second flowing in namespace `load`.
    #[arg(long, value_name = "EVENTS_PER_S", default_value_t = 0)]
    pub churn: u32,
    /// Run no engine: by default one leads the namespaces that hold a swarm
    /// or Tasks, as swarmdeck's operator Deployment would in a real cluster.
    #[arg(long)]
    pub no_operator: bool,
}

#[derive(Debug, Args)]
pub struct CrdsArgs {
    /// yaml (a multi-document stream for `kubectl apply -f -`) or json.
    #[arg(short, long, value_enum, default_value = "yaml")]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct AssignArgs {
    /// One job per line, or a config.yml with a `jobs:` list.
    #[arg(long, value_name = "FILE")]
    pub jobs: PathBuf,
    /// Number of workers (StatefulSet replicas).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub workers: String,
    /// Compare with the assignment for this many workers and print the plan.
    #[arg(long, value_name = "M", allow_hyphen_values = true)]
    pub from_workers: Option<String>,
    /// A stream that gets a worker of its own (repeatable).
    #[arg(long, value_name = "JOB")]
    pub dedicated: Vec<String>,
    /// The current assignment (a swarm-worker-config `config.yml`): start from
    /// it, moving only what balance requires, and print the plan from it.
    #[arg(long, value_name = "FILE", conflicts_with = "from_workers")]
    pub previous: Option<std::path::PathBuf>,
    /// StatefulSet name used for worker names in yaml output.
    #[arg(long, default_value = "swarm-worker")]
    pub statefulset: String,
    /// Output: table (for people), yaml or json (for scripts).
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The manifest; `-` reads standard input.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: PathBuf,
    /// Set a template variable (repeatable); wins over the environment.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// Output: table (for people), yaml or json (for scripts).
    #[arg(short, long, value_enum, default_value = "yaml")]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum NewCommand {
    /// A StatefulSet worker pool for a new swarm (Teraslice-style resources).
    Pool(PoolArgs),
}

#[derive(Debug, Args)]
pub struct PoolArgs {
    /// Pool (StatefulSet) name.
    pub name: String,
    /// Number of workers (StatefulSet replicas).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub workers: String,
    /// The workers' container image.
    #[arg(long, value_name = "IMG")]
    pub image: String,
    /// CPU for each worker, as request and limit (e.g. 500m).
    #[arg(long, value_name = "C")]
    pub cpu: Option<String>,
    /// Memory for each worker, as request and limit (e.g. 1Gi).
    #[arg(long, value_name = "M")]
    pub memory: Option<String>,
    /// Node target key=value[:required|preferred|accepted] (repeatable).
    #[arg(long = "target", value_name = "KEY=VALUE[:HOW]")]
    pub targets: Vec<String>,
    /// Persistent volume claim:/mount/path (repeatable).
    #[arg(long = "volume", value_name = "CLAIM:/PATH")]
    pub volumes: Vec<String>,
    /// Output: table (for people), yaml or json (for scripts).
    #[arg(short, long, value_enum, default_value = "yaml")]
    pub output: Output,
}
