//! The webhook registry API of seed 002: `/api/webhooks` (CRUD, enable/disable),
//! `/api/webhooks/{id}/commands` and the interactive endpoints
//! `/api/webhooks/{id}/comment|ask|respond`.
//!
//! Secrets are write-only: echoed once in the answer to the request that set them,
//! shown as `********` ever after. Webhooks defined by files in the config folder are
//! listed with `"source": "file:PATH"` and are read-only here (409): the file is
//! their source of truth.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use switchyard_core::routing::{CommandConfig, FieldError, WebhookConfig};
use switchyard_core::{providers, WebhookId};
use switchyard_store::OutboxKind;
use switchyard_store::{
    new_id, now_micros, Effect, NewOutbox, NewQuestion, WebhookRecord, WriteOp,
};

use crate::api::rfc3339;
use crate::error::{ApiError, FieldsError};
use crate::registry::{entry_from_record, Entry, Origin};
use crate::AppState;

fn fields(errs: Vec<FieldError>) -> FieldsError {
    FieldsError(errs.into_iter().map(|e| (e.path, e.message)).collect())
}

/// Gives every command an id: its own, else `cmd-{n}` by position, the rule
/// compilation uses, so the API shows the ids events will name.
fn with_command_ids(cfg: &mut WebhookConfig) {
    for (i, c) in cfg.commands.iter_mut().enumerate() {
        if c.command_id.is_none() {
            c.command_id = Some(format!("cmd-{}", i + 1));
        }
    }
}

fn webhook_json(e: &Entry, secret_once: Option<&str>) -> Value {
    let mut cfg = e.config.clone();
    with_command_ids(&mut cfg);
    let secret = match secret_once {
        Some(s) => json!(s),
        None if e.secrets.is_empty() => Value::Null,
        None => json!("********"),
    };
    json!({
        "webhook_id": e.webhook_id,
        "name": cfg.name,
        "provider": cfg.provider,
        "endpoint": format!("/webhooks/{}/{}", cfg.provider, e.webhook_id),
        "secret": secret,
        "secrets_count": e.secrets.len(),
        "api_token": e.api.as_ref().map(|_| "********"),
        "api_user": cfg.api_user,
        "api_base_url": cfg.api_base_url,
        "enabled": cfg.enabled,
        "description": cfg.description,
        "bot_user": cfg.bot_user,
        "commands": cfg.commands,
        "created_by": cfg.created_by,
        "created_at": rfc3339(e.created_at),
        "updated_at": rfc3339(e.updated_at),
        "source": match &e.origin {
            Origin::Api => "api".to_owned(),
            Origin::File(p) => format!("file:{}", p.display()),
        },
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("unknown_webhook", format!("no webhook {id:?}"))
}

fn read_only(e: &Entry) -> Option<ApiError> {
    match &e.origin {
        Origin::File(p) => Some(ApiError::new(
            StatusCode::CONFLICT,
            "defined_by_file",
            format!(
                "webhook {:?} is defined by {}; edit that file instead",
                e.webhook_id,
                p.display()
            ),
        )),
        Origin::Api => None,
    }
}

pub async fn list(State(st): State<AppState>) -> Json<Value> {
    let webhooks: Vec<Value> = st
        .registry
        .all()
        .iter()
        .map(|e| webhook_json(e, None))
        .collect();
    let errors: Vec<Value> = st
        .registry
        .file_errors()
        .into_iter()
        .map(|(p, e)| json!({"file": p.display().to_string(), "error": e}))
        .collect();
    Json(json!({"webhooks": webhooks, "file_errors": errors}))
}

pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let e = st.registry.get(&id).ok_or_else(|| not_found(&id))?;
    Ok(Json(webhook_json(&e, None)))
}

/// Stores `cfg` (secrets given as `sealed`) and puts it in the registry.
async fn save(
    st: &AppState,
    id: &str,
    mut cfg: WebhookConfig,
    sealed: Vec<String>,
    api_token: Option<String>,
    created_at: i64,
) -> Result<Entry, ApiError> {
    cfg.webhook_id = Some(id.to_owned());
    cfg.endpoint = None;
    cfg.secret = None;
    cfg.secrets = Vec::new();
    cfg.api_token = None;
    cfg.created_at = None;
    with_command_ids(&mut cfg);
    let record = WebhookRecord {
        webhook_id: id.to_owned(),
        name: cfg.name.clone(),
        provider: cfg.provider.clone(),
        enabled: cfg.enabled,
        secrets: serde_json::to_string(&sealed).map_err(ApiError::internal)?,
        config_json: serde_json::to_string(&cfg).map_err(ApiError::internal)?,
        created_at,
        created_by: cfg.created_by.clone().unwrap_or_else(|| "api".to_owned()),
        updated_at: now_micros(),
        api_token,
    };
    st.store.put_webhook(&record).await?;
    let entry = entry_from_record(&record, &st.sealer).map_err(ApiError::internal)?;
    st.registry
        .put_stored(entry_from_record(&record, &st.sealer).map_err(ApiError::internal)?);
    Ok(entry)
}

fn parse_config(body: &[u8]) -> Result<WebhookConfig, FieldsError> {
    let cfg = WebhookConfig::from_json(body).map_err(fields)?;
    let errs = cfg.validate();
    if errs.is_empty() {
        Ok(cfg)
    } else {
        Err(fields(errs))
    }
}

fn given_secrets(cfg: &WebhookConfig) -> Vec<String> {
    cfg.secret
        .iter()
        .chain(cfg.secrets.iter())
        .cloned()
        .collect()
}

/// `POST /api/webhooks` with seed 002's `WebhookConfig`.
pub async fn create(State(st): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let cfg = match parse_config(&body) {
        Ok(c) => c,
        Err(r) => return Ok(r.into_response()),
    };
    let id = cfg.effective_id();
    if WebhookId::parse(&id).is_err() {
        return Ok(fields(vec![FieldError::new(
            "name",
            "gives no usable webhook id; set webhook_id",
        )])
        .into_response());
    }
    if st.registry.get(&id).is_some() || st.store.get_webhook(&id).await?.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "webhook_exists",
            format!("webhook {id:?} exists; PUT to replace it"),
        ));
    }
    let secrets = given_secrets(&cfg);
    let sealed = secrets
        .iter()
        .map(|s| st.sealer.seal(s.as_bytes()))
        .collect();
    let api_token = cfg.api_token.as_ref().map(|t| st.sealer.seal(t.as_bytes()));
    let entry = save(&st, &id, cfg, sealed, api_token, now_micros()).await?;
    tracing::info!(webhook = %id, "webhook created");
    Ok((
        StatusCode::CREATED,
        Json(webhook_json(&entry, secrets.first().map(String::as_str))),
    )
        .into_response())
}

