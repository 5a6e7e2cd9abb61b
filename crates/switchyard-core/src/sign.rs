//! Signing as each provider signs: the headers `switchyard send` puts on a request
//! so that the provider's `verify` here (and the provider's own documentation)
//! accepts it, and a realistic sample body per provider and event. Every scheme the
//! server verifies is here; the tests sign each provider's sample and run it through
//! that provider's `verify` and `normalize`.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::sig::{hmac_sha256, standard_secret_key, standard_signature_header};

/// A request ready to send: its headers and the exact bytes signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a request cannot be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("unknown provider {0:?}")]
    UnknownProvider(String),
    #[error("a Standard Webhooks secret is `whsec_` and base64 (got something else)")]
    BadStandardSecret,
}

fn hex_hmac(secret: &str, parts: &[&[u8]]) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), parts))
}

fn h(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_owned(), value.into())
}

/// The provider's own event header for an event type as Switchyard names it
/// (`issues.opened` → GitHub's `issues`).
fn head(event: &str) -> &str {
    event.split('.').next().unwrap_or(event)
}

/// Signs `body` for `provider` with `secret` at `now` (Unix seconds), as delivery
/// `delivery_id` of `event` (Switchyard's event type; the provider's header is
/// derived from it). Linear signs a timestamp inside the body: a JSON object's
/// `webhookTimestamp` is set to `now` first, so the body sent is the one returned.
pub fn sign(
    provider: &str,
    secret: &str,
    event: &str,
    body: &[u8],
    now: i64,
    delivery_id: &str,
) -> Result<Signed, SignError> {
    let json_type = h("content-type", "application/json");
    let mut body = body.to_vec();
    let headers = match provider {
        "github" => vec![
            json_type,
            h("x-github-event", head(event)),
            h("x-github-delivery", delivery_id),
            h(
                "x-hub-signature-256",
                format!("sha256={}", hex_hmac(secret, &[&body])),
            ),
        ],
        "gitlab" => {
            let hook = match head(event) {
                "merge_request" => "Merge Request Hook",
                "push" => "Push Hook",
                "note" => "Note Hook",
                "pipeline" => "Pipeline Hook",
                _ => "Issue Hook",
            };
            vec![
                json_type,
                h("x-gitlab-event", hook),
                h("x-gitlab-event-uuid", delivery_id),
                h("x-gitlab-token", secret),
            ]
        }
        "jira" => vec![
            json_type,
            h("x-atlassian-webhook-identifier", delivery_id),
            h(
                "x-hub-signature",
                format!("sha256={}", hex_hmac(secret, &[&body])),
            ),
        ],
        "notion" => vec![
            json_type,
            h(
                "x-notion-signature",
                format!("sha256={}", hex_hmac(secret, &[&body])),
            ),
        ],
        "slack" => {
            let ts = now.to_string();
            let sig = hex_hmac(secret, &[b"v0:", ts.as_bytes(), b":", &body]);
            vec![
                json_type,
                h("x-slack-request-timestamp", ts),
                h("x-slack-signature", format!("v0={sig}")),
            ]
        }
        "stripe" => {
            let t = now.to_string();
            let v1 = hex_hmac(secret, &[t.as_bytes(), b".", &body]);
            vec![json_type, h("stripe-signature", format!("t={t},v1={v1}"))]
        }
        "shopify" => {
            let sig = base64::engine::general_purpose::STANDARD
                .encode(hmac_sha256(secret.as_bytes(), &[&body]));
            vec![
                json_type,
                h("x-shopify-topic", event.replace('.', "/")),
                h("x-shopify-webhook-id", delivery_id),
                h("x-shopify-hmac-sha256", sig),
            ]
        }
        "sentry" => vec![
            json_type,
            h("sentry-hook-resource", head(event)),
            h("request-id", delivery_id),
            h("sentry-hook-signature", hex_hmac(secret, &[&body])),
        ],
        "linear" => {
            if let Ok(Value::Object(mut o)) = serde_json::from_slice::<Value>(&body) {
                o.insert("webhookTimestamp".into(), json!(now * 1000));
                body = Value::Object(o).to_string().into_bytes();
            }
            vec![
                json_type,
                h("linear-delivery", delivery_id),
                h("linear-signature", hex_hmac(secret, &[&body])),
            ]
        }
        "standard" => {
            let key = standard_secret_key(secret).ok_or(SignError::BadStandardSecret)?;
            vec![
                json_type,
                h("webhook-id", delivery_id),
                h("webhook-timestamp", now.to_string()),
                h(
                    "webhook-signature",
                    standard_signature_header(&[&key], delivery_id, now, &body),
                ),
            ]
        }
        "generic" => vec![
            json_type,
            h("x-webhook-id", delivery_id),
            h("x-webhook-signature", hex_hmac(secret, &[&body])),
        ],
        "crewai" => vec![
            json_type,
            h(
                "x-crewai-signature",
                format!("sha256={}", hex_hmac(secret, &[&body])),
            ),
        ],
        other => return Err(SignError::UnknownProvider(other.to_owned())),
    };
    Ok(Signed { headers, body })
}

