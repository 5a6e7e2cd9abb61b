//! A checkpoint as every answer shows it: the API, the callbacks and webhook
//! notifications, the live stream and the dashboard all serialize this one view.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_store::{Checkpoint, CheckpointStatus};

use crate::time::rfc3339;

fn json_or_text(s: &str) -> Value {
    serde_json::from_str::<Value>(s).unwrap_or_else(|_| Value::String(s.to_owned()))
}

/// Where a checkpoint's API calls and its dashboard page are.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckpointLinks {
    #[serde(rename = "self")]
    pub this: String,
    pub wait: String,
    pub decision: String,
    pub history: String,
    /// The dashboard's page for it.
    pub inbox: String,
}

/// A checkpoint: what was asked, and what became of it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckpointView {
    pub checkpoint_id: String,
    pub name: String,
    pub kickoff_id: Option<String>,
    pub status: CheckpointStatus,
    pub decision: Option<String>,
    pub context: Value,
    pub question: Option<String>,
    pub decisions: Vec<String>,
    pub expires_at: Option<String>,
    pub action: Option<Value>,
    pub action_digest: Option<String>,
    pub approvals: Value,
    pub approvals_required: u32,
    pub comment: Option<String>,
    pub edited_context: Option<Value>,
    /// An `edit` decision's action as edited (`{"name", "args"}`).
    pub edited_action: Option<Value>,
    pub response: Option<String>,
    pub decided_by: Option<String>,
    pub feedback_action: Option<String>,
    pub created_at: String,
    pub decided_at: Option<String>,
    pub links: CheckpointLinks,
}

impl CheckpointView {
    /// The view of `c`, its links under `public_url` (`SWITCHYARD_PUBLIC_URL`).
    pub fn new(c: &Checkpoint, public_url: &str) -> Self {
        // A spec this server stored parses; an unreadable one shows what is known.
        let spec = super::spec_of(c).ok();
        let approvals: Vec<Value> = super::approvals_of(c)
            .unwrap_or_default()
            .into_iter()
            .map(|a| serde_json::json!({"by": a.by, "at": rfc3339(a.at)}))
            .collect();
        let base = public_url.trim_end_matches('/');
        let api = format!("{base}/api/checkpoints/{}", c.checkpoint_id);
        Self {
            checkpoint_id: c.checkpoint_id.clone(),
            name: c.name.clone(),
            kickoff_id: c.kickoff_id.clone(),
            status: c.status,
            decision: c.decision.clone(),
            context: spec.as_ref().map_or(Value::Null, |s| s.context.clone()),
            question: spec.as_ref().and_then(|s| s.question.clone()),
            decisions: spec
                .as_ref()
                .map(|s| s.allowed().iter().map(|d| d.as_str().to_owned()).collect())
                .unwrap_or_default(),
            expires_at: c.expires_at.map(rfc3339),
            action: spec
                .as_ref()
                .and_then(|s| s.action.as_ref())
                .and_then(|a| serde_json::to_value(a).ok()),
            action_digest: c.action_digest.clone(),
            approvals: Value::Array(approvals),
            approvals_required: spec.as_ref().map_or(1, |s| s.quorum()),
            comment: c.comment.clone(),
            edited_context: c.edited_context.as_deref().map(json_or_text),
            edited_action: c.edited_action.as_deref().map(json_or_text),
            response: c.response.clone(),
            decided_by: c.decided_by.clone(),
            feedback_action: c.feedback_action.clone(),
            created_at: rfc3339(c.created_at),
            decided_at: c.decided_at.map(rfc3339),
            links: CheckpointLinks {
                wait: format!("{api}/wait"),
                decision: format!("{api}/decision"),
                history: format!("{api}/history"),
                this: api,
                inbox: format!("{base}/ui/inbox/{}", c.checkpoint_id),
            },
        }
    }
}