/// `PUT /api/webhooks/{id}`: replaces the definition; without a secret in the body
/// the stored secrets are kept.
pub async fn put(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let existing = st
        .store
        .get_webhook(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    if let Some(e) = st.registry.get(&id).as_deref().and_then(read_only) {
        return Err(e);
    }
    let cfg = match parse_config(&body) {
        Ok(c) => c,
        Err(r) => return Ok(r.into_response()),
    };
    if cfg.webhook_id.as_deref().is_some_and(|w| w != id) {
        return Ok(fields(vec![FieldError::new(
            "webhook_id",
            "must match the id in the path",
        )])
        .into_response());
    }
    let secrets = given_secrets(&cfg);
    let sealed = if secrets.is_empty() {
        existing.sealed_secrets()
    } else {
        secrets
            .iter()
            .map(|s| st.sealer.seal(s.as_bytes()))
            .collect()
    };
    let api_token = match &cfg.api_token {
        Some(t) => Some(st.sealer.seal(t.as_bytes())),
        None => existing.api_token.clone(),
    };
    let entry = save(&st, &id, cfg, sealed, api_token, existing.created_at).await?;
    Ok(Json(webhook_json(&entry, secrets.first().map(String::as_str))).into_response())
}

pub async fn delete(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if let Some(e) = st.registry.get(&id).as_deref().and_then(read_only) {
        return Err(e);
    }
    if st.store.delete_webhook(&id).await? {
        st.registry.remove_stored(&id);
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}

async fn set_enabled(st: &AppState, id: &str, enabled: bool) -> Result<Json<Value>, ApiError> {
    if let Some(e) = st.registry.get(id).as_deref().and_then(read_only) {
        return Err(e);
    }
    let record = st
        .store
        .get_webhook(id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let entry = entry_from_record(&record, &st.sealer).map_err(ApiError::internal)?;
    let mut cfg = entry.config.clone();
    cfg.enabled = enabled;
    let entry = save(
        st,
        id,
        cfg,
        record.sealed_secrets(),
        record.api_token.clone(),
        record.created_at,
    )
    .await?;
    Ok(Json(webhook_json(&entry, None)))
}

pub async fn enable(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_enabled(&st, &id, true).await
}

pub async fn disable(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_enabled(&st, &id, false).await
}

pub async fn list_commands(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let e = st.registry.get(&id).ok_or_else(|| not_found(&id))?;
    let mut cfg = e.config.clone();
    with_command_ids(&mut cfg);
    Ok(Json(json!({"commands": cfg.commands})))
}

fn parse_command(body: &[u8]) -> Result<CommandConfig, FieldsError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        fields(vec![FieldError::new(
            e.path().to_string(),
            e.inner().to_string(),
        )])
    })
}

