//! A webhook config compiled for routing: triggers classified, conditions parsed,
//! regexes and templates compiled once, commands in the order they run. Routing an
//! event is then pure evaluation: it cannot fail, and a template that fails to
//! render is reported on its match instead of dropping it.

use serde::Serialize;

use super::access::{self, RateLimit};
use super::config::{at, command_ids, Action, FieldError, WebhookConfig};
use super::filter::Conditions;
use super::glob::Trigger;
use super::template::{self, template_context};
use crate::EventType;

/// A validated webhook ready to route events. Cheap to share: build it once per
/// config change and keep it behind an `Arc`.
#[derive(Clone)]
pub struct CompiledWebhook {
    webhook_id: String,
    provider: String,
    enabled: bool,
    bot_user: Option<String>,
    /// What the API shows, in the order commands run.
    infos: Vec<CompiledCommandInfo>,
    /// What routing evaluates, parallel to `infos`.
    rules: Vec<Rule>,
    /// Holds every command's template, named by its rule's position in the config.
    env: minijinja::Environment<'static>,
    /// Who may post (any address when empty).
    allowed_ips: Vec<ipnet::IpNet>,
    rate_limit: Option<RateLimit>,
}

#[derive(Clone)]
struct Rule {
    trigger: Trigger,
    conditions: Conditions,
    /// The template's name in the environment, when the command has one.
    template: Option<String>,
    /// The ordering-key template's name, when the command has one.
    ordering_key: Option<String>,
    /// `run_workflow`'s inputs: each input's template name.
    inputs: Option<Vec<(String, String)>>,
}

/// A command as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompiledCommandInfo {
    pub command_id: String,
    pub action: Action,
    pub agent: Option<String>,
    pub trigger: String,
    pub priority: i64,
    pub stop: bool,
    pub url: Option<String>,
    pub workflow: Option<String>,
}

/// The parts of a stored event that routing reads.
#[derive(Debug, Clone, Copy)]
pub struct EventView<'a> {
    pub event_id: &'a str,
    pub webhook_id: &'a str,
    pub provider: &'a str,
    pub event_type: &'a str,
    pub payload: &'a serde_json::Value,
    pub source: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub thread_key: Option<&'a str>,
}

/// One command that matched an event, with its rendered message.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub command_id: String,
    pub action: Action,
    pub agent: Option<String>,
    /// The rendered template (`""` when the command has none), or why it failed.
    pub message: Result<String, String>,
    pub url: Option<String>,
    pub workflow: Option<String>,
    /// `run_workflow`'s rendered inputs (text, converted by the run), or why one
    /// did not render; `None` when the command lists none.
    pub inputs: Option<Result<serde_json::Map<String, serde_json::Value>, String>>,
    /// The rendered ordering key, when the command has one (a render error leaves
    /// the message unordered: the error is already the message's if it has one).
    pub ordering_key: Option<String>,
}

