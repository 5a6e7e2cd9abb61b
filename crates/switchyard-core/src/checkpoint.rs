//! Checkpoints (seed 000): what an agent opens when it needs a person, the
//! decisions a person makes, and the rules between them — pure data and pure
//! functions, so the engine, the HTTP layer, the Slack and e-mail channels and the
//! tests all share one state machine.
//!
//! A checkpoint is `pending` until exactly one of: a decision (`approved`,
//! `rejected`, `edited`, `responded`), its timeout (`expired`, carrying its
//! `default_decision`), or a cancel (`cancelled`). Terminal states never change.
//! With a quorum (`approvals_required` > 1) approvals are counted per distinct
//! person and the checkpoint is approved at the quorum; any other decision decides
//! at once.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::routing::FieldError;

/// The longest a checkpoint may wait for a person: 30 days.
pub const MAX_TIMEOUT_SECS: u64 = 30 * 24 * 3600;
/// The largest quorum.
pub const MAX_APPROVALS: u32 = 100;
/// The most notification targets (and escalation steps).
pub const MAX_CHANNELS: usize = 20;
/// The longest checkpoint id and name.
pub const MAX_ID: usize = 128;

/// A decision a person can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
    Edit,
    Respond,
}

impl Decision {
    pub const ALL: [Decision; 4] = [
        Decision::Approve,
        Decision::Reject,
        Decision::Edit,
        Decision::Respond,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
            Decision::Edit => "edit",
            Decision::Respond => "respond",
        }
    }

    /// The state this decision puts a checkpoint in.
    pub fn status(self) -> Status {
        match self {
            Decision::Approve => Status::Approved,
            Decision::Reject => Status::Rejected,
            Decision::Edit => Status::Edited,
            Decision::Respond => Status::Responded,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// Where a checkpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Approved,
    Rejected,
    Edited,
    Responded,
    Expired,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Pending,
        Status::Approved,
        Status::Rejected,
        Status::Edited,
        Status::Responded,
        Status::Expired,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Edited => "edited",
            Status::Responded => "responded",
            Status::Expired => "expired",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        self != Status::Pending
    }
}

/// Where a notification goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "channel", rename_all = "snake_case", deny_unknown_fields)]
pub enum Channel {
    /// A Block Kit message to an incoming webhook (this one, or `SLACK_WEBHOOK_URL`),
    /// or, with `slack_channel`, posted there by the bot (`chat.postMessage` with
    /// `SLACK_API_TOKEN`).
    Slack {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        webhook_url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        slack_channel: Option<String>,
    },
    /// An e-mail with one signed link per decision.
    Email { to: Vec<String> },
    /// The live stream (`/api/stream`, `/ws`).
    Websocket,
    /// A Standard-Webhooks-signed POST of the checkpoint.
    Webhook { url: String },
}

/// A step of escalation: after this long, these are told too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    pub after_seconds: u64,
    pub notify: Vec<Channel>,
}

/// The exact action being approved; its digest is what an approval is bound to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CheckpointAction)]
pub struct Action {
    pub name: String,
    #[serde(default)]
    pub args: Value,
}

/// How the waiting agent is resumed besides `wait` and the callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Resume {
    /// CrewAI Enterprise's `POST {CREWAI_API_URL}/resume`.
    Crewai {
        execution_id: String,
        task_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task_webhook_url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step_webhook_url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        crew_webhook_url: Option<String>,
    },
    /// LangGraph's `POST {url}/threads/{thread_id}/runs` with a resume command.
    Langgraph {
        url: String,
        thread_id: String,
        assistant_id: String,
    },
}

/// What `POST /api/checkpoints` takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CheckpointSpec)]
pub struct Spec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_id: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kickoff_id: Option<String>,
    #[serde(default = "empty_object")]
    pub context: Value,
    /// Markdown shown to the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    /// The decisions allowed; approve and reject when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decisions: Option<Vec<Decision>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// What the timeout decides; required with a timeout (fail closed: choose it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_decision: Option<Decision>,
    /// Replaces the configured defaults when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Vec<Channel>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_after_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalate: Vec<Escalation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals_required: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Resume>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

