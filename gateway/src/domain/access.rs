//! The access ledger: one record per access Identity Center actually holds for Liftgate
//! (principal × account × permission set, or principal × group). Grants are how people ask;
//! the ledger is what AWS holds. Every decision about the access itself is made here, on one
//! record, under the key's lease:
//!
//! - which grants cover it (`holders`), and which have ended and wait for the access to be
//!   settled before they are final (`leaving`);
//! - whether it predated Liftgate ([`Origin`]), decided once, the first time Liftgate touches
//!   the key while no grant of its own covers it, with the evidence stored; never inferred from
//!   a state Liftgate itself produced;
//! - the one pending revocation timer, at the latest end among the holders.
//!
//! The access is removed only when no grant holds it and Liftgate created it.
//! [`AccessRecord::next_step`] is a pure planner: the workflow performs the step it names (an
//! AWS call or a commit), records the result with one of the `record_*` methods, and asks
//! again until nothing is left to do.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{GrantId, GrantTarget, RequestId};

/// The identity of one access in AWS, shared by every grant for it: `account:<account id>:
/// <permission set name>:<user id>` or `group:<group id>:<user id>`. The only place the format
/// is written; reconciliation compares keys built here, so a grant and the access it explains
/// can never disagree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccessKey(String);

impl AccessKey {
    pub fn account(account_id: &str, permission_set: &str, principal_id: &str) -> AccessKey {
        AccessKey(format!(
            "account:{account_id}:{permission_set}:{principal_id}"
        ))
    }

    pub fn group(group_id: &str, principal_id: &str) -> AccessKey {
        AccessKey(format!("group:{group_id}:{principal_id}"))
    }

    /// The key of the access a grant target gives `principal_id`.
    pub fn of(target: &GrantTarget, principal_id: &str) -> AccessKey {
        match target {
            GrantTarget::Account {
                account_id,
                permission_set,
                ..
            } => AccessKey::account(account_id, permission_set, principal_id),
            GrantTarget::Group { group_id, .. } => AccessKey::group(group_id, principal_id),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lease that serialises every AWS change to this access, across tasks and replicas.
    pub fn lease_name(&self) -> String {
        format!("access:{}", self.0)
    }
}

/// Keys order and compare as their text, so maps keyed by them can be searched with a stored
/// key's text.
impl std::borrow::Borrow<str> for AccessKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether the access existed before Liftgate first touched it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// Nobody has checked AWS for this key yet; nothing was created.
    Undecided,
    /// Identity Center held the access when Liftgate first checked, while no grant of its own
    /// covered it: it is never removed.
    Predated {
        #[serde(with = "time::serde::rfc3339")]
        checked_at: OffsetDateTime,
        /// The grant whose provisioning made the check (it may have left meanwhile).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        checked_for: Option<GrantId>,
    },
    /// Liftgate found no access and creates it: it is removed once no grant holds it.
    Liftgate {
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
}

/// One grant covering the access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding {
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    /// The access was verified present for this grant and the grant committed active.
    pub active: bool,
    /// Approved extensions waiting to be applied: the timer moves first, then the end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<PendingExtension>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingExtension {
    pub request_id: RequestId,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
}

impl Holding {
    /// The latest end this holding may need covered, counting pending extensions.
    pub fn covered_until(&self) -> OffsetDateTime {
        self.extensions
            .iter()
            .map(|extension| extension.until)
            .fold(self.ends_at, OffsetDateTime::max)
    }
}

/// A settle that failed retryably; the sweeper comes back after `next_attempt_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettleRetry {
    pub attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    pub error: String,
}

