//! The commands that change things through the engine: apply and delete of a
//! manifest unit, the headless operator, and who carries out an intent (an
//! engine that leads the namespace, or this command holding the lease).

use std::time::Duration;

use super::{CommandError, Outcome, Session, engine_err, fail, parse_sets, read_input};
use crate::cli::{ConnectionArgs, OperatorArgs, UnitArgs};
use crate::domain::manifest;
use crate::engine::audit::Auditor;
use crate::engine::lease::{self, Elector, Fences, LeaseConfig, Role};
use crate::engine::unit::{self, Action};

/// Who carries out an intent written in a namespace.
pub(super) enum Actor {
    /// Another engine leads the namespace: it acts, we wait for its verdict.
    Engine(String),
    /// This command holds the lease while it acts.
    Here(Box<Held>),
}

/// A lease this command holds, renewed in the background until released;
/// its client writes only while the lease is current (see `lease::fenced`).
pub(super) struct Held {
    /// The client as given (the lease's own requests go through it).
    unfenced: kube::Client,
    fenced: kube::Client,
    cfg: LeaseConfig,
    renew: tokio::task::JoinHandle<()>,
}

impl Held {
    /// The client to act with: its writes stop when the lease is lost.
    pub(super) fn client(&self) -> &kube::Client {
        &self.fenced
    }

    pub(super) async fn release(self) {
        self.renew.abort();
        if let Err(e) = lease::release(&self.unfenced, &self.cfg).await {
            tracing::warn!("releasing the lease: {e}");
        }
    }
}

const RENEW_EVERY: Duration = Duration::from_secs(5);
const RENEW_DEADLINE: Duration = Duration::from_secs(10);

/// Take the namespace's lease for the duration of a command, or name the
/// engine that leads it. While held it is renewed as the engine renews its
/// own: each renewal with a deadline, the writes fenced by it.
pub(super) async fn take_or_delegate(
    client: &kube::Client,
    namespace: &str,
    user: &str,
) -> Result<Actor, CommandError> {
    let clock = crate::time::Clock::system();
    let cfg = LeaseConfig {
        namespace: namespace.to_owned(),
        identity: format!("cli:{}", lease::default_identity(user)),
        duration: Duration::from_secs(15),
    };
    let mut elector = Elector::new(cfg.clone());
    let fences = Fences::new(clock.clone());
    let sent = clock.local_ms();
    let first = tokio::time::timeout(RENEW_DEADLINE, elector.round(client, clock.now_ms(), sent))
        .await
        .map_err(|_| {
            CommandError(format!(
                "Lease {namespace}/{}: the server did not answer within {} s; nothing was changed",
                lease::LEASE_NAME,
                RENEW_DEADLINE.as_secs()
            ))
        })?
        .map_err(engine_err)?;
    match first {
        Role::Observer { leader } => Ok(Actor::Engine(
            leader.unwrap_or_else(|| "another engine".to_owned()),
        )),
        Role::Leader => {
            fences.grant(namespace, sent + RENEW_DEADLINE.as_millis() as i64);
            let (c, f, ns) = (client.clone(), fences.clone(), namespace.to_owned());
            let renew = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(RENEW_EVERY).await;
                    let sent = clock.local_ms();
                    match tokio::time::timeout(
                        RENEW_DEADLINE,
                        elector.round(&c, clock.now_ms(), sent),
                    )
                    .await
                    {
                        Ok(Ok(Role::Leader)) => {
                            f.grant(&ns, sent + RENEW_DEADLINE.as_millis() as i64)
                        }
                        other => {
                            f.revoke(&ns);
                            tracing::warn!("the lease on {ns} is lost ({other:?}): writes stop");
                        }
                    }
                }
            });
            Ok(Actor::Here(Box::new(Held {
                unfenced: client.clone(),
                fenced: lease::fenced(client.clone(), fences),
                cfg,
                renew,
            })))
        }
    }
}

fn load_unit(args: &UnitArgs) -> Result<Vec<manifest::Document>, CommandError> {
    let text = read_input(&args.file, "manifest")?;
    let sets = parse_sets(&args.set)?;
    let lookup = |name: &str| sets.get(name).cloned().or_else(|| std::env::var(name).ok());
    manifest::load(&text, lookup).map_err(|e| CommandError(format!("{}: {e}", args.file.display())))
}

fn plan_text(steps: &[unit::UnitStep]) -> String {
    let mut out = String::from("Plan:\n");
    for s in steps {
        out.push_str(&format!(
            "  {:<10} {} (document {})\n",
            s.action.to_string(),
            s.object,
            s.document
        ));
    }
    out
}

/// The outcome as one document, for `-o yaml|json`.
fn structured(
    args: &UnitArgs,
    plan: &[unit::UnitStep],
    done: Option<&[unit::Done]>,
    verdict: &str,
) -> Option<String> {
    let doc = serde_json::json!({
        "file": args.file.display().to_string(),
        "dryRun": args.dry_run,
        "plan": plan,
        "done": done,
        "verdict": verdict.trim_end(),
    });
    match args.output {
        crate::cli::Output::Table => None,
        crate::cli::Output::Json => Some(super::pretty(&doc)),
        crate::cli::Output::Yaml => Some(serde_yaml::to_string(&doc).unwrap_or_default()),
    }
}

