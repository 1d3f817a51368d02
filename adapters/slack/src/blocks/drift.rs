//! The warning about access no Liftgate grant explains (found by reconciliation).

use liftgate_gateway::ports::{DriftAction, DriftNotice, DriftTarget};
use serde_json::{Value, json};

use super::{context, date, escape, mrkdwn, plain, section};

/// The message for a drift finding; `holder` is how to name the user (a mention when Slack
/// knows their email).
pub(crate) fn drift_message(notice: &DriftNotice, holder: &str) -> Value {
    let mut fields = match &notice.target {
        DriftTarget::Account {
            account_id,
            account_name,
            permission_set,
            ..
        } => {
            let account = match account_name {
                Some(name) if name != account_id => format!("{} ({account_id})", escape(name)),
                _ => account_id.clone(),
            };
            vec![
                mrkdwn(&format!("*Account*\n{account}")),
                mrkdwn(&format!("*Permission set*\n{}", escape(permission_set))),
            ]
        }
        DriftTarget::Group {
            group_id,
            group_name,
            ..
        } => {
            let group = match group_name {
                Some(name) if name != group_id => format!("{} ({group_id})", escape(name)),
                _ => group_id.clone(),
            };
            vec![mrkdwn(&format!("*Group*\n{group}"))]
        }
    };
    fields.insert(0, mrkdwn(&format!("*Held by*\n{holder}")));
    let (done, emoji) = match &notice.action {
        DriftAction::Warned => (
            "Left in place (reconciliation mode: warn).".to_owned(),
            ":warning:",
        ),
        DriftAction::Revoked => ("Revoked automatically.".to_owned(), ":broom:"),
        DriftAction::RevocationFailed { error } => (
            format!(
                "Revoking it failed ({}); the next reconciliation pass tries again.",
                escape(error)
            ),
            ":x:",
        ),
    };
    json!([
        { "type": "header", "text": plain(&format!("{emoji} Access outside Liftgate")) },
        section(&escape(&notice.summary())),
        { "type": "section", "fields": fields },
        section(&format!("*Action*\n{done}")),
        context(&format!("Detected {} · `{}`", date(notice.detected_at), escape(&notice.access_key))),
    ])
}
