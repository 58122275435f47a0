//! The console's runtime: one loop over terminal input, store changes, effect
//! results and a frame timer. It never awaits the network itself: I/O runs in
//! tasks that report back as Events. Nothing is drawn while nothing changed.

use crate::time::now_ms;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine;
use crossterm::event::EventStream;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Event as KEvent, Pod};
use kube::Api;
use tokio::sync::mpsc;

use super::app::{Effect, Event, Header, MessageKind, Model, update};
use super::data::{self, Stores};
use super::keymap::Keymap;
use super::theme::ThemeSource;
use super::views;
use crate::cluster::{self, ConnectOptions, Connection, stores};
use crate::domain::task::Task;

/// What the command line says about the console.
#[derive(Debug, Clone, Default)]
pub struct ConsoleOptions {
    pub connect: ConnectOptions,
    pub all_namespaces: bool,
    pub theme: Option<String>,
    pub keymap: Option<String>,
    pub config_dir: Option<PathBuf>,
    pub ascii: bool,
    /// The view to start on (`--view`).
    pub view: Option<String>,
}

const FRAME: Duration = Duration::from_millis(33);
const AGE_REFRESH: Duration = Duration::from_secs(15);

/// Watch every namespace when the credentials may, else only `namespace`
/// (swarmdeck needs no more than a namespaced Role).
async fn scope(client: &kube::Client, namespace: &str) -> Option<String> {
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
    (
        Stores {
            pods,
            sts,
            cms,
            tasks,
            events,
        },
        vec![a, b, c, d, e],
    )
}

fn header_of(conn: &Connection) -> Header {
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
fn contexts(opts: &ConnectOptions) -> Vec<String> {
    cluster::context_names(opts.kubeconfig.as_deref())
}

/// The template variables remembered for a context (`:save-vars`).
fn vars_for(settings: &super::config::Settings, context: &str) -> super::editor::Vars {
    settings.vars.get(context).cloned().unwrap_or_default()
}

/// Who the console's engine audits as.
fn auditor_of(conn: &Connection) -> crate::engine::audit::Auditor {
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
fn rewatch(
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
async fn permissions(client: &kube::Client, namespace: &str) -> Option<super::app::Permissions> {
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
    Some(super::app::Permissions {
        namespace: namespace.to_owned(),
        rules,
    })
}

/// The namespaces `:ns` offers: those the server lists, or, when listing
/// namespaces is forbidden (a namespaced Role), those the kubeconfig's
/// contexts name and the current one.
async fn readable_namespaces(
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

/// Connect and make sure the API answers, with a message an operator can act on.
/// A connection made in the background, its watch scope and the
/// namespaces `:ns` offers.
type Switched = (Connection, Option<String>, Vec<String>);

/// Connect with `o` off the UI loop (it never awaits the network) and hand
/// the result to the loop through `done`.
fn connect_in_background(o: ConnectOptions, done: mpsc::Sender<Result<Switched, String>>) {
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

async fn connect_checked(opts: &ConnectOptions) -> color_eyre::Result<Connection> {
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

fn init_logging() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dir = super::config::state_dir();
    // Created private before the appender opens it (it would make it 0644).
    crate::files::private_dir(&dir).ok()?;
    crate::files::append_private(&dir.join("console.log")).ok()?;
    let appender = tracing_appender::rolling::never(&dir, "console.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWARMDECK_LOG")
        .unwrap_or_else(|_| "info,kube=warn,hyper=warn".into());
    let _ = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
    Some(guard)
}

/// Run the console until the user quits.
/// How the console ended: quit by the operator, or stopped by a signal
/// (its number; the process then exits with 128 + it, as a shell expects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Quit,
    Signal(i32),
}

/// SIGINT, SIGTERM, SIGHUP and SIGQUIT as one stream of signal numbers: an
/// ssh link that drops, `timeout`, a tmux pane killed, `kill` — each ends
/// the console as `q` does (terminal restored, Leases handed back).
fn signals() -> std::io::Result<mpsc::Receiver<i32>> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = mpsc::channel(4);
    for (kind, number) in [
        (SignalKind::interrupt(), 2),
        (SignalKind::terminate(), 15),
        (SignalKind::hangup(), 1),
        (SignalKind::quit(), 3),
    ] {
        let mut stream = signal(kind)?;
        let tx = tx.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                if tx.send(number).await.is_err() {
                    break;
                }
            }
        });
    }
    Ok(rx)
}

