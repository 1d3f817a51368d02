//! Settling an access: making Identity Center and the revocation timer agree with the access
//! ledger, under the key's lease. This is the only code that creates or removes access and
//! the only code that moves grants out of `provisioning` and `revoking`.
//!
//! One step at a time ([`AccessRecord::next_step`]): perform it (one AWS call), commit what it
//! found (fenced by the lease, retried on conflict with the fact re-applied to the fresh
//! record), and plan again from the stored state. Other tasks never touch AWS for the key: they
//! commit intents (a grant joins, leaves, or asks for an extension) and the lease holder picks
//! them up on its next plan, so an end asked for while the access is being created is honoured
//! by the task creating it, which then removes what it made.

use std::time::Duration;

use super::commit::Snapshot;
use super::lease::{LeaseError, LeaseGuard};
use super::{AccessService, WorkflowError};
use crate::domain::access::{Presence, Step, Tenure};
use crate::domain::lifecycle::{self, Transition, TransitionKind};
use crate::domain::{AccessKey, AccessRecord, GrantTarget};
use crate::ports::{
    AccessPut, Expect, Fence, IdentityError, OutboxMessage, Put, SchedulerError, StoreError,
    WriteBatch,
};

/// How long an access key's lease lives without renewal. Renewed every quarter of it while a
/// slow AWS call runs; a replica killed mid-change frees it this long after another replica
/// first looks at it, so its work resumes well within 15 s.
pub const ACCESS_LEASE_TTL: Duration = Duration::from_secs(8);

/// Steps one settle may take before leaving the rest to the sweeper (intents keep arriving).
const MAX_STEPS: usize = 24;

/// How a settle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Settled {
    #[default]
    /// Nothing is left to do for the key now.
    Done,
    /// Another operation holds the key's lease; it picks up what was asked (or the sweeper
    /// does, within seconds, if that holder died).
    Busy,
    /// An AWS call failed and will be retried after the backoff stored on the record.
    Deferred,
}

/// What a settle did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SettleReport {
    pub outcome: Settled,
    /// Grants this settle made active.
    pub activated: usize,
    /// Grants this settle made final (revoked or failed).
    pub ended: usize,
}

impl SettleReport {
    fn count(&mut self, transition: &Transition) {
        self.activated += transition
            .kinds
            .iter()
            .filter(|kind| **kind == TransitionKind::Activated)
            .count();
        self.ended += transition
            .grants
            .iter()
            .filter(|grant| grant.status().is_final())
            .count();
    }

    fn with(mut self, outcome: Settled) -> SettleReport {
        self.outcome = outcome;
        self
    }
}

/// How an AWS step failed.
enum Failure {
    /// Try again later (throttling, conflicts, outages, lost answers).
    Retry {
        operation: &'static str,
        error: String,
    },
    /// Retrying cannot help (access denied, the permission set is gone, a failed status).
    Permanent {
        operation: &'static str,
        error: String,
    },
    /// The state store failed.
    Store(WorkflowError),
    /// The lease was lost mid-step: another holder now owns the key.
    LeaseLost,
}

fn store_failure(error: StoreError) -> Failure {
    match error {
        StoreError::LeaseLost => Failure::LeaseLost,
        other => Failure::Store(other.into()),
    }
}

impl Failure {
    fn identity(operation: &'static str, error: IdentityError) -> Failure {
        if error.is_retryable() {
            Failure::Retry {
                operation,
                error: error.to_string(),
            }
        } else {
            Failure::Permanent {
                operation,
                error: error.to_string(),
            }
        }
    }

    fn scheduler(error: SchedulerError) -> Failure {
        match error {
            SchedulerError::Throttled(message) => Failure::Retry {
                operation: "revocation timer",
                error: message,
            },
            SchedulerError::Failed(message) => Failure::Permanent {
                operation: "revocation timer",
                error: message,
            },
        }
    }
}

impl From<WorkflowError> for Failure {
    fn from(error: WorkflowError) -> Self {
        Failure::Store(error)
    }
}

/// A step that failed permanently.
struct FailedStep<'a> {
    step: &'a Step,
    operation: &'static str,
    error: &'a str,
}

/// What a removal did.
#[derive(Default)]
struct Removed {
    /// Identity Center's request id, for audit `request_id`.
    sso_request_id: Option<String>,
    /// The permission set whose assignment was removed (account access).
    permission_set_arn: Option<String>,
}