/// `swarmdeck apply -f FILE`.
pub(super) async fn apply(session: Session, args: &UnitArgs) -> Outcome {
    let (client, audit, namespace) = (session.client, session.audit, session.namespace);
    let docs = load_unit(args)?;
    let plan = unit::plan_apply(&client, &docs, &namespace, args.force_conflicts)
        .await
        .map_err(|e| CommandError(format!("{}: {e}; nothing was applied", args.file.display())))?;
    let text = plan_text(&plan);
    let table = args.output == crate::cli::Output::Table;
    if args.dry_run {
        let verdict = "dry run: every document passed the server's dry run; nothing was changed\n";
        return Ok(structured(args, &plan, None, verdict).unwrap_or(format!("{text}{verdict}")));
    }
    if table {
        print!("{}", super::for_terminal(&text, &std::io::stdout()));
    }
    let summary = format!("apply {} ({} documents)", args.file.display(), docs.len());
    let each = |d: &unit::Done| {
        if table {
            println!("{} {}", d.object, past(d.action));
        }
    };
    let result = crate::ops::unit::apply(
        &client,
        &audit,
        &docs,
        &namespace,
        args.force_conflicts,
        &summary,
        each,
    )
    .await;
    match result {
        Ok(done) => {
            let changed = done
                .iter()
                .filter(|d| d.action != Action::Unchanged)
                .count();
            let verdict = format!(
                "applied as one unit: {changed} of {} objects changed\n",
                done.len()
            );
            Ok(structured(args, &plan, Some(&done), &verdict).unwrap_or(verdict))
        }
        Err(e @ crate::engine::Error::Unit(_)) => fail(format!("{}: {e}", args.file.display())),
        Err(e) => fail(format!("{}: {e}; nothing was applied", args.file.display())),
    }
}

use unit::past;

/// `swarmdeck delete -f FILE`.
pub(super) async fn delete(session: Session, args: &UnitArgs) -> Outcome {
    let (client, audit, namespace) = (session.client, session.audit, session.namespace);
    let docs = load_unit(args)?;
    let plan = unit::plan_delete(&client, &docs, &namespace)
        .await
        .map_err(engine_err)?;
    let text = plan_text(&plan);
    let table = args.output == crate::cli::Output::Table;
    if args.dry_run {
        let verdict = "dry run: nothing was deleted\n";
        return Ok(structured(args, &plan, None, verdict).unwrap_or(format!("{text}{verdict}")));
    }
    if table {
        print!("{}", super::for_terminal(&text, &std::io::stdout()));
    }
    let summary = format!("delete {} ({} documents)", args.file.display(), docs.len());
    let each = |d: &unit::Done| {
        if table {
            println!("{} {}", d.object, past(d.action));
        }
    };
    let result = crate::ops::unit::delete(&client, &audit, &docs, &namespace, &summary, each).await;
    let done = result.map_err(|e| CommandError(format!("{}: {e}", args.file.display())))?;
    let deleted = done.iter().filter(|d| d.action == Action::Delete).count();
    let verdict = format!(
        "deleted as one unit: {deleted} objects deleted, {} already absent\n",
        done.len() - deleted
    );
    Ok(structured(args, &plan, Some(&done), &verdict).unwrap_or(verdict))
}