/// Start the console as `swarmdeck` with no verb does (the binary's entry
/// hands this to [`crate::commands::run`]): its own async runtime, and on
/// a signal an exit as a process killed by it (128 + its number) once the
/// terminal is restored and the leases handed back.
pub fn launch(
    args: crate::cli::ConsoleArgs,
    connect: ConnectOptions,
    conn: &crate::cli::ConnectionArgs,
) -> Result<(), String> {
    let opts = ConsoleOptions {
        connect,
        all_namespaces: conn.all_namespaces,
        theme: args.theme,
        keymap: args.keymap,
        config_dir: conn.config_dir.clone(),
        ascii: args.ascii,
        view: args.view,
    };
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let ended = runtime.block_on(run(opts)).map_err(|e| format!("{e}"))?;
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match ended {
        Ended::Quit => Ok(()),
        Ended::Signal(n) => std::process::exit(128 + n),
    }
}

pub async fn run(opts: ConsoleOptions) -> color_eyre::Result<Ended> {
    let _log = init_logging();
    let dir = super::config::config_dir(opts.config_dir.as_deref());
    let (settings, settings_error) = super::config::load_settings(dir.as_deref());
    let mut read_only = opts.connect.read_only || settings.read_only;
    let mut connect_opts = opts.connect.clone();
    connect_opts.read_only = read_only;
    let theme_name = if super::config::no_color() {
        "mono".to_owned()
    } else {
        opts.theme
            .clone()
            .or(settings.theme.clone())
            .unwrap_or_else(|| "default".into())
    };
    let (theme, theme_errors) = ThemeSource {
        user_dir: dir.as_deref(),
    }
    .load(&theme_name);
    let keymap_name = opts
        .keymap
        .clone()
        .or(settings.keymap.clone())
        .unwrap_or_else(|| "default".into());
    let (keymap, keymap_errors) = Keymap::load(&keymap_name, dir.as_deref(), read_only);

    // The first connection may need the operator (a device-code login):
    // it runs before the console takes the screen. From here on a
    // credential plugin runs quietly (its stderr kept, never drawn over
    // the screen): the client is built again so (only then: a new client
    // is a new TLS connection, round trips on a far link).
    let mut conn = connect_checked(&connect_opts).await?;
    connect_opts.quiet_credentials = true;
    if conn.credential_plugin.is_some()
        && let Ok(quiet) = cluster::connect(&connect_opts).await
    {
        conn = quiet;
    }
    tracing::info!(context = %conn.context, server = %conn.server, "connected");
    let (tx, mut changes) = mpsc::channel::<stores::Changed>(64);
    // Both asked at once: on a far link each answer is a round trip.
    let (mut only, namespaces) = tokio::join!(
        scope(&conn.client, &conn.namespace),
        readable_namespaces(&conn.client, &connect_opts, &conn.namespace)
    );
    let (mut stores_now, mut tasks) = spawn_stores(&conn.client, &tx, only.as_deref());
    let namespace = conn.namespace.clone();
    let mut model = Model::new(
        header_of(&conn),
        namespace,
        stores_now.clone(),
        theme,
        keymap,
    );
    // The context's own theme (a red header for production), unless one was asked for.
    if opts.theme.is_none()
        && !super::config::no_color()
        && let Some(name) = settings
            .contexts
            .get(&conn.context)
            .and_then(|c| c.theme.clone())
    {
        let (theme, errors) = ThemeSource {
            user_dir: dir.as_deref(),
        }
        .load(&name);
        model.theme = theme;
        if let Some(e) = errors.first() {
            model.message = Some((format!("{e} (defaults in force)"), MessageKind::Error));
        }
    }
    model.ascii = opts.ascii || settings.ascii.unwrap_or(false) || !super::config::utf8_locale();
    model.contexts = contexts(&connect_opts);
    model.watch_only = only.clone();
    model.vars = vars_for(&settings, &conn.context);
    if let Some(n) = settings.logs.max_lines {
        model.log_max_lines = n.max(100);
    }
    model.known_namespaces = namespaces;
    if opts.all_namespaces && only.is_none() {
        model.namespace = None;
    }
    if let Some(ns) = &only {
        model.message = Some((
            format!("these credentials may not list all namespaces: watching namespace {ns} only"),
            MessageKind::Info,
        ));
    }
    let problems: Vec<String> = settings_error
        .into_iter()
        .chain(theme_errors.iter().map(ToString::to_string))
        .chain(keymap_errors.iter().map(ToString::to_string))
        .collect();
    if !problems.is_empty() {
        model.message = Some((
            format!("{} (defaults in force)", problems.join("; ")),
            MessageKind::Error,
        ));
    }
    if conn.fallback {
        model.message.get_or_insert(("no kubeconfig found: showing the embedded demo cluster (use --kubeconfig or --context for a real one)".into(), MessageKind::Info));
    }

    let mut signalled = signals()?;
    let mut terminal = ratatui::init();
    let (etx, mut effects_done) = mpsc::channel::<Event>(64);
    // The start view: --view, else the context's, else the settings'.
    if let Some(view) = opts.view.clone().or_else(|| {
        settings
            .contexts
            .get(&conn.context)
            .and_then(|c| c.start_view.clone())
            .or(settings.start_view.clone())
    }) {
        // Once the first lists are in (a grid needs its swarm's rows), or
        // after 10 s whatever they say.
        let (etx, stores) = (etx.clone(), stores_now.clone());
        tokio::spawn(async move {
            for _ in 0..200 {
                if stores.synced() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = etx.send(Event::Command(view)).await;
        });
    }
    let mut engine = super::act::start_engine(
        conn.client.clone(),
        auditor_of(&conn),
        only.clone(),
        conn.namespace.clone(),
        read_only,
        etx.clone(),
    );
    // Context switches connect in a task; the new connection arrives here.
    let (ctx_tx, mut switched) = mpsc::channel::<Result<Switched, String>>(1);
    let mut input = EventStream::new();
    // The log screen's reading (one at a time).
    let mut log_task: Option<tokio::task::JoinHandle<()>> = None;
    let mut table_task: Option<tokio::task::JoinHandle<()>> = None;
    let mut asked_permissions: Option<String> = None;
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    let mut ages = tokio::time::interval(AGE_REFRESH);
    ages.tick().await;
    let result: color_eyre::Result<Ended> = loop {
        if dirty && last_draw.elapsed() >= FRAME {
            model.now_ms = now_ms();
            model.page = terminal
                .size()
                .map(|s| s.height.saturating_sub(4) as usize)
                .unwrap_or(20)
                .max(1);
            model.refresh_rows();
            if let Err(e) = terminal.draw(|f| views::render(&model, f)) {
                break Err(e.into());
            }
            // Rows held back while a first list streams in: come back.
            dirty = model.refresh_owed;
            last_draw = Instant::now();
        }
        let wait = if dirty {
            FRAME.saturating_sub(last_draw.elapsed())
        } else {
            Duration::from_secs(3600)
        };
        let event = tokio::select! {
            maybe = input.next() => match maybe {
                Some(Ok(crossterm::event::Event::Key(k))) => Event::Key(k),
                Some(Ok(crossterm::event::Event::Resize(_, _))) => Event::Resize,
                Some(Ok(_)) => continue,
                Some(Err(e)) => break Err(e.into()),
                None => break Ok(Ended::Quit),
            },
            Some(number) = signalled.recv() => {
                tracing::info!("signal {number}: leaving");
                break Ok(Ended::Signal(number));
            }
            Some(_) = changes.recv() => Event::StoreChanged,
            Some(ev) = effects_done.recv() => ev,
            Some(result) = switched.recv() => match result {
                Ok((new, scoped, namespaces)) => {
                    only = scoped;
                    conn = new;
                    if conn.read_only && !read_only {
                        // Read-only from here on: the keys that write are
                        // unbound, the engine plans only, the gate refuses.
                        read_only = true;
                        model.keymap = Keymap::load(&keymap_name, dir.as_deref(), true).0;
                        model.message = Some((
                            format!("context {} is read-only (settings): nothing is written for the rest of this session", conn.context),
                            MessageKind::Info,
                        ));
                    }
                    stores_now = rewatch(
                        &conn,
                        only.as_deref(),
                        &conn.namespace,
                        read_only,
                        (&tx, &etx),
                        &mut tasks,
                        &mut engine,
                    );
                    model.stores = stores_now.clone();
                    model.default_namespace = conn.namespace.clone();
                    model.namespace = Some(conn.namespace.clone());
                    model.watch_only = only.clone();
                    model.vars = vars_for(&super::config::load_settings(dir.as_deref()).0, &conn.context);
                    model.known_namespaces = namespaces;
                    Event::Connected(header_of(&conn))
                }
                Err(e) => {
                    model.message = Some((e, MessageKind::Error));
                    dirty = true;
                    continue;
                }
            },
            _ = ages.tick() => Event::Tick,
            _ = tokio::time::sleep(wait) => continue,
        };
        if matches!(event, Event::Key(_)) {
            // A message stays until the next key press.
            model.message = None;
        }
        let effects = update(&mut model, event);
        dirty = true;
        // What the user may do where it looks: one SelfSubjectRulesReview per
        // namespace shown (none in read-only mode: nothing is offered there).
        if !read_only
            && let Some(ns) = model.namespace.clone()
            && asked_permissions.as_deref() != Some(ns.as_str())
        {
            asked_permissions = Some(ns.clone());
            let (client, etx) = (conn.client.clone(), etx.clone());
            tokio::spawn(async move {
                if let Some(p) = permissions(&client, &ns).await {
                    let _ = etx.send(Event::Permissions(p)).await;
                }
            });
        }
        if let Some(name) = model.wanted_theme.take() {
            let (t, errs) = ThemeSource {
                user_dir: dir.as_deref(),
            }
            .load(&name);
            model.theme = t;
            model.message = Some(match errs.first() {
                Some(e) => (format!("{e} (defaults in force)"), MessageKind::Error),
                None => (format!("theme {name}"), MessageKind::Info),
            });
        }
        let mut quit = false;
        for effect in effects {
            match effect {
                Effect::Quit => quit = true,
                Effect::OpenLogs {
                    id,
                    source,
                    options,
                } => {
                    if let Some(t) = log_task.take() {
                        t.abort();
                    }
                    log_task = Some(read_logs(
                        conn.client.clone(),
                        id,
                        source,
                        options,
                        etx.clone(),
                    ));
                }
                Effect::CloseLogs => {
                    if let Some(t) = log_task.take() {
                        t.abort();
                    }
                }
                Effect::ReadTable { id, reading } => {
                    if let Some(t) = table_task.take() {
                        t.abort();
                    }
                    table_task = Some(read_table(conn.client.clone(), id, reading, etx.clone()));
                }
                Effect::CloseTable => {
                    if let Some(t) = table_task.take() {
                        t.abort();
                    }
                }
                Effect::Discover => {
                    let (client, etx) = (conn.client.clone(), etx.clone());
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
                    let (client, etx) = (conn.client.clone(), etx.clone());
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
                    model.message = Some(match dir.as_deref() {
                        None => (
                            "no configuration directory (set SWARMDECK_CONFIG_DIR or --config-dir): nothing saved".to_owned(),
                            MessageKind::Error,
                        ),
                        Some(d) => match super::config::save_vars(d, &conn.context, &vars) {
                            Ok(path) => (
                                format!(
                                    "{} variable{} remembered for context {} in {}",
                                    vars.len(),
                                    if vars.len() == 1 { "" } else { "s" },
                                    conn.context,
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
                    let client = conn.client.clone();
                    let etx = etx.clone();
                    tokio::spawn(async move {
                        let result = super::act::fetch(&client, &api, &namespace, &name).await;
                        let _ = etx.send(Event::Yaml { title, result }).await;
                    });
                }
                Effect::LoadAudit => {
                    let etx = etx.clone();
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
                    super::act::spawn(acting, conn.client.clone(), auditor_of(&conn), etx.clone());
                }
                Effect::Rescope(ns) => {
                    // The credentials watch one namespace at a time: new stores
                    // (and an engine) for the one asked for. A namespace they
                    // may not read shows the server's reason in its views.
                    only = Some(ns.clone());
                    stores_now = rewatch(
                        &conn,
                        only.as_deref(),
                        &ns,
                        read_only,
                        (&tx, &etx),
                        &mut tasks,
                        &mut engine,
                    );
                    model.stores = stores_now.clone();
                    model.watch_only = only.clone();
                }
                Effect::SwitchContext(name) => {
                    let mut o = connect_opts.clone();
                    o.context = Some(name.clone());
                    o.embedded = false;
                    // A context the settings make read-only is read-only here
                    // too (a settings file that does not parse: every one is).
                    let (now, broken) = super::config::load_settings(dir.as_deref());
                    o.read_only = read_only || broken.is_some() || now.read_only_for(&name);
                    model.message = Some((
                        format!("connecting to context {name} ..."),
                        MessageKind::Info,
                    ));
                    connect_in_background(o, ctx_tx.clone());
                }
                Effect::Login => match conn.credential_plugin.clone() {
                    None => {
                        model.message = Some((
                            format!(
                                "context {} has no credential plugin (its kubeconfig user has no exec): nothing to sign in with",
                                conn.context
                            ),
                            MessageKind::Info,
                        ));
                    }
                    Some(plugin) => {
                        // The console steps aside: its input stops being
                        // read (the plugin reads the keyboard) and the
                        // screen is the shell's until the plugin is done.
                        drop(std::mem::replace(&mut input, EventStream::new()));
                        ratatui::restore();
                        eprintln!(
                            "{}",
                            crate::sanitize::line(&format!(
                                "swarmdeck: signing in to context {} with its credential plugin `{plugin}`; the console comes back when it is done",
                                conn.context
                            ))
                        );
                        let mut o = connect_opts.clone();
                        o.context = Some(conn.context.clone());
                        o.embedded = false;
                        o.read_only = read_only;
                        o.quiet_credentials = false;
                        let signed = connect_checked(&o).await;
                        terminal = ratatui::init();
                        let _ = terminal.clear();
                        match signed {
                            Ok(_) => {
                                tracing::info!(context = %conn.context, "signed in again");
                                model.message = Some((
                                    format!(
                                        "signed in to context {}: reconnecting ...",
                                        conn.context
                                    ),
                                    MessageKind::Info,
                                ));
                                o.quiet_credentials = true;
                                connect_in_background(o, ctx_tx.clone());
                            }
                            Err(e) => {
                                tracing::warn!(context = %conn.context, "sign-in failed: {e}");
                                model.message = Some((
                                    format!("signing in to context {} failed: {e}", conn.context),
                                    MessageKind::Error,
                                ));
                            }
                        }
                    }
                },
            }
        }
        if quit || model.quit {
            break Ok(Ended::Quit);
        }
    };
    ratatui::restore();
    // Any exit hands the engine's Leases back, within a bounded time.
    engine.stop(Duration::from_secs(3)).await;
    for t in tasks {
        t.abort();
    }
    drop(stores_now);
    result
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
            tokio::time::sleep(FRAME).await;
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
            tokio::time::sleep(FRAME).await;
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

/// Draw once into a buffer (tests and benchmarks).
pub fn render_to_buffer(model: &mut Model, width: u16, height: u16) -> ratatui::buffer::Buffer {
    let backend = ratatui::backend::TestBackend::new(width, height);
    let mut terminal = ratatui::Terminal::new(backend).expect("a test backend always builds");
    model.page = height.saturating_sub(4) as usize;
    model.refresh_rows();
    let _ = terminal.draw(|f| views::render(model, f));
    terminal.backend().buffer().clone()
}
