//! The console's one effect executor: every [`Effect`] the pure `update`
//! returns is performed here — reads in tasks that report back as Events
//! (logs, tables, discovery, YAML, the audit), the acting ones through
//! [`super::act`] and [`crate::ops`], watches started anew for another
//! namespace or context — and the connection, the stores, the engine and
//! the reading tasks they need are held here. `runtime.rs` is the loop; the
//! effects it carries out itself lend the terminal (`:login`, a shell in a pod).

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Event as KEvent, Pod};
use kube::Api;
use tokio::sync::mpsc;

use super::data::ViewKind;
use super::data::{self, Stores};
use super::keymap::Keymap;
use super::model::{Effect, Event, Header, MessageKind, Model};
use super::theme::ThemeSource;
use crate::cluster::{self, ConnectOptions, Connection, stores};
use crate::domain::task::Task;
use crate::engine::audit::{Auditor, Subject};
use crate::ops;

/// How often a reading task hands its batch to the loop (one frame).
const BATCH: Duration = Duration::from_millis(33);

/// What the loop does after an effect.
pub(super) enum Next {
    Go,
    Quit,
    /// Lend the terminal to this credential plugin, then [`Executor::sign_in`].
    Login(String),
    /// Lend the terminal to a shell in a container, then [`Executor::shell`].
    Shell(crate::ops::exec::Exec),
}

/// What the effects act with and on.
pub(super) struct Executor {
    pub conn: Connection,
    pub connect_opts: ConnectOptions,
    pub read_only: bool,
    pub dir: Option<PathBuf>,
    pub keymap_name: String,
    /// The stores watch this namespace only (None: all).
    pub only: Option<String>,
    pub stores: Stores,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
    pub engine: super::act::EngineHandle,
    pub tx: mpsc::Sender<stores::Changed>,
    pub etx: mpsc::Sender<Event>,
    /// Where a connection made in the background arrives.
    pub ctx_tx: mpsc::Sender<Result<Switched, String>>,
    /// The log screen's reading, and the resource screen's (one each).
    pub log_task: Option<tokio::task::JoinHandle<()>>,
    pub table_task: Option<tokio::task::JoinHandle<()>>,
    /// The namespace whose permissions were asked last.
    pub asked_permissions: Option<String>,
}

