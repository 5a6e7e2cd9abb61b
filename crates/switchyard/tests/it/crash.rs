//! Crash safety with real processes: the `switchyard` binary is started, fed signed
//! deliveries, and killed with SIGKILL mid-stream. Every delivery that got a 2xx must
//! be in the store after a restart — on SQLite and on PostgreSQL. A SIGTERM must
//! drain in-flight requests and exit cleanly.

use std::collections::HashSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchyard_store::EventQuery;

use crate::both_stores;
use crate::receiver::{Receiver, Reply};
use crate::support::{
    db_url_for, github_signature, issue_body, Kind, Server, ADMIN_KEY, GITHUB_SECRET,
};

/// Sends distinct signed deliveries from `workers` tasks until `stop`, recording
/// the delivery ids that were answered 2xx.
fn stream(
    base: String,
    workers: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let body = issue_body(1, "opened", &["bug"]);
    let sig = github_signature(GITHUB_SECRET, body.as_bytes());
    (0..workers)
        .map(|w| {
            let (base, body, sig, stop, acked) = (
                base.clone(),
                body.clone(),
                sig.clone(),
                stop.clone(),
                acked.clone(),
            );
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let delivery = format!("w{w}-{i}");
                    let r = client
                        .post(format!("{base}/webhooks/github"))
                        .header("content-type", "application/json")
                        .header("x-github-event", "issues")
                        .header("x-github-delivery", &delivery)
                        .header("x-hub-signature-256", &sig)
                        .body(body.clone())
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status().is_success() => acked.lock().unwrap().push(delivery),
                        Ok(r) => panic!("unexpected status {}", r.status()),
                        // The server is gone (killed); keep trying until told to stop.
                        Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
            })
        })
        .collect()
}

async fn stored_deliveries(db_url: &str) -> HashSet<String> {
    let store = switchyard_store::open(db_url).await.expect("open store");
    let mut out = HashSet::new();
    let mut q = EventQuery {
        limit: 500,
        ..Default::default()
    };
    loop {
        let page = store.list_events(&q).await.expect("list");
        let Some(last) = page.last() else { break };
        q.before = Some(last.event_id.clone());
        out.extend(page.into_iter().filter_map(|e| e.delivery_id));
    }
    out
}

both_stores!(
    sigkill_loses_no_acknowledged_event,
    sigterm_drains_and_exits_cleanly,
    sigkill_during_deliveries_loses_no_message,
    sigkill_loses_no_acknowledged_decision,
    sigkill_mid_node_reruns_only_that_node,
);

