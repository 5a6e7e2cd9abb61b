//! Workflow registrations and runs on SQLite (the glue is shared:
//! [`crate::sql::runs::run_store`]).

use super::{audited, now, query, query_as, write_effects, SqliteStore};

// SQLite: one writer, so a claim needs no row locks.
crate::sql::runs::run_store!(SqliteStore, sqlx::SqliteConnection, "");
