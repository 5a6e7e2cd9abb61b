//! Every refusal the application sees answers the one JSON error body, with the
//! status SPEC gives: malformed paths and queries, bodies over the admin API's
//! limit, JSON of the wrong shape, unknown routes and methods.

use reqwest::Method;
use serde_json::Value;

use crate::both_stores;
use crate::support::{Kind, TestApp, ADMIN_KEY};

both_stores!(refusals_are_json);

/// Sends a request and checks the answer is the error body with `status`; returns
/// the error's code.
async fn refused(req: reqwest::RequestBuilder, status: u16) -> String {
    let r = req.send().await.expect("send");
    assert_eq!(r.status().as_u16(), status, "{r:?}");
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(ct.starts_with("application/json"), "content-type {ct:?}");
    let body: Value = r.json().await.expect("a JSON body");
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!code.is_empty(), "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    code
}

async fn refusals_are_json(kind: Kind) {
    let app = TestApp::spawn_with(kind, |c| c.max_api_body_bytes = 4096).await;
    let c = &app.client;
    let api = |m: Method, p: &str| c.request(m, app.url(p)).bearer_auth(ADMIN_KEY);

    // A path segment that is not UTF-8.
    let code = refused(c.post(app.url("/webhooks/github/%ff%fe")).body("{}"), 400).await;
    assert_eq!(code, "invalid_path");
    let code = refused(api(Method::GET, "/api/events/%ff"), 400).await;
    assert_eq!(code, "invalid_path");
    // An unknown or mistyped query parameter.
    let code = refused(api(Method::GET, "/api/events?limit=many"), 400).await;
    assert_eq!(code, "invalid_query");
    let code = refused(api(Method::GET, "/api/tasks?nope=1"), 400).await;
    assert_eq!(code, "invalid_query");
    // A cursor that is not one of the list's ids would page from nowhere.
    for path in [
        "/api/events?cursor=garbage",
        "/api/tasks?cursor=evt_0190",
        "/api/deliveries?cursor=msg_x%20y",
    ] {
        assert_eq!(
            refused(api(Method::GET, path), 400).await,
            "invalid_cursor",
            "{path}"
        );
    }
    let (s, _) = app.api_get("/api/events?cursor=evt_0190aa").await;
    assert_eq!(s, 200, "a well-formed cursor pages");
    // A body over the admin API's limit is 413, whichever way the handler reads it.
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(5000));
    for path in ["/api/agents", "/api/webhooks", "/api/destinations"] {
        let code = refused(
            api(Method::POST, path)
                .header("content-type", "application/json")
                .body(big.clone()),
            413,
        )
        .await;
        assert_eq!(code, "body_too_large", "{path}");
    }
    // Malformed JSON, JSON of the wrong shape, the wrong media type.
    let json = |p: &str, body: &str| {
        api(Method::POST, p)
            .header("content-type", "application/json")
            .body(body.to_owned())
    };
    assert_eq!(
        refused(json("/api/agents", "{"), 400).await,
        "malformed_body"
    );
    assert_eq!(
        refused(json("/api/agents", r#"{"name": 5}"#), 422).await,
        "invalid_body"
    );
    assert_eq!(
        refused(api(Method::POST, "/api/agents").body("{}"), 415).await,
        "unsupported_media_type"
    );
    // Field problems list each path.
    let r = json("/api/agents", r#"{"name": "a b", "mode": "sideways"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    let paths: Vec<&str> = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["name", "mode"], "{body}");
    // Numeric settings are bounded: a rate that would stall the dispatcher is 422.
    for rate in ["1e-300", "0", "-1", "1e12"] {
        let r = json(
            "/api/destinations",
            &format!(r#"{{"url": "http://127.0.0.1:9/hook", "rate_per_second": {rate}}}"#),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), 422, "rate {rate}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["error"]["fields"][0]["path"], "rate_per_second",
            "{body}"
        );
    }
    // Unknown routes and methods, with and without the key.
    assert_eq!(refused(c.get(app.url("/nowhere")), 404).await, "not_found");
    assert_eq!(
        refused(c.delete(app.url("/healthz")), 405).await,
        "method_not_allowed"
    );
    assert_eq!(
        refused(c.get(app.url("/api/events")), 401).await,
        "missing_api_key"
    );
    app.stop().await;
}
