//! Questions: opened by `ask` commands, answered by replies on their thread in the
//! same batch that stores the reply.

use std::collections::HashSet;

use super::{Arg, Stmt};
use crate::model::{NewEvent, NewQuestion, QuestionQuery};
use crate::state::{DbText, QuestionStatus};

const QUESTION_COLUMNS: &str = "question_id, event_id, webhook_id, command_id, thread_key, \
     asker, question, status, answer, answer_event_id, answered_by, created_at, answered_at, agent";

/// An open question a reply may answer, as [`open_on_threads`] reads it:
/// `(question_id, thread_key, asker, question)`.
pub(crate) type OpenQuestion = (String, Option<String>, Option<String>, String);

/// Open questions on any of `threads` (one query for the whole batch).
pub(crate) fn open_on_threads<'a>(threads: &[&'a str]) -> Stmt<'a> {
    let mut s = Stmt::new(
        "SELECT question_id, thread_key, asker, question FROM questions \
         WHERE status = 'open' AND thread_key IN (",
    );
    s.push_list(threads.iter().copied()).push(")");
    s
}

/// The updates that answer `open` questions with the batch's new replies: a reply
/// answers open questions on its thread, except its asker's own and a text equal to
/// the question (Switchyard's own post coming back); each question once.
pub(crate) fn answers<'a>(
    events: &[&'a NewEvent],
    inserted: &HashSet<String>,
    open: &'a [OpenQuestion],
) -> Vec<Stmt<'a>> {
    let mut answered = HashSet::new();
    let mut out = Vec::new();
    for e in events {
        let (Some(thread), Some(cand)) = (e.thread_key.as_deref(), e.answers.as_ref()) else {
            continue;
        };
        if !inserted.contains(&e.event_id) {
            continue;
        }
        for (qid, qthread, asker, question) in open {
            let by_asker = asker.is_some() && asker.as_deref() == cand.actor.as_deref();
            if qthread.as_deref() != Some(thread)
                || by_asker
                || cand.text.trim() == question.trim()
                || answered.contains(qid)
            {
                continue;
            }
            answered.insert(qid.clone());
            let mut s = Stmt::new("UPDATE questions SET status = ");
            s.push_bind(QuestionStatus::Answered.to_db())
                .push(", answer = ")
                .push_bind(cand.text.as_str())
                .push(", answer_event_id = ")
                .push_bind(e.event_id.as_str())
                .push(", answered_by = ")
                .push_bind(cand.actor.as_deref())
                .push(", answered_at = ")
                .push_bind(e.received_at)
                .push(" WHERE question_id = ")
                .push_bind(qid.as_str())
                .push(" AND status = 'open'");
            out.push(s);
        }
    }
    out
}

/// Opens a question. One posted by a message is opened only if that message's row
/// exists under its id: run it after the batch's outbox inserts, so a message
/// skipped as a repeat (same idempotency key, another id) opens nothing.
pub(crate) fn insert(q: &NewQuestion) -> Stmt<'_> {
    let mut s = Stmt::new(
        "INSERT INTO questions (question_id, event_id, webhook_id, command_id, thread_key, \
         asker, question, status, created_at, agent) SELECT ",
    );
    let values: [Arg<'_>; 10] = [
        q.question_id.as_str().into(),
        q.event_id.as_deref().into(),
        q.webhook_id.as_str().into(),
        q.command_id.as_deref().into(),
        q.thread_key.as_deref().into(),
        q.asker.as_deref().into(),
        q.question.as_str().into(),
        QuestionStatus::Open.to_db().into(),
        q.created_at.into(),
        q.agent.as_deref().into(),
    ];
    s.push_list(values);
    if let Some(outbox_id) = &q.posted_by {
        s.push(" WHERE EXISTS (SELECT 1 FROM outbox WHERE outbox_id = ")
            .push_bind(outbox_id.as_str())
            .push(")");
    }
    s
}

pub(crate) fn get(question_id: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {QUESTION_COLUMNS} FROM questions WHERE question_id = "
    ));
    s.push_bind(question_id);
    s
}

pub(crate) fn list(q: &QuestionQuery) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {QUESTION_COLUMNS} FROM questions WHERE 1 = 1"
    ));
    if let Some(st) = q.status {
        s.push(" AND status = ").push_bind(st.to_db());
    }
    if let Some(w) = &q.webhook_id {
        s.push(" AND webhook_id = ").push_bind(w.as_str());
    }
    if let Some(e) = &q.event_id {
        s.push(" AND event_id = ").push_bind(e.as_str());
    }
    if let Some(b) = &q.before {
        s.push(" AND question_id < ").push_bind(b.as_str());
    }
    s.push(" ORDER BY question_id DESC LIMIT ")
        .push_bind(q.limit);
    s
}

pub(crate) fn list_for_event(event_id: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {QUESTION_COLUMNS} FROM questions WHERE event_id = "
    ));
    s.push_bind(event_id).push(" ORDER BY question_id");
    s
}
