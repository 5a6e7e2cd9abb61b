//! `switchyard send PROVIDER`: a webhook signed exactly as that provider signs it
//! (`switchyard_core::sign`), sent to a running server, and the answer printed.
//! Exit codes: 0 when the server answered 2xx, 1 when it answered anything else,
//! 2 for a usage error (unknown provider, unreadable payload, no secret where the
//! provider needs one), 3 when the server could not be reached.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use switchyard_core::sign::{default_event, default_path, sample, sign};

/// Send a webhook signed exactly as PROVIDER signs it, and print the answer.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// github, gitlab, jira, notion, slack, stripe, shopify, sentry, linear, standard,
    /// generic or crewai.
    provider: String,
    /// The event type, as Switchyard names it (`issues.opened`, `charge.succeeded`);
    /// sets the provider's event header and the sample's action [default: a typical
    /// event of the provider].
    #[arg(long)]
    event: Option<String>,
    /// The payload, from a file (`-` for standard input) [default: a realistic sample].
    #[arg(long, value_name = "PATH", conflicts_with = "data")]
    file: Option<std::path::PathBuf>,
    /// The payload, given inline.
    #[arg(long, value_name = "JSON")]
    data: Option<String>,
    /// The signing secret [default: the variable the server reads for it, e.g.
    /// GITHUB_WEBHOOK_SECRET; WEBHOOK_SECRET for generic and crewai].
    #[arg(long)]
    secret: Option<String>,
    /// Where to send it [default: --server / $SWITCHYARD_URL (or
    /// http://127.0.0.1:8000) and the provider's default endpoint, /webhooks/PROVIDER].
    #[arg(long)]
    url: Option<String>,
    /// The delivery id [default: a new one].
    #[arg(long)]
    delivery_id: Option<String>,
}

fn fail(code: i32, message: impl std::fmt::Display) -> i32 {
    eprintln!("switchyard send: {message}");
    code
}

/// Runs `send` against `server` (the global `--server` / `SWITCHYARD_URL`) unless
/// `--url` says where; the process's exit code.
pub fn run(args: &SendArgs, server: Option<&str>) -> i32 {
    let provider = args.provider.as_str();
    let Some(p) = switchyard_core::providers::by_name(provider) else {
        return fail(2, format!("unknown provider {provider:?}"));
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let event = args
        .event
        .clone()
        .unwrap_or_else(|| default_event(provider).to_owned());
    let delivery_id = args.delivery_id.clone().unwrap_or_else(|| {
        let n: u128 = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("msg_{n:x}")
    });
    let body = match (&args.file, &args.data) {
        (Some(path), _) => {
            let read = if path.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
            } else {
                std::fs::read_to_string(path)
            };
            match read {
                Ok(b) => b.into_bytes(),
                Err(e) => return fail(2, format!("cannot read {}: {e}", path.display())),
            }
        }
        (None, Some(d)) => d.clone().into_bytes(),
        (None, None) => match sample(provider, &event, &delivery_id, now) {
            Some(v) => v.to_string().into_bytes(),
            None => return fail(2, format!("no sample for {provider:?}")),
        },
    };
    let var = switchyard_engine::config::env_var_for(provider);
    let secret = args
        .secret
        .clone()
        .or_else(|| std::env::var(&var).ok().filter(|s| !s.is_empty()));
    let secret = match secret {
        Some(s) => s,
        None if p.requires_secret() => {
            return fail(
                2,
                format!("{provider} signs every request: give --secret or set {var}"),
            )
        }
        None => String::new(),
    };
    let signed = match sign(provider, &secret, &event, &body, now, &delivery_id) {
        Ok(s) => s,
        Err(e) => return fail(2, e),
    };
    let url = args.url.clone().unwrap_or_else(|| {
        let base = server
            .filter(|s| !s.is_empty())
            .unwrap_or(switchyard_client::DEFAULT_SERVER);
        format!("{}{}", base.trim_end_matches('/'), default_path(provider))
    });
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(3, e),
    };
    rt.block_on(async move {
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
        {
            Ok(c) => c,
            Err(e) => return fail(3, e),
        };
        let mut req = client.post(&url).body(signed.body);
        for (k, v) in &signed.headers {
            req = req.header(k, v);
        }
        let answer = match req.send().await {
            Ok(a) => a,
            Err(e) => return fail(3, format!("{url}: {e}")),
        };
        let status = answer.status();
        let text = answer.text().await.unwrap_or_default();
        println!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        if !text.is_empty() {
            println!("{text}");
        }
        if status.is_success() {
            0
        } else {
            1
        }
    })
}
