//! Destinations on SQLite, and moving their messages out of (and back into) the
//! claim's way.

use super::{audited, now, query, query_as, write_audit, SqliteStore};
use crate::clock::Moment;
use crate::error::DbResultExt;
use crate::model::{Destination, NewAudit, Park};
use crate::rows::{self, DestinationRow};
use crate::sql::destinations::{self as sql, push_park_until};
use crate::sql::Stmt;
use crate::{DestinationStore, Result, PARKED};

/// Parks (`disabled`) a destination's pending messages at [`PARKED`], so claims
/// never walk past them, or makes parked ones due `now`.
pub(super) async fn park_disabled(
    conn: &mut sqlx::SqliteConnection,
    destination_id: &str,
    disabled: bool,
    now: Moment,
) -> Result<()> {
    let mut s = Stmt::new("UPDATE outbox SET next_attempt_at = ");
    if disabled {
        s.push_bind(PARKED)
            .push(" WHERE next_attempt_at < ")
            .push_bind(PARKED);
    } else {
        s.push_bind(now)
            .push(" WHERE next_attempt_at >= ")
            .push_bind(PARKED);
    }
    s.push(" AND status = 'pending' AND destination_id = ")
        .push_bind(destination_id);
    query(&s).execute(&mut *conn).await.db()?;
    Ok(())
}

#[async_trait::async_trait]
impl DestinationStore for SqliteStore {
    async fn ensure_destination(&self, d: &Destination) -> Result<()> {
        let s = sql::insert(d, false);
        query(&s).execute(&self.writer).await.db()?;
        Ok(())
    }

    async fn put_destination(&self, d: &Destination, audit: &NewAudit) -> Result<()> {
        audited(&self.writer, &sql::insert(d, true), audit).await?;
        Ok(())
    }

    async fn get_destination(&self, destination_id: &str) -> Result<Option<Destination>> {
        let s = sql::get(destination_id);
        let row: Option<DestinationRow> = query_as(&s).fetch_optional(&self.reader).await.db()?;
        rows::one(row)
    }

    async fn list_destinations(&self) -> Result<Vec<Destination>> {
        let s = sql::list();
        let rows: Vec<DestinationRow> = query_as(&s).fetch_all(&self.reader).await.db()?;
        rows::all(rows)
    }

    async fn park_destination(&self, destination_id: &str, until: Park) -> Result<u64> {
        // Only unclaimed messages move; a held one finishes (or its claim runs out)
        // first. With one writer nothing claims between the test and the update.
        let now = now();
        let mut s = Stmt::new("UPDATE outbox SET next_attempt_at = ");
        push_park_until(&mut s, until, now);
        s.push(" WHERE destination_id = ")
            .push_bind(destination_id)
            .push(" AND status = 'pending' AND next_attempt_at < ");
        push_park_until(&mut s, until, now);
        s.push(" AND (claimed_until IS NULL OR claimed_until < ")
            .push_bind(now)
            .push(")");
        if until == Park::UntilEnabled {
            // Waiting for the destination to be enabled: only while it is disabled,
            // so a caller's stale view cannot park what an enable just released.
            s.push(" AND EXISTS (SELECT 1 FROM destinations WHERE destination_id = ")
                .push_bind(destination_id)
                .push(" AND disabled_at IS NOT NULL)");
        }
        Ok(query(&s).execute(&self.writer).await.db()?.rows_affected())
    }

    async fn set_destination_disabled(
        &self,
        destination_id: &str,
        reason: Option<&str>,
        audit: &NewAudit,
    ) -> Result<bool> {
        let now = now();
        let s = sql::set_disabled(destination_id, reason, now);
        let mut tx = self.writer.begin().await.db()?;
        let found = query(&s).execute(&mut *tx).await.db()?.rows_affected() > 0;
        if found {
            write_audit(&mut tx, audit).await?;
        }
        // Parked while disabled, so claims never walk past them; due again (all at
        // once) when enabled.
        park_disabled(&mut tx, destination_id, reason.is_some(), now).await?;
        tx.commit().await.db()?;
        Ok(found)
    }
}