impl Executor {
    /// Perform one effect.
    pub fn perform(&mut self, effect: Effect, model: &mut Model) -> Next {
        match effect {
            Effect::Quit => return Next::Quit,
            Effect::OpenLogs {
                id,
                source,
                options,
            } => {
                let reading = read_logs(
                    self.conn.client.clone(),
                    id,
                    source,
                    options,
                    self.etx.clone(),
                );
                swap_task(&mut self.log_task, Some(reading));
            }
            Effect::CloseLogs => swap_task(&mut self.log_task, None),
            Effect::ReadTable { id, reading } => {
                let reading = read_table(self.conn.client.clone(), id, reading, self.etx.clone());
                swap_task(&mut self.table_task, Some(reading));
            }
            Effect::CloseTable => swap_task(&mut self.table_task, None),
            Effect::Discover => {
                let (client, etx) = (self.conn.client.clone(), self.etx.clone());
                tokio::spawn(async move {
                    let result = crate::cluster::discovery::Catalog::discover(&client)
                        .await
                        .map_err(|e| crate::cluster::explain(&e));
                    let _ = etx.send(Event::Discovered(result)).await;
                });
            }
            Effect::PodsOf {
                api,
                namespace,
                name,
            } => {
                let (client, etx) = (self.conn.client.clone(), self.etx.clone());
                tokio::spawn(async move {
                    let of = format!("{} {name}", api.singular);
                    let result = super::act::fetch(&client, &api, &namespace, &name)
                        .await
                        .and_then(|v| super::screen::resource::pod_selector(&v));
                    let _ = etx
                        .send(Event::PodsOf {
                            namespace,
                            of,
                            result,
                        })
                        .await;
                });
            }
            Effect::WriteFile { path, text, what } => {
                model.message = Some(match std::fs::write(&path, text) {
                    Ok(()) => (format!("saved {what} to {path}"), MessageKind::Info),
                    Err(e) => (
                        format!("cannot write {path}: {e} (nothing saved; pick another path)"),
                        MessageKind::Error,
                    ),
                });
            }
            Effect::SaveVars(vars) => {
                model.message = Some(match self.dir.as_deref() {
                        None => (
                            "no configuration directory (set SWARMDECK_CONFIG_DIR or --config-dir): nothing saved".to_owned(),
                            MessageKind::Error,
                        ),
                        Some(d) => match super::config::save_vars(d, &self.conn.context, &vars) {
                            Ok(path) => (
                                format!(
                                    "{} variable{} remembered for context {} in {}",
                                    vars.len(),
                                    if vars.len() == 1 { "" } else { "s" },
                                    self.conn.context,
                                    path.display()
                                ),
                                MessageKind::Info,
                            ),
                            Err(e) => (e, MessageKind::Error),
                        },
                    });
            }
            Effect::Copy(text) => {
                // OSC 52: the terminal (even at the far end of ssh) puts it on the clipboard.
                let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
                use std::io::Write;
                let mut out = std::io::stdout();
                let _ = write!(out, "\x1b]52;c;{b64}\x07");
                let _ = out.flush();
            }
            Effect::FetchYaml {
                api,
                namespace,
                name,
                title,
            } => {
                let client = self.conn.client.clone();
                let etx = self.etx.clone();
                tokio::spawn(async move {
                    let result = super::act::fetch(&client, &api, &namespace, &name).await;
                    let _ = etx.send(Event::Yaml { title, result }).await;
                });
            }
            Effect::LoadAudit => {
                let etx = self.etx.clone();
                tokio::spawn(async move {
                    let path = crate::engine::audit::default_log();
                    let result = match tokio::fs::read_to_string(&path).await {
                        Ok(t) => Ok(t.lines().map(str::to_owned).collect()),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
                    };
                    let _ = etx.send(Event::Audit(result)).await;
                });
            }
            acting @ (Effect::Scale { .. }
            | Effect::Rebalance(_)
            | Effect::SetTarget { .. }
            | Effect::Restart { .. }
            | Effect::EditFetch { .. }
            | Effect::ApplyUnit { .. }
            | Effect::DeleteUnit { .. }
            | Effect::DiffUnit { .. }
            | Effect::Delete { .. }) => {
                spawn_acting(
                    acting,
                    self.conn.client.clone(),
                    auditor_of(&self.conn),
                    self.etx.clone(),
                );
            }
            Effect::Rescope(ns) => {
                // The credentials watch one namespace at a time: new stores
                // (and an engine) for the one asked for. A namespace they
                // may not read shows the server's reason in its views.
                self.only = Some(ns.clone());
                self.stores = rewatch(
                    &self.conn,
                    self.only.as_deref(),
                    &ns,
                    self.read_only,
                    (&self.tx, &self.etx),
                    &mut self.tasks,
                    &mut self.engine,
                );
                model.stores = self.stores.clone();
                model.watch_only = self.only.clone();
            }
            Effect::SwitchContext(name) => {
                let mut o = self.connect_opts.clone();
                o.context = Some(name.clone());
                o.embedded = false;
                // A context the settings make read-only is read-only here
                // too (a settings file that does not parse: every one is).
                let (now, broken) = super::config::load_settings(self.dir.as_deref());
                o.read_only = self.read_only || broken.is_some() || now.read_only_for(&name);
                model.message = Some((
                    format!("connecting to context {name} ..."),
                    MessageKind::Info,
                ));
                connect_in_background(o, self.ctx_tx.clone());
            }
            Effect::Login => match self.conn.credential_plugin.clone() {
                None => {
                    model.message = Some((
                        format!(
                            "context {} has no credential plugin (its kubeconfig user has no exec): nothing to sign in with",
                            self.conn.context
                        ),
                        MessageKind::Info,
                    ));
                }
                Some(plugin) => return Next::Login(plugin),
            },
            Effect::Shell(e) => return Next::Shell(e),
        }
        Next::Go
    }

