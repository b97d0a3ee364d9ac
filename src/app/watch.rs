//! The watcher: measures the baseline of every watched production deploy at its instant,
//! then samples each metric every interval through the window, and records what it read
//! as commands on the release. The domain judges the samples; a tripped criterion starts
//! the rollback in the same commit as the sample that tripped it.
//!
//! The schedule lives in the store (`watch_due_at`, written with the events), so a
//! restart resumes every watch where it was: samples missed while shipgate was down are
//! taken at their own instants (Prometheus answers for any past `time=`). With several
//! instances, a lease per release in the database lets exactly one sample it at a time.

use super::{App, AppError};
use crate::domain::release::{Command, RejectionCode, Status};
use crate::domain::watch::{Alert, Criteria, Metric, Reading, Readings, WatchSettings};
use crate::domain::{Actor, Platform, ReleaseId, RequestId, ServiceName};
use crate::store::ReleaseFilter;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// What one query of a metric source gave: a number, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceReading {
    Value(f64),
    Blind(String),
}

/// Where the watch reads metrics: Prometheus in production. `query` is the metric's query
/// with `{service}` and `{range}` filled in, evaluated at `at`.
pub trait MetricSource: Send + Sync + 'static {
    fn read(&self, query: &str, at: DateTime<Utc>) -> impl Future<Output = SourceReading> + Send;
}

/// How the watch reads each metric and how long it runs, from `[monitoring]` and
/// `[rollback.criteria]`.
#[derive(Debug, Clone)]
pub struct WatchPlan {
    pub settings: WatchSettings,
    pub criteria: Criteria,
    /// Query templates with `{service}` and `{range}`.
    pub queries: BTreeMap<Metric, String>,
    /// `{range}` of the baseline's queries: the baseline window.
    pub baseline_range: String,
    /// `{range}` of a sample's queries.
    pub sample_range: String,
}

/// How many releases are read at once, and how long one instance keeps a release's watch.
const CONCURRENT_RELEASES: usize = 16;
const LEASE: chrono::Duration = chrono::Duration::seconds(60);
/// Releases looked at per sweep; the rest wait for the next one.
const SWEEP_LIMIT: u32 = 512;

pub struct Watcher<S> {
    app: App,
    plan: Arc<WatchPlan>,
    source: Arc<S>,
    /// This instance's name on the watch leases.
    holder: String,
}

impl<S> Clone for Watcher<S> {
    fn clone(&self) -> Self {
        Self {
            app: self.app.clone(),
            plan: self.plan.clone(),
            source: self.source.clone(),
            holder: self.holder.clone(),
        }
    }
}

/// What the watch does as itself, in every release's history.
pub fn watch_actor() -> Actor {
    Actor::new(Platform::System, "watch", "shipgate watch")
}

impl<S: MetricSource> Watcher<S> {
    pub fn new(app: App, plan: WatchPlan, source: S, holder: impl Into<String>) -> Self {
        Self { app, plan: Arc::new(plan), source: Arc::new(source), holder: holder.into() }
    }

