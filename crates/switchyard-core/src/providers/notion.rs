//! Notion integration webhooks: `X-Notion-Signature: sha256=<hex HMAC-SHA256 of the
//! body>`, keyed by the subscription's `verification_token`. That token only exists
//! after the first request to a new subscription, an unsigned handshake whose body is
//! `{"verification_token":"secret_..."}`. With no secret configured, the handshake
//! and events are accepted unsigned, and the handshake becomes a
//! `notion.verification` event so the token can be read back and configured. Once a
//! secret is configured, every request must be signed with it — a handshake too (a
//! new subscription's handshake is unsigned, so create it before setting a secret,
//! or on a webhook without one): an unsigned request is never stored or routed on a
//! webhook that has a secret.
//! Follows "Webhooks", sections "Step 2: Verifying the subscription" and "Validating
//! event payloads": <https://developers.notion.com/reference/webhooks>

use crate::event::str_at;
use crate::provider::{Inbound, ParseError, Provider, Secret, VerifyError};
use crate::sig::{self, Algorithm, Encoding};
use crate::{EventType, Normalized};

pub struct Notion;

/// True when `payload` is exactly Notion's handshake: an object whose only key is a
/// string `verification_token`.
fn is_handshake(payload: &serde_json::Value) -> bool {
    payload
        .as_object()
        .is_some_and(|m| m.len() == 1 && m.get("verification_token").is_some_and(|v| v.is_string()))
}

