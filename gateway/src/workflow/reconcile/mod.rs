//! Drift reconciliation (docs/reference.md §6): finds USER account assignments and group memberships, in
//! the scope the statements name, that no grant explains; warns about each once (audit
//! `drift_detected`, a chat warning) and, in `revoke` mode, removes it (audit `revoked`,
//! reason "automated revocation").
//!
//! A pass:
//! 1. expands the scope per statement — (account, permission set) pairs and groups, never the
//!    cross product across statements;
//! 2. takes a snapshot of the grants that may hold access, *before* listing, so access created
//!    by a grant made during the pass is caught by the re-check in step 5;
//! 3. prunes pairs whose permission set is not provisioned to the account (one query per
//!    permission set or per account, whichever is fewer; only when the inventory can answer
//!    reliably), then lists the rest concurrently under a token bucket shared by every call;
//! 4. compares: access whose key no grant in the snapshot has is a finding;
//! 5. acts on each finding under the same per-access-key lease the workflow takes
//!    (`access:{key}`), after checking again that no grant explains it now;
//! 6. remembers what it reported and forgets findings whose access is gone.
//!
//! Audit records and chat warnings go through the outbox like every other event.

mod act;
mod calls;
mod limiter;
mod memory;
mod report;
mod scan;
mod scope;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream;
use tokio::sync::watch;

pub use report::{Finding, FindingOutcome, ReconcileReport, ScopeSummary};
pub use scope::PruningStrategy;

use self::calls::{Calls, Lookups};
use self::memory::{Memory, Remembered};
use self::scan::{Observed, ObservedTarget, ScanResult};
use self::scope::Scope;
use super::AccessService;
use super::lease::LeaseError;
use crate::config::ReconciliationSettings;
use crate::domain::{AccessKey, GrantStatus};
use crate::ports::{
    AccessInventory, AccessQuery, DriftMode, DriftTarget, GrantQuery, IdentityError, StoreError,
    UserDetails,
};

/// The document (namespace, key) recording when the last periodic pass started, so replicas
/// run one pass per interval between them.
pub const SCHEDULE_DOCUMENT: (&str, &str) = ("reconcile", "schedule");
/// The lease held while a pass runs, so a pass started from the CLI never overlaps the periodic
/// one (which would warn twice).
pub const PASS_LEASE: &str = "reconcile:pass";

/// How long the pass lease lives without renewal (renewed every quarter of it while the pass
/// runs); a crashed pass frees it this long after another replica first looks.
const PASS_LEASE_TTL: Duration = Duration::from_secs(60);

/// Grants that may hold access are loaded at once up to this many; beyond it every found access
/// is checked on its own.
const GRANT_SNAPSHOT_LIMIT: usize = 50_000;

/// Knobs that are not part of the config file; production defaults.
#[derive(Debug, Clone)]
pub struct ReconcilerTuning {
    /// AWS calls in flight at once (the rate limit still applies).
    pub concurrency: usize,
    /// Tokens the rate limiter's bucket holds: how many calls may go out back to back.
    pub burst: u32,
    /// Attempts per call when AWS throttles or is unavailable (each takes a token).
    pub call_attempts: u32,
    pub retry_base_delay: Duration,
    pub retry_max_delay: Duration,
    /// Prune with the provisioning queries when the inventory can answer them reliably. Off
    /// lists every pair (what the pruning benchmark compares against).
    pub pruning: bool,
    /// How often a replica that does not hold the schedule lease checks whether it is free.
    pub poll_interval: Duration,
}

