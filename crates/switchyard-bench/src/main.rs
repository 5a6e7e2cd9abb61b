//! `switchyard-bench`: a closed-loop load generator for webhook receivers.
//!
//! `switchyard-bench ingest` opens C keep-alive HTTP/1.1 connections to one loopback
//! URL; each connection sends a signed GitHub `issues.opened` delivery, waits for the
//! whole answer, and sends the next one (closed loop: at most C requests in flight).
//! Each request carries its own `X-GitHub-Delivery` id, so a receiver that
//! de-duplicates on it stores every request. The body is built and signed once per
//! connection (the delivery id is a header, which GitHub's signature does not cover),
//! so the generator spends its CPU on HTTP, not on HMAC.
//!
//! Only what completes inside the measured window (after the warm-up) is counted;
//! latency is recorded, in microseconds, for accepted answers only. The last line on
//! stdout is one JSON object with every number, for scripts.
//!
//! `switchyard-bench route` is issue 3's routing benchmark against a running
//! Switchyard: it registers webhooks with commands through the management API, sends
//! signed GitHub `issues` events spread over their endpoints (half of them create a
//! task), checks what was created, and then drains the task queues with concurrent
//! lease + complete consumers. See `route.rs`.
//!
//! `switchyard-bench hitl` is issue 10's human-in-the-loop benchmark: how soon a
//! waiting checkpoint long-poll returns after a decision, and how many pending
//! checkpoints with timers one server holds. See `hitl.rs`.
//!
//! `switchyard-bench runs` is issue 11's workflow benchmark: runs per second of a
//! three-node workflow (template, http to a receiver in this process, template) and
//! each run's latency from its own timestamps. See `runs.rs`.

mod api;
mod hitl;
mod route;
mod runs;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use hdrhistogram::Histogram;
use hmac::{Hmac, Mac};
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST, USER_AGENT};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The longest run the tool agrees to (warm-up plus measurement).
const MAX_RUN_SECS: f64 = 600.0;
/// The most connections the tool agrees to open.
const MAX_CONNECTIONS: usize = 1024;

#[derive(Debug, Parser)]
#[command(
    name = "switchyard-bench",
    version,
    about = "Closed-loop load generator for webhook ingest"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send signed GitHub `issues.opened` deliveries over C keep-alive connections.
    Ingest(IngestArgs),
    /// Routing benchmark: register webhooks with commands, stream signed `issues`
    /// events at them (half create a task), then drain the tasks with lease + complete.
    Route(route::RouteArgs),
    /// Human-in-the-loop benchmark: decision-to-wake latency of checkpoint waits, and
    /// how many pending checkpoints with timers one server holds.
    Hitl(hitl::HitlArgs),
    /// Workflow benchmark: start runs of a three-node workflow (template, http to a
    /// local receiver, template) as fast as they are accepted, and time them to the end.
    Runs(runs::RunsArgs),
}

#[derive(Debug, Args)]
struct IngestArgs {
    /// Target URL, e.g. http://127.0.0.1:8000/webhooks/github. Loopback hosts only.
    #[arg(long)]
    url: String,
    /// The webhook secret the body is signed with (X-Hub-Signature-256).
    #[arg(long, env = "BENCH_SECRET", hide_env_values = true)]
    secret: String,
    /// Concurrent keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Measured seconds (after the warm-up); default 20. With `--requests`, a bound
    /// on the run instead (default 600).
    #[arg(long)]
    duration: Option<f64>,
    /// Warm-up seconds: load is applied but nothing is counted (default 5; always 0
    /// with `--requests`).
    #[arg(long, conflicts_with = "requests")]
    warmup: Option<f64>,
    /// Send exactly this many requests in all (shared by the connections, each still
    /// with one in flight), count every one, and stop: a fixed amount of work, for
    /// measuring the server's CPU per request (scripts/bench-cpu).
    #[arg(long)]
    requests: Option<u64>,
    /// Pad the payload (the issue body) so the request body is about this many bytes.
    #[arg(long)]
    body_bytes: Option<usize>,
    /// Count only this status as accepted (default: any 2xx).
    #[arg(long)]
    expect_status: Option<u16>,
    /// Worker threads of the generator's runtime (default: the number of CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Per-request timeout in seconds; a timed-out request counts as an error and its
    /// connection is replaced.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// A free-form label copied into the JSON line.
    #[arg(long, default_value = "")]
    label: String,
    /// Print accepted requests per second to stderr while running.
    #[arg(long)]
    progress: bool,
    /// How X-GitHub-Delivery ids are made: `sequential` (per-connection counter, the
    /// numbers in BENCHMARKS.md's ingest section) or `random` (as GitHub's).
    #[arg(long, value_enum, default_value_t = IdKind::Sequential)]
    delivery_ids: IdKind,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Ingest(args) => ingest(args),
        Command::Route(args) => route::run(args),
        Command::Hitl(args) => hitl::run(args),
        Command::Runs(args) => runs::run(args),
    }
}