impl Spec {
    /// Parses a request body, reporting a type error at its field's path.
    pub fn from_json(body: &[u8]) -> Result<Self, Vec<FieldError>> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            vec![FieldError::new(path, e.inner().to_string())]
        })
    }

    /// The decisions allowed.
    pub fn allowed(&self) -> Vec<Decision> {
        self.decisions
            .clone()
            .unwrap_or_else(|| vec![Decision::Approve, Decision::Reject])
    }

    /// The quorum of distinct approvers (1 when absent).
    pub fn quorum(&self) -> u32 {
        self.approvals_required.unwrap_or(1)
    }

    /// Every problem, each with its field's path.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Some(id) = &self.checkpoint_id {
            if !is_id(id) {
                push(
                    &mut errors,
                    "checkpoint_id",
                    "must be 1 to 128 letters, digits, '-', '_', '.' or ':'",
                );
            }
        }
        if self.name.trim().is_empty() || self.name.chars().count() > MAX_ID {
            push(&mut errors, "name", "must be 1 to 128 characters");
        }
        if let Some(k) = &self.kickoff_id {
            if !is_id(k) {
                push(
                    &mut errors,
                    "kickoff_id",
                    "must be 1 to 128 letters, digits, '-', '_', '.' or ':'",
                );
            }
        }
        if !self.context.is_object() {
            push(&mut errors, "context", "must be a JSON object");
        }
        let allowed = self.allowed();
        if allowed.is_empty() {
            push(&mut errors, "decisions", "must list at least one decision");
        }
        for (i, d) in allowed.iter().enumerate() {
            if allowed[..i].contains(d) {
                push(&mut errors, &format!("decisions[{i}]"), "is listed twice");
            }
        }
        match (self.timeout_seconds, self.default_decision) {
            (Some(t), _) if t == 0 || t > MAX_TIMEOUT_SECS => push(
                &mut errors,
                "timeout_seconds",
                "must be from 1 to 2592000 (30 days)",
            ),
            (Some(_), None) => push(
                &mut errors,
                "default_decision",
                "is required with timeout_seconds: say what the timeout decides",
            ),
            (None, Some(_)) => push(
                &mut errors,
                "default_decision",
                "is only used with timeout_seconds",
            ),
            (Some(_), Some(d)) if !allowed.contains(&d) => push(
                &mut errors,
                "default_decision",
                "must be one of the allowed decisions",
            ),
            (Some(_), Some(Decision::Edit)) | (Some(_), Some(Decision::Respond)) => push(
                &mut errors,
                "default_decision",
                "must be approve or reject: nobody edits or responds on a timeout",
            ),
            _ => {}
        }
        let before_timeout = |after: u64| self.timeout_seconds.is_none_or(|t| after < t);
        if let Some(r) = self.remind_after_seconds {
            if r == 0 || !before_timeout(r) {
                push(
                    &mut errors,
                    "remind_after_seconds",
                    "must be at least 1 and before the timeout",
                );
            }
        }
        if self.escalate.len() > MAX_CHANNELS {
            push(&mut errors, "escalate", "at most 20 steps");
        }
        for (i, e) in self.escalate.iter().enumerate() {
            if e.after_seconds == 0 || !before_timeout(e.after_seconds) {
                push(
                    &mut errors,
                    &format!("escalate[{i}].after_seconds"),
                    "must be at least 1 and before the timeout",
                );
            }
            check_channels(&e.notify, &format!("escalate[{i}].notify"), &mut errors);
            if e.notify.is_empty() {
                errors.push(FieldError::new(
                    format!("escalate[{i}].notify"),
                    "must name at least one channel",
                ));
            }
        }
        if let Some(q) = self.approvals_required {
            if q == 0 || q > MAX_APPROVALS {
                push(&mut errors, "approvals_required", "must be from 1 to 100");
            } else if q > 1 && !allowed.contains(&Decision::Approve) {
                push(
                    &mut errors,
                    "approvals_required",
                    "a quorum needs approve among the decisions",
                );
            }
        }
        if let Some(url) = &self.callback_url {
            if !is_http_url(url) {
                push(&mut errors, "callback_url", "must be an http(s) URL");
            }
        }
        if let Some(a) = &self.action {
            if a.name.trim().is_empty() {
                push(&mut errors, "action.name", "must not be empty");
            }
        }
        match &self.resume {
            Some(Resume::Crewai {
                execution_id,
                task_id,
                task_webhook_url,
                step_webhook_url,
                crew_webhook_url,
            }) => {
                if execution_id.is_empty() {
                    push(&mut errors, "resume.execution_id", "must not be empty");
                }
                if task_id.is_empty() {
                    push(&mut errors, "resume.task_id", "must not be empty");
                }
                for (name, url) in [
                    ("task_webhook_url", task_webhook_url),
                    ("step_webhook_url", step_webhook_url),
                    ("crew_webhook_url", crew_webhook_url),
                ] {
                    if url.as_deref().is_some_and(|u| !is_http_url(u)) {
                        push(
                            &mut errors,
                            &format!("resume.{name}"),
                            "must be an http(s) URL",
                        );
                    }
                }
            }
            Some(Resume::Langgraph {
                url,
                thread_id,
                assistant_id,
            }) => {
                if !is_http_url(url) {
                    push(&mut errors, "resume.url", "must be an http(s) URL");
                }
                if thread_id.is_empty() || thread_id.contains('/') {
                    push(
                        &mut errors,
                        "resume.thread_id",
                        "must be a non-empty id without '/'",
                    );
                }
                if assistant_id.is_empty() {
                    push(&mut errors, "resume.assistant_id", "must not be empty");
                }
            }
            None => {}
        }
        if let Some(n) = &self.notify {
            check_channels(n, "notify", &mut errors);
        }
        errors
    }

    /// The digest an approval is bound to, when the spec names an action.
    pub fn action_digest(&self) -> Option<String> {
        self.action.as_ref().map(|a| {
            let v = serde_json::to_value(a).unwrap_or(Value::Null);
            action_digest(&v)
        })
    }
}

