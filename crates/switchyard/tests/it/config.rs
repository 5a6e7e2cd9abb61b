//! Configuration through the real binary: secrets given in the environment never
//! appear in the start-up log, and a bad value stops the start with one line naming
//! the key that set it — whichever layer (file, environment, flag) that was.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::both_stores;
use crate::support::{fresh_pg_database, Kind};

/// A 32-byte master key, base64.
const SECRET_KEY: &str = "c2VjcmV0LWtleS1zZWNyZXQta2V5LXNlY3JldC1rZXk=";

/// `switchyard ARGS` in `cwd` with only `env` set.
fn switchyard(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.current_dir(cwd)
        .args(args)
        .env_clear()
        .envs(env.iter().copied());
    cmd
}

/// Runs `switchyard serve` expecting a configuration error; returns its stderr.
fn refused(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut all = vec!["serve", "--port", "0"];
    all.extend_from_slice(args);
    let out = switchyard(cwd, &all, env)
        .stdout(Stdio::null())
        .output()
        .expect("run switchyard");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "one line, no backtrace: {stderr}"
    );
    stderr.trim_end().to_owned()
}

#[test]
fn a_port_in_use_fails_before_anything_is_generated() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = switchyard(
        dir.path(),
        &["serve", "--host", "127.0.0.1", "--port", &port],
        &[("SWITCHYARD_DATA_DIR", "data")],
    )
    .stdout(Stdio::null())
    .output()
    .expect("run switchyard");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("binding 127.0.0.1"), "{stderr}");
    assert!(!stderr.contains("admin API key"), "{stderr}");
    assert!(!dir.path().join("data/admin.key").exists());
}

#[test]
fn a_bad_value_exits_with_one_line_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        refused(
            dir.path(),
            &[],
            &[
                ("SWITCHYARD_DELIVERY_CONCURRENCY", "0"),
                ("RUST_BACKTRACE", "1")
            ]
        ),
        "switchyard: invalid configuration: SWITCHYARD_DELIVERY_CONCURRENCY must be between 1 and 10000 (got 0)"
    );
    let e = refused(dir.path(), &[], &[("SWITCHYARD_SECRET_KEY", "c2hvcnQ=")]);
    assert!(
        e.ends_with("SWITCHYARD_SECRET_KEY must be the base64 of 32 bytes"),
        "{e}"
    );
    let smtp = [
        ("SMTP_HOST", "smtp.example.com"),
        ("SMTP_FROM", "a@example.com"),
    ];
    let e = refused(dir.path(), &["--smtp-tls", "ssl"], &smtp);
    assert!(
        e.ends_with("--smtp-tls must be starttls, tls or none (got \"ssl\")"),
        "{e}"
    );
    let e = refused(dir.path(), &[], &[("SMTP_PORT", "0"), smtp[0], smtp[1]]);
    assert!(
        e.ends_with("SMTP_PORT must be between 1 and 65535 (got 0)"),
        "{e}"
    );
    let e = refused(
        dir.path(),
        &[],
        &[("SMTP_HOST", "h"), ("SMTP_FROM", "nobody")],
    );
    assert!(e.contains("SMTP_FROM is not valid"), "{e}");
    let e = refused(dir.path(), &["--delivery-timeout", "2h"], &[]);
    assert!(
        e.ends_with("--delivery-timeout must be between 1ms and 1h (got 2h)"),
        "{e}"
    );
    let e = refused(dir.path(), &["--llm-base-url", "127.0.0.1:11434/v1"], &[]);
    assert!(
        e.starts_with("switchyard: invalid configuration: --llm-base-url must be an http(s) URL"),
        "{e}"
    );
    let file = dir.path().join("llm.toml");
    std::fs::write(
        &file,
        "[llm.providers.openai]\nbase_url = \"https://api.openai.com/v1\"\napi_key_env = \"OPENAI_API_KEY\"\n",
    )
    .unwrap();
    let e = refused(dir.path(), &["--config", file.to_str().unwrap()], &[]);
    assert!(
        e.ends_with(&format!(
            "llm.providers.openai.api_key_env in {} names OPENAI_API_KEY, which is not set",
            file.display()
        )),
        "{e}"
    );
}

