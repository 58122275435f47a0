//! Pure domain logic: no Kubernetes client, no async runtime, no terminal.
//! Everything here is a function of its inputs and is tested exhaustively.

pub mod assignment;
pub mod handoff;
pub mod hash;
pub mod json;
pub mod manifest;
pub mod names;
pub mod quantity;
pub mod rbac;
pub mod secret;
pub mod selector;
pub mod swarm;
pub mod task;
pub mod workload;
