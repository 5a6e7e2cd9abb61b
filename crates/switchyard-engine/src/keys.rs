//! The admin API key and the master key for stored secrets, both bootstrapped on
//! first start when the operator supplies none.
//!
//! The admin key is kept only as a SHA-256 hash in the store; a generated key is
//! printed once and written to a 0600 file in the data folder.

use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use switchyard_store::{Sealer, Store};

use crate::error::StartError;

const ADMIN_HASH_KEY: &str = "admin_key_sha256";

/// Checks bearer tokens against the admin key's hash.
#[derive(Clone)]
pub struct AdminKey {
    hash: [u8; 32],
}

impl std::fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminKey(**redacted**)")
    }
}

fn sha256(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

impl AdminKey {
    pub fn from_key(key: &str) -> Self {
        Self { hash: sha256(key) }
    }

    pub fn check(&self, presented: &str) -> bool {
        bool::from(sha256(presented).ct_eq(&self.hash))
    }

    /// Uses `configured` when given; else the hash in the store; else generates a
    /// key, stores its hash, prints it once and writes it to `data_dir/admin.key`.
    pub async fn bootstrap(
        store: &dyn Store,
        configured: Option<&str>,
        data_dir: &Path,
    ) -> Result<Self, StartError> {
        if let Some(key) = configured {
            return Ok(Self::from_key(key));
        }
        if let Some(hex_hash) = store.get_setting(ADMIN_HASH_KEY).await? {
            return Self::from_hex(&hex_hash);
        }
        let key = format!("sy_admin_{}", hex::encode(rand::random::<[u8; 24]>()));
        let ours = hex::encode(sha256(&key));
        // Another replica may have won the race; then its key stands and ours is dropped.
        let stored = store.put_setting_if_absent(ADMIN_HASH_KEY, &ours).await?;
        if stored == ours {
            let path = data_dir.join("admin.key");
            write_private(&path, &format!("{key}\n"))?;
            eprintln!(
                "switchyard: generated an admin API key (shown once; also in {}):\n\n    {key}\n\n\
                 Set SWITCHYARD_ADMIN_KEY to choose your own.",
                path.display()
            );
        }
        Self::from_hex(&stored)
    }

    fn from_hex(h: &str) -> Result<Self, StartError> {
        let hash: [u8; 32] = hex::decode(h.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                StartError::Key("the stored admin key hash is not 32 hex bytes".into())
            })?;
        Ok(Self { hash })
    }
}

/// The master key sealing stored secrets: `SWITCHYARD_SECRET_KEY`, else
/// `data_dir/secret.key`, generated on first start. Replicas must share it.
pub fn load_sealer(configured: Option<&str>, data_dir: &Path) -> Result<Sealer, StartError> {
    if let Some(k) = configured {
        return Sealer::from_base64(k).ok_or_else(|| {
            StartError::Key("SWITCHYARD_SECRET_KEY must be the base64 of 32 bytes".into())
        });
    }
    let path = data_dir.join("secret.key");
    if !path.exists() {
        write_private(&path, &format!("{}\n", Sealer::generate_key()))?;
    }
    let text = std::fs::read_to_string(&path)?;
    Sealer::from_base64(&text).ok_or_else(|| {
        StartError::Key(format!(
            "{} does not hold a base64 32-byte key",
            path.display()
        ))
    })
}

/// Writes `contents` to a file only its owner can read.
fn write_private(path: &Path, contents: &str) -> Result<(), StartError> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    Ok(())
}