/// What the existence check found.
struct Found {
    exists: bool,
    membership_id: Option<String>,
}

impl AccessService {
    /// Settles `key`, waiting up to `wait` for its lease.
    pub(crate) async fn settle(
        &self,
        key: &AccessKey,
        wait: Duration,
    ) -> Result<SettleReport, WorkflowError> {
        let outcome = self
            .leases
            .with_guard(&key.lease_name(), ACCESS_LEASE_TTL, wait, |guard| {
                self.settle_held(key, guard)
            })
            .await;
        let busy = SettleReport::default().with(Settled::Busy);
        match outcome {
            Ok(Some(result)) => result,
            Ok(None) => Ok(busy),
            Err(LeaseError::Lost(_)) => Ok(busy),
            Err(LeaseError::Store(error)) => Err(error.into()),
        }
    }

    #[tracing::instrument(skip_all, fields(access_key = %key))]
    async fn settle_held(
        &self,
        key: &AccessKey,
        guard: LeaseGuard,
    ) -> Result<SettleReport, WorkflowError> {
        let fence = guard.fence().clone();
        let mut tenure = Tenure::default();
        let mut report = SettleReport::default();
        for _ in 0..MAX_STEPS {
            let snapshot = self.read_access(key).await?;
            let Some(record) = snapshot.ledger(key) else {
                return Ok(report.with(Settled::Done));
            };
            let now = self.now();
            let step = record.next_step(now, &tenure);
            tracing::debug!(step = ?step, "Settling access.");
            // AWS cannot check a fence: act only right after renewing the lease, so no waiter
            // can take it over while the call starts.
            if step.touches_aws() && !guard.confirm().await? {
                tracing::warn!("The access lease was taken over; the new holder settles it.");
                return Ok(report.with(Settled::Busy));
            }
            let result = match step.clone() {
                Step::Idle => return Ok(report.with(Settled::Done)),
                Step::ExpireJoiners(expired) => {
                    let transition =
                        lifecycle::expire_joiners(record, &expired, &snapshot.covered(), now);
                    self.commit_decision(&fence, &snapshot, transition, &mut report)
                        .await
                }
                Step::Finish => {
                    let present = record.verified_presence(&tenure, now) == Some(true);
                    let transition = lifecycle::settle(record, &snapshot.covered(), present, now);
                    self.commit_decision(&fence, &snapshot, transition, &mut report)
                        .await
                }
                Step::CheckExisting => match self.check_existing(&record).await {
                    Ok((found, arn)) => {
                        tenure.present = Some(found.exists);
                        self.commit_fact(key, &fence, TransitionKind::AccessChecked, |r, now| {
                            if let Some(arn) = &arn {
                                r.record_permission_set_arn(arn);
                            }
                            r.record_checked(found.exists, found.membership_id.clone(), now);
                        })
                        .await
                    }
                    Err(failure) => Err(failure),
                },
                Step::SetTimer(at) => match self.deps.scheduler.set(&record, at).await {
                    Ok(()) if record.timer().is_some_and(|old| old <= now) => {
                        // The timer being replaced was due: it may have fired and removed the
                        // access, so what this tenure verified before is no longer known.
                        if tenure.present == Some(true) {
                            tenure.present = None;
                        }
                        self.commit_fact(key, &fence, TransitionKind::TimerSet, |r, _| {
                            r.record_timer(at);
                        })
                        .await
                    }
                    Ok(()) => {
                        self.commit_fact(key, &fence, TransitionKind::TimerSet, |r, _| {
                            r.record_timer(at);
                        })
                        .await
                    }
                    Err(error) => Err(Failure::scheduler(error)),
                },
                Step::EnsurePresent => match self.ensure_present(&record).await {
                    Ok(presence) => {
                        tenure.present = Some(matches!(presence, Presence::Present { .. }));
                        self.commit_fact(key, &fence, TransitionKind::AccessVerified, |r, now| {
                            r.record_presence(&presence, now);
                        })
                        .await
                    }
                    Err(failure) => Err(failure),
                },
                Step::Remove => match self.remove_access(&record).await {
                    Ok(removed) => {
                        tenure.present = Some(false);
                        // Written with the fact, so a crash before this commit repeats the
                        // removal and writes it then (docs/reference.md §6).
                        let revocations = self.session_revocation_rows(
                            &record,
                            removed.permission_set_arn.as_deref(),
                            self.now(),
                        );
                        self.commit_fact_with(
                            key,
                            &fence,
                            TransitionKind::AccessRemoved,
                            |r, _| r.record_removed(removed.sso_request_id.clone()),
                            &revocations,
                        )
                        .await
                    }
                    Err(failure) => Err(failure),
                },
                Step::CancelTimer => match self.deps.scheduler.cancel(key).await {
                    Ok(()) => {
                        tenure.timer_cancelled = true;
                        self.commit_fact(key, &fence, TransitionKind::TimerCancelled, |r, _| {
                            r.record_timer_cancelled();
                        })
                        .await
                    }
                    Err(error) => Err(Failure::scheduler(error)),
                },
            };
            match result {
                Ok(()) => {}
                Err(Failure::LeaseLost) => {
                    tracing::error!(
                        "Lost the access lease mid-settle; the new holder verifies from scratch."
                    );
                    return Ok(report.with(Settled::Busy));
                }
                Err(Failure::Store(error)) => return Err(error),
                Err(Failure::Retry { operation, error }) => {
                    let outcome = self.defer(key, &fence, operation, &error).await?;
                    return Ok(report.with(outcome));
                }
                Err(Failure::Permanent { operation, error }) => {
                    let failed = FailedStep {
                        step: &step,
                        operation,
                        error: &error,
                    };
                    if let Some(settled) = self
                        .give_up_step(key, &fence, &snapshot, failed, &mut report)
                        .await?
                    {
                        return Ok(report.with(settled));
                    }
                }
            }
        }
        tracing::warn!("Access still changing after many steps; the sweeper finishes it.");
        Ok(report.with(Settled::Deferred))
    }

