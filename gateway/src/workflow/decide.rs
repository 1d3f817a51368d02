//! Decisions people make on a request: approve, deny, cancel, revoke early. Permissions are
//! decided here and in [`crate::domain::lifecycle`], from the verified identity the channel
//! passes in (resolved to its Identity Center user) and the current rules, never from
//! anything a client sent back. Answers say only what the store recorded.

use super::commit::Outcome;
use super::settle::SettleReport;
use super::{AccessService, REVOKE_SETTLE_WAIT, WorkflowError};
use crate::domain::ReviewOutcome;
use crate::domain::lifecycle::{self, Approver, Closer};
use crate::domain::{
    AccessKey, AccessRequest, Channel, Grant, GrantEnd, GrantStatus, Person, RequestId,
    RequestStatus,
};
use crate::ports::GrantQuery;

/// A decision on a request, as every channel hands it to the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Approve {
        comment: Option<String>,
    },
    Deny {
        comment: Option<String>,
    },
    /// The requester withdraws a pending request.
    Cancel,
    /// Ends an active grant early (or calls off an approved one that has not started).
    Revoke,
    /// A reviewer says a break-glass use was justified.
    Acknowledge {
        comment: Option<String>,
    },
    /// A reviewer says it was not: on record, and its access ends if still held.
    Flag {
        comment: Option<String>,
    },
}

impl Action {
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Approve { .. } => "approve",
            Action::Deny { .. } => "deny",
            Action::Cancel => "cancel",
            Action::Revoke => "revoke",
            Action::Acknowledge { .. } => "acknowledge",
            Action::Flag { .. } => "flag",
        }
    }
}

impl AccessService {
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

