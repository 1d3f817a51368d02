//! The post-access activity summary in Slack (docs/reference.md §6): a reply in the thread of
//! the request's approval message (a message in the approvals channel when there is none),
//! posted once per summary.

use liftgate_gateway::domain::{ActivityOutcome, ActivitySummary, event_line};
use liftgate_gateway::ports::NotifyError;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::adapter::SlackAdapter;
use crate::blocks::escape;
use crate::notifier::{MESSAGES_NAMESPACE, store_failure};

/// Summaries already posted: `{channel, ts}` by summary id.
pub(crate) const ACTIVITY_NAMESPACE: &str = "slack.activity";

/// Slack's limit for a section's text is 3000 characters.
const SECTION_LIMIT: usize = 2900;

/// Where the approval message is (the fields of `slack.messages` this needs).
#[derive(Deserialize)]
struct Thread {
    channel: String,
    ts: String,
}

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

impl SlackAdapter {
    pub(crate) async fn post_activity_summary(
        &self,
        summary: &ActivitySummary,
    ) -> Result<(), NotifyError> {
        let store = self.service.store();
        let key = summary.id.to_string();
        if store
            .get_document(ACTIVITY_NAMESPACE, &key)
            .await
            .map_err(store_failure)?
            .is_some()
        {
            return Ok(());
        }
        let thread: Option<Thread> = store
            .get_document(MESSAGES_NAMESPACE, summary.request_id.as_str())
            .await
            .map_err(store_failure)?
            .and_then(|doc| serde_json::from_value(doc).ok());
        let (channel, thread_ts) = match &thread {
            Some(thread) => (thread.channel.as_str(), Some(thread.ts.as_str())),
            None => (self.settings.channel_id.as_str(), None),
        };
        let blocks = activity_blocks(summary);
        let posted = self
            .api
            .post_message(channel, &summary.headline(), Some(&blocks), thread_ts)
            .await
            .map_err(crate::notifier::slack_failure)?;
        store
            .put_document(
                ACTIVITY_NAMESPACE,
                &key,
                &json!({ "channel": posted.channel, "ts": posted.ts }),
            )
            .await
            .map_err(store_failure)?;
        tracing::info!(request_id = %summary.request_id, in_thread = thread.is_some(), "Activity summary posted in Slack.");
        Ok(())
    }
}
