//! The sweeper: one pass over everything that is due. It ends grants whose end has come,
//! starts deferred grants, settles every access the ledger says is unsettled (work a crash, an
//! outage or a busy lease left behind), plans grants for approved requests that have none,
//! and expires and reminds pending requests. Several replicas may sweep at once: every step is
//! a compare-and-set, and AWS changes happen only under the access key's lease.

use std::time::Duration;

use super::commit::Outcome;
use super::settle::{SettleReport, Settled};
use super::{AccessService, WorkflowError};
use crate::domain::lifecycle::{self, SCHEDULED_REVOCATION};
use crate::domain::{Channel, GrantEnd, GrantStatus, RequestId, RequestStatus};
use crate::ports::{AccessQuery, GrantQuery, RequestQuery};

/// What one pass did, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Grants whose end this pass carried out.
    pub revoked: usize,
    /// Accesses this pass settled (granted, handed over, or removed).
    pub provisioned: usize,
    pub expired: usize,
    pub reminded: usize,
    /// Steps that failed or were busy and will be retried on a later pass.
    pub deferred: usize,
}

const BATCH: usize = 200;

const GAUGE_REFRESH: time::Duration = time::Duration::minutes(1);

/// The sweeper does not wait for a lease someone else holds: that holder is working on it, or
/// is dead and its lease frees on a later pass.
const NO_WAIT: Duration = Duration::ZERO;

impl SweepReport {
    /// Counts what one settle did: grants it made active or final, and whether work was left.
    fn settled(
        &mut self,
        outcome: Result<SettleReport, WorkflowError>,
        what: &dyn std::fmt::Display,
    ) {
        match outcome {
            Ok(report) => {
                self.provisioned += report.activated;
                self.revoked += report.ended;
                if report.outcome != Settled::Done {
                    self.deferred += 1;
                }
            }
            Err(error) => {
                self.deferred += 1;
                tracing::warn!(id = %what, %error, "Step deferred to the next sweep.");
            }
        }
    }
}

impl AccessService {
    /// One pass over due work. Errors of single items are counted in `deferred` and retried on
    /// the next pass; only a store outage fails the whole pass.
    pub async fn sweep(&self) -> Result<SweepReport, WorkflowError> {
        let mut report = SweepReport::default();
        let store = &self.deps.store;
        let now = self.now();

        // Grants whose end has come, whatever state they are in: on time for active ones,
        // too late for those that never became active.
        let due = store
            .query_grants(GrantQuery::EndingBy {
                statuses: vec![
                    GrantStatus::Active,
                    GrantStatus::Provisioning,
                    GrantStatus::Scheduled,
                ],
                before: now,
                limit: BATCH,
            })
            .await?;
        for grant in due {
            let end = match grant.status() {
                GrantStatus::Active => GrantEnd {
                    channel: Channel::Scheduler,
                    actor: None,
                    reason: SCHEDULED_REVOCATION.to_owned(),
                    abandoned: false,
                    failed: false,
                },
                _ => GrantEnd {
                    channel: Channel::Scheduler,
                    actor: None,
                    reason: "its end came before the access could be granted".to_owned(),
                    abandoned: true,
                    failed: true,
                },
            };
            let outcome = self.end(&grant.id, end, NO_WAIT).await;
            report.settled(outcome, &grant.id);
        }

        // Deferred grants whose start has come.
        let scheduled = store
            .query_grants(GrantQuery::Status {
                statuses: vec![GrantStatus::Scheduled],
                limit: BATCH,
            })
            .await?;
        for grant in scheduled.into_iter().filter(|g| g.starts_at <= now) {
            let key = grant.access_key();
            let started = self
                .transact(
                    None,
                    || self.read_grant(&grant.id),
                    |snapshot, now| {
                        let Some(current) = snapshot.grant(&grant.id) else {
                            return Ok(Outcome::Done(()));
                        };
                        Ok(
                            match lifecycle::start_grant(current, snapshot.ledger(&key), now) {
                                Some(transition) => Outcome::Write(transition, ()),
                                None => Outcome::Done(()),
                            },
                        )
                    },
                )
                .await;
            match started {
                Ok(()) => report.settled(self.settle(&key, NO_WAIT).await, &grant.id),
                Err(error) => {
                    report.deferred += 1;
                    tracing::warn!(grant_id = %grant.id, %error, "Start deferred.");
                }
            }
        }

        // Joiners to grant, leavers to settle, extensions to apply, retries whose backoff has
        // passed, leases of dead holders, quarantines that ended.
        let unsettled = store
            .query_access(AccessQuery::Unsettled {
                due_by: now,
                limit: BATCH,
            })
            .await?;
        for record in unsettled {
            let outcome = self.settle(&record.key, NO_WAIT).await;
            report.settled(outcome, &record.key);
        }

        // Grants that may hold access but are in no ledger record (written before the ledger
        // existed): reading their key adopts them, and settling it finishes them.
        let orphans = store
            .query_grants(GrantQuery::Status {
                statuses: vec![GrantStatus::Provisioning, GrantStatus::Revoking],
                limit: BATCH,
            })
            .await?;
        for grant in orphans {
            let key = grant.access_key();
            if store.get_access(&key).await?.is_none() {
                let outcome = self.adopt_and_settle(&key).await;
                report.settled(outcome, &key);
            }
        }

        // Approved requests without a grant (older versions, extensions whose grant ended).
        let approved = store
            .query_requests(RequestQuery::Status {
                status: RequestStatus::Approved,
                limit: BATCH,
            })
            .await?;
        for request in approved
            .into_iter()
            .filter(|request| request.grant_id.is_none())
        {
            let outcome = self.activate(&request.id).await;
            report.settled(outcome, &request.id);
        }

        let pending = store
            .query_requests(RequestQuery::Status {
                status: RequestStatus::Pending,
                limit: 1000,
            })
            .await?;
        self.deps
            .metrics
            .set_gauge("liftgate_requests_pending", pending.len() as f64);
        let timing = self.timing();
        for request in pending {
            let expiring = request.expires_at <= now;
            let reminding = request.next_reminder_at.is_some_and(|at| at <= now);
            if !expiring && !reminding {
                continue;
            }
            let outcome = self.timer_move(&request.id, &timing).await;
            match outcome {
                Ok(Some(RequestStatus::Expired)) => report.expired += 1,
                Ok(Some(_)) => report.reminded += 1,
                Ok(None) => {}
                Err(error) => {
                    report.deferred += 1;
                    tracing::warn!(request_id = %request.id, %error, "Expiry or reminder deferred.");
                }
            }
        }
        if self.gauge_refresh_due(now)
            && let Ok(active) = store
                .query_grants(GrantQuery::Status {
                    statuses: vec![GrantStatus::Active],
                    limit: 10_000,
                })
                .await
        {
            self.deps
                .metrics
                .set_gauge("liftgate_grants_active", active.len() as f64);
        }
        Ok(report)
    }

