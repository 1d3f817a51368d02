//! The post-access activity summary (docs/reference.md §6, §7): what a user changed in AWS
//! while a grant let them, read from the organization trail after the grant ended. Plain data:
//! the workflow fills it in, the audit record carries it, chat notifiers render it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{GrantId, RequestId};

/// How many calls of one service and event name the user made, and how many of them failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCount {
    /// CloudTrail `eventSource`, e.g. `s3.amazonaws.com`.
    pub event_source: String,
    pub event_name: String,
    pub count: u64,
    /// Calls with an `errorCode` (refused or failed).
    pub errors: u64,
}

/// One CloudTrail event, as the summary lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityEvent {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub event_source: String,
    pub event_name: String,
    /// The first resource CloudTrail names (`resources[0].ARN`), when it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// `errorCode`: the call was refused or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// `recipientAccountId`, for summaries that span accounts (group grants).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

/// What the trail showed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityFound {
    /// By service and event name, most frequent first.
    pub counts: Vec<EventCount>,
    /// The first events of the window, oldest first (at most `audit.activity_summary.events`).
    pub events: Vec<ActivityEvent>,
}

impl ActivityFound {
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|count| count.count).sum()
    }

    pub fn errors(&self) -> u64 {
        self.counts.iter().map(|count| count.errors).sum()
    }
}

/// Whose sessions the summary covers and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActivityScope {
    /// Sessions of the `AWSReservedSSO_<permission set>_…` role in one account.
    Account {
        account_id: String,
        permission_set: String,
    },
    /// A group grant: every Identity Center role session of the user in any account, because
    /// CloudTrail does not say which group an assignment came through. It may include activity
    /// through the user's other Identity Center access.
    Group {
        group_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_name: Option<String>,
    },
}

/// The outcome of the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActivityOutcome {
    /// The query ran; no counts means no changes.
    Found(ActivityFound),
    /// The query kept failing and was given up after `attempts`: the summary is recorded with
    /// the last error rather than dropped.
    Failed { error: String, attempts: u32 },
}

/// The summary of one ended grant: posted to the chat channels and recorded as audit event
/// `activity_summary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivitySummary {
    /// Stable across redeliveries of the same summary.
    pub id: uuid::Uuid,
    pub request_id: RequestId,
    pub grant_id: GrantId,
    pub requester_email: String,
    /// The Identity Store user name, the role session name CloudTrail shows.
    pub user_name: String,
    pub scope: ActivityScope,
    #[serde(with = "time::serde::rfc3339")]
    pub window_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub window_end: OffsetDateTime,
    pub outcome: ActivityOutcome,
}

impl ActivitySummary {
    /// Where, as people read it.
    pub fn scope_label(&self) -> String {
        match &self.scope {
            ActivityScope::Account {
                account_id,
                permission_set,
            } => format!("{permission_set} in {account_id}"),
            ActivityScope::Group {
                group_id,
                group_name,
            } => match group_name {
                Some(name) if name != group_id => {
                    format!("group {name} ({group_id}), any account")
                }
                _ => format!("group {group_id}, any account"),
            },
        }
    }

    /// One plain-text sentence: the fallback text of richer messages and the audit `reason`.
    pub fn headline(&self) -> String {
        let who = format!(
            "Activity of {} ({}) from {} to {}",
            self.requester_email,
            self.scope_label(),
            rfc3339(self.window_start),
            rfc3339(self.window_end)
        );
        match &self.outcome {
            ActivityOutcome::Found(found) if found.counts.is_empty() => {
                format!("{who}: no changes.")
            }
            ActivityOutcome::Found(found) => {
                let errors = found.errors();
                let calls = plural(found.total(), "change call", "change calls");
                if errors == 0 {
                    format!("{who}: {calls}.")
                } else {
                    format!("{who}: {calls}, {}.", plural(errors, "error", "errors"))
                }
            }
            ActivityOutcome::Failed { error, attempts } => format!(
                "{who}: the activity summary could not be made after {}: {error}",
                plural(u64::from(*attempts), "attempt", "attempts")
            ),
        }
    }

