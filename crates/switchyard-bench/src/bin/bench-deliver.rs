//! `bench-deliver`: issue 4's outbound-delivery benchmark against a running Switchyard.
//!
//! One process hosts the receivers (HTTP/1.1 servers on 127.0.0.1, ephemeral ports)
//! and the load generator. A healthy receiver answers 200 at once and records, per
//! message, when it first arrived; which message it is comes from a `bench_seq`
//! number the generator puts in the GitHub payload (it is forwarded inside
//! `data.payload`). A sick receiver answers 500 to everything.
//!
//! Modes:
//!
//! * `throughput`: D healthy destinations, disabled through the API; N signed GitHub
//!   events are ingested (each makes D forward messages, committed before the 202);
//!   then every destination is enabled at once and the time until the receivers hold
//!   every message gives the engine's delivery rate. `--sick` adds one more forward
//!   per event to a receiver that answers 500 (enabled at the same moment).
//! * `latency`: open-loop ingest at a fixed rate for warm-up + duration seconds; per
//!   message, the receiver's first-arrival time minus the time the generator got the
//!   event's 202 (floored at 0). The 202 is sent after the commit, so this is commit
//!   to first attempt plus at most the 202's trip back.
//! * `isolation`: `latency` with H healthy destinations (default 3) and, with
//!   `--sick`, one extra forward per event to the sick receiver. Run it with and
//!   without `--sick` (scripts/bench-deliver does, each against a fresh server) and
//!   compare the healthy destinations' numbers.
//!
//! Every mode prints a summary on stderr and one JSON object (every number) as the
//! last line on stdout. Everything is bounded in time, and only loopback servers are
//! targeted.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use hdrhistogram::Histogram;
use hmac::{Hmac, Mac};
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex as AsyncMutex;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The longest load phase the tool agrees to (warm-up plus measurement).
const MAX_RUN_SECS: f64 = 600.0;
/// The most events one run may send.
const MAX_EVENTS: u64 = 2_000_000;
/// The most destinations one run may create.
const MAX_DESTINATIONS: usize = 64;
/// Clock ticks per second in /proc (USER_HZ; 100 on Linux).
const HZ: f64 = 100.0;

static X_GITHUB_EVENT: HeaderName = HeaderName::from_static("x-github-event");
static X_GITHUB_DELIVERY: HeaderName = HeaderName::from_static("x-github-delivery");
static X_HUB_SIGNATURE_256: HeaderName = HeaderName::from_static("x-hub-signature-256");
static WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");

#[derive(Debug, Parser)]
#[command(
    name = "bench-deliver",
    version,
    about = "Outbound-delivery benchmark: throughput, latency and isolation"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Backlog drain: ingest N events to disabled destinations, enable them all at
    /// once, time until the receivers hold every message.
    Throughput(ThroughputArgs),
    /// Open-loop ingest at a fixed rate; commit -> first attempt latency per message.
    Latency(RateArgs),
    /// `latency` with several healthy destinations (default 3) and, with `--sick`,
    /// one more that answers 500 to everything.
    Isolation(RateArgs),
}

#[derive(Debug, Args)]
struct Common {
    /// Switchyard's base URL, e.g. http://127.0.0.1:8000. Loopback hosts only.
    #[arg(long)]
    server: String,
    /// The admin API key (bearer).
    #[arg(long, env = "SWITCHYARD_ADMIN_KEY", hide_env_values = true)]
    admin_key: String,
    /// Worker threads of this process's runtime (generator and receivers).
    #[arg(long)]
    threads: Option<usize>,
    /// Keep-alive connections the generator sends events over.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Per-request timeout (s) for ingest and API calls.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// The server's pid: its CPU time is reported per phase.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The database's user id (e.g. `id -u postgres`): the CPU time of that user's
    /// processes is reported as the database's.
    #[arg(long)]
    db_uid: Option<u32>,
    /// A free-form label copied into the JSON line.
    #[arg(long, default_value = "")]
    label: String,
}

#[derive(Debug, Args)]
struct ThroughputArgs {
    #[command(flatten)]
    common: Common,
    /// Healthy destinations (one forward command each).
    #[arg(long, default_value_t = 4)]
    destinations: usize,
    /// Events to ingest; each makes one message per destination.
    #[arg(long, default_value_t = 10_000)]
    events: u64,
    /// Add one destination that answers 500 to everything.
    #[arg(long)]
    sick: bool,
    /// Longest wait (s) for the ingest phase.
    #[arg(long, default_value_t = 120.0)]
    ingest_timeout: f64,
    /// Longest wait (s), after enabling, for the receivers to hold every message.
    #[arg(long, default_value_t = 120.0)]
    drain_timeout: f64,
}

#[derive(Debug, Args)]
struct RateArgs {
    #[command(flatten)]
    common: Common,
    /// Healthy destinations (default: 1 for `latency`, 3 for `isolation`).
    #[arg(long)]
    destinations: Option<usize>,
    /// Events per second (open loop); each makes one message per destination.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Warm-up seconds: load is applied but not measured.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Measured seconds.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Longest wait (s) after the load for the last messages to arrive.
    #[arg(long, default_value_t = 15.0)]
    drain: f64,
    /// Add one destination that answers 500 to everything.
    #[arg(long)]
    sick: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (common, threads) = match &cli.mode {
        Mode::Throughput(a) => (&a.common, a.common.threads),
        Mode::Latency(a) | Mode::Isolation(a) => (&a.common, a.common.threads),
    };
    check_common(common)?;
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    let out = match cli.mode {
        Mode::Throughput(a) => rt.block_on(throughput(a, threads)),
        Mode::Latency(a) => rt.block_on(rate_mode(a, "latency", 1, threads)),
        Mode::Isolation(a) => rt.block_on(rate_mode(a, "isolation", 3, threads)),
    };
    // Receivers' accept loops and idle connections are not waited for.
    rt.shutdown_timeout(Duration::from_secs(1));
    let json = out?;
    println!("{json}");
    Ok(())
}

