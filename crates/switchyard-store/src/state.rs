//! The statuses and kinds the store keeps as text, as enums. Each has one spelling,
//! its `as_str()`: the database column, JSON (serde goes through `as_str` and
//! `FromStr`) and `Display` all use it, so they cannot drift apart.
//!
//! Rows are decoded through [`DbText::from_db`] alone (in `rows.rs`), which turns a
//! text the enum does not know into [`StoreError::Corrupt`]; binds go through
//! [`DbText::to_db`]. SQL text that names a state as a literal (`status = 'pending'`,
//! kept literal so the planner sees a constant the indexes lead with) uses the same
//! spelling; the store tests round-trip every variant through both databases. The
//! OpenAPI document's schema of each (a string enum) is built from the same list.

use std::fmt;
use std::str::FromStr;

use crate::StoreError;

/// A text the enum does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what}: {text:?}")]
pub struct UnknownState {
    /// Which enum was asked for (`task status`, `outbox kind`, …).
    pub what: &'static str,
    pub text: String,
}

/// Conversion between a state enum and its column text; implemented by every enum
/// in this module and used by every bind and row decoder in the store.
pub(crate) trait DbText: Sized + Copy {
    fn to_db(self) -> &'static str;

    /// Decodes a column's text; an unknown text means the row is corrupt (or was
    /// written by a newer version), never a default.
    fn from_db(column: &'static str, text: &str) -> Result<Self, StoreError>;
}

macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The text stored in the database and shown in JSON.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownState;

