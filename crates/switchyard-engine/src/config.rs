//! The application's configuration. The binary fills it from flags and environment
//! variables; tests build it directly. Secrets are held as
//! [`switchyard_core::Secret`], whose `Debug` is redacted.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use switchyard_core::{providers, Secret};

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://PATH` or `postgres://...`.
    pub database_url: String,
    /// Where generated files live (the admin key, the master key).
    pub data_dir: PathBuf,
    /// Webhook bodies larger than this are refused with 413.
    pub max_body_bytes: usize,
    /// Admin API bodies larger than this are refused with 413.
    pub max_api_body_bytes: usize,
    /// Long-polls (task lease, question wait) look again at least this often, to
    /// see work committed by other replicas; this process's own commits wake them
    /// at once.
    pub wait_fallback: Duration,
    /// The admin API key from `SWITCHYARD_ADMIN_KEY`; when `None`, one is generated
    /// on first start and only its hash is kept.
    pub admin_key: Option<String>,
    /// The master key sealing stored secrets (`SWITCHYARD_SECRET_KEY`, base64 of 32
    /// bytes); when `None`, `data_dir/secret.key` is used, created on first start.
    pub secret_key: Option<String>,
    /// Secrets of each provider's default endpoint `/webhooks/{provider}`, by provider.
    pub provider_secrets: HashMap<String, Vec<Secret>>,
    /// The folder of webhook config files (`*.json`, `*.yaml`), watched for changes.
    pub config_dir: Option<PathBuf>,
    /// How outbound messages are delivered.
    pub delivery: crate::delivery::DeliveryConfig,
    /// A connection that has not sent a whole request head this long after it
    /// opened (or after its previous answer) is closed, so a client trickling its
    /// headers cannot hold a socket for minutes.
    pub header_read_timeout: Duration,
    /// A request whose body stalls this long (no bytes at all between two reads) is
    /// answered 408 `body_timeout` and its connection closed.
    pub body_read_timeout: Duration,
    /// The most connections served normally at once; a small reserve above it
    /// still answers health, metrics and admin requests (see
    /// `switchyard_server::serve`), and connections beyond that are closed at once.
    pub max_connections: usize,
}

impl Config {
    /// A configuration with defaults and no secrets.
    pub fn new(database_url: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            database_url: database_url.into(),
            data_dir: data_dir.into(),
            max_body_bytes: 1024 * 1024,
            max_api_body_bytes: 1024 * 1024,
            wait_fallback: Duration::from_millis(250),
            admin_key: None,
            secret_key: None,
            provider_secrets: HashMap::new(),
            config_dir: None,
            delivery: crate::delivery::DeliveryConfig::default(),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }

    /// Reads each provider's default-endpoint secrets from the environment:
    /// `{PROVIDER}_WEBHOOK_SECRET` and, during rotation, `{PROVIDER}_WEBHOOK_SECRET_PREVIOUS`
    /// (both valid). `generic` and `crewai` use seed 003's `WEBHOOK_SECRET`;
    /// `standard` uses `STANDARD_WEBHOOK_SECRET`.
    pub fn secrets_from_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        for p in providers::ALL {
            let var = env_var_for(p.name());
            let mut secrets = Vec::new();
            for name in [var.clone(), format!("{var}_PREVIOUS")] {
                if let Some(v) = get(&name).filter(|v| !v.is_empty()) {
                    secrets.push(Secret::new(v.into_bytes()));
                }
            }
            if !secrets.is_empty() {
                self.provider_secrets.insert(p.name().to_owned(), secrets);
            }
        }
    }

    /// The default endpoint's secrets for `provider`.
    pub fn secrets_for(&self, provider: &str) -> &[Secret] {
        self.provider_secrets
            .get(provider)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// The environment variable holding `provider`'s default-endpoint secret.
pub fn env_var_for(provider: &str) -> String {
    match provider {
        "generic" | "crewai" => "WEBHOOK_SECRET".to_owned(),
        p => format!(
            "{}_WEBHOOK_SECRET",
            p.to_ascii_uppercase().replace('-', "_")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_follow_the_seeds() {
        assert_eq!(env_var_for("github"), "GITHUB_WEBHOOK_SECRET");
        assert_eq!(env_var_for("generic"), "WEBHOOK_SECRET");
        assert_eq!(env_var_for("crewai"), "WEBHOOK_SECRET");
        let mut c = Config::new("sqlite://x.db", ".");
        c.secrets_from_env(|k| match k {
            "GITHUB_WEBHOOK_SECRET" => Some("new".into()),
            "GITHUB_WEBHOOK_SECRET_PREVIOUS" => Some("old".into()),
            "WEBHOOK_SECRET" => Some("w".into()),
            _ => None,
        });
        assert_eq!(c.secrets_for("github").len(), 2);
        assert_eq!(c.secrets_for("crewai").len(), 1);
        assert!(c.secrets_for("stripe").is_empty());
        assert!(
            !format!("{c:?}").contains("new"),
            "secrets must not appear in Debug"
        );
    }
}
