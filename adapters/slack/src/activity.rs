//! The post-access activity summary in Slack (docs/reference.md §6): a reply in the thread of
//! the request's approval message (a message in the approvals channel when there is none),
//! posted once per summary.

use liftgate_gateway::domain::{ActivityOutcome, ActivitySummary, event_line};
use serde_json::{Value, json};

use crate::blocks::escape;

/// Summaries already posted: `{channel, ts}` by summary id.
pub(crate) const ACTIVITY_NAMESPACE: &str = "slack.activity";

/// Slack's limit for a section's text is 3000 characters.
const SECTION_LIMIT: usize = 2900;

fn section(text: &str) -> Value {
    let mut text = text.to_owned();
    if text.len() > SECTION_LIMIT {
        let mut cut = SECTION_LIMIT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("\n…");
    }
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })
}

/// The blocks: the headline, the counts by service and event, the first events with errors
/// marked `:warning:`.
pub(crate) fn activity_blocks(summary: &ActivitySummary) -> Value {
    let mut blocks = vec![section(&format!(
        ":mag: *Activity summary*\n{}",
        escape(&summary.headline())
    ))];
    if let ActivityOutcome::Found(found) = &summary.outcome
        && !found.counts.is_empty()
    {
        let counts: Vec<String> = found
            .counts
            .iter()
            .map(|count| {
                let failed = if count.errors > 0 {
                    format!(" :warning: {} failed", count.errors)
                } else {
                    String::new()
                };
                format!(
                    "• `{}` {}: {}{failed}",
                    escape(&count.event_source),
                    escape(&count.event_name),
                    count.count
                )
            })
            .collect();
        blocks.push(section(&format!(
            "*By service and event*\n{}",
            counts.join("\n")
        )));
        let events: Vec<String> = found
            .events
            .iter()
            .map(|event| {
                let line = escape(&event_line(event));
                if event.error_code.is_some() {
                    format!(":warning: *{line}*")
                } else {
                    format!("• {line}")
                }
            })
            .collect();
        blocks.push(section(&format!(
            "*First {} events*\n{}",
            found.events.len(),
            events.join("\n")
        )));
    }
    Value::Array(blocks)
}