            fn from_str(s: &str) -> Result<Self, UnknownState> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownState { what: $what, text: s.to_owned() }),
                }
            }
        }

        impl TryFrom<&str> for $name {
            type Error = UnknownState;

            fn try_from(s: &str) -> Result<Self, UnknownState> {
                s.parse()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        /// In the OpenAPI document: a string, one of the spellings.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some(concat!("One ", $what, ".")))
                    .enum_values(Some([$($text,)+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl DbText for $name {
            fn to_db(self) -> &'static str {
                self.as_str()
            }

            fn from_db(column: &'static str, text: &str) -> Result<Self, StoreError> {
                text.parse()
                    .map_err(|e: UnknownState| StoreError::Corrupt(format!("{column}: {e}")))
            }
        }
    };
}

text_enum! {
    /// Where a task stands. A lease past its expiry reads as `Queued`.
    TaskStatus, "task status" {
        Queued = "queued",
        Leased = "leased",
        Completed = "completed",
        Failed = "failed",
    }
}

text_enum! {
    /// Where an outbox message's delivery stands.
    DeliveryStatus, "delivery status" {
        Pending = "pending",
        Delivered = "delivered",
        /// Dead-lettered: no attempts left (or a permanent failure).
        Failed = "failed",
    }
}

text_enum! {
    /// What an outbox message is.
    OutboxKind, "outbox kind" {
        /// A comment on the event's thread, through the provider's API.
        Comment = "comment",
        /// A question posted on the thread.
        Ask = "ask",
        /// An answer to a response URL (Slack's `response_url`).
        Respond = "respond",
        /// The event forwarded to a URL, signed with Standard Webhooks.
        Forward = "forward",
        /// A task pushed to a push agent.
        TaskPush = "task_push",
        /// Seed 003's workflow run; recorded, never claimed by the delivery engine.
        RunWorkflow = "run_workflow",
        /// A checkpoint's notification to a person: Slack or e-mail.
        Notify = "notify",
        /// A checkpoint posted to a URL, signed with Standard Webhooks: its
        /// `callback_url`, or a `webhook` notification.
        Callback = "callback",
        /// A call that resumes the agent waiting on a checkpoint (CrewAI, LangGraph).
        Resume = "resume",
    }
}

text_enum! {
    /// How an agent gets its tasks.
    AgentMode, "agent mode" {
        /// The agent leases tasks itself.
        Pull = "pull",
        /// Tasks are pushed to the agent's URL.
        Push = "push",
    }
}

text_enum! {
    /// Whether a question has been answered.
    QuestionStatus, "question status" {
        Open = "open",
        Answered = "answered",
    }
}

text_enum! {
    /// What a destination's `url` names.
    DestinationKind, "destination kind" {
        /// A URL forwards are posted to.
        Http = "http",
        /// `agent:NAME`, a push agent.
        Agent = "agent",
        /// `PROVIDER:API-BASE`, a provider's API for write-backs.
        Provider = "provider",
    }
}

text_enum! {
    /// What a change in the audit log did.
    AuditAction, "audit action" {
        Create = "create",
        Update = "update",
        Delete = "delete",
        Enable = "enable",
        Disable = "disable",
        /// A new signing secret.
        Rotate = "rotate",
        /// An event routed again (what it created, counted).
        Replay = "replay",
        /// A signing secret shown to someone.
        Reveal = "reveal",
        /// Deliveries put back in the queue by a bulk retry.
        Retry = "retry",
    }
}

text_enum! {
    /// What kind of thing a change in the audit log was made to.
    ResourceKind, "resource kind" {
        Webhook = "webhook",
        /// A webhook's command; its id is `WEBHOOK_ID/COMMAND_ID`.
        Command = "command",
        Agent = "agent",
        Destination = "destination",
        /// An API key.
        Key = "key",
        /// A workflow registered through the API.
        Workflow = "workflow",
        /// A stored event (replayed).
        Event = "event",
        /// Outbox messages; a bulk retry's id names its filter.
        Delivery = "delivery",
    }
}

text_enum! {
    /// Where a workflow run is.
    RunStatus, "run status" {
        /// Created; no runner has taken it yet.
        Pending = "pending",
        Running = "running",
        /// A `task`, `ask` or `workflow` node waits for its task, decision or child run.
        Waiting = "waiting",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

impl RunStatus {
    /// True once the run can no longer move.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

text_enum! {
    /// Where one node step (one attempt of one node) is.
    StepStatus, "step status" {
        Running = "running",
        Waiting = "waiting",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

text_enum! {
    /// Where a checkpoint is (the same spelling as `switchyard_core::checkpoint::Status`).
    CheckpointStatus, "checkpoint status" {
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
        Edited = "edited",
        Responded = "responded",
        Expired = "expired",
        Cancelled = "cancelled",
    }
}

text_enum! {
    /// What a step in a checkpoint's history was.
    HistoryKind, "checkpoint history kind" {
        Created = "created",
        Notified = "notified",
        Reminded = "reminded",
        Escalated = "escalated",
        /// A vote toward a quorum.
        Approval = "approval",
        Decided = "decided",
        Expired = "expired",
        Cancelled = "cancelled",
        CallbackDelivered = "callback_delivered",
        CallbackFailed = "callback_failed",
    }
}

text_enum! {
    /// Where a CrewAI kickoff's execution is (seed 000). Only `running`,
    /// `completed` and `error` are stored (what the crew's events said);
    /// `waiting_feedback` and `stopped` follow from its checkpoints when read.
    ExecutionStatus, "execution status" {
        Running = "running",
        WaitingFeedback = "waiting_feedback",
        Stopped = "stopped",
        Completed = "completed",
        Error = "error",
    }
}

text_enum! {
    /// What a checkpoint timer does when due.
    TimerKind, "timer kind" {
        Expire = "expire",
        Remind = "remind",
        Escalate = "escalate",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T>(all: &[T])
    where
        T: DbText
            + FromStr<Err = UnknownState>
            + fmt::Display
            + fmt::Debug
            + PartialEq
            + serde::Serialize
            + serde::de::DeserializeOwned,
    {
        for v in all {
            let text = v.to_db();
            assert_eq!(text.parse::<T>().unwrap(), *v);
            assert_eq!(v.to_string(), text);
            assert_eq!(serde_json::to_string(v).unwrap(), format!("\"{text}\""));
            assert_eq!(
                serde_json::from_str::<T>(&format!("\"{text}\"")).unwrap(),
                *v
            );
            assert_eq!(T::from_db("col", text).unwrap(), *v);
        }
        assert!(
            matches!(T::from_db("col", "nonsense"), Err(StoreError::Corrupt(m)) if m.contains("col"))
        );
        assert!(serde_json::from_str::<T>("\"nonsense\"").is_err());
    }

    #[test]
    fn every_state_round_trips_through_one_spelling() {
        round_trips(TaskStatus::ALL);
        round_trips(DeliveryStatus::ALL);
        round_trips(OutboxKind::ALL);
        round_trips(AgentMode::ALL);
        round_trips(QuestionStatus::ALL);
        round_trips(DestinationKind::ALL);
        round_trips(AuditAction::ALL);
        round_trips(ResourceKind::ALL);
        round_trips(CheckpointStatus::ALL);
        round_trips(HistoryKind::ALL);
        round_trips(TimerKind::ALL);
        round_trips(ExecutionStatus::ALL);
        round_trips(RunStatus::ALL);
        round_trips(StepStatus::ALL);
        assert_eq!(OutboxKind::TaskPush.as_str(), "task_push");
        assert_eq!(OutboxKind::RunWorkflow.as_str(), "run_workflow");
    }
}
