//! Making a request: validate it against AWS (the account, permission set or group, the
//! requester's Identity Center user), evaluate the rules, and store it with its audit records.
//! A request the rules grant at once is approved with its grant planned in the same commit,
//! and its access is settled before the call returns (or by the sweeper if that is slow).

use super::commit::Outcome;
use super::settle::{SettleReport, Settled};
use super::{AccessService, NewRequest, REQUEST_SETTLE_WAIT, TargetInput, WorkflowError};
use crate::domain::lifecycle::{self, MAX_START_DELAY, RequestDraft};
use crate::domain::{
    AccessKey, AccessRequest, GrantStatus, GrantTarget, RequestId, RequestStatus, RequestTarget,
};

/// How long a create idempotency key is remembered.
const IDEMPOTENCY_WINDOW: time::Duration = time::Duration::hours(24);

pub(crate) fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

impl AccessService {
    /// Creates a request. Refusals by rule (no statements, nobody can approve) are stored as
    /// `denied`, so the attempt is on record; invalid input changes nothing.
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
        if input.break_glass && (input.start_at.is_some() || input.extends.is_some()) {
            return Err(WorkflowError::invalid(
                "break_glass_now_only",
                "breaking the glass grants new access now: it cannot start later or extend a grant",
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

        super::rate_limit::claim_create(
            self.deps.store.as_ref(),
            &input.requester.email,
            settings.rate_limit,
            now,
            id.as_str(),
        )
        .await
        .inspect_err(|error| {
            if matches!(error, WorkflowError::RateLimited { .. }) {
                self.deps.metrics.inc(
                    "liftgate_requests_rate_limited_total",
                    &[("channel", input.channel.as_str())],
                );
                tracing::info!(requester = %input.requester.email, channel = input.channel.as_str(), "Refused a create over the requester's hourly limit.");
            }
        })?;
        let target = self.resolve_target(&input.target).await?;
        let facts = self.requester_facts(&input.requester.email).await?;
        let requester = Self::requester_of(&facts.email, &facts.groups);
        // Break-glass is decided over the `BreakGlass` statements alone (docs/reference.md §3);
        // refused, it is stored denied like any refusal, so the attempt is on record.
        let decide = if input.break_glass {
            liftgate_policy::evaluate_break_glass
        } else {
            liftgate_policy::evaluate
        };
        let evaluation = decide(
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
        let policy_target = target.policy_target();
        if let Err(refusal) = self
            .deps
            .rules
            .check_reason(&policy_target, &evaluation, &reason)
        {
            return Err(WorkflowError::unprocessable(
                "reason_mismatch",
                refusal.message(),
            ));
        }
        let warnings = self.deps.rules.warnings(&policy_target, &evaluation);
        let mut routing = self.deps.rules.routing(&policy_target, &evaluation);
        if input.break_glass {
            // Loud: every reviewer hears of it directly as well as in the channel.
            routing.direct = true;
        }
        if let Some(grant_id) = &input.extends {
            self.check_extension(grant_id, &input.requester.email, &target)
                .await?;
        }

        let quiet_if_refused = !evaluation.decision.granted()
            && evaluation.decision != liftgate_policy::Decision::RequiresApproval
            && !super::rate_limit::first_refusal_this_window(
                self.deps.store.as_ref(),
                &input.requester.email,
                now,
                id.as_str(),
            )
            .await?;
        let key = AccessKey::of(&lifecycle::grant_target(&target), &facts.user_id);
        let draft = RequestDraft {
            id: id.clone(),
            target,
            requester: input.requester.clone(),
            principal_id: facts.user_id.clone(),
            secondary_domain_used: facts.secondary_domain_used,
            requester_groups: facts.groups.clone(),
            duration: input.duration,
            reason,
            channel: input.channel,
            start_at,
            extends: input.extends.clone(),
            quiet_if_refused,
            warnings,
            routing,
            break_glass: input.break_glass,
        };
        let timing = self.timing();
        let stored = self
            .transact(
                None,
                || async {
                    let mut snapshot = super::commit::Snapshot::default();
                    if let Some(existing) = self.deps.store.get_request(&id).await? {
                        snapshot.requests.insert(id.clone(), existing);
                    }
                    snapshot
                        .access
                        .insert(key.clone(), self.read_ledger(&key).await?);
                    Ok(snapshot)
                },
                |snapshot, now| {
                    // A concurrent retry with the same idempotency key stored it first.
                    if let Some(existing) = snapshot.request(&id) {
                        return Ok(Outcome::Done((existing.clone(), false)));
                    }
                    let transition = lifecycle::create(
                        draft.clone(),
                        &evaluation,
                        snapshot.ledger(&key),
                        now,
                        &timing,
                    );
                    let created = transition
                        .request(&id)
                        .map(super::commit::as_stored)
                        .ok_or_else(|| WorkflowError::Unavailable("no request".to_owned()))?;
                    Ok(Outcome::Write(transition, (created, true)))
                },
            )
            .await?;
        let (request, created) = stored;
        if !created {
            return Ok(request);
        }
        self.deps.metrics.inc(
            "liftgate_requests_total",
            &[
                ("decision", evaluation.decision.as_str()),
                ("channel", input.channel.as_str()),
            ],
        );
        if input.break_glass {
            let outcome = if request.break_glass.is_some() {
                "used"
            } else {
                "refused"
            };
            self.deps
                .metrics
                .inc("liftgate_break_glass_total", &[("outcome", outcome)]);
            if request.break_glass.is_some() {
                tracing::warn!(request_id = %request.id, requester = %request.requester.email, target = %request.target.describe(), "Break-glass access granted; it must be reviewed.");
            } else {
                tracing::warn!(request_id = %request.id, requester = %request.requester.email, decision = evaluation.decision.as_str(), "Break-glass refused.");
            }
        }
        tracing::info!(
            request_id = %request.id,
            decision = evaluation.decision.as_str(),
            status = request.status().as_str(),
            "Request created."
        );
        if request.status() == RequestStatus::Approved {
            self.after_approval(&request.id).await;
        }
        self.get(&request.id).await
    }

    /// Brings an approved request's access about: settles its key, or applies an approved
    /// extension. Failures are logged; the request is stored either way and the sweeper
    /// finishes what did not.
    pub(crate) async fn after_approval(&self, id: &RequestId) {
        let outcome = self.activate(id).await;
        match outcome.map(|report| report.outcome) {
            Ok(Settled::Done) => {}
            Ok(Settled::Busy | Settled::Deferred) => {
                tracing::info!(request_id = %id, "Access not settled yet; the sweeper finishes it.");
            }
            Err(error) => {
                tracing::warn!(request_id = %id, %error, "Grant not completed yet; the sweeper will retry.");
            }
        }
    }

    /// Plans the grant of an approved request that has none, applies an approved extension,
    /// and settles the access key.
    pub(crate) async fn activate(&self, id: &RequestId) -> Result<SettleReport, WorkflowError> {
        let max_duration = self.deps.requests.max_duration;
        let key = self
            .transact(
                None,
                || self.read_request(id),
                |snapshot, now| {
                    let Some(request) = snapshot.request(id) else {
                        return Ok(Outcome::Done(None));
                    };
                    let key = AccessKey::of(
                        &lifecycle::grant_target(&request.target),
                        &request.principal_id,
                    );
                    if request.status() != RequestStatus::Approved {
                        return Ok(Outcome::Done(None));
                    }
                    if let Some(extended) = &request.extends
                        && request.grant_id.is_none()
                    {
                        let grant = snapshot.grant(extended);
                        let active = grant.is_some_and(|g| g.status() == GrantStatus::Active);
                        if let (Some(grant), Some(ledger), true) =
                            (grant, snapshot.ledger(&key), active)
                        {
                            return Ok(
                                match lifecycle::request_extension(
                                    request,
                                    grant,
                                    ledger,
                                    now,
                                    max_duration,
                                ) {
                                    Some(transition) => Outcome::Write(transition, Some(key)),
                                    None => Outcome::Done(Some(key)),
                                },
                            );
                        }
                        // The grant ended meanwhile: the extension becomes an ordinary grant
                        // from now.
                    }
                    if request.grant_id.is_some() {
                        return Ok(Outcome::Done(Some(key)));
                    }
                    match lifecycle::plan_grant(request, snapshot.ledger(&key), now) {
                        Some(transition) => Ok(Outcome::Write(transition, Some(key))),
                        None => Ok(Outcome::Done(Some(key))),
                    }
                },
            )
            .await?;
        match key {
            Some(key) => self.settle(&key, REQUEST_SETTLE_WAIT).await,
            None => Ok(SettleReport::default()),
        }
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
                    account_name: Some(account.name.to_string()),
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
        if grant.status() != GrantStatus::Active {
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
