//! The generic endpoint of seed 003: `POST /webhooks/generic` with
//! `{"workflow_name": ..., "inputs": {...}}`, signed with
//! `X-Webhook-Signature: <hex HMAC-SHA256 of the body>` when `WEBHOOK_SECRET` is set
//! (a `sha256=` prefix is accepted too; `X-Signature`, which configurable-agents' own
//! code reads, is accepted when `X-Webhook-Signature` is absent). Unsigned requests
//! are accepted only when no secret is configured.

use crate::event::str_at;
use crate::provider::{Inbound, ParseError, Provider, Secret, VerifyError};
use crate::sig::{self, Algorithm, Encoding};
use crate::{EventType, Normalized};

pub struct Generic;

/// Verifies `X-Webhook-Signature` — or, when it is absent, `X-Signature` (what
/// configurable-agents' code reads) — as hex HMAC-SHA256 of the body, optional
/// `sha256=`.
pub(crate) fn verify_x_webhook_signature(
    req: &Inbound<'_>,
    secrets: &[Secret],
) -> Result<(), VerifyError> {
    if secrets.is_empty() {
        return Ok(());
    }
    // Sent at all (even twice, which the verifier refuses), the seed's header
    // decides; an unsigned request is told about the seed's header.
    let h = if !req.headers.contains_key("x-webhook-signature")
        && req.headers.contains_key("x-signature")
    {
        "x-signature"
    } else {
        "x-webhook-signature"
    };
    let prefix = match req.header(h) {
        Some(v) if v.len() >= 7 && v[..7].eq_ignore_ascii_case("sha256=") => "sha256=",
        _ => "",
    };
    sig::verify_body_hmac(req, secrets, h, prefix, Algorithm::Sha256, Encoding::Hex)
}

/// A sender-chosen delivery id, for senders that supply one.
pub(crate) fn idempotency_header(req: &Inbound<'_>) -> Option<String> {
    req.header("x-webhook-id")
        .or_else(|| req.header("idempotency-key"))
        .or_else(|| req.header("x-request-id"))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl Provider for Generic {
    fn name(&self) -> &'static str {
        "generic"
    }

    fn requires_secret(&self) -> bool {
        false
    }

    fn verify(&self, req: &Inbound<'_>, secrets: &[Secret]) -> Result<(), VerifyError> {
        verify_x_webhook_signature(req, secrets)
    }

    fn normalize(&self, req: &Inbound<'_>) -> Result<Normalized, ParseError> {
        let payload = sig::json_body(req)?;
        if !payload.is_object() {
            return Err(ParseError::Malformed("body must be a JSON object".into()));
        }
        // A workflow trigger (seed 003) is `workflow.run`; other bodies name their
        // own type in `type`, `event_type` or `event`.
        let event_type = if payload.get("workflow_name").is_some() {
            match payload.get("workflow_name").and_then(|w| w.as_str()) {
                Some(w) if !w.is_empty() => EventType::sanitized("workflow.run"),
                _ => {
                    return Err(ParseError::Malformed(
                        "workflow_name must be a non-empty string".into(),
                    ))
                }
            }
        } else {
            ["/type", "/event_type", "/event"]
                .iter()
                .find_map(|p| str_at(&payload, p))
                .map(|t| EventType::sanitized(&t))
                .unwrap_or_else(|| EventType::sanitized("generic"))
        };
        // Seed 003's optional `webhook_id` (or an `id`) names the delivery before
        // any header does: a sender repeating a body repeats its id.
        let body_id = ["/webhook_id", "/id"]
            .iter()
            .find_map(|p| str_at(&payload, p))
            .filter(|s| !s.is_empty());
        let mut n = Normalized::new(event_type, payload);
        n.delivery_id = body_id.or_else(|| idempotency_header(req));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testkit::Req;

    fn sign(secret: &str, body: &str) -> String {
        hex::encode(sig::hmac_sha256(secret.as_bytes(), &[body.as_bytes()]))
    }

    const SEED_BODY: &str = r##"{"workflow_name":"slack_notification","inputs":{"event_type":"test","message":"Test webhook from curl","slack_channel":"#general"}}"##;

    #[test]
    fn the_bodys_webhook_id_names_the_delivery_first() {
        let body = r#"{"workflow_name": "w", "inputs": {}, "webhook_id": "hook-7"}"#;
        let r = Req::new(body).header("x-request-id", "req-1");
        assert_eq!(
            Generic
                .normalize(&r.inbound())
                .unwrap()
                .delivery_id
                .as_deref(),
            Some("hook-7")
        );
        let r = Req::new(r#"{"id": "evt-9"}"#).header("idempotency-key", "k");
        assert_eq!(
            Generic
                .normalize(&r.inbound())
                .unwrap()
                .delivery_id
                .as_deref(),
            Some("evt-9")
        );
        let r = Req::new(r#"{"type": "x"}"#).header("idempotency-key", "k");
        assert_eq!(
            Generic
                .normalize(&r.inbound())
                .unwrap()
                .delivery_id
                .as_deref(),
            Some("k")
        );
    }

    #[test]
    fn seed_003_payload_is_a_workflow_run() {
        let r = Req::new(SEED_BODY).header("content-type", "application/json");
        let n = Generic.normalize(&r.inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "workflow.run");
        assert_eq!(n.payload["inputs"]["slack_channel"], "#general");
    }

    #[test]
    fn signature_as_seed_003_computes_it() {
        // Python: hmac.new(secret.encode(), payload_str.encode(), hashlib.sha256).hexdigest()
        let secrets = [Secret::new("s3cret")];
        let good = Req::new(SEED_BODY).header("x-webhook-signature", &sign("s3cret", SEED_BODY));
        assert_eq!(Generic.verify(&good.inbound(), &secrets), Ok(()));
        let prefixed = Req::new(SEED_BODY).header(
            "x-webhook-signature",
            &format!("sha256={}", sign("s3cret", SEED_BODY)),
        );
        assert_eq!(Generic.verify(&prefixed.inbound(), &secrets), Ok(()));
        // configurable-agents' own code reads X-Signature.
        let theirs = Req::new(SEED_BODY).header("x-signature", &sign("s3cret", SEED_BODY));
        assert_eq!(Generic.verify(&theirs.inbound(), &secrets), Ok(()));
        let theirs_bad = Req::new(SEED_BODY).header("x-signature", &sign("other", SEED_BODY));
        assert_eq!(
            Generic.verify(&theirs_bad.inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
        // With both, X-Webhook-Signature decides: a wrong one is not rescued.
        let both = Req::new(SEED_BODY)
            .header("x-webhook-signature", &sign("other", SEED_BODY))
            .header("x-signature", &sign("s3cret", SEED_BODY));
        assert_eq!(
            Generic.verify(&both.inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
        let bad = Req::new(SEED_BODY).header("x-webhook-signature", &sign("other", SEED_BODY));
        assert_eq!(
            Generic.verify(&bad.inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
        let unsigned = Req::new(SEED_BODY);
        assert!(matches!(
            Generic.verify(&unsigned.inbound(), &secrets),
            Err(VerifyError::Missing(_))
        ));
        // With no secret configured, unsigned requests are accepted, as in seed 003.
        assert_eq!(Generic.verify(&unsigned.inbound(), &[]), Ok(()));
    }

    #[test]
    fn non_object_bodies_are_malformed() {
        let r = Req::new("[1,2]");
        assert!(matches!(
            Generic.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
        let r = Req::new(r#"{"workflow_name": 3}"#);
        assert!(matches!(
            Generic.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
    }
}
