//! The group-commit writer. Request handlers hand it their write and wait; it gathers
//! whatever has queued up while the previous transaction was committing into one
//! batch, commits it once, and only then answers each handler. One fsync so covers
//! many events, and no handler is answered before its event is durable. After each
//! commit it tells the [`Hub`] what changed, which wakes whoever waits for it.

use std::sync::Arc;

use switchyard_store::{Store, StoreError, WriteOp, WriteOutcome};
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::hub::{Changes, Hub};
use crate::supervise::Workers;

/// The most writes one transaction takes.
const MAX_BATCH: usize = 512;
/// How many writes may wait for the writer before handlers wait to enqueue.
const QUEUE: usize = 16 * 1024;

type Job = (
    WriteOp,
    oneshot::Sender<Result<WriteOutcome, Arc<StoreError>>>,
);

/// Why a write was not committed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("store: {0}")]
    Store(Arc<StoreError>),
    #[error("the writer has stopped")]
    Stopped,
}

/// A cheap handle to submit writes.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer tasks. They run until `stop` is cancelled (or every
    /// [`Writer`] handle is dropped); then they refuse new writes, commit what is
    /// queued, and end. Await the returned set to know they are done.
    pub fn spawn(
        store: Arc<dyn Store>,
        hub: Hub,
        workers: &Workers,
        stop: CancellationToken,
    ) -> (Self, JoinSet<()>) {
        let (tx, rx) = mpsc::channel::<Job>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let mut tasks = JoinSet::new();
        for i in 0..store.writer_concurrency().max(1) {
            let (store, rx, hub, s) = (store.clone(), rx.clone(), hub.clone(), stop.clone());
            let name = format!("writer-{i}");
            workers.spawn(&mut tasks, &name, stop.clone(), move || {
                run(store.clone(), rx.clone(), hub.clone(), s.clone())
            });
        }
        (Self { tx }, tasks)
    }

    /// Writes `op` and returns once it is committed.
    pub async fn submit(&self, op: WriteOp) -> Result<WriteOutcome, WriteError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send((op, done))
            .await
            .map_err(|_| WriteError::Stopped)?;
        match wait.await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(e)) => Err(WriteError::Store(e)),
            Err(_) => Err(WriteError::Stopped),
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    hub: Hub,
    stop: CancellationToken,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    loop {
        let received = {
            // Only one writer task gathers at a time; the others are committing.
            let mut rx = rx.lock().await;
            tokio::select! {
                biased;
                n = rx.recv_many(&mut batch, MAX_BATCH) => n,
                _ = stop.cancelled() => {
                    // No new writes; what is queued is still committed and answered.
                    rx.close();
                    rx.recv_many(&mut batch, MAX_BATCH).await
                }
            }
        };
        if received == 0 {
            // Closed: by the stop, or because every handle is gone (the engine was
            // dropped as the server stopped, before the stop reached the writers).
            // Nothing more can come; end with the stop, not before it — returning
            // early would read as a writer that died and be restarted.
            stop.cancelled().await;
            return;
        }
        metrics::histogram!("switchyard_write_batch_size").record(batch.len() as f64);
        let (ops, dones): (Vec<WriteOp>, Vec<_>) = batch.drain(..).unzip();
        match store.write_batch(&ops).await {
            Ok(outcomes) => {
                // Wake waiters before answering, so work is visible to them by the
                // time the request that made it is acknowledged.
                hub.notify(Changes::of_batch(&ops, &outcomes));
                for (done, outcome) in dones.into_iter().zip(outcomes) {
                    let _ = done.send(Ok(outcome));
                }
            }
            Err(e) if ops.len() > 1 => {
                // One bad write must not fail its neighbours: retry each alone.
                tracing::warn!(error = %e, size = ops.len(), "batch failed; retrying its writes one by one");
                for (op, done) in ops.iter().zip(dones) {
                    let one = std::slice::from_ref(op);
                    let result = store.write_batch(one).await.map_err(Arc::new);
                    if let Ok(outcomes) = &result {
                        hub.notify(Changes::of_batch(one, outcomes));
                    }
                    let result = result.and_then(|mut o| {
                        o.pop()
                            .ok_or_else(|| Arc::new(StoreError::Corrupt("no outcome".into())))
                    });
                    let _ = done.send(result);
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for done in dones {
                    let _ = done.send(Err(e.clone()));
                }
            }
        }
    }
}
