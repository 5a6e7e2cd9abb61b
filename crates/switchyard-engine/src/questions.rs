//! Questions opened by `ask`: read one, or wait for its answer. A reply on the
//! question's thread from someone other than the asker answers it (the store decides
//! that in the reply's own transaction); waiting wakes on the next committed event.

use std::time::Duration;

use switchyard_store::{Question, QuestionQuery, QuestionStatus};

use crate::app::Engine;
use crate::error::{Error, Result};

/// The longest a wait may last, in seconds.
pub const MAX_WAIT_SECS: u64 = 60;

impl Engine {
    pub async fn question(&self, id: &str) -> Result<Question> {
        self.store
            .get_question(id)
            .await?
            .ok_or_else(|| Error::not_found("unknown_question", format!("no question {id:?}")))
    }

    /// Questions newest first, filtered.
    pub async fn list_questions(&self, q: &QuestionQuery) -> Result<Vec<Question>> {
        Ok(self.store.list_questions(q).await?)
    }

    /// Waits up to `timeout` for the question to be answered; returns it either
    /// way (its status tells which).
    pub async fn wait_question(&self, id: &str, timeout: Duration) -> Result<Question> {
        if timeout > Duration::from_secs(MAX_WAIT_SECS) {
            return Err(Error::bad_request(
                "invalid_timeout",
                format!("timeout must be at most {MAX_WAIT_SECS} seconds"),
            ));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let _waiting = self.hub.wait_started();
        loop {
            let notified = self.hub.events_changed();
            let q = self.question(id).await?;
            let now = tokio::time::Instant::now();
            if q.status != QuestionStatus::Open || now >= deadline {
                return Ok(q);
            }
            let nap = (deadline - now).min(self.config.wait_fallback);
            tokio::select! {
                _ = notified => {},
                _ = tokio::time::sleep(nap) => {},
                // Stopping: answer with the question as it is.
                _ = self.hub.closing() => return Ok(q),
            }
        }
    }
}
