//! `switchyard checkpoints list|show|decide`.

use clap::{Subcommand, ValueEnum};
use switchyard_client::{CheckpointFilter, Client};
use switchyard_core::checkpoint::DecisionInput;

use super::{or_dash, out, out_json, Outcome};

#[derive(Debug, Subcommand)]
pub enum CheckpointsCmd {
    /// List checkpoints, newest first: `ID STATUS NAME CREATED QUESTION`.
    List {
        /// pending, approved, rejected, edited, responded, expired, cancelled…
        #[arg(long)]
        status: Option<String>,
        /// Only checkpoints of this name.
        #[arg(long)]
        name: Option<String>,
        /// How many, 1..=1000.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
        /// Print the server's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one checkpoint, as JSON.
    Show { checkpoint_id: String },
    /// Approve or reject a pending checkpoint; prints `ID STATUS decision=D`.
    Decide {
        checkpoint_id: String,
        decision: Decision,
        /// Who decides, as the checkpoint's history shows it [default: the key's
        /// name].
        #[arg(long)]
        by: Option<String>,
        /// A comment kept with the decision.
        #[arg(long)]
        comment: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        }
    }
}

pub async fn run(client: &Client, cmd: &CheckpointsCmd) -> Outcome {
    match cmd {
        CheckpointsCmd::List {
            status,
            name,
            limit,
            json,
        } => {
            let page = client
                .checkpoints(&CheckpointFilter {
                    status: status.clone(),
                    name: name.clone(),
                    kickoff_id: None,
                    cursor: None,
                    limit: Some(*limit),
                })
                .await?;
            if *json {
                out_json(&page);
            } else {
                for c in &page.checkpoints {
                    out(format_args!(
                        "{}  {}  {}  {}  {}",
                        c.checkpoint_id,
                        c.status,
                        c.name,
                        c.created_at,
                        or_dash(c.question.as_deref())
                    ));
                }
            }
        }
        CheckpointsCmd::Show { checkpoint_id } => {
            out_json(&client.checkpoint(checkpoint_id).await?);
        }
        CheckpointsCmd::Decide {
            checkpoint_id,
            decision,
            by,
            comment,
        } => {
            let input = DecisionInput {
                decision: decision.as_str().to_owned(),
                comment: comment.clone(),
                by: by.clone(),
                ..DecisionInput::default()
            };
            let c = client.decide(checkpoint_id, &input).await?;
            out(format_args!(
                "{}  {}  decision={}",
                c.checkpoint_id,
                c.status,
                or_dash(c.decision.as_deref())
            ));
        }
    }
    Ok(())
}
