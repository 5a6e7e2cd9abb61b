//! HTTP hygiene: slow clients are cut off, a full server still answers its
//! operator, every answer carries a request id that every log line of the request
//! carries too, a panic answers JSON, and what hyper refuses on its own. The store
//! plays no part here, so these run on SQLite; raw sockets stand in for misbehaving
//! clients, all on 127.0.0.1 and bounded in time.

use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use serde_json::Value;
use switchyard_server::http::layers::with_layers;
use switchyard_server::http::ops::metrics_handle;
use switchyard_server::serve::{reserve_for, serve, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::support::{
    db_url_for, github_signature, issue_body, Kind, Server, TestApp, ADMIN_KEY, GITHUB_SECRET,
};

/// The longest any single step below may take before the test fails.
const BOUND: Duration = Duration::from_secs(10);

/// An answer read off a raw socket.
struct Raw {
    status: u16,
    /// The head, lower-cased, for header checks.
    head: String,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.trim() == name)
                .map(|(_, v)| v.trim())
        })
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {:?}\n{}",
                String::from_utf8_lossy(&self.body),
                self.head
            )
        })
    }
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Reads one answer (head and a `Content-Length` body) from `s`; `None` if the
/// server closed the connection (or reset it) before a whole head arrived.
async fn read_answer(s: &mut TcpStream) -> Option<Raw> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match timeout(BOUND, s.read(&mut chunk))
            .await
            .expect("answer in time")
        {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let mut raw = Raw {
        status,
        head,
        body: buf[head_end..].to_vec(),
    };
    let len: usize = raw
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while raw.body.len() < len {
        match timeout(BOUND, s.read(&mut chunk))
            .await
            .expect("body in time")
        {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.body.extend_from_slice(&chunk[..n]),
        }
    }
    Some(raw)
}

/// Waits for the server to close `s`, returning how long that took; any bytes the
/// server sends first are returned too.
async fn until_closed(s: &mut TcpStream) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        match timeout(BOUND, s.read(&mut chunk))
            .await
            .expect("the server closes the connection in time")
        {
            Ok(0) | Err(_) => return (started.elapsed(), got),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A client that keeps no connections, so every request opens a new one.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(BOUND)
        .build()
        .unwrap()
}

