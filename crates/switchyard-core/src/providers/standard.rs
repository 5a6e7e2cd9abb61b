//! Standard Webhooks (the scheme Svix, and through it Clerk, Resend and others, use).
//! Headers `webhook-id`, `webhook-timestamp` and `webhook-signature`, or the same with
//! a `svix-` prefix. The signed content is `{id}.{timestamp}.{raw body}`, HMAC-SHA256,
//! base64. The signature header is a space-separated list of `v1,<base64>` entries,
//! one per key while a key is rotated; any may match, and other versions (`v1a`,
//! asymmetric) are ignored. A secret written `whsec_<base64>` is that base64 decoded;
//! any other secret is used as raw bytes. Requests more than five minutes from now are
//! refused. Follows the specification, "Signature scheme", "Webhook headers" and
//! "Verifying signatures":
//! <https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>

use crate::event::str_at;
use crate::provider::{Inbound, ParseError, Provider, Secret, VerifyError};
use crate::sig::{self, Algorithm};
use crate::{EventType, Normalized};

pub struct Standard;

const ID: &str = "webhook-id";
const TIMESTAMP: &str = "webhook-timestamp";
const SIGNATURE: &str = "webhook-signature";

/// How far, in seconds, `webhook-timestamp` may be from now, as the reference
/// libraries allow.
pub const TOLERANCE: i64 = 300;

