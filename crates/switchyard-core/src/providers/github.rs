//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`, event name in
//! `X-GitHub-Event`, delivery id in `X-GitHub-Delivery`. Bodies are JSON or a form
//! with a `payload` field, as the hook's content type says.
//! <https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries>

use crate::event::{str_at, text_at};
use crate::provider::{Inbound, ParseError, Provider, Secret, VerifyError};
use crate::sig::{self, Algorithm, Encoding};
use crate::{EventType, Normalized};

pub struct GitHub;

impl Provider for GitHub {
    fn name(&self) -> &'static str {
        "github"
    }

    fn requires_secret(&self) -> bool {
        true
    }

    fn verify(&self, req: &Inbound<'_>, secrets: &[Secret]) -> Result<(), VerifyError> {
        sig::verify_body_hmac(
            req,
            secrets,
            "x-hub-signature-256",
            "sha256=",
            Algorithm::Sha256,
            Encoding::Hex,
        )
    }

    fn normalize(&self, req: &Inbound<'_>) -> Result<Normalized, ParseError> {
        let event = req
            .header("x-github-event")
            .ok_or_else(|| ParseError::Malformed("missing X-GitHub-Event header".into()))?;
        let payload = sig::json_or_form_body(req)?;
        let event_type = match payload.get("action").and_then(|a| a.as_str()) {
            Some(action) => EventType::sanitized(&format!("{event}.{action}")),
            None => EventType::sanitized(event),
        };
        let mut n = Normalized::new(event_type, payload);
        n.delivery_id = req.header("x-github-delivery").map(str::to_owned);
        let p = &n.payload;
        n.source = str_at(p, "/repository/full_name").or_else(|| str_at(p, "/organization/login"));
        n.subject = str_at(p, "/issue/html_url")
            .or_else(|| str_at(p, "/pull_request/html_url"))
            .or_else(|| str_at(p, "/discussion/html_url"));
        n.actor = str_at(p, "/sender/login");
        let number = text_at(p, "/issue/number")
            .or_else(|| text_at(p, "/pull_request/number"))
            .or_else(|| text_at(p, "/discussion/number"));
        n.thread_key = match (&n.source, number) {
            (Some(repo), Some(num)) => Some(format!("github:{repo}#{num}")),
            _ => None,
        };
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testkit::Req;

    // GitHub's published test vector: secret "It's a Secret to Everybody",
    // payload "Hello, World!".
    const DOC_SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_docs_vector_verifies() {
        let r = Req::new("Hello, World!").header("x-hub-signature-256", DOC_SIG);
        let secrets = [Secret::new("It's a Secret to Everybody")];
        assert_eq!(GitHub.verify(&r.inbound(), &secrets), Ok(()));
    }

    #[test]
    fn forged_tampered_and_unsigned_are_refused() {
        let secrets = [Secret::new("It's a Secret to Everybody")];
        let tampered = Req::new("Hello, World?").header("x-hub-signature-256", DOC_SIG);
        assert_eq!(
            GitHub.verify(&tampered.inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
        let wrong_key = Req::new("Hello, World!").header("x-hub-signature-256", DOC_SIG);
        assert_eq!(
            GitHub.verify(&wrong_key.inbound(), &[Secret::new("nope")]),
            Err(VerifyError::Mismatch)
        );
        let unsigned = Req::new("Hello, World!");
        assert!(matches!(
            GitHub.verify(&unsigned.inbound(), &secrets),
            Err(VerifyError::Missing(_))
        ));
        let sha1_only = Req::new("Hello, World!").header("x-hub-signature-256", "sha1=abcd");
        assert!(matches!(
            GitHub.verify(&sha1_only.inbound(), &secrets),
            Err(VerifyError::Malformed(_))
        ));
    }

    #[test]
    fn a_repeated_signature_header_is_refused_whichever_comes_first() {
        let secrets = [Secret::new("It's a Secret to Everybody")];
        let bad = "sha256=0000000000000000000000000000000000000000000000000000000000000000";
        for (first, second) in [(DOC_SIG, bad), (bad, DOC_SIG), (DOC_SIG, DOC_SIG)] {
            let r = Req::new("Hello, World!")
                .header("x-hub-signature-256", first)
                .also("x-hub-signature-256", second);
            let err = GitHub
                .verify(&r.inbound(), &secrets)
                .expect_err("ambiguous");
            assert_eq!(err.code(), "signature_malformed", "{first} then {second}");
        }
    }

    #[test]
    fn rotation_accepts_any_configured_secret() {
        let r = Req::new("Hello, World!").header("x-hub-signature-256", DOC_SIG);
        let secrets = [
            Secret::new("old"),
            Secret::new("It's a Secret to Everybody"),
        ];
        assert_eq!(GitHub.verify(&r.inbound(), &secrets), Ok(()));
    }

    #[test]
    fn issues_opened_normalizes() {
        let body = r#"{"action":"opened","issue":{"number":7,"title":"Crash","html_url":"https://github.com/o/r/issues/7"},
                       "repository":{"full_name":"o/r"},"sender":{"login":"octocat"}}"#;
        let r = Req::new(body)
            .header("x-github-event", "issues")
            .header("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
            .header("content-type", "application/json");
        let n = GitHub.normalize(&r.inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "issues.opened");
        assert_eq!(
            n.delivery_id.as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
        assert_eq!(n.source.as_deref(), Some("o/r"));
        assert_eq!(
            n.subject.as_deref(),
            Some("https://github.com/o/r/issues/7")
        );
        assert_eq!(n.actor.as_deref(), Some("octocat"));
        assert_eq!(n.thread_key.as_deref(), Some("github:o/r#7"));
    }

    #[test]
    fn ping_has_no_action_and_form_bodies_decode() {
        let r = Req::new("payload=%7B%22zen%22%3A%22hi%22%7D")
            .header("x-github-event", "ping")
            .header("content-type", "application/x-www-form-urlencoded");
        let n = GitHub.normalize(&r.inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "ping");
        assert_eq!(n.payload["zen"], "hi");
    }

    #[test]
    fn missing_event_header_and_bad_json_are_malformed() {
        let r = Req::new("{}");
        assert!(matches!(
            GitHub.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
        let r = Req::new("{not json").header("x-github-event", "push");
        assert!(matches!(
            GitHub.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
        let r = Req::new("x")
            .header("x-github-event", "push")
            .header("content-type", "text/plain");
        assert!(matches!(
            GitHub.normalize(&r.inbound()),
            Err(ParseError::UnsupportedMedia(_))
        ));
    }
}
