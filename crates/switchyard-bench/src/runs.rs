//! `switchyard-bench runs`: issue 11's workflow benchmark, against a running server
//! (loopback only): how many runs of a three-node workflow (template → http →
//! template) one server carries out a second.
//!
//! 1. **receiver** — a tiny HTTP/1.1 server on `127.0.0.1:0` in this process
//!    answers every request 200 with the body it got, so the `http` node's call
//!    costs what a fast local service costs. The server must allow loopback
//!    destinations (`SWITCHYARD_DELIVERY_ALLOW=127.0.0.1`).
//! 2. **setup** — registers the workflow of [`workflow_yaml`] twice through
//!    `POST /api/workflows`: under `--workflow` for the measurement and under
//!    `{workflow}-smoke` for one run first, waited for with the long-poll and
//!    checked (it also opens the server's connection to the receiver).
//! 3. **start** — `--runs` runs (`POST /api/workflows/{name}/runs {"inputs":
//!    {"n": i}}`, each answered 202) over `--connections` keep-alive connections,
//!    each with one request in flight, as fast as the server answers.
//! 4. **finish** — meanwhile, and until every run has ended, reads the server's
//!    `switchyard_workflow_runs_total` counters from `/metrics` every `--poll-ms`.
//!    Not the run long-poll: every run change wakes every waiting long-poll
//!    (`Hub::runs_changed` is one `Notify` for all runs), so thousands of parked
//!    waits would each read their run again at every one of the ~8 writes a run
//!    makes, and the benchmark would mostly measure that. `/metrics` reads no
//!    database. A failed or cancelled run ends the benchmark at once, as a failure.
//! 5. **read back** — pages `GET /api/runs?workflow=…` for every run's own
//!    `created_at` / `started_at` / `finished_at` (the latencies and the end-to-end
//!    time come from these, not from the polling), checks each run's final state
//!    (`line` = `hello N!`, so the http node's answer went through), and reads
//!    `--detail` runs with their steps (`GET /api/runs/{id}`) for where a run's
//!    time goes: the queue before the runner took it, each node, and the gaps
//!    between them (the writes).
//!
//! The server's write batches (`switchyard_write_batch_size`) and node durations
//! (`switchyard_node_duration_seconds`) are read from `/metrics` before and after.
//! The last line on stdout is one JSON object with every number.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Args;
use hdrhistogram::Histogram;
use http::header::CONTENT_TYPE;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::api::Api;
use crate::{latency_json, parse_target, runtime, Target};

/// The most runs and connections the tool agrees to use.
const MAX_RUNS: u64 = 200_000;
const MAX_CONNECTIONS: usize = 256;
/// Consecutive failed starts after which a connection gives up.
const MAX_FAILURES: u32 = 20;
/// Runs read back per list page (the API's maximum).
const PAGE: usize = 500;

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// The server's base URL, e.g. http://127.0.0.1:8000. Loopback hosts only.
    #[arg(long)]
    url: String,
    /// The server's admin key (its SWITCHYARD_ADMIN_KEY), for /api.
    #[arg(long, env = "SWITCHYARD_ADMIN_KEY", hide_env_values = true)]
    admin_key: String,
    /// Runs to start.
    #[arg(long, env = "BENCH_RUNS", default_value_t = 2000)]
    runs: u64,
    /// Concurrent keep-alive connections starting runs, each with one request in
    /// flight.
    #[arg(long, env = "BENCH_CONNS", default_value_t = 16)]
    connections: usize,
    /// The workflow's name (a random suffix is added, so runs may follow each other
    /// on one server).
    #[arg(long, default_value = "bench3")]
    workflow: String,
    /// How often /metrics is read while runs finish, in ms.
    #[arg(long, default_value_t = 50)]
    poll_ms: u64,
    /// The longest the start and finish phases may take together, in seconds.
    #[arg(long, default_value_t = 300.0)]
    max_seconds: f64,
    /// Runs read back with their steps for the per-node breakdown (spread evenly
    /// over all runs); 0 skips it.
    #[arg(long, default_value_t = 500)]
    detail: usize,
    /// Worker threads of the generator's runtime (default: the number of CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// A free-form label copied into the JSON line.
    #[arg(long, default_value = "")]
    label: String,
    /// Print finished runs per second to stderr while running.
    #[arg(long)]
    progress: bool,
}

