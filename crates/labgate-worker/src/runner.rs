//! Claiming, running and finishing jobs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use labgate_core::Services;
use labgate_core::jobs::{Failure, Job, JobKind, JobSpec, Progress, retry_delay};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Names this worker in leases; unique per process.
    pub owner: String,
    /// Jobs run at once by this process.
    pub concurrency: usize,
    /// How long a claim holds before another worker may take the job.
    pub lease: Duration,
    /// How often a running job's lease is renewed; well under `lease`.
    pub heartbeat: Duration,
    /// Pause between claims when the queue is empty.
    pub poll_interval: Duration,
    /// How long shutdown waits for running jobs before cancelling them.
    pub shutdown_timeout: Duration,
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// Finished jobs are deleted this long after they finished.
    pub job_retention: Duration,
    /// Audit entries are deleted this long after they were written.
    pub audit_retention: Duration,
    /// Finished webhook deliveries are deleted this long after they were queued.
    pub delivery_retention: Duration,
    /// How often the prune job runs.
    pub prune_interval: Duration,
    /// Connection events are deleted this long after they were written.
    pub event_retention: Duration,
    /// Time between connection health sweeps (jittered ±10%).
    pub health_interval: Duration,
    /// Time between looks for OAuth connections whose proactive refresh is due (jittered ±10%).
    pub refresh_interval: Duration,
    /// Time between full scans of a data source with automatic scans on
    /// (`LABGATE_SCAN_INTERVAL`).
    pub scan_interval: Duration,
    /// Time between full syncs of an access source (`LABGATE_ACCESS_SYNC_INTERVAL`).
    pub access_sync_interval: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            owner: format!("worker-{}", std::process::id()),
            concurrency: 4,
            lease: Duration::from_secs(60),
            heartbeat: Duration::from_secs(15),
            poll_interval: Duration::from_millis(500),
            shutdown_timeout: Duration::from_secs(30),
            retry_base: Duration::from_secs(5),
            retry_cap: Duration::from_secs(3_600),
            job_retention: Duration::from_secs(7 * 24 * 3_600),
            audit_retention: Duration::from_secs(365 * 24 * 3_600),
            delivery_retention: Duration::from_secs(30 * 24 * 3_600),
            prune_interval: Duration::from_secs(3_600),
            event_retention: Duration::from_secs(365 * 24 * 3_600),
            health_interval: Duration::from_secs(6 * 3_600),
            refresh_interval: Duration::from_secs(60),
            scan_interval: Duration::from_secs(24 * 3_600),
            access_sync_interval: Duration::from_secs(24 * 3_600),
        }
    }
}

/// Why a job attempt failed. Messages are stored on the job and shown by the API: never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    pub message: String,
    /// False when trying again cannot help (bad payload, a resource that is gone).
    pub retryable: bool,
}

impl JobFailure {
    pub fn retry(message: impl Into<String>) -> JobFailure {
        JobFailure {
            message: message.into(),
            retryable: true,
        }
    }

    pub fn permanent(message: impl Into<String>) -> JobFailure {
        JobFailure {
            message: message.into(),
            retryable: false,
        }
    }
}

/// What a successful run asks for next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobOutcome {
    /// Queue the same job again after this long (recurring jobs).
    pub run_again_after: Option<Duration>,
}

/// What a handler gets: the job, a way to report progress, and a signal to stop at the next safe
/// point when the process shuts down.
pub struct JobContext {
    pub job: Job,
    pub cancel: CancellationToken,
    services: Services,
    owner: String,
}

impl JobContext {
    /// Records progress; the API, the CLI and the UI show it.
    pub async fn progress(&self, done: u64, total: Option<u64>, phase: Option<&str>) {
        let progress = Progress {
            done,
            total,
            phase: phase.map(str::to_owned),
        };
        if let Err(error) = self
            .services
            .jobs
            .progress(&self.job.id, &self.owner, &progress)
            .await
        {
            tracing::warn!(job_id = %self.job.id, error = %error, "could not record job progress");
        }
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// The name this worker holds leases under.
    pub fn owner(&self) -> &str {
        &self.owner
    }
}

pub trait JobHandler: Send + Sync + 'static {
    fn kind(&self) -> JobKind;
    fn run<'a>(&'a self, context: &'a JobContext) -> BoxFuture<'a, Result<JobOutcome, JobFailure>>;
}

/// What happened to one claimed job (tests and `run_once` callers read it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    Succeeded {
        id: String,
    },
    Retrying {
        id: String,
        error: String,
    },
    Failed {
        id: String,
        error: String,
    },
    /// The lease was lost while running; another worker owns the job now.
    LeaseLost {
        id: String,
    },
}

