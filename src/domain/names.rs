//! swarmdeck's own labels and annotations: every `swarmdeck.io/…` name the
//! engine, the console, the command line and the embedded world read or
//! write, in one place.

/// Label on a swarm's ConfigMaps, StatefulSet and pods: the swarm's name.
pub const SWARM_LABEL: &str = "swarmdeck.io/swarm";

/// Annotation on the jobs ConfigMap: the label its workers carry as `app=`.
pub const WATCH_LABEL_ANNOTATION: &str = "swarmdeck.io/watch-label";
/// Annotation on the jobs ConfigMap: the ConfigMap the assignment goes to.
pub const OUTPUT_CONFIGMAP_ANNOTATION: &str = "swarmdeck.io/output-configmap";
/// Annotation on the jobs ConfigMap: how workers pick up a new assignment
/// (`rolling-restart` or `hot-reload`).
pub const REFRESH_ANNOTATION: &str = "swarmdeck.io/refresh";
/// Annotation on the jobs ConfigMap: streams that get a worker of their own
/// (comma-separated).
pub const DEDICATED_ANNOTATION: &str = "swarmdeck.io/dedicated";
/// Annotation on the jobs ConfigMap: a rebalance was asked for.
pub const REBALANCE_ANNOTATION: &str = "swarmdeck.io/rebalance-requested";
/// Annotation on the jobs ConfigMap: the worker count asked for, which the
/// engine sets on the StatefulSet once the new workers are granted their
/// streams (so that they never start without them).
pub const SCALE_ANNOTATION: &str = "swarmdeck.io/scale-requested";
/// When a scale was asked for (RFC 3339); a rebalance request's value is
/// its time.
pub const SCALE_AT_ANNOTATION: &str = "swarmdeck.io/scale-requested-at";
/// Who asked for the scale, and for the rebalance.
pub const SCALE_BY_ANNOTATION: &str = "swarmdeck.io/scale-requested-by";
pub const REBALANCE_BY_ANNOTATION: &str = "swarmdeck.io/rebalance-requested-by";
/// Annotation on the jobs ConfigMap: `strict` (default) or `fast` handoff.
pub const HANDOFF_MODE_ANNOTATION: &str = "swarmdeck.io/handoff";

/// Annotation on the output ConfigMap: workers still to refresh.
pub const PENDING_ANNOTATION: &str = "swarmdeck.io/pending-refresh";
/// Annotation on the output ConfigMap, written with each assignment: the
/// phase and the streams in handoff, so that a new leader finishes them.
pub const HANDOFF_STATE_ANNOTATION: &str = "swarmdeck.io/handoff-state";

/// Annotation on a worker pod: the assignment version it has loaded.
pub const CONFIG_VERSION_ANNOTATION: &str = "swarmdeck.io/config-version";
/// Annotation on a simulated worker pod: its last heartbeat.
pub const HEARTBEAT_ANNOTATION: &str = "swarmdeck.io/heartbeat";

/// Annotation on a Task: the state it is being taken to.
pub const TARGET_ANNOTATION: &str = "swarmdeck.io/target-state";
/// Annotation on a Task: when its target was last asked for, so that asking
/// again for a target the engine gave up on starts afresh.
pub const REQUESTED_AT_ANNOTATION: &str = "swarmdeck.io/target-requested-at";
/// Annotation on a Task: take the recovery path out of `error` on the way
/// to the target (set by `task set-state --recover`).
pub const RECOVER_ANNOTATION: &str = "swarmdeck.io/recover";
