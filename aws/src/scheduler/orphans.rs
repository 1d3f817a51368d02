//! Settling the schedule group with the state store at startup. A crash (or a failed call) can
//! leave a schedule whose grant is over, or a grant that should have a schedule and has none;
//! both are put right here, before the gateway starts taking requests.

use std::collections::{BTreeMap, HashSet};

use liftgate_gateway::domain::{AccessKey, AccessRecord, GrantStatus};
use liftgate_gateway::ports::{AccessQuery, SchedulerError, StateStore, StoreError};
use time::OffsetDateTime;

use super::{
    EventBridgeScheduler, SCHEDULE_NAME_PREFIX, grant_of_legacy_schedule, is_access_schedule,
    parse_at_expression, revocation_target, schedule_name, target_of,
};
use crate::sdk_error::{classify, error_code};

/// Ledger records read per page at startup.
const PAGE: usize = 1000;

/// What [`EventBridgeScheduler::adopt_or_delete_orphans`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrphanReport {
    /// Schedules whose access still needs them: kept.
    pub adopted: usize,
    /// Of the adopted, those moved to the later end the ledger now has.
    pub moved: usize,
    /// Schedules of access nobody holds any more, or that predates Liftgate, or unknown to
    /// this store; and schedules of an earlier version, replaced by per-access ones.
    pub deleted: usize,
    /// Held access that had no schedule although it needs one: given one.
    pub recreated: usize,
    /// Schedules in the group that Liftgate did not name: left alone.
    pub ignored: usize,
    /// Schedules or records that could not be settled (logged); the sweeper still revokes due
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

