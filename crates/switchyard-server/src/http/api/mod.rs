//! The admin API under `/api`, behind API keys and their scopes
//! ([`crate::http::auth`]), one module per resource.

pub mod agents;
pub mod audit;
pub mod checkpoints;
pub mod commands;
pub mod deliveries;
pub mod destinations;
pub mod events;
pub mod interactive;
pub mod keys;
pub mod questions;
pub mod runs;
pub mod stream;
pub mod tasks;
pub mod webhooks;
pub mod workflows;

use crate::http::error::ApiError;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

/// A `status` filter: one of `all` by its spelling, else 400 `invalid_status`
/// listing them.
pub fn check_status<T>(status: Option<&str>, all: &[T]) -> Result<Option<T>, ApiError>
where
    T: Copy + std::str::FromStr + std::fmt::Display,
{
    let Some(s) = status else {
        return Ok(None);
    };
    s.parse::<T>().map(Some).map_err(|_| {
        let names: Vec<String> = all.iter().map(ToString::to_string).collect();
        let list = match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        };
        ApiError::bad_request("invalid_status", format!("status must be {list}"))
    })
}

/// A time filter (`since`, `until`): RFC 3339, as Unix micros; 400
/// `invalid_query` naming the parameter otherwise.
pub fn check_time(param: &'static str, v: Option<&str>) -> Result<Option<i64>, ApiError> {
    v.map(|s| {
        switchyard_engine::time::parse_rfc3339(s).ok_or_else(|| {
            ApiError::bad_request("invalid_query", format!("{param} must be an RFC 3339 time"))
        })
    })
    .transpose()
}

/// A page size: 1 to 500, 50 when not given.
pub fn check_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// A `cursor` as given: one of this list's ids (`{prefix}_` and hex, as
/// `next_cursor` hands them out), else 400 — a cursor that matches nothing would
/// silently page from an arbitrary place.
pub fn check_cursor(prefix: &str, cursor: Option<String>) -> Result<Option<String>, ApiError> {
    match cursor {
        None => Ok(None),
        Some(c) => {
            let ok = c.len() <= 64
                && c.strip_prefix(prefix)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .is_some_and(|id| {
                        !id.is_empty() && id.chars().all(|ch| ch.is_ascii_alphanumeric())
                    });
            if ok {
                Ok(Some(c))
            } else {
                Err(ApiError::bad_request(
                    "invalid_cursor",
                    format!("cursor must be a next_cursor this list gave ({prefix}_…)"),
                ))
            }
        }
    }
}

/// The cursor of the next page: the last row's id when the page is full.
pub fn next_cursor<T>(rows: &[T], limit: i64, id: impl Fn(&T) -> &str) -> Option<String> {
    (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| id(r).to_owned()))
        .flatten()
}