/// The ledger record of one access key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRecord {
    pub key: AccessKey,
    /// The Identity Center user holding the access.
    pub principal_id: String,
    /// What the access is; the permission-set ARN and membership id are filled in as they
    /// become known and are what the revocation timer's target needs.
    pub target: GrantTarget,
    holders: BTreeMap<GrantId, Holding>,
    /// Grants that ended; they become final in the commit that settles the access.
    leaving: BTreeSet<GrantId>,
    origin: Origin,
    /// What the last lease holder established: `Some(true)` present, `Some(false)` absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    present: Option<bool>,
    /// When the one revocation timer of this access fires, as last set.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    timer: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry: Option<SettleRetry>,
    /// Identity Center's request id of the last create or delete, for audit `request_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso_request_id: Option<String>,
    /// When the last grant of access Liftgate created left and the access was removed. The
    /// record is kept for [`QUARANTINE`] and the removal verified once more before it goes: a
    /// lease holder that stalled past its lease may still land a late call, and a later grant
    /// on the key must never mistake that for access that predates Liftgate.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    retired_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub version: u64,
}

/// How long a retired record of Liftgate-made access is kept before its final check: far past
/// the longest AWS call a stalled holder could still have in flight.
pub const QUARANTINE: time::Duration = time::Duration::minutes(10);

/// What the current lease holder learned from AWS during its tenure. The stored `present` may
/// be stale after a crash; only facts observed under the current lease are trusted for
/// removal and activation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tenure {
    pub present: Option<bool>,
    pub timer_cancelled: bool,
}

/// The next thing to do for an access, in the order that keeps the promises: the timer exists
/// before the access is created, existing access is checked before anything is created, the
/// access is removed before its timer, and grants become active or final only in a commit
/// after the AWS state they depend on was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// These joining grants reached their end before they became active: they leave.
    ExpireJoiners(Vec<GrantId>),
    /// Decide whether the access predates Liftgate (read only).
    CheckExisting,
    /// Create or move the one revocation timer to this time.
    SetTimer(OffsetDateTime),
    /// Make sure the access exists: verify it, and create it if it is Liftgate's to create.
    EnsurePresent,
    /// Remove the access: no grant holds it and Liftgate created it.
    Remove,
    CancelTimer,
    /// Commit what the verified AWS state allows: joiners become active, extensions apply,
    /// leaving grants become final, an empty record is deleted.
    Finish,
    /// Nothing to do.
    Idle,
}

impl Step {
    /// Whether the step is an AWS call (which no fence can guard).
    pub fn touches_aws(&self) -> bool {
        matches!(
            self,
            Step::CheckExisting
                | Step::SetTimer(_)
                | Step::EnsurePresent
                | Step::Remove
                | Step::CancelTimer
        )
    }
}

/// What a verification or creation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    Present {
        membership_id: Option<String>,
        /// Identity Center's request id of a create this step made.
        sso_request_id: Option<String>,
    },
    /// Verified absent and not created (access that predated Liftgate and has since gone).
    Absent,
}

impl AccessRecord {
    /// A new record for the first grant that joins a key.
    pub fn new(key: AccessKey, principal_id: String, target: GrantTarget) -> AccessRecord {
        AccessRecord {
            key,
            principal_id,
            target,
            holders: BTreeMap::new(),
            leaving: BTreeSet::new(),
            origin: Origin::Undecided,
            present: None,
            timer: None,
            retry: None,
            sso_request_id: None,
            retired_at: None,
            version: 0,
        }
    }

    /// A record rebuilt for grants written before the ledger existed (an upgrade): their
    /// stored flags are the only evidence, and they were decided under the old rules.
    pub fn adopted(
        key: AccessKey,
        principal_id: String,
        target: GrantTarget,
        holders: impl IntoIterator<Item = (GrantId, Holding)>,
        predated: Option<(GrantId, OffsetDateTime)>,
        now: OffsetDateTime,
    ) -> AccessRecord {
        let mut record = AccessRecord::new(key, principal_id, target);
        record.holders = holders.into_iter().collect();
        record.origin = match predated {
            Some((checked_for, checked_at)) => Origin::Predated {
                checked_at,
                checked_for: Some(checked_for),
            },
            None => Origin::Liftgate { since: now },
        };
        record
    }

