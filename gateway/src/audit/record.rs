use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::domain::{
    AccessRequest, Channel, Grant, GrantTarget, Person, RequestEvent, RequestTarget, VerifiedCaller,
};

pub const AUDIT_RECORD_VERSION: u32 = 1;

const NA: &str = "NA";

/// One audit event: its id (the object name) and its JSON body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: uuid::Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub fields: AuditFields,
}

/// The JSON object written per event. The first block of fields is terraform-aws-sso-elevator's
/// record, with the same names, types and "NA" placeholders, so its Athena table reads ours;
/// the second block is Liftgate's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFields {
    pub reason: String,
    pub operation_type: String,
    /// Seconds, as a string (upstream's type), or "NA".
    pub permission_duration: String,
    pub sso_user_principal_id: String,
    pub audit_entry_type: String,
    pub role_name: String,
    pub account_id: String,
    pub requester_slack_id: String,
    pub requester_email: String,
    pub request_id: String,
    pub approver_slack_id: String,
    pub approver_email: String,
    pub group_name: String,
    pub group_id: String,
    pub group_membership_id: String,
    pub secondary_domain_was_used: bool,
    /// `2026-11-22 04:13:41.218367+00:00`, Python's `str(datetime)` as upstream writes it.
    pub time: String,
    /// Epoch milliseconds.
    pub timestamp: i64,

    pub version: u32,
    pub event: RequestEvent,
    pub liftgate_request_id: String,
    pub channel: Channel,
    /// Every approver whose approval counted, for quorum approvals.
    pub approvers: Vec<String>,
    pub requester_teams_id: String,
    pub approver_teams_id: String,
    /// Where the request came from: `slack`, `teams`, `webhook:<client id>`, or the
    /// component for records without a request (`reconciler`).
    #[serde(default = "na")]
    pub request_source: String,
    /// The identity the platform verified for whoever caused this event (the requester for
    /// `requested`, the approver for a decision); absent for timers and the reconciler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_caller: Option<VerifiedCaller>,

    /// The hash chain (docs/reference.md §7), set by the state store when the record is
    /// committed: its position in the chain, the previous record's hash, and its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// The record's id, which names its object: binds the content to where it is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    /// Event `activity_summary` only: what the user changed during the grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_summary: Option<crate::domain::ActivitySummary>,
    /// Events `sessions_revoked` and `sessions_revocation_refused` only: which sessions, until
    /// when, where the permission set was provisioned again, or why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_sessions: Option<crate::workflow::SessionsRevocation>,
    /// Every record of a request that asked to break the glass (docs/reference.md §7).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub break_glass: bool,
    /// Event `break_glass_reviewed` only: what the reviewer (`approver_email`) said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_outcome: Option<crate::domain::ReviewOutcome>,
}

fn na() -> String {
    NA.to_owned()
}

/// Where a record lives under a sink's root: `YYYY/MM/DD/UUID.json` (UTC date of the event).
pub fn object_key(record: &AuditRecord) -> String {
    let date = record.at.to_offset(time::UtcOffset::UTC).date();
    format!(
        "{:04}/{:02}/{:02}/{}.json",
        date.year(),
        u8::from(date.month()),
        date.day(),
        record.id
    )
}

fn python_time(at: OffsetDateTime) -> String {
    let format = format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:6]+00:00"
    );
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_else(|_| at.to_string())
}

fn operation_type(event: RequestEvent) -> &'static str {
    match event {
        RequestEvent::Requested => "request",
        RequestEvent::Approved => "approve",
        RequestEvent::Denied => "deny",
        RequestEvent::Granted => "grant",
        RequestEvent::Revoked => "revoke",
        RequestEvent::Expired => "expire",
        RequestEvent::Cancelled => "cancel",
        RequestEvent::Failed => "fail",
        // Upstream's name for access found outside its control.
        RequestEvent::DriftDetected => "manual_detected",
        RequestEvent::Extended => "extend",
        RequestEvent::ActivitySummary => "activity_summary",
        RequestEvent::SessionsRevoked => "sessions_revoked",
        RequestEvent::SessionsRevocationRefused => "sessions_revocation_refused",
        RequestEvent::BreakGlassUsed => "break_glass_used",
        RequestEvent::BreakGlassReviewed => "break_glass_reviewed",
        RequestEvent::BreakGlassReviewOverdue => "break_glass_review_overdue",
    }
}

/// The requester's verified caller says where the request came from; requests stored before
/// callers were recorded fall back to their channel.
fn request_source(request: &AccessRequest) -> String {
    match &request.requester.caller {
        Some(caller) => caller.source(),
        None => request.channel.as_str().to_owned(),
    }
}

fn or_na(value: Option<&str>) -> String {
    value.unwrap_or(NA).to_owned()
}

