//! The OpenAPI document (`GET /openapi.json`) against the router it describes, and
//! its readable page (`GET /docs`).
//!
//! Coverage: the router's table lists its paths (`switchyard_server::router::paths`);
//! each is probed on the running server with every method, and a method the
//! route does not serve answers the router's own 405 (`method_not_allowed`). What
//! is routed must be documented and what is documented must be routed, so adding
//! a route without its annotation, or an annotation without its route, fails here.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::both_stores;
use crate::support::{Kind, TestApp, ADMIN_KEY};

/// Paths the document leaves out on purpose (issue 13): the dashboard, the
/// WebSocket, Prometheus' scrape, Slack's interactivity callback, and `/`, which
/// sends browsers to the dashboard (API clients: `/healthz`).
fn left_out(path: &str) -> bool {
    path == "/"
        || path == "/ui"
        || path.starts_with("/ui/")
        || ["/ws", "/metrics", "/slack/interactivity"].contains(&path)
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

async fn document(app: &TestApp) -> Value {
    let r = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().expect("ascii"),
        "application/json"
    );
    r.json().await.expect("the document is JSON")
}

/// Every `(METHOD, path)` the document describes.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut out = BTreeSet::new();
    for (path, item) in paths {
        for (method, _) in item.as_object().expect("path item") {
            let m = method.to_uppercase();
            if METHODS.contains(&m.as_str()) {
                out.insert((m, path.clone()));
            }
        }
    }
    out
}

/// A path with each `{param}` filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                "probe"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every `(METHOD, path)` the router serves, found by probing each listed path
/// with each method (no key, no body).
async fn routed(app: &TestApp) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for path in switchyard_server::router::paths(app.state.clone()) {
        if left_out(&path) {
            continue;
        }
        let mut served = 0;
        for m in METHODS {
            let method = reqwest::Method::from_bytes(m.as_bytes()).expect("method");
            let r = app
                .client
                .request(method, app.url(&concrete(&path)))
                .send()
                .await
                .expect("send");
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            let code = body["error"]["code"].as_str().unwrap_or("");
            assert!(
                !(status == 404 && code == "not_found"),
                "{m} {path}: the listed path reaches the fallback"
            );
            if status == 405 && code == "method_not_allowed" {
                continue;
            }
            served += 1;
            out.insert((m.to_owned(), path.clone()));
        }
        assert!(served > 0, "{path} serves no method");
    }
    out
}

async fn the_document_covers_every_route(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let doc = document(&app).await;
    let documented = documented(&doc);
    let routed = routed(&app).await;
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routed but not in /openapi.json: {undocumented:?}\n\
         in /openapi.json but not routed: {unrouted:?}\n\
         (see switchyard_server::http::openapi on adding a route)"
    );
    // The floor: every /api route, the ingest routes and /healthz.
    for must in [
        ("GET", "/healthz"),
        ("POST", "/webhooks/{provider}"),
        ("POST", "/webhooks/{provider}/{webhook_id}"),
        ("POST", "/webhook/crewai"),
        ("GET", "/api/events"),
    ] {
        assert!(
            documented.contains(&(must.0.to_owned(), must.1.to_owned())),
            "{must:?}"
        );
    }
    assert!(
        documented
            .iter()
            .filter(|(_, p)| p.starts_with("/api/"))
            .count()
            > 60,
        "{documented:?}"
    );
    app.stop().await;
}

async fn the_document_is_openapi_3_1_with_auth_and_the_error_body(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "Switchyard");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["type"], "apiKey");
    assert_eq!(schemes["session"]["in"], "cookie");
    // The one error body, as the server sends it.
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], serde_json::json!(["error"]), "{error}");
    let detail_ref = error["properties"]["error"]["$ref"]
        .as_str()
        .expect("error refers to ErrorDetail");
    let detail = &doc["components"]["schemas"][detail_ref.rsplit('/').next().expect("name")];
    for field in ["code", "message"] {
        assert!(
            detail["required"]
                .as_array()
                .is_some_and(|r| r.iter().any(|f| f == field)),
            "{detail}"
        );
    }
    let (status, body) = app.api_get("/api/events/evt_nope").await;
    assert_eq!(status, 404);
    assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string());

    // Every /api operation asks for the bearer key and answers 401/403 with the
    // error body; its scope note comes from the guard's rules.
    let mut ops = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let api = path.starts_with("/api/");
            let security = op["security"].as_array().cloned().unwrap_or_default();
            let bearer = security.iter().any(|s| s.get("bearer").is_some());
            if api {
                ops += 1;
                assert!(bearer, "{method} {path} has no bearer security");
                for status in ["401", "403"] {
                    assert_eq!(
                        op["responses"][status]["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
                assert!(
                    op["description"]
                        .as_str()
                        .is_some_and(|d| d.contains("**Who may call:** admin keys")),
                    "{method} {path}"
                );
            }
        }
    }
    assert!(ops > 60);
    let events = &doc["paths"]["/api/events"]["get"];
    assert!(events["description"]
        .as_str()
        .expect("description")
        .contains("`read` keys"));
    let secret = &doc["paths"]["/api/destinations/{id}/secret"]["get"];
    assert!(!secret["description"]
        .as_str()
        .expect("description")
        .contains("`read` keys"));
    // Ingest is verified by signatures, not keys.
    let ingest = &doc["paths"]["/webhooks/{provider}"]["post"];
    assert!(ingest["security"].is_null(), "{ingest}");
    assert!(ingest["responses"]["401"].is_object());
    app.stop().await;
}

async fn the_docs_page_lists_the_operations(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let r = app.client.get(app.url("/docs")).send().await.expect("send");
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/html"));
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    // minijinja's HTML escaping writes `/` as `&#x2f;`.
    let html = r.text().await.expect("text").replace("&#x2f;", "/");
    // Served from the binary: nothing to fetch from elsewhere.
    assert!(!html.contains("<script"), "the page loads no script");
    assert!(
        !html.contains(" src=") && !html.contains("<link"),
        "the page loads nothing from elsewhere"
    );
    let doc = document(&app).await;
    for (method, path) in documented(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let id = op["operationId"].as_str().expect("operation id");
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "{method} {path} ({id}) is not on the page"
        );
    }
    assert!(html.contains("/api/checkpoints/{id}/decision"));
    assert!(html.contains("ErrorBody"));
    // Authenticated or not, the same page.
    let r = app
        .client
        .get(app.url("/docs"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    app.stop().await;
}

both_stores!(
    the_document_covers_every_route,
    the_document_is_openapi_3_1_with_auth_and_the_error_body,
    the_docs_page_lists_the_operations,
);
