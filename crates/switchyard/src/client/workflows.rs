//! `switchyard workflows list|run`.

use std::time::{Duration, Instant};

use clap::Subcommand;
use switchyard_client::Client;

use super::{out, out_json, Failure, Outcome};

#[derive(Debug, Subcommand)]
pub enum WorkflowsCmd {
    /// List the workflows the server serves: `NAME SOURCE INPUTS TITLE` (INPUTS: the
    /// required fields, comma-separated); files that did not load go to stderr.
    List {
        /// Print the server's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Start a run; prints `RUN_ID STATUS`. With --wait, waits for it to finish and
    /// prints its final state as JSON (exit 1 when the run failed or was cancelled).
    Run {
        name: String,
        /// The run's inputs, a JSON object [default: {}].
        #[arg(long, value_name = "JSON")]
        inputs: Option<String>,
        /// Wait for the run to finish.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits, 1s..=1d.
        #[arg(long, default_value = "5m", value_parser = wait_limit)]
        timeout: humantime::Duration,
    },
}

fn wait_limit(s: &str) -> Result<humantime::Duration, String> {
    let d: humantime::Duration = s.parse().map_err(|e| format!("{e}"))?;
    if (Duration::from_secs(1)..=Duration::from_secs(86_400)).contains(&*d) {
        Ok(d)
    } else {
        Err("must be between 1s and 1day".into())
    }
}

pub async fn run(client: &Client, cmd: &WorkflowsCmd) -> Outcome {
    match cmd {
        WorkflowsCmd::List { json } => {
            let list = client.workflows().await?;
            if *json {
                out_json(&list);
                return Ok(());
            }
            for w in &list.workflows {
                let inputs = if w.inputs.is_empty() {
                    "-".to_owned()
                } else {
                    w.inputs.join(",")
                };
                out(format_args!(
                    "{}  {}  {}  {}",
                    w.name, w.source, inputs, w.title
                ));
            }
            for f in &list.file_errors {
                eprintln!("switchyard: {} did not load: {}", f.file, f.error);
            }
        }
        WorkflowsCmd::Run {
            name,
            inputs,
            wait,
            timeout,
        } => {
            let inputs = match inputs {
                Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(v) if v.is_object() => v,
                    Ok(_) => return Err(Failure::Usage("--inputs must be a JSON object".into())),
                    Err(e) => return Err(Failure::Usage(format!("--inputs is not JSON: {e}"))),
                },
                None => serde_json::json!({}),
            };
            let started = client.start_run(name, &inputs).await?;
            out(format_args!("{}  {}", started.run_id, started.status));
            if *wait {
                let deadline = Instant::now() + **timeout;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let run = client
                        .wait_run(&started.run_id, left.min(Duration::from_secs(60)))
                        .await?;
                    if run.status.is_terminal() {
                        out(format_args!("{}  {}", run.run_id, run.status));
                        out_json(&run.state);
                        if run.status != switchyard_store::RunStatus::Succeeded {
                            return Err(Failure::Unsuccessful(format!(
                                "run {} {}: {}",
                                run.run_id,
                                run.status,
                                run.error.as_deref().unwrap_or("no error recorded")
                            )));
                        }
                        break;
                    }
                    if Instant::now() >= deadline {
                        return Err(Failure::Unsuccessful(format!(
                            "run {} still {} after {timeout}",
                            run.run_id, run.status
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}
