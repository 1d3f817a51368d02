//! `liftgate audit query` (docs/reference.md §7): the auditor's read-only view of a sink's
//! records: filters, and who held access to an account or group during a window. Records are
//! read as JSON objects by field name, so records of older and newer versions both answer.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const NA: &str = "NA";

/// The filters; each one given must match.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Requester email, Slack id or Teams id.
    pub requester: Option<String>,
    /// Approver email, Slack id or Teams id, or one of the quorum approvers.
    pub approver: Option<String>,
    pub account: Option<String>,
    pub permission_set: Option<String>,
    /// Group id or name.
    pub group: Option<String>,
    pub event: Option<String>,
    pub channel: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    JsonLines,
    Csv,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0} is not a time (use RFC 3339, like 2026-11-22T10:00:00Z, or a date, 2026-11-22)")]
    BadTime(String),
    #[error("cannot write the answer: {0}")]
    Output(#[from] std::io::Error),
}

/// RFC 3339, or a date (its midnight, UTC).
///
/// # Errors
/// When it is neither.
pub fn parse_time(text: &str) -> Result<OffsetDateTime, QueryError> {
    let text = text.trim();
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format)
        .map(|date| date.midnight().assume_utc())
        .map_err(|_| QueryError::BadTime(text.to_owned()))
}

fn field<'a>(record: &'a Value, name: &str) -> &'a str {
    record.get(name).and_then(Value::as_str).unwrap_or(NA)
}

fn timestamp(record: &Value) -> i64 {
    record
        .get("timestamp")
        .and_then(Value::as_i64)
        .unwrap_or(i64::MIN)
}

fn millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

impl Filters {
    fn matches_target(&self, record: &Value) -> bool {
        self.account
            .as_deref()
            .is_none_or(|account| field(record, "account_id") == account)
            && self
                .permission_set
                .as_deref()
                .is_none_or(|name| same(field(record, "role_name"), name))
            && self.group.as_deref().is_none_or(|group| {
                field(record, "group_id") == group || same(field(record, "group_name"), group)
            })
    }

    fn matches_requester(&self, record: &Value) -> bool {
        self.requester.as_deref().is_none_or(|who| {
            [
                "requester_email",
                "requester_slack_id",
                "requester_teams_id",
            ]
            .iter()
            .any(|name| same(field(record, name), who))
        })
    }

    /// Whether `record` passes every filter.
    pub fn matches(&self, record: &Value) -> bool {
        let at = timestamp(record);
        self.matches_target(record)
            && self.matches_requester(record)
            && self.approver.as_deref().is_none_or(|who| {
                ["approver_email", "approver_slack_id", "approver_teams_id"]
                    .iter()
                    .any(|name| same(field(record, name), who))
                    || record
                        .get("approvers")
                        .and_then(Value::as_array)
                        .is_some_and(|all| {
                            all.iter().any(|a| a.as_str().is_some_and(|a| same(a, who)))
                        })
            })
            && self
                .event
                .as_deref()
                .is_none_or(|event| field(record, "event") == event)
            && self
                .channel
                .as_deref()
                .is_none_or(|channel| field(record, "channel") == channel)
            && self.since.is_none_or(|since| at >= millis(since))
            && self.until.is_none_or(|until| at < millis(until))
    }
}

/// The records that pass `filters`, oldest first (by time, then chain position).
pub fn select(records: Vec<Value>, filters: &Filters) -> Vec<Value> {
    let mut selected: Vec<Value> = records
        .into_iter()
        .filter(|record| filters.matches(record))
        .collect();
    selected.sort_by_key(|record| {
        (
            timestamp(record),
            record.get("seq").and_then(Value::as_u64).unwrap_or(0),
        )
    });
    selected
}

/// One span of held access, reconstructed from the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSpan {
    pub who: String,
    pub target: String,
    /// `grant` (through Liftgate) or `drift` (found in Identity Center, granted by nobody).
    pub kind: &'static str,
    pub from: i64,
    /// `None`: no end is recorded (still held, or held until the reconciler removes it).
    pub until: Option<i64>,
    pub approver: String,
    pub request: String,
}

fn target_of(record: &Value) -> String {
    match field(record, "audit_entry_type") {
        "group" => format!("group {}", field(record, "group_id")),
        _ => format!(
            "{} / {}",
            field(record, "account_id"),
            field(record, "role_name")
        ),
    }
}

