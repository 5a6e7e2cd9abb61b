//! The delivery engine: claims due outbox messages, sends each under its
//! destination's limits, and records what happened.
//!
//! One dispatcher task owns every destination's in-memory state (queue, concurrency,
//! token bucket, circuit breaker), so none of it needs a lock. Attempts run as their
//! own tasks and report back; a finisher task writes their records in batches (one
//! transaction for many attempts, like the ingest writer). A message counts as
//! delivered only once that record commits: a crash before it means the claim runs
//! out and the message is sent again, with the same `webhook-id`.
//!
//! Isolation: a destination with a full queue, an open circuit or a pause is left out
//! of the claim query, so its backlog stays in the database and never takes the
//! places of other destinations' messages.
//!
//! Settling: [`Handle::settle`] lets a caller (tests, mostly) wait until the engine
//! has done everything it could do now. The dispatcher publishes, on a `watch`, the
//! last settle request it has fully served: one whose claim started after the
//! request, found nothing, while nothing was queued or in flight and every record
//! handed to the finisher was already committed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde::Serialize;
use serde_json::Value;
use switchyard_store::{
    new_id, now_micros, AttemptOutcome, ClaimQuery, Delivery, DeliveryAttempt, Destination,
    FinishedAttempt, Park, Sealer, Store,
};
use switchyard_store::{AgentMode, DestinationKind, OutboxKind};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::limits::{Aimd, Breaker, TokenBucket};
use super::send::{self, AttemptResult, DestInfo, SendCtx};
use super::DeliveryConfig;
use crate::registry::Registry;
use crate::supervise::Workers;

/// How long a destination's settings are trusted before they are read again
/// (another replica may have changed them).
const SETTINGS_TTL: Duration = Duration::from_secs(5);

/// How often messages arriving for an unavailable destination are parked.
const PARK_EVERY: Duration = Duration::from_millis(250);

/// What the API shows of a destination's live state on this process.
#[derive(Debug, Clone, Serialize, Default)]
pub struct LiveState {
    pub circuit: &'static str,
    pub in_flight: usize,
    pub queued: usize,
    pub concurrency_limit: usize,
}

/// A handle to the running delivery engine.
#[derive(Clone)]
pub struct Handle {
    wake: Arc<Notify>,
    forget: mpsc::UnboundedSender<String>,
    live: Arc<Mutex<HashMap<String, LiveState>>>,
    settle: Arc<SettleShared>,
    settled: watch::Receiver<u64>,
}

/// What [`Handle::settle`] shares with the dispatcher and the finisher.
#[derive(Default)]
struct SettleShared {
    /// The number of settle requests made so far; each is served by a claim that
    /// reads this number before it starts.
    requested: AtomicU64,
    /// Records the finisher has committed (or given up on while stopping).
    recorded: AtomicU64,
    /// Records handed to the finisher; settled only once it has committed as many.
    handed: AtomicU64,
}

