//! The webhook form (`/ui/webhooks/new`, `/ui/webhooks/{id}/edit`) as data: what
//! was typed ([`Form`], with its command rows), turned into the `WebhookConfig`
//! JSON body `POST`/`PUT /api/webhooks` take, and the engine's field errors
//! (`commands[1].conditions.labels`) put back beside the fields they concern.
//!
//! Rows are named `commands[N].FIELD`; `N` only orders them (a row removed or
//! added by the script leaves gaps), and they are numbered again from 0 when the
//! body is built, so an error's index is the row's position on the page.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::{Map, Value};
use switchyard_core::routing::{Action, CommandConfig, FieldError, WebhookConfig};

/// Most command rows one form takes.
pub const MAX_ROWS: usize = 50;

/// A command row's fields, as named in the form and in error paths.
const ROW_FIELDS: [&str; 7] = [
    "trigger",
    "action",
    "agent",
    "template",
    "conditions",
    "url",
    "workflow",
];

/// The webhook's own fields the form shows (errors elsewhere go in the summary).
const TOP_FIELDS: [&str; 5] = ["webhook_id", "name", "provider", "description", "secret"];

/// One command as typed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Row {
    /// The command's id when editing one that exists: its other settings
    /// (priority, stop, inputs, ...) are kept from it.
    pub id: String,
    pub trigger: String,
    pub action: String,
    pub agent: String,
    pub template: String,
    pub conditions: String,
    pub url: String,
    pub workflow: String,
    /// Field → what is wrong with it.
    pub errors: BTreeMap<String, String>,
    /// Problems with the command that none of the row's fields shows.
    pub other: Vec<String>,
}

impl Row {
    /// An empty row (a new command creates a task by default).
    pub fn blank() -> Self {
        Self {
            action: Action::CreateTask.as_str().to_owned(),
            ..Self::default()
        }
    }

    fn of(c: &CommandConfig) -> Self {
        Self {
            id: c.command_id.clone().unwrap_or_default(),
            trigger: c.trigger.clone(),
            action: c.action.as_str().to_owned(),
            agent: c.agent.clone().unwrap_or_default(),
            template: c.template.clone().unwrap_or_default(),
            conditions: c
                .conditions
                .as_ref()
                .and_then(|v| serde_json::to_string_pretty(v).ok())
                .unwrap_or_default(),
            url: c.url.clone().unwrap_or_default(),
            workflow: c.workflow.clone().unwrap_or_default(),
            ..Self::default()
        }
    }
}

/// The whole form as typed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Form {
    /// Creating: optional (the slug of the name otherwise). Editing: the id.
    pub webhook_id: String,
    pub name: String,
    pub provider: String,
    pub description: String,
    /// Creating: `generate`, `set` or `none`. Editing: `keep` or `set`.
    pub secret_mode: String,
    /// The secret to set (`secret_mode` `set`).
    pub secret: String,
    pub rows: Vec<Row>,
    /// Field → what is wrong with it.
    pub errors: BTreeMap<String, String>,
    /// Problems no field of the form shows.
    pub other: Vec<String>,
}

/// What the button pressed asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Save,
    /// "Add command": the form again with one more row.
    AddRow,
    /// "Remove command": the form again without the row named `N`.
    RemoveRow(usize),
}

/// A form that cannot be read (not one a page of ours sends).
#[derive(Debug)]
pub struct Malformed(pub String);

impl Form {
    /// The empty form for a new webhook.
    pub fn blank() -> Self {
        Self {
            provider: "github".to_owned(),
            secret_mode: "generate".to_owned(),
            rows: vec![Row::blank()],
            ..Self::default()
        }
    }

    /// The form prefilled with a webhook's definition.
    pub fn of(id: &str, cfg: &WebhookConfig) -> Self {
        let mut cfg = cfg.clone();
        switchyard_engine::webhooks::with_command_ids(&mut cfg);
        Self {
            webhook_id: id.to_owned(),
            name: cfg.name.clone(),
            provider: cfg.provider.clone(),
            description: cfg.description.clone().unwrap_or_default(),
            secret_mode: "keep".to_owned(),
            rows: cfg.commands.iter().map(Row::of).collect(),
            ..Self::default()
        }
    }

