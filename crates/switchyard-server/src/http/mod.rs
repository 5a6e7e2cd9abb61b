//! The HTTP layer: axum handlers grouped by resource, each parsing its request,
//! calling one engine service and answering a typed view; the error type and
//! extractors every handler shares; the router and its layers.

pub mod api;
pub mod auth;
pub mod error;
pub mod ingest;
pub mod ops;
pub mod views;
