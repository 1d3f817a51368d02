//! The contract every [`StateStore`] backend must pass. Each check is a public async function
//! taking a fresh, empty store; backends run them all through [`store_contract_tests!`].

use std::sync::Arc;

use time::OffsetDateTime;

use super::{sample_grant, sample_request};
use crate::audit::{AuditRecord, GENESIS_HASH, SigningKey, hash_of_body};
use crate::domain::{AccessRecord, GrantStatus, RequestStatus};
use crate::domain::{Channel, RequestEvent};
use crate::ports::{
    AccessPut, AccessQuery, AuditAppend, CheckpointAppend, Expect, Fence, GrantQuery,
    LeaseSighting, LeaseState, OutboxMessage, Put, RequestQuery, StateStore, StoreError,
    WriteBatch,
};

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).unwrap()
}

fn outbox(topic: &str, created_at: OffsetDateTime) -> OutboxMessage {
    OutboxMessage {
        id: uuid::Uuid::new_v4(),
        topic: topic.to_owned(),
        payload: serde_json::json!({ "topic": topic }),
        created_at,
        attempts: 0,
        not_before: None,
    }
}

/// Generates one `#[tokio::test]` per contract check, each on a store from `$factory` (an
/// async expression returning `Arc<dyn StateStore>`).
#[macro_export]
macro_rules! store_contract_tests {
    ($factory:expr) => {
        $crate::store_contract_tests!(@tests $factory;
            ping_answers,
            inserted_request_reads_back_with_version_one,
            inserting_an_existing_request_conflicts,
            stale_version_conflicts_and_writes_nothing_of_the_batch,
            requests_are_queried_by_status_oldest_first,
            grants_are_queried_by_status_access_key_and_end,
            concurrent_compare_and_set_has_exactly_one_winner,
            concurrent_read_modify_write_loses_no_update,
            outbox_is_claimed_leased_retried_and_completed,
            an_outbox_message_is_first_due_at_its_not_before,
            remember_once_returns_the_first_value_until_it_expires,
            leases_exclude_renew_and_are_taken_over_only_when_stale,
            access_records_are_compare_and_set_queried_and_deleted,
            fenced_batches_are_written_only_under_their_lease,
            a_released_lease_taken_again_is_not_stale_for_old_watchers,
            documents_are_stored_replaced_and_deleted,
            audit_records_form_one_gap_free_chain_under_concurrent_writers,
            a_refused_batch_takes_no_place_in_the_chain,
            each_checkpoint_is_written_once_and_follows_the_last,
        );
    };
    (@tests $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let store: std::sync::Arc<dyn $crate::ports::StateStore> = $factory.await;
                $crate::testing::store_contract::$name(store).await;
            }
        )*
    };
}

pub async fn ping_answers(store: Arc<dyn StateStore>) {
    store.ping().await.unwrap();
}