    /// Reads a posted form; `editing` chooses the secret modes it accepts.
    pub fn parse(
        fields: &HashMap<String, String>,
        editing: bool,
    ) -> Result<(Self, Intent), Malformed> {
        let text = |k: &str| fields.get(k).cloned().unwrap_or_default();
        let line = |k: &str| text(k).trim().to_owned();
        let intent = if fields.contains_key("add_row") {
            Intent::AddRow
        } else if let Some(n) = fields.get("remove_row") {
            Intent::RemoveRow(
                n.parse()
                    .map_err(|_| Malformed(format!("remove_row {n:?} is not a row")))?,
            )
        } else {
            Intent::Save
        };
        let mut names = BTreeSet::new();
        for k in fields.keys() {
            if let Some((n, _)) = k.strip_prefix("commands[").and_then(|r| r.split_once("].")) {
                let n: usize = n
                    .parse()
                    .map_err(|_| Malformed(format!("{k:?} names no row")))?;
                names.insert(n);
            }
        }
        if names.len() > MAX_ROWS {
            return Err(Malformed(format!(
                "a form takes at most {MAX_ROWS} commands"
            )));
        }
        let mut rows: Vec<Row> = names
            .into_iter()
            .filter(|n| intent != Intent::RemoveRow(*n))
            .map(|n| {
                let f = |name: &str| format!("commands[{n}].{name}");
                Row {
                    id: line(&f("id")),
                    trigger: line(&f("trigger")),
                    action: line(&f("action")),
                    agent: line(&f("agent")),
                    template: text(&f("template")),
                    conditions: text(&f("conditions")),
                    url: line(&f("url")),
                    workflow: line(&f("workflow")),
                    ..Row::default()
                }
            })
            .collect();
        if intent == Intent::AddRow && rows.len() < MAX_ROWS {
            rows.push(Row::blank());
        }
        let secret_mode = line("secret_mode");
        let modes: &[&str] = if editing {
            &["keep", "set"]
        } else {
            &["generate", "set", "none"]
        };
        if !modes.contains(&secret_mode.as_str()) {
            return Err(Malformed(format!(
                "secret_mode must be one of {}",
                modes.join(", ")
            )));
        }
        Ok((
            Self {
                webhook_id: line("webhook_id"),
                name: line("name"),
                provider: line("provider"),
                description: line("description"),
                secret_mode,
                secret: text("secret"),
                rows,
                ..Self::default()
            },
            intent,
        ))
    }

    /// The JSON body the API would be sent for this form, and the problems found
    /// before the engine can see it (conditions that are not JSON). `base` is the
    /// webhook being edited: what the form does not show (its other commands'
    /// settings, tokens, protections) is kept from it. `secret` is set when given.
    pub fn body(
        &self,
        base: Option<&WebhookConfig>,
        secret: Option<&str>,
    ) -> (Vec<u8>, Vec<FieldError>) {
        let mut problems = Vec::new();
        let mut existing: HashMap<String, Map<String, Value>> = HashMap::new();
        let mut obj = match base {
            Some(cfg) => {
                let mut cfg = cfg.clone();
                switchyard_engine::webhooks::with_command_ids(&mut cfg);
                for c in &cfg.commands {
                    if let (Some(id), Ok(Value::Object(m))) =
                        (&c.command_id, serde_json::to_value(c))
                    {
                        existing.insert(id.clone(), m);
                    }
                }
                let mut m = match serde_json::to_value(&cfg) {
                    Ok(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                for k in ["endpoint", "created_at", "secret", "secrets", "api_token"] {
                    m.remove(k);
                }
                m
            }
            None => {
                let mut m = Map::new();
                if !self.webhook_id.is_empty() {
                    m.insert("webhook_id".into(), self.webhook_id.clone().into());
                }
                m
            }
        };
        obj.insert("name".into(), self.name.clone().into());
        obj.insert("provider".into(), self.provider.clone().into());
        obj.insert("description".into(), optional(&self.description));
        if let Some(s) = secret {
            obj.insert("secret".into(), s.into());
        }
        let mut commands = Vec::new();
        for (i, row) in self.rows.iter().enumerate() {
            let mut c = existing.get(&row.id).cloned().unwrap_or_default();
            if c.is_empty() && base.is_some() {
                // A new command among existing ones gets an id of its own: a
                // positional `cmd-N` could be one a kept command already has.
                c.insert("command_id".into(), switchyard_store::new_id("cmd").into());
            }
            c.insert("trigger".into(), row.trigger.clone().into());
            c.insert("action".into(), row.action.clone().into());
            for (k, v) in [
                ("agent", &row.agent),
                ("template", &row.template),
                ("url", &row.url),
                ("workflow", &row.workflow),
            ] {
                c.insert(k.into(), optional(v));
            }
            let conditions = if row.conditions.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&row.conditions).unwrap_or_else(|e| {
                    problems.push(FieldError::new(
                        format!("commands[{i}].conditions"),
                        format!("is not valid JSON: {e}"),
                    ));
                    Value::Null
                })
            };
            c.insert("conditions".into(), conditions);
            commands.push(Value::Object(c));
        }
        obj.insert("commands".into(), Value::Array(commands));
        (Value::Object(obj).to_string().into_bytes(), problems)
    }