/// Who held access matching the filters' target (account, permission set, group) and
/// requester at any moment of `[from, until)`: grants from `granted` to their revocation or
/// expiry (or, with no end recorded, to the end of their duration), and drift from its
/// detection to its removal.
pub fn active_between(
    records: &[Value],
    filters: &Filters,
    from: OffsetDateTime,
    until: OffsetDateTime,
) -> Vec<AccessSpan> {
    let mut ordered: Vec<&Value> = records
        .iter()
        .filter(|record| filters.matches_target(record) && filters.matches_requester(record))
        .collect();
    ordered.sort_by_key(|record| timestamp(record));
    // A grant is followed by its request id; drift by the principal and target.
    let mut open: BTreeMap<String, AccessSpan> = BTreeMap::new();
    let mut spans = Vec::new();
    for record in ordered {
        let at = timestamp(record);
        let drift = field(record, "channel") == "reconciler";
        let key = if drift {
            format!(
                "drift:{}:{}",
                field(record, "sso_user_principal_id"),
                target_of(record)
            )
        } else {
            format!("grant:{}", field(record, "liftgate_request_id"))
        };
        let duration_ms = field(record, "permission_duration")
            .parse::<i64>()
            .ok()
            .map(|seconds| seconds.saturating_mul(1000));
        match field(record, "event") {
            "granted" | "drift_detected" => {
                open.entry(key).or_insert_with(|| AccessSpan {
                    who: field(record, "requester_email").to_owned(),
                    target: target_of(record),
                    kind: if drift { "drift" } else { "grant" },
                    from: at,
                    until: duration_ms.filter(|_| !drift).map(|d| at.saturating_add(d)),
                    approver: field(record, "approver_email").to_owned(),
                    request: field(record, "liftgate_request_id").to_owned(),
                });
            }
            // The duration of an extended grant counts from its start.
            "extended" => {
                if let (Some(span), Some(duration)) = (open.get_mut(&key), duration_ms) {
                    span.until = Some(span.from.saturating_add(duration));
                }
            }
            "revoked" | "expired" | "failed" | "cancelled" => {
                if let Some(mut span) = open.remove(&key) {
                    span.until = Some(span.until.map_or(at, |end| end.min(at)));
                    spans.push(span);
                }
            }
            _ => {}
        }
    }
    spans.extend(open.into_values());
    let (from, until) = (millis(from), millis(until));
    spans.retain(|span| span.from < until && span.until.is_none_or(|end| end > from));
    spans.sort_by(|a, b| a.from.cmp(&b.from).then_with(|| a.who.cmp(&b.who)));
    spans
}

fn time_text(millis: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_else(|| millis.to_string())
}

const RECORD_COLUMNS: [&str; 10] = [
    "time",
    "event",
    "channel",
    "requester",
    "approver",
    "account",
    "permission_set",
    "group",
    "request",
    "reason",
];

fn record_row(record: &Value) -> Vec<String> {
    vec![
        time_text(timestamp(record)),
        field(record, "event").to_owned(),
        field(record, "channel").to_owned(),
        field(record, "requester_email").to_owned(),
        field(record, "approver_email").to_owned(),
        field(record, "account_id").to_owned(),
        field(record, "role_name").to_owned(),
        field(record, "group_name").to_owned(),
        field(record, "liftgate_request_id").to_owned(),
        field(record, "reason").to_owned(),
    ]
}

const SPAN_COLUMNS: [&str; 7] = [
    "who", "target", "kind", "from", "until", "approver", "request",
];

fn span_row(span: &AccessSpan) -> Vec<String> {
    vec![
        span.who.clone(),
        span.target.clone(),
        span.kind.to_owned(),
        time_text(span.from),
        span.until
            .map_or_else(|| "(no end recorded)".to_owned(), time_text),
        span.approver.clone(),
        span.request.clone(),
    ]
}

