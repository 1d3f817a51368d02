//! Acting on one finding: under the workflow's lease on the access key, check again that no
//! grant or ledger record explains it, then warn (and in `revoke` mode remove it), writing the
//! audit records and the chat warning through the outbox. In `revoke` mode the
//! `drift_detected` record is written before anything is removed, so no removal happens
//! without its record.

use time::OffsetDateTime;

use super::calls::Calls;
use super::scan::{Observed, ObservedTarget};
use super::{FindingOutcome, Names, Reconciler};
use crate::audit::AuditRecord;
use crate::domain::RequestEvent;
use crate::ports::{
    DriftAction, DriftMode, DriftNotice, DriftTarget, IdentityError, StoreError, WriteBatch,
};
use crate::workflow::ACCESS_LEASE_TTL;

/// The audit reason of a `drift_detected` record.
pub(crate) const DRIFT_REASON: &str = "no active grant explains this access";
/// The audit reason of a revocation by the reconciler (upstream's value).
pub(crate) const AUTOMATED_REVOCATION: &str = "automated revocation";

/// Attempts at writing the records of a finding when the store is briefly unavailable.
const PUBLISH_ATTEMPTS: u32 = 3;

/// What acting on a finding came to.
#[derive(Debug)]
pub(crate) struct Acted {
    pub(crate) outcome: FindingOutcome,
    /// Something that went wrong on the side, for the report.
    pub(crate) error: Option<String>,
}

impl From<FindingOutcome> for Acted {
    fn from(outcome: FindingOutcome) -> Self {
        Acted {
            outcome,
            error: None,
        }
    }
}

/// One audit record to write.
struct Event<'a> {
    event: RequestEvent,
    reason: &'a str,
    sso_request_id: Option<&'a str>,
}

impl Reconciler {
    pub(super) async fn act(
        &self,
        observed: &Observed,
        already_reported: bool,
        names: &Names,
        calls: &Calls,
    ) -> Acted {
        if self.mode() == DriftMode::Warn && already_reported {
            return FindingOutcome::AlreadyReported.into();
        }
        let leases = self.service.leases();
        let lease = observed.key.lease_name();
        let held = match leases.try_acquire(&lease, ACCESS_LEASE_TTL).await {
            Ok(Some(held)) => held,
            Ok(None) => {
                return FindingOutcome::Deferred {
                    reason: "Liftgate is changing this access right now".to_owned(),
                }
                .into();
            }
            Err(error) => {
                return Acted {
                    outcome: FindingOutcome::Deferred {
                        reason: format!("could not lock the access: {error}"),
                    },
                    error: Some(format!("could not lock {}: {error}", observed.key)),
                };
            }
        };
        let work = self.act_locked(observed, already_reported, names, calls);
        match leases.run_held(held, ACCESS_LEASE_TTL, work).await {
            Ok(acted) => acted,
            Err(error) => Acted {
                outcome: FindingOutcome::Deferred {
                    reason: format!("lost the lock on the access: {error}"),
                },
                error: Some(format!("lost the lock on {}: {error}", observed.key)),
            },
        }
    }

