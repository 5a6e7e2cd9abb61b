//! `switchyard send` against a running server, for every provider the server
//! verifies: its sample, signed as that provider signs, is accepted (2xx, exit 0);
//! signed with another secret it is refused (401, exit 1).

use crate::both_stores;
use crate::support::{Kind, TestApp};

fn secret_for(provider: &str) -> String {
    match provider {
        "standard" => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
        // One variable, WEBHOOK_SECRET, for both.
        "generic" | "crewai" => "send-secret-webhook".to_owned(),
        p => format!("send-secret-{p}"),
    }
}

async fn send(app: &TestApp, provider: &str, secret: &str) -> (i32, String) {
    let url = app.url(&switchyard_core::sign::default_path(provider));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["send", provider, "--url", &url, "--secret", secret])
        .output()
        .await
        .expect("run switchyard send");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), stdout)
}

async fn every_provider_is_signed_as_it_signs(kind: Kind) {
    let app = TestApp::spawn_with(kind, |c| {
        c.secrets_from_env(|var| {
            switchyard_core::providers::ALL
                .iter()
                .map(|p| p.name())
                .find(|p| switchyard_engine::config::env_var_for(p) == var)
                .map(secret_for)
        });
    })
    .await;
    for p in switchyard_core::providers::ALL {
        let name = p.name();
        let (code, out) = send(&app, name, &secret_for(name)).await;
        assert_eq!(code, 0, "{name}: {out}");
        assert!(
            out.starts_with("202") || out.starts_with("200"),
            "{name}: {out}"
        );
        let wrong = if name == "standard" {
            "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        } else {
            "not-the-secret"
        };
        let (code, out) = send(&app, name, wrong).await;
        assert_eq!(code, 1, "{name} with another secret: {out}");
        assert!(out.starts_with("401"), "{name} with another secret: {out}");
    }
    // A usage error is one line and exit 2.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["send", "pigeon", "--url", &app.url("/webhooks/pigeon")])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim(), "switchyard send: unknown provider \"pigeon\"");
    app.stop().await;
}

both_stores!(every_provider_is_signed_as_it_signs);
