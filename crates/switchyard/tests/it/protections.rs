//! The protections SPEC promises, at the HTTP level: supervised background
//! workers named by `/healthz`, per-webhook rate limits and IP allow-lists, and
//! bounded refusal records.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use serde_json::json;
use switchyard_core::routing::RateLimit;

use crate::both_stores;
use crate::support::{github_signature, issue_body, Kind, TestApp, GITHUB_SECRET};

async fn health(app: &TestApp) -> (u16, Value) {
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Polls `/healthz` until `done` holds for its answer (bounded).
async fn health_until(app: &TestApp, done: impl Fn(u16, &Value) -> bool) -> (u16, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (s, v) = health(app).await;
        if done(s, &v) {
            return (s, v);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/healthz never got there: {s} {v}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A background worker that fails is logged, counted, named by `/healthz` (503)
/// while it waits to be restarted, and started again; once it runs, `/healthz`
/// is 200 again. The engine's own workers are listed, up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_worker_is_restarted_and_named_by_health() {
    let app = TestApp::spawn(Kind::Sqlite).await;
    let (s, v) = health(&app).await;
    assert_eq!(s, 200, "{v}");
    for worker in [
        "delivery-dispatcher",
        "delivery-finisher",
        "writer-0",
        "replicas",
    ] {
        assert_eq!(v["workers"][worker]["up"], true, "{worker}: {v}");
    }
    assert_eq!(v["workers_down"], serde_json::json!([]));

    let healthy = Arc::new(AtomicBool::new(false));
    let stop = CancellationToken::new();
    let mut set = JoinSet::new();
    let (h, s) = (healthy.clone(), stop.clone());
    app.state
        .engine
        .workers
        .spawn(&mut set, "test-flaky", stop.clone(), move || {
            let (h, s) = (h.clone(), s.clone());
            async move {
                assert!(h.load(Ordering::SeqCst), "not yet");
                s.cancelled().await;
            }
        });
    let (s, v) = health_until(&app, |s, _| s == 503).await;
    assert_eq!(v["status"], "degraded", "{s} {v}");
    assert_eq!(v["workers_down"], serde_json::json!(["test-flaky"]));
    assert_eq!(v["workers"]["test-flaky"]["up"], false);
    assert!(
        v["workers"]["test-flaky"]["last_failure"]
            .as_str()
            .unwrap()
            .contains("not yet"),
        "{v}"
    );
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"switchyard_worker_restarts_total{worker="test-flaky"}"#),
        "{metrics}"
    );

    healthy.store(true, Ordering::SeqCst);
    let (_, v) = health_until(&app, |s, _| s == 200).await;
    assert_eq!(v["workers"]["test-flaky"]["up"], true);
    assert!(v["workers"]["test-flaky"]["restarts"].as_u64().unwrap() >= 1);
    stop.cancel();
    while set.join_next().await.is_some() {}
    app.stop().await;
}

both_stores!(
    a_webhook_over_its_rate_limit_answers_429_and_stores_nothing,
    the_default_rate_limit_covers_webhooks_without_their_own,
    an_allow_list_refuses_outsiders_and_believes_only_trusted_proxies,
    limits_and_allow_lists_are_validated,
    refusals_are_cut_capped_and_pruned,
);

/// POSTs a GitHub-signed `issues` delivery to `path`, with extra headers.
async fn post_signed(
    app: &TestApp,
    path: &str,
    delivery: &str,
    headers: &[(&str, &str)],
) -> (u16, Option<String>, Value) {
    let body = issue_body(1, "opened", &[]);
    let mut req = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .header("x-github-delivery", delivery)
        .header(
            "x-hub-signature-256",
            github_signature(GITHUB_SECRET, body.as_bytes()),
        )
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, r.json().await.unwrap_or(Value::Null))
}

async fn create_webhook(app: &TestApp, extra: Value) {
    let mut hook = json!({"webhook_id": "guarded", "name": "guarded", "provider": "github",
        "secret": GITHUB_SECRET});
    for (k, v) in extra.as_object().unwrap() {
        hook[k] = v.clone();
    }
    let (s, v) = app
        .api(reqwest::Method::POST, "/api/webhooks", Some(hook))
        .await;
    assert_eq!(s, 201, "{v}");
    app.reload_registry().await;
}

