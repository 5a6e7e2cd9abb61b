//! Checkpoints on SQLite: each change one transaction on the single writer (the glue
//! is shared: [`crate::sql::checkpoints::checkpoint_store`]).

use super::{now, query, query_as, write_effects, SqliteStore};

// One writer: a claim needs no row locks.
crate::sql::checkpoints::checkpoint_store!(SqliteStore, "");
