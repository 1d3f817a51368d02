use std::collections::BTreeSet;

use liftgate_policy::{Decision, Rules};

use super::records::Event;
use super::{AccessService, NewRequest, TargetInput, WorkflowError};
use crate::domain::{
    AccessRequest, GrantStatus, GrantTarget, RequestEvent, RequestId, RequestStatus, RequestTarget,
};
use crate::ports::{NoticeKind, Put, StoreError, WriteBatch};

/// How long a create idempotency key is remembered.
const IDEMPOTENCY_WINDOW: time::Duration = time::Duration::hours(24);

/// How far ahead a deferred start may be.
const MAX_START_DELAY: time::Duration = time::Duration::days(30);

pub(crate) fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// Every group id that some rule's `AllowedGroups` names: the only memberships worth looking up.
fn groups_rules_ask_about(rules: &Rules) -> BTreeSet<String> {
    let statements = rules
        .statements
        .iter()
        .flat_map(|s| s.allowed_groups.iter());
    let group_statements = rules
        .group_statements
        .iter()
        .flat_map(|s| s.allowed_groups.iter());
    statements.chain(group_statements).cloned().collect()
}

fn refusal_reason(decision: Decision, target: &RequestTarget) -> String {
    let what = match target {
        RequestTarget::Account { .. } => "this account and permission set",
        RequestTarget::Group { .. } => "this group",
    };
    match decision {
        Decision::NoStatements => format!("no rule covers {what}"),
        Decision::RequesterNotAllowed => {
            format!("the rules that cover {what} do not let you request it")
        }
        Decision::NoApprovers => "nobody can approve this request".to_owned(),
        other => other.as_str().to_owned(),
    }
}

