//! The approval message in the approvals channel, the requester's direct messages, and the
//! reminder replies. Each renders the request's current state.

use std::collections::HashMap;

use liftgate_gateway::conversation::{Control, Reader, RequestView};
use liftgate_gateway::domain::{
    AccessRequest, BreakGlassReview, Grant, Person, RequestEvent, RequestStatus, RequestTarget,
    ReviewOutcome,
};
use liftgate_policy::{Decision, Email};
use serde_json::{Value, json};

use super::{context, date, escape, humanize, mrkdwn, plain, section, truncate};

/// Action ids of the message buttons; each button's value is the request id, nothing else.
pub(crate) const APPROVE: &str = "approve";
pub(crate) const DENY: &str = "deny";
pub(crate) const CANCEL: &str = "cancel";
pub(crate) const REVOKE: &str = "revoke";
pub(crate) const EXTEND: &str = "extend";
pub(crate) const ACKNOWLEDGE: &str = "acknowledge";
pub(crate) const FLAG: &str = "flag";

/// Slack ids of the people a message names, looked up by email beforehand.
#[derive(Debug, Default, Clone)]
pub(crate) struct Mentions {
    pub found: HashMap<Email, String>,
}

impl Mentions {
    /// `<@U…>` when the person is in Slack, else their email.
    pub(crate) fn email(&self, email: &Email) -> String {
        match self.found.get(email) {
            Some(id) => format!("<@{id}>"),
            None => escape(email.as_str()),
        }
    }

    pub(crate) fn person(&self, person: &Person) -> String {
        match &person.slack_id {
            Some(id) => format!("<@{id}>"),
            None => self.email(&person.email),
        }
    }

    fn list<'a>(&self, emails: impl IntoIterator<Item = &'a Email>) -> String {
        emails
            .into_iter()
            .map(|email| self.email(email))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn emoji(status: RequestStatus) -> &'static str {
    match status {
        RequestStatus::Pending => ":large_yellow_circle:",
        RequestStatus::Approved | RequestStatus::Active => ":large_green_circle:",
        RequestStatus::Denied | RequestStatus::Failed => ":red_circle:",
        RequestStatus::Expired | RequestStatus::Cancelled | RequestStatus::Ended => {
            ":white_circle:"
        }
    }
}

fn title(request: &AccessRequest) -> &'static str {
    if request.break_glass.is_some() {
        return match &request.target {
            RequestTarget::Account { .. } => "BREAK GLASS: AWS access",
            RequestTarget::Group { .. } => "BREAK GLASS: AWS group access",
        };
    }
    match (&request.target, request.extends.is_some()) {
        (RequestTarget::Account { .. }, false) => "AWS access request",
        (RequestTarget::Account { .. }, true) => "AWS access extension",
        (RequestTarget::Group { .. }, false) => "AWS group access request",
        (RequestTarget::Group { .. }, true) => "AWS group access extension",
    }
}

/// Approvals still missing, and from whom they may come.
fn waiting(request: &AccessRequest, mentions: &Mentions) -> String {
    let have = request.approvals.len();
    let need = request.required_approvals.max(1) as usize;
    let mut text = if need > 1 || have > 0 {
        format!("Waiting for approval: {have} of {need}")
    } else {
        "Waiting for approval".to_owned()
    };
    if have > 0 {
        let by: Vec<String> = request
            .approvals
            .iter()
            .map(|approval| mentions.person(&approval.approver))
            .collect();
        text.push_str(&format!(" (approved by {})", by.join(", ")));
    }
    text.push('.');
    text
}

fn approved_by(request: &AccessRequest, mentions: &Mentions) -> String {
    match request.decision {
        Decision::ApprovalNotRequired => {
            "approved automatically: this access needs no approval".to_owned()
        }
        Decision::SelfApproval => {
            "approved automatically: the requester may approve their own request".to_owned()
        }
        Decision::BreakGlass => "granted at once without approval (break glass)".to_owned(),
        _ => {
            let by: Vec<String> = request
                .approvals
                .iter()
                .map(|approval| mentions.person(&approval.approver))
                .collect();
            if by.is_empty() {
                "approved".to_owned()
            } else {
                format!("approved by {}", by.join(", "))
            }
        }
    }
}

/// Who did the last `event`, and what they said.
fn last_actor(
    request: &AccessRequest,
    event: RequestEvent,
    mentions: &Mentions,
) -> Option<(String, Option<String>)> {
    let entry = request
        .history
        .iter()
        .rev()
        .find(|entry| entry.event == event)?;
    let actor = entry.actor.as_ref()?;
    Some((
        mentions.email(actor),
        entry
            .detail
            .clone()
            .filter(|detail| !detail.trim().is_empty()),
    ))
}

