//! Seed 000's feedback: `POST /webhook/feedback {"checkpoint_id", "action":
//! "continue"|"stop"|"revise"|"skip", "feedback"?}` and the checkpoint decision each
//! action stands for. Pure, so the parser is fuzzed on raw bytes
//! (`fuzz/fuzz_targets/feedback_body.rs`).

use serde_json::{json, Value};

use crate::checkpoint::{Decision, DecisionInput};

/// Why a feedback body is refused (all 400s).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedbackError {
    #[error("the body is not a JSON object: {0}")]
    NotJson(String),
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{0}")]
    Invalid(String),
}

impl FeedbackError {
    /// The error body's `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotJson(_) => "invalid_json",
            Self::Missing(_) => "missing_field",
            Self::Invalid(_) => "invalid_field",
        }
    }
}

/// Seed 000's feedback actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackAction {
    Continue,
    Stop,
    Revise,
    Skip,
}

impl FeedbackAction {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "continue" => Some(Self::Continue),
            "stop" => Some(Self::Stop),
            "revise" => Some(Self::Revise),
            "skip" => Some(Self::Skip),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Continue => "continue",
            Self::Stop => "stop",
            Self::Revise => "revise",
            Self::Skip => "skip",
        }
    }
}

/// A `POST /webhook/feedback` body, checked.
#[derive(Debug, Clone)]
pub struct Feedback {
    pub checkpoint_id: String,
    pub action: FeedbackAction,
    pub feedback: Option<String>,
    /// Who decided (`by`, or seed 000's `user_id`); the key id when absent.
    pub by: Option<String>,
}

impl Feedback {
    /// Parses a body: 400 `invalid_json`, or `missing_field` / `invalid_field`
    /// naming the field. Fields it does not know are ignored, as seed 000's own
    /// server ignores them.
    pub fn parse(body: &[u8]) -> Result<Self, FeedbackError> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| FeedbackError::NotJson(e.to_string()))?;
        if !v.is_object() {
            return Err(FeedbackError::NotJson("not an object".into()));
        }
        let text = |name: &str| -> Result<Option<String>, FeedbackError> {
            match v.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(FeedbackError::Invalid(format!("{name} must be a string"))),
            }
        };
        let required = |name: &'static str| -> Result<String, FeedbackError> {
            text(name)?
                .filter(|s| !s.trim().is_empty())
                .ok_or(FeedbackError::Missing(name))
        };
        let checkpoint_id = required("checkpoint_id")?;
        let action = required("action")?;
        let action = FeedbackAction::parse(&action).ok_or_else(|| {
            FeedbackError::Invalid(format!(
                "action must be continue, stop, revise or skip; got {action:?}"
            ))
        })?;
        let feedback = text("feedback")?;
        if action == FeedbackAction::Revise
            && feedback.as_deref().is_none_or(|f| f.trim().is_empty())
        {
            // `revise` carries the revision: the feedback is required with it.
            return Err(FeedbackError::Missing("feedback"));
        }
        let by = text("by")?.or(text("user_id")?);
        Ok(Self {
            checkpoint_id,
            action,
            feedback,
            by,
        })
    }

    /// The decision it stands for: continue → approve, stop → reject, revise →
    /// edit (the feedback as `edited_context.feedback`), skip → approve; the
    /// action itself is kept as `feedback_action`.
    pub fn decision(&self) -> DecisionInput {
        let decision = match self.action {
            FeedbackAction::Continue | FeedbackAction::Skip => Decision::Approve,
            FeedbackAction::Stop => Decision::Reject,
            FeedbackAction::Revise => Decision::Edit,
        };
        DecisionInput {
            decision: decision.as_str().to_owned(),
            comment: self.feedback.clone(),
            edited_context: (self.action == FeedbackAction::Revise)
                .then(|| json!({"feedback": self.feedback})),
            edited_action: None,
            response: None,
            by: self.by.clone(),
            action_digest: None,
            feedback_action: Some(self.action.as_str().to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn each_action_stands_for_a_decision() {
        let f = Feedback::parse(
            br#"{"checkpoint_id": "c1", "action": "revise", "feedback": "shorter"}"#,
        )
        .unwrap();
        let d = f.decision();
        assert_eq!(d.decision, "edit");
        assert_eq!(d.edited_context, Some(json!({"feedback": "shorter"})));
        assert_eq!(d.feedback_action.as_deref(), Some("revise"));
        let skip = Feedback::parse(br#"{"checkpoint_id": "c1", "action": "skip"}"#).unwrap();
        assert_eq!(skip.decision().decision, "approve");
        let stop = Feedback::parse(br#"{"checkpoint_id": "c1", "action": "stop", "user_id": "u"}"#)
            .unwrap();
        assert_eq!(
            (stop.decision().decision.as_str(), stop.by.as_deref()),
            ("reject", Some("u"))
        );
    }

    #[test]
    fn refusals_name_the_field() {
        let e = |b: &[u8]| Feedback::parse(b).unwrap_err();
        assert_eq!(e(b"[]").code(), "invalid_json");
        assert_eq!(
            e(br#"{"action": "continue"}"#),
            FeedbackError::Missing("checkpoint_id")
        );
        assert_eq!(
            e(br#"{"checkpoint_id": "c"}"#),
            FeedbackError::Missing("action")
        );
        assert_eq!(
            e(br#"{"checkpoint_id": "c", "action": "maybe"}"#).code(),
            "invalid_field"
        );
        assert_eq!(
            e(br#"{"checkpoint_id": 7, "action": "stop"}"#).code(),
            "invalid_field"
        );
        assert_eq!(
            e(br#"{"checkpoint_id": "c", "action": "revise"}"#),
            FeedbackError::Missing("feedback")
        );
    }

    proptest! {
        /// Any bytes: a feedback or a refusal, never a panic; an accepted one names a
        /// checkpoint and maps to a decision its action allows.
        #[test]
        fn any_body_is_parsed_or_refused(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(f) = Feedback::parse(&body) {
                prop_assert!(!f.checkpoint_id.trim().is_empty());
                let d = f.decision();
                prop_assert!(Decision::parse(&d.decision).is_some());
            }
        }

        /// Well-formed bodies with any field values round-trip.
        #[test]
        fn well_formed_bodies_parse(id in "[a-z0-9-]{1,20}", action in prop_oneof!["continue", "stop", "skip"], fb in proptest::option::of(".{0,40}")) {
            let body = json!({"checkpoint_id": id, "action": action, "feedback": fb}).to_string();
            let f = Feedback::parse(body.as_bytes()).unwrap();
            prop_assert_eq!(f.checkpoint_id, id);
            prop_assert_eq!(f.action.as_str(), action.as_str());
            prop_assert_eq!(f.feedback, fb);
        }
    }
}