    /// After every update: ask what the user may do where it looks (one
    /// SelfSubjectRulesReview per namespace shown; none in read-only mode:
    /// nothing is offered there), and load a theme asked for.
    pub fn after_update(&mut self, model: &mut Model) {
        if !self.read_only
            && let Some(ns) = model.namespace.clone()
            && self.asked_permissions.as_deref() != Some(ns.as_str())
        {
            self.asked_permissions = Some(ns.clone());
            let (client, etx) = (self.conn.client.clone(), self.etx.clone());
            tokio::spawn(async move {
                if let Some(p) = permissions(&client, &ns).await {
                    let _ = etx.send(Event::Permissions(p)).await;
                }
            });
        }
        if let Some(name) = model.wanted_theme.take() {
            let (t, errs) = ThemeSource {
                user_dir: self.dir.as_deref(),
            }
            .load(&name);
            model.theme = t;
            model.message = Some(match errs.first() {
                Some(e) => (format!("{e} (defaults in force)"), MessageKind::Error),
                None => (format!("theme {name}"), MessageKind::Info),
            });
        }
    }

    /// A connection made in the background (`:ctx`, `:login`): watch
    /// through it from now on. The Event to update the model with, if any.
    pub fn switched(
        &mut self,
        result: Result<Switched, String>,
        model: &mut Model,
    ) -> Option<Event> {
        let (new, scoped, namespaces) = match result {
            Ok(s) => s,
            Err(e) => {
                model.message = Some((e, MessageKind::Error));
                return None;
            }
        };
        self.only = scoped;
        self.conn = new;
        if self.conn.read_only && !self.read_only {
            // Read-only from here on: the keys that write are unbound, the
            // engine plans only, the gate refuses.
            self.read_only = true;
            model.keymap = Keymap::load(&self.keymap_name, self.dir.as_deref(), true).0;
            model.message = Some((
                format!(
                    "context {} is read-only (settings): nothing is written for the rest of this session",
                    self.conn.context
                ),
                MessageKind::Info,
            ));
        }
        let namespace = self.conn.namespace.clone();
        self.stores = rewatch(
            &self.conn,
            self.only.as_deref(),
            &namespace,
            self.read_only,
            (&self.tx, &self.etx),
            &mut self.tasks,
            &mut self.engine,
        );
        model.stores = self.stores.clone();
        model.default_namespace = namespace.clone();
        model.namespace = Some(namespace);
        model.watch_only = self.only.clone();
        model.vars = vars_for(
            &super::config::load_settings(self.dir.as_deref()).0,
            &self.conn.context,
        );
        model.known_namespaces = namespaces;
        Some(Event::Connected(header_of(&self.conn)))
    }

    /// Sign in again through the context's credential plugin `plugin`,
    /// which has the terminal (the loop has stepped aside); then reconnect
    /// in the background, quietly again.
    /// A shell in a pod's container on this terminal: keys go to it as
    /// typed, its output comes back, its size follows the terminal's; the
    /// console says how it ended. The terminal is the caller's to give.
    pub async fn shell(&mut self, mut e: crate::ops::exec::Exec, model: &mut Model) {
        // The container: the one asked for, else the pod's default one.
        if e.container.is_none() {
            let pods: Api<Pod> = Api::namespaced(self.conn.client.clone(), &e.namespace);
            if let Ok(pod) = pods.get(&e.pod).await {
                e.container = cluster::logs::pick_container(&pod, None)
                    .ok()
                    .map(|(c, _)| c);
            }
        }
        println!(
            "{}\r",
            crate::sanitize::line(&format!(
                "swarmdeck: a shell in {}/{} (container {}); exit it to come back to the console",
                e.namespace,
                e.pod,
                e.container.as_deref().unwrap_or("default")
            ))
        );
        let result = super::shell::run(&self.conn.client, &auditor_of(&self.conn), &e).await;
        let where_ = format!("{}/{}", e.namespace, e.pod);
        model.message = Some(match result {
            Ok(code) => (
                format!("the shell in {where_} ended: exit code {code}"),
                if code == 0 {
                    MessageKind::Info
                } else {
                    MessageKind::Error
                },
            ),
            Err(why) => (format!("no shell in {where_}: {why}"), MessageKind::Error),
        });
    }

