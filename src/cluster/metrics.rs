//! What pods use, from `metrics.k8s.io` (metrics-server, or the embedded
//! cluster's): read every [`EVERY`] while a screen shows it and it is
//! served, and when it is not served or not allowed, asked again only every
//! [`QUIET`] — one quiet state for the views to show (`metrics: not
//! served`, `metrics: forbidden`), no error in the message line, no retry
//! storm. The API has no watch: an idle console that shows no usage asks
//! nothing ([`MetricsStore::want`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kube::Api;
use kube::api::{ApiResource, DynamicObject, ListParams};

use crate::domain::quantity;

/// metrics-server's resolution: asking more often returns the same numbers.
pub const EVERY: Duration = Duration::from_secs(15);
/// How often an absent or forbidden metrics API is asked again.
pub const QUIET: Duration = Duration::from_secs(120);

pub use crate::domain::quantity::Usage;

/// Whether the cluster answers for metrics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Availability {
    /// Not asked yet.
    #[default]
    Unknown,
    Served,
    /// The API is not there (no metrics-server).
    NotServed,
    /// The credentials may not read it.
    Forbidden,
    /// It failed otherwise; the reason (shown where metrics are drawn).
    Failing(String),
}

impl Availability {
    /// The quiet badge: None while metrics are served (or not asked yet).
    pub fn badge(&self) -> Option<&'static str> {
        match self {
            Availability::Unknown | Availability::Served => None,
            Availability::NotServed => Some("metrics: not served"),
            Availability::Forbidden => Some("metrics: forbidden"),
            Availability::Failing(_) => Some("metrics: failing"),
        }
    }
}

/// The pods' usage as last read.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub availability: Availability,
    pub pods: Arc<HashMap<(String, String), Usage>>,
    /// Bumped at every read that changed something.
    pub generation: u64,
}

/// Shared between the reading task and the views.
#[derive(Debug, Clone, Default)]
pub struct MetricsStore(Arc<RwLock<Metrics>>, Arc<Wanted>);

/// When a screen last drew usage, and the reading task's wake-up.
#[derive(Debug, Default)]
struct Wanted {
    at: std::sync::atomic::AtomicI64,
    wake: tokio::sync::Notify,
}

impl MetricsStore {
    /// A screen draws usage now: read it (at once, if nothing asked for it
    /// lately). Called by the views, so what nobody looks at is not read.
    pub fn want(&self) {
        let now = crate::time::now_ms();
        let before = self.1.at.swap(now, std::sync::atomic::Ordering::Relaxed);
        if now - before > 2 * EVERY.as_millis() as i64 {
            self.1.wake.notify_one();
        }
    }

    /// Has a screen drawn usage in the last two reading periods?
    fn wanted(&self) -> bool {
        crate::time::now_ms() - self.1.at.load(std::sync::atomic::Ordering::Relaxed)
            <= 2 * EVERY.as_millis() as i64
    }

    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Metrics> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Set what a read found (tests and the reading task).
    pub fn set(&self, availability: Availability, pods: Option<HashMap<(String, String), Usage>>) {
        let mut m = self.0.write().unwrap_or_else(|e| e.into_inner());
        let changed =
            m.availability != availability || pods.as_ref().is_some_and(|p| *p != *m.pods);
        m.availability = availability;
        if let Some(p) = pods {
            m.pods = Arc::new(p);
        }
        if changed {
            m.generation += 1;
        }
    }
}

fn resource() -> ApiResource {
    ApiResource {
        group: "metrics.k8s.io".into(),
        version: "v1beta1".into(),
        api_version: "metrics.k8s.io/v1beta1".into(),
        kind: "PodMetrics".into(),
        plural: "pods".into(),
    }
}

/// A PodMetrics object's usage: its containers' summed. Numbers that do not
/// parse count as nothing.
pub fn usage_of(object: &serde_json::Value) -> Usage {
    object["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| Usage {
            cpu_m: c["usage"]["cpu"]
                .as_str()
                .and_then(quantity::millicores)
                .unwrap_or(0),
            memory: c["usage"]["memory"]
                .as_str()
                .and_then(quantity::bytes)
                .unwrap_or(0),
        })
        .fold(Usage::default(), |a, b| a + b)
}

/// One read of the pods' usage in `namespace` (None: all).
pub async fn read(
    client: &kube::Client,
    namespace: Option<&str>,
) -> Result<HashMap<(String, String), Usage>, Availability> {
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource()),
        None => Api::all_with(client.clone(), &resource()),
    };
    match api.list(&ListParams::default()).await {
        Ok(list) => Ok(list
            .items
            .into_iter()
            .map(|o| {
                let usage = usage_of(&o.data);
                (
                    (
                        o.metadata.namespace.unwrap_or_default(),
                        o.metadata.name.unwrap_or_default(),
                    ),
                    usage,
                )
            })
            .collect()),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(Availability::NotServed),
        Err(kube::Error::Api(s)) if s.code == 403 => Err(Availability::Forbidden),
        Err(e) => Err(Availability::Failing(super::explain(&e))),
    }
}

/// Read the pods' usage in `namespace` (None: all) until aborted; `notify`
/// wakes the console after each read that changed something.
pub fn spawn(
    client: kube::Client,
    namespace: Option<String>,
    notify: tokio::sync::mpsc::Sender<super::stores::Changed>,
) -> (MetricsStore, tokio::task::JoinHandle<()>) {
    let store = MetricsStore::default();
    let handle = {
        let store = store.clone();
        tokio::spawn(async move {
            loop {
                if !store.wanted() {
                    store.1.wake.notified().await;
                }
                let before = store.read().generation;
                let wait = match read(&client, namespace.as_deref()).await {
                    Ok(pods) => {
                        store.set(Availability::Served, Some(pods));
                        EVERY
                    }
                    Err(a @ (Availability::NotServed | Availability::Forbidden)) => {
                        store.set(a, Some(HashMap::new()));
                        QUIET
                    }
                    Err(other) => {
                        // A transient failure keeps the last numbers.
                        store.set(other, None);
                        EVERY
                    }
                };
                if store.read().generation != before {
                    let _ = notify.try_send(super::stores::Changed("metrics"));
                }
                tokio::time::sleep(wait).await;
            }
        })
    };
    (store, handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pods_usage_sums_its_containers_and_ignores_what_does_not_parse() {
        let o = serde_json::json!({"containers": [
            {"name": "a", "usage": {"cpu": "150000000n", "memory": "2048Ki"}},
            {"name": "b", "usage": {"cpu": "50m", "memory": "1Mi"}},
            {"name": "c", "usage": {"cpu": "lots", "memory": null}}]});
        assert_eq!(
            usage_of(&o),
            Usage {
                cpu_m: 200,
                memory: 3 << 20
            }
        );
        assert_eq!(Availability::Forbidden.badge(), Some("metrics: forbidden"));
        assert_eq!(Availability::Served.badge(), None);
    }
}