impl CompiledWebhook {
    /// Validates and compiles a config; the errors are [`WebhookConfig::validate`]'s.
    /// Commands without an id get `cmd-{n}` from their 1-based position in the
    /// config's list (before sorting), so ids stay stable across reloads.
    pub fn compile(cfg: &WebhookConfig) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        cfg.check_fields(&mut errors);
        let allowed_ips = access::parse_networks(&cfg.allowed_ips, "allowed_ips", &mut errors);
        if let Some(r) = &cfg.rate_limit {
            r.check("rate_limit", &mut errors);
        }
        let ids = command_ids(&cfg.commands);
        let mut env = template::environment();
        let mut built = Vec::with_capacity(cfg.commands.len());
        for ((i, cmd), command_id) in cfg.commands.iter().enumerate().zip(ids) {
            let base = format!("commands[{i}]");
            // A trigger is a glob over event types, so it obeys the same rules as
            // one: every printable ASCII character is either itself or a wildcard.
            if let Err(e) = EventType::parse(&cmd.trigger) {
                errors.push(FieldError::new(at(&base, "trigger"), e.to_string()));
            }
            let conditions = match &cmd.conditions {
                None => Conditions::always(),
                Some(v) => match Conditions::compile_at(v, &at(&base, "conditions")) {
                    Ok(c) => c,
                    Err(e) => {
                        errors.extend(e);
                        Conditions::always()
                    }
                },
            };
            let template = match &cmd.template {
                None => None,
                Some(source) => {
                    let name = format!("commands[{i}]");
                    if let Err(e) = template::add(&mut env, &name, source) {
                        errors.push(FieldError::new(at(&base, "template"), e));
                    }
                    Some(name)
                }
            };
            let ordering_key = match &cmd.ordering_key {
                None => None,
                Some(source) => {
                    let name = format!("commands[{i}].ordering_key");
                    if let Err(e) = template::add(&mut env, &name, source) {
                        errors.push(FieldError::new(at(&base, "ordering_key"), e));
                    }
                    Some(name)
                }
            };
            let inputs = cmd.inputs.as_ref().map(|m| {
                m.iter()
                    .map(|(k, source)| {
                        let name = format!("commands[{i}].inputs.{k}");
                        if let Err(e) = template::add(&mut env, &name, source) {
                            errors.push(FieldError::new(at(&at(&base, "inputs"), k), e));
                        }
                        (k.clone(), name)
                    })
                    .collect()
            });
            let info = CompiledCommandInfo {
                command_id,
                action: cmd.action,
                agent: cmd.agent.clone(),
                trigger: cmd.trigger.clone(),
                priority: cmd.priority,
                stop: cmd.stop,
                url: cmd.url.clone(),
                workflow: cmd.workflow.clone(),
            };
            let rule = Rule {
                trigger: Trigger::new(&cmd.trigger),
                conditions,
                template,
                ordering_key,
                inputs,
            };
            built.push((info, rule));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // The sort is stable, so equal priorities keep the config's order.
        built.sort_by_key(|(info, _)| std::cmp::Reverse(info.priority));
        let (infos, rules) = built.into_iter().unzip();
        Ok(Self {
            webhook_id: cfg.effective_id(),
            provider: cfg.provider.clone(),
            enabled: cfg.enabled,
            bot_user: cfg.bot_user.clone(),
            infos,
            rules,
            env,
            allowed_ips,
            rate_limit: cfg.rate_limit,
        })
    }

    /// The networks allowed to post; empty means any.
    pub fn allowed_ips(&self) -> &[ipnet::IpNet] {
        &self.allowed_ips
    }

    /// The webhook's own rate limit, if it sets one.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.rate_limit
    }

    /// The commands in the order they run (priority, highest first; ties in list order).
    pub fn commands(&self) -> &[CompiledCommandInfo] {
        &self.infos
    }

    /// The configured id, or the slug of the name when the config has none.
    pub fn webhook_id(&self) -> &str {
        &self.webhook_id
    }

    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// Routing does not look at this; the receiver answers 404 for a disabled webhook.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn bot_user(&self) -> Option<&str> {
        self.bot_user.as_deref()
    }

    /// Every command that matches the event, in order, stopping after the first
    /// matching command with `stop`. Templates render against
    /// [`template_context`]; a render error is the match's `message` error.
    pub fn route(&self, ev: &EventView<'_>) -> Vec<Match> {
        let mut out = Vec::new();
        // Built on the first match that needs it: most events match nothing, and
        // the context copies the payload.
        let mut ctx: Option<minijinja::Value> = None;
        for (info, rule) in self.infos.iter().zip(&self.rules) {
            if !rule.trigger.matches(ev.event_type) || !rule.conditions.matches(ev.payload) {
                continue;
            }
            let mut render = |name: &str| {
                let ctx = ctx
                    .get_or_insert_with(|| minijinja::Value::from_serialize(template_context(ev)));
                self.env
                    .get_template(name)
                    .and_then(|t| t.render(&*ctx))
                    .map_err(|e| template::describe(&e))
            };
            let message = match &rule.template {
                None => Ok(String::new()),
                Some(name) => render(name),
            };
            let ordering_key = rule
                .ordering_key
                .as_deref()
                .and_then(|name| render(name).ok());
            let inputs = rule.inputs.as_ref().map(|list| {
                list.iter()
                    .map(|(k, name)| {
                        render(name)
                            .map(|v| (k.clone(), serde_json::Value::String(v)))
                            .map_err(|e| format!("inputs.{k}: {e}"))
                    })
                    .collect::<Result<serde_json::Map<_, _>, String>>()
            });
            out.push(Match {
                inputs,
                command_id: info.command_id.clone(),
                action: info.action,
                agent: info.agent.clone(),
                message,
                url: info.url.clone(),
                workflow: info.workflow.clone(),
                ordering_key,
            });
            if info.stop {
                break;
            }
        }
        out
    }
}