fn push(errors: &mut Vec<FieldError>, path: &str, message: &str) {
    errors.push(FieldError::new(path, message));
}

fn check_channels(channels: &[Channel], path: &str, errors: &mut Vec<FieldError>) {
    if channels.len() > MAX_CHANNELS {
        errors.push(FieldError::new(path, "at most 20 channels"));
    }
    for (i, c) in channels.iter().enumerate() {
        let at = format!("{path}[{i}]");
        match c {
            Channel::Slack {
                webhook_url,
                slack_channel: channel,
            } => {
                if webhook_url.as_deref().is_some_and(|u| !is_http_url(u)) {
                    errors.push(FieldError::new(
                        format!("{at}.webhook_url"),
                        "must be an http(s) URL",
                    ));
                }
                if webhook_url.is_some() && channel.is_some() {
                    errors.push(FieldError::new(
                        format!("{at}.slack_channel"),
                        "give webhook_url or slack_channel, not both",
                    ));
                }
                if channel
                    .as_deref()
                    .is_some_and(|c| c.trim().is_empty() || c.len() > 80)
                {
                    errors.push(FieldError::new(
                        format!("{at}.slack_channel"),
                        "must be a Slack channel id or name (1 to 80 characters)",
                    ));
                }
            }
            Channel::Email { to } => {
                if to.is_empty() || to.len() > 50 {
                    errors.push(FieldError::new(
                        format!("{at}.to"),
                        "must list 1 to 50 addresses",
                    ));
                }
                for (j, a) in to.iter().enumerate() {
                    if !is_email(a) {
                        errors.push(FieldError::new(
                            format!("{at}.to[{j}]"),
                            "must be an e-mail address",
                        ));
                    }
                }
            }
            Channel::Webhook { url } if !is_http_url(url) => {
                errors.push(FieldError::new(
                    format!("{at}.url"),
                    "must be an http(s) URL",
                ));
            }
            _ => {}
        }
    }
}

