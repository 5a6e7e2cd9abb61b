//! Prompt placeholders in configurable-agents' Python-format style: `{state.field}`
//! or `{field}` (a node input, else a state field), nested with dots
//! (`{state.profile.name}`); `{{` and `}}` are literal braces. Parsed when a workflow
//! loads, so a placeholder naming an unknown field is a load error.

use serde_json::{Map, Value};

/// A prompt split into literal text and placeholders.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    /// Whether it was written `state.…`, then the dotted names.
    Slot {
        state: bool,
        path: Vec<String>,
    },
}

impl Prompt {
    /// Splits `src`; errors on an unclosed `{`, a lone `}` or an empty or malformed
    /// placeholder (format specs like `{x:>10}` are not supported).
    pub fn parse(src: &str) -> Result<Prompt, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = src.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '}' => {
                    return Err("single `}` in the prompt; write `}}` for a literal brace".into())
                }
                '{' => {
                    let mut inner = String::new();
                    loop {
                        match chars.next() {
                            None => {
                                return Err(
                                    "unclosed `{` in the prompt; write `{{` for a literal brace"
                                        .into(),
                                )
                            }
                            Some('}') => break,
                            Some('{') => return Err("`{` inside a placeholder".into()),
                            Some(x) => inner.push(x),
                        }
                    }
                    let names: Vec<&str> = inner.trim().split('.').collect();
                    let ok = names.iter().all(|n| {
                        n.chars()
                            .next()
                            .is_some_and(|c| c.is_alphabetic() || c == '_')
                            && n.chars().all(|c| c.is_alphanumeric() || c == '_')
                    });
                    if !ok {
                        return Err(format!(
                            "placeholder {{{inner}}} is not a field name; placeholders are {{state.field}} or {{field}}"
                        ));
                    }
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    let state = names.len() > 1 && names[0] == "state";
                    let path = names[usize::from(state)..]
                        .iter()
                        .map(|s| (*s).to_owned())
                        .collect();
                    parts.push(Part::Slot { state, path });
                }
                other => text.push(other),
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Prompt { parts })
    }

    /// Each placeholder as written, with whether it was `state.`-qualified and the
    /// first name after that (the field or input it reads).
    pub fn placeholders(&self) -> impl Iterator<Item = (bool, &str, String)> {
        self.parts.iter().filter_map(|p| match p {
            Part::Text(_) => None,
            Part::Slot { state, path } => {
                let written = if *state {
                    format!("state.{}", path.join("."))
                } else {
                    path.join(".")
                };
                Some((
                    *state,
                    path.first().map(String::as_str).unwrap_or(""),
                    written,
                ))
            }
        })
    }

    /// The prompt with every placeholder filled: `{field}` from `inputs` when the
    /// node maps one of that name, else from `state`; `{state.field}` from `state`.
    /// Text goes in as it is, null and missing values as nothing, anything else as
    /// JSON.
    pub fn render(&self, state: &Map<String, Value>, inputs: &Map<String, Value>) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Slot {
                    state: qualified,
                    path,
                } => {
                    let Some((first, rest)) = path.split_first() else {
                        continue;
                    };
                    let root = if *qualified {
                        state.get(first)
                    } else {
                        inputs.get(first).or_else(|| state.get(first))
                    };
                    let v = rest
                        .iter()
                        .try_fold(root, |cur, k| Some(cur.and_then(|c| c.get(k))));
                    out.push_str(&text_of(v.flatten()));
                }
            }
        }
        out
    }
}

/// How a value reads inside a prompt.
pub fn text_of(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn renders() {
        let p = Prompt::parse(
            "Hi {state.name} ({name}, {who}) {{literal}} {state.p.city} {n}{missing}",
        )
        .unwrap();
        let state = json!({"name": "Ada", "p": {"city": "Turin"}, "n": 3, "who": "state"});
        let inputs = json!({"who": "input"});
        assert_eq!(
            p.render(state.as_object().unwrap(), inputs.as_object().unwrap()),
            "Hi Ada (Ada, input) {literal} Turin 3"
        );
        let names: Vec<_> = p
            .placeholders()
            .map(|(q, f, _)| (q, f.to_owned()))
            .collect();
        assert_eq!(names[0], (true, "name".to_owned()));
        assert_eq!(names[1], (false, "name".to_owned()));
    }

    #[test]
    fn errors() {
        for bad in ["{", "a }", "{}", "{x:>3}", "{a b}", "{1x}", "{a.}", "{{x}"] {
            assert!(Prompt::parse(bad).is_err(), "{bad}");
        }
        assert!(Prompt::parse("{state}").is_ok());
    }

    proptest! {
        #[test]
        fn literal_text_round_trips(s in "[^{}]{0,40}") {
            let p = Prompt::parse(&s).unwrap();
            prop_assert_eq!(p.render(&Map::new(), &Map::new()), s);
        }

        #[test]
        fn never_panics(s in ".{0,40}") {
            if let Ok(p) = Prompt::parse(&s) {
                let _ = p.render(&Map::new(), &Map::new());
            }
        }
    }
}