/// The built-in handlers; `http` sends webhook deliveries (see [`crate::delivery_client`]).
pub fn default_handlers(
    settings: &WorkerSettings,
    http: labgate_gitlab::GuardedHttp,
) -> Vec<Arc<dyn JobHandler>> {
    vec![
        Arc::new(crate::handlers::MaintenancePrune {
            job_retention: settings.job_retention,
            audit_retention: settings.audit_retention,
            delivery_retention: settings.delivery_retention,
            event_retention: settings.event_retention,
            interval: settings.prune_interval,
        }),
        Arc::new(crate::connections::ConnectionHealth {
            interval: settings.health_interval,
        }),
        Arc::new(crate::connections::ProactiveRefresh {
            interval: settings.refresh_interval,
        }),
        Arc::new(crate::connections::TokenChangeTakeover {
            kind: JobKind::ConnectionRotate,
        }),
        Arc::new(crate::connections::TokenChangeTakeover {
            kind: JobKind::ConnectionRefresh,
        }),
        Arc::new(crate::handlers::DiagnosticProbe),
        Arc::new(crate::secret_syncs::SecretSyncJob {
            kind: JobKind::SecretSyncRun,
        }),
        Arc::new(crate::secret_syncs::SecretSyncJob {
            kind: JobKind::SecretSyncImport,
        }),
        Arc::new(crate::secret_syncs::SecretSyncJob {
            kind: JobKind::SecretSyncRemove,
        }),
        Arc::new(crate::secret_scanning::SecretScanJob),
        Arc::new(crate::access_sync::AccessSyncJob),
        Arc::new(crate::access_sync::AccessHooksRemoveJob),
        Arc::new(crate::access_sync::AccessSchedule {
            interval: settings.access_sync_interval,
        }),
        Arc::new(crate::secret_scanning::ScanSchedule {
            interval: settings.scan_interval,
        }),
        Arc::new(crate::secret_scanning::SecretScanPushJob),
        Arc::new(crate::secret_scanning::SecretScanHooksRemoveJob),
        Arc::new(crate::webhooks::WebhookDelivery { http }),
    ]
}

#[derive(Clone)]
pub struct Worker {
    services: Services,
    settings: Arc<WorkerSettings>,
    handlers: Arc<HashMap<JobKind, Arc<dyn JobHandler>>>,
}

/// A standard-library duration as the domain's duration.
pub(crate) fn span(duration: Duration) -> time::Duration {
    time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
}

impl Worker {
    pub fn new(services: Services, settings: WorkerSettings, handlers: Vec<Arc<dyn JobHandler>>) -> Worker {
        let handlers = handlers
            .into_iter()
            .map(|handler| (handler.kind(), handler))
            .collect();
        Worker {
            services,
            settings: Arc::new(settings),
            handlers: Arc::new(handlers),
        }
    }

    pub fn settings(&self) -> &WorkerSettings {
        &self.settings
    }

    /// Queues the recurring jobs. Their dedupe keys keep one of each however many replicas start.
    pub async fn schedule_recurring(&self) -> labgate_core::Result<()> {
        let jobs = &self.services.jobs;
        jobs.enqueue(&JobSpec::recurring(JobKind::MaintenancePrune))
            .await?;
        // Picks up deliveries queued before a crash or restart.
        jobs.enqueue(&JobSpec::recurring(JobKind::WebhooksDeliver))
            .await?;
        jobs.enqueue(&JobSpec::recurring(JobKind::ConnectionsRefresh))
            .await?;
        jobs.enqueue(&JobSpec::recurring(JobKind::SecretScanSchedule))
            .await?;
        jobs.enqueue(&JobSpec::recurring(JobKind::AccessSchedule)).await?;
        // Finishes rotations a crash interrupted, then schedules the health sweep a few minutes
        // out (jittered) so replicas starting together do not all hit GitLab at once.
        if let Err(error) = self.services.connections.recover_journal().await {
            tracing::warn!(error = %error, "could not recover the token journal");
        }
        self.services
            .connections
            .schedule_health(time::Duration::minutes(5))
            .await
    }

    /// Runs until `shutdown` fires: claims jobs while slots are free, then waits for running jobs
    /// (up to the shutdown timeout) before cancelling what is left.
    pub async fn run(&self, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        let tracker = TaskTracker::new();
        let job_cancel = CancellationToken::new();
        tracing::info!(owner = %self.settings.owner, concurrency = self.settings.concurrency, "worker started");
        loop {
            let permit = tokio::select! {
                () = shutdown.cancelled() => break,
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            match self.claim().await {
                Ok(Some(job)) => {
                    let worker = self.clone();
                    let cancel = job_cancel.child_token();
                    tracker.spawn(async move {
                        worker.execute(job, cancel).await;
                        drop(permit);
                    });
                }
                Ok(None) => {
                    drop(permit);
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(self.settings.poll_interval) => {}
                    }
                }
                Err(error) => {
                    drop(permit);
                    tracing::warn!(error = %error, "could not claim a job; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(self.settings.poll_interval.max(Duration::from_secs(1))) => {}
                    }
                }
            }
        }
        tracker.close();
        if tokio::time::timeout(self.settings.shutdown_timeout, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("jobs still running at the shutdown timeout; asking them to stop");
            job_cancel.cancel();
            tracker.wait().await;
        }
        tracing::info!(owner = %self.settings.owner, "worker stopped");
    }

