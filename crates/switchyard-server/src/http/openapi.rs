//! The OpenAPI 3.1 document (`GET /openapi.json`) and its readable page (`GET /docs`).
//!
//! The document is generated, not written: each handler carries a
//! `#[utoipa::path(...)]` annotation (method, path, parameters, request body, the
//! statuses it answers), the views and request bodies derive `utoipa::ToSchema`,
//! and [`ApiDoc`] lists the handlers. Two modifiers then apply what holds for every
//! operation, so no annotation repeats it:
//!
//! - [`Conventions`]: the operation id (`{tag}_{handler}`), and the error answers
//!   every operation of its shape can give — 401/403 behind a key, 400 for a bad
//!   path or query, 400/408/413/415/422 with a body, 503 — each one with the one
//!   error body ([`ErrorBody`]); every 4xx/5xx an annotation names gets that body
//!   too.
//! - [`Security`]: the schemes (`bearer`: an API key, a task token or
//!   `WEBHOOK_API_KEY`; `session`: the dashboard's cookie on `/api/stream`), and on
//!   each guarded operation who may call it besides an admin key, read from
//!   [`auth::RULES`], the table the guard itself enforces.
//!
//! `/docs` renders the same document server-side (minijinja, embedded template):
//! nothing is loaded from elsewhere, so it works offline and under the dashboard's
//! strict CSP.
//!
//! ## Adding a route
//!
//! Add it to [`crate::router`]'s table, annotate its handler with
//! `#[utoipa::path]` (path spelled as the router spells it, under `/api` in full),
//! derive `ToSchema` on any new view or body, and list the handler in
//! [`ApiDoc`]'s `paths(...)`. A body the handler reads by hand gets a schema-only
//! struct beside the handler: this module imports the handlers, so they must not
//! import it. Who besides an admin may call it goes in
//! [`auth::RULES`]. `tests/it/openapi.rs` walks the router and the document and
//! fails while either has a route the other lacks (`/ui`, `/ws`, `/metrics`,
//! `/slack/interactivity` and `/`, a browser's way into the dashboard, are left out
//! of the document on purpose).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::{header, HeaderValue, Method};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::{Response as DocResponse, ResponseBuilder};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::http::api::{
    agents, audit, checkpoints, commands, deliveries, destinations, events, interactive, keys,
    questions, runs, stream, tasks, webhooks, workflows,
};
use crate::http::auth::{self, AgentOf, Allow};
use crate::http::views::ErrorBody;
use crate::http::{ingest, ops, seed000};

/// The document: every documented handler, and the modifiers that finish it.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchyard",
        description = "Switchyard's HTTP API: the admin API under `/api` (API keys with scopes), \
            the ingest endpoints providers post to (verified by their signatures), seed 000's \
            endpoints and health. Every error answers `{\"error\": {\"code\", \"message\", \
            \"fields\"?}}`. See docs/api.md.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        ops::health, openapi_json, docs_page,
        ingest::default_endpoint, ingest::stored_endpoint,
        seed000::crewai, seed000::human_input, seed000::feedback, seed000::checkpoint,
        seed000::status, seed000::health,
        events::list, events::get, events::caused, events::replay, events::rejections,
        events::activity,
        webhooks::list, webhooks::create, webhooks::get, webhooks::put, webhooks::delete,
        webhooks::enable, webhooks::disable, webhooks::rotate_secret,
        commands::list, commands::add, commands::put, commands::delete,
        interactive::comment, interactive::ask, interactive::respond,
        workflows::list, workflows::create, workflows::get, workflows::put, workflows::delete,
        deliveries::outbox, deliveries::list, deliveries::get, deliveries::retry,
        deliveries::retry_many,
        destinations::list, destinations::create, destinations::get, destinations::put,
        destinations::enable, destinations::disable, destinations::recover,
        destinations::secret, destinations::rotate_secret,
        agents::list, agents::create, agents::get, agents::put, agents::delete, agents::lease,
        tasks::list, tasks::get, tasks::heartbeat, tasks::complete, tasks::fail,
        checkpoints::list, checkpoints::create, checkpoints::get, checkpoints::history,
        checkpoints::wait, checkpoints::decide, checkpoints::cancel,
        questions::list, questions::get, questions::wait,
        runs::list, runs::get, runs::wait, runs::cancel, runs::restart, runs::start,
        keys::list, keys::create, keys::revoke,
        audit::list,
        stream::sse,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Security, &Conventions),
    tags(
        (name = "ops", description = "Health and this document"),
        (name = "ingest", description = "Where providers post their webhooks; each request is verified by the provider's signature"),
        (name = "seed 000", description = "Seed 000's feedback, reads and health (docs/hitl.md)"),
        (name = "events", description = "The event log, refused requests and the last hour's activity"),
        (name = "webhooks", description = "Registered webhooks (seed 002)"),
        (name = "commands", description = "A webhook's commands, one at a time (seed 002)"),
        (name = "interactive", description = "What an agent sends back about an event"),
        (name = "workflows", description = "The workflow registry"),
        (name = "runs", description = "Workflow runs"),
        (name = "deliveries", description = "Outbound messages and their attempts"),
        (name = "destinations", description = "Where outbound messages go: limits, switch, signing"),
        (name = "agents", description = "Agents and the tasks they lease"),
        (name = "tasks", description = "Tasks and their lease holders' calls"),
        (name = "checkpoints", description = "Human-in-the-loop checkpoints"),
        (name = "questions", description = "Questions opened by `ask`"),
        (name = "keys", description = "API keys"),
        (name = "audit", description = "The log of configuration changes"),
        (name = "stream", description = "The live stream"),
    ),
)]
pub struct ApiDoc;

