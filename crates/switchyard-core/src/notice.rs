//! What a person sees of a checkpoint on Slack, and what comes back when they
//! click: the Block Kit message for a pending checkpoint, the message that replaces
//! it once decided, and the parser for Slack's interactivity POST — pure functions,
//! so the delivery engine, the `/slack/interactivity` endpoint and the tests share
//! them (and the fuzzer can run the parser on any bytes).
//!
//! Each decision button carries `action_id = "switchyard:{decision}:{checkpoint_id}"`
//! and `value = checkpoint_id`, so a click names both without any state kept per
//! message. Only approve and reject are buttons; the checkpoint's other allowed
//! decisions (edit, respond need a text) are offered as a link to the dashboard's
//! page, `{public_url}/ui/inbox/{checkpoint_id}`. Links are in mrkdwn text, not URL
//! buttons, so a click on them sends Slack no interaction payload.
//!
//! Every text is escaped for mrkdwn (`&`, `<`, `>`) and clipped, by characters and
//! after escaping, to the limits Slack documents for its field (a message with a
//! field over its limit is refused with `invalid_blocks`).

use serde_json::{json, Value};

use crate::checkpoint::{Decision, Spec, Status};

/// The prefix of every button `action_id` this module builds.
pub const ACTION_PREFIX: &str = "switchyard:";

/// Slack's limits, in characters.
pub mod limits {
    /// A header block's plain text.
    pub const HEADER: usize = 150;
    /// A section block's text.
    pub const SECTION: usize = 3000;
    /// Each of a section's fields.
    pub const FIELD: usize = 2000;
    /// The most fields a section holds.
    pub const FIELDS: usize = 10;
    /// A context element's text.
    pub const CONTEXT: usize = 2000;
    /// The top-level `text`, shown in notifications (Slack truncates past 40,000;
    /// kept well short of it).
    pub const FALLBACK: usize = 3000;
}

/// How long a context key and value are shown in a summary (before escaping).
pub const SUMMARY_KEY: usize = 60;
/// See [`SUMMARY_KEY`].
pub const SUMMARY_VALUE: usize = 200;

/// The checkpoint as a notice shows it.
#[derive(Debug, Clone, Copy)]
pub struct Notice<'a> {
    pub checkpoint_id: &'a str,
    pub spec: &'a Spec,
    /// RFC 3339, when the checkpoint has a timeout.
    pub expires_at: Option<&'a str>,
    /// `SWITCHYARD_PUBLIC_URL`, without a trailing `/` (one is removed if given).
    pub public_url: &'a str,
}

impl Notice<'_> {
    /// The dashboard's page for this checkpoint.
    pub fn inbox_url(&self) -> String {
        inbox_url(self.public_url, self.checkpoint_id)
    }
}

/// `{public_url}/ui/inbox/{checkpoint_id}`.
pub fn inbox_url(public_url: &str, checkpoint_id: &str) -> String {
    format!(
        "{}/ui/inbox/{checkpoint_id}",
        public_url.trim_end_matches('/')
    )
}

/// A context summary: its first entries as short `(key, value)` texts, and how
/// many were left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub entries: Vec<(String, String)>,
    pub more: usize,
}

