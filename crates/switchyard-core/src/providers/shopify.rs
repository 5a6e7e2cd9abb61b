//! Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`, keyed by the
//! app's client secret. The topic (`orders/create`) is in `X-Shopify-Topic` and
//! becomes the dotted `orders.create`. `X-Shopify-Webhook-Id` stays the same across
//! retries of one delivery, so it is the delivery id; `X-Shopify-Event-Id` is the
//! fallback. Follows "Verify webhooks" and "Ignore duplicate webhooks":
//! <https://shopify.dev/docs/apps/build/webhooks/verify-webhooks>
//! <https://shopify.dev/docs/apps/build/webhooks/ignore-duplicates>

use crate::event::str_at;
use crate::provider::{Inbound, ParseError, Provider, Secret, VerifyError};
use crate::sig::{self, Algorithm, Encoding};
use crate::{EventType, Normalized};

pub struct Shopify;

impl Provider for Shopify {
    fn name(&self) -> &'static str {
        "shopify"
    }

    fn requires_secret(&self) -> bool {
        true
    }

    fn verify(&self, req: &Inbound<'_>, secrets: &[Secret]) -> Result<(), VerifyError> {
        sig::verify_body_hmac(
            req,
            secrets,
            "x-shopify-hmac-sha256",
            "",
            Algorithm::Sha256,
            Encoding::Base64,
        )
    }

    fn normalize(&self, req: &Inbound<'_>) -> Result<Normalized, ParseError> {
        let topic = req
            .header("x-shopify-topic")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ParseError::Malformed("missing X-Shopify-Topic header".into()))?;
        let payload = sig::json_body(req)?;
        let mut n = Normalized::new(EventType::sanitized(&topic.replace('/', ".")), payload);
        n.delivery_id = req
            .header("x-shopify-webhook-id")
            .or_else(|| req.header("x-shopify-event-id"))
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        n.source = req
            .header("x-shopify-shop-domain")
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        n.subject = str_at(&n.payload, "/admin_graphql_api_id");
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testkit::{self, Req};
    use base64::Engine;
    use proptest::prelude::*;

    // Shopify publishes no test vector. The signature below was computed outside this
    // code: printf '%s' "$BODY" | openssl dgst -sha256 -hmac 'shpss_test' -binary | base64
    const SECRET: &str = "shpss_test";
    const BODY: &str = r##"{"id":820982911946154508,"email":"jon@example.com","name":"#1001","total_price":"403.00","currency":"USD"}"##;
    const SIG: &str = "Z23eBuT9CwLP4NVIIcA9aAOLPk6dol0Xapo91WvSvc4=";

    #[test]
    fn signed_request_verifies() {
        let r = Req::new(BODY).header("x-shopify-hmac-sha256", SIG);
        assert_eq!(Shopify.verify(&r.inbound(), &[Secret::new(SECRET)]), Ok(()));
    }

    #[test]
    fn tampered_forged_and_unsigned_are_refused() {
        let secrets = [Secret::new(SECRET)];
        let tampered =
            Req::new(BODY.replace("403.00", "4.03")).header("x-shopify-hmac-sha256", SIG);
        assert_eq!(
            Shopify.verify(&tampered.inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
        let r = Req::new(BODY).header("x-shopify-hmac-sha256", SIG);
        assert_eq!(
            Shopify.verify(&r.inbound(), &[Secret::new("shpss_other")]),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            Shopify.verify(&Req::new(BODY).inbound(), &secrets),
            Err(VerifyError::Missing("x-shopify-hmac-sha256"))
        );
        // The same digest in hex is not what Shopify sends.
        let hexed = Req::new(BODY).header(
            "x-shopify-hmac-sha256",
            "676dde06e4fd0b02cfe0d54821c03d68038b3e4e9da25d176a9a3dd56bd2bdce",
        );
        assert_eq!(
            Shopify.verify(&hexed.inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn rotation_accepts_any_configured_secret() {
        let r = Req::new(BODY).header("x-shopify-hmac-sha256", SIG);
        let secrets = [Secret::new("shpss_previous"), Secret::new(SECRET)];
        assert_eq!(Shopify.verify(&r.inbound(), &secrets), Ok(()));
    }

    #[test]
    fn orders_create_normalizes() {
        let r = Req::new(BODY)
            .header("content-type", "application/json")
            .header("x-shopify-topic", "orders/create")
            .header("x-shopify-shop-domain", "example.myshopify.com")
            .header(
                "x-shopify-webhook-id",
                "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            )
            .header("x-shopify-event-id", "98880550-7158-44d4-b7cd-2c97c8a091b5");
        let n = Shopify.normalize(&r.inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "orders.create");
        assert_eq!(
            n.delivery_id.as_deref(),
            Some("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
        );
        assert_eq!(n.source.as_deref(), Some("example.myshopify.com"));
        assert_eq!(n.payload["name"], "#1001");

        let r = Req::new(BODY)
            .header("x-shopify-topic", "app/uninstalled")
            .header("x-shopify-event-id", "98880550-7158-44d4-b7cd-2c97c8a091b5");
        let n = Shopify.normalize(&r.inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "app.uninstalled");
        assert_eq!(
            n.delivery_id.as_deref(),
            Some("98880550-7158-44d4-b7cd-2c97c8a091b5")
        );
    }

    #[test]
    fn missing_topic_bad_json_and_xml() {
        let r = Req::new(BODY);
        assert!(matches!(
            Shopify.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
        let r = Req::new("{\"id\":").header("x-shopify-topic", "orders/create");
        assert!(matches!(
            Shopify.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
        // Shopify can still be set to send XML, which Switchyard does not read.
        let r = Req::new("<order/>")
            .header("x-shopify-topic", "orders/create")
            .header("content-type", "application/xml");
        assert!(matches!(
            Shopify.normalize(&r.inbound()),
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
            let sig = base64::engine::general_purpose::STANDARD
                .encode(testkit::hmac_sha256(&key, &body));
            let secrets = [Secret::new(key)];
            let r = Req::new(body.clone()).header("x-shopify-hmac-sha256", &sig);
            prop_assert_eq!(Shopify.verify(&r.inbound(), &secrets), Ok(()));
            if !body.is_empty() {
                let mut bad = body;
                let i = flip.index(bad.len());
                bad[i] ^= 1 << bit;
                let r = Req::new(bad).header("x-shopify-hmac-sha256", &sig);
                prop_assert_eq!(Shopify.verify(&r.inbound(), &secrets), Err(VerifyError::Mismatch));
            }
        }

        #[test]
        fn never_panics(sig in testkit::header_bytes(),
                        topic in testkit::header_bytes(),
                        body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let r = Req::new(body)
                .raw_header("x-shopify-hmac-sha256", &sig)
                .raw_header("x-shopify-topic", &topic);
            let _ = Shopify.verify(&r.inbound(), &[Secret::new(SECRET)]);
            let _ = Shopify.normalize(&r.inbound());
        }
    }
}
