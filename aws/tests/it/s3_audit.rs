//! The S3 audit sink: objects on moto (keys, content type, encryption, checksum, Object Lock,
//! written once), the Athena tables of `docs/athena.md` checked against the records, and an S3
//! outage that the outbox rides out.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_sdk_s3::Client as S3;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled,
    ObjectLockRetentionMode, ObjectLockRule, ServerSideEncryption,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use liftgate_aws::{AwsClients, S3AuditConfig, S3AuditSink};
use liftgate_gateway::audit::AuditRecord;
use liftgate_gateway::domain::{Channel, GrantStatus, GrantTarget, RequestEvent, RequestStatus};
use liftgate_gateway::metrics::Metrics;
use liftgate_gateway::ports::{AuditSink, Clock, OutboxMessage, StateStore, WriteBatch};
use liftgate_gateway::store::SqliteStore;
use liftgate_gateway::testing::{ManualClock, person, sample_grant, sample_request};
use liftgate_gateway::workflow::OutboxDispatcher;
use liftgate_testkit::moto::{MotoServer, REGION};
use time::OffsetDateTime;

const BUCKET: &str = "liftgate-audit";

/// The columns of upstream's Athena table (its `timestamp` is the partition, from the path).
const UPSTREAM_COLUMNS: &[&str] = &[
    "role_name",
    "account_id",
    "reason",
    "requester_slack_id",
    "requester_email",
    "request_id",
    "approver_slack_id",
    "approver_email",
    "operation_type",
    "permission_duration",
    "time",
    "group_name",
    "group_id",
    "group_membership_id",
    "audit_entry_type",
    "version",
    "sso_user_principal_id",
    "secondary_domain_was_used",
];

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).unwrap()
}

/// One record of every kind the workflow and the reconciler write, for account and group
/// requests, with and without approvers and grants.
fn every_kind_of_record() -> Vec<AuditRecord> {
    let mut account = sample_request(RequestStatus::Active, at(0));
    account.requester.slack_id = Some("U0REQ".to_owned());
    account.approvals.push(liftgate_gateway::domain::Approval {
        approver: person("alice@corp.com"),
        user_id: Some("u-alice".to_owned()),
        channel: Channel::Slack,
        at: at(5),
        comment: None,
    });
    let mut group = sample_request(RequestStatus::Active, at(0));
    group.target = liftgate_gateway::domain::RequestTarget::Group {
        group_id: "11111111-2222-3333-4444-555555555555".to_owned(),
        group_name: Some("Ops".to_owned()),
    };
    let mut account_grant = sample_grant(GrantStatus::Active, "u-requester", at(3600));
    account_grant.sso_request_id = Some("sso-req-1".to_owned());
    let mut group_grant = sample_grant(GrantStatus::Active, "u-requester", at(3600));
    group_grant.target = GrantTarget::Group {
        group_id: "11111111-2222-3333-4444-555555555555".to_owned(),
        group_name: Some("Ops".to_owned()),
        membership_id: Some("m-1".to_owned()),
    };
    let alice = person("alice@corp.com");
    let events = [
        RequestEvent::Requested,
        RequestEvent::Approved,
        RequestEvent::Denied,
        RequestEvent::Granted,
        RequestEvent::Revoked,
        RequestEvent::Expired,
        RequestEvent::Cancelled,
        RequestEvent::Failed,
        RequestEvent::Extended,
    ];
    let mut records = Vec::new();
    for (index, event) in events.into_iter().enumerate() {
        let when = at(index as i64 * 60);
        records.push(AuditRecord::for_request(
            when,
            event,
            Channel::Slack,
            &account,
            Some(&account_grant),
            Some(&alice),
            None,
        ));
        records.push(AuditRecord::for_request(
            when,
            event,
            Channel::Scheduler,
            &group,
            Some(&group_grant),
            None,
            Some("scheduled_revocation"),
        ));
    }
    records.push(AuditRecord::for_request(
        at(0),
        RequestEvent::Requested,
        Channel::Webhook,
        &account,
        None,
        None,
        None,
    ));
    for event in [RequestEvent::DriftDetected, RequestEvent::Revoked] {
        records.push(AuditRecord::for_drift(
            at(86_400),
            event,
            "u-stranger",
            Some("stranger@corp.com"),
            &account_grant.target,
            "automated revocation",
            None,
        ));
    }
    records
}

