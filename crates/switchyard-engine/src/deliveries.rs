//! Deliveries and destinations as a service: what the delivery engine did with each
//! outbox message, manual retry and bulk recovery, and each destination's settings,
//! signing secret and on/off switch. Every change tells the delivery engine (it
//! forgets what it cached, or looks for work now).

use serde::Deserialize;
use switchyard_core::routing::FieldError;
use switchyard_store::{
    now_micros, AuditAction, Delivery, DeliveryAttempt, DeliveryQuery, Destination,
    DestinationKind, ResourceKind,
};

use crate::app::Engine;
use crate::audit;
use crate::delivery::engine::{new_secret, LiveState};
use crate::error::{Error, Result};
use crate::hub::Changes;
use crate::outbox::{destination_id, url_key};

/// A destination's settings; absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DestinationSettings {
    /// Only when creating: the URL the destination stands for.
    pub url: Option<String>,
    pub max_concurrency: Option<i64>,
    pub rate_per_second: Option<f64>,
    pub burst: Option<i64>,
    pub fifo: Option<bool>,
}

impl DestinationSettings {
    fn check(&self) -> Result<()> {
        let mut errors = Vec::new();
        if self
            .max_concurrency
            .is_some_and(|n| !(1..=10_000).contains(&n))
        {
            errors.push(FieldError::new("max_concurrency", "must be 1 to 10000"));
        }
        if self
            .rate_per_second
            .is_some_and(|r| !(r.is_finite() && (0.001..=1_000_000.0).contains(&r)))
        {
            errors.push(FieldError::new(
                "rate_per_second",
                "must be between 0.001 and 1000000 (messages per second)",
            ));
        }
        if self.burst.is_some_and(|n| !(1..=1_000_000).contains(&n)) {
            errors.push(FieldError::new("burst", "must be 1 or more"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid(errors))
        }
    }

    fn apply(&self, d: &mut Destination) {
        if self.max_concurrency.is_some() {
            d.max_concurrency = self.max_concurrency;
        }
        if self.rate_per_second.is_some() {
            d.rate_per_second = self.rate_per_second;
        }
        if self.burst.is_some() {
            d.burst = self.burst;
        }
        if let Some(f) = self.fifo {
            d.fifo = f;
        }
        d.updated_at = now_micros();
    }
}

/// A destination id, or the id of the URL or key given instead.
pub fn resolve_destination(s: &str) -> String {
    if s.starts_with("dst_") {
        s.to_owned()
    } else if s.starts_with("http://") || s.starts_with("https://") {
        destination_id(&url_key(s))
    } else {
        destination_id(s)
    }
}

/// The audit log's resource id of a bulk retry: the destination it was limited
/// to, else `*`.
fn bulk_retry_id(filter: &DeliveryQuery) -> String {
    filter
        .destination_id
        .clone()
        .unwrap_or_else(|| "*".to_owned())
}

fn no_delivery(id: &str) -> Error {
    Error::not_found("unknown_delivery", format!("no delivery {id:?}"))
}

fn no_destination(id: &str) -> Error {
    Error::not_found("unknown_destination", format!("no destination {id:?}"))
}

/// Messages a bulk retry puts back in the queue per batch (one read and one
/// update each), so a retry of a large selection never holds a long transaction.
pub const RETRY_BATCH: i64 = 500;

/// What a bulk retry selected and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkRetry {
    /// Deliveries the filter selects that a retry touches (pending or dead-lettered).
    pub matched: u64,
    /// How many were put back in the queue (0 for a dry run; fewer than `matched`
    /// when some were delivered meanwhile).
    pub retried: u64,
}

/// A rotated signing secret.
pub struct Rotated {
    pub destination: Destination,
    pub secret: String,
}

impl Engine {
    pub async fn list_deliveries(&self, q: &DeliveryQuery) -> Result<Vec<Delivery>> {
        Ok(self.store.list_deliveries(q).await?)
    }

    /// How many deliveries `q`'s filters select (its cursor and limit aside).
    pub async fn count_deliveries(&self, q: &DeliveryQuery) -> Result<u64> {
        Ok(self.store.count_deliveries(q).await?)
    }

    /// A delivery and every attempt at it.
    pub async fn delivery(&self, id: &str) -> Result<(Delivery, Vec<DeliveryAttempt>)> {
        let d = self
            .store
            .get_delivery(id)
            .await?
            .ok_or_else(|| no_delivery(id))?;
        let attempts = self.store.list_attempts(id).await?;
        Ok((d, attempts))
    }

