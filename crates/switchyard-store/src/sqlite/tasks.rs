//! Task queues on SQLite. The lease is a select-then-update in one statement; the
//! single writer connection means no other writer runs between the two, so two
//! callers never lease the same task.

use super::{now, query, query_as, write_effects, SqliteStore};
use crate::error::DbResultExt;
use crate::model::{Effect, Task, TaskFinish, TaskQuery, TaskUpdate};
use crate::rows::{self, TaskRow};
use crate::sql::tasks::{self as sql, TASK_COLUMNS};
use crate::sql::Stmt;
use crate::{new_id, Result, TaskStore};

impl SqliteStore {
    /// Turns the row an update returned (or its absence) into an answer.
    async fn task_update(&self, task_id: &str, row: Option<TaskRow>) -> Result<TaskUpdate> {
        Ok(match rows::one(row)? {
            Some(t) => TaskUpdate::Done(t),
            None => match self.get_task(task_id).await? {
                Some(t) => TaskUpdate::Conflict(t),
                None => TaskUpdate::NotFound,
            },
        })
    }
}

#[async_trait::async_trait]
impl TaskStore for SqliteStore {
    async fn lease_tasks(&self, agent: &str, max: i64, lease_micros: i64) -> Result<Vec<Task>> {
        let now = now();
        let lease_id = new_id("lease");
        // Expired leases go back to the queue first, so the lease itself reads only
        // queued rows, in the order of the (agent, status, created_at) index,
        // whatever the size of the agent's history.
        let mut s = Stmt::new(
            "UPDATE tasks SET status = 'queued', lease_id = NULL, lease_expires_at = NULL \
             WHERE agent = ",
        );
        s.push_bind(agent)
            .push(" AND status = 'leased' AND lease_expires_at < ")
            .push_bind(now);
        query(&s).execute(&self.writer).await.db()?;

        let mut s = Stmt::new("UPDATE tasks SET status = 'leased', lease_id = ");
        s.push_bind(lease_id.as_str())
            .push(", lease_expires_at = ")
            .push_bind(now.plus(lease_micros))
            .push(", attempts = attempts + 1, updated_at = ")
            .push_bind(now)
            .push(" WHERE task_id IN (SELECT task_id FROM tasks WHERE agent = ")
            .push_bind(agent)
            .push(" AND status = 'queued' ORDER BY created_at, task_id LIMIT ")
            .push_bind(max)
            .push(&format!(") RETURNING {TASK_COLUMNS}"));
        let rows: Vec<TaskRow> = query_as(&s).fetch_all(&self.writer).await.db()?;
        // RETURNING gives no order.
        let mut tasks = rows::all(rows)?;
        tasks.sort_by(|a, b| (a.created_at, &a.task_id).cmp(&(b.created_at, &b.task_id)));
        Ok(tasks)
    }

    async fn heartbeat_task(
        &self,
        task_id: &str,
        lease_id: &str,
        lease_micros: i64,
    ) -> Result<TaskUpdate> {
        let s = sql::heartbeat(task_id, lease_id, now(), lease_micros);
        let row: Option<TaskRow> = query_as(&s).fetch_optional(&self.writer).await.db()?;
        self.task_update(task_id, row).await
    }

    async fn finish_task(
        &self,
        task_id: &str,
        lease_id: &str,
        finish: &TaskFinish,
        effects: &[Effect],
    ) -> Result<TaskUpdate> {
        let s = sql::finish(task_id, lease_id, finish, now());
        // A transaction only when follow-ups must commit with the completion.
        let row: Option<TaskRow> = if effects.is_empty() {
            query_as(&s).fetch_optional(&self.writer).await.db()?
        } else {
            let mut tx = self.writer.begin().await.db()?;
            let row: Option<TaskRow> = query_as(&s).fetch_optional(&mut *tx).await.db()?;
            if row.is_some() {
                write_effects(&mut tx, &effects.iter().collect::<Vec<_>>()).await?;
            }
            tx.commit().await.db()?;
            row
        };
        self.task_update(task_id, row).await
    }

    async fn get_task(&self, task_id: &str) -> Result<Option<Task>> {
        let s = sql::get(task_id, now());
        let row: Option<TaskRow> = query_as(&s).fetch_optional(&self.reader).await.db()?;
        rows::one(row)
    }

    async fn cancel_task(&self, task_id: &str, error: &str) -> Result<bool> {
        let s = sql::cancel(task_id, error, crate::clock::now_micros());
        Ok(query(&s).execute(&self.writer).await.db()?.rows_affected() > 0)
    }

    async fn list_tasks(&self, q: &TaskQuery) -> Result<Vec<Task>> {
        let s = sql::list(q, now());
        let rows: Vec<TaskRow> = query_as(&s).fetch_all(&self.reader).await.db()?;
        rows::all(rows)
    }

    async fn tasks_of_event(&self, event_id: &str) -> Result<Vec<Task>> {
        let s = sql::of_event(event_id, now());
        let rows: Vec<TaskRow> = query_as(&s).fetch_all(&self.reader).await.db()?;
        rows::all(rows)
    }
}
