//! What receivers and provider APIs answer the delivery engine: a `Retry-After`
//! header and a response body judged per provider (Slack's `ok`, Linear's GraphQL
//! `errors`). Arbitrary bytes must never panic, and whole seconds must read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_core::writeback::{check_response, parse_retry_after};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Some(d) = parse_retry_after(s) {
            if let Ok(n) = s.trim().parse::<u64>() {
                assert_eq!(d.as_secs(), n);
            }
        }
    }
    let status = data.first().map_or(200, |b| 100 + u16::from(*b) * 2);
    for provider in ["slack", "linear", "github", "jira"] {
        let _ = check_response(provider, status, data);
    }
});
