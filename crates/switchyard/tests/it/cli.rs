//! The CLI's client commands, run as the real binary against a real server process
//! on both stores, with setup and checks through the client crate
//! (`switchyard_client`): events list/show, tail (both formats, a filter, a
//! reconnection after the server comes back), checkpoints list/show/decide,
//! deliveries list/retry (one, and by filter), replay, workflows list/run, the exit codes (1 refused, 2 usage,
//! 3 unreachable), the global flags on either side of the subcommand, the
//! `./data/admin.key` fallback and shell completions.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard_client::{CheckpointFilter, Client, DeliveryFilter};
use switchyard_store::{CheckpointStatus, DeliveryStatus, RunStatus};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout};

use crate::both_stores;
use crate::support::{
    db_url_for, github_signature, issue_body, ClosedPort, Kind, Server, ADMIN_KEY, GITHUB_SECRET,
};

const WAIT: Duration = Duration::from_secs(30);

const SHOUT: &str = r#"
schema_version: "1.0"
flow: {name: shout}
state:
  fields:
    message: {type: str, required: true}
    loud: {type: str, default: ""}
nodes:
  - id: upper
    kind: template
    template: "{{ state.message | upper }}!"
    outputs: [loud]
edges:
  - {from: START, to: upper}
  - {from: upper, to: END}
"#;

/// `switchyard ARGS` in `cwd` (a folder without `data/admin.key` unless the test
/// put one there), with none of the client variables from this process.
fn command(args: &[&str], cwd: &Path) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"));
    c.args(args)
        .current_dir(cwd)
        .env_remove("SWITCHYARD_URL")
        .env_remove("SWITCHYARD_API_KEY")
        .env_remove("SWITCHYARD_DATA_DIR")
        .env_remove("RUST_BACKTRACE")
        .kill_on_drop(true);
    c
}

async fn run(args: &[&str], cwd: &Path) -> Output {
    command(args, cwd).output().await.expect("run switchyard")
}

/// Runs the binary against one server with the admin key.
struct Cli<'a> {
    base: &'a str,
    cwd: &'a Path,
}

impl Cli<'_> {
    /// `switchyard --server BASE --api-key ADMIN_KEY ARGS`.
    async fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["--server", self.base, "--api-key", ADMIN_KEY];
        all.extend_from_slice(args);
        run(&all, self.cwd).await
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts the exit code, and that a failure is one line on stderr.
fn expect(out: &Output, code: i32) -> String {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    if code == 1 || code == 3 {
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
        assert!(stderr.starts_with("switchyard: "), "{stderr:?}");
        assert!(!stderr.contains("panicked"), "{stderr:?}");
    }
    stdout
}

/// Posts a GitHub-signed `issues` delivery; the stored event's id.
async fn post_github(base: &str, number: u64) -> String {
    post_issue_at(base, "/webhooks/github", number).await
}

