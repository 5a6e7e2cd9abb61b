//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...][,v0=<hex>]`. The signed
//! payload is `{t}.{raw body}`, HMAC-SHA256 with the endpoint's signing secret
//! (`whsec_...`, used as is), hex. Any `v1` may match; other schemes, such as the
//! test-mode `v0`, are ignored. Requests more than five minutes from now are refused.
//! Follows "Check the webhook signatures", section "Verify signatures manually":
//! <https://docs.stripe.com/webhooks#verify-manually>

use crate::event::str_at;
use crate::provider::{Inbound, ParseError, Provider, Secret, VerifyError};
use crate::sig::{self, Algorithm};
use crate::{EventType, Normalized};

pub struct Stripe;

const HEADER: &str = "stripe-signature";

/// How far, in seconds, a signature's timestamp may be from now; Stripe's libraries
/// default to the same five minutes.
pub const TOLERANCE: i64 = 300;

/// The parts of a `Stripe-Signature` header this scheme uses.
struct Parsed<'a> {
    /// The timestamp as sent, which is what was signed.
    t_text: &'a str,
    t: i64,
    /// Every `v1` signature, hex as sent.
    v1: Vec<&'a str>,
}

fn parse(value: &str) -> Result<Parsed<'_>, VerifyError> {
    let mut t_text = None;
    let mut v1 = Vec::new();
    for item in value.split(',') {
        let Some((k, v)) = item.split_once('=') else {
            continue;
        };
        match k.trim() {
            "t" if t_text.is_none() => t_text = Some(v.trim()),
            "v1" => v1.push(v.trim()),
            _ => {}
        }
    }
    let t_text = t_text.ok_or(VerifyError::Malformed(HEADER))?;
    let t = t_text.parse().map_err(|_| VerifyError::Malformed(HEADER))?;
    if v1.is_empty() {
        return Err(VerifyError::Malformed(HEADER));
    }
    Ok(Parsed { t_text, t, v1 })
}

