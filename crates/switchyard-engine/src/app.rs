//! The [`Engine`] handle and its start-up and shutdown.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use switchyard_store::{Sealer, Store};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::{Result, StartError};
use crate::hub::Hub;
use crate::protect::Protections;
use crate::supervise::Workers;
use crate::workflows::Workflows;
use crate::writer::Writer;
use crate::{config_dir, delivery, keys, outbox, plan, registry, replicas, workflows_dir};

/// The application: a cheap handle every caller (HTTP handlers, the CLI, timers)
/// shares.
#[derive(Clone)]
pub struct Engine {
    pub store: Arc<dyn Store>,
    pub writer: Writer,
    pub config: Arc<Config>,
    pub sealer: Sealer,
    /// The keys known without the store (admin, `WEBHOOK_API_KEY`) and the task
    /// token key; see [`crate::access`].
    pub access: keys::Access,
    /// Registered webhooks, compiled.
    pub registry: registry::Registry,
    /// Workflows, parsed and validated (the folder's and the API's).
    pub workflows: crate::workflows::Workflows,
    /// Wakes whoever waits for committed work.
    pub hub: Hub,
    /// Builds every outbound message.
    pub outbox: outbox::Outbox,
    /// The delivery engine's handle.
    pub deliveries: delivery::Handle,
    /// The supervised background workers and their health.
    pub workers: Workers,
    /// The client `http` nodes of workflow runs send with.
    pub runs_http: crate::runs::HttpNodes,
    /// The LLM client of workflow runs' `llm` nodes.
    pub llm: crate::llm::LlmClient,
    /// Where finished runs' traces go (OpenTelemetry; off without an endpoint).
    pub traces: crate::otlp::TraceExporter,
    /// Allow-lists, rate limits and the refusal cap (see [`crate::protect`]).
    pub protections: Arc<Protections>,
    /// The delivery queue's depth per minute, as the "metrics" worker read it
    /// (see [`crate::activity`]).
    pub queue_samples: crate::telemetry::QueueSamples,
}

/// The engine's background work, stopped in order by [`Background::stop`].
pub struct Background {
    loops: JoinSet<()>,
    stop_loops: CancellationToken,
    delivery: JoinSet<()>,
    stop_delivery: CancellationToken,
    writer: JoinSet<()>,
    stop_writer: CancellationToken,
}

impl Engine {
    /// Starts the engine on an open, migrated store: bootstraps the admin and master
    /// keys, loads the registries (webhooks: store and config folder; workflows:
    /// store and workflows folder) and starts the writer, the delivery engine, the
    /// folder watches and the exchange with other replicas.
    pub async fn start(
        config: Config,
        store: Arc<dyn Store>,
    ) -> Result<(Self, Background), StartError> {
        let admin = keys::KeyHash::bootstrap(
            store.as_ref(),
            config.admin_key.as_ref().map(ExposeSecret::expose_secret),
            &config.data_dir,
        )
        .await?;
        let sealer = keys::load_sealer(
            config.secret_key.as_ref().map(ExposeSecret::expose_secret),
            &config.data_dir,
        )?;
        let access = keys::Access::new(
            admin,
            config
                .webhook_api_key
                .as_ref()
                .map(|k| keys::KeyHash::from_key(k.expose_secret())),
            &sealer,
        );
        let hub = Hub::default();
        let workers = Workers::default();
        let stop_writer = CancellationToken::new();
        let (writer, writer_tasks) =
            Writer::spawn(store.clone(), hub.clone(), &workers, stop_writer.clone());
        let registry = registry::Registry::default();
        let stop_delivery = CancellationToken::new();
        let (deliveries, delivery_tasks) = delivery::Handle::spawn(
            store.clone(),
            registry.clone(),
            sealer.clone(),
            config.delivery.clone(),
            config.notify.clone(),
            hub.outbox_notify(),
            &workers,
            stop_delivery.clone(),
        )?;
        registry.refresh_stored(store.as_ref(), &sealer).await?;
        if let Some(dir) = &config.config_dir {
            std::fs::create_dir_all(dir)?;
            config_dir::load(dir, &registry);
        }
        if let Some(dir) = &config.workflows_dir {
            std::fs::create_dir_all(dir)?;
        }
        let workflows = Workflows::new(config.workflows_dir.clone());
        workflows_dir::reload_stored(&workflows, store.as_ref()).await?;
        let outbox = outbox::Outbox::new(&config, registry.clone());
        let runs_http = crate::runs::HttpNodes::new(&config.delivery)?;
        let traces = crate::otlp::TraceExporter::from_config(&config);
        let llm = crate::llm::LlmClient::new(&config.llm)?;
        let protections = Arc::new(Protections::new(
            config.trusted_proxies.clone(),
            config.rate_limit,
            config.rejections_per_minute,
        ));
        let engine = Self {
            store,
            writer,
            config: Arc::new(config),
            sealer,
            access,
            registry,
            workflows,
            hub,
            outbox,
            deliveries,
            workers,
            runs_http,
            llm,
            traces,
            protections,
            queue_samples: crate::telemetry::QueueSamples::default(),
        };
        let stop_loops = CancellationToken::new();
        let mut loops = JoinSet::new();
        if let Some(dir) = engine.config.config_dir.clone() {
            let (registry, stop) = (engine.registry.clone(), stop_loops.clone());
            engine
                .workers
                .spawn(&mut loops, "config-watch", stop.clone(), move || {
                    config_dir::watch(
                        dir.clone(),
                        registry.clone(),
                        stop.clone(),
                        Duration::from_secs(1),
                    )
                });
        }
        if let Some(dir) = engine.config.workflows_dir.clone() {
            let (workflows, stop) = (engine.workflows.clone(), stop_loops.clone());
            engine
                .workers
                .spawn(&mut loops, "workflows-watch", stop.clone(), move || {
                    workflows_dir::watch(
                        dir.clone(),
                        workflows.clone(),
                        stop.clone(),
                        Duration::from_secs(1),
                    )
                });
        }
        {
            // What other replicas (and the CLI) commit: wake-ups, webhook and
            // workflow changes.
            let replica = replicas::Replica {
                store: engine.store.clone(),
                registry: engine.registry.clone(),
                workflows: engine.workflows.clone(),
                sealer: engine.sealer.clone(),
                hub: engine.hub.clone(),
                deliveries: engine.deliveries.clone(),
            };
            let stop = stop_loops.clone();
            engine
                .workers
                .spawn(&mut loops, "replicas", stop.clone(), move || {
                    replicas::run(replica.clone(), stop.clone())
                });
        }
        {
            let (e, stop) = (engine.clone(), stop_loops.clone());
            engine
                .workers
                .spawn(&mut loops, "retention", stop.clone(), move || {
                    e.clone().run_retention(stop.clone())
                });
        }
        {
            // Every family has its series from the start, and the gauges their
            // value before the first scrape.
            engine.zero_series();
            if let Err(e) = engine.sample_gauges().await {
                tracing::warn!(error = %e.message, "cannot read the metrics gauges");
            }
            let (e, stop) = (engine.clone(), stop_loops.clone());
            engine
                .workers
                .spawn(&mut loops, "metrics", stop.clone(), move || {
                    e.clone().run_metrics(stop.clone())
                });
        }
        {
            let (e, stop) = (engine.clone(), stop_loops.clone());
            engine
                .workers
                .spawn(&mut loops, "checkpoint-timers", stop.clone(), move || {
                    run_timers(e.clone(), stop.clone())
                });
        }
        {
            let (e, stop) = (engine.clone(), stop_loops.clone());
            engine
                .workers
                .spawn(&mut loops, "workflow-runner", stop.clone(), move || {
                    crate::runs::runner::run(e.clone(), stop.clone())
                });
        }
        let background = Background {
            loops,
            stop_loops,
            delivery: delivery_tasks,
            stop_delivery,
            writer: writer_tasks,
            stop_writer,
        };
        Ok((engine, background))
    }