    /// Commits a decision made from `snapshot`, once: on a conflict the step loop plans again
    /// from what is stored now.
    async fn commit_decision(
        &self,
        fence: &Fence,
        snapshot: &Snapshot,
        transition: Transition,
        report: &mut SettleReport,
    ) -> Result<(), Failure> {
        let committed = self
            .commit_once(&transition, snapshot, Some(fence))
            .await
            .map_err(store_failure)?;
        if committed {
            report.count(&transition);
        }
        Ok(())
    }

    /// Commits what an AWS step found, re-applied to the freshly read record until the
    /// compare-and-set holds. Only the lease holder records facts, so the fact stays true
    /// whatever intents arrived meanwhile.
    async fn commit_fact<F>(
        &self,
        key: &AccessKey,
        fence: &Fence,
        kind: TransitionKind,
        apply: F,
    ) -> Result<(), Failure>
    where
        F: Fn(&mut AccessRecord, time::OffsetDateTime),
    {
        self.commit_fact_with(key, fence, kind, apply, &[]).await
    }

    /// [`Self::commit_fact`] with outbox rows written in the same batch.
    async fn commit_fact_with<F>(
        &self,
        key: &AccessKey,
        fence: &Fence,
        kind: TransitionKind,
        apply: F,
        outbox: &[OutboxMessage],
    ) -> Result<(), Failure>
    where
        F: Fn(&mut AccessRecord, time::OffsetDateTime),
    {
        for _ in 0..32 {
            let Some(mut record) = self.read_ledger(key).await? else {
                return Ok(());
            };
            let now = self.now();
            apply(&mut record, now);
            let expect = match record.version {
                0 => Expect::Absent,
                version => Expect::Version(version),
            };
            let batch = WriteBatch {
                access: vec![AccessPut::Put(Put {
                    item: record,
                    expect,
                })],
                outbox: outbox.to_vec(),
                fence: Some(fence.clone()),
                ..WriteBatch::default()
            };
            match self.deps.store.commit(batch).await {
                Ok(()) => {
                    self.deps
                        .metrics
                        .inc("liftgate_transitions_total", &[("kind", kind.as_str())]);
                    return Ok(());
                }
                Err(StoreError::Conflict) => continue,
                Err(error) => return Err(store_failure(error)),
            }
        }
        Err(Failure::Store(WorkflowError::Unavailable(
            "the access record kept changing".to_owned(),
        )))
    }

    /// A retryable failure: the record remembers it (with a backoff) and the sweeper comes
    /// back.
    async fn defer(
        &self,
        key: &AccessKey,
        fence: &Fence,
        operation: &'static str,
        error: &str,
    ) -> Result<Settled, WorkflowError> {
        tracing::warn!(operation, error, "Access change failed; retrying later.");
        self.deps
            .metrics
            .inc("liftgate_aws_retries_total", &[("operation", operation)]);
        match self
            .commit_fact(key, fence, TransitionKind::SettleDeferred, |r, now| {
                r.record_retry(error, now);
            })
            .await
        {
            Ok(()) => Ok(Settled::Deferred),
            Err(Failure::LeaseLost) => Ok(Settled::Busy),
            Err(Failure::Store(error)) => Err(error),
            Err(_) => Ok(Settled::Deferred),
        }
    }

