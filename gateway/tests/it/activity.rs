//! The post-access activity summary (docs/reference.md §6) on fakes: scheduled by the end of a
//! grant, made after the permission set's session duration, posted and audited once; "no
//! changes" for a quiet grant; a failing query retried with backoff, then recorded with its
//! error.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use liftgate_gateway::config::ActivitySummarySettings;
use liftgate_gateway::domain::{
    ActivityEvent, ActivityFound, ActivityOutcome, ActivityScope, Channel, EventCount, RequestEvent,
};
use liftgate_gateway::testing::{
    FakeAccessInventory, FakeActivityLog, Harness, HarnessOptions, PROD, person,
};
use liftgate_gateway::workflow::{
    AccessService, ActivitySummarizer, MAX_QUERY_ATTEMPTS, NewRequest, OutboxDispatcher,
    TargetInput,
};
use liftgate_policy::Duration;
use serde_json::json;

const MINUTE: StdDuration = StdDuration::from_secs(60);
const HOUR: StdDuration = StdDuration::from_secs(3600);

struct Setup {
    h: Harness,
    service: AccessService,
    dispatcher: OutboxDispatcher,
    log: Arc<FakeActivityLog>,
}

fn setup(settings: ActivitySummarySettings) -> Setup {
    let h = Harness::new(HarnessOptions {
        statements: json!([{
            "ResourceType": "Account", "Resource": [PROD], "PermissionSet": ["Admin"],
            "ApprovalIsNotRequired": true
        }]),
        ..HarnessOptions::default()
    });
    let log = Arc::new(FakeActivityLog::new());
    let service = h.service.clone().with_activity_summaries(&settings);
    let inventory = Arc::new(FakeAccessInventory::new(h.identity.clone()));
    let dispatcher = h.dispatcher.clone().with_activity(ActivitySummarizer::new(
        service.clone(),
        log.clone(),
        inventory,
        settings,
    ));
    Setup {
        h,
        service,
        dispatcher,
        log,
    }
}

fn settings() -> ActivitySummarySettings {
    ActivitySummarySettings {
        log_group: Some("org-trail".to_owned()),
        ..ActivitySummarySettings::default()
    }
}

impl Setup {
    async fn deliver(&self) {
        while self.dispatcher.dispatch_once().await.unwrap() > 0 {}
    }

    /// A one-hour grant of Admin on Prod, granted at once and ended on time.
    async fn grant_and_end(&self) -> liftgate_gateway::domain::AccessRequest {
        let request = self
            .service
            .create(NewRequest {
                requester: person("requester@corp.com"),
                target: TargetInput::Account {
                    account_id: PROD.to_owned(),
                    permission_set: "Admin".to_owned(),
                },
                duration: Duration::from_hours(1),
                reason: "incident".to_owned(),
                channel: Channel::Webhook,
                start_at: None,
                extends: None,
                idempotency_key: None,
                break_glass: false,
            })
            .await
            .unwrap();
        self.deliver().await;
        self.h.advance(HOUR);
        assert_eq!(self.service.sweep().await.unwrap().revoked, 1);
        self.deliver().await;
        request
    }

    fn summary_records(&self) -> Vec<liftgate_gateway::audit::AuditRecord> {
        self.h
            .audit
            .records()
            .into_iter()
            .filter(|record| record.fields.event == RequestEvent::ActivitySummary)
            .collect()
    }
}

fn changes() -> ActivityFound {
    ActivityFound {
        counts: vec![EventCount {
            event_source: "ec2.amazonaws.com".to_owned(),
            event_name: "TerminateInstances".to_owned(),
            count: 3,
            errors: 1,
        }],
        events: vec![ActivityEvent {
            at: time::OffsetDateTime::from_unix_timestamp(1_800_000_600).unwrap(),
            event_source: "ec2.amazonaws.com".to_owned(),
            event_name: "TerminateInstances".to_owned(),
            resource: None,
            source_ip: Some("198.51.100.7".to_owned()),
            error_code: Some("UnauthorizedOperation".to_owned()),
            account_id: None,
        }],
    }
}