/// Posts issue `number` (`issues.opened`, signed with `GITHUB_SECRET`, a fresh
/// delivery id) to `path` on `base`; the event id.
async fn post_issue_at(base: &str, path: &str, number: u64) -> String {
    let body = issue_body(number, "opened", &[]);
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .header("x-github-delivery", format!("cli-{}", uuid::Uuid::new_v4()))
        .header(
            "x-hub-signature-256",
            github_signature(GITHUB_SECRET, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let v: Value = r.json().await.unwrap();
    v["event_id"].as_str().unwrap().to_owned()
}

/// Polls `check` until it is true; panics after [`WAIT`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn client_commands_against_a_server(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let (db, pg) = db_url_for(kind, dir.path()).await;
    let workflows = dir.path().join("workflows");
    std::fs::create_dir(&workflows).unwrap();
    std::fs::write(workflows.join("shout.yaml"), SHOUT).unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with(
        &db,
        &data,
        &[
            ("SWITCHYARD_WORKFLOWS_DIR", workflows.to_str().unwrap()),
            ("SWITCHYARD_DELIVERY_ALLOW", "127.0.0.1/32"),
            // One attempt: a message to a closed port is dead at once.
            ("SWITCHYARD_RETRY_SCHEDULE", "0"),
        ],
    );
    let base = server.base.as_str();
    let api = Client::new(base, Some(ADMIN_KEY.to_owned())).unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let cwd = cwd.path();

    // `send` goes to the global --server.
    let out = run(
        &[
            "--server",
            base,
            "send",
            "github",
            "--secret",
            GITHUB_SECRET,
        ],
        cwd,
    )
    .await;
    let sent = expect(&out, 0);
    let answer: Value = serde_json::from_str(sent.lines().nth(1).unwrap()).unwrap();
    let first = answer["event_id"].as_str().unwrap().to_owned();
    let second = post_github(base, 2).await;

    // events list: the flags after the subcommand, or before it.
    let after = expect(
        &run(
            &["events", "list", "--server", base, "--api-key", ADMIN_KEY],
            cwd,
        )
        .await,
        0,
    );
    let before = expect(
        &run(
            &["--server", base, "--api-key", ADMIN_KEY, "events", "list"],
            cwd,
        )
        .await,
        0,
    );
    assert_eq!(after, before);
    let lines: Vec<&str> = after.lines().collect();
    assert_eq!(lines.len(), 2, "{after}");
    assert!(
        lines[0].contains(&second) && lines[1].contains(&first),
        "{after}"
    );
    assert!(lines[0].contains("  github  issues.opened  "), "{after}");
    let page = api.events(&Default::default()).await.unwrap();
    assert_eq!(page.events[0].event_id, second);

    // events show: the server's view as JSON.
    let cli = Cli { base, cwd };
    let shown: Value =
        serde_json::from_str(&expect(&cli.run(&["events", "show", &first]).await, 0)).unwrap();
    let view = api.event(&first).await.unwrap();
    assert_eq!(shown, serde_json::to_value(&view).unwrap());
    assert_eq!(shown["payload"]["action"], "opened");

    // Exit codes: refused 1 (unknown id, wrong key), usage 2, unreachable 3.
    let out = cli.run(&["events", "show", "evt_0000"]).await;
    expect(&out, 1);
    assert!(
        text(&out.stderr).starts_with("switchyard: refused (404 unknown_event)"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &["--api-key", "not-a-key", "--server", base, "events", "list"],
        cwd,
    )
    .await;
    expect(&out, 1);
    assert!(text(&out.stderr).contains("401"), "{}", text(&out.stderr));
    let out = run(&["events", "list", "--server", base, "--bogus"], cwd).await;
    expect(&out, 2);
    let closed = ClosedPort::new();
    let nowhere = format!("http://127.0.0.1:{}", closed.port);
    let out = run(&["events", "list", "--server", &nowhere], cwd).await;
    expect(&out, 3);
    assert!(
        text(&out.stderr).starts_with(&format!("switchyard: cannot reach {nowhere}/api/events")),
        "{}",
        text(&out.stderr)
    );

    // ./data/admin.key beside a local server stands in for --api-key; without it
    // the server refuses.
    let beside = tempfile::tempdir().unwrap();
    let out = run(&["events", "list", "--server", base], beside.path()).await;
    expect(&out, 1);
    std::fs::create_dir(beside.path().join("data")).unwrap();
    std::fs::write(
        beside.path().join("data/admin.key"),
        format!("{ADMIN_KEY}\n"),
    )
    .unwrap();
    let out = run(&["events", "list", "--server", base], beside.path()).await;
    assert_eq!(expect(&out, 0), after);

    // Checkpoints: listed, shown, decided — and the decision lands.
    let dead_url = format!("http://127.0.0.1:{}/hook", closed.port);
    api.create_checkpoint(&json!({
        "checkpoint_id": "cli-cp", "name": "deploy", "question": "Ship it?",
        "notify": [{"channel": "webhook", "url": dead_url}],
    }))
    .await
    .unwrap();
    let listed = expect(&cli.run(&["checkpoints", "list"]).await, 0);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("cli-cp  pending  deploy  ") && l.ends_with("Ship it?")),
        "{listed}"
    );
    let shown: Value = serde_json::from_str(&expect(
        &cli.run(&["checkpoints", "show", "cli-cp"]).await,
        0,
    ))
    .unwrap();
    assert_eq!(shown["status"], "pending");
    let decided = expect(
        &cli.run(&[
            "checkpoints",
            "decide",
            "cli-cp",
            "approve",
            "--by",
            "ann",
            "--comment",
            "ok",
        ])
        .await,
        0,
    );
    assert_eq!(decided.trim(), "cli-cp  approved  decision=approve");
    let c = api.checkpoint("cli-cp").await.unwrap();
    assert_eq!(c.status, CheckpointStatus::Approved);
    assert_eq!(c.decided_by.as_deref(), Some("ann"));
    assert_eq!(c.comment.as_deref(), Some("ok"));
    let pending = api
        .checkpoints(&CheckpointFilter {
            status: Some("pending".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(pending.checkpoints.is_empty());
    // Deciding again is refused (409).
    let out = cli
        .run(&["checkpoints", "decide", "cli-cp", "reject"])
        .await;
    expect(&out, 1);
    assert!(text(&out.stderr).contains("409"), "{}", text(&out.stderr));
    let out = cli
        .run(&["checkpoints", "decide", "cli-cp", "perhaps"])
        .await;
    expect(&out, 2);

    // Deliveries: the checkpoint's webhook notification to a closed port is dead;
    // listed, then retried by id, and the retry's attempt is recorded.
    let dead = DeliveryFilter {
        status: Some("failed".into()),
        ..Default::default()
    };
    let deadline = Instant::now() + WAIT;
    let dead_id = loop {
        if let Some(d) = api.deliveries(&dead).await.unwrap().deliveries.first() {
            break d.delivery_id.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no failed delivery within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let listed = expect(
        &cli.run(&["deliveries", "list", "--status", "failed"]).await,
        0,
    );
    let line = listed
        .lines()
        .find(|l| l.starts_with(&dead_id))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(line.contains("  failed  "), "{line}");
    let retried = expect(&cli.run(&["deliveries", "retry", &dead_id]).await, 0);
    assert_eq!(retried.trim(), format!("{dead_id}  pending  retry queued"));
    eventually("the retry's attempt", || {
        let api = api.clone();
        let id = dead_id.clone();
        async move {
            let d = api.delivery(&id).await.unwrap();
            d.attempts == 2 && d.status == DeliveryStatus::Failed
        }
    })
    .await;
    let out = cli.run(&["deliveries", "retry", "msg_0000"]).await;
    expect(&out, 1);
    let out = cli.run(&["deliveries", "retry"]).await;
    expect(&out, 2);

    // Workflows: listed with their required inputs; a run waited for.
    let listed = expect(&cli.run(&["workflows", "list"]).await, 0);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("shout  file  message  ")),
        "{listed}"
    );
    let ran = expect(
        &cli.run(&[
            "workflows",
            "run",
            "shout",
            "--inputs",
            r#"{"message": "hi"}"#,
            "--wait",
        ])
        .await,
        0,
    );
    let run_id = ran.split_whitespace().next().unwrap().to_owned();
    assert!(ran.contains(&format!("{run_id}  succeeded")), "{ran}");
    let state_json = &ran[ran.find('{').unwrap()..];
    let state: Value = serde_json::from_str(state_json).unwrap();
    assert_eq!(state["loud"], "HI!");
    let r = api.run(&run_id).await.unwrap();
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!(r.state, state);
    let out = cli
        .run(&["workflows", "run", "shout", "--inputs", "[1]"])
        .await;
    expect(&out, 2);
    let out = cli.run(&["workflows", "run", "nope"]).await;
    expect(&out, 1);

    drop(server);
    if let Some(pg) = pg {
        pg.drop_now().await;
    }
}

/// A running `switchyard events tail`: its output read line by line.
struct Tail {
    _child: Child,
    out: Lines<BufReader<ChildStdout>>,
    err: Lines<BufReader<ChildStderr>>,
}

impl Tail {
    /// Starts it and returns once it follows the stream (its stderr says so).
    async fn start(base: &str, more: &[&str], cwd: &Path) -> Tail {
        let mut args = vec!["events", "tail", "--server", base, "--api-key", ADMIN_KEY];
        args.extend_from_slice(more);
        let mut child = command(&args, cwd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap()).lines();
        let err = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut tail = Tail {
            _child: child,
            out,
            err,
        };
        let said = tail.err_line().await;
        assert!(
            said.starts_with("switchyard: following events at"),
            "{said}"
        );
        tail
    }

    async fn line(&mut self) -> String {
        tokio::time::timeout(WAIT, self.out.next_line())
            .await
            .expect("no line within the wait")
            .unwrap()
            .expect("tail ended")
    }

    async fn err_line(&mut self) -> String {
        tokio::time::timeout(WAIT, self.err.next_line())
            .await
            .expect("no line within the wait")
            .unwrap()
            .expect("tail ended")
    }
}

async fn events_tail_prints_each_event_and_reconnects(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let (db, pg) = db_url_for(kind, dir.path()).await;
    let data = dir.path().join("data");
    let server = Server::start_with(&db, &data, &[]);
    let base = server.base.clone();
    let cwd = tempfile::tempdir().unwrap();
    let mut plain = Tail::start(&base, &[], cwd.path()).await;
    let mut json = Tail::start(&base, &["--json", "--provider", "github"], cwd.path()).await;

    // A generic event (left out by --provider github), then two GitHub ones.
    let out = run(&["send", "generic", "--server", &base], cwd.path()).await;
    let sent = expect(&out, 0);
    let generic: Value = serde_json::from_str(sent.lines().nth(1).unwrap()).unwrap();
    let ids = [post_github(&base, 1).await, post_github(&base, 2).await];

    let line = plain.line().await;
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!(f.len(), 5, "{line}");
    assert!(f[0].ends_with('Z') && f[0].contains('T'), "{line}");
    assert_eq!(f[1], "generic", "{line}");
    assert_eq!(f[3..], [generic["event_id"].as_str().unwrap(), "matched=0"]);
    for id in &ids {
        let line = plain.line().await;
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(
            f[1..],
            ["github", "issues.opened", id.as_str(), "matched=0"],
            "{line}"
        );
        let j: Value = serde_json::from_str(&json.line().await).unwrap();
        assert_eq!(j["event_id"], id.as_str());
        assert_eq!(j["provider"], "github");
        assert_eq!(j["type"], "issues.opened");
        assert_eq!(j["webhook_id"], "github");
        assert_eq!(j["matched"], 0);
        assert!(j["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    // The server goes away and comes back on the same port and store: tail
    // reconnects from the last event it printed, missing nothing, repeating nothing.
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    drop(server);
    let dropped = plain.err_line().await;
    assert!(dropped.contains("the stream dropped"), "{dropped}");
    let server = Server::start_on(port, &db, &data, &[]);
    let third = post_github(&base, 3).await;
    assert_eq!(plain.err_line().await, "switchyard: reconnected");
    let line = plain.line().await;
    assert!(
        line.ends_with(&format!("github issues.opened {third} matched=0")),
        "{line}"
    );

    drop(server);
    if let Some(pg) = pg {
        pg.drop_now().await;
    }
}

/// The start-up block: where it listens, the store without its password, the
/// providers served, the dashboard; printed once.
async fn serve_says_where_it_listens_once(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let (db, pg) = db_url_for(kind, dir.path()).await;
    const PASSWORD: &str = "Sup3rSecretPw";
    let db_with_password = match kind {
        Kind::Sqlite => db.clone(),
        Kind::Postgres => {
            // Trust auth: any password is accepted, and none may be shown.
            let with = db.replacen("://postgres@", &format!("://postgres:{PASSWORD}@"), 1);
            assert_ne!(with, db, "the test URL names user postgres: {db}");
            with
        }
    };
    let server = Server::start_with(&db_with_password, &dir.path().join("data"), &[]);
    let dashboard = server
        .log_line(&["  dashboard: "], WAIT)
        .expect("a dashboard line");
    assert_eq!(dashboard, format!("  dashboard: {}/ui/", server.base));
    let log = server.log_lines();
    let at = log
        .iter()
        .position(|l| l == &format!("switchyard listening on {}", server.base))
        .unwrap_or_else(|| panic!("{log:#?}"));
    let store = &log[at + 1];
    match kind {
        Kind::Sqlite => assert_eq!(store, &format!("  store:     {db}")),
        Kind::Postgres => {
            assert!(
                store.starts_with("  store:     postgres://postgres:"),
                "{store}"
            );
            assert!(store.ends_with(&db[db.rfind('@').unwrap()..]), "{store}");
        }
    }
    // Support's server has GitHub's secret only; generic, crewai, jira and notion
    // take unsigned posts without one; the others are not served.
    assert_eq!(
        log[at + 2],
        "  providers: github, generic (unsigned), crewai (unsigned), jira (unsigned), \
         notion (unsigned)"
    );
    let c = Client::new(&server.base, Some(ADMIN_KEY.to_owned())).unwrap();
    c.events(&Default::default()).await.unwrap();
    let log = server.log_lines();
    assert_eq!(
        log.iter()
            .filter(|l| l.starts_with("switchyard listening on"))
            .count(),
        1
    );
    assert!(!log.iter().any(|l| l.contains(PASSWORD)), "{log:#?}");
    drop(server);
    if let Some(pg) = pg {
        pg.drop_now().await;
    }
}

/// `METHOD /api/PATH` with the admin key; the status and the JSON answer.
async fn admin_call(base: &str, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(ADMIN_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `replay` prints what it created, once (a second replay prints nothing, a dry
/// run creates nothing), and `deliveries retry` with a filter counts first and
/// then puts the dead deliveries back in the queue.
async fn replay_and_bulk_retry(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let (db, pg) = db_url_for(kind, dir.path()).await;
    let server = Server::start_with(
        &db,
        &dir.path().join("data"),
        &[
            ("SWITCHYARD_DELIVERY_ALLOW", "127.0.0.1/32"),
            ("SWITCHYARD_RETRY_SCHEDULE", "0"),
        ],
    );
    let base = server.base.as_str();
    let api = Client::new(base, Some(ADMIN_KEY.to_owned())).unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let cli = Cli {
        base,
        cwd: cwd.path(),
    };
    let (s, b) = admin_call(
        base,
        reqwest::Method::POST,
        "/api/webhooks",
        json!({"webhook_id": "cli-replay", "name": "replay", "provider": "github",
               "secret": GITHUB_SECRET, "commands": []}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let event = post_issue_at(base, "/webhooks/github/cli-replay", 7).await;

    // Nothing matched and nothing was added: nothing to print.
    assert_eq!(expect(&cli.run(&["replay", &event]).await, 0), "");
    // Two commands added since: a dry run lists them with no id, creates nothing.
    let closed_port = ClosedPort::new();
    let closed = format!("http://127.0.0.1:{}/hook", closed_port.port);
    for cmd in [
        json!({"trigger": "issues.opened", "action": "create_task", "agent": "triage"}),
        json!({"trigger": "issues.opened", "action": "forward", "url": closed}),
    ] {
        let (s, b) = admin_call(
            base,
            reqwest::Method::POST,
            "/api/webhooks/cli-replay/commands",
            cmd,
        )
        .await;
        assert_eq!(s, 201, "{b}");
    }
    let dry = expect(&cli.run(&["replay", &event, "--dry-run"]).await, 0);
    let lines: Vec<&str> = dry.lines().collect();
    assert_eq!(lines.len(), 2, "{dry}");
    assert!(
        lines.iter().all(|l| l.split('\t').nth(1) == Some("-")),
        "{dry}"
    );
    assert!(api.caused(&event).await.unwrap().caused.is_empty());
    // The replay creates them and prints each with its id; a second prints nothing.
    let done = expect(&cli.run(&["replay", &event]).await, 0);
    let caused = api.caused(&event).await.unwrap().caused;
    assert_eq!(caused.len(), 2, "{caused:?}");
    for c in &caused {
        let id = c.id.as_deref().unwrap();
        assert!(
            done.lines().any(|l| l.split('\t').nth(1) == Some(id)),
            "{id} in {done}"
        );
    }
    assert_eq!(expect(&cli.run(&["replay", &event]).await, 0), "");

    // The forward to a closed port dies at its one attempt; a bulk retry by
    // filter counts it first, then sends it again.
    let dead = DeliveryFilter {
        status: Some("failed".into()),
        ..Default::default()
    };
    eventually("the forward is dead", || {
        let (api, dead) = (api.clone(), dead.clone());
        async move { api.deliveries(&dead).await.unwrap().deliveries.len() == 1 }
    })
    .await;
    let id = api.deliveries(&dead).await.unwrap().deliveries[0]
        .delivery_id
        .clone();
    let counted = expect(
        &cli.run(&["deliveries", "retry", "--status", "failed", "--dry-run"])
            .await,
        0,
    );
    assert_eq!(
        counted.trim(),
        "matched=1 retried=0 (dry run: nothing was retried)"
    );
    assert_eq!(api.delivery(&id).await.unwrap().attempts, 1);
    let retried = expect(
        &cli.run(&[
            "deliveries",
            "retry",
            "--status",
            "failed",
            "--kind",
            "forward",
        ])
        .await,
        0,
    );
    assert_eq!(retried.trim(), "matched=1 retried=1");
    eventually("the bulk retry's attempt", || {
        let (api, id) = (api.clone(), id.clone());
        async move {
            let d = api.delivery(&id).await.unwrap();
            d.attempts == 2 && d.status == DeliveryStatus::Failed
        }
    })
    .await;
    // A time alone is no filter (usage, exit 2); a bad status is refused (exit 1).
    let out = cli
        .run(&["deliveries", "retry", "--since", "2020-01-01T00:00:00Z"])
        .await;
    expect(&out, 2);
    let out = cli.run(&["deliveries", "retry", "--status", "lost"]).await;
    expect(&out, 1);
    assert!(
        text(&out.stderr).contains("invalid_status"),
        "{}",
        text(&out.stderr)
    );
    drop(server);
    if let Some(pg) = pg {
        pg.drop_now().await;
    }
}

both_stores!(
    client_commands_against_a_server,
    events_tail_prints_each_event_and_reconnects,
    serve_says_where_it_listens_once,
    replay_and_bulk_retry
);

#[tokio::test]
async fn serve_help_lists_provider_secrets_and_log_settings() {
    let cwd = tempfile::tempdir().unwrap();
    let help = expect(&run(&["serve", "--help"], cwd.path()).await, 0);
    for p in switchyard_core::providers::ALL {
        let var = switchyard_engine::config::env_var_for(p.name());
        assert!(help.contains(&var), "{var} in {help}");
    }
    assert!(help.contains("SWITCHYARD_LOG ") && help.contains("SWITCHYARD_LOG_FORMAT"));
}

#[tokio::test]
async fn completions_print_a_script() {
    let cwd = tempfile::tempdir().unwrap();
    let out = run(&["completions", "bash"], cwd.path()).await;
    let script = expect(&out, 0);
    assert!(script.contains("_switchyard()"), "{script}");
    assert!(script.contains("complete -F _switchyard"), "{script}");
    assert!(script.contains("checkpoints"), "every command is completed");
    let out = run(&["completions", "tcsh"], cwd.path()).await;
    expect(&out, 2);
}
