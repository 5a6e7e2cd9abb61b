//! Workflow registrations and runs on PostgreSQL (the glue is shared:
//! [`crate::sql::runs::run_store`]).

use super::{audited, now, query, query_as, write_effects, PgStore};

// PostgreSQL: replicas claim runs concurrently, each taking rows no other claim holds.
crate::sql::runs::run_store!(PgStore, sqlx::PgConnection, " FOR UPDATE SKIP LOCKED");
