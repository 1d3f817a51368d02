//! Genuine callers: an Identity Center session signs with the real client and gets its
//! request made, read, cancelled and revoked, with the verified ARN in the audit.

use liftgate_cli_channel::client::{CreateRequest, RequestTarget};
use liftgate_gateway::config::SessionNameAttribute;
use liftgate_gateway::domain::{Channel, RequestId, RequestStatus, VerifiedCaller};
use liftgate_gateway::testing::person;

use crate::support::{
    ALICE, Options, REQUESTER, SSO_ROLE, Sts, TOOLING, TestGateway, genuine_setup, prod_admin,
};

fn session_arn(session: &str) -> String {
    format!("arn:aws:sts::{TOOLING}:assumed-role/{SSO_ROLE}/{session}")
}

#[tokio::test]
async fn a_genuine_caller_creates_reads_and_cancels_a_request_signed_with_its_own_identity() {
    let (_sts, gateway, credentials) = genuine_setup().await;
    let client = gateway.client(credentials).await;
    assert_eq!(client.sts_target().sts_region, "us-east-1");

    let created = client.create(&prod_admin()).await.unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.verified_arn.as_deref(),
        Some(session_arn("requester").as_str())
    );
    assert_eq!(created.body["requester"], REQUESTER);
    assert_eq!(created.body["status"], "pending");
    assert_eq!(created.body["channel"], "cli");
    let id = created.body["id"].as_str().unwrap().to_owned();

    let stored = gateway
        .harness
        .request(&RequestId::parse(&id).unwrap())
        .await;
    assert_eq!(stored.channel, Channel::Cli);
    assert_eq!(
        stored.requester.caller,
        Some(VerifiedCaller::Cli {
            arn: session_arn("requester"),
            account_id: TOOLING.to_owned(),
        })
    );
    gateway.harness.deliver_outbox().await;
    let records = gateway.harness.audit.records();
    let requested = records
        .iter()
        .find(|record| record.fields.event.as_str() == "requested")
        .expect("a requested record");
    let fields = serde_json::to_value(&requested.fields).unwrap();
    assert_eq!(fields["request_source"], "cli");
    assert_eq!(fields["channel"], "cli");
    assert_eq!(
        fields["verified_caller"],
        serde_json::json!({"platform": "cli", "arn": session_arn("requester"), "account_id": TOOLING})
    );

    let status = client.status(&id).await.unwrap();
    assert_eq!(status.status, 200, "{}", status.body);
    assert_eq!(status.body["id"], id.as_str());

    let cancelled = client.cancel(&id).await.unwrap();
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(gateway.all_requests().await.len(), 1);
}

#[tokio::test]
async fn a_genuine_caller_revokes_its_active_grant() {
    let (_sts, gateway, credentials) = genuine_setup().await;
    let client = gateway.client(credentials).await;
    let created = client
        .create(&CreateRequest {
            target: RequestTarget::Account {
                account_id: "222222222222".into(),
                permission_set: "ReadOnly".into(),
            },
            duration: "2h".into(),
            reason: "read the logs".into(),
            break_glass: false,
        })
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["status"], "active", "granted outright");
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        gateway
            .harness
            .identity
            .assignment_count("222222222222", "ReadOnly", "u-requester"),
        1
    );

    let revoked = client.revoke(&id).await.unwrap();
    assert!(matches!(revoked.status, 200 | 202), "{}", revoked.body);
    gateway.harness.sweep().await;
    let stored = gateway
        .harness
        .request(&RequestId::parse(&id).unwrap())
        .await;
    assert_eq!(stored.status(), RequestStatus::Ended);
    assert_eq!(
        gateway
            .harness
            .identity
            .assignment_count("222222222222", "ReadOnly", "u-requester"),
        0
    );
    gateway.harness.deliver_outbox().await;
    let revoked_record = gateway
        .harness
        .audit
        .records()
        .into_iter()
        .find(|record| record.fields.event.as_str() == "revoked")
        .expect("a revoked record");
    let fields = serde_json::to_value(&revoked_record.fields).unwrap();
    assert_eq!(fields["channel"], "cli");
    assert_eq!(fields["verified_caller"]["arn"], session_arn("requester"));
}

#[tokio::test]
async fn requests_of_others_look_absent_and_approvers_see_them() {
    let sts = Sts::start();
    sts.create_role(SSO_ROLE).await;
    let requester = sts.assume(TOOLING, SSO_ROLE, "requester").await;
    let alice = sts.assume(TOOLING, SSO_ROLE, "alice").await;
    let dave = sts.assume(TOOLING, SSO_ROLE, "dave").await;
    sts.check_signatures().await;
    let gateway = TestGateway::start(Options::new(&sts)).await;
    gateway.harness.identity.set_user_name("u-alice", "alice");
    gateway.harness.identity.set_user_name("u-dave", "dave");

    let created = gateway
        .client(requester)
        .await
        .create(&prod_admin())
        .await
        .unwrap();
    let id = created.body["id"].as_str().unwrap().to_owned();
    let as_dave = gateway.client(dave).await.status(&id).await.unwrap();
    assert_eq!(as_dave.status, 404, "{}", as_dave.body);
    let alice_client = gateway.client(alice).await;
    let as_alice = alice_client.status(&id).await.unwrap();
    assert_eq!(as_alice.status, 200, "{}", as_alice.body);
    // The workflow decides who may end what: alice approves, and then may revoke.
    gateway
        .harness
        .service
        .approve(
            &RequestId::parse(&id).unwrap(),
            &person(ALICE),
            Channel::Slack,
            None,
        )
        .await
        .unwrap();
    let revoked = alice_client.revoke(&id).await.unwrap();
    assert!(matches!(revoked.status, 200 | 202), "{}", revoked.body);
}

#[tokio::test]
async fn a_session_named_by_email_maps_through_the_email_attribute() {
    let sts = Sts::start();
    sts.create_role(SSO_ROLE).await;
    let credentials = sts.assume(TOOLING, SSO_ROLE, REQUESTER).await;
    sts.check_signatures().await;
    let gateway = TestGateway::start(Options {
        user_attribute: SessionNameAttribute::Email,
        ..Options::new(&sts)
    })
    .await;
    let created = gateway
        .client(credentials)
        .await
        .create(&prod_admin())
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["requester"], REQUESTER);
}