/// A checkpoint or kickoff id: 1 to 128 of `A-Za-z0-9-_.:`.
pub fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn is_http_url(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://"))
        && s.len() <= 2048
        && !s.chars().any(char::is_whitespace)
        && s.split_once("://").is_some_and(|(_, rest)| {
            !rest.is_empty() && !rest.starts_with('/') && !rest.starts_with('?')
        })
}

/// A plausible address: one `@`, something on each side, a dot in the domain, no
/// spaces or angle brackets (header injection).
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"')
        })
}

/// The lowercase hex SHA-256 of the RFC 8785 (JCS) canonical JSON of `action`.
pub fn action_digest(action: &Value) -> String {
    let canonical = serde_jcs::to_vec(action).unwrap_or_default();
    hex::encode(Sha256::digest(&canonical))
}

/// One approval toward a quorum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub by: String,
    /// Microseconds since the epoch.
    pub at: i64,
}

/// A decision as a person (or a channel on their behalf) submits it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    pub decision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_context: Option<Value>,
    /// LangGraph: the action as edited, for an `edit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_action: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_digest: Option<String>,
    /// Seed 000's feedback `action` (`continue`, `stop`, `revise`, `skip`), kept on
    /// the checkpoint; set by `/webhook/feedback`, never read from a native body.
    #[serde(skip)]
    pub feedback_action: Option<String>,
}

/// What the checkpoint's state is now, as the rules need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Current<'a> {
    pub status: Status,
    pub spec: &'a Spec,
    pub action_digest: Option<&'a str>,
    pub approvals: &'a [Approval],
}

/// What a decision does.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The checkpoint is decided: `status` with `decision`.
    Decided { decision: Decision, status: Status },
    /// A vote toward the quorum, recorded; still pending.
    Vote { approvals: Vec<Approval> },
    /// This person's approval was counted before: nothing changes.
    AlreadyCounted,
}

/// Why a decision is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// 422: not a decision, or not one this checkpoint allows, or a field missing.
    #[error("{0}")]
    Invalid(FieldError),
    /// 409: the checkpoint was decided, expired or cancelled already.
    #[error("the checkpoint is {0} already")]
    Terminal(&'static str),
    /// 409: the approval was for another action.
    #[error("action_digest does not match this checkpoint's action: the approval was for another action")]
    DigestMismatch,
}

/// Applies `input` (by `by`, at `now`) to the checkpoint as it is: the one place
/// the rules of a decision live.
pub fn decide(cur: &Current<'_>, input: &DecisionInput, now: i64) -> Result<Outcome, Refused> {
    let invalid = |path: &str, msg: String| Refused::Invalid(FieldError::new(path, msg));
    let decision = Decision::parse(&input.decision).ok_or_else(|| {
        invalid(
            "decision",
            "must be approve, reject, edit or respond".to_owned(),
        )
    })?;
    if cur.status.is_terminal() {
        return Err(Refused::Terminal(cur.status.as_str()));
    }
    let allowed = cur.spec.allowed();
    if !allowed.contains(&decision) {
        let names: Vec<&str> = allowed.iter().map(|d| d.as_str()).collect();
        return Err(invalid(
            "decision",
            format!("this checkpoint allows {}", names.join(", ")),
        ));
    }
    if let Some(given) = &input.action_digest {
        if cur.action_digest != Some(given.trim().to_ascii_lowercase().as_str()) {
            return Err(Refused::DigestMismatch);
        }
    }
    match decision {
        Decision::Edit if input.edited_context.is_none() && input.edited_action.is_none() => {
            return Err(invalid(
                "edited_context",
                "is required to edit (or edited_action)".to_owned(),
            ))
        }
        Decision::Edit
            if input
                .edited_context
                .as_ref()
                .is_some_and(|c| !c.is_object()) =>
        {
            return Err(invalid(
                "edited_context",
                "must be a JSON object".to_owned(),
            ))
        }
        Decision::Respond
            if input
                .response
                .as_deref()
                .is_none_or(|r| r.trim().is_empty()) =>
        {
            return Err(invalid("response", "is required to respond".to_owned()))
        }
        _ => {}
    }
    let quorum = cur.spec.quorum();
    if decision == Decision::Approve && quorum > 1 {
        let by = input
            .by
            .as_deref()
            .filter(|b| !b.trim().is_empty())
            .ok_or_else(|| {
                invalid(
                    "by",
                    "is required: this checkpoint counts approvals by distinct people".to_owned(),
                )
            })?;
        if cur.approvals.iter().any(|a| a.by == by) {
            return Ok(Outcome::AlreadyCounted);
        }
        let mut approvals = cur.approvals.to_vec();
        approvals.push(Approval {
            by: by.to_owned(),
            at: now,
        });
        if approvals.len() < quorum as usize {
            return Ok(Outcome::Vote { approvals });
        }
    }
    Ok(Outcome::Decided {
        decision,
        status: decision.status(),
    })
}