fn check_common(c: &Common) -> anyhow::Result<()> {
    if c.connections == 0 || c.connections > 1024 {
        bail!("--connections must be within 1..=1024");
    }
    if !(c.timeout.is_finite() && c.timeout > 0.0 && c.timeout <= 120.0) {
        bail!("--timeout must be within (0, 120] s");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Time

/// Nanoseconds since a run's base instant, plus one (0 means "not yet").
#[derive(Clone, Copy)]
struct Clock {
    base: Instant,
}

impl Clock {
    fn stamp(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.base).as_nanos() as u64 + 1
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

// ---------------------------------------------------------------------------------
// Receivers

/// One receiving endpoint and what it saw.
struct Receiver {
    url: String,
    sick: bool,
    clock: Clock,
    /// First-arrival stamp per `bench_seq` (0: not yet).
    first: Vec<AtomicU64>,
    requests: AtomicU64,
    unique: AtomicU64,
    duplicates: AtomicU64,
    /// Requests without a `bench_seq` this receiver can place.
    unplaced: AtomicU64,
    /// Requests without a `webhook-id` header.
    no_webhook_id: AtomicU64,
    /// The latest first-arrival stamp.
    last: AtomicU64,
}

impl Receiver {
    fn first_at(&self, seq: usize) -> u64 {
        self.first.get(seq).map_or(0, |a| a.load(Ordering::Relaxed))
    }
}

/// Binds a receiver on 127.0.0.1:0 and serves it until the runtime stops.
async fn start_receiver(
    name: &str,
    sick: bool,
    capacity: usize,
    clock: Clock,
) -> anyhow::Result<Arc<Receiver>> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding a receiver")?;
    let port = listener.local_addr()?.port();
    let mut first = Vec::with_capacity(capacity);
    first.resize_with(capacity, || AtomicU64::new(0));
    let r = Arc::new(Receiver {
        url: format!("http://127.0.0.1:{port}/{name}"),
        sick,
        clock,
        first,
        requests: AtomicU64::new(0),
        unique: AtomicU64::new(0),
        duplicates: AtomicU64::new(0),
        unplaced: AtomicU64::new(0),
        no_webhook_id: AtomicU64::new(0),
        last: AtomicU64::new(0),
    });
    let rr = r.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let r = rr.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| handle(r.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(r)
}

async fn handle(
    r: Arc<Receiver>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let arrived = Instant::now();
    let has_id = req.headers().contains_key(&WEBHOOK_ID);
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    r.requests.fetch_add(1, Ordering::Relaxed);
    if !has_id {
        r.no_webhook_id.fetch_add(1, Ordering::Relaxed);
    }
    let status = if r.sick {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        match find_seq(&body).and_then(|s| r.first.get(s as usize)) {
            Some(slot) => {
                let t = r.clock.stamp(arrived);
                if slot
                    .compare_exchange(0, t, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
                {
                    r.unique.fetch_add(1, Ordering::Relaxed);
                    r.last.fetch_max(t, Ordering::Relaxed);
                } else {
                    r.duplicates.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                r.unplaced.fetch_add(1, Ordering::Relaxed);
            }
        }
        StatusCode::OK
    };
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    Ok(resp)
}

/// The number after `"bench_seq":` in a body, wherever the payload sits in it.
fn find_seq(body: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"bench_seq\":";
    let at = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = body.get(at..)?;
    let rest = &rest[rest.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

// ---------------------------------------------------------------------------------
// HTTP client (one keep-alive connection)

/// Where the server is.
#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    host: HeaderValue,
}

fn parse_server(url: &str) -> anyhow::Result<Target> {
    let uri: Uri = url
        .parse()
        .with_context(|| format!("invalid URL {url:?}"))?;
    if uri.scheme_str() != Some("http") {
        bail!("only http:// URLs are supported (got {url:?})");
    }
    let host = uri.host().context("the URL has no host")?;
    let port = uri.port_u16().unwrap_or(80);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addr = (bare, port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .find(|a| a.ip().is_loopback())
        .with_context(|| {
            format!("{host} is not a loopback address; this tool only targets this machine")
        })?;
    let ip: IpAddr = addr.ip();
    if !ip.is_loopback() {
        bail!("refusing non-loopback target {ip}");
    }
    let authority = uri
        .authority()
        .context("the URL has no authority")?
        .as_str();
    Ok(Target {
        addr,
        host: HeaderValue::from_str(authority)?,
    })
}

struct Conn {
    target: Target,
    timeout: Duration,
    conn: Option<(SendRequest<Full<Bytes>>, JoinHandle<()>)>,
    connects: u64,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.drop_conn();
    }
}

impl Conn {
    fn new(target: &Target, timeout: Duration) -> Self {
        Self {
            target: target.clone(),
            timeout,
            conn: None,
            connects: 0,
        }
    }

    fn drop_conn(&mut self) {
        if let Some((_, driver)) = self.conn.take() {
            driver.abort();
        }
    }

    async fn connect(&mut self) -> anyhow::Result<()> {
        let stream = TcpStream::connect(self.target.addr)
            .await
            .with_context(|| format!("connecting to {}", self.target.addr))?;
        stream.set_nodelay(true)?;
        let (sender, conn) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        self.conn = Some((sender, driver));
        self.connects += 1;
        Ok(())
    }

    async fn once(&mut self, req: Request<Full<Bytes>>) -> anyhow::Result<(StatusCode, Bytes)> {
        if self.conn.as_ref().is_none_or(|(s, _)| s.is_closed()) {
            self.drop_conn();
            self.connect().await?;
        }
        let (sender, _) = self.conn.as_mut().context("no connection")?;
        sender.ready().await?;
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// One request; a transport error or timeout drops the connection (the next
    /// call opens a new one) and is returned.
    async fn send(&mut self, req: Request<Full<Bytes>>) -> anyhow::Result<(StatusCode, Bytes)> {
        let limit = self.timeout;
        match tokio::time::timeout(limit, self.once(req)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                self.drop_conn();
                Err(e)
            }
            Err(_) => {
                self.drop_conn();
                bail!("no answer within {limit:?}")
            }
        }
    }
}

/// The management API, with the admin key.
struct Api {
    conn: Conn,
    auth: HeaderValue,
}

impl Api {
    fn new(target: &Target, key: &str, timeout: Duration) -> anyhow::Result<Self> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {key}"))
            .context("the admin key is not a valid header value")?;
        auth.set_sensitive(true);
        Ok(Self {
            conn: Conn::new(target, timeout),
            auth,
        })
    }

    async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.conn.target.host.clone())
            .header(USER_AGENT, HeaderValue::from_static("bench-deliver"))
            .header(AUTHORIZATION, self.auth.clone());
        let bytes = match body {
            Some(v) => {
                req = req.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Bytes::from(serde_json::to_vec(v)?)
            }
            None => Bytes::new(),
        };
        self.conn
            .send(req.body(Full::new(bytes))?)
            .await
            .with_context(|| path.to_owned())
    }

    /// A call that must answer one of `ok`; its JSON body.
    async fn expect(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        ok: &[u16],
    ) -> anyhow::Result<Value> {
        let (status, bytes) = self.call(method.clone(), path, body).await?;
        if !ok.contains(&status.as_u16()) {
            bail!(
                "{method} {path} answered {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(600)])
            );
        }
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Creates (or finds) the destination of `url`; its id.
    async fn destination(&mut self, url: &str) -> anyhow::Result<String> {
        let v = self
            .expect(
                Method::POST,
                "/api/destinations",
                Some(&json!({ "url": url })),
                &[200, 201],
            )
            .await?;
        v.get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .context("POST /api/destinations answered without an id")
    }

    async fn set_enabled(&mut self, id: &str, on: bool) -> anyhow::Result<()> {
        let verb = if on { "enable" } else { "disable" };
        self.expect(
            Method::POST,
            &format!("/api/destinations/{id}/{verb}"),
            None,
            &[200],
        )
        .await?;
        Ok(())
    }

    /// Whether the destination has at least one pending delivery.
    async fn has_pending(&mut self, id: &str) -> anyhow::Result<bool> {
        let v = self
            .expect(
                Method::GET,
                &format!("/api/deliveries?status=pending&destination={id}&limit=1"),
                None,
                &[200],
            )
            .await?;
        Ok(v.get("deliveries")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty()))
    }

    /// How many deliveries of a destination have `status` (counted a page of 500
    /// at a time, at most `cap`).
    async fn count(&mut self, id: &str, status: &str, cap: u64) -> anyhow::Result<u64> {
        let mut n = 0u64;
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/deliveries?status={status}&destination={id}&limit=500");
            if let Some(c) = &cursor {
                path.push_str("&cursor=");
                path.push_str(c);
            }
            let v = self.expect(Method::GET, &path, None, &[200]).await?;
            n += v
                .get("deliveries")
                .and_then(Value::as_array)
                .map_or(0, |a| a.len() as u64);
            cursor = v
                .get("next_cursor")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if cursor.is_none() || n >= cap {
                return Ok(n);
            }
        }
    }

    async fn get_destination(&mut self, id: &str) -> anyhow::Result<Value> {
        self.expect(
            Method::GET,
            &format!("/api/destinations/{id}"),
            None,
            &[200],
        )
        .await
    }

    /// Registers a GitHub webhook forwarding `issues.opened` to each URL.
    async fn webhook(&mut self, id: &str, secret: &str, urls: &[String]) -> anyhow::Result<()> {
        let commands: Vec<Value> = urls
            .iter()
            .map(|u| json!({"trigger": "issues.opened", "action": "forward", "url": u}))
            .collect();
        let body = json!({
            "webhook_id": id, "name": id, "provider": "github", "secret": secret,
            "commands": commands,
        });
        self.expect(Method::POST, "/api/webhooks", Some(&body), &[201])
            .await?;
        Ok(())
    }

    /// `switchyard_delivery_attempts_total` by outcome, from /metrics.
    async fn attempts(&mut self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        let Ok((status, body)) = self.call(Method::GET, "/metrics", None).await else {
            return out;
        };
        if !status.is_success() {
            return out;
        }
        for line in String::from_utf8_lossy(&body).lines() {
            let Some(rest) = line.strip_prefix("switchyard_delivery_attempts_total{") else {
                continue;
            };
            let Some((labels, value)) = rest.split_once("} ") else {
                continue;
            };
            let outcome = labels
                .split(',')
                .find_map(|kv| kv.strip_prefix("outcome="))
                .map(|v| v.trim_matches('"').to_owned())
                .unwrap_or_default();
            let v: f64 = value.trim().parse().unwrap_or(0.0);
            *out.entry(outcome).or_default() += v;
        }
        out
    }
}

fn attempts_delta(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in b {
        let d = v - a.get(k).copied().unwrap_or(0.0);
        m.insert(k.clone(), json!(d.round() as i64));
    }
    Value::Object(m)
}

// ---------------------------------------------------------------------------------
// Events

/// A trimmed but realistic GitHub `issues.opened` payload (~1.9 KB) carrying the
/// bench's sequence number as `issue.number` and `bench_seq`.
fn event_body(seq: u64, run: &str) -> anyhow::Result<Vec<u8>> {
    let user = |login: &str, id: u64| {
        json!({
            "login": login, "id": id, "node_id": "MDQ6VXNlcjIxMDMxMDY3",
            "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
            "html_url": format!("https://github.com/{login}"),
            "type": "User", "site_admin": false
        })
    };
    let number = seq + 1;
    let v = json!({
        "action": "opened",
        "bench_seq": seq,
        "bench_run": run,
        "issue": {
            "url": format!("https://api.github.com/repos/octo-org/switchyard-demo/issues/{number}"),
            "html_url": format!("https://github.com/octo-org/switchyard-demo/issues/{number}"),
            "id": 2_000_000_000u64 + number,
            "node_id": "I_kwDOJ5pXXs5pQ6Zk",
            "number": number,
            "title": format!("Load test issue #{number}: webhook delivery stalls under load"),
            "user": user("octocat", 583231),
            "labels": [{"id": 208045946u64, "name": "bug", "color": "d73a4a", "default": true}],
            "state": "open", "locked": false, "assignee": null, "assignees": [],
            "milestone": null, "comments": 0,
            "created_at": "2024-05-01T12:00:00Z", "updated_at": "2024-05-01T12:00:00Z",
            "closed_at": null, "author_association": "OWNER",
            "body": "The gateway drops the connection when a delivery arrives during a restart. \
                     Steps: start the server, send a delivery, restart; expected a 202 or a retry.",
            "reactions": {"total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "hooray": 0,
                          "confused": 0, "heart": 0, "rocket": 0, "eyes": 0},
            "state_reason": null
        },
        "repository": {
            "id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
            "name": "switchyard-demo", "full_name": "octo-org/switchyard-demo",
            "private": false, "owner": user("octo-org", 9919),
            "html_url": "https://github.com/octo-org/switchyard-demo",
            "description": "Demo repository for webhook load tests",
            "fork": false, "default_branch": "main", "visibility": "public"
        },
        "organization": {"login": "octo-org", "id": 9919},
        "sender": user("octocat", 583231)
    });
    Ok(serde_json::to_vec(&v)?)
}

fn signature(secret: &[u8], body: &[u8]) -> anyhow::Result<HeaderValue> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret)?;
    m.update(body);
    Ok(HeaderValue::from_str(&format!(
        "sha256={}",
        hex::encode(m.finalize().into_bytes())
    ))?)
}