impl Provider for Notion {
    fn name(&self) -> &'static str {
        "notion"
    }

    fn requires_secret(&self) -> bool {
        false
    }

    fn verify(&self, req: &Inbound<'_>, secrets: &[Secret]) -> Result<(), VerifyError> {
        if secrets.is_empty() {
            return Ok(());
        }
        sig::verify_body_hmac(
            req,
            secrets,
            "x-notion-signature",
            "sha256=",
            Algorithm::Sha256,
            Encoding::Hex,
        )
    }

    fn normalize(&self, req: &Inbound<'_>) -> Result<Normalized, ParseError> {
        let payload = sig::json_body(req)?;
        if is_handshake(&payload) {
            return Ok(Normalized::new(
                EventType::sanitized("notion.verification"),
                payload,
            ));
        }
        let event = match str_at(&payload, "/type") {
            Some(t) if !t.is_empty() => t,
            _ => {
                return Err(ParseError::Malformed(
                    "body is neither a verification handshake nor an event with a type".into(),
                ))
            }
        };
        let mut n = Normalized::new(EventType::sanitized(&event), payload);
        let p = &n.payload;
        n.delivery_id = str_at(p, "/id").filter(|s| !s.is_empty());
        n.subject = str_at(p, "/entity/id");
        n.source = str_at(p, "/workspace_id");
        n.actor = str_at(p, "/authors/0/id");
        n.thread_key = n.subject.as_ref().map(|id| format!("notion:{id}"));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testkit::{self, Req};
    use proptest::prelude::*;

    // Notion publishes no test vector. The signature below was computed outside this
    // code: printf '%s' "$BODY" | openssl dgst -sha256 -hmac 'secret_notion_verification'
    const TOKEN: &str = "secret_notion_verification";
    // Shaped like the page.created example in Notion's webhook documentation.
    const BODY: &str = r#"{"id":"367cba44-b6f3-4c92-81e7-6a2e9659efd4","timestamp":"2024-12-05T23:55:34.285Z","workspace_id":"13950b26-c203-4f3b-b97d-93ec06319565","workspace_name":"Quantify Labs","subscription_id":"29d75c0d-5546-4414-8459-7b7a92f1fc4b","integration_id":"0ef2e755-4912-8096-91c1-00376a88a5ca","type":"page.created","authors":[{"id":"c7c11cca-1d73-471d-9b6e-bdef51470190","type":"person"}],"attempt_number":1,"entity":{"id":"153104cd-477e-809d-8dc4-ff2d96ae3090","type":"page"},"data":{"parent":{"id":"13950b26-c203-4f3b-b97d-93ec06319565","type":"space"}}}"#;
    const SIG: &str = "sha256=3f42a0ca8444eda235080168dff56bec9bd6911e3a4fd1dd7e1c9e5e45c8d52f";
    const HANDSHAKE: &str =
        r#"{"verification_token":"secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"}"#;

    #[test]
    fn signed_event_verifies() {
        let r = Req::new(BODY).header("x-notion-signature", SIG);
        assert_eq!(Notion.verify(&r.inbound(), &[Secret::new(TOKEN)]), Ok(()));
    }

    #[test]
    fn tampered_forged_and_unsigned_events_are_refused() {
        let secrets = [Secret::new(TOKEN)];
        let tampered = Req::new(BODY.replace("page.created", "page.deleted"))
            .header("x-notion-signature", SIG);
        assert_eq!(
            Notion.verify(&tampered.inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
        let r = Req::new(BODY).header("x-notion-signature", SIG);
        assert_eq!(
            Notion.verify(&r.inbound(), &[Secret::new("secret_other")]),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            Notion.verify(&Req::new(BODY).inbound(), &secrets),
            Err(VerifyError::Missing("x-notion-signature"))
        );
    }

    #[test]
    fn the_handshake_is_read_without_a_secret() {
        let r = Req::new(HANDSHAKE).header("content-type", "application/json");
        assert_eq!(Notion.verify(&r.inbound(), &[]), Ok(()));
        let n = Notion.normalize(&r.inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "notion.verification");
        assert_eq!(n.reply, None);
        assert_eq!(
            n.payload["verification_token"],
            "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"
        );
    }

    #[test]
    fn with_a_secret_even_the_handshake_must_be_signed() {
        let secrets = [Secret::new(TOKEN)];
        for body in [
            HANDSHAKE,
            r#"{"verification_token":"secret_x","type":"page.deleted"}"#,
            r#"["verification_token"]"#,
        ] {
            assert_eq!(
                Notion.verify(&Req::new(body).inbound(), &secrets),
                Err(VerifyError::Missing("x-notion-signature")),
                "{body}"
            );
        }
    }

    #[test]
    fn unsigned_events_are_accepted_without_a_secret() {
        assert_eq!(Notion.verify(&Req::new(BODY).inbound(), &[]), Ok(()));
    }

    #[test]
    fn rotation_accepts_any_configured_token() {
        let r = Req::new(BODY).header("x-notion-signature", SIG);
        let secrets = [Secret::new("secret_previous"), Secret::new(TOKEN)];
        assert_eq!(Notion.verify(&r.inbound(), &secrets), Ok(()));
    }

    #[test]
    fn page_created_normalizes() {
        let r = Req::new(BODY).header("content-type", "application/json");
        let n = Notion.normalize(&r.inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "page.created");
        assert_eq!(
            n.delivery_id.as_deref(),
            Some("367cba44-b6f3-4c92-81e7-6a2e9659efd4")
        );
        assert_eq!(
            n.source.as_deref(),
            Some("13950b26-c203-4f3b-b97d-93ec06319565")
        );
        assert_eq!(
            n.subject.as_deref(),
            Some("153104cd-477e-809d-8dc4-ff2d96ae3090")
        );
        assert_eq!(
            n.actor.as_deref(),
            Some("c7c11cca-1d73-471d-9b6e-bdef51470190")
        );
        assert_eq!(
            n.thread_key.as_deref(),
            Some("notion:153104cd-477e-809d-8dc4-ff2d96ae3090")
        );
    }

    #[test]
    fn untyped_bad_json_and_wrong_media_type() {
        let r = Req::new(r#"{"id":"x"}"#);
        assert!(matches!(
            Notion.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
        let r = Req::new("{\"type\"");
        assert!(matches!(
            Notion.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
        let r = Req::new(BODY).header("content-type", "text/plain");
        assert!(matches!(
            Notion.normalize(&r.inbound()),
            Err(ParseError::UnsupportedMedia(_))
        ));
    }

    proptest! {
        #[test]
        fn signed_bodies_verify_and_any_flipped_byte_fails(
            body in proptest::collection::vec(any::<u8>(), 0..256),
            key in proptest::collection::vec(any::<u8>(), 1..64),
            flip in any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            let sig = format!("sha256={}", hex::encode(testkit::hmac_sha256(&key, &body)));
            let secrets = [Secret::new(key)];
            let r = Req::new(body.clone()).header("x-notion-signature", &sig);
            prop_assert_eq!(Notion.verify(&r.inbound(), &secrets), Ok(()));
            if !body.is_empty() {
                let mut bad = body;
                let i = flip.index(bad.len());
                bad[i] ^= 1 << bit;
                let r = Req::new(bad).header("x-notion-signature", &sig);
                prop_assert_eq!(Notion.verify(&r.inbound(), &secrets), Err(VerifyError::Mismatch));
            }
        }

        #[test]
        fn never_panics(sig in testkit::header_bytes(),
                        body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let r = Req::new(body).raw_header("x-notion-signature", &sig);
            let _ = Notion.verify(&r.inbound(), &[Secret::new(TOKEN)]);
            let _ = Notion.normalize(&r.inbound());
        }
    }
}
