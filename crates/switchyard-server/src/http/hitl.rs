//! Where people answer checkpoints outside the API: Slack's interactivity
//! endpoint and the confirm page an e-mail's decision links open.
//!
//! The confirm page's GET only shows the checkpoint and a button (mail scanners
//! follow links and must decide nothing); the button's POST decides. The link's
//! signed token is the credential: it names one checkpoint and one decision and
//! expires with the checkpoint, so the page needs no session and no key.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use switchyard_core::checkpoint::{Decision, DecisionInput};
use switchyard_core::notice::{context_summary, outcome_text};
use switchyard_engine::checkpoints::{is_terminal, spec_of, status_of, Clicked};
use switchyard_engine::notify::email::html_escape as h;
use switchyard_store::Checkpoint;

use crate::http::api::checkpoints::refused;
use crate::http::error::{ApiError, Body, Path};
use crate::http::views::CheckpointView;
use crate::state::AppState;

/// What `/slack/interactivity` answers (Slack only needs a 200 within 3 s).
#[derive(Debug, Serialize)]
pub struct ClickAnswer {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointView>,
    /// Why nothing was done (not a Switchyard button).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
}

/// `POST /slack/interactivity`: a click on a checkpoint's button. 401 without a
/// valid Slack signature; 409 (with the checkpoint) when it was decided already.
pub async fn slack_interactivity(
    State(st): State<AppState>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<ClickAnswer>, ApiError> {
    match st.engine.slack_click(&headers, &body).await {
        Ok(Clicked::Decided(c)) => Ok(Json(ClickAnswer {
            ok: true,
            checkpoint: Some(CheckpointView::new(
                &c,
                &st.engine.config.delivery.public_url,
            )),
            ignored: None,
        })),
        Ok(Clicked::Ignored(why)) => Ok(Json(ClickAnswer {
            ok: true,
            checkpoint: None,
            ignored: Some(why),
        })),
        Err(r) => Err(refused(&st, r)),
    }
}

/// `GET /ui/confirm/{token}`: the checkpoint and the link's decision, with a
/// button that POSTs it. Deciding nothing.
pub async fn confirm_page(State(st): State<AppState>, Path(token): Path<String>) -> Response {
    match st.engine.confirm_link(&token).await {
        Ok((c, decision)) => page(StatusCode::OK, &render(&c, Some(decision), None)),
        Err(e) => failure(ApiError::from(e)),
    }
}

/// `POST /ui/confirm/{token}` (a form: `comment`, `response`, `edited_context`,
/// `by`): decides, and shows the outcome.
pub async fn confirm_post(
    State(st): State<AppState>,
    Path(token): Path<String>,
    Body(body): Body,
) -> Response {
    let mut input = DecisionInput::default();
    for (k, v) in form_urlencoded::parse(&body) {
        let v = v.trim().to_owned();
        if v.is_empty() {
            continue;
        }
        match k.as_ref() {
            "comment" => input.comment = Some(v),
            "response" => input.response = Some(v),
            "by" => input.by = Some(v),
            "edited_context" => match serde_json::from_str(&v) {
                Ok(ctx) => input.edited_context = Some(ctx),
                Err(e) => {
                    return failure(ApiError::bad_request(
                        "invalid_edited_context",
                        format!("the edited context is not JSON: {e}"),
                    ))
                }
            },
            _ => {}
        }
    }
    match st.engine.confirm_decision(&token, input).await {
        Ok(c) => page(
            StatusCode::OK,
            &render(&c, None, Some("Thank you: recorded.")),
        ),
        Err(r) => match r.checkpoint {
            Some(c) => page(
                StatusCode::CONFLICT,
                &render(&c, None, Some(&r.error.to_string())),
            ),
            None => failure(ApiError::from(r.error)),
        },
    }
}

fn page(status: StatusCode, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>Switchyard checkpoint</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}}\
         dt{{font-weight:600}}textarea{{width:100%}}button{{font-size:1.1rem;padding:.5rem 1.5rem}}\
         .note{{padding:.5rem 1rem;background:#eef}}</style></head><body>{body}</body></html>"
    );
    let mut r = (status, Html(html)).into_response();
    let h = r.headers_mut();
    // The token is in the URL: keep it out of other sites' Referer headers and of
    // caches; no script, no framing (the button cannot be clickjacked), and the
    // form posts only here.
    h.insert(
        "referrer-policy",
        axum::http::HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cache-control",
        axum::http::HeaderValue::from_static("no-store"),
    );
    h.insert(
        "content-security-policy",
        axum::http::HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    r
}

fn failure(e: ApiError) -> Response {
    let status = e.status();
    page(
        status,
        &format!(
            "<h1>This link does not work</h1><p>{}</p>",
            h(&e.error.to_string())
        ),
    )
}

/// The page: the checkpoint, its outcome or (pending, with `decision`) the form.
fn render(c: &Checkpoint, decision: Option<Decision>, note: Option<&str>) -> String {
    let spec = spec_of(c).ok();
    let mut out = format!("<h1>{}</h1>", h(&c.name));
    if let Some(n) = note {
        out.push_str(&format!("<p class=\"note\">{}</p>", h(n)));
    }
    if let Some(q) = spec.as_ref().and_then(|s| s.question.as_deref()) {
        out.push_str(&format!("<p>{}</p>", h(q)));
    }
    if let Some(s) = &spec {
        let summary = context_summary(&s.context, 50);
        if !summary.entries.is_empty() {
            out.push_str("<dl>");
            for (k, v) in &summary.entries {
                out.push_str(&format!("<dt>{}</dt><dd>{}</dd>", h(k), h(v)));
            }
            out.push_str("</dl>");
        }
    }
    if is_terminal(c) {
        let decided = c.decision.as_deref().and_then(Decision::parse);
        let text = outcome_text(status_of(c.status), decided, c.decided_by.as_deref());
        out.push_str(&format!("<p><strong>{}</strong></p>", h(&text)));
        return out;
    }
    let Some(decision) = decision else {
        return out;
    };
    let label = match decision {
        Decision::Approve => "Approve",
        Decision::Reject => "Reject",
        Decision::Edit => "Save the edit",
        Decision::Respond => "Send the answer",
    };
    out.push_str("<form method=\"post\">");
    match decision {
        Decision::Respond => out.push_str(
            "<p><label>Your answer<br><textarea name=\"response\" rows=\"5\" required></textarea></label></p>",
        ),
        Decision::Edit => {
            let ctx = spec
                .as_ref()
                .and_then(|s| serde_json::to_string_pretty(&s.context).ok())
                .unwrap_or_default();
            out.push_str(&format!(
                "<p><label>The context, edited (JSON)<br><textarea name=\"edited_context\" rows=\"12\">{}</textarea></label></p>",
                h(&ctx)
            ));
        }
        _ => {}
    }
    out.push_str(&format!(
        "<p><label>Comment (optional)<br><textarea name=\"comment\" rows=\"3\"></textarea></label></p>\
         <p><label>Your name (optional) <input name=\"by\"></label></p>\
         <p><button type=\"submit\">{label}</button></p></form>"
    ));
    out
}
