//! `sig::json_body` on an arbitrary body and `Content-Type`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_core::{sig::json_body, Inbound, ParseError};
use switchyard_fuzz::TypedBody;

fuzz_target!(|input: TypedBody| {
    let headers = input.headers();
    let req = Inbound {
        headers: &headers,
        query: None,
        body: &input.body,
        now: 0,
    };
    match json_body(&req) {
        // Accepted only when the body really is that JSON.
        Ok(v) => {
            let direct: serde_json::Value =
                serde_json::from_slice(&input.body).expect("accepted body parses as JSON");
            assert_eq!(v, direct);
        }
        // Refused media types are JSON-less ones only.
        Err(ParseError::UnsupportedMedia(mt)) => {
            assert!(mt != "application/json" && !mt.ends_with("+json"), "{mt}");
            assert_eq!(req.media_type().as_deref(), Some(mt.as_str()));
        }
        Err(ParseError::Malformed(_)) => {}
    }
});
