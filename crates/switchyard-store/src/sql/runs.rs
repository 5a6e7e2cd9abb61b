//! Workflow registrations, runs and their steps: the statements both databases
//! share. A run moves only by a [`RunWrite`] whose guard (the runner's claim, or
//! "not finished" for a cancel) is the `WHERE` of its first statement; the rest of
//! the write runs only when that statement changed the row.

use super::Stmt;
use crate::clock::Moment;
use crate::model::{NewRun, RunChange, RunGuard, RunQuery, RunStep, WorkflowRecord};
use crate::state::{DbText, RunStatus};

pub(crate) const WORKFLOW_COLUMNS: &str = "name, yaml, config_path, created_at, updated_at";

pub(crate) const RUN_COLUMNS: &str = "run_id, workflow, status, definition, inputs, state, \
     cursor, error, event_id, parent_run_id, restarted_from, trigger_key, wait_ref, due_at, \
     claim_id, claimed_until, deadline, created_at, updated_at, started_at, finished_at";

pub(crate) const STEP_COLUMNS: &str = "run_id, seq, node_id, kind, iteration, status, \
     attempt, inputs, outputs, detail, error, started_at, finished_at";

/// The statuses a run can still move from, as SQL.
const LIVE: &str = "('pending', 'running', 'waiting')";

fn workflow_values(w: &WorkflowRecord) -> Stmt<'_> {
    let mut s = Stmt::new(format!("INSERT INTO workflows ({WORKFLOW_COLUMNS}) "));
    s.push_values([w], |w| {
        vec![
            w.name.as_str().into(),
            w.yaml.as_deref().into(),
            w.config_path.as_deref().into(),
            w.created_at.into(),
            w.updated_at.into(),
        ]
    });
    s
}

/// Registers a workflow unless its name exists.
pub(crate) fn insert_workflow(w: &WorkflowRecord) -> Stmt<'_> {
    let mut s = workflow_values(w);
    s.push(" ON CONFLICT (name) DO NOTHING");
    s
}

/// Registers or replaces a workflow; `created_at` stays the first one.
pub(crate) fn put_workflow(w: &WorkflowRecord) -> Stmt<'_> {
    let mut s = workflow_values(w);
    s.push(
        " ON CONFLICT (name) DO UPDATE SET yaml = excluded.yaml, \
         config_path = excluded.config_path, updated_at = excluded.updated_at",
    );
    s
}

pub(crate) fn get_workflow(name: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE name = "
    ));
    s.push_bind(name);
    s
}

pub(crate) fn list_workflows() -> Stmt<'static> {
    Stmt::new(format!(
        "SELECT {WORKFLOW_COLUMNS} FROM workflows ORDER BY name"
    ))
}

pub(crate) fn delete_workflow(name: &str) -> Stmt<'_> {
    let mut s = Stmt::new("DELETE FROM workflows WHERE name = ");
    s.push_bind(name);
    s
}

/// Creates a run, due now, unless its trigger started one already.
pub(crate) fn insert_run(r: &NewRun, now: Moment) -> Stmt<'_> {
    let mut s = Stmt::new(format!("INSERT INTO runs ({RUN_COLUMNS}) VALUES ("));
    s.push_list::<super::Arg<'_>>([
        r.run_id.as_str().into(),
        r.workflow.as_str().into(),
        r.status.to_db().into(),
        r.definition.as_deref().into(),
        r.inputs.as_str().into(),
        r.state.as_str().into(),
        r.cursor.as_str().into(),
        r.error.as_deref().into(),
        r.event_id.as_deref().into(),
        r.parent_run_id.as_deref().into(),
        r.restarted_from.as_deref().into(),
        r.trigger_key.as_deref().into(),
        None::<&str>.into(),
        now.into(),
        None::<&str>.into(),
        0i64.into(),
        r.deadline.into(),
        r.created_at.into(),
        r.created_at.into(),
        None::<i64>.into(),
    ]);
    // A run that could not start is finished when it is created.
    if r.status.is_terminal() {
        s.push(", ").push_bind(r.created_at);
    } else {
        s.push(", NULL");
    }
    s.push(") ON CONFLICT (trigger_key) DO NOTHING");
    s
}