/// The document, built once.
pub fn document() -> &'static Document {
    static DOC: OnceLock<Document> = OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}

/// `GET /openapi.json`: this server's OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "ops",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub async fn openapi_json() -> Response {
    static JSON: OnceLock<String> = OnceLock::new();
    let body = JSON.get_or_init(|| {
        // Serializing a document of strings and maps cannot fail; an empty object
        // would still be JSON.
        serde_json::to_string(document()).unwrap_or_else(|_| "{}".to_owned())
    });
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.as_str(),
    )
        .into_response()
}

/// `GET /docs`: the document as a readable page, rendered here from the document.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "ops",
    responses((status = 200, description = "The API reference as HTML", body = String, content_type = "text/html"))
)]
pub async fn docs_page() -> Response {
    static PAGE: OnceLock<Result<String, String>> = OnceLock::new();
    let page = PAGE.get_or_init(|| render_docs(document()).map_err(|e| e.to_string()));
    match page {
        Ok(html) => {
            let mut r = Html(html.clone()).into_response();
            r.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
            );
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "the API docs page does not render");
            crate::http::error::ApiError::internal("the API docs page does not render")
                .into_response()
        }
    }
}

/// Each operation of a path item with its method.
fn operations_mut(item: &mut PathItem) -> Vec<(Method, &mut Operation)> {
    let PathItem {
        get,
        post,
        put,
        delete,
        patch,
        ..
    } = item;
    [
        (Method::GET, get.as_mut()),
        (Method::POST, post.as_mut()),
        (Method::PUT, put.as_mut()),
        (Method::DELETE, delete.as_mut()),
        (Method::PATCH, patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
    .collect()
}

/// Every `(method, path)` the document describes, methods as `GET`, `POST`, ….
pub fn documented_routes(doc: &Document) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let mut item = item.clone();
        for (m, _) in operations_mut(&mut item) {
            out.push((m.as_str().to_owned(), path.clone()));
        }
    }
    out
}

/// The security schemes, and who may call each guarded operation.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`Authorization: Bearer <key>`: an API key (`sy_…`; scopes `admin`, \
                         `read`, `feedback`, `agent:NAME`), the admin key \
                         (`SWITCHYARD_ADMIN_KEY`), a task push's task token (its task's calls \
                         only), or `WEBHOOK_API_KEY` (a feedback key, for seed 000). An unknown \
                         key is 401; a key outside the operation's scope, 403 \
                         `insufficient_scope`.",
                    ))
                    .build(),
            ),
        );
        let mut cookie = ApiKeyValue::new(crate::http::ui::session::COOKIE);
        cookie.description = Some(
            "The dashboard's session cookie, accepted on `GET /api/stream` only (browsers' \
             EventSource cannot send a header)."
                .to_owned(),
        );
        components.add_security_scheme("session", SecurityScheme::ApiKey(ApiKey::Cookie(cookie)));
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, op) in operations_mut(item) {
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    let note = who_may_call(auth::allowed(&method, path));
                    let text = op.description.get_or_insert_with(String::new);
                    if !text.is_empty() {
                        text.push_str("\n\n");
                    }
                    text.push_str(&note);
                }
            }
        }
    }
}

