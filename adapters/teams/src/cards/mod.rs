//! Adaptive Cards (version 1.5, the most Teams renders) for the request forms, the approval
//! card and the requester's status card, plus the message activities that carry them.
//! Buttons are `Action.Execute` (Universal Actions): a click arrives as an
//! `adaptiveCard/action` invoke whose answer replaces the card for the person who clicked.

mod form;
mod request;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

pub(crate) use form::{
    AccessForm, ExtendForm, FormErrors, FormInputs, GroupForm, field, limit_choices,
};
pub(crate) use request::{Note, approval_card, requester_card, submitted_card, summary};

pub(crate) const CARD_CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";

/// The `verb` of every button, and what the invoke handler dispatches on.
pub(crate) mod verb {
    pub(crate) const ACCESS_SUBMIT: &str = "access_submit";
    pub(crate) const ACCESS_REFRESH: &str = "access_refresh";
    pub(crate) const GROUP_SUBMIT: &str = "group_submit";
    pub(crate) const APPROVE: &str = "approve";
    pub(crate) const DENY: &str = "deny";
    pub(crate) const REVOKE: &str = "revoke";
    pub(crate) const CANCEL: &str = "cancel";
    pub(crate) const EXTEND: &str = "extend";
    pub(crate) const EXTEND_SUBMIT: &str = "extend_submit";
    pub(crate) const ACKNOWLEDGE: &str = "acknowledge";
    pub(crate) const FLAG: &str = "flag";
}

/// The `dataset` names of typeahead searches.
pub(crate) mod dataset {
    pub(crate) const ACCOUNTS: &str = "accounts";
    pub(crate) const GROUPS: &str = "groups";
    /// The permission sets of the account picked on the same card (its value comes with the
    /// search, `associatedInputs: auto`).
    pub(crate) const PERMISSION_SETS: &str = "permission_sets";
}

/// Most choices Teams shows from a typeahead search, and the most static choices a form
/// offers before it switches to typeahead.
pub(crate) const TYPEAHEAD_LIMIT: usize = 15;

pub(crate) fn card(body: Vec<Value>, actions: Vec<Value>) -> Value {
    let mut card = json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": body,
    });
    if !actions.is_empty() {
        card["actions"] = Value::Array(actions);
    }
    card
}

/// A message activity carrying one card; `summary` is what notifications and old clients show.
pub(crate) fn card_message(card: &Value, summary: &str) -> Value {
    json!({
        "type": "message",
        "summary": summary,
        "attachments": [{ "contentType": CARD_CONTENT_TYPE, "content": card }],
    })
}

pub(crate) fn text_message(text: &str) -> Value {
    json!({ "type": "message", "text": text, "textFormat": "plain" })
}

/// Text as it was typed, for a TextBlock or fact, whose text Teams renders as markdown: the
/// markdown characters are escaped and line breaks folded into spaces, so a reason cannot
/// plant a link, emphasis, a list or a fake status line on an approver's card. Every text a
/// card shows goes through here (Liftgate's own sentences use no markdown).
pub(crate) fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' | '\n' | '\u{2028}' | '\u{2029}' => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
                continue;
            }
            // Adaptive Cards markdown: emphasis, links and lists (nothing else renders).
            '\\' | '*' | '_' | '[' | ']' | '~' | '`' => {
                out.push('\\');
            }
            // A list marker ("- ", "+ ", "1. ") can only start the text once lines are folded.
            '-' | '+' | '.' if chars.peek().is_none_or(|next| next.is_whitespace()) => {
                let before = out.trim_start();
                let marker = match c {
                    '.' => !before.is_empty() && before.chars().all(|d| d.is_ascii_digit()),
                    _ => before.is_empty(),
                };
                if marker {
                    out.push('\\');
                }
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

pub(crate) fn title(text: &str) -> Value {
    json!({ "type": "TextBlock", "text": plain(text), "weight": "Bolder", "size": "Medium", "wrap": true })
}

pub(crate) fn text(text: &str) -> Value {
    json!({ "type": "TextBlock", "text": plain(text), "wrap": true })
}

pub(crate) fn error_text(text: &str) -> Value {
    json!({ "type": "TextBlock", "text": plain(text), "color": "Attention", "wrap": true })
}

pub(crate) fn facts(facts: &[(&str, String)]) -> Value {
    let facts: Vec<Value> = facts
        .iter()
        .map(|(title, value)| json!({ "title": title, "value": plain(value) }))
        .collect();
    json!({ "type": "FactSet", "facts": facts })
}

pub(crate) fn execute(title: &str, verb: &str, data: Value, style: Option<&str>) -> Value {
    let mut action =
        json!({ "type": "Action.Execute", "title": title, "verb": verb, "data": data });
    if let Some(style) = style {
        action["style"] = Value::String(style.to_owned());
    }
    action
}

/// Times in cards, always UTC: "2027-01-15 08:00 UTC".
pub(crate) fn format_time(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_else(|_| at.to_string())
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn typed_text_cannot_become_markdown() {
        let reason =
            "fix prod\n\n**Approved by cto@corp.com** [details](https://evil.example/x) _now_";
        assert_eq!(
            plain(reason),
            "fix prod \\*\\*Approved by cto@corp.com\\*\\* \\[details\\](https://evil.example/x) \\_now\\_"
        );
        assert_eq!(plain("- item"), "\\- item");
        assert_eq!(plain("  1. first"), "  1\\. first");
        assert_eq!(
            plain("Admin on Prod (111111111111) for 1h."),
            "Admin on Prod (111111111111) for 1h."
        );
        assert_eq!(plain("a\\b"), "a\\\\b");
        assert_eq!(plain("2027-01-16 09:30 UTC"), "2027-01-16 09:30 UTC");
        assert_eq!(plain("-x and 3.5"), "-x and 3.5");
    }
}
