//! Every caller that must be refused is, with its status and code, and leaves nothing behind:
//! stale and replayed proofs, proofs for another call or gateway, tampered signed requests
//! (STS itself refuses them), roles that are not Identity Center sessions, accounts outside
//! the organization or the allowed list, session names that are nobody, and STS down.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use liftgate_cli_channel::client::{CliClient, PreparedCall};
use liftgate_cli_channel::{NONCE_HEADER, PROOF_HEADER};
use liftgate_gateway::ports::Clock;
use liftgate_gateway::testing::ManualClock;

use crate::support::{
    OUTSIDE, Options, SERVER_ID, SSO_ROLE, Sts, TOOLING, TestGateway, genuine_setup, prod_admin,
};

fn create_call(client: &CliClient) -> PreparedCall {
    let body = serde_json::to_vec(&prod_admin()).unwrap();
    client
        .prepare(reqwest::Method::POST, "/cli/v1/requests", body)
        .unwrap()
}

#[track_caller]
fn assert_refused(reply: &liftgate_cli_channel::client::Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.error_code(), Some(code), "{}", reply.body);
    assert!(reply.verified_arn.is_none());
}

#[tokio::test]
async fn proofs_that_are_old_replayed_or_for_another_call_or_gateway_are_refused_before_sts() {
    let (_sts, gateway, credentials) = genuine_setup().await;

    // Signed ten minutes before the gateway's clock, and ten minutes after.
    for offset in [-600, 600] {
        let clock = Arc::new(ManualClock::new(
            Clock::now(gateway.harness.clock.as_ref()) + time::Duration::seconds(offset),
        ));
        let skewed = gateway.client_at(credentials.clone(), clock).await;
        let reply = skewed.create(&prod_admin()).await.unwrap();
        assert_refused(&reply, 401, "stale_signature");
    }
    assert_eq!(gateway.auth_failures("stale_signature"), 2.0);

    let client = gateway.client(credentials.clone()).await;
    // The body changed after signing: the proof names another call.
    let mut tampered = create_call(&client);
    tampered.body = String::from_utf8(tampered.body)
        .unwrap()
        .replace("111111111111", "222222222222")
        .into_bytes();
    assert_refused(&client.send(&tampered).await.unwrap(), 401, "wrong_call");
    // The same proof on another route.
    let mut moved = create_call(&client);
    moved.path = "/cli/v1/requests/00000000-0000-0000-0000-000000000000/revoke".into();
    moved.body.clear();
    assert_refused(&client.send(&moved).await.unwrap(), 401, "wrong_call");

    // Signed for another gateway.
    let elsewhere = CliClient::connect(
        &gateway.base,
        Some("other.example.com".into()),
        credentials.clone(),
    )
    .await
    .unwrap()
    .with_clock(gateway.harness.clock.clone());
    assert_refused(
        &elsewhere.create(&prod_admin()).await.unwrap(),
        401,
        "wrong_server_id",
    );

    // No proof, or not one.
    let http = reqwest::Client::new();
    let url = format!("{}/cli/v1/requests", gateway.base);
    let bare = http.post(&url).body("{}").send().await.unwrap();
    assert_eq!(bare.status(), 401);
    let garbage = http
        .post(&url)
        .header(PROOF_HEADER, "bm90IGpzb24=")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 401);
    let huge = http
        .post(&url)
        .header(PROOF_HEADER, "x")
        .body(vec![b' '; liftgate_cli_channel::MAX_BODY_BYTES + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    gateway.assert_nothing_happened().await;

    // A genuine proof works once; the same proof again is a replay.
    let once = create_call(&client);
    let first = client.send(&once).await.unwrap();
    assert_eq!(first.status, 201, "{}", first.body);
    assert_refused(&client.send(&once).await.unwrap(), 401, "replayed");
    assert_eq!(gateway.all_requests().await.len(), 1);
}

#[tokio::test]
async fn a_tampered_signed_request_is_refused_by_sts_and_nothing_is_created() {
    let (_sts, gateway, credentials) = genuine_setup().await;
    let client = gateway.client(credentials.clone()).await;

    // A signed header changed after signing (a fresh, well-formed nonce): only STS can tell.
    let mut nonce_swapped = create_call(&client);
    let nonce = nonce_swapped
        .proof
        .headers
        .keys()
        .find(|name| name.eq_ignore_ascii_case(NONCE_HEADER))
        .unwrap()
        .clone();
    nonce_swapped
        .proof
        .headers
        .insert(nonce, "fresh-nonce-0123456789".into());
    assert_refused(
        &client.send(&nonce_swapped).await.unwrap(),
        401,
        "sts_rejected",
    );

    // The STS body reordered after signing: still GetCallerIdentity, but not what was signed.
    let mut reordered = create_call(&client);
    reordered.proof.body = STANDARD.encode("Version=2011-06-15&Action=GetCallerIdentity");
    assert_refused(&client.send(&reordered).await.unwrap(), 401, "sts_rejected");

    // Signed with the wrong secret key.
    let forged = aws_credential_types::Credentials::new(
        credentials.access_key_id(),
        "not-the-secret",
        credentials.session_token().map(str::to_owned),
        None,
        "forged",
    );
    let forger = gateway.client(forged).await;
    assert_refused(
        &forger.create(&prod_admin()).await.unwrap(),
        401,
        "sts_rejected",
    );
    assert_eq!(gateway.auth_failures("sts_rejected"), 3.0);
    gateway.assert_nothing_happened().await;
}

#[tokio::test]
async fn callers_that_are_not_identity_center_users_of_allowed_accounts_are_forbidden() {
    let sts = Sts::start();
    sts.create_role(SSO_ROLE).await;
    sts.create_role("Deployer").await;
    let deployer = sts.assume(TOOLING, "Deployer", "requester").await;
    let outsider = sts.assume(OUTSIDE, SSO_ROLE, "requester").await;
    let nobody = sts.assume(TOOLING, SSO_ROLE, "mallory").await;
    let genuine = sts.assume(TOOLING, SSO_ROLE, "requester").await;
    sts.check_signatures().await;
    let gateway = TestGateway::start(Options::new(&sts)).await;

    let reply = gateway
        .client(deployer)
        .await
        .create(&prod_admin())
        .await
        .unwrap();
    assert_refused(&reply, 403, "not_an_sso_session");
    // An account of someone else's, with a role named like Identity Center's.
    let reply = gateway
        .client(outsider)
        .await
        .create(&prod_admin())
        .await
        .unwrap();
    assert_refused(&reply, 403, "account_not_allowed");
    let reply = gateway
        .client(nobody)
        .await
        .create(&prod_admin())
        .await
        .unwrap();
    assert_refused(&reply, 403, "unknown_user");
    gateway.assert_nothing_happened().await;

    // In the organization but not in cli.allowed_accounts.
    let restricted = TestGateway::start(Options {
        allowed_accounts: vec!["111111111111".into()],
        ..Options::new(&sts)
    })
    .await;
    let reply = restricted
        .client(genuine)
        .await
        .create(&prod_admin())
        .await
        .unwrap();
    assert_refused(&reply, 403, "account_not_allowed");
    restricted.assert_nothing_happened().await;
}

#[tokio::test]
async fn sts_unreachable_is_a_503_and_nothing_is_created() {
    let sts = Sts::start();
    sts.create_role(SSO_ROLE).await;
    let credentials = sts.assume(TOOLING, SSO_ROLE, "requester").await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let gateway = TestGateway::start(Options {
        sts_endpoint: endpoint,
        ..Options::new(&sts)
    })
    .await;
    let client = CliClient::connect(&gateway.base, Some(SERVER_ID.into()), credentials)
        .await
        .unwrap()
        .with_clock(gateway.harness.clock.clone());
    let reply = client.create(&prod_admin()).await.unwrap();
    assert_refused(&reply, 503, "unavailable");
    gateway.assert_nothing_happened().await;
}
