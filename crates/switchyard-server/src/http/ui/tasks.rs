//! `/ui/tasks`: tasks per agent and status (queued, leased, completed, failed),
//! newest first, with their messages and results; the list follows the stream's
//! task notices.

use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use minijinja::{context, Value};
use switchyard_store::{TaskQuery, TaskStatus};

use super::viewer::Viewer;
use super::{base, forbidden, page, UiError};
use crate::http::api::{check_cursor, check_status, next_cursor};
use crate::http::error::Query;
use crate::http::views::TaskView;
use crate::state::AppState;

/// Tasks on one page.
const PAGE: i64 = 50;

#[derive(Debug, serde::Deserialize)]
pub struct Filters {
    agent: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
}

fn given(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// `GET /ui/tasks?agent=&status=&cursor=`.
pub async fn list(
    State(st): State<AppState>,
    v: Viewer,
    Query(f): Query<Filters>,
) -> Result<Response, UiError> {
    if !v.may(&Method::GET, "/api/tasks") {
        return Err(forbidden("this key may not read tasks"));
    }
    let stream_after = st.engine.stream_start(None).await?;
    let (agent, status) = (given(f.agent), given(f.status));
    let q = TaskQuery {
        agent: agent.clone(),
        status: check_status(status.as_deref(), TaskStatus::ALL)?,
        before: check_cursor("task", given(f.cursor))?,
        limit: PAGE,
    };
    let rows = st.engine.list_tasks(&q).await?;
    let tasks: Vec<TaskView> = rows.iter().map(TaskView::from).collect();
    let results: Vec<Option<String>> = tasks
        .iter()
        .map(|t| {
            t.result
                .as_ref()
                .map(|r| serde_json::to_string_pretty(r).unwrap_or_default())
        })
        .collect();
    let agents: Vec<String> = st
        .engine
        .list_agents()
        .await?
        .into_iter()
        .map(|a| a.name)
        .collect();
    let statuses: Vec<String> = TaskStatus::ALL.iter().map(ToString::to_string).collect();
    page(
        "tasks.html",
        context! {
            tasks => Value::from_serialize(&tasks),
            results => results,
            next_cursor => next_cursor(&rows, PAGE, |t| &t.task_id),
            agent => agent,
            status => status,
            agents => agents,
            statuses => statuses,
            stream_after => stream_after,
            ..base(&v, "tasks")
        },
    )
}
