//! Whose clock decides. Replicas on one PostgreSQL database may disagree about the
//! time, so every time that decides who owns what — a claim's due-ness and deadline,
//! a lease's expiry, a heartbeat's extension, a retry's due time, a parked message's
//! release — is the database server's clock, written into the statement
//! ([`Moment::Db`]). SQLite serves one host, so there the process's clock is the
//! clock ([`Moment::Local`]). Callers give durations ("retry in 5 s"), never times,
//! so the store alone decides what "now" is.
//!
//! Stamps only shown to people (`received_at`, an attempt's `started_at`, a row's
//! `created_at`) use this process's clock, [`now_micros`].

use std::sync::atomic::{AtomicI64, Ordering};

/// A shift added to this process's clock, in microseconds: see [`set_test_clock_skew`].
static SKEW_MICROS: AtomicI64 = AtomicI64::new(0);

/// Microseconds since the Unix epoch by this process's clock, the store's unit of
/// time.
pub fn now_micros() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000) as i64 + SKEW_MICROS.load(Ordering::Relaxed)
}

/// Test only: shifts this process's clock ([`now_micros`]) by `seconds`, so a test
/// can run a replica whose clock is wrong and show that the database's clock
/// decides ownership. The binary sets it from `SWITCHYARD_TEST_CLOCK_SKEW_SECONDS`.
pub fn set_test_clock_skew(seconds: i64) {
    SKEW_MICROS.store(seconds.saturating_mul(1_000_000), Ordering::Relaxed);
}

/// The PostgreSQL server's time in Unix microseconds: the start of the current
/// statement, so one statement sees one time.
pub(crate) const DB_NOW: &str = "(EXTRACT(EPOCH FROM statement_timestamp()) * 1000000)::BIGINT";

/// A time a statement compares with or stamps: `micros` after "now", where "now"
/// is this process's clock (SQLite) or the database server's (PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Moment {
    /// A time read from this process's clock.
    Local(i64),
    /// The database's "now" plus this many microseconds.
    Db(i64),
}

impl Moment {
    /// This moment `micros` later.
    pub(crate) fn plus(self, micros: i64) -> Self {
        match self {
            Moment::Local(t) => Moment::Local(t.saturating_add(micros)),
            Moment::Db(d) => Moment::Db(d.saturating_add(micros)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_add_up() {
        assert_eq!(Moment::Local(10).plus(5), Moment::Local(15));
        assert_eq!(Moment::Db(0).plus(5).plus(-2), Moment::Db(3));
    }
}