/// The measured workflow: a template, a POST to the receiver echoing the first
/// node's text, and a template over the echo.
pub(crate) fn workflow_yaml(name: &str, receiver: &str) -> String {
    format!(
        r#"schema_version: "1.0"
flow: {{name: {name}}}
state:
  fields:
    n: {{type: int, required: true}}
    greeting: {{type: str, default: ""}}
    echoed: {{type: str, default: ""}}
    line: {{type: str, default: ""}}
nodes:
  - id: greet
    kind: template
    template: "hello {{{{ state.n }}}}"
    outputs: [greeting]
  - id: call
    kind: http
    request: {{method: POST, url: "{receiver}/echo", body: {{g: "{{{{ state.greeting }}}}"}}}}
    outputs: {{echoed: body.g}}
  - id: format
    kind: template
    template: "{{{{ state.echoed }}}}!"
    outputs: [line]
edges:
  - {{from: START, to: greet}}
  - {{from: greet, to: call}}
  - {{from: call, to: format}}
  - {{from: format, to: END}}
"#
    )
}

/// The nodes of [`workflow_yaml`], in order.
const NODES: [&str; 3] = ["greet", "call", "format"];

/// What the run of input `n` must end with in `line`.
fn expected_line(n: u64) -> String {
    format!("hello {n}!")
}

/// The echo receiver: how many requests it answered.
struct Receiver {
    url: String,
    requests: AtomicU64,
}