/// Where to send, as parsed from `--url`.
pub(crate) struct Target {
    addr: SocketAddr,
    host_header: HeaderValue,
    path: Uri,
}

pub(crate) fn parse_target(url: &str) -> anyhow::Result<Target> {
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
            format!("{host} does not resolve to a loopback address; this tool only targets this machine")
        })?;
    let ip: IpAddr = addr.ip();
    if !ip.is_loopback() {
        bail!("refusing non-loopback target {ip}");
    }
    let authority = uri
        .authority()
        .context("the URL has no authority")?
        .as_str();
    let path: Uri = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .parse()
        .context("invalid path")?;
    Ok(Target {
        addr,
        host_header: HeaderValue::from_str(authority)?,
        path,
    })
}

/// One pre-built, signed request (a connection cycles through its list of them).
pub(crate) struct Delivery {
    /// The request's path.
    pub(crate) path: Uri,
    pub(crate) body: Bytes,
    pub(crate) sig256: HeaderValue,
    pub(crate) sig1: HeaderValue,
    /// Route mode: how many tasks the answer's `matched` list must name. `None`: the
    /// answer is not read (ingest mode).
    pub(crate) expect_tasks: Option<u64>,
}

/// A trimmed but realistic GitHub `issues.opened` payload (GitHub's own is larger:
/// it carries every `*_url` of the repository; this keeps the fields a receiver
/// reads and enough of the rest to weigh 1–2 KB), labelled `bug`.
fn issues_opened(number: u64, pad_to: Option<usize>) -> anyhow::Result<Vec<u8>> {
    issues_opened_labelled(number, "bug", 208045946, pad_to)
}

/// [`issues_opened`] with one label of the caller's choice.
pub(crate) fn issues_opened_labelled(
    number: u64,
    label: &str,
    label_id: u64,
    pad_to: Option<usize>,
) -> anyhow::Result<Vec<u8>> {
    let user = |login: &str, id: u64| {
        serde_json::json!({
            "login": login,
            "id": id,
            "node_id": "MDQ6VXNlcjIxMDMxMDY3",
            "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
            "html_url": format!("https://github.com/{login}"),
            "type": "User",
            "site_admin": false
        })
    };
    let mut issue_body = String::from(
        "The gateway drops the connection when a delivery arrives during a restart. \
         Steps: start the server, send a delivery, restart; expected a 202 or a retry.",
    );
    let build = |issue_body: &str| {
        serde_json::json!({
            "action": "opened",
            "issue": {
                "url": format!("https://api.github.com/repos/octo-org/switchyard-demo/issues/{number}"),
                "html_url": format!("https://github.com/octo-org/switchyard-demo/issues/{number}"),
                "id": 2_000_000_000u64 + number,
                "node_id": "I_kwDOJ5pXXs5pQ6Zk",
                "number": number,
                "title": format!("Load test issue #{number}: webhook delivery stalls under load"),
                "user": user("octocat", 583231),
                "labels": [{"id": label_id, "name": label, "color": "d73a4a", "default": true}],
                "state": "open",
                "locked": false,
                "assignee": null,
                "assignees": [],
                "milestone": null,
                "comments": 0,
                "created_at": "2024-05-01T12:00:00Z",
                "updated_at": "2024-05-01T12:00:00Z",
                "closed_at": null,
                "author_association": "OWNER",
                "body": issue_body,
                "reactions": {"total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "hooray": 0,
                              "confused": 0, "heart": 0, "rocket": 0, "eyes": 0},
                "state_reason": null
            },
            "repository": {
                "id": 1296269,
                "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
                "name": "switchyard-demo",
                "full_name": "octo-org/switchyard-demo",
                "private": false,
                "owner": user("octo-org", 9919),
                "html_url": "https://github.com/octo-org/switchyard-demo",
                "description": "Demo repository for webhook load tests",
                "fork": false,
                "default_branch": "main",
                "visibility": "public"
            },
            "organization": {"login": "octo-org", "id": 9919},
            "sender": user("octocat", 583231)
        })
    };
    let mut bytes = serde_json::to_vec(&build(&issue_body))?;
    if let Some(target) = pad_to {
        if target > bytes.len() {
            // Grow the issue body by the difference (ASCII without characters JSON
            // escapes, so each added char is one byte of the document).
            let want = issue_body.len() + (target - bytes.len());
            let filler = " lorem ipsum dolor sit amet";
            while issue_body.len() < want {
                issue_body.push_str(filler);
            }
            issue_body.truncate(want);
            bytes = serde_json::to_vec(&build(&issue_body))?;
        }
    }
    Ok(bytes)
}

