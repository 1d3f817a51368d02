//! Decisions people make on a request: approve, deny, cancel, revoke early. Permissions are
//! decided here, from the verified identity the channel passes in and the current rules,
//! never from anything a client sent back.

use time::OffsetDateTime;

use super::records::Event;
use super::{AccessService, CAS_ATTEMPTS, WorkflowError};
use crate::domain::{
    AccessRequest, Approval, Channel, Grant, GrantStatus, Person, RequestEvent, RequestId,
    RequestStatus,
};
use crate::ports::{GrantQuery, NoticeKind, OutboxMessage, Put, StoreError, WriteBatch};

/// What a decision does to the request it read.
enum Change {
    /// Nothing to write (a repeated call); answer with the request as it is.
    Unchanged,
    /// Write the modified request with these outbox messages.
    Write(Vec<OutboxMessage>),
}

impl AccessService {
    /// Reads a request, lets `decide` change it, and writes it back with a compare-and-set,
    /// re-reading and deciding again whenever another writer got there first.
    async fn modify_request<F>(
        &self,
        id: &RequestId,
        mut decide: F,
    ) -> Result<(AccessRequest, bool), WorkflowError>
    where
        F: FnMut(&mut AccessRequest, OffsetDateTime) -> Result<Change, WorkflowError>,
    {
        for _ in 0..CAS_ATTEMPTS {
            let mut request = self.get(id).await?;
            let version = request.version;
            let now = self.now();
            match decide(&mut request, now)? {
                Change::Unchanged => return Ok((request, false)),
                Change::Write(outbox) => {
                    let batch = WriteBatch {
                        requests: vec![Put::update(request.clone(), version)],
                        grants: Vec::new(),
                        outbox,
                    };
                    match self.deps.store.commit(batch).await {
                        Ok(()) => {
                            request.version = version + 1;
                            return Ok((request, true));
                        }
                        Err(StoreError::Conflict) => continue,
                        Err(error) => return Err(error.into()),
                    }
                }
            }
        }
        Err(WorkflowError::Unavailable(
            "too many concurrent changes to this request; try again".to_owned(),
        ))
    }

    /// A request and its history.
    pub async fn get(&self, id: &RequestId) -> Result<AccessRequest, WorkflowError> {
        self.deps
            .store
            .get_request(id)
            .await?
            .ok_or_else(|| WorkflowError::NotFound {
                message: format!("there is no request {id}"),
            })
    }

    /// Grants, active ones (provisioning, active, being revoked) or all recent ones.
    pub async fn grants(&self, active_only: bool) -> Result<Vec<Grant>, WorkflowError> {
        let statuses = if active_only {
            vec![
                GrantStatus::Provisioning,
                GrantStatus::Active,
                GrantStatus::Revoking,
            ]
        } else {
            vec![
                GrantStatus::Scheduled,
                GrantStatus::Provisioning,
                GrantStatus::Active,
                GrantStatus::Revoking,
                GrantStatus::Revoked,
                GrantStatus::Failed,
            ]
        };
        Ok(self
            .deps
            .store
            .query_grants(GrantQuery::Status {
                statuses,
                limit: 1000,
            })
            .await?)
    }

    /// Counts `approver`'s approval. A request needing N approvals stays pending until N
    /// distinct eligible approvers approved; the same person twice counts once.
    #[tracing::instrument(skip_all, fields(request_id = %id, approver = %approver.email))]
    pub async fn approve(
        &self,
        id: &RequestId,
        approver: &Person,
        channel: Channel,
        comment: Option<String>,
    ) -> Result<AccessRequest, WorkflowError> {
        let rules = &self.deps.rules;
        let max_duration = self.deps.requests.max_duration;
        let (request, changed) = self
            .modify_request(id, |request, now| {
                let email = &approver.email;
                if request.status != RequestStatus::Pending {
                    if request.has_approval_from(email) {
                        return Ok(Change::Unchanged);
                    }
                    return Err(WorkflowError::conflict(
                        "not_pending",
                        format!("the request is {}, not pending", request.status.as_str()),
                    ));
                }
                let requester =
                    Self::requester_of(&request.requester.email, &request.requester_groups);
                let target = request.target.policy_target();
                if !liftgate_policy::approver_permitted(rules, &target, &requester, email) {
                    let message = if email == &request.requester.email {
                        "you may not approve your own request"
                    } else {
                        "you are not an approver of this request"
                    };
                    return Err(WorkflowError::forbidden("not_an_approver", message));
                }
                if request.has_approval_from(email) {
                    return Ok(Change::Unchanged);
                }
                // The rules may have changed since the request was made: the stricter count wins.
                let current = liftgate_policy::evaluate(rules, &target, &requester, max_duration);
                let required = request.required_approvals.max(current.required_approvals);
                request.required_approvals = required;
                request.approvals.push(Approval {
                    approver: approver.clone(),
                    at: now,
                    channel,
                    comment: comment.clone(),
                });
                let counted = request.approvals.len() as u32;
                request.push_history(
                    now,
                    RequestEvent::Approved,
                    channel,
                    Some(email),
                    Some(format!("{counted} of {required}")),
                );
                if counted >= required {
                    request.status = RequestStatus::Approved;
                    request.next_reminder_at = None;
                }
                Ok(Change::Write(self.event_messages(
                    now,
                    request,
                    None,
                    &[Event {
                        event: RequestEvent::Approved,
                        channel,
                        actor: Some(approver),
                        reason: None,
                    }],
                    Some(NoticeKind::Updated),
                )))
            })
            .await?;
        if !changed {
            return Ok(request);
        }
        self.deps.metrics.inc("liftgate_approvals_total", &[]);
        if request.status == RequestStatus::Approved {
            self.deps
                .metrics
                .inc("liftgate_transitions_total", &[("status", "approved")]);
            self.activate_logged(&request.id).await;
            return self.get(&request.id).await;
        }
        Ok(request)
    }