fn reason_of(request: &AccessRequest) -> String {
    escape(
        request
            .status_reason
            .as_deref()
            .unwrap_or("no reason was recorded"),
    )
}

/// One sentence saying where the request stands.
pub(crate) fn status_text(
    request: &AccessRequest,
    grant: Option<&Grant>,
    mentions: &Mentions,
) -> String {
    match request.status() {
        RequestStatus::Pending => waiting(request, mentions),
        RequestStatus::Approved => {
            let next = match request.start_at {
                Some(start) => format!("Access starts {}.", date(start)),
                None => "Granting access…".to_owned(),
            };
            format!("{} {next}", capitalize(&approved_by(request, mentions)))
        }
        RequestStatus::Active if request.is_ending() => {
            ":hourglass_flowing_sand: Ending: the access is being removed; this message updates when it is gone.".to_owned()
        }
        RequestStatus::Active => {
            let until = request.ends_at.or(grant.map(|grant| grant.ends_at));
            let until = until
                .map(|at| format!(" until {}", date(at)))
                .unwrap_or_default();
            format!(
                ":white_check_mark: Granted{until}; {}.",
                approved_by(request, mentions)
            )
        }
        RequestStatus::Ended => {
            let when = request
                .ends_at
                .map(|at| format!(" {}", date(at)))
                .unwrap_or_default();
            match grant
                .and_then(|grant| grant.end.as_ref())
                .and_then(|end| end.actor.as_ref())
            {
                Some(actor) => format!("Ended early{when} by {}.", mentions.person(actor)),
                None => format!("Ended{when}: the time was up."),
            }
        }
        RequestStatus::Denied => match last_actor(request, RequestEvent::Denied, mentions) {
            Some((actor, Some(comment))) => {
                format!(":no_entry: Denied by {actor}: {}", escape(&comment))
            }
            Some((actor, None)) => format!(":no_entry: Denied by {actor}."),
            None => format!(":no_entry: Denied: {}.", reason_of(request)),
        },
        RequestStatus::Expired => format!("Expired: {}.", reason_of(request)),
        RequestStatus::Cancelled => match last_actor(request, RequestEvent::Cancelled, mentions) {
            Some((actor, _)) => format!("Cancelled by {actor}."),
            None => format!("Cancelled: {}.", reason_of(request)),
        },
        RequestStatus::Failed => format!(":warning: Failed: {}.", reason_of(request)),
    }
}

/// The loud line of a break-glass use: granted without approval, and its review (due, overdue,
/// or who acknowledged or flagged it, with what they said).
fn break_glass_banner(review: &BreakGlassReview, mentions: &Mentions) -> String {
    const GRANTED: &str = ":rotating_light: *BREAK GLASS* — access granted without approval";
    match &review.reviewed {
        None if review.escalations > 0 => format!(
            "{GRANTED}; the review is overdue (escalation {}): review required by {}.",
            review.escalations,
            date(review.due_at)
        ),
        None => format!("{GRANTED}; review required by {}.", date(review.due_at)),
        Some(done) => {
            let (mark, word) = match done.outcome {
                ReviewOutcome::Acknowledged => (":white_check_mark:", "Acknowledged"),
                ReviewOutcome::Flagged => (":triangular_flag_on_post:", "Flagged"),
            };
            let said = match &done.comment {
                Some(comment) => format!(": {}", escape(comment)),
                None => ".".to_owned(),
            };
            format!(
                "{GRANTED}. {mark} {word} by {}{said}",
                mentions.person(&done.by)
            )
        }
    }
}

