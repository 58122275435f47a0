//! The console's watch stores of the rows it shows ([`crate::rows`]), and
//! what the swarm columns read from them.

use std::collections::HashMap;

pub use crate::rows::*;

use crate::cluster::stores::Store;

/// All stores the console reads.
#[derive(Clone, Default)]
pub struct Stores {
    pub pods: Store<Row>,
    pub sts: Store<Row>,
    pub cms: Store<Row>,
    pub tasks: Store<Row>,
    pub events: Store<Row>,
    /// What the pods use (metrics.k8s.io), read apart from the watches.
    pub metrics: crate::cluster::metrics::MetricsStore,
}

impl Stores {
    /// Has every watch delivered its first complete list?
    pub fn synced(&self) -> bool {
        [&self.pods, &self.sts, &self.cms, &self.tasks, &self.events]
            .iter()
            .all(|s| s.read().synced)
    }

    /// The UI is about to read every store: a change from now on notifies
    /// again. Called before reading, never after: a change made between a
    /// read and a late `seen` would be neither shown nor notified (the
    /// first list's last pages stayed off screen until the next tick).
    pub fn seen_all(&self) {
        for s in [&self.pods, &self.sts, &self.cms, &self.tasks, &self.events] {
            s.seen();
        }
    }

    pub fn get(&self, kind: ViewKind) -> Option<&Store<Row>> {
        Some(match kind {
            ViewKind::Pods => &self.pods,
            ViewKind::StatefulSets => &self.sts,
            ViewKind::ConfigMaps => &self.cms,
            ViewKind::Tasks => &self.tasks,
            ViewKind::Events => &self.events,
            ViewKind::Audit => return None,
        })
    }
}

/// Every worker's entry, from the `config.yml` of the output ConfigMaps, by
/// (namespace, pod).
pub fn worker_entries(cms: &Store<Row>) -> HashMap<(String, String), WorkerEntry> {
    let st = cms.read();
    // The refresh policy of each output ConfigMap, from its swarm's jobs ConfigMap.
    let mut policy = HashMap::new();
    for row in st.rows.values() {
        if let Extra::Jobs(info) = &row.extra
            && let Some(s) = &info.swarm
        {
            policy.insert(
                (s.namespace.clone(), s.output_config_map.clone()),
                s.refresh,
            );
        }
    }
    let mut out = HashMap::new();
    for row in st.rows.values() {
        if let Extra::WorkerConfig(cfg, pending, _) = &row.extra {
            let refresh = policy
                .get(&(row.namespace.clone(), row.name.clone()))
                .copied()
                .unwrap_or(crate::domain::swarm::RefreshPolicy::RestartPod);
            for (worker, entry) in &cfg.workloads {
                out.insert(
                    (row.namespace.clone(), worker.clone()),
                    WorkerEntry {
                        jobs: entry.jobs.len(),
                        version: entry.version,
                        pending: pending.0.get(worker).cloned(),
                        refresh,
                    },
                );
            }
        }
    }
    out
}
