//! Validated newtypes for identifiers that arrive from the network or from users.
//! A value of these types exists only once it has been checked.

use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("may contain only {allowed}")]
    BadChar { allowed: &'static str },
}

fn check(
    s: &str,
    max: usize,
    ok: impl Fn(char) -> bool,
    allowed: &'static str,
) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > max {
        return Err(IdError::TooLong { max });
    }
    if !s.chars().all(ok) {
        return Err(IdError::BadChar { allowed });
    }
    Ok(())
}

macro_rules! newtype {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

newtype!(
    /// A webhook's id: 1–64 of `[A-Za-z0-9_.-]`, as it appears in `/webhooks/{provider}/{id}`.
    WebhookId
);
newtype!(
    /// A provider's name: 1–32 of `[a-z0-9_-]` (`github`, `standard`, `generic`).
    ProviderName
);
newtype!(
    /// An event type in the dotted form rules match on (`issues.opened`,
    /// `jira:issue_created`, `message.channels`): 1–200 printable ASCII characters
    /// without white space.
    EventType
);

impl WebhookId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        check(
            s,
            64,
            |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'),
            "letters, digits, '_', '-' and '.'",
        )?;
        Ok(Self(s.to_owned()))
    }
}

impl ProviderName {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        check(
            s,
            32,
            |c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'),
            "lower-case letters, digits, '_' and '-'",
        )?;
        Ok(Self(s.to_owned()))
    }
}

impl EventType {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        check(
            s,
            200,
            |c| c.is_ascii_graphic(),
            "printable ASCII without spaces",
        )?;
        Ok(Self(s.to_owned()))
    }

    /// Builds an event type from provider-supplied parts, replacing anything that
    /// would not validate, so normalization never fails on an odd event name.
    pub fn sanitized(s: &str) -> Self {
        let mut out: String = s
            .chars()
            .map(|c| if c.is_ascii_graphic() { c } else { '_' })
            .take(200)
            .collect();
        if out.is_empty() {
            out.push_str("unknown");
        }
        Self(out)
    }
}

/// The longest delivery id stored as sent, in bytes.
pub const MAX_DELIVERY_ID: usize = 200;

/// The key a sender's delivery id is de-duplicated by: the id itself when it is at
/// most [`MAX_DELIVERY_ID`] bytes, else `sha256:` and the hex digest of it. Every
/// provider's id goes through here, so a long id (some senders put whole JSON
/// documents in idempotency headers) still de-duplicates and never overflows an
/// index; the full id stays visible in the event's stored headers.
pub fn delivery_key(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        None
    } else if raw.len() <= MAX_DELIVERY_ID {
        Some(raw.to_owned())
    } else {
        use sha2::Digest;
        Some(format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(raw.as_bytes()))
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn long_delivery_ids_are_hashed() {
        assert_eq!(delivery_key(" abc "), Some("abc".to_owned()));
        assert_eq!(delivery_key("  "), None);
        assert_eq!(delivery_key("é-1").as_deref(), Some("é-1"));
        let long = "x".repeat(5000);
        let k = delivery_key(&long).unwrap();
        assert!(k.starts_with("sha256:") && k.len() == 71, "{k}");
        assert_eq!(delivery_key(&long), Some(k.clone()));
        assert_ne!(delivery_key(&"y".repeat(5000)), Some(k));
        assert_eq!(delivery_key(&"z".repeat(200)).unwrap().len(), 200);
    }

    #[test]
    fn webhook_ids() {
        assert!(WebhookId::parse("github-issues-001").is_ok());
        assert_eq!(WebhookId::parse(""), Err(IdError::Empty));
        assert!(WebhookId::parse("a/b").is_err());
        assert!(WebhookId::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn provider_names() {
        assert!(ProviderName::parse("github").is_ok());
        assert!(ProviderName::parse("GitHub").is_err());
    }

    proptest! {
        #[test]
        fn sanitized_event_types_always_parse(s in ".*") {
            let t = EventType::sanitized(&s);
            prop_assert!(EventType::parse(t.as_str()).is_ok());
        }

        #[test]
        fn parse_accepts_only_what_it_documents(s in ".{0,80}") {
            let ok = !s.is_empty() && s.len() <= 64
                && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
            prop_assert_eq!(WebhookId::parse(&s).is_ok(), ok);
        }
    }
}