impl Handle {
    /// Starts the engine; it runs until `stop` is cancelled, then finishes the
    /// attempts under way, hands back what it holds and records everything.
    #[allow(clippy::too_many_arguments)]
    pub fn spawn(
        store: Arc<dyn Store>,
        registry: Registry,
        sealer: Sealer,
        config: DeliveryConfig,
        notify: crate::config::NotifyConfig,
        wake: Arc<Notify>,
        workers: &Workers,
        stop: CancellationToken,
    ) -> Result<(Handle, JoinSet<()>), crate::error::StartError> {
        let client =
            super::ssrf::client(config.guard.clone(), config.connect_timeout, config.timeout)
                .map_err(|e| crate::error::StartError::Client(e.to_string()))?;
        let ctx = Arc::new(SendCtx {
            client,
            config,
            notify,
            store: store.clone(),
            registry,
            sealer,
        });
        let (forget_tx, forget_rx) = mpsc::unbounded_channel();
        let live = Arc::new(Mutex::new(HashMap::new()));
        let (finish_tx, finish_rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let settle = Arc::new(SettleShared::default());
        let (settled_tx, settled) = watch::channel(0);
        let settled_tx = Arc::new(settled_tx);
        // What outlives a restart of the dispatcher or the finisher: the queues and
        // the counters. Each restart builds the worker afresh around them.
        let finish_rx = Arc::new(tokio::sync::Mutex::new(finish_rx));
        let done_rx = Arc::new(tokio::sync::Mutex::new(done_rx));
        let forget_rx = Arc::new(tokio::sync::Mutex::new(forget_rx));
        let claim_id = new_id("claim");
        let mut tasks = JoinSet::new();
        {
            let (store, wake, settle, stop) =
                (store.clone(), wake.clone(), settle.clone(), stop.clone());
            workers.spawn(&mut tasks, "delivery-finisher", stop.clone(), move || {
                finisher(
                    store.clone(),
                    finish_rx.clone(),
                    wake.clone(),
                    settle.clone(),
                    stop.clone(),
                )
            });
        }
        {
            let (live, settle, wake) = (live.clone(), settle.clone(), wake.clone());
            workers.spawn(&mut tasks, "delivery-dispatcher", stop.clone(), move || {
                let d = Dispatcher {
                    claim_id: claim_id.clone(),
                    ctx: ctx.clone(),
                    dests: HashMap::new(),
                    held: HashSet::new(),
                    total: 0,
                    done_tx: done_tx.clone(),
                    finish_tx: finish_tx.clone(),
                    settle: settle.clone(),
                    settled: settled_tx.clone(),
                    live: live.clone(),
                };
                d.run(
                    done_rx.clone(),
                    forget_rx.clone(),
                    wake.clone(),
                    stop.clone(),
                )
            });
        }
        Ok((
            Handle {
                wake,
                forget: forget_tx,
                live,
                settle,
                settled,
            },
            tasks,
        ))
    }

    /// Wakes the engine and waits until it has done all it can do now: every
    /// message due when this was called (and any made due by its attempts, such as
    /// the next in a FIFO order) has been attempted and its attempt recorded, and a
    /// claim started after the call found nothing more. Messages this engine may not
    /// take now (their destination is paused, out of tokens, disabled or its circuit
    /// open; their retry not yet due; claimed by another replica) do not hold it up.
    ///
    /// Returns false if that did not happen within `timeout` or the engine stopped.
    /// Meant for tests and tools that want to see deliveries happen without sleeping.
    pub async fn settle(&self, timeout: Duration) -> bool {
        let ticket = self.settle.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut settled = self.settled.clone();
        self.wake();
        let served = tokio::time::timeout(timeout, async {
            settled.wait_for(|served| *served >= ticket).await.is_ok()
        })
        .await;
        served.unwrap_or(false)
    }

    /// Looks for work now (after a commit that created messages, or a retry).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Drops what the engine knows of a destination's settings (after an API change).
    pub fn forget(&self, destination_id: &str) {
        let _ = self.forget.send(destination_id.to_owned());
        self.wake();
    }

    /// This process's live view of a destination, if it has one.
    pub fn live(&self, destination_id: &str) -> Option<LiveState> {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.get(destination_id).cloned()
    }
}

struct Dest {
    info: Arc<DestInfo>,
    loaded: Instant,
    /// Settings changed elsewhere: read them again before the next attempt.
    stale: bool,
    /// When this process last parked the destination's messages (while disabled).
    parked: Instant,
    queue: VecDeque<Delivery>,
    in_flight: usize,
    aimd: Aimd,
    bucket: Option<TokenBucket>,
    breaker: Breaker,
    paused_until: Option<Instant>,
}

impl Dest {
    fn new(info: DestInfo, cfg: &DeliveryConfig, now: Instant) -> Self {
        let mut d = Dest {
            info: Arc::new(DestInfo::default()),
            loaded: now,
            stale: false,
            parked: now,
            queue: VecDeque::new(),
            in_flight: 0,
            aimd: Aimd::new(cfg.default_concurrency),
            bucket: None,
            breaker: Breaker::new(cfg.breaker.clone()),
            paused_until: None,
        };
        d.apply(info, cfg, now);
        d
    }

    /// Takes new settings, keeping the live state that still fits.
    fn apply(&mut self, info: DestInfo, cfg: &DeliveryConfig, now: Instant) {
        self.aimd
            .set_max(info.max_concurrency.unwrap_or(cfg.default_concurrency));
        let same_rate = self.info.rate_per_second == info.rate_per_second
            && self.info.burst == info.burst
            && self.bucket.is_some();
        if !same_rate {
            self.bucket = info
                .rate_per_second
                .filter(|r| *r > 0.0)
                .map(|r| TokenBucket::new(r, info.burst.unwrap_or(r.max(1.0)), now));
        }
        self.info = Arc::new(info);
        self.loaded = now;
        self.stale = false;
    }