/// Who still has to act on the request: the approvers of a pending request, the reviewers
/// of an unreviewed break-glass use; `None` when nobody has.
fn awaited_line(
    view: &RequestView<'_>,
    mentions: &Mentions,
    missing_approvers: &[Email],
) -> Option<String> {
    let request = view.request;
    let reviewing = view.awaits_review();
    if !reviewing && request.status() != RequestStatus::Pending {
        return None;
    }
    let approvers: Vec<&Email> = request
        .approvers
        .iter()
        .filter(|email| !request.has_approval_from(email) && !missing_approvers.contains(email))
        .collect();
    let (nobody, label) = if reviewing {
        ("Nobody else can review this use.", "Reviewers")
    } else {
        ("Nobody else can approve this request.", "Can approve")
    };
    let mut who = if approvers.is_empty() && missing_approvers.is_empty() {
        nobody.to_owned()
    } else if approvers.is_empty() {
        format!(
            ":warning: None of the {} could be found in Slack.",
            if reviewing { "reviewers" } else { "approvers" }
        )
    } else {
        format!("{label}: {}.", mentions.list(approvers))
    };
    if !missing_approvers.is_empty() {
        who.push_str(&format!(
            " Not found in Slack: {} (check the approver emails in the rules).",
            missing_approvers
                .iter()
                .map(|email| escape(email.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Some(who)
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn target_fields(request: &AccessRequest) -> Vec<Value> {
    match &request.target {
        RequestTarget::Account {
            account_id,
            account_name,
            permission_set,
        } => {
            let account = match account_name {
                Some(name) => format!("{} ({account_id})", escape(name)),
                None => account_id.clone(),
            };
            vec![
                mrkdwn(&format!("*Account*\n{account}")),
                mrkdwn(&format!("*Permission set*\n{}", escape(permission_set))),
            ]
        }
        RequestTarget::Group {
            group_id,
            group_name,
        } => {
            let group = match group_name {
                Some(name) => format!("{} ({group_id})", escape(name)),
                None => group_id.clone(),
            };
            vec![mrkdwn(&format!("*Group*\n{group}"))]
        }
    }
}

fn button(action_id: &str, label: &str, request: &AccessRequest, style: Option<&str>) -> Value {
    let mut button = json!({
        "type": "button",
        "action_id": action_id,
        "text": plain(label),
        "value": request.id.as_str(),
    });
    if let Some(style) = style {
        button["style"] = json!(style);
    }
    button
}

fn confirm(title: &str, text: &str, yes: &str) -> Value {
    json!({
        "title": plain(title),
        "text": plain(text),
        "confirm": plain(yes),
        "deny": plain("Back"),
        "style": "danger",
    })
}

/// The approval message: who, what, where, how long, why, the state, who can approve.
/// The Block Kit button for a control the core offers (`RequestView::controls`).
fn control_button(control: Control, request: &AccessRequest) -> Value {
    match control {
        Control::Approve => button(APPROVE, "Approve", request, Some("primary")),
        Control::Deny => {
            let mut deny = button(DENY, "Deny", request, Some("danger"));
            deny["confirm"] = confirm(
                "Deny this request?",
                "The requester is told that you denied it.",
                "Deny",
            );
            deny
        }
        Control::Cancel => button(CANCEL, "Cancel request", request, None),
        Control::EndAccess => {
            let mut done = button(REVOKE, "I'm done", request, None);
            done["confirm"] = confirm(
                "End your access now?",
                "Your access is removed right away.",
                "End access",
            );
            done
        }
        Control::CallOff => {
            let mut call_off = button(REVOKE, "Call off", request, None);
            call_off["confirm"] = confirm("Call off this grant?", "It will not start.", "Call off");
            call_off
        }
        Control::Extend => button(EXTEND, "Extend", request, Some("primary")),
        Control::Acknowledge => button(ACKNOWLEDGE, "Acknowledge", request, Some("primary")),
        Control::Flag => {
            let mut flag = button(FLAG, "Flag", request, Some("danger"));
            flag["confirm"] = confirm(
                "Flag this break-glass use?",
                "Flagging ends the access now if it is still held, and the flag is on record.",
                "Flag",
            );
            flag
        }
    }
}

fn controls_of(view: &RequestView<'_>, reader: Reader) -> Vec<Value> {
    view.controls(reader)
        .iter()
        .map(|control| control_button(*control, view.request))
        .collect()
}

pub(crate) fn approval_message(
    view: &RequestView<'_>,
    mentions: &Mentions,
    missing_approvers: &[Email],
) -> (String, Value) {
    let (request, grant) = (view.request, view.grant);
    let mut fields = vec![mrkdwn(&format!(
        "*Requester*\n{} ({})",
        mentions.person(&request.requester),
        escape(request.requester.email.as_str())
    ))];
    fields.extend(target_fields(request));
    fields.push(mrkdwn(&format!(
        "*Duration*\n{}",
        humanize(request.duration)
    )));
    if let Some(start) = request.start_at {
        fields.push(mrkdwn(&format!("*Starts*\n{}", date(start))));
    }
    if request.secondary_domain_used {
        fields.push(mrkdwn(
            "*Note*\n:warning: matched through a fallback email domain",
        ));
    }
    let mut blocks = vec![
        json!({ "type": "header", "text": plain(&format!("{} {}", emoji(request.status()), title(request))) }),
    ];
    if let Some(review) = view.review() {
        blocks.push(section(&break_glass_banner(review, mentions)));
    }
    blocks.push(json!({ "type": "section", "fields": fields }));
    for warning in &request.warnings {
        blocks.push(section(&format!(":warning: {}", escape(warning))));
    }
    blocks.extend([
        section(&format!(
            "*Reason*\n{}",
            escape(&truncate(&request.reason, 2900))
        )),
        section(&format!(
            "*Status*\n{}",
            status_text(request, grant, mentions)
        )),
    ]);
    if let Some(who) = awaited_line(view, mentions, missing_approvers) {
        blocks.push(context(&who));
    }
    let buttons = controls_of(view, Reader::Approvers);
    if !buttons.is_empty() {
        blocks.push(json!({ "type": "actions", "block_id": "decision", "elements": buttons }));
    }
    blocks.push(context(&format!(
        "Request `{}` · from {}",
        request.id,
        request.channel.as_str()
    )));
    let text = format!(
        "{} from {}: {} for {}. {}",
        title(request),
        request.requester.email,
        request.target.describe(),
        humanize(request.duration),
        plain_status(request)
    );
    (text, json!(blocks))
}

/// The status in words for notification fallbacks (no markup).
fn plain_status(request: &AccessRequest) -> &'static str {
    match request.status() {
        RequestStatus::Pending => "Waiting for approval.",
        RequestStatus::Approved => "Approved.",
        RequestStatus::Active => "Granted.",
        RequestStatus::Ended => "Ended.",
        RequestStatus::Denied => "Denied.",
        RequestStatus::Expired => "Expired.",
        RequestStatus::Cancelled => "Cancelled.",
        RequestStatus::Failed => "Failed.",
    }
}

/// A message to the requester about the step their request is at.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RequesterMessage {
    pub text: String,
    pub blocks: Value,
}

pub(crate) fn requester_message(view: &RequestView<'_>, mentions: &Mentions) -> RequesterMessage {
    let (request, grant) = (view.request, view.grant);
    let what = format!(
        "*{}* for {}",
        escape(&request.target.describe()),
        humanize(request.duration)
    );
    let what = if request.extends.is_some() {
        format!("extension of {what}")
    } else {
        what
    };
    let text = match request.status() {
        RequestStatus::Pending if request.approvals.is_empty() => {
            let approvers = request
                .approvers
                .iter()
                .map(|email| mentions.email(email))
                .collect::<Vec<_>>()
                .join(", ");
            let who = if approvers.is_empty() {
                String::new()
            } else {
                format!(" by {approvers}")
            };
            format!(
                ":hourglass_flowing_sand: Your request for {what} is waiting for approval{who}."
            )
        }
        RequestStatus::Pending => format!(
            ":hourglass_flowing_sand: Your request for {what}: {}",
            waiting(request, mentions)
        ),
        _ => format!(
            "Your request for {what}: {}",
            status_text(request, grant, mentions)
        ),
    };
    let buttons = controls_of(view, Reader::Requester);
    let mut blocks = vec![section(&text)];
    if let Some(review) = view.review() {
        blocks.push(section(&break_glass_banner(review, mentions)));
    }
    if !buttons.is_empty() {
        blocks.push(json!({ "type": "actions", "block_id": "requester", "elements": buttons }));
    }
    let fallback = format!(
        "Your request for {}: {}",
        request.target.describe(),
        plain_status(request)
    );
    RequesterMessage {
        text: fallback,
        blocks: json!(blocks),
    }
}

/// An earlier direct message whose buttons no longer apply: the same words, no buttons.
pub(crate) fn retired_requester_message(blocks: &Value) -> Value {
    let kept: Vec<Value> = blocks
        .as_array()
        .map(|blocks| {
            blocks
                .iter()
                .filter(|block| block["type"] != "actions")
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    json!(kept)
}

/// A thread reply nudging the approvers who have not approved yet.
pub(crate) fn reminder_text(
    request: &AccessRequest,
    mentions: &Mentions,
    missing: &[Email],
) -> String {
    let waiting_for: Vec<&Email> = request
        .approvers
        .iter()
        .filter(|email| !request.has_approval_from(email) && !missing.contains(email))
        .collect();
    let who = if waiting_for.is_empty() {
        String::new()
    } else {
        format!("{} ", mentions.list(waiting_for))
    };
    format!(
        "{who}:bell: This request is still waiting for approval ({} of {}). It expires {}.",
        request.approvals.len(),
        request.required_approvals.max(1),
        date(request.expires_at)
    )
}

/// A thread reply (and a direct message to each reviewer) when a break-glass use is still
/// unreviewed past its deadline: one per escalation.
pub(crate) fn review_reminder_text(
    request: &AccessRequest,
    review: &BreakGlassReview,
    mentions: &Mentions,
    missing: &[Email],
) -> String {
    let reviewers: Vec<&Email> = request
        .approvers
        .iter()
        .filter(|email| !missing.contains(email))
        .collect();
    let who = if reviewers.is_empty() {
        String::new()
    } else {
        format!("{} ", mentions.list(reviewers))
    };
    format!(
        "{who}:rotating_light: This break-glass use of {} by {} is still unreviewed: the review is overdue (escalation {}). Acknowledge or flag it on the approval message; the next escalation is {}.",
        escape(&request.target.describe()),
        mentions.person(&request.requester),
        review.escalations,
        date(review.due_at)
    )
}
