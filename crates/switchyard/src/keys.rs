//! `switchyard keys ...`: create, list and revoke API keys in the store, as `cli`
//! in the audit log. A created key is printed once (only its hash is stored).

use clap::Subcommand;
use switchyard_engine::access::{self, KeyInput, CLI};
use switchyard_engine::Config;

use crate::StoreArgs;

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Create a key; it is printed once.
    Create {
        /// A scope: admin, read, agent:NAME or feedback; repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// What the key is for.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List keys (never the keys themselves).
    List(StoreArgs),
    /// Revoke a key: it is refused from the next request on.
    Revoke {
        key_id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

impl KeysCmd {
    /// The store flags every verb takes.
    pub fn store(&self) -> &StoreArgs {
        match self {
            KeysCmd::List(store)
            | KeysCmd::Create { store, .. }
            | KeysCmd::Revoke { store, .. } => store,
        }
    }
}

/// Runs a verb on the store `config` names.
pub async fn run(cmd: KeysCmd, config: &Config) -> anyhow::Result<()> {
    let store = crate::webhooks::open(config).await?;
    match cmd {
        KeysCmd::Create { scopes, name, .. } => {
            let input = KeyInput { name, scopes };
            let created = access::create_key(store.as_ref(), CLI, &input)
                .await
                .map_err(refused)?;
            eprintln!(
                "created {} ({}); the key is shown once:",
                created.key.key_id,
                created.key.scopes.join(" ")
            );
            println!("{}\t{}", created.key.key_id, created.secret);
        }
        KeysCmd::List(_) => {
            for k in store.list_keys().await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    k.key_id,
                    k.scopes.join(","),
                    if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "live"
                    },
                    k.name
                );
            }
        }
        KeysCmd::Revoke { key_id, .. } => {
            access::revoke_key(store.as_ref(), CLI, &key_id)
                .await
                .map_err(refused)?;
            println!("{key_id} revoked");
        }
    }
    Ok(())
}

/// An engine refusal as the command line shows it: the message and each field.
fn refused(e: switchyard_engine::Error) -> anyhow::Error {
    let fields: Vec<String> = e
        .fields
        .iter()
        .map(|f| format!("{}: {}", f.path, f.message))
        .collect();
    if fields.is_empty() {
        anyhow::anyhow!("{}", e.message)
    } else {
        anyhow::anyhow!("{}", fields.join("; "))
    }
}
