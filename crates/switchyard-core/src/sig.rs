//! Shared building blocks for signature schemes and body decoding: HMAC over raw
//! bytes, constant-time comparison, timestamp windows, and JSON/form bodies.

use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use crate::{provider::Inbound, ParseError, Secret, VerifyError};

/// The digest a generic HMAC scheme uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

/// How a signature is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Hex,
    Base64,
}

/// HMAC of the concatenation of `parts` under `key`.
pub fn hmac(alg: Algorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    macro_rules! run {
        ($d:ty) => {{
            // HMAC accepts keys of any length, so this cannot fail.
            let mut mac = match Hmac::<$d>::new_from_slice(key) {
                Ok(m) => m,
                Err(_) => unreachable!("HMAC takes keys of any length"),
            };
            for p in parts {
                mac.update(p);
            }
            mac.finalize().into_bytes().to_vec()
        }};
    }
    match alg {
        Algorithm::Sha1 => run!(sha1::Sha1),
        Algorithm::Sha256 => run!(sha2::Sha256),
        Algorithm::Sha512 => run!(sha2::Sha512),
    }
}

/// HMAC-SHA256 of the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    hmac(Algorithm::Sha256, key, parts)
}

/// Compares two byte strings in time independent of where they differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Decodes a signature as written in a header.
pub fn decode(enc: Encoding, s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    match enc {
        Encoding::Hex => hex::decode(s.trim()).ok(),
        Encoding::Base64 => base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .ok(),
    }
}

/// True when `given` equals the HMAC of `parts` under any of `secrets`.
pub fn any_secret_matches(
    alg: Algorithm,
    secrets: &[Secret],
    parts: &[&[u8]],
    given: &[u8],
) -> bool {
    // Every secret is tried, so the time taken does not reveal which one matched.
    let mut ok = false;
    for s in secrets {
        ok |= ct_eq(&hmac(alg, s.expose(), parts), given);
    }
    ok
}

/// Verifies a header holding `prefix` + the encoded HMAC of the body, the scheme of
/// GitHub (`sha256=<hex>`), Shopify (base64), Sentry, Linear and many others.
pub fn verify_body_hmac(
    req: &Inbound<'_>,
    secrets: &[Secret],
    header: &'static str,
    prefix: &str,
    alg: Algorithm,
    enc: Encoding,
) -> Result<(), VerifyError> {
    let value = req.signature_header(header)?;
    let encoded = strip_prefix_ci(value, prefix).ok_or(VerifyError::Malformed(header))?;
    let given = decode(enc, encoded).ok_or(VerifyError::Malformed(header))?;
    if any_secret_matches(alg, secrets, &[req.body], &given) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
    {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

/// The prefix of a Standard Webhooks secret written as base64.
const WHSEC: &str = "whsec_";

/// The HMAC key a Standard Webhooks secret stands for: `whsec_<base64>` is the
/// base64 decoded (`None` if it is not valid, padded, standard base64), any other
/// secret is its own bytes.
pub fn standard_secret_key(secret: &str) -> Option<Vec<u8>> {
    standard_secret_key_bytes(secret.as_bytes())
}

/// [`standard_secret_key`] for a secret held as bytes, as [`Secret`] holds it.
pub fn standard_secret_key_bytes(secret: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine;
    match secret.strip_prefix(WHSEC.as_bytes()) {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok(),
        None => Some(secret.to_vec()),
    }
}

/// One Standard Webhooks signature, `v1,<base64>`: the HMAC-SHA256 under `key` of
/// `{msg_id}.{timestamp}.{body}`, sent in `webhook-signature` beside `webhook-id`
/// (= `msg_id`) and `webhook-timestamp` (= `timestamp`, Unix seconds). `key` is the
/// decoded key ([`standard_secret_key`]), not the `whsec_` text.
pub fn standard_signature(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    use base64::Engine;
    let ts = timestamp.to_string();
    let mac = hmac_sha256(key, &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac)
    )
}

/// The whole `webhook-signature` value: one [`standard_signature`] per key, in the
/// order given, separated by single spaces. While a secret is rotated both keys sign,
/// the new one first, so receivers holding either secret accept the message. No keys
/// give an empty string, which no receiver accepts.
pub fn standard_signature_header(
    keys: &[&[u8]],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let signatures: Vec<String> = keys
        .iter()
        .map(|key| standard_signature(key, msg_id, timestamp, body))
        .collect();
    signatures.join(" ")
}

/// Checks that `ts` (Unix seconds) lies within `tolerance` seconds of `now`, on
/// either side.
pub fn check_window(ts: i64, now: i64, tolerance: i64) -> Result<(), VerifyError> {
    // `abs_diff` cannot overflow, unlike `abs` of a difference that is exactly
    // `i64::MIN`, which a sender can reach by choosing `ts = i64::MIN + now`.
    if u64::try_from(tolerance).is_ok_and(|t| ts.abs_diff(now) <= t) {
        Ok(())
    } else {
        Err(VerifyError::Stale(tolerance))
    }
}

/// Decodes a JSON body. A missing media type is taken as JSON.
pub fn json_body(req: &Inbound<'_>) -> Result<serde_json::Value, ParseError> {
    json_body_as(req.body, req.media_type().as_deref())
}

/// [`json_body`] for a media type already read from the request.
fn json_body_as(body: &[u8], media_type: Option<&str>) -> Result<serde_json::Value, ParseError> {
    match media_type {
        None | Some("application/json") => parse_json(body),
        Some(mt) if mt.ends_with("+json") => parse_json(body),
        Some(mt) => Err(ParseError::UnsupportedMedia(mt.to_owned())),
    }
}

/// Decodes a JSON body, or a form body as senders like GitHub and Slack post it:
/// a form with a `payload` field holding JSON becomes that JSON; any other form
/// becomes an object of its fields (Slack slash commands).
pub fn json_or_form_body(req: &Inbound<'_>) -> Result<serde_json::Value, ParseError> {
    match req.media_type().as_deref() {
        Some("application/x-www-form-urlencoded") => form_body(req.body),
        mt => json_body_as(req.body, mt),
    }
}

/// Parses bytes as a JSON object with an error a sender can act on. Every provider
/// sends an object; a bare `7` or `[1]` is refused by all of them alike, before it
/// could be stored as an event no rule can read.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, ParseError> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ParseError::Malformed(format!("body is not valid JSON: {e}")))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(ParseError::Malformed("body must be a JSON object".into()))
    }
}