pub(crate) fn sign(secret: &[u8], body: &[u8]) -> anyhow::Result<(HeaderValue, HeaderValue)> {
    let mut m256 = Hmac::<sha2::Sha256>::new_from_slice(secret)?;
    m256.update(body);
    let s256 = format!("sha256={}", hex::encode(m256.finalize().into_bytes()));
    let mut m1 = Hmac::<sha1::Sha1>::new_from_slice(secret)?;
    m1.update(body);
    let s1 = format!("sha1={}", hex::encode(m1.finalize().into_bytes()));
    Ok((HeaderValue::from_str(&s256)?, HeaderValue::from_str(&s1)?))
}

/// How `X-GitHub-Delivery` ids are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum IdKind {
    /// A random per-connection prefix and a counter: each connection's ids sort in
    /// sequence, so a receiver's index on them sees one insertion point per
    /// connection (cheap for a B-tree).
    Sequential,
    /// Every id random, as GitHub's are: each one lands on a random index page.
    Random,
}

/// Unique delivery ids without a syscall each, laid out as version-4 UUIDs.
struct DeliveryIds {
    prefix: u64,
    counter: u64,
    kind: IdKind,
}

impl DeliveryIds {
    fn new(kind: IdKind) -> Self {
        Self {
            prefix: rand::random::<u64>(),
            counter: rand::random::<u32>() as u64,
            kind,
        }
    }

    fn next(&mut self) -> HeaderValue {
        self.counter += 1;
        let (hi, lo) = match self.kind {
            IdKind::Sequential => (self.prefix, self.counter),
            IdKind::Random => (rand::random::<u64>(), rand::random::<u64>()),
        };
        let hi = (hi & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
        let lo = (lo & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let s = uuid::Uuid::from_u64_pair(hi, lo)
            .hyphenated()
            .encode_lower(&mut buf);
        HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
    }
}

/// What one connection counted inside the measured window.
pub(crate) struct ConnStats {
    hist: Histogram<u64>,
    accepted: u64,
    unexpected: u64,
    non_2xx: u64,
    errors: u64,
    statuses: BTreeMap<u16, u64>,
    /// Everything completed, warm-up included.
    total_completed: u64,
    connects: u64,
    last_error: Option<String>,
    /// Route mode. Accepted answers over the whole run, warm-up included.
    accepted_total: u64,
    /// Route mode: task ids named by accepted answers, warm-up included.
    tasks_total: u64,
    /// Route mode, measured window: accepted events whose answer named a task, and
    /// the task ids named.
    events_with_task: u64,
    tasks_in_window: u64,
    /// Route mode, whole run: answers whose `matched` list was not what the event
    /// should create (or did not parse), and redeliveries reported.
    misrouted: u64,
    duplicates: u64,
    misroute_sample: Option<String>,
}

impl ConnStats {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            hist: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            accepted: 0,
            unexpected: 0,
            non_2xx: 0,
            errors: 0,
            statuses: BTreeMap::new(),
            total_completed: 0,
            connects: 0,
            last_error: None,
            accepted_total: 0,
            tasks_total: 0,
            events_with_task: 0,
            tasks_in_window: 0,
            misrouted: 0,
            duplicates: 0,
            misroute_sample: None,
        })
    }
}

/// Shared, read-only run parameters.
pub(crate) struct Plan {
    target: Target,
    measure_from: Instant,
    end: Instant,
    timeout: Duration,
    expect: Option<StatusCode>,
    ids: IdKind,
    live_accepted: AtomicU64,
    stop: AtomicBool,
    /// Requests still to send, when the run is a fixed number of them.
    budget: Option<AtomicU64>,
}

impl Plan {
    /// Takes one request from the budget; false once a fixed-count run has sent all.
    fn take_request(&self) -> bool {
        self.budget.as_ref().is_none_or(|left| {
            left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
        })
    }
}

