use std::sync::Arc;

use liftgate_gateway::ports::StateStore;
use liftgate_gateway::store::SqliteStore;
use liftgate_gateway::store_contract_tests;

async fn fresh_store() -> Arc<dyn StateStore> {
    // The directory outlives the test on purpose: SQLite keeps WAL files next to the database.
    let directory = tempfile::tempdir().unwrap().keep();
    Arc::new(SqliteStore::open(directory.join("state.db")).unwrap())
}

store_contract_tests!(fresh_store());

#[tokio::test]
async fn reopening_a_database_keeps_its_data_and_schema() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("nested/state.db");
    let request = liftgate_gateway::testing::sample_request(
        liftgate_gateway::domain::RequestStatus::Pending,
        time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
    );
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .commit(liftgate_gateway::ports::WriteBatch {
                requests: vec![liftgate_gateway::ports::Put::insert(request.clone())],
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(
        reopened
            .get_request(&request.id)
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
}

#[tokio::test]
async fn two_handles_on_one_file_see_each_others_writes_and_conflicts() {
    // Two replicas on one host (or a restarted process next to a dying one) share the file.
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("state.db");
    let first = SqliteStore::open(&path).unwrap();
    let second = SqliteStore::open(&path).unwrap();
    let request = liftgate_gateway::testing::sample_request(
        liftgate_gateway::domain::RequestStatus::Pending,
        time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
    );
    first
        .commit(liftgate_gateway::ports::WriteBatch {
            requests: vec![liftgate_gateway::ports::Put::insert(request.clone())],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut from_second = second.get_request(&request.id).await.unwrap().unwrap();
    from_second.reason = "second".to_owned();
    second
        .commit(liftgate_gateway::ports::WriteBatch {
            requests: vec![liftgate_gateway::ports::Put::update(from_second, 1)],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut from_first = request.clone();
    from_first.reason = "first".to_owned();
    let lost = first
        .commit(liftgate_gateway::ports::WriteBatch {
            requests: vec![liftgate_gateway::ports::Put::update(from_first, 1)],
            ..Default::default()
        })
        .await;
    assert!(matches!(
        lost,
        Err(liftgate_gateway::ports::StoreError::Conflict)
    ));
    assert_eq!(
        first
            .get_request(&request.id)
            .await
            .unwrap()
            .unwrap()
            .reason,
        "second"
    );
}

#[test]
fn a_file_that_is_not_a_database_is_a_readable_error() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("state.db");
    std::fs::write(
        &path,
        b"this is not sqlite, just some text that is long enough to matter",
    )
    .unwrap();
    let error = SqliteStore::open(&path).unwrap_err();
    assert!(
        error.to_string().contains("unavailable") || error.to_string().contains("not a database"),
        "{error}"
    );
}