/// Makes the runs waiting for `wait_ref` due now.
pub(crate) fn wake(wait_ref: &str, now: Moment) -> Stmt<'_> {
    let mut s = Stmt::new("UPDATE runs SET due_at = ");
    s.push_bind(now)
        .push(" WHERE wait_ref = ")
        .push_bind(wait_ref)
        .push(" AND status = 'waiting'");
    s
}

/// The guarded update a [`crate::RunWrite`] starts with: it changes the row (and
/// so lets the rest of the write run) only while the guard holds.
pub(crate) fn update_run<'a>(
    run_id: &'a str,
    guard: &'a RunGuard,
    c: &'a RunChange,
    now: Moment,
    at: i64,
) -> Stmt<'a> {
    let mut s = Stmt::new("UPDATE runs SET updated_at = ");
    s.push_bind(at);
    if let Some(v) = c.status {
        s.push(", status = ").push_bind(v.to_db());
    }
    if let Some(v) = &c.state {
        s.push(", state = ").push_bind(v.as_str());
    }
    if let Some(v) = &c.cursor {
        s.push(", cursor = ").push_bind(v.as_str());
    }
    if let Some(v) = &c.error {
        s.push(", error = ").push_bind(v.as_deref());
    }
    if let Some(v) = &c.wait_ref {
        s.push(", wait_ref = ").push_bind(v.as_deref());
    }
    if let Some(v) = c.due_in {
        s.push(", due_at = ").push_bind(now.plus(v));
    }
    if let Some(v) = c.claim_for {
        s.push(", claimed_until = ").push_bind(now.plus(v));
    }
    if let Some(v) = c.started_at {
        s.push(", started_at = ").push_bind(v);
    }
    if let Some(v) = c.finished_at {
        s.push(", finished_at = ").push_bind(v);
    }
    s.push(" WHERE run_id = ")
        .push_bind(run_id)
        .push(" AND status IN ")
        .push(LIVE);
    if let RunGuard::Claim(claim_id) = guard {
        s.push(" AND claim_id = ").push_bind(claim_id.as_str());
    }
    s
}

/// Inserts or replaces steps by `(run_id, seq)`.
pub(crate) fn upsert_steps(steps: &[RunStep]) -> Option<Stmt<'_>> {
    if steps.is_empty() {
        return None;
    }
    let mut s = Stmt::new(format!("INSERT INTO run_steps ({STEP_COLUMNS}) "));
    s.push_values(steps, |t| {
        vec![
            t.run_id.as_str().into(),
            t.seq.into(),
            t.node_id.as_str().into(),
            t.kind.as_str().into(),
            t.iteration.into(),
            t.status.to_db().into(),
            t.attempt.into(),
            t.inputs.as_str().into(),
            t.outputs.as_deref().into(),
            t.detail.as_deref().into(),
            t.error.as_deref().into(),
            t.started_at.into(),
            t.finished_at.into(),
        ]
    });
    s.push(
        " ON CONFLICT (run_id, seq) DO UPDATE SET node_id = excluded.node_id, \
         kind = excluded.kind, iteration = excluded.iteration, status = excluded.status, \
         attempt = excluded.attempt, inputs = excluded.inputs, outputs = excluded.outputs, \
         detail = excluded.detail, error = excluded.error, started_at = excluded.started_at, \
         finished_at = excluded.finished_at",
    );
    Some(s)
}

