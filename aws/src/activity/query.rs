//! The two Logs Insights queries of a summary and the parsing of their rows. Pure, so the
//! exact query text and every parsing rule is tested without AWS.

use liftgate_gateway::domain::{ActivityEvent, EventCount};
use liftgate_gateway::ports::{ActivityError, ActivityQuery};
use time::OffsetDateTime;
use time::macros::format_description;

/// Names go into a regular expression literal: only IAM's own character set for role and
/// session names (`[\w+=,.@-]`) is admitted, and `.` and `+` are escaped, so nothing in a
/// name can change the query.
fn regex_literal(name: &str, what: &str) -> Result<String, ActivityError> {
    if name.is_empty() {
        return Err(ActivityError::Invalid(format!("the {what} is empty")));
    }
    let mut escaped = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '=' | ',' | '@' | '-' => escaped.push(c),
            '.' | '+' => {
                escaped.push('\\');
                escaped.push(c);
            }
            _ => {
                return Err(ActivityError::Invalid(format!(
                    "the {what} {name:?} has a character IAM does not allow in role session names"
                )));
            }
        }
    }
    Ok(escaped)
}

/// The `userIdentity.arn` of the user's Identity Center role sessions:
/// `arn:aws:sts::<account>:assumed-role/AWSReservedSSO_<permission set>_<suffix>/<user name>`
/// (any partition; any account or permission set where the query leaves them open).
pub(crate) fn session_arn_pattern(query: &ActivityQuery) -> Result<String, ActivityError> {
    let account = match &query.account_id {
        Some(account) if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) => {
            account.clone()
        }
        Some(account) => {
            return Err(ActivityError::Invalid(format!(
                "{account:?} is not an AWS account id"
            )));
        }
        None => "[0-9]{12}".to_owned(),
    };
    let role = match &query.permission_set {
        Some(name) => format!(
            "AWSReservedSSO_{}_[0-9a-f]+",
            regex_literal(name, "permission set name")?
        ),
        None => "AWSReservedSSO_[^\\/]+".to_owned(),
    };
    let user = regex_literal(&query.user_name, "user name")?;
    Ok(format!(
        "/^arn:aws[a-z-]*:sts::{account}:assumed-role\\/{role}\\/{user}$/"
    ))
}

/// The filter both queries share: the user's sessions, non-read-only events. CloudTrail writes
/// `readOnly` as a JSON boolean, which Logs Insights compares as 0/1; the string form covers
/// trails delivered through other pipelines.
fn filter(query: &ActivityQuery) -> Result<String, ActivityError> {
    Ok(format!(
        "filter userIdentity.arn like {}\n| filter readOnly = 0 or readOnly = \"false\"",
        session_arn_pattern(query)?
    ))
}

/// Every matching event counted by service and event name, with how many failed.
pub(crate) fn counts_query(query: &ActivityQuery) -> Result<String, ActivityError> {
    Ok(format!(
        "fields eventSource, eventName, errorCode\n| {}\n| stats count(*) as calls, count(errorCode) as errors by eventSource, eventName\n| sort calls desc",
        filter(query)?
    ))
}

/// The first `event_limit` matching events, oldest first.
pub(crate) fn events_query(query: &ActivityQuery) -> Result<String, ActivityError> {
    Ok(format!(
        "fields @timestamp, eventSource, eventName, `resources.0.ARN` as resource, sourceIPAddress, errorCode, recipientAccountId\n| {}\n| sort @timestamp asc\n| limit {}",
        filter(query)?,
        query.event_limit.max(1)
    ))
}

/// One result row as `field → value` (Logs Insights leaves out fields a record lacks).
pub(crate) type Row = Vec<(String, String)>;

fn field<'a>(row: &'a Row, name: &str) -> Option<&'a str> {
    row.iter()
        .find(|(field, _)| field == name)
        .map(|(_, value)| value.as_str())
        .filter(|value| !value.is_empty())
}

fn number(row: &Row, name: &str) -> Result<u64, ActivityError> {
    let text = field(row, name).unwrap_or("0");
    text.parse::<u64>()
        .or_else(|_| text.parse::<f64>().map(|value| value as u64))
        .map_err(|_| ActivityError::Failed(format!("Logs Insights answered {name} = {text:?}")))
}

/// Logs Insights writes `@timestamp` as `2026-01-02 03:04:05.678` (UTC).
fn timestamp(text: &str) -> Result<OffsetDateTime, ActivityError> {
    let format = format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    time::PrimitiveDateTime::parse(text, &format)
        .map(time::PrimitiveDateTime::assume_utc)
        .map_err(|error| ActivityError::Failed(format!("unreadable @timestamp {text:?}: {error}")))
}

