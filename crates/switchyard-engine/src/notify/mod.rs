//! The notification channels' building blocks that need the engine's keys or a
//! network client: signed decision links ([`links`]) and e-mail over SMTP
//! ([`email`]). The Slack message and the interactivity parser are pure and live
//! in `switchyard_core::notice`.

pub mod email;
pub mod links;
