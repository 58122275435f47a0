//! Watch stores: one watcher per resource type, turning objects into the rows
//! a view needs (off the UI thread) and keeping them in a shared map. The UI
//! is told that a store changed at most once until it has looked.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use futures::StreamExt;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
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
}

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
}

impl<R> Store<R> {
    pub fn read(&self) -> RwLockReadGuard<'_, StoreState<R>> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// A store filled from rows at hand (benchmarks, tests, snapshots of files).
    pub fn from_rows(rows: BTreeMap<(String, String), R>) -> Self {
        let store = Self::default();
        store.update(|st| {
            st.rows = rows.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
            st.synced = true;
        });
        store
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

/// Retry delays for a console: 0.5 s doubling to at most 5 s, so a returning
/// API server is seen within seconds (a controller's default waits up to 30 s).
#[derive(Debug, Clone)]
pub struct ConsoleBackoff {
    next: std::time::Duration,
}

impl Default for ConsoleBackoff {
    fn default() -> Self {
        Self {
            next: std::time::Duration::from_millis(500),
        }
    }
}

impl Iterator for ConsoleBackoff {
    type Item = std::time::Duration;
    fn next(&mut self) -> Option<Self::Item> {
        let now = self.next;
        self.next = (self.next * 2).min(std::time::Duration::from_secs(5));
        Some(now)
    }
}

impl kube::runtime::utils::Backoff for ConsoleBackoff {
    fn reset(&mut self) {
        *self = Self::default();
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn key_of<K: kube::Resource>(o: &K) -> (String, String) {
    let m = o.meta();
    (
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
    )
}

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
            let mut stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(item) = stream.next().await {
                let notify_now = match item {
                    Ok(watcher::Event::Init) => {
                        staged.clear();
                        false
                    }
                    Ok(watcher::Event::InitApply(o)) => {
                        staged.insert(key_of(&o), Arc::new(convert(&o)));
                        false
                    }
                    Ok(watcher::Event::InitDone) => {
                        // Replace wholesale: objects deleted while disconnected vanish.
                        let rows = std::mem::take(&mut staged);
                        store.update(|st| {
                            st.rows = rows;
                            st.synced = true;
                            st.error = None;
                        })
                    }
                    Ok(watcher::Event::Apply(o)) => {
                        let (k, row) = (key_of(&o), Arc::new(convert(&o)));
                        store.update(|st| {
                            st.rows.insert(k, row);
                            st.error = None;
                        })
                    }
                    Ok(watcher::Event::Delete(o)) => {
                        let k = key_of(&o);
                        store.update(|st| {
                            st.rows.remove(&k);
                            st.error = None;
                        })
                    }
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
                if notify_now && notify.send(Changed(tag)).await.is_err() {
                    return;
                }
            }
        })
    };
    (store, handle)
}
