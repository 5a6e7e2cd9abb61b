//! Switchyard's domain: validated identifiers, the normalized event model, and the
//! provider schemes that prove a webhook is genuine and turn it into an event, and
//! the routing rules (seed 002's webhook configs) that decide what an event triggers,
//! and the write-back requests (comments posted to provider APIs) built from events.
//!
//! Architecture invariant: this crate depends on neither a web framework nor a
//! database driver. It sees a request as headers, a query string and raw bytes
//! ([`provider::Inbound`]) and answers with plain data, so every scheme can be
//! tested, property-tested and fuzzed without a server.

// `unwrap()` stays out of the library (see the workspace lints); tests may use it, as
// a failed unwrap there is a failed test.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod checkpoint;
pub mod event;
pub mod feedback;
pub mod ids;
pub mod notice;
pub mod provider;
pub mod providers;
pub mod routing;
pub mod sig;
pub mod sign;
pub mod workflow;
pub mod writeback;

pub use event::{Normalized, Reply};
pub use ids::{delivery_key, EventType, IdError, ProviderName, WebhookId, MAX_DELIVERY_ID};
pub use provider::{Inbound, ParseError, Provider, Secret, VerifyError};