pub async fn inserted_request_reads_back_with_version_one(store: Arc<dyn StateStore>) {
    let request = sample_request(RequestStatus::Pending, at(0));
    store
        .commit(WriteBatch {
            requests: vec![Put::insert(request.clone())],
            ..Default::default()
        })
        .await
        .unwrap();
    let read = store.get_request(&request.id).await.unwrap().unwrap();
    assert_eq!(read.version, 1);
    let mut expected = request.clone();
    expected.version = 1;
    assert_eq!(read, expected);
    assert!(
        store
            .get_request(&crate::domain::RequestId::generate())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn inserting_an_existing_request_conflicts(store: Arc<dyn StateStore>) {
    let request = sample_request(RequestStatus::Pending, at(0));
    store
        .commit(WriteBatch {
            requests: vec![Put::insert(request.clone())],
            ..Default::default()
        })
        .await
        .unwrap();
    let again = store
        .commit(WriteBatch {
            requests: vec![Put::insert(request.clone())],
            ..Default::default()
        })
        .await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
}

pub async fn stale_version_conflicts_and_writes_nothing_of_the_batch(store: Arc<dyn StateStore>) {
    let request = sample_request(RequestStatus::Pending, at(0));
    let grant = sample_grant(GrantStatus::Active, "u-1", at(100));
    store
        .commit(WriteBatch {
            requests: vec![Put::insert(request.clone())],
            ..Default::default()
        })
        .await
        .unwrap();

    let mut approved = request.clone();
    approved.force_status(RequestStatus::Approved);
    store
        .commit(WriteBatch {
            requests: vec![Put::update(approved, 1)],
            ..Default::default()
        })
        .await
        .unwrap();

    // A writer that read version 1 loses, and neither its grant nor its outbox is written.
    let mut stale = request.clone();
    stale.force_status(RequestStatus::Denied);
    let result = store
        .commit(WriteBatch {
            requests: vec![Put::update(stale, 1)],
            grants: vec![Put::insert(grant.clone())],
            outbox: vec![outbox("audit:test", at(0))],
            ..Default::default()
        })
        .await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
    let read = store.get_request(&request.id).await.unwrap().unwrap();
    assert_eq!(read.status(), RequestStatus::Approved);
    assert_eq!(read.version, 2);
    assert!(store.get_grant(&grant.id).await.unwrap().is_none());
    assert_eq!(store.outbox_len().await.unwrap(), 0);

    // An update of something that does not exist conflicts too.
    let missing = sample_request(RequestStatus::Pending, at(0));
    let result = store
        .commit(WriteBatch {
            requests: vec![Put::update(missing, 1)],
            ..Default::default()
        })
        .await;
    assert!(matches!(result, Err(StoreError::Conflict)));
    let result = store
        .commit(WriteBatch {
            grants: vec![Put {
                item: grant.clone(),
                expect: Expect::Version(3),
            }],
            ..Default::default()
        })
        .await;
    assert!(matches!(result, Err(StoreError::Conflict)));
}

pub async fn requests_are_queried_by_status_oldest_first(store: Arc<dyn StateStore>) {
    let newer = sample_request(RequestStatus::Pending, at(20));
    let older = sample_request(RequestStatus::Pending, at(10));
    let other = sample_request(RequestStatus::Active, at(5));
    for request in [&newer, &older, &other] {
        store
            .commit(WriteBatch {
                requests: vec![Put::insert(request.clone())],
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let pending = store
        .query_requests(RequestQuery::Status {
            status: RequestStatus::Pending,
            limit: 10,
        })
        .await
        .unwrap();
    let ids: Vec<_> = pending.iter().map(|request| request.id.clone()).collect();
    assert_eq!(ids, vec![older.id.clone(), newer.id.clone()]);
    let limited = store
        .query_requests(RequestQuery::Status {
            status: RequestStatus::Pending,
            limit: 1,
        })
        .await
        .unwrap();
    assert_eq!(limited.len(), 1);
    // A status change moves it between queries.
    let mut ended = older.clone();
    ended.force_status(RequestStatus::Ended);
    store
        .commit(WriteBatch {
            requests: vec![Put::update(ended, 1)],
            ..Default::default()
        })
        .await
        .unwrap();
    let pending = store
        .query_requests(RequestQuery::Status {
            status: RequestStatus::Pending,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
}

pub async fn grants_are_queried_by_status_access_key_and_end(store: Arc<dyn StateStore>) {
    let early = sample_grant(GrantStatus::Active, "u-1", at(100));
    let late = sample_grant(GrantStatus::Active, "u-1", at(200));
    let other_user = sample_grant(GrantStatus::Active, "u-2", at(50));
    let revoked = sample_grant(GrantStatus::Revoked, "u-1", at(10));
    let provisioning = sample_grant(GrantStatus::Provisioning, "u-1", at(300));
    for grant in [&early, &late, &other_user, &revoked, &provisioning] {
        store
            .commit(WriteBatch {
                grants: vec![Put::insert(grant.clone())],
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let active = store
        .query_grants(GrantQuery::Status {
            statuses: vec![GrantStatus::Active],
            limit: 10,
        })
        .await
        .unwrap();
    let ids: Vec<_> = active.iter().map(|grant| grant.id.clone()).collect();
    assert_eq!(
        ids,
        vec![other_user.id.clone(), early.id.clone(), late.id.clone()],
        "ordered by end"
    );

    let same_access = store
        .query_grants(GrantQuery::AccessKey {
            key: early.access_key(),
        })
        .await
        .unwrap();
    let mut ids: Vec<_> = same_access.iter().map(|grant| grant.id.clone()).collect();
    ids.sort();
    let mut expected = vec![early.id.clone(), late.id.clone(), provisioning.id.clone()];
    expected.sort();
    assert_eq!(
        ids, expected,
        "only grants that may hold the access, never revoked ones"
    );

    let due = store
        .query_grants(GrantQuery::EndingBy {
            statuses: vec![GrantStatus::Active],
            before: at(100),
            limit: 10,
        })
        .await
        .unwrap();
    let ids: Vec<_> = due.iter().map(|grant| grant.id.clone()).collect();
    assert_eq!(
        ids,
        vec![other_user.id.clone(), early.id.clone()],
        "ends at or before the bound"
    );

    // Moving the end moves it in the index.
    let mut extended = early.clone();
    extended.ends_at = at(500);
    store
        .commit(WriteBatch {
            grants: vec![Put::update(extended, 1)],
            ..Default::default()
        })
        .await
        .unwrap();
    let due = store
        .query_grants(GrantQuery::EndingBy {
            statuses: vec![GrantStatus::Active],
            before: at(100),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
}

pub async fn concurrent_compare_and_set_has_exactly_one_winner(store: Arc<dyn StateStore>) {
    let request = sample_request(RequestStatus::Pending, at(0));
    store
        .commit(WriteBatch {
            requests: vec![Put::insert(request.clone())],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for index in 0..32 {
        let store = Arc::clone(&store);
        let mut candidate = request.clone();
        tasks.push(tokio::spawn(async move {
            candidate.force_status(RequestStatus::Approved);
            candidate.reason = format!("writer {index}");
            let batch = WriteBatch {
                requests: vec![Put::update(candidate, 1)],
                outbox: vec![outbox("audit:test", at(index))],
                ..Default::default()
            };
            store.commit(batch).await
        }));
    }
    let mut winners = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => winners += 1,
            Err(StoreError::Conflict) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(
        winners, 1,
        "exactly one of 32 concurrent writers of version 1 wins"
    );
    assert_eq!(
        store.outbox_len().await.unwrap(),
        1,
        "only the winner's outbox message is written"
    );
    assert_eq!(
        store
            .get_request(&request.id)
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
}

pub async fn concurrent_read_modify_write_loses_no_update(store: Arc<dyn StateStore>) {
    let request = sample_request(RequestStatus::Pending, at(0));
    store
        .commit(WriteBatch {
            requests: vec![Put::insert(request.clone())],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for writer in 0..16 {
        let store = Arc::clone(&store);
        let id = request.id.clone();
        tasks.push(tokio::spawn(async move {
            for step in 0..5 {
                loop {
                    let mut current = store.get_request(&id).await.unwrap().unwrap();
                    let version = current.version;
                    current.reminders_sent += 1;
                    current.reason = format!("{writer}.{step}");
                    match store
                        .commit(WriteBatch {
                            requests: vec![Put::update(current, version)],
                            ..Default::default()
                        })
                        .await
                    {
                        Ok(()) => break,
                        Err(StoreError::Conflict) => continue,
                        Err(other) => panic!("unexpected error: {other}"),
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let read = store.get_request(&request.id).await.unwrap().unwrap();
    assert_eq!(read.reminders_sent, 80, "16 writers × 5 increments");
    assert_eq!(read.version, 81);
}

pub async fn outbox_is_claimed_leased_retried_and_completed(store: Arc<dyn StateStore>) {
    let first = outbox("audit:file", at(0));
    let second = outbox("notify:slack", at(1));
    let third = outbox("audit:s3", at(2));
    store
        .commit(WriteBatch {
            outbox: vec![first.clone(), second.clone(), third.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(store.outbox_len().await.unwrap(), 3);

    let audit = store
        .claim_outbox("audit:", at(10), at(70), 10)
        .await
        .unwrap();
    let ids: Vec<_> = audit.iter().map(|message| message.id).collect();
    assert_eq!(
        ids,
        vec![first.id, third.id],
        "by topic prefix, oldest first"
    );
    assert_eq!(audit[0].payload, first.payload);
    // Leased: nobody else gets them before the lease ends.
    assert!(
        store
            .claim_outbox("audit:", at(20), at(80), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let everything = store.claim_outbox("", at(20), at(80), 10).await.unwrap();
    assert_eq!(
        everything.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![second.id]
    );

    store.complete_outbox(first.id).await.unwrap();
    store
        .retry_outbox(third.id, at(100), "sink down")
        .await
        .unwrap();
    assert!(
        store
            .claim_outbox("audit:", at(99), at(150), 10)
            .await
            .unwrap()
            .is_empty(),
        "not due before retry_at"
    );
    let retried = store
        .claim_outbox("audit:", at(100), at(150), 10)
        .await
        .unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].id, third.id);
    assert_eq!(retried[0].attempts, 1);
    // A lease that ran out makes the message claimable again.
    let reclaimed = store
        .claim_outbox("notify:", at(81), at(140), 10)
        .await
        .unwrap();
    assert_eq!(reclaimed.len(), 1);
    assert_eq!(store.outbox_len().await.unwrap(), 2);
    let limited = store.claim_outbox("", at(1000), at(1060), 1).await.unwrap();
    assert_eq!(limited.len(), 1);
}

pub async fn an_outbox_message_is_first_due_at_its_not_before(store: Arc<dyn StateStore>) {
    let mut later = outbox("inbox:slack", at(0));
    later.not_before = Some(at(30));
    let now = outbox("audit:file", at(5));
    store
        .commit(WriteBatch {
            outbox: vec![later.clone(), now.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    let early = store.claim_outbox("", at(29), at(100), 10).await.unwrap();
    assert_eq!(
        early.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![now.id],
        "not before its time"
    );
    let due = store.claim_outbox("", at(30), at(40), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].id, later.id);
    assert_eq!(due[0].not_before, Some(at(30)), "read back as written");
    assert_eq!(due[0].payload, later.payload);
}

pub async fn remember_once_returns_the_first_value_until_it_expires(store: Arc<dyn StateStore>) {
    assert_eq!(
        store
            .remember_once("k", "first", at(0), at(60))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .remember_once("k", "second", at(30), at(90))
            .await
            .unwrap(),
        Some("first".to_owned())
    );
    assert_eq!(
        store
            .remember_once("other", "x", at(30), at(90))
            .await
            .unwrap(),
        None
    );
    // Expired: the key is free again.
    assert_eq!(
        store
            .remember_once("k", "third", at(60), at(120))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .remember_once("k", "fourth", at(61), at(120))
            .await
            .unwrap(),
        Some("third".to_owned())
    );

    // Concurrent first writers: exactly one is remembered.
    let mut tasks = Vec::new();
    for index in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store
                .remember_once("race", &index.to_string(), at(0), at(60))
                .await
                .unwrap()
        }));
    }
    let mut fresh = 0;
    for task in tasks {
        if task.await.unwrap().is_none() {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1);
}

pub async fn leases_exclude_renew_and_are_taken_over_only_when_stale(store: Arc<dyn StateStore>) {
    let ttl = time::Duration::seconds(8);
    let token = match store
        .acquire_lease("settle", "a:1", None, at(0), ttl)
        .await
        .unwrap()
    {
        LeaseState::Acquired { token } => token,
        held => panic!("free lease not acquired: {held:?}"),
    };
    assert_eq!(
        store
            .acquire_lease("settle", "b:1", None, at(1), ttl)
            .await
            .unwrap(),
        LeaseState::Held {
            owner: "a:1".to_owned(),
            token
        },
        "held by a"
    );
    assert!(
        matches!(
            store
                .acquire_lease("settle", "a:1", None, at(1), ttl)
                .await
                .unwrap(),
            LeaseState::Held { .. }
        ),
        "never re-entrant, not even for its holder"
    );
    let renewed = store
        .renew_lease("settle", "a:1", token, at(2), ttl)
        .await
        .unwrap()
        .expect("the holder renews");
    assert_ne!(renewed, token, "every renewal changes the token");
    assert_eq!(
        store
            .renew_lease("settle", "a:1", token, at(3), ttl)
            .await
            .unwrap(),
        None,
        "a renewal at an old token is refused"
    );
    let seen = |owner: &str, token: u64| LeaseSighting {
        owner: owner.to_owned(),
        token,
    };
    assert!(
        matches!(
            store
                .acquire_lease("settle", "b:1", Some(&seen("a:1", token)), at(20), ttl)
                .await
                .unwrap(),
            LeaseState::Held { .. }
        ),
        "a token watched before the renewal is not stale"
    );
    assert!(
        matches!(
            store
                .acquire_lease("settle", "b:1", Some(&seen("x:1", renewed)), at(20), ttl)
                .await
                .unwrap(),
            LeaseState::Held { .. }
        ),
        "the same token under another holder is not stale"
    );
    let taken = match store
        .acquire_lease("settle", "b:1", Some(&seen("a:1", renewed)), at(30), ttl)
        .await
        .unwrap()
    {
        LeaseState::Acquired { token } => token,
        held => panic!("a stale lease must be taken over: {held:?}"),
    };
    assert_eq!(
        store
            .renew_lease("settle", "a:1", renewed, at(31), ttl)
            .await
            .unwrap(),
        None,
        "the old holder lost it"
    );
    store.release_lease("settle", "a:1").await.unwrap();
    assert!(
        matches!(
            store.acquire_lease("settle", "c:1", None, at(32), ttl).await.unwrap(),
            LeaseState::Held { token, .. } if token == taken
        ),
        "a cannot release b's lease"
    );
    store.release_lease("settle", "b:1").await.unwrap();
    assert!(matches!(
        store
            .acquire_lease("settle", "c:1", None, at(33), ttl)
            .await
            .unwrap(),
        LeaseState::Acquired { .. }
    ));
    assert!(
        matches!(
            store
                .acquire_lease("other", "b:1", None, at(33), ttl)
                .await
                .unwrap(),
            LeaseState::Acquired { .. }
        ),
        "leases are per name"
    );

    let mut tasks = Vec::new();
    for index in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store
                .acquire_lease("race", &format!("owner-{index}"), None, at(0), ttl)
                .await
                .unwrap()
        }));
    }
    let mut holders = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), LeaseState::Acquired { .. }) {
            holders += 1;
        }
    }
    assert_eq!(holders, 1);
}

fn ledger_record() -> AccessRecord {
    let grant = sample_grant(GrantStatus::Provisioning, "u-1", at(3600));
    let mut record = AccessRecord::new(grant.access_key(), "u-1".to_owned(), grant.target.clone());
    record.join(grant.id.clone(), grant.ends_at);
    record
}

pub async fn access_records_are_compare_and_set_queried_and_deleted(store: Arc<dyn StateStore>) {
    let record = ledger_record();
    assert!(record.unsettled());
    store
        .commit(WriteBatch {
            access: vec![AccessPut::Put(Put::insert(record.clone()))],
            ..Default::default()
        })
        .await
        .unwrap();
    let read = store.get_access(&record.key).await.unwrap().unwrap();
    assert_eq!(read.version, 1);
    let again = store
        .commit(WriteBatch {
            access: vec![AccessPut::Put(Put::insert(record.clone()))],
            ..Default::default()
        })
        .await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
    let unsettled = store
        .query_access(AccessQuery::Unsettled {
            due_by: at(0),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(unsettled.len(), 1);

    // Settled: every holder active.
    let mut settled = read.clone();
    settled.record_checked(false, None, at(0));
    settled.settle_holders();
    assert!(!settled.unsettled());
    store
        .commit(WriteBatch {
            access: vec![AccessPut::Put(Put::update(settled.clone(), 1))],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        store
            .query_access(AccessQuery::Unsettled {
                due_by: at(0),
                limit: 10,
            })
            .await
            .unwrap()
            .is_empty()
    );
    let all = store
        .query_access(AccessQuery::All {
            after: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert!(
        store
            .query_access(AccessQuery::All {
                after: Some(record.key.clone()),
                limit: 10,
            })
            .await
            .unwrap()
            .is_empty()
    );

    let stale_delete = store
        .commit(WriteBatch {
            access: vec![AccessPut::Delete {
                key: record.key.clone(),
                version: 1,
            }],
            ..Default::default()
        })
        .await;
    assert!(
        matches!(stale_delete, Err(StoreError::Conflict)),
        "{stale_delete:?}"
    );
    store
        .commit(WriteBatch {
            access: vec![AccessPut::Delete {
                key: record.key.clone(),
                version: 2,
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(store.get_access(&record.key).await.unwrap().is_none());
    // A record that was never stored (version 0) deletes as a no-op while still absent.
    store
        .commit(WriteBatch {
            access: vec![AccessPut::Delete {
                key: record.key.clone(),
                version: 0,
            }],
            ..Default::default()
        })
        .await
        .unwrap();
}

pub async fn a_released_lease_taken_again_is_not_stale_for_old_watchers(
    store: Arc<dyn StateStore>,
) {
    // Simulation seed 1242: tokens restart when a lease is released and taken again, so a
    // waiter that watched the first holder must not take it from the second.
    let ttl = time::Duration::seconds(8);
    let LeaseState::Acquired { token } = store
        .acquire_lease("access:k", "a:1", None, at(0), ttl)
        .await
        .unwrap()
    else {
        panic!("free lease not acquired");
    };
    store.release_lease("access:k", "a:1").await.unwrap();
    assert!(matches!(
        store
            .acquire_lease("access:k", "b:1", None, at(1), ttl)
            .await
            .unwrap(),
        LeaseState::Acquired { .. }
    ));
    let old = LeaseSighting {
        owner: "a:1".to_owned(),
        token,
    };
    assert!(matches!(
        store
            .acquire_lease("access:k", "c:1", Some(&old), at(30), ttl)
            .await
            .unwrap(),
        LeaseState::Held { .. }
    ));
}

pub async fn fenced_batches_are_written_only_under_their_lease(store: Arc<dyn StateStore>) {
    let ttl = time::Duration::seconds(8);
    let token = match store
        .acquire_lease("access:k", "a:1", None, at(0), ttl)
        .await
        .unwrap()
    {
        LeaseState::Acquired { token } => token,
        held => panic!("{held:?}"),
    };
    let fence = Fence {
        lease: "access:k".to_owned(),
        owner: "a:1".to_owned(),
    };
    let record = ledger_record();
    store
        .commit(WriteBatch {
            access: vec![AccessPut::Put(Put::insert(record.clone()))],
            fence: Some(fence.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    // b takes the lease over: a's writes are refused from then on, and write nothing.
    let stale = LeaseSighting {
        owner: "a:1".to_owned(),
        token,
    };
    assert!(matches!(
        store
            .acquire_lease("access:k", "b:1", Some(&stale), at(20), ttl)
            .await
            .unwrap(),
        LeaseState::Acquired { .. }
    ));
    let request = sample_request(RequestStatus::Pending, at(0));
    let refused = store
        .commit(WriteBatch {
            requests: vec![Put::insert(request.clone())],
            access: vec![AccessPut::Put(Put::update(record.clone(), 1))],
            fence: Some(fence),
            ..Default::default()
        })
        .await;
    assert!(matches!(refused, Err(StoreError::LeaseLost)), "{refused:?}");
    assert!(store.get_request(&request.id).await.unwrap().is_none());
    assert_eq!(
        store
            .get_access(&record.key)
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
}

pub async fn documents_are_stored_replaced_and_deleted(store: Arc<dyn StateStore>) {
    assert_eq!(store.get_document("slack", "r1").await.unwrap(), None);
    store
        .put_document("slack", "r1", &serde_json::json!({"ts": "1.2"}))
        .await
        .unwrap();
    store
        .put_document("teams", "r1", &serde_json::json!({"id": "x"}))
        .await
        .unwrap();
    assert_eq!(
        store.get_document("slack", "r1").await.unwrap(),
        Some(serde_json::json!({"ts": "1.2"}))
    );
    store
        .put_document("slack", "r1", &serde_json::json!({"ts": "3.4"}))
        .await
        .unwrap();
    assert_eq!(
        store.get_document("slack", "r1").await.unwrap(),
        Some(serde_json::json!({"ts": "3.4"}))
    );
    store.delete_document("slack", "r1").await.unwrap();
    assert_eq!(store.get_document("slack", "r1").await.unwrap(), None);
    assert_eq!(
        store.get_document("teams", "r1").await.unwrap(),
        Some(serde_json::json!({"id": "x"}))
    );
    store.delete_document("slack", "missing").await.unwrap();
}

fn audit_append(request: &crate::domain::AccessRequest, sinks: &[&str]) -> AuditAppend {
    AuditAppend {
        record: AuditRecord::for_request(
            at(1),
            RequestEvent::Requested,
            Channel::Webhook,
            request,
            None,
            None,
            None,
        ),
        sinks: sinks.iter().map(|sink| (*sink).to_owned()).collect(),
    }
}

/// The audit records queued for `topic`, in `seq` order.
async fn chained(store: &Arc<dyn StateStore>, topic: &str) -> Vec<AuditRecord> {
    let mut records: Vec<AuditRecord> = store
        .claim_outbox(topic, at(10_000), at(10_001), 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|message| serde_json::from_value(message.payload).unwrap())
        .collect();
    records.sort_by_key(|record| record.fields.seq);
    records
}

pub async fn audit_records_form_one_gap_free_chain_under_concurrent_writers(
    store: Arc<dyn StateStore>,
) {
    let (writers, each) = (8u64, 6u64);
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for _ in 0..each {
                let request = sample_request(RequestStatus::Pending, at(0));
                let batch = WriteBatch {
                    requests: vec![Put::insert(request.clone())],
                    audit: vec![audit_append(&request, &["a", "b"])],
                    ..Default::default()
                };
                store.commit(batch).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let head = store.audit_chain_head().await.unwrap();
    assert_eq!(head.seq, writers * each);
    let records = chained(&store, "audit:a").await;
    let seqs: Vec<u64> = records.iter().map(|r| r.fields.seq.unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=writers * each).collect::<Vec<_>>(),
        "gap-free, once each"
    );
    let mut previous = GENESIS_HASH.to_owned();
    for record in &records {
        assert_eq!(record.fields.prev_hash.as_deref(), Some(previous.as_str()));
        let body = serde_json::to_value(&record.fields).unwrap();
        assert_eq!(
            record.fields.hash.as_deref(),
            Some(hash_of_body(&body).as_str())
        );
        previous = record.fields.hash.clone().unwrap();
    }
    assert_eq!(head.hash, previous);
    // Every sink gets the same links.
    let other = chained(&store, "audit:b").await;
    assert_eq!(other, records);
}

pub async fn a_refused_batch_takes_no_place_in_the_chain(store: Arc<dyn StateStore>) {
    let request = sample_request(RequestStatus::Pending, at(0));
    store
        .commit(WriteBatch {
            requests: vec![Put::insert(request.clone())],
            audit: vec![audit_append(&request, &["a"])],
            ..Default::default()
        })
        .await
        .unwrap();
    let before = store.audit_chain_head().await.unwrap();
    let refused = store
        .commit(WriteBatch {
            requests: vec![Put::insert(request.clone())],
            audit: vec![audit_append(&request, &["a"])],
            ..Default::default()
        })
        .await;
    assert!(matches!(refused, Err(StoreError::Conflict)), "{refused:?}");
    assert_eq!(store.audit_chain_head().await.unwrap(), before);
    // A record going to no sink is written nowhere and takes no seq.
    store
        .commit(WriteBatch {
            audit: vec![audit_append(&request, &[])],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(store.audit_chain_head().await.unwrap().seq, 1);
}

pub async fn each_checkpoint_is_written_once_and_follows_the_last(store: Arc<dyn StateStore>) {
    let (key, _) = SigningKey::generate().unwrap();
    let request = sample_request(RequestStatus::Pending, at(0));
    store
        .commit(WriteBatch {
            audit: vec![audit_append(&request, &["a"])],
            ..Default::default()
        })
        .await
        .unwrap();
    let head = store.audit_chain_head().await.unwrap();
    let first = key.checkpoint(&head, at(5)).unwrap();
    let racing = key.checkpoint(&head, at(6)).unwrap();
    let append = |checkpoint: &crate::audit::Checkpoint| WriteBatch {
        checkpoint: Some(CheckpointAppend {
            checkpoint: checkpoint.clone(),
            sinks: vec!["a".to_owned()],
        }),
        ..Default::default()
    };
    store.commit(append(&first)).await.unwrap();
    for again in [&first, &racing] {
        let refused = store.commit(append(again)).await;
        assert!(matches!(refused, Err(StoreError::Conflict)), "{refused:?}");
    }
    let head = store.audit_chain_head().await.unwrap();
    assert_eq!(head.checkpoint, Some(first.mark()));
    let second = key.checkpoint(&head, at(7)).unwrap();
    assert_eq!(second.number, 2);
    assert_eq!(second.previous_signature.as_ref(), Some(&first.signature));
    store.commit(append(&second)).await.unwrap();
    let queued = store
        .claim_outbox("checkpoint:a", at(10_000), at(10_001), 10)
        .await
        .unwrap();
    assert_eq!(queued.len(), 2, "one outbox row per written checkpoint");
}
