//! Ending the live role sessions of removed account access (docs/reference.md §3
//! `RevokeSessions`, §6): the deny statement in the permission set's inline policy
//! (`crate::domain::sessions`), the re-provisioning that carries it to the account, and its
//! removal once the sessions it ends have expired by themselves.
//!
//! Durable like revocations themselves. The settle commit that records the access removed also
//! writes an outbox row (topic [`REVOKE_TOPIC`]), so a crash after the assignment is deleted
//! but before that commit repeats the removal (gone already is success) and writes the row
//! then; a crash after it leaves the row for any replica. Whichever replica claims the row
//! edits the inline policy under the lease `permission-set:<arn>` (every edit of one set, by
//! any replica, is a read-merge-write under it, renewed right before each AWS write, so no
//! edit is lost), re-provisions, and commits the audit record `sessions_revoked` with the
//! cleanup row (topic [`EXPIRE_TOPIC`], due when the longest session issued before the removal
//! has expired). Both ids are derived from the claimed row's, so a second run after a lost
//! answer conflicts instead of recording twice. Every edit also drops the statements that
//! have expired, so the policy stays as small as it can.
//!
//! A revocation that cannot be made (the document would exceed the quota, the inline policy
//! is not a policy Liftgate can merge into, AWS refuses for good, or the sessions expired
//! before it could be applied) is refused loudly: an error log, audit event
//! `sessions_revocation_refused` with the reason, and `liftgate_session_revocations_total
//! {outcome="refused"}`.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::AccessService;
use super::lease::LeaseGuard;
use crate::audit::AuditRecord;
use crate::domain::sessions::{
    InlinePolicy, LONGEST_SESSION, PolicyError, Rendered, RevokedSessions, ceil_to_second,
};
use crate::domain::{AccessKey, AccessRecord, Channel, GrantId, GrantTarget, RequestEvent};
use crate::ports::{
    IdentityError, OutboxMessage, PermissionSetPolicies, Provisioned, StoreError, WriteBatch,
};

/// A removed access whose sessions are to be ended.
pub const REVOKE_TOPIC: &str = "sessions:revoke";
/// A permission set whose Liftgate statements may have expired.
pub const EXPIRE_TOPIC: &str = "sessions:expire";
/// The family of both topics.
pub const SESSIONS_TOPIC_PREFIX: &str = "sessions:";

/// How long the lease of one permission set's inline policy lives without renewal.
const POLICY_LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// When a busy permission set is tried again.
const BUSY_RETRY: time::Duration = time::Duration::seconds(5);

/// The cleanup runs this long after the statement's expiry, past small clock differences.
const EXPIRY_MARGIN: time::Duration = time::Duration::minutes(1);

/// The payload of a [`REVOKE_TOPIC`] row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRevocation {
    pub access_key: AccessKey,
    pub account_id: String,
    pub permission_set: String,
    pub permission_set_arn: String,
    /// The Identity Store user whose sessions end.
    pub principal_id: String,
    /// When the removal of the assignment was confirmed: sessions issued before it end.
    #[serde(with = "time::serde::rfc3339")]
    pub removed_at: OffsetDateTime,
    /// The grants whose end removed the access, for the audit records.
    pub grants: Vec<GrantId>,
}

/// The payload of an [`EXPIRE_TOPIC`] row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingExpiry {
    pub permission_set: String,
    pub permission_set_arn: String,
    pub account_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
}

/// What the audit records of a revocation say (their `revoked_sessions` field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsRevocation {
    pub permission_set_arn: String,
    /// Sessions of the user in the account issued before this are denied everything.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_before: OffsetDateTime,
    /// When the statement goes (the longest such session has expired).
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    /// Accounts the permission set was provisioned to again.
    #[serde(default)]
    pub provisioned: Vec<String>,
    /// Why it was refused (event `sessions_revocation_refused`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// What the dispatcher does with a row.
#[derive(Debug)]
pub(crate) enum SessionStep {
    Done,
    RetryAt(String, OffsetDateTime),
    /// This version cannot read the row: keep it.
    Unreadable(String),
}

/// An id derived from a row's and a purpose, so writing it twice conflicts.
fn derived_id(from: uuid::Uuid, purpose: &str) -> uuid::Uuid {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(from.as_bytes());
    context.update(purpose.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&context.finish().as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn payload<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value)
        .unwrap_or_else(|error| serde_json::json!({ "unserialisable": error.to_string() }))
}

/// Backoff between failed attempts: 10 s doubling, at most 10 minutes.
fn backoff(attempts: u32) -> time::Duration {
    time::Duration::seconds((10i64 << attempts.min(6)).min(600))
}

