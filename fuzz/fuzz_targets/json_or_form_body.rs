//! `sig::json_or_form_body` on an arbitrary body and `Content-Type`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_core::{sig, Inbound};
use switchyard_fuzz::TypedBody;

fuzz_target!(|input: TypedBody| {
    let headers = input.headers();
    let req = Inbound {
        headers: &headers,
        query: None,
        body: &input.body,
        now: 0,
    };
    let result = sig::json_or_form_body(&req);
    // A form media type decodes as a form, anything else as JSON.
    if req.media_type().as_deref() == Some("application/x-www-form-urlencoded") {
        assert_eq!(result, sig::form_body(&input.body));
    } else {
        assert_eq!(result, sig::json_body(&req));
    }
});