/// The first `max` entries of a context object, each key clipped to
/// [`SUMMARY_KEY`] and value to [`SUMMARY_VALUE`] characters; strings are shown as
/// they are, other values as compact JSON, line breaks and controls as spaces.
/// Not escaped: each channel escapes for its own format.
pub fn context_summary(context: &Value, max: usize) -> Summary {
    let Some(obj) = context.as_object() else {
        return Summary {
            entries: Vec::new(),
            more: 0,
        };
    };
    let entries = obj
        .iter()
        .take(max)
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (
                clip(&one_line(k), SUMMARY_KEY),
                clip(&one_line(&value), SUMMARY_VALUE),
            )
        })
        .collect();
    Summary {
        entries,
        more: obj.len().saturating_sub(max),
    }
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `s` cut to at most `max` characters, the last one `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    if max > 0 {
        out.push('…');
    }
    out
}

/// `s` escaped for mrkdwn and cut to at most `max` characters (counted after
/// escaping, never inside an escape), the last one `…` when cut.
pub fn mrkdwn(s: &str, max: usize) -> String {
    let escaped = |c: char| -> &'static str {
        match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            _ => "",
        }
    };
    let mut out = String::new();
    let mut len = 0;
    let total: usize = s
        .chars()
        .map(|c| match escaped(c) {
            "" => 1,
            e => e.len(),
        })
        .sum();
    let budget = if total <= max {
        max
    } else {
        max.saturating_sub(1)
    };
    for c in s.chars() {
        let piece = escaped(c);
        let n = if piece.is_empty() { 1 } else { piece.len() };
        if len + n > budget {
            out.push('…');
            return out;
        }
        len += n;
        if piece.is_empty() {
            out.push(c);
        } else {
            out.push_str(piece);
        }
    }
    out
}

/// A mrkdwn link; the URL's own `|`, `<` and `>` are percent-encoded so the text
/// cannot break out of it.
fn link(url: &str, text: &str) -> String {
    let url = url
        .replace('|', "%7C")
        .replace('<', "%3C")
        .replace('>', "%3E");
    format!("<{url}|{text}>")
}

/// The `action_id` of a decision button.
pub fn action_id(decision: Decision, checkpoint_id: &str) -> String {
    format!("{ACTION_PREFIX}{}:{checkpoint_id}", decision.as_str())
}

fn button(n: &Notice<'_>, decision: Decision) -> Value {
    let (text, style) = match decision {
        Decision::Approve => ("Approve", "primary"),
        _ => ("Reject", "danger"),
    };
    json!({
        "type": "button",
        "text": {"type": "plain_text", "text": text, "emoji": false},
        "style": style,
        "action_id": action_id(decision, n.checkpoint_id),
        "value": n.checkpoint_id,
    })
}

fn summary_blocks(n: &Notice<'_>) -> Vec<Value> {
    let summary = context_summary(&n.spec.context, limits::FIELDS);
    let mut blocks = Vec::new();
    if !summary.entries.is_empty() {
        let fields: Vec<Value> = summary
            .entries
            .iter()
            .map(|(k, v)| {
                // At most 5 × (60 + 200) characters: well inside limits::FIELD.
                json!({
                    "type": "mrkdwn",
                    "text": format!("*{}*\n{}", mrkdwn(k, 5 * SUMMARY_KEY), mrkdwn(v, 5 * SUMMARY_VALUE)),
                })
            })
            .collect();
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if summary.more > 0 {
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format!(
                "{} more in the context: {}",
                summary.more,
                link(&n.inbox_url(), "see them all")
            )}],
        }));
    }
    blocks
}

/// The Block Kit message for a pending checkpoint: its name, question, a context
/// summary, Approve / Reject buttons for those of them allowed, the other allowed
/// decisions as a link to the dashboard, and the dashboard link.
pub fn pending_message(n: &Notice<'_>) -> Value {
    let name = &n.spec.name;
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": clip(name, limits::HEADER), "emoji": false},
    })];
    let question = match &n.spec.question {
        Some(q) if !q.trim().is_empty() => mrkdwn(q, limits::SECTION),
        _ => mrkdwn(
            &format!("Checkpoint {name} is waiting for a decision."),
            limits::SECTION,
        ),
    };
    blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": question}}));
    blocks.extend(summary_blocks(n));

    let allowed = n.spec.allowed();
    let buttons: Vec<Value> = [Decision::Approve, Decision::Reject]
        .into_iter()
        .filter(|d| allowed.contains(d))
        .map(|d| button(n, d))
        .collect();
    if !buttons.is_empty() {
        blocks.push(json!({
            "type": "actions",
            "block_id": format!("{ACTION_PREFIX}decide"),
            "elements": buttons,
        }));
    }
    let others: Vec<&str> = allowed
        .iter()
        .filter(|d| !matches!(d, Decision::Approve | Decision::Reject))
        .map(|d| d.as_str())
        .collect();
    let mut context = Vec::new();
    if !others.is_empty() {
        context.push(format!(
            "To {}: {}",
            others.join(" or "),
            link(&n.inbox_url(), "open it in Switchyard")
        ));
    } else {
        context.push(link(&n.inbox_url(), "Open in Switchyard"));
    }
    if let Some(at) = n.expires_at {
        let default = n
            .spec
            .default_decision
            .map_or(String::new(), |d| format!(" (then: {})", d.as_str()));
        context.push(mrkdwn(&format!("Expires {at}{default}"), 200));
    }
    context.push(mrkdwn(&format!("Checkpoint {}", n.checkpoint_id), 200));
    blocks.push(json!({
        "type": "context",
        "elements": context
            .into_iter()
            .map(|t| json!({"type": "mrkdwn", "text": t}))
            .collect::<Vec<_>>(),
    }));
    json!({
        "text": mrkdwn(&format!("Checkpoint {name} needs a decision"), limits::FALLBACK),
        "blocks": blocks,
    })
}

/// How a decided checkpoint's status reads.
pub fn outcome_text(status: Status, decision: Option<Decision>, by: Option<&str>) -> String {
    let head = match status {
        Status::Pending => "Waiting for a decision".to_owned(),
        Status::Approved => "Approved".to_owned(),
        Status::Rejected => "Rejected".to_owned(),
        Status::Edited => "Edited".to_owned(),
        Status::Responded => "Answered".to_owned(),
        Status::Cancelled => "Cancelled".to_owned(),
        Status::Expired => match decision {
            Some(d) => format!("Expired: the timeout decided {}", d.as_str()),
            None => "Expired".to_owned(),
        },
    };
    match by {
        Some(by) if !by.is_empty() && status != Status::Expired => format!("{head} by @{by}"),
        _ => head,
    }
}

/// The message that replaces the pending one once the checkpoint is decided,
/// expired or cancelled (sent to the click's `response_url`, hence
/// `replace_original`): the outcome ("Approved by @alice"), the question and the
/// context summary, and the dashboard link — no buttons.
pub fn decided_message(
    n: &Notice<'_>,
    status: Status,
    decision: Option<Decision>,
    by: Option<&str>,
) -> Value {
    let outcome = outcome_text(status, decision, by);
    let name = &n.spec.name;
    let mut blocks = vec![json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": format!(
            "*{}*: {}",
            mrkdwn(name, limits::HEADER),
            mrkdwn(&outcome, 300)
        )},
    })];
    if let Some(q) = n.spec.question.as_deref().filter(|q| !q.trim().is_empty()) {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn(q, limits::SECTION)}}));
    }
    blocks.extend(summary_blocks(n));
    blocks.push(json!({
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": link(&n.inbox_url(), "Open in Switchyard")},
            {"type": "mrkdwn", "text": mrkdwn(&format!("Checkpoint {}", n.checkpoint_id), 200)},
        ],
    }));
    json!({
        "replace_original": true,
        "text": mrkdwn(&format!("{name}: {outcome}"), limits::FALLBACK),
        "blocks": blocks,
    })
}

/// A click on one of the decision buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    pub checkpoint_id: String,
    pub decision: Decision,
    /// Slack's user id (`U…`).
    pub user_id: String,
    pub username: Option<String>,
    /// Where the replacing message goes; Slack sends one with every message click.
    pub response_url: Option<String>,
}

impl Click {
    /// Who decided, as the checkpoint records it: the Slack username, else the id.
    pub fn by(&self) -> &str {
        self.username.as_deref().unwrap_or(&self.user_id)
    }
}

/// Why an interactivity POST is not a click this module can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InteractionError {
    /// The body is not a form with a JSON `payload`.
    #[error("{0}")]
    Malformed(String),
    /// Another kind of interaction (`view_submission`, `shortcut`, …).
    #[error("interaction type {0:?} is not handled: only block_actions")]
    NotBlockActions(String),
    /// A `block_actions` payload whose action is not a Switchyard decision button.
    #[error("action {0:?} is not a Switchyard decision button")]
    NotOurs(String),
    /// A field Slack always sends is missing or has the wrong type.
    #[error("the payload's {0} is missing or not a string")]
    Missing(&'static str),
}

fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// Parses Slack's interactivity POST: an `application/x-www-form-urlencoded` body
/// whose `payload` field is the JSON of a `block_actions` interaction. Reads
/// `user.id`, `user.username` (or `user.name`), `response_url` and the first
/// action's `action_id` (and `value`, which must name the same checkpoint).
/// Verifying the request's signature is the caller's job, and comes first.
pub fn parse_interaction(body: &[u8]) -> Result<Click, InteractionError> {
    let has_payload = form_urlencoded::parse(body).any(|(k, _)| k == "payload");
    if !has_payload {
        return Err(InteractionError::Malformed(
            "the body must be a form with a payload field".into(),
        ));
    }
    let payload = crate::sig::form_body(body)
        .map_err(|e| InteractionError::Malformed(format!("payload: {e}")))?;
    let kind = str_at(&payload, &["type"]).ok_or(InteractionError::Missing("type"))?;
    if kind != "block_actions" {
        return Err(InteractionError::NotBlockActions(kind.to_owned()));
    }
    let user_id = str_at(&payload, &["user", "id"])
        .filter(|s| !s.is_empty())
        .ok_or(InteractionError::Missing("user.id"))?;
    let username = str_at(&payload, &["user", "username"])
        .or_else(|| str_at(&payload, &["user", "name"]))
        .filter(|s| !s.is_empty());
    let action = payload
        .get("actions")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .ok_or(InteractionError::Missing("actions[0]"))?;
    let action_id =
        str_at(action, &["action_id"]).ok_or(InteractionError::Missing("actions[0].action_id"))?;
    let not_ours = || InteractionError::NotOurs(clip(action_id, 300));
    let (decision, checkpoint_id) = action_id
        .strip_prefix(ACTION_PREFIX)
        .and_then(|rest| rest.split_once(':'))
        .ok_or_else(not_ours)?;
    let decision = Decision::parse(decision).ok_or_else(not_ours)?;
    if !crate::checkpoint::is_id(checkpoint_id) {
        return Err(not_ours());
    }
    if let Some(value) = action.get("value") {
        if value.as_str() != Some(checkpoint_id) {
            return Err(InteractionError::Malformed(
                "actions[0].value does not name the checkpoint of its action_id".into(),
            ));
        }
    }
    let response_url = match payload.get("response_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(InteractionError::Missing("response_url")),
    };
    Ok(Click {
        checkpoint_id: checkpoint_id.to_owned(),
        decision,
        user_id: user_id.to_owned(),
        username: username.map(str::to_owned),
        response_url,
    })
}

/// The fields of a button an action names, for tests and tools: its
/// `(action_id, value)` pairs in a message built here.
pub fn buttons(message: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for block in message
        .get("blocks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for e in block
            .get("elements")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(a), Some(v)) = (str_at(e, &["action_id"]), str_at(e, &["value"])) {
                out.push((a.to_owned(), v.to_owned()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Map;

    fn spec(v: Value) -> Spec {
        Spec::from_json(v.to_string().as_bytes()).unwrap()
    }

    fn notice<'a>(spec: &'a Spec, id: &'a str) -> Notice<'a> {
        Notice {
            checkpoint_id: id,
            spec,
            expires_at: Some("2026-11-30T10:00:00Z"),
            public_url: "https://hooks.example.com/",
        }
    }

    /// Slack's documented `block_actions` example (api.slack.com, "block_actions
    /// payloads"), with the button's `action_id` and `value` as given.
    fn slack_example(action_id: &str, value: &str) -> Value {
        json!({
            "type": "block_actions",
            "team": {"id": "T9TK3CUKW", "domain": "example"},
            "user": {"id": "UA8RXUSPL", "username": "jtorrance", "team_id": "T9TK3CUKW"},
            "api_app_id": "AABA1ABCD",
            "token": "9s8d9as89d8as9d8as989",
            "container": {
                "type": "message_attachment",
                "message_ts": "1548261231.000200",
                "attachment_id": 1,
                "channel_id": "CBR2V3XEX",
                "is_ephemeral": false,
                "is_app_unfurl": false
            },
            "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
            "channel": {"id": "CBR2V3XEX", "name": "review-updates"},
            "message": {
                "bot_id": "BAH5CA16Z",
                "type": "message",
                "text": "This content can't be displayed.",
                "user": "UAJ2RU415",
                "ts": "1548261231.000200"
            },
            "response_url": "https://hooks.slack.com/actions/AABA1ABCD/1232321423432/D09sSasdasdAS9091209",
            "actions": [{
                "action_id": action_id,
                "block_id": "=qXel",
                "text": {"type": "plain_text", "text": "View", "emoji": true},
                "value": value,
                "type": "button",
                "action_ts": "1548426417.840180"
            }]
        })
    }

    fn form(payload: &Value) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish()
            .into_bytes()
    }

    #[test]
    fn the_pending_message_has_the_question_summary_buttons_and_links() {
        let s = spec(json!({
            "name": "after_planning",
            "question": "Ship the *plan* to <prod> & tell ops?",
            "context": {"plan": "three steps", "cost": 12.5, "tags": ["a", "b"]},
            "decisions": ["approve", "reject", "edit"],
            "timeout_seconds": 3600,
            "default_decision": "reject",
        }));
        let m = pending_message(&notice(&s, "cp-1"));
        let text = m.to_string();
        assert_eq!(m["blocks"][0]["text"]["text"], "after_planning");
        assert_eq!(
            m["blocks"][1]["text"]["text"],
            "Ship the *plan* to &lt;prod&gt; &amp; tell ops?"
        );
        let fields = m["blocks"][2]["fields"].as_array().unwrap();
        assert_eq!(fields.len(), 3);
        assert!(fields.contains(&json!({"type": "mrkdwn", "text": "*cost*\n12.5"})));
        assert!(fields.contains(&json!({"type": "mrkdwn", "text": "*tags*\n[\"a\",\"b\"]"})));
        assert_eq!(
            buttons(&m),
            vec![
                ("switchyard:approve:cp-1".to_owned(), "cp-1".to_owned()),
                ("switchyard:reject:cp-1".to_owned(), "cp-1".to_owned()),
            ]
        );
        assert!(
            text.contains(
                "To edit: <https://hooks.example.com/ui/inbox/cp-1|open it in Switchyard>"
            ),
            "{text}"
        );
        assert!(text.contains("Expires 2026-11-30T10:00:00Z (then: reject)"));
        assert!(m["text"].as_str().unwrap().contains("after_planning"));
    }

    #[test]
    fn only_allowed_decisions_are_buttons() {
        let s = spec(json!({"name": "n", "decisions": ["reject", "respond"]}));
        let m = pending_message(&notice(&s, "x"));
        assert_eq!(
            buttons(&m),
            vec![("switchyard:reject:x".to_owned(), "x".to_owned())]
        );
        assert!(m
            .to_string()
            .contains("To respond: <https://hooks.example.com/ui/inbox/x|"));
        let s = spec(json!({"name": "n", "decisions": ["edit"]}));
        let m = pending_message(&notice(&s, "x"));
        assert!(buttons(&m).is_empty());
        assert!(!m["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["type"] == "actions"));
    }

    #[test]
    fn long_and_hostile_texts_are_clipped_within_slack_limits() {
        let many: Map<String, Value> = (0..25)
            .map(|i| {
                (
                    format!("k{i:02}{}", "<".repeat(100)),
                    json!("&".repeat(5000)),
                )
            })
            .collect();
        let s = spec(json!({
            "name": "é".repeat(128),
            "question": "<&>".repeat(4000),
            "context": many,
        }));
        let m = pending_message(&notice(&s, "cp"));
        let chars = |v: &Value| v.as_str().unwrap().chars().count();
        assert!(chars(&m["blocks"][0]["text"]["text"]) <= limits::HEADER);
        let q = &m["blocks"][1]["text"]["text"];
        assert!(chars(q) <= limits::SECTION);
        let q = q.as_str().unwrap();
        assert!(q.ends_with('…'));
        // Never cut inside an escape.
        assert!(
            q.trim_end_matches('…').ends_with(';'),
            "{}",
            &q[q.len() - 20..]
        );
        let fields = m["blocks"][2]["fields"].as_array().unwrap();
        assert_eq!(fields.len(), limits::FIELDS);
        for f in fields {
            assert!(chars(&f["text"]) <= limits::FIELD);
            assert!(!f["text"].as_str().unwrap().contains('<'));
        }
        assert!(m.to_string().contains("15 more in the context"));
    }

    #[test]
    fn the_decided_message_replaces_the_buttons_with_the_outcome() {
        let s = spec(json!({"name": "deploy", "context": {"env": "prod"}}));
        let n = notice(&s, "cp-9");
        let m = decided_message(&n, Status::Approved, Some(Decision::Approve), Some("alice"));
        assert_eq!(m["replace_original"], true);
        assert_eq!(
            m["blocks"][0]["text"]["text"],
            "*deploy*: Approved by @alice"
        );
        assert!(buttons(&m).is_empty());
        assert!(m
            .to_string()
            .contains("https://hooks.example.com/ui/inbox/cp-9"));
        let m = decided_message(&n, Status::Expired, Some(Decision::Reject), Some("x"));
        assert_eq!(
            m["blocks"][0]["text"]["text"],
            "*deploy*: Expired: the timeout decided reject"
        );
        assert_eq!(
            outcome_text(Status::Rejected, None, Some("<!channel>")),
            "Rejected by @<!channel>"
        );
        let m = decided_message(&n, Status::Rejected, None, Some("<!channel>"));
        assert!(!m.to_string().contains("<!channel>"), "a name cannot ping");
    }

    #[test]
    fn slacks_example_click_on_our_button_parses() {
        let body = form(&slack_example("switchyard:approve:cp-1", "cp-1"));
        let click = parse_interaction(&body).unwrap();
        assert_eq!(
            click,
            Click {
                checkpoint_id: "cp-1".into(),
                decision: Decision::Approve,
                user_id: "UA8RXUSPL".into(),
                username: Some("jtorrance".into()),
                response_url: Some(
                    "https://hooks.slack.com/actions/AABA1ABCD/1232321423432/D09sSasdasdAS9091209"
                        .into()
                ),
            }
        );
        assert_eq!(click.by(), "jtorrance");
    }

    #[test]
    fn every_button_we_build_parses_back() {
        let s = spec(json!({"name": "n"}));
        let m = pending_message(&notice(&s, "a.b:c-d_e"));
        let found: Vec<Decision> = buttons(&m)
            .into_iter()
            .map(|(a, v)| {
                parse_interaction(&form(&slack_example(&a, &v)))
                    .unwrap()
                    .decision
            })
            .collect();
        assert_eq!(found, vec![Decision::Approve, Decision::Reject]);
    }

    #[test]
    fn other_payloads_are_refused_with_a_clear_error() {
        use InteractionError as E;
        // Slack's example as documented: someone else's button.
        assert_eq!(
            parse_interaction(&form(&slack_example("WaXA", "click_me_123"))),
            Err(E::NotOurs("WaXA".into()))
        );
        for bad in [
            "switchyard:approve:",
            "switchyard:maybe:cp",
            "switchyard:approve:has space",
            "switchyard:approve",
        ] {
            assert!(
                matches!(
                    parse_interaction(&form(&slack_example(bad, "cp"))),
                    Err(E::NotOurs(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_interaction(&form(&slack_example("switchyard:reject:cp", "other"))),
            Err(E::Malformed(_))
        ));
        let mut p = slack_example("switchyard:reject:cp", "cp");
        p["type"] = json!("view_submission");
        assert_eq!(
            parse_interaction(&form(&p)),
            Err(E::NotBlockActions("view_submission".into()))
        );
        let mut p = slack_example("switchyard:reject:cp", "cp");
        p["user"] = json!({"username": "x"});
        assert_eq!(parse_interaction(&form(&p)), Err(E::Missing("user.id")));
        let mut p = slack_example("switchyard:reject:cp", "cp");
        p["actions"] = json!([]);
        assert_eq!(parse_interaction(&form(&p)), Err(E::Missing("actions[0]")));
        let mut p = slack_example("switchyard:reject:cp", "cp");
        p["response_url"] = json!(7);
        assert_eq!(
            parse_interaction(&form(&p)),
            Err(E::Missing("response_url"))
        );
        assert!(matches!(
            parse_interaction(b"type=block_actions"),
            Err(E::Malformed(_))
        ));
        assert!(matches!(
            parse_interaction(b"payload=%7Bnot"),
            Err(E::Malformed(_))
        ));
        assert!(matches!(
            parse_interaction(b"payload=%FF"),
            Err(E::Malformed(_))
        ));
        assert!(matches!(
            parse_interaction(b"\xff\xfe"),
            Err(E::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn the_parser_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_interaction(&body);
        }

        #[test]
        fn the_parser_never_panics_on_payload_shapes(
            kind in "[a-z_]{0,14}",
            action in ".{0,40}",
            value in proptest::option::of(".{0,20}"),
            user in proptest::option::of("[A-Z0-9]{0,10}"),
        ) {
            let mut p = json!({"type": kind, "actions": [{"action_id": action}]});
            if let Some(v) = value { p["actions"][0]["value"] = json!(v); }
            if let Some(u) = user { p["user"] = json!({"id": u}); }
            let _ = parse_interaction(&form(&p));
        }

        #[test]
        fn buttons_round_trip(id in "[A-Za-z0-9._:-]{1,128}", approve in any::<bool>()) {
            let d = if approve { Decision::Approve } else { Decision::Reject };
            let click = parse_interaction(&form(&slack_example(&action_id(d, &id), &id))).unwrap();
            prop_assert_eq!(click.checkpoint_id, id);
            prop_assert_eq!(click.decision, d);
        }

        #[test]
        fn mrkdwn_stays_within_its_limit(s in ".{0,300}", max in 1usize..200) {
            let out = mrkdwn(&s, max);
            prop_assert!(out.chars().count() <= max);
            prop_assert!(!out.contains('<') && !out.contains('>'));
            let c = clip(&s, max);
            prop_assert!(c.chars().count() <= max);
        }
    }
}