fn uuid_like(v: &str) -> bool {
    uuid::Uuid::parse_str(v).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_idle_connections_are_cut_off() {
    let limit = Duration::from_secs(1);
    let app = TestApp::spawn_with(Kind::Sqlite, |c| c.header_read_timeout = limit).await;

    // A client trickling its headers a byte every 200 ms: well past the limit if
    // it were allowed to finish.
    let mut slow = TcpStream::connect(addr(&app)).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (mut rd, mut wr) = slow.into_split();
    let trickle = tokio::spawn(async move {
        for b in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
            if wr.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    // An idle connection that never sends a byte is cut off the same way.
    let mut idle = TcpStream::connect(addr(&app)).await.unwrap();

    // Meanwhile the server answers everyone else.
    let r = fresh_client()
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let mut sink = Vec::new();
    let closed = timeout(BOUND, rd.read_to_end(&mut sink)).await;
    let elapsed = started.elapsed();
    assert!(closed.is_ok(), "the slow client was never disconnected");
    assert!(
        sink.is_empty(),
        "hyper closes without an answer: {:?}",
        String::from_utf8_lossy(&sink)
    );
    assert!(
        elapsed >= limit - Duration::from_millis(100) && elapsed < limit * 3,
        "disconnected after {elapsed:?}, limit {limit:?}"
    );
    trickle.abort();

    let (waited, bytes) = until_closed(&mut idle).await;
    assert!(bytes.is_empty());
    assert!(waited < limit * 3, "idle connection lived {waited:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_are_answered_408_json() {
    let limit = Duration::from_secs(1);
    let app = TestApp::spawn_with(Kind::Sqlite, |c| c.body_read_timeout = limit).await;
    let requests = [
        // Ingest: the webhook resolves, then its body never comes.
        "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         X-GitHub-Event: issues\r\nX-GitHub-Delivery: d-stall\r\n\
         X-Hub-Signature-256: sha256=00\r\nContent-Length: 100\r\n\r\n{\"act"
            .to_owned(),
        // The admin API, through its JSON extractor.
        format!(
            "POST /api/webhooks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_KEY}\r\n\
             Content-Type: application/json\r\nContent-Length: 50\r\n\r\n"
        ),
    ];
    for req in requests {
        let mut s = TcpStream::connect(addr(&app)).await.unwrap();
        let started = Instant::now();
        s.write_all(req.as_bytes()).await.unwrap();
        let raw = read_answer(&mut s).await.expect("an answer, not a hang-up");
        let elapsed = started.elapsed();
        assert_eq!(raw.status, 408, "{}", raw.head);
        assert_eq!(raw.json()["error"]["code"], "body_timeout");
        assert!(raw.header("x-request-id").is_some_and(uuid_like));
        assert!(
            elapsed >= limit - Duration::from_millis(100) && elapsed < limit * 3,
            "answered after {elapsed:?}"
        );
        // The request is not finished, so the connection is not reused.
        let (_, rest) = until_closed(&mut s).await;
        assert!(rest.is_empty());
    }
    // The stalled webhook is in the audit log as a 408, like every refusal.
    let (_, v) = app.api_get("/api/rejections").await;
    let rows = v["rejections"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["status"] == 408), "{v}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_still_answers_its_operator() {
    let cap = 8;
    let app = TestApp::spawn_with(Kind::Sqlite, |c| c.max_connections = cap).await;
    let reserve = reserve_for(cap);
    assert_eq!(reserve, 4);

    // Fill the cap with kept-alive connections; each has been answered, so each
    // is certainly accepted and holding its slot.
    let mut held = Vec::new();
    for _ in 0..cap {
        let mut s = TcpStream::connect(addr(&app)).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let raw = read_answer(&mut s).await.expect("answer");
        assert_eq!(raw.status, 200);
        held.push(s);
    }

    // Health and the admin API answer from the reserve; ingest is refused as JSON.
    let client = fresh_client();
    let r = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers().get("connection").and_then(|v| v.to_str().ok()),
        Some("close"),
        "a reserve connection serves one request"
    );
    let r = client
        .get(app.url("/api/webhooks"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = issue_body(1, "opened", &[]);
    let post = || {
        client
            .post(app.url("/webhooks/github"))
            .header("content-type", "application/json")
            .header("x-github-event", "issues")
            .header("x-github-delivery", "d-cap")
            .header(
                "x-hub-signature-256",
                github_signature(GITHUB_SECRET, body.as_bytes()),
            )
            .body(body.clone())
            .send()
    };
    let r = post().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    assert!(r.headers().contains_key("x-request-id"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "over_capacity");

    // Fill the reserve with idle connections too: the next one is closed unanswered.
    let mut idle = Vec::new();
    for _ in 0..reserve {
        idle.push(TcpStream::connect(addr(&app)).await.unwrap());
    }
    let mut extra = TcpStream::connect(addr(&app)).await.unwrap();
    // The write may already fail if the server has closed the socket.
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let (_, bytes) = until_closed(&mut extra).await;
    assert!(
        bytes.is_empty(),
        "refused without an answer, got {:?}",
        String::from_utf8_lossy(&bytes)
    );
    let metrics = metrics_handle().render();
    for needle in [
        "switchyard_http_connections_refused_total",
        "switchyard_http_requests_over_capacity_total",
    ] {
        assert!(metrics.contains(needle), "{needle} missing:\n{metrics}");
    }

    // Once the connections go, ingest is served again. The server learns of each
    // close asynchronously, so this retries, within a bound.
    drop(idle);
    drop(held);
    let deadline = Instant::now() + BOUND;
    loop {
        // Until the server notices, a new connection may still be refused outright
        // (closed unanswered) or served from the reserve (503).
        match post().await {
            Ok(r) if r.status() == 202 => break,
            Ok(r) => assert_eq!(r.status(), 503),
            Err(e) => assert!(e.is_request(), "{e}"),
        }
        assert!(Instant::now() < deadline, "slots were never given back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_has_a_request_id() {
    let app = TestApp::spawn_with(Kind::Sqlite, |c| c.max_api_body_bytes = 1024).await;
    let client = fresh_client();
    let cases = [
        (client.get(app.url("/healthz")), 200),
        (client.get(app.url("/no/such/path")), 404),
        (client.delete(app.url("/healthz")), 405),
        (client.get(app.url("/api/webhooks")), 401),
        (
            client
                .post(app.url("/api/webhooks"))
                .bearer_auth(ADMIN_KEY)
                .header("content-type", "application/json")
                .body(format!("{{\"pad\": \"{}\"}}", "x".repeat(4096))),
            413,
        ),
    ];
    let mut seen = std::collections::HashSet::new();
    for (req, status) in cases {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), status);
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(uuid_like(&id), "{id}");
        assert!(seen.insert(id), "ids are fresh per request");
    }

    // A sane id sent by the client is kept and echoed, on successes and errors.
    for (path, status) in [("/healthz", 200), ("/nope", 404)] {
        let r = client
            .get(app.url(path))
            .header("x-request-id", "client-id-123:retry/2")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status);
        assert_eq!(r.headers()["x-request-id"], "client-id-123:retry/2");
    }
    // One that is too long, not visible ASCII, or sent twice is replaced.
    let too_long = "a".repeat(129);
    let with_space = "has space";
    for values in [vec![too_long.as_str()], vec![with_space], vec!["a", "b"]] {
        let mut req = client.get(app.url("/healthz"));
        for v in &values {
            req = req.header("x-request-id", *v);
        }
        let r = req.send().await.unwrap();
        let ids: Vec<_> = r.headers().get_all("x-request-id").iter().collect();
        assert_eq!(ids.len(), 1, "{values:?}");
        assert!(uuid_like(ids[0].to_str().unwrap()), "{values:?} -> {ids:?}");
    }
    app.stop().await;
}

// A server process of its own: its log is the process's, untouched by other tests'
// subscribers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let (db_url, _) = db_url_for(Kind::Sqlite, dir.path()).await;
    let server = Server::start(&db_url, dir.path());
    let client = reqwest::Client::new();
    let body = issue_body(3, "opened", &[]);
    let send = |id: &str, sig: String| {
        client
            .post(format!("{}/webhooks/github", server.base))
            .header("content-type", "application/json")
            .header("x-github-event", "issues")
            .header("x-github-delivery", format!("d-{id}"))
            .header("x-hub-signature-256", sig)
            .header("x-request-id", id)
            .body(body.clone())
            .send()
    };
    let r = send(
        "accept-me-42",
        github_signature(GITHUB_SECRET, body.as_bytes()),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 202);
    let r = send("refuse-me-7", github_signature("wrong", body.as_bytes()))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let wait = Duration::from_secs(10);
    let accepted = server.log_line(&["webhook accepted"], wait);
    let accepted = accepted.expect("a \"webhook accepted\" line");
    assert!(
        accepted.contains("request_id=accept-me-42")
            && accepted.contains("method=POST")
            && accepted.contains("path=/webhooks/github"),
        "{accepted}"
    );
    let refused = server.log_line(&["request refused"], wait);
    let refused = refused.expect("a \"request refused\" line");
    assert!(refused.contains("request_id=refuse-me-7"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_answers_json_500() {
    let metrics = metrics_handle();
    let routes = Router::new()
        .route(
            "/boom",
            get(|| async {
                if true {
                    panic!("secret detail of the bug");
                }
                "unreachable"
            }),
        )
        .route("/ok", get(|| async { "ok" }));
    let app = with_layers(routes, Duration::from_secs(30));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let limits = Limits {
        header_read_timeout: Duration::from_secs(10),
        max_connections: 16,
        reserve: 4,
    };
    let server = tokio::spawn(serve(listener, app, limits, async move {
        let _ = rx.await;
    }));

    let client = fresh_client();
    let r = client.get(format!("{base}/boom")).send().await.unwrap();
    assert_eq!(r.status(), 500);
    assert!(r.headers().contains_key("x-request-id"));
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "internal");
    assert!(
        !v.to_string().contains("secret detail"),
        "the panic message stays in the log: {v}"
    );
    // The server survived it.
    let r = client.get(format!("{base}/ok")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(metrics.render().contains("switchyard_http_panics_total"));

    let _ = tx.send(());
    timeout(BOUND, server)
        .await
        .expect("shutdown in time")
        .unwrap()
        .unwrap();
}

/// Requests hyper refuses before any of our code runs: they get hyper's bare
/// answer (no JSON, no request id) and the connection is closed. ARCHITECTURE.md
/// explains why; this pins down what a client sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_refusals_are_bare_status_lines() {
    let app = TestApp::spawn(Kind::Sqlite).await;
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(512 * 1024)
    );
    let many = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..120)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let nul = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\0b\r\n\r\n".to_owned();
    let bad_line = "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n".to_owned();
    let cases = [
        ("header section over hyper's buffer", huge, 431),
        ("more than 100 headers", many, 431),
        ("NUL in a header value", nul, 400),
        ("malformed request line", bad_line, 400),
    ];
    for (what, req, status) in cases {
        let mut s = TcpStream::connect(addr(&app)).await.unwrap();
        // hyper may answer and close before it has read all of a huge request.
        let _ = s.write_all(req.as_bytes()).await;
        let raw = read_answer(&mut s)
            .await
            .unwrap_or_else(|| panic!("{what}: closed without an answer"));
        assert_eq!(raw.status, status, "{what}: {}", raw.head);
        assert!(raw.body.is_empty(), "{what}: {:?}", raw.body);
        assert!(raw.header("x-request-id").is_none(), "{what}");
        let (_, rest) = until_closed(&mut s).await;
        assert!(rest.is_empty(), "{what}: the connection is closed");
    }
    // And the server is none the worse for them.
    let r = fresh_client()
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}
