//! The audit record format (docs/reference.md §7) and the file sink layout.

use std::collections::BTreeSet;

use liftgate_gateway::audit::{AuditRecord, FileAuditSink, object_key};
use liftgate_gateway::domain::{Channel, RequestEvent, RequestStatus};
use liftgate_gateway::ports::AuditSink;
use liftgate_gateway::testing::{person, sample_request};
use time::OffsetDateTime;

/// terraform-aws-sso-elevator's record fields, which its Athena table reads.
const UPSTREAM_FIELDS: [&str; 18] = [
    "reason",
    "operation_type",
    "permission_duration",
    "sso_user_principal_id",
    "audit_entry_type",
    "role_name",
    "account_id",
    "requester_slack_id",
    "requester_email",
    "request_id",
    "approver_slack_id",
    "approver_email",
    "group_name",
    "group_id",
    "group_membership_id",
    "secondary_domain_was_used",
    "time",
    "timestamp",
];
const LIFTGATE_FIELDS: [&str; 5] = [
    "version",
    "event",
    "liftgate_request_id",
    "channel",
    "approvers",
];

fn record() -> AuditRecord {
    let at = OffsetDateTime::from_unix_timestamp(1_795_320_821).unwrap()
        + time::Duration::microseconds(218_367);
    let mut request = sample_request(RequestStatus::Pending, at);
    request.requester.slack_id = Some("U1".to_owned());
    let mut approver = person("boss@corp.com");
    approver.slack_id = Some("U2".to_owned());
    AuditRecord::for_request(
        at,
        RequestEvent::Approved,
        Channel::Slack,
        &request,
        None,
        Some(&approver),
        None,
    )
}

#[test]
fn records_carry_every_upstream_field_plus_liftgates_own() {
    let json = serde_json::to_value(&record().fields).unwrap();
    let keys: BTreeSet<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for field in UPSTREAM_FIELDS.iter().chain(LIFTGATE_FIELDS.iter()) {
        assert!(keys.contains(field), "missing {field}");
    }
    assert_eq!(json["time"], "2026-11-22 04:13:41.218367+00:00");
    assert_eq!(json["timestamp"], 1_795_320_821_218i64);
    assert_eq!(json["permission_duration"], "3600");
    assert_eq!(json["operation_type"], "approve");
    assert_eq!(json["event"], "approved");
    assert_eq!(json["channel"], "slack");
    assert_eq!(json["version"], 1);
    assert_eq!(json["approver_slack_id"], "U2");
    assert_eq!(json["requester_slack_id"], "U1");
    assert_eq!(json["group_id"], "NA");
    assert_eq!(json["secondary_domain_was_used"], false);
}

#[test]
fn the_object_key_is_the_utc_date_and_the_record_id() {
    let record = record();
    assert_eq!(
        object_key(&record),
        format!("2026/11/22/{}.json", record.id)
    );
}

#[tokio::test]
async fn the_file_sink_writes_one_json_object_per_record_at_its_key() {
    let directory = tempfile::tempdir().unwrap();
    let sink = FileAuditSink::new(directory.path());
    let record = record();
    sink.write(&record).await.unwrap();
    sink.write(&record).await.unwrap();
    let path = directory.path().join(object_key(&record));
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(written, serde_json::to_value(&record.fields).unwrap());
    let day = path.parent().unwrap();
    assert_eq!(
        std::fs::read_dir(day).unwrap().count(),
        1,
        "a rewrite replaces, and no temporary file is left"
    );
}

#[tokio::test]
async fn the_file_sink_reports_an_unwritable_directory() {
    let directory = tempfile::tempdir().unwrap();
    let blocker = directory.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let sink = FileAuditSink::new(&blocker);
    let error = sink.write(&record()).await.unwrap_err();
    assert!(
        error.to_string().contains("audit sink file failed"),
        "{error}"
    );
}