/// What every ingest worker shares.
struct IngestCtx {
    target: Target,
    path: Uri,
    secret: String,
    run: String,
    clock: Clock,
    timeout: Duration,
    /// 202 stamp per event (rate modes).
    acks: Option<Vec<AtomicU64>>,
    /// Past this, nothing more is sent.
    deadline: Instant,
}

impl IngestCtx {
    fn request(&self, seq: u64) -> anyhow::Result<Request<Full<Bytes>>> {
        let body = event_body(seq, &self.run)?;
        let sig = signature(self.secret.as_bytes(), &body)?;
        let delivery = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())?;
        Ok(Request::post(self.path.clone())
            .header(HOST, self.target.host.clone())
            .header(
                USER_AGENT,
                HeaderValue::from_static("GitHub-Hookshot/bench"),
            )
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(&X_GITHUB_EVENT, HeaderValue::from_static("issues"))
            .header(&X_GITHUB_DELIVERY, delivery)
            .header(&X_HUB_SIGNATURE_256, sig)
            .body(Full::new(Bytes::from(body)))?)
    }
}

/// What the generator counted.
struct IngestStats {
    accepted: u64,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    /// Events never sent (the deadline passed first).
    skipped: u64,
    last_error: Option<String>,
    /// Ingest latency (µs): from the scheduled send time (rate modes) or the send
    /// (throughput) to the 202.
    hist: Histogram<u64>,
    connects: u64,
}

