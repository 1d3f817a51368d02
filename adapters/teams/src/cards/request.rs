//! Cards that show a request: the approval card in the approvals conversation and the
//! requester's status card in their personal chat. Both render the request's current state,
//! so rendering twice shows the same truth twice; buttons appear only while they can work.

use liftgate_gateway::conversation::{Control, Reader, RequestView};
use liftgate_gateway::domain::{
    AccessRequest, BreakGlassReview, Grant, GrantStatus, RequestStatus, RequestTarget,
    ReviewOutcome,
};
use liftgate_policy::Decision;
use serde_json::{Value, json};

use super::{card, error_text, execute, facts, format_time, text, title, verb};
use crate::cards::field;

/// A line above the card for the person who clicked: what happened, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Note {
    Info(String),
    Error(String),
}

fn note_block(note: &Note) -> Value {
    match note {
        Note::Info(message) => {
            json!({ "type": "TextBlock", "text": super::plain(message), "color": "Good", "weight": "Bolder", "wrap": true })
        }
        Note::Error(message) => error_text(message),
    }
}

fn target_facts(target: &RequestTarget) -> Vec<(&'static str, String)> {
    match target {
        RequestTarget::Account {
            account_id,
            account_name,
            permission_set,
        } => vec![
            (
                "Account",
                match account_name {
                    Some(name) => format!("{name} ({account_id})"),
                    None => account_id.clone(),
                },
            ),
            ("Permission set", permission_set.clone()),
        ],
        RequestTarget::Group {
            group_id,
            group_name,
        } => vec![(
            "Group",
            match group_name {
                Some(name) => format!("{name} ({group_id})"),
                None => group_id.clone(),
            },
        )],
    }
}

fn join_emails<'a>(emails: impl Iterator<Item = &'a str>) -> String {
    let list: Vec<&str> = emails.collect();
    if list.is_empty() {
        "nobody".to_owned()
    } else {
        list.join(", ")
    }
}

fn approved_by(request: &AccessRequest) -> String {
    match request.decision {
        Decision::ApprovalNotRequired => "without approval (none required)".to_owned(),
        Decision::SelfApproval => "by self-approval".to_owned(),
        Decision::BreakGlass => "at once without approval (break glass)".to_owned(),
        _ => format!(
            "by {}",
            join_emails(request.approvals.iter().map(|a| a.approver.email.as_str()))
        ),
    }
}

/// "Denied by bob@corp.com." from the reason "denied by bob@corp.com", or "Failed: why." for
/// a reason that does not start with the outcome.
fn outcome(word: &str, reason: &str) -> String {
    let reason = reason.trim().trim_end_matches('.');
    let sentence = match reason.get(..word.len()) {
        Some(start) if start.eq_ignore_ascii_case(word) => {
            format!("{word}{}", &reason[word.len()..])
        }
        _ => format!("{word}: {reason}"),
    };
    format!("{sentence}.")
}

/// One sentence saying where the request stands.
fn status_line(request: &AccessRequest, grant: Option<&Grant>) -> String {
    let reason = request
        .status_reason
        .as_deref()
        .unwrap_or("no reason recorded");
    match request.status() {
        RequestStatus::Pending if request.required_approvals > 1 => format!(
            "Waiting for approval: {} of {} approvals so far.",
            request.approvals.len(),
            request.required_approvals
        ),
        RequestStatus::Pending => "Waiting for approval.".to_owned(),
        RequestStatus::Approved => match grant {
            Some(grant) if grant.status() == GrantStatus::Scheduled => {
                format!(
                    "Approved {}. Access starts at {}.",
                    approved_by(request),
                    format_time(grant.starts_at)
                )
            }
            _ => format!("Approved {}. Granting access…", approved_by(request)),
        },
        RequestStatus::Active if request.is_ending() => {
            "Ending: the access is being removed; this card updates when it is gone.".to_owned()
        }
        RequestStatus::Active => {
            let until = request.ends_at.or(grant.map(|grant| grant.ends_at));
            match until {
                Some(until) => format!(
                    "Granted {}. Access until {}.",
                    approved_by(request),
                    format_time(until)
                ),
                None => format!("Granted {}.", approved_by(request)),
            }
        }
        RequestStatus::Ended => {
            let end = grant.and_then(|grant| grant.end.as_ref());
            let at = grant
                .and_then(|grant| grant.revoked_at)
                .or(request.ends_at)
                .map(format_time);
            match (end, at) {
                (Some(end), _) if end.abandoned => "Ended before the access began.".to_owned(),
                (Some(end), Some(at)) if end.actor.is_some() => format!(
                    "Ended early by {} at {at}.",
                    end.actor
                        .as_ref()
                        .map(|actor| actor.email.as_str())
                        .unwrap_or_default()
                ),
                (_, Some(at)) => format!("Ended at {at}."),
                _ => "Ended.".to_owned(),
            }
        }
        RequestStatus::Denied => outcome("Denied", reason),
        RequestStatus::Expired => "Expired: nobody approved it in time.".to_owned(),
        RequestStatus::Cancelled => outcome("Cancelled", reason),
        RequestStatus::Failed => outcome("Failed", reason),
    }
}

