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
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Warm-up seconds: load is applied but nothing is counted.
    #[arg(long, default_value_t = 5.0)]
    warmup: f64,
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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Ingest(args) => ingest(args),
    }
}

/// Where to send, as parsed from `--url`.
struct Target {
    addr: SocketAddr,
    host_header: HeaderValue,
    path: Uri,
}

fn parse_target(url: &str) -> anyhow::Result<Target> {
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

/// One connection's pre-built request parts.
struct Delivery {
    body: Bytes,
    sig256: HeaderValue,
    sig1: HeaderValue,
}

/// A trimmed but realistic GitHub `issues.opened` payload (GitHub's own is larger:
/// it carries every `*_url` of the repository; this keeps the fields a receiver
/// reads and enough of the rest to weigh 1–2 KB).
fn issues_opened(number: u64, pad_to: Option<usize>) -> anyhow::Result<Vec<u8>> {
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
                "labels": [{"id": 208045946, "name": "bug", "color": "d73a4a", "default": true}],
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

fn sign(secret: &[u8], body: &[u8]) -> anyhow::Result<(HeaderValue, HeaderValue)> {
    let mut m256 = Hmac::<sha2::Sha256>::new_from_slice(secret)?;
    m256.update(body);
    let s256 = format!("sha256={}", hex::encode(m256.finalize().into_bytes()));
    let mut m1 = Hmac::<sha1::Sha1>::new_from_slice(secret)?;
    m1.update(body);
    let s1 = format!("sha1={}", hex::encode(m1.finalize().into_bytes()));
    Ok((HeaderValue::from_str(&s256)?, HeaderValue::from_str(&s1)?))
}

/// Unique delivery ids without a syscall each: a random per-connection prefix and
/// a counter, laid out as a version-4 UUID.
struct DeliveryIds {
    prefix: u64,
    counter: u64,
}

impl DeliveryIds {
    fn new() -> Self {
        Self {
            prefix: rand::random::<u64>(),
            counter: rand::random::<u32>() as u64,
        }
    }

    fn next(&mut self) -> HeaderValue {
        self.counter += 1;
        let hi = (self.prefix & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
        let lo = (self.counter & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let s = uuid::Uuid::from_u64_pair(hi, lo)
            .hyphenated()
            .encode_lower(&mut buf);
        HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
    }
}

/// What one connection counted inside the measured window.
struct ConnStats {
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
        })
    }
}

/// Shared, read-only run parameters.
struct Plan {
    target: Target,
    measure_from: Instant,
    end: Instant,
    timeout: Duration,
    expect: Option<StatusCode>,
    live_accepted: AtomicU64,
    stop: AtomicBool,
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
    let req = Request::post(plan.target.path.clone())
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

async fn connection(plan: Arc<Plan>, d: Delivery) -> anyhow::Result<ConnStats> {
    let mut st = ConnStats::new()?;
    let mut ids = DeliveryIds::new();
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
            let req = build_request(&plan, &d, &mut ids)?;
            let started = Instant::now();
            // A request still running at the end of the window is cut off: it would
            // not be counted anyway.
            let deadline = (started + plan.timeout).min(plan.end + Duration::from_millis(100));
            let result = tokio::time::timeout_at(deadline, async {
                sender.ready().await?;
                let resp = sender.send_request(req).await?;
                let status = resp.status();
                resp.into_body().collect().await?;
                Ok::<_, hyper::Error>(status)
            })
            .await;
            let done = Instant::now();
            let counted = done >= plan.measure_from && done <= plan.end;
            st.total_completed += 1;
            match result {
                Ok(Ok(status)) => {
                    let ok = match plan.expect {
                        Some(want) => status == want,
                        None => status.is_success(),
                    };
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

fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    if args.connections == 0 || args.connections > MAX_CONNECTIONS {
        bail!("--connections must be within 1..={MAX_CONNECTIONS}");
    }
    let finite = args.duration.is_finite() && args.warmup.is_finite() && args.timeout.is_finite();
    if !finite
        || args.duration <= 0.0
        || args.warmup < 0.0
        || args.duration + args.warmup > MAX_RUN_SECS
    {
        bail!("--duration must be > 0 and warm-up + duration at most {MAX_RUN_SECS} s");
    }
    if args.timeout <= 0.0 {
        bail!("--timeout must be > 0");
    }
    let expect = match args.expect_status {
        Some(s) => Some(StatusCode::from_u16(s).context("--expect-status")?),
        None => None,
    };
    let target = parse_target(&args.url)?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;

    // Build and sign one body per connection (issue numbers differ per connection).
    let mut deliveries = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let body = issues_opened(1000 + i as u64, args.body_bytes)?;
        let (sig256, sig1) = sign(args.secret.as_bytes(), &body)?;
        deliveries.push(Delivery {
            body: Bytes::from(body),
            sig256,
            sig1,
        });
    }
    let body_len = deliveries.first().map_or(0, |d| d.body.len());
    let cpu_before = own_cpu_secs();

    let report = rt.block_on(async {
        let start = Instant::now();
        let measure_from = start + Duration::from_secs_f64(args.warmup);
        let end = measure_from + Duration::from_secs_f64(args.duration);
        let plan = Arc::new(Plan {
            target,
            measure_from,
            end,
            timeout: Duration::from_secs_f64(args.timeout),
            expect,
            live_accepted: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        eprintln!(
            "switchyard-bench: {} connections, {} threads, body {} bytes, warm-up {} s, measuring {} s -> {}",
            args.connections, threads, body_len, args.warmup, args.duration, args.url
        );
        let ticker = args.progress.then(|| {
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
        for d in deliveries {
            tasks.spawn(connection(plan.clone(), d));
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
        Ok::<_, anyhow::Error>(all)
    })?;
    rt.shutdown_timeout(Duration::from_secs(1));
    let gen_cpu = match (cpu_before, own_cpu_secs()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };

    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut accepted, mut unexpected, mut non_2xx, mut errors, mut total, mut connects) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut last_error = None;
    for st in &report {
        hist.add(&st.hist)?;
        accepted += st.accepted;
        unexpected += st.unexpected;
        non_2xx += st.non_2xx;
        errors += st.errors;
        total += st.total_completed;
        connects += st.connects;
        for (k, v) in &st.statuses {
            *statuses.entry(*k).or_default() += v;
        }
        if st.last_error.is_some() {
            last_error.clone_from(&st.last_error);
        }
    }
    let sent = accepted + unexpected + errors;
    let twoxx: u64 = statuses
        .iter()
        .filter(|(k, _)| (200..300).contains(*k))
        .map(|(_, v)| v)
        .sum();
    let rps = accepted as f64 / args.duration;
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let (p50, p90, p99, p999) = (ms(0.50), ms(0.90), ms(0.99), ms(0.999));
    let max = hist.max() as f64 / 1000.0;
    let mean = hist.mean() / 1000.0;

    println!("target          {}", args.url);
    println!(
        "setup           {} connections, {} generator threads, body {} bytes, warm-up {} s, measured {} s",
        args.connections, threads, body_len, args.warmup, args.duration
    );
    println!("requests sent   {sent} (completed in the measured window)");
    println!("2xx             {twoxx}");
    println!("non-2xx         {non_2xx}");
    println!(
        "accepted        {accepted} ({})",
        match expect {
            Some(s) => format!("status {}", s.as_u16()),
            None => "any 2xx".to_owned(),
        }
    );
    println!("errors          {errors} (transport errors and timeouts)");
    println!("statuses        {statuses:?}");
    println!("throughput      {rps:.0} accepted/s");
    println!(
        "latency (ms)    p50 {p50:.3}  p90 {p90:.3}  p99 {p99:.3}  p99.9 {p999:.3}  max {max:.3}  mean {mean:.3}"
    );
    println!("connections     {connects} opened; {total} requests completed including warm-up");
    let gen_cpu_us_per_req = gen_cpu
        .filter(|_| total > 0)
        .map(|c| (c / total as f64 * 1e6).round());
    if let (Some(c), Some(per)) = (gen_cpu, gen_cpu_us_per_req) {
        println!("generator CPU   {c:.2} s ({per:.0} µs per completed request, warm-up included)");
    }
    if let Some(e) = &last_error {
        println!("last error      {e}");
    }
    let json = serde_json::json!({
        "tool": "switchyard-bench",
        "mode": "ingest",
        "label": args.label,
        "url": args.url,
        "connections": args.connections,
        "threads": threads,
        "body_bytes": body_len,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "sent": sent,
        "twoxx": twoxx,
        "non_2xx": non_2xx,
        "accepted": accepted,
        "unexpected": unexpected,
        "errors": errors,
        "statuses": statuses.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>(),
        "throughput_rps": (rps * 10.0).round() / 10.0,
        "latency_ms": {
            "p50": p50, "p90": p90, "p99": p99, "p999": p999, "max": max,
            "mean": (mean * 1000.0).round() / 1000.0
        },
        "connects": connects,
        "completed_total": total,
        "generator_cpu_s": gen_cpu.map(|c| (c * 100.0).round() / 100.0),
        "generator_cpu_us_per_req": gen_cpu_us_per_req,
    });
    println!("{json}");
    if accepted == 0 {
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
        let mut ids = DeliveryIds::new();
        let a = ids.next();
        let b = ids.next();
        assert_ne!(a, b);
        let u = uuid::Uuid::parse_str(a.to_str().unwrap()).unwrap();
        assert_eq!(u.get_version_num(), 4);
    }

    #[test]
    fn only_loopback_targets() {
        assert!(parse_target("http://127.0.0.1:8000/webhooks/github").is_ok());
        assert!(parse_target("http://10.0.0.1:8000/x").is_err());
        assert!(parse_target("https://127.0.0.1/x").is_err());
    }
}
