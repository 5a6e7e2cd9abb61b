//! Signed decision links: a token naming one checkpoint and one decision, good
//! until the checkpoint expires, that the e-mail's links carry to the confirm page
//! (`{public_url}/ui/confirm/{token}`; its GET only shows the page, its POST
//! decides). Stateless: an HMAC-SHA256 under a key derived from the master key
//! ([`Sealer::derive_key`], as task tokens are), so every replica sharing the
//! master key verifies what any of them signed, and nothing is stored per link.
//!
//! A token is `v1.{base64url(checkpoint_id)}.{decision}.{expires}.{base64url(mac)}`
//! with `expires` in Unix seconds and the MAC over everything before its dot. No
//! part contains a `.` or needs escaping in a URL path.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use switchyard_core::checkpoint::{is_id, Decision, MAX_TIMEOUT_SECS};
use switchyard_core::sig::{ct_eq, hmac_sha256};
use switchyard_store::Sealer;

/// What [`Sealer::derive_key`] derives the link key for.
const PURPOSE: &str = "checkpoint decision link";
const VERSION: &str = "v1";
/// The longest token worth parsing (a 128-byte id makes one of about 240).
const MAX_TOKEN: usize = 512;

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is malformed")]
    Malformed,
    #[error("the link's signature does not match")]
    BadMac,
    #[error("the link has expired")]
    Expired,
}

/// Signs and checks decision links.
#[derive(Clone)]
pub struct Links {
    key: [u8; 32],
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Links(**key redacted**)")
    }
}

/// When a link for a checkpoint stops working: with the checkpoint at
/// `expires_at`, or, for a checkpoint without a timeout, after the longest timeout
/// one may have (30 days) from `created_at`. Unix seconds.
pub fn link_expiry(expires_at: Option<i64>, created_at: i64) -> i64 {
    expires_at.unwrap_or_else(|| created_at.saturating_add(MAX_TIMEOUT_SECS as i64))
}

/// `{public_url}/ui/confirm/{token}`.
pub fn confirm_url(public_url: &str, token: &str) -> String {
    format!("{}/ui/confirm/{token}", public_url.trim_end_matches('/'))
}

impl Links {
    pub fn new(sealer: &Sealer) -> Self {
        Self {
            key: sealer.derive_key(PURPOSE),
        }
    }

    fn mac(&self, signed: &str) -> Vec<u8> {
        hmac_sha256(&self.key, &[signed.as_bytes()])
    }

    /// A token deciding `decision` on `checkpoint_id` until `expires` (Unix
    /// seconds; see [`link_expiry`]).
    pub fn sign(&self, checkpoint_id: &str, decision: Decision, expires: i64) -> String {
        let signed = format!(
            "{VERSION}.{}.{}.{expires}",
            B64.encode(checkpoint_id),
            decision.as_str()
        );
        let mac = B64.encode(self.mac(&signed));
        format!("{signed}.{mac}")
    }

    /// The checkpoint and decision a token names, when its MAC checks out
    /// (compared in constant time) and `now` (Unix seconds) is before its expiry.
    /// A forged token is [`LinkError::BadMac`] whether or not it has expired.
    pub fn verify(&self, token: &str, now: i64) -> Result<(String, Decision), LinkError> {
        if token.len() > MAX_TOKEN {
            return Err(LinkError::Malformed);
        }
        let (signed, mac) = token.rsplit_once('.').ok_or(LinkError::Malformed)?;
        let parts: Vec<&str> = signed.split('.').collect();
        let [version, id, decision, expires] = parts[..] else {
            return Err(LinkError::Malformed);
        };
        if version != VERSION {
            return Err(LinkError::Malformed);
        }
        let mac = B64.decode(mac).map_err(|_| LinkError::Malformed)?;
        let id = B64
            .decode(id)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|id| is_id(id))
            .ok_or(LinkError::Malformed)?;
        let decision = Decision::parse(decision).ok_or(LinkError::Malformed)?;
        let expires: i64 = expires.parse().map_err(|_| LinkError::Malformed)?;
        if !ct_eq(&mac, &self.mac(signed)) {
            return Err(LinkError::BadMac);
        }
        if now >= expires {
            return Err(LinkError::Expired);
        }
        Ok((id, decision))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn links() -> Links {
        Links::new(&Sealer::new(&[7; 32]))
    }

    const NOW: i64 = 1_790_000_000;