/// The body LangGraph's resume command carries, in LangChain's HITL-middleware
/// shape: `{"decisions": [{"type": ...}]}`.
pub fn langgraph_decision(
    decision: Decision,
    spec: &Spec,
    comment: Option<&str>,
    response: Option<&str>,
    edited_context: Option<&Value>,
    edited_action: Option<&Action>,
) -> Value {
    let one = match decision {
        Decision::Approve => serde_json::json!({"type": "approve"}),
        Decision::Reject => {
            serde_json::json!({"type": "reject", "message": comment.unwrap_or_default()})
        }
        Decision::Respond => {
            serde_json::json!({"type": "reject", "message": response.unwrap_or_default()})
        }
        Decision::Edit => {
            let action = match (edited_action, &spec.action) {
                (Some(a), _) => serde_json::to_value(a).unwrap_or(Value::Null),
                (None, Some(a)) => serde_json::json!({
                    "name": a.name,
                    "args": edited_context.cloned().unwrap_or(Value::Null),
                }),
                (None, None) => serde_json::json!({
                    "name": spec.name,
                    "args": edited_context.cloned().unwrap_or(Value::Null),
                }),
            };
            serde_json::json!({"type": "edit", "edited_action": action})
        }
    };
    serde_json::json!({"decisions": [one]})
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn spec(v: Value) -> Spec {
        serde_json::from_value(v).unwrap()
    }

    fn paths(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.path).collect()
    }

    #[test]
    fn a_minimal_spec_is_valid_and_defaults_to_approve_or_reject() {
        let s = spec(json!({"name": "deploy"}));
        assert!(s.validate().is_empty());
        assert_eq!(s.allowed(), [Decision::Approve, Decision::Reject]);
        assert_eq!(s.quorum(), 1);
        assert_eq!(s.context, json!({}));
    }

    #[test]
    fn every_problem_is_reported_at_its_path() {
        let s = spec(json!({
            "checkpoint_id": "has space",
            "name": "",
            "context": [1],
            "decisions": ["approve", "approve"],
            "timeout_seconds": 60,
            "remind_after_seconds": 90,
            "escalate": [{"after_seconds": 0, "notify": []}],
            "approvals_required": 0,
            "callback_url": "ftp://x",
            "notify": [{"channel": "email", "to": ["nobody"]}, {"channel": "webhook", "url": "x"},
                       {"channel": "slack", "webhook_url": "https://hooks.slack.com/x", "slack_channel": "C1"},
                       {"channel": "slack", "slack_channel": " "}],
            "resume": {"kind": "langgraph", "url": "http://lg", "thread_id": "a/b", "assistant_id": ""}
        }));
        assert_eq!(
            paths(s.validate()),
            [
                "checkpoint_id",
                "name",
                "context",
                "decisions[1]",
                "default_decision",
                "remind_after_seconds",
                "escalate[0].after_seconds",
                "escalate[0].notify",
                "approvals_required",
                "callback_url",
                "resume.thread_id",
                "resume.assistant_id",
                "notify[0].to[0]",
                "notify[1].url",
                "notify[2].slack_channel",
                "notify[3].slack_channel",
            ]
        );
    }

    #[test]
    fn a_timeout_must_say_what_it_decides_and_fail_closed() {
        let with =
            |d: &str| spec(json!({"name": "n", "timeout_seconds": 60, "default_decision": d}));
        assert!(with("reject").validate().is_empty());
        assert!(with("approve").validate().is_empty());
        assert_eq!(paths(with("edit").validate()), ["default_decision"]);
        let only_reject = spec(
            json!({"name": "n", "decisions": ["reject"], "timeout_seconds": 60, "default_decision": "approve"}),
        );
        assert_eq!(paths(only_reject.validate()), ["default_decision"]);
    }

    #[test]
    fn unknown_fields_and_types_are_refused_with_their_path() {
        let e = Spec::from_json(br#"{"name": "n", "colour": 1}"#).unwrap_err();
        assert!(e[0].message.contains("colour"), "{e:?}");
        let e = Spec::from_json(br#"{"name": "n", "timeout_seconds": -1}"#).unwrap_err();
        assert_eq!(e[0].path, "timeout_seconds");
        let e =
            Spec::from_json(br#"{"name": "n", "notify": [{"channel": "pigeon"}]}"#).unwrap_err();
        assert_eq!(e[0].path, "notify[0].channel");
    }

    #[test]
    fn the_digest_is_of_the_canonical_json() {
        // RFC 8785: keys sorted, no whitespace; so key order and spacing do not matter.
        let a = action_digest(&json!({"name": "deploy", "args": {"b": 1, "a": [1, 2]}}));
        let b = action_digest(
            &serde_json::from_str(r#"{ "args": {"a": [1,2], "b": 1}, "name": "deploy" }"#).unwrap(),
        );
        assert_eq!(a, b);
        assert_eq!(
            a,
            hex::encode(Sha256::digest(
                br#"{"args":{"a":[1,2],"b":1},"name":"deploy"}"#
            ))
        );
        assert_ne!(
            a,
            action_digest(&json!({"name": "deploy", "args": {"b": 2, "a": [1, 2]}}))
        );
    }

    fn input(decision: &str, by: Option<&str>) -> DecisionInput {
        DecisionInput {
            decision: decision.into(),
            by: by.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn decisions_follow_the_rules() {
        let s = spec(
            json!({"name": "n", "decisions": ["approve", "reject", "edit", "respond"],
            "action": {"name": "deploy", "args": {"env": "prod"}}}),
        );
        let digest = s.action_digest().unwrap();
        let cur = Current {
            status: Status::Pending,
            spec: &s,
            action_digest: Some(&digest),
            approvals: &[],
        };
        assert_eq!(
            decide(&cur, &input("approve", None), 1),
            Ok(Outcome::Decided {
                decision: Decision::Approve,
                status: Status::Approved
            })
        );
        assert!(
            matches!(decide(&cur, &input("maybe", None), 1), Err(Refused::Invalid(f)) if f.path == "decision")
        );
        assert!(
            matches!(decide(&cur, &input("edit", None), 1), Err(Refused::Invalid(f)) if f.path == "edited_context")
        );
        assert!(
            matches!(decide(&cur, &input("respond", None), 1), Err(Refused::Invalid(f)) if f.path == "response")
        );
        let mut wrong = input("approve", None);
        wrong.action_digest = Some("00".repeat(32));
        assert_eq!(decide(&cur, &wrong, 1), Err(Refused::DigestMismatch));
        let mut right = input("approve", None);
        right.action_digest = Some(digest.to_ascii_uppercase());
        assert!(matches!(
            decide(&cur, &right, 1),
            Ok(Outcome::Decided { .. })
        ));
        for done in Status::ALL.into_iter().filter(|s| s.is_terminal()) {
            let cur = Current {
                status: done,
                ..cur.clone()
            };
            assert_eq!(
                decide(&cur, &input("reject", None), 1),
                Err(Refused::Terminal(done.as_str()))
            );
        }
        let narrow = spec(json!({"name": "n"}));
        let cur = Current {
            status: Status::Pending,
            spec: &narrow,
            action_digest: None,
            approvals: &[],
        };
        assert!(
            matches!(decide(&cur, &input("edit", None), 1), Err(Refused::Invalid(f)) if f.message.contains("approve, reject"))
        );
    }

    #[test]
    fn a_quorum_counts_distinct_people_and_any_reject_decides() {
        let s = spec(json!({"name": "n", "approvals_required": 2}));
        let mut approvals = Vec::new();
        fn cur<'a>(s: &'a Spec, approvals: &'a [Approval]) -> Current<'a> {
            Current {
                status: Status::Pending,
                spec: s,
                action_digest: None,
                approvals,
            }
        }
        assert!(
            matches!(decide(&cur(&s, &approvals), &input("approve", None), 1), Err(Refused::Invalid(f)) if f.path == "by")
        );
        match decide(&cur(&s, &approvals), &input("approve", Some("ann")), 1) {
            Ok(Outcome::Vote { approvals: a }) => approvals = a,
            other => panic!("{other:?}"),
        }
        assert_eq!(
            decide(&cur(&s, &approvals), &input("approve", Some("ann")), 2),
            Ok(Outcome::AlreadyCounted)
        );
        assert!(matches!(
            decide(&cur(&s, &approvals), &input("reject", Some("ann")), 2),
            Ok(Outcome::Decided {
                status: Status::Rejected,
                ..
            })
        ));
        assert!(matches!(
            decide(&cur(&s, &approvals), &input("approve", Some("bob")), 2),
            Ok(Outcome::Decided {
                status: Status::Approved,
                ..
            })
        ));
    }

    #[test]
    fn langgraph_bodies_have_the_middleware_shape() {
        let s = spec(json!({"name": "n", "action": {"name": "send_email", "args": {"to": "a"}}}));
        assert_eq!(
            langgraph_decision(Decision::Approve, &s, None, None, None, None),
            json!({"decisions": [{"type": "approve"}]})
        );
        assert_eq!(
            langgraph_decision(Decision::Reject, &s, Some("no"), None, None, None),
            json!({"decisions": [{"type": "reject", "message": "no"}]})
        );
        assert_eq!(
            langgraph_decision(Decision::Respond, &s, None, Some("use b"), None, None),
            json!({"decisions": [{"type": "reject", "message": "use b"}]})
        );
        assert_eq!(
            langgraph_decision(
                Decision::Edit,
                &s,
                None,
                None,
                Some(&json!({"to": "b"})),
                None
            ),
            json!({"decisions": [{"type": "edit", "edited_action": {"name": "send_email", "args": {"to": "b"}}}]})
        );
    }

    proptest! {
        /// Whatever arrives, parsing and validating never panic, and a decision on a
        /// terminal checkpoint is always refused.
        #[test]
        fn parsing_and_deciding_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256),
                                            decision in "[a-z]{0,10}", by in proptest::option::of("[a-z]{0,5}")) {
            if let Ok(s) = Spec::from_json(&body) {
                let _ = s.validate();
            }
            let s = spec(json!({"name": "n", "approvals_required": 3}));
            let cur = Current { status: Status::Expired, spec: &s, action_digest: None, approvals: &[] };
            let i = DecisionInput { decision: decision.clone(), by, ..Default::default() };
            let r = decide(&cur, &i, 0);
            prop_assert!(r.is_err());
            let cur = Current { status: Status::Pending, ..cur };
            let _ = decide(&cur, &i, 0);
        }
    }
}