#[tokio::test]
async fn an_ended_grant_is_summarised_after_its_session_duration_posted_and_audited_once() {
    let s = setup(settings());
    // Sessions of this permission set last 2h: the summary waits for them.
    s.h.identity
        .set_session_duration("arn:aws:sso:::permissionSet/ssoins-fake/ps-admin", 2 * HOUR);
    s.log.answer(changes());
    let request = s.grant_and_end().await;
    let grant = s.h.grant_of(&request.id).await;
    let revoked_at = grant.revoked_at.unwrap();

    // The first guess (1h + delivery lag) finds the session duration longer: it waits.
    s.h.advance(HOUR + 15 * MINUTE);
    s.deliver().await;
    assert!(s.log.queries().is_empty());
    assert!(s.h.notifier.activity_summaries().is_empty());

    s.h.advance(HOUR);
    s.deliver().await;
    let queries = s.log.queries();
    assert_eq!(queries.len(), 1);
    let query = &queries[0];
    assert_eq!(query.log_group, "org-trail");
    assert_eq!(query.account_id.as_deref(), Some(PROD));
    assert_eq!(query.permission_set.as_deref(), Some("Admin"));
    assert_eq!(query.user_name, "requester");
    assert_eq!(query.start, grant.activated_at.unwrap());
    assert_eq!(query.end, revoked_at + time::Duration::hours(2));
    assert_eq!(query.event_limit, 20);

    let posted = s.h.notifier.activity_summaries();
    assert_eq!(posted.len(), 1);
    let summary = &posted[0];
    assert_eq!(summary.request_id, request.id);
    assert_eq!(
        summary.scope,
        ActivityScope::Account {
            account_id: PROD.to_owned(),
            permission_set: "Admin".to_owned()
        }
    );
    assert_eq!(summary.outcome, ActivityOutcome::Found(changes()));
    assert!(summary.text().contains("ERROR UnauthorizedOperation"));

    let records = s.summary_records();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.id, summary.id);
    assert_eq!(record.fields.liftgate_request_id, request.id.to_string());
    assert_eq!(record.fields.operation_type, "activity_summary");
    assert_eq!(record.fields.account_id, PROD);
    assert_eq!(record.fields.role_name, "Admin");
    assert_eq!(record.fields.channel, Channel::Scheduler);
    assert!(record.fields.reason.contains("3 change calls, 1 error"));
    assert_eq!(record.fields.activity_summary.as_ref(), Some(summary));
    let json = serde_json::to_value(&record.fields).unwrap();
    assert_eq!(json["event"], "activity_summary");
    assert_eq!(json["activity_summary"]["outcome"]["kind"], "found");
    assert!(
        s.h.grant_of(&request.id)
            .await
            .activity_summarised_at
            .is_some()
    );

    // Nothing is left to run: a day later there is still exactly one summary.
    s.h.advance(24 * HOUR);
    s.deliver().await;
    assert_eq!(s.log.queries().len(), 1);
    assert_eq!(s.summary_records().len(), 1);
    assert_eq!(s.h.notifier.activity_summaries().len(), 1);
}

#[tokio::test]
async fn a_grant_without_changes_is_summarised_as_no_changes() {
    let s = setup(settings());
    s.grant_and_end().await;
    s.h.advance(HOUR + 15 * MINUTE);
    s.deliver().await;
    let posted = s.h.notifier.activity_summaries();
    assert_eq!(posted.len(), 1);
    assert!(
        posted[0].headline().ends_with(": no changes."),
        "{}",
        posted[0].headline()
    );
    let records = s.summary_records();
    assert_eq!(records.len(), 1);
    assert!(records[0].fields.reason.ends_with("no changes."));
}

#[tokio::test]
async fn a_configured_delay_replaces_the_session_duration() {
    let s = setup(ActivitySummarySettings {
        delay: Some(Duration::from_mins(30)),
        ..settings()
    });
    s.h.identity.set_session_duration(
        "arn:aws:sso:::permissionSet/ssoins-fake/ps-admin",
        12 * HOUR,
    );
    s.grant_and_end().await;
    s.h.advance(45 * MINUTE);
    s.deliver().await;
    assert_eq!(s.h.notifier.activity_summaries().len(), 1);
}

#[tokio::test]
async fn a_failing_query_is_retried_with_backoff_then_recorded_with_its_error() {
    let s = setup(settings());
    for _ in 0..MAX_QUERY_ATTEMPTS {
        s.log.fail("Logs Insights is throttling");
    }
    s.grant_and_end().await;
    s.h.advance(HOUR + 15 * MINUTE);
    s.deliver().await;
    assert_eq!(s.log.queries().len(), 1);
    assert!(s.summary_records().is_empty());
    // A retry is not due before its backoff (1 minute after the first failure).
    s.h.advance(StdDuration::from_secs(30));
    s.deliver().await;
    assert_eq!(s.log.queries().len(), 1);
    for _ in 1..MAX_QUERY_ATTEMPTS {
        s.h.advance(30 * MINUTE);
        s.deliver().await;
    }
    assert_eq!(s.log.queries().len() as u32, MAX_QUERY_ATTEMPTS);
    let records = s.summary_records();
    assert_eq!(records.len(), 1, "given up and recorded, never dropped");
    let summary = records[0].fields.activity_summary.clone().unwrap();
    assert_eq!(
        summary.outcome,
        ActivityOutcome::Failed {
            error: "activity query unavailable: Logs Insights is throttling".to_owned(),
            attempts: MAX_QUERY_ATTEMPTS,
        }
    );
    assert!(
        records[0]
            .fields
            .reason
            .contains("could not be made after 6 attempts")
    );
    assert_eq!(s.h.notifier.activity_summaries(), vec![summary]);
    // And it is not tried again.
    s.h.advance(24 * HOUR);
    s.deliver().await;
    assert_eq!(s.log.queries().len() as u32, MAX_QUERY_ATTEMPTS);
}

#[tokio::test]
async fn summaries_are_off_without_a_log_group() {
    let s = setup(ActivitySummarySettings::default());
    s.grant_and_end().await;
    s.h.advance(24 * HOUR);
    s.deliver().await;
    assert!(s.log.queries().is_empty());
    assert!(s.summary_records().is_empty());
}