    /// Writes the adopted record of grants from before the ledger, then settles it.
    async fn adopt_and_settle(
        &self,
        key: &crate::domain::AccessKey,
    ) -> Result<SettleReport, WorkflowError> {
        self.transact(
            None,
            || self.read_access(key),
            |snapshot, _| {
                Ok(match snapshot.ledger(key) {
                    Some(record) if record.version == 0 => Outcome::Write(
                        lifecycle::ledger_step(record, crate::domain::TransitionKind::GrantStarted),
                        (),
                    ),
                    _ => Outcome::Done(()),
                })
            },
        )
        .await?;
        self.settle(key, NO_WAIT).await
    }

    /// Expires or reminds a pending request. Returns the status it moved to (pending for a
    /// reminder), or `None` when nothing was due any more.
    async fn timer_move(
        &self,
        id: &RequestId,
        timing: &lifecycle::Timing,
    ) -> Result<Option<RequestStatus>, WorkflowError> {
        self.transact(
            None,
            || self.read_request(id),
            |snapshot, now| {
                let Some(request) = snapshot.request(id) else {
                    return Ok(Outcome::Done(None));
                };
                let transition = request
                    .expire(now, timing)
                    .or_else(|| request.remind(now, timing));
                Ok(match transition {
                    Some(transition) => {
                        let status = transition.request(id).map(|r| r.status());
                        Outcome::Write(transition, status)
                    }
                    None => Outcome::Done(None),
                })
            },
        )
        .await
    }

    /// Counting active grants reads every one of them: a dashboard figure does not need it
    /// on every pass, so it is recounted at most once a minute.
    fn gauge_refresh_due(&self, now: time::OffsetDateTime) -> bool {
        let mut last = self.gauges_refreshed_at.lock();
        let due = last.is_none_or(|at| now - at >= GAUGE_REFRESH);
        if due {
            *last = Some(now);
        }
        due
    }

    /// Sweeps every `interval` until `shutdown` turns true.
    pub async fn run_sweeper(
        &self,
        interval: std::time::Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            match self.sweep().await {
                Ok(report) if report != SweepReport::default() => {
                    tracing::info!(
                        revoked = report.revoked,
                        provisioned = report.provisioned,
                        expired = report.expired,
                        reminded = report.reminded,
                        deferred = report.deferred,
                        "Sweep done."
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::error!(%error, "Sweep failed; retrying on the next pass."),
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}