pub(crate) fn parse_counts(rows: &[Row]) -> Result<Vec<EventCount>, ActivityError> {
    let mut counts = rows
        .iter()
        .map(|row| {
            Ok(EventCount {
                event_source: field(row, "eventSource").unwrap_or("unknown").to_owned(),
                event_name: field(row, "eventName").unwrap_or("unknown").to_owned(),
                count: number(row, "calls")?,
                errors: number(row, "errors")?,
            })
        })
        .collect::<Result<Vec<_>, ActivityError>>()?;
    counts.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.event_source.cmp(&b.event_source))
            .then_with(|| a.event_name.cmp(&b.event_name))
    });
    Ok(counts)
}

pub(crate) fn parse_events(rows: &[Row]) -> Result<Vec<ActivityEvent>, ActivityError> {
    rows.iter()
        .map(|row| {
            let at = field(row, "@timestamp").ok_or_else(|| {
                ActivityError::Failed("a result row has no @timestamp".to_owned())
            })?;
            Ok(ActivityEvent {
                at: timestamp(at)?,
                event_source: field(row, "eventSource").unwrap_or("unknown").to_owned(),
                event_name: field(row, "eventName").unwrap_or("unknown").to_owned(),
                resource: field(row, "resource").map(str::to_owned),
                source_ip: field(row, "sourceIPAddress").map(str::to_owned),
                error_code: field(row, "errorCode").map(str::to_owned),
                account_id: field(row, "recipientAccountId").map(str::to_owned),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(account: Option<&str>, permission_set: Option<&str>, user: &str) -> ActivityQuery {
        ActivityQuery {
            log_group: "org-trail".to_owned(),
            start: OffsetDateTime::UNIX_EPOCH,
            end: OffsetDateTime::UNIX_EPOCH,
            account_id: account.map(str::to_owned),
            permission_set: permission_set.map(str::to_owned),
            user_name: user.to_owned(),
            event_limit: 20,
        }
    }

    #[test]
    fn the_pattern_names_the_permission_sets_role_in_the_account_and_the_user() {
        let pattern = session_arn_pattern(&query(
            Some("111111111111"),
            Some("Admin"),
            "jane.doe+ops@corp.com",
        ))
        .unwrap();
        assert_eq!(
            pattern,
            r"/^arn:aws[a-z-]*:sts::111111111111:assumed-role\/AWSReservedSSO_Admin_[0-9a-f]+\/jane\.doe\+ops@corp\.com$/"
        );
        let regex =
            regex::Regex::new(pattern.trim_matches('/').replace("\\/", "/").as_str()).unwrap();
        assert!(regex.is_match("arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Admin_0123abcd4567ef89/jane.doe+ops@corp.com"));
        assert!(!regex.is_match("arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_AdminX_0123abcd4567ef89/jane.doe+ops@corp.com"));
        assert!(!regex.is_match("arn:aws:sts::222222222222:assumed-role/AWSReservedSSO_Admin_0123abcd4567ef89/jane.doe+ops@corp.com"));
        assert!(!regex.is_match("arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Admin_0123abcd4567ef89/janeXdoe+ops@corp.com"));
    }

    #[test]
    fn a_group_grant_matches_any_account_and_permission_set() {
        let pattern = session_arn_pattern(&query(None, None, "jane")).unwrap();
        let regex =
            regex::Regex::new(pattern.trim_matches('/').replace("\\/", "/").as_str()).unwrap();
        assert!(
            regex.is_match("arn:aws:sts::333333333333:assumed-role/AWSReservedSSO_Ops_ab12/jane")
        );
        assert!(!regex.is_match("arn:aws:sts::333333333333:assumed-role/SomeOtherRole/jane"));
    }

    #[test]
    fn names_that_could_change_the_query_are_refused() {
        for user in ["jane/ or 1=1", "jane$", "ja ne", "jane\"", ""] {
            assert!(
                matches!(
                    session_arn_pattern(&query(None, None, user)),
                    Err(ActivityError::Invalid(_))
                ),
                "{user:?}"
            );
        }
        assert!(session_arn_pattern(&query(Some("1111"), None, "jane")).is_err());
    }

    #[test]
    fn both_queries_filter_on_the_session_and_non_read_only_events() {
        let q = query(Some("111111111111"), Some("Admin"), "jane");
        let counts = counts_query(&q).unwrap();
        assert!(
            counts.contains("| filter readOnly = 0 or readOnly = \"false\""),
            "{counts}"
        );
        assert!(counts.contains(
            "stats count(*) as calls, count(errorCode) as errors by eventSource, eventName"
        ));
        let events = events_query(&q).unwrap();
        assert!(
            events.contains("filter userIdentity.arn like /^arn:aws"),
            "{events}"
        );
        assert!(
            events.ends_with("| sort @timestamp asc\n| limit 20"),
            "{events}"
        );
    }
}
