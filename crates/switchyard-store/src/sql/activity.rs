//! Activity over a recent window, a count per step (the dashboard's overview and
//! `GET /api/activity`): events received, requests refused, delivery attempts (how
//! many failed, their summed latency). Each statement groups one table's rows by
//! `(time - since) / step`, using the time indexes retention made (migration 0017),
//! so a window costs what it holds, not the table. Integer division truncates the
//! same way on both databases, and the window's rows are never before `since`.

use crate::model::ActivityCounts;
use crate::sql::Stmt;

/// `SELECT bucket, count…` over `table` for `[since, until)`, by `column`.
fn grouped(
    select: &str,
    table: &str,
    column: &str,
    since: i64,
    until: i64,
    step: i64,
) -> Stmt<'static> {
    let mut s = Stmt::new(format!("SELECT ({column} - "));
    s.push_bind(since)
        .push(") / ")
        .push_bind(step)
        .push(&format!(
            " AS bucket, {select} FROM {table} WHERE {column} >= "
        ))
        .push_bind(since)
        .push(&format!(" AND {column} < "))
        .push_bind(until)
        .push(" GROUP BY 1 ORDER BY 1");
    s
}

/// Events received per step.
pub(crate) fn events(since: i64, until: i64, step: i64) -> Stmt<'static> {
    grouped("COUNT(*)", "events", "received_at", since, until, step)
}

/// Requests refused per step.
pub(crate) fn rejections(since: i64, until: i64, step: i64) -> Stmt<'static> {
    grouped("COUNT(*)", "rejections", "at", since, until, step)
}

/// Delivery attempts per step: how many, how many failed (no 2xx answer), and
/// their latencies summed (PostgreSQL's `SUM` of a bigint is a numeric, hence the
/// casts).
pub(crate) fn attempts(since: i64, until: i64, step: i64) -> Stmt<'static> {
    grouped(
        "COUNT(*), CAST(SUM(CASE WHEN status_code >= 200 AND status_code < 300 THEN 0 \
         ELSE 1 END) AS BIGINT), CAST(SUM(latency_micros) AS BIGINT)",
        "delivery_attempts",
        "started_at",
        since,
        until,
        step,
    )
}

/// Puts one statement's rows into `out` (one entry per step, in order).
pub(crate) fn fill<T>(
    out: &mut [ActivityCounts],
    rows: impl IntoIterator<Item = (i64, T)>,
    put: impl Fn(&mut ActivityCounts, T),
) {
    for (bucket, values) in rows {
        if let Some(c) = usize::try_from(bucket).ok().and_then(|b| out.get_mut(b)) {
            put(c, values);
        }
    }
}

/// `ActivityStore` for a backend whose module has `query_as` and a `reader` pool.
macro_rules! activity_store {
    ($store:ty) => {
        use crate::error::DbResultExt;
        use crate::model::ActivityCounts;
        use crate::sql::activity as sql;
        use crate::{ActivityStore, Result};

        #[async_trait::async_trait]
        impl ActivityStore for $store {
            async fn activity(
                &self,
                since: i64,
                step: i64,
                steps: usize,
            ) -> Result<Vec<ActivityCounts>> {
                let step = step.max(1);
                let until = since.saturating_add(step.saturating_mul(steps as i64));
                let mut out: Vec<ActivityCounts> = (0..steps)
                    .map(|i| ActivityCounts {
                        at: since + step * i as i64,
                        ..ActivityCounts::default()
                    })
                    .collect();
                let rows: Vec<(i64, i64)> = query_as(&sql::events(since, until, step))
                    .fetch_all(&self.reader)
                    .await
                    .db()?;
                sql::fill(&mut out, rows, |c, n| c.events = n);
                let rows: Vec<(i64, i64)> = query_as(&sql::rejections(since, until, step))
                    .fetch_all(&self.reader)
                    .await
                    .db()?;
                sql::fill(&mut out, rows, |c, n| c.rejected = n);
                let rows: Vec<(i64, i64, i64, i64)> = query_as(&sql::attempts(since, until, step))
                    .fetch_all(&self.reader)
                    .await
                    .db()?;
                sql::fill(
                    &mut out,
                    rows.into_iter().map(|(b, n, f, l)| (b, (n, f, l))),
                    |c, (n, f, l)| {
                        c.attempts = n;
                        c.failed_attempts = f;
                        c.latency_micros = l;
                    },
                );
                Ok(out)
            }
        }
    };
}
pub(crate) use activity_store;
