//! What `serve` tells its operator: the provider secret variables and log settings
//! under `serve --help` (built from `providers::ALL` and `env_var_for`, the one
//! place that names them), and the block printed once the server listens.

use std::net::SocketAddr;

use switchyard_core::providers;
use switchyard_engine::config::env_var_for;
use switchyard_engine::Config;

/// `serve --help`'s closing section.
pub fn serve_help() -> String {
    let mut vars: Vec<(String, Vec<&str>)> = Vec::new();
    for p in providers::ALL {
        let var = env_var_for(p.name());
        match vars.iter_mut().find(|(v, _)| *v == var) {
            Some((_, names)) => names.push(p.name()),
            None => vars.push((var, vec![p.name()])),
        }
    }
    let mut out = String::from(
        "Provider secrets (the default endpoint /webhooks/PROVIDER is served once its \
         secret is set; generic and crewai also unsigned without one; VAR_PREVIOUS holds \
         the old secret during a rotation):\n",
    );
    for (var, names) in &vars {
        out.push_str(&format!("  {var:<32} {}\n", names.join(", ")));
    }
    out.push_str(
        "\nLogs:\n  SWITCHYARD_LOG                   what is logged, a tracing filter \
         (default: info,sqlx=warn)\n  SWITCHYARD_LOG_FORMAT            text or json \
         (also --log-format)\n",
    );
    out
}

/// The providers whose default endpoint this configuration serves: signed ones
/// (a secret is set) and those that accept unsigned requests without one.
pub fn providers_served(config: &Config) -> Vec<String> {
    providers::ALL
        .iter()
        .filter_map(|p| {
            let name = p.name();
            if !config.secrets_for(name).is_empty() {
                Some(name.to_owned())
            } else if !p.requires_secret() {
                Some(format!("{name} (unsigned)"))
            } else {
                None
            }
        })
        .collect()
}

/// The block printed once the server listens: where, the store (its URL without
/// the password), the providers served and the dashboard's URL.
pub fn banner(addr: SocketAddr, store: &str, providers: &[String]) -> String {
    // A wildcard address is reached on loopback from this machine.
    let shown = if addr.ip().is_unspecified() {
        SocketAddr::new([127, 0, 0, 1].into(), addr.port())
    } else {
        addr
    };
    let providers = if providers.is_empty() {
        "none (set a PROVIDER_WEBHOOK_SECRET; see serve --help)".to_owned()
    } else {
        providers.join(", ")
    };
    format!(
        "switchyard listening on http://{addr}\n  store:     {store}\n  providers: \
         {providers}\n  dashboard: http://{shown}/ui/"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_help_names_every_provider_secret_and_the_log_settings() {
        let help = serve_help();
        for p in providers::ALL {
            assert!(help.contains(&env_var_for(p.name())), "{help}");
        }
        assert!(help.contains("WEBHOOK_SECRET                   generic, crewai"));
        assert!(help.contains("SWITCHYARD_LOG ") && help.contains("SWITCHYARD_LOG_FORMAT"));
    }

    #[test]
    fn the_banner_shows_a_wildcard_address_as_loopback_for_the_dashboard() {
        let b = banner("0.0.0.0:8000".parse().expect("addr"), "sqlite://x.db", &[]);
        assert!(b.starts_with("switchyard listening on http://0.0.0.0:8000\n"));
        assert!(b.ends_with("dashboard: http://127.0.0.1:8000/ui/"), "{b}");
        assert!(b.contains("providers: none"));
    }
}
