//! Rendering a workflow's Jinja fields at run time: routing's environment (same
//! syntax, same bounds, nulls render as nothing) over `state`, with `env.NAME`
//! and `secret('NAME')` answered by a lookup the engine supplies (it decides which
//! variables a workflow may read). Every secret value a render used is reported,
//! so whatever the run records can be [redacted](redact).

use std::sync::{Arc, Mutex};

use minijinja::value::{Object, Value as JValue};
use serde_json::Value;

use crate::routing::template;

/// Looks up an environment variable for a workflow: `None` when it is unset or
/// not readable by workflows.
pub type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What `{{ env.NAME }}` reads.
#[derive(Debug)]
struct Env(LookupBox);

struct LookupBox(Lookup);

impl std::fmt::Debug for LookupBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("env")
    }
}

impl Object for Env {
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        key.as_str().and_then(|k| (self.0 .0)(k)).map(JValue::from)
    }
}

/// Renders workflow templates for one node, remembering the secrets they read.
pub struct Renderer {
    env: minijinja::Environment<'static>,
    lookup: Lookup,
    secrets: Arc<Mutex<Vec<String>>>,
}

impl Renderer {
    pub fn new(lookup: Lookup) -> Self {
        let mut env = template::environment();
        let secrets: Arc<Mutex<Vec<String>>> = Arc::default();
        let (l, used) = (lookup.clone(), secrets.clone());
        env.add_function(
            "secret",
            move |name: String| -> Result<String, minijinja::Error> {
                match l(&name) {
                    Some(v) => {
                        used.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(v.clone());
                        Ok(v)
                    }
                    None => Err(minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        format!("secret {name:?} is not set"),
                    )),
                }
            },
        );
        Renderer {
            env,
            lookup,
            secrets,
        }
    }

    /// `source` rendered over `state`.
    pub fn render(&self, source: &str, state: &Value) -> Result<String, String> {
        let ctx = minijinja::context! {
            state => JValue::from_serialize(state),
            env => JValue::from_object(Env(LookupBox(self.lookup.clone()))),
        };
        self.env
            .render_str(source, ctx)
            .map_err(|e| template::describe(&e))
    }

    /// Every string inside `v` rendered as a template (a JSON body).
    pub fn render_value(&self, v: &Value, state: &Value) -> Result<Value, String> {
        Ok(match v {
            Value::String(s) => Value::String(self.render(s, state)?),
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.render_value(x, state))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| Ok((k.clone(), self.render_value(x, state)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }

    /// The secret values read so far.
    pub fn secrets(&self) -> Vec<String> {
        self.secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// What stands in for a secret in anything recorded.
pub const REDACTED: &str = "[redacted]";

/// `v` with every occurrence of a secret value inside its strings (and keys)
/// replaced by [`REDACTED`]. Empty secrets are ignored.
pub fn redact(v: &Value, secrets: &[String]) -> Value {
    let secrets: Vec<&str> = secrets
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    if secrets.is_empty() {
        return v.clone();
    }
    redact_in(v, &secrets)
}

/// `s` with every secret value replaced by [`REDACTED`].
pub fn redact_str(s: &str, secrets: &[String]) -> String {
    let secrets: Vec<&str> = secrets
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    text(s, &secrets)
}

fn text(s: &str, secrets: &[&str]) -> String {
    let mut out = s.to_owned();
    for secret in secrets {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    out
}

fn redact_in(v: &Value, secrets: &[&str]) -> Value {
    let text = |s: &str| text(s, secrets);
    match v {
        Value::String(s) => Value::String(text(s)),
        Value::Array(a) => Value::Array(a.iter().map(|x| redact_in(x, secrets)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (text(k), redact_in(x, secrets)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn renderer() -> Renderer {
        Renderer::new(Arc::new(|name: &str| match name {
            "REGION" => Some("eu-west".to_owned()),
            "TOKEN" => Some("s3cr3t-token".to_owned()),
            _ => None,
        }))
    }

    #[test]
    fn state_env_and_secrets_render() {
        let r = renderer();
        let state = json!({"n": 7, "title": "Disk full", "none": null});
        assert_eq!(
            r.render(
                "#{{ state.n }} {{ state.title }} in {{ env.REGION }}{{ state.none }}",
                &state
            )
            .unwrap(),
            "#7 Disk full in eu-west"
        );
        assert_eq!(r.render("{{ env.UNSET }}", &state).unwrap(), "");
        assert!(r.secrets().is_empty());
        assert_eq!(
            r.render("Bearer {{ secret('TOKEN') }}", &state).unwrap(),
            "Bearer s3cr3t-token"
        );
        assert_eq!(r.secrets(), vec!["s3cr3t-token".to_owned()]);
        let e = r.render("{{ secret('MISSING') }}", &state).unwrap_err();
        assert!(e.contains("MISSING"), "{e}");
    }

    #[test]
    fn bodies_render_string_by_string() {
        let r = renderer();
        let body = json!({"title": "{{ state.t }}", "n": 3, "tags": ["{{ env.REGION }}"]});
        assert_eq!(
            r.render_value(&body, &json!({"t": "x"})).unwrap(),
            json!({"title": "x", "n": 3, "tags": ["eu-west"]})
        );
    }

    #[test]
    fn secrets_are_redacted_everywhere() {
        let secrets = vec!["tok".to_owned(), String::new()];
        let v = json!({"h": {"Authorization": "Bearer tok"}, "tok": ["a tok b", 1]});
        assert_eq!(
            redact(&v, &secrets),
            json!({"h": {"Authorization": "Bearer [redacted]"}, "[redacted]": ["a [redacted] b", 1]})
        );
        assert_eq!(redact_str("tok tok", &secrets), "[redacted] [redacted]");
        assert_eq!(redact(&v, &[]), v);
    }
}