impl IngestStats {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            accepted: 0,
            statuses: BTreeMap::new(),
            errors: 0,
            skipped: 0,
            last_error: None,
            hist: Histogram::new_with_bounds(1, 600_000_000, 3)?,
            connects: 0,
        })
    }

    fn merge(&mut self, o: &IngestStats) -> anyhow::Result<()> {
        self.accepted += o.accepted;
        self.errors += o.errors;
        self.skipped += o.skipped;
        self.connects += o.connects;
        for (k, v) in &o.statuses {
            *self.statuses.entry(*k).or_default() += v;
        }
        if o.last_error.is_some() {
            self.last_error.clone_from(&o.last_error);
        }
        self.hist.add(&o.hist)?;
        Ok(())
    }

    fn json(&self) -> Value {
        json!({
            "accepted": self.accepted,
            "statuses": self.statuses.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>(),
            "errors": self.errors,
            "skipped": self.skipped,
            "last_error": self.last_error,
            "connects": self.connects,
            "latency_ms": hist_ms(&self.hist),
        })
    }
}

fn hist_ms(h: &Histogram<u64>) -> Value {
    let q = |q: f64| round(h.value_at_quantile(q) as f64 / 1000.0, 3);
    json!({
        "count": h.len(),
        "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p999": q(0.999),
        "max": round(h.max() as f64 / 1000.0, 3),
        "mean": round(h.mean() / 1000.0, 3),
    })
}

/// Sends one event; counts it; returns whether it was accepted.
async fn send_event(
    ctx: &IngestCtx,
    conn: &mut Conn,
    seq: u64,
    from: Instant,
    st: &mut IngestStats,
) -> bool {
    let req = match ctx.request(seq) {
        Ok(r) => r,
        Err(e) => {
            st.errors += 1;
            st.last_error = Some(format!("{e:#}"));
            return false;
        }
    };
    match conn.send(req).await {
        Ok((status, body)) => {
            let now = Instant::now();
            *st.statuses.entry(status.as_u16()).or_default() += 1;
            if status.is_success() {
                st.accepted += 1;
                let _ = st
                    .hist
                    .record((now.saturating_duration_since(from).as_micros() as u64).max(1));
                if let Some(slot) = ctx.acks.as_ref().and_then(|a| a.get(seq as usize)) {
                    slot.store(ctx.clock.stamp(now), Ordering::Relaxed);
                }
                true
            } else {
                st.last_error = Some(format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                ));
                false
            }
        }
        Err(e) => {
            st.errors += 1;
            st.last_error = Some(format!("{e:#}"));
            false
        }
    }
}

/// Closed loop: `conns` connections send events 0..n as fast as they are answered.
async fn ingest_closed(ctx: Arc<IngestCtx>, n: u64, conns: usize) -> anyhow::Result<IngestStats> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conns {
        let ctx = ctx.clone();
        let next = next.clone();
        tasks.spawn(async move {
            let mut st = IngestStats::new()?;
            let mut conn = Conn::new(&ctx.target, ctx.timeout);
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= n {
                    break;
                }
                if Instant::now() >= ctx.deadline {
                    st.skipped += 1;
                    continue;
                }
                send_event(&ctx, &mut conn, seq, Instant::now(), &mut st).await;
            }
            st.connects = conn.connects;
            Ok::<_, anyhow::Error>(st)
        });
    }
    join_stats(tasks, ctx.deadline).await
}

async fn join_stats(
    mut tasks: tokio::task::JoinSet<anyhow::Result<IngestStats>>,
    deadline: Instant,
) -> anyhow::Result<IngestStats> {
    let mut all = IngestStats::new()?;
    let hard = deadline + Duration::from_secs(15);
    loop {
        match tokio::time::timeout_at(hard, tasks.join_next()).await {
            Ok(Some(Ok(Ok(st)))) => all.merge(&st)?,
            Ok(Some(Ok(Err(e)))) => return Err(e),
            Ok(Some(Err(e))) => bail!("an ingest task failed: {e}"),
            Ok(None) => break,
            Err(_) => {
                tasks.abort_all();
                eprintln!("bench-deliver: ingest connections did not stop in time; aborted");
                break;
            }
        }
    }
    Ok(all)
}

