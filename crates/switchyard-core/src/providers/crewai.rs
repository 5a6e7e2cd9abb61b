//! CrewAI execution events (seed 000): `POST /webhook/crewai?event=task|step|crew`.
//! Signed like the generic endpoint with `X-Webhook-Signature`, or authorised with
//! `Authorization: Bearer <WEBHOOK_SECRET>`, which is how CrewAI's own webhook
//! settings send a token.

use subtle::ConstantTimeEq;

use crate::event::{str_at, text_at};
use crate::provider::{Inbound, ParseError, Provider, Secret, VerifyError};
use crate::providers::generic::{idempotency_header, verify_x_webhook_signature};
use crate::sig;
use crate::{EventType, Normalized};

pub struct CrewAi;

/// The `event` query values CrewAI's task, step and crew webhook URLs carry.
pub const EVENTS: &[&str] = &["task", "step", "crew"];

impl Provider for CrewAi {
    fn name(&self) -> &'static str {
        "crewai"
    }

    fn requires_secret(&self) -> bool {
        false
    }

    fn verify(&self, req: &Inbound<'_>, secrets: &[Secret]) -> Result<(), VerifyError> {
        if secrets.is_empty() {
            return Ok(());
        }
        if req.is_repeated("authorization") {
            return Err(VerifyError::Malformed("authorization"));
        }
        if let Some(auth) = req.header("authorization") {
            let token = auth
                .strip_prefix("Bearer ")
                .or_else(|| auth.strip_prefix("bearer "))
                .ok_or(VerifyError::Malformed("authorization"))?;
            let mut ok = false;
            for s in secrets {
                ok |= s.expose().len() == token.len()
                    && bool::from(s.expose().ct_eq(token.as_bytes()));
            }
            return if ok {
                Ok(())
            } else {
                Err(VerifyError::Mismatch)
            };
        }
        // Seed 000 signs with `X-CrewAI-Signature: sha256=<hex>` (bare hex too).
        const SEED_000: &str = "x-crewai-signature";
        if let Some(v) = req.header(SEED_000) {
            let prefix = if v.len() >= 7 && v[..7].eq_ignore_ascii_case("sha256=") {
                "sha256="
            } else {
                ""
            };
            return sig::verify_body_hmac(
                req,
                secrets,
                SEED_000,
                prefix,
                sig::Algorithm::Sha256,
                sig::Encoding::Hex,
            );
        }
        verify_x_webhook_signature(req, secrets).map_err(|e| match e {
            VerifyError::Missing(_) => {
                VerifyError::Missing("x-webhook-signature, x-crewai-signature or authorization")
            }
            other => other,
        })
    }

    fn normalize(&self, req: &Inbound<'_>) -> Result<Normalized, ParseError> {
        let kind = req
            .query_param("event")
            .unwrap_or_else(|| "crew".to_owned());
        if !EVENTS.contains(&kind.as_str()) {
            return Err(ParseError::Malformed(format!(
                "query parameter event must be one of task, step, crew; got {kind:?}"
            )));
        }
        let payload = sig::json_body(req)?;
        if !payload.is_object() {
            return Err(ParseError::Malformed("body must be a JSON object".into()));
        }
        // A checkpoint (seed 000) names itself with `checkpoint_id`; it is kept apart
        // so rules and the checkpoint machinery can find it by type.
        let event_type = if payload.get("checkpoint_id").is_some() {
            format!("crewai.{kind}.checkpoint")
        } else {
            format!("crewai.{kind}")
        };
        let mut n = Normalized::new(EventType::sanitized(&event_type), payload);
        // The body's own `event_id` comes before `x-request-id`, which the server
        // sets on every request that lacks one (it would hide the body's id).
        n.delivery_id = req
            .header("x-webhook-id")
            .or_else(|| req.header("idempotency-key"))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .or_else(|| str_at(&n.payload, "/event_id"))
            .or_else(|| idempotency_header(req));
        let kickoff =
            text_at(&n.payload, "/kickoff_id").or_else(|| text_at(&n.payload, "/execution_id"));
        n.source = kickoff.clone();
        n.thread_key = kickoff.map(|k| format!("crewai:{k}"));
        n.actor = str_at(&n.payload, "/agent").or_else(|| str_at(&n.payload, "/agent_role"));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testkit::Req;

    #[test]
    fn bearer_token_or_signature() {
        let secrets = [Secret::new("tok")];
        let bearer = Req::new("{}").header("authorization", "Bearer tok");
        assert_eq!(CrewAi.verify(&bearer.inbound(), &secrets), Ok(()));
        let wrong = Req::new("{}").header("authorization", "Bearer tok2");
        assert_eq!(
            CrewAi.verify(&wrong.inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
        let sig = hex::encode(sig::hmac_sha256(b"tok", &[b"{}"]));
        let signed = Req::new("{}").header("x-webhook-signature", &sig);
        assert_eq!(CrewAi.verify(&signed.inbound(), &secrets), Ok(()));
        let none = Req::new("{}");
        assert!(matches!(
            CrewAi.verify(&none.inbound(), &secrets),
            Err(VerifyError::Missing(_))
        ));
    }

    /// Seed 000's `send_checkpoint_webhook` header, with and without `sha256=`.
    #[test]
    fn seed_000_signature_header() {
        let secrets = [Secret::new("seed-secret")];
        let body =
            r#"{"checkpoint_id":"cp-1","checkpoint_name":"review","kickoff_id":"k1","context":{}}"#;
        let hexsig = hex::encode(sig::hmac_sha256(b"seed-secret", &[body.as_bytes()]));
        for value in [
            format!("sha256={hexsig}"),
            hexsig.clone(),
            format!("SHA256={hexsig}"),
        ] {
            let r = Req::new(body).header("x-crewai-signature", &value);
            assert_eq!(CrewAi.verify(&r.inbound(), &secrets), Ok(()), "{value}");
        }
        let forged =
            Req::new(body).header("x-crewai-signature", &format!("sha256={}", "0".repeat(64)));
        assert_eq!(
            CrewAi.verify(&forged.inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
        let twice = Req::new(body)
            .header("x-crewai-signature", &hexsig)
            .also("x-crewai-signature", &hexsig);
        assert!(CrewAi.verify(&twice.inbound(), &secrets).is_err());
    }

    #[test]
    fn event_kinds_and_checkpoints() {
        let r = Req::new(r#"{"kickoff_id":"k1","task":"plan"}"#).query("event=task");
        let n = CrewAi.normalize(&r.inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "crewai.task");
        assert_eq!(n.thread_key.as_deref(), Some("crewai:k1"));
        let r = Req::new(r#"{"kickoff_id":"k1","checkpoint_id":"c1"}"#).query("event=step");
        assert_eq!(
            CrewAi.normalize(&r.inbound()).unwrap().event_type.as_str(),
            "crewai.step.checkpoint"
        );
        let r = Req::new("{}").query("event=bogus");
        assert!(matches!(
            CrewAi.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
    }
}
