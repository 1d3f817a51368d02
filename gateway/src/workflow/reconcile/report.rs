//! What one pass found and did, for the CLI (`Display`), logs, metrics and tests.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use time::OffsetDateTime;

use super::scope::PruningStrategy;
use crate::ports::{DriftMode, DriftTarget, UserDetails};

/// Access in scope that no grant explains, and what the pass did about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `account:<id>:<permission set>:<user id>` or `group:<id>:<user id>`.
    pub access_key: String,
    pub target: DriftTarget,
    pub user_id: String,
    /// From the identity store, when it could be looked up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserDetails>,
    pub outcome: FindingOutcome,
}

impl Finding {
    /// Who holds the access, as people read it.
    pub fn user_label(&self) -> String {
        let email = self.user.as_ref().and_then(|user| user.email.as_deref());
        match email {
            Some(email) => format!("{email} ({})", self.user_id),
            None => format!("user {}", self.user_id),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FindingOutcome {
    /// Dry run: nothing was done; `would` is the configured mode.
    DryRun {
        would: DriftMode,
        /// Reported on an earlier pass (a `warn` pass would not report it again).
        already_reported: bool,
    },
    /// New finding, warned about (audit `drift_detected` and a chat warning).
    Warned,
    /// Reported on an earlier pass; left alone (`warn` mode).
    AlreadyReported,
    /// Removed (audit `revoked` with reason "automated revocation", and a chat notice).
    Revoked,
    /// Removal failed; reported once, tried again on the next pass.
    RevocationFailed { error: String },
    /// A grant that explains it appeared between the listing and the re-check (a grant being
    /// made right now): left alone.
    ExplainedMeanwhile,
    /// The workflow was changing the same access (its lock was held); left for the next pass.
    Deferred { reason: String },
}

impl FindingOutcome {
    fn describe(&self) -> String {
        match self {
            FindingOutcome::DryRun {
                would,
                already_reported,
            } => match (would, already_reported) {
                (DriftMode::Warn, false) => "would warn".to_owned(),
                (DriftMode::Warn, true) => "already reported".to_owned(),
                (DriftMode::Revoke, _) => "would revoke".to_owned(),
            },
            FindingOutcome::Warned => "warned".to_owned(),
            FindingOutcome::AlreadyReported => "already reported".to_owned(),
            FindingOutcome::Revoked => "revoked".to_owned(),
            FindingOutcome::RevocationFailed { error } => {
                format!("revocation failed, retried next pass: {error}")
            }
            FindingOutcome::ExplainedMeanwhile => {
                "left alone: a grant for it appeared meanwhile".to_owned()
            }
            FindingOutcome::Deferred { reason } => format!("deferred: {reason}"),
        }
    }
}

/// The size of what a pass looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScopeSummary {
    /// (account, permission set) pairs the statements name.
    pub pairs: usize,
    pub accounts: usize,
    pub permission_sets: usize,
    pub groups: usize,
    /// Pairs whose assignments were listed (the rest were pruned as not provisioned).
    pub pairs_listed: usize,
    pub pruning: Option<PruningStrategy>,
    /// Permission-set names in the statements that the instance does not have.
    pub unknown_permission_sets: Vec<String>,
}

/// The result of one reconciliation pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    pub dry_run: bool,
    pub mode: DriftMode,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Wall time of the pass.
    pub duration: std::time::Duration,
    pub scope: ScopeSummary,
    /// USER assignments and memberships seen in scope.
    pub access_seen: usize,
    /// Of those, how many an active grant explains.
    pub explained: usize,
    pub findings: Vec<Finding>,
    /// AWS API calls by operation (every attempt, retries included).
    pub api_calls: BTreeMap<String, u64>,
    /// Calls AWS answered with throttling.
    pub throttled: u64,
    /// Calls to the Identity Center port to expand the scope and name findings (accounts,
    /// permission sets, groups), which the AWS executor serves from its caches.
    pub directory_lookups: BTreeMap<String, u64>,
    /// Reported findings forgotten because the access is gone (a reappearance is new).
    pub forgotten: usize,
    /// Parts of the pass that failed (a unit that could not be listed, a store write). The rest
    /// of the pass still ran; the next pass tries again.
    pub errors: Vec<String>,
}

impl ReconcileReport {
    pub fn api_calls_total(&self) -> u64 {
        self.api_calls.values().sum()
    }