    /// A permanent failure. Creating access that cannot be made fails the joining grants;
    /// an extension whose timer cannot move fails; removing access is never given up on (it
    /// is retried with backoff and alarmed). `Some` stops the settle with that outcome.
    async fn give_up_step(
        &self,
        key: &AccessKey,
        fence: &Fence,
        snapshot: &Snapshot,
        failed: FailedStep<'_>,
        report: &mut SettleReport,
    ) -> Result<Option<Settled>, WorkflowError> {
        let FailedStep {
            step,
            operation,
            error,
        } = failed;
        let Some(record) = snapshot.ledger(key) else {
            return Ok(Some(Settled::Done));
        };
        let now = self.now();
        let joining = record.holders().values().any(|holding| !holding.active);
        let removing = matches!(step, Step::Remove | Step::CancelTimer) || !joining;
        if removing {
            let extensions: Vec<_> = record
                .holders()
                .iter()
                .filter(|(_, holding)| !holding.extensions.is_empty())
                .map(|(id, _)| id.clone())
                .collect();
            if matches!(step, Step::SetTimer(_)) && !extensions.is_empty() {
                // The timer cannot move to cover the extensions: they fail, the grants keep
                // their ends.
                let mut updated = record.clone();
                let mut transition = lifecycle::ledger_step(updated.clone(), TransitionKind::Ended);
                for grant in &extensions {
                    for extension in updated.drop_extensions(grant) {
                        if let Some(request) = snapshot.request(&extension.request_id)
                            && let Some(failed) = lifecycle::fail_request(
                                request,
                                &format!("the revocation could not be moved: {error}"),
                                now,
                            )
                        {
                            transition.requests.extend(failed.requests);
                            transition.audit.extend(failed.audit);
                            transition.notices.extend(failed.notices);
                        }
                    }
                }
                transition.access = Some(lifecycle::AccessWrite::Put(updated));
                tracing::error!(operation, error, "An extension could not be applied.");
                return self
                    .after_decision(fence, snapshot, transition, report)
                    .await;
            }
            tracing::error!(
                operation,
                error,
                "Could not remove or re-time access; retrying with backoff."
            );
            self.deps.metrics.inc(
                "liftgate_revocation_failures_total",
                &[("operation", operation)],
            );
            return self.defer(key, fence, operation, error).await.map(Some);
        }
        tracing::error!(
            operation,
            error,
            "Access cannot be granted; the waiting grants fail."
        );
        self.deps.metrics.inc("liftgate_grant_failures_total", &[]);
        let transition = lifecycle::fail_joiners(record, &snapshot.covered(), error, now);
        self.after_decision(fence, snapshot, transition, report)
            .await
    }

    async fn after_decision(
        &self,
        fence: &Fence,
        snapshot: &Snapshot,
        transition: Transition,
        report: &mut SettleReport,
    ) -> Result<Option<Settled>, WorkflowError> {
        match self
            .commit_decision(fence, snapshot, transition, report)
            .await
        {
            Ok(()) | Err(Failure::Retry { .. } | Failure::Permanent { .. }) => Ok(None),
            Err(Failure::LeaseLost) => Ok(Some(Settled::Busy)),
            Err(Failure::Store(error)) => Err(error),
        }
    }

    /// The permission-set ARN of an account access, from the record or looked up by name.
    async fn permission_set_arn(&self, record: &AccessRecord) -> Result<Option<String>, Failure> {
        match &record.target {
            GrantTarget::Account {
                permission_set_arn: Some(arn),
                ..
            } => Ok(Some(arn.clone())),
            GrantTarget::Account { permission_set, .. } => self
                .deps
                .identity
                .permission_set_arn(permission_set)
                .await
                .map_err(|error| Failure::identity("DescribePermissionSet", error)),
            GrantTarget::Group { .. } => Ok(None),
        }
    }

