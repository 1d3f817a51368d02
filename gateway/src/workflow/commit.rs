//! The workflow's one commit loop: read what a move needs, let the pure transition in
//! [`crate::domain::lifecycle`] decide, write the result with a compare-and-set together with
//! its audit records and notices, and on a conflict read and decide again. Every state change
//! of every request, grant and ledger record goes through [`AccessService::transact`].

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::{AccessService, WorkflowError};
use crate::audit::AuditRecord;
use crate::domain::access::Holding;
use crate::domain::lifecycle::{AccessWrite, Covered, Transition};
use crate::domain::{AccessKey, AccessRecord, AccessRequest, Grant, GrantId, RequestId};
use crate::ports::{
    AccessPut, Expect, Fence, GrantQuery, OutboxMessage, Put, StoreError, WriteBatch,
};

/// How many times a move is decided again after losing a compare-and-set. Contention on one
/// item is bounded by the people and replicas acting on it, far below this.
const CAS_ATTEMPTS: usize = 32;

/// What a decision does with the state it read.
#[expect(
    clippy::large_enum_variant,
    reason = "lives for one decision on the stack of the commit loop"
)]
pub(crate) enum Outcome<T> {
    /// Write this transition; answer `T` once it is stored.
    Write(Transition, T),
    /// Nothing to write; answer `T`.
    Done(T),
}

/// What the commit loop read: the items a move may change, each at the version read. A
/// missing ledger record is `None`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub requests: BTreeMap<RequestId, AccessRequest>,
    pub grants: BTreeMap<GrantId, Grant>,
    pub access: BTreeMap<AccessKey, Option<AccessRecord>>,
}

impl Snapshot {
    pub(crate) fn request(&self, id: &RequestId) -> Option<&AccessRequest> {
        self.requests.get(id)
    }

    pub(crate) fn grant(&self, id: &GrantId) -> Option<&Grant> {
        self.grants.get(id)
    }

    pub(crate) fn ledger(&self, key: &AccessKey) -> Option<AccessRecord> {
        self.access.get(key).cloned().flatten()
    }

    /// The grants and requests a ledger record names, for [`crate::domain::lifecycle::settle`].
    pub(crate) fn covered(&self) -> Covered {
        Covered {
            grants: self.grants.values().cloned().collect(),
            requests: self.requests.values().cloned().collect(),
        }
    }

    /// A grant's request and extension requests, as read.
    pub(crate) fn requests_of(&self, grant: &Grant) -> Vec<AccessRequest> {
        self.requests
            .values()
            .filter(|request| {
                request.id == grant.request_id
                    || grant.extensions.contains(&request.id)
                    || request.extends.as_ref() == Some(&grant.id)
            })
            .cloned()
            .collect()
    }
}

/// A request as the store holds it once the transition that wrote it is committed (the store
/// bumps the version it was read at).
pub(crate) fn as_stored(request: &AccessRequest) -> AccessRequest {
    let mut stored = request.clone();
    stored.version += 1;
    stored
}

impl AccessService {
    /// Reads a request, its grant and the ledger record of its access key.
    pub(crate) async fn read_request(&self, id: &RequestId) -> Result<Snapshot, WorkflowError> {
        let mut snapshot = Snapshot::default();
        let Some(request) = self.deps.store.get_request(id).await? else {
            return Err(WorkflowError::NotFound {
                message: format!("there is no request {id}"),
            });
        };
        let key = AccessKey::of(
            &crate::domain::lifecycle::grant_target(&request.target),
            &request.principal_id,
        );
        let grant_ids: Vec<GrantId> = request
            .grant_id
            .iter()
            .chain(request.extends.iter())
            .cloned()
            .collect();
        snapshot.requests.insert(request.id.clone(), request);
        for grant_id in grant_ids {
            if let Some(grant) = self.deps.store.get_grant(&grant_id).await? {
                self.read_requests_of(&grant, &mut snapshot).await?;
                snapshot.grants.insert(grant.id.clone(), grant);
            }
        }
        let ledger = self.read_ledger(&key).await?;
        snapshot.access.insert(key, ledger);
        Ok(snapshot)
    }

    /// Reads a grant, its requests and the ledger record of its access.
    pub(crate) async fn read_grant(&self, id: &GrantId) -> Result<Snapshot, WorkflowError> {
        let mut snapshot = Snapshot::default();
        let grant = self.deps.store.get_grant(id).await?.ok_or_else(|| {
            WorkflowError::Unavailable(format!("grant {id} is missing from the store"))
        })?;
        self.read_requests_of(&grant, &mut snapshot).await?;
        let key = grant.access_key();
        snapshot.grants.insert(grant.id.clone(), grant);
        let ledger = self.read_ledger(&key).await?;
        if let Some(record) = &ledger {
            self.read_pending_extensions(record, &mut snapshot).await?;
        }
        snapshot.access.insert(key, ledger);
        Ok(snapshot)
    }