/// An operation's scope note, from the guard's rule for it.
fn who_may_call(allow: Allow) -> String {
    let mut who = vec!["admin keys"];
    if allow.read {
        who.push("`read` keys");
    }
    if allow.feedback {
        who.push("`feedback` keys (and `WEBHOOK_API_KEY`)");
    }
    match allow.agent {
        Some(AgentOf::Any) => who.push("any `agent:NAME` key"),
        Some(AgentOf::Path) => who.push("the `agent:NAME` key of the agent in the path"),
        Some(AgentOf::Task) => who.push("the `agent:NAME` key of the task's agent"),
        Some(AgentOf::Question) => {
            who.push("the `agent:NAME` key of the agent that asked the question")
        }
        Some(AgentOf::Checkpoint) => {
            who.push("the `agent:NAME` key of the agent that opened the checkpoint")
        }
        None => {}
    }
    if allow.task_token {
        who.push("the task's own token");
    }
    format!("**Who may call:** {}.", who.join(", "))
}

/// Operation ids, and the error answers each operation's shape implies.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut Document) {
        for item in doc.paths.paths.values_mut() {
            for (_, op) in operations_mut(item) {
                let tag = op
                    .tags
                    .as_ref()
                    .and_then(|t| t.first())
                    .map(|t| t.replace(' ', ""))
                    .unwrap_or_default();
                if let Some(id) = &op.operation_id {
                    op.operation_id = Some(format!("{tag}_{id}"));
                }
                let params = op.parameters.as_deref().unwrap_or_default();
                let has = |kind: fn(&utoipa::openapi::path::ParameterIn) -> bool| {
                    params.iter().any(|p| kind(&p.parameter_in))
                };
                let mut implied: Vec<(u16, &str)> = Vec::new();
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    implied.push((401, "No API key, or an unknown or revoked one"));
                    implied.push((403, "The key's scopes do not allow this call"));
                }
                if has(|p| matches!(p, utoipa::openapi::path::ParameterIn::Path))
                    || has(|p| matches!(p, utoipa::openapi::path::ParameterIn::Query))
                {
                    implied.push((400, "A path segment or query parameter is malformed"));
                }
                if op.request_body.is_some() {
                    implied.push((400, "The body is not JSON"));
                    implied.push((408, "The body stalled past the read timeout"));
                    implied.push((413, "The body is over the limit"));
                    implied.push((415, "Send Content-Type: application/json"));
                    implied.push((422, "The body does not fit; `fields` names each problem"));
                }
                implied.push((
                    503,
                    "Unavailable for now (the store, or a connection from the reserve); see Retry-After",
                ));
                let responses = &mut op.responses.responses;
                for (code, desc) in implied {
                    responses.entry(code.to_string()).or_insert_with(|| {
                        RefOr::T(ResponseBuilder::new().description(desc).build())
                    });
                }
                for (code, resp) in responses.iter_mut() {
                    if code.starts_with('4') || code.starts_with('5') {
                        if let RefOr::T(r) = resp {
                            with_error_body(r);
                        }
                    }
                }
                // Statuses in order, as a reader expects.
                let sorted: BTreeMap<_, _> = std::mem::take(responses).into_iter().collect();
                responses.extend(sorted);
            }
        }
    }
}

/// An error answer carries the one error body, unless the annotation named another
/// (the health checks' 503s).
fn with_error_body(r: &mut DocResponse) {
    if r.content.is_empty() {
        r.content.insert(
            "application/json".to_owned(),
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build(),
        );
    }
}

/// One operation as the docs page lists it.
#[derive(Debug, Serialize)]
struct PageOp {
    method: String,
    path: String,
    id: String,
    summary: String,
    description: String,
    params: Vec<PageParam>,
    body: Option<String>,
    responses: Vec<(String, String, String)>,
    security: String,
}

#[derive(Debug, Serialize)]
struct PageParam {
    name: String,
    place: String,
    required: bool,
    schema: String,
    description: String,
}

/// A schema in short: a `$ref`'s name, or the JSON of an inline schema.
fn schema_text<T: Serialize>(s: &T) -> String {
    let v = serde_json::to_value(s).unwrap_or_default();
    match v.get("$ref").and_then(|r| r.as_str()) {
        Some(r) => r.rsplit('/').next().unwrap_or(r).to_owned(),
        None => v.to_string(),
    }
}

