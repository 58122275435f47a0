//! One module per screen: each owns its state, its keys and its view
//! (`table`, `resource`, `yaml`, `grid`, `task`, `editor`, `logs`). `app.rs` holds what
//! screens share (the model, the palette, prompts, confirmations) and
//! dispatches keys and events to them; `views.rs` draws the frame around
//! them (header, footer, help, ASCII mode). A new screen is one new module
//! here, a `Screen` variant and its `Mode`.

pub mod editor;
pub mod grid;
pub mod logs;
pub mod resource;
pub mod table;
pub mod task;
pub mod yaml;
