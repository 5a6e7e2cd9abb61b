//! Switchyard's application, without HTTP: everything the server, the CLI, timers
//! and workflows share.
//!
//! [`Engine::start`] opens the pieces on a migrated store — the group-commit
//! [`writer`], the [`registry`] of compiled webhooks (and the config folder that
//! feeds it), the wake-up [`hub`] (and [`replicas`], which carries wake-ups and
//! registry changes between replicas), the [`outbox`] builder and the [`delivery`]
//! engine — and returns an [`Engine`] handle to call services on plus the
//! [`Background`] work to stop at shutdown. Services are grouped by resource:
//! [`ingest`] (resolve → verify → normalize → plan → commit), [`webhooks`],
//! [`interactive`], [`tasks`], [`questions`], [`deliveries`], [`workflows`] (the
//! workflow registry, fed by [`workflows_dir`]; registrations in
//! [`workflow_registrations`]), [`access`] (API
//! keys and who may call what) and [`audit`] (the log of configuration changes). Each takes plain
//! values and returns plain values or an [`Error`]; the HTTP layer only parses and
//! renders. [`otlp`] exports workflow runs' traces to an OpenTelemetry collector.

pub mod access;
pub mod activity;
mod app;
pub mod audit;
pub mod checkpoints;
pub mod config;
pub mod config_dir;
pub mod deliveries;
pub mod delivery;
pub mod error;
pub mod events;
pub mod executions;
pub mod folder;
mod gauges;
pub mod hub;
pub mod ingest;
pub mod interactive;
pub mod keys;
pub mod llm;
pub mod notices;
pub mod notify;
pub mod otlp;
pub mod outbox;
pub mod plan;
pub mod protect;
pub mod questions;
pub mod registry;
pub mod replicas;
pub mod retention;
pub mod runs;
pub mod stream;
pub mod supervise;
pub mod tasks;
pub mod telemetry;
pub mod time;
pub mod webhooks;
pub mod workflow_registrations;
pub mod workflows;
pub mod workflows_dir;
pub mod writer;

pub use app::{Background, Engine};
pub use config::Config;
pub use error::{Error, ErrorKind, Result, StartError};
pub use hub::{Changes, Hub};
pub use supervise::{WorkerHealth, Workers};
pub use writer::Writer;
