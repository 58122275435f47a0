//! The console (ARCHITECTURE 7): model and update, views, themes and keymaps, and
//! the runtime that ties them to the terminal and the watch stores.

pub mod act;
pub mod app;
pub mod config;
pub mod data;
pub mod effects;
pub mod keymap;
pub mod model;
pub mod overlay;
pub mod runtime;
pub mod screen;
pub mod shell;
pub mod theme;
pub mod views;

// The models behind three screens, where they live now (under their
// screens), by the names the rest of the crate and the benches use.
pub use screen::editor::buffer as editor;
pub use screen::grid::model as grid;
pub use screen::task::graph as machine;
