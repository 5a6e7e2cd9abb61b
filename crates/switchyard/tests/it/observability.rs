//! Issue 13's operator surface: the metrics families present from start (a real
//! server process, so its recorder holds only its own numbers), JSON logs carrying
//! the request id, and retention pruning old rows without touching pending work.

use std::time::Duration;

use serde_json::{json, Value};
use switchyard_store::{now_micros, PruneKind};

use crate::both_stores;
use crate::support::{
    count_sql, db_url_for, exec_sql, github_signature, issue_body, metric, Kind, Server, TestApp,
    ADMIN_KEY, GITHUB_SECRET,
};

both_stores!(
    metric_families_are_there_from_start,
    json_logs_carry_the_request_id,
    retention_prunes_old_rows_but_not_pending_work
);

/// Every pinned family and a series of it to look for at start.
const FAMILIES: &[(&str, &[(&str, &str)])] = &[
    (
        "switchyard_webhooks_received_total",
        &[("provider", "github")],
    ),
    (
        "switchyard_webhooks_rejected_total",
        &[("reason", "signature_mismatch")],
    ),
    (
        "switchyard_ingest_duration_seconds_count",
        &[("provider", "github")],
    ),
    ("switchyard_outbox_depth", &[]),
    (
        "switchyard_delivery_attempts_total",
        &[("kind", "forward"), ("outcome", "dead")],
    ),
    ("switchyard_delivery_latency_seconds_count", &[]),
    ("switchyard_checkpoints_pending", &[]),
    (
        "switchyard_notifications_total",
        &[("channel", "slack"), ("outcome", "failed")],
    ),
    (
        "switchyard_workflow_runs_total",
        &[("workflow", ""), ("status", "failed")],
    ),
    ("switchyard_retention_deleted_total", &[("kind", "events")]),
];

async fn scrape(client: &reqwest::Client, base: &str) -> String {
    let r = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

async fn post_github(
    client: &reqwest::Client,
    base: &str,
    delivery: &str,
    secret: &str,
    request_id: Option<&str>,
) -> reqwest::Response {
    let body = issue_body(1, "opened", &[]);
    let mut req = client
        .post(format!("{base}/webhooks/github"))
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .header("x-github-delivery", delivery)
        .header(
            "x-hub-signature-256",
            github_signature(secret, body.as_bytes()),
        )
        .body(body);
    if let Some(id) = request_id {
        req = req.header("x-request-id", id);
    }
    req.send().await.unwrap()
}

async fn metric_families_are_there_from_start(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let (db_url, pg) = db_url_for(kind, dir.path()).await;
    let server = Server::start(&db_url, dir.path());
    let client = reqwest::Client::new();

    // The first scrape, before any request: every family has its sample line.
    let text = scrape(&client, &server.base).await;
    for (family, labels) in FAMILIES {
        assert_eq!(
            metric(&text, family, labels),
            Some(0.0),
            "{family}{labels:?} at start:\n{text}"
        );
    }
    for family in FAMILIES.iter().map(|(f, _)| f) {
        let base = family.trim_end_matches("_count");
        assert!(
            text.contains(&format!("# HELP {base} ")),
            "{base} is described:\n{text}"
        );
    }
    // Providers without a secret are not served, so they have no series.
    assert_eq!(
        metric(
            &text,
            "switchyard_webhooks_received_total",
            &[("provider", "stripe")]
        ),
        None
    );

    // Traffic moves them.
    let ok = post_github(&client, &server.base, "obs-1", GITHUB_SECRET, None).await;
    assert_eq!(ok.status(), 202);
    let bad = post_github(&client, &server.base, "obs-2", "wrong", None).await;
    assert_eq!(bad.status(), 401);
    let r = client
        .post(format!("{}/api/checkpoints", server.base))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"checkpoint_id": "obs-cp", "name": "approve"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let text = scrape(&client, &server.base).await;
    let github = [("provider", "github")];
    assert_eq!(
        metric(&text, "switchyard_webhooks_received_total", &github),
        Some(2.0)
    );
    assert_eq!(
        metric(
            &text,
            "switchyard_webhooks_rejected_total",
            &[("reason", "signature_mismatch")]
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "switchyard_ingest_duration_seconds_count", &github),
        Some(2.0)
    );
    // The gauge is read from the store by the "metrics" worker (every 10 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = scrape(&client, &server.base).await;
        if metric(&text, "switchyard_checkpoints_pending", &[]) == Some(1.0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the pending gauge never counted the checkpoint:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(server);
    if let Some(pg) = pg {
        pg.drop_now().await;
    }
}

async fn json_logs_carry_the_request_id(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let (db_url, pg) = db_url_for(kind, dir.path()).await;
    let server = Server::start_with(&db_url, dir.path(), &[("SWITCHYARD_LOG_FORMAT", "json")]);
    let client = reqwest::Client::new();

    // The client's id is kept and logged.
    let r = post_github(
        &client,
        &server.base,
        "log-1",
        GITHUB_SECRET,
        Some("obs-req-1"),
    )
    .await;
    assert_eq!(r.status(), 202);
    let line = server
        .log_line(&["obs-req-1", "webhook accepted"], Duration::from_secs(10))
        .expect("the accepted line");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["request_id"], "obs-req-1", "{line}");
    assert_eq!(v["message"], "webhook accepted");
    assert_eq!(v["path"], "/webhooks/github");
    assert_eq!(v["level"], "INFO");

    // Without one, the id made for the request is on its answer and its lines.
    let r = post_github(&client, &server.base, "log-2", "wrong", None).await;
    assert_eq!(r.status(), 401);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let line = server
        .log_line(&[&id, "request refused"], Duration::from_secs(10))
        .expect("the refused line");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["request_id"], id.as_str(), "{line}");

    // Every line is one JSON object.
    for line in server.log_lines() {
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
    }
    drop(server);
    if let Some(pg) = pg {
        pg.drop_now().await;
    }
}