async fn bucket(moto: &MotoServer, object_lock: bool) -> AwsClients {
    let clients = AwsClients::for_test_endpoint(moto.endpoint(), REGION).await;
    clients
        .s3
        .create_bucket()
        .bucket(BUCKET)
        .object_lock_enabled_for_bucket(object_lock)
        .send()
        .await
        .unwrap();
    if object_lock {
        clients
            .s3
            .put_object_lock_configuration()
            .bucket(BUCKET)
            .object_lock_configuration(
                ObjectLockConfiguration::builder()
                    .object_lock_enabled(ObjectLockEnabled::Enabled)
                    .rule(
                        ObjectLockRule::builder()
                            .default_retention(
                                DefaultRetention::builder()
                                    .mode(ObjectLockRetentionMode::Compliance)
                                    .days(1)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    clients
}

async fn keys(clients: &AwsClients) -> Vec<String> {
    let listed = clients
        .s3
        .list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    let mut keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|object| object.key().map(str::to_owned))
        .collect();
    keys.sort();
    keys
}

async fn read_json(clients: &AwsClients, key: &str) -> serde_json::Value {
    let object = clients
        .s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap();
    let body = object.body.collect().await.unwrap().into_bytes();
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn records_land_once_as_encrypted_json_under_the_dated_prefix_even_with_object_lock() {
    let moto = MotoServer::start();
    let clients = bucket(&moto, true).await;
    let sink = S3AuditSink::new(
        "s3",
        &clients,
        S3AuditConfig::new(BUCKET, Some("logs/"), None),
    );
    assert_eq!(sink.name(), "s3");
    let record = AuditRecord::for_request(
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        RequestEvent::Requested,
        Channel::Webhook,
        &sample_request(RequestStatus::Pending, at(0)),
        None,
        None,
        None,
    );

    sink.write(&record).await.unwrap();
    // The outbox may deliver a record twice (an answer lost after the write): still one
    // object with one version.
    sink.write(&record).await.unwrap();

    let key = format!("logs/2027/01/15/{}.json", record.id);
    assert_eq!(keys(&clients).await, vec![key.clone()]);
    let versions = clients
        .s3
        .list_object_versions()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 1, "written once");

    let object = clients
        .s3
        .get_object()
        .bucket(BUCKET)
        .key(&key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(object.content_type(), Some("application/json"));
    assert_eq!(
        object.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert!(
        object.object_lock_mode().is_some(),
        "the bucket's retention applies"
    );
    let stored_checksum = object.checksum_sha256().map(str::to_owned);
    let body = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.as_ref(), serde_json::to_vec(&record.fields).unwrap());
    assert_eq!(
        stored_checksum,
        Some(aws_smithy_types::base64::encode(sha256(&body))),
        "S3 verified and kept the SHA-256 checksum"
    );
}

#[tokio::test]
async fn an_empty_prefix_puts_records_at_the_bucket_root_without_a_leading_slash() {
    let moto = MotoServer::start();
    let clients = bucket(&moto, false).await;
    let sink = S3AuditSink::new("s3-2", &clients, S3AuditConfig::new(BUCKET, Some(""), None));
    let record = every_kind_of_record().remove(0);
    sink.write(&record).await.unwrap();
    assert_eq!(
        keys(&clients).await,
        vec![format!("2027/01/15/{}.json", record.id)]
    );
}

/// The column definitions of the `CREATE EXTERNAL TABLE IF NOT EXISTS <table>` block of
/// docs/athena.md, as (JSON field, Hive type), with SerDe `mapping.` renames applied.
fn athena_columns(table: &str) -> Vec<(String, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/athena.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text
        .find(&format!("CREATE EXTERNAL TABLE IF NOT EXISTS {table} ("))
        .unwrap_or_else(|| panic!("no {table} table in {}", path.display()));
    let statement = &text[start..];
    let statement = &statement[..statement.find(");").unwrap()];
    let mappings: BTreeMap<String, String> = statement
        .lines()
        .filter_map(|line| {
            let line = line.trim().trim_end_matches(',');
            let rest = line.strip_prefix("'mapping.")?;
            let (column, field) = rest.split_once("' = '")?;
            Some((column.to_owned(), field.trim_end_matches('\'').to_owned()))
        })
        .collect();
    let body = &statement[statement.find('(').unwrap() + 1..statement.find("\n)").unwrap()];
    body.lines()
        .map(|line| line.trim().trim_end_matches(','))
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (column, kind) = line.split_once(' ').unwrap();
            // Reserved words are quoted with backticks in DDL.
            let column = column.trim_matches('`');
            let field = mappings.get(column).cloned().unwrap_or(column.to_owned());
            (field, kind.to_owned())
        })
        .collect()
}

/// Whether the OpenX JSON SerDe reads `value` into a column of `kind`.
fn readable_as(value: &serde_json::Value, kind: &str) -> bool {
    use serde_json::Value;
    match kind {
        // Any scalar reads as a string; objects, arrays and nulls would not.
        "string" => matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)),
        "int" | "bigint" => value.is_i64(),
        "boolean" => value.is_boolean(),
        "array<string>" => value
            .as_array()
            .is_some_and(|items| items.iter().all(Value::is_string)),
        other => panic!("docs/athena.md uses a type the test does not know: {other}"),
    }
}