static X_GITHUB_EVENT: HeaderName = HeaderName::from_static("x-github-event");
static X_GITHUB_DELIVERY: HeaderName = HeaderName::from_static("x-github-delivery");
static X_GITHUB_HOOK_ID: HeaderName = HeaderName::from_static("x-github-hook-id");
static X_GITHUB_TARGET_TYPE: HeaderName =
    HeaderName::from_static("x-github-hook-installation-target-type");
static X_GITHUB_TARGET_ID: HeaderName =
    HeaderName::from_static("x-github-hook-installation-target-id");
static X_HUB_SIGNATURE: HeaderName = HeaderName::from_static("x-hub-signature");
static X_HUB_SIGNATURE_256: HeaderName = HeaderName::from_static("x-hub-signature-256");

fn build_request(
    plan: &Plan,
    d: &Delivery,
    ids: &mut DeliveryIds,
) -> anyhow::Result<Request<Full<Bytes>>> {
    let req = Request::post(d.path.clone())
        .header(HOST, plan.target.host_header.clone())
        .header(
            USER_AGENT,
            HeaderValue::from_static("GitHub-Hookshot/bench"),
        )
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(&X_GITHUB_EVENT, HeaderValue::from_static("issues"))
        .header(&X_GITHUB_DELIVERY, ids.next())
        .header(&X_GITHUB_HOOK_ID, HeaderValue::from_static("482312021"))
        .header(
            &X_GITHUB_TARGET_TYPE,
            HeaderValue::from_static("repository"),
        )
        .header(&X_GITHUB_TARGET_ID, HeaderValue::from_static("1296269"))
        .header(&X_HUB_SIGNATURE, d.sig1.clone())
        .header(&X_HUB_SIGNATURE_256, d.sig256.clone())
        .body(Full::new(d.body.clone()))?;
    // hyper writes Content-Length from the body's exact size.
    Ok(req)
}

/// What a Switchyard ingest answer says was created.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    /// Entries of `matched` that name a `task_id`.
    pub(crate) tasks: u64,
    /// Entries of `matched` in all (tasks, outbox rows, errors).
    pub(crate) matched: u64,
    pub(crate) duplicate: bool,
}

/// Reads `{"event_id", "duplicate", "matched": [...]}`; `None` if it is not that.
pub(crate) fn read_answer(body: &[u8]) -> Option<Answer> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let matched = v.get("matched")?.as_array()?;
    let tasks = matched
        .iter()
        .filter(|m| {
            m.get("task_id")
                .and_then(serde_json::Value::as_str)
                .is_some()
        })
        .count() as u64;
    Some(Answer {
        tasks,
        matched: matched.len() as u64,
        duplicate: v.get("duplicate").and_then(serde_json::Value::as_bool) == Some(true),
    })
}

/// Route mode: checks an accepted answer against what the event should create.
fn inspect_answer(st: &mut ConnStats, want_tasks: u64, body: &[u8], counted: bool) {
    st.accepted_total += 1;
    match read_answer(body) {
        Some(a) => {
            st.tasks_total += a.tasks;
            if counted {
                st.tasks_in_window += a.tasks;
                if a.tasks > 0 {
                    st.events_with_task += 1;
                }
            }
            if a.duplicate {
                st.duplicates += 1;
            }
            if a.tasks != want_tasks || a.matched != want_tasks {
                st.misrouted += 1;
                if st.misroute_sample.is_none() {
                    st.misroute_sample = Some(format!(
                        "wanted {want_tasks} task(s), got: {}",
                        String::from_utf8_lossy(&body[..body.len().min(400)])
                    ));
                }
            }
        }
        None => {
            st.misrouted += 1;
            if st.misroute_sample.is_none() {
                st.misroute_sample = Some(format!(
                    "unreadable answer: {}",
                    String::from_utf8_lossy(&body[..body.len().min(400)])
                ));
            }
        }
    }
}

