//! The contract every chat channel must pass, written once against [`ChannelUnderTest`] and
//! run for Slack and for Teams with their faithful fakes (`channel_contract_tests!`). Adding a
//! channel means implementing its `ChatSurface`, a `ChannelUnderTest` over its fake, and
//! passing this suite (ARCHITECTURE.md, "Adding a channel").
//!
//! People are named `requester`, `alice`, `bob`, `carol` (their emails `<name>@corp.com`);
//! the standard rules let anyone request Admin or ReadOnly on Prod, approved by alice or bob.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{Harness, PROD};
use crate::conversation::{Control, FormField, Reader};
use crate::domain::{AccessRequest, RequestId, RequestStatus};
use crate::ports::{
    Clock, DriftAction, DriftMode, DriftNotice, DriftTarget, Notifier, NotifyError,
};

/// The rules a channel under test starts with.
#[derive(Debug, Clone)]
pub struct ContractSetup {
    pub statements: Value,
}

impl Default for ContractSetup {
    fn default() -> Self {
        ContractSetup {
            statements: json!([{
                "ResourceType": "Account",
                "Resource": [PROD],
                "PermissionSet": ["Admin", "ReadOnly"],
                "Approvers": ["alice@corp.com", "bob@corp.com"],
            }]),
        }
    }
}

/// What a person enters in the account form.
#[derive(Debug, Clone, Default)]
pub struct FormAnswers {
    pub account: Option<String>,
    pub permission_set: Option<String>,
    pub duration: Option<String>,
    pub reason: String,
    pub start: Option<OffsetDateTime>,
}

impl FormAnswers {
    /// Admin on Prod for an hour.
    pub fn admin_on_prod() -> FormAnswers {
        FormAnswers {
            account: Some(PROD.to_owned()),
            permission_set: Some("Admin".to_owned()),
            duration: Some("1h".to_owned()),
            reason: "deploy the hotfix".to_owned(),
            start: None,
        }
    }
}

/// How a submitted form was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// The form was accepted (the request is created, or being created).
    Accepted,
    /// Shown again with these problems under their fields.
    Refused(BTreeMap<FormField, String>),
}

/// A message as its reader sees it: every word, and the buttons it offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub text: String,
    pub controls: Vec<Control>,
}

/// A chat channel wired to the gateway harness and its platform fake.
#[async_trait(?Send)]
pub trait ChannelUnderTest: Sized {
    async fn start(setup: ContractSetup) -> Self;
    fn harness(&self) -> &Harness;
    /// The channel's notifier (for notices the suite hands it directly, such as drift).
    fn notifier(&self) -> Arc<dyn Notifier>;
    /// Lets handlers finish and delivers every notice due.
    async fn settle(&self);
    /// Opens the account form as `who`, picks `account` if given, and reads the
    /// permission-set choices the form offers then.
    async fn permission_set_choices(&self, who: &str, account: Option<&str>) -> Vec<String>;
    async fn submit_account_form(&self, who: &str, answers: &FormAnswers) -> Submitted;
    /// Clicks `control` where `reader` sees it (the approval message, or the requester's
    /// latest message); returns what the clicker was told privately, if anything.
    async fn click(
        &self,
        who: &str,
        request: &RequestId,
        reader: Reader,
        control: Control,
    ) -> Option<String>;
    /// Clicks Extend on the requester's message as `who`: `Ok` when a form opened, else what
    /// `who` was told.
    async fn open_extension(&self, who: &str, request: &RequestId) -> Result<(), String>;
    async fn approval_message(&self, request: &RequestId) -> Option<Shown>;
    /// The requester's messages about `request`, oldest first.
    async fn requester_messages(&self, request: &RequestId) -> Vec<Shown>;
    /// Replies in the approval message's thread.
    async fn thread_replies(&self, request: &RequestId) -> Vec<String>;
    async fn delete_approval_message(&self, request: &RequestId);
    /// Top-level messages in the approvals channel, oldest first.
    async fn approvals_channel_texts(&self) -> Vec<String>;
    /// Top-level messages in the channel the scenario routes to (`ROUTED_SLACK_CHANNEL` or
    /// `ROUTED_TEAMS_CONVERSATION`, which the platform fake must accept).
    async fn routed_channel_texts(&self) -> Vec<String>;
    /// Direct messages to `who` that show a request to approve.
    async fn approver_direct_messages(&self, who: &str) -> Vec<Shown>;
    /// Makes the platform answer the next `count` message posts with HTTP `status`.
    async fn fail_next_posts(&self, status: u16, count: usize);
}