impl Provider for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn requires_secret(&self) -> bool {
        true
    }

    fn verify(&self, req: &Inbound<'_>, secrets: &[Secret]) -> Result<(), VerifyError> {
        let value = req.signature_header(HEADER)?;
        let parsed = parse(value)?;
        sig::check_window(parsed.t, req.now, TOLERANCE)?;
        let parts: [&[u8]; 3] = [parsed.t_text.as_bytes(), b".", req.body];
        // Every secret is tried against every signature so that the time taken does
        // not reveal which matched. A signature that is not hex matches nothing.
        let mut ok = false;
        for s in secrets {
            let expected = sig::hmac(Algorithm::Sha256, s.expose(), &parts);
            for given in &parsed.v1 {
                ok |= hex::decode(given).is_ok_and(|g| sig::ct_eq(&expected, &g));
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
        let event = match str_at(&payload, "/type") {
            Some(t) if !t.is_empty() => t,
            _ => return Err(ParseError::Malformed("event has no type".into())),
        };
        let mut n = Normalized::new(EventType::sanitized(&event), payload);
        let p = &n.payload;
        n.delivery_id = str_at(p, "/id").filter(|s| !s.is_empty());
        // Set on events from connected accounts (Connect).
        n.source = str_at(p, "/account");
        n.subject = str_at(p, "/data/object/id");
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testkit::{self, Req};
    use proptest::prelude::*;

    // Stripe publishes no fixed test vector (its libraries sign test payloads on the
    // fly). The signature below was computed outside this code:
    // printf '1700000000.%s' "$BODY" | openssl dgst -sha256 -hmac 'whsec_stripe_test'
    const SECRET: &str = "whsec_stripe_test";
    const T: i64 = 1_700_000_000;
    const BODY: &str = r#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","api_version":"2023-10-16","created":1700000000,"type":"charge.succeeded","account":"acct_1032D82eZvKYlo2C","livemode":false,"data":{"object":{"id":"ch_3NG8Dt2eZvKYlo2C0Q2QXbvu","object":"charge","amount":2000,"currency":"usd"}}}"#;
    const V1: &str = "8a6d1a6aef3dc86f0fa61f8c7921b098af22023dde56f222f7192a89774d65a3";

    fn header() -> String {
        format!("t={T},v1={V1}")
    }

    fn req(body: &str, header: &str) -> Req {
        Req::new(body)
            .header("stripe-signature", header)
            .header("content-type", "application/json; charset=utf-8")
            .now(T + 10)
    }

    #[test]
    fn signed_request_verifies() {
        let r = req(BODY, &header());
        assert_eq!(Stripe.verify(&r.inbound(), &[Secret::new(SECRET)]), Ok(()));
    }

    #[test]
    fn tampered_forged_and_unsigned_are_refused() {
        let secrets = [Secret::new(SECRET)];
        let tampered = req(&BODY.replace("2000", "20000"), &header());
        assert_eq!(
            Stripe.verify(&tampered.inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            Stripe.verify(
                &req(BODY, &header()).inbound(),
                &[Secret::new("whsec_other")]
            ),
            Err(VerifyError::Mismatch)
        );
        // The timestamp is signed: moving it breaks the signature.
        let moved = req(BODY, &format!("t={},v1={V1}", T + 1));
        assert_eq!(
            Stripe.verify(&moved.inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
        let unsigned = Req::new(BODY).now(T);
        assert_eq!(
            Stripe.verify(&unsigned.inbound(), &secrets),
            Err(VerifyError::Missing("stripe-signature"))
        );
    }

    #[test]
    fn header_without_t_or_v1_is_malformed() {
        let secrets = [Secret::new(SECRET)];
        for h in [
            format!("v1={V1}"),
            format!("t={T}"),
            format!("t={T},v0={V1}"),
            format!("t=soon,v1={V1}"),
            String::new(),
        ] {
            assert_eq!(
                Stripe.verify(&req(BODY, &h).inbound(), &secrets),
                Err(VerifyError::Malformed("stripe-signature")),
                "{h}"
            );
        }
    }

    #[test]
    fn other_schemes_are_ignored_and_any_v1_may_match() {
        let secrets = [Secret::new(SECRET)];
        let h = format!("t={T},v1={},v0=deadbeef,v1={V1},v2=zz", "00".repeat(32));
        assert_eq!(Stripe.verify(&req(BODY, &h).inbound(), &secrets), Ok(()));
        // A valid signature under an unknown scheme does not count.
        let h = format!("t={T},v1=00,v0={V1}");
        assert_eq!(
            Stripe.verify(&req(BODY, &h).inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn stale_timestamps_are_refused() {
        let secrets = [Secret::new(SECRET)];
        let at = |now| req(BODY, &header()).now(now);
        assert_eq!(Stripe.verify(&at(T + 300).inbound(), &secrets), Ok(()));
        assert_eq!(
            Stripe.verify(&at(T + 301).inbound(), &secrets),
            Err(VerifyError::Stale(300))
        );
        assert_eq!(
            Stripe.verify(&at(T - 301).inbound(), &secrets),
            Err(VerifyError::Stale(300))
        );
    }

    #[test]
    fn rotation_accepts_any_configured_secret() {
        let secrets = [Secret::new("whsec_previous"), Secret::new(SECRET)];
        assert_eq!(
            Stripe.verify(&req(BODY, &header()).inbound(), &secrets),
            Ok(())
        );
    }

    #[test]
    fn charge_succeeded_normalizes() {
        let n = Stripe.normalize(&req(BODY, &header()).inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "charge.succeeded");
        assert_eq!(
            n.delivery_id.as_deref(),
            Some("evt_1NG8Du2eZvKYlo2CUI79vXWy")
        );
        assert_eq!(n.source.as_deref(), Some("acct_1032D82eZvKYlo2C"));
        assert_eq!(n.subject.as_deref(), Some("ch_3NG8Dt2eZvKYlo2C0Q2QXbvu"));
        assert_eq!(n.actor, None);
        assert_eq!(n.thread_key, None);
    }

    #[test]
    fn untyped_bad_json_and_wrong_media_type() {
        let r = Req::new(r#"{"id":"evt_1"}"#);
        assert!(matches!(
            Stripe.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
        let r = Req::new("{\"id\":");
        assert!(matches!(
            Stripe.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
        let r = Req::new(BODY).header("content-type", "application/x-www-form-urlencoded");
        assert!(matches!(
            Stripe.normalize(&r.inbound()),
            Err(ParseError::UnsupportedMedia(_))
        ));
    }

    fn sign(key: &[u8], t: i64, body: &[u8]) -> String {
        let mut payload = format!("{t}.").into_bytes();
        payload.extend_from_slice(body);
        format!(
            "t={t},v1={}",
            hex::encode(testkit::hmac_sha256(key, &payload))
        )
    }

    proptest! {
        #[test]
        fn signed_bodies_verify_and_any_flipped_byte_fails(
            body in proptest::collection::vec(any::<u8>(), 0..256),
            key in proptest::collection::vec(any::<u8>(), 1..64),
            t in 0i64..4_000_000_000,
            skew in -TOLERANCE..=TOLERANCE,
            flip in any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            let h = sign(&key, t, &body);
            let secrets = [Secret::new(key)];
            let r = Req::new(body.clone()).header("stripe-signature", &h).now(t + skew);
            prop_assert_eq!(Stripe.verify(&r.inbound(), &secrets), Ok(()));
            if !body.is_empty() {
                let mut bad = body;
                let i = flip.index(bad.len());
                bad[i] ^= 1 << bit;
                let r = Req::new(bad).header("stripe-signature", &h).now(t + skew);
                prop_assert_eq!(Stripe.verify(&r.inbound(), &secrets), Err(VerifyError::Mismatch));
            }
        }

        #[test]
        fn never_panics(h in testkit::header_bytes(),
                        ct in testkit::header_bytes(),
                        body in proptest::collection::vec(any::<u8>(), 0..256),
                        now in any::<i64>()) {
            let r = Req::new(body)
                .raw_header("stripe-signature", &h)
                .raw_header("content-type", &ct)
                .now(now);
            let _ = Stripe.verify(&r.inbound(), &[Secret::new(SECRET)]);
            let _ = Stripe.normalize(&r.inbound());
        }

        #[test]
        fn never_panics_on_extreme_timestamps(t in any::<i64>(), now in any::<i64>()) {
            let r = Req::new(BODY).header("stripe-signature", &format!("t={t},v1={V1}")).now(now);
            let _ = Stripe.verify(&r.inbound(), &[Secret::new(SECRET)]);
        }
    }
}
