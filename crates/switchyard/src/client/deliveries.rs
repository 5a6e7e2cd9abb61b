//! `switchyard deliveries list|show|retry`.

use clap::{Args, Subcommand};
use switchyard_client::{BulkRetry, Client, DeliveryFilter};

use super::{or_dash, out, out_json, Failure, Outcome};

#[derive(Debug, Subcommand)]
pub enum DeliveriesCmd {
    /// List deliveries, newest first: `ID STATUS KIND DESTINATION ATTEMPTS CREATED
    /// LAST_ERROR`.
    List {
        /// pending, delivered or failed (dead-lettered).
        #[arg(long)]
        status: Option<String>,
        /// A destination id (dst_…), or the URL it stands for.
        #[arg(long)]
        destination: Option<String>,
        /// forward, task_push, comment, …
        #[arg(long)]
        kind: Option<String>,
        /// How many, 1..=1000.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
        /// Print the server's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one delivery with every attempt, as JSON.
    Show { delivery_id: String },
    /// Send one delivery again now (`retry ID`), or every delivery the filter
    /// selects (`retry --status failed --destination dst_… --since … --until …`).
    Retry(RetryArgs),
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The delivery to send again; without it, the filter flags choose.
    #[arg(conflicts_with_all = ["status", "destination", "kind", "since", "until", "dry_run"])]
    delivery_id: Option<String>,
    /// Filter: deliveries in this status (failed, pending, delivered).
    #[arg(long)]
    status: Option<String>,
    /// Filter: deliveries to this destination id (dst_…).
    #[arg(long, value_name = "ID")]
    destination: Option<String>,
    /// Filter: deliveries of this kind (forward, task_push, comment, …).
    #[arg(long)]
    kind: Option<String>,
    /// Filter: created at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Filter: created before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// With the filter: count what would be retried, and retry nothing.
    #[arg(long)]
    dry_run: bool,
}

pub async fn run(client: &Client, cmd: &DeliveriesCmd) -> Outcome {
    match cmd {
        DeliveriesCmd::List {
            status,
            destination,
            kind,
            limit,
            json,
        } => {
            let page = client
                .deliveries(&DeliveryFilter {
                    status: status.clone(),
                    destination: destination.clone(),
                    kind: kind.clone(),
                    cursor: None,
                    limit: Some(*limit),
                })
                .await?;
            if *json {
                out_json(&page);
            } else {
                for d in &page.deliveries {
                    out(format_args!(
                        "{}  {}  {}  {}  {}  {}  {}",
                        d.delivery_id,
                        d.status,
                        d.kind,
                        d.destination_id,
                        d.attempts,
                        d.created_at,
                        or_dash(d.last_error.as_deref())
                    ));
                }
            }
        }
        DeliveriesCmd::Show { delivery_id } => out_json(&client.delivery(delivery_id).await?),
        DeliveriesCmd::Retry(a) => retry(client, a).await?,
    }
    Ok(())
}

async fn retry(client: &Client, a: &RetryArgs) -> Outcome {
    if let Some(id) = &a.delivery_id {
        let d = client.retry_delivery(id).await?;
        out(format_args!(
            "{}  {}  retry queued",
            d.delivery_id, d.status
        ));
        return Ok(());
    }
    if a.status.is_none() && a.destination.is_none() && a.kind.is_none() {
        return Err(Failure::Usage(
            "retry takes a delivery id, or a filter: --status, --destination or --kind (--since and --until narrow it)".into(),
        ));
    }
    let answer = client
        .retry_deliveries(&BulkRetry {
            status: a.status.clone(),
            destination_id: a.destination.clone(),
            kind: a.kind.clone(),
            since: a.since.clone(),
            until: a.until.clone(),
            dry_run: a.dry_run,
        })
        .await?;
    if answer.dry_run {
        out(format_args!(
            "matched={} retried=0 (dry run: nothing was retried)",
            answer.matched
        ));
    } else {
        out(format_args!(
            "matched={} retried={}",
            answer.matched, answer.retried
        ));
    }
    Ok(())
}