    pub fn holders(&self) -> &BTreeMap<GrantId, Holding> {
        &self.holders
    }

    pub fn leaving(&self) -> &BTreeSet<GrantId> {
        &self.leaving
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    pub fn predated(&self) -> bool {
        matches!(self.origin, Origin::Predated { .. })
    }

    pub fn timer(&self) -> Option<OffsetDateTime> {
        self.timer
    }

    pub fn retry(&self) -> Option<&SettleRetry> {
        self.retry.as_ref()
    }

    /// Every grant the record names, holding or leaving.
    pub fn grant_ids(&self) -> impl Iterator<Item = &GrantId> {
        self.holders.keys().chain(self.leaving.iter())
    }

    /// When the timer must fire: the latest end among the holders, if Liftgate owns the
    /// access. `None` when no timer is needed.
    pub fn desired_timer(&self) -> Option<OffsetDateTime> {
        if !matches!(self.origin, Origin::Liftgate { .. }) {
            return None;
        }
        self.holders.values().map(Holding::covered_until).max()
    }

    /// Whether a timer can be made yet: a group timer names the membership, known only once it
    /// exists.
    fn timer_possible(&self) -> bool {
        match &self.target {
            GrantTarget::Account { .. } => true,
            GrantTarget::Group { membership_id, .. } => membership_id.is_some(),
        }
    }

    /// When the record is next worth settling: after a retry's backoff, or at the end of its
    /// quarantine; `None` when at once.
    pub fn due_at(&self) -> Option<OffsetDateTime> {
        let retry = self.retry.as_ref().map(|retry| retry.next_attempt_at);
        let quarantine = self.retired_at.map(|at| at + QUARANTINE);
        retry.max(quarantine)
    }

    pub fn retired_at(&self) -> Option<OffsetDateTime> {
        self.retired_at
    }

    /// Retires an empty record of Liftgate-made access (see [`Self::retired_at`]). Returns
    /// whether it may be deleted now (its quarantine is over).
    pub fn retire(&mut self, now: OffsetDateTime) -> bool {
        if !matches!(self.origin, Origin::Liftgate { .. }) {
            return true;
        }
        match self.retired_at {
            Some(at) => now >= at + QUARANTINE,
            None => {
                self.retired_at = Some(now);
                false
            }
        }
    }

    /// Whether anything is left to settle (the sweeper's question).
    pub fn unsettled(&self) -> bool {
        !self.leaving.is_empty()
            || self.holders.is_empty()
            || (self.predated() && self.timer.is_some())
            || self
                .holders
                .values()
                .any(|holding| !holding.active || !holding.extensions.is_empty())
    }

    pub fn join(&mut self, grant: GrantId, ends_at: OffsetDateTime) {
        self.leaving.remove(&grant);
        // Held again: no longer retired (its origin stays what was decided).
        self.retired_at = None;
        self.holders.entry(grant).or_insert(Holding {
            ends_at,
            active: false,
            extensions: Vec::new(),
        });
    }

    /// The grant no longer covers the access. Returns the pending extensions it had, which can
    /// no longer apply.
    pub fn leave(&mut self, grant: &GrantId) -> Vec<PendingExtension> {
        let holding = self.holders.remove(grant);
        self.leaving.insert(grant.clone());
        holding
            .map(|holding| holding.extensions)
            .unwrap_or_default()
    }

    /// Records an approved extension; it applies once the timer covers it.
    pub fn request_extension(&mut self, grant: &GrantId, extension: PendingExtension) -> bool {
        match self.holders.get_mut(grant) {
            Some(holding) if holding.active => {
                if !holding
                    .extensions
                    .iter()
                    .any(|pending| pending.request_id == extension.request_id)
                {
                    holding.extensions.push(extension);
                }
                true
            }
            _ => false,
        }
    }

    /// What this tenure verified about the access, if it can still be trusted at `now`: once
    /// the timer's time has come, EventBridge may have removed the access behind Liftgate's
    /// back, so presence must be verified again. Absence stays true: only Liftgate creates.
    pub fn verified_presence(&self, tenure: &Tenure, now: OffsetDateTime) -> Option<bool> {
        tenure
            .present
            .filter(|present| !present || self.timer.is_none_or(|at| at > now))
    }

    /// The next step (see [`Step`]). `now` decides which joiners are too late.
    pub fn next_step(&self, now: OffsetDateTime, tenure: &Tenure) -> Step {
        let present = self.verified_presence(tenure, now);
        let expired: Vec<GrantId> = self
            .holders
            .iter()
            .filter(|(_, holding)| !holding.active && holding.ends_at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        if !expired.is_empty() {
            return Step::ExpireJoiners(expired);
        }
        if self.holders.is_empty() {
            // Retired: nothing to do until the quarantine ends and the removal is checked.
            if self.leaving.is_empty() && self.retired_at.is_some_and(|at| now < at + QUARANTINE) {
                return Step::Idle;
            }
            if matches!(self.origin, Origin::Liftgate { .. }) {
                if present != Some(false) {
                    return Step::Remove;
                }
                if !tenure.timer_cancelled {
                    return Step::CancelTimer;
                }
            }
            if self.timer.is_some() && !tenure.timer_cancelled {
                // Access Liftgate did not make never has a timer; one recorded anyway goes.
                return Step::CancelTimer;
            }
            return Step::Finish;
        }
        // A holding extended only after its end passed: the old timer may have fired, so
        // the access is verified (and restored) before the extension applies.
        let overdue_extension = self
            .holders
            .values()
            .any(|holding| !holding.extensions.is_empty() && holding.ends_at <= now);
        let joining = self.holders.values().any(|holding| !holding.active);
        let needs_presence = joining || overdue_extension;
        match self.origin {
            Origin::Undecided => return Step::CheckExisting,
            Origin::Liftgate { .. } => {
                if self.timer_possible()
                    && let Some(desired) = self.desired_timer()
                    && self.timer != Some(desired)
                {
                    return Step::SetTimer(desired);
                }
                if needs_presence && present != Some(true) {
                    return Step::EnsurePresent;
                }
                if let Some(desired) = self.desired_timer()
                    && self.timer != Some(desired)
                {
                    // A group membership just created: its timer follows at once.
                    return Step::SetTimer(desired);
                }
            }
            Origin::Predated { .. } => {
                if self.timer.is_some() {
                    // Access that predates Liftgate must never be removed by a timer.
                    return Step::CancelTimer;
                }
                if needs_presence && present != Some(true) {
                    return Step::EnsurePresent;
                }
            }
        }
        let extending = self.holders.values().any(|h| !h.extensions.is_empty());
        if (joining && present == Some(true)) || extending || !self.leaving.is_empty() {
            return Step::Finish;
        }
        Step::Idle
    }

    /// The existence check's answer: access found while no grant of Liftgate's covered it
    /// predates Liftgate; otherwise Liftgate will create it.
    pub fn record_checked(
        &mut self,
        exists: bool,
        membership_id: Option<String>,
        now: OffsetDateTime,
    ) {
        if self.origin != Origin::Undecided {
            return;
        }
        // Whatever joined or left since the check started, access found then was not made by
        // Liftgate: nothing is created before the origin is decided and stored.
        let checked_for = self
            .holders
            .keys()
            .chain(self.leaving.iter())
            .next()
            .cloned();
        self.origin = if exists {
            Origin::Predated {
                checked_at: now,
                checked_for,
            }
        } else {
            Origin::Liftgate { since: now }
        };
        self.present = Some(exists);
        if exists
            && let GrantTarget::Group {
                membership_id: id, ..
            } = &mut self.target
        {
            *id = membership_id;
        }
    }

    /// What [`Step::EnsurePresent`] found or made. Returns whether the access is now present.
    pub fn record_presence(&mut self, presence: &Presence, now: OffsetDateTime) -> bool {
        match presence {
            Presence::Present {
                membership_id,
                sso_request_id,
            } => {
                self.present = Some(true);
                if sso_request_id.is_some() {
                    self.sso_request_id = sso_request_id.clone();
                }
                if let (
                    GrantTarget::Group {
                        membership_id: id, ..
                    },
                    Some(found),
                ) = (&mut self.target, membership_id)
                {
                    *id = Some(found.clone());
                }
                true
            }
            Presence::Absent => {
                // Access that predated Liftgate is gone: from here on Liftgate creates it,
                // and therefore removes it.
                self.present = Some(false);
                if matches!(self.origin, Origin::Predated { .. }) {
                    self.origin = Origin::Liftgate { since: now };
                }
                false
            }
        }
    }

    pub fn record_permission_set_arn(&mut self, arn: &str) {
        if let GrantTarget::Account {
            permission_set_arn, ..
        } = &mut self.target
        {
            *permission_set_arn = Some(arn.to_owned());
        }
    }

    pub fn record_timer(&mut self, at: OffsetDateTime) {
        self.timer = Some(at);
    }

    pub fn record_removed(&mut self, sso_request_id: Option<String>) {
        self.present = Some(false);
        if sso_request_id.is_some() {
            self.sso_request_id = sso_request_id;
        }
        if let GrantTarget::Group { membership_id, .. } = &mut self.target {
            *membership_id = None;
        }
    }

    pub fn record_timer_cancelled(&mut self) {
        self.timer = None;
    }

    pub fn record_retry(&mut self, error: &str, now: OffsetDateTime) {
        let attempts = self.retry.as_ref().map_or(0, |retry| retry.attempts) + 1;
        self.retry = Some(SettleRetry {
            attempts,
            next_attempt_at: now + retry_delay(attempts),
            error: error.to_owned(),
        });
    }

    pub fn clear_retry(&mut self) {
        self.retry = None;
    }

    /// Marks the joiners active (once the access was verified present). Returns them.
    pub fn activate_joiners(&mut self) -> Vec<GrantId> {
        let mut activated = Vec::new();
        for (id, holding) in &mut self.holders {
            if !holding.active {
                holding.active = true;
                activated.push(id.clone());
            }
        }
        activated
    }

    /// Applies the pending extensions whose end the timer covers (all of them when Liftgate
    /// needs no timer for this access). An extension of a holding whose end has already
    /// passed applies only once the access is verified `present`: the old timer may have
    /// fired and removed it. Returns those applied.
    pub fn apply_extensions(
        &mut self,
        present: bool,
        now: OffsetDateTime,
    ) -> Vec<(GrantId, PendingExtension)> {
        let timer = self.timer;
        let needs_timer = matches!(self.origin, Origin::Liftgate { .. });
        let covered = |until: OffsetDateTime| !needs_timer || timer.is_some_and(|t| t >= until);
        let mut extended = Vec::new();
        for (id, holding) in &mut self.holders {
            if holding.ends_at <= now && !present {
                continue;
            }
            let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut holding.extensions)
                .into_iter()
                .partition(|extension| covered(extension.until));
            holding.extensions = waiting;
            for extension in ready {
                holding.ends_at = holding.ends_at.max(extension.until);
                extended.push((id.clone(), extension));
            }
        }
        extended
    }

    /// Both of the above, for a settle that verified the access.
    pub fn settle_holders(&mut self) -> (Vec<GrantId>, Vec<(GrantId, PendingExtension)>) {
        let verified = true;
        (
            self.activate_joiners(),
            self.apply_extensions(verified, OffsetDateTime::UNIX_EPOCH),
        )
    }

    /// Drops the pending extensions that cannot apply (their timer cannot be moved).
    pub fn drop_extensions(&mut self, grant: &GrantId) -> Vec<PendingExtension> {
        self.holders
            .get_mut(grant)
            .map(|holding| std::mem::take(&mut holding.extensions))
            .unwrap_or_default()
    }

    /// Takes the leaving grants: they become final in the same commit.
    pub fn take_leaving(&mut self) -> BTreeSet<GrantId> {
        std::mem::take(&mut self.leaving)
    }

    /// Whether the record can be deleted: nobody holds the access and nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.holders.is_empty() && self.leaving.is_empty()
    }
}

