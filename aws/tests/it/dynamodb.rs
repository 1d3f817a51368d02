//! The DynamoDB state store: the same contract suite as SQLite on a fresh table per test (on a
//! serialised moto, as atomic as DynamoDB itself), table setup, what the items look like, and
//! mocked answers for throttling and transaction conflicts.

use std::sync::{Arc, OnceLock};

use aws_config::retry::RetryConfig;
use aws_sdk_dynamodb::Client as DynamoDb;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::types::{AttributeValue, TimeToLiveStatus};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use liftgate_aws::{AwsClients, DynamoStore, DynamoStoreConfig, TableSetup};
use liftgate_gateway::domain::{GrantStatus, RequestId, RequestStatus};
use liftgate_gateway::ports::{GrantQuery, Put, RequestQuery, StateStore, StoreError, WriteBatch};
use liftgate_gateway::testing::{ManualClock, sample_grant, sample_request};
use liftgate_testkit::moto::{MotoServer, REGION};
use time::OffsetDateTime;

use crate::support::json_error;

pub(crate) const TABLE: &str = "liftgate-test";
const RETENTION: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).unwrap()
}

pub(crate) fn store_config() -> DynamoStoreConfig {
    DynamoStoreConfig {
        table: TABLE.to_owned(),
        retention: RETENTION,
    }
}

/// One serialised moto for the whole contract suite; each test gets its own table, which moto
/// keeps as separate as DynamoDB does. The server stops when the test process exits.
fn shared_moto() -> &'static MotoServer {
    static SERVER: OnceLock<MotoServer> = OnceLock::new();
    SERVER.get_or_init(MotoServer::start_serialized)
}

async fn contract_store() -> Arc<dyn StateStore> {
    let moto = shared_moto();
    let clients = AwsClients::for_test_endpoint(moto.endpoint(), REGION).await;
    let store = DynamoStore::new(
        &clients,
        DynamoStoreConfig {
            table: format!("liftgate-{}", uuid::Uuid::new_v4()),
            retention: RETENTION,
        },
    );
    store.ensure_table().await.unwrap();
    Arc::new(store)
}

mod contract {
    liftgate_gateway::store_contract_tests!(super::contract_store());
}

// --- Against moto: table setup and item shapes ---------------------------------------------