fn content_text<'a>(
    c: impl IntoIterator<Item = (&'a String, &'a utoipa::openapi::Content)>,
) -> String {
    c.into_iter()
        .map(|(ct, c)| match &c.schema {
            Some(s) => format!("{} ({ct})", schema_text(s)),
            None => ct.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The docs page's HTML.
fn render_docs(doc: &Document) -> Result<String, minijinja::Error> {
    let mut groups: BTreeMap<String, Vec<PageOp>> = BTreeMap::new();
    for (path, item) in &doc.paths.paths {
        let mut item = item.clone();
        for (method, op) in operations_mut(&mut item) {
            let tag = op
                .tags
                .as_ref()
                .and_then(|t| t.first().cloned())
                .unwrap_or_default();
            let page_op = PageOp {
                method: method.as_str().to_owned(),
                path: path.clone(),
                id: op.operation_id.clone().unwrap_or_default(),
                summary: op.summary.clone().unwrap_or_default(),
                description: op.description.clone().unwrap_or_default(),
                params: op
                    .parameters
                    .iter()
                    .flatten()
                    .map(|p| PageParam {
                        name: p.name.clone(),
                        place: schema_text(&p.parameter_in).trim_matches('"').to_owned(),
                        required: matches!(p.required, utoipa::openapi::Required::True),
                        schema: p.schema.as_ref().map(schema_text).unwrap_or_default(),
                        description: p.description.clone().unwrap_or_default(),
                    })
                    .collect(),
                body: op.request_body.as_ref().map(|b| content_text(&b.content)),
                responses: op
                    .responses
                    .responses
                    .iter()
                    .map(|(code, r)| match r {
                        RefOr::T(r) => (
                            code.clone(),
                            r.description.clone(),
                            content_text(&r.content),
                        ),
                        RefOr::Ref(r) => (code.clone(), String::new(), r.ref_location.clone()),
                    })
                    .collect(),
                security: op
                    .security
                    .iter()
                    .flatten()
                    .flat_map(|s| {
                        serde_json::to_value(s)
                            .ok()
                            .and_then(|v| {
                                v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>())
                            })
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            groups.entry(tag).or_default().push(page_op);
        }
    }
    let tags: Vec<(String, String)> = doc
        .tags
        .iter()
        .flatten()
        .map(|t| (t.name.clone(), t.description.clone().unwrap_or_default()))
        .collect();
    let schemas: Vec<(String, String)> = doc
        .components
        .iter()
        .flat_map(|c| c.schemas.iter())
        .map(|(name, s)| {
            (
                name.clone(),
                serde_json::to_string_pretty(s).unwrap_or_default(),
            )
        })
        .collect();
    let mut env = minijinja::Environment::new();
    env.add_template("docs.html", include_str!("openapi/docs.html"))?;
    env.get_template("docs.html")?.render(minijinja::context! {
        title => doc.info.title,
        version => doc.info.version,
        description => doc.info.description,
        tags => tags,
        groups => groups,
        schemas => schemas,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_a_unique_id_and_error_bodies() {
        let doc = document();
        let mut ids = std::collections::BTreeSet::new();
        for item in doc.paths.paths.values() {
            let mut item = item.clone();
            for (_, op) in operations_mut(&mut item) {
                let id = op.operation_id.clone().unwrap_or_default();
                assert!(ids.insert(id.clone()), "duplicate operation id {id}");
                for (code, r) in &op.responses.responses {
                    if code.starts_with('4') {
                        let RefOr::T(r) = r else {
                            panic!("{id} {code}")
                        };
                        assert!(r.content.contains_key("application/json"), "{id} {code}");
                    }
                }
            }
        }
        assert!(ids.len() > 70, "{}", ids.len());
    }

    #[test]
    fn every_reference_resolves() {
        fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(o) => {
                    if let Some(r) = o.get("$ref").and_then(|r| r.as_str()) {
                        out.push(r.to_owned());
                    }
                    o.values().for_each(|v| refs(v, out));
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = serde_json::to_value(document()).expect("the document is JSON");
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{r} is not a schema reference"));
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{r} refers to no schema"
            );
        }
    }

    #[test]
    fn the_page_renders() {
        // minijinja's HTML escaping writes `/` as `&#x2f;`.
        let html = render_docs(document())
            .expect("renders")
            .replace("&#x2f;", "/");
        assert!(html.contains("/api/events/{id}"));
        assert!(html.contains("ErrorBody"));
    }
}
