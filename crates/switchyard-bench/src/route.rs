//! `switchyard-bench route`: issue 3's routing benchmark, against a running server.
//!
//! Phases (all by default, `--phases` picks some):
//!
//! 1. **setup** — registers `--agents` pull agents and `--webhooks` GitHub webhooks
//!    (`POST /api/webhooks`, seed 002's `WebhookConfig`), each with its own secret and
//!    the five commands of [`webhook_config`]. Then a smoke test on the first webhook:
//!    an `issues.opened` labelled `bug` must create exactly one task, one labelled
//!    `question` nothing, and a forged one (or one signed with another webhook's
//!    secret) must be refused.
//! 2. **ingest** — the closed loop of `ingest`, but each connection cycles through
//!    every webhook endpoint (`/webhooks/github/{id}`), alternating `bug` and
//!    `question` issues, so exactly half the events create a task, and every answer's
//!    `matched` list is checked against that.
//! 3. **count** — pages `GET /api/tasks?agent=…&status=queued` for every agent and
//!    compares the total with the task ids the 202 answers named.
//! 4. **lease** — `--consumers` consumers (spread over the agents) each loop:
//!    `POST /api/agents/{agent}/tasks/lease {"max", "wait_seconds": 0,
//!    "lease_seconds": 60}`, then `POST /api/tasks/{id}/complete {"lease_id",
//!    "result"}` for each task leased, one at a time, until the lease comes back empty
//!    (the queue is drained) or `--lease-duration` is up. Reports completed tasks/s
//!    and the latency of both calls.
//!
//! The last line on stdout is one JSON object with every number.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Args;
use hdrhistogram::Histogram;
use http::header::HeaderValue;
use http::{Method, StatusCode, Uri};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::api::Api;
use crate::{
    check_run_args, issues_opened_labelled, parse_target, read_answer, run_load, runtime, sign,
    Delivery, IdKind, LoadSpec,
};

/// Commands per webhook (see [`webhook_config`]).
pub(crate) const COMMANDS_PER_WEBHOOK: usize = 5;
/// The command that matches the `bug` events.
const MATCHING_COMMAND: &str = "triage-bug";
/// GitHub label ids of the two kinds of event.
const BUG_LABEL_ID: u64 = 208_045_946;
const QUESTION_LABEL_ID: u64 = 208_045_949;
/// The most webhooks, agents and consumers the tool agrees to use.
const MAX_WEBHOOKS: usize = 1000;
const MAX_AGENTS: usize = 100;
const MAX_CONSUMERS: usize = 256;
/// Consecutive failed lease calls after which a consumer gives up.
const MAX_LEASE_FAILURES: u32 = 20;

#[derive(Debug, Args)]
pub struct RouteArgs {
    /// The server's base URL, e.g. http://127.0.0.1:8000. Loopback hosts only.
    #[arg(long)]
    url: String,
    /// The server's admin key (its SWITCHYARD_ADMIN_KEY), for /api.
    #[arg(long, env = "SWITCHYARD_ADMIN_KEY", hide_env_values = true)]
    admin_key: String,
    /// Base of the webhooks' signing secrets: webhook i gets "{secret}-{i}".
    #[arg(long, env = "BENCH_SECRET", hide_env_values = true)]
    secret: String,
    /// Which phases to run, comma-separated: setup, ingest, count, lease.
    #[arg(long, default_value = "setup,ingest,count,lease")]
    phases: String,
    /// Webhooks to register (ids "{prefix}-00", "{prefix}-01", ...).
    #[arg(long, default_value_t = 20)]
    webhooks: usize,
    /// Webhook id prefix.
    #[arg(long, default_value = "bench-route")]
    prefix: String,
    /// Agents the tasks go to: webhook i's tasks go to "bench-agent-{i % agents}".
    #[arg(long, default_value_t = 4)]
    agents: usize,
    /// Ingest: concurrent keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Ingest: measured seconds (after the warm-up).
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Ingest: warm-up seconds (load applied, nothing counted but the tasks created).
    #[arg(long, default_value_t = 5.0)]
    warmup: f64,
    /// Lease: concurrent consumers (consumer j leases for agent j % agents).
    #[arg(long, default_value_t = 16)]
    consumers: usize,
    /// Lease: `max` of each lease call (1–100).
    #[arg(long, default_value_t = 32)]
    lease_max: u32,
    /// Lease: `lease_seconds` of each lease call.
    #[arg(long, default_value_t = 60)]
    lease_seconds: u32,
    /// Lease: stop after this many seconds even if the queues are not drained.
    #[arg(long, default_value_t = 60.0)]
    lease_duration: f64,
    /// Count: give up paging the task list after this many seconds.
    #[arg(long, default_value_t = 30.0)]
    count_timeout: f64,
    /// Worker threads of the generator's runtime (default: the number of CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// A free-form label copied into the JSON line.
    #[arg(long, default_value = "")]
    label: String,
    /// Print progress per second to stderr while running.
    #[arg(long)]
    progress: bool,
    /// How X-GitHub-Delivery ids are made: `random` (as GitHub's) or `sequential`
    /// (a counter per connection, as `ingest` does by default).
    #[arg(long, value_enum, default_value_t = IdKind::Random)]
    delivery_ids: IdKind,
}

