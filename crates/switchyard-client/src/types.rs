//! What the client sends (filters, bodies) and the few answers it reads into types
//! of its own: the server's views that cannot be deserialized as they are (their
//! fixed texts are `&'static str`: `ErrorBody`, `WorkflowView`).

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use switchyard_core::routing::FieldError;

/// `{"error": {...}}`: the body of every error the server answers
/// (`switchyard_server::http::views::ErrorBody`, read back).
#[derive(Debug, Clone, Deserialize)]
pub struct ApiErrorBody {
    pub error: ApiErrorDetail,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub fields: Vec<FieldError>,
}

impl ApiErrorBody {
    /// A refusal whose body is not the server's JSON (a proxy's page, hyper's bare
    /// 431): its status text stands for the message.
    pub(crate) fn plain(status: StatusCode, text: &str) -> Self {
        let text = text.trim();
        let message = if text.is_empty() || text.len() > 200 || text.starts_with('<') {
            status.canonical_reason().unwrap_or("refused").to_owned()
        } else {
            text.to_owned()
        };
        Self {
            error: ApiErrorDetail {
                code: String::new(),
                message,
                fields: Vec::new(),
            },
        }
    }
}

impl std::fmt::Display for ApiErrorDetail {
    /// The message, then each field's problem: one line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        for field in &self.fields {
            write!(f, "; {}: {}", field.path, field.message)?;
        }
        Ok(())
    }
}

/// `GET /api/events` filters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EventFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// `GET /api/checkpoints` filters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckpointFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kickoff_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// `GET /api/deliveries` filters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeliveryFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// A destination id (`dst_…`), or the URL or key it stands for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// `POST /api/deliveries/retry`: which deliveries to send again.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BulkRetry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_id: Option<String>,
    /// The outbox kind (`forward`, `task_push`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// RFC 3339: created at or after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// RFC 3339: created before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    pub dry_run: bool,
}

/// `GET /api/workflows`, as read back (`WorkflowList`'s workflows carry
/// `&'static str` texts, so the server's view cannot be deserialized as it is).
#[derive(Debug, Serialize, Deserialize)]
pub struct WorkflowList {
    pub workflows: Vec<WorkflowSummary>,
    pub file_errors: Vec<switchyard_server::http::views::FileErrorView>,
}

/// A workflow the server serves: the fields of `WorkflowView` the CLI shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkflowSummary {
    pub name: String,
    pub title: String,
    pub description: Option<String>,
    /// `schema_1.0` or `shorthand`.
    pub format: String,
    /// `file` or `api`.
    pub source: String,
    /// The required state fields: what `run --inputs` must give.
    pub inputs: Vec<String>,
    pub updated_at: String,
}