/// Workflow runs survive a SIGKILL in the middle of a node: after a restart each
/// run goes on from its last completed node — the completed `prepare` node never
/// runs again; the `call` node that was in flight runs again (recorded as an
/// interrupted attempt, without using up its retries: it has none), with the same
/// `Idempotency-Key` — and every run succeeds.
async fn sigkill_mid_node_reruns_only_that_node(kind: Kind) {
    let rx = Receiver::start().await;
    let n = 4;
    // The first requests hang until the server is killed under them.
    rx.script(vec![
        Reply::json(serde_json::json!({"ok": 1}))
            .delay(Duration::from_secs(60));
        n
    ]);
    rx.set_default(Reply::json(serde_json::json!({"ok": 2})));
    let dir = tempfile::tempdir().unwrap();
    let (db_url, pg) = db_url_for(kind, dir.path()).await;
    let env = [
        ("SWITCHYARD_DELIVERY_ALLOW", "127.0.0.1"),
        // A killed runner's claims run out quickly (the lease plus the node's timeout).
        ("SWITCHYARD_RUN_CLAIM_LEASE", "1s"),
    ];
    let server = Server::start_with(&db_url, dir.path(), &env);
    let client = reqwest::Client::new();
    let yaml = format!(
        r#"
schema_version: "1.0"
flow: {{name: crashy}}
state:
  fields:
    i: {{type: int, required: true}}
    note: {{type: str, default: ""}}
    ok: {{type: int, default: 0}}
nodes:
  - id: prepare
    kind: template
    template: "run {{{{ state.i }}}}"
    outputs: [note]
  - id: call
    kind: http
    request: {{method: POST, url: "{}/call", body: {{i: "{{{{ state.i }}}}"}}}}
    outputs: {{ok: body.ok}}
    retries: 0
    timeout: 3
edges:
  - {{from: START, to: prepare}}
  - {{from: prepare, to: call}}
  - {{from: call, to: END}}
"#,
        rx.url
    );
    let r = client
        .post(format!("{}/api/workflows", server.base))
        .bearer_auth(ADMIN_KEY)
        .json(&serde_json::json!({"name": "crashy", "yaml": yaml}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let mut ids = Vec::new();
    for i in 0..n {
        let r = client
            .post(format!("{}/api/workflows/crashy/runs", server.base))
            .bearer_auth(ADMIN_KEY)
            .json(&serde_json::json!({"inputs": {"i": i}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let body: serde_json::Value = r.json().await.unwrap();
        ids.push(body["run_id"].as_str().unwrap().to_owned());
    }
    // Every run is inside `call` (its request arrived) when the process dies.
    rx.wait_for(n, Duration::from_secs(30)).await;
    let mut server = server;
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reap");
    let restarted = Server::start_with(&db_url, dir.path(), &env);
    for id in &ids {
        let deadline = Instant::now() + Duration::from_secs(60);
        let run = loop {
            let r = client
                .get(format!("{}/api/runs/{id}/wait?timeout=10", restarted.base))
                .bearer_auth(ADMIN_KEY)
                .send()
                .await
                .unwrap();
            let run: serde_json::Value = r.json().await.unwrap();
            if run["status"] != "running" && run["status"] != "pending" {
                break run;
            }
            assert!(
                Instant::now() < deadline,
                "run {id} never finished: {run:#}"
            );
        };
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(run["state"]["ok"], 2);
        let steps: Vec<(String, String)> = run["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["node_id"].as_str().unwrap().into(),
                    s["status"].as_str().unwrap().into(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = [
            ("prepare", "succeeded"),
            ("call", "failed"),
            ("call", "succeeded"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(steps, want, "{run:#}");
        assert!(run["nodes"][1]["error"]
            .as_str()
            .unwrap()
            .contains("interrupted"));
        // Both requests of the node run carried one key.
        let keys: Vec<String> = rx
            .requests()
            .iter()
            .filter_map(|r| r.header("idempotency-key").map(str::to_owned))
            .filter(|k| k.starts_with(id.as_str()))
            .collect();
        assert_eq!(keys, vec![format!("{id}:call:1"); 2]);
    }
    drop(restarted);
    if let Some(db) = pg {
        db.drop_now().await;
    }
}

/// Checkpoint decisions answered 200 keep their effects through a SIGKILL: after a
/// restart each is still decided and its callback arrives; a checkpoint whose
/// timeout ran out while the server was dead is expired, with its callback.
async fn sigkill_loses_no_acknowledged_decision(kind: Kind) {
    let rx = Receiver::start().await;
    // Until the restart, every callback is refused: none is delivered before the kill.
    rx.set_default(Reply::status(503));
    let dir = tempfile::tempdir().unwrap();
    let (db_url, pg) = db_url_for(kind, dir.path()).await;
    let env = [
        ("SWITCHYARD_DELIVERY_ALLOW", "127.0.0.1"),
        // Messages the killed process had claimed are free again after this.
        ("SWITCHYARD_DELIVERY_CLAIM_TIMEOUT", "3s"),
        (
            "SWITCHYARD_RETRY_SCHEDULE",
            "0,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms",
        ),
    ];
    let mut server = Server::start_with(&db_url, dir.path(), &env);
    let client = reqwest::Client::new();
    let callback = format!("{}/cb", rx.url);
    let post = |path: String, body: serde_json::Value| {
        client
            .post(format!("{}{path}", server.base))
            .bearer_auth(ADMIN_KEY)
            .json(&body)
            .send()
    };
    let n = 30;
    for i in 0..n {
        let r = post(
            "/api/checkpoints".into(),
            serde_json::json!({"checkpoint_id": format!("c{i}"), "name": "deploy",
                "notify": [{"channel": "websocket"}], "callback_url": callback}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 201);
        let r = post(
            format!("/api/checkpoints/c{i}/decision"),
            serde_json::json!({"decision": "approve", "by": "ann"}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = post(
        "/api/checkpoints".into(),
        serde_json::json!({"checkpoint_id": "timed", "name": "deploy", "timeout_seconds": 1,
            "default_decision": "reject", "notify": [{"channel": "websocket"}],
            "callback_url": callback}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reap");
    // The timeout runs out while no server runs.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    rx.set_default(Reply::status(200));
    let restarted_at = Instant::now();
    let restarted = Server::start_with(&db_url, dir.path(), &env);

    let mut want: HashSet<String> = (0..n).map(|i| format!("c{i}")).collect();
    want.insert("timed".into());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let delivered: HashSet<String> = rx
            .requests()
            .iter()
            .filter(|r| r.at >= restarted_at)
            .filter_map(|r| {
                r.json()["data"]["checkpoint_id"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        if want.is_subset(&delivered) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "callbacks never delivered: {:?}",
            want.difference(&delivered).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let expired = rx
        .requests()
        .into_iter()
        .find(|r| r.at >= restarted_at && r.json()["data"]["checkpoint_id"] == "timed")
        .unwrap()
        .json();
    assert_eq!(expired["type"], "checkpoint.expired");
    assert_eq!(expired["data"]["decision"], "reject");
    let r = client
        .get(format!("{}/api/checkpoints/c0", restarted.base))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    let c: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (c["status"].as_str(), c["decided_by"].as_str()),
        (Some("approved"), Some("ann"))
    );
    drop(restarted);
    if let Some(db) = pg {
        db.drop_now().await;
    }
}

/// Deliveries under way when the process dies are sent again after a restart, with
/// the same `webhook-id`: at least once, never lost.
async fn sigkill_during_deliveries_loses_no_message(kind: Kind) {
    let rx = Receiver::start().await;
    // Slow enough (4 at a time, 100 ms each) that the kill lands mid-stream.
    rx.set_default(Reply::status(200).delay(Duration::from_millis(100)));
    let dir = tempfile::tempdir().unwrap();
    let (db_url, pg) = db_url_for(kind, dir.path()).await;
    let env = [
        ("SWITCHYARD_DELIVERY_ALLOW", "127.0.0.1"),
        ("SWITCHYARD_DELIVERY_TIMEOUT", "2s"),
        ("SWITCHYARD_DELIVERY_CLAIM_TIMEOUT", "3s"),
        ("SWITCHYARD_DELIVERY_CONCURRENCY", "4"),
        (
            "SWITCHYARD_RETRY_SCHEDULE",
            "0,100ms,100ms,100ms,100ms,100ms",
        ),
    ];
    let mut server = Server::start_with(&db_url, dir.path(), &env);
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/api/webhooks", server.base))
        .bearer_auth(ADMIN_KEY)
        .json(&serde_json::json!({
            "webhook_id": "fwd", "name": "fwd", "provider": "github", "secret": GITHUB_SECRET,
            "commands": [{"trigger": "issues.*", "action": "forward", "url": format!("{}/in", rx.url)}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Accepted events, each with one forward.
    let n = 200;
    let mut messages = HashSet::new();
    for i in 0..n {
        let body = issue_body(i, "opened", &[]);
        let r = client
            .post(format!("{}/webhooks/github/fwd", server.base))
            .header("x-github-event", "issues")
            .header("x-github-delivery", format!("k-{i}"))
            .header(
                "x-hub-signature-256",
                github_signature(GITHUB_SECRET, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let v: serde_json::Value = r.json().await.unwrap();
        messages.insert(v["matched"][0]["delivery_id"].as_str().unwrap().to_owned());
    }
    // Kill it while deliveries are going out.
    let started = Instant::now();
    while rx.count() < 20 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reap");
    let before = rx.count();
    assert!(
        before < n as usize,
        "all {before} were sent before the kill"
    );

    let restarted = Server::start_with(&db_url, dir.path(), &env);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ids: HashSet<String> = rx
            .requests()
            .iter()
            .filter_map(|r| r.header("webhook-id").map(str::to_owned))
            .collect();
        if messages.is_subset(&ids) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} messages never arrived",
            messages.difference(&ids).count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every message is recorded as delivered.
    let store = switchyard_store::open(&db_url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pending = store
            .list_deliveries(&switchyard_store::DeliveryQuery {
                status: Some(switchyard_store::DeliveryStatus::Pending),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        if pending.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "{} still pending", pending.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(restarted);
    if let Some(db) = pg {
        db.drop_now().await;
    }
}

async fn sigkill_loses_no_acknowledged_event(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let (db_url, pg) = db_url_for(kind, dir.path()).await;
    let mut server = Server::start(&db_url, dir.path());
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let workers = stream(server.base.clone(), 16, stop.clone(), acked.clone());

    // Let a good number of deliveries through, then kill the server mid-stream.
    let started = Instant::now();
    while acked.lock().unwrap().len() < 400 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reap");
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 400,
        "only {} deliveries acknowledged before the kill",
        acked.len()
    );

    // Restart on the same store: everything acknowledged is there.
    let restarted = Server::start(&db_url, dir.path());
    let stored = stored_deliveries(&db_url).await;
    let missing: Vec<&String> = acked.iter().filter(|d| !stored.contains(*d)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged deliveries lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );

    // And the restarted server recognises them as redeliveries.
    let client = reqwest::Client::new();
    let body = issue_body(1, "opened", &["bug"]);
    for d in acked.iter().step_by(acked.len() / 20 + 1) {
        let r = client
            .post(format!("{}/webhooks/github", restarted.base))
            .header("content-type", "application/json")
            .header("x-github-event", "issues")
            .header("x-github-delivery", d)
            .header(
                "x-hub-signature-256",
                github_signature(GITHUB_SECRET, body.as_bytes()),
            )
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "redelivery of {d}");
        assert_eq!(
            r.json::<serde_json::Value>().await.unwrap()["duplicate"],
            true
        );
    }
    drop(restarted);
    if let Some(db) = pg {
        db.drop_now().await;
    }
}

async fn sigterm_drains_and_exits_cleanly(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let (db_url, pg) = db_url_for(kind, dir.path()).await;
    let mut server = Server::start(&db_url, dir.path());
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let workers = stream(server.base.clone(), 8, stop.clone(), acked.clone());
    let started = Instant::now();
    while acked.lock().unwrap().len() < 100 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid = server.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    // It must exit by itself, successfully, within a bounded time.
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "switchyard did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "exit status {exit:?}");
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    let stored = stored_deliveries(&db_url).await;
    assert!(
        acked.iter().all(|d| stored.contains(d)),
        "an acknowledged delivery is missing after SIGTERM"
    );
    if let Some(db) = pg {
        db.drop_now().await;
    }
}