/// Unix seconds as RFC 3339 (UTC); the epoch for a time out of range.
fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// The event a sample is of when none is asked for.
pub fn default_event(provider: &str) -> &'static str {
    match provider {
        "github" => "issues.opened",
        "gitlab" => "issue.open",
        "jira" => "jira:issue_created",
        "notion" => "page.created",
        "slack" => "message.channels",
        "stripe" => "charge.succeeded",
        "shopify" => "orders.create",
        "sentry" => "issue.created",
        "linear" => "issue.create",
        "standard" => "invoice.paid",
        // Seed 003's `workflow.run` starts a workflow, which must be registered
        // first; a plain event is accepted by any server.
        "generic" => "test.ping",
        "crewai" => "checkpoint.required",
        _ => "test",
    }
}

/// A realistic body of `event` (see [`default_event`]) for `provider`, for
/// delivery `delivery_id` at `now`: the shapes in each provider's documentation,
/// with the action or type taken from the event where the provider carries it in
/// the body.
pub fn sample(provider: &str, event: &str, delivery_id: &str, now: i64) -> Option<Value> {
    let action = event.split_once('.').map_or("", |(_, a)| a);
    let v = match provider {
        "github" => json!({
            "action": if action.is_empty() { "opened" } else { action },
            "issue": {"number": 1, "title": "Crash on start",
                      "html_url": "https://github.com/acme/app/issues/1",
                      "body": "Steps to reproduce: run it.", "labels": [{"name": "bug"}],
                      "user": {"login": "octocat"}},
            "repository": {"full_name": "acme/app", "html_url": "https://github.com/acme/app"},
            "sender": {"login": "octocat"}
        }),
        "gitlab" => json!({
            "object_kind": head(event), "event_type": head(event),
            "user": {"id": 1, "name": "Administrator", "username": "root"},
            "project": {"id": 1, "path_with_namespace": "acme/app",
                        "web_url": "https://gitlab.example.com/acme/app"},
            "object_attributes": {"id": 301, "iid": 23, "title": "Crash on start",
                "url": "https://gitlab.example.com/acme/app/-/issues/23",
                "action": if action.is_empty() { "open" } else { action }, "state": "opened"}
        }),
        "jira" => json!({
            "timestamp": now * 1000, "webhookEvent": event,
            "issue_event_type_name": event.trim_start_matches("jira:"),
            "user": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Mia Krystof"},
            "issue": {"id": "10002", "self": "https://example.atlassian.net/rest/api/2/issue/10002",
                      "key": "OPS-7", "fields": {"summary": "Disk full on db-1",
                      "project": {"id": "10000", "key": "OPS", "name": "Operations"}}}
        }),
        "notion" => json!({
            "id": delivery_id, "timestamp": rfc3339(now),
            "workspace_id": "13950b26-c203-4f3b-b97d-93ec06319565", "workspace_name": "Acme",
            "subscription_id": "29d75c0d-5546-4414-8459-7b7a92f1fc4b",
            "integration_id": "0ef2e755-4912-8096-91c1-00376a88a5ca", "type": event,
            "authors": [{"id": "c7c11cca-1d73-471d-9b6e-bdef51470190", "type": "person"}],
            "attempt_number": 1, "entity": {"id": "153104cd-477e-809d-8dc4-ff2d96ae3090", "type": "page"},
            "data": {"parent": {"id": "13950b26-c203-4f3b-b97d-93ec06319565", "type": "space"}}
        }),
        "slack" => json!({
            "token": "deprecated", "team_id": "T0001", "api_app_id": "A0001",
            "type": "event_callback", "event_id": delivery_id, "event_time": now,
            "event": {"type": "message", "channel": "C0123", "channel_type": "channel",
                      "user": "U0123", "text": "The deploy is stuck", "ts": format!("{now}.000100")}
        }),
        "stripe" => json!({
            "id": delivery_id, "object": "event", "api_version": "2023-10-16", "created": now,
            "type": event, "livemode": false,
            "data": {"object": {"id": "ch_3NG8Dt2eZvKYlo2C0Q2QXbvu", "object": "charge",
                                "amount": 2000, "currency": "usd"}}
        }),
        "shopify" => json!({
            "id": 820982911946154508u64, "email": "jon@example.com", "name": "#1001",
            "total_price": "403.00", "currency": "USD"
        }),
        "sentry" => json!({
            "action": if action.is_empty() { "created" } else { action },
            "installation": {"uuid": "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"},
            "data": {"issue": {"id": "1170820242", "shortId": "WEB-2D",
                "title": "TypeError: Cannot read properties of undefined",
                "web_url": "https://example.sentry.io/organizations/acme/issues/1170820242/",
                "project": {"id": "1", "slug": "web", "name": "web"}}},
            "actor": {"type": "user", "id": "1", "name": "Meredith Heller"}
        }),
        "linear" => {
            let kind = head(event);
            let mut k = kind.chars();
            let kind = k
                .next()
                .map(|c| c.to_uppercase().collect::<String>() + k.as_str())
                .unwrap_or_default();
            json!({
                "action": if action.is_empty() { "create" } else { action },
                "actor": {"id": "2e6eea91-1111-0000-9486-acea0603064d", "type": "user", "name": "Nan Yu"},
                "data": {"id": "8f5a7c52-1234-4d4e-9b0a-2f7d4e1a0c11", "identifier": "ENG-42",
                         "title": "Flaky deploy", "team": {"id": "4b1c", "key": "ENG", "name": "Engineering"}},
                "url": "https://linear.app/acme/issue/ENG-42/flaky-deploy",
                "type": kind, "organizationId": "b4ad", "webhookTimestamp": now * 1000,
                "webhookId": delivery_id
            })
        }
        "standard" => json!({
            "type": event, "timestamp": rfc3339(now),
            "data": {"invoice_id": "in_1001", "amount": 4200, "currency": "eur"}
        }),
        // `--event workflow.run`: seed 003's body (its example workflow).
        "generic" if event == "workflow.run" => json!({
            "workflow_name": "slack_notification", "webhook_id": delivery_id,
            "inputs": {"event_type": "test", "message": "Test webhook from switchyard send",
                       "slack_channel": "#general"}
        }),
        "generic" => json!({
            "type": event, "id": delivery_id,
            "message": "Test webhook from switchyard send"
        }),
        "crewai" => json!({
            "event_type": "checkpoint.required", "checkpoint_id": format!("cp-{delivery_id}"),
            "checkpoint_name": "review_plan", "kickoff_id": "kickoff-1",
            "context": {"task": "Draft the launch plan", "output": "A three-step plan"}
        }),
        _ => return None,
    };
    Some(v)
}