    /// Refuses a pending request. Only an approver of the request may deny; the requester
    /// withdrawing is a cancel.
    #[tracing::instrument(skip_all, fields(request_id = %id, actor = %actor.email))]
    pub async fn deny(
        &self,
        id: &RequestId,
        actor: &Person,
        channel: Channel,
        comment: Option<String>,
    ) -> Result<AccessRequest, WorkflowError> {
        let (request, changed) = self
            .close_pending(id, actor, channel, comment, RequestStatus::Denied)
            .await?;
        if changed {
            self.deps.metrics.inc(
                "liftgate_transitions_total",
                &[("status", request.status.as_str())],
            );
        }
        Ok(request)
    }

    /// Withdraws a pending request. The requester may cancel; so may an approver (a deny).
    #[tracing::instrument(skip_all, fields(request_id = %id, actor = %actor.email))]
    pub async fn cancel(
        &self,
        id: &RequestId,
        actor: &Person,
        channel: Channel,
    ) -> Result<AccessRequest, WorkflowError> {
        let (request, changed) = self
            .close_pending(id, actor, channel, None, RequestStatus::Cancelled)
            .await?;
        if changed {
            self.deps.metrics.inc(
                "liftgate_transitions_total",
                &[("status", request.status.as_str())],
            );
        }
        Ok(request)
    }

    async fn close_pending(
        &self,
        id: &RequestId,
        actor: &Person,
        channel: Channel,
        comment: Option<String>,
        wanted: RequestStatus,
    ) -> Result<(AccessRequest, bool), WorkflowError> {
        let rules = &self.deps.rules;
        self.modify_request(id, |request, now| {
            let email = &actor.email;
            let is_requester = email == &request.requester.email;
            // The requester withdrawing is always a cancel, whatever they clicked.
            let status = if is_requester {
                RequestStatus::Cancelled
            } else {
                wanted
            };
            if request.status != RequestStatus::Pending {
                let repeated = request.status == status
                    && request
                        .history
                        .last()
                        .is_some_and(|entry| entry.actor.as_ref() == Some(email));
                if repeated {
                    return Ok(Change::Unchanged);
                }
                return Err(WorkflowError::conflict(
                    "not_pending",
                    format!("the request is {}, not pending", request.status.as_str()),
                ));
            }
            let requester = Self::requester_of(&request.requester.email, &request.requester_groups);
            if !liftgate_policy::may_deny(rules, &request.target.policy_target(), &requester, email)
            {
                return Err(WorkflowError::forbidden(
                    "not_an_approver",
                    "only an approver of this request, or its requester, can deny or cancel it",
                ));
            }
            let (event, verb) = match status {
                RequestStatus::Cancelled => (RequestEvent::Cancelled, "cancelled"),
                _ => (RequestEvent::Denied, "denied"),
            };
            let mut reason = format!("{verb} by {email}");
            if let Some(comment) = comment.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
                reason.push_str(": ");
                reason.push_str(comment);
            }
            request.status = status;
            request.status_reason = Some(reason.clone());
            request.next_reminder_at = None;
            request.push_history(now, event, channel, Some(email), comment.clone());
            Ok(Change::Write(self.event_messages(
                now,
                request,
                None,
                &[Event {
                    event,
                    channel,
                    actor: Some(actor),
                    reason: None,
                }],
                Some(NoticeKind::Updated),
            )))
        })
        .await
    }

    /// Ends an active grant early (or calls off an approved one that has not started). The
    /// requester may end their own; any approver of the request may end it.
    #[tracing::instrument(skip_all, fields(request_id = %id, actor = %actor.email))]
    pub async fn revoke(
        &self,
        id: &RequestId,
        actor: &Person,
        channel: Channel,
    ) -> Result<AccessRequest, WorkflowError> {
        let request = self.get(id).await?;
        let requester = Self::requester_of(&request.requester.email, &request.requester_groups);
        if !liftgate_policy::may_deny(
            &self.deps.rules,
            &request.target.policy_target(),
            &requester,
            &actor.email,
        ) {
            return Err(WorkflowError::forbidden(
                "not_an_approver",
                "only the requester or an approver of this request can revoke it",
            ));
        }
        match request.status {
            RequestStatus::Active | RequestStatus::Approved => {}
            RequestStatus::Ended => return Ok(request),
            RequestStatus::Pending => {
                return Err(WorkflowError::conflict(
                    "not_active",
                    "the request is still pending; cancel it instead",
                ));
            }
            other => {
                return Err(WorkflowError::conflict(
                    "not_active",
                    format!("the request is {}, not active", other.as_str()),
                ));
            }
        }
        let Some(grant_id) = request.grant_id.clone() else {
            return Err(WorkflowError::conflict(
                "not_active",
                "the request has no grant yet; try again in a moment",
            ));
        };
        self.end_grant(&grant_id, Some((actor, channel))).await?;
        self.get(id).await
    }
}