async fn connection(plan: Arc<Plan>, list: Vec<Delivery>) -> anyhow::Result<ConnStats> {
    let mut st = ConnStats::new()?;
    let mut ids = DeliveryIds::new(plan.ids);
    if list.is_empty() {
        return Ok(st);
    }
    let mut next = 0usize;
    'outer: while Instant::now() < plan.end && !plan.stop.load(Ordering::Relaxed) {
        let stream =
            match tokio::time::timeout(plan.timeout, TcpStream::connect(plan.target.addr)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    note_error(&plan, &mut st, format!("connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(_) => {
                    note_error(&plan, &mut st, "connect: timed out".into());
                    continue;
                }
            };
        stream.set_nodelay(true)?;
        st.connects += 1;
        let (mut sender, conn) =
            match hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    note_error(&plan, &mut st, format!("handshake: {e}"));
                    continue;
                }
            };
        let driver = tokio::spawn(conn);
        loop {
            let now = Instant::now();
            if now >= plan.end || plan.stop.load(Ordering::Relaxed) {
                driver.abort();
                break 'outer;
            }
            if !plan.take_request() {
                driver.abort();
                break 'outer;
            }
            let d = &list[next % list.len()];
            next = next.wrapping_add(1);
            let req = build_request(&plan, d, &mut ids)?;
            let started = Instant::now();
            // A request still running at the end of the window is cut off: it would
            // not be counted anyway.
            let deadline = (started + plan.timeout).min(plan.end + Duration::from_millis(100));
            let result = tokio::time::timeout_at(deadline, async {
                sender.ready().await?;
                let resp = sender.send_request(req).await?;
                let status = resp.status();
                let body = resp.into_body().collect().await?.to_bytes();
                Ok::<_, hyper::Error>((status, body))
            })
            .await;
            let done = Instant::now();
            let counted = done >= plan.measure_from && done <= plan.end;
            st.total_completed += 1;
            match result {
                Ok(Ok((status, body))) => {
                    let ok = match plan.expect {
                        Some(want) => status == want,
                        None => status.is_success(),
                    };
                    if let (true, Some(want)) = (ok, d.expect_tasks) {
                        inspect_answer(&mut st, want, &body, counted);
                    }
                    if counted {
                        *st.statuses.entry(status.as_u16()).or_default() += 1;
                        if !status.is_success() {
                            st.non_2xx += 1;
                        }
                        if ok {
                            st.accepted += 1;
                            let us = (done - started).as_micros().max(1) as u64;
                            st.hist.saturating_record(us);
                            plan.live_accepted.fetch_add(1, Ordering::Relaxed);
                        } else {
                            st.unexpected += 1;
                        }
                    }
                }
                Ok(Err(e)) => {
                    if counted {
                        st.errors += 1;
                    }
                    st.last_error = Some(format!("request: {e}"));
                    driver.abort();
                    continue 'outer;
                }
                Err(_) => {
                    if counted {
                        st.errors += 1;
                        st.last_error = Some("request: timed out".into());
                    }
                    driver.abort();
                    continue 'outer;
                }
            }
        }
    }
    Ok(st)
}

fn note_error(plan: &Plan, st: &mut ConnStats, msg: String) {
    let now = Instant::now();
    if now >= plan.measure_from && now <= plan.end {
        st.errors += 1;
    }
    st.last_error = Some(msg);
}

/// This process's user + system CPU seconds so far (Linux `/proc/self/stat`, whose
/// times are in USER_HZ = 100 ticks a second); `None` elsewhere.
fn own_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces):
    // state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// This process's CPU seconds, as [`own_cpu_secs`], for the route module.
pub(crate) fn cpu_secs() -> Option<f64> {
    own_cpu_secs()
}

/// A latency histogram (in µs) as JSON, in ms: p50, p90, p99, p99.9, max, mean.
pub(crate) fn latency_json(h: &Histogram<u64>) -> serde_json::Value {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    serde_json::json!({
        "p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99), "p999": ms(0.999),
        "max": h.max() as f64 / 1000.0, "mean": (h.mean()).round() / 1000.0,
    })
}

/// Checks the run-shape flags shared by `ingest` and `route`.
pub(crate) fn check_run_args(
    connections: usize,
    duration: f64,
    warmup: f64,
    timeout: f64,
) -> anyhow::Result<()> {
    if connections == 0 || connections > MAX_CONNECTIONS {
        bail!("--connections must be within 1..={MAX_CONNECTIONS}");
    }
    let finite = duration.is_finite() && warmup.is_finite() && timeout.is_finite();
    if !finite || duration <= 0.0 || warmup < 0.0 || duration + warmup > MAX_RUN_SECS {
        bail!("--duration must be > 0 and warm-up + duration at most {MAX_RUN_SECS} s");
    }
    if timeout <= 0.0 {
        bail!("--timeout must be > 0");
    }
    Ok(())
}

/// The generator's runtime and its number of worker threads.
pub(crate) fn runtime(threads: Option<usize>) -> anyhow::Result<(tokio::runtime::Runtime, usize)> {
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    Ok((rt, threads))
}

