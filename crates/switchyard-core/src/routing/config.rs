//! Webhook configurations as seed 002 writes them: a webhook (name, provider, secret,
//! enabled) and the commands that say what to do with its events.
//!
//! Parsing is lenient in what it accepts (seed 002's JSON loads as written, `endpoint`
//! and `created_at` are accepted and ignored, unknown keys are ignored as the seed's
//! models do) and strict in what it lets through: [`WebhookConfig::validate`] reports
//! every problem at once, each with the path of the field it is about, so a user can
//! fix a config in one round trip.

use serde::{Deserialize, Serialize};

use crate::{ProviderName, WebhookId};

/// One webhook: seed 002's `WebhookConfig`, plus rotation secrets and a bot user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookConfig {
    /// The id in `/webhooks/{provider}/{webhook_id}`; [`slugify`] of the name when absent.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,64}$")]
    pub webhook_id: Option<String>,
    /// Human-readable name.
    #[schema(min_length = 1)]
    pub name: String,
    /// A provider Switchyard knows (`github`, `jira`, `slack`, ...).
    pub provider: String,
    /// Derived from provider and id; accepted on input only so seed JSON loads.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The signing secret. Write-only: the server never shows it again.
    #[serde(default)]
    pub secret: Option<String>,
    /// Further secrets that also verify, for rotation.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// A disabled webhook's endpoint answers 404 and stores nothing.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// What to do with events, in priority order (see [`CommandConfig::priority`]).
    #[serde(default)]
    pub commands: Vec<CommandConfig>,
    /// A user, or `brain-agent`.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Accepted and ignored on input: the store keeps its own time.
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// The account Switchyard posts as; its own events never answer questions.
    #[serde(default)]
    pub bot_user: Option<String>,
    /// The token `comment` and `ask` post with (GitHub/GitLab token, Jira API token,
    /// Slack bot token, Linear API key). Write-only, kept sealed like the secret.
    #[serde(default)]
    pub api_token: Option<String>,
    /// Jira: the account e-mail the API token belongs to (Basic auth).
    #[serde(default)]
    pub api_user: Option<String>,
    /// The provider's API base for write-backs (GitHub Enterprise
    /// `https://HOST/api/v3`, a Jira site); the server-wide default otherwise.
    #[serde(default)]
    pub api_base_url: Option<String>,
    /// Hosts a write-back may go to when no base is configured and the event names
    /// its own site (Jira's `issue.self`): the webhook's token goes to no other.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_hosts: Vec<String>,
    /// How many requests a second the webhook accepts; over it answers 429.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<super::access::RateLimit>,
    /// Client addresses (CIDRs or single addresses) allowed to post; any when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_ips: Vec<String>,
}

fn yes() -> bool {
    true
}

/// One command: seed 002's `WebhookCommand`, plus id, priority, stop and the targets
/// of `forward` and `run_workflow`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommandConfig {
    /// Stable id; `cmd-{n}` (1-based position in the list) when absent.
    #[serde(default)]
    pub command_id: Option<String>,
    /// An event type, or a glob over event types (`issues.*`, `*`).
    pub trigger: String,
    pub action: Action,
    /// The agent a task is for (required by `create_task`).
    #[serde(default)]
    pub agent: Option<String>,
    /// A Jinja template over the payload; the command's message.
    #[serde(default)]
    pub template: Option<String>,
    /// A JSON object of conditions that must all hold (see docs/routing.md).
    #[serde(default)]
    pub conditions: Option<serde_json::Value>,
    /// Higher runs first; ties keep list order.
    #[serde(default)]
    pub priority: i64,
    /// When this command matches, no later command is considered.
    #[serde(default)]
    pub stop: bool,
    /// Where `forward` delivers (required for `forward`).
    #[serde(default)]
    pub url: Option<String>,
    /// The workflow `run_workflow` starts (required for `run_workflow`).
    #[serde(default)]
    pub workflow: Option<String>,
    /// `run_workflow`'s inputs: each value a Jinja template over the event (the
    /// run converts the text to the state field's type). Without it, the
    /// payload's `inputs` object (seed 003's body), else the whole payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<std::collections::BTreeMap<String, String>>,
    /// A template over the event; messages with the same rendered key (to the same
    /// destination) are delivered one at a time, in order. `comment` and `ask` are
    /// ordered by the event's thread without it.
    #[serde(default)]
    pub ordering_key: Option<String>,
}

/// What a matching command does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = CommandAction)]
pub enum Action {
    /// A task for the command's agent.
    CreateTask,
    /// Post the message back on the source thread.
    Comment,
    /// Post the message as a question and wait for the answer on the thread.
    Ask,
    /// The message is the HTTP answer to the sender.
    Respond,
    /// Deliver the event to another URL.
    Forward,
    /// Start a workflow.
    RunWorkflow,
}

