//! The HTTP layer: axum handlers grouped by resource, each parsing its request,
//! calling one engine service and answering a typed view; the error type and
//! extractors every handler shares; the layers around every route.

pub mod api;
pub mod auth;
pub mod error;
pub mod hitl;
pub mod ingest;
pub mod layers;
pub mod openapi;
pub mod ops;
pub mod seed000;
pub mod ui;
pub mod views;
