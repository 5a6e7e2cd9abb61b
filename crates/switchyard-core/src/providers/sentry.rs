//! Sentry integration platform webhooks: `Sentry-Hook-Signature: <hex HMAC-SHA256 of
//! the body>`, keyed by the integration's client secret. The resource (`issue`,
//! `event_alert`, `installation`, ...) is in `Sentry-Hook-Resource` and the body's
//! `action` says what happened to it; `Request-ID` identifies the delivery.
//! Follows "Webhooks", sections "Headers" and "Verifying the Signature":
//! <https://docs.sentry.io/organization/integrations/integration-platform/webhooks/>

use crate::event::{str_at, text_at};
use crate::provider::{Inbound, ParseError, Provider, Secret, VerifyError};
use crate::sig::{self, Algorithm, Encoding};
use crate::{EventType, Normalized};

pub struct Sentry;

impl Provider for Sentry {
    fn name(&self) -> &'static str {
        "sentry"
    }

    fn requires_secret(&self) -> bool {
        true
    }

    fn verify(&self, req: &Inbound<'_>, secrets: &[Secret]) -> Result<(), VerifyError> {
        sig::verify_body_hmac(
            req,
            secrets,
            "sentry-hook-signature",
            "",
            Algorithm::Sha256,
            Encoding::Hex,
        )
    }

    fn normalize(&self, req: &Inbound<'_>) -> Result<Normalized, ParseError> {
        let resource = req
            .header("sentry-hook-resource")
            .filter(|r| !r.is_empty())
            .ok_or_else(|| ParseError::Malformed("missing Sentry-Hook-Resource header".into()))?;
        let payload = sig::json_body(req)?;
        let event_type = match str_at(&payload, "/action") {
            Some(action) if !action.is_empty() => format!("{resource}.{action}"),
            _ => resource.to_owned(),
        };
        let mut n = Normalized::new(EventType::sanitized(&event_type), payload);
        n.delivery_id = req
            .header("request-id")
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let p = &n.payload;
        n.source = str_at(p, "/data/issue/project/slug");
        n.subject = str_at(p, "/data/issue/web_url").or_else(|| str_at(p, "/data/issue/permalink"));
        n.actor = str_at(p, "/actor/name").or_else(|| text_at(p, "/actor/id"));
        n.thread_key = text_at(p, "/data/issue/id").map(|id| format!("sentry:{id}"));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testkit::{self, Req};
    use proptest::prelude::*;

    // Sentry publishes no test vector. The signature below was computed outside this
    // code: printf '%s' "$BODY" | openssl dgst -sha256 -hmac 'sentry-client-secret'
    const SECRET: &str = "sentry-client-secret";
    // Shaped like the issue.created example in Sentry's issue webhook documentation.
    const BODY: &str = r#"{"action":"created","installation":{"uuid":"a8e5d37a-696c-4c54-adb5-b3f28d64c7de"},"data":{"issue":{"id":"1170820242","shortId":"WEB-2D","title":"TypeError: Cannot read properties of undefined","permalink":"https://example.sentry.io/issues/1170820242/","web_url":"https://example.sentry.io/organizations/example/issues/1170820242/","project":{"id":"1","slug":"web","name":"web"}}},"actor":{"type":"user","id":"1","name":"Meredith Heller"}}"#;
    const SIG: &str = "2ef7e9e0996f6d050c6be48dcea11a9c9ef05d32df18b7da4b506458e942cf5d";

    #[test]
    fn signed_request_verifies() {
        let r = Req::new(BODY).header("sentry-hook-signature", SIG);
        assert_eq!(Sentry.verify(&r.inbound(), &[Secret::new(SECRET)]), Ok(()));
    }

    #[test]
    fn tampered_forged_and_unsigned_are_refused() {
        let secrets = [Secret::new(SECRET)];
        let tampered = Req::new(BODY.replace("\"created\"", "\"resolved\""))
            .header("sentry-hook-signature", SIG);
        assert_eq!(
            Sentry.verify(&tampered.inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
        let r = Req::new(BODY).header("sentry-hook-signature", SIG);
        assert_eq!(
            Sentry.verify(&r.inbound(), &[Secret::new("another-secret")]),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            Sentry.verify(&Req::new(BODY).inbound(), &secrets),
            Err(VerifyError::Missing("sentry-hook-signature"))
        );
    }

    #[test]
    fn rotation_accepts_any_configured_secret() {
        let r = Req::new(BODY).header("sentry-hook-signature", SIG);
        let secrets = [Secret::new("previous-secret"), Secret::new(SECRET)];
        assert_eq!(Sentry.verify(&r.inbound(), &secrets), Ok(()));
    }

    #[test]
    fn issue_created_normalizes() {
        let r = Req::new(BODY)
            .header("content-type", "application/json")
            .header("sentry-hook-resource", "issue")
            .header("sentry-hook-timestamp", "1714478400")
            .header("request-id", "c1b3e5a2-5d6f-4a8b-9c0d-1e2f3a4b5c6d");
        let n = Sentry.normalize(&r.inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "issue.created");
        assert_eq!(
            n.delivery_id.as_deref(),
            Some("c1b3e5a2-5d6f-4a8b-9c0d-1e2f3a4b5c6d")
        );
        assert_eq!(n.source.as_deref(), Some("web"));
        assert_eq!(
            n.subject.as_deref(),
            Some("https://example.sentry.io/organizations/example/issues/1170820242/")
        );
        assert_eq!(n.actor.as_deref(), Some("Meredith Heller"));
        assert_eq!(n.thread_key.as_deref(), Some("sentry:1170820242"));
    }

    #[test]
    fn resource_alone_names_actionless_events() {
        let r = Req::new(r#"{"data":{"event":{"title":"x"}},"actor":{"id":"sentry"}}"#)
            .header("sentry-hook-resource", "error");
        let n = Sentry.normalize(&r.inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "error");
        assert_eq!(n.actor.as_deref(), Some("sentry"));
        assert_eq!(n.thread_key, None);
    }

    #[test]
    fn missing_resource_bad_json_and_wrong_media_type() {
        let r = Req::new(BODY);
        assert!(matches!(
            Sentry.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
        let r = Req::new("{\"action\"").header("sentry-hook-resource", "issue");
        assert!(matches!(
            Sentry.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
        let r = Req::new(BODY)
            .header("sentry-hook-resource", "issue")
            .header("content-type", "text/html");
        assert!(matches!(
            Sentry.normalize(&r.inbound()),
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
            let sig = hex::encode(testkit::hmac_sha256(&key, &body));
            let secrets = [Secret::new(key)];
            let r = Req::new(body.clone()).header("sentry-hook-signature", &sig);
            prop_assert_eq!(Sentry.verify(&r.inbound(), &secrets), Ok(()));
            if !body.is_empty() {
                let mut bad = body;
                let i = flip.index(bad.len());
                bad[i] ^= 1 << bit;
                let r = Req::new(bad).header("sentry-hook-signature", &sig);
                prop_assert_eq!(Sentry.verify(&r.inbound(), &secrets), Err(VerifyError::Mismatch));
            }
        }

        #[test]
        fn never_panics(sig in testkit::header_bytes(),
                        resource in testkit::header_bytes(),
                        body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let r = Req::new(body)
                .raw_header("sentry-hook-signature", &sig)
                .raw_header("sentry-hook-resource", &resource);
            let _ = Sentry.verify(&r.inbound(), &[Secret::new(SECRET)]);
            let _ = Sentry.normalize(&r.inbound());
        }
    }
}