async fn the_only_request<C: ChannelUnderTest>(channel: &C) -> AccessRequest {
    let requests = channel.harness().all_requests().await;
    assert_eq!(requests.len(), 1, "expected one request: {requests:?}");
    requests.into_iter().next().unwrap()
}

async fn requested<C: ChannelUnderTest>(channel: &C) -> AccessRequest {
    let answered = channel
        .submit_account_form("requester", &FormAnswers::admin_on_prod())
        .await;
    assert_eq!(answered, Submitted::Accepted);
    channel.settle().await;
    the_only_request(channel).await
}

async fn approved<C: ChannelUnderTest>(channel: &C) -> AccessRequest {
    let request = requested(channel).await;
    channel
        .click("alice", &request.id, Reader::Approvers, Control::Approve)
        .await;
    channel.settle().await;
    let request = channel.harness().request(&request.id).await;
    assert_eq!(request.status(), RequestStatus::Active);
    request
}

/// A form request reaches the approvers with Approve and Deny, and the requester with Cancel.
pub async fn a_form_request_is_shown_to_the_approvers_and_its_requester<C: ChannelUnderTest>() {
    let channel = C::start(ContractSetup::default()).await;
    let request = requested(&channel).await;
    assert_eq!(request.status(), RequestStatus::Pending);
    let shown = channel.approval_message(&request.id).await.unwrap();
    assert_eq!(shown.controls, [Control::Approve, Control::Deny]);
    assert!(shown.text.contains("requester@corp.com"), "{}", shown.text);
    assert!(shown.text.contains("deploy the hotfix"), "{}", shown.text);
    let told = channel.requester_messages(&request.id).await;
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].controls, [Control::Cancel]);
}

/// Permission sets follow the account picked, with no extra step; before an account is
/// picked, none of another account's sets are offered.
pub async fn permission_set_choices_follow_the_account<C: ChannelUnderTest>() {
    let setup = ContractSetup {
        statements: json!([
            { "ResourceType": "Account", "Resource": [PROD], "PermissionSet": ["Admin", "ReadOnly"], "Approvers": ["alice@corp.com"] },
            { "ResourceType": "Account", "Resource": [super::DEV], "PermissionSet": ["ReadOnly"], "Approvers": ["alice@corp.com"] },
        ]),
    };
    let channel = C::start(setup).await;
    let before = channel.permission_set_choices("requester", None).await;
    assert!(
        before.is_empty(),
        "no account picked, yet offered {before:?}"
    );
    let prod = channel
        .permission_set_choices("requester", Some(PROD))
        .await;
    assert_eq!(prod, ["Admin", "ReadOnly"]);
    let dev = channel
        .permission_set_choices("requester", Some(super::DEV))
        .await;
    assert_eq!(dev, ["ReadOnly"]);
}

/// Each kind of bad input is refused under its field, the same way everywhere, and creates
/// nothing.
pub async fn bad_submissions_are_refused_under_their_field_and_change_nothing<
    C: ChannelUnderTest,
