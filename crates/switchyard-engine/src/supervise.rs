//! Supervised background workers: a worker that panics (or returns while the
//! engine is running) is logged, counted in `switchyard_worker_restarts_total`,
//! reported down in [`Workers`] (so `/healthz` answers 503 naming it) and started
//! again after a back-off, until the engine stops.
//!
//! A worker is given as a factory, so each restart builds it afresh from what
//! outlives it (queues, shared counters): see the writer and the delivery engine.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The first wait before a restart; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait before a restart.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A worker that ran this long before failing starts again at [`FIRST_BACKOFF`].
const STABLE_AFTER: Duration = Duration::from_secs(60);

/// How one worker is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerHealth {
    /// Running now (false while it waits to be restarted).
    pub up: bool,
    /// How many times it failed and was restarted.
    pub restarts: u64,
    /// Why it last failed: the panic message, or that it returned.
    pub last_failure: Option<String>,
}

/// Every supervised worker of this process, by name.
#[derive(Clone, Default)]
pub struct Workers {
    inner: Arc<Mutex<BTreeMap<String, WorkerHealth>>>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.snapshot()).finish()
    }
}

impl Workers {
    /// Every worker and its health, by name.
    pub fn snapshot(&self) -> BTreeMap<String, WorkerHealth> {
        self.lock().clone()
    }

    /// The names of the workers that are down now.
    pub fn down(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, h)| !h.up)
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, WorkerHealth>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_up(&self, name: &str) {
        self.lock()
            .entry(name.to_owned())
            .or_insert(WorkerHealth {
                up: true,
                restarts: 0,
                last_failure: None,
            })
            .up = true;
    }

    fn set_down(&self, name: &str, why: String) {
        let mut all = self.lock();
        let h = all.entry(name.to_owned()).or_insert(WorkerHealth {
            up: false,
            restarts: 0,
            last_failure: None,
        });
        h.up = false;
        h.restarts += 1;
        h.last_failure = Some(why);
    }

    /// Runs the worker `make` builds in `set` under supervision until `stop` is
    /// cancelled: each time it panics, or returns before `stop`, it is logged,
    /// counted, reported down, and built and started again after a back-off.
    ///
    /// A worker is expected to return once `stop` is cancelled; supervision ends
    /// with it.
    pub fn spawn<F, Fut>(
        &self,
        set: &mut JoinSet<()>,
        name: &str,
        stop: CancellationToken,
        mut make: F,
    ) where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (workers, name) = (self.clone(), name.to_owned());
        workers.set_up(&name);
        set.spawn(async move {
            let mut backoff = FIRST_BACKOFF;
            loop {
                workers.set_up(&name);
                let started = Instant::now();
                let why = match tokio::spawn(make()).await {
                    Ok(()) if stop.is_cancelled() => return,
                    Ok(()) => "it returned while the engine was running".to_owned(),
                    Err(e) if e.is_panic() => panic_message(e.into_panic()),
                    // Cancelled: the runtime is shutting down.
                    Err(_) => return,
                };
                if stop.is_cancelled() {
                    tracing::error!(worker = %name, reason = %why, "background worker failed while stopping");
                    return;
                }
                if started.elapsed() >= STABLE_AFTER {
                    backoff = FIRST_BACKOFF;
                }
                tracing::error!(worker = %name, reason = %why, restart_in_ms = backoff.as_millis() as u64,
                    "background worker failed; restarting it");
                metrics::counter!("switchyard_worker_restarts_total", "worker" => name.clone())
                    .increment(1);
                workers.set_down(&name, why);
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        });
    }
}

/// The text of a panic's payload.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use tokio::sync::Notify;

    use super::*;

    #[tokio::test]
    async fn a_panicking_worker_is_reported_down_and_restarted() {
        let workers = Workers::default();
        let stop = CancellationToken::new();
        let mut set = JoinSet::new();
        let runs = Arc::new(AtomicU32::new(0));
        let second_run = Arc::new(Notify::new());
        let (r, n, s) = (runs.clone(), second_run.clone(), stop.clone());
        workers.spawn(&mut set, "flaky", stop.clone(), move || {
            let (r, n, s) = (r.clone(), n.clone(), s.clone());
            async move {
                if r.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("first run fails");
                }
                n.notify_one();
                s.cancelled().await;
            }
        });
        tokio::time::timeout(Duration::from_secs(10), second_run.notified())
            .await
            .expect("the worker is started again");
        let h = &workers.snapshot()["flaky"];
        assert!(h.up, "{h:?}");
        assert_eq!(h.restarts, 1);
        assert_eq!(h.last_failure.as_deref(), Some("panicked: first run fails"));
        assert!(workers.down().is_empty());
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), set.join_next())
            .await
            .expect("supervision ends when stopped");
    }

    #[tokio::test(start_paused = true)]
    async fn a_worker_that_keeps_failing_stays_down_between_restarts() {
        let workers = Workers::default();
        let stop = CancellationToken::new();
        let mut set = JoinSet::new();
        let runs = Arc::new(AtomicU32::new(0));
        let r = runs.clone();
        workers.spawn(&mut set, "broken", stop.clone(), move || {
            r.fetch_add(1, Ordering::SeqCst);
            async {}
        });
        // Paused time: the back-off sleeps advance only as the runtime idles.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(workers.down(), vec!["broken".to_owned()]);
        let h = &workers.snapshot()["broken"];
        assert_eq!(
            h.last_failure.as_deref(),
            Some("it returned while the engine was running")
        );
        // Runs at 0, 0.1, 0.3, 0.7, 1.5 and 3.1 s; the next would be at 6.3 s.
        assert_eq!(runs.load(Ordering::SeqCst), 6);
        stop.cancel();
        set.join_next().await;
    }
}