#[derive(Debug, Default, Clone, Copy)]
struct Phases {
    setup: bool,
    ingest: bool,
    count: bool,
    lease: bool,
}

fn parse_phases(s: &str) -> anyhow::Result<Phases> {
    let mut p = Phases::default();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "setup" => p.setup = true,
            "ingest" => p.ingest = true,
            "count" => p.count = true,
            "lease" => p.lease = true,
            other => bail!("unknown phase {other:?}; expected setup, ingest, count or lease"),
        }
    }
    if !(p.setup || p.ingest || p.count || p.lease) {
        bail!("--phases names no phase");
    }
    Ok(p)
}

pub(crate) fn webhook_id(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i:02}")
}

pub(crate) fn agent_name(k: usize) -> String {
    format!("bench-agent-{k}")
}

fn webhook_secret(base: &str, i: usize) -> String {
    format!("{base}-{i}")
}

/// Webhook `i`'s config: five commands, all evaluated for every `issues.opened`
/// event (none has `stop`), of which only `triage-bug` matches, and only an issue
/// labelled `bug`:
///
/// * `security` (priority 20): `issues.opened` with a `security`/`vulnerability`
///   label — trigger matches, the labels condition does not;
/// * `triage-bug` (10): `issues.opened`, labelled `bug`, not opened by a bot (a
///   regex) — creates the task, with a template over the payload;
/// * `other-repo` (5): `issues.*` on another repository — a glob trigger that
///   matches, a filter-language `eq` that does not;
/// * `needs-info` (0): `issues.opened` with `all` of a `body_contains` and a `gte`
///   on the comment count — not met;
/// * `pr-review` (0): `pull_request.*` — the trigger does not match.
pub(crate) fn webhook_config(prefix: &str, i: usize, secret: &str, agent: &str) -> Value {
    let id = webhook_id(prefix, i);
    json!({
        "webhook_id": id,
        "name": format!("Bench routing {i:02}"),
        "provider": "github",
        "secret": secret,
        "description": "switchyard-bench route",
        "created_by": "switchyard-bench",
        "commands": [
            {
                "command_id": "security",
                "trigger": "issues.opened",
                "action": "create_task",
                "agent": agent,
                "priority": 20,
                "template": "Security report {{issue.html_url}}: {{issue.title}}",
                "conditions": {"labels": ["security", "vulnerability"]}
            },
            {
                "command_id": MATCHING_COMMAND,
                "trigger": "issues.opened",
                "action": "create_task",
                "agent": agent,
                "priority": 10,
                "template": "Triage {{issue.html_url}} ({{repository.full_name}}): {{issue.title}}\n\n{{issue.body}}",
                "conditions": {
                    "labels": "bug",
                    "not": {"path": "issue.user.login", "op": "regex", "value": "\\[bot\\]$"}
                }
            },
            {
                "command_id": "other-repo",
                "trigger": "issues.*",
                "action": "comment",
                "priority": 5,
                "template": "Thanks {{issue.user.login}}, we will look at it.",
                "conditions": {"path": "repository.full_name", "op": "eq", "value": format!("octo-org/other-{i:02}")}
            },
            {
                "command_id": "needs-info",
                "trigger": "issues.opened",
                "action": "ask",
                "priority": 0,
                "template": "Could you add the steps to reproduce?",
                "conditions": {"all": [
                    {"body_contains": "steps to reproduce: none"},
                    {"path": "issue.comments", "op": "gte", "value": 5}
                ]}
            },
            {
                "command_id": "pr-review",
                "trigger": "pull_request.*",
                "action": "create_task",
                "agent": agent,
                "priority": 0,
                "template": "Review {{pull_request.html_url}}",
                "conditions": {"path": "pull_request.draft", "op": "eq", "value": false}
            }
        ]
    })
}

/// Which webhook and which kind (`true`: `bug`, creates a task) the `s`-th request
/// of connection `c` is. A connection's list covers every webhook with both kinds.
pub(crate) fn schedule(c: usize, s: usize, webhooks: usize) -> (usize, bool) {
    ((c + s / 2) % webhooks, s & 1 == 0)
}

