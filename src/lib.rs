//! swarmdeck: a terminal console for Kubernetes stream-processing swarms and
//! state-machine Tasks. The library holds everything the binary, the tests and
//! the benchmarks share; `main.rs` only parses the command line and dispatches.

pub mod cli;
pub mod cluster;
pub mod commands;
pub mod domain;
pub mod embedded;
pub mod engine;
pub mod files;
pub mod ops;
pub mod rows;
pub mod sanitize;
pub mod settings;
pub mod time;
pub mod ui;