    async fn act_locked(
        &self,
        observed: &Observed,
        already_reported: bool,
        names: &Names,
        calls: &Calls,
    ) -> Acted {
        match self.explained_now(&observed.key).await {
            Ok(true) => {
                tracing::info!(access_key = %observed.key, "A grant now explains access found by reconciliation; left alone.");
                return FindingOutcome::ExplainedMeanwhile.into();
            }
            Ok(false) => {}
            Err(error) => {
                return Acted {
                    outcome: FindingOutcome::Deferred {
                        reason: format!("could not re-check the grants: {error}"),
                    },
                    error: Some(format!("could not re-check {}: {error}", observed.key)),
                };
            }
        }
        let detected = Event {
            event: RequestEvent::DriftDetected,
            reason: DRIFT_REASON,
            sso_request_id: None,
        };
        match self.mode() {
            DriftMode::Warn => {
                let at = self.service.clock().now();
                match self
                    .publish(at, observed, names, &[detected], Some(DriftAction::Warned))
                    .await
                {
                    Ok(()) => {
                        tracing::warn!(access_key = %observed.key, "Drift detected: access that no grant explains.");
                        FindingOutcome::Warned.into()
                    }
                    Err(error) => Acted {
                        outcome: FindingOutcome::Deferred {
                            reason: format!("could not record the finding: {error}"),
                        },
                        error: Some(format!("could not record {}: {error}", observed.key)),
                    },
                }
            }
            DriftMode::Revoke => {
                // The finding is on record before anything is removed.
                if !already_reported {
                    let at = self.service.clock().now();
                    if let Err(error) = self.publish(at, observed, names, &[detected], None).await {
                        return Acted {
                            outcome: FindingOutcome::Deferred {
                                reason: format!("could not record the finding: {error}"),
                            },
                            error: Some(format!("could not record {}: {error}", observed.key)),
                        };
                    }
                }
                match self.remove(observed, calls).await {
                    Ok(request_id) => {
                        let at = self.service.clock().now();
                        let revoked = Event {
                            event: RequestEvent::Revoked,
                            reason: AUTOMATED_REVOCATION,
                            sso_request_id: request_id.as_deref(),
                        };
                        tracing::warn!(access_key = %observed.key, "Drift revoked: access that no grant explains was removed.");
                        let error = self
                            .publish(at, observed, names, &[revoked], Some(DriftAction::Revoked))
                            .await
                            .err()
                            .map(|error| {
                                tracing::error!(access_key = %observed.key, user_id = %observed.user_id, %error, "Access was revoked but its revocation record could not be written (its detection record was).");
                                format!(
                                    "{} was revoked but its audit record could not be written: {error}",
                                    observed.key
                                )
                            });
                        Acted {
                            outcome: FindingOutcome::Revoked,
                            error,
                        }
                    }
                    Err(failure) => {
                        let message = failure.to_string();
                        tracing::warn!(access_key = %observed.key, error = %message, "Could not revoke drifted access; the next pass tries again.");
                        let mut error = None;
                        if !already_reported {
                            let at = self.service.clock().now();
                            let action = DriftAction::RevocationFailed {
                                error: message.clone(),
                            };
                            if let Err(store_error) =
                                self.publish(at, observed, names, &[], Some(action)).await
                            {
                                error = Some(format!(
                                    "could not record {}: {store_error}",
                                    observed.key
                                ));
                            }
                        }
                        Acted {
                            outcome: FindingOutcome::RevocationFailed { error: message },
                            error,
                        }
                    }
                }
            }
        }
    }

    /// Removes the access through the Identity Center port; returns the deletion's request id.
    async fn remove(
        &self,
        observed: &Observed,
        calls: &Calls,
    ) -> Result<Option<String>, IdentityError> {
        let identity = self.service.identity();
        match &observed.target {
            ObservedTarget::Account {
                account_id,
                permission_set_arn,
                ..
            } => {
                let receipt = calls
                    .call("DeleteAccountAssignment", || {
                        identity.delete_assignment(
                            account_id,
                            permission_set_arn,
                            &observed.user_id,
                        )
                    })
                    .await?;
                Ok(receipt.request_id)
            }
            ObservedTarget::Group { membership_ids, .. } => {
                for membership_id in membership_ids {
                    calls
                        .call("DeleteGroupMembership", || {
                            identity.delete_membership(membership_id)
                        })
                        .await?;
                }
                Ok(None)
            }
        }
    }

    /// Writes the audit records and (with an `action`) the chat warning of a finding in one
    /// batch.
    async fn publish(
        &self,
        at: OffsetDateTime,
        observed: &Observed,
        names: &Names,
        events: &[Event<'_>],
        action: Option<DriftAction>,
    ) -> Result<(), StoreError> {
        let user = names.users.get(&observed.user_id);
        let email = user.and_then(|user| user.email.clone());
        let target = observed
            .target
            .grant_target(names.group_name(&observed.target));
        let mut outbox = Vec::new();
        let mut audit = Vec::new();
        for event in events {
            let record = AuditRecord::for_drift(
                at,
                event.event,
                &observed.user_id,
                email.as_deref(),
                &target,
                event.reason,
                event.sso_request_id,
            );
            audit.push(self.service.audit_append(record));
        }
        if let Some(action) = action {
            let drift_target = names.drift_target(&observed.target);
            let routing = self.service.rules().target_routing(&match &drift_target {
                DriftTarget::Account {
                    account_id,
                    permission_set,
                    ..
                } => liftgate_policy::Target::Account {
                    account_id,
                    permission_set,
                },
                DriftTarget::Group { group_id, .. } => liftgate_policy::Target::Group { group_id },
            });
            let notice = DriftNotice {
                id: uuid::Uuid::new_v4(),
                detected_at: at,
                access_key: observed.key.to_string(),
                target: drift_target,
                routing,
                user_id: observed.user_id.clone(),
                user_email: email,
                user_name: user
                    .and_then(|user| user.display_name.clone().or(user.user_name.clone())),
                mode: self.mode(),
                action,
            };
            outbox.extend(self.service.drift_messages(&notice));
        }
        let mut attempt = 0;
        loop {
            let batch = WriteBatch {
                outbox: outbox.clone(),
                audit: audit.clone(),
                ..WriteBatch::default()
            };
            match self.service.store().commit(batch).await {
                Ok(()) => return Ok(()),
                Err(StoreError::Unavailable(_)) if attempt + 1 < PUBLISH_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt)))
                        .await;
                }
                Err(error) => return Err(error),
            }
        }
    }
}
