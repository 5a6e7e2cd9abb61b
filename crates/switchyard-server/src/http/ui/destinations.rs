//! `/ui/destinations`: every destination with its health (circuit, queue, dead
//! letters of the last hour), Pause / Resume / Enable, and the signing secret
//! behind a Reveal (a POST, admin only) that the audit log records — through the
//! same engine calls as the API.

use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use minijinja::{context, Value};
use switchyard_store::{now_micros, DeliveryQuery, DeliveryStatus, Destination};

use super::viewer::Viewer;
use super::{base, forbidden, form, page, UiError};
use crate::http::error::{Body, Path};
use crate::http::views::DestinationView;
use crate::state::AppState;

/// How far back dead letters count against a destination's health.
const RECENT_MICROS: i64 = 3_600_000_000;

/// A destination as the dashboard shows it: the API's view, its dead letters of
/// the last hour and the health that follows.
pub struct Health {
    pub view: DestinationView,
    pub recent_dead: u64,
    /// `ok`, `failing` (circuit open or recent dead letters), `probing` (half
    /// open) or `disabled`.
    pub health: &'static str,
}

/// Each destination's [`Health`]: the overview counts the failing ones.
pub async fn health(st: &AppState, rows: &[Destination]) -> Result<Vec<Health>, UiError> {
    let since = now_micros() - RECENT_MICROS;
    let mut out = Vec::with_capacity(rows.len());
    for d in rows {
        let view = DestinationView::new(d, st.engine.destination_live(&d.destination_id));
        let q = DeliveryQuery {
            status: Some(DeliveryStatus::Failed),
            destination_id: Some(d.destination_id.clone()),
            since: Some(since),
            ..DeliveryQuery::default()
        };
        let recent_dead = st.engine.count_deliveries(&q).await?;
        let health = if !view.enabled {
            "disabled"
        } else if view.circuit == "open" || recent_dead > 0 {
            "failing"
        } else if view.circuit == "half_open" {
            "probing"
        } else {
            "ok"
        };
        out.push(Health {
            view,
            recent_dead,
            health,
        });
    }
    Ok(out)
}

fn may_read(v: &Viewer) -> Result<(), UiError> {
    if v.may(&Method::GET, "/api/destinations") {
        Ok(())
    } else {
        Err(forbidden("this key may not read destinations"))
    }
}

fn may_reveal(v: &Viewer) -> bool {
    v.may(&Method::GET, "/api/destinations/{id}/secret")
}

fn may_switch(v: &Viewer) -> bool {
    v.may(&Method::POST, "/api/destinations/{id}/enable")
        && v.may(&Method::POST, "/api/destinations/{id}/disable")
}

/// The page, with one destination's secret shown when `revealed` is
/// `(destination_id, secret)`.
async fn render(
    st: &AppState,
    v: &Viewer,
    revealed: Option<(String, Option<String>)>,
) -> Result<Response, UiError> {
    may_read(v)?;
    let rows = st.engine.list_destinations().await?;
    let items: Vec<Value> = health(st, &rows)
        .await?
        .into_iter()
        .map(|h| {
            context! {
                recent_dead => h.recent_dead,
                health => h.health,
                ..Value::from_serialize(&h.view)
            }
        })
        .collect();
    let (revealed_id, secret) = match revealed {
        Some((id, s)) => (Some(id), s),
        None => (None, None),
    };
    page(
        "destinations.html",
        context! {
            destinations => items,
            can_reveal => may_reveal(v),
            can_switch => may_switch(v),
            revealed_id => revealed_id,
            secret => secret,
            ..base(v, "destinations")
        },
    )
}

/// `GET /ui/destinations`.
pub async fn list(State(st): State<AppState>, v: Viewer) -> Result<Response, UiError> {
    render(&st, &v, None).await
}

/// `POST /ui/destinations/{id}/secret` (`csrf_token`): the page with this
/// destination's signing secret shown once (an audit row says who saw it); never
/// in a URL, never cached (`no-store`).
pub async fn reveal(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Response, UiError> {
    form(&v, &body)?;
    if !may_reveal(&v) {
        return Err(forbidden("this key may not see signing secrets"));
    }
    let shown = st.engine.destination_secret(&v.who(), &id).await?;
    render(&st, &v, Some(shown)).await
}

/// `POST /ui/destinations/{id}/enable` and `/disable` (`csrf_token`).
async fn switch(
    st: &AppState,
    v: &Viewer,
    id: &str,
    body: &[u8],
    on: bool,
) -> Result<Response, UiError> {
    let fields = form(v, body)?;
    if !may_switch(v) {
        return Err(forbidden("this key may not pause or enable destinations"));
    }
    st.engine.set_destination_enabled(&v.who(), id, on).await?;
    Ok(super::back(&fields, "/ui/destinations").into_response())
}

/// `POST /ui/destinations/{id}/enable`: Resume / Enable.
pub async fn enable(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Response, UiError> {
    switch(&st, &v, &id, &body, true).await
}

/// `POST /ui/destinations/{id}/disable`: Pause.
pub async fn disable(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Response, UiError> {
    switch(&st, &v, &id, &body, false).await
}