async fn raw_item(store_client: &DynamoDb, pk: &str, sk: &str) -> Option<GetItemOutput> {
    let output = store_client
        .get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S(pk.to_owned()))
        .key("sk", AttributeValue::S(sk.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    output.item().is_some().then_some(output)
}

#[tokio::test]
async fn ensure_table_creates_indexes_and_ttl_once_and_is_idempotent() {
    let moto = MotoServer::start();
    let clients = AwsClients::for_test_endpoint(moto.endpoint(), REGION).await;
    let store = DynamoStore::new(&clients, store_config());
    assert_eq!(
        store.ensure_table().await.unwrap(),
        TableSetup {
            created: true,
            ttl_enabled: true
        }
    );
    assert_eq!(
        store.ensure_table().await.unwrap(),
        TableSetup {
            created: false,
            ttl_enabled: false
        }
    );
    let table = clients
        .dynamodb
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let mut indexes: Vec<&str> = table
        .global_secondary_indexes()
        .iter()
        .filter_map(|index| index.index_name())
        .collect();
    indexes.sort_unstable();
    assert_eq!(indexes, ["by_status", "outbox_due"]);
    assert_eq!(
        table
            .billing_mode_summary()
            .and_then(|summary| summary.billing_mode())
            .map(|mode| mode.as_str()),
        Some("PAY_PER_REQUEST")
    );
    let ttl = clients
        .dynamodb
        .describe_time_to_live()
        .table_name(TABLE)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert_eq!(ttl.attribute_name(), Some("ttl"));
    store.ping().await.unwrap();
}

#[tokio::test]
async fn a_table_with_another_layout_is_reported_not_changed() {
    let moto = MotoServer::start();
    let clients = AwsClients::for_test_endpoint(moto.endpoint(), REGION).await;
    clients
        .dynamodb
        .create_table()
        .table_name(TABLE)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let store = DynamoStore::new(&clients, store_config());
    let error = store.ensure_table().await.unwrap_err();
    assert!(error.to_string().contains("pk HASH, sk RANGE"), "{error}");
}

#[tokio::test]
async fn finished_items_get_a_ttl_and_access_links_follow_the_grant() {
    let moto = MotoServer::start();
    let clients = AwsClients::for_test_endpoint(moto.endpoint(), REGION).await;
    let clock = Arc::new(ManualClock::at_epoch_seconds(1_800_000_000));
    let store = DynamoStore::new(&clients, store_config()).with_clock(clock.clone());
    store.ensure_table().await.unwrap();

    let request = sample_request(RequestStatus::Active, at(0));
    let grant = sample_grant(GrantStatus::Active, "u-1", at(3600));
    store
        .commit(WriteBatch {
            requests: vec![Put::insert(request.clone())],
            grants: vec![Put::insert(grant.clone())],
            ..WriteBatch::default()
        })
        .await
        .unwrap();
    let grant_pk = format!("grant#{}", grant.id);
    let item = raw_item(&clients.dynamodb, &grant_pk, "grant")
        .await
        .unwrap();
    let item = item.item().unwrap();
    assert!(!item.contains_key("ttl"), "an active grant stays");
    assert_eq!(item["version"], AttributeValue::N("1".to_owned()));
    assert_eq!(
        item["status_key"],
        AttributeValue::S("grant#active".to_owned())
    );
    let link_pk = format!("access#{}", grant.access_key());
    let link_sk = format!("grant#{}", grant.id);
    assert!(
        raw_item(&clients.dynamodb, &link_pk, &link_sk)
            .await
            .is_some()
    );

    let mut ended = request.clone();
    ended.force_status(RequestStatus::Ended);
    let mut revoked = grant.clone();
    revoked.force_status(GrantStatus::Revoked);
    store
        .commit(WriteBatch {
            requests: vec![Put::update(ended, 1)],
            grants: vec![Put::update(revoked, 1)],
            ..WriteBatch::default()
        })
        .await
        .unwrap();
    let expires = (1_800_000_000 + RETENTION.as_secs()).to_string();
    for (pk, sk) in [
        (format!("request#{}", request.id), "request"),
        (grant_pk, "grant"),
    ] {
        let item = raw_item(&clients.dynamodb, &pk, sk).await.unwrap();
        assert_eq!(
            item.item().unwrap()["ttl"],
            AttributeValue::N(expires.clone()),
            "{pk}"
        );
    }
    assert!(
        raw_item(&clients.dynamodb, &link_pk, &link_sk)
            .await
            .is_none(),
        "a revoked grant no longer holds the access"
    );
    assert!(
        store
            .query_grants(GrantQuery::AccessKey {
                key: grant.access_key()
            })
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        store
            .remember_once("webhook:abc", "r-1", at(0), at(600))
            .await
            .unwrap(),
        None
    );
    let key = raw_item(&clients.dynamodb, "idem#webhook:abc", "idem")
        .await
        .unwrap();
    assert_eq!(
        key.item().unwrap()["ttl"],
        AttributeValue::N((1_800_000_600 + 1).to_string()),
        "expired idempotency keys are left to the TTL"
    );
}

// --- Mocked: throttling and transaction conflicts -------------------------------------------

fn mocked(rules: &[&Rule]) -> DynamoStore {
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, rules, |config| config
        .retry_config(RetryConfig::disabled()));
    DynamoStore::from_client(client, store_config())
}

/// DynamoDB's answer to a cancelled transaction, one reason per item.
fn cancelled(reasons: &[&str]) -> HttpResponse {
    let reasons: Vec<serde_json::Value> = reasons
        .iter()
        .map(|code| serde_json::json!({"Code": code, "Message": format!("{code} here")}))
        .collect();
    let body = serde_json::json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
        "CancellationReasons": reasons,
    });
    HttpResponse::new(
        StatusCode::try_from(400).unwrap(),
        SdkBody::from(body.to_string()),
    )
}

/// A batch of a request and a grant: a transaction of three items (the grant's access link).
fn two_item_batch() -> WriteBatch {
    WriteBatch {
        requests: vec![Put::update(sample_request(RequestStatus::Active, at(0)), 3)],
        grants: vec![Put::insert(sample_grant(
            GrantStatus::Provisioning,
            "u-1",
            at(60),
        ))],
        ..WriteBatch::default()
    }
}