/// `swarmdeck operator`: the engine, headless, until SIGTERM or Ctrl-C.
/// The engine `embedded serve` runs, as the operator Deployment of
/// assets/deploy runs in a real cluster: it leads the namespaces that hold a
/// swarm or Tasks, acting as the scenario's `operator` user (the demo binds
/// its Role in `swarm` and `alice-tasks`), or as the cluster's owner when the
/// scenario has no such user. Stopped by `stop`; it hands back its Leases.
pub(super) async fn serve_operator(
    cluster: &crate::embedded::Cluster,
    kubeconfig: &str,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<Option<tokio::task::JoinHandle<()>>, CommandError> {
    use crate::engine::run::{Engine, EngineConfig};
    let mut namespaces: Vec<String> = cluster
        .all("", "configmaps")
        .iter()
        .filter(|cm| {
            !cm["metadata"]["labels"][crate::domain::names::SWARM_LABEL].is_null()
                || cm["metadata"]["name"]
                    == crate::domain::swarm::SwarmRef::default().jobs_config_map
        })
        .chain(cluster.all("aliecs.alice.cern", "tasks").iter())
        .filter_map(|o| o["metadata"]["namespace"].as_str().map(str::to_owned))
        .collect();
    namespaces.sort();
    namespaces.dedup();
    if namespaces.is_empty() {
        return Ok(None);
    }
    let user = if cluster.users().iter().any(|u| u.name == "operator") {
        "operator"
    } else {
        crate::embedded::CONTEXT
    };
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig)
        .map_err(|e| CommandError(format!("the embedded kubeconfig: {e}")))?;
    let options = kube::config::KubeConfigOptions {
        context: Some(user.to_owned()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .map_err(|e| CommandError(format!("the embedded kubeconfig: {e}")))?;
    let client = kube::Client::try_from(config)
        .map_err(|e| CommandError(format!("a client of the embedded cluster: {e}")))?;
    let identity = "embedded-operator".to_owned();
    let auditor = Auditor {
        client: client.clone(),
        user: identity.clone(),
        context: user.to_owned(),
        log: None,
    };
    let engine = Engine::new(
        client,
        EngineConfig::new(namespaces.clone(), identity),
        Some(auditor),
    );
    // On stderr: stdout's two lines are for scripts, which may stop reading.
    eprintln!(
        "operator: the engine leads namespaces {} as {user} (--no-operator leaves it out)",
        namespaces.join(", ")
    );
    Ok(Some(tokio::spawn(async move {
        engine
            .run(async {
                let _ = stop.await;
            })
            .await;
    })))
}

pub(super) fn operator(args: &OperatorArgs, conn: &ConnectionArgs) -> Outcome {
    use crate::engine::run::{Engine, EngineConfig};
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| CommandError(format!("cannot start the async runtime: {e}")))?;
    if conn.all_namespaces {
        return fail(
            "operator: -A is not taken: the engine manages the namespaces given with -n (repeatable), so that it needs no cluster-wide permission",
        );
    }
    let asked = conn.namespaces.clone();
    if let Some(bad) = asked.iter().find(|ns| !manifest::is_dns_label(ns)) {
        return fail(format!(
            "-n `{bad}` is not a namespace name (lowercase letters, digits and '-')"
        ));
    }
    let mut single = conn.clone();
    single.namespaces.truncate(1);
    let (opts, _) = crate::settings::connect_options(&single).map_err(CommandError)?;
    runtime.block_on(async {
        let conn = crate::cluster::connect(&opts)
            .await
            .map_err(|e| CommandError(e.to_string()))?;
        let namespaces = if !asked.is_empty() {
            let mut distinct = Vec::new();
            for ns in asked {
                if !distinct.contains(&ns) {
                    distinct.push(ns);
                }
            }
            distinct
        } else if let Ok(ns) = std::env::var("POD_NAMESPACE") {
            vec![ns]
        } else if conn.embedded {
            vec!["swarm".into(), "alice-tasks".into()]
        } else {
            vec![conn.namespace.clone()]
        };
        eprintln!(
            "acting as {} (context {}) in namespaces {}{}",
            conn.user,
            conn.context,
            namespaces.join(", "),
            if conn.read_only {
                ", read-only: plans only, every write refused before it is sent"
            } else {
                ""
            }
        );
        let identity = args
            .identity
            .clone()
            .or_else(|| std::env::var("POD_NAME").ok())
            .unwrap_or_else(|| lease::default_identity(&conn.user));
        let mut cfg = EngineConfig::new(namespaces.clone(), identity.clone());
        cfg.lease_duration = Duration::from_secs(args.lease_seconds.max(1));
        cfg.renew_every = Duration::from_secs((args.lease_seconds / 3).max(1));
        cfg.plan_only = conn.read_only;
        cfg.reconcile.max_unavailable = args.max_unavailable.max(1);
        cfg.reconcile.worker_timeout = Duration::from_secs(args.timeout);
        cfg.task_step_timeout = Duration::from_secs(args.timeout);
        let auditor = Auditor {
            client: conn.client.clone(),
            user: identity.clone(),
            context: conn.context.clone(),
            log: Some(crate::engine::audit::default_log()),
        };
        let engine = Engine::new(conn.client.clone(), cfg, Some(auditor));
        let mut status = engine.status();
        println!(
            "{}",
            serde_json::json!({"event": "started", "identity": identity, "namespaces": namespaces, "context": conn.context, "planOnly": conn.read_only})
        );
        // One JSON line per status change: the operator's log for `kubectl logs`.
        // Only the namespaces whose status moved, one line each.
        let reporter = tokio::spawn(async move {
            let mut last = crate::engine::run::EngineStatus::default();
            while status.changed().await.is_ok() {
                let s = status.borrow_and_update().clone();
                for (ns, n) in &s.namespaces {
                    if last.namespaces.get(ns) != Some(n) {
                        println!(
                            "{}",
                            serde_json::json!({"event": "status", "namespace": ns, "status": n, "actions": s.actions})
                        );
                    }
                }
                last = s;
            }
        });
        let exit_after = args.exit_after;
        engine
            .run(async move {
                let timer = async {
                    match exit_after {
                        Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate() => {}
                    _ = timer => {}
                }
            })
            .await;
        reporter.abort();
        println!("{}", serde_json::json!({"event": "stopped", "identity": identity}));
        Ok(String::new())
    })
}

async fn terminate() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}