impl AuditRecord {
    /// The record of `event` on `request`. `actor` is who caused it (an approver, the requester,
    /// or nobody for timers); `reason` overrides the request's own reason (revocations use
    /// upstream's fixed reasons).
    pub fn for_request(
        at: OffsetDateTime,
        event: RequestEvent,
        channel: Channel,
        request: &AccessRequest,
        grant: Option<&Grant>,
        actor: Option<&Person>,
        reason: Option<&str>,
    ) -> AuditRecord {
        let (role_name, account_id, group_id, group_name) = match &request.target {
            RequestTarget::Account {
                account_id,
                permission_set,
                ..
            } => (
                permission_set.clone(),
                account_id.clone(),
                NA.to_owned(),
                NA.to_owned(),
            ),
            RequestTarget::Group {
                group_id,
                group_name,
            } => (
                NA.to_owned(),
                NA.to_owned(),
                group_id.clone(),
                or_na(group_name.as_deref()),
            ),
        };
        let membership_id = grant.and_then(|grant| match &grant.target {
            GrantTarget::Group { membership_id, .. } => membership_id.as_deref(),
            GrantTarget::Account { .. } => None,
        });
        // Upstream records the requester as approver of an automatic grant.
        let approver = actor.or(match event {
            RequestEvent::Granted if request.approvals.is_empty() => Some(&request.requester),
            RequestEvent::Granted => request.approvals.last().map(|approval| &approval.approver),
            _ => None,
        });
        let fields = AuditFields {
            reason: reason.map_or_else(|| request.reason.clone(), str::to_owned),
            operation_type: operation_type(event).to_owned(),
            permission_duration: match event {
                RequestEvent::Revoked
                | RequestEvent::DriftDetected
                | RequestEvent::ActivitySummary
                | RequestEvent::SessionsRevoked
                | RequestEvent::SessionsRevocationRefused
                | RequestEvent::BreakGlassReviewed
                | RequestEvent::BreakGlassReviewOverdue => NA.to_owned(),
                _ => request.duration.as_secs().to_string(),
            },
            sso_user_principal_id: request.principal_id.clone(),
            audit_entry_type: match request.target {
                RequestTarget::Account { .. } => "account",
                RequestTarget::Group { .. } => "group",
            }
            .to_owned(),
            role_name,
            account_id,
            requester_slack_id: or_na(request.requester.slack_id.as_deref()),
            requester_email: request.requester.email.to_string(),
            request_id: or_na(grant.and_then(|grant| grant.sso_request_id.as_deref())),
            approver_slack_id: or_na(approver.and_then(|person| person.slack_id.as_deref())),
            approver_email: approver
                .map_or_else(|| NA.to_owned(), |person| person.email.to_string()),
            group_name,
            group_id,
            group_membership_id: or_na(membership_id),
            secondary_domain_was_used: request.secondary_domain_used,
            time: python_time(at),
            timestamp: (at.unix_timestamp_nanos() / 1_000_000) as i64,
            version: AUDIT_RECORD_VERSION,
            event,
            liftgate_request_id: request.id.to_string(),
            channel,
            approvers: request
                .approvals
                .iter()
                .map(|a| a.approver.email.to_string())
                .collect(),
            requester_teams_id: or_na(request.requester.teams_id.as_deref()),
            approver_teams_id: or_na(approver.and_then(|person| person.teams_id.as_deref())),
            request_source: request_source(request),
            verified_caller: match (actor, event) {
                (Some(actor), _) => actor.caller.clone(),
                (None, RequestEvent::Requested) => request.requester.caller.clone(),
                (None, _) => None,
            },
            seq: None,
            prev_hash: None,
            hash: None,
            record_id: None,
            activity_summary: None,
            revoked_sessions: None,
            break_glass: request.break_glass_requested,
            review_outcome: match event {
                RequestEvent::BreakGlassReviewed => request
                    .break_glass
                    .as_ref()
                    .and_then(|review| review.reviewed.as_ref())
                    .map(|review| review.outcome),
                _ => None,
            },
        };
        AuditRecord {
            id: uuid::Uuid::new_v4(),
            at,
            fields,
        }
    }

    /// A record for access found in Identity Center that no grant explains (drift), and for its
    /// removal by the reconciler. No request exists, so request fields are "NA".
    pub fn for_drift(
        at: OffsetDateTime,
        event: RequestEvent,
        principal_id: &str,
        principal_email: Option<&str>,
        target: &GrantTarget,
        reason: &str,
        sso_request_id: Option<&str>,
    ) -> AuditRecord {
        let (entry_type, role_name, account_id, group_id, group_name, membership_id) = match target
        {
            GrantTarget::Account {
                account_id,
                permission_set,
                ..
            } => (
                "account",
                permission_set.clone(),
                account_id.clone(),
                NA.to_owned(),
                NA.to_owned(),
                NA.to_owned(),
            ),
            GrantTarget::Group {
                group_id,
                group_name,
                membership_id,
            } => (
                "group",
                NA.to_owned(),
                NA.to_owned(),
                group_id.clone(),
                or_na(group_name.as_deref()),
                or_na(membership_id.as_deref()),
            ),
        };
        let fields = AuditFields {
            reason: reason.to_owned(),
            operation_type: match event {
                RequestEvent::Revoked => "revoke",
                _ => operation_type(event),
            }
            .to_owned(),
            permission_duration: NA.to_owned(),
            sso_user_principal_id: principal_id.to_owned(),
            audit_entry_type: entry_type.to_owned(),
            role_name,
            account_id,
            requester_slack_id: NA.to_owned(),
            requester_email: or_na(principal_email),
            request_id: or_na(sso_request_id),
            approver_slack_id: NA.to_owned(),
            approver_email: NA.to_owned(),
            group_name,
            group_id,
            group_membership_id: membership_id,
            secondary_domain_was_used: false,
            time: python_time(at),
            timestamp: (at.unix_timestamp_nanos() / 1_000_000) as i64,
            version: AUDIT_RECORD_VERSION,
            event,
            liftgate_request_id: NA.to_owned(),
            channel: Channel::Reconciler,
            approvers: Vec::new(),
            requester_teams_id: NA.to_owned(),
            approver_teams_id: NA.to_owned(),
            request_source: Channel::Reconciler.as_str().to_owned(),
            verified_caller: None,
            seq: None,
            prev_hash: None,
            hash: None,
            record_id: None,
            activity_summary: None,
            revoked_sessions: None,
            break_glass: false,
            review_outcome: None,
        };
        AuditRecord {
            id: uuid::Uuid::new_v4(),
            at,
            fields,
        }
    }
}