>() {
    let channel = C::start(ContractSetup::default()).await;
    let now = channel.harness().clock.now();
    let limit = channel.harness().service.settings().max_reason_length as usize;
    let cases: Vec<(FormAnswers, FormField, &str)> = vec![
        (
            FormAnswers {
                reason: "   ".to_owned(),
                ..FormAnswers::admin_on_prod()
            },
            FormField::Reason,
            "Give a reason",
        ),
        (
            FormAnswers {
                reason: "x".repeat(limit + 1),
                ..FormAnswers::admin_on_prod()
            },
            FormField::Reason,
            "Keep the reason under",
        ),
        (
            FormAnswers {
                start: Some(now + time::Duration::days(31)),
                ..FormAnswers::admin_on_prod()
            },
            FormField::Start,
            "at most 30 days ahead",
        ),
        (
            FormAnswers {
                start: Some(now - time::Duration::hours(1)),
                ..FormAnswers::admin_on_prod()
            },
            FormField::Start,
            "in the past",
        ),
    ];
    for (answers, field, words) in cases {
        match channel.submit_account_form("requester", &answers).await {
            Submitted::Refused(refusals) => {
                let message = refusals
                    .get(&field)
                    .unwrap_or_else(|| panic!("no refusal under {field:?}: {refusals:?}"));
                assert!(message.contains(words), "{field:?}: {message}");
            }
            Submitted::Accepted => panic!("accepted {answers:?}"),
        }
    }
    channel.settle().await;
    assert!(channel.harness().all_requests().await.is_empty());
    assert!(channel.approvals_channel_texts().await.is_empty());
}

/// An approval grants, and every message shows it: no buttons left for the approvers, end
/// and extend for the requester.
pub async fn an_approval_grants_and_every_message_shows_it<C: ChannelUnderTest>() {
    let channel = C::start(ContractSetup::default()).await;
    let request = approved(&channel).await;
    let shown = channel.approval_message(&request.id).await.unwrap();
    assert!(shown.controls.is_empty(), "{shown:?}");
    // Named by email or by the platform's mention of alice.
    assert!(
        shown.text.to_lowercase().contains("alice"),
        "{}",
        shown.text
    );
    let told = channel.requester_messages(&request.id).await;
    let latest = told.last().unwrap();
    assert_eq!(latest.controls, [Control::EndAccess, Control::Extend]);
    // Earlier messages keep their words but lose their buttons.
    assert!(told[..told.len() - 1].iter().all(|m| m.controls.is_empty()));
}

/// A denial ends the request and takes the buttons off.
pub async fn a_denial_is_shown_everywhere<C: ChannelUnderTest>() {
    let channel = C::start(ContractSetup::default()).await;
    let request = requested(&channel).await;
    channel
        .click("bob", &request.id, Reader::Approvers, Control::Deny)
        .await;
    channel.settle().await;
    assert_eq!(
        channel.harness().request(&request.id).await.status(),
        RequestStatus::Denied
    );
    let shown = channel.approval_message(&request.id).await.unwrap();
    assert!(shown.controls.is_empty());
    let told = channel.requester_messages(&request.id).await;
    assert!(told.last().unwrap().controls.is_empty());
}

/// The requester cannot approve their own request; they are told why, and nothing changes.
pub async fn self_approval_is_refused<C: ChannelUnderTest>() {
    let channel = C::start(ContractSetup {
        statements: json!([{
            "ResourceType": "Account", "Resource": [PROD], "PermissionSet": ["Admin"],
            "Approvers": ["requester@corp.com", "alice@corp.com"], "AllowSelfApproval": false,
        }]),
    })
    .await;
    let request = requested(&channel).await;
    let told = channel
        .click(
            "requester",
            &request.id,
            Reader::Approvers,
            Control::Approve,
        )
        .await;
    channel.settle().await;
    let told = told.expect("the clicker is told why");
    assert!(told.contains("own request"), "{told}");
    assert_eq!(
        channel.harness().request(&request.id).await.status(),
        RequestStatus::Pending
    );
    let shown = channel.approval_message(&request.id).await.unwrap();
    assert_eq!(shown.controls, [Control::Approve, Control::Deny]);
}

/// With two approvals required, the first is counted and shown, the second grants.
pub async fn quorum_progress_is_shown<C: ChannelUnderTest>() {
    let channel = C::start(ContractSetup {
        statements: json!([{
            "ResourceType": "Account", "Resource": [PROD], "PermissionSet": ["Admin"],
            "Approvers": ["alice@corp.com", "bob@corp.com"], "RequiredApprovals": 2,
        }]),
    })
    .await;
    let request = requested(&channel).await;
    channel
        .click("alice", &request.id, Reader::Approvers, Control::Approve)
        .await;
    channel.settle().await;
    let shown = channel.approval_message(&request.id).await.unwrap();
    assert!(shown.text.contains("1 of 2"), "{}", shown.text);
    assert_eq!(shown.controls, [Control::Approve, Control::Deny]);
    channel
        .click("bob", &request.id, Reader::Approvers, Control::Approve)
        .await;
    channel.settle().await;
    assert_eq!(
        channel.harness().request(&request.id).await.status(),
        RequestStatus::Active
    );
}