    pub async fn sign_in(&mut self, plugin: &str, model: &mut Model) {
        eprintln!(
            "{}",
            crate::sanitize::line(&format!(
                "swarmdeck: signing in to context {} with its credential plugin `{plugin}`; the console comes back when it is done",
                self.conn.context
            ))
        );
        let mut o = self.connect_opts.clone();
        o.context = Some(self.conn.context.clone());
        o.embedded = false;
        o.read_only = self.read_only;
        o.quiet_credentials = false;
        match connect_checked(&o).await {
            Ok(_) => {
                tracing::info!(context = %self.conn.context, "signed in again");
                model.message = Some((
                    format!(
                        "signed in to context {}: reconnecting ...",
                        self.conn.context
                    ),
                    MessageKind::Info,
                ));
                o.quiet_credentials = true;
                connect_in_background(o, self.ctx_tx.clone());
            }
            Err(e) => {
                tracing::warn!(context = %self.conn.context, "sign-in failed: {e}");
                model.message = Some((
                    format!("signing in to context {} failed: {e}", self.conn.context),
                    MessageKind::Error,
                ));
            }
        }
    }

    /// The console ends: the engine hands its Leases back (within a bounded
    /// time), the watches and readings stop.
    pub async fn stop(self) {
        self.engine.stop(Duration::from_secs(3)).await;
        for t in self.tasks {
            t.abort();
        }
        for t in [self.log_task, self.table_task].into_iter().flatten() {
            t.abort();
        }
    }
}

/// Watch every namespace when the credentials may, else only `namespace`
/// (swarmdeck needs no more than a namespaced Role).
pub(super) async fn scope(client: &kube::Client, namespace: &str) -> Option<String> {
    let probe = Api::<Pod>::all(client.clone())
        .list(&kube::api::ListParams::default().limit(1))
        .await;
    match probe {
        Err(kube::Error::Api(s)) if s.code == 403 => Some(namespace.to_owned()),
        _ => None,
    }
}