    async fn required_arn(&self, record: &AccessRecord) -> Result<String, Failure> {
        match self.permission_set_arn(record).await? {
            Some(arn) => Ok(arn),
            None => Err(Failure::Permanent {
                operation: "DescribePermissionSet",
                error: match &record.target {
                    GrantTarget::Account { permission_set, .. } => {
                        format!("the permission set {permission_set} no longer exists")
                    }
                    GrantTarget::Group { .. } => "no permission set".to_owned(),
                },
            }),
        }
    }

    /// Whether Identity Center holds the access now (read only).
    async fn check_existing(
        &self,
        record: &AccessRecord,
    ) -> Result<(Found, Option<String>), Failure> {
        let identity = &self.deps.identity;
        match &record.target {
            GrantTarget::Account { account_id, .. } => {
                let arn = self.required_arn(record).await?;
                let exists = identity
                    .assignment_exists(account_id, &arn, &record.principal_id)
                    .await
                    .map_err(|error| Failure::identity("ListAccountAssignments", error))?;
                Ok((
                    Found {
                        exists,
                        membership_id: None,
                    },
                    Some(arn),
                ))
            }
            GrantTarget::Group { group_id, .. } => {
                let membership = identity
                    .find_membership(group_id, &record.principal_id)
                    .await
                    .map_err(|error| Failure::identity("GetGroupMembershipId", error))?;
                Ok((
                    Found {
                        exists: membership.is_some(),
                        membership_id: membership,
                    },
                    None,
                ))
            }
        }
    }

    /// Verifies the access, creating it when it is Liftgate's to create.
    async fn ensure_present(&self, record: &AccessRecord) -> Result<Presence, Failure> {
        let identity = &self.deps.identity;
        let may_create = matches!(
            record.origin(),
            crate::domain::access::Origin::Liftgate { .. }
        );
        match &record.target {
            GrantTarget::Account { account_id, .. } => {
                let arn = self.required_arn(record).await?;
                let exists = identity
                    .assignment_exists(account_id, &arn, &record.principal_id)
                    .await
                    .map_err(|error| Failure::identity("ListAccountAssignments", error))?;
                if exists {
                    return Ok(Presence::Present {
                        membership_id: None,
                        sso_request_id: None,
                    });
                }
                if !may_create {
                    return Ok(Presence::Absent);
                }
                let receipt = identity
                    .create_assignment(account_id, &arn, &record.principal_id)
                    .await
                    .map_err(|error| Failure::identity("CreateAccountAssignment", error))?;
                Ok(Presence::Present {
                    membership_id: None,
                    sso_request_id: receipt.request_id,
                })
            }
            GrantTarget::Group { group_id, .. } => {
                let existing = identity
                    .find_membership(group_id, &record.principal_id)
                    .await
                    .map_err(|error| Failure::identity("GetGroupMembershipId", error))?;
                if let Some(membership_id) = existing {
                    return Ok(Presence::Present {
                        membership_id: Some(membership_id),
                        sso_request_id: None,
                    });
                }
                if !may_create {
                    return Ok(Presence::Absent);
                }
                let membership_id = identity
                    .add_membership(group_id, &record.principal_id)
                    .await
                    .map_err(|error| Failure::identity("CreateGroupMembership", error))?;
                Ok(Presence::Present {
                    membership_id: Some(membership_id),
                    sso_request_id: None,
                })
            }
        }
    }

    /// Removes the access (gone already is success).
    async fn remove_access(&self, record: &AccessRecord) -> Result<Removed, Failure> {
        let identity = &self.deps.identity;
        match &record.target {
            GrantTarget::Account { account_id, .. } => {
                let Some(arn) = self.permission_set_arn(record).await? else {
                    // The permission set is gone, and with it every assignment of it.
                    return Ok(Removed::default());
                };
                let receipt = identity
                    .delete_assignment(account_id, &arn, &record.principal_id)
                    .await
                    .map_err(|error| Failure::identity("DeleteAccountAssignment", error))?;
                Ok(Removed {
                    sso_request_id: receipt.request_id,
                    permission_set_arn: Some(arn),
                })
            }
            GrantTarget::Group {
                group_id,
                membership_id,
                ..
            } => {
                let membership = match membership_id {
                    Some(id) => Some(id.clone()),
                    None => identity
                        .find_membership(group_id, &record.principal_id)
                        .await
                        .map_err(|error| Failure::identity("GetGroupMembershipId", error))?,
                };
                if let Some(membership) = membership {
                    identity
                        .delete_membership(&membership)
                        .await
                        .map_err(|error| Failure::identity("DeleteGroupMembership", error))?;
                }
                Ok(Removed::default())
            }
        }
    }
}
