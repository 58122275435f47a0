//! One module per screen: each owns its state, its keys and its view
//! (`table`, `resource`, `yaml`, `grid`, `task`, `editor`, `logs`,
//! `overview`), and the
//! model behind it (`grid/model.rs`, `task/graph.rs`, `editor/buffer.rs`).
//! `app.rs` holds the model and dispatches keys and events to them, after
//! the overlays (`ui/overlay/`: palette, prompt, confirmation, filter,
//! help); `views.rs` draws the frame around them (header, footer, help,
//! ASCII mode). A new screen is one new module here, a `Screen` variant and
//! its `Mode`.

pub mod editor;
pub mod grid;
pub mod logs;
pub mod overview;
pub mod resource;
pub mod table;
pub mod task;
pub mod yaml;