fn api<K>(client: &kube::Client, only: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match only {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Watch stores for every view: all namespaces, or `only` one.
pub fn spawn_stores(
    client: &kube::Client,
    tx: &mpsc::Sender<stores::Changed>,
    only: Option<&str>,
) -> (Stores, Vec<tokio::task::JoinHandle<()>>) {
    // Pods decoded lite: the first list of a big namespace is mostly decoding.
    let (pods, a) = stores::spawn(
        api::<crate::cluster::lite::PodLite>(client, only),
        |p| data::pod_row(&p.0),
        tx.clone(),
        "pods",
    );
    let (sts, b) = stores::spawn(
        api::<StatefulSet>(client, only),
        data::sts_row,
        tx.clone(),
        "sts",
    );
    let (cms, c) = stores::spawn(
        api::<ConfigMap>(client, only),
        data::cm_row,
        tx.clone(),
        "cm",
    );
    let (tasks, d) = stores::spawn(
        api::<Task>(client, only),
        data::task_row,
        tx.clone(),
        "tasks",
    );
    let (events, e) = stores::spawn(
        api::<KEvent>(client, only),
        data::event_row,
        tx.clone(),
        "events",
    );
    let (metrics, f) =
        crate::cluster::metrics::spawn(client.clone(), only.map(str::to_owned), tx.clone());
    (
        Stores {
            pods,
            sts,
            cms,
            tasks,
            events,
            metrics,
        },
        vec![a, b, c, d, e, f],
    )
}

pub(super) fn header_of(conn: &Connection) -> Header {
    Header {
        context: match &conn.acting_as {
            Some(user) => format!("{} as {user}", conn.context),
            None => conn.context.clone(),
        },
        server: conn.server.clone(),
        embedded: conn.embedded,
        fallback: conn.fallback,
        read_only: conn.read_only,
        engine: "starting".into(),
    }
}

/// Every context of every kubeconfig file kubectl would read (`:ctx`).
pub(super) fn contexts(opts: &ConnectOptions) -> Vec<String> {
    cluster::context_names(opts.kubeconfig.as_deref())
}

/// The template variables remembered for a context (`:save-vars`).
pub(super) fn vars_for(settings: &super::config::Settings, context: &str) -> super::editor::Vars {
    settings.vars.get(context).cloned().unwrap_or_default()
}

/// Who the console's engine audits as.
pub(super) fn auditor_of(conn: &Connection) -> crate::engine::audit::Auditor {
    crate::engine::audit::Auditor {
        client: conn.client.clone(),
        user: conn.user.clone(),
        context: conn.context.clone(),
        log: Some(crate::engine::audit::default_log()),
    }
}

/// Watch anew (another context, or another namespace for credentials that
/// watch one at a time): the old stores' watches and the old engine stop,
/// new ones start for `only` (None: all namespaces).
pub(super) fn rewatch(
    conn: &Connection,
    only: Option<&str>,
    namespace: &str,
    read_only: bool,
    (tx, etx): (&mpsc::Sender<stores::Changed>, &mpsc::Sender<Event>),
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
    engine: &mut super::act::EngineHandle,
) -> Stores {
    for t in tasks.drain(..) {
        t.abort();
    }
    let old = std::mem::replace(
        engine,
        super::act::start_engine(
            conn.client.clone(),
            auditor_of(conn),
            only.map(str::to_owned),
            namespace.to_owned(),
            read_only,
            etx.clone(),
        ),
    );
    tokio::spawn(old.stop(Duration::from_secs(3)));
    let (stores_now, handles) = spawn_stores(&conn.client, tx, only);
    *tasks = handles;
    stores_now
}

/// The rules that apply to the user in `namespace`, from a
/// SelfSubjectRulesReview (None when the server cannot say).
pub(super) async fn permissions(
    client: &kube::Client,
    namespace: &str,
) -> Option<super::model::Permissions> {
    use k8s_openapi::api::authorization::v1::{SelfSubjectRulesReview, SelfSubjectRulesReviewSpec};
    let review = SelfSubjectRulesReview {
        spec: SelfSubjectRulesReviewSpec {
            namespace: Some(namespace.to_owned()),
        },
        ..Default::default()
    };
    let api: Api<SelfSubjectRulesReview> = Api::all(client.clone());
    let answer = api.create(&Default::default(), &review).await.ok()?;
    let status = answer.status?;
    if status.incomplete {
        return None;
    }
    let rules = status
        .resource_rules
        .iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .map(|v| crate::domain::rbac::Rule::from_review(&v))
        .collect();
    Some(super::model::Permissions {
        namespace: namespace.to_owned(),
        rules,
    })
}

/// The namespaces `:ns` offers: those the server lists, or, when listing
/// namespaces is forbidden (a namespaced Role), those the kubeconfig's
/// contexts name and the current one.
pub(super) async fn readable_namespaces(
    client: &kube::Client,
    opts: &ConnectOptions,
    current: &str,
) -> Vec<String> {
    use k8s_openapi::api::core::v1::Namespace;
    if let Ok(list) = Api::<Namespace>::all(client.clone())
        .list(&kube::api::ListParams::default())
        .await
    {
        return list
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect();
    }
    let files = cluster::kubeconfig_files(opts.kubeconfig.as_deref());
    let mut out: Vec<String> = cluster::load_kubeconfig(&files)
        .ok()
        .flatten()
        .map(|kc| {
            kc.contexts
                .into_iter()
                .filter_map(|c| c.context?.namespace)
                .collect()
        })
        .unwrap_or_default();
    out.push(current.to_owned());
    out.sort();
    out.dedup();
    out
}

/// A connection made in the background, its watch scope and the
/// namespaces `:ns` offers.
pub(super) type Switched = (Connection, Option<String>, Vec<String>);

/// Connect with `o` off the UI loop (it never awaits the network) and hand
/// the result to the loop through `done`.
pub(super) fn connect_in_background(
    o: ConnectOptions,
    done: mpsc::Sender<Result<Switched, String>>,
) {
    tokio::spawn(async move {
        let result = match connect_checked(&o).await {
            Ok(c) => {
                let scoped = scope(&c.client, &c.namespace).await;
                let namespaces = readable_namespaces(&c.client, &o, &c.namespace).await;
                Ok((c, scoped, namespaces))
            }
            Err(e) => Err(e.to_string()),
        };
        let _ = done.send(result).await;
    });
}

/// Connect and make sure the API answers, with a message an operator can act on.
pub(super) async fn connect_checked(opts: &ConnectOptions) -> color_eyre::Result<Connection> {
    let conn = cluster::connect(opts)
        .await
        .map_err(|e| color_eyre::eyre::eyre!("{e}"))?;
    // A credential plugin that may ask the operator (a device-code login)
    // takes the operator's time, not the server's.
    let limit = if conn.credential_plugin.is_some() && !opts.quiet_credentials {
        Duration::from_secs(600)
    } else {
        Duration::from_secs(8)
    };
    match tokio::time::timeout(limit, conn.client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(conn),
        // It answered, but not to these credentials.
        Ok(Err(e @ kube::Error::Api(_))) => Err(color_eyre::eyre::eyre!(
            "the API server of context {} at {} refused this console: {}",
            conn.context,
            conn.server,
            cluster::explain(&e)
        )),
        Ok(Err(e)) => Err(color_eyre::eyre::eyre!(
            "context {}: {}",
            conn.context,
            cluster::explain(&e)
        )),
        Err(_) => Err(color_eyre::eyre::eyre!(
            "the API server of context {} at {} did not answer within {} s; check the network path, or use --embedded",
            conn.context,
            conn.server,
            limit.as_secs()
        )),
    }
}

/// Read logs for the log screen `id` and hand them to the UI loop in
/// batches (at most one per frame), until aborted.
fn read_logs(
    client: kube::Client,
    id: u64,
    source: super::screen::logs::LogSource,
    options: crate::cluster::logs::LogOptions,
    etx: mpsc::Sender<Event>,
) -> tokio::task::JoinHandle<()> {
    use super::screen::logs::LogSource;
    use crate::cluster::logs;
    tokio::spawn(async move {
        let (tx, mut rx) = mpsc::channel(4096);
        let reader = match source {
            LogSource::Pod { namespace, pod } => {
                tokio::spawn(logs::follow_pod(client, namespace, pod, options, tx))
            }
            LogSource::Swarm(swarm) => tokio::spawn(logs::follow_swarm(client, swarm, options, tx)),
            LogSource::Stream(swarm, stream) => {
                tokio::spawn(logs::follow_stream(client, swarm, stream, options, tx))
            }
        };
        let mut batch = Vec::new();
        loop {
            if rx.recv_many(&mut batch, 8192).await == 0 {
                break;
            }
            // Whatever else arrives within the frame goes in the same batch.
            tokio::time::sleep(BATCH).await;
            while let Ok(ev) = rx.try_recv() {
                batch.push(ev);
            }
            let events = std::mem::take(&mut batch);
            if etx.send(Event::Logs { id, events }).await.is_err() {
                break;
            }
        }
        reader.abort();
    })
}

/// Read a kind as Tables for the resource screen `id`, handing the rows
/// to the UI loop in batches (at most one per frame), until aborted.
fn read_table(
    client: kube::Client,
    id: u64,
    reading: super::screen::resource::Reading,
    etx: mpsc::Sender<Event>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let (tx, mut rx) = mpsc::channel(1024);
        let reader = tokio::spawn(crate::cluster::tables::follow_table(
            client,
            reading.kind,
            reading.namespace,
            reading.selector,
            tx,
        ));
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, 1024).await > 0 {
            tokio::time::sleep(BATCH).await;
            while let Ok(u) = rx.try_recv() {
                batch.push(u);
            }
            let updates = std::mem::take(&mut batch);
            if etx.send(Event::Table { id, updates }).await.is_err() {
                break;
            }
        }
        reader.abort();
    })
}

