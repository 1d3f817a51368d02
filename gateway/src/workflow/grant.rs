//! Turning approved requests into access and taking it away again.
//!
//! Order of operations, chosen so a crash at any point leaves every grant either revoked on
//! time or still tracked:
//! 1. the grant row with its end is stored (`provisioning`) before anything exists in AWS;
//! 2. existing access is checked once and the answer stored, before anything is created;
//! 3. the out-of-process revocation timer is created before the access (never access without
//!    an end), then the assignment or membership;
//! 4. `active` is committed with the `granted` audit record.
//!
//! Revocation claims the grant (`revoking`, with a lease), removes the access unless another
//! grant still covers it or it predates Liftgate, removes the timer, then commits `revoked`.
//! Changes to one access key (user × account × permission set, or user × group) are serialised
//! across replicas by a store lease on the key.

use time::OffsetDateTime;

use super::records::Event;
use super::{AccessService, CAS_ATTEMPTS, LEASE, WorkflowError};
use crate::domain::{
    AccessRequest, Channel, Grant, GrantEnd, GrantId, GrantStatus, GrantTarget, Person,
    RequestEvent, RequestId, RequestStatus, RequestTarget,
};
use crate::ports::{GrantQuery, IdentityError, NoticeKind, Put, StoreError, WriteBatch};

/// The audit reason of a grant that ended on time (upstream's value).
pub(crate) const SCHEDULED_REVOCATION: &str = "scheduled_revocation";

/// Retry delay after the n-th failed attempt: 5 s doubling, at most 5 minutes.
fn backoff(attempts: u32) -> time::Duration {
    let secs = 5u64.saturating_mul(1u64 << attempts.min(6)).min(300);
    time::Duration::seconds(secs as i64)
}

fn grant_target(target: &RequestTarget) -> GrantTarget {
    match target {
        RequestTarget::Account {
            account_id,
            permission_set,
            ..
        } => GrantTarget::Account {
            account_id: account_id.clone(),
            permission_set: permission_set.clone(),
            permission_set_arn: None,
        },
        RequestTarget::Group {
            group_id,
            group_name,
        } => GrantTarget::Group {
            group_id: group_id.clone(),
            group_name: group_name.clone(),
            membership_id: None,
        },
    }
}

/// Why provisioning stopped.
enum ProvisionError {
    /// Try again later; the grant stays `provisioning`.
    Retry(String),
    /// Cannot succeed; the request fails and anything created is removed.
    Fatal(String),
}

impl From<IdentityError> for ProvisionError {
    fn from(error: IdentityError) -> Self {
        if error.is_retryable() {
            ProvisionError::Retry(error.to_string())
        } else {
            ProvisionError::Fatal(error.to_string())
        }
    }
}

impl From<crate::ports::SchedulerError> for ProvisionError {
    fn from(error: crate::ports::SchedulerError) -> Self {
        match error {
            crate::ports::SchedulerError::Throttled(message) => {
                ProvisionError::Retry(format!("could not schedule the revocation: {message}"))
            }
            crate::ports::SchedulerError::Failed(message) => {
                ProvisionError::Fatal(format!("could not schedule the revocation: {message}"))
            }
        }
    }
}

impl AccessService {
    /// Runs [`Self::activate`] and logs instead of failing: the request is stored either way,
    /// and the sweeper resumes whatever did not finish.
    pub(crate) async fn activate_logged(&self, id: &RequestId) {
        if let Err(error) = self.activate(id).await {
            tracing::warn!(request_id = %id, %error, "Grant not completed yet; the sweeper will retry.");
        }
    }

    async fn load_request(&self, id: &RequestId) -> Result<AccessRequest, WorkflowError> {
        self.deps
            .store
            .get_request(id)
            .await?
            .ok_or_else(|| WorkflowError::NotFound {
                message: format!("there is no request {id}"),
            })
    }

