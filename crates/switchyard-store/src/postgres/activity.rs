//! Activity per step over a window (the statements and the glue are shared:
//! [`crate::sql::activity::activity_store`]).

use super::{query_as, PgStore};

crate::sql::activity::activity_store!(PgStore);