    /// Puts each error beside the field it names; what no field shows goes to
    /// its row's list or the form's.
    pub fn place(&mut self, errors: &[FieldError]) {
        for e in errors {
            if let Some((n, tail)) = e
                .path
                .strip_prefix("commands[")
                .and_then(|r| r.split_once(']'))
            {
                if let Some(row) = n.parse::<usize>().ok().and_then(|n| self.rows.get_mut(n)) {
                    let tail = tail.strip_prefix('.').unwrap_or(tail);
                    let cut = tail.find(['.', '[']).unwrap_or(tail.len());
                    let (field, sub) = tail.split_at(cut);
                    let sub = sub.strip_prefix('.').unwrap_or(sub);
                    if ROW_FIELDS.contains(&field) {
                        let message = if sub.is_empty() {
                            e.message.clone()
                        } else {
                            format!("{sub}: {}", e.message)
                        };
                        add(&mut row.errors, field, message);
                    } else if tail.is_empty() {
                        row.other.push(e.message.clone());
                    } else {
                        row.other.push(format!("{tail}: {}", e.message));
                    }
                    continue;
                }
            }
            let field = e.path.split(['.', '[']).next().unwrap_or("");
            let field = if field == "secrets" { "secret" } else { field };
            if TOP_FIELDS.contains(&field) {
                add(&mut self.errors, field, e.message.clone());
            } else {
                self.other.push(e.to_string());
            }
        }
    }

    /// Every problem, for the summary at the top: (the field's element id, the
    /// field's label, the message).
    pub fn summary(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for (k, m) in &self.errors {
            out.push((k.clone(), k.replace('_', " "), m.clone()));
        }
        for (i, row) in self.rows.iter().enumerate() {
            for (k, m) in &row.errors {
                out.push((
                    format!("cmd-{i}-{k}"),
                    format!("command {}, {k}", i + 1),
                    m.clone(),
                ));
            }
            for m in &row.other {
                out.push((format!("cmd-{i}"), format!("command {}", i + 1), m.clone()));
            }
        }
        for m in &self.other {
            out.push((String::new(), String::new(), m.clone()));
        }
        out
    }
}

fn optional(s: &str) -> Value {
    if s.trim().is_empty() {
        Value::Null
    } else {
        s.into()
    }
}

