//! Slack: signing secret v0. The base string is
//! `v0:{X-Slack-Request-Timestamp}:{raw body}`, signed with HMAC-SHA256 and sent as
//! `X-Slack-Signature: v0=<hex>`. Requests more than five minutes from now are refused
//! as replays. Events API requests are JSON (`url_verification`, `event_callback`);
//! slash commands are forms; interactivity is a form whose `payload` field is JSON.
//! Follows "Verifying requests from Slack", including its worked example:
//! <https://api.slack.com/authentication/verifying-requests-from-slack>, and the
//! Events API's `url_verification` handshake and message subscription names
//! (`message.channels`, `message.groups`, `message.im`, `message.mpim`):
//! <https://api.slack.com/apis/events-api>

use crate::event::str_at;
use crate::provider::{Inbound, ParseError, Provider, Secret, VerifyError};
use crate::sig::{self, Algorithm};
use crate::{EventType, Normalized, Reply};

pub struct Slack;

const SIGNATURE: &str = "x-slack-signature";
const TIMESTAMP: &str = "x-slack-request-timestamp";

/// How far, in seconds, a request's timestamp may be from now.
pub const TOLERANCE: i64 = 300;

impl Provider for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn requires_secret(&self) -> bool {
        true
    }

    fn verify(&self, req: &Inbound<'_>, secrets: &[Secret]) -> Result<(), VerifyError> {
        let value = req.signature_header(SIGNATURE)?;
        let ts_text = req.signature_header(TIMESTAMP)?;
        let ts: i64 = ts_text
            .parse()
            .map_err(|_| VerifyError::Malformed(TIMESTAMP))?;
        let given = value
            .strip_prefix("v0=")
            .and_then(|h| hex::decode(h).ok())
            .ok_or(VerifyError::Malformed(SIGNATURE))?;
        // Slack's recipe checks the timestamp first: a replayed request fails here
        // whatever its signature.
        sig::check_window(ts, req.now, TOLERANCE)?;
        // The timestamp is signed exactly as it was sent, not as it parsed.
        let parts: [&[u8]; 4] = [b"v0:", ts_text.as_bytes(), b":", req.body];
        if sig::any_secret_matches(Algorithm::Sha256, secrets, &parts, &given) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }

    fn normalize(&self, req: &Inbound<'_>) -> Result<Normalized, ParseError> {
        let payload = sig::json_or_form_body(req)?;
        if !payload.is_object() {
            return Err(ParseError::Malformed("body must be an object".into()));
        }
        let top = str_at(&payload, "/type");
        let mut reply = None;
        let mut delivery_id = None;
        let mut thread_ts = None;
        let event_type = match top.as_deref() {
            Some("url_verification") => {
                let challenge = str_at(&payload, "/challenge").ok_or_else(|| {
                    ParseError::Malformed("url_verification without a challenge".into())
                })?;
                reply = Some(Reply::Json(serde_json::json!({ "challenge": challenge })));
                "url_verification".to_owned()
            }
            Some("event_callback") => {
                let inner = str_at(&payload, "/event/type").ok_or_else(|| {
                    ParseError::Malformed("event_callback without event.type".into())
                })?;
                delivery_id = str_at(&payload, "/event_id");
                thread_ts =
                    str_at(&payload, "/event/thread_ts").or_else(|| str_at(&payload, "/event/ts"));
                if inner == "message" {
                    // Named as the subscription that delivers it.
                    match str_at(&payload, "/event/channel_type").as_deref() {
                        Some("channel") => "message.channels".to_owned(),
                        Some("group") => "message.groups".to_owned(),
                        Some("im") => "message.im".to_owned(),
                        Some("mpim") => "message.mpim".to_owned(),
                        _ => inner,
                    }
                } else {
                    inner
                }
            }
            // Interactivity payloads (`block_actions`, `view_submission`, ...) and any
            // other typed body keep their own type.
            Some(t) if !t.is_empty() => {
                thread_ts = str_at(&payload, "/container/thread_ts")
                    .or_else(|| str_at(&payload, "/container/message_ts"));
                t.to_owned()
            }
            _ if payload.get("command").is_some() => "slash_command".to_owned(),
            // Slack checks a slash command's certificate with a form holding
            // `ssl_check=1`; it expects an ordinary 200.
            _ if payload.get("ssl_check").is_some() => "ssl_check".to_owned(),
            // Slack's (legacy) outgoing webhooks post a form for each message in a
            // public channel that starts with a trigger word: `channel_name`, `text`,
            // `timestamp`, `trigger_word`. That is a message in a channel, and it is
            // the shape seed 002's Slack example (`{{text}}`, `#engineering`) reads.
            _ if payload.get("channel_name").is_some() && payload.get("timestamp").is_some() => {
                thread_ts = str_at(&payload, "/timestamp");
                delivery_id = match (str_at(&payload, "/channel_id"), &thread_ts) {
                    (Some(c), Some(ts)) => Some(format!("{c}:{ts}")),
                    _ => None,
                };
                "message.channels".to_owned()
            }
            _ => {
                return Err(ParseError::Malformed(
                    "body is not an event, a slash command or an interaction".into(),
                ))
            }
        };
        let mut n = Normalized::new(EventType::sanitized(&event_type), payload);
        n.reply = reply;
        n.delivery_id = delivery_id.filter(|s| !s.is_empty());
        let p = &n.payload;
        n.source = str_at(p, "/event/channel")
            .or_else(|| str_at(p, "/event/item/channel"))
            .or_else(|| str_at(p, "/channel_id"))
            .or_else(|| str_at(p, "/channel/id"))
            .or_else(|| str_at(p, "/container/channel_id"));
        n.actor = str_at(p, "/event/user")
            .or_else(|| str_at(p, "/event/user/id"))
            .or_else(|| str_at(p, "/user_id"))
            .or_else(|| str_at(p, "/user/id"));
        n.thread_key = match (&n.source, thread_ts) {
            (Some(channel), Some(ts)) => Some(format!("slack:{channel}:{ts}")),
            _ => None,
        };
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testkit::{self, Req};
    use proptest::prelude::*;

    // The worked example in Slack's "Verifying requests from Slack".
    const DOC_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const DOC_TS: &str = "1531420618";
    const DOC_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const DOC_SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const DOC_NOW: i64 = 1_531_420_618;

    fn doc_request(body: &str) -> Req {
        Req::new(body)
            .header("x-slack-signature", DOC_SIG)
            .header("x-slack-request-timestamp", DOC_TS)
            .header("content-type", "application/x-www-form-urlencoded")
            .now(DOC_NOW + 60)
    }

    #[test]
    fn slack_docs_vector_verifies() {
        let r = doc_request(DOC_BODY);
        assert_eq!(
            Slack.verify(&r.inbound(), &[Secret::new(DOC_SECRET)]),
            Ok(())
        );
    }

    #[test]
    fn tampered_forged_and_unsigned_are_refused() {
        let secrets = [Secret::new(DOC_SECRET)];
        let tampered = doc_request(&DOC_BODY.replace("roadrunner", "coyote"));
        assert_eq!(
            Slack.verify(&tampered.inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            Slack.verify(
                &doc_request(DOC_BODY).inbound(),
                &[Secret::new("8f742231b10e8888abcd99yyyzzz85a6")]
            ),
            Err(VerifyError::Mismatch)
        );
        // A different timestamp is part of what is signed.
        let moved = Req::new(DOC_BODY)
            .header("x-slack-signature", DOC_SIG)
            .header("x-slack-request-timestamp", "1531420619")
            .now(DOC_NOW);
        assert_eq!(
            Slack.verify(&moved.inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
        let unsigned = Req::new(DOC_BODY)
            .header("x-slack-request-timestamp", DOC_TS)
            .now(DOC_NOW);
        assert_eq!(
            Slack.verify(&unsigned.inbound(), &secrets),
            Err(VerifyError::Missing("x-slack-signature"))
        );
        let no_ts = Req::new(DOC_BODY)
            .header("x-slack-signature", DOC_SIG)
            .now(DOC_NOW);
        assert_eq!(
            Slack.verify(&no_ts.inbound(), &secrets),
            Err(VerifyError::Missing("x-slack-request-timestamp"))
        );
        let bad_ts = Req::new(DOC_BODY)
            .header("x-slack-signature", DOC_SIG)
            .header("x-slack-request-timestamp", "yesterday");
        assert_eq!(
            Slack.verify(&bad_ts.inbound(), &secrets),
            Err(VerifyError::Malformed("x-slack-request-timestamp"))
        );
        let v1 = Req::new(DOC_BODY)
            .header("x-slack-signature", "v1=abcd")
            .header("x-slack-request-timestamp", DOC_TS)
            .now(DOC_NOW);
        assert_eq!(
            Slack.verify(&v1.inbound(), &secrets),
            Err(VerifyError::Malformed("x-slack-signature"))
        );
    }

    #[test]
    fn stale_timestamps_are_refused_both_ways() {
        let secrets = [Secret::new(DOC_SECRET)];
        let at = |now: i64| doc_request(DOC_BODY).now(now);
        assert_eq!(Slack.verify(&at(DOC_NOW + 300).inbound(), &secrets), Ok(()));
        assert_eq!(
            Slack.verify(&at(DOC_NOW + 301).inbound(), &secrets),
            Err(VerifyError::Stale(300))
        );
        assert_eq!(
            Slack.verify(&at(DOC_NOW - 301).inbound(), &secrets),
            Err(VerifyError::Stale(300))
        );
    }

    #[test]
    fn rotation_accepts_any_configured_secret() {
        let secrets = [Secret::new("old-signing-secret"), Secret::new(DOC_SECRET)];
        assert_eq!(
            Slack.verify(&doc_request(DOC_BODY).inbound(), &secrets),
            Ok(())
        );
    }

    #[test]
    fn outgoing_webhook_form_is_a_channel_message() {
        let body = "token=t&team_id=T1&channel_id=C0ENG&channel_name=engineering&timestamp=1700000000.000100&user_id=U1&user_name=alice&text=deploy+staging&trigger_word=deploy";
        let r = Req::new(body).header("content-type", "application/x-www-form-urlencoded");
        let n = Slack.normalize(&r.inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "message.channels");
        assert_eq!(n.payload["text"], "deploy staging");
        assert_eq!(n.delivery_id.as_deref(), Some("C0ENG:1700000000.000100"));
        assert_eq!(
            n.thread_key.as_deref(),
            Some("slack:C0ENG:1700000000.000100")
        );
    }

    #[test]
    fn docs_slash_command_normalizes() {
        let n = Slack.normalize(&doc_request(DOC_BODY).inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "slash_command");
        assert_eq!(n.payload["command"], "/webhook-collect");
        assert_eq!(n.source.as_deref(), Some("G8PSS9T3V"));
        assert_eq!(n.actor.as_deref(), Some("U2CERLKJA"));
        assert_eq!(n.delivery_id, None);
        assert_eq!(n.thread_key, None);
        assert_eq!(n.reply, None);
    }

    #[test]
    fn url_verification_replies_with_the_challenge() {
        let body = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        let r = Req::new(body).header("content-type", "application/json");
        let n = Slack.normalize(&r.inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "url_verification");
        assert_eq!(
            n.reply,
            Some(Reply::Json(serde_json::json!({
                "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
            })))
        );
        let r = Req::new(r#"{"type":"url_verification"}"#);
        assert!(matches!(
            Slack.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
    }

    #[test]
    fn channel_message_in_a_thread_normalizes() {
        let body = r#"{"token":"XXYYZZ","team_id":"T123ABC456","api_app_id":"A123ABC456","event":{"type":"message","channel":"C123ABC456","user":"U123ABC456","text":"Is the deploy done?","ts":"1355517523.000005","thread_ts":"1355517500.000001","channel_type":"channel","event_ts":"1355517523.000005"},"type":"event_callback","event_id":"Ev123ABC456","event_time":1355517523}"#;
        let r = Req::new(body)
            .header("content-type", "application/json")
            .header("x-slack-retry-num", "1");
        let n = Slack.normalize(&r.inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "message.channels");
        assert_eq!(n.delivery_id.as_deref(), Some("Ev123ABC456"));
        assert_eq!(n.source.as_deref(), Some("C123ABC456"));
        assert_eq!(n.actor.as_deref(), Some("U123ABC456"));
        assert_eq!(
            n.thread_key.as_deref(),
            Some("slack:C123ABC456:1355517500.000001")
        );
        assert_eq!(n.reply, None);
    }

    #[test]
    fn message_kinds_follow_channel_type() {
        for (channel_type, want) in [
            (Some("channel"), "message.channels"),
            (Some("group"), "message.groups"),
            (Some("im"), "message.im"),
            (Some("mpim"), "message.mpim"),
            (None, "message"),
        ] {
            let mut event = serde_json::json!({"type": "message", "channel": "D1", "ts": "1.2"});
            if let Some(ct) = channel_type {
                event["channel_type"] = ct.into();
            }
            let body =
                serde_json::json!({"type": "event_callback", "event_id": "Ev1", "event": event});
            let n = Slack
                .normalize(&Req::new(body.to_string()).inbound())
                .unwrap();
            assert_eq!(n.event_type.as_str(), want);
            // Without thread_ts the message starts its own thread.
            assert_eq!(n.thread_key.as_deref(), Some("slack:D1:1.2"));
        }
        let body = r#"{"type":"event_callback","event_id":"Ev2","event":{"type":"app_mention","channel":"C1","user":"U1","ts":"9.9"}}"#;
        let n = Slack.normalize(&Req::new(body).inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "app_mention");
        let body = r#"{"type":"event_callback","event_id":"Ev3","event":{"type":"reaction_added","user":"U1","reaction":"eyes","item":{"type":"message","channel":"C9","ts":"1.0"}}}"#;
        let n = Slack.normalize(&Req::new(body).inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "reaction_added");
        assert_eq!(n.source.as_deref(), Some("C9"));
    }

    #[test]
    fn block_actions_payload_normalizes() {
        let payload = r#"{"type":"block_actions","user":{"id":"U2CERLKJA","username":"roadrunner"},"channel":{"id":"C123ABC456","name":"ops"},"container":{"type":"message","message_ts":"1548261231.000200","channel_id":"C123ABC456","thread_ts":"1548261200.000100"},"actions":[{"action_id":"approve","value":"yes"}]}"#;
        let body: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", payload)
            .finish();
        let r = Req::new(body).header("content-type", "application/x-www-form-urlencoded");
        let n = Slack.normalize(&r.inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "block_actions");
        assert_eq!(n.source.as_deref(), Some("C123ABC456"));
        assert_eq!(n.actor.as_deref(), Some("U2CERLKJA"));
        assert_eq!(
            n.thread_key.as_deref(),
            Some("slack:C123ABC456:1548261200.000100")
        );
    }

    #[test]
    fn malformed_and_unsupported_bodies() {
        for body in [
            "{not json",
            "[1,2]",
            r#"{"type":"event_callback","event":{}}"#,
            "{}",
        ] {
            let r = Req::new(body).header("content-type", "application/json");
            assert!(
                matches!(Slack.normalize(&r.inbound()), Err(ParseError::Malformed(_))),
                "{body}"
            );
        }
        let r = Req::new("text=hi").header("content-type", "application/x-www-form-urlencoded");
        assert!(matches!(
            Slack.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
        let r = Req::new(DOC_BODY).header("content-type", "multipart/form-data");
        assert!(matches!(
            Slack.normalize(&r.inbound()),
            Err(ParseError::UnsupportedMedia(_))
        ));
    }

    fn sign(key: &[u8], ts: i64, body: &[u8]) -> String {
        let mut base = format!("v0:{ts}:").into_bytes();
        base.extend_from_slice(body);
        format!("v0={}", hex::encode(testkit::hmac_sha256(key, &base)))
    }

    proptest! {
        #[test]
        fn signed_bodies_verify_and_any_flipped_byte_fails(
            body in proptest::collection::vec(any::<u8>(), 0..256),
            key in proptest::collection::vec(any::<u8>(), 1..64),
            ts in 0i64..4_000_000_000,
            skew in -TOLERANCE..=TOLERANCE,
            flip in any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            let sig = sign(&key, ts, &body);
            let secrets = [Secret::new(key)];
            let req = |b: Vec<u8>| Req::new(b)
                .header("x-slack-signature", &sig)
                .header("x-slack-request-timestamp", &ts.to_string())
                .now(ts + skew);
            prop_assert_eq!(Slack.verify(&req(body.clone()).inbound(), &secrets), Ok(()));
            if !body.is_empty() {
                let mut bad = body;
                let i = flip.index(bad.len());
                bad[i] ^= 1 << bit;
                prop_assert_eq!(Slack.verify(&req(bad).inbound(), &secrets), Err(VerifyError::Mismatch));
            }
        }

        #[test]
        fn never_panics(sig in testkit::header_bytes(),
                        ts in testkit::header_bytes(),
                        ct in testkit::header_bytes(),
                        body in proptest::collection::vec(any::<u8>(), 0..256),
                        now in any::<i64>()) {
            let r = Req::new(body)
                .raw_header("x-slack-signature", &sig)
                .raw_header("x-slack-request-timestamp", &ts)
                .raw_header("content-type", &ct)
                .now(now);
            let _ = Slack.verify(&r.inbound(), &[Secret::new(DOC_SECRET)]);
            let _ = Slack.normalize(&r.inbound());
        }
    }
}