/// Claims up to `max` due runs under `claim_id` (new for every claim, so a runner
/// whose claim ran out and was taken over can no longer write); `lock` is how the
/// backend keeps two claimers apart (`""` on SQLite's single writer).
pub(crate) fn claim<'a>(
    claim_id: &'a str,
    max: i64,
    claim_micros: i64,
    now: Moment,
    lock: &'a str,
) -> Stmt<'a> {
    let mut s = Stmt::new("UPDATE runs SET claimed_until = ");
    s.push_bind(now.plus(claim_micros))
        .push(", claim_id = ")
        .push_bind(claim_id)
        .push(" WHERE run_id IN (SELECT run_id FROM runs WHERE status IN ")
        .push(LIVE)
        .push(" AND due_at <= ")
        .push_bind(now)
        .push(" AND claimed_until <= ")
        .push_bind(now)
        .push(" ORDER BY due_at LIMIT ")
        .push_bind(max)
        .push(lock)
        .push(&format!(") RETURNING {RUN_COLUMNS}"));
    s
}

/// How long until the next live run is due or its claim runs out.
pub(crate) fn next_run_in(now: Moment) -> Stmt<'static> {
    let mut s = Stmt::new(
        "SELECT MIN(CASE WHEN claimed_until > due_at THEN claimed_until ELSE due_at END) - ",
    );
    s.push_bind(now)
        .push(" FROM runs WHERE status IN ")
        .push(LIVE);
    s
}

pub(crate) fn get_run(run_id: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = "));
    s.push_bind(run_id);
    s
}

pub(crate) fn get_run_by_trigger(key: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE trigger_key = "
    ));
    s.push_bind(key);
    s
}

pub(crate) fn list_runs(q: &RunQuery) -> Stmt<'_> {
    let mut s = Stmt::new(format!("SELECT {RUN_COLUMNS} FROM runs WHERE 1 = 1"));
    if let Some(w) = &q.workflow {
        s.push(" AND workflow = ").push_bind(w.as_str());
    }
    if let Some(st) = q.status {
        s.push(" AND status = ").push_bind(st.to_db());
    }
    if let Some(e) = &q.event_id {
        s.push(" AND event_id = ").push_bind(e.as_str());
    }
    if let Some(p) = &q.parent_run_id {
        s.push(" AND parent_run_id = ").push_bind(p.as_str());
    }
    if let Some(b) = &q.before {
        s.push(" AND run_id < ").push_bind(b.as_str());
    }
    s.push(" ORDER BY run_id DESC LIMIT ").push_bind(q.limit);
    s
}

pub(crate) fn steps(run_id: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {STEP_COLUMNS} FROM run_steps WHERE run_id = "
    ));
    s.push_bind(run_id).push(" ORDER BY seq");
    s
}

pub(crate) fn count_runs(status: RunStatus) -> Stmt<'static> {
    let mut s = Stmt::new("SELECT COUNT(*) FROM runs WHERE status = ");
    s.push_bind(status.to_db());
    s
}

