//! Sealing of stored secrets. Webhook secrets must be usable (HMAC needs the key), so
//! they cannot be hashed: they are encrypted with ChaCha20-Poly1305 under a master key
//! the operator supplies (`SWITCHYARD_SECRET_KEY`) or the server generates once.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Why a sealed secret could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealed secret is not valid base64")]
    Encoding,
    #[error("sealed secret does not open with this key (was SWITCHYARD_SECRET_KEY changed?)")]
    Key,
}

/// Encrypts and decrypts secrets under one 32-byte master key.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
    /// The master key itself, for [`Sealer::derive_key`].
    master: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(**key redacted**)")
    }
}

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
            master: *key,
        }
    }

    /// A fresh random master key, base64-encoded.
    pub fn generate_key() -> String {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        B64.encode(key)
    }

    /// Parses a base64 master key of 32 bytes.
    pub fn from_base64(s: &str) -> Option<Self> {
        let bytes = B64.decode(s.trim()).ok()?;
        let key: [u8; 32] = bytes.try_into().ok()?;
        Some(Self::new(&key))
    }

    /// A key for `purpose` derived from the master key (SHA-256 over a label, the
    /// purpose and the master key), so other uses of the master key (signing task
    /// tokens) never share key material with sealing. Replicas sharing the master
    /// key derive the same keys.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"switchyard key derivation\0");
        h.update(purpose.as_bytes());
        h.update([0u8]);
        h.update(self.master);
        h.finalize().into()
    }

    /// `base64(nonce || ciphertext)`.
    pub fn seal(&self, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        // Encryption only fails for inputs beyond 2^38 bytes.
        let ct = match self.cipher.encrypt(Nonce::from_slice(&nonce), plaintext) {
            Ok(ct) => ct,
            Err(_) => unreachable!("ChaCha20-Poly1305 encrypts any secret-sized input"),
        };
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        B64.encode(out)
    }

    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, SealError> {
        let raw = B64.decode(sealed).map_err(|_| SealError::Encoding)?;
        if raw.len() < 12 {
            return Err(SealError::Encoding);
        }
        let (nonce, ct) = raw.split_at(12);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| SealError::Key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_key() {
        let a = Sealer::new(&[1; 32]);
        let b = Sealer::new(&[2; 32]);
        let sealed = a.seal(b"hunter2");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(a.open(&sealed).unwrap(), b"hunter2");
        assert!(matches!(b.open(&sealed), Err(SealError::Key)));
        assert!(matches!(a.open("!!"), Err(SealError::Encoding)));
        assert_ne!(a.seal(b"x"), a.seal(b"x"), "nonces must differ");
    }

    #[test]
    fn derived_keys_depend_on_purpose_and_master() {
        let a = Sealer::new(&[1; 32]);
        assert_eq!(a.derive_key("x"), Sealer::new(&[1; 32]).derive_key("x"));
        assert_ne!(a.derive_key("x"), a.derive_key("y"));
        assert_ne!(a.derive_key("x"), Sealer::new(&[2; 32]).derive_key("x"));
        assert_ne!(a.derive_key("x"), [1; 32]);
    }
}
