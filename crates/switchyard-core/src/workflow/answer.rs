//! Reading an LLM node's answer into state values, with no I/O: the engine's
//! client fetches the text, [`read_answer`] decides what it means.
//!
//! A structured node asked for JSON matching [`Node::output_json_schema`], so its
//! answer must be that object: every listed field present and convertible to its
//! declared type (the same [`FieldType::convert`] rendered values go through, so a
//! model's `3.0` fills an `int` but `"x"` does not). Models that ignore
//! `response_format` often wrap JSON in a Markdown fence, so one ```` ```json ````
//! fence is tolerated; anything else around the object is not, since a parser that
//! hunts for braces in prose would accept answers the model did not mean. A
//! plain-text node (seed 003's shorthand) keeps the trimmed text as it is.
//!
//! A refusal is an [`AnswerError`] listing every problem at once and keeping the
//! text it read, so the runner can retry and, at the last attempt, record what the
//! model actually said.

use serde_json::{Map, Value};

use super::types::{describe, error_at};
use super::{FieldError, Node, StateSchema};

/// What was wrong with one answer, and the answer itself.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", join(.problems))]
pub struct AnswerError {
    /// Never empty.
    pub problems: Vec<AnswerProblem>,
    /// The text as the model answered it, for the node's record.
    pub text: String,
}

/// One problem with an answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnswerProblem {
    /// The text (fence removed) does not parse as JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object: what it was.
    #[error("not a JSON object: got {0}")]
    NotObject(String),
    /// A field the schema requires is absent.
    #[error("missing field {0:?}")]
    Missing(String),
    /// A field is present but does not convert to its type; the path reaches
    /// into lists and mappings (`tags[1]`).
    #[error("field {:?}: {}", .0.path, .0.message)]
    Field(FieldError),
}

fn join(problems: &[AnswerProblem]) -> String {
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    shown.join("; ")
}

/// The state values `node`'s answer `text` gives: for a structured node, each
/// field of its output schema converted to its type (fields the schema does not
/// list are ignored); for a plain-text node (when [`Node::output_json_schema`] is
/// `None`), the trimmed text under its one output field, or its id when it has
/// none or several.
pub fn read_answer(
    node: &Node,
    state: &StateSchema,
    text: &str,
) -> Result<Map<String, Value>, AnswerError> {
    let refuse = |problems| AnswerError {
        problems,
        text: text.to_owned(),
    };
    let Some(fields) = node.answer_fields(state) else {
        let outputs = node.outputs.fields();
        let name = match outputs.as_slice() {
            [one] => *one,
            _ => node.id.as_str(),
        };
        let mut value = Value::String(text.trim().to_owned());
        // The loader declares a shorthand node's field as `str`; converting keeps a
        // field declared otherwise honest rather than trusting that.
        if state.field(name).is_some() {
            value = state
                .convert(name, value)
                .map_err(|e| refuse(vec![AnswerProblem::Field(e)]))?;
        }
        return Ok(Map::from_iter([(name.to_owned(), value)]));
    };
    let body = unfence(text.trim());
    let mut object = match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(m)) => m,
        Ok(other) => return Err(refuse(vec![AnswerProblem::NotObject(describe(&other))])),
        Err(e) => return Err(refuse(vec![AnswerProblem::NotJson(e.to_string())])),
    };
    let mut out = Map::new();
    let mut problems = Vec::new();
    for f in fields {
        match object.remove(f.name) {
            None => problems.push(AnswerProblem::Missing(f.name.to_owned())),
            Some(v) => match f.ty.convert(v) {
                Ok(v) => {
                    out.insert(f.name.to_owned(), v);
                }
                Err(e) => problems.push(AnswerProblem::Field(error_at(f.name, &e))),
            },
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(refuse(problems))
    }
}