/// `WorkflowStore` and `RunStore` for a backend: the statements above are the same
/// on both databases, and so is the glue, written once here and expanded in each
/// backend's module (where `now`, `query`, `query_as`, `audited` and
/// `write_effects` are that backend's). The run claim's row locking is the one
/// difference (`""` on SQLite, `" FOR UPDATE SKIP LOCKED"` on PostgreSQL). It also
/// defines `write_run`, which the backend's `write_batch` calls for each
/// [`crate::WriteOp::Run`].
macro_rules! run_store {
    ($store:ty, $conn:ty, $claim_lock:expr) => {
        use crate::error::DbResultExt;
        use crate::model::{NewAudit, Run, RunQuery, RunStep, RunWrite, WorkflowRecord};
        use crate::rows::{self, RunRow, RunStepRow, WorkflowRow};
        use crate::sql::runs as sql;
        use crate::state::RunStatus;
        use crate::{Result, RunStore, WorkflowStore};

        /// One run's move on `conn` (the batch's transaction): the guarded update,
        /// then, only if it applied, the steps and the work it creates.
        pub(super) async fn write_run(conn: &mut $conn, w: &RunWrite) -> Result<bool> {
            let now = now();
            let at = crate::clock::now_micros();
            let s = sql::update_run(&w.run_id, &w.guard, &w.change, now, at);
            let applied = query(&s).execute(&mut *conn).await.db()?.rows_affected() > 0;
            if applied {
                if let Some(s) = sql::upsert_steps(&w.steps) {
                    query(&s).execute(&mut *conn).await.db()?;
                }
                write_effects(conn, &w.effects.iter().collect::<Vec<_>>()).await?;
            }
            Ok(applied)
        }

        #[async_trait::async_trait]
        impl WorkflowStore for $store {
            async fn insert_workflow(&self, w: &WorkflowRecord, audit: &NewAudit) -> Result<bool> {
                audited(&self.writer, &sql::insert_workflow(w), audit).await
            }

            async fn put_workflow(&self, w: &WorkflowRecord, audit: &NewAudit) -> Result<()> {
                audited(&self.writer, &sql::put_workflow(w), audit).await?;
                Ok(())
            }

            async fn get_workflow(&self, name: &str) -> Result<Option<WorkflowRecord>> {
                let s = sql::get_workflow(name);
                let row: Option<WorkflowRow> =
                    query_as(&s).fetch_optional(&self.reader).await.db()?;
                rows::one(row)
            }

            async fn list_workflows(&self) -> Result<Vec<WorkflowRecord>> {
                let s = sql::list_workflows();
                let rows: Vec<WorkflowRow> = query_as(&s).fetch_all(&self.reader).await.db()?;
                rows::all(rows)
            }

            async fn delete_workflow(&self, name: &str, audit: &NewAudit) -> Result<bool> {
                audited(&self.writer, &sql::delete_workflow(name), audit).await
            }
        }

        #[async_trait::async_trait]
        impl RunStore for $store {
            async fn claim_runs(&self, max: i64, claim_micros: i64) -> Result<Vec<Run>> {
                let claim_id = crate::new_id("clm");
                let s = sql::claim(&claim_id, max, claim_micros, now(), $claim_lock);
                let rows: Vec<RunRow> = query_as(&s).fetch_all(&self.writer).await.db()?;
                let mut runs = rows::all(rows)?;
                // RETURNING gives no order.
                runs.sort_by_key(|r: &Run| r.due_at);
                Ok(runs)
            }

            async fn next_run_in(&self) -> Result<Option<i64>> {
                let s = sql::next_run_in(now());
                let (next,): (Option<i64>,) = query_as(&s).fetch_one(&self.writer).await.db()?;
                Ok(next)
            }

            async fn get_run(&self, run_id: &str) -> Result<Option<Run>> {
                let s = sql::get_run(run_id);
                let row: Option<RunRow> = query_as(&s).fetch_optional(&self.reader).await.db()?;
                rows::one(row)
            }

            async fn get_run_by_trigger(&self, trigger_key: &str) -> Result<Option<Run>> {
                let s = sql::get_run_by_trigger(trigger_key);
                let row: Option<RunRow> = query_as(&s).fetch_optional(&self.reader).await.db()?;
                rows::one(row)
            }

            async fn list_runs(&self, q: &RunQuery) -> Result<Vec<Run>> {
                let s = sql::list_runs(q);
                let rows: Vec<RunRow> = query_as(&s).fetch_all(&self.reader).await.db()?;
                rows::all(rows)
            }

            async fn run_steps(&self, run_id: &str) -> Result<Vec<RunStep>> {
                let s = sql::steps(run_id);
                let rows: Vec<RunStepRow> = query_as(&s).fetch_all(&self.reader).await.db()?;
                rows::all(rows)
            }

            async fn count_runs(&self, status: RunStatus) -> Result<i64> {
                let s = sql::count_runs(status);
                let (n,): (i64,) = query_as(&s).fetch_one(&self.reader).await.db()?;
                Ok(n)
            }
        }
    };
}
pub(crate) use run_store;