    async fn load_grant(&self, id: &GrantId) -> Result<Grant, WorkflowError> {
        self.deps.store.get_grant(id).await?.ok_or_else(|| {
            WorkflowError::Unavailable(format!("grant {id} is missing from the store"))
        })
    }

    /// Drives an approved request to an active grant (or to its deferred start). Idempotent and
    /// resumable: safe to call again after any failure or crash. Returns whether this call made
    /// the access (or moved an extended grant's end).
    pub(crate) async fn activate(&self, id: &RequestId) -> Result<bool, WorkflowError> {
        for _ in 0..CAS_ATTEMPTS {
            let request = self.load_request(id).await?;
            if request.status != RequestStatus::Approved {
                return Ok(false);
            }
            if let Some(extended) = request.extends.clone() {
                return self.apply_extension(request, &extended).await;
            }
            let grant = match &request.grant_id {
                Some(grant_id) => self.load_grant(grant_id).await?,
                None => match self.plan_grant(request).await? {
                    Some(grant) => grant,
                    None => continue,
                },
            };
            return match grant.status {
                GrantStatus::Scheduled if grant.starts_at > self.now() => Ok(false),
                GrantStatus::Scheduled | GrantStatus::Provisioning => {
                    self.provision(&grant.id).await
                }
                _ => Ok(false),
            };
        }
        Err(WorkflowError::Unavailable(
            "too much contention on this request".to_owned(),
        ))
    }