/// Settle retry delay after the n-th failure: 5 s doubling (10 s after the first), at most 5
/// minutes.
pub fn retry_delay(attempts: u32) -> time::Duration {
    let seconds = 5u64.saturating_mul(1u64 << attempts.min(6)).min(300);
    time::Duration::seconds(seconds as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).unwrap()
    }

    fn record() -> AccessRecord {
        AccessRecord::new(
            AccessKey::account("111111111111", "Admin", "u-1"),
            "u-1".to_owned(),
            GrantTarget::Account {
                account_id: "111111111111".to_owned(),
                permission_set: "Admin".to_owned(),
                permission_set_arn: Some("arn:ps".to_owned()),
            },
        )
    }

    #[test]
    fn keys_have_one_format() {
        assert_eq!(
            AccessKey::account("111111111111", "Admin", "u-1").as_str(),
            "account:111111111111:Admin:u-1"
        );
        assert_eq!(AccessKey::group("g-1", "u-1").as_str(), "group:g-1:u-1");
        assert_eq!(
            AccessKey::group("g-1", "u-1").lease_name(),
            "access:group:g-1:u-1"
        );
    }

    #[test]
    fn a_first_grant_checks_then_times_then_creates_then_activates() {
        let mut record = record();
        let grant = GrantId::generate();
        record.join(grant.clone(), at(3600));
        let mut tenure = Tenure::default();
        assert_eq!(record.next_step(at(0), &tenure), Step::CheckExisting);
        record.record_checked(false, None, at(0));
        assert_eq!(record.next_step(at(0), &tenure), Step::SetTimer(at(3600)));
        record.record_timer(at(3600));
        assert_eq!(record.next_step(at(0), &tenure), Step::EnsurePresent);
        tenure.present = Some(true);
        record.record_presence(
            &Presence::Present {
                membership_id: None,
                sso_request_id: None,
            },
            at(0),
        );
        assert_eq!(record.next_step(at(0), &tenure), Step::Finish);
        let (activated, _) = record.settle_holders();
        assert_eq!(activated, vec![grant]);
        assert_eq!(record.next_step(at(0), &tenure), Step::Idle);
    }

    #[test]
    fn access_found_at_the_first_check_predates_and_is_never_removed_or_timed() {
        let mut record = record();
        let grant = GrantId::generate();
        record.join(grant.clone(), at(3600));
        record.record_checked(true, None, at(0));
        assert!(record.predated());
        let tenure = Tenure::default();
        assert_eq!(record.next_step(at(0), &tenure), Step::EnsurePresent);
        record.leave(&grant);
        assert_eq!(record.next_step(at(0), &tenure), Step::Finish);
        assert_eq!(record.desired_timer(), None);
    }

    #[test]
    fn access_found_by_a_check_is_predated_even_if_its_grant_left_meanwhile() {
        // Simulation seed 103: the only grant left while its existence check ran.
        let mut record = record();
        let grant = GrantId::generate();
        record.join(grant.clone(), at(3600));
        record.leave(&grant);
        record.record_checked(true, None, at(0));
        assert!(record.predated());
        assert_eq!(record.next_step(at(0), &Tenure::default()), Step::Finish);
    }

    #[test]
    fn a_later_joiner_moves_the_one_timer_and_an_earlier_leaver_moves_it_back() {
        let mut record = record();
        let (first, second) = (GrantId::generate(), GrantId::generate());
        record.join(first.clone(), at(3600));
        record.record_checked(false, None, at(0));
        record.record_timer(at(3600));
        record.settle_holders();
        record.join(second.clone(), at(7200));
        let tenure = Tenure {
            present: Some(true),
            timer_cancelled: false,
        };
        assert_eq!(record.next_step(at(10), &tenure), Step::SetTimer(at(7200)));
        record.record_timer(at(7200));
        assert_eq!(record.next_step(at(10), &tenure), Step::Finish);
        record.settle_holders();
        record.leave(&second);
        assert_eq!(record.next_step(at(20), &tenure), Step::SetTimer(at(3600)));
        record.record_timer(at(3600));
        assert_eq!(record.next_step(at(20), &tenure), Step::Finish);
        assert_eq!(record.take_leaving().len(), 1);
        assert_eq!(record.next_step(at(20), &tenure), Step::Idle);
    }

    #[test]
    fn the_last_leaver_removes_liftgate_access_even_when_the_stored_presence_says_absent() {
        let mut record = record();
        let grant = GrantId::generate();
        record.join(grant.clone(), at(3600));
        record.record_checked(false, None, at(0));
        // A crash after the create, before its commit: the stored presence is stale.
        record.leave(&grant);
        let mut tenure = Tenure::default();
        assert_eq!(record.next_step(at(10), &tenure), Step::Remove);
        tenure.present = Some(false);
        assert_eq!(record.next_step(at(10), &tenure), Step::CancelTimer);
        tenure.timer_cancelled = true;
        assert_eq!(record.next_step(at(10), &tenure), Step::Finish);
    }

    #[test]
    fn a_timer_recorded_on_access_that_predates_liftgate_is_cancelled_first() {
        let mut record = record();
        let grant = GrantId::generate();
        record.join(grant.clone(), at(3600));
        // A timer set from a stale view, then the check found the access already there.
        record.record_timer(at(3600));
        record.record_checked(true, None, at(0));
        assert!(record.unsettled());
        let mut tenure = Tenure::default();
        assert_eq!(record.next_step(at(10), &tenure), Step::CancelTimer);
        record.record_timer_cancelled();
        tenure.timer_cancelled = true;
        assert_eq!(record.next_step(at(10), &tenure), Step::EnsurePresent);
    }

    #[test]
    fn removed_access_is_retired_and_checked_again_after_its_quarantine() {
        let mut record = record();
        let grant = GrantId::generate();
        record.join(grant.clone(), at(3600));
        record.record_checked(false, None, at(0));
        record.leave(&grant);
        record.take_leaving();
        assert!(!record.retire(at(100)), "kept for its quarantine");
        let tenure = Tenure::default();
        assert_eq!(record.next_step(at(101), &tenure), Step::Idle);
        assert_eq!(record.due_at(), Some(at(100) + QUARANTINE));
        let later = at(100) + QUARANTINE;
        assert_eq!(record.next_step(later, &tenure), Step::Remove);
        assert!(record.retire(later), "deleted once the quarantine is over");
        // A new grant before then keeps the origin Liftgate decided: never "pre-existing".
        let mut again = record.clone();
        again.join(GrantId::generate(), at(7200));
        assert_eq!(again.retired_at(), None);
        assert!(matches!(again.origin(), Origin::Liftgate { .. }));
    }

    #[test]
    fn joiners_past_their_end_leave_before_anything_is_created() {
        let mut record = record();
        let grant = GrantId::generate();
        record.join(grant.clone(), at(60));
        assert_eq!(
            record.next_step(at(60), &Tenure::default()),
            Step::ExpireJoiners(vec![grant])
        );
    }

    #[test]
    fn extensions_apply_only_once_the_timer_covers_them() {
        let mut record = record();
        let grant = GrantId::generate();
        record.join(grant.clone(), at(3600));
        record.record_checked(false, None, at(0));
        record.record_timer(at(3600));
        record.settle_holders();
        let extension = PendingExtension {
            request_id: RequestId::generate(),
            until: at(7200),
        };
        assert!(record.request_extension(&grant, extension));
        let tenure = Tenure::default();
        assert_eq!(record.next_step(at(10), &tenure), Step::SetTimer(at(7200)));
        let (_, extended) = record.clone().settle_holders();
        assert!(extended.is_empty(), "not before the timer moved");
        record.record_timer(at(7200));
        assert_eq!(record.next_step(at(10), &tenure), Step::Finish);
        let (_, extended) = record.settle_holders();
        assert_eq!(extended.len(), 1);
        assert_eq!(record.holders()[&grant].ends_at, at(7200));
    }

    #[test]
    fn two_extensions_of_one_grant_both_apply() {
        // Simulation seed 1477: a second extension replaced the first, which stayed approved
        // forever.
        let mut record = record();
        let grant = GrantId::generate();
        record.join(grant.clone(), at(3600));
        record.record_checked(false, None, at(0));
        record.record_timer(at(3600));
        record.settle_holders();
        for until in [at(7200), at(5400)] {
            let extension = PendingExtension {
                request_id: RequestId::generate(),
                until,
            };
            assert!(record.request_extension(&grant, extension));
        }
        assert_eq!(record.desired_timer(), Some(at(7200)));
        record.record_timer(at(7200));
        let (_, extended) = record.settle_holders();
        assert_eq!(extended.len(), 2);
        assert_eq!(record.holders()[&grant].ends_at, at(7200));
    }

    #[test]
    fn predated_access_that_vanished_becomes_liftgates_to_create_and_remove() {
        let mut record = record();
        let grant = GrantId::generate();
        record.join(grant, at(3600));
        record.record_checked(true, None, at(0));
        record.record_presence(&Presence::Absent, at(5));
        assert!(matches!(record.origin(), Origin::Liftgate { .. }));
        assert_eq!(
            record.next_step(at(5), &Tenure::default()),
            Step::SetTimer(at(3600))
        );
    }

    #[test]
    fn presence_verified_before_the_timer_came_is_verified_again() {
        // Simulation seed 5094: the timer fired (EventBridge removed the access) while the
        // lease holder still trusted what it had verified; a new joiner was made active
        // without the access.
        let mut record = record();
        let first = GrantId::generate();
        record.join(first.clone(), at(3600));
        record.record_checked(false, None, at(0));
        record.record_timer(at(3600));
        record.settle_holders();
        record.leave(&first);
        record.take_leaving();
        record.join(GrantId::generate(), at(7200));
        record.record_timer(at(7200));
        let tenure = Tenure {
            present: Some(true),
            timer_cancelled: false,
        };
        assert_eq!(
            record.next_step(at(100), &tenure),
            Step::Finish,
            "trusted before"
        );
        record.record_timer(at(3600));
        assert_eq!(
            record.next_step(at(3600), &tenure),
            Step::SetTimer(at(7200)),
            "the timer's time came: move it, then verify again"
        );
        record.record_timer(at(7200));
        let mut stale = record.clone();
        stale.record_timer(at(3000));
        assert_eq!(stale.verified_presence(&tenure, at(3600)), None);
    }

    #[test]
    fn group_timers_follow_the_membership() {
        let mut record = AccessRecord::new(
            AccessKey::group("g-1", "u-1"),
            "u-1".to_owned(),
            GrantTarget::Group {
                group_id: "g-1".to_owned(),
                group_name: None,
                membership_id: None,
            },
        );
        record.join(GrantId::generate(), at(3600));
        record.record_checked(false, None, at(0));
        let mut tenure = Tenure::default();
        assert_eq!(record.next_step(at(0), &tenure), Step::EnsurePresent);
        record.record_presence(
            &Presence::Present {
                membership_id: Some("m-1".to_owned()),
                sso_request_id: None,
            },
            at(0),
        );
        tenure.present = Some(true);
        assert_eq!(record.next_step(at(0), &tenure), Step::SetTimer(at(3600)));
    }
}