/// Loads an API-defined webhook for a command change.
async fn editable(st: &AppState, id: &str) -> Result<(WebhookRecord, WebhookConfig), ApiError> {
    if let Some(e) = st.registry.get(id).as_deref().and_then(read_only) {
        return Err(e);
    }
    let record = st
        .store
        .get_webhook(id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let mut cfg = entry_from_record(&record, &st.sealer)
        .map_err(ApiError::internal)?
        .config;
    with_command_ids(&mut cfg);
    Ok((record, cfg))
}

/// Validates `cfg` after a command change and saves it, or answers 422 with paths.
async fn save_commands(
    st: &AppState,
    record: WebhookRecord,
    cfg: WebhookConfig,
) -> Result<Result<Entry, FieldsError>, ApiError> {
    let errs = cfg.validate();
    if !errs.is_empty() {
        return Ok(Err(fields(errs)));
    }
    let id = record.webhook_id.clone();
    Ok(Ok(save(
        st,
        &id,
        cfg,
        record.sealed_secrets(),
        record.api_token.clone(),
        record.created_at,
    )
    .await?))
}

pub async fn add_command(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (record, mut cfg) = editable(&st, &id).await?;
    let mut cmd = match parse_command(&body) {
        Ok(c) => c,
        Err(r) => return Ok(r.into_response()),
    };
    let cmd_id = cmd.command_id.clone().unwrap_or_else(|| new_id("cmd"));
    if cfg
        .commands
        .iter()
        .any(|c| c.command_id.as_deref() == Some(cmd_id.as_str()))
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "command_exists",
            format!("command {cmd_id:?} exists"),
        ));
    }
    cmd.command_id = Some(cmd_id);
    cfg.commands.push(cmd.clone());
    match save_commands(&st, record, cfg).await? {
        Ok(_) => Ok((StatusCode::CREATED, Json(json!(cmd))).into_response()),
        Err(r) => Ok(r.into_response()),
    }
}