impl AccessService {
    /// The revocation row of an access removed just now (`removed_at`), when its sessions are
    /// to be ended: account access, this removal ending grants (not the check after the
    /// quarantine), and `RevokeSessions` on for it (docs/reference.md §3).
    pub(crate) fn session_revocation_rows(
        &self,
        record: &AccessRecord,
        permission_set_arn: Option<&str>,
        removed_at: OffsetDateTime,
    ) -> Vec<OutboxMessage> {
        let (
            GrantTarget::Account {
                account_id,
                permission_set,
                ..
            },
            Some(arn),
        ) = (&record.target, permission_set_arn)
        else {
            return Vec::new();
        };
        if record.leaving().is_empty()
            || !liftgate_policy::revokes_sessions(
                self.rules(),
                account_id,
                permission_set,
                self.settings().revoke_sessions,
            )
        {
            return Vec::new();
        }
        let pending = PendingRevocation {
            access_key: record.key.clone(),
            account_id: account_id.clone(),
            permission_set: permission_set.clone(),
            permission_set_arn: arn.to_owned(),
            principal_id: record.principal_id.clone(),
            removed_at,
            grants: record.leaving().iter().cloned().collect(),
        };
        vec![OutboxMessage {
            id: uuid::Uuid::new_v4(),
            topic: REVOKE_TOPIC.to_owned(),
            payload: payload(&pending),
            created_at: removed_at,
            attempts: 0,
            not_before: None,
        }]
    }
}

/// Carries out [`REVOKE_TOPIC`] and [`EXPIRE_TOPIC`] rows for the [`super::OutboxDispatcher`].
#[derive(Debug, Clone)]
pub struct SessionRevoker {
    service: AccessService,
    policies: Arc<dyn PermissionSetPolicies>,
}

/// How an edit under the lease ended.
enum Edit {
    Applied(Provisioned),
    Refused(String),
    Failed(IdentityError),
    Lost,
}

impl SessionRevoker {
    pub fn new(service: AccessService, policies: Arc<dyn PermissionSetPolicies>) -> Self {
        SessionRevoker { service, policies }
    }

    fn now(&self) -> OffsetDateTime {
        self.service.now()
    }

    /// A row nobody can carry out (no replica has the revoker) is given up once every session
    /// it was about has expired anyway.
    pub(crate) fn is_abandoned(message: &OutboxMessage, now: OffsetDateTime) -> bool {
        now - message.first_due() > LONGEST_SESSION + EXPIRY_MARGIN
    }

    pub(crate) async fn run(&self, message: &OutboxMessage) -> SessionStep {
        match message.topic.as_str() {
            REVOKE_TOPIC => match serde_json::from_value(message.payload.clone()) {
                Ok(pending) => self.revoke(message, pending).await,
                Err(error) => {
                    SessionStep::Unreadable(format!("unreadable session revocation: {error}"))
                }
            },
            EXPIRE_TOPIC => match serde_json::from_value(message.payload.clone()) {
                Ok(pending) => self.expire(message, pending).await,
                Err(error) => {
                    SessionStep::Unreadable(format!("unreadable session expiry: {error}"))
                }
            },
            other => SessionStep::Unreadable(format!("unknown sessions topic {other}")),
        }
    }

    /// How long sessions of the permission set last: its `SessionDuration`, or the longest
    /// possible when Identity Center does not say.
    async fn session_duration(&self, arn: &str) -> Result<time::Duration, IdentityError> {
        match self.service.identity().session_duration(arn).await {
            Ok(Some(duration)) => Ok(time::Duration::seconds(
                i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
            )
            .min(LONGEST_SESSION)),
            Ok(None) => Ok(LONGEST_SESSION),
            Err(error) if error.is_retryable() => Err(error),
            Err(error) => {
                tracing::warn!(permission_set_arn = arn, %error, "Could not read the session duration; keeping the statement for the longest possible session.");
                Ok(LONGEST_SESSION)
            }
        }
    }

