//! The requests the harness sends, built and signed the way Slack and a webhook integration
//! do: v0-signed interaction payloads and slash commands, v2-signed webhook creates.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::slack_double::{self, TEAM_ID, TRIGGER_PREFIX};
use crate::stack::{
    APPROVALS_CHANNEL, PERMISSION_SET, REQUESTER, SLACK_SIGNING_SECRET, WEBHOOK_CLIENT,
    WEBHOOK_SECRET,
};

/// One kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Kind {
    /// The global shortcut `request_for_access`: ack, then `views.open`.
    Shortcut,
    /// A `block_suggestion` for the account select of an open form, answered in the ack.
    Options,
    /// The `/access` slash command: ack, then `views.open`.
    Command,
    /// `POST /api/v1/requests`, v2-signed.
    Webhook,
}

impl Kind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Kind::Shortcut => "shortcut",
            Kind::Options => "options",
            Kind::Command => "/access",
            Kind::Webhook => "webhook create",
        }
    }

    /// Whether the gateway answers with an ack and then opens a form.
    pub(crate) fn opens_form(self) -> bool {
        matches!(self, Kind::Shortcut | Kind::Command)
    }
}

/// A request ready to send: path, content type, body and headers.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) path: &'static str,
    pub(crate) content_type: &'static str,
    pub(crate) body: String,
    pub(crate) headers: Vec<(&'static str, String)>,
}

const FORM: &str = "application/x-www-form-urlencoded";

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// Request `number` of `kind`, from bench user `user`, signed now. Trigger ids carry the
/// number so the Slack double can tell which request a `views.open` answers.
pub(crate) fn prepare(kind: Kind, number: u64, user: usize, account: &str) -> Prepared {
    match kind {
        Kind::Shortcut => slack_form(
            "/slack/interactions",
            &[(
                "payload",
                shortcut_payload(&slack_double::user_id(user), number).to_string(),
            )],
        ),
        Kind::Options => slack_form(
            "/slack/interactions",
            &[(
                "payload",
                options_payload(&slack_double::user_id(user)).to_string(),
            )],
        ),
        Kind::Command => slack_form(
            "/slack/commands",
            &command_fields(&slack_double::user_id(user), number),
        ),
        Kind::Webhook => webhook_create(account),
    }
}

fn slack_form(path: &'static str, fields: &[(&str, String)]) -> Prepared {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let timestamp = unix_now().to_string();
    let signature = liftgate_slack::sign(SLACK_SIGNING_SECRET, &timestamp, body.as_bytes());
    Prepared {
        path,
        content_type: FORM,
        body,
        headers: vec![
            ("x-slack-request-timestamp", timestamp),
            ("x-slack-signature", signature),
        ],
    }
}

fn user_ref(user_id: &str) -> Value {
    json!({ "id": user_id, "username": user_id.to_lowercase(), "team_id": TEAM_ID })
}

fn shortcut_payload(user_id: &str, number: u64) -> Value {
    json!({
        "type": "shortcut",
        "token": "deprecated-verification-token",
        "action_ts": "1800000000.000001",
        "team": { "id": TEAM_ID, "domain": "bench" },
        "user": user_ref(user_id),
        "callback_id": "request_for_access",
        "trigger_id": format!("{TRIGGER_PREFIX}{number}"),
        "is_enterprise_install": false,
        "enterprise": null,
    })
}

/// An option load for the account select of the user's open form (one form per user, so
/// after the first load the form session is reused, as while a person types).
fn options_payload(user_id: &str) -> Value {
    json!({
        "type": "block_suggestion",
        "user": user_ref(user_id),
        "api_app_id": "ABENCH",
        "action_id": "account",
        "block_id": "account",
        "value": "bench",
        "team": { "id": TEAM_ID, "domain": "bench" },
        "container": { "type": "view", "view_id": format!("VFORM{user_id}") },
        "view": {
            "id": format!("VFORM{user_id}"),
            "hash": "h1",
            "callback_id": "liftgate_access_request",
            "private_metadata": "",
            "state": { "values": {} },
            "blocks": [],
        },
    })
}

fn command_fields(user_id: &str, number: u64) -> Vec<(&'static str, String)> {
    vec![
        ("token", "deprecated-verification-token".to_owned()),
        ("team_id", TEAM_ID.to_owned()),
        ("team_domain", "bench".to_owned()),
        ("channel_id", APPROVALS_CHANNEL.to_owned()),
        ("channel_name", "access".to_owned()),
        ("user_id", user_id.to_owned()),
        ("user_name", user_id.to_lowercase()),
        ("command", "/access".to_owned()),
        ("text", String::new()),
        ("api_app_id", "ABENCH".to_owned()),
        ("is_enterprise_install", "false".to_owned()),
        (
            "response_url",
            "https://hooks.slack.com/commands/TBENCH/1/x".to_owned(),
        ),
        ("trigger_id", format!("{TRIGGER_PREFIX}{number}")),
    ]
}

const CREATE_PATH: &str = "/api/v1/requests";

fn webhook_create(account: &str) -> Prepared {
    let body = json!({
        "requester": REQUESTER,
        "account_id": account,
        "permission_set": PERMISSION_SET,
        "duration": "1h",
        "reason": "BENCH-1: load test",
    })
    .to_string();
    let headers = liftgate_webhook::signed_headers(
        WEBHOOK_CLIENT,
        WEBHOOK_SECRET,
        "POST",
        CREATE_PATH,
        body.as_bytes(),
        unix_now(),
    );
    Prepared {
        path: CREATE_PATH,
        content_type: "application/json",
        body,
        headers: headers.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_requests_carry_a_signature_the_gateway_accepts() {
        let prepared = prepare(Kind::Shortcut, 7, 3, "111111111111");
        let timestamp = &prepared.headers[0].1;
        let expected =
            liftgate_slack::sign(SLACK_SIGNING_SECRET, timestamp, prepared.body.as_bytes());
        assert_eq!(prepared.headers[1], ("x-slack-signature", expected));
        let payload: Value = serde_json::from_str(
            &url::form_urlencoded::parse(prepared.body.as_bytes())
                .find(|(key, _)| key == "payload")
                .map(|(_, value)| value.into_owned())
                .unwrap_or_default(),
        )
        .unwrap_or(Value::Null);
        assert_eq!(payload["trigger_id"], "bench.7");
        assert_eq!(payload["user"]["id"], "UBENCH3");
    }
}