/// Open loop: event i is due at start + i / rate, whatever the answers; `conns`
/// connections take due events in order. Returns the stats and how many events were
/// scheduled.
async fn ingest_open(
    ctx: Arc<IngestCtx>,
    start: Instant,
    rate: f64,
    n: u64,
    conns: usize,
) -> anyhow::Result<IngestStats> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    let rx = Arc::new(AsyncMutex::new(rx));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conns {
        let ctx = ctx.clone();
        let rx = rx.clone();
        tasks.spawn(async move {
            let mut st = IngestStats::new()?;
            let mut conn = Conn::new(&ctx.target, ctx.timeout);
            loop {
                let job = { rx.lock().await.recv().await };
                let Some((seq, due)) = job else { break };
                if Instant::now() >= ctx.deadline {
                    st.skipped += 1;
                    continue;
                }
                send_event(&ctx, &mut conn, seq, due, &mut st).await;
            }
            st.connects = conn.connects;
            Ok::<_, anyhow::Error>(st)
        });
    }
    let period = 1.0 / rate;
    for i in 0..n {
        let due = start + Duration::from_secs_f64(i as f64 * period);
        if due > ctx.deadline {
            break;
        }
        tokio::time::sleep_until(due).await;
        if tx.send((i, due)).is_err() {
            break;
        }
    }
    drop(tx);
    join_stats(tasks, ctx.deadline).await
}

// ---------------------------------------------------------------------------------
// CPU accounting

#[derive(Clone, Default)]
struct Cpu {
    server: f64,
    /// CPU seconds per process of the database's user.
    db: HashMap<u32, f64>,
    own: f64,
    busy: f64,
    total: f64,
}

fn proc_cpu(pid: &str) -> f64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name may hold spaces; fields restart after its ')'.
    let Some(rest) = s.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')' comes field 3 (state); utime is field 14 and stime 15.
    let get = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (get(11) + get(12)) / HZ
}

fn machine_cpu() -> (f64, f64) {
    let Ok(s) = std::fs::read_to_string("/proc/stat") else {
        return (0.0, 0.0);
    };
    let Some(line) = s.lines().find(|l| l.starts_with("cpu ")) else {
        return (0.0, 0.0);
    };
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let g = |i: usize| v.get(i).copied().unwrap_or(0.0);
    // user nice system idle iowait irq softirq steal
    let busy = g(0) + g(1) + g(2) + g(5) + g(6) + g(7);
    (busy / HZ, (busy + g(3) + g(4)) / HZ)
}

/// CPU seconds of every process owned by `uid`, by pid.
fn user_cpu(uid: u32) -> HashMap<u32, f64> {
    use std::os::unix::fs::MetadataExt;
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if e.metadata().is_ok_and(|m| m.uid() == uid) {
            out.insert(pid, proc_cpu(&pid.to_string()));
        }
    }
    out
}

fn cpu_now(c: &Common) -> Cpu {
    let (busy, total) = machine_cpu();
    Cpu {
        server: c.server_pid.map_or(0.0, |p| proc_cpu(&p.to_string())),
        db: c.db_uid.map(user_cpu).unwrap_or_default(),
        own: proc_cpu("self"),
        busy,
        total,
    }
}

/// CPU seconds used between two snapshots, and per unit of work (µs per `unit`).
fn cpu_json(a: &Cpu, b: &Cpu, c: &Common, work: u64, unit: &str) -> Value {
    let server = b.server - a.server;
    // A process that started in between counts whole; one that ended is lost.
    let db: f64 =
        b.db.iter()
            .map(|(pid, t)| t - a.db.get(pid).copied().unwrap_or(0.0))
            .sum();
    let own = b.own - a.own;
    let busy = b.busy - a.busy;
    let total = b.total - a.total;
    let other = (busy - server - db - own).max(0.0);
    let per = |x: f64| (work > 0).then(|| (x / work as f64 * 1e6).round());
    let mut m = serde_json::Map::new();
    m.insert(
        "server_cpu_s".into(),
        json!(c.server_pid.map(|_| round(server, 2))),
    );
    m.insert("db_cpu_s".into(), json!(c.db_uid.map(|_| round(db, 2))));
    m.insert("bench_cpu_s".into(), json!(round(own, 2)));
    m.insert(
        "machine_busy_pct".into(),
        json!((total > 0.0).then(|| round(busy / total * 100.0, 1))),
    );
    m.insert("other_cpu_s".into(), json!(round(other, 2)));
    m.insert(
        "other_cpu_pct".into(),
        json!((total > 0.0).then(|| round(other / total * 100.0, 1))),
    );
    m.insert(
        format!("server_us_per_{unit}"),
        json!(c.server_pid.and_then(|_| per(server))),
    );
    m.insert(
        format!("db_us_per_{unit}"),
        json!(c.db_uid.and_then(|_| per(db))),
    );
    m.insert(format!("bench_us_per_{unit}"), json!(per(own)));
    Value::Object(m)
}

// ---------------------------------------------------------------------------------
// Setup shared by the modes

struct Setup {
    target: Target,
    api: Api,
    clock: Clock,
    healthy: Vec<Arc<Receiver>>,
    healthy_ids: Vec<String>,
    sick: Option<(Arc<Receiver>, String)>,
    webhook_id: String,
    secret: String,
}

async fn setup(
    c: &Common,
    destinations: usize,
    sick: bool,
    capacity: usize,
    tag: &str,
) -> anyhow::Result<Setup> {
    if destinations == 0 || destinations > MAX_DESTINATIONS {
        bail!("--destinations must be within 1..={MAX_DESTINATIONS}");
    }
    let target = parse_server(&c.server)?;
    let timeout = Duration::from_secs_f64(c.timeout);
    let mut api = Api::new(&target, &c.admin_key, timeout)?;
    let clock = Clock {
        base: Instant::now(),
    };
    let run = format!("{tag}-{:08x}", rand::random::<u32>());
    let mut healthy = Vec::new();
    let mut healthy_ids = Vec::new();
    for i in 0..destinations {
        let r = start_receiver(&format!("{run}/h{i}"), false, capacity, clock).await?;
        healthy_ids.push(api.destination(&r.url).await?);
        healthy.push(r);
    }
    let sick = if sick {
        let r = start_receiver(&format!("{run}/sick"), true, 0, clock).await?;
        let id = api.destination(&r.url).await?;
        Some((r, id))
    } else {
        None
    };
    let secret = format!("bench-{:016x}", rand::random::<u64>());
    let mut urls: Vec<String> = healthy.iter().map(|r| r.url.clone()).collect();
    if let Some((r, _)) = &sick {
        urls.push(r.url.clone());
    }
    api.webhook(&run, &secret, &urls).await?;
    eprintln!(
        "bench-deliver: webhook {run}: {} healthy destination(s){}",
        healthy.len(),
        if sick.is_some() {
            " + 1 sick (always 500)"
        } else {
            ""
        }
    );
    Ok(Setup {
        target,
        api,
        clock,
        healthy,
        healthy_ids,
        sick,
        webhook_id: run,
        secret,
    })
}