    #[test]
    fn a_link_names_its_checkpoint_and_decision_until_it_expires() {
        let l = links();
        let t = l.sign("cp.1:a-b_c", Decision::Reject, NOW + 60);
        assert_eq!(
            l.verify(&t, NOW),
            Ok(("cp.1:a-b_c".to_owned(), Decision::Reject))
        );
        assert_eq!(l.verify(&t, NOW + 59).map(|r| r.1), Ok(Decision::Reject));
        assert_eq!(l.verify(&t, NOW + 60), Err(LinkError::Expired));
        assert!(t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
        assert_eq!(
            confirm_url("https://x.example/", &t),
            format!("https://x.example/ui/confirm/{t}")
        );
    }

    #[test]
    fn the_key_is_derived_from_the_master_key_for_links_alone() {
        let t = links().sign("cp", Decision::Approve, NOW + 60);
        let other = Links::new(&Sealer::new(&[8; 32]));
        assert_eq!(other.verify(&t, NOW), Err(LinkError::BadMac));
        // Not the task-token key, nor the master key itself.
        let sealer = Sealer::new(&[7; 32]);
        assert_ne!(links().key, sealer.derive_key("task-token-v1"));
        assert_ne!(links().key, [7; 32]);
    }

    /// Replaces part `i` (0 version … 4 mac) of a token.
    fn with_part(t: &str, i: usize, new: &str) -> String {
        let mut parts: Vec<&str> = t.split('.').collect();
        parts[i] = new;
        parts.join(".")
    }

    #[test]
    fn tampering_with_any_part_is_refused() {
        let l = links();
        let t = l.sign("cp-1", Decision::Reject, NOW + 60);
        let other_id = B64.encode("cp-2");
        assert_eq!(
            l.verify(&with_part(&t, 1, &other_id), NOW),
            Err(LinkError::BadMac)
        );
        assert_eq!(
            l.verify(&with_part(&t, 2, "approve"), NOW),
            Err(LinkError::BadMac)
        );
        let later = (NOW + 3600).to_string();
        assert_eq!(
            l.verify(&with_part(&t, 3, &later), NOW),
            Err(LinkError::BadMac)
        );
        let mac = t.rsplit('.').next().unwrap();
        let mut flipped = B64.decode(mac).unwrap();
        flipped[0] ^= 1;
        assert_eq!(
            l.verify(&with_part(&t, 4, &B64.encode(flipped)), NOW),
            Err(LinkError::BadMac)
        );
        // A forged token is a bad MAC even once past its expiry.
        assert_eq!(
            l.verify(&with_part(&t, 2, "approve"), NOW + 61),
            Err(LinkError::BadMac)
        );
        assert_eq!(
            l.verify(&with_part(&t, 0, "v2"), NOW),
            Err(LinkError::Malformed)
        );
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let l = links();
        let t = l.sign("cp-1", Decision::Approve, NOW + 60);
        for bad in [
            String::new(),
            "v1".into(),
            "v1.a.b.c".into(),
            with_part(&t, 1, "!!"),
            with_part(&t, 1, &B64.encode("bad id")),
            with_part(&t, 1, &B64.encode([0xff, 0xfe])),
            with_part(&t, 2, "maybe"),
            with_part(&t, 3, "soon"),
            with_part(&t, 4, "*"),
            format!("{t}.extra"),
            "x".repeat(MAX_TOKEN + 1),
        ] {
            assert_eq!(l.verify(&bad, NOW), Err(LinkError::Malformed), "{bad}");
        }
    }

    #[test]
    fn links_without_a_timeout_last_thirty_days() {
        assert_eq!(link_expiry(Some(NOW + 5), NOW), NOW + 5);
        assert_eq!(link_expiry(None, NOW), NOW + 30 * 24 * 3600);
        assert_eq!(link_expiry(None, i64::MAX), i64::MAX);
    }

    proptest! {
        #[test]
        fn verify_never_panics(s in ".{0,300}") {
            let _ = links().verify(&s, NOW);
        }

        #[test]
        fn any_id_round_trips(id in "[A-Za-z0-9._:-]{1,128}", ttl in 1i64..1_000_000) {
            let l = links();
            let t = l.sign(&id, Decision::Edit, NOW + ttl);
            prop_assert_eq!(l.verify(&t, NOW), Ok((id, Decision::Edit)));
        }
    }
}
