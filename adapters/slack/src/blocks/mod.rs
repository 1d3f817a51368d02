//! Block Kit JSON: the request forms (modals) and the messages. Pure functions of the
//! request's state, so the same state always renders the same JSON (snapshot-tested).

pub(crate) mod drift;
pub(crate) mod form;
pub(crate) mod message;

use serde_json::{Value, json};
use time::OffsetDateTime;

/// Slack's limits on option text and values (characters).
const OPTION_TEXT_LIMIT: usize = 75;
const OPTION_VALUE_LIMIT: usize = 150;

/// Escapes the three characters mrkdwn treats as control characters.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Cuts text to at most `limit` characters, marking the cut.
pub(crate) fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(limit.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

pub(crate) fn plain(text: &str) -> Value {
    json!({ "type": "plain_text", "text": text, "emoji": true })
}

pub(crate) fn mrkdwn(text: &str) -> Value {
    json!({ "type": "mrkdwn", "text": text })
}

pub(crate) fn section(text: &str) -> Value {
    json!({ "type": "section", "text": mrkdwn(&truncate(text, 3000)) })
}

pub(crate) fn context(text: &str) -> Value {
    json!({ "type": "context", "elements": [mrkdwn(&truncate(text, 3000))] })
}

/// A select option; `None` when the value is too long for Slack (such a choice cannot be
/// offered, so it is left out rather than cut into a different value).
pub(crate) fn option(text: &str, value: &str) -> Option<Value> {
    if value.chars().count() > OPTION_VALUE_LIMIT {
        return None;
    }
    Some(json!({ "text": plain(&truncate(text, OPTION_TEXT_LIMIT)), "value": value }))
}

/// `1h30m` as people say it: "1 hour 30 minutes".
pub(crate) use liftgate_gateway::conversation::humanize;

/// A time every reader sees in their own time zone, with a UTC fallback.
pub(crate) fn date(at: OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    let fallback = format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute()
    );
    format!(
        "<!date^{}^{{date_short_pretty}} at {{time}}|{fallback}>",
        at.unix_timestamp()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters_and_truncates() {
        assert_eq!(escape("<@U1> & <!here>"), "&lt;@U1&gt; &amp; &lt;!here&gt;");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }

    #[test]
    fn dates_render_for_the_reader_with_a_utc_fallback() {
        let at = OffsetDateTime::from_unix_timestamp(1_800_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(
            date(at),
            "<!date^1800000000^{date_short_pretty} at {time}|2027-01-15 08:00 UTC>"
        );
    }
}