fn why(e: &kube::Error) -> String {
    if crate::cluster::gate::is_refusal(e) {
        "read-only mode: nothing was sent".to_owned()
    } else {
        match e {
            kube::Error::Api(s) => s.message.clone(),
            other => other.to_string(),
        }
    }
}

/// An engine error in the console's words (a request's: the server's).
fn engine_why(e: crate::engine::Error) -> String {
    match e {
        crate::engine::Error::Kube { source, .. } => why(&source),
        other => other.to_string(),
    }
}

/// Audit a console action that records an intent for the engine.
async fn record(
    audit: &Auditor,
    subject: &Subject,
    action: &str,
    plan: &str,
    result: &Result<(), String>,
) {
    let result = result
        .as_ref()
        .map(|()| "intent recorded")
        .map_err(String::as_str);
    ops::audited(audit, subject, action, plan, result).await;
}

/// Perform one of the acting effects in a task; the result comes back on `tx`.
fn spawn_acting(effect: Effect, client: kube::Client, auditor: Auditor, tx: mpsc::Sender<Event>) {
    tokio::spawn(async move {
        let event = perform_acting(effect, &client, &auditor).await;
        if let Some(e) = event {
            let _ = tx.send(e).await;
        }
    });
}

/// Carry out one of the effects this module performs; the Event it brings
/// back (None: nothing to report).
pub async fn perform_acting(
    effect: Effect,
    client: &kube::Client,
    audit: &Auditor,
) -> Option<Event> {
    match effect {
        Effect::Scale { swarm, replicas } => {
            let result = async {
                let inputs = crate::engine::swarm::read_inputs(client, &swarm).await?;
                ops::scale::write(client, &swarm, &inputs, replicas, &audit.user, false).await
            }
            .await
            .map_err(engine_why);
            let plan = ops::scale::plan(replicas);
            let r = result.as_ref().map(|_| ()).map_err(Clone::clone);
            record(audit, &ops::scale::subject(&swarm), "Scale", &plan, &r).await;
            let sts = format!(
                "{}/{}",
                swarm.namespace,
                crate::engine::swarm::statefulset_of(&swarm)
            );
            Some(Event::Acted {
                what: match result {
                    Ok(ops::scale::Written::AskedEngine) => format!(
                        "asked for {replicas} workers of {sts}: the engine grants the new workers their streams, then starts them"
                    ),
                    _ => format!(
                        "scaled {sts} to {replicas}: the engine re-plans and refreshes the changed workers"
                    ),
                },
                result: r,
            })
        }
        Effect::Rebalance(swarm) => {
            let result = crate::engine::swarm::request_rebalance(client, &swarm, &audit.user)
                .await
                .map_err(engine_why);
            let subject = Subject {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: swarm.namespace.clone(),
                name: swarm.jobs_config_map.clone(),
            };
            record(audit, &subject, "RequestRebalance", &swarm.name, &result).await;
            Some(Event::Acted {
                what: format!("rebalance of {} requested", swarm.name),
                result,
            })
        }
        Effect::SetTarget {
            namespace,
            name,
            state,
            recover,
        } => {
            let result = ops::task::record_target(client, &namespace, &name, state, recover)
                .await
                .map_err(engine_why);
            let subject = ops::task::subject(&namespace, &name);
            let plan = format!("target {state}");
            record(audit, &subject, "SetTargetState", &plan, &result).await;
            Some(Event::Acted {
                what: format!("target {state} recorded on Task {namespace}/{name}"),
                result,
            })
        }
        Effect::Restart {
            kind,
            namespace,
            name,
        } => {
            let what = match kind {
                ViewKind::Pods => ops::workload::Restartable::Pod,
                _ => ops::workload::Restartable::StatefulSet,
            };
            let result = ops::workload::restart(client, what, &namespace, &name)
                .await
                .map_err(|e| why(&e));
            let subject = what.subject(&namespace, &name);
            record(audit, &subject, "Restart", "restart", &result).await;
            Some(Event::Acted {
                what: format!("restarted {} {namespace}/{name}", kind.singular()),
                result,
            })
        }
        Effect::Delete {
            api,
            namespace,
            name,
            what,
        } => {
            let result = ops::workload::delete(client, &api, &namespace, &name)
                .await
                .map_err(|e| {
                    if crate::cluster::gate::is_refusal(&e) {
                        "read-only mode: nothing was sent".to_owned()
                    } else {
                        crate::cluster::explain(&e)
                    }
                });
            // Every write the console sends leaves its line in the audit.
            let subject = ops::workload::subject(&api, &namespace, &name);
            let said = result.as_ref().map(|()| "deleted").map_err(String::as_str);
            ops::audited(audit, &subject, "Delete", "delete from the console", said).await;
            Some(Event::Deleted { what, result })
        }
        Effect::EditFetch {
            api,
            namespace,
            name,
        } => {
            let title = if namespace.is_empty() {
                format!("{} {name}", api.singular)
            } else {
                format!("{} {namespace}/{name}", api.singular)
            };
            let result = super::act::fetch(client, &api, &namespace, &name).await;
            Some(Event::EditorLoaded {
                title,
                namespace,
                result,
            })
        }
        Effect::ApplyUnit {
            text,
            namespace,
            dry_run,
            how,
        } => {
            let result =
                super::act::apply_unit(client, audit, &text, &how, &namespace, dry_run).await;
            if result.is_err()
                && !how.overwrite
                && let Some(live) = &how.live
                && let Some(event) = super::act::conflict(client, live, &text, &how).await
            {
                return Some(event);
            }
            Some(Event::UnitDone {
                result,
                applied: !dry_run,
            })
        }
        Effect::DeleteUnit {
            text,
            namespace,
            how,
        } => {
            let result = match how.documents(&text) {
                Err(p) => Err(p.message),
                Ok(docs) => {
                    let summary = "delete from the editor";
                    let outcome =
                        ops::unit::delete(client, audit, &docs, &namespace, summary, |_| {}).await;
                    match outcome {
                        Ok(done) => {
                            let deleted = done
                                .iter()
                                .filter(|d| d.action == crate::engine::unit::Action::Delete)
                                .count();
                            Ok(format!(
                                "deleted as one unit: {deleted} objects deleted, {} already absent",
                                done.len() - deleted
                            ))
                        }
                        Err(e) => Err(e.to_string()),
                    }
                }
            };
            Some(Event::UnitDone {
                result,
                applied: false,
            })
        }
        Effect::DiffUnit {
            text,
            namespace,
            how,
        } => {
            let result = match how.documents(&text) {
                Err(p) => Err(p.message),
                Ok(docs) => crate::engine::unit::plan_apply(client, &docs, &namespace, true)
                    .await
                    .map(|steps| crate::engine::unit::diff(&steps))
                    .map_err(|e| e.to_string()),
            };
            Some(Event::DiffReady(result))
        }
        _ => None,
    }
}

/// The one reading of a kind (the log screen's, the resource screen's):
/// the one before is stopped.
fn swap_task(
    slot: &mut Option<tokio::task::JoinHandle<()>>,
    next: Option<tokio::task::JoinHandle<()>>,
) {
    if let Some(t) = std::mem::replace(slot, next) {
        t.abort();
    }
}