    /// Sends a message again now: a dead letter gets one more attempt, a delivered
    /// message is sent once more (same `webhook-id`).
    pub async fn retry_delivery(&self, id: &str) -> Result<Delivery> {
        let d = self
            .store
            .retry_delivery(id)
            .await?
            .ok_or_else(|| no_delivery(id))?;
        self.hub.notify(Changes {
            outbox: true,
            ..Changes::default()
        });
        Ok(d)
    }

    /// Retries every delivery `filter` selects (its `status`, `destination_id`,
    /// `kind` and creation time; cursor and limit ignored) that a single retry
    /// would touch: pending or dead-lettered. At least a status or a destination
    /// is required, so nothing retries everything by accident. A dry run only
    /// counts. Otherwise the selection is walked newest first in batches of
    /// [`RETRY_BATCH`], each put back in the queue at once, and one audit row
    /// records the filter and the counts.
    pub async fn retry_deliveries(
        &self,
        who: &str,
        filter: &DeliveryQuery,
        dry_run: bool,
    ) -> Result<BulkRetry> {
        if filter.status.is_none() && filter.destination_id.is_none() {
            return Err(Error::bad_request(
                "filter_required",
                "give a status or a destination_id: a bulk retry never selects everything",
            ));
        }
        let mut q = DeliveryQuery {
            retryable: true,
            before: None,
            limit: RETRY_BATCH,
            ..filter.clone()
        };
        if dry_run {
            let matched = self.store.count_deliveries(&q).await?;
            return Ok(BulkRetry {
                matched,
                retried: 0,
            });
        }
        let mut done = BulkRetry {
            matched: 0,
            retried: 0,
        };
        loop {
            let batch = self.store.list_deliveries(&q).await?;
            let Some(last) = batch.last() else { break };
            q.before = Some(last.outbox_id.clone());
            let ids: Vec<String> = batch.iter().map(|d| d.outbox_id.clone()).collect();
            done.matched += ids.len() as u64;
            done.retried += self.store.retry_deliveries(&ids).await?;
            self.hub.notify(Changes {
                outbox: true,
                ..Changes::default()
            });
            if (batch.len() as i64) < RETRY_BATCH {
                break;
            }
        }
        let row = audit::record(
            who,
            AuditAction::Retry,
            ResourceKind::Delivery,
            &bulk_retry_id(filter),
            None,
            Some(serde_json::json!({
                "status": filter.status.map(|s| s.to_string()),
                "destination_id": filter.destination_id,
                "kind": filter.kind.map(|k| k.to_string()),
                "since": filter.since.map(crate::time::rfc3339),
                "until": filter.until.map(crate::time::rfc3339),
                "matched": done.matched,
                "retried": done.retried,
            })),
        );
        self.store.record_audit(&row).await?;
        Ok(done)
    }

    /// A destination by id, URL or key.
    pub async fn destination(&self, id: &str) -> Result<Destination> {
        self.store
            .get_destination(&resolve_destination(id))
            .await?
            .ok_or_else(|| no_destination(id))
    }

    pub async fn list_destinations(&self) -> Result<Vec<Destination>> {
        Ok(self.store.list_destinations().await?)
    }

    /// This process's live view of a destination (circuit, queue, limit).
    pub fn destination_live(&self, destination_id: &str) -> LiveState {
        self.deliveries.live(destination_id).unwrap_or_default()
    }

    /// Sets a URL's destination up (before or after its first message); returns it
    /// and whether it is new.
    pub async fn create_destination(
        &self,
        who: &str,
        s: &DestinationSettings,
    ) -> Result<(Destination, bool)> {
        s.check()?;
        let Some(url) = s.url.as_deref().filter(|u| {
            reqwest::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        }) else {
            return Err(Error::field("url", "is required (an http or https URL)"));
        };
        let key = url_key(url);
        let id = destination_id(&key);
        let existing = self.store.get_destination(&id).await?;
        let before = existing.as_ref().map(audit::destination);
        let (mut d, created) = match existing {
            Some(d) => (d, false),
            None => {
                let now = now_micros();
                let d = Destination {
                    destination_id: id.clone(),
                    url: key,
                    kind: DestinationKind::Http,
                    max_concurrency: None,
                    rate_per_second: None,
                    burst: None,
                    fifo: false,
                    secret: Some(self.sealer.seal(new_secret().as_bytes())),
                    previous_secret: None,
                    previous_expires_at: None,
                    disabled_at: None,
                    disabled_reason: None,
                    created_at: now,
                    updated_at: now,
                };
                (d, true)
            }
        };
        s.apply(&mut d);
        let action = if created {
            AuditAction::Create
        } else {
            AuditAction::Update
        };
        let row = audit::record(
            who,
            action,
            ResourceKind::Destination,
            &id,
            before,
            Some(audit::destination(&d)),
        );
        self.store.put_destination(&d, &row).await?;
        self.deliveries.forget(&id);
        Ok((d, created))
    }

