//! The checks the Teams fuzz targets in `fuzz/` run, also replayed over their corpus by this
//! crate's integration tests (see `liftgate_policy::fuzzing`). Each reads the bytes as
//! `POST /teams/messages` does, up to the point where a signing key or the workflow is needed.
//! Not part of the API.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::activity::Activity;
use crate::auth::read_unverified;
use crate::bot::request_id_of;
use crate::cards::FormInputs;

/// Target `teams_activity`: a body as the handler reads it, then what the handlers read from
/// the activity (conversation, tenant, the command text, a card action's data).
pub fn teams_activity(data: &[u8]) {
    let Ok(activity) = serde_json::from_slice::<Activity>(data) else {
        return;
    };
    for id in [
        activity.conversation_id(),
        activity.sender_id(),
        activity.tenant_id(),
        activity.team_id(),
        activity.channel_data_channel_id(),
    ]
    .into_iter()
    .flatten()
    {
        assert!(!id.is_empty(), "an empty id read as present");
    }
    let _ = (activity.is_personal(), activity.adds_the_bot());
    let command = activity.command_text();
    assert_eq!(command.trim(), command, "the command text is not trimmed");
    assert!(
        !command.contains("  "),
        "the command text has runs of spaces"
    );
    let Some(data) = activity
        .value
        .as_ref()
        .and_then(|value| value.get("action"))
        .and_then(|action| action.get("data"))
    else {
        return;
    };
    let inputs = FormInputs::from_data(data);
    for input in [
        &inputs.account,
        &inputs.permission_set,
        &inputs.group,
        &inputs.duration,
        &inputs.reason,
        &inputs.start_date,
        &inputs.start_time,
    ] {
        assert_eq!(input.trim(), input.as_str(), "a form input is not trimmed");
    }
    if let Some(request_id) = request_id_of(data) {
        let again = liftgate_gateway::domain::RequestId::parse(request_id.as_str());
        assert_eq!(again.as_ref(), Some(&request_id));
    }
}

/// Target `teams_jwt`: the `Authorization` header up to the signing-key lookup. The bytes are
/// read twice: as the header itself, and as a JWT header and claims (split at the first
/// newline) put into a `Bearer` token, so the JSON inside the token is reached too. A token
/// that passes names a non-empty `kid`, and its scheme is matched without regard to case.
pub fn teams_jwt(data: &[u8]) {
    if let Ok(header) = std::str::from_utf8(data) {
        check_authorization(header);
    }
    let (jwt_header, claims) = match data.iter().position(|byte| *byte == b'\n') {
        Some(split) => (&data[..split], &data[split + 1..]),
        None => (data, &b"{}"[..]),
    };
    let token = format!(
        "Bearer {}.{}.c2lnbmF0dXJl",
        URL_SAFE_NO_PAD.encode(jwt_header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    check_authorization(&token);
}

fn check_authorization(header: &str) {
    let Ok(unverified) = read_unverified(Some(header)) else {
        return;
    };
    assert!(!unverified.kid.is_empty());
    assert!(header.contains(unverified.token));
    let claims = unverified.token.split('.').nth(1).unwrap_or_default();
    let claims: Option<Value> = URL_SAFE_NO_PAD
        .decode(claims)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    if let Some(claims) = claims {
        assert_eq!(
            claims["iss"].as_str(),
            Some(crate::auth::BOT_FRAMEWORK_ISSUER),
            "a token from another issuer passed"
        );
    }
    let lower = format!("bearer {}", unverified.token);
    let again = read_unverified(Some(&lower)).map(|token| token.kid);
    assert_eq!(again.as_ref(), Ok(&unverified.kid));
}
