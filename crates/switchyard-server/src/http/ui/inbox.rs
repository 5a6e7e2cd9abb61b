//! `/ui/inbox`: pending checkpoints, newest first, with Approve and Reject
//! buttons that decide in one click (through the engine's decide service, `by`
//! the signed-in key); `/ui/inbox/{checkpoint_id}`, the page notifications link
//! to, with the other decisions (edit, respond) and the history. The list follows
//! the stream, so a decision made elsewhere removes its item.

use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use minijinja::{context, Value};
use switchyard_core::checkpoint::DecisionInput;
use switchyard_store::{CheckpointQuery, CheckpointStatus};

use super::viewer::Viewer;
use super::{base, forbidden, form, page, UiError};
use crate::http::api::checkpoints::{refused, view};
use crate::http::error::{ApiError, Body, Path};
use crate::http::views::HistoryView;
use crate::state::AppState;

/// Pending checkpoints on the page.
const PAGE: i64 = 100;

fn may_read(v: &Viewer) -> Result<(), UiError> {
    if v.may(&Method::GET, "/api/checkpoints") {
        Ok(())
    } else {
        Err(forbidden("this key may not read checkpoints"))
    }
}

fn may_decide(v: &Viewer) -> bool {
    v.may(&Method::POST, "/api/checkpoints/{id}/decision")
}

/// `GET /ui/inbox`.
pub async fn list(State(st): State<AppState>, v: Viewer) -> Result<Response, UiError> {
    may_read(&v)?;
    let stream_after = st.engine.stream_start(None).await?;
    let q = CheckpointQuery {
        status: Some(CheckpointStatus::Pending),
        kickoff_id: None,
        name: None,
        before: None,
        limit: PAGE,
    };
    let rows = st.engine.list_checkpoints(&q).await?;
    let items: Vec<_> = rows.iter().map(|c| view(&st, c)).collect();
    page(
        "inbox.html",
        context! {
            items => Value::from_serialize(&items),
            can_decide => may_decide(&v),
            stream_after => stream_after,
            ..base(&v, "inbox")
        },
    )
}

/// `GET /ui/inbox/{checkpoint_id}`: one checkpoint, its decisions and history.
pub async fn detail(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    may_read(&v)?;
    let c = st.engine.checkpoint(&id).await?;
    let history: Vec<HistoryView> = st
        .engine
        .checkpoint_history(&id)
        .await?
        .iter()
        .map(HistoryView::from)
        .collect();
    let cv = view(&st, &c);
    let context_json = serde_json::to_string_pretty(&cv.context).unwrap_or_default();
    page(
        "checkpoint.html",
        context! {
            c => Value::from_serialize(&cv),
            context_json => context_json,
            history => Value::from_serialize(&history),
            can_decide => may_decide(&v),
            ..base(&v, "inbox")
        },
    )
}

/// `POST /ui/inbox/{checkpoint_id}/decision` (`decision`, optional `comment`,
/// `response`, `edited_context` as JSON; `csrf_token`): decides, then goes back to
/// the inbox (or the form's `next`). A checkpoint decided meanwhile shows why.
pub async fn decide(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Response, UiError> {
    let fields = form(&v, &body)?;
    if !may_decide(&v) {
        return Err(forbidden("this key may not decide checkpoints"));
    }
    let text = |k: &str| {
        fields
            .get(k)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let edited_context = match text("edited_context") {
        Some(s) => Some(serde_json::from_str(&s).map_err(|e| {
            ApiError::bad_request(
                "invalid_edited_context",
                format!("the edited context is not JSON: {e}"),
            )
        })?),
        None => None,
    };
    let input = DecisionInput {
        decision: text("decision").unwrap_or_default(),
        comment: text("comment"),
        edited_context,
        response: text("response"),
        ..DecisionInput::default()
    };
    match st.engine.decide_checkpoint(&id, &input, &v.who()).await {
        Ok(_) => Ok(super::back(&fields, "/ui/inbox").into_response()),
        Err(r) => Err(UiError(refused(&st, r))),
    }
}