    /// Claims and runs one due job, if any. Tests use it to drive the queue without a loop.
    pub async fn run_once(&self) -> labgate_core::Result<Option<RunOutcome>> {
        match self.claim().await? {
            Some(job) => Ok(Some(self.execute(job, CancellationToken::new()).await)),
            None => Ok(None),
        }
    }

    async fn claim(&self) -> labgate_core::Result<Option<Job>> {
        self.services
            .jobs
            .claim(&self.settings.owner, span(self.settings.lease))
            .await
    }

    async fn execute(&self, job: Job, cancel: CancellationToken) -> RunOutcome {
        let id = job.id.to_string();
        let result = self.attempt(job.clone(), cancel).await;
        let owner = &self.settings.owner;
        let jobs = &self.services.jobs;
        let recorded = match &result {
            Ok(outcome) => {
                let done = jobs.complete(&job.id, owner).await;
                if matches!(done, Ok(true))
                    && let Some(after) = outcome.run_again_after
                {
                    self.run_again(&job, after).await;
                }
                done.map(|applied| (applied, RunOutcome::Succeeded { id: id.clone() }))
            }
            Err(failure) => {
                let retry = failure.retryable && job.attempts < job.max_attempts;
                let next = if retry {
                    let delay = retry_delay(
                        job.attempts,
                        span(self.settings.retry_base),
                        span(self.settings.retry_cap),
                    );
                    Failure::RetryAt(self.services.clock.now() + delay)
                } else {
                    Failure::Final
                };
                let message: String = failure.message.chars().take(2_000).collect();
                let outcome = if retry {
                    RunOutcome::Retrying {
                        id: id.clone(),
                        error: message.clone(),
                    }
                } else {
                    RunOutcome::Failed {
                        id: id.clone(),
                        error: message.clone(),
                    }
                };
                jobs.fail(&job.id, owner, &message, next)
                    .await
                    .map(|applied| (applied, outcome))
            }
        };
        match recorded {
            Ok((true, outcome)) => {
                tracing::info!(job_id = %id, outcome = ?outcome, "job finished");
                outcome
            }
            Ok((false, _)) => {
                tracing::warn!(job_id = %id, "job lease was lost before its outcome was recorded");
                RunOutcome::LeaseLost { id }
            }
            Err(error) => {
                // The lease will expire and another attempt will run; handlers are idempotent.
                tracing::error!(job_id = %id, error = %error, "could not record job outcome");
                RunOutcome::LeaseLost { id }
            }
        }
    }

    async fn run_again(&self, job: &Job, after: Duration) {
        let spec = JobSpec {
            tenant_id: job.tenant_id.clone(),
            kind: job.kind,
            payload: job.payload.clone(),
            run_at: Some(self.services.clock.now() + span(after)),
            max_attempts: job.max_attempts,
            dedupe_key: job.dedupe_key.clone(),
        };
        if let Err(error) = self.services.jobs.enqueue(&spec).await {
            tracing::warn!(kind = %job.kind, error = %error, "could not schedule the next run of a recurring job");
        }
    }

    /// Runs the handler while a heartbeat renews the lease. If the lease is lost, the handler is
    /// cancelled: another worker owns the job now.
    async fn attempt(&self, job: Job, cancel: CancellationToken) -> Result<JobOutcome, JobFailure> {
        let Some(handler) = self.handlers.get(&job.kind).cloned() else {
            return Err(JobFailure::permanent(format!(
                "this worker runs no {} jobs",
                job.kind
            )));
        };
        if job.attempts > job.max_attempts {
            return Err(JobFailure::permanent(
                "the job's workers stopped responding too many times",
            ));
        }
        let context = JobContext {
            job,
            cancel: cancel.clone(),
            services: self.services.clone(),
            owner: self.settings.owner.clone(),
        };
        let heartbeat = async {
            let mut ticker = tokio::time::interval(self.settings.heartbeat);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                match self
                    .services
                    .jobs
                    .heartbeat(&context.job.id, &self.settings.owner, span(self.settings.lease))
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(error) => tracing::warn!(error = %error, "could not renew a job lease"),
                }
            }
        };
        tokio::select! {
            result = handler.run(&context) => result,
            () = heartbeat => {
                cancel.cancel();
                Err(JobFailure::retry("the job's lease was lost"))
            }
        }
    }
}