/// The `svix-*` twin of a `webhook-*` header.
fn svix_twin(name: &'static str) -> &'static str {
    match name {
        ID => "svix-id",
        TIMESTAMP => "svix-timestamp",
        _ => "svix-signature",
    }
}

/// A `webhook-*` header, or its `svix-*` twin.
fn header<'a>(req: &Inbound<'a>, name: &'static str) -> Option<&'a str> {
    req.header(name).or_else(|| req.header(svix_twin(name)))
}

/// The signing header a request uses — `webhook-*`, else its `svix-*` twin —
/// refusing it when it is sent twice (one header may list several signatures; the
/// header itself repeated is ambiguous).
fn signing_header<'a>(req: &Inbound<'a>, name: &'static str) -> Result<&'a str, VerifyError> {
    for n in [name, svix_twin(name)] {
        if req.is_repeated(n) {
            return Err(VerifyError::Malformed(n));
        }
        if let Some(v) = req.header(n) {
            return Ok(v);
        }
    }
    Err(VerifyError::Missing(name))
}

/// The HMAC key a configured secret stands for; `None` for a `whsec_` secret that is
/// not valid base64, which then matches nothing.
fn key_of(secret: &Secret) -> Option<Vec<u8>> {
    sig::standard_secret_key_bytes(secret.expose())
}

impl Provider for Standard {
    fn name(&self) -> &'static str {
        "standard"
    }

    fn requires_secret(&self) -> bool {
        true
    }

    fn verify(&self, req: &Inbound<'_>, secrets: &[Secret]) -> Result<(), VerifyError> {
        let value = signing_header(req, SIGNATURE)?;
        let id = signing_header(req, ID)?;
        let ts_text = signing_header(req, TIMESTAMP)?;
        let ts: i64 = ts_text
            .parse()
            .map_err(|_| VerifyError::Malformed(TIMESTAMP))?;
        // Entries of other versions are skipped; a `v1` entry that is not base64 can
        // match nothing and is skipped too.
        let given: Vec<Vec<u8>> = value
            .split_whitespace()
            .filter_map(|entry| entry.split_once(','))
            .filter(|(version, _)| *version == "v1")
            .filter_map(|(_, sig)| sig::decode(sig::Encoding::Base64, sig))
            .collect();
        if given.is_empty() {
            return Err(VerifyError::Malformed(SIGNATURE));
        }
        sig::check_window(ts, req.now, TOLERANCE)?;
        let parts: [&[u8]; 5] = [id.as_bytes(), b".", ts_text.as_bytes(), b".", req.body];
        // Every key is tried against every signature so that the time taken does not
        // reveal which matched.
        let mut ok = false;
        for key in secrets.iter().filter_map(key_of) {
            let expected = sig::hmac(Algorithm::Sha256, &key, &parts);
            for g in &given {
                ok |= sig::ct_eq(&expected, g);
            }
        }
        if ok {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }

    fn normalize(&self, req: &Inbound<'_>) -> Result<Normalized, ParseError> {
        let payload = sig::json_body(req)?;
        let event_type = str_at(&payload, "/type")
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "standard".to_owned());
        let mut n = Normalized::new(EventType::sanitized(&event_type), payload);
        n.delivery_id = header(req, ID).filter(|s| !s.is_empty()).map(str::to_owned);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testkit::{self, Req};
    use proptest::prelude::*;

    // The reference vector of the standard-webhooks repository, from the test
    // "sign function works" in libraries/javascript/src/webhook.test.ts (the other
    // libraries' tests use the same values).
    const DOC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const DOC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const DOC_TS: i64 = 1_614_265_330;
    const DOC_BODY: &str = r#"{"test": 2432232314}"#;
    const DOC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn doc_request(body: &str, sig: &str) -> Req {
        Req::new(body)
            .header("webhook-id", DOC_ID)
            .header("webhook-timestamp", &DOC_TS.to_string())
            .header("webhook-signature", sig)
            .now(DOC_TS + 10)
    }

    #[test]
    fn reference_vector_verifies() {
        let r = doc_request(DOC_BODY, DOC_SIG);
        assert_eq!(
            Standard.verify(&r.inbound(), &[Secret::new(DOC_SECRET)]),
            Ok(())
        );
    }

    #[test]
    fn svix_headers_are_accepted_too() {
        let r = Req::new(DOC_BODY)
            .header("svix-id", DOC_ID)
            .header("svix-timestamp", &DOC_TS.to_string())
            .header("svix-signature", DOC_SIG)
            .now(DOC_TS);
        assert_eq!(
            Standard.verify(&r.inbound(), &[Secret::new(DOC_SECRET)]),
            Ok(())
        );
        assert_eq!(
            Standard
                .normalize(&r.inbound())
                .unwrap()
                .delivery_id
                .as_deref(),
            Some(DOC_ID)
        );
    }

    #[test]
    fn tampered_forged_and_unsigned_are_refused() {
        let secrets = [Secret::new(DOC_SECRET)];
        let tampered = doc_request(r#"{"test": 2432232315}"#, DOC_SIG);
        assert_eq!(
            Standard.verify(&tampered.inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            Standard.verify(
                &doc_request(DOC_BODY, DOC_SIG).inbound(),
                &[Secret::new(
                    "whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA=="
                )]
            ),
            Err(VerifyError::Mismatch)
        );
        // The id and the timestamp are signed as well as the body.
        let other_id = doc_request(DOC_BODY, DOC_SIG).header("webhook-id", "msg_other");
        assert_eq!(
            Standard.verify(&other_id.inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
        let other_ts = doc_request(DOC_BODY, DOC_SIG).header("webhook-timestamp", "1614265331");
        assert_eq!(
            Standard.verify(&other_ts.inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
        let unsigned = Req::new(DOC_BODY)
            .header("webhook-id", DOC_ID)
            .header("webhook-timestamp", &DOC_TS.to_string())
            .now(DOC_TS);
        assert_eq!(
            Standard.verify(&unsigned.inbound(), &secrets),
            Err(VerifyError::Missing("webhook-signature"))
        );
        let no_id = Req::new(DOC_BODY)
            .header("webhook-timestamp", &DOC_TS.to_string())
            .header("webhook-signature", DOC_SIG)
            .now(DOC_TS);
        assert_eq!(
            Standard.verify(&no_id.inbound(), &secrets),
            Err(VerifyError::Missing("webhook-id"))
        );
        let bad_ts = doc_request(DOC_BODY, DOC_SIG).header("webhook-timestamp", "hello");
        assert_eq!(
            Standard.verify(&bad_ts.inbound(), &secrets),
            Err(VerifyError::Malformed("webhook-timestamp"))
        );
    }

    #[test]
    fn only_v1_entries_count_and_any_may_match() {
        let secrets = [Secret::new(DOC_SECRET)];
        // As in the reference libraries' "multi sig payload is valid" test.
        let multi = format!(
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {DOC_SIG} v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
        );
        assert_eq!(
            Standard.verify(&doc_request(DOC_BODY, &multi).inbound(), &secrets),
            Ok(())
        );
        // The right bytes under another version do not count.
        let v1a = "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(
            Standard.verify(&doc_request(DOC_BODY, v1a).inbound(), &secrets),
            Err(VerifyError::Malformed("webhook-signature"))
        );
        for partial in [
            "v1,",
            "v1,g0hM9SsE",
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ] {
            assert!(
                Standard
                    .verify(&doc_request(DOC_BODY, partial).inbound(), &secrets)
                    .is_err(),
                "{partial}"
            );
        }
    }

    #[test]
    fn secrets_without_the_prefix_are_raw_bytes() {
        // Computed outside this code:
        // printf '%s' 'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}' \
        //   | openssl dgst -sha256 -hmac 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' -binary | base64
        let raw_sig = "v1,ELhqG0Ku1gwOc1f4jyKdp3SFGFLAOdJ9bvpWLciCakI=";
        let r = doc_request(DOC_BODY, raw_sig);
        assert_eq!(
            Standard.verify(
                &r.inbound(),
                &[Secret::new("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
            ),
            Ok(())
        );
        assert_eq!(
            Standard.verify(&r.inbound(), &[Secret::new(DOC_SECRET)]),
            Err(VerifyError::Mismatch)
        );
        // A `whsec_` secret that is not base64 matches nothing.
        assert_eq!(
            Standard.verify(
                &doc_request(DOC_BODY, DOC_SIG).inbound(),
                &[Secret::new("whsec_!!")]
            ),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn stale_timestamps_are_refused_both_ways() {
        let secrets = [Secret::new(DOC_SECRET)];
        let at = |now| doc_request(DOC_BODY, DOC_SIG).now(now);
        assert_eq!(
            Standard.verify(&at(DOC_TS + 300).inbound(), &secrets),
            Ok(())
        );
        assert_eq!(
            Standard.verify(&at(DOC_TS + 301).inbound(), &secrets),
            Err(VerifyError::Stale(300))
        );
        assert_eq!(
            Standard.verify(&at(DOC_TS - 301).inbound(), &secrets),
            Err(VerifyError::Stale(300))
        );
    }

    #[test]
    fn rotation_accepts_any_configured_secret() {
        let secrets = [
            Secret::new("whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA=="),
            Secret::new(DOC_SECRET),
        ];
        assert_eq!(
            Standard.verify(&doc_request(DOC_BODY, DOC_SIG).inbound(), &secrets),
            Ok(())
        );
    }

    #[test]
    fn typed_payload_normalizes() {
        let body = r#"{"type":"invoice.paid","timestamp":"2022-11-03T20:26:10.344522Z","data":{"id":"in_1","amount":900}}"#;
        let r = doc_request(body, DOC_SIG).header("content-type", "application/json");
        let n = Standard.normalize(&r.inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "invoice.paid");
        assert_eq!(n.delivery_id.as_deref(), Some(DOC_ID));
        assert_eq!(n.payload["data"]["amount"], 900);
        let n = Standard
            .normalize(&doc_request(DOC_BODY, DOC_SIG).inbound())
            .unwrap();
        assert_eq!(n.event_type.as_str(), "standard");
    }

    #[test]
    fn bad_json_and_wrong_media_type() {
        let r = doc_request("{\"type\":", DOC_SIG);
        assert!(matches!(
            Standard.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
        let r = doc_request(DOC_BODY, DOC_SIG).header("content-type", "application/octet-stream");
        assert!(matches!(
            Standard.normalize(&r.inbound()),
            Err(ParseError::UnsupportedMedia(_))
        ));
    }

    fn sign(key: &[u8], id: &str, ts: i64, body: &[u8]) -> String {
        use base64::Engine;
        let mut content = format!("{id}.{ts}.").into_bytes();
        content.extend_from_slice(body);
        let mac = testkit::hmac_sha256(key, &content);
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac)
        )
    }

    proptest! {
        #[test]
        fn signed_bodies_verify_and_any_flipped_byte_fails(
            body in proptest::collection::vec(any::<u8>(), 0..256),
            key in proptest::collection::vec(any::<u8>(), 24..64),
            id in "msg_[A-Za-z0-9]{1,27}",
            ts in 0i64..4_000_000_000,
            skew in -TOLERANCE..=TOLERANCE,
            flip in any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            use base64::Engine;
            let sig = sign(&key, &id, ts, &body);
            let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(&key));
            let secrets = [Secret::new(secret)];
            let req = |b: Vec<u8>| Req::new(b)
                .header("webhook-id", &id)
                .header("webhook-timestamp", &ts.to_string())
                .header("webhook-signature", &sig)
                .now(ts + skew);
            prop_assert_eq!(Standard.verify(&req(body.clone()).inbound(), &secrets), Ok(()));
            if !body.is_empty() {
                let mut bad = body;
                let i = flip.index(bad.len());
                bad[i] ^= 1 << bit;
                prop_assert_eq!(Standard.verify(&req(bad).inbound(), &secrets), Err(VerifyError::Mismatch));
            }
        }

        #[test]
        fn never_panics(id in testkit::header_bytes(),
                        ts in testkit::header_bytes(),
                        sig in testkit::header_bytes(),
                        body in proptest::collection::vec(any::<u8>(), 0..256),
                        now in any::<i64>()) {
            let r = Req::new(body)
                .raw_header("webhook-id", &id)
                .raw_header("svix-timestamp", &ts)
                .raw_header("webhook-signature", &sig)
                .now(now);
            let _ = Standard.verify(&r.inbound(), &[Secret::new(DOC_SECRET), Secret::new("raw")]);
            let _ = Standard.normalize(&r.inbound());
        }
    }
}