fn status_block(request: &AccessRequest, grant: Option<&Grant>) -> Value {
    let color = match request.status() {
        RequestStatus::Active | RequestStatus::Approved => "Good",
        RequestStatus::Denied | RequestStatus::Failed | RequestStatus::Expired => "Attention",
        RequestStatus::Pending => "Accent",
        RequestStatus::Ended | RequestStatus::Cancelled => "Default",
    };
    json!({
        "type": "TextBlock",
        "id": "status",
        "text": super::plain(&status_line(request, grant)),
        "weight": "Bolder",
        "color": color,
        "wrap": true,
    })
}

fn request_facts(request: &AccessRequest, with_requester: bool) -> Vec<(&'static str, String)> {
    let mut list = Vec::new();
    if with_requester {
        list.push(("Requester", request.requester.email.to_string()));
    }
    list.extend(target_facts(&request.target));
    list.push(("Duration", request.duration.to_string()));
    list.push(("Reason", request.reason.clone()));
    if let Some(start) = request.start_at {
        list.push(("Start", format_time(start)));
    }
    list
}

/// The notification text of a request's message: "requester@corp.com asks for Admin on …".
pub(crate) fn summary(request: &AccessRequest) -> String {
    let loud = if request.break_glass.is_some() {
        "BREAK GLASS: "
    } else {
        ""
    };
    format!(
        "{loud}{} asks for {} for {}",
        request.requester.email,
        request.target.describe(),
        request.duration
    )
}

/// The shared approval card. `note` is only for the clicking approver's own copy.
/// A statement's `Warning`, in the card's warning colour.
pub(crate) fn warning_text(warning: &str) -> Value {
    json!({ "type": "TextBlock", "text": super::plain(warning), "color": "Warning", "weight": "Bolder", "wrap": true })
}

/// The Adaptive Card button for a control the core offers (`RequestView::controls`).
fn control_action(control: Control, request: &AccessRequest) -> Value {
    let data = json!({ field::REQUEST_ID: request.id.as_str() });
    match control {
        Control::Approve => execute("Approve", verb::APPROVE, data, Some("positive")),
        Control::Deny => execute("Deny", verb::DENY, data, Some("destructive")),
        Control::Cancel => execute("Cancel request", verb::CANCEL, data, None),
        Control::EndAccess => execute("I'm done", verb::REVOKE, data, Some("destructive")),
        Control::CallOff => execute("Call off", verb::REVOKE, data, Some("destructive")),
        Control::Extend => execute("Extend", verb::EXTEND, data, None),
        Control::Acknowledge => execute("Acknowledge", verb::ACKNOWLEDGE, data, Some("positive")),
        Control::Flag => execute("Flag", verb::FLAG, data, Some("destructive")),
    }
}

