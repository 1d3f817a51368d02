//! `audit.activity_summary` (docs/reference.md §2): the post-access activity summary.

use liftgate_policy::Duration;
use serde::{Deserialize, Deserializer};

use super::lenient;

/// Most events a summary may list; the counts always cover every event.
pub const MAX_SUMMARY_EVENTS: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActivitySummarySettings {
    /// Unset: on exactly when `log_group` is set.
    #[serde(deserialize_with = "some_bool")]
    pub enabled: Option<bool>,
    /// The organization trail's CloudWatch Logs group (name or ARN).
    pub log_group: Option<String>,
    /// How long after the end the query runs. Unset: the permission set's `SessionDuration`
    /// (a role session outlives its assignment by up to that), 1h when unknown.
    #[serde(deserialize_with = "some_duration")]
    pub delay: Option<Duration>,
    /// How many events a summary lists, oldest first.
    #[serde(deserialize_with = "lenient::u32")]
    pub events: u32,
    /// Longest wait for one Logs Insights query before it is retried later.
    #[serde(deserialize_with = "lenient::duration")]
    pub query_timeout: Duration,
}

impl Default for ActivitySummarySettings {
    fn default() -> Self {
        ActivitySummarySettings {
            enabled: None,
            log_group: None,
            delay: None,
            events: 20,
            query_timeout: Duration::from_mins(2),
        }
    }
}

impl ActivitySummarySettings {
    /// Whether summaries are made (and so scheduled when a grant ends).
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(self.log_group.is_some())
    }
}

fn some_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    lenient::bool(deserializer).map(Some)
}

fn some_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    lenient::duration(deserializer).map(Some)
}

/// Checks `audit.activity_summary`; problems go to `errors` with their path.
pub(super) fn check(
    settings: &ActivitySummarySettings,
    errors: &mut Vec<liftgate_policy::Problem>,
) {
    let mut push = |key: &str, message: &str| {
        errors.push(liftgate_policy::Problem {
            path: format!("audit.activity_summary.{key}"),
            message: message.to_owned(),
        });
    };
    match settings.log_group.as_deref() {
        Some(group) if group.trim().is_empty() || group.chars().any(char::is_whitespace) => {
            push(
                "log_group",
                "must name a CloudWatch Logs group (name or ARN)",
            );
        }
        None if settings.enabled == Some(true) => push(
            "log_group",
            "activity summaries need the organization trail's CloudWatch Logs group",
        ),
        _ => {}
    }
    if settings.events == 0 || settings.events > MAX_SUMMARY_EVENTS {
        push("events", "must be between 1 and 100");
    }
    if settings.query_timeout.to_std() > std::time::Duration::from_secs(15 * 60) {
        push(
            "query_timeout",
            "must be at most 15m: a longer query is retried later instead",
        );
    }
}
