//! Work this process starts in a task of its own and holds as a job while the task runs.
//!
//! Some operations must not stop half-way because whoever asked for them went away: a call that
//! changes a token at GitLab has effects GitLab cannot undo, and its answer must reach the token
//! journal. Such an operation runs in a spawned task, so an HTTP client hanging up (which drops
//! the request's future) or a job whose lease lapsed cannot cancel it. The caller waits for it as
//! long as it can afford to and otherwise gets the job to follow ([`Settled::Running`]).
//!
//! The job is inserted already running under this process's lease, and the task renews that
//! lease until the operation ends, then records the outcome. If the process dies, the lease
//! lapses and a worker claims the job like any other; its handler finishes the operation from
//! what was durably recorded (for token changes, the journal) and never repeats it.

use std::future::Future;
use std::time::Duration as StdDuration;

use labgate_proto::jobs::JobView;
use labgate_store::NewJob;
use tracing::Instrument;

use super::{Failure, JobQueue, JobSpec, job_view};
use crate::ids::JobId;
use crate::rows::{ms, signed32};
use crate::{CoreError, Result};

/// Who holds the jobs this process runs in tasks of its own, and how.
#[derive(Debug, Clone)]
pub struct Holder {
    /// Names this process in leases; the worker's name when the process runs one.
    pub owner: String,
    /// How long a claim lasts without renewal before a worker may take the job over.
    pub lease: StdDuration,
    /// How often the lease is renewed while the task runs; well under `lease`.
    pub heartbeat: StdDuration,
}

impl Default for Holder {
    fn default() -> Self {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        Holder {
            owner: format!(
                "labgate-{}-{}",
                std::process::id(),
                suffix.get(..8).unwrap_or_default()
            ),
            lease: StdDuration::from_secs(60),
            heartbeat: StdDuration::from_secs(15),
        }
    }
}

/// How an operation stood when its caller stopped waiting for it.
#[derive(Debug)]
pub enum Settled<T> {
    /// It ended in time; this is what it came to.
    Done(T),
    /// It goes on in its own task; the job records how it ends.
    Running(Box<JobView>),
}

impl<T> Settled<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Settled<U> {
        match self {
            Settled::Done(value) => Settled::Done(f(value)),
            Settled::Running(job) => Settled::Running(job),
        }
    }
}

fn span(duration: StdDuration) -> time::Duration {
    time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
}

impl JobQueue {
    /// Runs `operation` in a task of its own, held as the job `spec` describes, and waits for it
    /// up to `wait` (`None`: until it ends). `operation` is given the job's id, so that what it
    /// records durably can name the job that a worker takes over if this process dies.
    /// `subject` names what the operation acts on (a connection id), in logs and failpoints.
    ///
    /// An operation that ends in time answers with its own result, errors included (the job
    /// records them too); one that is still running answers [`Settled::Running`] with the job.
    /// Dropping the returned future never stops the operation.
    pub async fn run_detached<T, F, Fut>(
        &self,
        spec: &JobSpec,
        subject: &str,
        wait: Option<StdDuration>,
        operation: F,
    ) -> Result<Settled<T>>
    where
        F: FnOnce(JobId) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let job_id = self.start_held(spec).await?;
        let running = operation(job_id.clone());
        let queue = self.clone();
        let held_id = job_id.clone();
        let held_subject = subject.to_owned();
        let task_span =
            tracing::info_span!("detached_job", job_id = %job_id, kind = %spec.kind, subject = %subject);
        let mut task = tokio::spawn(
            async move { queue.hold(&held_id, &held_subject, running).await }.instrument(task_span),
        );
        let ended = match wait {
            None => Some((&mut task).await),
            Some(wait) => tokio::time::timeout(wait, &mut task).await.ok(),
        };
        match ended {
            Some(Ok(Some(outcome))) => outcome.map(Settled::Done),
            // The task panicked: its lease lapses and a worker takes the job over.
            Some(Err(error)) => Err(CoreError::internal(error)),
            // Still running, or (in tests) stopped as if the process had died.
            Some(Ok(None)) | None => Ok(Settled::Running(Box::new(self.view(&job_id).await?))),
        }
    }

    /// Inserts the job, running under this process's lease.
    async fn start_held(&self, spec: &JobSpec) -> Result<JobId> {
        let now = self.clock.now();
        let id = JobId::generate();
        let payload = spec.payload.to_string();
        self.store
            .insert_held_job(
                &NewJob {
                    id: id.as_str(),
                    tenant_id: spec.tenant_id.as_ref().map(|tenant| tenant.as_str()),
                    kind: spec.kind.as_str(),
                    payload: &payload,
                    run_at: ms(now),
                    max_attempts: signed32(spec.max_attempts.max(1)),
                    dedupe_key: spec.dedupe_key.as_deref(),
                    now: ms(now),
                },
                &self.holder.owner,
                ms(now + span(self.holder.lease)),
            )
            .await?;
        Ok(id)
    }

    /// Drives `operation` to its end while renewing the job's lease, then records the outcome.
    /// `None` only when a test stops the task as if the process had died.
    async fn hold<T>(
        &self,
        job_id: &JobId,
        #[cfg_attr(
            not(feature = "failpoints"),
            expect(
                unused_variables,
                reason = "the scope of a failpoint, compiled only for tests"
            )
        )]
        subject: &str,
        operation: impl Future<Output = Result<T>>,
    ) -> Option<Result<T>> {
        let owner = &self.holder.owner;
        let lease = span(self.holder.lease);
        let period = self.holder.heartbeat.max(StdDuration::from_millis(10));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut operation = std::pin::pin!(operation);
        let mut held = true;
        let outcome = loop {
            tokio::select! {
                outcome = &mut operation => break outcome,
                _ = ticker.tick(), if held => match self.heartbeat(job_id, owner, lease).await {
                    Ok(true) => {}
                    Ok(false) => {
                        // A worker took the job over (this process looked dead to it). The
                        // operation still runs to its end: stopping it could lose what GitLab
                        // answers; both finish through the same journal.
                        held = false;
                        tracing::warn!("the lease of a running job was lost; the operation goes on");
                    }
                    Err(error) => tracing::warn!(error = %error, "could not renew the lease of a running job"),
                },
            }
        };
        if failpoint_fails!("detached.before-outcome", subject) {
            // As if the process died here: no outcome recorded, no more heartbeats.
            return None;
        }
        self.record_outcome(job_id, outcome.as_ref().err()).await;
        Some(outcome)
    }

    /// Records the job as succeeded, or as failed with `error`.
    async fn record_outcome(&self, job_id: &JobId, error: Option<&CoreError>) {
        let owner = &self.holder.owner;
        let recorded = match error {
            None => self.complete(job_id, owner).await,
            Some(error) => {
                if let CoreError::Internal(cause) = error {
                    tracing::error!(error = %cause, "a running job failed");
                }
                // Operations held this way are not retried: one that changes a token at GitLab
                // may have acted, and the worker that would retry it finishes it from the
                // journal instead.
                self.fail(job_id, owner, &error.to_string(), Failure::Final).await
            }
        };
        match recorded {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("a job's outcome was not recorded: the worker that took it over records it");
            }
            Err(error) => tracing::warn!(
                error = %error,
                "could not record a job's outcome; a worker takes the job over once its lease lapses"
            ),
        }
    }

    async fn view(&self, id: &JobId) -> Result<JobView> {
        match self.find(id).await? {
            Some(job) => Ok(job_view(job)),
            None => Err(CoreError::NotFound("job")),
        }
    }
}
