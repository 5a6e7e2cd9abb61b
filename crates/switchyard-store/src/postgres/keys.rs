//! API keys on PostgreSQL (the glue is shared: [`crate::sql::keys::key_store`]).

use super::{audited, query_as, write_audit, PgStore};

crate::sql::keys::key_store!(PgStore);
