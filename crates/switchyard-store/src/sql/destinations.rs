//! Destinations: where messages go, with their limits, signing secrets and on/off
//! state. Moving a destination's messages (parking) lives with each backend.

use super::Stmt;
use crate::clock::Moment;
use crate::model::{Destination, Park};
use crate::state::DbText;
use crate::PARKED;

const DESTINATION_COLUMNS: &str =
    "destination_id, url, kind, max_concurrency, rate_per_second, burst, fifo, secret, \
     previous_secret, previous_expires_at, disabled_at, disabled_reason, created_at, updated_at";

/// Inserts `d`; with `replace` an existing row takes its settings (but keeps its
/// `created_at`), otherwise an existing row wins.
pub(crate) fn insert(d: &Destination, replace: bool) -> Stmt<'_> {
    let mut s = Stmt::new(format!("INSERT INTO destinations ({DESTINATION_COLUMNS}) "));
    s.push_values([d], |d| {
        vec![
            d.destination_id.as_str().into(),
            d.url.as_str().into(),
            d.kind.to_db().into(),
            d.max_concurrency.into(),
            d.rate_per_second.into(),
            d.burst.into(),
            d.fifo.into(),
            d.secret.as_deref().into(),
            d.previous_secret.as_deref().into(),
            d.previous_expires_at.into(),
            d.disabled_at.into(),
            d.disabled_reason.as_deref().into(),
            d.created_at.into(),
            d.updated_at.into(),
        ]
    });
    if replace {
        s.push(
            " ON CONFLICT (destination_id) DO UPDATE SET url = excluded.url, \
             kind = excluded.kind, max_concurrency = excluded.max_concurrency, \
             rate_per_second = excluded.rate_per_second, burst = excluded.burst, \
             fifo = excluded.fifo, secret = excluded.secret, \
             previous_secret = excluded.previous_secret, \
             previous_expires_at = excluded.previous_expires_at, \
             disabled_at = excluded.disabled_at, disabled_reason = excluded.disabled_reason, \
             updated_at = excluded.updated_at",
        );
    } else {
        s.push(" ON CONFLICT (destination_id) DO NOTHING");
    }
    s
}

pub(crate) fn get(destination_id: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {DESTINATION_COLUMNS} FROM destinations WHERE destination_id = "
    ));
    s.push_bind(destination_id);
    s
}

pub(crate) fn list() -> Stmt<'static> {
    Stmt::new(format!(
        "SELECT {DESTINATION_COLUMNS} FROM destinations ORDER BY destination_id"
    ))
}

/// Sets (with a reason) or clears a destination's disabled state.
pub(crate) fn set_disabled<'a>(
    destination_id: &'a str,
    reason: Option<&'a str>,
    now: Moment,
) -> Stmt<'a> {
    let mut s = Stmt::new("UPDATE destinations SET disabled_at = ");
    match reason {
        Some(_) => s.push_bind(now),
        None => s.push("NULL"),
    };
    s.push(", disabled_reason = ")
        .push_bind(reason)
        .push(", updated_at = ")
        .push_bind(now)
        .push(" WHERE destination_id = ")
        .push_bind(destination_id);
    s
}

/// Disables a destination that is enabled (a 410 Gone), keeping an earlier reason.
pub(crate) fn disable_if_enabled<'a>(
    destination_id: &'a str,
    reason: &'a str,
    now: Moment,
) -> Stmt<'a> {
    let mut s = Stmt::new("UPDATE destinations SET disabled_at = ");
    s.push_bind(now)
        .push(", disabled_reason = ")
        .push_bind(reason)
        .push(", updated_at = ")
        .push_bind(now)
        .push(" WHERE destination_id = ")
        .push_bind(destination_id)
        .push(" AND disabled_at IS NULL");
    s
}

/// Where [`crate::DestinationStore::park_destination`] moves messages: [`PARKED`],
/// or `now` plus the time rounded up to the second.
pub(crate) fn push_park_until(s: &mut Stmt<'_>, until: Park, now: Moment) {
    match until {
        Park::UntilEnabled => s.push_bind(PARKED),
        Park::For(micros) => s
            .push("((")
            .push_bind(now.plus(micros))
            .push(" + 999999) / 1000000 * 1000000)"),
    };
}