#[tokio::test]
async fn every_record_reads_into_upstreams_athena_table_and_liftgates() {
    let upstream = athena_columns("sso_elevator_table");
    assert_eq!(
        upstream
            .iter()
            .map(|(field, _)| field.as_str())
            .collect::<Vec<_>>(),
        UPSTREAM_COLUMNS,
        "docs/athena.md shows upstream's table as it is"
    );
    let liftgate = athena_columns("liftgate_audit");
    for column in UPSTREAM_COLUMNS {
        assert!(
            liftgate.iter().any(|(field, _)| field == column),
            "liftgate_audit lacks upstream's {column}"
        );
    }

    let moto = MotoServer::start();
    let clients = bucket(&moto, false).await;
    let sink = S3AuditSink::new("s3", &clients, S3AuditConfig::new(BUCKET, None, None));
    // As the state store chains them.
    let mut records = every_kind_of_record();
    let mut head = liftgate_gateway::audit::ChainHead::default();
    for record in &mut records {
        head.append(record).unwrap();
    }
    for record in &records {
        sink.write(record).await.unwrap();
    }
    let written = keys(&clients).await;
    assert_eq!(written.len(), records.len());
    for key in &written {
        assert!(key.starts_with("logs/2027/01/1"), "{key}");
        let json = read_json(&clients, key).await;
        let object = json.as_object().unwrap();
        for (table, columns) in [
            ("sso_elevator_table", &upstream),
            ("liftgate_audit", &liftgate),
        ] {
            for (field, kind) in columns {
                let value = object
                    .get(field)
                    .unwrap_or_else(|| panic!("{key} has no {field} for {table}"));
                assert!(
                    readable_as(value, kind),
                    "{key}: {field} = {value} is not readable as {kind} ({table})"
                );
            }
        }
        // The partition column comes from the path; the field of the same name is epoch ms.
        assert!(object["timestamp"].is_i64());
    }
}

/// S3's XML error answer.
fn s3_error(status: u16, code: &str) -> HttpResponse {
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{code} here</Message><RequestId>r</RequestId></Error>"#
    );
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