/// Each connection's signed requests: `2 × webhooks` of them, in [`schedule`] order.
fn build_deliveries(args: &RouteArgs, secrets: &[String]) -> anyhow::Result<Vec<Vec<Delivery>>> {
    let w = args.webhooks;
    let mut all = Vec::with_capacity(args.connections);
    for c in 0..args.connections {
        let number = 1000 + c as u64;
        let bug = issues_opened_labelled(number, "bug", BUG_LABEL_ID, None)?;
        let question = issues_opened_labelled(number, "question", QUESTION_LABEL_ID, None)?;
        let mut list = Vec::with_capacity(2 * w);
        for s in 0..2 * w {
            let (i, is_bug) = schedule(c, s, w);
            let secret = secrets.get(i).context("a webhook without a secret")?;
            let body = if is_bug { &bug } else { &question };
            let (sig256, sig1) = sign(secret.as_bytes(), body)?;
            let path: Uri = format!("/webhooks/github/{}", webhook_id(&args.prefix, i))
                .parse()
                .context("webhook path")?;
            list.push(Delivery {
                path,
                body: Bytes::from(body.clone()),
                sig256,
                sig1,
                expect_tasks: Some(u64::from(is_bug)),
            });
        }
        all.push(list);
    }
    Ok(all)
}