    /// Sweeps every `every` until `stop`.
    pub async fn run(self, every: Duration, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(every) => {}
            }
            if let Err(e) = self.sweep().await {
                tracing::warn!(error = %format!("{e:#}"), "the watch could not look for due samples; trying again");
            }
        }
    }

    /// Takes every baseline and sample due now. Returns how many were recorded.
    ///
    /// The due releases are leased in one statement and let go in one after the round,
    /// instead of a write for each: at a thousand watched deploys, one sample due every
    /// 30 ms, those writes were most of what the watch cost.
    pub async fn sweep(&self) -> Result<usize, AppError> {
        let now = self.app.now();
        let store = self.app.store();
        let due = store.claim_due_watches(&self.holder, now, now + LEASE, SWEEP_LIMIT).await?;
        metrics::gauge!("shipgate_watch_due").set(due.len() as f64);
        let claimed: Vec<ReleaseId> = due.into_iter().map(|(id, _)| id).collect();
        let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_RELEASES));
        let mut tasks = tokio::task::JoinSet::new();
        for id in &claimed {
            let (watcher, id) = (self.clone(), id.clone());
            let limit = limit.clone();
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                watcher.watch_leased(&id, now).await.inspect_err(|e| {
                    tracing::warn!(release = %id, error = %format!("{e:#}"), "the watch of a release failed this round")
                })
            });
        }
        let mut recorded = 0;
        while let Some(done) = tasks.join_next().await {
            if let Ok(Ok(n)) = done {
                recorded += n;
            }
        }
        store.release_watches(&claimed, &self.holder).await?;
        Ok(recorded)
    }

    /// Brings one release's watch up to now, holding its lease meanwhile.
    pub async fn watch_one(&self, id: &ReleaseId) -> Result<usize, AppError> {
        let store = self.app.store();
        let now = self.app.now();
        if !store.claim_watch(id, &self.holder, now, now + LEASE).await? {
            return Ok(0);
        }
        let result = self.catch_up(id).await;
        store.release_watch(id, &self.holder).await?;
        result
    }

    /// Brings the watch of a release this sweep leased at `leased_at` up to now. A release
    /// whose turn came late in a slow round (Prometheus timing out) renews its lease
    /// first, and is left alone if another instance took it over meanwhile.
    async fn watch_leased(&self, id: &ReleaseId, leased_at: DateTime<Utc>) -> Result<usize, AppError> {
        let now = self.app.now();
        if now - leased_at > LEASE / 2 && !self.app.store().claim_watch(id, &self.holder, now, now + LEASE).await? {
            return Ok(0);
        }
        self.catch_up(id).await
    }

    async fn catch_up(&self, id: &ReleaseId) -> Result<usize, AppError> {
        let Some(mut release) = self.app.release(id).await? else { return Ok(0) };
        let mut recorded = 0;
        loop {
            let now = self.app.now();
            let Some(due) = release.watch_due_at().filter(|due| *due <= now) else { break };
            let command = if release.current_watch().is_none() {
                let baseline = self.read_all(&release.service, due, &self.plan.baseline_range).await;
                Command::BeginWatch { settings: self.plan.settings, criteria: self.plan.criteria, baseline }
            } else {
                let readings = self.read_all(&release.service, due, &self.plan.sample_range).await;
                Command::RecordSample { at: due, readings }
            };
            let what = command.name();
            // Never deduplicated by id: the domain refuses a second baseline or a sample at
            // an instant already sampled, which is what makes a repeat change nothing.
            match self.app.execute(id, command, watch_actor(), RequestId::generate()).await {
                Ok(outcome) => {
                    recorded += 1;
                    metrics::counter!("shipgate_watch_samples_total", "kind" => what).increment(1);
                    release = outcome.release;
                }
                Err(AppError::Rejected(rejection)) => {
                    // Another instance took it, or the release moved on (completed, rolled
                    // back) between the read and the command: nothing to do.
                    let quiet = matches!(
                        rejection.code,
                        RejectionCode::AlreadyRecorded | RejectionCode::ReleaseFinished | RejectionCode::NotWatching
                    );
                    if !quiet {
                        tracing::warn!(release = %id, code = %rejection.code, "the watch's {what} was refused: {}", rejection.message);
                    }
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(recorded)
    }

    /// Every configured metric of `service` at `at`.
    async fn read_all(&self, service: &ServiceName, at: DateTime<Utc>, range: &str) -> Readings {
        let mut readings = Readings::new();
        for (metric, template) in &self.plan.queries {
            let query = crate::monitoring::expand(template, service.as_str(), range);
            let reading = match self.source.read(&query, at).await {
                SourceReading::Value(value) => Reading::value(value),
                SourceReading::Blind(why) => Reading::blind(why),
            };
            metrics::counter!("shipgate_watch_queries_total", "blind" => if reading.as_value().is_some() { "false" } else { "true" })
                .increment(1);
            readings.insert(*metric, reading);
        }
        readings
    }
}

/// One alert from Alertmanager, with the labels that may name the service it is about.
#[derive(Debug, Clone)]
pub struct AlertDelivery {
    /// `(label, value)` of the configured match labels the alert carries, in config order:
    /// the first that names a service shipgate watches decides.
    pub labels: Vec<(String, String)>,
    pub alert: Alert,
}

/// What a webhook delivery did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertOutcome {
    pub alerts: usize,
    /// Releases under watch the alerts were about.
    pub matched: usize,
    /// Alerts recorded (a resend of one already recorded is not counted).
    pub recorded: usize,
    pub rollbacks_started: usize,
}

/// Who records alerts, in every release's history.
pub fn alertmanager_actor() -> Actor {
    Actor::new(Platform::System, "alertmanager", "Alertmanager")
}

impl App {
    /// Records each alert on the releases of its service whose production deploy is under
    /// watch (or rolling back); a firing critical alert starts the rollback.
    pub async fn record_alerts(&self, deliveries: Vec<AlertDelivery>) -> Result<AlertOutcome, AppError> {
        let mut outcome = AlertOutcome { alerts: deliveries.len(), ..AlertOutcome::default() };
        for delivery in deliveries {
            for service in delivery.labels.iter().filter_map(|(_, value)| ServiceName::parse(value).ok()) {
                let mut found = false;
                for status in [Status::Active, Status::RollingBack] {
                    let filter = ReleaseFilter {
                        service: Some(service.clone()),
                        status: Some(status.as_str().to_owned()),
                        limit: Some(50),
                    };
                    for row in self.list(&filter).await? {
                        let Some(release) = self.release(&row.id).await? else { continue };
                        if release.watch.is_none() || (status == Status::Active && release.current_watch().is_none()) {
                            continue;
                        }
                        found = true;
                        outcome.matched += 1;
                        let command = Command::RecordAlert(delivery.alert.clone());
                        match self.execute(&row.id, command, alertmanager_actor(), RequestId::generate()).await {
                            Ok(done) => {
                                outcome.recorded += 1;
                                if release.status == Status::Active && done.release.status == Status::RollingBack {
                                    outcome.rollbacks_started += 1;
                                }
                            }
                            Err(AppError::Rejected(rejection)) => {
                                tracing::debug!(release = %row.id, code = %rejection.code, "alert not recorded: {}", rejection.message)
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
                if found {
                    break;
                }
            }
        }
        Ok(outcome)
    }
}