    /// Reads a ledger record with every grant it names and their requests.
    pub(crate) async fn read_access(&self, key: &AccessKey) -> Result<Snapshot, WorkflowError> {
        let mut snapshot = Snapshot::default();
        let ledger = self.read_ledger(key).await?;
        if let Some(record) = &ledger {
            for id in record.grant_ids() {
                if let Some(grant) = self.deps.store.get_grant(id).await? {
                    self.read_requests_of(&grant, &mut snapshot).await?;
                    snapshot.grants.insert(grant.id.clone(), grant);
                }
            }
            self.read_pending_extensions(record, &mut snapshot).await?;
        }
        snapshot.access.insert(key.clone(), ledger);
        Ok(snapshot)
    }

    async fn read_requests_of(
        &self,
        grant: &Grant,
        snapshot: &mut Snapshot,
    ) -> Result<(), WorkflowError> {
        for id in std::iter::once(&grant.request_id).chain(grant.extensions.iter()) {
            if snapshot.requests.contains_key(id) {
                continue;
            }
            if let Some(request) = self.deps.store.get_request(id).await? {
                snapshot.requests.insert(id.clone(), request);
            }
        }
        Ok(())
    }

    async fn read_pending_extensions(
        &self,
        record: &AccessRecord,
        snapshot: &mut Snapshot,
    ) -> Result<(), WorkflowError> {
        for extension in record
            .holders()
            .values()
            .flat_map(|holding| holding.extensions.iter())
        {
            if !snapshot.requests.contains_key(&extension.request_id)
                && let Some(request) = self.deps.store.get_request(&extension.request_id).await?
            {
                snapshot.requests.insert(request.id.clone(), request);
            }
        }
        Ok(())
    }

    /// The ledger record of `key`. Grants written before the ledger existed (an upgrade) are
    /// adopted into a record rebuilt from their own flags, so no grant that may hold the access
    /// is ever left out of the set that decides whether the access is removed.
    pub(crate) async fn read_ledger(
        &self,
        key: &AccessKey,
    ) -> Result<Option<AccessRecord>, WorkflowError> {
        if let Some(record) = self.deps.store.get_access(key).await? {
            return Ok(Some(record));
        }
        let legacy: Vec<Grant> = self
            .deps
            .store
            .query_grants(GrantQuery::AccessKey { key: key.clone() })
            .await?
            .into_iter()
            .filter(|grant| grant.status().may_hold_access())
            .collect();
        let Some(first) = legacy.first() else {
            return Ok(None);
        };
        // A grant and its ledger record are written in one batch: grants seen after the record
        // was missing may be a new record's, not legacy ones. Look again before adopting.
        if let Some(record) = self.deps.store.get_access(key).await? {
            return Ok(Some(record));
        }
        tracing::warn!(access_key = %key, grants = legacy.len(), "Adopting grants written before the access ledger.");
        let predated = legacy
            .iter()
            .find(|grant| grant.preexisting)
            .map(|grant| (grant.id.clone(), grant.starts_at));
        let holders = legacy
            .iter()
            .filter(|grant| grant.status() != crate::domain::GrantStatus::Revoking)
            .map(|grant| {
                (
                    grant.id.clone(),
                    Holding {
                        ends_at: grant.ends_at,
                        active: grant.status() == crate::domain::GrantStatus::Active,
                        extensions: Vec::new(),
                    },
                )
            });
        let mut record = AccessRecord::adopted(
            key.clone(),
            first.principal_id.clone(),
            first.target.clone(),
            holders,
            predated,
            self.now(),
        );
        for grant in legacy
            .iter()
            .filter(|grant| grant.status() == crate::domain::GrantStatus::Revoking)
        {
            record.leave(&grant.id);
        }
        Ok(Some(record))
    }

    /// The one commit loop. `read` loads what `decide` needs; `decide` returns a transition to
    /// write (or nothing); a lost compare-and-set reads and decides again. With a `fence`, the
    /// write only happens while that lease is held ([`StoreError::LeaseLost`] otherwise).
    pub(crate) async fn transact<T, R, Fut, D>(
        &self,
        fence: Option<&Fence>,
        read: R,
        mut decide: D,
    ) -> Result<T, WorkflowError>
    where
        R: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Snapshot, WorkflowError>>,
        D: FnMut(&Snapshot, OffsetDateTime) -> Result<Outcome<T>, WorkflowError>,
    {
        for _ in 0..CAS_ATTEMPTS {
            let snapshot = read().await?;
            let now = self.now();
            let (transition, answer) = match decide(&snapshot, now)? {
                Outcome::Done(answer) => return Ok(answer),
                Outcome::Write(transition, answer) => (transition, answer),
            };
            if self.commit_once(&transition, &snapshot, fence).await? {
                return Ok(answer);
            }
        }
        Err(WorkflowError::Unavailable(
            "too many concurrent changes; try again".to_owned(),
        ))
    }

