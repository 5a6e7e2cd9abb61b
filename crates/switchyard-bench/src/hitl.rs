//! `switchyard-bench hitl`: issue 10's human-in-the-loop benchmark, against a running
//! server (loopback only).
//!
//! Phases (both by default, `--phases` picks one):
//!
//! 1. **latency** — `--pairs` concurrent pairs share `--checkpoints` checkpoints. For
//!    each, a pair opens it (`POST /api/checkpoints`, `notify: [{"channel":
//!    "websocket"}]`, so nothing leaves the machine), sends `GET
//!    /api/checkpoints/{id}/wait?timeout=30` on its own connection, makes sure the
//!    wait is in place (see [`Park`]), then POSTs the decision on its other
//!    connection. It measures from the decision's 200 being read to the wait's 200
//!    being read, and from the decision being sent to the wait's 200. Each mode of
//!    `--park` is a run of its own.
//! 2. **capacity** — `--capacity-connections` connections create up to `--capacity`
//!    pending checkpoints (or for `--capacity-duration` seconds), each with a
//!    timeout, a reminder and one escalation step (three timers), then time
//!    `GET /healthz`, `GET /health` (which counts the pending checkpoints), list
//!    pages and decision + wait with all of them pending. With `--server-pid`, the
//!    server's resident memory is read from `/proc/PID/status` before and after.
//!
//! The last line on stdout is one JSON object with every number.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use hdrhistogram::Histogram;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::api::Api;
use crate::{latency_json, parse_target, runtime, Target};

/// The most pairs and capacity connections the tool agrees to use.
const MAX_PAIRS: usize = 256;
/// The most checkpoints either phase agrees to create.
const MAX_CHECKPOINTS: u64 = 2_000_000;
/// Consecutive failures after which a pair or creator gives up.
const MAX_FAILURES: u32 = 20;

#[derive(Debug, Args)]
pub struct HitlArgs {
    /// The server's base URL, e.g. http://127.0.0.1:8000. Loopback hosts only.
    #[arg(long)]
    url: String,
    /// The server's admin key (its SWITCHYARD_ADMIN_KEY), for /api.
    #[arg(long, env = "SWITCHYARD_ADMIN_KEY", hide_env_values = true)]
    admin_key: String,
    /// Which phases to run, comma-separated: latency, capacity.
    #[arg(long, default_value = "latency,capacity")]
    phases: String,
    /// Latency: checkpoints per park mode.
    #[arg(long, default_value_t = 1000)]
    checkpoints: u64,
    /// Latency: concurrent pairs (each a wait connection and a create/decide one).
    #[arg(long, default_value_t = 8)]
    pairs: usize,
    /// Latency: how the wait is known to be in place before the decision is sent,
    /// comma-separated, one run each: `read` (the server has read the whole wait
    /// request off its socket: /proc/net/tcp shows nothing unacknowledged on our
    /// side and nothing unread on the server's), `delay:MS` (the wait has been out
    /// MS ms; `delay:0` sends the decision as soon as the wait is written).
    #[arg(long, default_value = "read,delay:0,delay:20")]
    park: String,
    /// Latency: concurrent pairs in the `read` mode. Each look at /proc/net/tcp
    /// costs milliseconds of kernel CPU (the table lists every socket of the
    /// machine), which would delay the other pairs' measured wake-ups.
    #[arg(long, default_value_t = 1)]
    read_pairs: usize,
    /// Capacity: pending checkpoints to create.
    #[arg(long, default_value_t = 100_000)]
    capacity: u64,
    /// Capacity: stop creating after this many seconds even if fewer were created.
    #[arg(long, default_value_t = 60.0)]
    capacity_duration: f64,
    /// Capacity: concurrent connections creating checkpoints.
    #[arg(long, default_value_t = 16)]
    capacity_connections: usize,
    /// Capacity: timings of each probe with everything pending (healthz, list page,
    /// decision + wait).
    #[arg(long, default_value_t = 20)]
    probes: u64,
    /// Capacity: then park this many long-polls on pending checkpoints (one
    /// connection each) and time decision + wait again: every checkpoint change
    /// wakes every waiting long-poll.
    #[arg(long, default_value_t = 0)]
    idle_waits: u64,
    /// The server's process id, to read its memory from /proc/PID/status.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Worker threads of the generator's runtime (default: the number of CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Per-request timeout in seconds (waits get 30 s more).
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// A free-form label copied into the JSON line.
    #[arg(long, default_value = "")]
    label: String,
    /// Print progress to stderr while creating.
    #[arg(long)]
    progress: bool,
}