    /// Findings with the given outcome kind, for callers that count.
    pub fn count(&self, predicate: impl Fn(&FindingOutcome) -> bool) -> usize {
        self.findings
            .iter()
            .filter(|finding| predicate(&finding.outcome))
            .count()
    }
}

fn describe_target(target: &DriftTarget) -> String {
    let named = |id: &str, name: &Option<String>| match name {
        Some(name) if name != id => format!("{name} ({id})"),
        _ => id.to_owned(),
    };
    match target {
        DriftTarget::Account {
            account_id,
            account_name,
            permission_set,
            ..
        } => format!(
            "account {} / {permission_set}",
            named(account_id, account_name)
        ),
        DriftTarget::Group {
            group_id,
            group_name,
            ..
        } => format!("group {}", named(group_id, group_name)),
    }
}

/// `1 group`, `2 groups`.
fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn join_counts(counts: &BTreeMap<String, u64>) -> String {
    counts
        .iter()
        .map(|(name, count)| format!("{name} {count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for ReconcileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            DriftMode::Warn => "warn",
            DriftMode::Revoke => "revoke",
        };
        let kind = if self.dry_run { "dry run, " } else { "" };
        writeln!(
            f,
            "Reconciliation pass ({kind}mode {mode}) finished in {:.2} s.",
            self.duration.as_secs_f64()
        )?;
        let scope = &self.scope;
        write!(
            f,
            "Scope: {} ({}, {}) and {}",
            count(
                scope.pairs,
                "account/permission-set pair",
                "account/permission-set pairs"
            ),
            count(scope.accounts, "account", "accounts"),
            count(scope.permission_sets, "permission set", "permission sets"),
            count(scope.groups, "group", "groups"),
        )?;
        match scope.pruning {
            Some(strategy @ (PruningStrategy::ByPermissionSet | PruningStrategy::ByAccount)) => {
                writeln!(
                    f,
                    "; pruning {}: {} pairs listed, {} not provisioned.",
                    strategy.describe(),
                    scope.pairs_listed,
                    scope.pairs.saturating_sub(scope.pairs_listed)
                )?;
            }
            Some(strategy) => writeln!(f, "; pruning {}.", strategy.describe())?,
            None => writeln!(f, ".")?,
        }
        if !scope.unknown_permission_sets.is_empty() {
            writeln!(
                f,
                "Permission sets named in the statements but missing from Identity Center: {}.",
                scope.unknown_permission_sets.join(", ")
            )?;
        }
        writeln!(
            f,
            "Seen: {} user assignments and memberships; {} explained by grants; {}.",
            self.access_seen,
            self.explained,
            count(self.findings.len(), "finding", "findings")
        )?;
        for finding in &self.findings {
            writeln!(
                f,
                "  - {}: {} [{}]",
                describe_target(&finding.target),
                finding.user_label(),
                finding.outcome.describe()
            )?;
        }
        if self.forgotten > 0 {
            writeln!(
                f,
                "Forgotten: {} earlier findings whose access is gone.",
                self.forgotten
            )?;
        }
        writeln!(
            f,
            "AWS API calls: {} ({}); throttled: {}.",
            self.api_calls_total(),
            if self.api_calls.is_empty() {
                "none".to_owned()
            } else {
                join_counts(&self.api_calls)
            },
            self.throttled
        )?;
        if !self.directory_lookups.is_empty() {
            writeln!(
                f,
                "Directory lookups (cached): {}.",
                join_counts(&self.directory_lookups)
            )?;
        }
        if !self.errors.is_empty() {
            writeln!(f, "Errors ({}):", self.errors.len())?;
            for error in &self.errors {
                writeln!(f, "  - {error}")?;
            }
        }
        Ok(())
    }
}
