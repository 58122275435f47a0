//! The console's runtime: one loop over terminal input, store changes, effect
//! results and a frame timer. It never awaits the network itself: I/O runs in
//! tasks that report back as Events. Nothing is drawn while nothing changed.

use crate::time::now_ms;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::EventStream;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::app::update;
pub use super::effects::spawn_stores;
use super::effects::{
    Executor, Next, Switched, auditor_of, connect_checked, contexts, header_of,
    readable_namespaces, scope, vars_for,
};
use super::keymap::Keymap;
use super::model::{Event, MessageKind, Model};
use super::theme::ThemeSource;
use super::views;
use crate::cluster::{self, ConnectOptions, stores};

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
    let read_only = opts.connect.read_only || settings.read_only;
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
    let (only, namespaces) = tokio::join!(
        scope(&conn.client, &conn.namespace),
        readable_namespaces(&conn.client, &connect_opts, &conn.namespace)
    );
    let (stores_now, tasks) = spawn_stores(&conn.client, &tx, only.as_deref());
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
    let engine = super::act::start_engine(
        conn.client.clone(),
        auditor_of(&conn),
        only.clone(),
        conn.namespace.clone(),
        read_only,
        etx.clone(),
    );
    // Context switches connect in a task; the new connection arrives here.
    let (ctx_tx, mut switched) = mpsc::channel::<Result<Switched, String>>(1);
    let mut exec = Executor {
        conn,
        connect_opts,
        read_only,
        dir,
        keymap_name,
        only,
        stores: stores_now,
        tasks,
        engine,
        tx,
        etx,
        ctx_tx,
        log_task: None,
        table_task: None,
        asked_permissions: None,
    };
    let mut input = EventStream::new();
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
            Some(result) = switched.recv() => match exec.switched(result, &mut model) {
                Some(event) => event,
                None => {
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
        exec.after_update(&mut model);
        let mut quit = false;
        for effect in effects {
            match exec.perform(effect, &mut model) {
                Next::Go => {}
                Next::Quit => quit = true,
                Next::Login(plugin) => {
                    // The console steps aside: its input stops being read
                    // (the plugin reads the keyboard) and the screen is the
                    // shell's until the plugin is done.
                    drop(std::mem::replace(&mut input, EventStream::new()));
                    ratatui::restore();
                    exec.sign_in(&plugin, &mut model).await;
                    terminal = ratatui::init();
                    let _ = terminal.clear();
                }
                Next::Shell(e) => {
                    // The same: the shell has the keyboard and the screen.
                    drop(std::mem::replace(&mut input, EventStream::new()));
                    ratatui::restore();
                    exec.shell(e, &mut model).await;
                    drop(std::mem::replace(&mut input, EventStream::new()));
                    terminal = ratatui::init();
                    let _ = terminal.clear();
                }
            }
        }
        if quit || model.quit {
            break Ok(Ended::Quit);
        }
    };
    ratatui::restore();
    // Any exit hands the engine's Leases back, within a bounded time.
    exec.stop().await;
    result
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