    /// Changes a destination's limits and ordering.
    pub async fn update_destination(
        &self,
        who: &str,
        id: &str,
        s: &DestinationSettings,
    ) -> Result<Destination> {
        s.check()?;
        if s.url.is_some() {
            return Err(Error::field(
                "url",
                "cannot change; a destination is its URL",
            ));
        }
        let mut d = self.destination(id).await?;
        let before = audit::destination(&d);
        s.apply(&mut d);
        let row = audit::record(
            who,
            AuditAction::Update,
            ResourceKind::Destination,
            &d.destination_id,
            Some(before),
            Some(audit::destination(&d)),
        );
        self.store.put_destination(&d, &row).await?;
        self.deliveries.forget(&d.destination_id);
        Ok(d)
    }

    /// Enables (deliveries resume, oldest first) or disables (pending deliveries
    /// wait) a destination.
    pub async fn set_destination_enabled(
        &self,
        who: &str,
        id: &str,
        enabled: bool,
    ) -> Result<Destination> {
        let d = self.destination(id).await?;
        let reason = (!enabled).then_some("disabled through the API");
        let now = now_micros();
        let after = Destination {
            disabled_at: (!enabled).then_some(now),
            disabled_reason: reason.map(str::to_owned),
            ..d.clone()
        };
        let action = if enabled {
            AuditAction::Enable
        } else {
            AuditAction::Disable
        };
        let row = audit::record(
            who,
            action,
            ResourceKind::Destination,
            &d.destination_id,
            Some(audit::destination(&d)),
            Some(audit::destination(&after)),
        );
        self.store
            .set_destination_disabled(&d.destination_id, reason, &row)
            .await?;
        self.deliveries.forget(&d.destination_id);
        self.destination(id).await
    }

    /// Queues again every dead letter of the destination created at or after
    /// `since` (RFC 3339); returns the destination's id and how many.
    pub async fn recover_destination(&self, id: &str, since: &str) -> Result<(String, u64)> {
        let Some(since) = crate::time::parse_rfc3339(since) else {
            return Err(Error::field("since", "must be an RFC 3339 time"));
        };
        let d = self.destination(id).await?;
        let n = self
            .store
            .recover_destination(&d.destination_id, since)
            .await?;
        self.hub.notify(Changes {
            outbox: true,
            ..Changes::default()
        });
        Ok((d.destination_id, n))
    }

    /// The signing secret receivers verify with, shown to `who`: the audit log
    /// records each reveal (written before the secret is handed out, so a secret
    /// is never shown unrecorded).
    pub async fn destination_secret(
        &self,
        who: &str,
        id: &str,
    ) -> Result<(String, Option<String>)> {
        let d = self.destination(id).await?;
        let secret = match &d.secret {
            Some(s) => Some(
                String::from_utf8(self.sealer.open(s).map_err(Error::internal)?)
                    .map_err(Error::internal)?,
            ),
            None => None,
        };
        let row = audit::record(
            who,
            AuditAction::Reveal,
            ResourceKind::Destination,
            &d.destination_id,
            None,
            Some(audit::destination(&d)),
        );
        self.store.record_audit(&row).await?;
        Ok((d.destination_id, secret))
    }

    /// A new secret signs from now on; the old one signs too (a second `v1,` entry)
    /// until the grace period ends. `secret` is generated when `None`.
    pub async fn rotate_destination_secret(
        &self,
        who: &str,
        id: &str,
        secret: Option<String>,
    ) -> Result<Rotated> {
        let secret = secret.unwrap_or_else(new_secret);
        if switchyard_core::sig::standard_secret_key(&secret).is_none_or(|k| k.len() < 16) {
            return Err(Error::field(
                "secret",
                "must be whsec_ and base64 of at least 16 bytes",
            ));
        }
        let mut d = self.destination(id).await?;
        let before = audit::destination(&d);
        let now = now_micros();
        d.previous_secret = d.secret.take();
        d.previous_expires_at = Some(now + self.config.delivery.secret_grace.as_micros() as i64);
        d.secret = Some(self.sealer.seal(secret.as_bytes()));
        d.updated_at = now;
        let row = audit::record(
            who,
            AuditAction::Rotate,
            ResourceKind::Destination,
            &d.destination_id,
            Some(before),
            Some(audit::destination(&d)),
        );
        self.store.put_destination(&d, &row).await?;
        self.deliveries.forget(&d.destination_id);
        Ok(Rotated {
            destination: d,
            secret,
        })
    }
}
