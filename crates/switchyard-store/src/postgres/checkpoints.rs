//! Checkpoints on PostgreSQL: each change one transaction; a transition updates only the
//! version it read, so of two concurrent ones exactly one applies (the glue is shared:
//! [`crate::sql::checkpoints::checkpoint_store`]).

use super::{now, query, query_as, write_effects, PgStore};

// Replicas claim timers concurrently: each takes rows no other claim holds.
crate::sql::checkpoints::checkpoint_store!(PgStore, " FOR UPDATE SKIP LOCKED");