impl Default for ReconcilerTuning {
    fn default() -> Self {
        ReconcilerTuning {
            concurrency: 8,
            burst: 1,
            call_attempts: 4,
            retry_base_delay: Duration::from_millis(500),
            retry_max_delay: Duration::from_secs(8),
            pruning: true,
            poll_interval: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Another pass holds the pass lease (another replica, or the periodic pass).
    #[error("another reconciliation pass is running; try again when it has finished")]
    Busy,
    /// The scope could not be determined (accounts or permission sets could not be listed);
    /// nothing was done.
    #[error("could not determine the reconciliation scope: {0}")]
    Scope(IdentityError),
    #[error("state store: {0}")]
    Store(#[from] StoreError),
}

/// Finds and handles drift. Build one per process and share it (`Arc`) between the periodic
/// task and anything that runs a pass on demand.
#[derive(Debug)]
pub struct Reconciler {
    service: AccessService,
    inventory: Arc<dyn AccessInventory>,
    settings: ReconciliationSettings,
    tuning: ReconcilerTuning,
}

/// Names for what a pass acts on.
#[derive(Debug, Default)]
struct Names {
    users: BTreeMap<String, UserDetails>,
    accounts: BTreeMap<String, String>,
    groups: BTreeMap<String, String>,
}

impl Names {
    fn drift_target(&self, target: &ObservedTarget) -> DriftTarget {
        match target {
            ObservedTarget::Account {
                account_id,
                permission_set,
                permission_set_arn,
            } => DriftTarget::Account {
                account_id: account_id.clone(),
                account_name: self.accounts.get(account_id).cloned(),
                permission_set: permission_set.clone(),
                permission_set_arn: permission_set_arn.clone(),
            },
            ObservedTarget::Group {
                group_id,
                membership_ids,
            } => DriftTarget::Group {
                group_id: group_id.clone(),
                group_name: self.groups.get(group_id).cloned(),
                membership_ids: membership_ids.clone(),
            },
        }
    }

    fn group_name(&self, target: &ObservedTarget) -> Option<String> {
        match target {
            ObservedTarget::Group { group_id, .. } => self.groups.get(group_id).cloned(),
            ObservedTarget::Account { .. } => None,
        }
    }
}

impl Reconciler {
    /// A reconciler on the workflow's store, Identity Center port (scope expansion, names,
    /// removals), clock, rules and outbox consumers, reading Identity Center through
    /// `inventory`.
    pub fn new(
        service: &AccessService,
        inventory: Arc<dyn AccessInventory>,
        settings: ReconciliationSettings,
    ) -> Reconciler {
        Reconciler {
            service: service.clone(),
            inventory,
            settings,
            tuning: ReconcilerTuning::default(),
        }
    }

    pub fn with_tuning(mut self, tuning: ReconcilerTuning) -> Reconciler {
        self.tuning = tuning;
        self
    }

    pub fn settings(&self) -> &ReconciliationSettings {
        &self.settings
    }

    fn mode(&self) -> DriftMode {
        DriftMode::from(self.settings.mode)
    }

    /// One pass. With `dry_run` it only reports: no audit record, no chat message, no removal,
    /// nothing remembered, no lease. Otherwise it takes the pass lease ([`ReconcileError::Busy`]
    /// when another pass holds it). Failures of single units are listed in
    /// [`ReconcileReport::errors`] and the rest of the pass still runs.
    pub async fn run_once(&self, dry_run: bool) -> Result<ReconcileReport, ReconcileError> {
        if dry_run {
            return self.pass(true).await;
        }
        self.with_pass_lease(self.pass(false)).await?
    }

    /// Runs a pass every `reconciliation.interval`, on one replica at a time: each replica
    /// looks every `poll_interval` whether the last pass (by any replica, recorded in the
    /// store) is an interval old, and the one that takes the pass lease runs it. Returns at
    /// once when `reconciliation.enabled` is false, and when `shutdown` turns true (a pass in
    /// progress is dropped where it stands and its lease given back).
    pub async fn run_periodically(&self, mut shutdown: watch::Receiver<bool>) {
        if !self.settings.enabled {
            tracing::info!("Periodic reconciliation is disabled.");
            return;
        }
        let interval = self.settings.interval.to_std().max(Duration::from_secs(1));
        let poll = self
            .tuning
            .poll_interval
            .min(interval)
            .max(Duration::from_millis(1));
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.pass_due(interval).await {
                Ok(true) => match self
                    .service
                    .leases()
                    .try_acquire(PASS_LEASE, PASS_LEASE_TTL)
                    .await
                {
                    Ok(Some(held)) => {
                        let leases = self.service.leases();
                        let scheduled = async {
                            // Checked again under the lease: another replica may just have run.
                            match self.pass_due(interval).await {
                                Ok(true) => {
                                    self.record_pass_start().await;
                                    Some(self.pass(false).await)
                                }
                                Ok(false) => None,
                                Err(error) => Some(Err(ReconcileError::Store(error))),
                            }
                        };
                        tokio::select! {
                            outcome = leases.run_held(held.clone(), PASS_LEASE_TTL, scheduled) => match outcome {
                                Ok(Some(outcome)) => self.log_outcome(outcome),
                                Ok(None) => {}
                                Err(error) => tracing::error!(%error, "Reconciliation pass stopped."),
                            },
                            _ = shutdown.changed() => {
                                // Everything the pass did is recorded; the rest is redone by
                                // the next pass, which need not wait for this lease.
                                tracing::info!("Reconciliation pass interrupted by shutdown.");
                                leases.release(&held).await;
                                return;
                            }
                        }
                    }
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(%error, "Could not take the reconciliation pass lease; retrying.");
                    }
                },
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, "Could not check the reconciliation schedule; retrying.");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Whether the last pass started at least `interval` ago (or never).
    async fn pass_due(&self, interval: Duration) -> Result<bool, StoreError> {
        let (namespace, key) = SCHEDULE_DOCUMENT;
        let last = self
            .service
            .store()
            .get_document(namespace, key)
            .await?
            .and_then(|document| document.get("started_at").and_then(|v| v.as_i64()))
            .and_then(|seconds| time::OffsetDateTime::from_unix_timestamp(seconds).ok());
        let now = self.service.clock().now();
        let interval = time::Duration::try_from(interval).unwrap_or(time::Duration::MAX);
        Ok(last.is_none_or(|at| now - at >= interval))
    }

    async fn record_pass_start(&self) {
        let (namespace, key) = SCHEDULE_DOCUMENT;
        let now = self.service.clock().now();
        let document = serde_json::json!({ "started_at": now.unix_timestamp() });
        if let Err(error) = self
            .service
            .store()
            .put_document(namespace, key, &document)
            .await
        {
            tracing::warn!(%error, "Could not record the reconciliation schedule; another replica may run a pass early.");
        }
    }

    fn log_outcome(&self, outcome: Result<ReconcileReport, ReconcileError>) {
        match outcome {
            Ok(report) => tracing::info!(
                findings = report.findings.len(),
                warned = report.count(|o| matches!(o, FindingOutcome::Warned)),
                revoked = report.count(|o| matches!(o, FindingOutcome::Revoked)),
                api_calls = report.api_calls_total(),
                duration_ms = u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
                errors = report.errors.len(),
                "Reconciliation pass finished."
            ),
            Err(ReconcileError::Busy) => {
                tracing::info!("A reconciliation pass is already running elsewhere; skipped.");
            }
            Err(error) => tracing::error!(%error, "Reconciliation pass failed."),
        }
    }

    /// Runs `work` holding the pass lease, renewing it while the work runs.
    async fn with_pass_lease<F: Future>(&self, work: F) -> Result<F::Output, ReconcileError> {
        let leases = self.service.leases();
        let Some(held) = leases.try_acquire(PASS_LEASE, PASS_LEASE_TTL).await? else {
            return Err(ReconcileError::Busy);
        };
        leases
            .run_held(held, PASS_LEASE_TTL, work)
            .await
            .map_err(|error| match error {
                LeaseError::Store(error) => ReconcileError::Store(error),
                LeaseError::Lost(_) => ReconcileError::Busy,
            })
    }

    async fn pass(&self, dry_run: bool) -> Result<ReconcileReport, ReconcileError> {
        let started = std::time::Instant::now();
        let started_at = self.service.clock().now();
        let calls = Calls::new(self.settings.max_calls_per_second, &self.tuning);
        let lookups = Lookups::default();
        let store = self.service.store().as_ref();

        let scope = self
            .resolve_scope(&lookups)
            .await
            .map_err(ReconcileError::Scope)?;
        let snapshot = self.explained_snapshot().await?;

        let mut errors = Vec::new();
        let strategy = if !self.tuning.pruning || !self.inventory.provisioning_is_reliable() {
            PruningStrategy::Disabled
        } else {
            scope::choose_pruning(&scope.pairs)
        };
        let listed = scan::prune_pairs(
            self.inventory.as_ref(),
            &calls,
            &scope,
            strategy,
            self.tuning.concurrency,
            &mut errors,
        )
        .await;
        let mut scanned = scan::scan(
            self.inventory.as_ref(),
            &calls,
            &scope,
            &listed,
            self.tuning.concurrency,
        )
        .await;
        errors.append(&mut scanned.errors);

        let memory = Memory::load(store).await?;
        let mut candidates: Vec<&Observed> = Vec::new();
        let mut explained = 0;
        for observed in scanned.observed.values() {
            let is_explained = match &snapshot {
                Some(keys) => keys.contains(&observed.key),
                None => self.explained_now(&observed.key).await?,
            };
            if is_explained {
                explained += 1;
            } else {
                candidates.push(observed);
            }
        }

        // Only what is acted on (or would be) is named: known findings in `warn` mode are not
        // looked up again on every pass.
        let mode = self.mode();
        let needs_action = |observed: &Observed| {
            mode == DriftMode::Revoke || !memory.contains(observed.key.as_str())
        };
        let to_name: Vec<&Observed> = candidates
            .iter()
            .copied()
            .filter(|observed| needs_action(observed))
            .collect();
        let names = self.names_for(&to_name, &calls, &lookups).await;

        let acted: Vec<(&Observed, act::Acted)> = if dry_run {
            candidates
                .iter()
                .map(|observed| {
                    let outcome = FindingOutcome::DryRun {
                        would: mode,
                        already_reported: memory.contains(observed.key.as_str()),
                    };
                    (*observed, act::Acted::from(outcome))
                })
                .collect()
        } else {
            // Indexes, not references, go through the stream: the future stays `Send` for any
            // caller that spawns the pass.
            let results: Vec<(usize, act::Acted)> = stream::iter(0..candidates.len())
                .map(|index| {
                    let (memory, names, calls) = (&memory, &names, &calls);
                    let observed = candidates[index];
                    async move {
                        let already = memory.contains(observed.key.as_str());
                        (index, self.act(observed, already, names, calls).await)
                    }
                })
                .buffer_unordered(self.tuning.concurrency.max(1))
                .collect()
                .await;
            let mut acted: Vec<(&Observed, act::Acted)> = results
                .into_iter()
                .map(|(index, acted)| (candidates[index], acted))
                .collect();
            acted.sort_by(|(a, _), (b, _)| a.key.cmp(&b.key));
            acted
        };

        let mut forgotten = 0;
        if !dry_run {
            let (entries, dropped) = self.next_memory(&memory, &scope, &scanned, &acted);
            forgotten = dropped;
            if let Err(error) = memory.save(store, entries).await {
                tracing::error!(%error, "Could not remember the reported drift findings.");
                errors.push(format!(
                    "could not remember the reported findings (they may be reported again): {error}"
                ));
            }
        }

        let mut findings = Vec::with_capacity(acted.len());
        for (observed, acted) in acted {
            if let Some(error) = acted.error {
                errors.push(error);
            }
            findings.push(Finding {
                access_key: observed.key.to_string(),
                target: names.drift_target(&observed.target),
                user_id: observed.user_id.clone(),
                user: names.users.get(&observed.user_id).cloned(),
                outcome: acted.outcome,
            });
        }

        let report = ReconcileReport {
            dry_run,
            mode,
            started_at,
            duration: started.elapsed(),
            scope: ScopeSummary {
                pairs: scope.pairs.len(),
                accounts: scope
                    .pairs
                    .iter()
                    .map(|(account, _)| account)
                    .collect::<BTreeSet<_>>()
                    .len(),
                permission_sets: scope.arns.len(),
                groups: scope.groups.len(),
                pairs_listed: scanned.pairs_listed,
                pruning: Some(strategy),
                unknown_permission_sets: scope.unknown_permission_sets.iter().cloned().collect(),
            },
            access_seen: scanned.observed.len(),
            explained,
            findings,
            api_calls: calls.counts(),
            throttled: calls.throttled(),
            directory_lookups: lookups.counts(),
            forgotten,
            errors,
        };
        self.record_metrics(&report);
        Ok(report)
    }

    fn record_metrics(&self, report: &ReconcileReport) {
        let metrics = self.service.metrics();
        for (operation, count) in &report.api_calls {
            metrics.add(
                "liftgate_reconcile_api_calls_total",
                &[("operation", operation)],
                *count as f64,
            );
        }
        for finding in &report.findings {
            let action = match &finding.outcome {
                FindingOutcome::Warned => "warned",
                FindingOutcome::Revoked => "revoked",
                FindingOutcome::RevocationFailed { .. } => "revocation_failed",
                _ => continue,
            };
            metrics.inc("liftgate_drift_findings_total", &[("action", action)]);
        }
    }

    /// Expands the statements, asking the directory only for what they need.
    async fn resolve_scope(&self, lookups: &Lookups) -> Result<Scope, IdentityError> {
        let rules = self.service.rules();
        let identity = self.service.identity();
        let needs = scope::needs(rules);
        let organization: Vec<String> = if needs.all_accounts {
            lookups.count("list_accounts");
            identity
                .list_accounts()
                .await?
                .into_iter()
                .map(|account| account.id.to_string())
                .collect()
        } else {
            Vec::new()
        };
        let names: BTreeSet<String> = if needs.all_permission_sets {
            lookups.count("list_permission_sets");
            let mut all: BTreeSet<String> =
                identity.list_permission_sets().await?.into_iter().collect();
            all.extend(needs.permission_sets);
            all
        } else {
            needs.permission_sets
        };
        let mut catalog = BTreeMap::new();
        for name in names {
            lookups.count("permission_set_arn");
            if let Some(arn) = identity.permission_set_arn(&name).await? {
                catalog.insert(name, arn);
            }
        }
        Ok(scope::expand(rules, &organization, &catalog))
    }

    /// The access keys of every grant that may hold access now, or `None` when there are too
    /// many to load at once (each finding is then checked on its own).
    async fn explained_snapshot(&self) -> Result<Option<HashSet<AccessKey>>, StoreError> {
        let grants = self
            .service
            .store()
            .query_grants(GrantQuery::Status {
                statuses: vec![
                    GrantStatus::Provisioning,
                    GrantStatus::Active,
                    GrantStatus::Revoking,
                ],
                limit: GRANT_SNAPSHOT_LIMIT,
            })
            .await?;
        if grants.len() >= GRANT_SNAPSHOT_LIMIT {
            return Ok(None);
        }
        let mut keys: HashSet<AccessKey> = grants
            .iter()
            .filter(|grant| grant.status().may_hold_access())
            .map(|grant| grant.access_key())
            .collect();
        // Every access the ledger tracks is explained, whatever state its grants are in.
        let store = self.service.store();
        let mut after = None;
        loop {
            let page = store
                .query_access(AccessQuery::All {
                    after: after.clone(),
                    limit: 1000,
                })
                .await?;
            let done = page.len() < 1000;
            after = page.last().map(|record| record.key.clone());
            keys.extend(page.into_iter().map(|record| record.key));
            if done || keys.len() >= GRANT_SNAPSHOT_LIMIT {
                break;
            }
        }
        if keys.len() >= GRANT_SNAPSHOT_LIMIT {
            return Ok(None);
        }
        Ok(Some(keys))
    }

    /// Whether the ledger tracks this access, or a grant may hold it, right now.
    async fn explained_now(&self, key: &AccessKey) -> Result<bool, StoreError> {
        let store = self.service.store();
        if store.get_access(key).await?.is_some() {
            return Ok(true);
        }
        let grants = store
            .query_grants(GrantQuery::AccessKey { key: key.clone() })
            .await?;
        Ok(grants.iter().any(|grant| grant.status().may_hold_access()))
    }

    /// Users (DescribeUser, rate-limited), account and group names (directory) of `observed`.
    /// A lookup that fails leaves the name out; it never stops the pass.
    async fn names_for(&self, observed: &[&Observed], calls: &Calls, lookups: &Lookups) -> Names {
        let mut names = Names::default();
        let users: BTreeSet<String> = observed.iter().map(|o| o.user_id.clone()).collect();
        let described: Vec<(String, Result<Option<UserDetails>, IdentityError>)> =
            stream::iter(users)
                .map(|user_id| async move {
                    let details = calls
                        .call("DescribeUser", || self.inventory.describe_user(&user_id))
                        .await;
                    (user_id, details)
                })
                .buffer_unordered(self.tuning.concurrency.max(1))
                .collect()
                .await;
        for (user_id, details) in described {
            match details {
                Ok(Some(details)) => {
                    names.users.insert(user_id, details);
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(user_id = %user_id, %error, "Could not describe a user holding drifted access.");
                }
            }
        }
        let identity = self.service.identity();
        let mut accounts = BTreeSet::new();
        let mut groups = BTreeSet::new();
        for item in observed {
            match &item.target {
                ObservedTarget::Account { account_id, .. } => {
                    accounts.insert(account_id.clone());
                }
                ObservedTarget::Group { group_id, .. } => {
                    groups.insert(group_id.clone());
                }
            }
        }
        for account_id in accounts {
            lookups.count("describe_account");
            match identity.describe_account(&account_id).await {
                Ok(Some(account)) => {
                    names.accounts.insert(account_id, account.name.to_string());
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(account_id = %account_id, %error, "Could not name an account.");
                }
            }
        }
        for group_id in groups {
            lookups.count("describe_group");
            match identity.describe_group(&group_id).await {
                Ok(Some(group)) => {
                    names.groups.insert(group_id, group.name);
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(group_id = %group_id, %error, "Could not name a group.");
                }
            }
        }
        names
    }

    /// What to remember after a pass: new reports added, removed access dropped, and findings
    /// forgotten once their access is gone — its unit was listed completely without it, or it
    /// is no longer in scope. A unit that could not be listed keeps its findings. Returns the
    /// entries and how many were forgotten.
    fn next_memory(
        &self,
        memory: &Memory,
        scope: &Scope,
        scanned: &ScanResult,
        acted: &[(&Observed, act::Acted)],
    ) -> (BTreeMap<String, Remembered>, usize) {
        let now = self.service.clock().now();
        let mut entries = memory.entries.clone();
        for (observed, acted) in acted {
            match acted.outcome {
                FindingOutcome::Warned | FindingOutcome::RevocationFailed { .. } => {
                    entries
                        .entry(observed.key.to_string())
                        .or_insert_with(|| Remembered {
                            unit: observed.unit.clone(),
                            reported_at: now,
                        });
                }
                FindingOutcome::Revoked => {
                    entries.remove(observed.key.as_str());
                }
                _ => {}
            }
        }
        let in_scope: BTreeSet<String> = scope
            .pairs
            .iter()
            .map(|(account, set)| scan::unit_of_pair(account, set))
            .chain(scope.groups.iter().map(|group| scan::unit_of_group(group)))
            .collect();
        entries.retain(|key, remembered| {
            let out_of_scope = !in_scope.contains(&remembered.unit);
            let gone = scanned.complete_units.contains(&remembered.unit)
                && !scanned.observed.contains_key(key.as_str());
            !(out_of_scope || gone)
        });
        let forgotten = memory
            .entries
            .keys()
            .filter(|key| !entries.contains_key(*key))
            .count();
        (entries, forgotten)
    }
}
