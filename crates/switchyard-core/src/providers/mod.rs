//! Every provider Switchyard understands. One file each; [`ALL`] lists them.

use crate::Provider;

pub mod crewai;
pub mod generic;
pub mod github;
pub mod gitlab;
pub mod jira;
pub mod linear;
pub mod notion;
pub mod sentry;
pub mod shopify;
pub mod slack;
pub mod standard;
pub mod stripe;

/// Every known provider, looked up by [`by_name`].
pub static ALL: &[&dyn Provider] = &[
    &github::GitHub,
    &generic::Generic,
    &crewai::CrewAi,
    &gitlab::GitLab,
    &jira::Jira,
    &notion::Notion,
    &slack::Slack,
    &stripe::Stripe,
    &shopify::Shopify,
    &sentry::Sentry,
    &linear::Linear,
    &standard::Standard,
];

/// The provider called `name`, if Switchyard knows it.
pub fn by_name(name: &str) -> Option<&'static dyn Provider> {
    ALL.iter().copied().find(|p| p.name() == name)
}

#[cfg(test)]
pub(crate) mod testkit {
    //! Helpers for provider tests: build an [`Inbound`] from literal parts.
    use crate::provider::Inbound;

    pub struct Req {
        pub headers: http::HeaderMap,
        pub query: Option<String>,
        pub body: Vec<u8>,
        pub now: i64,
    }

    impl Req {
        pub fn new(body: impl Into<Vec<u8>>) -> Self {
            Self {
                headers: http::HeaderMap::new(),
                query: None,
                body: body.into(),
                now: 0,
            }
        }

        pub fn header(mut self, k: &'static str, v: &str) -> Self {
            self.headers.insert(
                k,
                http::HeaderValue::from_str(v).expect("test header value"),
            );
            self
        }

        /// Adds another value for a header already set (a repeated header).
        pub fn also(mut self, k: &'static str, v: &str) -> Self {
            self.headers.append(
                k,
                http::HeaderValue::from_str(v).expect("test header value"),
            );
            self
        }

        /// Sets a header from arbitrary bytes, for property tests; bytes that are not a
        /// valid header value leave the header unset.
        pub fn raw_header(mut self, k: &'static str, v: &[u8]) -> Self {
            if let Ok(v) = http::HeaderValue::from_bytes(v) {
                self.headers.insert(k, v);
            }
            self
        }

        pub fn query(mut self, q: &str) -> Self {
            self.query = Some(q.to_owned());
            self
        }

        pub fn now(mut self, now: i64) -> Self {
            self.now = now;
            self
        }

        pub fn inbound(&self) -> Inbound<'_> {
            Inbound {
                headers: &self.headers,
                query: self.query.as_deref(),
                body: &self.body,
                now: self.now,
            }
        }
    }

    /// HMAC-SHA256 straight from the `hmac` crate, so tests sign requests without
    /// going through the code under test in [`crate::sig`].
    pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
        mac.update(msg);
        mac.finalize().into_bytes().to_vec()
    }

    /// Arbitrary bytes for a header value, most of them valid, for never-panic tests.
    pub fn header_bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..80),
            "[ -~]{0,80}".prop_map(String::into_bytes),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_valid() {
        let mut names: Vec<_> = ALL.iter().map(|p| p.name()).collect();
        for n in &names {
            assert!(crate::ProviderName::parse(n).is_ok(), "{n}");
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }
}
