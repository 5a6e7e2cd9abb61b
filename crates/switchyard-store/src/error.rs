//! What can go wrong in the store, without the database library's types: callers
//! see a [`DbErrorKind`] (can retrying help?) and a message, and the library's error
//! stays reachable only as an opaque `source()` for logs.

use std::error::Error as StdError;
use std::fmt;

/// What can go wrong in the store. Callers map these to opaque 500s (or 503 when the
/// database is unreachable); the detail goes to the log, never to a sender.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A statement failed.
    #[error("database error ({kind}): {source}")]
    Db {
        kind: DbErrorKind,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    #[error("migration error: {0}")]
    Migrate(#[source] Box<dyn StdError + Send + Sync>),
    #[error("invalid database URL: {0}")]
    Url(String),
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    /// A row the store cannot read back (an unknown status text, a vanished row).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A cursor this store did not make (a client's `Last-Event-ID`).
    #[error("invalid cursor: {0:?}")]
    InvalidCursor(String),
}

/// Why a statement failed, as far as a caller needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorKind {
    /// The database could not be reached or the connection broke (pool timeout,
    /// I/O, server shutting down). Retrying later may succeed.
    Unavailable,
    /// Lock contention: SQLite busy/locked, a PostgreSQL serialization failure or
    /// deadlock. Retrying may succeed.
    Busy,
    /// A constraint refused the row (unique, foreign key, not null, check).
    /// Retrying the same write cannot succeed.
    Constraint,
    /// Anything else (bad SQL, a column that does not decode).
    Other,
}

impl fmt::Display for DbErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DbErrorKind::Unavailable => "unavailable",
            DbErrorKind::Busy => "busy",
            DbErrorKind::Constraint => "constraint",
            DbErrorKind::Other => "other",
        })
    }
}

impl StoreError {
    /// True when the same call may succeed if tried again later: the database was
    /// unreachable or busy. A constraint violation or a corrupt row is not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Db {
                kind: DbErrorKind::Unavailable | DbErrorKind::Busy,
                ..
            }
        )
    }

    /// The kind of a database error; `None` for the other variants.
    pub fn db_kind(&self) -> Option<DbErrorKind> {
        match self {
            StoreError::Db { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Classifies a database library error. Crate-private: a `From` impl would put the
/// library's type in the public interface.
pub(crate) fn from_sqlx(e: sqlx::Error) -> StoreError {
    StoreError::Db {
        kind: classify(&e),
        source: Box::new(e),
    }
}

fn classify(e: &sqlx::Error) -> DbErrorKind {
    use sqlx::error::ErrorKind;
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => DbErrorKind::Unavailable,
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation
            | ErrorKind::ForeignKeyViolation
            | ErrorKind::NotNullViolation
            | ErrorKind::CheckViolation => DbErrorKind::Constraint,
            _ => {
                let code = db.code();
                if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                    sqlite_code(code.as_deref())
                } else {
                    postgres_code(code.as_deref())
                }
            }
        },
        _ => DbErrorKind::Other,
    }
}

/// SQLite result codes (numbers; the low byte of an extended code is its primary
/// code).
fn sqlite_code(code: Option<&str>) -> DbErrorKind {
    match code.and_then(|c| c.parse::<u32>().ok()).map(|n| n & 0xff) {
        // SQLITE_BUSY and SQLITE_LOCKED, with their extended codes.
        Some(5 | 6) => DbErrorKind::Busy,
        _ => DbErrorKind::Other,
    }
}

/// PostgreSQL SQLSTATEs.
fn postgres_code(code: Option<&str>) -> DbErrorKind {
    match code.unwrap_or_default() {
        // serialization_failure, deadlock_detected, lock_not_available
        "40001" | "40P01" | "55P03" => DbErrorKind::Busy,
        // admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections
        "57P01" | "57P02" | "57P03" | "53300" => DbErrorKind::Unavailable,
        // Class 08: connection exceptions.
        c if c.starts_with("08") => DbErrorKind::Unavailable,
        _ => DbErrorKind::Other,
    }
}

pub(crate) fn from_migrate(e: sqlx::migrate::MigrateError) -> StoreError {
    match e {
        sqlx::migrate::MigrateError::Execute(e) => from_sqlx(e),
        e => StoreError::Migrate(Box::new(e)),
    }
}

/// `.db()?` on a database library result: its error classified into a
/// [`StoreError`]. Used in place of `?`'s `From`, which would be public.
pub(crate) trait DbResultExt<T> {
    fn db(self) -> Result<T>;
}

impl<T> DbResultExt<T> for std::result::Result<T, sqlx::Error> {
    fn db(self) -> Result<T> {
        self.map_err(from_sqlx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_classify() {
        assert_eq!(sqlite_code(Some("5")), DbErrorKind::Busy);
        assert_eq!(sqlite_code(Some("517")), DbErrorKind::Busy); // SQLITE_BUSY_SNAPSHOT
        assert_eq!(sqlite_code(Some("2067")), DbErrorKind::Other);
        assert_eq!(sqlite_code(None), DbErrorKind::Other);
        assert_eq!(postgres_code(Some("40001")), DbErrorKind::Busy);
        assert_eq!(postgres_code(Some("08006")), DbErrorKind::Unavailable);
        assert_eq!(postgres_code(Some("53300")), DbErrorKind::Unavailable);
        assert_eq!(postgres_code(Some("42P01")), DbErrorKind::Other);
        assert_eq!(postgres_code(None), DbErrorKind::Other);
    }

    #[test]
    fn transience() {
        assert!(from_sqlx(sqlx::Error::PoolTimedOut).is_transient());
        assert!(!from_sqlx(sqlx::Error::RowNotFound).is_transient());
        assert!(!StoreError::Corrupt("x".into()).is_transient());
        let e = StoreError::Db {
            kind: DbErrorKind::Constraint,
            source: "unique".into(),
        };
        assert!(!e.is_transient());
        assert_eq!(e.db_kind(), Some(DbErrorKind::Constraint));
    }
}