    /// Whether the claim query should leave this destination out for now.
    fn saturated(&mut self, now: Instant) -> bool {
        self.info.disabled
            || self.queue.len() >= self.aimd.limit()
            // An open circuit gets its probe through a claim of its own.
            || self.breaker.state() != super::limits::CircuitState::Closed
            || self.paused_until.is_some_and(|t| t > now)
            || (!self.queue.is_empty()
                && self.bucket.as_mut().is_some_and(|b| !b.wait(now).is_zero()))
    }

    fn live(&self) -> LiveState {
        LiveState {
            circuit: self.breaker.state().as_str(),
            in_flight: self.in_flight,
            queued: self.queue.len(),
            concurrency_limit: self.aimd.limit(),
        }
    }
}

struct Done {
    delivery: Delivery,
    result: AttemptResult,
}

struct Dispatcher {
    claim_id: String,
    ctx: Arc<SendCtx>,
    dests: HashMap<String, Dest>,
    /// Messages claimed and not yet handed to the finisher.
    held: HashSet<String>,
    /// Queued plus in flight.
    total: usize,
    done_tx: mpsc::UnboundedSender<Done>,
    finish_tx: mpsc::UnboundedSender<FinishedAttempt>,
    settle: Arc<SettleShared>,
    /// The last settle request served (see [`Handle::settle`]).
    settled: Arc<watch::Sender<u64>>,
    live: Arc<Mutex<HashMap<String, LiveState>>>,
}

impl Dispatcher {
    async fn run(
        mut self,
        done_rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Done>>>,
        forget_rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>>,
        wake: Arc<Notify>,
        stop: CancellationToken,
    ) {
        // Held for this run only: a restarted dispatcher takes them over.
        let mut done_rx = done_rx.lock().await;
        let mut forget_rx = forget_rx.lock().await;
        let cfg = self.ctx.config.clone();
        let mut want_claim = true;
        loop {
            if stop.is_cancelled() {
                break;
            }
            while let Ok(id) = forget_rx.try_recv() {
                self.forget(&id);
            }
            let now = Instant::now();
            let mut timer = self.pump(now);
            let free = cfg.max_in_flight.saturating_sub(self.total);
            if want_claim && free > 0 {
                // Read before the claim: a request made after it starts, or a record
                // committed after it starts, needs another claim to be served.
                let ticket = self.settle.requested.load(Ordering::SeqCst);
                let recorded = self.settle.recorded.load(Ordering::SeqCst);
                // A claim can be slow on a huge backlog; stopping does not wait for it.
                let claimed = tokio::select! {
                    r = self.claim(free) => r,
                    _ = stop.cancelled() => break,
                };
                match claimed {
                    Ok(got) if got == free => continue,
                    Ok(got) => {
                        if got > 0 {
                            timer = timer.min(self.pump(Instant::now()));
                        } else if self.total == 0
                            && recorded == self.settle.handed.load(Ordering::SeqCst)
                        {
                            self.settled.send_if_modified(|served| {
                                let newer = *served < ticket;
                                *served = (*served).max(ticket);
                                newer
                            });
                        }
                        want_claim = false;
                        // Sleep until the next message is due, if it is soon.
                        if let Ok(Some(due_in)) = self.ctx.store.next_delivery_in().await {
                            let wait = due_in.clamp(0, cfg.poll_interval.as_micros() as i64);
                            if wait > 0 {
                                timer =
                                    timer.min(Instant::now() + Duration::from_micros(wait as u64));
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming deliveries failed");
                        want_claim = false;
                    }
                }
            }
            self.publish();
            let sleep_until = timer.min(Instant::now() + cfg.poll_interval);
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = wake.notified() => want_claim = true,
                Some(done) = done_rx.recv() => {
                    self.finished(done);
                    while let Ok(done) = done_rx.try_recv() {
                        self.finished(done);
                    }
                    // Claim again once a good share of the capacity is free.
                    let free = cfg.max_in_flight.saturating_sub(self.total);
                    want_claim |= free * 4 >= cfg.max_in_flight || self.total == 0;
                }
                Some(id) = forget_rx.recv() => {
                    self.forget(&id);
                    want_claim = true;
                }
                _ = tokio::time::sleep_until(sleep_until.into()) => want_claim = true,
            }
        }
        // Stopping: what waits in queues goes back; attempts under way finish (the
        // client's timeout bounds them) and are recorded.
        let queued: Vec<Delivery> = self
            .dests
            .values_mut()
            .flat_map(|dest| dest.queue.drain(..))
            .collect();
        for d in queued {
            self.total -= 1;
            self.held.remove(&d.outbox_id);
            let f = released(&self.claim_id, d, 0);
            self.hand(f);
        }
        // Wait for the attempts that started, counted per destination: `total` may
        // also count rows of a claim cut short by the stop (claimed, never queued),
        // which no attempt will ever report; their claims run out and another
        // process sends them.
        while self.started() > 0 {
            match done_rx.recv().await {
                Some(done) => self.finished(done),
                None => break,
            }
        }
    }

    /// Attempts under way.
    fn started(&self) -> usize {
        self.dests.values().map(|d| d.in_flight).sum()
    }

    fn forget(&mut self, id: &str) {
        if let Some(d) = self.dests.get_mut(id) {
            // Read again before the next attempt; the claim query knows whether
            // it is disabled meanwhile.
            d.stale = true;
            let mut info = (*d.info).clone();
            info.disabled = false;
            d.info = Arc::new(info);
        }
    }

    /// Moves a destination's waiting messages to `until`, in the background.
    fn park(&self, destination_id: &str, until: Park) {
        let (store, id) = (self.ctx.store.clone(), destination_id.to_owned());
        tokio::spawn(async move {
            match store.park_destination(&id, until).await {
                Ok(n) if n > 0 => tracing::debug!(destination = %id, n, "messages parked"),
                Ok(_) => {}
                Err(e) => tracing::warn!(destination = %id, error = %e, "parking messages failed"),
            }
        });
    }

    /// Claims up to `limit` messages; returns how many.
    async fn claim(&mut self, limit: usize) -> switchyard_store::Result<usize> {
        let now = Instant::now();
        // Messages that keep arriving for a destination that cannot take them now
        // (disabled, circuit open, paused) are parked until it can, a few times a
        // second: the claim walks due messages in order, and every one of them
        // left due would be walked past again by every claim.
        let mut parks = Vec::new();
        for (id, d) in self.dests.iter_mut() {
            if d.parked.elapsed() < PARK_EVERY {
                continue;
            }
            let until = if d.info.disabled {
                Some(Park::UntilEnabled)
            } else {
                d.breaker
                    .open_until()
                    .into_iter()
                    .chain(d.paused_until)
                    .filter(|t| *t > now)
                    .max()
                    .map(|t| Park::For(t.duration_since(now).as_micros() as i64))
            };
            if let Some(until) = until {
                d.parked = now;
                parks.push((id.clone(), until));
            }
        }
        for (id, until) in parks {
            self.park(&id, until);
        }
        let exclude: Vec<String> = self
            .dests
            .iter_mut()
            .filter_map(|(id, d)| d.saturated(now).then(|| id.clone()))
            .collect();
        // Circuits whose open time is up get one message each, for the probe.
        let probes: Vec<String> = self
            .dests
            .iter()
            .filter(|(_, d)| {
                d.queue.is_empty()
                    && d.in_flight == 0
                    && d.breaker.open_until().is_some()
                    && d.breaker.would_allow(now)
            })
            .map(|(id, _)| id.clone())
            .collect();
        let claim_micros = self.ctx.config.claim_timeout.as_micros() as i64;
        let mut q = ClaimQuery {
            claim_id: self.claim_id.clone(),
            limit: limit as i64,
            claim_micros,
            exclude,
            only: None,
        };
        // The database's clock sets a claim's deadline; this process counts it on
        // its own clock from before it asked, so whatever the two clocks say, it
        // never thinks it holds a claim longer than the database does.
        let asked_at = now_micros();
        let mut rows = self.ctx.store.claim_deliveries(&q).await?;
        q.exclude.clear();
        q.limit = 1;
        for id in probes {
            q.only = Some(id);
            rows.extend(self.ctx.store.claim_deliveries(&q).await?);
        }
        let n = rows.len();
        for mut row in rows {
            row.claimed_until = Some(asked_at + claim_micros);
            if !self.held.insert(row.outbox_id.clone()) {
                // Ours already (its claim ran out while it waited): keep one copy.
                continue;
            }
            self.total += 1;
            let stale = self
                .dests
                .get(&row.destination_id)
                .is_none_or(|d| d.stale || d.loaded.elapsed() > SETTINGS_TTL);
            if stale {
                let info = load_dest(&self.ctx, &row).await;
                let cfg = &self.ctx.config;
                let now = Instant::now();
                match self.dests.get_mut(&row.destination_id) {
                    Some(d) => d.apply(info, cfg, now),
                    None => {
                        self.dests
                            .insert(row.destination_id.clone(), Dest::new(info, cfg, now));
                    }
                }
            }
            if let Some(d) = self.dests.get_mut(&row.destination_id) {
                d.queue.push_back(row);
            }
        }
        Ok(n)
    }

    /// Starts every attempt that may start; returns when to look again for
    /// destinations waiting on a token, a pause or a circuit.
    fn pump(&mut self, now: Instant) -> Instant {
        let mut next = now + Duration::from_secs(3600);
        // An attempt may take the whole timeout; keep some slack beyond it.
        let cfg = &self.ctx.config;
        let slack = (cfg.claim_timeout.saturating_sub(cfg.timeout) / 2).min(Duration::from_secs(5));
        let margin = cfg.timeout + slack;
        let now_us = now_micros();
        let mut to_release = Vec::new();
        let mut to_start = Vec::new();
        for dest in self.dests.values_mut() {
            if dest.queue.is_empty() {
                continue;
            }
            if dest.info.disabled {
                to_release.extend(dest.queue.drain(..).map(|d| (d, 0)));
                continue;
            }
            // Anything whose claim would run out before its attempt could end goes
            // back, wherever it waits: another process may take it then.
            if dest
                .queue
                .iter()
                .any(|d| d.claimed_until.unwrap_or(0) - now_us < margin.as_micros() as i64)
            {
                let (keep, expiring): (VecDeque<_>, VecDeque<_>) =
                    dest.queue.drain(..).partition(|d| {
                        d.claimed_until.unwrap_or(0) - now_us >= margin.as_micros() as i64
                    });
                dest.queue = keep;
                to_release.extend(expiring.into_iter().map(|d| (d, 0)));
            }
            if let Some(until) = dest.breaker.open_until().filter(|u| *u > now) {
                // The circuit is open: the queue goes back until it may probe.
                let wait = until.duration_since(now).as_micros() as i64;
                to_release.extend(dest.queue.drain(..).map(|d| (d, wait)));
                continue;
            }
            if let Some(until) = dest.paused_until.filter(|u| *u > now) {
                next = next.min(until);
                continue;
            }
            while dest.in_flight < dest.aimd.limit() {
                let Some(front) = dest.queue.front() else {
                    break;
                };
                // A claim that would run out during the attempt goes back instead.
                let left = front.claimed_until.unwrap_or(0) - now_us;
                if left < margin.as_micros() as i64 {
                    if let Some(d) = dest.queue.pop_front() {
                        to_release.push((d, 0));
                    }
                    continue;
                }
                if let Some(b) = dest.bucket.as_mut() {
                    let wait = b.wait(now);
                    if !wait.is_zero() {
                        next = next.min(now + wait);
                        break;
                    }
                }
                if !dest.breaker.allow(now) {
                    break;
                }
                if let Some(b) = dest.bucket.as_mut() {
                    b.try_take(now);
                }
                let Some(d) = dest.queue.pop_front() else {
                    break;
                };
                dest.in_flight += 1;
                to_start.push((d, dest.info.clone()));
                if dest.breaker.state() == super::limits::CircuitState::HalfOpen {
                    // One probe at a time.
                    break;
                }
            }
        }
        for (d, wait) in to_release {
            self.total -= 1;
            self.held.remove(&d.outbox_id);
            let f = released(&self.claim_id, d, wait);
            self.hand(f);
        }
        for (d, info) in to_start {
            let ctx = self.ctx.clone();
            let tx = self.done_tx.clone();
            tokio::spawn(async move {
                let result = send::attempt(&ctx, &d, &info).await;
                let _ = tx.send(Done {
                    delivery: d,
                    result,
                });
            });
        }
        next
    }

    /// Turns an attempt's result into its record and adjusts the destination.
    fn finished(&mut self, done: Done) {
        let Done {
            delivery: d,
            result: r,
        } = done;
        let cfg = &self.ctx.config;
        let now = Instant::now();
        // An attempt started before the dispatcher was restarted is recorded, but
        // counts against nothing this dispatcher holds.
        let ours = self.held.remove(&d.outbox_id);
        if ours {
            self.total -= 1;
        }
        let mut disable = None;
        let mut park = None;
        let dest = match ours {
            true => self.dests.get_mut(&d.destination_id),
            false => None,
        };
        let outcome = match dest {
            None if r.ok() => AttemptOutcome::Delivered,
            None => AttemptOutcome::Retry { in_micros: 0 },
            Some(dest) => {
                dest.in_flight -= 1;
                if r.ok() {
                    dest.breaker.record(true, now);
                    dest.aimd.success();
                    AttemptOutcome::Delivered
                } else if r.permanent {
                    AttemptOutcome::Dead
                } else {
                    let was_open = dest.breaker.open_until().is_some();
                    dest.breaker.record(false, now);
                    if let (false, Some(until)) = (was_open, dest.breaker.open_until()) {
                        // The circuit opened: its waiting messages move past the open
                        // time, so claims for other destinations do not walk them.
                        park = Some(Park::For(
                            until.saturating_duration_since(now).as_micros() as i64
                        ));
                    }
                    let status = r.status.unwrap_or(0);
                    if matches!(status, 429 | 502 | 503 | 504) {
                        dest.aimd.overloaded();
                    }
                    let retry_after = r.retry_after.map(|ra| ra.min(cfg.retry_after_max));
                    if let (Some(ra), 429 | 503) = (retry_after, status) {
                        dest.paused_until = Some(now + ra);
                    }
                    if status == 410 {
                        // Gone: the destination is switched off and this message
                        // waits with the rest until someone turns it back on.
                        let mut info = (*dest.info).clone();
                        info.disabled = true;
                        dest.info = Arc::new(info);
                        disable = Some((
                            d.destination_id.clone(),
                            "the destination answered 410 Gone".to_owned(),
                        ));
                        AttemptOutcome::Retry { in_micros: 0 }
                    } else {
                        next_attempt(cfg, d.attempts, retry_after)
                    }
                }
            }
        };
        if let Some(until) = park {
            self.park(&d.destination_id, until);
        }
        record_metrics(&d, &r, &outcome);
        if outcome == AttemptOutcome::Dead {
            tracing::warn!(delivery = %d.outbox_id, kind = %d.kind, destination = %d.destination_id,
                error = r.error.as_deref().unwrap_or(""), "delivery dead-lettered");
        }
        let requeue_task = (d.kind == OutboxKind::TaskPush && outcome == AttemptOutcome::Dead)
            .then(|| {
                serde_json::from_str::<Value>(&d.payload)
                    .ok()
                    .and_then(|p| p.get("task_id").and_then(Value::as_str).map(str::to_owned))
            })
            .flatten();
        let history = match (&d.kind, &outcome) {
            (
                OutboxKind::Notify | OutboxKind::Callback | OutboxKind::Resume,
                AttemptOutcome::Delivered | AttemptOutcome::Dead,
            ) => {
                let payload = serde_json::from_str::<Value>(&d.payload).unwrap_or(Value::Null);
                let delivered = outcome == AttemptOutcome::Delivered;
                let step = crate::outbox::finished_step(
                    &payload,
                    &d.outbox_id,
                    delivered,
                    r.error.as_deref(),
                );
                if let Some(channel) = step
                    .as_ref()
                    .and_then(|(_, h)| h.detail.as_deref())
                    .and_then(|h| serde_json::from_str::<Value>(h).ok())
                    .and_then(|h| h.get("channel").and_then(Value::as_str).map(str::to_owned))
                {
                    let outcome = if delivered { "sent" } else { "failed" };
                    metrics::counter!(crate::telemetry::NOTIFICATIONS, "channel" => channel, "outcome" => outcome)
                        .increment(1);
                }
                step
            }
            _ => None,
        };
        let notice = match outcome {
            AttemptOutcome::Delivered => Some("delivered"),
            AttemptOutcome::Retry { .. } => Some("retrying"),
            AttemptOutcome::Dead => Some("failed"),
            AttemptOutcome::Released { .. } => None,
        }
        .map(|o| {
            crate::notices::delivery_notice(
                o,
                &d.outbox_id,
                &d.destination_id,
                d.attempts,
                r.status.map(i64::from),
            )
        });
        let f = FinishedAttempt {
            history,
            notice,
            outbox_id: d.outbox_id.clone(),
            claim_id: self.claim_id.clone(),
            outcome,
            attempt: DeliveryAttempt {
                outbox_id: d.outbox_id.clone(),
                attempt: d.attempts,
                started_at: r.started_at,
                status_code: r.status.map(i64::from),
                latency_micros: r.latency.as_micros() as i64,
                response_excerpt: r.excerpt,
                error: r.error,
            },
            disable_destination: disable,
            requeue_task,
        };
        self.hand(f);
    }

    /// Hands a record to the finisher, counting it.
    fn hand(&mut self, f: FinishedAttempt) {
        self.settle.handed.fetch_add(1, Ordering::SeqCst);
        let _ = self.finish_tx.send(f);
    }

    fn publish(&self) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.clear();
        for (id, d) in &self.dests {
            live.insert(id.clone(), d.live());
        }
    }
}

/// When to try again after a failed attempt number `attempt` (1-based), or dead.
fn next_attempt(
    cfg: &DeliveryConfig,
    attempt: i64,
    retry_after: Option<Duration>,
) -> AttemptOutcome {
    let idx = attempt.max(0) as usize;
    let Some(delay) = cfg.retry_schedule.get(idx).copied() else {
        return AttemptOutcome::Dead;
    };
    let delay = match retry_after {
        Some(ra) => ra,
        None => jitter(delay, cfg.jitter),
    };
    AttemptOutcome::Retry {
        in_micros: delay.as_micros() as i64,
    }
}

/// `d` varied uniformly by up to `frac` either way.
pub fn jitter(d: Duration, frac: f64) -> Duration {
    if d.is_zero() || frac <= 0.0 {
        return d;
    }
    let f = rand::thread_rng().gen_range(1.0 - frac..=1.0 + frac);
    d.mul_f64(f.max(0.0))
}

/// A message handed back unattempted, due again in `in_micros`.
fn released(claim_id: &str, d: Delivery, in_micros: i64) -> FinishedAttempt {
    FinishedAttempt {
        outbox_id: d.outbox_id.clone(),
        claim_id: claim_id.to_owned(),
        outcome: AttemptOutcome::Released { in_micros },
        attempt: DeliveryAttempt {
            outbox_id: d.outbox_id,
            attempt: d.attempts,
            started_at: now_micros(),
            status_code: None,
            latency_micros: 0,
            response_excerpt: None,
            error: None,
        },
        disable_destination: None,
        requeue_task: None,
        history: None,
        notice: None,
    }
}

fn record_metrics(d: &Delivery, r: &AttemptResult, outcome: &AttemptOutcome) {
    let outcome = match outcome {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::Retry { .. } => "retry",
        AttemptOutcome::Dead => "dead",
        AttemptOutcome::Released { .. } => "released",
    };
    metrics::counter!(crate::telemetry::DELIVERY_ATTEMPTS, "kind" => d.kind.as_str(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!(crate::telemetry::DELIVERY_LATENCY).record(r.latency.as_secs_f64());
}

/// Reads (creating when new) a destination's settings and signing keys.
async fn load_dest(ctx: &SendCtx, row: &Delivery) -> DestInfo {
    let payload: Value = serde_json::from_str(&row.payload).unwrap_or(Value::Null);
    let key = payload
        .get("destination")
        .and_then(Value::as_str)
        .unwrap_or(&row.destination_id)
        .to_owned();
    let kind = match row.kind {
        OutboxKind::Forward | OutboxKind::Callback => DestinationKind::Http,
        OutboxKind::TaskPush => DestinationKind::Agent,
        _ => DestinationKind::Provider,
    };
    let stored = match ctx.store.get_destination(&row.destination_id).await {
        Ok(Some(d)) => Some(d),
        Ok(None) => {
            let now = now_micros();
            let secret = (kind != DestinationKind::Provider)
                .then(|| ctx.sealer.seal(new_secret().as_bytes()));
            let d = Destination {
                destination_id: row.destination_id.clone(),
                url: key.clone(),
                kind,
                max_concurrency: None,
                rate_per_second: None,
                burst: None,
                fifo: false,
                secret,
                previous_secret: None,
                previous_expires_at: None,
                disabled_at: None,
                disabled_reason: None,
                created_at: now,
                updated_at: now,
            };
            match ctx.store.ensure_destination(&d).await {
                Ok(()) => ctx
                    .store
                    .get_destination(&row.destination_id)
                    .await
                    .ok()
                    .flatten(),
                Err(e) => {
                    tracing::warn!(error = %e, "could not record destination");
                    None
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not read destination");
            None
        }
    };
    let mut info = DestInfo {
        destination_id: row.destination_id.clone(),
        kind: kind.as_str().to_owned(),
        key,
        ..DestInfo::default()
    };
    if let Some(d) = &stored {
        info.kind = d.kind.as_str().to_owned();
        info.key = d.url.clone();
        info.max_concurrency = d.max_concurrency.map(|n| n.max(1) as usize);
        info.rate_per_second = d.rate_per_second;
        info.burst = d.burst.map(|b| b as f64);
        info.disabled = d.disabled_at.is_some();
        info.keys = signing_keys(&ctx.sealer, d);
    }
    if row.kind == OutboxKind::TaskPush {
        let name = info
            .key
            .strip_prefix("agent:")
            .unwrap_or_default()
            .to_owned();
        if let Ok(Some(agent)) = ctx.store.get_agent(&name).await {
            if agent.mode == AgentMode::Push {
                info.agent_url = agent.url.clone();
            }
            // An agent's own secret, when it has one, signs its pushes.
            if let Some(k) = agent
                .secret
                .as_deref()
                .and_then(|s| send::open_key(&ctx.sealer, s))
            {
                info.keys = vec![k];
            }
        }
    }
    info
}

/// The keys that sign for a destination: its secret, and the previous one while
/// its grace period lasts.
pub fn signing_keys(sealer: &Sealer, d: &Destination) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    if let Some(k) = d.secret.as_deref().and_then(|s| send::open_key(sealer, s)) {
        keys.push(k);
    }
    if d.previous_expires_at.is_some_and(|t| t > now_micros()) {
        if let Some(k) = d
            .previous_secret
            .as_deref()
            .and_then(|s| send::open_key(sealer, s))
        {
            keys.push(k);
        }
    }
    keys
}

/// A fresh Standard Webhooks secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Writes finished attempts in batches; retries a failed write (the claims hold
/// the messages meanwhile) and wakes the dispatcher after each commit, because a
/// finished message may unblock the next one in its order.
async fn finisher(
    store: Arc<dyn Store>,
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<FinishedAttempt>>>,
    wake: Arc<Notify>,
    settle: Arc<SettleShared>,
    stop: CancellationToken,
) {
    let mut rx = rx.lock().await;
    let mut buf = Vec::with_capacity(1024);
    while rx.recv_many(&mut buf, 1024).await > 0 {
        let mut backoff = Duration::from_millis(50);
        loop {
            match store.finish_deliveries(&buf).await {
                Ok(()) => break,
                Err(e) if stop.is_cancelled() => {
                    // Stopping with a store that does not answer: give up. The
                    // claims run out and the messages are sent again (at least once).
                    tracing::warn!(error = %e, n = buf.len(), "could not record attempts while stopping");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, n = buf.len(), "recording attempts failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        settle
            .recorded
            .fetch_add(buf.len() as u64, Ordering::SeqCst);
        buf.clear();
        wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_band() {
        let d = Duration::from_secs(100);
        for _ in 0..1000 {
            let j = jitter(d, 0.2);
            assert!(
                j >= Duration::from_secs(80) && j <= Duration::from_secs(120),
                "{j:?}"
            );
        }
        assert_eq!(jitter(Duration::ZERO, 0.2), Duration::ZERO);
    }

    #[test]
    fn the_schedule_runs_out_into_the_dead_letter() {
        let cfg = DeliveryConfig {
            retry_schedule: vec![
                Duration::ZERO,
                Duration::from_secs(5),
                Duration::from_secs(300),
            ],
            ..DeliveryConfig::default()
        };
        match next_attempt(&cfg, 1, None) {
            AttemptOutcome::Retry { in_micros: d } => {
                assert!((4_000_000..=6_000_000).contains(&d), "{d}");
            }
            o => panic!("{o:?}"),
        }
        match next_attempt(&cfg, 2, Some(Duration::from_secs(1))) {
            AttemptOutcome::Retry { in_micros: d } => {
                assert_eq!(d, 1_000_000, "Retry-After wins");
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(next_attempt(&cfg, 3, None), AttemptOutcome::Dead);
    }

    #[test]
    fn secrets_are_standard_webhooks_secrets() {
        let s = new_secret();
        let key = switchyard_core::sig::standard_secret_key(&s).unwrap();
        assert_eq!(key.len(), 32);
        assert_ne!(s, new_secret());
    }
}