/// The requester ends their access early from their message.
pub async fn the_requester_ends_their_access_early<C: ChannelUnderTest>() {
    let channel = C::start(ContractSetup::default()).await;
    let request = approved(&channel).await;
    channel
        .click(
            "requester",
            &request.id,
            Reader::Requester,
            Control::EndAccess,
        )
        .await;
    channel.settle().await;
    assert_eq!(
        channel.harness().request(&request.id).await.status(),
        RequestStatus::Ended
    );
    let told = channel.requester_messages(&request.id).await;
    assert!(told.last().unwrap().controls.is_empty());
}

/// Only the holder of an active grant may open the extension form, on every platform.
pub async fn only_the_holder_may_extend<C: ChannelUnderTest>() {
    let channel = C::start(ContractSetup::default()).await;
    let request = approved(&channel).await;
    let refused = channel
        .open_extension("alice", &request.id)
        .await
        .expect_err("alice does not hold the grant");
    assert!(refused.contains("holding"), "{refused}");
    channel
        .open_extension("requester", &request.id)
        .await
        .expect("the holder may extend");
}

/// Reminders go in the approval message's thread, one per reminder due, never twice.
pub async fn reminders_are_threaded_once_each<C: ChannelUnderTest>() {
    let channel = C::start(ContractSetup::default()).await;
    let request = requested(&channel).await;
    channel.harness().advance(Duration::from_secs(16 * 60));
    assert_eq!(channel.harness().sweep().await.reminded, 1);
    channel.settle().await;
    // A redelivery of the same reminder posts nothing new.
    channel.settle().await;
    let replies = channel.thread_replies(&request.id).await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0].contains("waiting for approval"),
        "{}",
        replies[0]
    );
    assert!(replies[0].contains("1"), "{}", replies[0]);
}

/// A deleted approval message is posted again at the next change, with the current state.
pub async fn a_deleted_approval_message_is_posted_again<C: ChannelUnderTest>() {
    let channel = C::start(ContractSetup::default()).await;
    let request = requested(&channel).await;
    channel.delete_approval_message(&request.id).await;
    channel
        .click("requester", &request.id, Reader::Requester, Control::Cancel)
        .await;
    channel.settle().await;
    let shown = channel.approval_message(&request.id).await.unwrap();
    assert!(shown.controls.is_empty());
    assert_eq!(channel.approvals_channel_texts().await.len(), 1);
}

/// A request the rules refuse outright is shown to the approvers (no buttons) and told to
/// its requester.
pub async fn refused_requests_are_shown_to_the_approvers<C: ChannelUnderTest>() {
    let channel = C::start(ContractSetup {
        statements: json!([{
            "ResourceType": "Account", "Resource": [PROD], "PermissionSet": ["ReadOnly"],
            "Approvers": ["alice@corp.com"],
        }]),
    })
    .await;
    let answers = FormAnswers::admin_on_prod();
    let answered = channel.submit_account_form("requester", &answers).await;
    channel.settle().await;
    // A platform may refuse on the form already (the choice is not offered); if it let the
    // form through, the rules refused it and everyone who should knows.
    if answered == Submitted::Accepted {
        let request = the_only_request(&channel).await;
        assert_eq!(request.status(), RequestStatus::Denied);
        let shown = channel.approval_message(&request.id).await.unwrap();
        assert!(shown.controls.is_empty());
        assert!(!channel.requester_messages(&request.id).await.is_empty());
    }
    // Submitted through the API, which does not check choices, it reaches the channel.
    let harness = channel.harness();
    let request = harness
        .service
        .create(crate::workflow::NewRequest {
            requester: super::person("requester@corp.com"),
            target: crate::workflow::TargetInput::Account {
                account_id: PROD.to_owned(),
                permission_set: "Admin".to_owned(),
            },
            duration: liftgate_policy::Duration::from_hours(1),
            reason: "no rule".to_owned(),
            channel: crate::domain::Channel::Webhook,
            start_at: None,
            extends: None,
            idempotency_key: None,
            break_glass: false,
        })
        .await
        .unwrap();
    channel.settle().await;
    assert_eq!(request.status(), RequestStatus::Denied);
    let shown = channel.approval_message(&request.id).await.unwrap();
    assert!(shown.controls.is_empty());
    assert!(
        shown.text.to_lowercase().contains("no rule"),
        "{}",
        shown.text
    );
}

