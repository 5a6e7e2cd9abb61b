//! Linear: `Linear-Signature: <hex HMAC-SHA256 of the body>`, keyed by the webhook's
//! signing secret. The signed body carries `webhookTimestamp` (milliseconds since the
//! epoch); as Linear recommends, a delivery more than a minute from now is refused as
//! a replay. A body without one is accepted on its signature alone. `Linear-Delivery`
//! identifies the delivery.
//! Follows "Webhooks", section "Securing webhooks":
//! <https://linear.app/developers/webhooks>

use crate::event::str_at;
use crate::provider::{Inbound, ParseError, Provider, Secret, VerifyError};
use crate::sig::{self, Algorithm, Encoding};
use crate::{EventType, Normalized};

pub struct Linear;

/// How far, in milliseconds, `webhookTimestamp` may be from now.
pub const TOLERANCE_MS: i64 = 60_000;

/// Checks the signed body's `webhookTimestamp`, if it has one.
fn check_timestamp(body: &[u8], now: i64) -> Result<(), VerifyError> {
    const STALE: VerifyError = VerifyError::Stale(TOLERANCE_MS / 1000);
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(body) else {
        // Not JSON: nothing to check here, and normalization refuses it.
        return Ok(());
    };
    let Some(ts) = payload.get("webhookTimestamp") else {
        return Ok(());
    };
    // A timestamp that is present but not whole milliseconds cannot be shown fresh.
    let ts = ts.as_i64().ok_or(STALE)?;
    let now_ms = now.checked_mul(1000).ok_or(STALE)?;
    if u64::try_from(TOLERANCE_MS).is_ok_and(|t| ts.abs_diff(now_ms) <= t) {
        Ok(())
    } else {
        Err(STALE)
    }
}