#[tokio::test]
async fn a_failed_condition_or_a_concurrent_transaction_is_a_conflict() {
    for reasons in [
        ["ConditionalCheckFailed", "None", "None"],
        ["None", "TransactionConflict", "None"],
    ] {
        let transact = mock!(DynamoDb::transact_write_items)
            .match_requests(|input| {
                let items = input.transact_items();
                items.len() == 3
                    && input.client_request_token().is_some()
                    && items[0].put().and_then(|put| put.condition_expression())
                        == Some("#version = :expected")
                    && items[1].put().and_then(|put| put.condition_expression())
                        == Some("attribute_not_exists(#pk)")
                    && items[2]
                        .put()
                        .is_some_and(|put| put.condition_expression().is_none())
            })
            .then_http_response(move || cancelled(&reasons));
        let store = mocked(&[&transact]);
        let result = store.commit(two_item_batch()).await;
        assert!(
            matches!(result, Err(StoreError::Conflict)),
            "{reasons:?}: {result:?}"
        );
        assert_eq!(transact.num_calls(), 1);
    }
}

#[tokio::test]
async fn other_cancellations_and_throttling_make_the_store_unavailable() {
    let throttled_transaction = mock!(DynamoDb::transact_write_items)
        .then_http_response(|| cancelled(&["ThrottlingError", "None", "None"]));
    let result = mocked(&[&throttled_transaction])
        .commit(two_item_batch())
        .await;
    assert!(
        matches!(&result, Err(StoreError::Unavailable(message)) if message.contains("ThrottlingError")),
        "{result:?}"
    );

    let exceeded = || {
        json_error(
            400,
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "slow down",
        )
    };
    let get = mock!(DynamoDb::get_item).then_http_response(exceeded);
    let put = mock!(DynamoDb::put_item).then_http_response(exceeded);
    let query = mock!(DynamoDb::query).then_http_response(exceeded);
    let store = mocked(&[&get, &put, &query]);
    assert!(matches!(
        store.get_request(&RequestId::generate()).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
    let single = WriteBatch {
        requests: vec![Put::insert(sample_request(RequestStatus::Pending, at(0)))],
        ..WriteBatch::default()
    };
    assert!(matches!(
        store.commit(single).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store
            .acquire_lease("sweeper", "a", None, at(0), time::Duration::seconds(60))
            .await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store
            .query_requests(RequestQuery::Status {
                status: RequestStatus::Pending,
                limit: 10
            })
            .await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.claim_outbox("", at(0), at(60), 10).await,
        Err(StoreError::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_single_write_is_one_conditional_put_and_its_failed_condition_a_conflict() {
    let put = mock!(DynamoDb::put_item)
        .match_requests(|input| {
            input.condition_expression() == Some("attribute_not_exists(#pk)")
                && input.item().is_some_and(|item| {
                    item.get("version") == Some(&AttributeValue::N("1".to_owned()))
                })
        })
        .then_http_response(|| {
            json_error(
                400,
                "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
                "The conditional request failed",
            )
        });
    let transact = mock!(DynamoDb::transact_write_items).then_http_response(|| cancelled(&[]));
    let store = mocked(&[&put, &transact]);
    let single = WriteBatch {
        requests: vec![Put::insert(sample_request(RequestStatus::Pending, at(0)))],
        ..WriteBatch::default()
    };
    assert!(matches!(
        store.commit(single).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!((put.num_calls(), transact.num_calls()), (1, 0));
}

#[tokio::test]
async fn a_batch_over_the_transaction_limit_is_refused_before_any_call() {
    let transact = mock!(DynamoDb::transact_write_items).then_http_response(|| cancelled(&[]));
    let store = mocked(&[&transact]);
    let batch = WriteBatch {
        grants: (0..51)
            .map(|_| Put::insert(sample_grant(GrantStatus::Active, "u-1", at(60))))
            .collect(),
        ..WriteBatch::default()
    };
    assert!(matches!(
        store.commit(batch).await,
        Err(StoreError::Unavailable(message)) if message.contains("100-item")
    ));
    assert_eq!(transact.num_calls(), 0);
}

#[test]
fn the_table_name_comes_from_the_state_settings() {
    let mut settings = liftgate_gateway::config::StateSettings::default();
    assert_eq!(
        DynamoStoreConfig::from_settings(&settings),
        Err(liftgate_aws::DynamoSetupError::MissingTable)
    );
    settings.table = Some(" liftgate-state ".to_owned());
    let config = DynamoStoreConfig::from_settings(&settings).unwrap();
    assert_eq!(config.table, "liftgate-state");
    assert_eq!(config.retention, settings.retention.to_std());
}