impl Action {
    /// Every action, in the order forms list them.
    pub const ALL: [Action; 6] = [
        Action::CreateTask,
        Action::Comment,
        Action::Ask,
        Action::Respond,
        Action::Forward,
        Action::RunWorkflow,
    ];

    /// The name used in configs and API answers (`create_task`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::CreateTask => "create_task",
            Action::Comment => "comment",
            Action::Ask => "ask",
            Action::Respond => "respond",
            Action::Forward => "forward",
            Action::RunWorkflow => "run_workflow",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem in a config, at a field path like `commands[1].conditions.labels`.
/// The path is empty when the problem is the body as a whole (not JSON at all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Joins a field path and a key: `at("commands[0]", "trigger")`.
pub(crate) fn at(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Most characters a webhook name may have.
const MAX_NAME: usize = 200;

impl WebhookConfig {
    /// Parses a JSON body. A body that does not fit the model gives one error at the
    /// path where it stopped fitting (`commands[0].action`).
    pub fn from_json(bytes: &[u8]) -> Result<Self, Vec<FieldError>> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let cfg: Self = serde_path_to_error::deserialize(&mut de).map_err(path_error)?;
        // Trailing bytes after the object would otherwise be silently ignored.
        de.end()
            .map_err(|e| vec![FieldError::new("", format!("invalid JSON: {e}"))])?;
        Ok(cfg)
    }

    /// Builds a config from a JSON value (the server turns YAML into one first).
    pub fn from_value(v: serde_json::Value) -> Result<Self, Vec<FieldError>> {
        serde_path_to_error::deserialize(v).map_err(path_error)
    }

    /// Every problem with this config at once; empty when it is valid. Covers the
    /// ids, the provider, and for each command its trigger, what its action requires,
    /// its template's syntax and its conditions.
    pub fn validate(&self) -> Vec<FieldError> {
        match super::compiled::CompiledWebhook::compile(self) {
            Ok(_) => Vec::new(),
            Err(errors) => errors,
        }
    }

    /// The webhook's id: the configured one, else the slug of its name.
    pub fn effective_id(&self) -> String {
        match &self.webhook_id {
            Some(id) => id.clone(),
            None => slugify(&self.name),
        }
    }

    /// The checks on the webhook's own fields and each command's plain fields; the
    /// trigger, template and conditions are checked where they are compiled.
    pub(crate) fn check_fields(&self, errors: &mut Vec<FieldError>) {
        if let Some(id) = &self.webhook_id {
            if let Err(e) = WebhookId::parse(id) {
                errors.push(FieldError::new("webhook_id", e.to_string()));
            }
        }
        for (i, h) in self.api_hosts.iter().enumerate() {
            let plain = !h.is_empty()
                && h.len() <= 253
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
            if !plain {
                errors.push(FieldError::new(
                    format!("api_hosts[{i}]"),
                    "must be a host name or address, without scheme, port or path",
                ));
            }
        }
        if self.name.trim().is_empty() {
            errors.push(FieldError::new("name", "must not be empty"));
        } else if self.name.chars().count() > MAX_NAME {
            errors.push(FieldError::new(
                "name",
                format!("must be at most {MAX_NAME} characters"),
            ));
        }
        match ProviderName::parse(&self.provider) {
            Err(e) => errors.push(FieldError::new("provider", e.to_string())),
            Ok(_) if crate::providers::by_name(&self.provider).is_none() => {
                let known: Vec<&str> = crate::providers::ALL.iter().map(|p| p.name()).collect();
                errors.push(FieldError::new(
                    "provider",
                    format!("unknown provider; expected one of {}", known.join(", ")),
                ));
            }
            Ok(_) => {}
        }
        if self.secret.as_deref() == Some("") {
            errors.push(FieldError::new(
                "secret",
                "must not be empty; leave it out for no secret",
            ));
        }
        for (i, s) in self.secrets.iter().enumerate() {
            if s.is_empty() {
                errors.push(FieldError::new(
                    format!("secrets[{i}]"),
                    "must not be empty",
                ));
            }
        }
        if self
            .bot_user
            .as_deref()
            .is_some_and(|b| b.trim().is_empty())
        {
            errors.push(FieldError::new("bot_user", "must not be empty"));
        }
        let ids = command_ids(&self.commands);
        for (i, cmd) in self.commands.iter().enumerate() {
            let base = format!("commands[{i}]");
            if let Some(id) = &cmd.command_id {
                if let Err(e) = WebhookId::parse(id) {
                    errors.push(FieldError::new(at(&base, "command_id"), e.to_string()));
                }
            }
            // A generated `cmd-2` can collide with one written by hand; either way two
            // commands with one id could not be told apart through the API.
            if ids[..i].contains(&ids[i]) {
                errors.push(FieldError::new(
                    at(&base, "command_id"),
                    format!("duplicate command id {:?}", ids[i]),
                ));
            }
            cmd.check_fields(&base, errors);
        }
    }
}

impl CommandConfig {
    fn check_fields(&self, base: &str, errors: &mut Vec<FieldError>) {
        match &self.agent {
            Some(agent) => {
                // Agent names appear in `/api/agents/{name}`, so they follow the same
                // URL-safe rules as webhook ids.
                if let Err(e) = WebhookId::parse(agent) {
                    errors.push(FieldError::new(at(base, "agent"), e.to_string()));
                }
            }
            None if self.action == Action::CreateTask => {
                errors.push(FieldError::new(
                    at(base, "agent"),
                    "is required for create_task",
                ));
            }
            None => {}
        }
        match &self.url {
            Some(url) => {
                if let Err(e) = check_url(url) {
                    errors.push(FieldError::new(at(base, "url"), e));
                }
            }
            None if self.action == Action::Forward => {
                errors.push(FieldError::new(at(base, "url"), "is required for forward"));
            }
            None => {}
        }
        match &self.workflow {
            Some(w) if w.trim().is_empty() => {
                errors.push(FieldError::new(at(base, "workflow"), "must not be empty"));
            }
            Some(_) => {}
            None if self.action == Action::RunWorkflow => {
                errors.push(FieldError::new(
                    at(base, "workflow"),
                    "is required for run_workflow",
                ));
            }
            None => {}
        }
        if self.inputs.is_some() && self.action != Action::RunWorkflow {
            errors.push(FieldError::new(
                at(base, "inputs"),
                "only run_workflow takes inputs",
            ));
        }
    }
}

/// Each command's id: its own, or `cmd-{n}` from its 1-based position in the list,
/// so ids stay the same across reloads of an unchanged config.
pub(crate) fn command_ids(commands: &[CommandConfig]) -> Vec<String> {
    commands
        .iter()
        .enumerate()
        .map(|(i, c)| match &c.command_id {
            Some(id) => id.clone(),
            None => format!("cmd-{}", i + 1),
        })
        .collect()
}

/// Checks that a forward target is an absolute http(s) URL with a host. The outbox
/// parses it properly; this only turns obvious mistakes into a 422 at registration.
fn check_url(url: &str) -> Result<(), &'static str> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain white space");
    }
    let lower = url.to_ascii_lowercase();
    let rest_at = if lower.starts_with("https://") {
        8
    } else if lower.starts_with("http://") {
        7
    } else {
        return Err("must be an http:// or https:// URL");
    };
    let rest = url.get(rest_at..).unwrap_or("");
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err("must name a host");
    }
    Ok(())
}

