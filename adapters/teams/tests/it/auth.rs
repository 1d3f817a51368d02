//! Inbound authentication: the negative token matrix (each variant refused with 401 and no
//! effect at all), the clock-skew boundaries, and the signing-key cache (daily refresh,
//! unknown-kid refresh rate-limited, rotation).

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{APP_ID, Bed, DocumentRead, keys, tokens};

/// The activity every case sends: "access" from the requester, which, if accepted, would look
/// the requester up, record them and answer with a form.
fn activity(bed: &Bed) -> Value {
    bed.message("requester", "access")
}

async fn assert_refused(bed: &Bed, activity: &Value, authorization: Option<&str>, case: &str) {
    let (status, body) = bed.post(activity, authorization).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {body}");
    assert_eq!(body["error"]["code"], "unauthorized", "{case}");
    assert!(
        bed.fake.calls().is_empty(),
        "{case}: the Connector was called"
    );
    assert!(
        bed.h
            .store
            .get_document_value("teams.users", "requester@corp.com")
            .await
            .is_none(),
        "{case}: the sender was recorded"
    );
    assert!(
        bed.all_requests().await.is_empty(),
        "{case}: a request was made"
    );
}

async fn assert_accepted(bed: &Bed, activity: &Value, authorization: &str, case: &str) {
    let (status, body) = bed.post(activity, Some(authorization)).await;
    assert_eq!(status, StatusCode::OK, "{case}: {body}");
    assert!(
        !bed.fake.member_lookups().is_empty(),
        "{case}: the sender was not looked up"
    );
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn good_claims(bed: &Bed) -> Value {
    tokens::claims(APP_ID, &bed.service_url(), bed.now())
}

fn signed(claims: &Value) -> String {
    bearer(&tokens::rs256(keys::botframework_k1(), "k1", claims))
}

#[actix_web::test]
async fn the_negative_token_matrix_is_refused_without_effect() {
    let bed = Bed::new().await;
    // k3 is published without the msteams endorsement.
    bed.fake.set_jwks(vec![
        keys::jwk(keys::botframework_k1(), "k1", &["msteams"]),
        keys::jwk(keys::botframework_k2(), "k3", &["skype", "webchat"]),
    ]);
    let activity = activity(&bed);
    let now = bed.now();

    assert_refused(&bed, &activity, None, "no Authorization header").await;
    assert_refused(
        &bed,
        &activity,
        Some("Basic dXNlcjpwYXNz"),
        "not a bearer token",
    )
    .await;
    assert_refused(&bed, &activity, Some("Bearer"), "bearer without a token").await;
    assert_refused(&bed, &activity, Some("Bearer not.a.jwt"), "garbage token").await;

    let mut claims = good_claims(&bed);
    claims["aud"] = json!("11111111-2222-3333-4444-555555555555");
    assert_refused(&bed, &activity, Some(&signed(&claims)), "wrong aud").await;

    let mut claims = good_claims(&bed);
    claims["iss"] = json!("https://api.botframework.com.evil.example");
    assert_refused(&bed, &activity, Some(&signed(&claims)), "wrong iss").await;

    let mut claims = good_claims(&bed);
    claims["nbf"] = json!(now - 7200);
    claims["exp"] = json!(now - 301);
    assert_refused(
        &bed,
        &activity,
        Some(&signed(&claims)),
        "expired beyond the skew",
    )
    .await;

    let mut claims = good_claims(&bed);
    claims["nbf"] = json!(now + 301);
    claims["exp"] = json!(now + 3600);
    assert_refused(
        &bed,
        &activity,
        Some(&signed(&claims)),
        "not valid until beyond the skew",
    )
    .await;

    let mut claims = good_claims(&bed);
    claims.as_object_mut().unwrap().remove("exp");
    assert_refused(&bed, &activity, Some(&signed(&claims)), "no exp").await;

    let token = tokens::rs256(keys::botframework_k2(), "k9", &good_claims(&bed));
    assert_refused(&bed, &activity, Some(&bearer(&token)), "unknown kid").await;

    let token = tokens::unsigned("k1", &good_claims(&bed));
    assert_refused(&bed, &activity, Some(&bearer(&token)), "alg none").await;

    let token = tokens::hs256_with_public_key(keys::botframework_k1(), "k1", &good_claims(&bed));
    assert_refused(
        &bed,
        &activity,
        Some(&bearer(&token)),
        "HS256 keyed with the public key",
    )
    .await;

    let token = tokens::tampered(&tokens::rs256(
        keys::botframework_k1(),
        "k1",
        &good_claims(&bed),
    ));
    assert_refused(&bed, &activity, Some(&bearer(&token)), "tampered signature").await;

    let mut claims = good_claims(&bed);
    claims.as_object_mut().unwrap().remove("serviceurl");
    assert_refused(
        &bed,
        &activity,
        Some(&signed(&claims)),
        "no serviceurl claim",
    )
    .await;

    let mut claims = good_claims(&bed);
    claims["serviceurl"] = json!("https://smba.trafficmanager.net/teams/");
    assert_refused(
        &bed,
        &activity,
        Some(&signed(&claims)),
        "serviceurl differs from the activity",
    )
    .await;

    let token = tokens::rs256(keys::botframework_k2(), "k3", &good_claims(&bed));
    assert_refused(
        &bed,
        &activity,
        Some(&bearer(&token)),
        "key not endorsed for msteams",
    )
    .await;

    let mut claims = good_claims(&bed);
    claims["iss"] = json!("https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/");
    claims["ver"] = json!("1.0");
    claims["appid"] = json!(APP_ID);
    assert_refused(&bed, &activity, Some(&signed(&claims)), "emulator issuer").await;

    // A host outside teams.allowed_service_url_hosts, named consistently by claim and activity.
    let elsewhere = bed.service_url().replace("127.0.0.1", "localhost");
    let mut claims = good_claims(&bed);
    claims["serviceurl"] = json!(elsewhere);
    let mut moved = activity.clone();
    moved["serviceUrl"] = json!(elsewhere);
    assert_refused(
        &bed,
        &moved,
        Some(&signed(&claims)),
        "service URL host not allowed",
    )
    .await;

    let mut foreign = activity.clone();
    foreign["conversation"]["tenantId"] = json!("00000000-0000-0000-0000-00000000beef");
    foreign["channelData"]["tenant"]["id"] = json!("00000000-0000-0000-0000-00000000beef");
    assert_refused(
        &bed,
        &foreign,
        Some(&signed(&good_claims(&bed))),
        "another tenant",
    )
    .await;

    let mut other_channel = activity.clone();
    other_channel["channelId"] = json!("webchat");
    assert_refused(
        &bed,
        &other_channel,
        Some(&signed(&good_claims(&bed))),
        "not the Teams channel",
    )
    .await;

    // And the good token still passes, so the refusals above were about the variants.
    assert_accepted(&bed, &activity, &signed(&good_claims(&bed)), "good token").await;
    let counted = |reason: &str| {
        bed.h.metrics.counter_value(
            "liftgate_auth_failures_total",
            &[("channel", "teams"), ("reason", reason)],
        )
    };
    assert_eq!(counted("missing_header"), 1.0);
    assert_eq!(counted("tenant"), 1.0);
    assert_eq!(counted("channel"), 1.0);
}

#[actix_web::test]
async fn clock_skew_of_two_minutes_is_tolerated() {
    let bed = Bed::new().await;
    let now = bed.now();
    let mut claims = good_claims(&bed);
    claims["nbf"] = json!(now - 3600);
    claims["exp"] = json!(now - 120);
    assert_accepted(
        &bed,
        &activity(&bed),
        &signed(&claims),
        "expired two minutes ago",
    )
    .await;

    let mut claims = good_claims(&bed);
    claims["nbf"] = json!(now + 120);
    assert_accepted(
        &bed,
        &activity(&bed),
        &signed(&claims),
        "valid in two minutes",
    )
    .await;
}

#[actix_web::test]
async fn malformed_activities_are_refused_before_anything_happens() {
    let bed = Bed::new().await;
    let routes_answer = bed
        .post(&json!("not an activity"), Some(&signed(&good_claims(&bed))))
        .await;
    assert_eq!(routes_answer.0, StatusCode::BAD_REQUEST);
    assert!(bed.fake.calls().is_empty());
}

#[actix_web::test]
async fn signing_keys_are_cached_and_refreshed_at_least_daily() {
    let bed = Bed::new().await;
    for _ in 0..3 {
        assert_accepted(&bed, &activity(&bed), &bearer(&bed.token()), "cached key").await;
    }
    assert_eq!(
        bed.fake.key_fetches(),
        (1, 1),
        "one fetch serves many activities"
    );

    bed.h.advance(Duration::from_secs(23 * 3600));
    assert_accepted(&bed, &activity(&bed), &bearer(&bed.token()), "within a day").await;
    assert_eq!(bed.fake.key_fetches(), (1, 1));

    bed.h.advance(Duration::from_secs(3600));
    assert_accepted(&bed, &activity(&bed), &bearer(&bed.token()), "a day later").await;
    assert_eq!(
        bed.fake.key_fetches(),
        (2, 2),
        "keys a day old are fetched again"
    );
}

#[actix_web::test]
async fn an_unknown_kid_refreshes_the_keys_at_most_once_per_five_minutes() {
    let bed = Bed::new().await;
    assert_accepted(&bed, &activity(&bed), &bearer(&bed.token()), "priming").await;
    assert_eq!(bed.fake.key_fetches(), (1, 1));
    let unknown = || {
        bearer(&tokens::rs256(
            keys::botframework_k2(),
            "k-unknown",
            &good_claims(&bed),
        ))
    };

    // Right after a fetch, an unknown kid does not fetch again.
    assert_refused_after_priming(&bed, &unknown()).await;
    assert_eq!(bed.fake.key_fetches(), (1, 1));

    bed.h.advance(Duration::from_secs(6 * 60));
    assert_refused_after_priming(&bed, &unknown()).await;
    assert_eq!(
        bed.fake.key_fetches(),
        (2, 2),
        "one refresh for the unknown kid"
    );
    for _ in 0..5 {
        assert_refused_after_priming(&bed, &unknown()).await;
    }
    assert_eq!(
        bed.fake.key_fetches(),
        (2, 2),
        "a stream of unknown kids fetches nothing more"
    );

    bed.h.advance(Duration::from_secs(5 * 60));
    assert_refused_after_priming(&bed, &unknown()).await;
    assert_eq!(bed.fake.key_fetches(), (3, 3));
}

#[actix_web::test]
async fn a_slow_key_fetch_for_a_forged_kid_does_not_hold_up_known_keys() {
    let bed = Bed::new().await;
    assert_accepted(&bed, &activity(&bed), &bearer(&bed.token()), "priming").await;
    let gate = Arc::new(tokio::sync::Notify::new());
    bed.fake.state.lock().unwrap().jwks_gate = Some(Arc::clone(&gate));
    bed.h.advance(Duration::from_secs(6 * 60));
    let forged = bearer(&tokens::rs256(
        keys::botframework_k2(),
        "k-forged",
        &good_claims(&bed),
    ));
    let forged_activity = activity(&bed);
    let genuine_activity = activity(&bed);
    let forged_call = async {
        let (status, _) = bed.post(&forged_activity, Some(&forged)).await;
        status
    };
    let genuine_call = async {
        // Wait until the forged call's fetch is under way (and stuck).
        while bed.fake.key_fetches().1 < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let authorization = bearer(&bed.token());
        let genuine = bed.post(&genuine_activity, Some(&authorization));
        let answered = tokio::time::timeout(Duration::from_secs(5), genuine).await;
        let fetches = bed.fake.key_fetches();
        gate.notify_one();
        let (status, _) = answered.expect("verification with a known key waited for the fetch");
        (status, fetches)
    };
    let (forged_status, (genuine_status, fetches)) = tokio::join!(forged_call, genuine_call);
    assert!(
        genuine_status.is_success(),
        "a known key verified while the fetch hung: {genuine_status}"
    );
    assert_eq!(fetches, (2, 2), "the genuine call fetched nothing");
    assert_eq!(forged_status, StatusCode::UNAUTHORIZED);
}

/// Refused with 401 and no Connector call beyond those already made.
async fn assert_refused_after_priming(bed: &Bed, authorization: &str) {
    let before = bed.fake.calls().len();
    let (status, _) = bed.post(&activity(bed), Some(authorization)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(bed.fake.calls().len(), before);
}

#[actix_web::test]
async fn rotated_keys_are_picked_up_on_an_unknown_kid() {
    let bed = Bed::new().await;
    assert_accepted(&bed, &activity(&bed), &bearer(&bed.token()), "old key").await;
    // Microsoft rotates: k1 is withdrawn, k2 is published.
    bed.fake
        .set_jwks(vec![keys::jwk(keys::botframework_k2(), "k2", &["msteams"])]);
    bed.h.advance(Duration::from_secs(10 * 60));

    let new_token = bearer(&tokens::rs256(
        keys::botframework_k2(),
        "k2",
        &good_claims(&bed),
    ));
    assert_accepted(&bed, &activity(&bed), &new_token, "new key after rotation").await;
    assert_eq!(bed.fake.key_fetches(), (2, 2));

    // The withdrawn key no longer verifies anything.
    assert_refused_after_priming(&bed, &bearer(&bed.token())).await;
}

#[actix_web::test]
async fn a_key_set_outage_keeps_the_keys_already_known() {
    let bed = Bed::new().await;
    assert_accepted(&bed, &activity(&bed), &bearer(&bed.token()), "priming").await;
    bed.fake.set_jwks(Vec::new());
    bed.h.advance(Duration::from_secs(25 * 3600));
    // The refresh finds no usable key; the known ones keep working until a good refresh.
    assert_accepted(
        &bed,
        &activity(&bed),
        &bearer(&bed.token()),
        "after a failed refresh",
    )
    .await;
    assert_eq!(bed.fake.key_fetches(), (2, 2));
}
