//! `switchyard events list|show|tail` and `switchyard replay`.

use clap::{Args, Subcommand};
use futures::StreamExt;
use serde::Serialize;
use switchyard_client::{Client, EventFilter, EventReceived, Update};

use super::{or_dash, out, out_json, out_json_line, Outcome};

#[derive(Debug, Subcommand)]
pub enum EventsCmd {
    /// List stored events, newest first: `RECEIVED PROVIDER TYPE EVENT_ID WEBHOOK`.
    List {
        #[command(flatten)]
        filter: Which,
        /// How many, 1..=1000.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
        /// Print the server's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one event with its headers and payload, as JSON.
    Show { event_id: String },
    /// Print events as they arrive, one line each (`TIME PROVIDER TYPE EVENT_ID
    /// matched=N`), until interrupted; a dropped connection is resumed from the
    /// last event seen.
    Tail {
        #[command(flatten)]
        filter: Which,
        /// One JSON object per line instead.
        #[arg(long)]
        json: bool,
    },
}

/// Which events.
#[derive(Debug, Args)]
pub struct Which {
    /// Only this provider's (github, stripe, …).
    #[arg(long)]
    provider: Option<String>,
    /// Only this event type (issues.opened, …).
    #[arg(long = "type", value_name = "TYPE")]
    event_type: Option<String>,
    /// Only those received by this webhook.
    #[arg(long = "webhook", value_name = "ID")]
    webhook_id: Option<String>,
}

impl Which {
    fn admits(&self, e: &EventReceived) -> bool {
        let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        is(&self.provider, &e.provider)
            && is(&self.event_type, &e.event_type)
            && is(&self.webhook_id, &e.webhook_id)
    }
}

pub async fn run(client: &Client, cmd: &EventsCmd) -> Outcome {
    match cmd {
        EventsCmd::List {
            filter,
            limit,
            json,
        } => {
            let page = client
                .events(&EventFilter {
                    provider: filter.provider.clone(),
                    event_type: filter.event_type.clone(),
                    webhook_id: filter.webhook_id.clone(),
                    cursor: None,
                    limit: Some(*limit),
                })
                .await?;
            if *json {
                out_json(&page);
            } else {
                for e in &page.events {
                    out(format_args!(
                        "{}  {}  {}  {}  {}",
                        e.received_at, e.provider, e.event_type, e.event_id, e.webhook_id
                    ));
                }
            }
        }
        EventsCmd::Show { event_id } => out_json(&client.event(event_id).await?),
        EventsCmd::Tail { filter, json } => tail(client, filter, *json).await?,
    }
    Ok(())
}

/// A line of `events tail --json`.
#[derive(Serialize)]
struct TailLine<'a> {
    timestamp: &'a str,
    event_id: &'a str,
    webhook_id: &'a str,
    provider: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    matched: u64,
}

async fn tail(client: &Client, which: &Which, json: bool) -> Outcome {
    let mut notices = Box::pin(client.notices(None));
    while let Some(update) = notices.next().await {
        let n = match update? {
            Update::Notice(n) => n,
            Update::Lost(why) => {
                eprintln!("switchyard: the stream dropped ({why}); reconnecting");
                continue;
            }
        };
        let Some(e) = EventReceived::of(&n) else {
            continue;
        };
        if !which.admits(&e) {
            continue;
        }
        if json {
            out_json_line(&TailLine {
                timestamp: &n.timestamp,
                event_id: &e.event_id,
                webhook_id: &e.webhook_id,
                provider: &e.provider,
                event_type: &e.event_type,
                matched: e.matched,
            });
        } else {
            out(format_args!(
                "{} {} {} {} matched={}",
                n.timestamp, e.provider, e.event_type, e.event_id, e.matched
            ));
        }
    }
    Ok(())
}

/// Run routing again on a stored event.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    event_id: String,
    /// Print what would be created, and create nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the server's answer as JSON.
    #[arg(long)]
    json: bool,
}

/// Prints one line per thing created, `KIND ID COMMAND SUMMARY` (`-` for the id in
/// a dry run); nothing when nothing is new.
pub async fn replay(client: &Client, a: &ReplayArgs) -> Outcome {
    let answer = client.replay(&a.event_id, a.dry_run).await?;
    if a.json {
        out_json(&answer);
        return Ok(());
    }
    for c in &answer.created {
        out(format_args!(
            "{}\t{}\t{}\t{}",
            c.kind,
            or_dash(c.id.as_deref()),
            or_dash(c.command_id.as_deref()),
            c.summary
        ));
    }
    Ok(())
}