impl Setup {
    fn ingest_ctx(&self, c: &Common, acks: usize, deadline: Instant) -> anyhow::Result<IngestCtx> {
        let mut a = Vec::new();
        a.resize_with(acks, || AtomicU64::new(0));
        Ok(IngestCtx {
            target: self.target.clone(),
            path: format!("/webhooks/github/{}", self.webhook_id)
                .parse()
                .context("webhook path")?,
            secret: self.secret.clone(),
            run: self.webhook_id.clone(),
            clock: self.clock,
            timeout: Duration::from_secs_f64(c.timeout),
            acks: (acks > 0).then_some(a),
            deadline,
        })
    }

    fn receivers_json(&self) -> Value {
        let r = |r: &Receiver| {
            json!({
                "url": r.url,
                "requests": r.requests.load(Ordering::Relaxed),
                "unique": r.unique.load(Ordering::Relaxed),
                "duplicates": r.duplicates.load(Ordering::Relaxed),
                "unplaced": r.unplaced.load(Ordering::Relaxed),
                "no_webhook_id": r.no_webhook_id.load(Ordering::Relaxed),
            })
        };
        json!({
            "healthy": self.healthy.iter().map(|x| r(x)).collect::<Vec<_>>(),
            "sick": self.sick.as_ref().map(|(x, _)| r(x)),
        })
    }

    fn duplicates(&self) -> u64 {
        self.healthy
            .iter()
            .map(|r| r.duplicates.load(Ordering::Relaxed))
            .sum()
    }

    /// The sick destination's state at the end: requests it got, the engine's view,
    /// and its deliveries by status.
    async fn sick_json(&mut self) -> Value {
        let Some((r, id)) = self.sick.clone() else {
            return Value::Null;
        };
        let dest = self.api.get_destination(&id).await.unwrap_or(Value::Null);
        let pending = self.api.count(&id, "pending", 1_000_000).await.ok();
        let failed = self.api.count(&id, "failed", 1_000_000).await.ok();
        json!({
            "requests": r.requests.load(Ordering::Relaxed),
            "circuit": dest.get("circuit"),
            "enabled": dest.get("enabled"),
            "pending": pending,
            "failed": failed,
        })
    }

    /// Pending and failed deliveries left on the healthy destinations.
    async fn healthy_leftovers(&mut self) -> (u64, u64) {
        let mut pending = 0;
        let mut failed = 0;
        for id in self.healthy_ids.clone() {
            pending += self.api.count(&id, "pending", 1_000_000).await.unwrap_or(0);
            failed += self.api.count(&id, "failed", 1_000_000).await.unwrap_or(0);
        }
        (pending, failed)
    }
}

// ---------------------------------------------------------------------------------
// throughput

