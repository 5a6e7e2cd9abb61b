//! Retention on SQLite: batched deletes of old rows (the statements and the glue
//! are shared: [`crate::sql::retention::retention_store`]).

use super::{query, query_as, SqliteStore};

crate::sql::retention::retention_store!(SqliteStore);