/// RFC 4180 quoting of one field. Hand-written: this is the whole of the CSV writing needed,
/// smaller than a dependency.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// A table with a column per heading; control characters are shown escaped so a record cannot
/// move the terminal's cursor.
fn write_rows(
    out: &mut dyn Write,
    format: OutputFormat,
    headings: &[&str],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    match format {
        OutputFormat::Csv => {
            writeln!(out, "{}", headings.join(","))?;
            for row in rows {
                let fields: Vec<String> = row.iter().map(|text| csv_field(text)).collect();
                writeln!(out, "{}", fields.join(","))?;
            }
        }
        OutputFormat::Table | OutputFormat::JsonLines => {
            let clean = |text: &str| text.escape_default().to_string();
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|row| row.iter().map(|text| clean(text)).collect())
                .collect();
            let mut widths: Vec<usize> = headings.iter().map(|h| h.chars().count()).collect();
            for row in &rows {
                for (width, text) in widths.iter_mut().zip(row) {
                    *width = (*width).max(text.chars().count());
                }
            }
            let line = |cells: Vec<&str>| {
                cells
                    .iter()
                    .zip(&widths)
                    .map(|(text, width)| format!("{text:<width$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_owned()
            };
            writeln!(out, "{}", line(headings.to_vec()))?;
            for row in &rows {
                writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
            }
        }
    }
    Ok(())
}

/// Prints records: JSON lines are the records as stored; table and CSV show the main columns.
///
/// # Errors
/// When `out` fails.
pub fn write_records(
    out: &mut dyn Write,
    format: OutputFormat,
    records: &[Value],
) -> Result<(), QueryError> {
    if format == OutputFormat::JsonLines {
        for record in records {
            serde_json::to_writer(&mut *out, record).map_err(std::io::Error::other)?;
            writeln!(out)?;
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = records.iter().map(record_row).collect();
    Ok(write_rows(out, format, &RECORD_COLUMNS, &rows)?)
}

/// Prints spans of held access.
///
/// # Errors
/// When `out` fails.
pub fn write_spans(
    out: &mut dyn Write,
    format: OutputFormat,
    spans: &[AccessSpan],
) -> Result<(), QueryError> {
    if format == OutputFormat::JsonLines {
        for span in spans {
            let row = serde_json::json!({
                "who": span.who,
                "target": span.target,
                "kind": span.kind,
                "from": time_text(span.from),
                "until": span.until.map(time_text),
                "approver": span.approver,
                "request": span.request,
            });
            writeln!(out, "{row}")?;
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = spans.iter().map(span_row).collect();
    Ok(write_rows(out, format, &SPAN_COLUMNS, &rows)?)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(event: &str, channel: &str, at_ms: i64, request: &str) -> Value {
        json!({"event": event, "channel": channel, "timestamp": at_ms,
               "liftgate_request_id": request, "requester_email": "dev@example.com",
               "approver_email": "lead@example.com", "account_id": "111111111111",
               "role_name": "Admin", "audit_entry_type": "account",
               "permission_duration": "3600", "sso_user_principal_id": "u-1",
               "approvers": ["lead@example.com"]})
    }

    fn at(ms: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap()
    }

    #[test]
    fn access_spans_end_at_revocation_or_duration_and_include_drift() {
        let hour = 3_600_000;
        let mut extended = record("extended", "webhook", 10 * hour, "b");
        extended["permission_duration"] = json!("7200");
        let mut drift = record("drift_detected", "reconciler", 20 * hour, "NA");
        drift["requester_email"] = json!("intruder@example.com");
        let records = vec![
            record("granted", "webhook", 0, "a"),
            record("revoked", "webhook", hour / 2, "a"),
            record("granted", "webhook", 9 * hour, "b"),
            extended,
            drift,
        ];
        let filters = Filters {
            account: Some("111111111111".to_owned()),
            ..Filters::default()
        };
        // Grant a ended early; grant b, extended to two hours, covers 10:30.
        let spans = active_between(&records, &filters, at(10 * hour + hour / 2), at(11 * hour));
        assert_eq!(spans.len(), 1);
        assert_eq!(
            (spans[0].request.as_str(), spans[0].until),
            ("b", Some(11 * hour))
        );
        let spans = active_between(&records, &filters, at(0), at(hour / 4));
        assert_eq!(spans[0].until, Some(hour / 2));
        // Drift has no recorded end: held from its detection on.
        let spans = active_between(&records, &filters, at(30 * hour), at(31 * hour));
        assert_eq!((spans.len(), spans[0].kind), (1, "drift"));
        let other = Filters {
            account: Some("222222222222".to_owned()),
            ..Filters::default()
        };
        assert!(active_between(&records, &other, at(0), at(40 * hour)).is_empty());
    }

    #[test]
    fn filters_match_people_by_any_of_their_ids_and_csv_quotes() {
        let mut granted = record("granted", "slack", 5, "a");
        granted["approver_slack_id"] = json!("U123");
        let filters = Filters {
            approver: Some("u123".to_owned()),
            event: Some("granted".to_owned()),
            since: Some(at(5)),
            until: Some(at(6)),
            ..Filters::default()
        };
        assert!(filters.matches(&granted));
        assert!(
            !Filters {
                until: Some(at(5)),
                ..filters.clone()
            }
            .matches(&granted)
        );
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
        assert!(parse_time("2026-11-22").is_ok());
        assert!(parse_time("yesterday").is_err());
    }
}