    /// The whole summary as plain text: the headline, the counts and the first events, errors
    /// marked. Channels without rich formatting post this.
    pub fn text(&self) -> String {
        let mut text = self.headline();
        let ActivityOutcome::Found(found) = &self.outcome else {
            return text;
        };
        if found.counts.is_empty() {
            return text;
        }
        text.push_str("\n\nBy service and event:");
        for count in &found.counts {
            text.push_str(&format!(
                "\n- {} {}: {}",
                count.event_source, count.event_name, count.count
            ));
            if count.errors > 0 {
                text.push_str(&format!(" ({} failed)", count.errors));
            }
        }
        text.push_str(&format!(
            "\n\nFirst {}:",
            plural(found.events.len() as u64, "event", "events")
        ));
        for event in &found.events {
            text.push_str(&format!("\n- {}", event_line(event)));
        }
        text
    }
}

/// One event as a line: time, name, resource, source IP, and the error first when it failed.
pub fn event_line(event: &ActivityEvent) -> String {
    let mut line = String::new();
    if let Some(code) = &event.error_code {
        line.push_str(&format!("ERROR {code}: "));
    }
    line.push_str(&format!(
        "{} {} ({})",
        rfc3339(event.at),
        event.event_name,
        event.event_source
    ));
    if let Some(account) = &event.account_id {
        line.push_str(&format!(" in {account}"));
    }
    if let Some(resource) = &event.resource {
        line.push_str(&format!(" on {resource}"));
    }
    if let Some(ip) = &event.source_ip {
        line.push_str(&format!(" from {ip}"));
    }
    line
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

fn plural(count: u64, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(outcome: ActivityOutcome) -> ActivitySummary {
        ActivitySummary {
            id: uuid::Uuid::nil(),
            request_id: RequestId::generate(),
            grant_id: GrantId::generate(),
            requester_email: "jane@corp.com".to_owned(),
            user_name: "jane".to_owned(),
            scope: ActivityScope::Account {
                account_id: "111111111111".to_owned(),
                permission_set: "Admin".to_owned(),
            },
            window_start: OffsetDateTime::UNIX_EPOCH,
            window_end: OffsetDateTime::UNIX_EPOCH + time::Duration::hours(1),
            outcome,
        }
    }

    #[test]
    fn a_window_without_changes_says_so() {
        let text = summary(ActivityOutcome::Found(ActivityFound::default())).text();
        assert_eq!(
            text,
            "Activity of jane@corp.com (Admin in 111111111111) from 1970-01-01T00:00:00Z to \
             1970-01-01T01:00:00Z: no changes."
        );
    }

    #[test]
    fn changes_are_counted_and_errors_marked() {
        let found = ActivityFound {
            counts: vec![EventCount {
                event_source: "s3.amazonaws.com".to_owned(),
                event_name: "DeleteBucket".to_owned(),
                count: 2,
                errors: 1,
            }],
            events: vec![ActivityEvent {
                at: OffsetDateTime::UNIX_EPOCH,
                event_source: "s3.amazonaws.com".to_owned(),
                event_name: "DeleteBucket".to_owned(),
                resource: Some("arn:aws:s3:::logs".to_owned()),
                source_ip: Some("198.51.100.7".to_owned()),
                error_code: Some("AccessDenied".to_owned()),
                account_id: None,
            }],
        };
        let text = summary(ActivityOutcome::Found(found)).text();
        assert!(text.contains(": 2 change calls, 1 error."), "{text}");
        assert!(
            text.contains("- s3.amazonaws.com DeleteBucket: 2 (1 failed)"),
            "{text}"
        );
        assert!(
            text.contains(
                "- ERROR AccessDenied: 1970-01-01T00:00:00Z DeleteBucket (s3.amazonaws.com) on \
                 arn:aws:s3:::logs from 198.51.100.7"
            ),
            "{text}"
        );
    }
}