/// One closed-loop run's parameters.
pub(crate) struct LoadSpec {
    pub(crate) target: Target,
    /// For messages: what is being loaded.
    pub(crate) url: String,
    pub(crate) connections: usize,
    pub(crate) duration: f64,
    pub(crate) warmup: f64,
    pub(crate) timeout: f64,
    pub(crate) expect: Option<StatusCode>,
    pub(crate) ids: IdKind,
    pub(crate) threads: usize,
    pub(crate) progress: bool,
    /// Send exactly this many requests, then stop (`duration` is then a bound and
    /// the report's duration is the time they took).
    pub(crate) requests: Option<u64>,
}

/// The totals of one closed-loop run, over all connections.
pub(crate) struct LoadReport {
    pub(crate) hist: Histogram<u64>,
    pub(crate) accepted: u64,
    pub(crate) unexpected: u64,
    pub(crate) non_2xx: u64,
    pub(crate) errors: u64,
    pub(crate) total: u64,
    pub(crate) connects: u64,
    pub(crate) statuses: BTreeMap<u16, u64>,
    pub(crate) last_error: Option<String>,
    pub(crate) accepted_total: u64,
    pub(crate) tasks_total: u64,
    pub(crate) events_with_task: u64,
    pub(crate) tasks_in_window: u64,
    pub(crate) misrouted: u64,
    pub(crate) duplicates: u64,
    pub(crate) misroute_sample: Option<String>,
    pub(crate) gen_cpu: Option<f64>,
    pub(crate) duration: f64,
    pub(crate) body_len: usize,
}

/// Runs `deliveries.len()` connections, each cycling through its own list, for the
/// warm-up and the measured window of `spec`.
pub(crate) fn run_load(
    rt: &tokio::runtime::Runtime,
    spec: LoadSpec,
    deliveries: Vec<Vec<Delivery>>,
) -> anyhow::Result<LoadReport> {
    let body_len = deliveries
        .first()
        .and_then(|l| l.first())
        .map_or(0, |d| d.body.len());
    let cpu_before = own_cpu_secs();
    let requests = spec.requests;
    let (threads, warmup, duration, connections, progress) = (
        spec.threads,
        spec.warmup,
        spec.duration,
        spec.connections,
        spec.progress,
    );
    let url = spec.url.clone();
    let report = rt.block_on(async {
        let start = Instant::now();
        let measure_from = start + Duration::from_secs_f64(warmup);
        let end = measure_from + Duration::from_secs_f64(duration);
        let plan = Arc::new(Plan {
            target: spec.target,
            measure_from,
            end,
            timeout: Duration::from_secs_f64(spec.timeout),
            expect: spec.expect,
            ids: spec.ids,
            live_accepted: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            budget: spec.requests.map(AtomicU64::new),
        });
        eprintln!(
            "switchyard-bench: {connections} connections, {threads} threads, body {body_len} bytes, warm-up {warmup} s, measuring {duration} s -> {url}"
        );
        let ticker = progress.then(|| {
            let plan = plan.clone();
            tokio::spawn(async move {
                let mut last = 0u64;
                let mut tick = tokio::time::interval_at(
                    plan.measure_from + Duration::from_secs(1),
                    Duration::from_secs(1),
                );
                loop {
                    let t = tick.tick().await;
                    if t > plan.end + Duration::from_millis(500) {
                        break;
                    }
                    let n = plan.live_accepted.load(Ordering::Relaxed);
                    eprintln!("  +{:>4.0}s {:>8} accepted/s", (t - plan.measure_from).as_secs_f64(), n - last);
                    last = n;
                }
            })
        });
        let mut tasks = tokio::task::JoinSet::new();
        for list in deliveries {
            tasks.spawn(connection(plan.clone(), list));
        }
        // Every task stops by itself at `end` (requests are cut at end + 100 ms); this
        // is a backstop.
        let hard_stop = plan.end + Duration::from_secs(5);
        let mut all = Vec::new();
        loop {
            match tokio::time::timeout_at(hard_stop, tasks.join_next()).await {
                Ok(Some(Ok(Ok(st)))) => all.push(st),
                Ok(Some(Ok(Err(e)))) => return Err(e),
                Ok(Some(Err(e))) => return Err(anyhow::anyhow!("a connection task failed: {e}")),
                Ok(None) => break,
                Err(_) => {
                    plan.stop.store(true, Ordering::Relaxed);
                    tasks.abort_all();
                    eprintln!("switchyard-bench: connections did not stop in time; aborted");
                    break;
                }
            }
        }
        if let Some(t) = ticker {
            t.abort();
        }
        Ok::<_, anyhow::Error>((all, start.elapsed().as_secs_f64()))
    })?;
    let (report, elapsed) = report;
    // A fixed-count run ends when its requests are done: its rate is over that time.
    let duration = if requests.is_some() {
        elapsed
    } else {
        duration
    };
    let gen_cpu = match (cpu_before, own_cpu_secs()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };

    let mut out = LoadReport {
        hist: Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?,
        accepted: 0,
        unexpected: 0,
        non_2xx: 0,
        errors: 0,
        total: 0,
        connects: 0,
        statuses: BTreeMap::new(),
        last_error: None,
        accepted_total: 0,
        tasks_total: 0,
        events_with_task: 0,
        tasks_in_window: 0,
        misrouted: 0,
        duplicates: 0,
        misroute_sample: None,
        gen_cpu,
        duration,
        body_len,
    };
    for st in &report {
        out.hist.add(&st.hist)?;
        out.accepted += st.accepted;
        out.unexpected += st.unexpected;
        out.non_2xx += st.non_2xx;
        out.errors += st.errors;
        out.total += st.total_completed;
        out.connects += st.connects;
        out.accepted_total += st.accepted_total;
        out.tasks_total += st.tasks_total;
        out.events_with_task += st.events_with_task;
        out.tasks_in_window += st.tasks_in_window;
        out.misrouted += st.misrouted;
        out.duplicates += st.duplicates;
        for (k, v) in &st.statuses {
            *out.statuses.entry(*k).or_default() += v;
        }
        if st.last_error.is_some() {
            out.last_error.clone_from(&st.last_error);
        }
        if out.misroute_sample.is_none() {
            out.misroute_sample.clone_from(&st.misroute_sample);
        }
    }
    Ok(out)
}