/// How the wait is known to be in place before the decision goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Park {
    /// The server process has read the whole wait request from its socket.
    Read,
    /// The wait request was written this many ms before the decision.
    Delay(u64),
}

impl Park {
    fn name(self) -> String {
        match self {
            Park::Read => "read".to_owned(),
            Park::Delay(ms) => format!("delay:{ms}"),
        }
    }
}

fn parse_park(s: &str) -> anyhow::Result<Vec<Park>> {
    let mut out = Vec::new();
    for m in s.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let p = match m.strip_prefix("delay:") {
            Some(ms) => {
                let ms: u64 = ms.parse().with_context(|| format!("bad delay in {m:?}"))?;
                if ms > 10_000 {
                    bail!("{m:?}: a delay of at most 10000 ms");
                }
                Park::Delay(ms)
            }
            None if m == "read" => Park::Read,
            None => bail!("unknown park mode {m:?}; expected read or delay:MS"),
        };
        out.push(p);
    }
    if out.is_empty() {
        bail!("--park names no mode");
    }
    Ok(out)
}

#[derive(Debug, Default, Clone, Copy)]
struct Phases {
    latency: bool,
    capacity: bool,
}

fn parse_phases(s: &str) -> anyhow::Result<Phases> {
    let mut p = Phases::default();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "latency" => p.latency = true,
            "capacity" => p.capacity = true,
            other => bail!("unknown phase {other:?}; expected latency or capacity"),
        }
    }
    if !(p.latency || p.capacity) {
        bail!("--phases names no phase");
    }
    Ok(p)
}

/// A checkpoint that notifies only the live stream; with `timers`, it also has a
/// 3600 s timeout, a reminder at 1800 s and an escalation step at 2700 s.
fn checkpoint_body(id: &str, i: u64, timers: bool) -> Value {
    let mut b = json!({
        "checkpoint_id": id,
        "name": "bench-hitl",
        "kickoff_id": "bench-hitl",
        "context": {"n": i, "what": "switchyard-bench hitl"},
        "question": "Go ahead?",
        "notify": [{"channel": "websocket"}],
    });
    if timers {
        b["timeout_seconds"] = 3600.into();
        b["default_decision"] = "reject".into();
        b["remind_after_seconds"] = 1800.into();
        b["escalate"] = json!([{"after_seconds": 2700, "notify": [{"channel": "websocket"}]}]);
    }
    b
}

/// A plain HTTP/1.1 keep-alive connection for the long-poll, written by hand so the
/// caller knows when the request has been written, and which socket it went on.
struct RawConn {
    target: SocketAddr,
    host: String,
    auth: String,
    reader: Option<BufReader<TcpStream>>,
    local: Option<SocketAddr>,
    connects: u64,
}

impl RawConn {
    fn new(target: &Target, admin_key: &str) -> anyhow::Result<Self> {
        Ok(Self {
            target: target.addr,
            host: target.host_header.to_str()?.to_owned(),
            auth: format!("Bearer {admin_key}"),
            reader: None,
            local: None,
            connects: 0,
        })
    }

    fn reset(&mut self) {
        self.reader = None;
        self.local = None;
    }

    /// Writes a GET for `path` (connecting first if needed); returns once the whole
    /// request is in the kernel.
    async fn send_get(&mut self, path: &str) -> anyhow::Result<()> {
        if self.reader.is_none() {
            let s = TcpStream::connect(self.target)
                .await
                .with_context(|| format!("connecting to {}", self.target))?;
            s.set_nodelay(true)?;
            self.local = Some(s.local_addr()?);
            self.reader = Some(BufReader::new(s));
            self.connects += 1;
        }
        let req = format!(
            "GET {path} HTTP/1.1\r\nhost: {}\r\nuser-agent: switchyard-bench\r\nauthorization: {}\r\n\r\n",
            self.host, self.auth
        );
        let r = self.reader.as_mut().context("no connection")?;
        r.get_mut().write_all(req.as_bytes()).await?;
        Ok(())
    }

