//! The wake-up hub: the one place that wakes whoever waits for committed work.
//!
//! After a commit, the writer (or the service that committed outside it, such as a
//! task completion) reports what changed as [`Changes`]; the hub wakes the matching
//! waiters — agents long-polling for tasks, the delivery engine, question waits. No
//! request handler has to remember which `Notify` to poke.
//!
//! Waiters on this process are woken at once. What this process committed is also
//! queued for the other replicas ([`Hub::outgoing`]); [`crate::replicas`] sends it
//! (PostgreSQL `NOTIFY`) and turns theirs into [`Hub::wake`]. On SQLite, and for
//! anything a lost connection missed, every long-poll also looks again after a
//! fallback interval (`Config::wait_fallback`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use switchyard_store::{Effect, WriteOp, WriteOutcome};
use tokio::sync::futures::Notified;
use tokio::sync::Notify;

/// What a commit changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Changes {
    /// Tasks were created or put back in a queue.
    pub tasks: bool,
    /// Outbound messages were created or made due.
    pub outbox: bool,
    /// Events were stored (they may have answered questions).
    pub events: bool,
    /// Checkpoints were decided, expired or cancelled (or voted on).
    pub checkpoints: bool,
    /// Workflow runs were created, moved or woken.
    pub runs: bool,
}

impl Changes {
    /// Everything: what to wake when another replica's news may have been missed.
    pub const ALL: Self = Self {
        tasks: true,
        outbox: true,
        events: true,
        checkpoints: true,
        runs: true,
    };

    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The changes as words, for other replicas: `tasks`, `outbox`, `events`,
    /// `checkpoints`, `runs`.
    pub fn words(&self) -> impl Iterator<Item = &'static str> {
        [
            (self.tasks, "tasks"),
            (self.outbox, "outbox"),
            (self.events, "events"),
            (self.checkpoints, "checkpoints"),
            (self.runs, "runs"),
        ]
        .into_iter()
        .filter_map(|(on, w)| on.then_some(w))
    }

    /// The change one of [`Changes::words`] names; `None` for another word.
    pub fn from_word(word: &str) -> Option<Self> {
        let mut c = Self::default();
        match word {
            "tasks" => c.tasks = true,
            "outbox" => c.outbox = true,
            "events" => c.events = true,
            "checkpoints" => c.checkpoints = true,
            "runs" => c.runs = true,
            _ => return None,
        }
        Some(c)
    }

    fn bits(self) -> u8 {
        u8::from(self.tasks)
            | u8::from(self.outbox) << 1
            | u8::from(self.events) << 2
            | u8::from(self.checkpoints) << 3
            | u8::from(self.runs) << 4
    }

    fn from_bits(b: u8) -> Self {
        Self {
            tasks: b & 1 != 0,
            outbox: b & 2 != 0,
            events: b & 4 != 0,
            checkpoints: b & 8 != 0,
            runs: b & 16 != 0,
        }
    }

    /// What a batch of writes changed, judged by its outcomes: a redelivered event
    /// changed nothing.
    pub fn of_batch(ops: &[WriteOp], outcomes: &[WriteOutcome]) -> Self {
        let mut c = Self::default();
        for (op, outcome) in ops.iter().zip(outcomes) {
            match (op, outcome) {
                (
                    WriteOp::Event(e),
                    WriteOutcome::Event {
                        duplicate: false, ..
                    },
                ) => {
                    c.events = true;
                    c.add_effects(&e.effects);
                }
                (WriteOp::Effects(list), _) => c.add_effects(list),
                (WriteOp::Run(w), WriteOutcome::Run { applied: true }) => {
                    c.runs = true;
                    c.add_effects(&w.effects);
                }
                _ => {}
            }
        }
        c
    }

    /// What writing `effects` changed.
    pub fn of_effects(effects: &[Effect]) -> Self {
        let mut c = Self::default();
        c.add_effects(effects);
        c
    }

    fn add_effects(&mut self, effects: &[Effect]) {
        for e in effects {
            match e {
                Effect::Task(_) => self.tasks = true,
                Effect::Outbox(_) => self.outbox = true,
                // The stream's readers wait on checkpoint, task and event
                // changes, which are what write notices.
                Effect::Run(_) | Effect::WakeRuns(_) => self.runs = true,
                Effect::Question(_) | Effect::Notice(_) | Effect::Audit(_) => {}
            }
        }
    }
}

