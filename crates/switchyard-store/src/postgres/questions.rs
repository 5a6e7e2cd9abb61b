//! Questions on PostgreSQL.

use super::{query_as, PgStore};
use crate::error::DbResultExt;
use crate::model::{Question, QuestionQuery};
use crate::rows::{self, QuestionRow};
use crate::sql::questions as sql;
use crate::{QuestionStore, Result};

#[async_trait::async_trait]
impl QuestionStore for PgStore {
    async fn get_question(&self, question_id: &str) -> Result<Option<Question>> {
        let s = sql::get(question_id);
        let row: Option<QuestionRow> = query_as(&s).fetch_optional(&self.reader).await.db()?;
        rows::one(row)
    }

    async fn list_questions_for_event(&self, event_id: &str) -> Result<Vec<Question>> {
        let s = sql::list_for_event(event_id);
        let rows: Vec<QuestionRow> = query_as(&s).fetch_all(&self.reader).await.db()?;
        rows::all(rows)
    }

    async fn list_questions(&self, q: &QuestionQuery) -> Result<Vec<Question>> {
        let s = sql::list(q);
        let rows: Vec<QuestionRow> = query_as(&s).fetch_all(&self.reader).await.db()?;
        rows::all(rows)
    }
}