    /// Reads one answer (status and body; the body must have a Content-Length).
    async fn read_response(&mut self) -> anyhow::Result<(StatusCode, Vec<u8>)> {
        let r = self.reader.as_mut().context("no connection")?;
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            bail!("the server closed the connection");
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("not an HTTP status line: {line:?}"))?;
        let mut len: Option<usize> = None;
        let mut close = false;
        loop {
            line.clear();
            if r.read_line(&mut line).await? == 0 {
                bail!("the server closed the connection in the headers");
            }
            let h = line.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                if k == "content-length" {
                    len = Some(v.parse().context("bad content-length")?);
                } else if k == "transfer-encoding" {
                    bail!("transfer-encoding {v} is not supported here");
                } else if k == "connection" && v.eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        let len = len.context("an answer without content-length")?;
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).await?;
        if close {
            self.reset();
        }
        Ok((StatusCode::from_u16(status)?, body))
    }

    /// Waits until the server process has read everything sent on this connection:
    /// our socket has nothing unacknowledged and the server's has nothing unread
    /// (`/proc/net/tcp`, IPv4 loopback). Returns how long that took.
    async fn until_read_by_server(&self, limit: Duration) -> anyhow::Result<Duration> {
        let local = self.local.context("no connection")?;
        let started = Instant::now();
        let mut looks = 0u32;
        loop {
            looks += 1;
            let table = tokio::fs::read_to_string("/proc/net/tcp").await?;
            let ours = queues(&table, local, self.target);
            let theirs = queues(&table, self.target, local);
            match (ours, theirs) {
                (Some((0, _)), Some((_, 0))) => return Ok(started.elapsed()),
                (None, _) | (_, None) if started.elapsed() > limit => {
                    bail!(
                        "the connection {local} -> {} is not in /proc/net/tcp",
                        self.target
                    )
                }
                _ if started.elapsed() > limit => {
                    bail!("the server did not read the wait request within {limit:?}")
                }
                // A few quick looks, then one a millisecond, so the generator does
                // not take the CPU the server needs to read the request.
                _ if looks < 10 => tokio::task::yield_now().await,
                _ => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    }
}

/// (tx_queue, rx_queue) of the socket `local` -> `remote` in a `/proc/net/tcp`
/// table (IPv4 only).
fn queues(table: &str, local: SocketAddr, remote: SocketAddr) -> Option<(u64, u64)> {
    let key = |a: SocketAddr| -> Option<String> {
        match a.ip() {
            IpAddr::V4(ip) => Some(format!(
                "{:08X}:{:04X}",
                u32::from_le_bytes(ip.octets()),
                a.port()
            )),
            IpAddr::V6(_) => None,
        }
    };
    let (l, r) = (key(local)?, key(remote)?);
    // The table can hold thousands of sockets: find the row by its two addresses.
    let pat = format!(" {l} {r} ");
    let at = table.find(&pat)? + pat.len();
    let row = table[at..].lines().next()?;
    let mut f = row.split_whitespace();
    let _state = f.next()?;
    let (tx, rx) = f.next()?.split_once(':')?;
    Some((
        u64::from_str_radix(tx, 16).ok()?,
        u64::from_str_radix(rx, 16).ok()?,
    ))
}

/// What the pairs of one latency run measured.
struct LatStats {
    /// Decision's 200 read → wait's 200 read.
    after_200: Histogram<u64>,
    /// Decision sent → wait's 200 read.
    after_sent: Histogram<u64>,
    /// The decision call itself.
    decision: Histogram<u64>,
    /// The create call.
    create: Histogram<u64>,
    /// Read mode: wait written → the server had read it.
    park: Histogram<u64>,
    done: u64,
    /// Concurrent pairs of the run.
    pairs: usize,
    /// Waits whose 200 was read before the decision's.
    wait_first: u64,
    /// Answers that were not what they should be (status or body).
    wrong: u64,
    errors: u64,
    last_error: Option<String>,
    statuses: BTreeMap<String, u64>,
}

impl LatStats {
    fn new() -> anyhow::Result<Self> {
        let h = || Histogram::new_with_bounds(1, 120_000_000, 3);
        Ok(Self {
            after_200: h()?,
            after_sent: h()?,
            decision: h()?,
            create: h()?,
            park: h()?,
            done: 0,
            pairs: 0,
            wait_first: 0,
            wrong: 0,
            errors: 0,
            last_error: None,
            statuses: BTreeMap::new(),
        })
    }

    fn add(&mut self, o: &LatStats) -> anyhow::Result<()> {
        self.after_200.add(&o.after_200)?;
        self.after_sent.add(&o.after_sent)?;
        self.decision.add(&o.decision)?;
        self.create.add(&o.create)?;
        self.park.add(&o.park)?;
        self.done += o.done;
        self.wait_first += o.wait_first;
        self.wrong += o.wrong;
        self.errors += o.errors;
        for (k, v) in &o.statuses {
            *self.statuses.entry(k.clone()).or_default() += v;
        }
        if o.last_error.is_some() {
            self.last_error.clone_from(&o.last_error);
        }
        Ok(())
    }

    fn json(&self, park: Park, elapsed: f64) -> Value {
        json!({
            "park": park.name(),
            "pairs": self.pairs,
            "checkpoints": self.done,
            "elapsed_s": round3(elapsed),
            "wake_after_decision_200_ms": latency_json(&self.after_200),
            "wake_after_decision_sent_ms": latency_json(&self.after_sent),
            "decision_ms": latency_json(&self.decision),
            "create_ms": latency_json(&self.create),
            "park_check_ms": if park == Park::Read { latency_json(&self.park) } else { Value::Null },
            "wait_first": self.wait_first,
            "wrong": self.wrong,
            "errors": self.errors,
            "statuses": self.statuses,
            "last_error": self.last_error,
        })
    }

    fn print(&self, park: Park, elapsed: f64) {
        let line = |name: &str, h: &Histogram<u64>| {
            let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
            println!(
                "{name:<28} p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}  mean {:.3}",
                ms(0.5),
                ms(0.9),
                ms(0.99),
                h.max() as f64 / 1000.0,
                h.mean() / 1000.0
            );
        };
        println!(
            "-- latency, park {}, {} pairs: {} checkpoints in {elapsed:.2} s; {} wrong, {} errors; {} waits answered before the decision",
            park.name(),
            self.pairs,
            self.done,
            self.wrong,
            self.errors,
            self.wait_first
        );
        line("decision 200 -> wait 200 ms", &self.after_200);
        line("decision sent -> wait 200 ms", &self.after_sent);
        line("decision call ms", &self.decision);
        line("create call ms", &self.create);
        if park == Park::Read {
            line("server read the wait ms", &self.park);
        }
        if let Some(e) = &self.last_error {
            println!("last error                   {e}");
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

/// The `status` field of a JSON body.
fn status_of(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("status")?.as_str().map(str::to_owned)
}

struct LatPlan {
    prefix: String,
    n: u64,
    next: AtomicU64,
    park: Park,
    timeout: Duration,
}

/// One create → wait → decide round; what it measured goes into `st`.
async fn one_round(
    plan: &LatPlan,
    api: &mut Api,
    raw: &mut RawConn,
    i: u64,
    st: &mut LatStats,
) -> anyhow::Result<()> {
    let id = format!("{}-{i}", plan.prefix);
    let t = Instant::now();
    let r = api
        .call(
            Method::POST,
            "/api/checkpoints",
            Some(&checkpoint_body(&id, i, false)),
        )
        .await?;
    st.create.record(micros(t.elapsed()))?;
    if r.status != StatusCode::CREATED {
        st.wrong += 1;
        bail!("create {id}: {} {}", r.status, r.text());
    }
    let wait_path = format!("/api/checkpoints/{id}/wait?timeout=30");
    let waited = async {
        // A new connection for each wait: the server's end of a fresh connection
        // acknowledges at once, while one that has answered before delays its ACK
        // (up to 40 ms), which `Park::Read` would wait out.
        raw.reset();
        raw.send_get(&wait_path).await?;
        match plan.park {
            Park::Read => {
                let d = raw.until_read_by_server(Duration::from_secs(2)).await?;
                st.park.record(micros(d))?;
            }
            Park::Delay(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        }
        anyhow::Ok(())
    };
    if let Err(e) = waited.await {
        raw.reset();
        return Err(e.context(format!("wait {id}")));
    }
    let decide_path = format!("/api/checkpoints/{id}/decision");
    let decision = json!({"decision": "approve", "by": "bench@example.com"});
    let wait_read = async {
        let r =
            tokio::time::timeout(plan.timeout + Duration::from_secs(30), raw.read_response()).await;
        (r, Instant::now())
    };
    let decide = async {
        let sent = Instant::now();
        let r = api.call(Method::POST, &decide_path, Some(&decision)).await;
        (sent, r, Instant::now())
    };
    let ((w, waited_at), (sent, d, decided_at)) = tokio::join!(wait_read, decide);
    let d = d?;
    let (ws, wbody) = match w {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            raw.reset();
            return Err(e.context(format!("wait {id}")));
        }
        Err(_) => {
            raw.reset();
            bail!("wait {id}: no answer in time");
        }
    };
    let wstatus = status_of(&wbody).unwrap_or_else(|| "?".to_owned());
    *st.statuses
        .entry(format!("{}/{}", ws.as_u16(), wstatus))
        .or_default() += 1;
    if d.status != StatusCode::OK || ws != StatusCode::OK || wstatus != "approved" {
        st.wrong += 1;
        bail!(
            "{id}: decision {} {}, wait {} {wstatus}",
            d.status,
            d.text(),
            ws
        );
    }
    st.decision.record(micros(decided_at - sent))?;
    st.after_sent.record(micros(waited_at - sent))?;
    if waited_at < decided_at {
        st.wait_first += 1;
    }
    st.after_200
        .record(micros(waited_at.saturating_duration_since(decided_at)))?;
    st.done += 1;
    Ok(())
}

async fn pair(plan: Arc<LatPlan>, mut api: Api, mut raw: RawConn) -> anyhow::Result<LatStats> {
    let mut st = LatStats::new()?;
    let mut failures = 0u32;
    loop {
        let i = plan.next.fetch_add(1, Ordering::Relaxed);
        if i >= plan.n {
            break;
        }
        match one_round(&plan, &mut api, &mut raw, i, &mut st).await {
            Ok(()) => failures = 0,
            Err(e) => {
                st.errors += 1;
                st.last_error = Some(format!("{e:#}"));
                failures += 1;
                if failures >= MAX_FAILURES {
                    break;
                }
            }
        }
    }
    Ok(st)
}

/// One latency run: `n` checkpoints over `pairs` pairs.
async fn latency_run(
    target: &Target,
    admin_key: &str,
    timeout: Duration,
    prefix: String,
    n: u64,
    pairs: usize,
    park: Park,
) -> anyhow::Result<(LatStats, f64)> {
    let plan = Arc::new(LatPlan {
        prefix,
        n,
        next: AtomicU64::new(0),
        park,
        timeout,
    });
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..pairs.min(n.max(1) as usize) {
        let api = Api::new(target, admin_key, timeout)?;
        let raw = RawConn::new(target, admin_key)?;
        handles.push(tokio::spawn(pair(plan.clone(), api, raw)));
    }
    let mut all = LatStats::new()?;
    all.pairs = handles.len();
    for h in handles {
        all.add(&h.await??)?;
    }
    Ok((all, started.elapsed().as_secs_f64()))
}

/// The server's VmRSS and VmHWM in KiB.
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        s.lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn memory_json(pid: Option<u32>) -> Value {
    match pid.and_then(memory_kib) {
        Some((rss, hwm)) => json!({"rss_kib": rss, "hwm_kib": hwm}),
        None => Value::Null,
    }
}

struct CreatePlan {
    prefix: String,
    n: u64,
    next: AtomicU64,
    created: AtomicU64,
    deadline: Instant,
}

struct CreateStats {
    hist: Histogram<u64>,
    created: u64,
    wrong: u64,
    errors: u64,
    last_error: Option<String>,
}

async fn creator(plan: Arc<CreatePlan>, mut api: Api) -> anyhow::Result<CreateStats> {
    let mut st = CreateStats {
        hist: Histogram::new_with_bounds(1, 120_000_000, 3)?,
        created: 0,
        wrong: 0,
        errors: 0,
        last_error: None,
    };
    let mut failures = 0u32;
    while Instant::now() < plan.deadline {
        let i = plan.next.fetch_add(1, Ordering::Relaxed);
        if i >= plan.n {
            break;
        }
        let id = format!("{}-{i}", plan.prefix);
        let t = Instant::now();
        match api
            .call(
                Method::POST,
                "/api/checkpoints",
                Some(&checkpoint_body(&id, i, true)),
            )
            .await
        {
            Ok(r) if r.status == StatusCode::CREATED => {
                st.hist.record(micros(t.elapsed()))?;
                st.created += 1;
                plan.created.fetch_add(1, Ordering::Relaxed);
                failures = 0;
            }
            Ok(r) => {
                st.wrong += 1;
                st.last_error = Some(format!("create {id}: {} {}", r.status, r.text()));
                failures += 1;
            }
            Err(e) => {
                st.errors += 1;
                st.last_error = Some(format!("create {id}: {e:#}"));
                failures += 1;
            }
        }
        if failures >= MAX_FAILURES {
            break;
        }
    }
    Ok(st)
}

/// Times `GET path` `n` times on one connection; the histogram and the last body.
async fn probe(
    api: &mut Api,
    path: &str,
    n: u64,
    with_auth: bool,
) -> anyhow::Result<(Histogram<u64>, Value)> {
    let mut h = Histogram::new_with_bounds(1, 120_000_000, 3)?;
    let mut last = Value::Null;
    for _ in 0..n {
        let t = Instant::now();
        let r = api.send(Method::GET, path, None, &[], with_auth).await?;
        h.record(micros(t.elapsed()))?;
        if r.status != StatusCode::OK {
            bail!("GET {path}: {} {}", r.status, r.text());
        }
        last = r.json().unwrap_or(Value::Null);
    }
    Ok((h, last))
}

async fn capacity_phase(
    args: &HitlArgs,
    target: &Target,
    timeout: Duration,
    run: &str,
) -> anyhow::Result<Value> {
    let mut api = Api::new(target, &args.admin_key, timeout)?;
    let mem_before = memory_json(args.server_pid);
    let (_, health_before) = probe(&mut api, "/health", 1, false).await?;
    let plan = Arc::new(CreatePlan {
        prefix: format!("hb-{run}-cap"),
        n: args.capacity,
        next: AtomicU64::new(0),
        created: AtomicU64::new(0),
        deadline: Instant::now() + Duration::from_secs_f64(args.capacity_duration),
    });
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..args.capacity_connections {
        let a = Api::new(target, &args.admin_key, timeout)?;
        handles.push(tokio::spawn(creator(plan.clone(), a)));
    }
    let progress = args.progress.then(|| {
        let plan = plan.clone();
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let now = plan.created.load(Ordering::Relaxed);
                eprintln!("created {now} ({}/s)", (now - last) / 5);
                last = now;
            }
        })
    });
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    let (mut created, mut wrong, mut errors, mut last_error) = (0u64, 0u64, 0u64, None);
    for h in handles {
        let s = h.await??;
        hist.add(&s.hist)?;
        created += s.created;
        wrong += s.wrong;
        errors += s.errors;
        if s.last_error.is_some() {
            last_error = s.last_error;
        }
    }
    let create_secs = started.elapsed().as_secs_f64();
    if let Some(p) = progress {
        p.abort();
    }
    let rate = created as f64 / create_secs;
    println!(
        "-- capacity: created {created} pending checkpoints with 3 timers each in {create_secs:.1} s ({rate:.0}/s) over {} connections; {wrong} refused, {errors} errors",
        args.capacity_connections
    );
    let mem_after = memory_json(args.server_pid);
    println!("server memory   before {mem_before}, after {mem_after}");

    let n = args.probes.max(1);
    let (healthz, _) = probe(&mut api, "/healthz", n, false).await?;
    let (health, health_body) = probe(&mut api, "/health", n.min(5), false).await?;
    let (list50, _) = probe(
        &mut api,
        "/api/checkpoints?status=pending&limit=50",
        n,
        true,
    )
    .await?;
    let (list500, _) = probe(
        &mut api,
        "/api/checkpoints?status=pending&limit=500",
        n.min(5),
        true,
    )
    .await?;
    // Ten pages of 500 in a row, following next_cursor (how deep paging behaves).
    let mut deep = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    let mut path = "/api/checkpoints?status=pending&limit=500".to_owned();
    for _ in 0..10 {
        let t = Instant::now();
        let r = api.call(Method::GET, &path, None).await?;
        deep.record(micros(t.elapsed()))?;
        let next = r.json().and_then(|v| {
            v.get("next_cursor")
                .and_then(|c| c.as_str())
                .map(str::to_owned)
        });
        match next {
            Some(c) => path = format!("/api/checkpoints?status=pending&limit=500&cursor={c}"),
            None => break,
        }
    }
    let (dw, dw_secs) = latency_run(
        target,
        &args.admin_key,
        timeout,
        format!("hb-{run}-capdw"),
        n,
        1,
        Park::Read,
    )
    .await?;
    let line = |name: &str, h: &Histogram<u64>| {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{name:<32} p50 {:.3}  max {:.3} ms ({} samples)",
            ms(0.5),
            h.max() as f64 / 1000.0,
            h.len()
        );
    };
    // Decision + wait again, with `idle_waits` other long-polls parked.
    let mut idle = Vec::new();
    let mut idle_out = Value::Null;
    if args.idle_waits > 0 {
        let k = args.idle_waits.min(created);
        let t = Instant::now();
        for i in 0..k {
            let mut c = RawConn::new(target, &args.admin_key)?;
            c.send_get(&format!(
                "/api/checkpoints/{}-{i}/wait?timeout=60",
                plan.prefix
            ))
            .await?;
            idle.push(c);
        }
        for c in &idle {
            c.until_read_by_server(Duration::from_secs(10)).await?;
        }
        let parked_s = t.elapsed().as_secs_f64();
        let mem_waits = memory_json(args.server_pid);
        let (dwi, dwi_secs) = latency_run(
            target,
            &args.admin_key,
            timeout,
            format!("hb-{run}-capdwi"),
            n,
            1,
            Park::Read,
        )
        .await?;
        line("with idle waits: decision -> wait", &dwi.after_200);
        println!(
            "idle waits      {k} parked in {parked_s:.1} s; server memory with them {mem_waits}"
        );
        idle_out = json!({
            "waits": k,
            "parked_s": round3(parked_s),
            "memory": mem_waits,
            "decision_wait": dwi.json(Park::Read, dwi_secs),
        });
        drop(idle);
    }
    let pending = health_body.get("pending_checkpoints").cloned();
    line("create (ms)", &hist);
    line("GET /healthz", &healthz);
    line("GET /health (counts pending)", &health);
    line("list pending, limit 50", &list50);
    line("list pending, limit 500", &list500);
    line("10 pages of 500, each", &deep);
    line("decision 200 -> wait 200", &dw.after_200);
    println!(
        "pending per /health: before {}, after {}",
        health_before
            .get("pending_checkpoints")
            .unwrap_or(&Value::Null),
        pending.clone().unwrap_or(Value::Null)
    );
    Ok(json!({
        "requested": args.capacity,
        "created": created,
        "timers_each": 3,
        "connections": args.capacity_connections,
        "create_s": round3(create_secs),
        "create_per_s": rate.round(),
        "create_ms": latency_json(&hist),
        "refused": wrong,
        "errors": errors,
        "last_error": last_error,
        "memory_before": mem_before,
        "memory_after": mem_after,
        "pending_before": health_before.get("pending_checkpoints"),
        "pending_after": pending,
        "healthz_ms": latency_json(&healthz),
        "health_ms": latency_json(&health),
        "list50_ms": latency_json(&list50),
        "list500_ms": latency_json(&list500),
        "deep_pages500_ms": latency_json(&deep),
        "decision_wait": dw.json(Park::Read, dw_secs),
        "idle_waits": idle_out,
    }))
}