impl AccessService {
    /// Creates a request: validates it against AWS (the account, permission set or group, the
    /// requester's Identity Center user), evaluates the rules, stores it with its audit
    /// records, and grants at once when the rules say so. Refusals by rule (no statements,
    /// nobody can approve) are stored as `denied`, so the attempt is on record.
    #[tracing::instrument(skip_all, fields(requester = %input.requester.email, channel = input.channel.as_str()))]
    pub async fn create(&self, input: NewRequest) -> Result<AccessRequest, WorkflowError> {
        let now = self.now();
        let settings = &self.deps.requests;
        let reason = input.reason.trim().to_owned();
        if reason.is_empty() {
            return Err(WorkflowError::invalid(
                "missing_reason",
                "a reason is required",
            ));
        }
        if reason.chars().count() > settings.max_reason_length as usize {
            return Err(WorkflowError::invalid(
                "reason_too_long",
                format!(
                    "the reason is longer than {} characters",
                    settings.max_reason_length
                ),
            ));
        }

        let mut id = RequestId::generate();
        if let Some(key) = &input.idempotency_key {
            let remembered = self
                .deps
                .store
                .remember_once(
                    &format!("create:{key}"),
                    id.as_str(),
                    now,
                    now + IDEMPOTENCY_WINDOW,
                )
                .await?;
            if let Some(existing) = remembered.as_deref().and_then(RequestId::parse) {
                if let Some(request) = self.deps.store.get_request(&existing).await? {
                    return Ok(request);
                }
                // The first attempt is still running or was refused; decide again under the
                // same id, so at most one of the two can ever be stored.
                id = existing;
            }
        }

        let target = self.resolve_target(&input.target).await?;
        let email = &input.requester.email;
        let user = self.deps.identity.find_user(email).await?.ok_or_else(|| {
            WorkflowError::unprocessable(
                "unknown_user",
                format!("no Identity Center user has the email {email}"),
            )
        })?;
        let candidates = groups_rules_ask_about(&self.deps.rules);
        let requester_groups = if candidates.is_empty() {
            BTreeSet::new()
        } else {
            self.deps
                .identity
                .member_groups(&user.user_id, &candidates)
                .await?
        };

        let requester = Self::requester_of(email, &requester_groups);
        let evaluation = liftgate_policy::evaluate(
            &self.deps.rules,
            &target.policy_target(),
            &requester,
            settings.max_duration,
        );
        let max_duration = evaluation.max_duration.unwrap_or(settings.max_duration);
        if input.duration > max_duration {
            return Err(WorkflowError::unprocessable(
                "duration_too_long",
                format!(
                    "{} is longer than the {max_duration} this request may last",
                    input.duration
                ),
            ));
        }

        let start_at = match input.start_at {
            Some(start) if start > now + MAX_START_DELAY => {
                return Err(WorkflowError::invalid(
                    "start_too_late",
                    "the start may be at most 30 days ahead",
                ));
            }
            Some(start) if start > now => Some(start),
            _ => None,
        };

        if let Some(grant_id) = &input.extends {
            self.check_extension(grant_id, email, &target).await?;
        }

        let status = match evaluation.decision {
            decision if decision.granted() => RequestStatus::Approved,
            Decision::RequiresApproval => RequestStatus::Pending,
            _ => RequestStatus::Denied,
        };
        let mut request = AccessRequest {
            id,
            target,
            requester: input.requester.clone(),
            principal_id: user.user_id,
            secondary_domain_used: user.secondary_domain_used,
            requester_groups,
            duration: input.duration,
            reason,
            channel: input.channel,
            created_at: now,
            expires_at: now + settings.expiration.to_std(),
            start_at,
            decision: evaluation.decision,
            approvers: evaluation.approvers.clone(),
            required_approvals: evaluation.required_approvals,
            statements: evaluation.statements.clone(),
            max_duration: evaluation.max_duration,
            status,
            status_reason: None,
            approvals: Vec::new(),
            grant_id: None,
            ends_at: None,
            extends: input.extends.clone(),
            next_reminder_at: (status == RequestStatus::Pending && settings.reminders)
                .then(|| now + settings.reminder_initial_wait.to_std()),
            reminders_sent: 0,
            history: Vec::new(),
            version: 0,
        };
        request.push_history(
            now,
            RequestEvent::Requested,
            input.channel,
            Some(email),
            None,
        );
        let mut events = vec![Event {
            event: RequestEvent::Requested,
            channel: input.channel,
            actor: None,
            reason: None,
        }];
        match status {
            RequestStatus::Approved => {
                let detail = evaluation.decision.as_str().to_owned();
                request.push_history(
                    now,
                    RequestEvent::Approved,
                    input.channel,
                    None,
                    Some(detail),
                );
                let actor =
                    (evaluation.decision == Decision::SelfApproval).then_some(&input.requester);
                events.push(Event {
                    event: RequestEvent::Approved,
                    channel: input.channel,
                    actor,
                    reason: None,
                });
            }
            RequestStatus::Denied => {
                let why = refusal_reason(evaluation.decision, &request.target);
                request.push_history(
                    now,
                    RequestEvent::Denied,
                    input.channel,
                    None,
                    Some(why.clone()),
                );
                request.status_reason = Some(why);
                events.push(Event {
                    event: RequestEvent::Denied,
                    channel: input.channel,
                    actor: None,
                    reason: None,
                });
            }
            _ => {}
        }
        let outbox = self.event_messages(now, &request, None, &events, Some(NoticeKind::Created));
        let batch = WriteBatch {
            requests: vec![Put::insert(request.clone())],
            grants: Vec::new(),
            outbox,
        };
        match self.deps.store.commit(batch).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                // A concurrent retry with the same idempotency key stored it first.
                return self
                    .deps
                    .store
                    .get_request(&request.id)
                    .await?
                    .ok_or_else(|| {
                        WorkflowError::Unavailable("request vanished after a conflict".to_owned())
                    });
            }
            Err(error) => return Err(error.into()),
        }
        self.deps.metrics.inc(
            "liftgate_requests_total",
            &[
                ("decision", evaluation.decision.as_str()),
                ("channel", input.channel.as_str()),
            ],
        );
        tracing::info!(
            request_id = %request.id,
            decision = evaluation.decision.as_str(),
            status = status.as_str(),
            "Request created."
        );

        if status == RequestStatus::Approved {
            self.activate_logged(&request.id).await;
        }
        Ok(self
            .deps
            .store
            .get_request(&request.id)
            .await?
            .unwrap_or(request))
    }

    async fn resolve_target(&self, input: &TargetInput) -> Result<RequestTarget, WorkflowError> {
        let identity = &self.deps.identity;
        match input {
            TargetInput::Account {
                account_id,
                permission_set,
            } => {
                let account_id = account_id.trim();
                if !is_account_id(account_id) {
                    return Err(WorkflowError::unprocessable(
                        "unknown_account",
                        format!("{account_id:?} is not an AWS account id (12 digits)"),
                    ));
                }
                let account = identity
                    .describe_account(account_id)
                    .await?
                    .ok_or_else(|| {
                        WorkflowError::unprocessable(
                            "unknown_account",
                            format!("account {account_id} is not in the organization"),
                        )
                    })?;
                let permission_set = permission_set.trim();
                if permission_set.is_empty()
                    || identity.permission_set_arn(permission_set).await?.is_none()
                {
                    return Err(WorkflowError::unprocessable(
                        "unknown_permission_set",
                        format!("there is no permission set named {permission_set:?}"),
                    ));
                }
                Ok(RequestTarget::Account {
                    account_id: account_id.to_owned(),
                    account_name: Some(account.name),
                    permission_set: permission_set.to_owned(),
                })
            }
            TargetInput::Group { group_id } => {
                let group_id = group_id.trim();
                let valid_shape = !group_id.is_empty()
                    && group_id.len() <= 47
                    && group_id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
                let group = if valid_shape {
                    identity.describe_group(group_id).await?
                } else {
                    None
                };
                let group = group.ok_or_else(|| {
                    WorkflowError::unprocessable(
                        "unknown_group",
                        format!("there is no Identity Center group with id {group_id:?}"),
                    )
                })?;
                Ok(RequestTarget::Group {
                    group_id: group.id,
                    group_name: Some(group.name),
                })
            }
        }
    }

    async fn check_extension(
        &self,
        grant_id: &crate::domain::GrantId,
        requester: &liftgate_policy::Email,
        target: &RequestTarget,
    ) -> Result<(), WorkflowError> {
        let cannot = |message: &str| WorkflowError::unprocessable("cannot_extend", message);
        let grant = self
            .deps
            .store
            .get_grant(grant_id)
            .await?
            .ok_or_else(|| cannot("there is no such grant"))?;
        if &grant.requester != requester {
            return Err(WorkflowError::forbidden(
                "cannot_extend",
                "only the person holding a grant can extend it",
            ));
        }
        if grant.status != GrantStatus::Active {
            return Err(cannot("only an active grant can be extended"));
        }
        let same_target = match (&grant.target, target) {
            (
                GrantTarget::Account {
                    account_id,
                    permission_set,
                    ..
                },
                RequestTarget::Account {
                    account_id: wanted_account,
                    permission_set: wanted_set,
                    ..
                },
            ) => account_id == wanted_account && permission_set == wanted_set,
            (
                GrantTarget::Group { group_id, .. },
                RequestTarget::Group {
                    group_id: wanted, ..
                },
            ) => group_id == wanted,
            _ => false,
        };
        if !same_target {
            return Err(cannot(
                "an extension must ask for the same access as the grant",
            ));
        }
        Ok(())
    }
}