impl Provider for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn requires_secret(&self) -> bool {
        true
    }

    fn verify(&self, req: &Inbound<'_>, secrets: &[Secret]) -> Result<(), VerifyError> {
        // The timestamp is inside the body, so it is read only once the body is
        // known to be Linear's.
        sig::verify_body_hmac(
            req,
            secrets,
            "linear-signature",
            "",
            Algorithm::Sha256,
            Encoding::Hex,
        )?;
        check_timestamp(req.body, req.now)
    }

    fn normalize(&self, req: &Inbound<'_>) -> Result<Normalized, ParseError> {
        let payload = sig::json_body(req)?;
        let kind = match str_at(&payload, "/type") {
            Some(t) if !t.is_empty() => t,
            _ => return Err(ParseError::Malformed("body has no type".into())),
        };
        let event_type = match str_at(&payload, "/action") {
            Some(action) if !action.is_empty() => {
                format!("{}.{action}", kind.to_ascii_lowercase())
            }
            _ => kind.to_ascii_lowercase(),
        };
        let mut n = Normalized::new(EventType::sanitized(&event_type), payload);
        n.delivery_id = req
            .header("linear-delivery")
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let p = &n.payload;
        n.source = str_at(p, "/data/team/key");
        n.subject = str_at(p, "/url");
        n.actor = str_at(p, "/actor/name");
        // A comment belongs to its issue's thread.
        let thread = match kind.as_str() {
            "Issue" => str_at(p, "/data/id"),
            "Comment" => str_at(p, "/data/issueId"),
            _ => None,
        };
        n.thread_key = thread.map(|id| format!("linear:{id}"));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testkit::{self, Req};
    use proptest::prelude::*;

    // Linear publishes no test vector. The signature below was computed outside this
    // code: printf '%s' "$BODY" | openssl dgst -sha256 -hmac 'lin_wh_test'
    const SECRET: &str = "lin_wh_test";
    const BODY: &str = r#"{"action":"create","actor":{"id":"2e6eea91-1111-0000-9486-acea0603064d","type":"user","name":"Nan Yu"},"createdAt":"2024-04-30T12:00:00.000Z","data":{"id":"8f5a7c52-1234-4d4e-9b0a-2f7d4e1a0c11","identifier":"ENG-42","title":"Flaky deploy","team":{"id":"4b1c","key":"ENG","name":"Engineering"}},"url":"https://linear.app/acme/issue/ENG-42/flaky-deploy","type":"Issue","organizationId":"b4ad","webhookTimestamp":1714478400000,"webhookId":"000042e3-d123-4980-b49f-8e140eef9329"}"#;
    const SIG: &str = "ea475b1b92e24a060b8c6b46e8200ec67f9290d00e41ab8d6dd09c17da3217ec";
    /// `webhookTimestamp` in BODY, in seconds.
    const SENT: i64 = 1_714_478_400;

    fn req(body: &str, sig: &str) -> Req {
        Req::new(body)
            .header("linear-signature", sig)
            .header("content-type", "application/json; charset=utf-8")
            .now(SENT + 5)
    }

    #[test]
    fn signed_request_verifies() {
        assert_eq!(
            Linear.verify(&req(BODY, SIG).inbound(), &[Secret::new(SECRET)]),
            Ok(())
        );
    }

    #[test]
    fn tampered_forged_and_unsigned_are_refused() {
        let secrets = [Secret::new(SECRET)];
        let tampered = req(&BODY.replace("Flaky", "Fixed"), SIG);
        assert_eq!(
            Linear.verify(&tampered.inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            Linear.verify(&req(BODY, SIG).inbound(), &[Secret::new("lin_wh_other")]),
            Err(VerifyError::Mismatch)
        );
        let unsigned = Req::new(BODY).now(SENT);
        assert_eq!(
            Linear.verify(&unsigned.inbound(), &secrets),
            Err(VerifyError::Missing("linear-signature"))
        );
    }

    #[test]
    fn stale_webhook_timestamps_are_refused() {
        let secrets = [Secret::new(SECRET)];
        let at = |now| req(BODY, SIG).now(now);
        assert_eq!(Linear.verify(&at(SENT + 60).inbound(), &secrets), Ok(()));
        assert_eq!(Linear.verify(&at(SENT - 60).inbound(), &secrets), Ok(()));
        assert_eq!(
            Linear.verify(&at(SENT + 61).inbound(), &secrets),
            Err(VerifyError::Stale(60))
        );
        assert_eq!(
            Linear.verify(&at(SENT - 61).inbound(), &secrets),
            Err(VerifyError::Stale(60))
        );
        assert_eq!(
            Linear.verify(&at(i64::MAX).inbound(), &secrets),
            Err(VerifyError::Stale(60))
        );
    }

    #[test]
    fn a_forged_body_is_refused_before_its_timestamp_is_read() {
        // A fresh timestamp in an unsigned body proves nothing.
        let r = req(BODY, &"0".repeat(64)).now(SENT + 3600);
        assert_eq!(
            Linear.verify(&r.inbound(), &[Secret::new(SECRET)]),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn rotation_accepts_any_configured_secret() {
        let secrets = [Secret::new("lin_wh_previous"), Secret::new(SECRET)];
        assert_eq!(Linear.verify(&req(BODY, SIG).inbound(), &secrets), Ok(()));
    }

    #[test]
    fn issue_create_normalizes() {
        let r = req(BODY, SIG)
            .header("linear-delivery", "234d1a4e-b617-4388-90fe-adc3633d6b72")
            .header("linear-event", "Issue");
        let n = Linear.normalize(&r.inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "issue.create");
        assert_eq!(
            n.delivery_id.as_deref(),
            Some("234d1a4e-b617-4388-90fe-adc3633d6b72")
        );
        assert_eq!(n.source.as_deref(), Some("ENG"));
        assert_eq!(
            n.subject.as_deref(),
            Some("https://linear.app/acme/issue/ENG-42/flaky-deploy")
        );
        assert_eq!(n.actor.as_deref(), Some("Nan Yu"));
        assert_eq!(
            n.thread_key.as_deref(),
            Some("linear:8f5a7c52-1234-4d4e-9b0a-2f7d4e1a0c11")
        );
    }

    #[test]
    fn comment_create_threads_on_its_issue() {
        let body = r#"{"action":"create","actor":{"id":"2e6e","name":"Nan Yu"},"data":{"id":"c-1","body":"Looking","issueId":"8f5a7c52-1234-4d4e-9b0a-2f7d4e1a0c11"},"url":"https://linear.app/acme/issue/ENG-42#comment-c1","type":"Comment","webhookTimestamp":1714478400000}"#;
        let n = Linear.normalize(&Req::new(body).inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "comment.create");
        assert_eq!(
            n.thread_key.as_deref(),
            Some("linear:8f5a7c52-1234-4d4e-9b0a-2f7d4e1a0c11")
        );
    }

    #[test]
    fn untyped_bad_json_and_wrong_media_type() {
        let r = Req::new(r#"{"action":"create"}"#);
        assert!(matches!(
            Linear.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
        let r = Req::new("{\"type\":");
        assert!(matches!(
            Linear.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
        let r = Req::new(BODY).header("content-type", "text/plain");
        assert!(matches!(
            Linear.normalize(&r.inbound()),
            Err(ParseError::UnsupportedMedia(_))
        ));
    }

    fn sign(key: &[u8], body: &[u8]) -> String {
        hex::encode(testkit::hmac_sha256(key, body))
    }

    proptest! {
        #[test]
        fn signed_bodies_verify_and_any_flipped_byte_fails(
            body in proptest::collection::vec(any::<u8>(), 0..256),
            key in proptest::collection::vec(any::<u8>(), 1..64),
            flip in any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            let sig = sign(&key, &body);
            let secrets = [Secret::new(key)];
            let r = Req::new(body.clone()).header("linear-signature", &sig);
            prop_assert_eq!(Linear.verify(&r.inbound(), &secrets), Ok(()));
            if !body.is_empty() {
                let mut bad = body;
                let i = flip.index(bad.len());
                bad[i] ^= 1 << bit;
                let r = Req::new(bad).header("linear-signature", &sig);
                prop_assert_eq!(Linear.verify(&r.inbound(), &secrets), Err(VerifyError::Mismatch));
            }
        }

        #[test]
        fn signed_timestamped_bodies_verify_within_a_minute(
            key in proptest::collection::vec(any::<u8>(), 1..64),
            sent_ms in 0i64..4_000_000_000_000,
            title in "[ -~]{0,40}",
            now in 0i64..4_000_000_000,
        ) {
            let body = serde_json::json!({
                "type": "Issue", "action": "update", "data": {"id": "i1", "title": title},
                "webhookTimestamp": sent_ms,
            }).to_string();
            let sig = sign(&key, body.as_bytes());
            let r = Req::new(body).header("linear-signature", &sig).now(now);
            let fresh = (sent_ms - now * 1000).abs() <= TOLERANCE_MS;
            let want = if fresh { Ok(()) } else { Err(VerifyError::Stale(60)) };
            prop_assert_eq!(Linear.verify(&r.inbound(), &[Secret::new(key)]), want);
        }

        #[test]
        fn never_panics(sig in testkit::header_bytes(),
                        ct in testkit::header_bytes(),
                        body in proptest::collection::vec(any::<u8>(), 0..256),
                        ts in any::<i64>(),
                        now in any::<i64>()) {
            let r = Req::new(body)
                .raw_header("linear-signature", &sig)
                .raw_header("content-type", &ct)
                .now(now);
            let _ = Linear.verify(&r.inbound(), &[Secret::new(SECRET)]);
            let _ = Linear.normalize(&r.inbound());
            // A genuine signature over an extreme timestamp must not panic either.
            let body = format!(r#"{{"type":"Issue","webhookTimestamp":{ts}}}"#);
            let r = Req::new(body.clone())
                .header("linear-signature", &sign(SECRET.as_bytes(), body.as_bytes()))
                .now(now);
            let _ = Linear.verify(&r.inbound(), &[Secret::new(SECRET)]);
        }
    }
}