/// A statement's `ReasonPattern` refuses a reason under the reason field with its
/// `ReasonHint`; its `Warning` is on the approval message.
pub async fn reason_patterns_and_warnings_are_shown<C: ChannelUnderTest>() {
    let channel = C::start(ContractSetup {
        statements: json!([{
            "ResourceType": "Account", "Resource": [PROD], "PermissionSet": ["Admin"],
            "Approvers": ["alice@corp.com"], "ReasonPattern": "^(OPS|INC)-[0-9]+",
            "ReasonHint": "Start with a ticket id such as OPS-123.",
            "Warning": "Production account: every change is reviewed.",
        }]),
    })
    .await;
    match channel
        .submit_account_form("requester", &FormAnswers::admin_on_prod())
        .await
    {
        Submitted::Refused(refusals) => assert_eq!(
            refusals.get(&FormField::Reason).map(String::as_str),
            Some("Start with a ticket id such as OPS-123.")
        ),
        Submitted::Accepted => panic!("a reason without a ticket id was accepted"),
    }
    channel.settle().await;
    assert!(channel.harness().all_requests().await.is_empty());
    let answers = FormAnswers {
        reason: "OPS-42 deploy the hotfix".to_owned(),
        ..FormAnswers::admin_on_prod()
    };
    assert_eq!(
        channel.submit_account_form("requester", &answers).await,
        Submitted::Accepted
    );
    channel.settle().await;
    let request = the_only_request(&channel).await;
    let shown = channel.approval_message(&request.id).await.unwrap();
    assert!(
        shown
            .text
            .contains("Production account: every change is reviewed."),
        "{}",
        shown.text
    );
}

/// The Slack channel the routing scenario names.
pub const ROUTED_SLACK_CHANNEL: &str = "CPRODOWNERS";
/// The Teams channel the routing scenario names.
pub const ROUTED_TEAMS_CONVERSATION: &str = "19:prod-owners@thread.tacv2";

/// `ApprovalChannel` sends the approval message where the account's owners are (reminders in
/// its thread), and `NotifyApprovers: direct` also shows it to each approver directly; both
/// stay current.
pub async fn approvals_follow_the_statements_routing<C: ChannelUnderTest>() {
    let channel = C::start(ContractSetup {
        statements: json!([{
            "ResourceType": "Account", "Resource": [PROD], "PermissionSet": ["Admin"],
            "Approvers": ["alice@corp.com", "bob@corp.com"],
            "ApprovalChannel": { "slack": ROUTED_SLACK_CHANNEL, "teams": ROUTED_TEAMS_CONVERSATION },
            "NotifyApprovers": "direct",
        }]),
    })
    .await;
    let request = requested(&channel).await;
    assert!(channel.approvals_channel_texts().await.is_empty());
    assert_eq!(channel.routed_channel_texts().await.len(), 1);
    for approver in ["alice", "bob"] {
        let direct = channel.approver_direct_messages(approver).await;
        assert_eq!(direct.len(), 1, "{approver}: {direct:?}");
        assert_eq!(direct[0].controls, [Control::Approve, Control::Deny]);
    }
    channel.harness().advance(Duration::from_secs(16 * 60));
    channel.harness().sweep().await;
    channel.settle().await;
    assert_eq!(channel.thread_replies(&request.id).await.len(), 1);
    channel
        .click("alice", &request.id, Reader::Approvers, Control::Approve)
        .await;
    channel.settle().await;
    let direct = channel.approver_direct_messages("bob").await;
    assert!(direct[0].controls.is_empty(), "the copy is kept current");
    assert_eq!(channel.routed_channel_texts().await.len(), 1);
    // Drift about the account goes where its approvals go.
    let mut notice = drift_notice();
    notice.routing =
        channel
            .harness()
            .service
            .rules()
            .target_routing(&liftgate_policy::Target::Account {
                account_id: PROD,
                permission_set: "Admin",
            });
    channel.notifier().drift(&notice).await.unwrap();
    let routed = channel.routed_channel_texts().await;
    assert_eq!(routed.len(), 2, "{routed:?}");
    assert!(routed[1].contains("carol@corp.com"), "{}", routed[1]);
    assert!(channel.approvals_channel_texts().await.is_empty());
}

