//! Settling the schedule group with the state store at startup. A crash (or a failed call) can
//! leave a schedule whose grant is over, or a grant that should have a schedule and has none;
//! both are put right here, before the gateway starts taking requests.

use std::collections::HashSet;

use liftgate_gateway::domain::{Grant, GrantId, GrantStatus};
use liftgate_gateway::ports::{GrantQuery, SchedulerError, StateStore, StoreError};
use time::OffsetDateTime;

use super::{
    EventBridgeScheduler, SCHEDULE_NAME_PREFIX, grant_of_schedule, parse_at_expression,
    revocation_target,
};
use crate::sdk_error::{classify, error_code};

/// Upper bound on the active grants read at startup; far above any real deployment.
const ACTIVE_GRANTS_LIMIT: usize = 100_000;

/// What [`EventBridgeScheduler::adopt_or_delete_orphans`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrphanReport {
    /// Schedules whose grant still holds access and needs them: kept.
    pub adopted: usize,
    /// Of the adopted, those moved to a later end the grant has since been given.
    pub moved: usize,
    /// Schedules of grants that are over, unknown, or whose access another grant's timer covers.
    pub deleted: usize,
    /// Active grants that had no schedule although they need one: given one.
    pub recreated: usize,
    /// Schedules in the group that Liftgate did not name: left alone.
    pub ignored: usize,
    /// Schedules or grants that could not be settled (logged); the sweeper still revokes due
    /// grants itself.
    pub failed: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum OrphanSweepError {
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    #[error("state store: {0}")]
    Store(#[from] StoreError),
}

/// Whether a grant's schedule should exist.
enum Verdict {
    Keep(Box<Grant>),
    Delete(String),
}

/// A grant needs a timer while it may hold access it created itself, unless another grant for
/// the same access ends later (that grant's timer then covers the access, and an earlier timer
/// would remove access the later grant still needs).
async fn verdict(store: &dyn StateStore, grant: Option<Grant>) -> Result<Verdict, StoreError> {
    let Some(grant) = grant else {
        return Ok(Verdict::Delete("no such grant".to_owned()));
    };
    if !grant.status.may_hold_access() {
        return Ok(Verdict::Delete(format!(
            "the grant is {}",
            grant.status.as_str()
        )));
    }
    if grant.preexisting {
        return Ok(Verdict::Delete(
            "the access predates Liftgate and is never removed".to_owned(),
        ));
    }
    let later = store
        .query_grants(GrantQuery::AccessKey {
            key: grant.access_key(),
        })
        .await?
        .into_iter()
        .any(|other| {
            other.id != grant.id && other.status.may_hold_access() && other.ends_at > grant.ends_at
        });
    if later {
        return Ok(Verdict::Delete(
            "a later-ending grant holds the same access".to_owned(),
        ));
    }
    Ok(Verdict::Keep(Box::new(grant)))
}

impl EventBridgeScheduler {
    /// Names of the `liftgate-*` schedules in the group.
    async fn list_liftgate_schedules(&self) -> Result<Vec<String>, SchedulerError> {
        let mut pages = self
            .client
            .list_schedules()
            .group_name(&self.config.group_name)
            .name_prefix(SCHEDULE_NAME_PREFIX)
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(error) if error_code(&error) == Some("ResourceNotFoundException") => {
                    // No group, so no schedules.
                    return Ok(Vec::new());
                }
                Err(error) => {
                    return Err(super::scheduler_error(classify("ListSchedules", &error)));
                }
            };
            names.extend(
                page.schedules()
                    .iter()
                    .filter_map(|summary| summary.name().map(str::to_owned)),
            );
        }
        Ok(names)
    }

    /// Keeps the grant's schedule, moving it later when the grant now ends later than it
    /// fires. Never moves it earlier: a concurrent extension on another replica may have just
    /// moved it past the end read here. Returns whether it was moved.
    async fn adopt(&self, name: &str, grant: &Grant) -> Result<bool, SchedulerError> {
        let result = self
            .client
            .get_schedule()
            .name(name)
            .group_name(&self.config.group_name)
            .send()
            .await;
        let fires_at = match result {
            Ok(schedule) => schedule
                .schedule_expression()
                .and_then(parse_at_expression)
                .filter(|_| {
                    schedule
                        .schedule_expression_timezone()
                        .is_none_or(|zone| zone == "UTC")
                }),
            // It fired or went away meanwhile: written afresh below if the grant still runs.
            Err(error) if error_code(&error) == Some("ResourceNotFoundException") => None,
            Err(error) => return Err(super::scheduler_error(classify("GetSchedule", &error))),
        };
        let wanted = parse_at_expression(&super::at_expression(grant.ends_at));
        if fires_at.is_some() && fires_at >= wanted {
            return Ok(false);
        }
        self.upsert(grant, true).await?;
        Ok(true)
    }

    /// Settles the schedule group with the state store; run once at startup, after
    /// [`Self::ensure_group`]. Each `liftgate-<grant id>` schedule whose grant may still hold
    /// access it created (provisioning, active, revoking) and that no later-ending grant
    /// covers is adopted: kept, or moved later to the grant's current end. Every other
    /// `liftgate-*` schedule (grant revoked, failed, scheduled, pre-existing access, or unknown
    /// to this store) is deleted. Active grants that should have a schedule but have none get
    /// one. Schedules with other names are left alone.
    ///
    /// Fails only when the schedules or grants cannot be listed; a single schedule that cannot
    /// be settled is counted in [`OrphanReport::failed`] and logged.
    pub async fn adopt_or_delete_orphans(
        &self,
        store: &dyn StateStore,
    ) -> Result<OrphanReport, OrphanSweepError> {
        let mut report = OrphanReport::default();
        let mut scheduled: HashSet<GrantId> = HashSet::new();
        for name in self.list_liftgate_schedules().await? {
            let Some(grant_id) = grant_of_schedule(&name) else {
                tracing::warn!(schedule = %name, "A schedule in Liftgate's group that Liftgate did not name; left alone.");
                report.ignored += 1;
                continue;
            };
            scheduled.insert(grant_id.clone());
            let grant = store.get_grant(&grant_id).await?;
            match verdict(store, grant).await? {
                Verdict::Keep(grant) => match self.adopt(&name, &grant).await {
                    Ok(moved) => {
                        report.adopted += 1;
                        report.moved += usize::from(moved);
                        tracing::info!(schedule = %name, grant_id = %grant.id, moved, "Revocation schedule adopted.");
                    }
                    Err(error) => {
                        report.failed += 1;
                        tracing::warn!(schedule = %name, %error, "Could not adopt a revocation schedule.");
                    }
                },
                Verdict::Delete(reason) => match self.delete(&name).await {
                    Ok(()) => {
                        report.deleted += 1;
                        tracing::info!(schedule = %name, %reason, "Leftover revocation schedule deleted.");
                    }
                    Err(error) => {
                        report.failed += 1;
                        tracing::warn!(schedule = %name, %reason, %error, "Could not delete a leftover revocation schedule.");
                    }
                },
            }
        }

        let now = OffsetDateTime::now_utc();
        let active = store
            .query_grants(GrantQuery::Status {
                statuses: vec![GrantStatus::Active],
                limit: ACTIVE_GRANTS_LIMIT,
            })
            .await?;
        for grant in active {
            // A grant past its end is the sweeper's to revoke; a timer for it would be late.
            if scheduled.contains(&grant.id) || grant.ends_at <= now {
                continue;
            }
            let grant_id = grant.id.clone();
            let Verdict::Keep(grant) = verdict(store, Some(grant)).await? else {
                continue;
            };
            if revocation_target(&grant, &self.config.identity_center, &self.partition).is_err() {
                continue;
            }
            match self.upsert(&grant, false).await {
                Ok(()) => {
                    report.recreated += 1;
                    tracing::warn!(grant_id = %grant_id, "An active grant had no revocation schedule; created it.");
                }
                Err(error) => {
                    report.failed += 1;
                    tracing::warn!(grant_id = %grant_id, %error, "Could not create a missing revocation schedule.");
                }
            }
        }
        tracing::info!(
            adopted = report.adopted,
            moved = report.moved,
            deleted = report.deleted,
            recreated = report.recreated,
            ignored = report.ignored,
            failed = report.failed,
            "Revocation schedules settled with the state store."
        );
        Ok(report)
    }
}
