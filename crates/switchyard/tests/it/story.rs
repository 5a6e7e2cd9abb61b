//! The store "story": what any store must do, run on both.

use switchyard_store::{EventQuery, NewEvent, NewRejection, WebhookRecord, WriteOp, WriteOutcome};

use crate::both_stores;
use crate::support::{fresh_store, Kind};

fn event(id: &str, webhook: &str, delivery: Option<&str>, ty: &str) -> NewEvent {
    NewEvent {
        event_id: id.into(),
        webhook_id: webhook.into(),
        provider: "github".into(),
        event_type: ty.into(),
        delivery_id: delivery.map(str::to_owned),
        received_at: 1_700_000_000_000_000,
        headers: r#"{"x-github-event":"issues"}"#.into(),
        payload: r#"{"action":"opened"}"#.into(),
        source: Some("acme/app".into()),
        subject: None,
        actor: Some("octocat".into()),
        thread_key: Some("github:acme/app#1".into()),
        ..NewEvent::plain(String::new(), String::new(), String::new(), String::new())
    }
}

both_stores!(
    batch_dedups_and_keeps_order,
    listing_filters_and_pages,
    webhooks_and_settings,
    rejections_are_logged
);

async fn batch_dedups_and_keeps_order(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store(kind, dir.path()).await;
    let ops = vec![
        WriteOp::Event(event("evt_01", "gh", Some("d1"), "issues.opened")),
        WriteOp::Event(event("evt_02", "gh", Some("d1"), "issues.opened")), // same delivery, same batch
        WriteOp::Event(event("evt_03", "other", Some("d1"), "issues.opened")), // same delivery, other webhook
        WriteOp::Event(event("evt_04", "gh", None, "push")),
        WriteOp::Event(event("evt_05", "gh", None, "push")), // no delivery id: never a duplicate
    ];
    let out = store.write_batch(&ops).await.unwrap();
    let ev = |id: &str, dup| WriteOutcome::Event {
        event_id: id.into(),
        duplicate: dup,
        matched: "[]".into(),
    };
    assert_eq!(
        out,
        vec![
            ev("evt_01", false),
            ev("evt_01", true),
            ev("evt_03", false),
            ev("evt_04", false),
            ev("evt_05", false)
        ]
    );
    // A later redelivery names the original.
    let out = store
        .write_batch(&[WriteOp::Event(event(
            "evt_06",
            "gh",
            Some("d1"),
            "issues.opened",
        ))])
        .await
        .unwrap();
    assert_eq!(out, vec![ev("evt_01", true)]);
    assert_eq!(store.count_events().await.unwrap(), 4);
    let e = store.get_event("evt_01").await.unwrap().unwrap();
    assert_eq!(e.payload, r#"{"action":"opened"}"#);
    assert_eq!(e.thread_key.as_deref(), Some("github:acme/app#1"));
    assert!(store.get_event("evt_02").await.unwrap().is_none());
}

async fn listing_filters_and_pages(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store(kind, dir.path()).await;
    let ops: Vec<_> = (0..25)
        .map(|i| {
            let ty = if i % 2 == 0 { "issues.opened" } else { "push" };
            WriteOp::Event(event(
                &format!("evt_{i:03}"),
                "gh",
                Some(&format!("d{i}")),
                ty,
            ))
        })
        .collect();
    store.write_batch(&ops).await.unwrap();
    let mut q = EventQuery {
        limit: 10,
        ..Default::default()
    };
    let page = store.list_events(&q).await.unwrap();
    assert_eq!(page.first().unwrap().event_id, "evt_024", "newest first");
    let mut seen: Vec<String> = page.iter().map(|e| e.event_id.clone()).collect();
    while let Some(last) = seen.last().cloned() {
        q.before = Some(last);
        let page = store.list_events(&q).await.unwrap();
        if page.is_empty() {
            break;
        }
        seen.extend(page.into_iter().map(|e| e.event_id));
    }
    assert_eq!(seen.len(), 25);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(seen, sorted);

    let q = EventQuery {
        event_type: Some("push".into()),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(store.list_events(&q).await.unwrap().len(), 12);
    let q = EventQuery {
        delivery_id: Some("d7".into()),
        limit: 100,
        ..Default::default()
    };
    let hits = store.list_events(&q).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].event_id, "evt_007");
    let q = EventQuery {
        provider: Some("stripe".into()),
        limit: 100,
        ..Default::default()
    };
    assert!(store.list_events(&q).await.unwrap().is_empty());
}

async fn webhooks_and_settings(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store(kind, dir.path()).await;
    let mut w = WebhookRecord {
        webhook_id: "github-issues-001".into(),
        name: "GitHub Issue Tracker".into(),
        provider: "github".into(),
        enabled: true,
        secrets: r#"["sealed"]"#.into(),
        config_json: "{}".into(),
        created_at: 1,
        created_by: "user".into(),
        updated_at: 1,
        api_token: None,
    };
    store.put_webhook(&w).await.unwrap();
    assert_eq!(
        store
            .get_webhook("github-issues-001")
            .await
            .unwrap()
            .as_ref(),
        Some(&w)
    );
    w.enabled = false;
    w.updated_at = 2;
    store.put_webhook(&w).await.unwrap();
    let got = store
        .get_webhook("github-issues-001")
        .await
        .unwrap()
        .unwrap();
    assert!(!got.enabled);
    assert_eq!(got.created_at, 1, "created_at survives an update");
    assert_eq!(store.list_webhooks().await.unwrap().len(), 1);
    assert!(store.delete_webhook("github-issues-001").await.unwrap());
    assert!(!store.delete_webhook("github-issues-001").await.unwrap());

    assert_eq!(
        store.put_setting_if_absent("k", "first").await.unwrap(),
        "first"
    );
    assert_eq!(
        store.put_setting_if_absent("k", "second").await.unwrap(),
        "first"
    );
    store.put_setting("k", "third").await.unwrap();
    assert_eq!(
        store.get_setting("k").await.unwrap().as_deref(),
        Some("third")
    );
}

async fn rejections_are_logged(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store(kind, dir.path()).await;
    let r = NewRejection {
        at: 5,
        webhook_id: Some("github".into()),
        provider: Some("github".into()),
        remote_addr: Some("127.0.0.1".into()),
        status: 401,
        reason: "signature_mismatch".into(),
        detail: "signature does not match".into(),
    };
    let out = store
        .write_batch(&[
            WriteOp::Rejection(r.clone()),
            WriteOp::Event(event("evt_1", "gh", None, "push")),
        ])
        .await
        .unwrap();
    assert_eq!(out[0], WriteOutcome::Rejection);
    let rows = store.list_rejections(10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].reason, "signature_mismatch");
    assert_eq!(rows[0].status, 401);
}
