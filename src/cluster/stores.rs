//! Watch stores: one watcher per resource type, turning objects into the rows
//! a view needs (off the UI thread) and keeping them in a shared map. The UI
//! is told that a store changed at most once until it has looked.

use crate::time::now_ms;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use futures::StreamExt;
use kube::Api;
use kube::runtime::watcher;
use serde::de::DeserializeOwned;

/// Which store changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Changed(pub &'static str);

/// The rows of one resource type, by (namespace, name).
#[derive(Debug)]
pub struct StoreState<R> {
    /// Each row behind an Arc: a row that did not change keeps its pointer,
    /// so views can reuse what they derived from it.
    pub rows: BTreeMap<(String, String), Arc<R>>,
    /// Bumped on every change: views rebuild their row order only when it moves.
    pub generation: u64,
    /// The first complete list has arrived.
    pub synced: bool,
    /// The watch is failing: since when (ms) and why. Rows are then stale.
    pub error: Option<(i64, String)>,
    /// When the last error was seen (ms). A watch that resumes without news
    /// sends nothing; errors that stopped for longer than the longest retry
    /// delay mean it is back.
    pub last_error_ms: i64,
    /// The keys changed one by one, with the generation of each change, so
    /// that a view moves only those rows instead of deriving them all.
    log: std::collections::VecDeque<(u64, (String, String))>,
    /// Changes up to this generation are not all in `log` (rows replaced
    /// wholesale, or the log trimmed).
    log_floor: u64,
}

/// Changes kept for views that apply them one by one; a view further behind
/// derives its rows afresh.
const LOG_CAPACITY: usize = 4096;

/// A shared store.
#[derive(Debug)]
pub struct Store<R> {
    state: Arc<RwLock<StoreState<R>>>,
    dirty: Arc<AtomicBool>,
}

impl<R> Clone for Store<R> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            dirty: self.dirty.clone(),
        }
    }
}