/// The inside of one Markdown code fence (```` ```json ```` or ```` ``` ````)
/// around the whole text, else the text unchanged. `text` is already trimmed.
fn unfence(text: &str) -> &str {
    const FENCE: &str = "```";
    let Some(inner) = text
        .strip_prefix(FENCE)
        .and_then(|rest| rest.strip_suffix(FENCE))
    else {
        return text;
    };
    // The info string, if any, must say JSON; a fence of another language is
    // left whole, so it fails as "not JSON" rather than being half-read.
    let info_len = inner.find(['\n', '{', '[']).unwrap_or(inner.len());
    match inner[..info_len].trim() {
        "" => &inner[info_len..],
        info if info.eq_ignore_ascii_case("json") => &inner[info_len..],
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde_json::json;

    use super::super::{
        parse, FieldType, LlmConfig, NodeKind, OutputField, OutputSchema, Outputs, Prompt,
        StateField, Workflow,
    };
    use super::*;

    const SCORED: &str = r#"
schema_version: "1.0"
flow: {name: scored}
state:
  fields:
    topic: {type: str, required: true}
    score: {type: float, default: 0}
    count: {type: int, default: 0}
    tags: {type: "list[str]", default: []}
    summary: {type: str, default: ""}
nodes:
  - id: rate
    prompt: "Rate {state.topic}"
    outputs: [score, count, tags]
    output_schema:
      type: object
      fields:
        - {name: score, type: float}
        - {name: count, type: int}
        - {name: tags, type: "list[str]"}
  - id: summarize
    prompt: "Summarize {state.topic}"
    outputs: [summary]
  - id: single
    prompt: "How many? {state.topic}"
    outputs: [count]
    output_schema: {type: int}
edges:
  - {from: START, to: rate}
  - {from: rate, to: summarize}
  - {from: summarize, to: single}
  - {from: single, to: END}
"#;

    const SHORTHAND: &str = r#"
name: Slack notification
state:
  type: object
  properties:
    message: {type: string}
  required: [message]
nodes:
  - name: format_notification
    llm: {provider: openai, model: gpt-4o-mini}
    prompt: "Format {state.message}"
"#;

    fn workflow(yaml: &str) -> Workflow {
        parse(yaml, Some("wf")).unwrap()
    }

    fn read(w: &Workflow, node: &str, text: &str) -> Result<Value, AnswerError> {
        read_answer(w.node(node).unwrap(), &w.state, text).map(Value::Object)
    }

    fn message(w: &Workflow, node: &str, text: &str) -> String {
        read(w, node, text).unwrap_err().to_string()
    }

    #[test]
    fn a_structured_answer_is_converted_field_by_field() {
        let w = workflow(SCORED);
        let got = read(
            &w,
            "rate",
            r#"{"score": "0.5", "count": 3.0, "tags": ["a", "b"], "extra": 1}"#,
        );
        assert_eq!(
            got.unwrap(),
            json!({"score": 0.5, "count": 3, "tags": ["a", "b"]}),
            "converted as rendered values are; fields not asked for are dropped"
        );
        // The state field's type when the node has no output_schema; a single type
        // still answers an object with its one output.
        assert_eq!(
            read(&w, "summarize", r#"{"summary": "short"}"#).unwrap(),
            json!({"summary": "short"})
        );
        assert_eq!(
            read(&w, "single", r#"{"count": 7}"#).unwrap(),
            json!({"count": 7})
        );
    }

    #[test]
    fn whitespace_and_one_json_fence_are_tolerated() {
        let w = workflow(SCORED);
        let want = json!({"summary": "s"});
        for text in [
            "  {\"summary\": \"s\"}\n",
            "```json\n{\"summary\": \"s\"}\n```",
            "\n```JSON\n{\"summary\": \"s\"}```\n",
            "```\n{\"summary\": \"s\"}\n```",
            "```{\"summary\": \"s\"}```",
        ] {
            assert_eq!(read(&w, "summarize", text).unwrap(), want, "{text:?}");
        }
        for text in [
            "Here you go: {\"summary\": \"s\"}",
            "{\"summary\": \"s\"} hope this helps",
            "```python\n{\"summary\": \"s\"}\n```",
            "```json\n{\"summary\": \"s\"}\n```\n```json\n{}\n```",
            "```json\n{\"summary\": \"s\"}",
        ] {
            let e = read(&w, "summarize", text).unwrap_err();
            assert!(
                matches!(e.problems[..], [AnswerProblem::NotJson(_)]),
                "{text:?}: {e}"
            );
            assert_eq!(e.text, text, "the answer is kept as it came");
        }
    }

    #[test]
    fn every_problem_is_named() {
        let w = workflow(SCORED);
        assert_eq!(
            message(&w, "rate", r#"{"score": "high", "tags": ["a", null]}"#),
            "field \"score\": expected float, got string \"high\"; missing field \"count\"; \
             field \"tags[1]\": expected str, got null"
        );
        assert_eq!(
            message(&w, "rate", r#"{"score": 1, "count": 2.5, "tags": []}"#),
            "field \"count\": expected int, got number 2.5"
        );
        assert_eq!(
            message(&w, "rate", r#"{"score": null, "count": 1, "tags": []}"#),
            "field \"score\": expected float, got null"
        );
        assert_eq!(
            message(&w, "rate", "[1, 2]"),
            "not a JSON object: got a list"
        );
        assert_eq!(
            message(&w, "rate", "\"just text\""),
            "not a JSON object: got string \"just text\""
        );
        let e = message(&w, "rate", "The score is high.");
        assert!(e.starts_with("not JSON: expected value at line 1"), "{e}");
        let e = message(&w, "rate", "");
        assert!(e.starts_with("not JSON: EOF"), "{e}");
        let e = read(&w, "rate", " {\"score\": 1} ").unwrap_err();
        assert_eq!(e.text, " {\"score\": 1} ");
        assert_eq!(
            e.problems,
            [
                AnswerProblem::Missing("count".into()),
                AnswerProblem::Missing("tags".into())
            ]
        );
    }

    #[test]
    fn a_plain_text_node_keeps_the_trimmed_text_under_its_name() {
        let w = workflow(SHORTHAND);
        let node = w.node("format_notification").unwrap();
        assert!(node.output_json_schema(&w.state).is_none());
        assert_eq!(
            read(
                &w,
                "format_notification",
                "\n  Deploy *done* {not json}  \n"
            )
            .unwrap(),
            json!({"format_notification": "Deploy *done* {not json}"})
        );
        // A fence is text like any other here.
        assert_eq!(
            read(&w, "format_notification", "```json\n{}\n```").unwrap(),
            json!({"format_notification": "```json\n{}\n```"})
        );
    }

    fn llm_node(
        outputs: Vec<String>,
        output_schema: Option<OutputSchema>,
        structured: bool,
    ) -> Node {
        Node {
            id: "n".into(),
            description: None,
            kind: NodeKind::Llm {
                prompt: Prompt::parse("p").unwrap(),
                llm: LlmConfig::default(),
                output_schema,
                structured,
            },
            inputs: BTreeMap::new(),
            outputs: Outputs::List(outputs),
            timeout: None,
            retries: None,
        }
    }

    #[test]
    fn a_plain_text_node_with_several_or_no_outputs_uses_its_id() {
        let state = StateSchema::default();
        for outputs in [vec![], vec!["a".to_owned(), "b".to_owned()]] {
            let node = llm_node(outputs, None, false);
            assert_eq!(
                Value::Object(read_answer(&node, &state, " hi ").unwrap()),
                json!({"n": "hi"})
            );
        }
    }

    /// A type and a value of it, for the round trip.
    fn typed() -> impl Strategy<Value = (FieldType, Value)> {
        // Floats from a grid, so their JSON text parses back to the same f64.
        let leaf = prop_oneof![
            ".{0,8}".prop_map(|s| (FieldType::Str, json!(s))),
            any::<i64>().prop_map(|n| (FieldType::Int, json!(n))),
            (-1_000_000i32..1_000_000).prop_map(|n| (FieldType::Float, json!(f64::from(n) / 8.0))),
            any::<bool>().prop_map(|b| (FieldType::Bool, json!(b))),
        ];
        leaf.prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                (inner.clone(), 0usize..3).prop_map(|((t, v), n)| (
                    FieldType::List(Some(Box::new(t))),
                    Value::Array(vec![v; n])
                )),
                (inner, "[a-z]{1,4}").prop_map(|((t, v), k)| (
                    FieldType::Dict(Some((Box::new(FieldType::Str), Box::new(t)))),
                    json!({ k: v })
                )),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_text_is_read_or_refused_without_panicking(text in "\\PC{0,64}", fenced in any::<bool>()) {
            let w = workflow(SCORED);
            let text = if fenced { format!("```json\n{text}\n```") } else { text };
            for node in ["rate", "summarize", "single"] {
                match read(&w, node, &text) {
                    Ok(_) => {}
                    Err(e) => {
                        prop_assert!(!e.problems.is_empty());
                        prop_assert_eq!(&e.text, &text);
                    }
                }
            }
            let s = workflow(SHORTHAND);
            prop_assert!(read(&s, "format_notification", &text).is_ok());
        }

        #[test]
        fn a_valid_object_round_trips(
            fields in prop::collection::btree_map("[a-z_]{1,6}", typed(), 1..5),
            fence in 0usize..3,
        ) {
            let schema = OutputSchema::Object(
                fields
                    .iter()
                    .map(|(name, (ty, _))| OutputField { name: name.clone(), ty: ty.clone(), description: None })
                    .collect(),
            );
            let mut state = StateSchema::default();
            for (name, (ty, _)) in &fields {
                state.fields.insert(name.clone(), StateField { ty: ty.clone(), required: false, default: None, description: None });
            }
            let node = llm_node(fields.keys().cloned().collect(), Some(schema), true);
            let want: Map<String, Value> = fields.iter().map(|(k, (_, v))| (k.clone(), v.clone())).collect();
            let body = serde_json::to_string_pretty(&want).unwrap();
            let text = match fence {
                0 => body,
                1 => format!("```json\n{body}\n```"),
                _ => format!("\n  {body}\t\n"),
            };
            prop_assert_eq!(read_answer(&node, &state, &text).unwrap(), want);
        }
    }
}
