//! Message templates: Jinja syntax (minijinja) over the event's payload.
//!
//! Templates are parsed when a config is compiled, so a syntax error, an unknown
//! filter or an unknown test is a validation error at registration rather than a
//! surprise at ingest. Rendering is bounded (minijinja's fuel); missing values and
//! nulls render as nothing (seed 002's `{{issue.body}}` on an issue without a body
//! is empty, not an error); and nothing is HTML-escaped, because messages go to
//! agents and chat tools, not into web pages.

use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use serde_json::{Map, Value};

use super::compiled::EventView;

/// Instructions one render may execute. Ordinary templates use a few hundred; the
/// bound stops a loop-heavy template from stalling ingest, which renders inline.
const FUEL: u64 = 200_000;

/// The environment every webhook's templates live in.
pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    // A message ends as it was written, final newline included.
    env.set_keep_trailing_newline(true);
    env.set_fuel(Some(FUEL));
    // JSON null would print as `none`; GitHub sends `"body": null` for an issue
    // without a description, and seed 002's `{{issue.body}}` should then be empty.
    env.set_formatter(|out, state, value| {
        if value.is_none() {
            Ok(())
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    env
}

/// Adds `source` to `env` as `name` and checks it as far as can be done without an
/// event: syntax, the filters and tests it names, and a trial render against an
/// empty event that must not call anything unknown or run out of fuel.
pub(crate) fn add(env: &mut Environment<'static>, name: &str, source: &str) -> Result<(), String> {
    env.add_template_owned(name.to_owned(), source.to_owned())
        .map_err(|e| describe(&e))?;
    let (filters, tests) = referenced_names(source);
    for f in filters {
        // An unknown filter fails only when reached at render time, so each name is
        // tried on its own; any other failure (a missing argument) means it exists.
        let probe = format!("{{{{ none|{f} }}}}");
        if let Err(e) = env.render_str(&probe, ()) {
            if e.kind() == ErrorKind::UnknownFilter {
                return Err(format!("unknown filter `{f}`"));
            }
        }
    }
    for t in tests {
        let probe = format!("{{{{ none is {t} }}}}");
        if let Err(e) = env.render_str(&probe, ()) {
            if e.kind() == ErrorKind::UnknownTest {
                return Err(format!("unknown test `{t}`"));
            }
        }
    }
    let trial = env
        .get_template(name)
        .and_then(|t| t.render(minijinja::Value::UNDEFINED));
    match trial {
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::UnknownFilter
                    | ErrorKind::UnknownTest
                    | ErrorKind::UnknownFunction
                    | ErrorKind::OutOfFuel
            ) =>
        {
            Err(describe(&e))
        }
        // Other failures depend on the event (`{{ issue.number // 0 }}`) and are
        // reported on the match at render time instead.
        _ => Ok(()),
    }
}

/// A minijinja error as one line for a user: what went wrong and on which line,
/// without the internal template name.
pub(crate) fn describe(e: &minijinja::Error) -> String {
    let mut s = e.kind().to_string();
    if let Some(d) = e.detail() {
        s.push_str(": ");
        s.push_str(d);
    }
    if let Some(line) = e.line() {
        s.push_str(&format!(" (line {line})"));
    }
    s
}

/// What a template sees: the payload's top-level keys, plus
/// - for a Slack `event_callback`, the inner `event`'s fields lifted to the top
///   (`{{text}}`, `{{user}}`, `{{channel}}`);
/// - for a Jira issue, `issue.fields.*` lifted into `issue` (`{{issue.summary}}`);
/// - `switchyard`: the event's id, type, provider, webhook, source, subject, actor
///   and thread key, also under `event` when the payload has no `event` of its own.
///
/// The conveniences never replace a key the payload has; `switchyard` always wins.
pub fn template_context(ev: &EventView<'_>) -> Value {
    let mut ctx = match ev.payload {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    if ev.payload.get("type").and_then(Value::as_str) == Some("event_callback") {
        if let Some(Value::Object(inner)) = ev.payload.get("event") {
            for (k, v) in inner {
                ctx.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    if let (Some(Value::Object(fields)), Some(Value::Object(issue))) =
        (ev.payload.pointer("/issue/fields"), ctx.get_mut("issue"))
    {
        for (k, v) in fields {
            issue.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let meta = serde_json::json!({
        "event_id": ev.event_id,
        "event_type": ev.event_type,
        "provider": ev.provider,
        "webhook_id": ev.webhook_id,
        "source": ev.source,
        "subject": ev.subject,
        "actor": ev.actor,
        "thread_key": ev.thread_key,
    });
    if !ctx.contains_key("event") {
        ctx.insert("event".into(), meta.clone());
    }
    ctx.insert("switchyard".into(), meta);
    Value::Object(ctx)
}

/// The filter and test names a template mentions, found by scanning its tags with
/// string literals blanked out. Jinja has no other use for `|` or for `is` followed
/// by a name, so the scan finds exactly the names minijinja will look up.
fn referenced_names(src: &str) -> (Vec<String>, Vec<String>) {
    let mut filters = Vec::new();
    let mut tests = Vec::new();
    let mut i = 0;
    while let Some(off) = src.get(i..).and_then(|s| s.find('{')) {
        let open = i + off;
        let rest = src.get(open..).unwrap_or("");
        if rest.starts_with("{#") {
            i = rest.find("#}").map_or(src.len(), |e| open + e + 2);
            continue;
        }
        let close = if rest.starts_with("{{") {
            "}}"
        } else if rest.starts_with("{%") {
            "%}"
        } else {
            i = open + 1;
            continue;
        };
        let (body, end) = scan_tag(src, open + 2, close);
        i = end;
        let tokens = tokenize(&body);
        if close == "%}" && tokens.first().map(String::as_str) == Some("raw") {
            // Nothing inside a raw block is Jinja.
            i = find_endraw(src, end);
            continue;
        }
        if close == "%}" && tokens.first().map(String::as_str) == Some("filter") {
            if let Some(name) = tokens.get(1).filter(|t| is_ident(t)) {
                filters.push(name.clone());
            }
        }
        for (k, t) in tokens.iter().enumerate() {
            let next = |n: usize| tokens.get(k + n).filter(|t| is_ident(t));
            let after_dot = k > 0 && tokens[k - 1] == ".";
            if t == "|" {
                filters.extend(next(1).cloned());
            } else if t == "is" && !after_dot {
                match next(1) {
                    Some(n) if n == "not" => tests.extend(next(2).cloned()),
                    Some(n) => tests.push(n.clone()),
                    None => {}
                }
            }
        }
    }
    filters.sort();
    filters.dedup();
    tests.sort();
    tests.dedup();
    (filters, tests)
}

/// Reads a tag's body from `start` up to `close` outside string literals; returns
/// the body with literals blanked and the index just past `close`.
fn scan_tag(src: &str, start: usize, close: &str) -> (String, usize) {
    let mut body = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let tail = src.get(start..).unwrap_or("");
    for (off, c) in tail.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
                body.push(' ');
            }
            None => {
                if tail.get(off..).is_some_and(|t| t.starts_with(close)) {
                    return (body, start + off + close.len());
                }
                if c == '"' || c == '\'' {
                    quote = Some(c);
                    body.push(' ');
                } else {
                    body.push(c);
                }
            }
        }
    }
    (body, src.len())
}

fn find_endraw(src: &str, from: usize) -> usize {
    let mut i = from;
    while let Some(off) = src.get(i..).and_then(|s| s.find("{%")) {
        let open = i + off;
        let (body, end) = scan_tag(src, open + 2, "%}");
        if tokenize(&body).first().map(String::as_str) == Some("endraw") {
            return end;
        }
        i = end;
    }
    src.len()
}

/// Splits a tag body into identifiers, numbers and single punctuation characters,
/// dropping white space and the `-`/`+` whitespace-control markers.
fn tokenize(body: &str) -> Vec<String> {
    let chars: Vec<char> = body.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphabetic() || c == '_' || c.is_ascii_digit() {
            let from = i;
            // Numbers (`1e5`, `1.5`) are read whole so their letters are no name.
            let number = c.is_ascii_digit();
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || (number && chars[i] == '.'))
            {
                i += 1;
            }
            out.push(chars[from..i].iter().collect());
        } else {
            if !c.is_whitespace() && c != '-' && c != '+' {
                out.push(c.to_string());
            }
            i += 1;
        }
    }
    out
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(src: &str) -> Result<(), String> {
        add(&mut environment(), "t", src)
    }

    fn view(payload: &Value) -> EventView<'_> {
        EventView {
            event_id: "evt-1",
            webhook_id: "wh",
            provider: "github",
            event_type: "issues.opened",
            payload,
            source: Some("octo/repo"),
            subject: None,
            actor: Some("octocat"),
            thread_key: None,
        }
    }

    fn render(src: &str, payload: &Value) -> Result<String, String> {
        let mut env = environment();
        add(&mut env, "t", src)?;
        let ctx = minijinja::Value::from_serialize(template_context(&view(payload)));
        env.get_template("t")
            .and_then(|t| t.render(ctx))
            .map_err(|e| describe(&e))
    }

    #[test]
    fn names_are_found() {
        let (f, t) = referenced_names(
            "a|b {{ x|upper | default('a|b') }}{% if y is not defined and z is odd %}\
             {{ q.is }}{% endif %}{# {{ x|nope }} #}{% filter title %}x{% endfilter %}\
             {% raw %}{{ x|nope2 }}{% endraw %}{{ 1e5|round }}{{ \"is x\" }}",
        );
        assert_eq!(f, ["default", "round", "title", "upper"]);
        assert_eq!(t, ["defined", "odd"]);
    }

    #[test]
    fn checks_at_registration() {
        assert!(check("Analyze issue: {{issue.title}}\n\n{{issue.body}}").is_ok());
        assert!(check("{{ x|upper|replace('a', 'b') }}{% if x is defined %}y{% endif %}").is_ok());
        assert!(check("{{ x | default('n/a') }} {{ x|tojson }}").is_ok());
        assert!(check("{% raw %}{{ x|nope }}{% endraw %}").is_ok());
        let e = check("{{ unclosed").unwrap_err();
        assert!(e.contains("syntax error"), "{e}");
        assert!(check("{% if %}").is_err());
        assert_eq!(
            check("{{ x|shout }}").unwrap_err(),
            "unknown filter `shout`"
        );
        // Unreached by a trial render, still found.
        assert_eq!(
            check("{% if a %}{{ x|shout }}{% endif %}").unwrap_err(),
            "unknown filter `shout`"
        );
        assert_eq!(
            check("{% if a is frobbed %}x{% endif %}").unwrap_err(),
            "unknown test `frobbed`"
        );
        assert!(check("{{ nosuchfunction() }}").is_err());
        assert!(check(
            "{% for i in range(10000) %}{% for j in range(10000) %}{{ i }}{% endfor %}{% endfor %}"
        )
        .is_err());
        // Depends on the event: accepted now, reported when it fails.
        assert!(check("{{ issue.number // 0 }}").is_ok());
    }

    #[test]
    fn everyday_templates_are_accepted() {
        for src in [
            "{% for l in issue.labels %}{{ l.name }}{% if not loop.last %}, {% endif %}{% endfor %}",
            "{{ issue.title | title }} {{ text|tojson }} {{ '%s!'|format(x) }}",
            "{% if x is string and y is not none and z is mapping %}ok{% endif %}",
            "{% set n = issue.number %}#{{ n }}{% macro m(a='|x') %}{{ a|upper }}{% endmacro %}{{ m() }}",
            "{%- if issue.body -%} {{ issue.body|trim }} {%- else -%} (no body) {%- endif %}",
            "{{ event.event_type|replace('.', ' ') }} {{ (payload or {})|length }} {{ 3 is odd }}",
            "{{ issue.labels|map(attribute='name')|join(', ') }}",
        ] {
            assert_eq!(check(src), Ok(()), "{src}");
        }
    }

    #[test]
    fn renders_with_conveniences() {
        let gh = json!({"issue": {"title": "T", "body": null}, "action": "opened"});
        assert_eq!(
            render("{{issue.title}}|{{issue.body}}|{{missing.deep.x}}", &gh).unwrap(),
            "T||"
        );
        assert_eq!(
            render(
                "{{ event.actor }} {{ switchyard.event_type }} {{ event.source }}",
                &gh
            )
            .unwrap(),
            "octocat issues.opened octo/repo"
        );
        assert_eq!(render("<{{ '<b>' }}>\n", &gh).unwrap(), "<<b>>\n");

        let slack = json!({"type": "event_callback", "event": {"type": "message", "text": "hi", "channel": "C1"}, "team_id": "T1"});
        assert_eq!(
            render(
                "{{text}} in {{channel}} ({{team_id}}) {{event.type}} {{switchyard.event_id}}",
                &slack
            )
            .unwrap(),
            "hi in C1 (T1) message evt-1"
        );
        // The payload's own keys win over lifted ones.
        let slack2 = json!({"type": "event_callback", "text": "outer", "event": {"text": "inner"}});
        assert_eq!(render("{{text}}", &slack2).unwrap(), "outer");

        let jira = json!({"issue": {"key": "PROJ-7", "fields": {"summary": "Fix login", "key": "shadow"}}});
        assert_eq!(
            render(
                "{{issue.key}} - {{issue.summary}} - {{issue.fields.summary}}",
                &jira
            )
            .unwrap(),
            "PROJ-7 - Fix login - Fix login"
        );

        let e = render("{{ issue.number // 0 }}", &json!({"issue": {"number": 3}})).unwrap_err();
        assert!(e.contains("invalid operation") || e.contains("//"), "{e}");
    }

    #[test]
    fn null_bodies_render_as_empty() {
        // Seed 002's `{{issue.body}}` on an issue without a body.
        let gh = json!({"issue": {"title": "T", "body": null}});
        assert_eq!(render("{{issue.body}}", &gh).unwrap(), "");
        assert_eq!(
            render("{{issue.body or 'no description'}}", &gh).unwrap(),
            "no description"
        );
    }

    #[test]
    fn context_of_a_non_object_payload() {
        let p = json!([1, 2]);
        let ctx = template_context(&view(&p));
        assert_eq!(ctx["switchyard"]["event_id"], "evt-1");
        assert_eq!(ctx["event"]["webhook_id"], "wh");
    }
}