impl<R> Default for Store<R> {
    fn default() -> Self {
        Self {
            state: Arc::new(RwLock::new(StoreState {
                rows: BTreeMap::new(),
                generation: 0,
                synced: false,
                error: None,
                last_error_ms: 0,
                log: std::collections::VecDeque::new(),
                log_floor: 0,
            })),
            dirty: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// Longer than the longest retry delay: a failing watch errs again before this.
pub const QUIET_AFTER_ERRORS_MS: i64 = 7_000;

impl<R> StoreState<R> {
    /// Stale since when, if the watch is still failing at `now_ms`.
    pub fn stale_since(&self, now_ms: i64) -> Option<i64> {
        let (since, _) = self.error.as_ref()?;
        (now_ms - self.last_error_ms < QUIET_AFTER_ERRORS_MS).then_some(*since)
    }

    /// The keys changed since `generation`, if they are all known (each once,
    /// in no particular order); `None` when rows were replaced wholesale or
    /// too much changed since then.
    pub fn changed_since(&self, generation: u64) -> Option<Vec<(String, String)>> {
        if generation < self.log_floor {
            return None;
        }
        let mut keys: Vec<(String, String)> = self
            .log
            .iter()
            .rev()
            .take_while(|(g, _)| *g > generation)
            .map(|(_, k)| k.clone())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        Some(keys)
    }

    /// Rows replaced wholesale: views derive theirs afresh.
    fn replaced(&mut self) {
        self.log.clear();
        self.log_floor = self.generation + 1;
    }

    fn logged(&mut self, key: (String, String)) {
        if self.log.len() == LOG_CAPACITY
            && let Some((g, _)) = self.log.pop_front()
        {
            self.log_floor = g;
        }
        self.log.push_back((self.generation + 1, key));
    }
}

impl<R> Store<R> {
    pub fn read(&self) -> RwLockReadGuard<'_, StoreState<R>> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// A store filled from rows at hand (benchmarks, tests, snapshots of files).
    pub fn from_rows(rows: BTreeMap<(String, String), R>) -> Self {
        let store = Self::default();
        store.update(|st| {
            st.replaced();
            st.rows = rows.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
            st.synced = true;
        });
        store
    }

    /// One object changed (`Some`) or went (`None`); returns whether the UI
    /// is to be told.
    pub fn apply(&self, key: (String, String), row: Option<Arc<R>>) -> bool {
        self.update(|st| {
            st.logged(key.clone());
            match row {
                Some(row) => st.rows.insert(key, row),
                None => st.rows.remove(&key),
            };
            st.error = None;
        })
    }

    /// A page of the first list joins the rows shown.
    pub fn extend(&self, page: BTreeMap<(String, String), Arc<R>>) -> bool {
        self.replace(|st| st.rows.extend(page))
    }

    /// A list completed: the first joins the pages shown; a later one
    /// replaces the rows wholesale (objects deleted while disconnected go).
    pub fn listed(&self, rows: BTreeMap<(String, String), Arc<R>>, first: bool) -> bool {
        self.replace(|st| {
            if first {
                st.rows.extend(rows);
            } else {
                st.rows = rows;
            }
            st.synced = true;
            st.error = None;
        })
    }

    /// Rows replaced (or extended) wholesale.
    fn replace(&self, f: impl FnOnce(&mut StoreState<R>)) -> bool {
        self.update(|st| {
            st.replaced();
            f(st)
        })
    }

    /// The UI has seen the latest change; the next one notifies again.
    pub fn seen(&self) {
        self.dirty.store(false, Ordering::Release);
    }

    fn update(&self, f: impl FnOnce(&mut StoreState<R>)) -> bool {
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        f(&mut st);
        st.generation += 1;
        !self.dirty.swap(true, Ordering::AcqRel)
    }
}

/// Retry pacing for a console's watch. A server that cannot be reached is
/// tried again soon (0.5 s doubling to 2 s: a refused connection costs it
/// nothing, and a returning server is seen within seconds); one that answers
/// with an error (a kind it does not serve, a permission it denies, an
/// overload) is asked again only after 1 s doubling to 60 s, with jitter, so
/// that a console never hammers an API server with requests that fail.
#[derive(Debug, Clone)]
pub struct Retry {
    transport: std::time::Duration,
    answered: std::time::Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            transport: std::time::Duration::from_millis(500),
            answered: std::time::Duration::from_secs(1),
        }
    }
}

impl Retry {
    /// How long to wait before the watch tries again after `e`.
    pub fn delay(&mut self, e: &watcher::Error) -> std::time::Duration {
        use std::time::Duration;
        let answered = match e {
            watcher::Error::InitialListFailed(k)
            | watcher::Error::WatchStartFailed(k)
            | watcher::Error::WatchFailed(k) => matches!(k, kube::Error::Api(_)),
            watcher::Error::WatchError(_) | watcher::Error::NoResourceVersion => true,
        };
        if answered {
            let d = self.answered;
            self.answered = (d * 2).min(Duration::from_secs(60));
            // ±20 % so that many consoles do not retry in step.
            let jitter = (now_ms().rem_euclid(400) - 200) as f64 / 1000.0;
            d.mul_f64(1.0 + jitter)
        } else {
            let d = self.transport;
            self.transport = (d * 2).min(Duration::from_secs(2));
            d
        }
    }

    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// When the streaming list is no use: a server that does not serve it answers
/// its watch with 422 Invalid (the WatchList feature off, or an older server
/// that forbids `resourceVersionMatch` on a watch) or 400; credentials that
/// may list but not watch get 403 — the paged list then still shows the rows
/// (and the view says they do not follow changes), and credentials that may
/// not even list hear the list's own refusal.
fn refuses_streaming(e: &watcher::Error) -> bool {
    matches!(e, watcher::Error::WatchStartFailed(kube::Error::Api(s))
        if s.code == 403
            || ((s.code == 422 || s.code == 400)
                && (s.message.contains("sendInitialEvents")
                    || s.message.contains("resourceVersionMatch"))))
}

fn key_of<K: kube::Resource>(o: &K) -> (String, String) {
    let m = o.meta();
    (
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
    )
}

/// Rows shown at a time while a first list streams in (the watcher's page size).
const FIRST_LIST_PAGE: usize = 500;

/// Start watching `api`, converting each object with `convert`. Every time
/// the store changes while the UI has not looked yet, `tag` is sent once.
pub fn spawn<K, R, F>(
    api: Api<K>,
    convert: F,
    notify: tokio::sync::mpsc::Sender<Changed>,
    tag: &'static str,
) -> (Store<R>, tokio::task::JoinHandle<()>)
where
    K: kube::Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
    R: Send + Sync + 'static,
    F: Fn(&K) -> R + Send + Sync + 'static,
{
    let store: Store<R> = Store::default();
    let handle = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut staged: BTreeMap<(String, String), Arc<R>> = BTreeMap::new();
            // Until the first list completes, rows are shown page by page as
            // they arrive (a relist later replaces them only when complete,
            // so that a reconnect neither flickers nor shows ghosts).
            let mut ever_synced = false;
            // The streaming list where the server offers it (one response
            // holds the state), the paged list where it refuses it.
            let mut streaming = true;
            let config = |streaming: bool| {
                let c = watcher::Config::default();
                if streaming { c.streaming_lists() } else { c }
            };
            let mut stream = watcher(api.clone(), config(streaming)).boxed();
            let mut retry = Retry::default();
            while let Some(item) = stream.next().await {
                if streaming
                    && let Err(e) = &item
                    && refuses_streaming(e)
                {
                    tracing::info!(
                        kind = tag,
                        "the server refuses the streaming list: paged lists instead"
                    );
                    streaming = false;
                    stream = watcher(api.clone(), config(streaming)).boxed();
                    continue;
                }
                let pause = match &item {
                    Err(e) => Some(retry.delay(e)),
                    // Init comes before every (re)list, also one that fails:
                    // only a list that completed, or news, is progress.
                    Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => None,
                    Ok(_) => {
                        retry.reset();
                        None
                    }
                };
                // A list that completed, or a change: the watch is working.
                let progressed = matches!(
                    item,
                    Ok(watcher::Event::InitDone
                        | watcher::Event::Apply(_)
                        | watcher::Event::Delete(_))
                );
                let notify_now = match item {
                    Ok(watcher::Event::Init) => {
                        staged.clear();
                        // A first list that broke off starts again from nothing
                        // (what it showed may since have gone).
                        if !ever_synced && !store.read().rows.is_empty() {
                            store.replace(|st| st.rows.clear())
                        } else {
                            false
                        }
                    }
                    Ok(watcher::Event::InitApply(o)) => {
                        staged.insert(key_of(&o), Arc::new(convert(&o)));
                        if !ever_synced && staged.len() >= FIRST_LIST_PAGE {
                            // Nothing shown yet to replace: a page joins
                            // what is there.
                            store.extend(std::mem::take(&mut staged))
                        } else {
                            false
                        }
                    }
                    Ok(watcher::Event::InitDone) => {
                        let rows = std::mem::take(&mut staged);
                        let first = !ever_synced;
                        ever_synced = true;
                        store.listed(rows, first)
                    }
                    Ok(watcher::Event::Apply(o)) => {
                        store.apply(key_of(&o), Some(Arc::new(convert(&o))))
                    }
                    Ok(watcher::Event::Delete(o)) => store.apply(key_of(&o), None),
                    Err(e) => {
                        let msg = super::explain_watch(&e);
                        store.update(|st| {
                            let now = now_ms();
                            st.last_error_ms = now;
                            if st.error.is_none() {
                                st.error = Some((now, msg));
                            }
                        })
                    }
                };
                // News after an error is the watch back: the header says live
                // at once, not only once the errors have been quiet a while.
                let recovered = pause.is_none()
                    && progressed
                    && store.read().error.is_some()
                    && store.update(|st| st.error = None);
                if (notify_now || recovered) && notify.send(Changed(tag)).await.is_err() {
                    return;
                }
                if let Some(d) = pause {
                    tokio::time::sleep(d).await;
                }
            }
        })
    };
    (store, handle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn answered(code: u16) -> watcher::Error {
        watcher::Error::InitialListFailed(kube::Error::Api(Box::new(
            kube::core::Status::failure(
                "the server could not find the requested resource",
                "NotFound",
            )
            .with_code(code),
        )))
    }

    fn unreachable() -> watcher::Error {
        watcher::Error::InitialListFailed(kube::Error::Service(Box::new(std::io::Error::other(
            "connection refused",
        ))))
    }

    #[test]
    fn an_unreachable_server_is_retried_within_seconds() {
        let mut r = Retry::default();
        let waits: Vec<Duration> = (0..8).map(|_| r.delay(&unreachable())).collect();
        assert_eq!(waits[0], Duration::from_millis(500));
        assert!(
            waits.iter().all(|w| *w <= Duration::from_secs(2)),
            "{waits:?}"
        );
    }

    #[test]
    fn a_server_that_refuses_is_asked_again_only_after_30_s_and_more() {
        let mut r = Retry::default();
        let waits: Vec<Duration> = (0..8).map(|_| r.delay(&answered(404))).collect();
        assert!(waits[0] <= Duration::from_millis(1200), "{waits:?}");
        assert!(waits[7] >= Duration::from_secs(30), "{waits:?}");
        assert!(waits[7] <= Duration::from_secs(72), "{waits:?}");
        r.reset();
        assert!(r.delay(&answered(403)) <= Duration::from_millis(1200));
    }
}
