//! The wake-up hub: the one place that wakes whoever waits for committed work.
//!
//! After a commit, the writer (or the service that committed outside it, such as a
//! task completion) reports what changed as [`Changes`]; the hub wakes the matching
//! waiters — agents long-polling for tasks, the delivery engine, question waits. No
//! request handler has to remember which `Notify` to poke.
//!
//! Waiters on this process are woken at once. Work committed by another replica is
//! not seen here, so every long-poll also looks again after a fallback interval
//! (`Config::wait_fallback`).

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
}

impl Changes {
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
                Effect::Question(_) => {}
            }
        }
    }
}

/// Shared, cheap to clone.
#[derive(Clone, Default)]
pub struct Hub {
    tasks: Arc<Notify>,
    outbox: Arc<Notify>,
    events: Arc<Notify>,
}

impl Hub {
    /// Wakes whoever waits for what `changes` names.
    pub fn notify(&self, changes: Changes) {
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

    /// The delivery engine's wake-up.
    pub fn outbox_notify(&self) -> Arc<Notify> {
        self.outbox.clone()
    }
}