    /// Writes a transition decided from `snapshot`. `Ok(false)` when a compare-and-set lost
    /// (nothing was written; decide again).
    pub(crate) async fn commit_once(
        &self,
        transition: &Transition,
        snapshot: &Snapshot,
        fence: Option<&Fence>,
    ) -> Result<bool, StoreError> {
        let batch = self.batch_of(transition, snapshot, fence.cloned(), self.now());
        match self.deps.store.commit(batch).await {
            Ok(()) => {
                self.record_transition(transition);
                Ok(true)
            }
            Err(StoreError::Conflict) => Ok(false),
            Err(error) => Err(error),
        }
    }

    fn record_transition(&self, transition: &Transition) {
        let activated = transition
            .kinds
            .contains(&crate::domain::TransitionKind::Activated);
        for kind in &transition.kinds {
            if *kind == crate::domain::TransitionKind::Activated {
                self.deps.metrics.inc("liftgate_grants_total", &[]);
            }
            self.deps
                .metrics
                .inc("liftgate_transitions_total", &[("kind", kind.as_str())]);
        }
        for grant in &transition.grants {
            let status = grant.status();
            tracing::debug!(grant_id = %grant.id, request_id = %grant.request_id, status = status.as_str(), "Grant stored.");
            if status == crate::domain::GrantStatus::Active && activated {
                tracing::info!(grant_id = %grant.id, request_id = %grant.request_id, ends_at = %grant.ends_at, preexisting = grant.preexisting, "Access granted.");
            }
            if status.is_final() {
                let reason = match (&grant.end, status) {
                    (_, crate::domain::GrantStatus::Failed) => "abandoned",
                    (Some(end), _) if end.actor.is_some() => "early",
                    _ => "scheduled",
                };
                self.deps
                    .metrics
                    .inc("liftgate_revocations_total", &[("reason", reason)]);
                tracing::info!(grant_id = %grant.id, request_id = %grant.request_id, reason, "Grant ended.");
            }
        }
        for request in &transition.requests {
            tracing::debug!(request_id = %request.id, status = request.status().as_str(), "Request stored.");
        }
    }

    /// The store write of a transition: each item expects the version it was read at, and
    /// every audit event and notice becomes an outbox row in the same batch.
    fn batch_of(
        &self,
        transition: &Transition,
        snapshot: &Snapshot,
        fence: Option<Fence>,
        now: OffsetDateTime,
    ) -> WriteBatch {
        let expect = |version: u64| {
            if version == 0 {
                Expect::Absent
            } else {
                Expect::Version(version)
            }
        };
        let mut outbox: Vec<OutboxMessage> = Vec::new();
        let mut audit = Vec::new();
        for note in &transition.audit {
            let Some(request) = transition
                .request(&note.request_id)
                .or_else(|| snapshot.request(&note.request_id))
            else {
                tracing::error!(request_id = %note.request_id, "An audit event names a request the transition does not hold.");
                continue;
            };
            let grant = note
                .grant_id
                .as_ref()
                .and_then(|id| transition.grant(id).or_else(|| snapshot.grant(id)))
                .or_else(|| {
                    request
                        .grant_id
                        .as_ref()
                        .and_then(|id| transition.grant(id).or_else(|| snapshot.grant(id)))
                });
            let record = AuditRecord::for_request(
                now,
                note.event,
                note.channel,
                request,
                grant,
                note.actor.as_ref(),
                note.reason.as_deref(),
            );
            audit.push(self.audit_append(record));
        }
        for (request_id, kind) in &transition.notices {
            outbox.extend(self.notice_messages(now, request_id, *kind));
        }
        outbox.extend(self.activity_rows(transition, snapshot, now));
        outbox.extend(self.review_rows(transition, now));
        WriteBatch {
            requests: transition
                .requests
                .iter()
                .map(|request| Put {
                    item: request.clone(),
                    expect: expect(request.version),
                })
                .collect(),
            grants: transition
                .grants
                .iter()
                .map(|grant| Put {
                    item: grant.clone(),
                    expect: expect(grant.version),
                })
                .collect(),
            access: transition
                .access
                .iter()
                .map(|write| match write {
                    AccessWrite::Put(record) => AccessPut::Put(Put {
                        item: record.clone(),
                        expect: expect(record.version),
                    }),
                    AccessWrite::Delete(record) => AccessPut::Delete {
                        key: record.key.clone(),
                        version: record.version,
                    },
                })
                .collect(),
            outbox,
            audit,
            checkpoint: None,
            fence,
        }
    }
}
