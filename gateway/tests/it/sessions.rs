//! Ending live role sessions at revoke (`RevokeSessions`, docs/reference.md §3, §6) on fakes:
//! a grant that ends adds the deny statement and re-provisions the account, and the statement
//! goes once the session duration has passed; access still covered by another grant is not
//! touched; it is off by default; a crash after the assignment is deleted still ends the
//! sessions; two replicas editing one permission set are serialised; a statement that would
//! not fit is refused loudly.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use liftgate_gateway::audit::AuditRecord;
use liftgate_gateway::config::RequestSettings;
use liftgate_gateway::domain::sessions::InlinePolicy;
use liftgate_gateway::domain::{AccessRequest, Channel, RequestEvent};
use liftgate_gateway::ports::{Clock, StateStore};
use liftgate_gateway::testing::{DEV, FakeFailure, Harness, HarnessOptions, PROD, person};
use liftgate_gateway::workflow::{NewRequest, REVOKE_TOPIC, TargetInput};
use liftgate_policy::Duration;
use serde_json::{Value, json};
use time::OffsetDateTime;

const MINUTE: StdDuration = StdDuration::from_secs(60);
const HOUR: StdDuration = StdDuration::from_secs(3600);
const START: i64 = 1_800_000_000;

const FOREIGN: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadReports","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::reports/*"}]}"#;

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(START + seconds).unwrap()
}

fn harness_with(revoke_sessions: Option<bool>, default: bool) -> Harness {
    let mut statement = json!({
        "ResourceType": "Account", "Resource": [PROD], "PermissionSet": ["Admin"],
        "ApprovalIsNotRequired": true
    });
    if let Some(flag) = revoke_sessions {
        statement["RevokeSessions"] = json!(flag);
    }
    let h = Harness::new(HarnessOptions {
        statements: json!([statement]),
        requests: RequestSettings {
            revoke_sessions: default,
            ..RequestSettings::default()
        },
        ..HarnessOptions::default()
    });
    let arn = admin(&h);
    h.identity
        .set_session_duration(&arn, StdDuration::from_secs(8 * 3600));
    h.policies.set_policy(&arn, FOREIGN);
    h.policies.provision_to(&arn, &[PROD, DEV]);
    h
}

fn harness() -> Harness {
    harness_with(Some(true), false)
}

fn admin(h: &Harness) -> String {
    h.identity.arn_of("Admin").unwrap()
}

async fn grant(h: &Harness, requester: &str, hours: u64) -> AccessRequest {
    let request = h
        .service
        .create(NewRequest {
            requester: person(requester),
            target: TargetInput::Account {
                account_id: PROD.to_owned(),
                permission_set: "Admin".to_owned(),
            },
            duration: Duration::from_hours(hours),
            reason: "incident".to_owned(),
            channel: Channel::Webhook,
            start_at: None,
            extends: None,
            idempotency_key: None,
            break_glass: false,
        })
        .await
        .unwrap();
    h.deliver_outbox().await;
    request
}

fn records(h: &Harness, event: RequestEvent) -> Vec<AuditRecord> {
    h.audit
        .records()
        .into_iter()
        .filter(|record| record.fields.event == event)
        .collect()
}

fn statements(document: Option<String>) -> Vec<Value> {
    let document: Value = serde_json::from_str(&document.unwrap()).unwrap();
    document["Statement"].as_array().unwrap().clone()
}

fn metric(h: &Harness, outcome: &str) -> bool {
    h.metrics.render().contains(&format!(
        "liftgate_session_revocations_total{{outcome=\"{outcome}\"}} 1"
    ))
}

#[tokio::test]
async fn an_ended_grant_denies_its_sessions_until_the_session_duration_has_passed() {
    let h = harness();
    let arn = admin(&h);
    let request = grant(&h, "requester@corp.com", 1).await;
    // A session started during the grant, as a console login would.
    let during = at(600);
    assert!(!h.policies.denies(&arn, PROD, "u-requester", during));

    h.advance(HOUR);
    assert_eq!(h.sweep().await.revoked, 1);
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-requester"), 0);
    h.deliver_outbox().await;

    // The set's inline policy keeps the foreign statement and gains Liftgate's.
    let held = statements(h.policies.policy(&arn));
    assert_eq!(held.len(), 2);
    assert_eq!(held[0]["Sid"], "ReadReports");
    assert_eq!(
        held[1]["Condition"]["StringEquals"],
        json!({"aws:PrincipalAccount": PROD, "identitystore:userId": "u-requester"})
    );
    // Re-provisioned where the access was, and only there.
    assert!(h.policies.denies(&arn, PROD, "u-requester", during));
    assert!(!h.policies.denies(&arn, DEV, "u-requester", during));
    assert!(!h.policies.denies(&arn, PROD, "u-alice", during));
    assert!(
        !h.policies.denies(&arn, PROD, "u-requester", at(3601)),
        "a session issued after the removal is someone's next grant"
    );
    let revoked = records(&h, RequestEvent::SessionsRevoked);
    assert_eq!(revoked.len(), 1);
    let record = &revoked[0];
    assert_eq!(record.fields.liftgate_request_id, request.id.to_string());
    assert_eq!(record.fields.operation_type, "sessions_revoked");
    let details = record.fields.revoked_sessions.as_ref().unwrap();
    assert_eq!(details.provisioned, vec![PROD.to_owned()]);
    assert_eq!(details.issued_before, at(3600));
    assert_eq!(details.until, at(3600 + 8 * 3600));
    assert!(metric(&h, "revoked"));

    // Nothing is removed before the longest session has expired.
    h.advance(7 * HOUR);
    h.deliver_outbox().await;
    assert_eq!(statements(h.policies.policy(&arn)).len(), 2);
    h.advance(HOUR + 2 * MINUTE);
    h.deliver_outbox().await;
    assert_eq!(
        h.policies
            .policy(&arn)
            .as_deref()
            .map(|text| { serde_json::from_str::<Value>(text).unwrap() }),
        Some(serde_json::from_str::<Value>(FOREIGN).unwrap()),
        "the foreign policy is back as it was"
    );
    assert!(!h.policies.denies(&arn, PROD, "u-requester", during));
    assert!(metric(&h, "expired"));
    assert_eq!(records(&h, RequestEvent::SessionsRevoked).len(), 1);
}

#[tokio::test]
async fn access_still_covered_by_another_grant_is_not_touched() {
    let h = harness();
    let arn = admin(&h);
    grant(&h, "requester@corp.com", 1).await;
    grant(&h, "requester@corp.com", 2).await;

    h.advance(HOUR);
    assert_eq!(h.sweep().await.revoked, 1);
    h.deliver_outbox().await;
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-requester"), 1);
    assert_eq!(h.policies.calls("put_inline_policy"), 0);
    assert_eq!(h.policies.calls("reprovision"), 0);
    assert!(records(&h, RequestEvent::SessionsRevoked).is_empty());

    h.advance(HOUR);
    assert_eq!(h.sweep().await.revoked, 1);
    h.deliver_outbox().await;
    assert!(h.policies.denies(&arn, PROD, "u-requester", at(600)));
    assert_eq!(records(&h, RequestEvent::SessionsRevoked).len(), 1);
}

#[tokio::test]
async fn it_is_off_unless_a_statement_or_the_default_turns_it_on() {
    for (flag, default, expected) in [
        (None, false, false),
        (Some(false), true, false),
        (None, true, true),
    ] {
        let h = harness_with(flag, default);
        grant(&h, "requester@corp.com", 1).await;
        h.advance(HOUR);
        assert_eq!(h.sweep().await.revoked, 1);
        h.deliver_outbox().await;
        assert_eq!(
            h.policies.denies(&admin(&h), PROD, "u-requester", at(600)),
            expected,
            "RevokeSessions {flag:?}, requests.revoke_sessions {default}"
        );
        assert_eq!(h.policies.calls("put_inline_policy"), u32::from(expected));
    }
}

#[tokio::test]
async fn a_crash_after_the_assignment_is_deleted_still_ends_the_sessions() {
    let h = harness();
    let arn = admin(&h);
    grant(&h, "requester@corp.com", 1).await;
    h.advance(HOUR);
    // The deletion lands in AWS, but its answer never comes back (the replica died there).
    h.identity.remove_assignment(PROD, "Admin", "u-requester");
    h.identity
        .fail_next("delete_assignment", FakeFailure::Unavailable);
    h.sweep().await;
    h.deliver_outbox().await;
    assert_eq!(h.policies.calls("inline_policy"), 0, "nothing recorded yet");

    // The next settle repeats the removal (gone already is success) and records it with the
    // revocation; a crash right after that commit leaves the row for another replica.
    h.advance(MINUTE);
    h.sweep().await;
    let other = h.dispatcher_for(&h.replica());
    while other.dispatch_once().await.unwrap() > 0 {}
    assert!(h.policies.denies(&arn, PROD, "u-requester", at(600)));
    assert_eq!(records(&h, RequestEvent::SessionsRevoked).len(), 1);
}

#[tokio::test]
async fn two_replicas_editing_one_permission_set_lose_no_update() {
    let h = harness();
    let arn = admin(&h);
    grant(&h, "requester@corp.com", 1).await;
    grant(&h, "alice@corp.com", 2).await;
    h.advance(HOUR);
    assert_eq!(h.sweep().await.revoked, 1);

    // The first replica holds its read of the policy while the second one's grant ends.
    let release = Arc::new(tokio::sync::Notify::new());
    h.policies.stall_next("inline_policy", release.clone());
    let second = h.dispatcher_for(&h.replica());
    let first_pass = h.dispatcher.dispatch_once();
    let meanwhile = async {
        while h.policies.stalled("inline_policy") == 0 {
            tokio::time::sleep(StdDuration::from_millis(1)).await;
        }
        h.advance(HOUR);
        assert_eq!(h.sweep().await.revoked, 1);
        assert!(second.dispatch_once().await.unwrap() > 0);
        assert_eq!(
            h.policies.calls("put_inline_policy"),
            0,
            "the second replica waited for the lease"
        );
        release.notify_one();
    };
    let (first, ()) = tokio::join!(first_pass, meanwhile);
    first.unwrap();
    assert!(h.policies.denies(&arn, PROD, "u-requester", at(600)));
    assert!(!h.policies.denies(&arn, PROD, "u-alice", at(600)));

    h.advance(StdDuration::from_secs(10));
    while second.dispatch_once().await.unwrap() > 0 {}
    assert!(h.policies.denies(&arn, PROD, "u-requester", at(600)));
    assert!(h.policies.denies(&arn, PROD, "u-alice", at(600)));
    let policy = InlinePolicy::parse(h.policies.policy(&arn).as_deref()).unwrap();
    assert_eq!(policy.entries().len(), 2);
    assert_eq!(policy.foreign_statements(), 1);
    assert_eq!(records(&h, RequestEvent::SessionsRevoked).len(), 2);
}

#[tokio::test]
async fn a_statement_that_would_not_fit_is_refused_loudly() {
    let h = harness();
    let arn = admin(&h);
    let big = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Big","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}/*"}}]}}"#,
        "r".repeat(10_000)
    );
    h.policies.set_policy(&arn, &big);
    grant(&h, "requester@corp.com", 1).await;
    h.advance(HOUR);
    h.sweep().await;
    h.deliver_outbox().await;

    assert_eq!(h.policies.policy(&arn).as_deref(), Some(big.as_str()));
    assert_eq!(h.policies.calls("put_inline_policy"), 0);
    let refused = records(&h, RequestEvent::SessionsRevocationRefused);
    assert_eq!(refused.len(), 1);
    let why = refused[0]
        .fields
        .revoked_sessions
        .as_ref()
        .and_then(|details| details.refused.clone())
        .unwrap();
    assert!(why.contains("over the limit of 10240"), "{why}");
    assert!(metric(&h, "refused"));
    assert!(records(&h, RequestEvent::SessionsRevoked).is_empty());
}

#[tokio::test]
async fn a_revocation_row_is_written_only_when_the_access_is_removed() {
    let h = harness();
    grant(&h, "requester@corp.com", 1).await;
    h.advance(HOUR);
    h.sweep().await;
    let rows: Vec<_> = h
        .store
        .claim_outbox(REVOKE_TOPIC, h.clock.now(), h.clock.now(), 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    // The check after the quarantine removes nothing new and writes no second row.
    h.deliver_outbox().await;
    h.advance(20 * MINUTE);
    h.sweep().await;
    let again = h
        .store
        .claim_outbox(REVOKE_TOPIC, h.clock.now(), h.clock.now(), 10)
        .await
        .unwrap();
    assert!(again.is_empty());
}

#[tokio::test]
async fn serve_warns_where_sessions_outlive_grants_that_do_not_end_them() {
    let h = Harness::new(HarnessOptions {
        statements: json!([
            {"ResourceType": "Account", "Resource": [PROD], "PermissionSet": ["Admin"],
             "ApprovalIsNotRequired": true, "MaxDuration": "1h"},
            {"ResourceType": "Account", "Resource": [PROD], "PermissionSet": "*",
             "ApprovalIsNotRequired": true, "MaxDuration": "1h", "RevokeSessions": true}
        ]),
        ..HarnessOptions::default()
    });
    h.identity
        .set_session_duration(&admin(&h), StdDuration::from_secs(8 * 3600));
    let warnings = h.service.session_duration_check().await.unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].path, "statements[0].MaxDuration");
    assert!(
        warnings[0].message.contains("Admin (8h)"),
        "{}",
        warnings[0]
    );
}