    /// What planning needs.
    pub fn planner(&self) -> plan::Planner<'_> {
        plan::Planner {
            outbox: &self.outbox,
            registry: &self.registry,
            workflows: &self.workflows,
            run_timeout: self.config.runs.run_timeout,
        }
    }

    /// Runs the delivery work that is due now and waits until its attempts are
    /// recorded; false if that took longer than `timeout`. See
    /// [`delivery::Handle::settle`]: tests use it instead of sleeping.
    pub async fn settle(&self, timeout: Duration) -> bool {
        self.deliveries.settle(timeout).await
    }

    /// Writes `effects` (work made outside ingest) and returns once committed; the
    /// hub wakes whoever waits for it.
    pub async fn commit_effects(&self, effects: Vec<switchyard_store::Effect>) -> Result<()> {
        self.writer
            .submit(switchyard_store::WriteOp::Effects(effects))
            .await?;
        Ok(())
    }
}

/// The "checkpoint-timers" worker: fires due timers, then sleeps until the next
/// one is due, a checkpoint changes (a new one may have an earlier timer), or stop.
async fn run_timers(engine: Engine, stop: CancellationToken) {
    const MAX_NAP: Duration = Duration::from_secs(60);
    loop {
        let changed = engine.hub.checkpoints_changed();
        if let Err(e) = engine.fire_due_timers().await {
            tracing::warn!(error = %e.message, "checkpoint timers failed; trying again");
        }
        let nap = match engine.store.next_timer_in().await {
            Ok(Some(us)) => Duration::from_micros(u64::try_from(us).unwrap_or(0)).min(MAX_NAP),
            Ok(None) => MAX_NAP,
            Err(e) => {
                tracing::warn!(error = %e, "checkpoint timers: cannot read the next due time");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = changed => {},
            _ = tokio::time::sleep(nap) => {},
        }
    }
}

impl Background {
    /// Stops the background work after the last request was answered: the watches,
    /// then the delivery engine (attempts under way finish and are recorded; queued
    /// messages go back), then the writer (it commits anything still queued).
    pub async fn stop(mut self) {
        tracing::debug!("stopping the watches and the replica exchange");
        self.stop_loops.cancel();
        while self.loops.join_next().await.is_some() {}
        tracing::debug!("stopping the delivery engine");
        self.stop_delivery.cancel();
        while self.delivery.join_next().await.is_some() {}
        tracing::debug!("stopping the writer");
        self.stop_writer.cancel();
        while self.writer.join_next().await.is_some() {}
        tracing::debug!("background work stopped");
    }
}
