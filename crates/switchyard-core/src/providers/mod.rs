//! Every provider Switchyard understands. One file each; [`ALL`] lists them.

use crate::Provider;

pub mod crewai;
pub mod generic;
pub mod github;

/// Every known provider, looked up by [`by_name`].
pub static ALL: &[&dyn Provider] = &[&github::GitHub, &generic::Generic, &crewai::CrewAi];

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