async fn rejections(app: &TestApp) -> Vec<Value> {
    let (s, v) = app.api_get("/api/rejections?limit=500").await;
    assert_eq!(s, 200, "{v}");
    v["rejections"].as_array().unwrap().clone()
}

/// A webhook with `rate_limit` accepts its burst, then answers 429 with
/// `Retry-After` and the JSON error, storing neither an event nor a refusal row.
async fn a_webhook_over_its_rate_limit_answers_429_and_stores_nothing(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    create_webhook(
        &app,
        json!({"rate_limit": {"per_second": 0.01, "burst": 2}}),
    )
    .await;
    let (_, v) = app.api_get("/api/webhooks/guarded").await;
    assert_eq!(
        v["rate_limit"],
        json!({"per_second": 0.01, "burst": 2}),
        "{v}"
    );
    let path = "/webhooks/github/guarded";
    for i in 0..2 {
        let (s, _, v) = post_signed(&app, path, &format!("d-{i}"), &[]).await;
        assert_eq!(s, 202, "{v}");
    }
    let (s, retry_after, v) = post_signed(&app, path, "d-2", &[]).await;
    assert_eq!(s, 429, "{v}");
    assert_eq!(v["error"]["code"], "rate_limited", "{v}");
    // One request every 100 s: the next is due in at most 100 s.
    let secs: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((90..=100).contains(&secs), "{secs}");
    assert_eq!(app.store.count_events().await.unwrap(), 2);
    assert!(rejections(&app).await.is_empty());
    // Another webhook is not held back by this one's bucket.
    let (s, _, v) = post_signed(&app, "/webhooks/github", "d-3", &[]).await;
    assert_eq!(s, 202, "{v}");
    app.stop().await;
}

/// `rate_limit` in the server's settings limits every webhook that sets none.
async fn the_default_rate_limit_covers_webhooks_without_their_own(kind: Kind) {
    let app = TestApp::spawn_with(kind, |c| {
        c.rate_limit = Some(RateLimit {
            per_second: 0.01,
            burst: Some(1),
        });
    })
    .await;
    let (s, _, v) = post_signed(&app, "/webhooks/github", "d-0", &[]).await;
    assert_eq!(s, 202, "{v}");
    let (s, retry_after, v) = post_signed(&app, "/webhooks/github", "d-1", &[]).await;
    assert_eq!(s, 429, "{v}");
    assert!(retry_after.is_some());
    // A webhook's own limit wins over the default.
    create_webhook(&app, json!({"rate_limit": {"per_second": 1000}})).await;
    for i in 0..5 {
        let (s, _, v) = post_signed(&app, "/webhooks/github/guarded", &format!("g-{i}"), &[]).await;
        assert_eq!(s, 202, "{v}");
    }
    app.stop().await;
}

/// `allowed_ips` refuses other addresses with 403 (recorded with the address);
/// `X-Forwarded-For` counts only from a peer in `trusted_proxies`.
async fn an_allow_list_refuses_outsiders_and_believes_only_trusted_proxies(kind: Kind) {
    let path = "/webhooks/github/guarded";
    let allowed = json!({"allowed_ips": ["203.0.113.0/24", "2001:db8::1"]});
    // Without trusted proxies the peer (127.0.0.1) counts, whatever the header says.
    let app = TestApp::spawn(kind).await;
    create_webhook(&app, allowed.clone()).await;
    let spoofed = [("x-forwarded-for", "203.0.113.9")];
    let (s, _, v) = post_signed(&app, path, "d-0", &spoofed).await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "ip_not_allowed");
    assert_eq!(app.store.count_events().await.unwrap(), 0);
    let r = rejections(&app).await;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["remote_addr"], "127.0.0.1");
    assert_eq!(r[0]["status"], 403);
    app.stop().await;

    // Behind a trusted proxy (loopback here), the address it forwards counts.
    let app = TestApp::spawn_with(kind, |c| {
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    create_webhook(&app, allowed).await;
    let (s, _, v) = post_signed(&app, path, "d-1", &[("x-forwarded-for", "203.0.113.9")]).await;
    assert_eq!(s, 202, "{v}");
    // What the client itself put first is not believed: the proxy appended its peer.
    let (s, _, v) = post_signed(
        &app,
        path,
        "d-2",
        &[("x-forwarded-for", "203.0.113.9, 198.51.100.7")],
    )
    .await;
    assert_eq!(s, 403, "{v}");
    let (s, _, v) = post_signed(&app, path, "d-3", &[("x-forwarded-for", "2001:db8::1")]).await;
    assert_eq!(s, 202, "{v}");
    let r = rejections(&app).await;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["remote_addr"], "198.51.100.7");
    assert_eq!(app.store.count_events().await.unwrap(), 2);
    app.stop().await;
}