/// Parses an `application/x-www-form-urlencoded` body.
pub fn form_body(body: &[u8]) -> Result<serde_json::Value, ParseError> {
    if std::str::from_utf8(body).is_err() {
        return Err(ParseError::Malformed("form body is not UTF-8".into()));
    }
    let mut map = serde_json::Map::new();
    for (k, v) in form_urlencoded::parse(body) {
        if k == "payload" {
            return parse_json(v.as_bytes());
        }
        map.insert(k.into_owned(), serde_json::Value::String(v.into_owned()));
    }
    Ok(serde_json::Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_body_is_an_object() {
        for body in ["7", "[1]", "\"x\"", "null"] {
            assert_eq!(
                parse_json(body.as_bytes()),
                Err(ParseError::Malformed("body must be a JSON object".into())),
                "{body}"
            );
        }
        assert!(parse_json(b"{}").is_ok());
    }

    #[test]
    fn rfc4231_case_2_hmac_sha256() {
        // RFC 4231, test case 2.
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn window() {
        assert!(check_window(1000, 1300, 300).is_ok());
        assert!(check_window(1000, 1301, 300).is_err());
        assert!(check_window(1301, 1000, 300).is_err());
        assert!(check_window(i64::MIN, i64::MAX, 300).is_err());
        // The difference is exactly i64::MIN here; it must neither panic nor pass.
        assert!(check_window(i64::MIN + 1000, 1000, 300).is_err());
        assert!(check_window(1000, 1000, -1).is_err());
    }

    #[test]
    fn form_with_payload_is_its_json() {
        let v = form_body(b"payload=%7B%22a%22%3A1%7D").unwrap();
        assert_eq!(v, serde_json::json!({"a": 1}));
        let v = form_body(b"command=%2Fdeploy&text=now").unwrap();
        assert_eq!(v, serde_json::json!({"command": "/deploy", "text": "now"}));
    }

    // The reference vector of the Standard Webhooks libraries ("sign function works"
    // in libraries/javascript/src/webhook.test.ts of standard-webhooks).
    const DOC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const DOC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const DOC_TS: i64 = 1_614_265_330;
    const DOC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const DOC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn standard_signature_matches_the_reference_vector() {
        let key = standard_secret_key(DOC_SECRET).unwrap();
        assert_eq!(standard_signature(&key, DOC_ID, DOC_TS, DOC_BODY), DOC_SIG);
        assert_eq!(
            standard_signature_header(&[&key], DOC_ID, DOC_TS, DOC_BODY),
            DOC_SIG
        );
    }

    #[test]
    fn standard_signature_signs_id_timestamp_and_body() {
        let key = standard_secret_key(DOC_SECRET).unwrap();
        assert_ne!(
            standard_signature(&key, "msg_other", DOC_TS, DOC_BODY),
            DOC_SIG
        );
        assert_ne!(
            standard_signature(&key, DOC_ID, DOC_TS + 1, DOC_BODY),
            DOC_SIG
        );
        assert_ne!(standard_signature(&key, DOC_ID, DOC_TS, b"{}"), DOC_SIG);
        // The raw text of a `whsec_` secret is not its key.
        assert_ne!(
            standard_signature(DOC_SECRET.as_bytes(), DOC_ID, DOC_TS, DOC_BODY),
            DOC_SIG
        );
    }

    #[test]
    fn standard_header_lists_every_key_in_order() {
        let new = b"new-key".as_slice();
        let old = standard_secret_key(DOC_SECRET).unwrap();
        let header = standard_signature_header(&[new, &old], DOC_ID, DOC_TS, DOC_BODY);
        assert_eq!(
            header,
            format!(
                "{} {DOC_SIG}",
                standard_signature(new, DOC_ID, DOC_TS, DOC_BODY)
            )
        );
        assert_eq!(standard_signature_header(&[], DOC_ID, DOC_TS, DOC_BODY), "");
    }

    #[test]
    fn standard_secret_forms() {
        // 24 bytes, decoded independently of the code under test.
        let decoded = hex::decode("31f290f6bf06298aab4f08d43c3f082cf648a362da2da4b0").unwrap();
        assert_eq!(standard_secret_key(DOC_SECRET), Some(decoded));
        assert_eq!(
            standard_secret_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Some(b"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_vec())
        );
        assert_eq!(standard_secret_key("whsec_!!"), None);
        // Standard base64 with padding, as the reference libraries write it.
        assert_eq!(standard_secret_key("whsec_YQ"), None);
        assert_eq!(standard_secret_key("whsec_YQ=="), Some(b"a".to_vec()));
        // The prefix is case-sensitive: anything else is a raw secret.
        assert_eq!(
            standard_secret_key("WHSEC_YQ=="),
            Some(b"WHSEC_YQ==".to_vec())
        );
        assert_eq!(
            standard_secret_key_bytes(b"\xffraw"),
            Some(b"\xffraw".to_vec())
        );
    }

    proptest! {
        #[test]
        fn split_parts_hash_like_the_whole(a in proptest::collection::vec(any::<u8>(), 0..64),
                                           b in proptest::collection::vec(any::<u8>(), 0..64),
                                           key in proptest::collection::vec(any::<u8>(), 0..80)) {
            let whole: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
            prop_assert_eq!(hmac_sha256(&key, &[&a, &b]), hmac_sha256(&key, &[&whole]));
        }

        #[test]
        fn ct_eq_is_eq(a in proptest::collection::vec(any::<u8>(), 0..40), b in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(ct_eq(&a, &b), a == b);
        }

        /// Whatever the signer sends during a rotation, a receiver holding any one
        /// of the signing secrets (written either way) accepts, and one holding
        /// another secret does not.
        #[test]
        fn standard_signatures_verify_with_each_key(
            keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..48), 1..=3),
            stranger in proptest::collection::vec(any::<u8>(), 1..48),
            whsec in proptest::collection::vec(any::<bool>(), 3),
            id in "msg_[A-Za-z0-9]{1,27}",
            ts in 0i64..4_000_000_000,
            body in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            use crate::providers::{standard::Standard, testkit::Req};
            use crate::Provider;
            use base64::Engine;
            let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            let header = standard_signature_header(&refs, &id, ts, &body);
            prop_assert_eq!(header.split(' ').count(), keys.len());
            let req = Req::new(body.clone())
                .header("webhook-id", &id)
                .header("webhook-timestamp", &ts.to_string())
                .header("webhook-signature", &header)
                .now(ts);
            let secret = |key: &[u8], encoded: bool| {
                if encoded {
                    Secret::new(format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key)))
                } else {
                    Secret::new(key)
                }
            };
            for (key, encoded) in keys.iter().zip(&whsec) {
                prop_assert_eq!(Standard.verify(&req.inbound(), &[secret(key, *encoded)]), Ok(()));
            }
            prop_assume!(!keys.contains(&stranger));
            prop_assert_eq!(
                Standard.verify(&req.inbound(), &[secret(&stranger, whsec[0])]),
                Err(VerifyError::Mismatch)
            );
        }

        #[test]
        fn form_body_never_panics(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = form_body(&body);
        }
    }
}