impl std::fmt::Debug for CompiledWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledWebhook")
            .field("webhook_id", &self.webhook_id)
            .field("provider", &self.provider)
            .field("enabled", &self.enabled)
            .field("commands", &self.infos)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile(v: serde_json::Value) -> CompiledWebhook {
        CompiledWebhook::compile(&WebhookConfig::from_value(v).unwrap()).unwrap()
    }

    fn ev<'a>(event_type: &'a str, payload: &'a serde_json::Value) -> EventView<'a> {
        EventView {
            event_id: "evt-1",
            webhook_id: "wh",
            provider: "github",
            event_type,
            payload,
            source: None,
            subject: None,
            actor: None,
            thread_key: None,
        }
    }

    fn ids(ms: &[Match]) -> Vec<&str> {
        ms.iter().map(|m| m.command_id.as_str()).collect()
    }

    #[test]
    fn priority_order_ids_and_stop() {
        let w = compile(json!({
            "name": "Order", "provider": "github",
            "commands": [
                {"trigger": "*", "action": "comment"},
                {"trigger": "issues.*", "action": "ask", "priority": 5},
                {"command_id": "last", "trigger": "issues.opened", "action": "respond", "priority": -1},
                {"trigger": "issues.opened", "action": "comment", "priority": 5},
                {"trigger": "issues.closed", "action": "comment", "priority": 9, "stop": true}
            ]
        }));
        let order: Vec<&str> = w.commands().iter().map(|c| c.command_id.as_str()).collect();
        assert_eq!(order, ["cmd-5", "cmd-2", "cmd-4", "cmd-1", "last"]);
        let p = json!({});
        assert_eq!(
            ids(&w.route(&ev("issues.opened", &p))),
            ["cmd-2", "cmd-4", "cmd-1", "last"]
        );
        assert_eq!(ids(&w.route(&ev("issues.closed", &p))), ["cmd-5"]);
        assert_eq!(ids(&w.route(&ev("push", &p))), ["cmd-1"]);
        assert_eq!(w.webhook_id(), "order");
    }

    #[test]
    fn stop_only_when_matched() {
        let w = compile(json!({
            "name": "Stop", "provider": "github",
            "commands": [
                {"trigger": "*", "action": "comment", "stop": true, "priority": 1,
                 "conditions": {"labels": "urgent"}},
                {"trigger": "*", "action": "ask"}
            ]
        }));
        let plain = json!({"issue": {"labels": []}});
        let urgent = json!({"issue": {"labels": [{"name": "urgent"}]}});
        assert_eq!(ids(&w.route(&ev("issues.opened", &plain))), ["cmd-2"]);
        assert_eq!(ids(&w.route(&ev("issues.opened", &urgent))), ["cmd-1"]);
    }

    #[test]
    fn render_errors_keep_the_match() {
        let w = compile(json!({
            "name": "E", "provider": "github",
            "commands": [
                {"trigger": "*", "action": "comment", "template": "n={{ issue.number // 0 }}"},
                {"trigger": "*", "action": "forward", "url": "https://example.com/x",
                 "template": "{{ issue.number }}"},
                {"trigger": "*", "action": "run_workflow", "workflow": "triage"}
            ]
        }));
        let p = json!({"issue": {"number": 7}});
        let ms = w.route(&ev("issues.opened", &p));
        assert_eq!(ms.len(), 3);
        assert!(ms[0].message.is_err(), "{:?}", ms[0].message);
        assert_eq!(ms[1].message, Ok("7".into()));
        assert_eq!(ms[1].url.as_deref(), Some("https://example.com/x"));
        assert_eq!(ms[2].message, Ok(String::new()));
        assert_eq!(ms[2].workflow.as_deref(), Some("triage"));
        assert_eq!(ms[2].action, Action::RunWorkflow);
    }

    #[test]
    fn compile_reports_what_validate_reports() {
        let cfg = WebhookConfig::from_value(json!({
            "name": "x", "provider": "github",
            "commands": [{"trigger": "*", "action": "ask", "template": "{{ x|nope }}",
                          "conditions": {"path": "a", "op": "regex", "value": "("}}]
        }))
        .unwrap();
        let errors = CompiledWebhook::compile(&cfg).unwrap_err();
        assert_eq!(errors, cfg.validate());
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["commands[0].conditions.value", "commands[0].template"]
        );
    }

    #[test]
    fn is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<CompiledWebhook>();
    }
}