fn drift_notice() -> DriftNotice {
    DriftNotice {
        id: uuid::Uuid::new_v4(),
        detected_at: OffsetDateTime::UNIX_EPOCH,
        access_key: format!("account:{PROD}:Admin:u-carol"),
        target: DriftTarget::Account {
            account_id: PROD.to_owned(),
            account_name: Some("Prod".to_owned()),
            permission_set: "Admin".to_owned(),
            permission_set_arn: "arn:aws:sso:::permissionSet/ssoins-1/ps-admin".to_owned(),
        },
        user_id: "u-carol".to_owned(),
        user_email: Some("carol@corp.com".to_owned()),
        user_name: None,
        mode: DriftMode::Warn,
        action: DriftAction::Warned,
        routing: liftgate_policy::Routing::default(),
    }
}

/// A drift finding is posted in the approvals channel, once even when delivered twice.
pub async fn drift_findings_are_posted_once<C: ChannelUnderTest>() {
    let channel = C::start(ContractSetup::default()).await;
    let notice = drift_notice();
    let notifier = channel.notifier();
    notifier.drift(&notice).await.unwrap();
    notifier.drift(&notice).await.unwrap();
    let posted = channel.approvals_channel_texts().await;
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert!(posted[0].contains("carol@corp.com"), "{}", posted[0]);
    assert!(posted[0].contains("Admin"), "{}", posted[0]);
}

/// Rate limits and outages of the platform are retried (the notice stays in the outbox), and
/// the message is posted once when the platform is back.
pub async fn platform_failures_are_retried_and_post_once<C: ChannelUnderTest>() {
    for status in [429, 503] {
        let channel = C::start(ContractSetup::default()).await;
        channel.fail_next_posts(status, 20).await;
        let notice = drift_notice();
        let outcome = channel.notifier().drift(&notice).await;
        assert!(
            matches!(outcome, Err(NotifyError::Retryable(_))),
            "{status}: {outcome:?}"
        );
        channel.fail_next_posts(status, 0).await;
        channel.notifier().drift(&notice).await.unwrap();
        assert_eq!(channel.approvals_channel_texts().await.len(), 1);
    }
}

/// Declares one test per contract scenario for a channel: `channel_contract_tests!(Type)`,
/// optionally with the test attribute its fakes need (default `#[tokio::test]`).
#[macro_export]
macro_rules! channel_contract_tests {
    ($channel:ty) => {
        $crate::channel_contract_tests!($channel, #[tokio::test]);
    };
    ($channel:ty, #[$attribute:meta]) => {
        $crate::channel_contract_tests!(@tests $channel, $attribute;
            a_form_request_is_shown_to_the_approvers_and_its_requester,
            permission_set_choices_follow_the_account,
            bad_submissions_are_refused_under_their_field_and_change_nothing,
            an_approval_grants_and_every_message_shows_it,
            a_denial_is_shown_everywhere,
            self_approval_is_refused,
            quorum_progress_is_shown,
            the_requester_ends_their_access_early,
            only_the_holder_may_extend,
            reminders_are_threaded_once_each,
            a_deleted_approval_message_is_posted_again,
            refused_requests_are_shown_to_the_approvers,
            reason_patterns_and_warnings_are_shown,
            approvals_follow_the_statements_routing,
            drift_findings_are_posted_once,
            platform_failures_are_retried_and_post_once,
        );
    };
    (@tests $channel:ty, $attribute:meta; $($name:ident),* $(,)?) => {
        $(
            #[$attribute]
            async fn $name() {
                $crate::testing::channel_contract::$name::<$channel>().await;
            }
        )*
    };
}
