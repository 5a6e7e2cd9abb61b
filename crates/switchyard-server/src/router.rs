//! Every route the server answers, and the layers around them
//! ([`crate::http::layers`]).
//!
//! The routes are one table, built through [`Table`], which keeps every path it is
//! given beside the axum router: [`paths`] lists them, so the OpenAPI coverage test
//! (`tests/it/openapi.rs`) can compare the router with the document
//! ([`crate::http::openapi`], which says how to add a route). axum's `Router` cannot
//! list its routes itself.

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;

use crate::http::api::{
    agents, audit, checkpoints, commands, deliveries, destinations, events, interactive, keys,
    questions, runs, stream, tasks, webhooks, workflows,
};
use crate::http::layers::{self, App};
use crate::http::{auth, error, hitl, ingest, openapi, ops, seed000, ui};
use crate::state::AppState;

/// A router being built, and every path it has been given.
pub struct Table {
    router: Router<AppState>,
    paths: Vec<String>,
}

impl Table {
    fn new() -> Self {
        Self {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    fn route(mut self, path: &str, method_router: MethodRouter<AppState>) -> Self {
        self.paths.push(path.to_owned());
        self.router = self.router.route(path, method_router);
        self
    }

    fn nest(mut self, prefix: &str, inner: Table) -> Self {
        self.paths
            .extend(inner.paths.iter().map(|p| format!("{prefix}{p}")));
        self.router = self.router.nest(prefix, inner.router);
        self
    }

    fn merge(mut self, other: Table) -> Self {
        self.paths.extend(other.paths);
        self.router = self.router.merge(other.router);
        self
    }

    /// The dashboard's pages (all under `/ui`), which the OpenAPI document leaves
    /// out: merged without listing their paths.
    fn merge_dashboard(mut self, dashboard: Router<AppState>) -> Self {
        self.router = self.router.merge(dashboard);
        self
    }

    /// Wraps the routes so far (layers, route layers).
    fn wrap(mut self, f: impl FnOnce(Router<AppState>) -> Router<AppState>) -> Self {
        self.router = f(self.router);
        self
    }
}

/// Every route the server answers, in the layers every answer goes through.
pub fn router(state: AppState) -> impl App {
    let body_read_timeout = state.engine.config.body_read_timeout;
    let routes = table(state.clone())
        .router
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::wrong_method)
        .with_state(state);
    layers::with_layers(routes, body_read_timeout)
}

/// Every path in the router's table, as the router spells it (`/api/events/{id}`),
/// except the dashboard's under `/ui`.
pub fn paths(state: AppState) -> Vec<String> {
    table(state).paths
}

/// The routes.
fn table(state: AppState) -> Table {
    let api_limit = state.engine.config.max_api_body_bytes;
    let api = Table::new()
        .route("/events", get(events::list))
        .route("/events/{id}", get(events::get))
        .route("/events/{id}/caused", get(events::caused))
        .route("/events/{id}/replay", post(events::replay))
        .route("/rejections", get(events::rejections))
        .route("/activity", get(events::activity))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/webhooks/{id}",
            get(webhooks::get)
                .put(webhooks::put)
                .delete(webhooks::delete),
        )
        .route("/webhooks/{id}/enable", post(webhooks::enable))
        .route("/webhooks/{id}/disable", post(webhooks::disable))
        .route(
            "/webhooks/{id}/secret/rotate",
            post(webhooks::rotate_secret),
        )
        .route(
            "/webhooks/{id}/commands",
            get(commands::list).post(commands::add),
        )
        .route(
            "/webhooks/{id}/commands/{cmd_id}",
            put(commands::put).delete(commands::delete),
        )
        .route("/webhooks/{id}/comment", post(interactive::comment))
        .route("/webhooks/{id}/ask", post(interactive::ask))
        .route("/webhooks/{id}/respond", post(interactive::respond))
        .route("/workflows", get(workflows::list).post(workflows::create))
        .route(
            "/workflows/{name}",
            get(workflows::get)
                .put(workflows::put)
                .delete(workflows::delete),
        )
        .route("/outbox", get(deliveries::outbox))
        .route("/deliveries", get(deliveries::list))
        .route("/deliveries/{id}", get(deliveries::get))
        .route("/deliveries/retry", post(deliveries::retry_many))
        .route("/deliveries/{id}/retry", post(deliveries::retry))
        .route(
            "/destinations",
            get(destinations::list).post(destinations::create),
        )
        .route(
            "/destinations/{id}",
            get(destinations::get).put(destinations::put),
        )
        .route("/destinations/{id}/enable", post(destinations::enable))
        .route("/destinations/{id}/disable", post(destinations::disable))
        .route("/destinations/{id}/recover", post(destinations::recover))
        .route("/destinations/{id}/secret", get(destinations::secret))
        .route(
            "/destinations/{id}/secret/rotate",
            post(destinations::rotate_secret),
        )
        .route("/agents", get(agents::list).post(agents::create))
        .route(
            "/agents/{name}",
            get(agents::get).put(agents::put).delete(agents::delete),
        )
        .route("/agents/{name}/tasks/lease", post(agents::lease))
        .route("/tasks", get(tasks::list))
        .route("/tasks/{id}", get(tasks::get))
        .route("/tasks/{id}/heartbeat", post(tasks::heartbeat))
        .route("/tasks/{id}/complete", post(tasks::complete))
        .route("/tasks/{id}/fail", post(tasks::fail))
        .route(
            "/checkpoints",
            get(checkpoints::list).post(checkpoints::create),
        )
        .route("/checkpoints/{id}", get(checkpoints::get))
        .route("/checkpoints/{id}/history", get(checkpoints::history))
        .route("/checkpoints/{id}/wait", get(checkpoints::wait))
        .route("/checkpoints/{id}/decision", post(checkpoints::decide))
        .route("/checkpoints/{id}/cancel", post(checkpoints::cancel))
        .route("/questions", get(questions::list))
        .route("/questions/{id}", get(questions::get))
        .route("/questions/{id}/wait", get(questions::wait))
        .route("/runs", get(runs::list))
        .route("/runs/{id}", get(runs::get))
        .route("/runs/{id}/wait", get(runs::wait))
        .route("/runs/{id}/cancel", post(runs::cancel))
        .route("/runs/{id}/restart", post(runs::restart))
        .route("/workflows/{name}/runs", post(runs::start))
        .route("/keys", get(keys::list).post(keys::create))
        .route("/keys/{key_id}", delete(keys::revoke))
        .route("/audit", get(audit::list))
        .route("/stream", get(stream::sse))
        .wrap(|r| {
            r.layer(DefaultBodyLimit::max(api_limit)).route_layer(
                axum::middleware::from_fn_with_state(state.clone(), auth::guard),
            )
        });
    // Seed 000's endpoints (docs/hitl.md): feedback and reads behind the guard.
    let seed000_guarded = Table::new()
        .route("/webhook/feedback", post(seed000::feedback))
        .route("/webhook/checkpoint/{id}", get(seed000::checkpoint))
        .route("/webhook/status/{kickoff_id}", get(seed000::status))
        .wrap(|r| {
            r.layer(DefaultBodyLimit::max(api_limit)).route_layer(
                axum::middleware::from_fn_with_state(state.clone(), auth::guard),
            )
        });
    let seed000_open = Table::new()
        .route("/health", get(seed000::health))
        .route("/webhook/crewai", post(seed000::crewai))
        .route("/webhook/crewai/human-input", post(seed000::human_input))
        .merge(seed000_guarded);
    Table::new()
        .route("/", get(ui::root))
        .route("/healthz", get(ops::health))
        // The OpenAPI document and its page (http/openapi.rs).
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/docs", get(openapi::docs_page))
        .route("/metrics", get(ops::metrics))
        .route("/webhooks/{provider}", post(ingest::default_endpoint))
        .route(
            "/webhooks/{provider}/{webhook_id}",
            post(ingest::stored_endpoint),
        )
        // The live stream as a WebSocket (seed 000), behind the same key guard.
        .route(
            "/ws",
            get(stream::ws).route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                auth::guard,
            )),
        )
        // Human in the loop: Slack's buttons and the e-mail links' confirm page.
        .route("/slack/interactivity", post(hitl::slack_interactivity))
        .route(
            "/ui/confirm/{token}",
            get(hitl::confirm_page).post(hitl::confirm_post),
        )
        // The dashboard (issue 12), signed in with a session cookie.
        .merge_dashboard(ui::routes())
        .nest("/api", api)
        .merge(seed000_open)
}