/// Every ledger record that needs a timer, by schedule name, with when it must fire.
async fn wanted_timers(
    store: &dyn StateStore,
    now: OffsetDateTime,
) -> Result<BTreeMap<String, (AccessRecord, OffsetDateTime)>, StoreError> {
    let mut wanted = BTreeMap::new();
    let mut after: Option<AccessKey> = None;
    loop {
        let page = store
            .query_access(AccessQuery::All {
                after: after.clone(),
                limit: PAGE,
            })
            .await?;
        let done = page.len() < PAGE;
        after = page.last().map(|record| record.key.clone());
        for record in page {
            // An end already passed is the sweeper's to carry out; a timer for it would be late.
            if let Some(at) = record.desired_timer().filter(|at| *at > now) {
                wanted.insert(schedule_name(&record.key), (record, at));
            }
        }
        if done {
            return Ok(wanted);
        }
    }
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

    /// When a schedule fires, if it exists and is a UTC `at(...)`.
    async fn fires_at(&self, name: &str) -> Result<Option<OffsetDateTime>, SchedulerError> {
        let result = self
            .client
            .get_schedule()
            .name(name)
            .group_name(&self.config.group_name)
            .send()
            .await;
        match result {
            Ok(schedule) => Ok(schedule
                .schedule_expression()
                .and_then(parse_at_expression)
                .filter(|_| {
                    schedule
                        .schedule_expression_timezone()
                        .is_none_or(|zone| zone == "UTC")
                })),
            Err(error) if error_code(&error) == Some("ResourceNotFoundException") => Ok(None),
            Err(error) => Err(super::scheduler_error(classify("GetSchedule", &error))),
        }
    }

    /// Writes the timer of `record` to fire at `at`.
    async fn put_timer(
        &self,
        record: &AccessRecord,
        at: OffsetDateTime,
    ) -> Result<(), SchedulerError> {
        let revocation = revocation_target(record, &self.config.identity_center, &self.partition)
            .map_err(|problem| SchedulerError::Failed(format!("{problem:?}")))?;
        self.upsert(&record.key, &revocation, at, false).await
    }

    /// Settles the schedule group with the state store; run once at startup, after
    /// [`Self::ensure_group`]. Each `liftgate-<hash>` schedule whose access the ledger still
    /// times is adopted (kept, or moved later to the ledger's end; never earlier, since another
    /// replica may have just moved it); every other one is deleted. Schedules of an earlier
    /// version (`liftgate-<grant id>`, one per grant) are replaced: the access they time gets
    /// its per-access schedule at no earlier time, then the old one goes. Held access that
    /// needs a timer and has none gets one. Schedules with other names are left alone.
    ///
    /// Fails only when the schedules or records cannot be listed; a single schedule that cannot
    /// be settled is counted in [`OrphanReport::failed`] and logged.
    pub async fn adopt_or_delete_orphans(
        &self,
        store: &dyn StateStore,
        now: OffsetDateTime,
    ) -> Result<OrphanReport, OrphanSweepError> {
        let mut report = OrphanReport::default();
        let wanted = wanted_timers(store, now).await?;
        let mut seen: HashSet<String> = HashSet::new();
        for name in self.list_liftgate_schedules().await? {
            if let Some(grant_id) = grant_of_legacy_schedule(&name) {
                match self
                    .replace_legacy(store, &name, &grant_id, &wanted, now)
                    .await
                {
                    Ok(()) => report.deleted += 1,
                    Err(error) => {
                        report.failed += 1;
                        tracing::warn!(schedule = %name, %error, "Could not replace a per-grant revocation schedule.");
                    }
                }
                continue;
            }
            if !is_access_schedule(&name) {
                tracing::warn!(schedule = %name, "A schedule in Liftgate's group that Liftgate did not name; left alone.");
                report.ignored += 1;
                continue;
            }
            seen.insert(name.clone());
            match wanted.get(&name) {
                Some((record, at)) => {
                    let outcome = match self.fires_at(&name).await {
                        Ok(Some(fires)) if fires >= *at => Ok(false),
                        Ok(_) => self.put_timer(record, *at).await.map(|()| true),
                        Err(error) => Err(error),
                    };
                    match outcome {
                        Ok(moved) => {
                            report.adopted += 1;
                            report.moved += usize::from(moved);
                            tracing::info!(schedule = %name, access_key = %record.key, moved, "Revocation schedule adopted.");
                        }
                        Err(error) => {
                            report.failed += 1;
                            tracing::warn!(schedule = %name, %error, "Could not adopt a revocation schedule.");
                        }
                    }
                }
                None => match self.delete(&name).await {
                    Ok(()) => {
                        report.deleted += 1;
                        tracing::info!(schedule = %name, "Revocation schedule of access nobody holds deleted.");
                    }
                    Err(error) => {
                        report.failed += 1;
                        tracing::warn!(schedule = %name, %error, "Could not delete a leftover revocation schedule.");
                    }
                },
            }
        }
        for (name, (record, at)) in &wanted {
            if seen.contains(name) {
                continue;
            }
            match self.put_timer(record, *at).await {
                Ok(()) => {
                    report.recreated += 1;
                    tracing::warn!(access_key = %record.key, "Held access had no revocation schedule; created it.");
                }
                Err(error) => {
                    report.failed += 1;
                    tracing::warn!(access_key = %record.key, %error, "Could not create a missing revocation schedule.");
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

    /// A per-grant schedule of an earlier version: the access it times gets its per-access
    /// schedule (at no earlier time) before the old one is deleted, so the access is never
    /// without a timer.
    async fn replace_legacy(
        &self,
        store: &dyn StateStore,
        name: &str,
        grant_id: &liftgate_gateway::domain::GrantId,
        wanted: &BTreeMap<String, (AccessRecord, OffsetDateTime)>,
        now: OffsetDateTime,
    ) -> Result<(), OrphanSweepError> {
        if let Some(grant) = store.get_grant(grant_id).await?
            && grant.status().may_hold_access()
            && !grant.preexisting
            && grant.ends_at > now
        {
            let key = grant.access_key();
            let new_name = schedule_name(&key);
            let covered = wanted
                .get(&new_name)
                .is_some_and(|(_, at)| *at >= grant.ends_at);
            if !covered {
                let at = wanted
                    .get(&new_name)
                    .map_or(grant.ends_at, |(_, at)| (*at).max(grant.ends_at));
                let revocation = target_of(
                    &grant.target,
                    &grant.principal_id,
                    &self.config.identity_center,
                    &self.partition,
                )
                .map_err(|problem| SchedulerError::Failed(format!("{problem:?}")))?;
                self.upsert(&key, &revocation, at, false).await?;
            }
        } else if let Some(grant) = store.get_grant(grant_id).await?
            && grant.status() == GrantStatus::Scheduled
        {
            tracing::debug!(grant_id = %grant.id, "A deferred grant had a per-grant schedule; it gets a per-access one when it starts.");
        }
        self.delete(name).await?;
        tracing::info!(schedule = %name, "Per-grant revocation schedule replaced.");
        Ok(())
    }
}
