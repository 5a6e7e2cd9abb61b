//! The admin API key and the master key for stored secrets, both bootstrapped on
//! first start when the operator supplies none.
//!
//! The admin key is kept only as a SHA-256 hash in the store; a generated key is
//! printed once and written to a 0600 file in the data folder.
//!
//! Also what a bearer token may stand for ([`Principal`], its [`Scope`]s) and
//! the keys known without the store ([`Access`]: the admin key, `WEBHOOK_API_KEY`,
//! the task-token key); keys made through the API are managed in [`crate::access`].

use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use switchyard_store::{Sealer, Store};

use crate::error::StartError;

const ADMIN_HASH_KEY: &str = "admin_key_sha256";

/// A key known only by its SHA-256 (the admin key, `WEBHOOK_API_KEY`): checks
/// bearer tokens against the hash in constant time.
#[derive(Clone)]
pub struct KeyHash {
    hash: [u8; 32],
}

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHash(**redacted**)")
    }
}

/// The SHA-256 of a key, the form keys are stored and looked up in.
pub fn sha256(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

impl KeyHash {
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

/// The key id the configured admin key acts as, in the audit log.
pub const ADMIN_KEY_ID: &str = "admin";
/// The key id `WEBHOOK_API_KEY` acts as.
pub const FEEDBACK_KEY_ID: &str = "webhook_api_key";
/// Who the command line acts as.
pub const CLI: &str = "cli";

const TASK_TOKEN_PREFIX: &str = "sy_task_";
/// What every key made by `POST /api/keys` starts with.
pub const KEY_PREFIX: &str = "sy_key_";
const TASK_TOKEN_PURPOSE: &str = "task-token-v1";

/// What a key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything.
    Admin,
    /// Every GET that shows no secret.
    Read,
    /// Lease, heartbeat, complete and fail this agent's tasks; open questions
    /// (and checkpoints) and read and wait for its own.
    Agent(String),
    /// Decide checkpoints and answer questions.
    Feedback,
}

impl Scope {
    /// Parses `admin`, `read`, `agent:NAME` (a valid agent name) or `feedback`.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        match s {
            "admin" => Ok(Self::Admin),
            "read" => Ok(Self::Read),
            "feedback" => Ok(Self::Feedback),
            _ => match s.strip_prefix("agent:") {
                Some(name) => switchyard_core::WebhookId::parse(name)
                    .map(|_| Self::Agent(name.to_owned()))
                    .map_err(|e| format!("agent name {name:?}: {e}")),
                None => Err(format!(
                    "unknown scope {s:?}: use admin, read, agent:NAME or feedback"
                )),
            },
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Admin => f.write_str("admin"),
            Self::Read => f.write_str("read"),
            Self::Agent(name) => write!(f, "agent:{name}"),
            Self::Feedback => f.write_str("feedback"),
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An API key and its scopes.
    Key { key_id: String, scopes: Vec<Scope> },
    /// A task push's token: that task's heartbeat, complete and fail only.
    Task { task_id: String },
}

impl Principal {
    /// The command line, which may do anything.
    pub fn cli() -> Self {
        Self::Key {
            key_id: CLI.to_owned(),
            scopes: vec![Scope::Admin],
        }
    }

    /// Who, in the audit log.
    pub fn key_id(&self) -> String {
        match self {
            Self::Key { key_id, .. } => key_id.clone(),
            Self::Task { task_id } => format!("task:{task_id}"),
        }
    }

    fn scopes(&self) -> &[Scope] {
        match self {
            Self::Key { scopes, .. } => scopes,
            Self::Task { .. } => &[],
        }
    }

    pub fn is_admin(&self) -> bool {
        self.scopes().contains(&Scope::Admin)
    }

    /// May read what a GET shows (no secrets).
    pub fn can_read(&self) -> bool {
        self.is_admin() || self.scopes().contains(&Scope::Read)
    }

    pub fn is_feedback(&self) -> bool {
        self.is_admin() || self.scopes().contains(&Scope::Feedback)
    }

    /// May act for agent `name` (its tasks, its questions).
    pub fn acts_for(&self, name: &str) -> bool {
        self.is_admin() || self.scopes().contains(&Scope::Agent(name.to_owned()))
    }

    /// The agent this key acts for, when it is an agent's key.
    pub fn agent(&self) -> Option<&str> {
        self.scopes().iter().find_map(|s| match s {
            Scope::Agent(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// The task a task token is good for.
    pub fn task(&self) -> Option<&str> {
        match self {
            Self::Task { task_id } => Some(task_id),
            Self::Key { .. } => None,
        }
    }
}

/// The keys known without the store: the admin key, `WEBHOOK_API_KEY`, and the
/// key task tokens are signed with.
#[derive(Clone)]
pub struct Access {
    admin: KeyHash,
    feedback: Option<KeyHash>,
    task_key: [u8; 32],
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Access(**redacted**)")
    }
}

impl Access {
    pub fn new(admin: KeyHash, feedback: Option<KeyHash>, sealer: &Sealer) -> Self {
        Self {
            admin,
            feedback,
            task_key: task_token_key(sealer),
        }
    }

    /// Whether `WEBHOOK_API_KEY` is configured.
    pub fn has_feedback_key(&self) -> bool {
        self.feedback.is_some()
    }

    /// The principal a token stands for without asking the store, if any.
    pub fn known(&self, token: &str) -> Option<Principal> {
        if let Some(task_id) = task_of_token(&self.task_key, token) {
            return Some(Principal::Task { task_id });
        }
        if self.admin.check(token) {
            return Some(Principal::Key {
                key_id: ADMIN_KEY_ID.to_owned(),
                scopes: vec![Scope::Admin],
            });
        }
        if self.feedback.as_ref().is_some_and(|k| k.check(token)) {
            return Some(Principal::Key {
                key_id: FEEDBACK_KEY_ID.to_owned(),
                scopes: vec![Scope::Feedback],
            });
        }
        None
    }
}

fn task_token_key(sealer: &Sealer) -> [u8; 32] {
    sealer.derive_key(TASK_TOKEN_PURPOSE)
}

/// The token a task push carries: good for that task's heartbeat, complete and
/// fail only.
pub fn task_token(sealer: &Sealer, task_id: &str) -> String {
    let mac = switchyard_core::sig::hmac_sha256(&task_token_key(sealer), &[task_id.as_bytes()]);
    format!("{TASK_TOKEN_PREFIX}{task_id}_{}", hex::encode(mac))
}

/// The task a token is for, when its HMAC checks out.
fn task_of_token(key: &[u8; 32], token: &str) -> Option<String> {
    let (task_id, mac) = token.strip_prefix(TASK_TOKEN_PREFIX)?.rsplit_once('_')?;
    let mac = hex::decode(mac).ok()?;
    let expected = switchyard_core::sig::hmac_sha256(key, &[task_id.as_bytes()]);
    switchyard_core::sig::ct_eq(&mac, &expected).then(|| task_id.to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_print_alike() {
        for s in ["admin", "read", "feedback", "agent:planning"] {
            assert_eq!(Scope::parse(s).unwrap().to_string(), s);
        }
        assert!(Scope::parse("agent:").is_err());
        assert!(Scope::parse("agent:bad name").is_err());
        assert!(Scope::parse("write").is_err());
        assert!(Scope::parse("Admin").is_err());
    }

    #[test]
    fn a_task_token_is_good_for_its_task_only() {
        let sealer = Sealer::new(&[7; 32]);
        let key = task_token_key(&sealer);
        let t = task_token(&sealer, "task_0191abc");
        assert_eq!(task_of_token(&key, &t).as_deref(), Some("task_0191abc"));
        // Another task's id with this MAC, a changed MAC, another master key.
        let forged = t.replace("task_0191abc", "task_0191abd");
        assert_eq!(task_of_token(&key, &forged), None);
        let mut tampered = t.clone();
        tampered.pop();
        tampered.push(if t.ends_with('0') { '1' } else { '0' });
        assert_eq!(task_of_token(&key, &tampered), None);
        let other = task_token_key(&Sealer::new(&[8; 32]));
        assert_eq!(task_of_token(&other, &t), None);
    }

    #[test]
    fn what_each_scope_grants() {
        let key = |scopes: Vec<Scope>| Principal::Key {
            key_id: "k".into(),
            scopes,
        };
        let admin = key(vec![Scope::Admin]);
        assert!(admin.can_read() && admin.is_feedback() && admin.acts_for("x"));
        let read = key(vec![Scope::Read]);
        assert!(read.can_read() && !read.is_admin() && !read.acts_for("x"));
        let agent = key(vec![Scope::Agent("x".into())]);
        assert!(agent.acts_for("x") && !agent.acts_for("y") && !agent.can_read());
        assert_eq!(agent.agent(), Some("x"));
        let fb = key(vec![Scope::Feedback]);
        assert!(fb.is_feedback() && !fb.can_read() && !fb.is_admin());
        let task = Principal::Task {
            task_id: "t".into(),
        };
        assert!(!task.can_read() && !task.acts_for("x") && task.task() == Some("t"));
    }
}