    async fn revoke(&self, message: &OutboxMessage, pending: PendingRevocation) -> SessionStep {
        let now = self.now();
        let issued_before = ceil_to_second(pending.removed_at);
        let duration = match self.session_duration(&pending.permission_set_arn).await {
            Ok(duration) => duration,
            Err(error) => {
                return SessionStep::RetryAt(error.to_string(), now + backoff(message.attempts));
            }
        };
        let until = issued_before + duration;
        let mut outcome = SessionsRevocation {
            permission_set_arn: pending.permission_set_arn.clone(),
            issued_before,
            until,
            provisioned: Vec::new(),
            refused: None,
        };
        if now >= until {
            outcome.refused = Some(
                "every session issued before the removal expired before the revocation could be \
                 applied"
                    .to_owned(),
            );
            return self.record(message, &pending, outcome).await;
        }
        let entry = RevokedSessions {
            account_id: pending.account_id.clone(),
            user_id: pending.principal_id.clone(),
            issued_before,
            until,
        };
        let lease = format!("permission-set:{}", pending.permission_set_arn);
        let leases = Arc::clone(self.service.leases());
        let arn = pending.permission_set_arn.clone();
        let edited = leases
            .with_guard(
                &lease,
                POLICY_LEASE_TTL,
                std::time::Duration::ZERO,
                move |guard| self.edit(arn, Some(entry), guard),
            )
            .await;
        match edited {
            Ok(Some(Edit::Applied(provisioned))) => {
                outcome.provisioned = provisioned.accounts;
                self.record(message, &pending, outcome).await
            }
            Ok(Some(Edit::Refused(reason))) => {
                outcome.refused = Some(reason);
                self.record(message, &pending, outcome).await
            }
            Ok(Some(Edit::Failed(error))) if error.is_retryable() => {
                tracing::warn!(permission_set_arn = %pending.permission_set_arn, %error, "Session revocation failed; retrying later.");
                SessionStep::RetryAt(error.to_string(), self.now() + backoff(message.attempts))
            }
            Ok(Some(Edit::Failed(error))) => {
                outcome.refused = Some(error.to_string());
                self.record(message, &pending, outcome).await
            }
            Ok(Some(Edit::Lost)) | Err(super::LeaseError::Lost(_)) | Ok(None) => {
                SessionStep::RetryAt(
                    "another replica is editing this permission set's inline policy".to_owned(),
                    self.now() + BUSY_RETRY,
                )
            }
            Err(super::LeaseError::Store(error)) => {
                SessionStep::RetryAt(error.to_string(), self.now() + backoff(message.attempts))
            }
        }
    }

    async fn expire(&self, message: &OutboxMessage, pending: PendingExpiry) -> SessionStep {
        let now = self.now();
        if now < pending.until {
            return SessionStep::RetryAt("not expired yet".to_owned(), pending.until);
        }
        let lease = format!("permission-set:{}", pending.permission_set_arn);
        let leases = Arc::clone(self.service.leases());
        let arn = pending.permission_set_arn.clone();
        let edited = leases
            .with_guard(
                &lease,
                POLICY_LEASE_TTL,
                std::time::Duration::ZERO,
                move |guard| self.edit(arn, None, guard),
            )
            .await;
        match edited {
            Ok(Some(Edit::Applied(_))) => SessionStep::Done,
            Ok(Some(Edit::Refused(reason))) => {
                tracing::error!(permission_set = %pending.permission_set, permission_set_arn = %pending.permission_set_arn, reason, "Expired session revocations could not be removed from the inline policy.");
                SessionStep::Done
            }
            Ok(Some(Edit::Failed(error))) if error.is_retryable() => {
                SessionStep::RetryAt(error.to_string(), self.now() + backoff(message.attempts))
            }
            Ok(Some(Edit::Failed(error))) => {
                tracing::error!(permission_set_arn = %pending.permission_set_arn, %error, "Expired session revocations could not be removed; the next edit of the set removes them.");
                SessionStep::Done
            }
            Ok(Some(Edit::Lost)) | Err(super::LeaseError::Lost(_)) | Ok(None) => {
                SessionStep::RetryAt(
                    "another replica is editing this permission set's inline policy".to_owned(),
                    self.now() + BUSY_RETRY,
                )
            }
            Err(super::LeaseError::Store(error)) => {
                SessionStep::RetryAt(error.to_string(), self.now() + backoff(message.attempts))
            }
        }
    }

    /// The read-merge-write of one permission set's inline policy, under its lease: expired
    /// statements go, `add` joins, the result is written (when it changed) and the set is
    /// provisioned again to the accounts whose statements changed. With `add`, the account is
    /// provisioned even when the document already held the entry: an earlier attempt may
    /// have written it and stopped before provisioning.
    async fn edit(&self, arn: String, add: Option<RevokedSessions>, guard: LeaseGuard) -> Edit {
        let policies = &self.policies;
        let current = match policies.inline_policy(&arn).await {
            Ok(current) => current,
            Err(error) => return Edit::Failed(error),
        };
        let mut policy = match InlinePolicy::parse(current.as_deref()) {
            Ok(policy) => policy,
            Err(error) => return Edit::Refused(error.to_string()),
        };
        let mut accounts: BTreeSet<String> = policy.expire(self.now());
        let expired = !accounts.is_empty();
        let mut added = false;
        if let Some(entry) = &add {
            added = policy.revoke(entry);
            accounts.insert(entry.account_id.clone());
        }
        if accounts.is_empty() {
            return Edit::Applied(Provisioned::default());
        }
        let rendered = match policy.render() {
            Ok(rendered) => rendered,
            Err(error @ PolicyError::TooLarge { .. }) => {
                return Edit::Refused(format!(
                    "{error}; {} statements of Liftgate's are in it, the rest is foreign",
                    policy.entries().len()
                ));
            }
            Err(error) => return Edit::Refused(error.to_string()),
        };
        if added || expired {
            // AWS cannot check a fence: write only right after renewing the lease.
            if !matches!(guard.confirm().await, Ok(true)) {
                return Edit::Lost;
            }
            let written = match &rendered {
                Rendered::Put(document) => policies.put_inline_policy(&arn, document).await,
                Rendered::Delete => policies.delete_inline_policy(&arn).await,
            };
            if let Err(error) = written {
                return Edit::Failed(error);
            }
            tracing::info!(permission_set_arn = %arn, added, expired, "Inline policy of ended sessions updated.");
        }
        if !matches!(guard.confirm().await, Ok(true)) {
            return Edit::Lost;
        }
        let accounts: Vec<String> = accounts.into_iter().collect();
        match policies.reprovision(&arn, &accounts).await {
            Ok(provisioned) => {
                if expired {
                    self.service.metrics().inc(
                        "liftgate_session_revocations_total",
                        &[("outcome", "expired")],
                    );
                }
                Edit::Applied(provisioned)
            }
            Err(error) => Edit::Failed(error),
        }
    }

