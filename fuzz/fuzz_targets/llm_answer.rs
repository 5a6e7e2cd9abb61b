//! An LLM's answer as arbitrary text: reading it into a structured or a plain-text
//! node's outputs never panics, what it accepts passes the state's strict type
//! check, and what it refuses names a problem and keeps the text.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use switchyard_core::workflow::{parse, read_answer, Workflow};

const STRUCTURED: &str = r#"
schema_version: "1.0"
flow: {name: answers}
state:
  fields:
    topic: {type: str, required: true}
    score: {type: float, default: 0}
    count: {type: int, default: 0}
    ok: {type: bool, default: false}
    tags: {type: "list[str]", default: []}
    counts: {type: "dict[str, list[int]]", default: {}}
    item: {type: object, schema: {title: {type: str, required: true}, n: {type: int}}}
    anything: {type: object}
nodes:
  - id: all
    prompt: "Rate {state.topic}"
    outputs: [score, count, ok, tags, counts, item, anything]
  - id: single
    prompt: "How many? {state.topic}"
    outputs: [count]
    output_schema: {type: int}
edges:
  - {from: START, to: all}
  - {from: all, to: single}
  - {from: single, to: END}
"#;

const SHORTHAND: &str = r#"
name: Plain
nodes:
  - name: say
    prompt: "Say something"
"#;

fn workflows() -> &'static [Workflow; 2] {
    static W: OnceLock<[Workflow; 2]> = OnceLock::new();
    W.get_or_init(|| {
        [STRUCTURED, SHORTHAND]
            .map(|y| parse(y, Some("fuzz")).unwrap_or_else(|e| panic!("fixture: {e:?}")))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for w in workflows() {
        for node in &w.nodes {
            match read_answer(node, &w.state, text) {
                Ok(values) => {
                    for (name, v) in &values {
                        assert!(node.outputs.fields().contains(&name.as_str()), "{name}");
                        if let Err(e) = w.state.check(name, v) {
                            panic!("accepted {v} for {name}, which fails the check: {e}");
                        }
                    }
                }
                Err(e) => {
                    assert!(!e.problems.is_empty());
                    assert_eq!(e.text, text);
                }
            }
        }
    }
});