pub(crate) fn run(args: RouteArgs) -> anyhow::Result<()> {
    let phases = parse_phases(&args.phases)?;
    check_run_args(args.connections, args.duration, args.warmup, args.timeout)?;
    if args.webhooks == 0 || args.webhooks > MAX_WEBHOOKS {
        bail!("--webhooks must be within 1..={MAX_WEBHOOKS}");
    }
    if args.agents == 0 || args.agents > MAX_AGENTS {
        bail!("--agents must be within 1..={MAX_AGENTS}");
    }
    if args.consumers == 0 || args.consumers > MAX_CONSUMERS {
        bail!("--consumers must be within 1..={MAX_CONSUMERS}");
    }
    if !(1..=100).contains(&args.lease_max) {
        bail!("--lease-max must be within 1..=100");
    }
    if !(args.lease_duration.is_finite()
        && args.lease_duration > 0.0
        && args.lease_duration <= crate::MAX_RUN_SECS)
    {
        bail!(
            "--lease-duration must be > 0 and at most {} s",
            crate::MAX_RUN_SECS
        );
    }
    if !(args.count_timeout.is_finite() && args.count_timeout > 0.0 && args.count_timeout <= 600.0)
    {
        bail!("--count-timeout must be > 0 and at most 600 s");
    }
    if args.secret.is_empty() {
        bail!("--secret must not be empty");
    }
    let base = args.url.trim_end_matches('/').to_owned();
    let target = parse_target(&format!("{base}/"))?;
    if target.path.path() != "/" {
        bail!("--url is the server's base URL (no path), e.g. http://127.0.0.1:8000");
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    let (rt, threads) = runtime(args.threads)?;
    let secrets: Vec<String> = (0..args.webhooks)
        .map(|i| webhook_secret(&args.secret, i))
        .collect();
    let agents: Vec<String> = (0..args.agents).map(agent_name).collect();
    let mut out = json!({
        "tool": "switchyard-bench",
        "mode": "route",
        "label": args.label,
        "url": base,
        "webhooks": args.webhooks,
        "commands_per_webhook": COMMANDS_PER_WEBHOOK,
        "agents": args.agents,
        "threads": threads,
    });
    if phases.ingest {
        out["connections"] = args.connections.into();
        out["warmup_s"] = args.warmup.into();
        out["delivery_ids"] = format!("{:?}", args.delivery_ids).to_lowercase().into();
    }
    println!("target          {base}");
    println!(
        "routing         {} GitHub webhooks × {COMMANDS_PER_WEBHOOK} commands, tasks for {} agents; half the events are `bug` issues that create a task",
        args.webhooks, args.agents
    );

    let mut smoke_tasks = 0u64;
    if phases.setup {
        let started = std::time::Instant::now();
        smoke_tasks = rt.block_on(setup(&args, &target, timeout, &secrets, &agents))?;
        println!(
            "setup           {} webhooks and {} agents registered, smoke test passed ({:.1} s)",
            args.webhooks,
            args.agents,
            started.elapsed().as_secs_f64()
        );
        out["setup"] =
            json!({"smoke_tasks": smoke_tasks, "seconds": round2(started.elapsed().as_secs_f64())});
    }

    let mut seen_tasks: Option<u64> = None;
    if phases.ingest {
        let deliveries = build_deliveries(&args, &secrets)?;
        let spec = LoadSpec {
            target: parse_target(&format!("{base}/"))?,
            url: format!("{base}/webhooks/github/{}-{{00..}}", args.prefix),
            connections: args.connections,
            duration: args.duration,
            warmup: args.warmup,
            timeout: args.timeout,
            expect: None,
            ids: args.delivery_ids,
            threads,
            progress: args.progress,
            requests: None,
        };
        let r = run_load(&rt, spec, deliveries)?;
        println!(
            "-- ingest: signed `issues` events over {} endpoints, {:?} delivery ids",
            args.webhooks, args.delivery_ids
        );
        r.print(
            &format!("{base}/webhooks/github/{}-NN", args.prefix),
            &format!(
                "{} connections, {} generator threads, body {} bytes, warm-up {} s, measured {} s",
                args.connections, threads, r.body_len, args.warmup, args.duration
            ),
            None,
        );
        let share = if r.accepted > 0 {
            r.events_with_task as f64 / r.accepted as f64
        } else {
            0.0
        };
        println!(
            "routed          {} of {} accepted events in the window created a task ({:.1} %), {} tasks; whole run: {} accepted, {} tasks named",
            r.events_with_task,
            r.accepted,
            share * 100.0,
            r.tasks_in_window,
            r.accepted_total,
            r.tasks_total
        );
        println!(
            "misrouted       {} (answers whose `matched` list was not the expected one), {} duplicates",
            r.misrouted, r.duplicates
        );
        if let Some(s) = &r.misroute_sample {
            println!("misroute sample {s}");
        }
        let mut j = r.json();
        j["events_with_task"] = r.events_with_task.into();
        j["tasks_in_window"] = r.tasks_in_window.into();
        j["task_share"] = round4(share).into();
        j["accepted_total"] = r.accepted_total.into();
        j["tasks_named_total"] = r.tasks_total.into();
        j["misrouted"] = r.misrouted.into();
        j["duplicates"] = r.duplicates.into();
        j["misroute_sample"] = r.misroute_sample.clone().into();
        out["ingest"] = j;
        seen_tasks = Some(r.tasks_total + smoke_tasks);
        if r.accepted == 0 {
            println!("{out}");
            bail!("no event was accepted");
        }
    }

    if phases.count {
        let started = std::time::Instant::now();
        let deadline = Instant::now() + Duration::from_secs_f64(args.count_timeout);
        let counts = rt.block_on(count_all(
            &target,
            &args.admin_key,
            timeout,
            &agents,
            "queued",
            deadline,
        ))?;
        let total: u64 = counts.per_agent.values().sum();
        println!(
            "-- count: GET /api/tasks?agent=…&status=queued: {total} queued tasks{} ({:.1} s); answers named {} (smoke test included)",
            if counts.complete { "" } else { " (INCOMPLETE: paging timed out)" },
            started.elapsed().as_secs_f64(),
            seen_tasks.map_or_else(|| "-".to_owned(), |n| n.to_string()),
        );
        println!("queued by agent {:?}", counts.per_agent);
        out["count"] = json!({
            "queued_total": total,
            "per_agent": counts.per_agent,
            "complete": counts.complete,
            "pages": counts.pages,
            "seconds": round2(started.elapsed().as_secs_f64()),
            "named_by_answers": seen_tasks,
        });
    }

    if phases.lease {
        let l = rt.block_on(lease_phase(&args, &target, timeout, &agents))?;
        l.print();
        out["lease"] = l.json();
        // Whatever is still queued (nothing, when drained).
        let deadline = Instant::now() + Duration::from_secs_f64(args.count_timeout);
        let left = rt.block_on(count_all(
            &target,
            &args.admin_key,
            timeout,
            &agents,
            "queued",
            deadline,
        ))?;
        let left_total: u64 = left.per_agent.values().sum();
        println!(
            "queued after    {left_total}{}",
            if left.complete {
                ""
            } else {
                " (incomplete count)"
            }
        );
        out["lease"]["queued_after"] = left_total.into();
    }
    rt.shutdown_timeout(Duration::from_secs(1));
    println!("{out}");
    Ok(())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Registers the agents and webhooks, then runs the smoke test. Returns the tasks
/// the smoke test created.
async fn setup(
    args: &RouteArgs,
    target: &crate::Target,
    timeout: Duration,
    secrets: &[String],
    agents: &[String],
) -> anyhow::Result<u64> {
    let mut api = Api::new(target, &args.admin_key, timeout)?;
    let r = api.call(Method::GET, "/api/webhooks", None).await?;
    if r.status == StatusCode::UNAUTHORIZED || r.status == StatusCode::FORBIDDEN {
        bail!("the admin key was refused ({}): {}", r.status, r.text());
    }
    if r.status != StatusCode::OK {
        bail!("GET /api/webhooks answered {}: {}", r.status, r.text());
    }
    for a in agents {
        let body =
            json!({"name": a, "description": "switchyard-bench route consumer", "mode": "pull"});
        let r = api.call(Method::POST, "/api/agents", Some(&body)).await?;
        if !(r.status == StatusCode::CREATED || r.status == StatusCode::CONFLICT) {
            bail!("POST /api/agents ({a}) answered {}: {}", r.status, r.text());
        }
    }
    for (i, secret) in secrets.iter().enumerate() {
        let agent = agents
            .get(i % agents.len())
            .context("no agent for a webhook")?;
        let cfg = webhook_config(&args.prefix, i, secret, agent);
        let r = api.call(Method::POST, "/api/webhooks", Some(&cfg)).await?;
        match r.status {
            StatusCode::CREATED => {}
            StatusCode::CONFLICT => {
                // A rerun against the same server: replace it.
                let path = format!("/api/webhooks/{}", webhook_id(&args.prefix, i));
                let r = api.call(Method::PUT, &path, Some(&cfg)).await?;
                if r.status != StatusCode::OK {
                    bail!("PUT {path} answered {}: {}", r.status, r.text());
                }
            }
            s => bail!("POST /api/webhooks answered {s}: {}", r.text()),
        }
    }
    smoke(args, &mut api, secrets).await
}

/// One signed delivery to webhook `i` of the given kind, signed with `secret`.
async fn deliver(
    api: &mut Api,
    prefix: &str,
    i: usize,
    is_bug: bool,
    secret: &str,
) -> anyhow::Result<crate::api::Reply> {
    let body = if is_bug {
        issues_opened_labelled(1, "bug", BUG_LABEL_ID, None)?
    } else {
        issues_opened_labelled(1, "question", QUESTION_LABEL_ID, None)?
    };
    let (sig256, sig1) = sign(secret.as_bytes(), &body)?;
    let delivery = uuid::Uuid::new_v4().to_string();
    let headers = [
        (
            crate::X_GITHUB_EVENT.clone(),
            HeaderValue::from_static("issues"),
        ),
        (
            crate::X_GITHUB_DELIVERY.clone(),
            HeaderValue::from_str(&delivery)?,
        ),
        (crate::X_HUB_SIGNATURE_256.clone(), sig256),
        (crate::X_HUB_SIGNATURE.clone(), sig1),
    ];
    let path = format!("/webhooks/github/{}", webhook_id(prefix, i));
    api.send(
        Method::POST,
        &path,
        Some(Bytes::from(body)),
        &headers,
        false,
    )
    .await
}

/// Checks that routing does what the benchmark counts on, on the first webhook.
async fn smoke(args: &RouteArgs, api: &mut Api, secrets: &[String]) -> anyhow::Result<u64> {
    let own = secrets.first().context("no webhook")?;
    let r = deliver(api, &args.prefix, 0, true, own).await?;
    let a = read_answer(&r.body);
    let ok = r.status.is_success()
        && a.as_ref().is_some_and(|a| a.tasks == 1 && a.matched == 1)
        && r.json()
            .and_then(|v| v.pointer("/matched/0/command_id").cloned())
            .is_some_and(|c| c == MATCHING_COMMAND);
    if !ok {
        bail!(
            "smoke test: a `bug` issue should create one task by {MATCHING_COMMAND}; got {}: {}",
            r.status,
            r.text()
        );
    }
    eprintln!("smoke: bug -> {} {}", r.status, r.text());
    let r = deliver(api, &args.prefix, 0, false, own).await?;
    let a = read_answer(&r.body);
    if !(r.status.is_success() && a.as_ref().is_some_and(|a| a.matched == 0)) {
        bail!(
            "smoke test: a `question` issue should match nothing; got {}: {}",
            r.status,
            r.text()
        );
    }
    eprintln!("smoke: question -> {} {}", r.status, r.text());
    let forged = format!("not-{own}");
    let r = deliver(api, &args.prefix, 0, true, &forged).await?;
    if r.status.is_success() {
        bail!("smoke test: a forged delivery was accepted: {}", r.text());
    }
    eprintln!("smoke: forged -> {}", r.status);
    if let Some(other) = secrets.get(1) {
        let r = deliver(api, &args.prefix, 0, true, other).await?;
        if r.status.is_success() {
            bail!(
                "smoke test: a delivery signed with another webhook's secret was accepted: {}",
                r.text()
            );
        }
        eprintln!("smoke: other webhook's secret -> {}", r.status);
    }
    Ok(1)
}

struct Counts {
    per_agent: BTreeMap<String, u64>,
    complete: bool,
    pages: u64,
}

/// Counts each agent's tasks in `status` by paging `GET /api/tasks` (500 a page).
async fn count_all(
    target: &crate::Target,
    admin_key: &str,
    timeout: Duration,
    agents: &[String],
    status: &str,
    deadline: Instant,
) -> anyhow::Result<Counts> {
    let mut api = Api::new(target, admin_key, timeout)?;
    let mut out = Counts {
        per_agent: BTreeMap::new(),
        complete: true,
        pages: 0,
    };
    'agents: for a in agents {
        let mut n = 0u64;
        let mut cursor: Option<String> = None;
        loop {
            if Instant::now() >= deadline {
                out.complete = false;
                out.per_agent.insert(a.clone(), n);
                break 'agents;
            }
            let mut path = format!("/api/tasks?agent={a}&status={status}&limit=500");
            if let Some(c) = &cursor {
                path.push_str("&cursor=");
                path.push_str(c);
            }
            let r = api.call(Method::GET, &path, None).await?;
            out.pages += 1;
            if r.status != StatusCode::OK {
                bail!("GET {path} answered {}: {}", r.status, r.text());
            }
            let v = r.json().context("GET /api/tasks: not JSON")?;
            n += v
                .get("tasks")
                .and_then(Value::as_array)
                .map_or(0, |t| t.len() as u64);
            cursor = v
                .get("next_cursor")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if cursor.is_none() {
                break;
            }
        }
        out.per_agent.insert(a.clone(), n);
    }
    Ok(out)
}

/// What one consumer did.
struct ConsumerStats {
    lease_hist: Histogram<u64>,
    complete_hist: Histogram<u64>,
    lease_calls: u64,
    empty_leases: u64,
    leased: u64,
    completed: u64,
    conflicts: u64,
    statuses: BTreeMap<String, u64>,
    errors: u64,
    drained: bool,
    finished: Instant,
    last_error: Option<String>,
    connects: u64,
}

struct LeasePlan {
    start: Instant,
    end: Instant,
    lease_body: Value,
    completed: AtomicU64,
}

fn micros_since(t: Instant) -> u64 {
    (t.elapsed().as_micros() as u64).max(1)
}

async fn consumer(
    plan: Arc<LeasePlan>,
    mut api: Api,
    agent: String,
) -> anyhow::Result<ConsumerStats> {
    let mut st = ConsumerStats {
        lease_hist: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        complete_hist: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        lease_calls: 0,
        empty_leases: 0,
        leased: 0,
        completed: 0,
        conflicts: 0,
        statuses: BTreeMap::new(),
        errors: 0,
        drained: false,
        finished: plan.start,
        last_error: None,
        connects: 0,
    };
    let lease_path = format!("/api/agents/{agent}/tasks/lease");
    let complete_body = json!({"ok": true, "by": "switchyard-bench"});
    let mut failures = 0u32;
    'run: while Instant::now() < plan.end {
        let t0 = Instant::now();
        st.lease_calls += 1;
        let r = match api
            .call(Method::POST, &lease_path, Some(&plan.lease_body))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                st.errors += 1;
                st.last_error = Some(format!("lease: {e:#}"));
                failures += 1;
                if failures >= MAX_LEASE_FAILURES {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        st.lease_hist.saturating_record(micros_since(t0));
        *st.statuses
            .entry(format!("lease {}", r.status.as_u16()))
            .or_default() += 1;
        if r.status != StatusCode::OK {
            st.last_error = Some(format!("lease: {} {}", r.status, r.text()));
            failures += 1;
            if failures >= MAX_LEASE_FAILURES {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        failures = 0;
        let tasks: Vec<(String, String)> = r
            .json()
            .and_then(|v| v.get("tasks").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|t| {
                let id = t.get("task_id")?.as_str()?.to_owned();
                let lease = t.get("lease_id")?.as_str()?.to_owned();
                Some((id, lease))
            })
            .collect();
        if tasks.is_empty() {
            st.empty_leases += 1;
            st.drained = true;
            st.finished = Instant::now();
            break;
        }
        st.leased += tasks.len() as u64;
        for (id, lease_id) in tasks {
            if Instant::now() >= plan.end {
                break 'run;
            }
            let body = json!({"lease_id": lease_id, "result": complete_body});
            let t0 = Instant::now();
            match api
                .call(
                    Method::POST,
                    &format!("/api/tasks/{id}/complete"),
                    Some(&body),
                )
                .await
            {
                Ok(r) => {
                    *st.statuses
                        .entry(format!("complete {}", r.status.as_u16()))
                        .or_default() += 1;
                    if r.status == StatusCode::OK {
                        st.complete_hist.saturating_record(micros_since(t0));
                        st.completed += 1;
                        plan.completed.fetch_add(1, Ordering::Relaxed);
                        st.finished = Instant::now();
                    } else if r.status == StatusCode::CONFLICT {
                        st.conflicts += 1;
                    } else {
                        st.last_error = Some(format!("complete: {} {}", r.status, r.text()));
                    }
                }
                Err(e) => {
                    st.errors += 1;
                    st.last_error = Some(format!("complete: {e:#}"));
                }
            }
        }
    }
    if !st.drained {
        st.finished = Instant::now().min(plan.end);
    }
    st.connects = api.connects;
    Ok(st)
}

struct LeaseReport {
    consumers: usize,
    lease_max: u32,
    lease_hist: Histogram<u64>,
    complete_hist: Histogram<u64>,
    lease_calls: u64,
    empty_leases: u64,
    leased: u64,
    completed: u64,
    conflicts: u64,
    errors: u64,
    statuses: BTreeMap<String, u64>,
    drained: bool,
    elapsed: f64,
    gen_cpu: Option<f64>,
    last_error: Option<String>,
    connects: u64,
}

async fn lease_phase(
    args: &RouteArgs,
    target: &crate::Target,
    timeout: Duration,
    agents: &[String],
) -> anyhow::Result<LeaseReport> {
    let cpu_before = crate::cpu_secs();
    let start = Instant::now();
    let plan = Arc::new(LeasePlan {
        start,
        end: start + Duration::from_secs_f64(args.lease_duration),
        lease_body: json!({"max": args.lease_max, "wait_seconds": 0, "lease_seconds": args.lease_seconds}),
        completed: AtomicU64::new(0),
    });
    eprintln!(
        "switchyard-bench: {} consumers over {} agents, lease max {}, at most {} s",
        args.consumers,
        agents.len(),
        args.lease_max,
        args.lease_duration
    );
    let ticker = args.progress.then(|| {
        let plan = plan.clone();
        tokio::spawn(async move {
            let mut last = 0u64;
            let mut tick = tokio::time::interval_at(
                plan.start + Duration::from_secs(1),
                Duration::from_secs(1),
            );
            loop {
                let t = tick.tick().await;
                if t > plan.end + Duration::from_millis(500) {
                    break;
                }
                let n = plan.completed.load(Ordering::Relaxed);
                eprintln!(
                    "  +{:>4.0}s {:>8} completed/s",
                    (t - plan.start).as_secs_f64(),
                    n - last
                );
                last = n;
            }
        })
    });
    let mut set = tokio::task::JoinSet::new();
    for j in 0..args.consumers {
        let agent = agents.get(j % agents.len()).context("no agent")?.clone();
        let api = Api::new(target, &args.admin_key, timeout)?;
        set.spawn(consumer(plan.clone(), api, agent));
    }
    let hard_stop = plan.end + timeout + Duration::from_secs(2);
    let mut all = Vec::new();
    loop {
        match tokio::time::timeout_at(hard_stop, set.join_next()).await {
            Ok(Some(Ok(Ok(st)))) => all.push(st),
            Ok(Some(Ok(Err(e)))) => return Err(e),
            Ok(Some(Err(e))) => bail!("a consumer failed: {e}"),
            Ok(None) => break,
            Err(_) => {
                set.abort_all();
                eprintln!("switchyard-bench: consumers did not stop in time; aborted");
                break;
            }
        }
    }
    if let Some(t) = ticker {
        t.abort();
    }
    let gen_cpu = match (cpu_before, crate::cpu_secs()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let mut r = LeaseReport {
        consumers: args.consumers,
        lease_max: args.lease_max,
        lease_hist: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        complete_hist: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        lease_calls: 0,
        empty_leases: 0,
        leased: 0,
        completed: 0,
        conflicts: 0,
        errors: 0,
        statuses: BTreeMap::new(),
        drained: !all.is_empty(),
        elapsed: 0.0,
        gen_cpu,
        last_error: None,
        connects: 0,
    };
    let mut last_finish = start;
    for st in &all {
        r.lease_hist.add(&st.lease_hist)?;
        r.complete_hist.add(&st.complete_hist)?;
        r.lease_calls += st.lease_calls;
        r.empty_leases += st.empty_leases;
        r.leased += st.leased;
        r.completed += st.completed;
        r.conflicts += st.conflicts;
        r.errors += st.errors;
        r.connects += st.connects;
        r.drained &= st.drained;
        for (k, v) in &st.statuses {
            *r.statuses.entry(k.clone()).or_default() += v;
        }
        if st.last_error.is_some() {
            r.last_error.clone_from(&st.last_error);
        }
        last_finish = last_finish.max(st.finished);
    }
    if all.len() < args.consumers {
        r.drained = false;
        last_finish = plan.end;
    }
    r.elapsed = (last_finish - start).as_secs_f64();
    Ok(r)
}

impl LeaseReport {
    fn rate(&self) -> f64 {
        if self.elapsed > 0.0 {
            self.completed as f64 / self.elapsed
        } else {
            0.0
        }
    }

    fn print(&self) {
        let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "-- lease: {} consumers, lease max {}, then complete each task",
            self.consumers, self.lease_max
        );
        println!(
            "completed       {} tasks in {:.2} s = {:.0} tasks/s ({})",
            self.completed,
            self.elapsed,
            self.rate(),
            if self.drained {
                "queues drained"
            } else {
                "NOT drained: time limit"
            }
        );
        println!(
            "leased          {} tasks in {} lease calls ({} empty); {} conflicts (409), {} transport errors",
            self.leased, self.lease_calls, self.empty_leases, self.conflicts, self.errors
        );
        println!("statuses        {:?}", self.statuses);
        let h = &self.complete_hist;
        println!(
            "complete (ms)   p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  mean {:.3}",
            ms(h, 0.5),
            ms(h, 0.9),
            ms(h, 0.99),
            ms(h, 0.999),
            h.max() as f64 / 1000.0,
            h.mean() / 1000.0
        );
        let h = &self.lease_hist;
        println!(
            "lease (ms)      p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  mean {:.3}",
            ms(h, 0.5),
            ms(h, 0.9),
            ms(h, 0.99),
            ms(h, 0.999),
            h.max() as f64 / 1000.0,
            h.mean() / 1000.0
        );
        if let Some(c) = self.gen_cpu {
            println!("generator CPU   {c:.2} s");
        }
        if let Some(e) = &self.last_error {
            println!("last error      {e}");
        }
    }

    fn json(&self) -> Value {
        let lat = crate::latency_json;
        json!({
            "consumers": self.consumers,
            "lease_max": self.lease_max,
            "completed": self.completed,
            "leased": self.leased,
            "tasks_per_s": (self.rate() * 10.0).round() / 10.0,
            "elapsed_s": (self.elapsed * 1000.0).round() / 1000.0,
            "drained": self.drained,
            "lease_calls": self.lease_calls,
            "empty_leases": self.empty_leases,
            "conflicts": self.conflicts,
            "errors": self.errors,
            "statuses": self.statuses,
            "complete_latency_ms": lat(&self.complete_hist),
            "lease_latency_ms": lat(&self.lease_hist),
            "generator_cpu_s": self.gen_cpu.map(round2),
            "connects": self.connects,
            "last_error": self.last_error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_the_schedule_creates_tasks_and_every_webhook_gets_both_kinds() {
        let w = 20;
        for c in [0, 1, 7, 31] {
            let mut seen = std::collections::BTreeSet::new();
            let mut bugs = 0;
            for s in 0..2 * w {
                let (i, bug) = schedule(c, s, w);
                assert!(i < w);
                seen.insert((i, bug));
                bugs += usize::from(bug);
            }
            assert_eq!(bugs, w);
            assert_eq!(seen.len(), 2 * w, "connection {c}");
        }
    }

    #[test]
    fn config_has_five_commands_one_of_which_creates_the_task() {
        let v = webhook_config("bench-route", 3, "s3cret-3", "bench-agent-3");
        assert_eq!(v["webhook_id"], "bench-route-03");
        assert_eq!(v["provider"], "github");
        let cmds = v["commands"].as_array().unwrap();
        assert_eq!(cmds.len(), COMMANDS_PER_WEBHOOK);
        let ids: std::collections::BTreeSet<_> = cmds
            .iter()
            .map(|c| c["command_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), COMMANDS_PER_WEBHOOK);
        assert!(ids.contains(MATCHING_COMMAND));
        for c in cmds {
            assert!(c["trigger"].is_string());
            assert!(c.get("stop").is_none(), "every command must be evaluated");
            if c["action"] == "create_task" {
                assert_eq!(c["agent"], "bench-agent-3");
            }
        }
    }

    #[test]
    fn answers_are_read() {
        let a = read_answer(
            br#"{"event_id":"evt_1","duplicate":false,"matched":[{"command_id":"triage-bug","action":"create_task","agent":"a","task_id":"task_1"}]}"#,
        )
        .unwrap();
        assert_eq!(a.tasks, 1);
        assert_eq!(a.matched, 1);
        assert!(!a.duplicate);
        let a = read_answer(br#"{"event_id":"evt_2","duplicate":true,"matched":[]}"#).unwrap();
        assert_eq!((a.tasks, a.matched, a.duplicate), (0, 0, true));
        assert!(read_answer(b"accepted").is_none());
    }

    #[test]
    fn phases_parse() {
        let p = parse_phases("setup,ingest").unwrap();
        assert!(p.setup && p.ingest && !p.count && !p.lease);
        assert!(parse_phases("setup,bogus").is_err());
        assert!(parse_phases("").is_err());
    }

    #[test]
    fn payload_kinds_differ_only_in_the_label() {
        let bug = issues_opened_labelled(5, "bug", BUG_LABEL_ID, None).unwrap();
        let q = issues_opened_labelled(5, "question", QUESTION_LABEL_ID, None).unwrap();
        let bug: Value = serde_json::from_slice(&bug).unwrap();
        let q: Value = serde_json::from_slice(&q).unwrap();
        assert_eq!(bug["issue"]["labels"][0]["name"], "bug");
        assert_eq!(q["issue"]["labels"][0]["name"], "question");
        assert_eq!(bug["issue"]["title"], q["issue"]["title"]);
    }
}