impl std::ops::BitOrAssign for Changes {
    fn bitor_assign(&mut self, rhs: Self) {
        *self = Self::from_bits(self.bits() | rhs.bits());
    }
}

/// Shared, cheap to clone.
#[derive(Clone, Default)]
pub struct Hub {
    tasks: Arc<Notify>,
    outbox: Arc<Notify>,
    events: Arc<Notify>,
    checkpoints: Arc<Notify>,
    /// The runner: one waiter that may be busy, so a wake-up keeps a permit.
    runner: Arc<Notify>,
    /// Whoever waits for a run to move (`?wait`, a run's long-poll).
    runs: Arc<Notify>,
    /// The long-polls waiting on one checkpoint, by id: a decision here wakes only
    /// the waits for its checkpoint, not every wait (each of which would read its
    /// checkpoint again).
    checkpoint_waits: Arc<std::sync::Mutex<HashMap<String, Arc<Notify>>>>,
    outgoing: Arc<Outgoing>,
    /// Cancelled when the server stops accepting: long-polls answer at once with
    /// what they have, so a graceful stop never waits out a 60 s wait.
    closing: tokio_util::sync::CancellationToken,
    /// Long-polls waiting now.
    waiting: Arc<std::sync::atomic::AtomicUsize>,
}

/// Counts a long-poll as waiting while it lives (see [`Hub::waiting`]).
pub struct Waiting(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What this process committed that other replicas have not been told yet, merged.
#[derive(Default)]
struct Outgoing {
    bits: AtomicU8,
    ready: Notify,
}

/// A long-poll's interest in one checkpoint (see [`Hub::watch_checkpoint`]); the
/// entry is removed when the last watcher of that checkpoint is dropped.
pub struct CheckpointWatch {
    id: String,
    notify: Arc<Notify>,
    waits: Arc<std::sync::Mutex<HashMap<String, Arc<Notify>>>>,
}

impl CheckpointWatch {
    /// Resolves when this checkpoint changes (here), or any checkpoint on another
    /// replica. Create it before looking, as with [`Hub::checkpoints_changed`].
    pub fn changed(&self) -> Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for CheckpointWatch {
    fn drop(&mut self) {
        let mut waits = self.waits.lock().unwrap_or_else(|e| e.into_inner());
        // The map's reference and this one: nobody else watches it.
        if Arc::strong_count(&self.notify) <= 2 {
            waits.remove(&self.id);
        }
    }
}

impl Hub {
    /// Wakes whoever waits for what `changes` names, here and (through
    /// [`Hub::outgoing`]) on the other replicas.
    pub fn notify(&self, changes: Changes) {
        self.wake_local(changes);
        if !changes.is_empty() {
            self.outgoing
                .bits
                .fetch_or(changes.bits(), Ordering::SeqCst);
            // One sender; a permit is kept if it is busy sending.
            self.outgoing.ready.notify_one();
        }
    }

    /// What this process committed since the last call, merged, once there is
    /// something: for the one task that tells the other replicas.
    pub async fn outgoing(&self) -> Changes {
        loop {
            let bits = self.outgoing.bits.swap(0, Ordering::SeqCst);
            if bits != 0 {
                return Changes::from_bits(bits);
            }
            self.outgoing.ready.notified().await;
        }
    }

    /// The server is stopping: every long-poll answers now, and new ones do not
    /// wait.
    pub fn close(&self) {
        self.closing.cancel();
    }

    /// Marks a long-poll as waiting until the returned guard is dropped.
    pub fn wait_started(&self) -> Waiting {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        Waiting(self.waiting.clone())
    }

    /// How many long-polls are waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Resolves once [`Hub::close`] was called.
    pub fn closing(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.closing.cancelled()
    }

    /// Watches one checkpoint: for a long-poll on it.
    pub fn watch_checkpoint(&self, id: &str) -> CheckpointWatch {
        let mut waits = self
            .checkpoint_waits
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let notify = waits.entry(id.to_owned()).or_default().clone();
        CheckpointWatch {
            id: id.to_owned(),
            notify,
            waits: self.checkpoint_waits.clone(),
        }
    }

    /// Checkpoint `id` changed here: wakes its watchers, and (as [`Hub::notify`]
    /// with `changes`) the rest.
    pub fn checkpoint_changed(&self, id: &str, changes: Changes) {
        let one = self
            .checkpoint_waits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned();
        if let Some(n) = one {
            n.notify_waiters();
        }
        self.notify(changes);
    }

    /// Wakes this process's waiters only: for what another replica committed,
    /// which does not say which checkpoint changed, so every checkpoint watcher
    /// looks again.
    pub fn wake(&self, changes: Changes) {
        self.wake_local(changes);
        if changes.checkpoints {
            let all: Vec<Arc<Notify>> = self
                .checkpoint_waits
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .cloned()
                .collect();
            for n in all {
                n.notify_waiters();
            }
        }
    }

    fn wake_local(&self, changes: Changes) {
        if changes.tasks {
            self.tasks.notify_waiters();
        }
        if changes.outbox {
            // The delivery engine is one waiter that may be busy: keep a permit.
            self.outbox.notify_one();
        }
        if changes.events {
            self.events.notify_waiters();
        }
        if changes.checkpoints {
            self.checkpoints.notify_waiters();
        }
        if changes.runs {
            self.runner.notify_one();
            self.runs.notify_waiters();
        }
    }

    /// Resolves when tasks are next created or requeued. Create it before looking,
    /// so work committed in between still wakes the caller.
    pub fn tasks_changed(&self) -> Notified<'_> {
        self.tasks.notified()
    }

    /// Resolves when events are next stored.
    pub fn events_changed(&self) -> Notified<'_> {
        self.events.notified()
    }

    /// Resolves when a checkpoint next changes (here or on another replica).
    pub fn checkpoints_changed(&self) -> Notified<'_> {
        self.checkpoints.notified()
    }

    /// Resolves when a run next moves (here or on another replica). Create it
    /// before looking.
    pub fn runs_changed(&self) -> Notified<'_> {
        self.runs.notified()
    }

    /// The runner's wake-up: runs were created, moved or woken (a permit is kept
    /// while the runner is busy).
    pub fn runner_notify(&self) -> Arc<Notify> {
        self.runner.clone()
    }

    /// The delivery engine's wake-up.
    pub fn outbox_notify(&self) -> Arc<Notify> {
        self.outbox.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;

    fn ready(f: std::pin::Pin<&mut Notified<'_>>) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        matches!(f.poll(&mut cx), Poll::Ready(()))
    }

    #[test]
    fn a_decision_wakes_only_its_checkpoints_waits() {
        let hub = Hub::default();
        let a = hub.watch_checkpoint("a");
        let b = hub.watch_checkpoint("b");
        let checkpoints = Changes {
            checkpoints: true,
            ..Changes::default()
        };
        {
            let mut wa = pin!(a.changed());
            let mut wb = pin!(b.changed());
            hub.checkpoint_changed("b", checkpoints);
            assert!(!ready(wa.as_mut()), "a's wait is left alone");
            assert!(ready(wb.as_mut()));
            // Another replica's change names no checkpoint: every wait looks again.
            let mut wb = pin!(b.changed());
            hub.wake(checkpoints);
            assert!(ready(wa.as_mut()) && ready(wb.as_mut()));
        }
        // The last watcher gone, its entry goes too.
        let a2 = hub.watch_checkpoint("a");
        drop(a);
        assert_eq!(hub.checkpoint_waits.lock().unwrap().len(), 2);
        drop(a2);
        drop(b);
        assert!(hub.checkpoint_waits.lock().unwrap().is_empty());
    }

    #[test]
    fn changes_travel_as_words() {
        for bits in 0..32 {
            let c = Changes::from_bits(bits);
            let mut back = Changes::default();
            for w in c.words() {
                back |= Changes::from_word(w).expect("a word of ours");
            }
            assert_eq!(back, c);
        }
        assert_eq!(Changes::from_word("registry"), None);
    }

    #[tokio::test]
    async fn outgoing_changes_are_merged_until_taken() {
        let hub = Hub::default();
        hub.notify(Changes {
            tasks: true,
            ..Changes::default()
        });
        hub.notify(Changes {
            events: true,
            ..Changes::default()
        });
        hub.notify(Changes::default());
        assert_eq!(
            hub.outgoing().await,
            Changes {
                tasks: true,
                events: true,
                ..Changes::default()
            }
        );
        // Taken: the next call waits for the next commit.
        let next = tokio::time::timeout(std::time::Duration::from_millis(50), hub.outgoing());
        assert!(next.await.is_err());
        hub.notify(Changes::ALL);
        assert_eq!(hub.outgoing().await, Changes::ALL);
    }
}
