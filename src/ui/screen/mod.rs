//! One module per screen that has grown its own state, keys and view (the
//! log screen first). `app.rs` dispatches events to them and holds what
//! screens share.

pub mod logs;