#[tokio::test]
async fn an_s3_outage_keeps_the_record_in_the_outbox_until_s3_takes_it() {
    let record = every_kind_of_record().remove(3);
    let expected_key = format!("audit/2027/01/15/{}.json", record.id);
    let body = serde_json::to_vec(&record.fields).unwrap();
    let checksum = aws_smithy_types::base64::encode(sha256(&body));
    let put = mock!(S3::put_object)
        .match_requests(move |input| {
            input.bucket() == Some(BUCKET)
                && input.key() == Some(expected_key.as_str())
                && input.content_type() == Some("application/json")
                && input.server_side_encryption() == Some(&ServerSideEncryption::AwsKms)
                && input.ssekms_key_id() == Some("alias/liftgate-audit")
                && input.checksum_algorithm() == Some(&ChecksumAlgorithm::Sha256)
                && input.checksum_sha256() == Some(checksum.as_str())
                && input.if_none_match() == Some("*")
        })
        .sequence()
        .http_response(|| s3_error(503, "SlowDown"))
        .http_response(|| s3_error(500, "InternalError"))
        .output(|| PutObjectOutput::builder().build())
        .build();
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&put], |config| config
        .retry_config(RetryConfig::disabled()));
    let sink = Arc::new(S3AuditSink::from_client(
        "s3",
        client,
        S3AuditConfig::new(BUCKET, Some("/audit/"), Some("alias/liftgate-audit")),
    ));

    let directory = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(directory.path().join("state.db")).unwrap());
    let clock = Arc::new(ManualClock::at_epoch_seconds(1_800_000_000));
    store
        .commit(WriteBatch {
            outbox: vec![OutboxMessage {
                id: uuid::Uuid::new_v4(),
                topic: "audit:s3".to_owned(),
                payload: serde_json::to_value(&record).unwrap(),
                created_at: clock.now(),
                attempts: 0,
                not_before: None,
            }],
            ..WriteBatch::default()
        })
        .await
        .unwrap();
    let dispatcher = OutboxDispatcher::new(
        store.clone(),
        clock.clone(),
        vec![sink],
        Vec::new(),
        Arc::new(Metrics::new()),
    );

    for attempt in 1..=2 {
        assert_eq!(dispatcher.dispatch_once().await.unwrap(), 1);
        assert_eq!(
            store.outbox_len().await.unwrap(),
            1,
            "kept after failure {attempt}"
        );
        assert_eq!(dispatcher.dispatch_once().await.unwrap(), 0, "not due yet");
        clock.advance(std::time::Duration::from_secs(600));
    }
    assert_eq!(dispatcher.dispatch_once().await.unwrap(), 1);
    assert_eq!(store.outbox_len().await.unwrap(), 0, "delivered");
    assert_eq!(put.num_calls(), 3);
}

#[tokio::test]
async fn a_record_already_written_is_success_and_a_denial_is_an_error() {
    let already = mock!(S3::put_object).then_http_response(|| s3_error(412, "PreconditionFailed"));
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&already], |config| config
        .retry_config(RetryConfig::disabled()));
    let sink = S3AuditSink::from_client("s3", client, S3AuditConfig::new(BUCKET, None, None));
    let record = every_kind_of_record().remove(0);
    sink.write(&record).await.unwrap();

    let denied = mock!(S3::put_object).then_http_response(|| s3_error(403, "AccessDenied"));
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&denied], |config| config
        .retry_config(RetryConfig::disabled()));
    let sink =
        S3AuditSink::from_client("s3-archive", client, S3AuditConfig::new(BUCKET, None, None));
    let error = sink.write(&record).await.unwrap_err();
    assert_eq!(error.sink, "s3-archive");
    assert!(error.message.contains("AccessDenied"), "{}", error.message);
    assert!(error.message.contains(BUCKET), "{}", error.message);
}

#[test]
fn the_sink_settings_need_a_bucket_and_default_the_prefix() {
    let mut settings = liftgate_gateway::config::AuditSinkSettings {
        kind: liftgate_gateway::config::AuditSinkKind::S3,
        dir: None,
        bucket: None,
        prefix: None,
        checkpoint_prefix: None,
        kms_key_id: None,
    };
    assert_eq!(
        S3AuditConfig::from_settings(&settings),
        Err(liftgate_aws::S3AuditSetupError::MissingBucket)
    );
    settings.bucket = Some("b".to_owned());
    settings.kms_key_id = Some("arn:aws:kms:us-east-1:123456789012:key/k".to_owned());
    let config = S3AuditConfig::from_settings(&settings).unwrap();
    assert_eq!(config.prefix, "logs");
    assert_eq!(
        config.kms_key_id.as_deref(),
        Some("arn:aws:kms:us-east-1:123456789012:key/k")
    );
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}
