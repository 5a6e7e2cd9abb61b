//! A workflow file (`POST /api/workflows` with inline YAML, or a file in the
//! workflows folder) as arbitrary bytes: parsing never panics, and whatever loads
//! is consistent — every node has an edge, the graph walks from START to END
//! without panicking on an empty state, and each structured LLM node has a schema.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use switchyard_core::workflow::{self, Next};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(w) = workflow::parse(text, Some("fuzz")) else {
        return;
    };
    assert!(!w.nodes.is_empty());
    let state = Value::Object(
        w.state
            .fields
            .iter()
            .map(|(k, f)| (k.clone(), f.default.clone().unwrap_or(json!(null))))
            .collect(),
    );
    for n in &w.nodes {
        assert!(w.graph.edges.contains_key(&n.id), "node {} has no edge", n.id);
        for f in n.outputs.fields() {
            assert!(w.state.field(f).is_some(), "output {f} undeclared");
        }
        let _ = n.output_json_schema(&w.state);
    }
    // A bounded walk: evaluation may fail on this state, but never panics.
    let mut next = w.graph.first(&state);
    for i in 1..=200u32 {
        match next {
            Ok(Next::Node(id)) => {
                assert!(w.node(&id).is_some(), "edge to unknown node {id}");
                next = w.graph.next(&id, &state, i);
            }
            _ => break,
        }
    }
});