/// The loud part of a break-glass use: granted without approval, and its review (due,
/// overdue, or who acknowledged or flagged it, with what they said), in an attention-styled
/// container.
fn break_glass_banner(review: &BreakGlassReview) -> Value {
    const GRANTED: &str = "\u{1F6A8} BREAK GLASS: access granted without approval";
    let headline = match &review.reviewed {
        None if review.escalations > 0 => format!(
            "{GRANTED}; the review is overdue (escalation {}): review required by {}.",
            review.escalations,
            format_time(review.due_at)
        ),
        None => format!(
            "{GRANTED}; review required by {}.",
            format_time(review.due_at)
        ),
        Some(_) => format!("{GRANTED}."),
    };
    let mut items = vec![json!({
        "type": "TextBlock",
        "id": "break_glass",
        "text": super::plain(&headline),
        "weight": "Bolder",
        "color": "Attention",
        "wrap": true,
    })];
    if let Some(done) = &review.reviewed {
        let word = match done.outcome {
            ReviewOutcome::Acknowledged => "Acknowledged",
            ReviewOutcome::Flagged => "Flagged",
        };
        let line = match &done.comment {
            Some(comment) => format!("{word} by {}: {comment}", done.by.email),
            None => format!("{word} by {}.", done.by.email),
        };
        items.push(json!({
            "type": "TextBlock",
            "id": "review",
            "text": super::plain(&line),
            "weight": "Bolder",
            "wrap": true,
        }));
    }
    json!({ "type": "Container", "style": "attention", "items": items })
}

fn controls_of(view: &RequestView<'_>, reader: Reader) -> Vec<Value> {
    view.controls(reader)
        .iter()
        .map(|control| control_action(*control, view.request))
        .collect()
}

pub(crate) fn approval_card(view: &RequestView<'_>, note: Option<&Note>) -> Value {
    let (request, grant) = (view.request, view.grant);
    let heading = if request.extends.is_some() {
        "AWS access extension request"
    } else {
        "AWS access request"
    };
    let mut body = vec![title(heading)];
    if let Some(note) = note {
        body.push(note_block(note));
    }
    if let Some(review) = view.review() {
        body.push(break_glass_banner(review));
    }
    let mut list = request_facts(request, true);
    list.push((
        if view.review().is_some() {
            "Reviewers"
        } else {
            "Approvers"
        },
        join_emails(request.approvers.iter().map(|email| email.as_str())),
    ));
    if view.shows_progress() {
        let progress = view.progress();
        list.push((
            "Approvals",
            format!(
                "{} of {}: {}",
                progress.approved,
                progress.required,
                join_emails(request.approvals.iter().map(|a| a.approver.email.as_str()))
            ),
        ));
    }
    body.push(facts(&list));
    for warning in &request.warnings {
        body.push(warning_text(warning));
    }
    body.push(status_block(request, grant));
    let actions = controls_of(view, Reader::Approvers);
    card(body, actions)
}

/// The requester's status card, with the buttons that apply now: cancel while pending, end or
/// extend while active, call off while a deferred start is waiting.
pub(crate) fn requester_card(view: &RequestView<'_>, note: Option<&Note>) -> Value {
    let (request, grant) = (view.request, view.grant);
    let heading = if request.extends.is_some() {
        "Your AWS access extension request"
    } else {
        "Your AWS access request"
    };
    let mut body = vec![title(heading)];
    if let Some(note) = note {
        body.push(note_block(note));
    }
    if let Some(review) = view.review() {
        body.push(break_glass_banner(review));
    }
    let mut list = request_facts(request, false);
    if view.awaits_review() {
        list.push((
            "Reviewers",
            join_emails(request.approvers.iter().map(|email| email.as_str())),
        ));
    }
    if request.status() == RequestStatus::Pending {
        list.push((
            "Approvers",
            join_emails(request.approvers.iter().map(|email| email.as_str())),
        ));
    }
    body.push(facts(&list));
    body.push(status_block(request, grant));
    let actions = controls_of(view, Reader::Requester);
    card(body, actions)
}

/// The answer to a submitted form: the request as stored, without buttons (the status card
/// that follows in the chat has them).
pub(crate) fn submitted_card(request: &AccessRequest, grant: Option<&Grant>) -> Value {
    let mut body = vec![title("Request sent")];
    body.push(facts(&request_facts(request, false)));
    body.push(status_block(request, grant));
    if !request.status().is_final() {
        body.push(text("I'll tell you here as it moves on."));
    }
    card(body, Vec::new())
}