const DAY: i64 = 24 * 3600 * 1_000_000;

async fn retention_prunes_old_rows_but_not_pending_work(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let at = app.store_at.clone();
    let (s, health) = app.api_get("/healthz").await;
    assert_eq!(s, 200, "{health}");
    for worker in ["retention", "metrics"] {
        assert_eq!(health["workers"][worker]["up"], true, "{health}");
    }

    // Six events; all but the last made 31 days old.
    let mut ids = Vec::new();
    for i in 0..6 {
        let body = issue_body(i, "opened", &[]);
        let (s, b) = app.post_github("issues", &format!("ret-{i}"), &body).await;
        assert_eq!(s, 202, "{b}");
        ids.push(b["event_id"].as_str().unwrap().to_owned());
    }
    let old = now_micros() - 31 * DAY;
    let list = |ids: &[String]| {
        ids.iter()
            .map(|i| format!("'{i}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    exec_sql(
        &at,
        &format!(
            "UPDATE events SET received_at = {old} WHERE event_id IN ({})",
            list(&ids[..5])
        ),
    )
    .await;
    // Pending work on the first four; finished work on the fifth.
    let later = now_micros() + DAY;
    let (e0, e1, e2, e3, e4) = (&ids[0], &ids[1], &ids[2], &ids[3], &ids[4]);
    for sql in [
        format!(
            "INSERT INTO tasks (task_id, agent, status, message, event_id, created_at, updated_at) \
             VALUES ('tsk_q', 'a', 'queued', 'm', '{e0}', {old}, {old})"
        ),
        format!(
            "INSERT INTO outbox (outbox_id, kind, event_id, payload, status, idempotency_key, \
             created_at, next_attempt_at) \
             VALUES ('out_p', 'forward', '{e1}', '{{}}', 'pending', 'k1', {old}, {later})"
        ),
        format!(
            "INSERT INTO runs (run_id, workflow, status, inputs, state, cursor, event_id, due_at, \
             created_at, updated_at) \
             VALUES ('run_w', 'w', 'waiting', '{{}}', '{{}}', '{{}}', '{e2}', {later}, {old}, {old})"
        ),
        format!(
            "INSERT INTO questions (question_id, event_id, webhook_id, question, status, created_at) \
             VALUES ('q_o', '{e3}', 'github', 'why?', 'open', {old})"
        ),
        format!(
            "INSERT INTO tasks (task_id, agent, status, message, event_id, created_at, updated_at) \
             VALUES ('tsk_c', 'a', 'completed', 'm', '{e4}', {old}, {old})"
        ),
        // Attempts: an old one of a delivered message goes, an old one of the
        // pending message and a recent one stay.
        format!(
            "INSERT INTO outbox (outbox_id, kind, event_id, payload, status, idempotency_key, \
             created_at) VALUES ('out_d', 'forward', '{e4}', '{{}}', 'delivered', 'k2', {old})"
        ),
        format!(
            "INSERT INTO delivery_attempts (outbox_id, attempt, started_at, latency_micros) \
             VALUES ('out_d', 1, {old}, 5), ('out_p', 1, {old}, 5), ('out_d', 2, {}, 5)",
            now_micros()
        ),
        // Runs: an old finished one (with a step) goes; a recent one, and an old
        // finished parent whose child is under way, stay.
        format!(
            "INSERT INTO runs (run_id, workflow, status, inputs, state, cursor, due_at, \
             created_at, updated_at, finished_at) VALUES \
             ('run_old', 'w', 'succeeded', '{{}}', '{{}}', '{{}}', 0, {old}, {old}, {old}), \
             ('run_new', 'w', 'failed', '{{}}', '{{}}', '{{}}', 0, {old}, {old}, {}), \
             ('run_parent', 'w', 'cancelled', '{{}}', '{{}}', '{{}}', 0, {old}, {old}, {old})",
            now_micros()
        ),
        format!(
            "INSERT INTO runs (run_id, workflow, status, inputs, state, cursor, parent_run_id, \
             due_at, created_at, updated_at) VALUES \
             ('run_child', 'w', 'waiting', '{{}}', '{{}}', '{{}}', 'run_parent', {later}, {old}, {old})"
        ),
        format!(
            "INSERT INTO run_steps (run_id, seq, node_id, kind, iteration, status, attempt, \
             inputs, started_at) VALUES ('run_old', 1, 'n', 'template', 0, 'succeeded', 1, '{{}}', {old})"
        ),
    ] {
        exec_sql(&at, &sql).await;
    }
    // Rejections: more than one batch of old ones, and a recent one.
    let rejection = |at: i64| {
        switchyard_store::WriteOp::Rejection(switchyard_store::NewRejection {
            at,
            webhook_id: None,
            provider: Some("github".into()),
            remote_addr: None,
            status: 401,
            reason: "signature_mismatch".into(),
            detail: String::new(),
        })
    };
    let batch = switchyard_engine::retention::BATCH as usize;
    let mut ops: Vec<_> = (0..batch * 2 + 7).map(|_| rejection(old)).collect();
    ops.push(rejection(now_micros()));
    app.store.write_batch(&ops).await.unwrap();

    // Kept forever: a server whose retention is 0 deletes none of them (its own
    // retention worker runs at start too).
    let keeper = TestApp::replica_with(&app, |c| {
        for kind in PruneKind::ALL {
            c.retention.set(kind, Duration::ZERO);
        }
    })
    .await;
    let engine = &keeper.state.engine;
    for kind in PruneKind::ALL {
        let kept = engine.prune_expired(kind, now_micros()).await.unwrap();
        assert_eq!(kept, 0, "{kind:?}");
    }
    keeper.stop().await;

    let engine = &app.state.engine;
    let prune = |kind| engine.prune_expired(kind, now_micros());
    assert_eq!(
        prune(PruneKind::Events).await.unwrap(),
        1,
        "only the fifth event"
    );
    let left = count_sql(
        &at,
        &format!(
            "SELECT COUNT(*) FROM events WHERE event_id IN ({})",
            list(&ids)
        ),
    )
    .await;
    assert_eq!(left, 5);
    assert_eq!(
        count_sql(
            &at,
            &format!("SELECT COUNT(*) FROM events WHERE event_id = '{e4}'")
        )
        .await,
        0
    );
    assert_eq!(prune(PruneKind::Attempts).await.unwrap(), 1);
    assert_eq!(
        count_sql(&at, "SELECT COUNT(*) FROM delivery_attempts").await,
        2,
        "the pending message's attempt and the recent one stay"
    );
    assert_eq!(
        prune(PruneKind::Rejections).await.unwrap(),
        (batch * 2 + 7) as u64,
        "in three batches"
    );
    assert_eq!(count_sql(&at, "SELECT COUNT(*) FROM rejections").await, 1);
    assert_eq!(prune(PruneKind::Runs).await.unwrap(), 1);
    assert_eq!(
        count_sql(&at, "SELECT COUNT(*) FROM runs WHERE run_id = 'run_old'").await,
        0
    );
    assert_eq!(count_sql(&at, "SELECT COUNT(*) FROM run_steps").await, 0);
    // The recent one, the parent and its child, and the run of the third event.
    assert_eq!(count_sql(&at, "SELECT COUNT(*) FROM runs").await, 4);
    // Nothing more to do.
    for kind in PruneKind::ALL {
        assert_eq!(prune(kind).await.unwrap(), 0, "{kind:?}");
    }

    // Counted (the recorder is shared by this binary's tests: at least these).
    let text = app.state.metrics.render();
    let deleted = |k: &str| {
        metric(&text, "switchyard_retention_deleted_total", &[("kind", k)]).unwrap_or(0.0)
    };
    assert!(deleted("events") >= 1.0, "{text}");
    assert!(deleted("rejections") >= (batch * 2 + 7) as f64, "{text}");
    app.stop().await;
}
