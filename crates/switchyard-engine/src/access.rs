//! Who may call the admin API, and as whom: API keys with scopes, and the tokens
//! task pushes carry.
//!
//! A caller presents a bearer token, which [`Engine::authenticate`] turns into a
//! [`Principal`]:
//! - the configured (or bootstrapped) admin key: key id `admin`, scope `admin`;
//! - `WEBHOOK_API_KEY` (seed 000): key id `webhook_api_key`, scope `feedback`;
//! - a key made by `POST /api/keys` or `switchyard keys create`: kept only as its
//!   SHA-256, found by it, refused as soon as it is revoked;
//! - a task token (`sy_task_<task_id>_<hex HMAC-SHA256>`), which a task push
//!   carries as `api_key`: stateless (an HMAC under a key derived from the master
//!   key, so every replica accepts it), good only for that task's heartbeat,
//!   complete and fail.
//!
//! Which principal may call which route is declared by the server, per route;
//! [`Principal`]'s methods say what each scope grants. The types live in
//! [`crate::keys`] (the engine's start-up needs them) and are re-exported here;
//! this module manages the keys kept in the store.

use serde::Deserialize;
use switchyard_core::routing::FieldError;
use switchyard_store::{new_id, now_micros, ApiKey, AuditAction, ResourceKind, Store};

use crate::app::Engine;
use crate::audit;
use crate::error::{Error, Result};
use crate::keys::sha256;
pub use crate::keys::{
    task_token, Access, Principal, Scope, ADMIN_KEY_ID, CLI, FEEDBACK_KEY_ID, KEY_PREFIX,
};

/// `POST /api/keys` and `switchyard keys create`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyInput {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A key just made, with the key itself (shown this once).
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub secret: String,
}

fn no_key(id: &str) -> Error {
    Error::not_found("unknown_key", format!("no live key {id:?}"))
}

/// Checks a key request: at least one scope, each known (422 naming the field).
fn parse_input(input: &KeyInput) -> Result<(String, Vec<Scope>)> {
    let mut errs = Vec::new();
    let name = input.name.clone().unwrap_or_default();
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        errs.push(FieldError::new(
            "name",
            "must be at most 200 characters, none of them control characters",
        ));
    }
    if input.scopes.is_empty() {
        errs.push(FieldError::new(
            "scopes",
            "give at least one: admin, read, agent:NAME or feedback",
        ));
    }
    let mut scopes = Vec::new();
    for (i, s) in input.scopes.iter().enumerate() {
        match Scope::parse(s) {
            Ok(scope) if !scopes.contains(&scope) => scopes.push(scope),
            Ok(_) => {}
            Err(why) => errs.push(FieldError::new(format!("scopes[{i}]"), why)),
        }
    }
    if errs.is_empty() {
        Ok((name, scopes))
    } else {
        Err(Error::invalid_with("invalid_key", errs))
    }
}

/// Makes a key: a random `sy_key_…` stored only as its SHA-256, with its audit
/// row. The store is given, so the command line (which has no engine) makes keys
/// the same way.
pub async fn create_key(store: &dyn Store, who: &str, input: &KeyInput) -> Result<CreatedKey> {
    let (name, scopes) = parse_input(input)?;
    let secret = format!("{KEY_PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()));
    let key = ApiKey {
        key_id: new_id("key"),
        name,
        key_hash: hex::encode(sha256(&secret)),
        scopes: scopes.iter().map(ToString::to_string).collect(),
        created_at: now_micros(),
        created_by: who.to_owned(),
        revoked_at: None,
    };
    let row = audit::record(
        who,
        AuditAction::Create,
        ResourceKind::Key,
        &key.key_id,
        None,
        Some(audit::key(&key)),
    );
    store.insert_key(&key, &row).await?;
    tracing::info!(key_id = %key.key_id, scopes = ?key.scopes, by = who, "API key created");
    Ok(CreatedKey { key, secret })
}

/// Revokes a live key; from the next request on it is refused.
pub async fn revoke_key(store: &dyn Store, who: &str, key_id: &str) -> Result<ApiKey> {
    let before = store
        .get_key(key_id)
        .await?
        .filter(|k| k.revoked_at.is_none())
        .ok_or_else(|| no_key(key_id))?;
    let at = now_micros();
    let after = ApiKey {
        revoked_at: Some(at),
        ..before.clone()
    };
    let row = audit::record(
        who,
        AuditAction::Delete,
        ResourceKind::Key,
        key_id,
        Some(audit::key(&before)),
        Some(audit::key(&after)),
    );
    if !store.revoke_key(key_id, at, &row).await? {
        return Err(no_key(key_id));
    }
    tracing::info!(key_id, by = who, "API key revoked");
    Ok(after)
}

impl Engine {
    /// The principal a bearer token stands for; 401 `invalid_api_key` when none.
    pub async fn authenticate(&self, token: &str) -> Result<Principal> {
        if let Some(p) = self.access.known(token) {
            return Ok(p);
        }
        let invalid = || Error::unauthorized("invalid_api_key", "the API key is not valid");
        if !token.starts_with(KEY_PREFIX) {
            return Err(invalid());
        }
        let Some(key) = self
            .store
            .key_by_hash(&hex::encode(sha256(token)))
            .await?
            .filter(|k| k.revoked_at.is_none())
        else {
            return Err(invalid());
        };
        let scopes = key
            .scopes
            .iter()
            .map(|s| Scope::parse(s))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::internal(format!("key {}: stored scope: {e}", key.key_id)))?;
        Ok(Principal::Key {
            key_id: key.key_id,
            scopes,
        })
    }

    /// The principal key `key_id` stands for now, without its secret: the
    /// dashboard's session names a key id and asks again on every request, so a
    /// revoked key (or a `WEBHOOK_API_KEY` no longer configured) signs its sessions
    /// out at once. `None` for a key that is unknown or revoked.
    pub async fn principal_of_key(&self, key_id: &str) -> Result<Option<Principal>> {
        match key_id {
            ADMIN_KEY_ID => Ok(Some(Principal::Key {
                key_id: key_id.to_owned(),
                scopes: vec![Scope::Admin],
            })),
            FEEDBACK_KEY_ID => Ok(self.access.has_feedback_key().then(|| Principal::Key {
                key_id: key_id.to_owned(),
                scopes: vec![Scope::Feedback],
            })),
            _ => {
                let Some(key) = self
                    .store
                    .get_key(key_id)
                    .await?
                    .filter(|k| k.revoked_at.is_none())
                else {
                    return Ok(None);
                };
                let scopes = key
                    .scopes
                    .iter()
                    .map(|s| Scope::parse(s))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| Error::internal(format!("key {key_id}: stored scope: {e}")))?;
                Ok(Some(Principal::Key {
                    key_id: key.key_id,
                    scopes,
                }))
            }
        }
    }

    /// The token a push of `task_id` carries.
    pub fn task_token(&self, task_id: &str) -> String {
        task_token(&self.sealer, task_id)
    }

    pub async fn create_key(&self, who: &str, input: &KeyInput) -> Result<CreatedKey> {
        create_key(self.store.as_ref(), who, input).await
    }

    pub async fn list_keys(&self) -> Result<Vec<ApiKey>> {
        Ok(self.store.list_keys().await?)
    }

    pub async fn revoke_key(&self, who: &str, key_id: &str) -> Result<ApiKey> {
        revoke_key(self.store.as_ref(), who, key_id).await
    }
}
