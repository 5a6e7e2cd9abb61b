//! Routing: seed 002's webhook configs and the commands they map events to.
//!
//! A [`WebhookConfig`] is what users and agents register (JSON through the API, or a
//! file in the config folder). [`CompiledWebhook::compile`] validates it, reporting
//! every problem with its field path, and prepares it: triggers classified,
//! conditions parsed, regexes and templates compiled once. [`CompiledWebhook::route`]
//! then tells, for one stored event, which commands run and with what message. It is
//! pure and cannot fail, so the store can call it inside the transaction that saves
//! the event. docs/routing.md is the user's reference for everything here.

pub mod access;
mod compiled;
mod config;
mod filter;
mod glob;
pub(crate) mod template;

pub use access::RateLimit;
pub use compiled::{CompiledCommandInfo, CompiledWebhook, EventView, Match};
pub(crate) use config::at;
pub use config::{slugify, Action, CommandConfig, FieldError, WebhookConfig};
pub use filter::Conditions;
pub use glob::glob_match;
pub use template::template_context;

#[cfg(test)]
mod seed_002 {
    //! Seed 002's four configs, copied verbatim, loaded, validated and routed
    //! against realistic payloads that go through the real provider normalizers.
    use super::*;
    use crate::providers::testkit::Req;
    use crate::Provider;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    // Example 1: GitHub Issue Tracker.
    const EXAMPLE_1_GITHUB: &str = r##"{
  "webhook_id": "github-issues-001",
  "name": "GitHub Issue Tracker",
  "provider": "github",
  "endpoint": "/webhooks/github/github-issues-001",
  "secret": "your-webhook-secret",
  "enabled": true,
  "commands": [
    {
      "trigger": "issues.opened",
      "action": "create_task",
      "agent": "planning",
      "template": "Analyze issue: {{issue.title}}\n\n{{issue.body}}",
      "conditions": {
        "labels": ["bug", "enhancement"]
      }
    },
    {
      "trigger": "issue_comment.created",
      "action": "ask",
      "agent": "brain",
      "template": "User asked: {{comment.body}}",
      "conditions": {
        "body_contains": "@agent"
      }
    }
  ]
}
"##;

    // Example 2: Jira Automation.
    const EXAMPLE_2_JIRA: &str = r##"{
  "webhook_id": "jira-automation-001",
  "name": "Jira Sprint Automation",
  "provider": "jira",
  "endpoint": "/webhooks/jira/jira-automation-001",
  "enabled": true,
  "commands": [
    {
      "trigger": "jira:issue_created",
      "action": "create_task",
      "agent": "planning",
      "template": "New Jira ticket: {{issue.key}} - {{issue.summary}}"
    },
    {
      "trigger": "jira:issue_updated",
      "action": "comment",
      "agent": "brain",
      "template": "Acknowledged update to {{issue.key}}"
    }
  ]
}
"##;

    // Example 3: Custom Slack Integration.
    const EXAMPLE_3_SLACK: &str = r##"{
  "webhook_id": "slack-alerts-001",
  "name": "Slack Alert Handler",
  "provider": "slack",
  "endpoint": "/webhooks/slack/slack-alerts-001",
  "enabled": true,
  "commands": [
    {
      "trigger": "message.channels",
      "action": "respond",
      "agent": "brain",
      "template": "Processing your request: {{text}}",
      "conditions": {
        "channel": "#engineering"
      }
    }
  ]
}
"##;

    // The file the brain writes: /data/config/webhooks/github-urgent-issues.json
    const BRAIN_URGENT_ISSUES: &str = r##"{
  "name": "GitHub Urgent Issues",
  "provider": "github",
  "commands": [
    {
      "trigger": "issues.labeled",
      "action": "create_task",
      "agent": "planning",
      "conditions": {"label": "urgent"}
    }
  ]
}
"##;

    fn compiled(json: &str) -> CompiledWebhook {
        let cfg = WebhookConfig::from_json(json.as_bytes()).unwrap();
        assert_eq!(cfg.validate(), []);
        CompiledWebhook::compile(&cfg).unwrap()
    }

    /// Normalizes a request with the named provider and routes the event.
    fn route_request(
        w: &CompiledWebhook,
        provider: &dyn Provider,
        req: &Req,
    ) -> (String, Vec<Match>) {
        let n = provider.normalize(&req.inbound()).unwrap();
        let ev = EventView {
            event_id: "evt-1",
            webhook_id: w.webhook_id(),
            provider: provider.name(),
            event_type: n.event_type.as_str(),
            payload: &n.payload,
            source: n.source.as_deref(),
            subject: n.subject.as_deref(),
            actor: n.actor.as_deref(),
            thread_key: n.thread_key.as_deref(),
        };
        (n.event_type.as_str().to_owned(), w.route(&ev))
    }

    fn github(event: &str, payload: Value) -> Req {
        Req::new(payload.to_string())
            .header("x-github-event", event)
            .header("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
            .header("content-type", "application/json")
    }

    fn gh_issue(action: &str, labels: &[&str]) -> Value {
        let labels: Vec<Value> = labels
            .iter()
            .map(|l| json!({"id": 1, "name": l, "color": "d73a4a"}))
            .collect();
        json!({
            "action": action,
            "issue": {
                "number": 1347,
                "title": "Found a bug",
                "body": "I'm having a problem with this.",
                "state": "open",
                "labels": labels,
                "user": {"login": "octocat"},
                "html_url": "https://github.com/octocat/Hello-World/issues/1347"
            },
            "repository": {"full_name": "octocat/Hello-World"},
            "sender": {"login": "octocat"}
        })
    }

    #[test]
    fn all_four_load_and_validate() {
        for (json, id, n) in [
            (EXAMPLE_1_GITHUB, "github-issues-001", 2),
            (EXAMPLE_2_JIRA, "jira-automation-001", 2),
            (EXAMPLE_3_SLACK, "slack-alerts-001", 1),
            (BRAIN_URGENT_ISSUES, "github-urgent-issues", 1),
        ] {
            let w = compiled(json);
            assert_eq!(w.webhook_id(), id);
            assert_eq!(w.commands().len(), n);
            assert!(w.enabled());
        }
        let cfg = WebhookConfig::from_json(EXAMPLE_1_GITHUB.as_bytes()).unwrap();
        assert_eq!(
            cfg.endpoint.as_deref(),
            Some("/webhooks/github/github-issues-001")
        );
        assert_eq!(cfg.secret.as_deref(), Some("your-webhook-secret"));
        let urgent = WebhookConfig::from_json(BRAIN_URGENT_ISSUES.as_bytes()).unwrap();
        assert_eq!(urgent.webhook_id, None);
        assert_eq!(slugify(&urgent.name), "github-urgent-issues");
    }

    /// Seed 002's "Example Configurations" section and the brain's example file,
    /// copied verbatim from the seed (lines 136-255) so the check below runs on
    /// every clone.
    const SEED_002_EXAMPLES: &str = include_str!("fixtures/seed_002_examples.md");

    /// The JSON documents of a Markdown text: every block that opens with `{` at
    /// the start of a line and closes with `}` at the start of a line.
    fn json_blocks(text: &str) -> Vec<String> {
        let mut blocks = Vec::new();
        let mut current: Option<String> = None;
        for line in text.lines() {
            if line.starts_with('{') {
                current = Some(String::new());
            }
            if let Some(block) = current.as_mut() {
                block.push_str(line);
                block.push('\n');
                if line.starts_with('}') {
                    blocks.extend(current.take());
                }
            }
        }
        blocks
    }

    /// The constants above are the seed's configurations exactly: the same four
    /// documents, in the seed's order, character for character.
    #[test]
    fn constants_are_the_seed_verbatim() {
        assert_eq!(
            json_blocks(SEED_002_EXAMPLES),
            [
                EXAMPLE_1_GITHUB,
                EXAMPLE_2_JIRA,
                EXAMPLE_3_SLACK,
                BRAIN_URGENT_ISSUES,
            ]
        );
    }

    #[test]
    fn github_issue_with_bug_label_creates_a_planning_task() {
        let w = compiled(EXAMPLE_1_GITHUB);
        let (t, ms) = route_request(
            &w,
            &crate::providers::github::GitHub,
            &github("issues", gh_issue("opened", &["bug"])),
        );
        assert_eq!(t, "issues.opened");
        assert_eq!(
            ms,
            [Match {
                command_id: "cmd-1".into(),
                action: Action::CreateTask,
                agent: Some("planning".into()),
                message: Ok("Analyze issue: Found a bug\n\nI'm having a problem with this.".into()),
                url: None,
                workflow: None,
                ordering_key: None,
                inputs: None,
            }]
        );
        let (_, ms) = route_request(
            &w,
            &crate::providers::github::GitHub,
            &github("issues", gh_issue("opened", &["wontfix", "enhancement"])),
        );
        assert_eq!(ms.len(), 1);
    }

    #[test]
    fn github_issue_without_a_matching_label_creates_nothing() {
        let w = compiled(EXAMPLE_1_GITHUB);
        for labels in [&["question"][..], &[]] {
            let (_, ms) = route_request(
                &w,
                &crate::providers::github::GitHub,
                &github("issues", gh_issue("opened", labels)),
            );
            assert_eq!(ms, []);
        }
        // The right label on the wrong event type.
        let (_, ms) = route_request(
            &w,
            &crate::providers::github::GitHub,
            &github("issues", gh_issue("closed", &["bug"])),
        );
        assert_eq!(ms, []);
    }

    #[test]
    fn comment_mentioning_the_agent_asks_the_brain() {
        let w = compiled(EXAMPLE_1_GITHUB);
        let mut p = gh_issue("created", &["bug"]);
        p["comment"] = json!({"id": 1, "body": "@agent can you look at the stack trace?", "user": {"login": "hubot"}});
        let (t, ms) = route_request(
            &w,
            &crate::providers::github::GitHub,
            &github("issue_comment", p.clone()),
        );
        assert_eq!(t, "issue_comment.created");
        assert_eq!(ms.len(), 1);
        assert_eq!(ms[0].command_id, "cmd-2");
        assert_eq!(ms[0].action, Action::Ask);
        assert_eq!(ms[0].agent.as_deref(), Some("brain"));
        assert_eq!(
            ms[0].message,
            Ok("User asked: @agent can you look at the stack trace?".into())
        );

        p["comment"]["body"] = json!("Thanks, works now");
        let (_, ms) = route_request(
            &w,
            &crate::providers::github::GitHub,
            &github("issue_comment", p),
        );
        assert_eq!(ms, []);
    }

    #[test]
    fn jira_ticket_creates_a_task_with_key_and_summary() {
        let w = compiled(EXAMPLE_2_JIRA);
        let body = |event: &str| {
            json!({
                "timestamp": 1_714_478_400_000_u64,
                "webhookEvent": event,
                "issue_event_type_name": "issue_created",
                "user": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Mia Krystof"},
                "issue": {
                    "id": "10002",
                    "self": "https://example.atlassian.net/rest/api/2/issue/10002",
                    "key": "PROJ-7",
                    "fields": {"summary": "Fix login", "project": {"key": "PROJ"}, "labels": []}
                }
            })
            .to_string()
        };
        let jira = crate::providers::jira::Jira;
        let (t, ms) = route_request(&w, &jira, &Req::new(body("jira:issue_created")));
        assert_eq!(t, "jira:issue_created");
        assert_eq!(ms.len(), 1);
        assert_eq!(ms[0].action, Action::CreateTask);
        assert_eq!(ms[0].agent.as_deref(), Some("planning"));
        assert_eq!(
            ms[0].message,
            Ok("New Jira ticket: PROJ-7 - Fix login".into())
        );

        let (_, ms) = route_request(&w, &jira, &Req::new(body("jira:issue_updated")));
        assert_eq!(ms.len(), 1);
        assert_eq!(ms[0].command_id, "cmd-2");
        assert_eq!(ms[0].action, Action::Comment);
        assert_eq!(ms[0].message, Ok("Acknowledged update to PROJ-7".into()));
    }

    #[test]
    fn slack_message_in_engineering_is_answered() {
        let w = compiled(EXAMPLE_3_SLACK);
        // A slash-command-like form payload names the channel.
        let form = |channel_name: &str| {
            json!({
                "token": "gIkuvaNzQIHg97ATvDxqgjtO",
                "team_id": "T0001",
                "channel_id": "C2147483705",
                "channel_name": channel_name,
                "user_id": "U2147483697",
                "user_name": "Steve",
                "command": "/agent",
                "text": "summarize the incident",
                "response_url": "https://hooks.slack.com/commands/1234/5678"
            })
        };
        let p = form("engineering");
        let ev = EventView {
            event_id: "evt-1",
            webhook_id: "slack-alerts-001",
            provider: "slack",
            event_type: "message.channels",
            payload: &p,
            source: Some("C2147483705"),
            subject: None,
            actor: Some("U2147483697"),
            thread_key: None,
        };
        let ms = w.route(&ev);
        assert_eq!(ms.len(), 1);
        assert_eq!(ms[0].action, Action::Respond);
        assert_eq!(ms[0].agent.as_deref(), Some("brain"));
        assert_eq!(
            ms[0].message,
            Ok("Processing your request: summarize the incident".into())
        );
        let other = form("random");
        assert_eq!(
            w.route(&EventView {
                payload: &other,
                ..ev
            }),
            []
        );

        // An Events API message carries only the channel's id: the seed's
        // `#engineering` cannot match it, a condition on the id does.
        let events = json!({
            "token": "XXYYZZ",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": "Ev0001",
            "event_time": 1_700_000_000,
            "event": {
                "type": "message",
                "channel": "C0123ENG",
                "channel_type": "channel",
                "user": "U2147483697",
                "text": "summarize the incident",
                "ts": "1700000000.000100"
            }
        });
        let req = Req::new(events.to_string()).header("content-type", "application/json");
        let slack = crate::providers::slack::Slack;
        let (t, ms) = route_request(&w, &slack, &req);
        assert_eq!(t, "message.channels");
        assert_eq!(ms, []);
        let by_id = compiled(&EXAMPLE_3_SLACK.replace("#engineering", "C0123ENG"));
        let (_, ms) = route_request(&by_id, &slack, &req);
        assert_eq!(ms.len(), 1);
        assert_eq!(
            ms[0].message,
            Ok("Processing your request: summarize the incident".into())
        );
    }

    #[test]
    fn urgent_label_creates_a_planning_task() {
        let w = compiled(BRAIN_URGENT_ISSUES);
        let mut p = gh_issue("labeled", &["urgent"]);
        p["label"] = json!({"id": 2, "name": "urgent", "color": "b60205"});
        let (t, ms) = route_request(
            &w,
            &crate::providers::github::GitHub,
            &github("issues", p.clone()),
        );
        assert_eq!(t, "issues.labeled");
        assert_eq!(
            ms,
            [Match {
                command_id: "cmd-1".into(),
                action: Action::CreateTask,
                agent: Some("planning".into()),
                message: Ok(String::new()),
                url: None,
                workflow: None,
                ordering_key: None,
                inputs: None,
            }]
        );
        // Another label added to an issue that is already urgent is not "labeled urgent".
        p["label"]["name"] = json!("bug");
        let (_, ms) = route_request(&w, &crate::providers::github::GitHub, &github("issues", p));
        assert_eq!(ms, []);
        // Opened with the label already on is a different event.
        let (_, ms) = route_request(
            &w,
            &crate::providers::github::GitHub,
            &github("issues", gh_issue("opened", &["urgent"])),
        );
        assert_eq!(ms, []);
    }

    /// Every JSON example in docs/routing.md is valid, and the ones that claim a
    /// behaviour have it.
    #[test]
    fn docs_examples_hold() {
        let doc = include_str!("../../../../docs/routing.md");
        let mut checked = 0;
        for block in doc.split("```json\n").skip(1) {
            let block = block.split("```").next().unwrap_or("");
            let text = if block.trim_start().starts_with("\"commands\"") {
                format!(r#"{{"name": "doc", "provider": "github", {block}}}"#)
            } else {
                block.to_owned()
            };
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            if v.get("error").is_some() {
                continue;
            }
            let cfg = if v.get("name").is_some() {
                WebhookConfig::from_value(v).unwrap()
            } else if v.get("trigger").is_some() {
                WebhookConfig::from_value(
                    json!({"name": "doc", "provider": "github", "commands": [v]}),
                )
                .unwrap()
            } else {
                WebhookConfig::from_value(json!({"name": "doc", "provider": "github",
                    "commands": [{"trigger": "*", "action": "comment", "conditions": v}]}))
                .unwrap()
            };
            assert_eq!(cfg.validate(), [], "{text}");
            checked += 1;
        }
        assert!(checked >= 9, "{checked}");
    }

    #[test]
    fn docs_priority_example() {
        let w = compiled(
            r#"{"name": "doc", "provider": "github", "commands": [
          {"trigger": "issues.opened", "action": "create_task", "agent": "oncall",
           "priority": 10, "stop": true, "conditions": {"labels": "sev1"}},
          {"trigger": "issues.opened", "action": "create_task", "agent": "planning"}
        ]}"#,
        );
        let route = |labels: &[&str]| {
            let p = gh_issue("opened", labels);
            let ev = EventView {
                event_id: "e",
                webhook_id: "doc",
                provider: "github",
                event_type: "issues.opened",
                payload: &p,
                source: None,
                subject: None,
                actor: None,
                thread_key: None,
            };
            w.route(&ev)
                .into_iter()
                .filter_map(|m| m.agent)
                .collect::<Vec<_>>()
        };
        assert_eq!(route(&["sev1"]), ["oncall"]);
        assert_eq!(route(&["bug"]), ["planning"]);
    }

    #[test]
    fn docs_respond_json_example() {
        let w = compiled(
            r#"{"name": "doc", "provider": "slack", "commands": [
          {"trigger": "slash_command", "action": "respond",
           "template": "{\"text\": {{ (\"Got it: \" ~ text)|tojson }}}"}
        ]}"#,
        );
        let p = json!({"command": "/agent", "text": "say \"hi\"\nplease", "channel_id": "C1"});
        let ev = EventView {
            event_id: "e",
            webhook_id: "doc",
            provider: "slack",
            event_type: "slash_command",
            payload: &p,
            source: None,
            subject: None,
            actor: None,
            thread_key: None,
        };
        let out = w.route(&ev)[0].message.clone().unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, json!({"text": "Got it: say \"hi\"\nplease"}));
    }

    #[test]
    fn error_messages_read_well() {
        let cfg = WebhookConfig::from_value(json!({
            "name": "x", "provider": "gitpub",
            "commands": [
                {"trigger": "", "action": "ask", "template": "{{ unclosed"},
                {"trigger": "a", "action": "ask",
                 "conditions": {"any": [{"labels": "x"}, {"path": "a", "op": "like", "value": 1}]}}
            ]
        }))
        .unwrap();
        let errors = cfg.validate();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            text.contains(&"commands[0].trigger: must not be empty".to_owned()),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("provider: unknown provider; expected one of github,")),
            "{text:#?}"
        );
        assert!(text.contains(&"commands[0].template: syntax error: unexpected end of input, expected end of variable block (line 1)".to_owned()), "{text:#?}");
        assert!(text.contains(&"commands[1].conditions.any[1].op: unknown op \"like\"; expected one of eq, ne, in, contains, regex, exists, gt, lt, gte, lte".to_owned()), "{text:#?}");
        let json = serde_json::to_value(&errors[0]).unwrap();
        assert!(json.get("path").is_some() && json.get("message").is_some());
    }

    /// Arbitrary JSON, with keys drawn mostly from the condition language so the
    /// parser gets past its first check.
    fn conditionish() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("labels"),
            Just("label"),
            Just("body_contains"),
            Just("channel"),
            Just("path"),
            Just("op"),
            Just("value"),
            Just("all"),
            Just("any"),
            Just("not"),
            Just("eq"),
            Just("regex"),
            Just("x")
        ]
        .prop_map(String::from);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            prop_oneof![
                Just("eq"),
                Just("ne"),
                Just("in"),
                Just("contains"),
                Just("regex"),
                Just("exists"),
                Just("gt"),
                Just("lte"),
                Just("a.b"),
                Just("a[*].b"),
                Just("*"),
                Just("["),
                Just("a[0"),
                Just("(?i)x"),
                Just("("),
                Just("#"),
                Just("bug")
            ]
            .prop_map(|s| Value::String(s.into())),
            "[a-z.*\\[\\]0-9\"#()|{}%]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 48, 5, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(key.clone(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn validate_and_route_never_panic(
            conditions in conditionish(),
            payload in conditionish(),
            template in "[a-z .|{}%()#'\"]{0,30}",
            trigger in "[a-z.*?]{0,8}",
        ) {
            let cfg = WebhookConfig::from_value(json!({
                "name": "fuzz",
                "provider": "github",
                "commands": [
                    {"trigger": trigger, "action": "comment", "conditions": conditions, "template": template},
                    {"trigger": "*", "action": "ask", "conditions": conditions}
                ]
            }))
            .unwrap();
            let errors = cfg.validate();
            if let Ok(w) = CompiledWebhook::compile(&cfg) {
                prop_assert!(errors.is_empty());
                for t in ["issues.opened", "", "x"] {
                    let ms = w.route(&EventView {
                        event_id: "e", webhook_id: "w", provider: "github", event_type: t,
                        payload: &payload, source: None, subject: None, actor: None, thread_key: None,
                    });
                    prop_assert!(ms.len() <= 2);
                }
            } else {
                prop_assert!(!errors.is_empty());
            }
        }
    }
}
