//! `sig::form_body` on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_core::sig::form_body;

fuzz_target!(|body: &[u8]| {
    let result = form_body(body);
    if std::str::from_utf8(body).is_err() {
        assert!(result.is_err(), "a non-UTF-8 form body was accepted");
        return;
    }
    // Without a `payload` field, a UTF-8 form always decodes to an object of its
    // fields (fewer when a name repeats).
    let fields = form_urlencoded::parse(body).count();
    if !form_urlencoded::parse(body).any(|(k, _)| k == "payload") {
        match result {
            Ok(serde_json::Value::Object(m)) => assert!(m.len() <= fields),
            other => panic!("form without payload did not become an object: {other:?}"),
        }
    }
});
