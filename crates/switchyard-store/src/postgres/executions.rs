//! Executions (seed 000) on PostgreSQL: an event and its effect on the execution
//! in one transaction (the glue is shared: [`crate::sql::executions::execution_store`]).

use super::{query, query_as, PgStore};

crate::sql::executions::execution_store!(PgStore);
