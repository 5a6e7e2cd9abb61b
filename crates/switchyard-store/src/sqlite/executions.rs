//! Executions (seed 000) on SQLite: an event and its effect on the execution in
//! one transaction (the glue is shared: [`crate::sql::executions::execution_store`]).

use super::{query, query_as, SqliteStore};

crate::sql::executions::execution_store!(SqliteStore);