/// The path a provider's default endpoint is served at.
pub fn default_path(provider: &str) -> String {
    match provider {
        "crewai" => "/webhook/crewai".to_owned(),
        p => format!("/webhooks/{p}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Inbound;
    use crate::providers;
    use crate::Secret;

    fn secret_for(p: &str) -> &'static str {
        match p {
            "standard" => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            _ => "s3cret-for-send",
        }
    }

    /// Every provider's sample, signed here, passes that provider's `verify` and
    /// `normalize` (to the sample's event type), and fails with another secret.
    #[test]
    fn every_provider_accepts_what_send_signs() {
        let now = 1_764_000_000;
        for p in providers::ALL {
            let name = p.name();
            let event = default_event(name);
            let body = sample(name, event, "dlv-1", now).unwrap().to_string();
            let secret = secret_for(name);
            let signed = sign(name, secret, event, body.as_bytes(), now, "dlv-1").unwrap();
            let mut headers = http::HeaderMap::new();
            for (k, v) in &signed.headers {
                headers.append(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    http::HeaderValue::from_str(v).unwrap(),
                );
            }
            let req = Inbound {
                headers: &headers,
                query: None,
                body: &signed.body,
                now,
            };
            assert_eq!(
                p.verify(&req, &[Secret::new(secret)]),
                Ok(()),
                "{name} refuses what send signs"
            );
            let wrong = if name == "standard" {
                "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
            } else {
                "another-secret"
            };
            assert!(
                p.verify(&req, &[Secret::new(wrong)]).is_err(),
                "{name} accepts another secret"
            );
            let n = p.normalize(&req).unwrap_or_else(|e| panic!("{name}: {e}"));
            // CrewAI's event type names the endpoint's kind too (`crewai.crew.…`).
            if name != "crewai" {
                assert_eq!(n.event_type.as_str(), event, "{name}");
            }
        }
    }

    #[test]
    fn unknown_providers_and_bad_standard_secrets_are_refused() {
        assert_eq!(
            sign("pigeon", "s", "e", b"{}", 0, "d"),
            Err(SignError::UnknownProvider("pigeon".into()))
        );
        assert_eq!(
            sign("standard", "whsec_!!!", "e", b"{}", 0, "d"),
            Err(SignError::BadStandardSecret)
        );
        assert!(sample("pigeon", "e", "d", 0).is_none());
    }
}
