//! The reconcile engine (ARCHITECTURE 5): every change is first a plan, then acts
//! with optimistic concurrency, then is verified. This module holds the swarm
//! controller; its pure part (`swarm::desired_state`) is tested without a
//! cluster, the rest against the embedded cluster through `kube::Client`.

pub mod audit;
pub mod lease;
pub mod run;
pub mod swarm;
pub mod task;
pub mod unit;

/// Engine errors, written for the operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{object}: {}", crate::cluster::explain(source))]
    Kube {
        object: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "swarm `{swarm}`: ConfigMap {namespace}/{configmap} key config.yml does not parse: {message}; fix the jobs list (nothing was written)"
    )]
    JobsConfig {
        swarm: String,
        namespace: String,
        configmap: String,
        message: String,
    },
    /// `swarm` names the object: a swarm, or a Task as namespace/name.
    #[error("{swarm}: {message}")]
    Invalid { swarm: String, message: String },
    #[error(
        "swarm `{name}` is not in namespace {namespace} (swarms there: {}); give -n NAMESPACE, or label its jobs ConfigMap swarmdeck.io/swarm={name}",
        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
    )]
    UnknownSwarm {
        name: String,
        namespace: String,
        known: Vec<String>,
    },
    #[error(
        "swarm `{swarm}`: gave up after {attempts} attempts because the output ConfigMap kept changing under us; nothing of ours overwrote those changes"
    )]
    Contended { swarm: String, attempts: u32 },
    #[error(
        "swarm `{swarm}`: worker {worker} did not become ready with its new jobs within {seconds} s ({waiting}); the engine stopped refreshing (the others are untouched)"
    )]
    Timeout {
        swarm: String,
        worker: String,
        seconds: u64,
        /// What the engine was waiting for.
        waiting: String,
    },
    #[error(
        "swarm `{swarm}`: worker {worker} did not confirm the release of {streams} streams within {seconds} s ({waiting}); they stay in no worker's list until it does, so none runs twice"
    )]
    ReleaseTimeout {
        swarm: String,
        worker: String,
        streams: usize,
        seconds: u64,
        waiting: String,
    },
    #[error(
        "swarm `{swarm}`: this engine lost the lease swarmdeck-engine in {namespace} and stopped; the engine that leads now carries on"
    )]
    Superseded { swarm: String, namespace: String },
    /// A unit that failed part way: what it changed, what was put back,
    /// and what is left changed.
    #[error("{0}")]
    Unit(Box<unit::UnitFailure>),
    #[error(
        "swarm `{swarm}`: the StatefulSet was scaled to {replicas} while {worker} was refreshing; re-planning for {replicas} workers"
    )]
    Rescaled {
        swarm: String,
        worker: String,
        replicas: u32,
    },
}

impl Error {
    pub fn kube(object: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            object: object.into(),
            source,
        }
    }
}