async fn throughput(a: ThroughputArgs, threads: usize) -> anyhow::Result<Value> {
    let c = &a.common;
    if a.events == 0 || a.events > MAX_EVENTS {
        bail!("--events must be within 1..={MAX_EVENTS}");
    }
    for (name, v) in [
        ("--ingest-timeout", a.ingest_timeout),
        ("--drain-timeout", a.drain_timeout),
    ] {
        if !(v.is_finite() && v > 0.0 && v <= MAX_RUN_SECS) {
            bail!("{name} must be within (0, {MAX_RUN_SECS}] s");
        }
    }
    let n = a.events;
    let mut s = setup(c, a.destinations, a.sick, n as usize, "thr").await?;
    // Everything waits: the messages pile up in the outbox.
    for id in s.healthy_ids.clone() {
        s.api.set_enabled(&id, false).await?;
    }
    if let Some((_, id)) = s.sick.clone() {
        s.api.set_enabled(&id, false).await?;
    }

    let t_ingest = Instant::now();
    let deadline = t_ingest + Duration::from_secs_f64(a.ingest_timeout);
    let ctx = Arc::new(s.ingest_ctx(c, 0, deadline)?);
    let cpu0 = cpu_now(c);
    let ing = ingest_closed(ctx, n, c.connections).await?;
    let ingest_s = secs(t_ingest.elapsed());
    let cpu1 = cpu_now(c);
    let messages = ing.accepted * (a.destinations as u64 + u64::from(a.sick));
    eprintln!(
        "bench-deliver: ingested {} of {n} events in {ingest_s:.2} s ({:.0}/s, {} errors, statuses {:?}); {messages} messages wait",
        ing.accepted,
        ing.accepted as f64 / ingest_s,
        ing.errors,
        ing.statuses
    );
    if ing.accepted < n {
        bail!(
            "only {} of {n} events were accepted (last error: {:?})",
            ing.accepted,
            ing.last_error
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let early: u64 = s
        .healthy
        .iter()
        .map(|r| r.requests.load(Ordering::Relaxed))
        .sum();
    if early > 0 {
        eprintln!("bench-deliver: WARNING: {early} messages arrived while their destinations were disabled");
    }

    // Enable everything at once: one call per destination, each on its own
    // connection (opened beforehand), all in parallel.
    let mut ids = s.healthy_ids.clone();
    if let Some((_, id)) = &s.sick {
        ids.push(id.clone());
    }
    let mut apis = Vec::new();
    for id in &ids {
        let mut api = Api::new(&s.target, &c.admin_key, Duration::from_secs_f64(c.timeout))?;
        api.get_destination(id).await?;
        apis.push((api, id.clone()));
    }
    let before = s.api.attempts().await;
    let cpu2 = cpu_now(c);
    let t0 = Instant::now();
    let mut enables = tokio::task::JoinSet::new();
    for (mut api, id) in apis {
        enables.spawn(async move { api.set_enabled(&id, true).await });
    }
    while let Some(r) = enables.join_next().await {
        r.context("an enable call panicked")??;
    }
    let enable_ms = secs(t0.elapsed()) * 1000.0;
    let want = n * a.destinations as u64;
    let drain_deadline = t0 + Duration::from_secs_f64(a.drain_timeout);
    let mut next_report = t0 + Duration::from_secs(5);
    let complete = loop {
        let got: u64 = s
            .healthy
            .iter()
            .map(|r| r.unique.load(Ordering::Relaxed))
            .sum();
        if got >= want {
            break true;
        }
        let now = Instant::now();
        if now >= drain_deadline {
            break false;
        }
        if now >= next_report {
            eprintln!("  +{:>5.1}s {got} of {want} delivered", secs(now - t0));
            next_report += Duration::from_secs(5);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let cpu3 = cpu_now(c);
    let after = s.api.attempts().await;
    // Rates are over the time to the last arrival, or, when the drain timed out,
    // over the whole wait.
    let waited = secs(t0.elapsed());

    // Arrival times, all healthy destinations together and per destination.
    let t0s = s.clock.stamp(t0);
    let mut all: Vec<u64> = Vec::with_capacity(want as usize);
    let mut per_dest = Vec::new();
    for r in &s.healthy {
        let mut got = 0u64;
        let mut last = 0u64;
        for i in 0..n as usize {
            let f = r.first_at(i);
            if f > 0 {
                got += 1;
                last = last.max(f);
                all.push(f);
            }
        }
        let last_s = last.saturating_sub(t0s) as f64 / 1e9;
        let span = if got >= n { last_s } else { waited };
        per_dest.push(json!({
            "delivered": got,
            "last_s": round(last_s, 3),
            "rate_per_s": (span > 0.0).then(|| (got as f64 / span).round()),
        }));
    }
    all.sort_unstable();
    let delivered = all.len() as u64;
    let span = if complete {
        all.last()
            .map_or(0.0, |l| l.saturating_sub(t0s) as f64 / 1e9)
    } else {
        waited
    };
    let first_s = all.first().map(|f| f.saturating_sub(t0s) as f64 / 1e9);
    // The middle 80 % of arrivals, without the start-up and the tail.
    let steady = (complete && all.len() >= 100).then(|| {
        let lo = all[all.len() / 10];
        let hi = all[all.len() * 9 / 10];
        let dt = hi.saturating_sub(lo) as f64 / 1e9;
        ((all.len() * 8 / 10) as f64 / dt.max(1e-9)).round()
    });
    let rate = (span > 0.0).then(|| (delivered as f64 / span).round());

    // Until the database says every healthy message is delivered.
    let mut recorded_s = None;
    if complete {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let mut any = false;
            for id in s.healthy_ids.clone() {
                if s.api.has_pending(&id).await.unwrap_or(true) {
                    any = true;
                    break;
                }
            }
            if !any {
                recorded_s = Some(round(secs(t0.elapsed()), 3));
                break;
            }
            if Instant::now() >= until {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let (left_pending, left_failed) = s.healthy_leftovers().await;
    let sick = s.sick_json().await;

    eprintln!(
        "bench-deliver: {delivered} of {want} delivered in {span:.2} s after enabling: {} deliveries/s (steady 10-90 %: {}/s); first after {:.1} ms; recorded after {:?} s",
        rate.unwrap_or(0.0),
        steady.unwrap_or(0.0),
        first_s.unwrap_or(0.0) * 1000.0,
        recorded_s
    );
    for (i, d) in per_dest.iter().enumerate() {
        eprintln!("  destination h{i}: {d}");
    }
    if !sick.is_null() {
        eprintln!("  sick destination: {sick}");
    }
    Ok(json!({
        "tool": "bench-deliver",
        "mode": "throughput",
        "label": c.label,
        "threads": threads,
        "destinations": a.destinations,
        "sick": a.sick,
        "events": n,
        "ingest": {
            "seconds": round(ingest_s, 3),
            "events_per_s": (ing.accepted as f64 / ingest_s).round(),
            "connections": c.connections,
            "cpu": cpu_json(&cpu0, &cpu1, c, ing.accepted, "event"),
            "stats": ing.json(),
        },
        "delivered_while_disabled": early,
        "enable_calls_ms": round(enable_ms, 2),
        "expected": want,
        "delivered": delivered,
        "complete": complete,
        "seconds": round(span, 3),
        "deliveries_per_s": rate,
        "steady_deliveries_per_s": steady,
        "first_delivery_ms": first_s.map(|f| round(f * 1000.0, 2)),
        "recorded_s": recorded_s,
        "per_destination": per_dest,
        "duplicates": s.duplicates(),
        "left_pending": left_pending,
        "left_failed": left_failed,
        "attempts": attempts_delta(&before, &after),
        "cpu": cpu_json(&cpu2, &cpu3, c, delivered, "delivery"),
        "receivers": s.receivers_json(),
        "sick_destination": sick,
    }))
}

// ---------------------------------------------------------------------------------
// latency and isolation

async fn rate_mode(
    a: RateArgs,
    mode: &str,
    default_dests: usize,
    threads: usize,
) -> anyhow::Result<Value> {
    let c = &a.common;
    let finite =
        a.rate.is_finite() && a.warmup.is_finite() && a.duration.is_finite() && a.drain.is_finite();
    if !finite || a.rate <= 0.0 || a.duration <= 0.0 || a.warmup < 0.0 || a.drain < 0.0 {
        bail!("--rate and --duration must be > 0, --warmup and --drain >= 0");
    }
    if a.warmup + a.duration > MAX_RUN_SECS || a.drain > MAX_RUN_SECS {
        bail!("warm-up + duration and the drain must each be at most {MAX_RUN_SECS} s");
    }
    let n = (a.rate * (a.warmup + a.duration)).ceil() as u64;
    if n == 0 || n > MAX_EVENTS {
        bail!("rate x (warm-up + duration) must be within 1..={MAX_EVENTS} events");
    }
    let warm_n = (a.rate * a.warmup).ceil() as u64;
    let dests = a.destinations.unwrap_or(default_dests);
    let mut s = setup(
        c,
        dests,
        a.sick,
        n as usize,
        if mode == "latency" { "lat" } else { "iso" },
    )
    .await?;

    // A little settling time after the setup calls.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = Instant::now() + Duration::from_millis(50);
    let measure_from = start + Duration::from_secs_f64(a.warmup);
    let end = measure_from + Duration::from_secs_f64(a.duration);
    // Answers may arrive a little after the last event is due; nothing new is sent
    // after this.
    let deadline = end + Duration::from_secs(2);
    let ctx = Arc::new(s.ingest_ctx(c, n as usize, deadline)?);
    eprintln!(
        "bench-deliver: {mode}: {} events/s x {dests} healthy{} for {} s warm-up + {} s measured",
        a.rate,
        if a.sick { " + 1 sick" } else { "" },
        a.warmup,
        a.duration
    );
    let generator = tokio::spawn(ingest_open(ctx.clone(), start, a.rate, n, c.connections));

    tokio::time::sleep_until(measure_from).await;
    let before = s.api.attempts().await;
    let cpu0 = cpu_now(c);
    tokio::time::sleep_until(end).await;
    let cpu1 = cpu_now(c);
    let after = s.api.attempts().await;
    let ing = match tokio::time::timeout_at(deadline + Duration::from_secs(20), generator).await {
        Ok(Ok(r)) => r?,
        Ok(Err(e)) => bail!("the generator failed: {e}"),
        Err(_) => bail!("the generator did not stop in time"),
    };

    // Drain: every accepted event's messages at every healthy receiver.
    let acks = ctx.acks.as_ref().context("acks")?;
    let accepted_seqs: Vec<usize> = (0..n as usize)
        .filter(|&i| acks.get(i).is_some_and(|x| x.load(Ordering::Relaxed) > 0))
        .collect();
    let t_drain = Instant::now();
    let drain_until = t_drain + Duration::from_secs_f64(a.drain);
    let drained = loop {
        let all_in = s
            .healthy
            .iter()
            .all(|r| r.unique.load(Ordering::Relaxed) >= accepted_seqs.len() as u64);
        if all_in {
            break true;
        }
        if Instant::now() >= drain_until {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let drain_s = secs(t_drain.elapsed());

    // Per message: first arrival minus the 202 (floored at 0), for events due in the
    // measured window.
    let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut e2e = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut per_dest_h: Vec<Histogram<u64>> = Vec::new();
    for _ in 0..s.healthy.len() {
        per_dest_h.push(Histogram::new_with_bounds(1, 600_000_000, 3)?);
    }
    let (mut measured_events, mut not_accepted, mut missing, mut before_ack) =
        (0u64, 0u64, 0u64, 0u64);
    let period = 1.0 / a.rate;
    for seq in warm_n..n {
        let due = start + Duration::from_secs_f64(seq as f64 * period);
        if due >= end {
            break;
        }
        measured_events += 1;
        let ack = acks
            .get(seq as usize)
            .map_or(0, |x| x.load(Ordering::Relaxed));
        if ack == 0 {
            not_accepted += 1;
            continue;
        }
        let due_s = s.clock.stamp(due);
        for (i, r) in s.healthy.iter().enumerate() {
            let f = r.first_at(seq as usize);
            if f == 0 {
                missing += 1;
                continue;
            }
            if f < ack {
                before_ack += 1;
            }
            let us = (f.saturating_sub(ack) / 1000).max(1);
            hist.saturating_record(us);
            if let Some(h) = per_dest_h.get_mut(i) {
                h.saturating_record(us);
            }
            e2e.saturating_record((f.saturating_sub(due_s) / 1000).max(1));
        }
    }
    // Healthy deliveries that arrived inside the measured window, per second.
    let (w0, w1) = (s.clock.stamp(measure_from), s.clock.stamp(end));
    let mut in_window = 0u64;
    for r in &s.healthy {
        for i in 0..n as usize {
            let f = r.first_at(i);
            if f >= w0 && f < w1 {
                in_window += 1;
            }
        }
    }
    let acks_in_window = (0..n as usize)
        .filter(|&i| {
            let t = acks.get(i).map_or(0, |x| x.load(Ordering::Relaxed));
            t >= w0 && t < w1
        })
        .count() as u64;
    let deliveries_per_s = in_window as f64 / a.duration;
    let (left_pending, left_failed) = s.healthy_leftovers().await;
    let sick = s.sick_json().await;

    let lat = hist_ms(&hist);
    eprintln!(
        "bench-deliver: {mode}: ingest {:.0} events/s accepted in the window (ingest p99 {} ms); healthy deliveries {:.0}/s",
        acks_in_window as f64 / a.duration,
        round(ing.hist.value_at_quantile(0.99) as f64 / 1000.0, 2),
        deliveries_per_s
    );
    eprintln!(
        "  202 -> first attempt (ms): p50 {} p90 {} p99 {} max {} over {} messages; {missing} missing after a {drain_s:.1} s drain; {before_ack} arrived before their 202",
        lat["p50"], lat["p90"], lat["p99"], lat["max"], hist.len()
    );
    if !sick.is_null() {
        eprintln!("  sick destination: {sick}");
    }
    Ok(json!({
        "tool": "bench-deliver",
        "mode": mode,
        "label": c.label,
        "threads": threads,
        "destinations": dests,
        "sick": a.sick,
        "rate": a.rate,
        "warmup_s": a.warmup,
        "duration_s": a.duration,
        "events_scheduled": n,
        "measured_events": measured_events,
        "not_accepted": not_accepted,
        "ingest_per_s": round(acks_in_window as f64 / a.duration, 1),
        "ingest": ing.json(),
        "deliveries_per_s": round(deliveries_per_s, 1),
        "latency_ms": lat,
        "latency_from_schedule_ms": hist_ms(&e2e),
        "per_destination_ms": per_dest_h.iter().map(hist_ms).collect::<Vec<_>>(),
        "missing": missing,
        "arrived_before_202": before_ack,
        "drained": drained,
        "drain_s": round(drain_s, 3),
        "duplicates": s.duplicates(),
        "left_pending": left_pending,
        "left_failed": left_failed,
        "attempts": attempts_delta(&before, &after),
        "cpu": cpu_json(&cpu0, &cpu1, c, in_window, "delivery"),
        "receivers": s.receivers_json(),
        "sick_destination": sick,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_is_found_in_a_forwarded_body() {
        let payload: Value = serde_json::from_slice(&event_body(41, "r").unwrap()).unwrap();
        let forwarded = json!({"type": "issues.opened", "data": {"payload": payload}});
        assert_eq!(find_seq(forwarded.to_string().as_bytes()), Some(41));
        assert_eq!(find_seq(b"{\"bench_seq\": 7}"), Some(7));
        assert_eq!(find_seq(b"{\"bench_seq\":\"x\"}"), None);
        assert_eq!(find_seq(b"{}"), None);
    }

    #[test]
    fn event_is_github_sized() {
        let b = event_body(1, "run").unwrap();
        assert!((1200..2400).contains(&b.len()), "{}", b.len());
    }

    #[test]
    fn only_loopback() {
        assert!(parse_server("http://127.0.0.1:8000").is_ok());
        assert!(parse_server("http://10.0.0.1:8000").is_err());
        assert!(parse_server("https://127.0.0.1:8000").is_err());
    }
}