    /// Stores the grant row, with its end, for an approved request. `None` when the request
    /// changed meanwhile (the caller re-reads).
    async fn plan_grant(&self, mut request: AccessRequest) -> Result<Option<Grant>, WorkflowError> {
        let now = self.now();
        let starts_at = request.start_at.filter(|start| *start > now).unwrap_or(now);
        let ends_at = starts_at + request.duration.to_std();
        let grant = Grant {
            id: GrantId::generate(),
            request_id: request.id.clone(),
            extensions: Vec::new(),
            requester: request.requester.email.clone(),
            principal_id: request.principal_id.clone(),
            target: grant_target(&request.target),
            status: if starts_at > now {
                GrantStatus::Scheduled
            } else {
                GrantStatus::Provisioning
            },
            starts_at,
            ends_at,
            access_checked: false,
            preexisting: false,
            activated_at: None,
            end: None,
            sso_request_id: None,
            attempts: 0,
            next_attempt_at: None,
            last_error: None,
            lease_until: None,
            revoked_at: None,
            version: 0,
        };
        let version = request.version;
        request.grant_id = Some(grant.id.clone());
        request.ends_at = Some(ends_at);
        let batch = WriteBatch {
            requests: vec![Put::update(request, version)],
            grants: vec![Put::insert(grant.clone())],
            outbox: Vec::new(),
        };
        match self.deps.store.commit(batch).await {
            Ok(()) => Ok(Some(Grant {
                version: 1,
                ..grant
            })),
            Err(StoreError::Conflict) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Takes the lease on a grant if nobody else holds it. Returns the claimed grant.
    async fn claim_grant(
        &self,
        mut grant: Grant,
        now: OffsetDateTime,
        status: GrantStatus,
        end: Option<GrantEnd>,
    ) -> Result<Option<Grant>, WorkflowError> {
        let version = grant.version;
        grant.status = status;
        grant.lease_until = Some(now + LEASE);
        if let Some(end) = end {
            grant.end.get_or_insert(end);
        }
        let batch = WriteBatch {
            grants: vec![Put::update(grant.clone(), version)],
            ..WriteBatch::default()
        };
        match self.deps.store.commit(batch).await {
            Ok(()) => Ok(Some(Grant {
                version: version + 1,
                ..grant
            })),
            Err(StoreError::Conflict) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    fn lease_free(&self, grant: &Grant, now: OffsetDateTime) -> bool {
        grant.lease_until.is_none_or(|until| until <= now)
    }

    /// Serialises work on one access key across replicas.
    async fn lock_access(&self, key: &str) -> Result<bool, WorkflowError> {
        let now = self.now();
        Ok(self
            .deps
            .store
            .try_lease(&format!("access:{key}"), &self.owner, now, now + LEASE)
            .await?)
    }

    async fn unlock_access(&self, key: &str) {
        if let Err(error) = self
            .deps
            .store
            .release_lease(&format!("access:{key}"), &self.owner)
            .await
        {
            tracing::warn!(access_key = key, %error, "Could not release an access lock; it expires by itself.");
        }
    }

    /// Other grants that may hold the same access right now.
    async fn overlapping(&self, grant: &Grant) -> Result<Vec<Grant>, WorkflowError> {
        let key = grant.access_key();
        let grants = self
            .deps
            .store
            .query_grants(GrantQuery::AccessKey { key })
            .await?;
        Ok(grants
            .into_iter()
            .filter(|other| other.id != grant.id && other.status.may_hold_access())
            .collect())
    }

    /// Creates the access for a `provisioning` (or due `scheduled`) grant. Returns whether this
    /// call made it active (not when another replica holds the grant, or it failed for good).
    pub(crate) async fn provision(&self, grant_id: &GrantId) -> Result<bool, WorkflowError> {
        let now = self.now();
        let grant = self.load_grant(grant_id).await?;
        let startable = match grant.status {
            GrantStatus::Scheduled => grant.starts_at <= now,
            GrantStatus::Provisioning => self.lease_free(&grant, now),
            _ => false,
        };
        if !startable {
            return Ok(false);
        }
        if grant.ends_at <= now {
            // It would end before it could start (a long outage or crash): never grant it.
            let reason = "the grant's end passed before it could be made".to_owned();
            return self.abandon(grant, reason).await.map(|()| false);
        }
        let Some(mut grant) = self
            .claim_grant(grant, now, GrantStatus::Provisioning, None)
            .await?
        else {
            return Ok(false);
        };
        let key = grant.access_key();
        if !self.lock_access(&key).await? {
            return Err(WorkflowError::Unavailable(
                "another replica is changing the same access; retrying shortly".to_owned(),
            ));
        }
        let outcome = self.provision_locked(&mut grant).await;
        let result = match outcome {
            Ok(()) => self.commit_active(grant).await,
            Err(ProvisionError::Retry(message)) => {
                self.deps
                    .metrics
                    .inc("liftgate_aws_retries_total", &[("operation", "grant")]);
                self.record_retry(grant, &message).await?;
                Err(WorkflowError::Unavailable(message))
            }
            Err(ProvisionError::Fatal(message)) => {
                self.abandon(grant, message).await.map(|()| false)
            }
        };
        self.unlock_access(&key).await;
        result
    }

    /// The AWS part of provisioning, with the access key locked.
    async fn provision_locked(&self, grant: &mut Grant) -> Result<(), ProvisionError> {
        let identity = &self.deps.identity;
        let others = self
            .overlapping(grant)
            .await
            .map_err(|error| ProvisionError::Retry(error.to_string()))?;
        let principal = grant.principal_id.clone();
        if let GrantTarget::Account {
            permission_set,
            permission_set_arn,
            ..
        } = &mut grant.target
            && permission_set_arn.is_none()
        {
            let arn = identity
                .permission_set_arn(permission_set)
                .await?
                .ok_or_else(|| {
                    ProvisionError::Fatal(format!(
                        "the permission set {permission_set:?} no longer exists"
                    ))
                })?;
            *permission_set_arn = Some(arn);
        }
        let exists = match &grant.target {
            GrantTarget::Account {
                account_id,
                permission_set_arn,
                ..
            } => {
                let arn = permission_set_arn.as_deref().unwrap_or_default();
                identity
                    .assignment_exists(account_id, arn, &principal)
                    .await?
            }
            GrantTarget::Group { group_id, .. } => {
                let membership = identity.find_membership(group_id, &principal).await?;
                if let (Some(found), GrantTarget::Group { membership_id, .. }) =
                    (membership.clone(), &mut grant.target)
                {
                    membership_id.get_or_insert(found);
                }
                membership.is_some()
            }
        };
        if !grant.access_checked {
            // Access that exists while no grant of ours holds it predates Liftgate; sharing it
            // with a grant that found it pre-existing keeps it pre-existing.
            grant.preexisting =
                exists && (others.is_empty() || others.iter().any(|other| other.preexisting));
            grant.access_checked = true;
            self.store_progress(grant)
                .await
                .map_err(|error| ProvisionError::Retry(error.to_string()))?;
        }
        if !grant.preexisting {
            self.deps.scheduler.schedule(grant).await?;
        }
        if exists {
            return Ok(());
        }
        match &mut grant.target {
            GrantTarget::Account {
                account_id,
                permission_set_arn,
                ..
            } => {
                let arn = permission_set_arn.as_deref().unwrap_or_default();
                let receipt = identity
                    .create_assignment(account_id, arn, &principal)
                    .await?;
                grant.sso_request_id = receipt.request_id;
            }
            GrantTarget::Group {
                group_id,
                membership_id,
                ..
            } => {
                let created = identity.add_membership(group_id, &principal).await?;
                *membership_id = Some(created);
            }
        }
        // An out-of-process timer removes a membership by its id, which exists only now:
        // schedule again so the timer can act on it.
        if matches!(grant.target, GrantTarget::Group { .. }) {
            self.deps.scheduler.schedule(grant).await?;
        }
        Ok(())
    }

    /// Saves provisioning progress (the existing-access decision) under the grant's lease.
    async fn store_progress(&self, grant: &mut Grant) -> Result<(), WorkflowError> {
        let version = grant.version;
        let batch = WriteBatch {
            grants: vec![Put::update(grant.clone(), version)],
            ..WriteBatch::default()
        };
        self.deps.store.commit(batch).await?;
        grant.version = version + 1;
        Ok(())
    }

    async fn record_retry(&self, mut grant: Grant, message: &str) -> Result<(), WorkflowError> {
        let now = self.now();
        let version = grant.version;
        grant.attempts += 1;
        let retry_at = now + backoff(grant.attempts);
        grant.next_attempt_at = Some(retry_at);
        grant.lease_until = Some(retry_at);
        grant.last_error = Some(message.to_owned());
        tracing::warn!(grant_id = %grant.id, attempts = grant.attempts, error = message, "Grant operation failed; retrying later.");
        let batch = WriteBatch {
            grants: vec![Put::update(grant, version)],
            ..WriteBatch::default()
        };
        match self.deps.store.commit(batch).await {
            Ok(()) | Err(StoreError::Conflict) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Commits a provisioned grant as active, with its request(s), audit record and notice.
    /// Returns false when the grant changed state meanwhile (an early revoke won).
    async fn commit_active(&self, mut grant: Grant) -> Result<bool, WorkflowError> {
        for _ in 0..CAS_ATTEMPTS {
            let now = self.now();
            let mut request = self.load_request(&grant.request_id).await?;
            let request_version = request.version;
            let grant_version = grant.version;
            grant.status = GrantStatus::Active;
            grant.activated_at = Some(now);
            grant.lease_until = None;
            grant.next_attempt_at = None;
            grant.last_error = None;
            let mut outbox = Vec::new();
            let mut requests = Vec::new();
            if request.status == RequestStatus::Approved {
                let detail = format!("until {}", grant.ends_at);
                outbox = self.mark_granted(now, &mut request, &grant, detail);
                requests.push(Put::update(request.clone(), request_version));
            }
            let batch = WriteBatch {
                requests,
                grants: vec![Put::update(grant.clone(), grant_version)],
                outbox,
            };
            match self.deps.store.commit(batch).await {
                Ok(()) => {
                    self.deps.metrics.inc("liftgate_grants_total", &[]);
                    tracing::info!(grant_id = %grant.id, request_id = %grant.request_id, ends_at = %grant.ends_at, preexisting = grant.preexisting, "Access granted.");
                    // Only the grant that ends last needs a revocation timer for this access.
                    self.drop_earlier_timers(&grant).await;
                    return Ok(true);
                }
                Err(StoreError::Conflict) => {
                    grant = self.load_grant(&grant.id).await?;
                    if grant.status != GrantStatus::Provisioning {
                        return Ok(false);
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(WorkflowError::Unavailable(
            "too much contention while activating a grant".to_owned(),
        ))
    }

    /// Marks an approved request active on `grant`: its end, a history line, and the `granted`
    /// audit record (on the channel of the approval that completed it) with a chat notice.
    fn mark_granted(
        &self,
        now: OffsetDateTime,
        request: &mut AccessRequest,
        grant: &Grant,
        detail: String,
    ) -> Vec<crate::ports::OutboxMessage> {
        request.status = RequestStatus::Active;
        request.ends_at = Some(grant.ends_at);
        request.push_history(
            now,
            RequestEvent::Granted,
            Channel::Scheduler,
            None,
            Some(detail),
        );
        let channel = request
            .approvals
            .last()
            .map_or(request.channel, |approval| approval.channel);
        let granted = Event {
            event: RequestEvent::Granted,
            channel,
            actor: None,
            reason: None,
        };
        self.event_messages(
            now,
            request,
            Some(grant),
            &[granted],
            Some(NoticeKind::Updated),
        )
    }

    /// Timers of overlapping grants that end before `grant` would remove access it still
    /// covers (an EventBridge target deletes the assignment itself), so they go.
    async fn drop_earlier_timers(&self, grant: &Grant) {
        let Ok(others) = self.overlapping(grant).await else {
            return;
        };
        for other in others.iter().filter(|other| other.ends_at <= grant.ends_at) {
            if let Err(error) = self.deps.scheduler.cancel(&other.id).await {
                tracing::warn!(grant_id = %other.id, %error, "Could not remove the timer of an overlapped grant.");
            }
        }
    }

    /// Gives up on a grant that cannot be made: the request fails with the reason, and the grant
    /// goes through revocation so anything partially created is removed.
    async fn abandon(&self, grant: Grant, message: String) -> Result<(), WorkflowError> {
        tracing::error!(grant_id = %grant.id, request_id = %grant.request_id, error = %message, "Grant failed.");
        self.deps.metrics.inc("liftgate_grant_failures_total", &[]);
        let end = GrantEnd {
            channel: Channel::Scheduler,
            actor: None,
            reason: message.clone(),
            abandoned: true,
        };
        for _ in 0..CAS_ATTEMPTS {
            let now = self.now();
            let mut request = self.load_request(&grant.request_id).await?;
            let current = self.load_grant(&grant.id).await?;
            if current.status.is_final() {
                return Ok(());
            }
            let (request_version, grant_version) = (request.version, current.version);
            let mut updated = current.clone();
            updated.status = GrantStatus::Revoking;
            updated.ends_at = updated.ends_at.min(now);
            updated.lease_until = None;
            updated.end = Some(end.clone());
            let mut requests = Vec::new();
            let mut outbox = Vec::new();
            if matches!(
                request.status,
                RequestStatus::Approved | RequestStatus::Active
            ) {
                request.status = RequestStatus::Failed;
                request.status_reason = Some(message.clone());
                request.push_history(
                    now,
                    RequestEvent::Failed,
                    Channel::Scheduler,
                    None,
                    Some(message.clone()),
                );
                outbox = self.event_messages(
                    now,
                    &request,
                    Some(&updated),
                    &[Event {
                        event: RequestEvent::Failed,
                        channel: Channel::Scheduler,
                        actor: None,
                        reason: Some(&message),
                    }],
                    Some(NoticeKind::Updated),
                );
                requests.push(Put::update(request, request_version));
            }
            let batch = WriteBatch {
                requests,
                grants: vec![Put::update(updated, grant_version)],
                outbox,
            };
            match self.deps.store.commit(batch).await {
                Ok(()) => {
                    self.deps
                        .metrics
                        .inc("liftgate_transitions_total", &[("status", "failed")]);
                    return self.end_grant(&grant.id, None).await.map(|_| ());
                }
                Err(StoreError::Conflict) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(WorkflowError::Unavailable(
            "too much contention while failing a grant".to_owned(),
        ))
    }

    /// Moves the end of an active grant for an approved extension request.
    async fn apply_extension(
        &self,
        request: AccessRequest,
        grant_id: &GrantId,
    ) -> Result<bool, WorkflowError> {
        let grant = self.load_grant(grant_id).await?;
        if grant.status != GrantStatus::Active {
            // The grant ended meanwhile: the extension becomes an ordinary grant from now.
            let version = request.version;
            let mut request = request;
            request.extends = None;
            let batch = WriteBatch {
                requests: vec![Put::update(request.clone(), version)],
                ..WriteBatch::default()
            };
            return match self.deps.store.commit(batch).await {
                Ok(()) | Err(StoreError::Conflict) => Box::pin(self.activate(&request.id)).await,
                Err(error) => Err(error.into()),
            };
        }
        let key = grant.access_key();
        if !self.lock_access(&key).await? {
            return Err(WorkflowError::Unavailable(
                "another replica is changing the same access".to_owned(),
            ));
        }
        let result = self.extend_locked(request, grant).await;
        self.unlock_access(&key).await;
        result
    }

    async fn extend_locked(
        &self,
        mut request: AccessRequest,
        mut grant: Grant,
    ) -> Result<bool, WorkflowError> {
        let now = self.now();
        let ceiling = now
            + request
                .max_duration
                .unwrap_or(self.deps.requests.max_duration)
                .to_std();
        let new_end = (grant.ends_at + request.duration.to_std())
            .min(ceiling)
            .max(grant.ends_at);
        let mut moved = grant.clone();
        moved.ends_at = new_end;
        if !grant.preexisting
            && let Err(error) = self.deps.scheduler.schedule(&moved).await
        {
            let message = format!("could not move the revocation: {error}");
            return self.fail_request(request, &message).await.map(|()| false);
        }
        let mut original = self.load_request(&grant.request_id).await?;
        let (request_version, grant_version, original_version) =
            (request.version, grant.version, original.version);
        grant.ends_at = new_end;
        grant.extensions.push(request.id.clone());
        request.grant_id = Some(grant.id.clone());
        let detail = format!("extends grant {} until {new_end}", grant.id);
        let mut outbox = self.mark_granted(now, &mut request, &grant, detail);
        let channel = request
            .approvals
            .last()
            .map_or(request.channel, |approval| approval.channel);

        let mut requests = vec![Put::update(request.clone(), request_version)];
        if original.id != request.id {
            original.ends_at = Some(new_end);
            original.push_history(
                now,
                RequestEvent::Extended,
                channel,
                Some(&request.requester.email),
                Some(format!("by request {} until {new_end}", request.id)),
            );
            outbox.extend(self.notice_messages(now, &original.id, NoticeKind::Updated));
            requests.push(Put::update(original, original_version));
        }
        let batch = WriteBatch {
            requests,
            grants: vec![Put::update(grant.clone(), grant_version)],
            outbox,
        };
        match self.deps.store.commit(batch).await {
            Ok(()) => {
                tracing::info!(grant_id = %grant.id, request_id = %request.id, ends_at = %new_end, "Grant extended.");
                Ok(true)
            }
            // Something changed under us; the timer may already point at the new end, which is
            // harmless: the next attempt (or the sweeper) settles both.
            Err(StoreError::Conflict) => Err(WorkflowError::Unavailable(
                "the grant changed while extending it".to_owned(),
            )),
            Err(error) => Err(error.into()),
        }
    }

    /// Fails an approved request that has no grant of its own (a failed extension).
    async fn fail_request(
        &self,
        mut request: AccessRequest,
        message: &str,
    ) -> Result<(), WorkflowError> {
        let now = self.now();
        let version = request.version;
        request.status = RequestStatus::Failed;
        request.status_reason = Some(message.to_owned());
        request.push_history(
            now,
            RequestEvent::Failed,
            Channel::Scheduler,
            None,
            Some(message.to_owned()),
        );
        let outbox = self.event_messages(
            now,
            &request,
            None,
            &[Event {
                event: RequestEvent::Failed,
                channel: Channel::Scheduler,
                actor: None,
                reason: Some(message),
            }],
            Some(NoticeKind::Updated),
        );
        let batch = WriteBatch {
            requests: vec![Put::update(request, version)],
            outbox,
            ..WriteBatch::default()
        };
        match self.deps.store.commit(batch).await {
            Ok(()) | Err(StoreError::Conflict) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Ends a grant: on time (`early` is `None`) or early by `early`'s person and channel.
    /// Returns whether this call ended it (not when it had ended, or another replica holds it).
    /// Idempotent and resumable; a grant already ending under another replica's lease is left
    /// to it.
    pub(crate) async fn end_grant(
        &self,
        grant_id: &GrantId,
        early: Option<(&Person, Channel)>,
    ) -> Result<bool, WorkflowError> {
        let now = self.now();
        let grant = self.load_grant(grant_id).await?;
        if grant.status.is_final() {
            return Ok(false);
        }
        if grant.status == GrantStatus::Revoking && !self.lease_free(&grant, now) {
            return Ok(false);
        }
        if grant.status == GrantStatus::Provisioning
            && !self.lease_free(&grant, now)
            && early.is_none()
        {
            return Ok(false);
        }
        let end = match early {
            Some((person, channel)) => GrantEnd {
                channel,
                actor: Some(person.clone()),
                reason: format!("revoked early by {}", person.email),
                abandoned: grant.status == GrantStatus::Scheduled,
            },
            None => GrantEnd {
                channel: Channel::Scheduler,
                actor: None,
                reason: SCHEDULED_REVOCATION.to_owned(),
                abandoned: grant.activated_at.is_none(),
            },
        };
        let Some(mut grant) = self
            .claim_grant(grant, now, GrantStatus::Revoking, Some(end))
            .await?
        else {
            return Ok(false);
        };
        if early.is_some() {
            grant.ends_at = grant.ends_at.min(now);
        }
        let key = grant.access_key();
        if !self.lock_access(&key).await? {
            return Err(WorkflowError::Unavailable(
                "another replica is changing the same access".to_owned(),
            ));
        }
        let removal = self.remove_access(&mut grant).await;
        let result = match removal {
            Ok(()) => self.commit_revoked(grant).await,
            Err(error) => {
                self.deps
                    .metrics
                    .inc("liftgate_aws_retries_total", &[("operation", "revoke")]);
                self.record_retry(grant, &error.to_string()).await?;
                Err(WorkflowError::Unavailable(error.to_string()))
            }
        };
        self.unlock_access(&key).await;
        result
    }

    /// Removes the grant's access in AWS unless it predates Liftgate or another grant still
    /// covers it, and removes its timer.
    async fn remove_access(&self, grant: &mut Grant) -> Result<(), IdentityError> {
        let others = self
            .overlapping(grant)
            .await
            .map_err(|error| IdentityError::Unavailable(error.to_string()))?;
        let identity = &self.deps.identity;
        let keep = grant.preexisting || !others.is_empty() || !grant.access_checked;
        if !keep {
            match &grant.target {
                GrantTarget::Account {
                    account_id,
                    permission_set,
                    permission_set_arn,
                } => {
                    let arn = match permission_set_arn {
                        Some(arn) => Some(arn.clone()),
                        None => identity.permission_set_arn(permission_set).await?,
                    };
                    if let Some(arn) = arn {
                        let receipt = identity
                            .delete_assignment(account_id, &arn, &grant.principal_id)
                            .await?;
                        if receipt.request_id.is_some() {
                            grant.sso_request_id = receipt.request_id;
                        }
                    }
                }
                GrantTarget::Group {
                    group_id,
                    membership_id,
                    ..
                } => {
                    let membership = match membership_id {
                        Some(id) => Some(id.clone()),
                        None => {
                            identity
                                .find_membership(group_id, &grant.principal_id)
                                .await?
                        }
                    };
                    if let Some(membership) = membership {
                        identity.delete_membership(&membership).await?;
                    }
                }
            }
        }
        self.deps
            .scheduler
            .cancel(&grant.id)
            .await
            .map_err(|error| IdentityError::Unavailable(error.to_string()))?;
        // The grant that now ends last takes over the timer for the access it still covers.
        if !grant.preexisting
            && let Some(latest) = others
                .iter()
                .filter(|o| o.status == GrantStatus::Active)
                .max_by_key(|o| o.ends_at)
            && let Err(error) = self.deps.scheduler.schedule(latest).await
        {
            tracing::warn!(grant_id = %latest.id, %error, "Could not hand the revocation timer over.");
        }
        Ok(())
    }

    /// Commits a revoked grant with its request(s), audit records and notices.
    async fn commit_revoked(&self, mut grant: Grant) -> Result<bool, WorkflowError> {
        let end = grant.end.clone().unwrap_or(GrantEnd {
            channel: Channel::Scheduler,
            actor: None,
            reason: SCHEDULED_REVOCATION.to_owned(),
            abandoned: false,
        });
        for _ in 0..CAS_ATTEMPTS {
            let now = self.now();
            let grant_version = grant.version;
            grant.status = if end.abandoned {
                GrantStatus::Failed
            } else {
                GrantStatus::Revoked
            };
            grant.revoked_at = Some(now);
            grant.lease_until = None;
            grant.next_attempt_at = None;
            let mut request_ids = vec![grant.request_id.clone()];
            request_ids.extend(grant.extensions.iter().cloned());
            let mut requests = Vec::new();
            let mut outbox = Vec::new();
            for request_id in &request_ids {
                let mut request = self.load_request(request_id).await?;
                let version = request.version;
                let (status, event) = match request.status {
                    RequestStatus::Active => (RequestStatus::Ended, RequestEvent::Revoked),
                    RequestStatus::Approved => (RequestStatus::Cancelled, RequestEvent::Cancelled),
                    _ => continue,
                };
                request.status = status;
                request.ends_at = Some(now.min(request.ends_at.unwrap_or(now)));
                request.status_reason = Some(end.reason.clone());
                request.push_history(
                    now,
                    event,
                    end.channel,
                    end.actor.as_ref().map(|a| &a.email),
                    Some(end.reason.clone()),
                );
                outbox.extend(self.event_messages(
                    now,
                    &request,
                    Some(&grant),
                    &[Event {
                        event,
                        channel: end.channel,
                        actor: end.actor.as_ref(),
                        reason: Some(&end.reason),
                    }],
                    Some(NoticeKind::Updated),
                ));
                requests.push(Put::update(request, version));
            }
            let batch = WriteBatch {
                requests,
                grants: vec![Put::update(grant.clone(), grant_version)],
                outbox,
            };
            match self.deps.store.commit(batch).await {
                Ok(()) => {
                    let kind = match (end.abandoned, end.actor.is_some()) {
                        (true, _) => "abandoned",
                        (false, true) => "early",
                        (false, false) => "scheduled",
                    };
                    self.deps
                        .metrics
                        .inc("liftgate_revocations_total", &[("reason", kind)]);
                    tracing::info!(grant_id = %grant.id, reason = %end.reason, "Access revoked.");
                    return Ok(true);
                }
                Err(StoreError::Conflict) => {
                    let current = self.load_grant(&grant.id).await?;
                    if current.status.is_final() {
                        return Ok(false);
                    }
                    grant.version = current.version;
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(WorkflowError::Unavailable(
            "too much contention while revoking a grant".to_owned(),
        ))
    }
}