#[test]
fn file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("switchyard.toml");
    std::fs::write(&file, "[delivery]\nconcurrency = 0\n").unwrap();
    // The file in the working directory is read when none is named...
    assert_eq!(
        refused(dir.path(), &[], &[]),
        format!(
            "switchyard: invalid configuration: delivery.concurrency in {} must be between 1 and 10000 (got 0)",
            file.display()
        )
    );
    // ...the environment replaces its value...
    let env = [("SWITCHYARD_DELIVERY_CONCURRENCY", "20000")];
    let e = refused(dir.path(), &[], &env);
    assert!(
        e.ends_with("SWITCHYARD_DELIVERY_CONCURRENCY must be between 1 and 10000 (got 20000)"),
        "{e}"
    );
    // ...and a flag replaces both.
    let e = refused(dir.path(), &["--delivery-concurrency", "10001"], &env);
    assert!(
        e.ends_with("--delivery-concurrency must be between 1 and 10000 (got 10001)"),
        "{e}"
    );

    // A named file replaces the one in the working directory, and must exist.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "wait_fallback = \"5ms\"\n").unwrap();
    let e = refused(dir.path(), &["--config", other.to_str().unwrap()], &[]);
    assert!(
        e.ends_with(&format!(
            "wait_fallback in {} must be between 10ms and 1m (got 5ms)",
            other.display()
        )),
        "{e}"
    );
    let e = refused(
        dir.path(),
        &[],
        &[("SWITCHYARD_CONFIG", other.to_str().unwrap())],
    );
    assert!(e.contains("wait_fallback in "), "{e}");
    let missing = dir.path().join("missing.toml");
    let e = refused(dir.path(), &["--config", missing.to_str().unwrap()], &[]);
    assert!(
        e.ends_with(&format!(
            "--config: the file {} does not exist",
            missing.display()
        )),
        "{e}"
    );
}

both_stores!(the_start_up_log_shows_no_secret);

/// Starts `switchyard serve` with every secret set to a distinctive value, reads its
/// log (at debug level) until it is listening, and looks for each secret in it.
async fn the_start_up_log_shows_no_secret(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let (db_url, db) = match kind {
        Kind::Sqlite => (
            format!("sqlite://{}", dir.path().join("sy.db").display()),
            None,
        ),
        Kind::Postgres => {
            let db = fresh_pg_database().await;
            // The test server trusts local connections, so a password is carried
            // but not checked; a server that checks keeps its own.
            let mut url = reqwest::Url::parse(&db.url).unwrap();
            if url.password().is_none() {
                url.set_password(Some("db-pass-7f3a")).unwrap();
            }
            (url.to_string(), Some(db))
        }
    };
    let data_dir = dir.path().join("data");
    let data = data_dir.to_str().unwrap().to_owned();
    let mut env: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), db_url.clone()),
        ("SWITCHYARD_DATA_DIR".into(), data),
        ("SWITCHYARD_SECRET_KEY".into(), SECRET_KEY.into()),
        ("SWITCHYARD_ADMIN_KEY".into(), "admin-key-7f3a".into()),
        ("SWITCHYARD_LOG".into(), "debug".into()),
    ];
    let mut secrets = vec![SECRET_KEY.to_owned(), "admin-key-7f3a".to_owned()];
    if let Some(pw) = reqwest::Url::parse(&db_url)
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
    {
        secrets.push(pw);
    }
    for var in [
        "GITHUB_WEBHOOK_SECRET",
        "GITHUB_WEBHOOK_SECRET_PREVIOUS",
        "STRIPE_WEBHOOK_SECRET",
        "SLACK_WEBHOOK_SECRET",
        "WEBHOOK_SECRET",
        "GITHUB_API_TOKEN",
        "GITLAB_API_TOKEN",
        "JIRA_API_TOKEN",
        "SLACK_API_TOKEN",
        "LINEAR_API_TOKEN",
        "SWITCHYARD_LLM_API_KEY",
    ] {
        let value = format!("{}-7f3a", var.to_ascii_lowercase());
        secrets.push(value.clone());
        env.push((var.into(), value));
    }
    for (var, value) in [
        ("SMTP_HOST", "smtp.example.com"),
        ("SMTP_FROM", "alerts@example.com"),
        ("SMTP_USERNAME", "mailer"),
        ("SMTP_PASSWORD", "smtp-pass-7f3a"),
    ] {
        env.push((var.into(), value.into()));
    }
    secrets.push("smtp-pass-7f3a".into());
    env.push((
        "STANDARD_WEBHOOK_SECRET".into(),
        "whsec_c3RhbmRhcmQtc2VjcmV0LTdmM2E=".into(),
    ));
    secrets.push("c3RhbmRhcmQtc2VjcmV0LTdmM2E".into());

    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut child = switchyard(
        dir.path(),
        &["serve", "--host", "127.0.0.1", "--port", "0"],
        &pairs,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn switchyard");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let listening = line.contains("switchyard listening");
            if tx.send(line).is_err() || listening {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while let Ok(line) =
        rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
    {
        let listening = line.contains("switchyard listening");
        log.push(line);
        if listening {
            break;
        }
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait");
    let mut text = log.join("\n");
    text.push_str(&String::from_utf8_lossy(&out.stdout));
    assert!(
        text.contains("switchyard listening"),
        "never listened:\n{text}"
    );
    assert!(text.contains("secrets_for"), "{text}");
    if kind == Kind::Postgres {
        // The store is named in the log, without its password.
        assert!(text.contains(":***@"), "{text}");
    }
    for s in &secrets {
        assert!(
            !text.contains(s.as_str()),
            "{s} appears in the log:\n{text}"
        );
    }
    if let Some(db) = db {
        db.drop_now().await;
    }
}