/// Bad limits and allow-lists are 422 naming the field, and change nothing.
async fn limits_and_allow_lists_are_validated(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    for (extra, field) in [
        (
            json!({"rate_limit": {"per_second": 1e-300}}),
            "rate_limit.per_second",
        ),
        (
            json!({"rate_limit": {"per_second": 5, "burst": 0}}),
            "rate_limit.burst",
        ),
        (
            json!({"allowed_ips": ["10.0.0.0/8", "nope"]}),
            "allowed_ips[1]",
        ),
    ] {
        let mut hook = json!({"webhook_id": "bad", "name": "bad", "provider": "github",
            "secret": GITHUB_SECRET});
        for (k, v) in extra.as_object().unwrap() {
            hook[k] = v.clone();
        }
        let (s, v) = app
            .api(reqwest::Method::POST, "/api/webhooks", Some(hook))
            .await;
        assert_eq!(s, 422, "{v}");
        let fields: Vec<&str> = v["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        assert_eq!(fields, [field], "{v}");
    }
    let (s, _) = app.api_get("/api/webhooks/bad").await;
    assert_eq!(s, 404);
    app.stop().await;
}

/// Refusals keep at most 128 bytes of the webhook id, at most
/// `rejections_per_minute` rows per address, and are pruned after
/// `retention.rejections`.
async fn refusals_are_cut_capped_and_pruned(kind: Kind) {
    let app = TestApp::spawn_with(kind, |c| {
        c.rejections_per_minute = 3;
        c.retention.rejections = Duration::from_secs(3600);
    })
    .await;
    let long_id = "x".repeat(60_000);
    for i in 0..10 {
        let (s, _, _) =
            post_signed(&app, &format!("/webhooks/github/{long_id}{i}"), "d", &[]).await;
        assert_eq!(s, 404);
    }
    let r = rejections(&app).await;
    assert_eq!(r.len(), 3, "capped per address per minute");
    for row in &r {
        let detail = row["detail"].as_str().unwrap();
        assert!(detail.len() <= 512, "{} bytes kept", detail.len());
        assert!(detail.starts_with("no enabled webhook"), "{detail}");
    }

    // Old rows go; recent ones stay.
    let old = switchyard_store::NewRejection {
        at: switchyard_store::now_micros() - 2 * 3600 * 1_000_000,
        webhook_id: Some("w".repeat(200)),
        provider: Some("github".into()),
        remote_addr: None,
        status: 401,
        reason: "signature_mismatch".into(),
        detail: String::new(),
    };
    app.store
        .write_batch(&[switchyard_store::WriteOp::Rejection(old)])
        .await
        .unwrap();
    let r = rejections(&app).await;
    assert_eq!(r.len(), 4);
    assert_eq!(
        r.iter()
            .filter(|r| r["webhook_id"].as_str().is_some_and(|w| w.len() == 200))
            .count(),
        1
    );
    let pruned = app
        .state
        .engine
        .prune_expired(
            switchyard_store::PruneKind::Rejections,
            switchyard_store::now_micros(),
        )
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    assert_eq!(rejections(&app).await.len(), 3);
    app.stop().await;
}

/// A TCP relay to PostgreSQL that a test can cut and restore: the network path to
/// the database going down, as a real outage does (the server itself keeps running).
struct Relay {
    addr: std::net::SocketAddr,
    target: std::net::SocketAddr,
    tasks: JoinSet<()>,
}

impl Relay {
    async fn start(target: std::net::SocketAddr, addr: std::net::SocketAddr) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(addr).unwrap();
        let listener = socket.listen(64).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut tasks = JoinSet::new();
        let conns = Arc::new(tokio::sync::Mutex::new(JoinSet::new()));
        let c = conns.clone();
        tasks.spawn(async move {
            // Dropping this task (abort) drops the listener and every connection.
            let _hold = c.clone();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                c.lock().await.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        let _ = conns;
        Self {
            addr,
            target,
            tasks,
        }
    }

    /// Cuts every connection and refuses new ones.
    async fn cut(mut self) -> (std::net::SocketAddr, std::net::SocketAddr) {
        self.tasks.shutdown().await;
        (self.addr, self.target)
    }
}

/// With the database unreachable, the admin API, ingest and `/healthz` answer 503
/// with the JSON error and `Retry-After` — never 500 — and recover once it is back.
/// PostgreSQL only: SQLite is a file inside the process, with no network path to
/// lose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_is_down_is_503_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (_, at) = crate::support::fresh_store_at(Kind::Postgres, dir.path()).await;
    let crate::support::StoreAt::Postgres { url, schema } = at else {
        unreachable!()
    };
    let parsed = reqwest::Url::parse(&url).unwrap();
    let host = parsed.host_str().unwrap();
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    let target = std::net::SocketAddr::new(host.parse().unwrap(), parsed.port().unwrap_or(5432));
    let relay = Relay::start(target, "127.0.0.1:0".parse().unwrap()).await;
    let mut via = parsed.clone();
    via.set_host(Some("127.0.0.1")).unwrap();
    via.set_port(Some(relay.addr.port())).unwrap();
    let app = TestApp::spawn_at(
        crate::support::StoreAt::Postgres {
            url: via.to_string(),
            schema,
        },
        // Each call below waits out the pool's 10 s acquire timeout; a header read
        // timeout of the same 10 s races with keeping the connection alive.
        |c| c.header_read_timeout = Duration::from_secs(120),
    )
    .await;
    let (s, v) = app.api_get("/api/tasks").await;
    assert_eq!(s, 200, "{v}");

    let (addr, target) = relay.cut().await;
    // Each waits out the pool's 10 s acquire timeout: a few calls, one per kind.
    let (s, v) = app.api_get("/api/tasks").await;
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["error"]["code"], "store_unavailable", "{v}");
    let (s, v) = app
        .api(
            reqwest::Method::POST,
            "/api/agents",
            Some(json!({"name": "planner"})),
        )
        .await;
    assert_eq!(s, 503, "{v}");
    let (s, retry_after, v) = post_signed(&app, "/webhooks/github", "down-1", &[]).await;
    assert_eq!(s, 503, "{v}");
    assert_eq!(retry_after.as_deref(), Some("5"));
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["store"]["ok"], false);

    // Back: the same server serves again, without a restart.
    let _relay = Relay::start(target, addr).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (s, _) = app.api_get("/api/tasks").await;
        if s == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never recovered: {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (s, _, v) = post_signed(&app, "/webhooks/github", "up-1", &[]).await;
    assert_eq!(s, 202, "{v}");
    app.stop().await;
}

/// A graceful stop does not wait out long-polls: a lease waiting up to 60 s
/// answers (with no tasks) as soon as the server stops accepting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_answers_long_polls_at_once() {
    let app = TestApp::spawn(Kind::Sqlite).await;
    let (s, v) = app
        .api(
            reqwest::Method::POST,
            "/api/agents",
            Some(json!({"name": "sleeper"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let poll = {
        let (client, url) = (
            app.client.clone(),
            app.url("/api/agents/sleeper/tasks/lease"),
        );
        tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(crate::support::ADMIN_KEY)
                .json(&json!({"wait_seconds": 60}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        })
    };
    let hub = app.state.engine.hub.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while hub.waiting() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lease never waited"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = std::time::Instant::now();
    app.stop().await;
    let (s, v) = poll.await.unwrap();
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["tasks"], json!([]));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the stop waited {:?}",
        started.elapsed()
    );
}
