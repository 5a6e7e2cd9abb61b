//! The client commands (`events`, `replay`, `deliveries`, `checkpoints`,
//! `workflows`): calls to a running server through `switchyard_client`, never the
//! store. Where the server is and which key to use are the global `--server` /
//! `SWITCHYARD_URL` and `--api-key` / `SWITCHYARD_API_KEY` (else the admin key a
//! local server wrote to `./data/admin.key`).
//!
//! Exit codes (docs/cli.md): 0 done, 1 refused by the server (4xx), 2 usage error
//! (clap's own, and input the command cannot read), 3 server unreachable or 5xx.
//! Every failure is one line on stderr.

mod checkpoints;
mod deliveries;
mod events;
mod workflows;

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use switchyard_client::Client;

pub use checkpoints::CheckpointsCmd;
pub use deliveries::DeliveriesCmd;
pub use events::{EventsCmd, ReplayArgs};
pub use workflows::WorkflowsCmd;

/// The server client commands (and `send`) talk to; global, so they may come
/// before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// The server client commands talk to [default: http://127.0.0.1:8000].
    #[arg(long, global = true, env = "SWITCHYARD_URL", value_name = "URL")]
    pub server: Option<String>,
    /// The API key client commands send [default: the admin key in
    /// $SWITCHYARD_DATA_DIR/admin.key, else ./data/admin.key, when there is one].
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,
}

/// A client command.
#[derive(Debug, Subcommand)]
pub enum ClientCmd {
    /// Stored events: list, show, and tail them as they arrive.
    #[command(subcommand)]
    Events(EventsCmd),
    /// Run routing again on a stored event and print what is new.
    Replay(ReplayArgs),
    /// Outbound deliveries: list them, retry one or every one a filter selects.
    #[command(subcommand)]
    Deliveries(DeliveriesCmd),
    /// Human-in-the-loop checkpoints: list, show, decide.
    #[command(subcommand)]
    Checkpoints(CheckpointsCmd),
    /// Workflows: list them, run one.
    #[command(subcommand)]
    Workflows(WorkflowsCmd),
}

/// Why a client command failed, and so its exit code.
#[derive(Debug)]
pub enum Failure {
    /// The server's answer, or no answer.
    Client(switchyard_client::Error),
    /// Input the command cannot use (exit 2).
    Usage(String),
    /// Done, but what was asked did not come true (a run that failed: exit 1).
    Unsuccessful(String),
}

impl From<switchyard_client::Error> for Failure {
    fn from(e: switchyard_client::Error) -> Self {
        Failure::Client(e)
    }
}

impl Failure {
    fn code(&self) -> i32 {
        match self {
            Failure::Client(e) if e.is_refused() => 1,
            Failure::Client(_) => 3,
            Failure::Usage(_) => 2,
            Failure::Unsuccessful(_) => 1,
        }
    }

    /// The one line printed on stderr.
    fn line(&self) -> String {
        use switchyard_client::Error as E;
        match self {
            Failure::Client(E::Refused { status, body }) => {
                let code = if body.error.code.is_empty() {
                    String::new()
                } else {
                    format!(" {}", body.error.code)
                };
                format!("refused ({status}{code}): {}", body.error)
            }
            Failure::Client(e) => e.to_string(),
            Failure::Usage(m) | Failure::Unsuccessful(m) => m.clone(),
        }
    }
}

pub type Outcome = Result<(), Failure>;

/// Runs a client command; the process's exit code.
pub fn run(cmd: &ClientCmd, server: &ServerArgs) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report(&Failure::Usage(format!("cannot start: {e}"))),
    };
    let outcome = rt.block_on(async move {
        let client = connect(server)?;
        match cmd {
            ClientCmd::Events(c) => events::run(&client, c).await,
            ClientCmd::Replay(a) => events::replay(&client, a).await,
            ClientCmd::Deliveries(c) => deliveries::run(&client, c).await,
            ClientCmd::Checkpoints(c) => checkpoints::run(&client, c).await,
            ClientCmd::Workflows(c) => workflows::run(&client, c).await,
        }
    });
    match outcome {
        Ok(()) => 0,
        Err(f) => report(&f),
    }
}

fn report(f: &Failure) -> i32 {
    eprintln!("switchyard: {}", f.line());
    f.code()
}

/// Prints `shell`'s completion script for `cmd`; the exit code.
pub fn completions(shell: clap_complete::Shell, mut cmd: clap::Command) -> i32 {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "switchyard", &mut script);
    out(String::from_utf8_lossy(&script).trim_end());
    0
}

/// The server's base URL: the flag or `SWITCHYARD_URL`, else the default.
pub fn server_url(server: &ServerArgs) -> String {
    server
        .server
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| switchyard_client::DEFAULT_SERVER.to_owned())
}

fn connect(server: &ServerArgs) -> Result<Client, Failure> {
    let key = match server.api_key.clone().filter(|k| !k.trim().is_empty()) {
        Some(k) => Some(k.trim().to_owned()),
        None => local_admin_key(
            std::env::var_os("SWITCHYARD_DATA_DIR").map(PathBuf::from),
            Path::new("."),
        )?,
    };
    Client::new(&server_url(server), key).map_err(|e| Failure::Usage(e.to_string()))
}

/// The admin key a server beside us generated: `DATA_DIR/admin.key` when the data
/// folder is set, else `./data/admin.key`; none when there is no such file.
fn local_admin_key(data_dir: Option<PathBuf>, cwd: &Path) -> Result<Option<String>, Failure> {
    let path = data_dir
        .unwrap_or_else(|| PathBuf::from("data"))
        .join("admin.key");
    let path = if path.is_absolute() {
        path
    } else {
        cwd.join(path)
    };
    match std::fs::read_to_string(&path) {
        Ok(k) if !k.trim().is_empty() => Ok(Some(k.trim().to_owned())),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::Usage(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Prints one line on stdout. A reader that went away (`| head`) ends the command
/// quietly, as other Unix tools do.
pub fn out(line: impl std::fmt::Display) {
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// Prints `v` as indented JSON.
pub fn out_json(v: &impl serde::Serialize) {
    out(serde_json::to_string_pretty(v).unwrap_or_default());
}

/// Prints `v` as JSON on one line.
pub fn out_json_line(v: &impl serde::Serialize) {
    out(serde_json::to_string(v).unwrap_or_default());
}

/// `-` for nothing, so each column of a line always holds a word.
pub fn or_dash(v: Option<&str>) -> &str {
    v.filter(|s| !s.is_empty()).unwrap_or("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_admin_key_is_read_from_the_data_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(local_admin_key(None, dir.path()).expect("none").is_none());
        std::fs::create_dir(dir.path().join("data")).expect("mkdir");
        std::fs::write(dir.path().join("data/admin.key"), "sy_admin_x\n").expect("write");
        assert_eq!(
            local_admin_key(None, dir.path()).expect("read").as_deref(),
            Some("sy_admin_x")
        );
        let other = dir.path().join("elsewhere");
        std::fs::create_dir(&other).expect("mkdir");
        std::fs::write(other.join("admin.key"), "sy_admin_y").expect("write");
        assert_eq!(
            local_admin_key(Some(other), dir.path())
                .expect("read")
                .as_deref(),
            Some("sy_admin_y")
        );
    }
}
