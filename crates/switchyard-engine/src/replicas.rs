//! Keeping replicas in step. Replicas share the database and nothing else, so what
//! one commits the others must learn: new work to wake for, and changed webhooks,
//! workflows, agents and destinations.
//!
//! On PostgreSQL each replica publishes what its commits changed (the hub's
//! [`Changes`], merged while the previous message is being sent, so a busy replica
//! sends one `NOTIFY` per round trip) and listens for the others'. The database's
//! triggers announce changes to webhooks, agents and destinations themselves, at
//! commit, whoever made them (the CLI too). A message becomes the same hub wake-ups
//! a local commit makes, a registry reload when webhooks or agents changed, and a
//! fresh read of a destination's settings. A lost connection is made again, then
//! one catch-up follows — the registry reloaded if its version moved and every
//! waiter woken — because whatever was announced meanwhile is lost.
//!
//! On SQLite (one host; replicas are processes on one file) nothing is sent: every
//! [`POLL`] a replica reads the registry's version and reloads when it moved;
//! long-polls and the delivery engine look again on their fallback intervals.
//!
//! A message is words separated by spaces: the sender (a random id per run, or `-`
//! for the database's triggers, see the store's `Subscription`), then what changed
//! — `tasks`, `outbox`, `events`, `checkpoints` ([`Changes::words`]), `registry`, `agent:NAME`,
//! `destination:ID`. A replica ignores its own.

use std::sync::Arc;
use std::time::Duration;

use switchyard_store::{Sealer, Store, Subscription};
use tokio_util::sync::CancellationToken;

use crate::delivery;
use crate::hub::{Changes, Hub};
use crate::outbox;
use crate::registry::Registry;
use crate::workflows::Workflows;
use crate::workflows_dir;

/// How often a replica on SQLite reads the registry's version.
pub const POLL: Duration = Duration::from_secs(1);

/// The first wait before subscribing again after a failure; it doubles up to
/// [`RESUBSCRIBE_MAX`].
const RESUBSCRIBE_MIN: Duration = Duration::from_millis(500);
const RESUBSCRIBE_MAX: Duration = Duration::from_secs(30);

/// The pieces of the engine the exchange works on.
#[derive(Clone)]
pub struct Replica {
    pub store: Arc<dyn Store>,
    pub registry: Registry,
    /// Registered workflows share the registry's version.
    pub workflows: Workflows,
    pub sealer: Sealer,
    pub hub: Hub,
    pub deliveries: delivery::Handle,
}

/// Runs until `stop`: publishes this replica's changes and applies the others'
/// (PostgreSQL), or polls the registry's version (SQLite).
pub async fn run(replica: Replica, stop: CancellationToken) {
    let origin = switchyard_store::new_id("replica");
    let work = async {
        let Some(sub) = first_subscription(&replica).await else {
            return poll(&replica).await;
        };
        tokio::join!(publish(&replica, &origin), listen(&replica, &origin, sub));
    };
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = work => {}
    }
}

/// The store's subscription, retrying until the database answers; `None` when the
/// store has none (SQLite).
async fn first_subscription(replica: &Replica) -> Option<Box<dyn Subscription>> {
    let mut wait = RESUBSCRIBE_MIN;
    loop {
        match replica.store.subscribe().await {
            Ok(sub) => return sub,
            Err(e) => {
                tracing::warn!(error = %e, "could not listen for other replicas; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RESUBSCRIBE_MAX);
            }
        }
    }
}

/// SQLite: reloads the registry whenever its version moved.
async fn poll(replica: &Replica) {
    loop {
        tokio::time::sleep(POLL).await;
        refresh_registry(replica).await;
    }
}

/// Tells the other replicas what this one committed.
async fn publish(replica: &Replica, origin: &str) {
    loop {
        let changes = replica.hub.outgoing().await;
        let mut message = origin.to_owned();
        for w in changes.words() {
            message.push(' ');
            message.push_str(w);
        }
        if let Err(e) = replica.store.publish(&message).await {
            // The others see the work on their fallback polls.
            tracing::warn!(error = %e, "could not tell other replicas about a commit");
        }
    }
}

/// Applies what the other replicas (and the database) announce.
async fn listen(replica: &Replica, origin: &str, mut sub: Box<dyn Subscription>) {
    // Whatever changed between loading at start-up and listening.
    catch_up(replica).await;
    loop {
        match sub.recv().await {
            Ok(Some(message)) => apply(replica, origin, &message).await,
            Ok(None) => {
                tracing::warn!("the connection listening for other replicas was lost and made again; catching up");
                metrics::counter!("switchyard_replica_listen_reconnects_total").increment(1);
                catch_up(replica).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "listening for other replicas failed; listening again");
                metrics::counter!("switchyard_replica_listen_reconnects_total").increment(1);
                let mut wait = RESUBSCRIBE_MIN;
                sub = loop {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(RESUBSCRIBE_MAX);
                    match replica.store.subscribe().await {
                        Ok(Some(sub)) => break sub,
                        Ok(None) => return,
                        Err(e) => {
                            tracing::warn!(error = %e, "could not listen for other replicas; trying again")
                        }
                    }
                };
                catch_up(replica).await;
            }
        }
    }
}

/// One message from another replica or the database.
async fn apply(replica: &Replica, origin: &str, message: &str) {
    let mut words = message.split_whitespace();
    if words.next() == Some(origin) {
        return;
    }
    let mut changes = Changes::default();
    let mut registry = false;
    for w in words {
        if let Some(c) = Changes::from_word(w) {
            changes |= c;
        } else if w == "registry" {
            registry = true;
        } else if let Some(name) = w.strip_prefix("agent:") {
            // Routing's push agents, and the agent's URL and secret for pushes.
            registry = true;
            replica
                .deliveries
                .forget(&outbox::destination_id(&outbox::agent_key(name)));
        } else if let Some(id) = w.strip_prefix("destination:") {
            replica.deliveries.forget(id);
        } else {
            tracing::debug!(word = w, "unknown word from another replica");
        }
    }
    replica.hub.wake(changes);
    if registry {
        refresh_registry(replica).await;
    }
}

/// After messages may have been lost: reload the registry if it changed, and wake
/// every waiter to look again.
async fn catch_up(replica: &Replica) {
    refresh_registry(replica).await;
    replica.hub.wake(Changes::ALL);
}

async fn refresh_registry(replica: &Replica) {
    match replica
        .registry
        .refresh_stored(replica.store.as_ref(), &replica.sealer)
        .await
    {
        Ok(true) => tracing::debug!("webhooks reloaded: another replica changed them"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "could not refresh webhooks from the store"),
    }
    match workflows_dir::refresh(&replica.workflows, replica.store.as_ref()).await {
        Ok(true) => tracing::debug!("workflows reloaded: the registry version moved"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "could not refresh workflows from the store"),
    }
}
