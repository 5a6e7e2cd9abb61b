//! Write-back requests built from what an event carried over the network: its
//! thread key, subject, Slack `response_url` and the text to post. Nothing may
//! panic; whatever builds has a URL that parses and a JSON body holding the text.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use switchyard_core::writeback::{build, Credentials, Target};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    provider: u8,
    thread_key: Option<&'a str>,
    subject: Option<&'a str>,
    response_url: Option<&'a str>,
    text: &'a str,
    token: Option<&'a str>,
    user: Option<&'a str>,
    base: Option<&'a str>,
}

fuzz_target!(|i: Input<'_>| {
    let providers = ["github", "gitlab", "jira", "slack", "linear", "stripe"];
    let provider = providers[usize::from(i.provider) % providers.len()];
    let target = Target {
        provider,
        thread_key: i.thread_key,
        subject: i.subject,
        response_url: i.response_url,
    };
    let creds = i.token.map(|t| Credentials {
        token: t.to_owned(),
        user: i.user.map(str::to_owned),
    });
    if let Ok(req) = build(&target, i.text, creds.as_ref(), i.base) {
        // Schemes are case-insensitive (RFC 3986 3.1): `hTtp://` is http.
        let lower = req.url.to_ascii_lowercase();
        assert!(
            lower.starts_with("http://") || lower.starts_with("https://"),
            "{}",
            req.url
        );
        let body: serde_json::Value =
            serde_json::from_slice(&req.body).expect("write-back bodies are JSON");
        // Jira splits the text into paragraphs; everyone else posts it whole.
        if provider != "jira" {
            assert!(holds(&body, i.text), "{body} lacks the text");
        }
    }
});

/// Whether `v` has `text` as one of its string values.
fn holds(v: &serde_json::Value, text: &str) -> bool {
    match v {
        serde_json::Value::String(s) => s == text,
        serde_json::Value::Array(a) => a.iter().any(|x| holds(x, text)),
        serde_json::Value::Object(o) => o.values().any(|x| holds(x, text)),
        _ => false,
    }
}