/// Binds the receiver on 127.0.0.1:0 and serves it until the runtime stops.
async fn start_receiver() -> anyhow::Result<Arc<Receiver>> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the receiver")?;
    let r = Arc::new(Receiver {
        url: format!("http://127.0.0.1:{}", listener.local_addr()?.port()),
        requests: AtomicU64::new(0),
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
                let svc = hyper::service::service_fn(move |req| echo(r.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(r)
}

/// 200 with the request's body (as JSON when it came as JSON).
async fn echo(
    r: Arc<Receiver>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let ct = req.headers().get(CONTENT_TYPE).cloned();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    r.requests.fetch_add(1, Ordering::Relaxed);
    let mut resp = Response::new(Full::new(body));
    if let Some(ct) = ct {
        resp.headers_mut().insert(CONTENT_TYPE, ct);
    }
    Ok(resp)
}

/// A time the server wrote (RFC 3339 in UTC, `Z`, as `switchyard_engine::time`
/// formats it) as Unix microseconds. Written here rather than taken from a crate:
/// the generator needs only this one shape.
pub(crate) fn parse_utc_micros(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (hms, frac) = match time.split_once('.') {
        Some((a, f)) => (a, f),
        None => (time, ""),
    };
    let mut t = hms.splitn(3, ':');
    let (h, mi, sec): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Fraction digits beyond microseconds are dropped; fewer are padded.
    let micros: i64 = if frac.is_empty() {
        0
    } else {
        format!("{:0<6}", &frac[..frac.len().min(6)]).parse().ok()?
    };
    // Days from 1970-01-01 to the date (H. Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000_000 + sec * 1_000_000 + micros)
}

/// Now, as Unix microseconds (the clock the server stamps runs with).
fn wall_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The runs of `workflow` ended so far, by status, as `/metrics` counts them.
pub(crate) fn finished_counts(metrics: &str, workflow: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let want = format!("workflow=\"{workflow}\"");
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("switchyard_workflow_runs_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once('}') else {
            continue;
        };
        if !labels.split(',').any(|l| l == want) {
            continue;
        }
        let status = labels
            .split(',')
            .find_map(|l| l.strip_prefix("status=\""))
            .and_then(|s| s.strip_suffix('"'));
        if let (Some(status), Ok(v)) = (status, value.trim().parse::<f64>()) {
            *out.entry(status.to_owned()).or_default() += v as u64;
        }
    }
    out
}

/// `NAME_sum` and `NAME_count` of a histogram (every label set added up; with
/// `label`, only lines holding it).
pub(crate) fn histogram_totals(metrics: &str, name: &str, label: Option<&str>) -> (f64, f64) {
    let (mut sum, mut count) = (0.0, 0.0);
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (slot, rest) = if let Some(r) = rest.strip_prefix("_sum") {
            (&mut sum, r)
        } else if let Some(r) = rest.strip_prefix("_count") {
            (&mut count, r)
        } else {
            continue;
        };
        if label.is_some_and(|l| !rest.contains(l)) {
            continue;
        }
        let value = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        if let (Some(v), Some('{') | Some(' ')) = (value, rest.chars().next()) {
            *slot += v;
        }
    }
    (sum, count)
}

async fn metrics_text(api: &mut Api) -> anyhow::Result<String> {
    let r = api.send(Method::GET, "/metrics", None, &[], true).await?;
    if r.status != StatusCode::OK {
        bail!("GET /metrics: {} {}", r.status, r.text());
    }
    Ok(String::from_utf8_lossy(&r.body).into_owned())
}

/// What the server's counters said at one moment.
struct Counters {
    write_batches: f64,
    writes: f64,
    nodes: BTreeMap<&'static str, (f64, f64)>,
}

fn counters(metrics: &str) -> Counters {
    let (writes, write_batches) = histogram_totals(metrics, "switchyard_write_batch_size", None);
    let nodes = ["template", "http"]
        .into_iter()
        .map(|k| {
            let label = format!("kind=\"{k}\"");
            (
                k,
                histogram_totals(metrics, "switchyard_node_duration_seconds", Some(&label)),
            )
        })
        .collect();
    Counters {
        write_batches,
        writes,
        nodes,
    }
}

struct StartPlan {
    path: String,
    n: u64,
    next: AtomicU64,
    /// Unix micros of the first 202 read (0 until then).
    first_202: AtomicU64,
}

struct StartStats {
    hist: Histogram<u64>,
    ids: Vec<(u64, String)>,
    refused: u64,
    errors: u64,
    last_error: Option<String>,
}

async fn starter(plan: Arc<StartPlan>, mut api: Api) -> anyhow::Result<StartStats> {
    let mut st = StartStats {
        hist: Histogram::new_with_bounds(1, 120_000_000, 3)?,
        ids: Vec::new(),
        refused: 0,
        errors: 0,
        last_error: None,
    };
    let mut failures = 0u32;
    loop {
        let i = plan.next.fetch_add(1, Ordering::Relaxed);
        if i >= plan.n {
            break;
        }
        let t = Instant::now();
        let body = json!({"inputs": {"n": i}});
        match api.call(Method::POST, &plan.path, Some(&body)).await {
            Ok(r) if r.status == StatusCode::ACCEPTED => {
                st.hist.record((t.elapsed().as_micros() as u64).max(1))?;
                let _ = plan.first_202.compare_exchange(
                    0,
                    wall_micros() as u64,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                match r
                    .json()
                    .and_then(|v| v["run_id"].as_str().map(str::to_owned))
                {
                    Some(id) => st.ids.push((i, id)),
                    None => {
                        st.refused += 1;
                        st.last_error = Some(format!("202 without a run_id: {}", r.text()));
                    }
                }
                failures = 0;
            }
            Ok(r) => {
                st.refused += 1;
                st.last_error = Some(format!("start {i}: {} {}", r.status, r.text()));
                failures += 1;
            }
            Err(e) => {
                st.errors += 1;
                st.last_error = Some(format!("start {i}: {e:#}"));
                failures += 1;
            }
        }
        if failures >= MAX_FAILURES {
            break;
        }
    }
    Ok(st)
}

/// One run as read back from the list.
struct Finished {
    run_id: String,
    status: String,
    created: i64,
    started: Option<i64>,
    finished: Option<i64>,
    n: Option<u64>,
    line: String,
}

/// Every run of `workflow`, paged newest first.
async fn read_all(api: &mut Api, workflow: &str) -> anyhow::Result<Vec<Finished>> {
    let mut out = Vec::new();
    let mut path = format!("/api/runs?workflow={workflow}&limit={PAGE}");
    loop {
        let r = api.call(Method::GET, &path, None).await?;
        if r.status != StatusCode::OK {
            bail!("GET {path}: {} {}", r.status, r.text());
        }
        let page = r.json().context("the run list is not JSON")?;
        for v in page["runs"].as_array().context("no runs in the list")? {
            let t = |k: &str| v[k].as_str().and_then(parse_utc_micros);
            out.push(Finished {
                run_id: v["run_id"].as_str().unwrap_or_default().to_owned(),
                status: v["status"].as_str().unwrap_or_default().to_owned(),
                created: t("created_at").context("a run without created_at")?,
                started: t("started_at"),
                finished: t("finished_at"),
                n: v["inputs"]["n"].as_u64(),
                line: v["state"]["line"].as_str().unwrap_or_default().to_owned(),
            });
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/runs?workflow={workflow}&limit={PAGE}&cursor={c}"),
            None => break,
        }
    }
    Ok(out)
}

/// Where the sampled runs' time went, in µs: the queue before the runner took
/// the run, each node, each gap between two nodes, and the end.
struct Breakdown {
    parts: BTreeMap<String, Histogram<u64>>,
    order: Vec<String>,
    runs: u64,
}

impl Breakdown {
    fn new() -> Self {
        let mut order = vec![
            "queue (created → started)".to_owned(),
            format!("start → {} begins", NODES[0]),
        ];
        for (i, n) in NODES.iter().enumerate() {
            order.push(format!("{n} (node)"));
            if let Some(next) = NODES.get(i + 1) {
                order.push(format!("{n} ends → {next} begins"));
            }
        }
        order.push(format!("{} ends → run finished", NODES[NODES.len() - 1]));
        Self {
            parts: BTreeMap::new(),
            order,
            runs: 0,
        }
    }

    fn add(&mut self, part: &str, micros: i64) -> anyhow::Result<()> {
        let h = match self.parts.get_mut(part) {
            Some(h) => h,
            None => self
                .parts
                .entry(part.to_owned())
                .or_insert(Histogram::new_with_bounds(1, 600_000_000, 3)?),
        };
        h.record(u64::try_from(micros).unwrap_or(0).max(1))?;
        Ok(())
    }

    /// Adds one run (`GET /api/runs/{id}`); false when it is not the expected
    /// shape (every node once, in order).
    fn run(&mut self, v: &Value) -> anyhow::Result<bool> {
        let t = |x: &Value, k: &str| x[k].as_str().and_then(parse_utc_micros);
        let (Some(created), Some(started), Some(finished)) =
            (t(v, "created_at"), t(v, "started_at"), t(v, "finished_at"))
        else {
            return Ok(false);
        };
        let Some(nodes) = v["nodes"].as_array() else {
            return Ok(false);
        };
        let ids: Vec<&str> = nodes.iter().filter_map(|n| n["node_id"].as_str()).collect();
        if ids != NODES {
            return Ok(false);
        }
        let mut spans = Vec::new();
        for n in nodes {
            match (t(n, "started_at"), t(n, "finished_at")) {
                (Some(a), Some(b)) => spans.push((a, b)),
                _ => return Ok(false),
            }
        }
        self.add(&self.order[0].clone(), started - created)?;
        self.add(&self.order[1].clone(), spans[0].0 - started)?;
        let mut k = 2;
        for (i, (a, b)) in spans.iter().enumerate() {
            self.add(&self.order[k].clone(), b - a)?;
            k += 1;
            if let Some((next_a, _)) = spans.get(i + 1) {
                self.add(&self.order[k].clone(), next_a - b)?;
                k += 1;
            }
        }
        let last_end = spans.last().map_or(started, |s| s.1);
        self.add(&self.order[k].clone(), finished - last_end)?;
        self.runs += 1;
        Ok(true)
    }

    fn json(&self) -> Value {
        let parts: Vec<Value> = self
            .order
            .iter()
            .filter_map(|p| {
                let h = self.parts.get(p)?;
                Some(json!({
                    "part": p,
                    "mean_ms": (h.mean() / 10.0).round() / 100.0,
                    "p50_ms": h.value_at_quantile(0.5) as f64 / 1000.0,
                    "p99_ms": h.value_at_quantile(0.99) as f64 / 1000.0,
                }))
            })
            .collect();
        json!({"runs": self.runs, "parts": parts})
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The benchmark proper, inside the runtime.
async fn bench(args: &RunsArgs, target: &Target, timeout: Duration) -> anyhow::Result<Value> {
    let receiver = start_receiver().await?;
    let suffix = format!("{:08x}", rand::random::<u32>());
    let name = format!("{}-{suffix}", args.workflow);
    let smoke = format!("{name}-smoke");
    let mut api = Api::new(target, &args.admin_key, timeout)?;
    for n in [&name, &smoke] {
        let body = json!({"name": n, "yaml": workflow_yaml(n, &receiver.url)});
        let r = api
            .call(Method::POST, "/api/workflows", Some(&body))
            .await?;
        if r.status != StatusCode::CREATED {
            bail!("registering workflow {n}: {} {}", r.status, r.text());
        }
    }
    // One run first, waited for: the workflow works end to end (and the server's
    // client has a connection to the receiver).
    let r = api
        .call(
            Method::POST,
            &format!("/api/workflows/{smoke}/runs"),
            Some(&json!({"inputs": {"n": 7}})),
        )
        .await?;
    let id = r
        .json()
        .and_then(|v| v["run_id"].as_str().map(str::to_owned));
    let Some(id) = id.filter(|_| r.status == StatusCode::ACCEPTED) else {
        bail!("starting the smoke run: {} {}", r.status, r.text());
    };
    let r = api
        .call(
            Method::GET,
            &format!("/api/runs/{id}/wait?timeout=30"),
            None,
        )
        .await?;
    let v = r.json().unwrap_or(Value::Null);
    if v["status"] != "succeeded" || v["state"]["line"] != expected_line(7).as_str() {
        bail!(
            "the smoke run did not end as it should (is SWITCHYARD_DELIVERY_ALLOW=127.0.0.1 set?): {}",
            r.text()
        );
    }
    let before = counters(&metrics_text(&mut api).await?);

    // Start every run; poll the finished counters meanwhile.
    let plan = Arc::new(StartPlan {
        path: format!("/api/workflows/{name}/runs"),
        n: args.runs,
        next: AtomicU64::new(0),
        first_202: AtomicU64::new(0),
    });
    let deadline = Instant::now() + Duration::from_secs_f64(args.max_seconds);
    let started = Instant::now();
    let started_wall = wall_micros();
    let mut handles = Vec::new();
    for _ in 0..args.connections.min(args.runs as usize) {
        let a = Api::new(target, &args.admin_key, timeout)?;
        handles.push(tokio::spawn(starter(plan.clone(), a)));
    }
    let poll = {
        let (name, n, poll_ms, progress) = (name.clone(), args.runs, args.poll_ms, args.progress);
        let mut api = Api::new(target, &args.admin_key, timeout)?;
        tokio::spawn(async move {
            let mut polls = 0u64;
            let mut last_print = Instant::now();
            let mut last_done = 0u64;
            loop {
                let m = metrics_text(&mut api).await?;
                polls += 1;
                let c = finished_counts(&m, &name);
                let ok = c.get("succeeded").copied().unwrap_or(0);
                let bad: u64 = c
                    .iter()
                    .filter(|(k, _)| *k != "succeeded")
                    .map(|(_, v)| v)
                    .sum();
                if progress && last_print.elapsed() >= Duration::from_secs(1) {
                    eprintln!("finished {ok} ({}/s), failed {bad}", ok - last_done);
                    last_print = Instant::now();
                    last_done = ok;
                }
                if bad > 0 || ok >= n {
                    return anyhow::Ok((c, polls, Instant::now()));
                }
                if Instant::now() >= deadline {
                    bail!("only {ok} of {n} runs finished within the time limit");
                }
                tokio::time::sleep(Duration::from_millis(poll_ms)).await;
            }
        })
    };
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    let (mut ids, mut refused, mut errors, mut last_error) = (Vec::new(), 0u64, 0u64, None);
    for h in handles {
        let s = h.await??;
        hist.add(&s.hist)?;
        ids.extend(s.ids);
        refused += s.refused;
        errors += s.errors;
        if s.last_error.is_some() {
            last_error = s.last_error;
        }
    }
    let start_secs = started.elapsed().as_secs_f64();
    let accepted = ids.len() as u64;
    println!(
        "-- start: {accepted} runs accepted (202) in {start_secs:.2} s ({:.0}/s) over {} connections; {refused} refused, {errors} errors",
        accepted as f64 / start_secs,
        args.connections
    );
    if accepted < args.runs {
        poll.abort();
        bail!(
            "only {accepted} of {} runs were started; last error: {}",
            args.runs,
            last_error.unwrap_or_default()
        );
    }
    let (counts, polls, seen_done) = poll.await??;
    let seen_secs = (seen_done - started).as_secs_f64();
    let after = counters(&metrics_text(&mut api).await?);

    // Read every run back: its own times and its final state.
    let runs = read_all(&mut api, &name).await?;
    let first_202 = plan.first_202.load(Ordering::Relaxed) as i64;
    let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut queue = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut own = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let (mut succeeded, mut failed, mut wrong_state) = (0u64, Vec::new(), 0u64);
    let (mut first_created, mut last_finished) = (i64::MAX, i64::MIN);
    let started_ids: std::collections::HashSet<&str> =
        ids.iter().map(|(_, id)| id.as_str()).collect();
    let mut unknown = 0u64;
    for r in &runs {
        if !started_ids.contains(r.run_id.as_str()) {
            unknown += 1;
        }
        first_created = first_created.min(r.created);
        if r.status != "succeeded" {
            failed.push(format!("{} {}", r.run_id, r.status));
            continue;
        }
        succeeded += 1;
        if r.n.map(expected_line).as_deref() != Some(r.line.as_str()) {
            wrong_state += 1;
        }
        let (Some(s), Some(f)) = (r.started, r.finished) else {
            wrong_state += 1;
            continue;
        };
        last_finished = last_finished.max(f);
        let us = |d: i64| u64::try_from(d).unwrap_or(0).max(1);
        latency.record(us(f - r.created))?;
        queue.record(us(s - r.created))?;
        own.record(us(f - s))?;
    }
    let missing =
        started_ids.len() as u64 - (runs.len() as u64 - unknown).min(started_ids.len() as u64);
    let e2e_secs = (last_finished - first_202) as f64 / 1e6;
    let server_secs = (last_finished - first_created) as f64 / 1e6;
    let runs_per_s = succeeded as f64 / e2e_secs;
    println!(
        "-- finish: {succeeded} succeeded, {} not, {wrong_state} with a wrong state; first 202 → last finished {e2e_secs:.2} s: {runs_per_s:.0} runs/s (first created → last finished {server_secs:.2} s); the poller saw the end {:.2} s after the first request ({polls} polls)",
        failed.len(),
        seen_secs
    );

    // Where the time goes: a sample of runs with their steps.
    let mut breakdown = Breakdown::new();
    let mut odd = 0u64;
    if args.detail > 0 && !runs.is_empty() {
        let k = args.detail.min(runs.len());
        for j in 0..k {
            let r = &runs[j * runs.len() / k];
            let resp = api
                .call(Method::GET, &format!("/api/runs/{}", r.run_id), None)
                .await?;
            let v = resp.json().unwrap_or(Value::Null);
            if !breakdown.run(&v)? {
                odd += 1;
            }
        }
    }
    let delta = |a: f64, b: f64| b - a;
    let batches = delta(before.write_batches, after.write_batches);
    let writes = delta(before.writes, after.writes);
    let nodes: BTreeMap<&str, Value> = after
        .nodes
        .iter()
        .map(|(k, (sum, count))| {
            let (s0, c0) = before.nodes.get(k).copied().unwrap_or((0.0, 0.0));
            let (s, c) = (sum - s0, count - c0);
            (
                *k,
                json!({"count": c, "mean_ms": if c > 0.0 { round2(s * 1000.0 / c) } else { 0.0 }}),
            )
        })
        .collect();
    let line = |name: &str, h: &Histogram<u64>| {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{name:<34} p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2} ms",
            ms(0.5),
            ms(0.95),
            ms(0.99),
            h.max() as f64 / 1000.0
        );
    };
    line("start call (POST → 202)", &hist);
    line("run created → finished", &latency);
    line("run created → started (queue)", &queue);
    line("run started → finished", &own);
    println!(
        "server writes: {writes:.0} in {batches:.0} batches during the runs ({:.1} writes and {:.1} batches a run, {:.1} writes a batch); receiver answered {}",
        writes / succeeded.max(1) as f64,
        batches / succeeded.max(1) as f64,
        if batches > 0.0 { writes / batches } else { 0.0 },
        receiver.requests.load(Ordering::Relaxed)
    );
    let pct = |h: &Histogram<u64>| {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        json!({"p50": ms(0.5), "p95": ms(0.95), "p99": ms(0.99), "max": h.max() as f64 / 1000.0, "mean": (h.mean() / 10.0).round() / 100.0})
    };
    let out = json!({
        "workflow": name,
        "runs": args.runs,
        "connections": args.connections,
        "accepted": accepted,
        "refused": refused,
        "errors": errors,
        "last_error": last_error,
        "start_s": round2(start_secs * 1000.0) / 1000.0,
        "start_per_s": (accepted as f64 / start_secs).round(),
        "start_ms": latency_json(&hist),
        "succeeded": succeeded,
        "not_succeeded": failed.len(),
        "not_succeeded_sample": failed.iter().take(5).collect::<Vec<_>>(),
        "wrong_state": wrong_state,
        "unknown_runs": unknown,
        "missing_runs": missing,
        "read_back": runs.len(),
        "finished_counters": counts,
        "e2e_s": round2(e2e_secs * 1000.0) / 1000.0,
        "runs_per_s": runs_per_s.round(),
        "server_span_s": round2(server_secs * 1000.0) / 1000.0,
        "first_request_to_first_202_ms": round2((first_202 - started_wall) as f64 / 1000.0),
        "poller": {"interval_ms": args.poll_ms, "polls": polls, "saw_end_s": round2(seen_secs * 1000.0) / 1000.0},
        "latency_ms": pct(&latency),
        "queue_ms": pct(&queue),
        "run_ms": pct(&own),
        "writes": {"ops": writes, "batches": batches,
                   "ops_per_run": round2(writes / succeeded.max(1) as f64),
                   "batches_per_run": round2(batches / succeeded.max(1) as f64)},
        "node_metrics": nodes,
        "breakdown": breakdown.json(),
        "breakdown_odd": odd,
        "receiver_requests": receiver.requests.load(Ordering::Relaxed),
    });
    Ok(out)
}

pub(crate) fn run(args: RunsArgs) -> anyhow::Result<()> {
    if args.runs == 0 || args.runs > MAX_RUNS {
        bail!("--runs must be within 1..={MAX_RUNS}");
    }
    if args.connections == 0 || args.connections > MAX_CONNECTIONS {
        bail!("--connections must be within 1..={MAX_CONNECTIONS}");
    }
    if !(args.max_seconds.is_finite()
        && args.max_seconds > 0.0
        && args.max_seconds <= crate::MAX_RUN_SECS)
    {
        bail!(
            "--max-seconds must be > 0 and at most {} s",
            crate::MAX_RUN_SECS
        );
    }
    if !(1..=10_000).contains(&args.poll_ms) {
        bail!("--poll-ms must be within 1..=10000");
    }
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        bail!("--timeout must be > 0");
    }
    if args.workflow.is_empty()
        || !args
            .workflow
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        bail!("--workflow: letters, digits, '-' and '_' only");
    }
    let base = args.url.trim_end_matches('/').to_owned();
    let target = parse_target(&format!("{base}/"))?;
    if target.path.path() != "/" {
        bail!("--url is the server's base URL (no path), e.g. http://127.0.0.1:8000");
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    let (rt, threads) = runtime(args.threads)?;
    println!("target          {base}");
    let cpu0 = crate::cpu_secs();
    let result = rt.block_on(bench(&args, &target, timeout));
    let cpu = match (cpu0, crate::cpu_secs()) {
        (Some(a), Some(b)) => json!(round2((b - a) * 1000.0) / 1000.0),
        _ => Value::Null,
    };
    rt.shutdown_timeout(Duration::from_secs(1));
    let mut out = json!({
        "tool": "switchyard-bench",
        "mode": "runs",
        "label": args.label,
        "url": base,
        "threads": threads,
        "generator_cpu_s": cpu,
    });
    match result {
        Ok(v) => {
            let failed = v["not_succeeded"].as_u64().unwrap_or(0)
                + v["wrong_state"].as_u64().unwrap_or(0)
                + v["unknown_runs"].as_u64().unwrap_or(0)
                + v["missing_runs"].as_u64().unwrap_or(0);
            if let (Value::Object(o), Value::Object(m)) = (&mut out, v) {
                o.extend(m);
            }
            println!("{out}");
            if failed > 0 {
                bail!("{failed} runs did not succeed, ended with a wrong state or were not ours or missing");
            }
            Ok(())
        }
        Err(e) => {
            out["error"] = json!(format!("{e:#}"));
            println!("{out}");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_times_parse_to_micros() {
        assert_eq!(parse_utc_micros("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_utc_micros("1970-01-01T00:00:01.5Z"), Some(1_500_000));
        assert_eq!(
            parse_utc_micros("2026-11-29T15:56:35.123456Z"),
            Some(1_795_967_795_123_456)
        );
        assert_eq!(
            parse_utc_micros("2000-02-29T00:00:00.000001Z"),
            Some(951_782_400_000_001)
        );
        assert_eq!(parse_utc_micros("2026-11-29T15:56:35+01:00"), None);
        assert_eq!(parse_utc_micros("2026-13-29T15:56:35Z"), None);
        assert_eq!(parse_utc_micros("yesterday"), None);
    }

    #[test]
    fn finished_counters_are_read_per_workflow() {
        let m = "# TYPE switchyard_workflow_runs_total counter\n\
                 switchyard_workflow_runs_total{workflow=\"bench3-a\",status=\"succeeded\"} 1999\n\
                 switchyard_workflow_runs_total{workflow=\"bench3-a\",status=\"failed\"} 1\n\
                 switchyard_workflow_runs_total{workflow=\"bench3-a-smoke\",status=\"succeeded\"} 1\n";
        let c = finished_counts(m, "bench3-a");
        assert_eq!(c.get("succeeded"), Some(&1999));
        assert_eq!(c.get("failed"), Some(&1));
        assert_eq!(
            finished_counts(m, "bench3-a-smoke").get("succeeded"),
            Some(&1)
        );
    }

    #[test]
    fn histogram_totals_add_up_label_sets() {
        let m = "switchyard_write_batch_size_bucket{le=\"1\"} 3\n\
                 switchyard_write_batch_size_sum 40\n\
                 switchyard_write_batch_size_count 10\n\
                 switchyard_node_duration_seconds_sum{workflow=\"w\",kind=\"http\"} 0.5\n\
                 switchyard_node_duration_seconds_count{workflow=\"w\",kind=\"http\"} 100\n\
                 switchyard_node_duration_seconds_sum{workflow=\"w\",kind=\"template\"} 0.1\n\
                 switchyard_node_duration_seconds_count{workflow=\"w\",kind=\"template\"} 200\n";
        assert_eq!(
            histogram_totals(m, "switchyard_write_batch_size", None),
            (40.0, 10.0)
        );
        assert_eq!(
            histogram_totals(m, "switchyard_node_duration_seconds", Some("kind=\"http\"")),
            (0.5, 100.0)
        );
    }

    #[test]
    fn the_workflow_names_the_receiver_and_three_nodes() {
        let y = workflow_yaml("bench3-x", "http://127.0.0.1:4000");
        assert!(y.contains("url: \"http://127.0.0.1:4000/echo\""));
        assert!(y.contains("template: \"hello {{ state.n }}\""));
        assert!(y.contains("flow: {name: bench3-x}"));
        assert_eq!(y.matches("  - id: ").count(), NODES.len());
    }
}
