//! `condition.logic` expressions as arbitrary text: parsing and evaluating against a
//! varied state never panic, and a parsed expression's fields are names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use switchyard_core::workflow::Expr;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(e) = Expr::parse(src) else {
        return;
    };
    for f in e.fields() {
        assert!(!f.is_empty());
    }
    let state = json!({
        "severity": 0.8, "n": 3, "big": u64::MAX, "neg": i64::MIN, "s": "text",
        "b": true, "none": null, "labels": ["bug", 1, null], "m": {"k": [1, 2.5]},
    });
    let _ = e.eval(&state);
    let _ = e.test(&state);
    let _ = e.eval(&json!(null));
});