pub(crate) fn run(args: HitlArgs) -> anyhow::Result<()> {
    let phases = parse_phases(&args.phases)?;
    let parks = parse_park(&args.park)?;
    if args.pairs == 0
        || args.pairs > MAX_PAIRS
        || args.read_pairs == 0
        || args.read_pairs > MAX_PAIRS
    {
        bail!("--pairs and --read-pairs must be within 1..={MAX_PAIRS}");
    }
    if args.capacity_connections == 0 || args.capacity_connections > MAX_PAIRS {
        bail!("--capacity-connections must be within 1..={MAX_PAIRS}");
    }
    if args.checkpoints == 0 || args.checkpoints > MAX_CHECKPOINTS {
        bail!("--checkpoints must be within 1..={MAX_CHECKPOINTS}");
    }
    if args.capacity > MAX_CHECKPOINTS || args.probes > 10_000 {
        bail!("--capacity at most {MAX_CHECKPOINTS}, --probes at most 10000");
    }
    if !(args.capacity_duration.is_finite()
        && args.capacity_duration > 0.0
        && args.capacity_duration <= crate::MAX_RUN_SECS)
    {
        bail!(
            "--capacity-duration must be > 0 and at most {} s",
            crate::MAX_RUN_SECS
        );
    }
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        bail!("--timeout must be > 0");
    }
    let base = args.url.trim_end_matches('/').to_owned();
    let target = parse_target(&format!("{base}/"))?;
    if target.path.path() != "/" {
        bail!("--url is the server's base URL (no path), e.g. http://127.0.0.1:8000");
    }
    if phases.latency && parks.contains(&Park::Read) && !target.addr.is_ipv4() {
        bail!("--park read needs an IPv4 loopback target (it reads /proc/net/tcp)");
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    let (rt, threads) = runtime(args.threads)?;
    // Checkpoint ids of this run: unique, so a run may follow another on one server.
    let run_id = format!("{:08x}", rand::random::<u32>());
    let mut out = json!({
        "tool": "switchyard-bench",
        "mode": "hitl",
        "label": args.label,
        "url": base,
        "threads": threads,
        "run": run_id,
        "server_pid": args.server_pid,
    });
    println!("target          {base}");
    let started_cpu = crate::cpu_secs();
    if phases.latency {
        let mut runs = Vec::new();
        for park in &parks {
            let (st, secs) = rt.block_on(latency_run(
                &target,
                &args.admin_key,
                timeout,
                format!("hb-{run_id}-{}", park.name().replace(':', "")),
                args.checkpoints,
                if *park == Park::Read {
                    args.read_pairs
                } else {
                    args.pairs
                },
                *park,
            ))?;
            st.print(*park, secs);
            runs.push(st.json(*park, secs));
        }
        out["latency"] = json!({"pairs": args.pairs, "runs": runs});
    }
    if phases.capacity {
        out["capacity"] = rt.block_on(capacity_phase(&args, &target, timeout, &run_id))?;
    }
    out["generator_cpu_s"] = match (started_cpu, crate::cpu_secs()) {
        (Some(a), Some(b)) => json!(round3(b - a)),
        _ => Value::Null,
    };
    rt.shutdown_timeout(Duration::from_secs(1));
    println!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn park_modes_parse() {
        assert_eq!(
            parse_park("read, delay:0,delay:20").unwrap(),
            vec![Park::Read, Park::Delay(0), Park::Delay(20)]
        );
        assert!(parse_park("sleep").is_err());
        assert!(parse_park("delay:x").is_err());
        assert!(parse_park("").is_err());
    }

    #[test]
    fn proc_net_tcp_rows_are_found_by_both_ends() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
             0: 0100007F:1F90 0100007F:C350 01 00000000:0000002A 00:00000000 00000000  1000        0 1 1\n   \
             1: 0100007F:C350 0100007F:1F90 01 00000010:00000000 00:00000000 00000000  1000        0 2 1\n";
        let server: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let client: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        assert_eq!(queues(table, server, client), Some((0, 42)));
        assert_eq!(queues(table, client, server), Some((16, 0)));
        let other: SocketAddr = "127.0.0.1:50001".parse().unwrap();
        assert_eq!(queues(table, server, other), None);
    }

    #[test]
    fn capacity_checkpoints_have_three_timers_and_notify_only_the_stream() {
        let b = checkpoint_body("x-1", 1, true);
        assert_eq!(b["notify"], json!([{"channel": "websocket"}]));
        assert_eq!(
            b["escalate"][0]["notify"],
            json!([{"channel": "websocket"}])
        );
        assert!(b["timeout_seconds"].is_u64() && b["remind_after_seconds"].is_u64());
        let b = checkpoint_body("x-2", 2, false);
        assert!(b.get("timeout_seconds").is_none() && b.get("escalate").is_none());
    }
}
