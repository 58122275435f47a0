//! The console (ARCHITECTURE 7): model and update, views, themes and keymaps, and
//! the runtime that ties them to the terminal and the watch stores.

pub mod act;
pub mod app;
pub mod config;
pub mod data;
pub mod editor;
pub mod effects;
pub mod grid;
pub mod keymap;
pub mod machine;
pub mod overlay;
pub mod runtime;
pub mod screen;
pub mod theme;
pub mod views;