impl LoadReport {
    pub(crate) fn sent(&self) -> u64 {
        self.accepted + self.unexpected + self.errors
    }

    pub(crate) fn twoxx(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(k, _)| (200..300).contains(*k))
            .map(|(_, v)| v)
            .sum()
    }

    pub(crate) fn rps(&self) -> f64 {
        self.accepted as f64 / self.duration
    }

    /// The latency at quantile `q`, in ms.
    pub(crate) fn ms(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }

    pub(crate) fn gen_cpu_us_per_req(&self) -> Option<f64> {
        self.gen_cpu
            .filter(|_| self.total > 0)
            .map(|c| (c / self.total as f64 * 1e6).round())
    }

    /// The human-readable lines `ingest` has always printed.
    pub(crate) fn print(&self, url: &str, spec_line: &str, expect: Option<StatusCode>) {
        let (p50, p90, p99, p999) = (self.ms(0.50), self.ms(0.90), self.ms(0.99), self.ms(0.999));
        let max = self.hist.max() as f64 / 1000.0;
        let mean = self.hist.mean() / 1000.0;
        println!("target          {url}");
        println!("setup           {spec_line}");
        println!(
            "requests sent   {} (completed in the measured window)",
            self.sent()
        );
        println!("2xx             {}", self.twoxx());
        println!("non-2xx         {}", self.non_2xx);
        println!(
            "accepted        {} ({})",
            self.accepted,
            match expect {
                Some(s) => format!("status {}", s.as_u16()),
                None => "any 2xx".to_owned(),
            }
        );
        println!(
            "errors          {} (transport errors and timeouts)",
            self.errors
        );
        println!("statuses        {:?}", self.statuses);
        println!("throughput      {:.0} accepted/s", self.rps());
        println!(
            "latency (ms)    p50 {p50:.3}  p90 {p90:.3}  p99 {p99:.3}  p99.9 {p999:.3}  max {max:.3}  mean {mean:.3}"
        );
        println!(
            "connections     {} opened; {} requests completed including warm-up",
            self.connects, self.total
        );
        if let (Some(c), Some(per)) = (self.gen_cpu, self.gen_cpu_us_per_req()) {
            println!(
                "generator CPU   {c:.2} s ({per:.0} µs per completed request, warm-up included)"
            );
        }
        if let Some(e) = &self.last_error {
            println!("last error      {e}");
        }
    }

    /// The numbers every mode reports, as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        let max = self.hist.max() as f64 / 1000.0;
        let mean = self.hist.mean() / 1000.0;
        serde_json::json!({
            "body_bytes": self.body_len,
            "duration_s": self.duration,
            "sent": self.sent(),
            "twoxx": self.twoxx(),
            "non_2xx": self.non_2xx,
            "accepted": self.accepted,
            "unexpected": self.unexpected,
            "errors": self.errors,
            "statuses": self.statuses.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>(),
            "throughput_rps": (self.rps() * 10.0).round() / 10.0,
            "latency_ms": {
                "p50": self.ms(0.50), "p90": self.ms(0.90), "p99": self.ms(0.99),
                "p999": self.ms(0.999), "max": max,
                "mean": (mean * 1000.0).round() / 1000.0
            },
            "connects": self.connects,
            "completed_total": self.total,
            "generator_cpu_s": self.gen_cpu.map(|c| (c * 100.0).round() / 100.0),
            "generator_cpu_us_per_req": self.gen_cpu_us_per_req(),
        })
    }
}

fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    let (warmup, duration) = match args.requests {
        Some(0) => bail!("--requests must be at least 1"),
        Some(_) => (0.0, args.duration.unwrap_or(MAX_RUN_SECS)),
        None => (args.warmup.unwrap_or(5.0), args.duration.unwrap_or(20.0)),
    };
    check_run_args(args.connections, duration, warmup, args.timeout)?;
    let expect = match args.expect_status {
        Some(s) => Some(StatusCode::from_u16(s).context("--expect-status")?),
        None => None,
    };
    let target = parse_target(&args.url)?;
    let (rt, threads) = runtime(args.threads)?;

    // Build and sign one body per connection (issue numbers differ per connection).
    let mut deliveries = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let body = issues_opened(1000 + i as u64, args.body_bytes)?;
        let (sig256, sig1) = sign(args.secret.as_bytes(), &body)?;
        deliveries.push(vec![Delivery {
            path: target.path.clone(),
            body: Bytes::from(body),
            sig256,
            sig1,
            expect_tasks: None,
        }]);
    }
    let spec = LoadSpec {
        target,
        url: args.url.clone(),
        connections: args.connections,
        duration,
        warmup,
        timeout: args.timeout,
        expect,
        ids: args.delivery_ids,
        threads,
        progress: args.progress,
        requests: args.requests,
    };
    let report = run_load(&rt, spec, deliveries)?;
    rt.shutdown_timeout(Duration::from_secs(1));

    report.print(
        &args.url,
        &format!(
            "{} connections, {} generator threads, body {} bytes, warm-up {} s, measured {} s{}",
            args.connections,
            threads,
            report.body_len,
            warmup,
            report.duration,
            args.requests
                .map(|n| format!(" ({n} requests)"))
                .unwrap_or_default()
        ),
        expect,
    );
    let mut json = report.json();
    json["tool"] = "switchyard-bench".into();
    json["mode"] = "ingest".into();
    json["label"] = args.label.clone().into();
    json["url"] = args.url.clone().into();
    json["connections"] = args.connections.into();
    json["threads"] = threads.into();
    json["warmup_s"] = warmup.into();
    json["requests"] = args.requests.into();
    json["delivery_ids"] = format!("{:?}", args.delivery_ids).to_lowercase().into();
    println!("{json}");
    if report.accepted == 0 {
        bail!("no request was accepted");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_github_sized_and_padded() {
        let b = issues_opened(1001, None).unwrap();
        assert!((1000..2100).contains(&b.len()), "{}", b.len());
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["action"], "opened");
        assert_eq!(v["issue"]["number"], 1001);
        assert_eq!(v["repository"]["full_name"], "octo-org/switchyard-demo");
        for want in [4096usize, 16 * 1024] {
            let p = issues_opened(1001, Some(want)).unwrap();
            assert!(p.len().abs_diff(want) < 8, "{} vs {want}", p.len());
        }
    }

    #[test]
    fn signature_matches_githubs_vector() {
        let (s256, _) = sign(b"It's a Secret to Everybody", b"Hello, World!").unwrap();
        assert_eq!(
            s256.to_str().unwrap(),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn delivery_ids_are_unique_uuids() {
        let mut ids = DeliveryIds::new(IdKind::Sequential);
        let a = ids.next();
        let b = ids.next();
        assert_ne!(a, b);
        let u = uuid::Uuid::parse_str(a.to_str().unwrap()).unwrap();
        assert_eq!(u.get_version_num(), 4);
        let mut ids = DeliveryIds::new(IdKind::Random);
        let (a, b) = (ids.next(), ids.next());
        assert_ne!(a.as_bytes()[..8], b.as_bytes()[..8]);
        let u = uuid::Uuid::parse_str(b.to_str().unwrap()).unwrap();
        assert_eq!(u.get_version_num(), 4);
    }

    #[test]
    fn only_loopback_targets() {
        assert!(parse_target("http://127.0.0.1:8000/webhooks/github").is_ok());
        assert!(parse_target("http://10.0.0.1:8000/x").is_err());
        assert!(parse_target("https://127.0.0.1/x").is_err());
    }
}
