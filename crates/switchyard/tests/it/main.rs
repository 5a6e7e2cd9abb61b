//! Switchyard's integration tests, one binary (matklad, "Delete Cargo Integration
//! Tests"). Every suite runs on SQLite and on PostgreSQL (`both_stores!`); the
//! PostgreSQL half reads its server from `SWITCHYARD_TEST_PG_URL` and fails without it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod activity;
mod architecture;
mod browser;
mod browser_events;
mod browser_ops;
mod browser_webhooks;
mod bulk_retry;
mod checkpoints;
mod cli;
mod config;
mod crash;
mod delivery;
mod events;
mod hitl;
mod http;
mod hygiene;
mod keys;
mod llm;
mod observability;
mod openapi;
mod otlp;
mod protections;
mod receiver;
mod refusals;
mod replicas;
mod routing;
mod runs;
mod security;
mod seed000;
mod send;
mod smtp;
mod story;
mod stream;
mod ui;
mod ui_ops;
mod ui_webhooks;
mod workflow_examples;
mod workflows_api;
