//! Jira Cloud. Admin webhooks registered with a secret carry
//! `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>` (the WebSub signature
//! format). Webhooks without a secret, including those registered by Connect and
//! OAuth apps, are unsigned, so with no secret configured requests are accepted
//! unsigned, as the seed's "No signature validation" endpoint does. The event name is
//! the body's `webhookEvent` (`jira:issue_created`, `comment_created`); the delivery
//! id is `X-Atlassian-Webhook-Identifier`, which stays the same across retries.
//! Follows "Webhooks", sections "Secure admin webhooks" and "Webhook delivery headers":
//! <https://developer.atlassian.com/cloud/jira/platform/webhooks/>

use crate::event::str_at;
use crate::provider::{Inbound, ParseError, Provider, Secret, VerifyError};
use crate::sig::{self, Algorithm, Encoding};
use crate::{EventType, Normalized};

pub struct Jira;

impl Provider for Jira {
    fn name(&self) -> &'static str {
        "jira"
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
            "x-hub-signature",
            "sha256=",
            Algorithm::Sha256,
            Encoding::Hex,
        )
    }

    fn normalize(&self, req: &Inbound<'_>) -> Result<Normalized, ParseError> {
        let payload = sig::json_body(req)?;
        let event = match str_at(&payload, "/webhookEvent") {
            Some(e) if !e.is_empty() => e,
            _ => {
                return Err(ParseError::Malformed(
                    "body has no webhookEvent string".into(),
                ))
            }
        };
        let mut n = Normalized::new(EventType::sanitized(&event), payload);
        n.delivery_id = req
            .header("x-atlassian-webhook-identifier")
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let p = &n.payload;
        n.source = str_at(p, "/issue/fields/project/key");
        n.subject = str_at(p, "/issue/self");
        // Issue events name the user who acted in `user`; comment events carry only
        // the comment's author.
        n.actor = str_at(p, "/user/accountId")
            .or_else(|| str_at(p, "/user/displayName"))
            .or_else(|| str_at(p, "/comment/author/accountId"))
            .or_else(|| str_at(p, "/comment/author/displayName"));
        n.thread_key = str_at(p, "/issue/key").map(|k| format!("jira:{k}"));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testkit::{self, Req};
    use proptest::prelude::*;

    // Atlassian publishes no test vector. The signature below was computed outside
    // this code: printf '%s' "$BODY" | openssl dgst -sha256 -hmac 'jira-s3cret'
    const SECRET: &str = "jira-s3cret";
    const BODY: &str = r#"{"timestamp":1714478400000,"webhookEvent":"jira:issue_created","issue_event_type_name":"issue_created","user":{"accountId":"5b10a2844c20165700ede21g","displayName":"Mia Krystof"},"issue":{"id":"10002","self":"https://example.atlassian.net/rest/api/2/issue/10002","key":"OPS-7","fields":{"summary":"Disk full on db-1","project":{"id":"10000","key":"OPS","name":"Operations"}}}}"#;
    const SIG: &str = "sha256=aecb41a7a6f372837a8a5fd82702bb0a8be188391aa8160d619110c936d3d4b3";

    #[test]
    fn signed_request_verifies() {
        let r = Req::new(BODY).header("x-hub-signature", SIG);
        assert_eq!(Jira.verify(&r.inbound(), &[Secret::new(SECRET)]), Ok(()));
    }

    #[test]
    fn tampered_forged_and_unsigned_are_refused_when_a_secret_is_set() {
        let secrets = [Secret::new(SECRET)];
        let tampered = Req::new(BODY.replace("OPS-7", "OPS-8")).header("x-hub-signature", SIG);
        assert_eq!(
            Jira.verify(&tampered.inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
        let r = Req::new(BODY).header("x-hub-signature", SIG);
        assert_eq!(
            Jira.verify(&r.inbound(), &[Secret::new("jira-s3cret2")]),
            Err(VerifyError::Mismatch)
        );
        let unsigned = Req::new(BODY);
        assert_eq!(
            Jira.verify(&unsigned.inbound(), &secrets),
            Err(VerifyError::Missing("x-hub-signature"))
        );
        let sha1 = Req::new(BODY).header("x-hub-signature", "sha1=abcd");
        assert!(matches!(
            Jira.verify(&sha1.inbound(), &secrets),
            Err(VerifyError::Malformed(_))
        ));
    }

    #[test]
    fn unsigned_is_accepted_without_a_secret() {
        let r = Req::new(BODY);
        assert_eq!(Jira.verify(&r.inbound(), &[]), Ok(()));
    }

    #[test]
    fn rotation_accepts_any_configured_secret() {
        let r = Req::new(BODY).header("x-hub-signature", SIG);
        let secrets = [Secret::new("previous"), Secret::new(SECRET)];
        assert_eq!(Jira.verify(&r.inbound(), &secrets), Ok(()));
    }

    #[test]
    fn issue_created_normalizes() {
        let r = Req::new(BODY)
            .header("content-type", "application/json; charset=utf-8")
            .header(
                "x-atlassian-webhook-identifier",
                "5a7a0c7e-2b4e-4a6f-9d8c-0d3f1a2b3c4d",
            );
        let n = Jira.normalize(&r.inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "jira:issue_created");
        assert_eq!(
            n.delivery_id.as_deref(),
            Some("5a7a0c7e-2b4e-4a6f-9d8c-0d3f1a2b3c4d")
        );
        assert_eq!(n.source.as_deref(), Some("OPS"));
        assert_eq!(
            n.subject.as_deref(),
            Some("https://example.atlassian.net/rest/api/2/issue/10002")
        );
        assert_eq!(n.actor.as_deref(), Some("5b10a2844c20165700ede21g"));
        assert_eq!(n.thread_key.as_deref(), Some("jira:OPS-7"));
    }

    #[test]
    fn comment_created_threads_on_its_issue() {
        let body = r#"{"timestamp":1714478460000,"webhookEvent":"comment_created","comment":{"id":"10100","body":"On it","author":{"accountId":"5b10ac8d82e05b22cc7d4ef5","displayName":"Ana"}},"issue":{"id":"10002","self":"https://example.atlassian.net/rest/api/2/issue/10002","key":"OPS-7","fields":{"project":{"key":"OPS"}}}}"#;
        let n = Jira.normalize(&Req::new(body).inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "comment_created");
        assert_eq!(n.thread_key.as_deref(), Some("jira:OPS-7"));
        assert_eq!(n.actor.as_deref(), Some("5b10ac8d82e05b22cc7d4ef5"));
    }

    #[test]
    fn missing_webhook_event_bad_json_and_wrong_media_type() {
        let r = Req::new(r#"{"issue":{"key":"OPS-7"}}"#);
        assert!(matches!(
            Jira.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
        let r = Req::new("{\"webhookEvent\":");
        assert!(matches!(
            Jira.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
        let r = Req::new(BODY).header("content-type", "application/x-www-form-urlencoded");
        assert!(matches!(
            Jira.normalize(&r.inbound()),
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
            let r = Req::new(body.clone()).header("x-hub-signature", &sig);
            prop_assert_eq!(Jira.verify(&r.inbound(), &secrets), Ok(()));
            if !body.is_empty() {
                let mut bad = body;
                let i = flip.index(bad.len());
                bad[i] ^= 1 << bit;
                let r = Req::new(bad).header("x-hub-signature", &sig);
                prop_assert_eq!(Jira.verify(&r.inbound(), &secrets), Err(VerifyError::Mismatch));
            }
        }

        #[test]
        fn never_panics(sig in testkit::header_bytes(),
                        body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let r = Req::new(body).raw_header("x-hub-signature", &sig);
            let _ = Jira.verify(&r.inbound(), &[Secret::new(SECRET)]);
            let _ = Jira.normalize(&r.inbound());
        }
    }
}