    /// A grant by id.
    pub async fn grant(&self, id: &crate::domain::GrantId) -> Result<Option<Grant>, WorkflowError> {
        Ok(self.deps.store.get_grant(id).await?)
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
            GrantStatus::ALL.to_vec()
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

    /// One entry point for every decision a person makes in any channel.
    pub async fn act(
        &self,
        id: &RequestId,
        person: &Person,
        channel: Channel,
        action: Action,
    ) -> Result<AccessRequest, WorkflowError> {
        match action {
            Action::Approve { comment } => self.approve(id, person, channel, comment).await,
            Action::Deny { comment } => self.deny(id, person, channel, comment).await,
            Action::Cancel => self.cancel(id, person, channel).await,
            Action::Revoke => self.revoke(id, person, channel).await,
            Action::Acknowledge { comment } => {
                self.review(id, person, channel, ReviewOutcome::Acknowledged, comment)
                    .await
            }
            Action::Flag { comment } => {
                self.review(id, person, channel, ReviewOutcome::Flagged, comment)
                    .await
            }
        }
    }

    /// The Identity Center user of a person acting on a request. Nobody without one may
    /// approve: identities are compared as Identity Center users, never as chat emails.
    pub(super) async fn user_of(&self, person: &Person) -> Result<Option<String>, WorkflowError> {
        Ok(self
            .deps
            .identity
            .find_user(&person.email)
            .await?
            .map(|user| user.user_id))
    }

    /// Counts `approver`'s approval. A request needing N approvals stays pending until N
    /// distinct Identity Center users other than the requester approved; the same person
    /// twice (under any email) counts once.
    #[tracing::instrument(skip_all, fields(request_id = %id, approver = %approver.email))]
    pub async fn approve(
        &self,
        id: &RequestId,
        approver: &Person,
        channel: Channel,
        comment: Option<String>,
    ) -> Result<AccessRequest, WorkflowError> {
        self.check_comment(comment.as_deref())?;
        let Some(user_id) = self.user_of(approver).await? else {
            return Err(WorkflowError::forbidden(
                "not_an_approver",
                format!("no Identity Center user has the email {}", approver.email),
            ));
        };
        let rules = &self.deps.rules;
        let timing = self.timing();
        let (request, approved) = self
            .transact(
                None,
                || self.read_request(id),
                |snapshot, now| {
                    let request = snapshot
                        .request(id)
                        .ok_or_else(|| WorkflowError::NotFound {
                            message: format!("there is no request {id}"),
                        })?;
                    let key = AccessKey::of(
                        &lifecycle::grant_target(&request.target),
                        &request.principal_id,
                    );
                    let decided = request.approve(
                        Approver {
                            person: approver,
                            user_id: &user_id,
                            channel,
                            comment: comment.clone(),
                        },
                        rules,
                        snapshot.ledger(&key),
                        now,
                        &timing,
                    )?;
                    Ok(match decided {
                        None => Outcome::Done((request.clone(), false)),
                        Some(transition) => {
                            let updated = transition
                                .request(id)
                                .map(super::commit::as_stored)
                                .unwrap_or_else(|| request.clone());
                            Outcome::Write(transition, (updated, true))
                        }
                    })
                },
            )
            .await?;
        if !approved {
            return Ok(request);
        }
        self.deps.metrics.inc("liftgate_approvals_total", &[]);
        if request.status() == RequestStatus::Approved {
            self.after_approval(&request.id).await;
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
        self.check_comment(comment.as_deref())?;
        self.close_pending(id, actor, channel, comment, RequestStatus::Denied)
            .await
    }

    /// Withdraws a pending request. The requester may cancel; so may an approver (a deny).
    #[tracing::instrument(skip_all, fields(request_id = %id, actor = %actor.email))]
    pub async fn cancel(
        &self,
        id: &RequestId,
        actor: &Person,
        channel: Channel,
    ) -> Result<AccessRequest, WorkflowError> {
        self.close_pending(id, actor, channel, None, RequestStatus::Cancelled)
            .await
    }

    async fn close_pending(
        &self,
        id: &RequestId,
        actor: &Person,
        channel: Channel,
        comment: Option<String>,
        wanted: RequestStatus,
    ) -> Result<AccessRequest, WorkflowError> {
        let user_id = self.user_of(actor).await?;
        let rules = &self.deps.rules;
        self.transact(
            None,
            || async { self.read_one(id).await },
            |snapshot, now| {
                let request = snapshot
                    .request(id)
                    .ok_or_else(|| WorkflowError::NotFound {
                        message: format!("there is no request {id}"),
                    })?;
                Ok(
                    match request.close(
                        Closer {
                            person: actor,
                            user_id: user_id.as_deref(),
                            channel,
                            comment: comment.as_deref(),
                        },
                        wanted,
                        rules,
                        now,
                    )? {
                        None => Outcome::Done(request.clone()),
                        Some(transition) => {
                            let updated = transition
                                .request(id)
                                .map(super::commit::as_stored)
                                .unwrap_or_else(|| request.clone());
                            Outcome::Write(transition, updated)
                        }
                    },
                )
            },
        )
        .await
    }

    pub(super) async fn read_one(
        &self,
        id: &RequestId,
    ) -> Result<super::commit::Snapshot, WorkflowError> {
        let mut snapshot = super::commit::Snapshot::default();
        let request = self.get(id).await?;
        snapshot.requests.insert(id.clone(), request);
        Ok(snapshot)
    }

    /// Ends an active grant early (or calls off an approved one that has not started). The
    /// requester may end their own; any approver of the request may end it. Answers with what
    /// is stored: `ended` (or `cancelled`) once the access is settled, else the request still
    /// `active` with [`AccessRequest::is_ending`] true, which the sweeper completes.
    #[tracing::instrument(skip_all, fields(request_id = %id, actor = %actor.email))]
    pub async fn revoke(
        &self,
        id: &RequestId,
        actor: &Person,
        channel: Channel,
    ) -> Result<AccessRequest, WorkflowError> {
        let request = self.get(id).await?;
        let requester = Self::requester_of(&request.requester.email, &request.requester_groups);
        let user_id = self.user_of(actor).await?;
        let is_requester = actor.email == request.requester.email
            || user_id.as_deref() == Some(request.principal_id.as_str());
        let target = request.target.policy_target();
        let rules = &self.deps.rules;
        let may_end = liftgate_policy::may_deny(rules, &target, &requester, &actor.email)
            || (request.break_glass.is_some()
                && liftgate_policy::break_glass_reviewer_permitted(
                    rules,
                    &target,
                    &requester,
                    &actor.email,
                ));
        if !is_requester && !may_end {
            return Err(WorkflowError::forbidden(
                "not_an_approver",
                "only the requester or an approver of this request can revoke it",
            ));
        }
        match request.status() {
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
            // An approved extension that has not applied yet: calling it off is a cancel.
            return Err(WorkflowError::conflict(
                "not_active",
                "the request has no grant yet; try again in a moment",
            ));
        };
        let end = GrantEnd {
            channel,
            actor: Some(actor.clone()),
            reason: format!("revoked early by {}", actor.email),
            abandoned: false,
            failed: false,
        };
        self.end(&grant_id, end, REVOKE_SETTLE_WAIT).await?;
        self.get(id).await
    }

    /// Asks for the end of a grant and settles its access, waiting up to `wait` for the
    /// access key's lease. Returns what the settle did (the grant is final once it counted it,
    /// or once any settle did).
    pub(crate) async fn end(
        &self,
        grant_id: &crate::domain::GrantId,
        end: GrantEnd,
        wait: std::time::Duration,
    ) -> Result<SettleReport, WorkflowError> {
        let key = self
            .transact(
                None,
                || self.read_grant(grant_id),
                |snapshot, now| {
                    let grant = snapshot.grant(grant_id).ok_or_else(|| {
                        WorkflowError::Unavailable(format!("grant {grant_id} is missing"))
                    })?;
                    let key = grant.access_key();
                    let requests = snapshot.requests_of(grant);
                    Ok(
                        match lifecycle::end_grant(
                            grant,
                            &requests,
                            snapshot.ledger(&key),
                            end.clone(),
                            now,
                        ) {
                            Some(transition) => Outcome::Write(transition, key),
                            None => Outcome::Done(key),
                        },
                    )
                },
            )
            .await?;
        self.settle(&key, wait).await
    }

    pub(super) fn check_comment(&self, comment: Option<&str>) -> Result<(), WorkflowError> {
        let limit = self.deps.requests.max_comment_length as usize;
        if let Some(comment) = comment
            && comment.trim().chars().count() > limit
        {
            return Err(WorkflowError::invalid(
                "comment_too_long",
                format!("the comment is longer than {limit} characters"),
            ));
        }
        Ok(())
    }
}
