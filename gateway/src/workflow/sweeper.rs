//! The sweeper: one pass over everything that is due. It revokes grants whose end has come,
//! starts deferred grants, expires and reminds pending requests, and resumes whatever a crash
//! or an AWS outage interrupted. Several replicas may sweep at once: every step is a
//! compare-and-set under a lease, so none is done twice.

use super::records::Event;
use super::{AccessService, WorkflowError};
use crate::domain::{Channel, GrantStatus, RequestEvent, RequestStatus};
use crate::ports::{GrantQuery, NoticeKind, RequestQuery};

/// What one pass did, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub revoked: usize,
    pub provisioned: usize,
    pub expired: usize,
    pub reminded: usize,
    /// Steps that failed and will be retried on a later pass.
    pub deferred: usize,
}

const BATCH: usize = 200;

const GAUGE_REFRESH: time::Duration = time::Duration::minutes(1);

/// What a sweep step was for, in its report.
#[derive(Clone, Copy)]
enum Step {
    Revoke,
    Provision,
}

impl SweepReport {
    /// Counts one step: done by this pass, left alone (another replica holds it, or it was
    /// already done), or deferred to a later pass.
    fn count(
        &mut self,
        outcome: Result<bool, WorkflowError>,
        id: &dyn std::fmt::Display,
        step: Step,
    ) {
        match (outcome, step) {
            (Ok(true), Step::Revoke) => self.revoked += 1,
            (Ok(true), Step::Provision) => self.provisioned += 1,
            (Ok(false), _) => {}
            (Err(error), _) => {
                self.deferred += 1;
                tracing::warn!(id = %id, %error, "Step deferred to the next sweep.");
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

        let due = store
            .query_grants(GrantQuery::EndingBy {
                statuses: vec![GrantStatus::Active],
                before: now,
                limit: BATCH,
            })
            .await?;
        for grant in due {
            let outcome = self.end_grant(&grant.id, None).await;
            report.count(outcome, &grant.id, Step::Revoke);
        }

        let unfinished = store
            .query_grants(GrantQuery::Status {
                statuses: vec![
                    GrantStatus::Revoking,
                    GrantStatus::Provisioning,
                    GrantStatus::Scheduled,
                ],
                limit: BATCH,
            })
            .await?;
        for grant in unfinished {
            let lease_free = grant.lease_until.is_none_or(|until| until <= now);
            match grant.status {
                GrantStatus::Revoking if lease_free => {
                    let outcome = self.end_grant(&grant.id, None).await;
                    report.count(outcome, &grant.id, Step::Revoke);
                }
                GrantStatus::Provisioning if lease_free => {
                    let outcome = self.provision(&grant.id).await;
                    report.count(outcome, &grant.id, Step::Provision);
                }
                GrantStatus::Scheduled if grant.starts_at <= now => {
                    let outcome = self.provision(&grant.id).await;
                    report.count(outcome, &grant.id, Step::Provision);
                }
                _ => {}
            }
        }

        // Approved requests whose grant row was never written (a crash right after approval).
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
            report.count(outcome, &request.id, Step::Provision);
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
        for request in pending {
            if request.expires_at <= now {
                match self.expire(&request.id).await {
                    Ok(true) => report.expired += 1,
                    Ok(false) => {}
                    Err(error) => {
                        report.deferred += 1;
                        tracing::warn!(request_id = %request.id, %error, "Expiry deferred.");
                    }
                }
            } else if request.next_reminder_at.is_some_and(|at| at <= now) {
                match self.remind(&request.id).await {
                    Ok(true) => report.reminded += 1,
                    Ok(false) => {}
                    Err(error) => {
                        report.deferred += 1;
                        tracing::warn!(request_id = %request.id, %error, "Reminder deferred.");
                    }
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

    /// Counting active grants reads every one of them: a dashboard figure does not need it
    /// on every pass, so it is recounted at most once a minute.
    fn gauge_refresh_due(&self, now: time::OffsetDateTime) -> bool {
        let Ok(mut last) = self.gauges_refreshed_at.lock() else {
            return false;
        };
        let due = last.is_none_or(|at| now - at >= GAUGE_REFRESH);
        if due {
            *last = Some(now);
        }
        due
    }

    /// Expires a pending request whose time is up. Returns whether it did.
    async fn expire(&self, id: &crate::domain::RequestId) -> Result<bool, WorkflowError> {
        let expiration = self.deps.requests.expiration;
        let (_, changed) = self
            .modify_request_for_timer(id, |request, now| {
                if request.status != RequestStatus::Pending || request.expires_at > now {
                    return None;
                }
                let reason = format!("expired after {expiration} without enough approvals");
                request.status = RequestStatus::Expired;
                request.status_reason = Some(reason.clone());
                request.next_reminder_at = None;
                request.push_history(
                    now,
                    RequestEvent::Expired,
                    Channel::Scheduler,
                    None,
                    Some(reason),
                );
                Some(vec![(RequestEvent::Expired, NoticeKind::Updated)])
            })
            .await?;
        if changed {
            self.deps
                .metrics
                .inc("liftgate_transitions_total", &[("status", "expired")]);
        }
        Ok(changed)
    }

    /// Reminds approvers of a pending request, backing off exponentially.
    async fn remind(&self, id: &crate::domain::RequestId) -> Result<bool, WorkflowError> {
        let settings = self.deps.requests.clone();
        let (_, changed) = self
            .modify_request_for_timer(id, |request, now| {
                if request.status != RequestStatus::Pending
                    || request.next_reminder_at.is_none_or(|at| at > now)
                {
                    return None;
                }
                request.reminders_sent += 1;
                let factor = settings
                    .reminder_backoff
                    .powi(request.reminders_sent.min(30) as i32);
                let wait = settings.reminder_initial_wait.as_secs() as f64 * factor;
                let next = now + time::Duration::seconds_f64(wait.min(30.0 * 86_400.0));
                request.next_reminder_at = (next < request.expires_at).then_some(next);
                Some(vec![])
            })
            .await?;
        if changed {
            let now = self.now();
            let messages = self.notice_messages(now, id, NoticeKind::Reminder);
            let batch = crate::ports::WriteBatch {
                outbox: messages,
                ..Default::default()
            };
            self.deps.store.commit(batch).await?;
        }
        Ok(changed)
    }

    /// A compare-and-set loop for timer-driven changes: `apply` returns `None` when there is
    /// nothing to do any more, or the audit events (with a notice kind) to write.
    async fn modify_request_for_timer<F>(
        &self,
        id: &crate::domain::RequestId,
        mut apply: F,
    ) -> Result<(crate::domain::AccessRequest, bool), WorkflowError>
    where
        F: FnMut(
            &mut crate::domain::AccessRequest,
            time::OffsetDateTime,
        ) -> Option<Vec<(RequestEvent, NoticeKind)>>,
    {
        for _ in 0..super::CAS_ATTEMPTS {
            let mut request = self.get(id).await?;
            let version = request.version;
            let now = self.now();
            let Some(events) = apply(&mut request, now) else {
                return Ok((request, false));
            };
            let mut outbox = Vec::new();
            for (event, notice) in events {
                outbox.extend(self.event_messages(
                    now,
                    &request,
                    None,
                    &[Event {
                        event,
                        channel: Channel::Scheduler,
                        actor: None,
                        reason: None,
                    }],
                    Some(notice),
                ));
            }
            let batch = crate::ports::WriteBatch {
                requests: vec![crate::ports::Put::update(request.clone(), version)],
                grants: Vec::new(),
                outbox,
            };
            match self.deps.store.commit(batch).await {
                Ok(()) => return Ok((request, true)),
                Err(crate::ports::StoreError::Conflict) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(WorkflowError::Unavailable(
            "too much contention on this request".to_owned(),
        ))
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