pub async fn put_command(
    State(st): State<AppState>,
    Path((id, cmd_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (record, mut cfg) = editable(&st, &id).await?;
    let mut cmd = match parse_command(&body) {
        Ok(c) => c,
        Err(r) => return Ok(r.into_response()),
    };
    cmd.command_id = Some(cmd_id.clone());
    let slot = cfg
        .commands
        .iter_mut()
        .find(|c| c.command_id.as_deref() == Some(cmd_id.as_str()))
        .ok_or_else(|| ApiError::not_found("unknown_command", format!("no command {cmd_id:?}")))?;
    *slot = cmd.clone();
    match save_commands(&st, record, cfg).await? {
        Ok(_) => Ok(Json(json!(cmd)).into_response()),
        Err(r) => Ok(r.into_response()),
    }
}

pub async fn delete_command(
    State(st): State<AppState>,
    Path((id, cmd_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (record, mut cfg) = editable(&st, &id).await?;
    let before = cfg.commands.len();
    cfg.commands
        .retain(|c| c.command_id.as_deref() != Some(cmd_id.as_str()));
    if cfg.commands.len() == before {
        return Err(ApiError::not_found(
            "unknown_command",
            format!("no command {cmd_id:?}"),
        ));
    }
    match save_commands(&st, record, cfg).await? {
        Ok(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(r) => Ok(r.into_response()),
    }
}

/// The interactive endpoints: what an agent sends back about an event.
#[derive(Debug, Clone, Copy)]
pub enum Interaction {
    Comment,
    Ask,
    Respond,
}

async fn interact(
    st: AppState,
    id: String,
    headers: HeaderMap,
    body: Bytes,
    kind: Interaction,
) -> Result<Response, ApiError> {
    let (field, name) = match kind {
        Interaction::Comment => ("message", "comment"),
        Interaction::Ask => ("question", "ask"),
        Interaction::Respond => ("response", "respond"),
    };
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("malformed_body", e.to_string()))?;
    let event_id = v.get("event_id").and_then(Value::as_str);
    let text = v.get(field).and_then(Value::as_str);
    let (Some(event_id), Some(text)) = (event_id, text) else {
        return Ok(fields(vec![FieldError::new(
            if event_id.is_none() {
                "event_id"
            } else {
                field
            },
            "is required (a string)",
        )])
        .into_response());
    };
    if st.registry.get(&id).is_none() && providers::by_name(&id).is_none() {
        return Err(not_found(&id));
    }
    let event = st
        .store
        .get_event(event_id)
        .await?
        .filter(|e| e.webhook_id == id)
        .ok_or_else(|| {
            ApiError::not_found(
                "unknown_event",
                format!("no event {event_id:?} on webhook {id:?}"),
            )
        })?;
    let payload: Value = serde_json::from_str(&event.payload).unwrap_or(Value::Null);
    let target = crate::route::target_json(
        &event.provider,
        event.source.as_deref(),
        event.subject.as_deref(),
        event.thread_key.as_deref(),
        &payload,
    );
    // Retrying the same call with the same Idempotency-Key creates nothing new.
    let key_part = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| new_id("call"));
    let now = now_micros();
    let outbox_id = new_id("msg");
    let mut answer = json!({"event_id": event_id, "action": name, "delivery_id": outbox_id});
    let (dest_key, destination_id) = crate::route::writeback_destination(
        &st,
        st.registry.get(&id).as_deref(),
        &event.provider,
        event.subject.as_deref(),
        event.thread_key.as_deref(),
        &payload,
    );
    let mut body = json!({"target": target, "destination": dest_key});
    body[field] = json!(text);
    let mut effects = Vec::new();
    if let Interaction::Ask = kind {
        let question_id = new_id("q");
        body["question_id"] = json!(question_id);
        answer["question_id"] = json!(question_id);
        effects.push(Effect::Question(NewQuestion {
            question_id,
            event_id: Some(event.event_id.clone()),
            webhook_id: id.clone(),
            command_id: None,
            thread_key: event.thread_key.clone(),
            asker: st.registry.get(&id).and_then(|e| e.config.bot_user.clone()),
            question: text.to_owned(),
            created_at: now,
        }));
    }
    effects.push(Effect::Outbox(NewOutbox {
        outbox_id,
        kind: match kind {
            Interaction::Comment => OutboxKind::Comment,
            Interaction::Ask => OutboxKind::Ask,
            Interaction::Respond => OutboxKind::Respond,
        },
        webhook_id: Some(id.clone()),
        event_id: Some(event.event_id.clone()),
        command_id: None,
        payload: body.to_string(),
        idempotency_key: format!("{event_id}:api:{name}:{key_part}"),
        created_at: now,
        destination_id,
        ordering_key: event.thread_key.clone(),
    }));
    st.writer
        .submit(WriteOp::Effects(effects))
        .await
        .map_err(ApiError::unavailable)?;
    st.engine.wake();
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

pub async fn comment(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    interact(st, id, headers, body, Interaction::Comment).await
}

pub async fn ask(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    interact(st, id, headers, body, Interaction::Ask).await
}

pub async fn respond(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    interact(st, id, headers, body, Interaction::Respond).await
}