fn add(errors: &mut BTreeMap<String, String>, field: &str, message: String) {
    errors
        .entry(field.to_owned())
        .and_modify(|m| {
            m.push_str("; ");
            m.push_str(&message);
        })
        .or_insert(message);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn sample() -> HashMap<String, String> {
        fields(&[
            ("name", " Urgent "),
            ("provider", "github"),
            ("secret_mode", "none"),
            ("commands[3].trigger", "issues.opened"),
            ("commands[3].action", "create_task"),
            ("commands[3].agent", "planning"),
            ("commands[3].conditions", r#"{"label": "urgent"}"#),
            ("commands[7].trigger", "issues.closed"),
            ("commands[7].action", "comment"),
            ("commands[7].template", "Closed {{ issue.title }}"),
        ])
    }

    #[test]
    fn rows_keep_their_order_and_buttons_add_and_remove() {
        let (f, intent) = Form::parse(&sample(), false).unwrap();
        assert_eq!(intent, Intent::Save);
        assert_eq!(f.name, "Urgent");
        let triggers: Vec<&str> = f.rows.iter().map(|r| r.trigger.as_str()).collect();
        assert_eq!(triggers, ["issues.opened", "issues.closed"]);

        let mut add = sample();
        add.insert("add_row".into(), String::new());
        let (f, intent) = Form::parse(&add, false).unwrap();
        assert_eq!((intent, f.rows.len()), (Intent::AddRow, 3));
        assert_eq!(f.rows[2].action, "create_task");

        let mut remove = sample();
        remove.insert("remove_row".into(), "3".into());
        let (f, _) = Form::parse(&remove, false).unwrap();
        assert_eq!(f.rows.len(), 1);
        assert_eq!(f.rows[0].trigger, "issues.closed");
    }

    #[test]
    fn forms_no_page_sends_are_malformed() {
        let mut bad = sample();
        bad.insert("secret_mode".into(), "keep".into());
        assert!(Form::parse(&bad, false).is_err(), "keep is for editing");
        let mut bad = sample();
        bad.insert("commands[x].trigger".into(), "a".into());
        assert!(Form::parse(&bad, false).is_err());
        let mut many = sample();
        for i in 0..=MAX_ROWS {
            many.insert(format!("commands[{}].trigger", 100 + i), "a".into());
        }
        assert!(Form::parse(&many, false).is_err());
    }

    #[test]
    fn the_body_is_what_the_api_takes() {
        let (f, _) = Form::parse(&sample(), false).unwrap();
        let (body, problems) = f.body(None, Some("s3cret"));
        assert!(problems.is_empty(), "{problems:?}");
        let cfg = WebhookConfig::from_json(&body).unwrap();
        assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
        assert_eq!(cfg.secret.as_deref(), Some("s3cret"));
        assert_eq!(cfg.commands.len(), 2);
        assert_eq!(cfg.commands[0].agent.as_deref(), Some("planning"));
        assert_eq!(cfg.commands[1].agent, None);
        assert_eq!(
            cfg.commands[0].conditions,
            Some(serde_json::json!({"label": "urgent"}))
        );
    }

    #[test]
    fn conditions_that_are_not_json_are_a_problem_of_their_row() {
        let mut bad = sample();
        bad.insert("commands[7].conditions".into(), "{label: urgent".into());
        let (mut f, _) = Form::parse(&bad, false).unwrap();
        let (_, problems) = f.body(None, None);
        assert_eq!(problems.len(), 1);
        f.place(&problems);
        assert!(f.rows[1].errors["conditions"].starts_with("is not valid JSON"));
        assert!(f.rows[0].errors.is_empty());
    }

    #[test]
    fn errors_go_beside_their_fields() {
        let (mut f, _) = Form::parse(&sample(), false).unwrap();
        f.place(&[
            FieldError::new("name", "must not be empty"),
            FieldError::new("secrets[0]", "must not be empty"),
            FieldError::new("commands[1].conditions.labels", "must be a label name"),
            FieldError::new("commands[1].conditions", "must be an object"),
            FieldError::new("commands[0].priority", "invalid type"),
            FieldError::new("commands[9].trigger", "no such row"),
            FieldError::new("api_hosts[0]", "must be a host"),
        ]);
        assert_eq!(f.errors["name"], "must not be empty");
        assert_eq!(f.errors["secret"], "must not be empty");
        assert_eq!(
            f.rows[1].errors["conditions"],
            "labels: must be a label name; must be an object"
        );
        assert_eq!(f.rows[0].other, ["priority: invalid type"]);
        assert_eq!(f.other.len(), 2, "{:?}", f.other);
        assert_eq!(f.summary().len(), 6);
    }

    #[test]
    fn editing_keeps_what_the_form_does_not_show() {
        let cfg = WebhookConfig::from_json(
            br#"{"name": "n", "provider": "github", "rate_limit": {"per_second": 5, "burst": 10},
                 "commands": [{"trigger": "a", "action": "ask", "priority": 7, "stop": true},
                              {"trigger": "b", "action": "respond"}]}"#,
        )
        .unwrap();
        let mut f = Form::of("n", &cfg);
        assert_eq!(f.rows[0].id, "cmd-1");
        f.rows.remove(0);
        f.rows[0].trigger = "b2".into();
        f.rows.push(Row {
            trigger: "c".into(),
            ..Row::blank()
        });
        f.rows[1].agent = "planning".into();
        let (body, problems) = f.body(Some(&cfg), None);
        assert!(problems.is_empty());
        let saved = WebhookConfig::from_json(&body).unwrap();
        assert!(saved.validate().is_empty(), "{:?}", saved.validate());
        assert!(saved.rate_limit.is_some());
        assert_eq!(saved.secret, None);
        assert_eq!(saved.commands[0].command_id.as_deref(), Some("cmd-2"));
        assert_eq!(saved.commands[0].trigger, "b2");
        let new_id = saved.commands[1].command_id.clone().unwrap();
        assert!(new_id.starts_with("cmd_"), "{new_id}");
    }
}
