//! The workflow registry over HTTP (issue 11), on both stores: the workflows folder
//! (listed, served, reloaded on change, broken files reported beside the good ones)
//! and `/api/workflows` (seed 003's registration by `config_path`, inline YAML,
//! refused paths, names a file serves, replace and delete, who may call it), and a
//! registration reaching another replica.

use std::path::Path;

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::routing::wait_until;
use crate::support::{Kind, TestApp};

/// The example workflows (`../shared/examples/workflows/`, copied unchanged into the
/// repository so a checkout alone holds them).
pub const EXAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../switchyard-core/tests/fixtures/workflows"
);

pub fn example(name: &str) -> String {
    std::fs::read_to_string(format!("{EXAMPLES}/{name}")).unwrap()
}

/// A server whose workflows folder is `dir`.
async fn app_with_folder(kind: Kind, dir: &Path) -> TestApp {
    let dir = dir.to_owned();
    TestApp::spawn_with(kind, move |c| c.workflows_dir = Some(dir)).await
}

fn names(list: &Value) -> Vec<&str> {
    list["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect()
}

fn file_errors(list: &Value) -> Vec<(String, String)> {
    list["file_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["file"].as_str().unwrap().to_owned(),
                e["error"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn code(b: &Value) -> &str {
    b["error"]["code"].as_str().unwrap_or_default()
}

/// The paths of a 422's field errors.
fn field_paths(b: &Value) -> Vec<&str> {
    b["error"]["fields"]
        .as_array()
        .map(|f| f.iter().map(|e| e["path"].as_str().unwrap()).collect())
        .unwrap_or_default()
}

/// A shorthand definition whose one node says `text`.
fn shorthand(text: &str) -> String {
    format!(
        "name: Greeter\nstate:\n  type: object\n  properties:\n    who: {{type: string}}\n  required: [who]\nnodes:\n  - name: greet\n    prompt: \"{text} {{who}}\"\n"
    )
}

both_stores!(
    every_example_loads_from_the_folder,
    broken_and_edited_files_reload,
    seed_003_registration_by_config_path,
    refused_config_paths,
    inline_yaml_replace_and_delete,
    a_read_key_reads_but_cannot_register,
    a_registration_reaches_another_replica,
);

async fn every_example_loads_from_the_folder(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let mut copied = 0;
    for entry in std::fs::read_dir(EXAMPLES).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "yaml") {
            std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
            copied += 1;
        }
    }
    assert_eq!(copied, 6, "the examples folder changed; update this test");
    let app = app_with_folder(kind, dir.path()).await;

    let (s, v) = app.api_get("/api/workflows").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(file_errors(&v), [], "{v}");
    assert_eq!(
        names(&v),
        [
            "draft_until_good",
            "echo",
            "incident_handoff",
            "issue_digest",
            "slack_notification",
            "triage_router"
        ]
    );
    let echo = &v["workflows"][1];
    let file = dir.path().join("echo.yaml");
    assert_eq!(
        *echo,
        json!({
            "name": "echo", "title": "echo", "description": "Repeat the message back",
            "version": null, "format": "schema_1.0", "source": "file",
            "file": file.display().to_string(),
            "inputs": ["message"],
            "state": {
                "message": {"type": "str", "required": true},
                "reply": {"type": "str", "required": false, "default": ""},
            },
            "nodes": [{"id": "repeat", "kind": "llm"}],
            "updated_at": echo["updated_at"],
        })
    );
    assert!(echo.get("yaml").is_none(), "the list leaves the YAML out");

    // The shorthand is served under its file's stem; its `name` is a title.
    let (s, w) = app.api_get("/api/workflows/slack_notification").await;
    assert_eq!(s, 200, "{w}");
    assert_eq!(w["format"], "shorthand");
    assert_eq!(w["title"], "Slack Notification Workflow");
    assert_eq!(
        w["nodes"],
        json!([{"id": "log_event", "kind": "llm"}, {"id": "format_notification", "kind": "llm"}])
    );
    assert_eq!(w["inputs"], json!([]));
    assert_eq!(w["yaml"], example("slack_notification.yaml"));

    let (s, w) = app.api_get("/api/workflows/incident_handoff").await;
    assert_eq!(s, 200, "{w}");
    let kinds: Vec<&str> = w["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"workflow") && kinds.contains(&"task") && kinds.contains(&"ask"),
        "{kinds:?}"
    );

    let (s, b) = app.api_get("/api/workflows/nope").await;
    assert_eq!((s, code(&b)), (404, "unknown_workflow"), "{b}");
    app.stop().await;
}

async fn broken_and_edited_files_reload(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("echo.yaml"), example("echo.yaml")).unwrap();
    let app = app_with_folder(kind, dir.path()).await;
    let (_, v) = app.api_get("/api/workflows").await;
    assert_eq!(names(&v), ["echo"]);

    // A broken file is reported with the YAML path of its problem; echo still loads.
    let broken = example("triage_router.yaml").replacen(
        "  - id: score\n",
        "  - id: score\n    tools: [serper_search]\n",
        1,
    );
    assert_ne!(broken, example("triage_router.yaml"), "the edit applied");
    std::fs::write(dir.path().join("triage.yaml"), &broken).unwrap();
    // A second file serving echo's name.
    std::fs::write(dir.path().join("zz_echo_again.yml"), example("echo.yaml")).unwrap();
    wait_until(
        || async { file_errors(&app.api_get("/api/workflows").await.1).len() == 2 },
        "the broken files to be reported",
    )
    .await;
    let (_, v) = app.api_get("/api/workflows").await;
    assert_eq!(names(&v), ["echo"], "{v}");
    let errors = file_errors(&v);
    assert!(errors[0].0.ends_with("triage.yaml"), "{errors:?}");
    assert!(
        errors[0]
            .1
            .contains("nodes[0].tools: tools are not supported"),
        "{errors:?}"
    );
    assert!(errors[1].0.ends_with("zz_echo_again.yml"), "{errors:?}");
    assert!(
        errors[1].1.contains("\"echo\" is also defined in") && errors[1].1.contains("echo.yaml"),
        "{errors:?}"
    );
    let (s, _) = app.api_get("/api/workflows/echo").await;
    assert_eq!(s, 200, "a broken file never disturbs the others");

    // Edited: the new definition is served without a restart.
    std::fs::write(
        dir.path().join("echo.yaml"),
        example("echo.yaml").replace("Repeat the message back", "Say it again"),
    )
    .unwrap();
    wait_until(
        || async { app.api_get("/api/workflows/echo").await.1["description"] == "Say it again" },
        "the edited file to load",
    )
    .await;

    // Fixed and removed: the errors go, the fixed file is served.
    std::fs::write(
        dir.path().join("triage.yaml"),
        example("triage_router.yaml"),
    )
    .unwrap();
    std::fs::remove_file(dir.path().join("zz_echo_again.yml")).unwrap();
    wait_until(
        || async {
            let (_, v) = app.api_get("/api/workflows").await;
            file_errors(&v).is_empty() && names(&v) == ["echo", "triage_router"]
        },
        "the fixed file to load",
    )
    .await;
    app.stop().await;
}

async fn seed_003_registration_by_config_path(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("webhook_integration.yaml");
    std::fs::write(&file, example("slack_notification.yaml")).unwrap();
    let app = app_with_folder(kind, dir.path()).await;
    let (_, v) = app.api_get("/api/workflows").await;
    assert_eq!(
        names(&v),
        ["webhook_integration"],
        "served by its stem first"
    );

    // Seed 003's body, as its curl sends it.
    let r = app
        .client
        .post(app.url("/api/workflows"))
        .bearer_auth(crate::support::ADMIN_KEY)
        .header("Content-Type", "application/json")
        .body(
            r#"{
    "name": "slack_notification",
    "config_path": "webhook_integration.yaml"
  }"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let w: Value = r.json().await.unwrap();
    assert_eq!(w["name"], "slack_notification");
    assert_eq!(w["source"], "api");
    assert_eq!(w["config_path"], "webhook_integration.yaml");
    assert_eq!(w["format"], "shorthand");
    assert!(w.get("file").is_none(), "{w}");
    assert_eq!(
        w["state"]["event_type"],
        json!({"type": "str", "required": false})
    );

    // Served under the registered name only: the file is the registration's now.
    let (_, v) = app.api_get("/api/workflows").await;
    assert_eq!(names(&v), ["slack_notification"], "{v}");
    assert_eq!(file_errors(&v), []);
    let (s, w) = app.api_get("/api/workflows/slack_notification").await;
    assert_eq!(s, 200);
    assert_eq!(w["yaml"], example("slack_notification.yaml"));

    // Registering the name again is a conflict.
    let (s, b) = app
        .api(
            Method::POST,
            "/api/workflows",
            Some(json!({"name": "slack_notification", "config_path": "webhook_integration.yaml"})),
        )
        .await;
    assert_eq!((s, code(&b)), (409, "workflow_exists"), "{b}");

    // Editing the registered file is picked up by the folder watch.
    std::fs::write(
        &file,
        example("slack_notification.yaml").replace(
            "Turn a webhook event into a short Slack notification",
            "Edited",
        ),
    )
    .unwrap();
    wait_until(
        || async {
            app.api_get("/api/workflows/slack_notification").await.1["description"] == "Edited"
        },
        "the registered file's edit to load",
    )
    .await;

    // A broken registered file is reported under its path, naming the registration.
    std::fs::write(&file, "name: [unclosed").unwrap();
    wait_until(
        || async {
            let (_, v) = app.api_get("/api/workflows").await;
            let errors = file_errors(&v);
            errors.len() == 1
                && errors[0].0.ends_with("webhook_integration.yaml")
                && errors[0]
                    .1
                    .starts_with("registered as \"slack_notification\": invalid YAML")
        },
        "the broken registered file to be reported",
    )
    .await;
    let (s, _) = app.api_get("/api/workflows/slack_notification").await;
    assert_eq!(s, 404, "a registration whose file is broken is not served");
    std::fs::write(&file, example("slack_notification.yaml")).unwrap();
    wait_until(
        || async { app.api_get("/api/workflows/slack_notification").await.0 == 200 },
        "the repaired file to load",
    )
    .await;

    // Deleted: the file is served under its own name again.
    let (s, b) = app
        .api(Method::DELETE, "/api/workflows/slack_notification", None)
        .await;
    assert_eq!(s, 204, "{b}");
    let (_, v) = app.api_get("/api/workflows").await;
    assert_eq!(names(&v), ["webhook_integration"], "{v}");

    // Registering a file's own name for that same file is allowed (the example's
    // comment does so).
    std::fs::write(
        dir.path().join("slack_notification.yaml"),
        example("slack_notification.yaml"),
    )
    .unwrap();
    wait_until(
        || async { app.api_get("/api/workflows/slack_notification").await.0 == 200 },
        "the second file to load",
    )
    .await;
    let (s, b) = app
        .api(
            Method::POST,
            "/api/workflows",
            Some(json!({"name": "slack_notification", "config_path": "slack_notification.yaml"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["source"], "api");

    // Each change left its audit row (newest first).
    let (_, a) = app.api_get("/api/audit?resource_kind=workflow").await;
    let rows = a["audit"].as_array().unwrap();
    let actions: Vec<(&str, &str)> = rows
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["resource_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("create", "slack_notification"),
            ("delete", "slack_notification"),
            ("create", "slack_notification")
        ],
        "{a}"
    );
    assert_eq!(
        rows[0]["after"],
        json!({"name": "slack_notification", "config_path": "slack_notification.yaml", "yaml": null})
    );
    assert_eq!(
        rows[1]["before"]["config_path"], "webhook_integration.yaml",
        "{a}"
    );
    app.stop().await;
}

async fn refused_config_paths(kind: Kind) {
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("workflows");
    std::fs::create_dir(&dir).unwrap();
    // Files outside the folder that exist, so only "outside" can refuse them.
    std::fs::write(outer.path().join("x.yaml"), example("echo.yaml")).unwrap();
    std::os::unix::fs::symlink(outer.path().join("x.yaml"), dir.join("link.yaml")).unwrap();
    let app = app_with_folder(kind, &dir).await;

    let folder = dir.display().to_string();
    for (config_path, says) in [
        ("../x.yaml", "inside the workflows folder"),
        ("/etc/passwd", "inside the workflows folder"),
        ("link.yaml", "inside the workflows folder"),
        ("missing.yaml", "no file \"missing.yaml\""),
        ("sub/../../x.yaml", "inside the workflows folder"),
    ] {
        let (s, b) = app
            .api(
                Method::POST,
                "/api/workflows",
                Some(json!({"name": "refused", "config_path": config_path})),
            )
            .await;
        assert_eq!(s, 422, "{config_path}: {b}");
        assert_eq!(field_paths(&b), ["config_path"], "{config_path}: {b}");
        let message = b["error"]["fields"][0]["message"].as_str().unwrap();
        assert!(
            message.contains(says) && message.contains(&folder),
            "{config_path}: {message}"
        );
    }

    // Exactly one of the two sources.
    let (s, b) = app
        .api(
            Method::POST,
            "/api/workflows",
            Some(json!({"name": "both", "config_path": "a.yaml", "yaml": "x: 1"})),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(field_paths(&b), ["config_path", "yaml"]);
    let (s, b) = app
        .api(
            Method::POST,
            "/api/workflows",
            Some(json!({"name": "none"})),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(field_paths(&b), ["config_path", "yaml"]);

    let (_, v) = app.api_get("/api/workflows").await;
    assert_eq!(names(&v), Vec::<&str>::new(), "nothing registered: {v}");
    app.stop().await;
}

async fn inline_yaml_replace_and_delete(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("echo.yaml"), example("echo.yaml")).unwrap();
    let app = app_with_folder(kind, dir.path()).await;

    let (s, w) = app
        .api(
            Method::POST,
            "/api/workflows",
            Some(json!({"name": "greeter", "yaml": shorthand("Hello")})),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    assert_eq!(w["source"], "api");
    assert!(w.get("config_path").is_none(), "{w}");
    assert_eq!(w["inputs"], json!(["who"]));
    let (s, b) = app
        .api(
            Method::POST,
            "/api/workflows",
            Some(json!({"name": "greeter", "yaml": shorthand("Hi")})),
        )
        .await;
    assert_eq!((s, code(&b)), (409, "workflow_exists"), "{b}");

    // A schema-1.0 definition registered under another name is served under it.
    let (s, w) = app
        .api(
            Method::POST,
            "/api/workflows",
            Some(json!({"name": "echo2", "yaml": example("echo.yaml")})),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    assert_eq!(w["name"], "echo2");
    assert_eq!(w["format"], "schema_1.0");

    // PUT replaces it.
    let (s, w) = app
        .api(
            Method::PUT,
            "/api/workflows/greeter",
            Some(json!({"yaml": shorthand("Goodbye")})),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    let (_, w) = app.api_get("/api/workflows/greeter").await;
    assert_eq!(w["yaml"], shorthand("Goodbye"));
    let (s, b) = app
        .api(
            Method::PUT,
            "/api/workflows/greeter",
            Some(json!({"name": "other", "yaml": shorthand("x")})),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(field_paths(&b), ["name"]);

    // Invalid definitions: every problem at its YAML path; nothing changes.
    let with_tools = example("echo.yaml").replace(
        "  - id: repeat\n",
        "  - id: repeat\n    tools: [serper_search]\n",
    );
    let (s, b) = app
        .api(
            Method::PUT,
            "/api/workflows/greeter",
            Some(json!({"yaml": with_tools})),
        )
        .await;
    assert_eq!((s, code(&b)), (422, "invalid_workflow"), "{b}");
    assert_eq!(field_paths(&b), ["nodes[0].tools"], "{b}");
    let (s, b) = app
        .api(
            Method::POST,
            "/api/workflows",
            Some(json!({"name": "bad", "yaml": "schema_version: \"1.0\"\nflow: {name: bad}\nstate: {fields: {}}\nnodes: []\nedges: []\nextra: 1\n"})),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    let paths = field_paths(&b);
    assert!(
        paths.contains(&"extra") && paths.contains(&"nodes") && paths.len() >= 3,
        "every problem at once: {b}"
    );
    let (s, b) = app
        .api(
            Method::POST,
            "/api/workflows",
            Some(json!({"name": "bad name", "yaml": shorthand("x")})),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(field_paths(&b), ["name"]);
    let (s, b) = app
        .api(
            Method::POST,
            "/api/workflows",
            Some(json!({"yaml": shorthand("x")})),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(field_paths(&b), ["name"]);
    let (s, b) = app
        .api(
            Method::POST,
            "/api/workflows",
            Some(json!({"name": "x", "yaml": shorthand("x"), "flow": 1})),
        )
        .await;
    assert_eq!((s, code(&b)), (422, "invalid_body"), "{b}");
    let r = app
        .client
        .post(app.url("/api/workflows"))
        .bearer_auth(crate::support::ADMIN_KEY)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(code(&b), "malformed_body");
    let (_, w) = app.api_get("/api/workflows/greeter").await;
    assert_eq!(
        w["yaml"],
        shorthand("Goodbye"),
        "the refused PUT changed nothing"
    );

    // A name the folder's file serves belongs to the file.
    for (method, path, body) in [
        (
            Method::POST,
            "/api/workflows",
            json!({"name": "echo", "yaml": shorthand("x")}),
        ),
        (
            Method::PUT,
            "/api/workflows/echo",
            json!({"yaml": shorthand("x")}),
        ),
    ] {
        let (s, b) = app.api(method, path, Some(body)).await;
        assert_eq!((s, code(&b)), (409, "defined_by_file"), "{path}: {b}");
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .contains("echo.yaml"),
            "{b}"
        );
    }
    let (s, b) = app.api(Method::DELETE, "/api/workflows/echo", None).await;
    assert_eq!((s, code(&b)), (409, "defined_by_file"), "{b}");

    // PUT of a new name creates it.
    let (s, w) = app
        .api(
            Method::PUT,
            "/api/workflows/fresh",
            Some(json!({"yaml": shorthand("Hey")})),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    assert_eq!(w["name"], "fresh");

    let (s, _) = app
        .api(Method::DELETE, "/api/workflows/greeter", None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = app.api_get("/api/workflows/greeter").await;
    assert_eq!(s, 404);
    let (s, b) = app
        .api(Method::DELETE, "/api/workflows/greeter", None)
        .await;
    assert_eq!((s, code(&b)), (404, "unknown_workflow"), "{b}");
    let (_, v) = app.api_get("/api/workflows").await;
    assert_eq!(names(&v), ["echo", "echo2", "fresh"]);
    app.stop().await;
}

async fn a_read_key_reads_but_cannot_register(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("echo.yaml"), example("echo.yaml")).unwrap();
    let app = app_with_folder(kind, dir.path()).await;
    let (_, key) = app.make_key(&["read"]).await;
    let (s, v) = app
        .call_as(Some(&key), Method::GET, "/api/workflows", None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(names(&v), ["echo"]);
    let (s, _) = app
        .call_as(Some(&key), Method::GET, "/api/workflows/echo", None)
        .await;
    assert_eq!(s, 200);
    let body = json!({"name": "greeter", "yaml": shorthand("Hello")});
    for (method, path) in [
        (Method::POST, "/api/workflows"),
        (Method::PUT, "/api/workflows/greeter"),
        (Method::DELETE, "/api/workflows/greeter"),
    ] {
        let (s, b) = app
            .call_as(Some(&key), method, path, Some(body.clone()))
            .await;
        assert_eq!((s, code(&b)), (403, "insufficient_scope"), "{path}: {b}");
    }
    let (s, _) = app.call_as(None, Method::GET, "/api/workflows", None).await;
    assert_eq!(s, 401);
    let (s, _) = app.api_get("/api/workflows/greeter").await;
    assert_eq!(s, 404, "nothing was registered");
    app.stop().await;
}

async fn a_registration_reaches_another_replica(kind: Kind) {
    let a = TestApp::spawn(kind).await;
    let b = TestApp::replica_of(&a).await;
    let (s, w) = a
        .api(
            Method::POST,
            "/api/workflows",
            Some(json!({"name": "greeter", "yaml": shorthand("Hello")})),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    wait_until(
        || async { b.api_get("/api/workflows/greeter").await.0 == 200 },
        "replica B to serve the registration",
    )
    .await;
    let (s, _) = a
        .api(
            Method::PUT,
            "/api/workflows/greeter",
            Some(json!({"yaml": shorthand("Goodbye")})),
        )
        .await;
    assert_eq!(s, 200);
    wait_until(
        || async { b.api_get("/api/workflows/greeter").await.1["yaml"] == shorthand("Goodbye") },
        "replica B to serve the replacement",
    )
    .await;
    let (s, _) = a.api(Method::DELETE, "/api/workflows/greeter", None).await;
    assert_eq!(s, 204);
    wait_until(
        || async { b.api_get("/api/workflows/greeter").await.0 == 404 },
        "replica B to forget the registration",
    )
    .await;
    b.stop().await;
    a.stop().await;
}