/// Turns a serde failure into a field error at the path where it happened.
fn path_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> Vec<FieldError> {
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    let message = e.inner().to_string();
    // serde reports a missing field on the object that lacks it; point at the field.
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.split('`').next())
    {
        return vec![FieldError::new(at(&path, field), "is required")];
    }
    vec![FieldError::new(path, message)]
}

/// Makes a webhook id from a name: `GitHub Urgent Issues` → `github-urgent-issues`.
/// Lower-cases ASCII letters and digits, turns every other run into one `-`, trims
/// dashes, keeps at most 64 characters, and answers `webhook` when nothing is left.
/// The result always passes [`WebhookId::parse`].
pub fn slugify(name: &str) -> String {
    const MAX: usize = 64;
    let mut out = String::new();
    let mut dash = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
            if out.len() >= MAX {
                break;
            }
        } else {
            dash = true;
        }
    }
    out.truncate(MAX);
    let trimmed = out.trim_matches('-');
    if trimmed.is_empty() {
        "webhook".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn paths(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("GitHub Urgent Issues"), "github-urgent-issues");
        assert_eq!(
            slugify("  --Jira: Sprint/Automation!! "),
            "jira-sprint-automation"
        );
        assert_eq!(slugify("Ünïcödé"), "n-c-d");
        assert_eq!(slugify("!!!"), "webhook");
        assert_eq!(slugify(""), "webhook");
        assert_eq!(slugify(&"ab ".repeat(100)).len(), 64);
    }

    #[test]
    fn minimal_config_defaults() {
        let cfg = WebhookConfig::from_json(br#"{"name": "n", "provider": "github"}"#).unwrap();
        assert!(cfg.enabled);
        assert!(cfg.commands.is_empty());
        assert_eq!(cfg.effective_id(), "n");
        assert!(cfg.validate().is_empty());
    }

    #[test]
    fn parse_errors_name_their_field() {
        let e = WebhookConfig::from_json(
            br#"{"name": "n", "provider": "github", "commands": [{"trigger": "x", "action": "explode"}]}"#,
        )
        .unwrap_err();
        assert_eq!(paths(&e), ["commands[0].action"]);
        assert!(e[0].message.contains("unknown variant"), "{}", e[0].message);

        let e = WebhookConfig::from_json(
            br#"{"name": "n", "provider": "github", "commands": [{"action": "ask"}]}"#,
        )
        .unwrap_err();
        assert_eq!(paths(&e), ["commands[0].trigger"]);

        let e = WebhookConfig::from_json(br#"{"provider": "github"}"#).unwrap_err();
        assert_eq!(paths(&e), ["name"]);

        let e = WebhookConfig::from_json(br#"{"name": 5, "provider": "github"}"#).unwrap_err();
        assert_eq!(paths(&e), ["name"]);

        let e = WebhookConfig::from_json(b"{not json").unwrap_err();
        assert_eq!(e.len(), 1);

        let e = WebhookConfig::from_json(br#"{"name": "n", "provider": "github"} x"#).unwrap_err();
        assert_eq!(paths(&e), [""]);

        let e = WebhookConfig::from_value(serde_json::json!({
            "name": "n", "provider": "github", "commands": [{"trigger": "a", "action": "ask", "priority": "high"}]
        }))
        .unwrap_err();
        assert_eq!(paths(&e), ["commands[0].priority"]);
    }

    #[test]
    fn every_problem_at_once() {
        let cfg = WebhookConfig::from_value(serde_json::json!({
            "webhook_id": "bad id",
            "name": " ",
            "provider": "gitpub",
            "secret": "",
            "secrets": ["ok", ""],
            "bot_user": "",
            "commands": [
                {"trigger": "", "action": "create_task"},
                {"trigger": "a", "action": "forward", "url": "ftp://x"},
                {"trigger": "a", "action": "forward"},
                {"trigger": "a", "action": "run_workflow"},
                {"command_id": "cmd-6", "trigger": "a b", "action": "ask", "agent": "no/slash",
                 "template": "{{ unclosed", "conditions": {"bogus": 1}},
                {"trigger": "a", "action": "respond"},
                {"trigger": "a", "action": "forward", "url": "https://"},
                {"trigger": "a", "action": "run_workflow", "workflow": " "}
            ]
        }))
        .unwrap();
        let errors = cfg.validate();
        let got = paths(&errors);
        for want in [
            "webhook_id",
            "name",
            "provider",
            "secret",
            "secrets[1]",
            "bot_user",
            "commands[0].trigger",
            "commands[0].agent",
            "commands[1].url",
            "commands[2].url",
            "commands[3].workflow",
            "commands[4].trigger",
            "commands[4].agent",
            "commands[4].template",
            "commands[4].conditions.bogus",
            "commands[5].command_id",
            "commands[6].url",
            "commands[7].workflow",
        ] {
            assert!(got.contains(&want), "missing {want} in {errors:#?}");
        }
        assert_eq!(got.len(), 18, "{errors:#?}");
    }

    #[test]
    fn provider_must_be_known() {
        let mut cfg = WebhookConfig::from_json(br#"{"name": "n", "provider": "github"}"#).unwrap();
        for p in ["github", "jira", "slack", "stripe", "generic"] {
            cfg.provider = p.into();
            assert!(cfg.validate().is_empty(), "{p}");
        }
        cfg.provider = "GitHub".into();
        assert_eq!(paths(&cfg.validate()), ["provider"]);
    }

    #[test]
    fn urls() {
        assert!(check_url("https://example.com/hook").is_ok());
        assert!(check_url("HTTP://127.0.0.1:8080").is_ok());
        assert!(check_url("http://user@host?x").is_ok());
        assert!(check_url("https:///path").is_err());
        assert!(check_url("http://:80/").is_err());
        assert!(check_url("mailto:x@y").is_err());
        assert!(check_url("https://exa mple.com").is_err());
    }

    #[test]
    fn action_names_round_trip() {
        for a in Action::ALL {
            let json = serde_json::to_value(a).unwrap();
            assert_eq!(json, serde_json::Value::String(a.as_str().into()));
            assert_eq!(serde_json::from_value::<Action>(json).unwrap(), a);
        }
    }

    proptest! {
        #[test]
        fn slugs_are_valid_ids(name in ".{0,120}") {
            let s = slugify(&name);
            prop_assert!(WebhookId::parse(&s).is_ok(), "{s:?}");
            prop_assert!(!s.starts_with('-') && !s.ends_with('-'));
            prop_assert_eq!(slugify(&s), s.clone());
        }

        #[test]
        fn from_json_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = WebhookConfig::from_json(&bytes);
        }
    }
}
