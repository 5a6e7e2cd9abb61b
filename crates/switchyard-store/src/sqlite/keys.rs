//! API keys on SQLite (the glue is shared: [`crate::sql::keys::key_store`]).

use super::{audited, query_as, write_audit, SqliteStore};

crate::sql::keys::key_store!(SqliteStore);