    /// Commits the audit record of each grant of the revocation with the cleanup row, once.
    async fn record(
        &self,
        message: &OutboxMessage,
        pending: &PendingRevocation,
        outcome: SessionsRevocation,
    ) -> SessionStep {
        let store = self.service.store();
        let now = self.now();
        let refused = outcome.refused.is_some();
        let (event, reason) = match &outcome.refused {
            None => (
                RequestEvent::SessionsRevoked,
                format!(
                    "role sessions of {} in {} issued before {} are denied until {}",
                    pending.permission_set,
                    pending.account_id,
                    outcome.issued_before,
                    outcome.until
                ),
            ),
            Some(why) => (
                RequestEvent::SessionsRevocationRefused,
                format!("live role sessions were not ended: {why}"),
            ),
        };
        let mut audit = Vec::new();
        for grant_id in &pending.grants {
            let grant = match store.get_grant(grant_id).await {
                Ok(Some(grant)) => grant,
                Ok(None) => continue,
                Err(error) => {
                    return SessionStep::RetryAt(error.to_string(), now + backoff(0));
                }
            };
            let request = match store.get_request(&grant.request_id).await {
                Ok(Some(request)) => request,
                Ok(None) => continue,
                Err(error) => {
                    return SessionStep::RetryAt(error.to_string(), now + backoff(0));
                }
            };
            let mut record = AuditRecord::for_request(
                now,
                event,
                Channel::Scheduler,
                &request,
                Some(&grant),
                None,
                Some(&reason),
            );
            record.id = derived_id(message.id, grant_id.as_str());
            record.fields.revoked_sessions = Some(outcome.clone());
            audit.push(self.service.audit_append(record));
        }
        let cleanup = PendingExpiry {
            permission_set: pending.permission_set.clone(),
            permission_set_arn: pending.permission_set_arn.clone(),
            account_id: pending.account_id.clone(),
            until: outcome.until,
        };
        // Also after a refusal: the cleanup then only removes what expired meanwhile, and the
        // row's fixed id is what makes a second run of this row conflict.
        let batch = WriteBatch {
            outbox: vec![OutboxMessage {
                id: derived_id(message.id, EXPIRE_TOPIC),
                topic: EXPIRE_TOPIC.to_owned(),
                payload: payload(&cleanup),
                created_at: now,
                attempts: 0,
                not_before: Some(outcome.until + EXPIRY_MARGIN),
            }],
            audit,
            ..WriteBatch::default()
        };
        match store.commit(batch).await {
            Ok(()) => {}
            // Nothing else in the batch is compared: the cleanup row is already there, so
            // this revocation was recorded by an earlier run.
            Err(StoreError::Conflict) => return SessionStep::Done,
            Err(error) => return SessionStep::RetryAt(error.to_string(), now + backoff(0)),
        }
        let label = if refused { "refused" } else { "revoked" };
        self.service
            .metrics()
            .inc("liftgate_session_revocations_total", &[("outcome", label)]);
        if let Some(why) = &outcome.refused {
            tracing::error!(
                access_key = %pending.access_key,
                permission_set_arn = %pending.permission_set_arn,
                reason = %why,
                "Live role sessions of removed access were NOT ended."
            );
        } else {
            tracing::info!(
                access_key = %pending.access_key,
                permission_set_arn = %pending.permission_set_arn,
                issued_before = %outcome.issued_before,
                until = %outcome.until,
                accounts = ?outcome.provisioned,
                "Live role sessions of removed access ended."
            );
        }
        SessionStep::Done
    }
}
