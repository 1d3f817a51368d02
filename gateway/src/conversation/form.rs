//! The request form, channel-neutral: which fields it has, the checks of a submission (each
//! refusal typed with the field it is about), and the refusals of the workflow mapped to
//! those fields. Slack and Teams render the fields and show each refusal under its field;
//! neither decides what is valid (docs/reference.md §9, "Forms").

use std::collections::BTreeMap;

use liftgate_policy::{Duration, Target};
use time::OffsetDateTime;

use crate::domain::{AccessRequest, GrantId, Person, RequestId, RequestStatus, RequestTarget};
use crate::workflow::{AccessService, RequesterFacts, TargetInput, WorkflowError};

/// A start further ahead is refused (the workflow enforces the same bound).
pub const MAX_START_DELAY: time::Duration = time::Duration::days(30);
/// A start this far in the past is a mistake, not "now".
pub const START_TOLERANCE: time::Duration = time::Duration::minutes(5);

/// A field of a request form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FormField {
    Account,
    PermissionSet,
    Group,
    Duration,
    Reason,
    Start,
}

impl FormField {
    pub const ALL: [FormField; 6] = [
        FormField::Account,
        FormField::PermissionSet,
        FormField::Group,
        FormField::Duration,
        FormField::Reason,
        FormField::Start,
    ];

    /// The field's stable name, as the webhook API's 422 answers name it.
    pub fn as_str(self) -> &'static str {
        match self {
            FormField::Account => "account",
            FormField::PermissionSet => "permission_set",
            FormField::Group => "group",
            FormField::Duration => "duration",
            FormField::Reason => "reason",
            FormField::Start => "start",
        }
    }
}

/// What is wrong with a submission, field by field, in sentences for the person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldRefusals(BTreeMap<FormField, String>);

impl FieldRefusals {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Keeps the first refusal of a field: it is the one to fix first.
    pub fn refuse(&mut self, field: FormField, message: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| message.into());
    }

    pub fn get(&self, field: FormField) -> Option<&str> {
        self.0.get(&field).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (FormField, &str)> {
        self.0
            .iter()
            .map(|(field, message)| (*field, message.as_str()))
    }
}

/// What a person typed or picked in a request form, as the platform read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Submission {
    pub account: Option<String>,
    pub permission_set: Option<String>,
    pub group: Option<String>,
    /// The chosen duration as the form sent it (e.g. `2h`).
    pub duration: Option<String>,
    pub reason: String,
    /// The deferred start, if one was picked; `Err` when the platform could not read it.
    pub start: Option<Result<OffsetDateTime, String>>,
}

/// Which form a submission came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    Account,
    Group,
    /// More time on an active grant: only duration and reason are asked.
    Extension,
}

/// A submission that passed every check the form can make without AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedSubmission {
    /// `None` for an extension: the extended request's target is used.
    pub target: Option<TargetInput>,
    pub duration: Duration,
    pub reason: String,
    pub start_at: Option<OffsetDateTime>,
}

/// The sentence for a refusal of the workflow, for the person concerned.
pub fn refusal_text(error: &WorkflowError) -> String {
    match error {
        WorkflowError::Unavailable(_) => {
            "Liftgate could not reach AWS or its state store just now; please try again in a minute.".to_owned()
        }
        WorkflowError::Unprocessable {
            code: "unknown_user",
            message,
        } => format!(
            "{}. This often happens when your AWS email differs from your chat email; ask your administrators.",
            sentence(message)
        ),
        other => format!("{}.", sentence(&other.to_string())),
    }
}

/// The message with a capital first letter and without a trailing period.
pub fn sentence(message: &str) -> String {
    let message = message.trim().trim_end_matches('.');
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The form field a workflow refusal is about, if it is about one.
pub fn field_of(error: &WorkflowError) -> Option<FormField> {
    match error.code() {
        "unknown_account" => Some(FormField::Account),
        "unknown_permission_set" => Some(FormField::PermissionSet),
        "unknown_group" => Some(FormField::Group),
        "duration_too_long" | "invalid_duration" => Some(FormField::Duration),
        "missing_reason" | "reason_too_long" | "reason_mismatch" => Some(FormField::Reason),
        "start_too_late" | "break_glass_now_only" => Some(FormField::Start),
        _ => None,
    }
}

/// Durations in words: `1 hour 30 minutes`, `2 hours`, `1 day`.
pub fn humanize(duration: Duration) -> String {
    let mut rest = duration.as_secs();
    let mut parts = Vec::new();
    for (unit, factor) in [
        ("day", 86_400u64),
        ("hour", 3_600),
        ("minute", 60),
        ("second", 1),
    ] {
        if rest >= factor {
            let amount = rest / factor;
            rest %= factor;
            parts.push(format!(
                "{amount} {unit}{}",
                if amount == 1 { "" } else { "s" }
            ));
        }
    }
    if parts.is_empty() {
        "0 seconds".to_owned()
    } else {
        parts.join(" ")
    }
}

/// An active grant that its holder may extend, with the choices the extension form offers.
#[derive(Debug, Clone)]
pub struct Extension {
    pub request: AccessRequest,
    pub grant_id: GrantId,
    pub target: TargetInput,
    pub durations: Vec<Duration>,
}

impl AccessService {
    /// Checks a submitted form. The requester's facts narrow the duration to what the rules
    /// allow for the chosen target; without them (a form whose session expired) the global
    /// maximum applies and the workflow checks the rest.
    pub fn check_submission(
        &self,
        kind: FormKind,
        submission: &Submission,
        facts: Option<&RequesterFacts>,
        max_duration: Option<Duration>,
    ) -> Result<CheckedSubmission, FieldRefusals> {
        let now = self.clock().now();
        let settings = self.settings();
        let mut refusals = FieldRefusals::default();
        let target = match kind {
            FormKind::Account => match (&submission.account, &submission.permission_set) {
                (None, _) => {
                    refusals.refuse(FormField::Account, "Choose an account.");
                    None
                }
                (Some(_), None) => {
                    refusals.refuse(FormField::PermissionSet, "Choose a permission set.");
                    None
                }
                (Some(account), Some(set)) => Some(TargetInput::Account {
                    account_id: account.clone(),
                    permission_set: set.clone(),
                }),
            },
            FormKind::Group => match &submission.group {
                None => {
                    refusals.refuse(FormField::Group, "Choose a group.");
                    None
                }
                Some(group) => Some(TargetInput::Group {
                    group_id: group.clone(),
                }),
            },
            FormKind::Extension => None,
        };
        let max = match (&target, facts) {
            (
                Some(TargetInput::Account {
                    account_id,
                    permission_set,
                }),
                Some(facts),
            ) => self.max_duration_for(
                facts,
                &Target::Account {
                    account_id,
                    permission_set,
                },
            ),
            (Some(TargetInput::Group { group_id }), Some(facts)) => {
                self.max_duration_for(facts, &Target::Group { group_id })
            }
            _ => max_duration
                .unwrap_or(settings.max_duration)
                .min(settings.max_duration),
        };
        let duration = match submission.duration.as_deref().map(str::trim) {
            None | Some("") => {
                refusals.refuse(FormField::Duration, "Choose how long you need the access.");
                None
            }
            Some(text) => match Duration::parse(text) {
                Ok(duration) if duration <= max => Some(duration),
                Ok(_) => {
                    refusals.refuse(
                        FormField::Duration,
                        format!("At most {} for this access.", humanize(max)),
                    );
                    None
                }
                Err(_) => {
                    refusals.refuse(FormField::Duration, "Choose one of the durations offered.");
                    None
                }
            },
        };
        let reason = submission.reason.trim();
        let limit = settings.max_reason_length as usize;
        if reason.is_empty() {
            refusals.refuse(
                FormField::Reason,
                "Give a reason: it goes to the approvers and the audit log.",
            );
        } else if reason.chars().count() > limit {
            refusals.refuse(
                FormField::Reason,
                format!("Keep the reason under {limit} characters."),
            );
        }
        if !reason.is_empty()
            && reason.chars().count() <= limit
            && let (Some(target), Some(facts)) = (&target, facts)
        {
            let refused = match target {
                TargetInput::Account {
                    account_id,
                    permission_set,
                } => self.reason_refusal(
                    facts,
                    &Target::Account {
                        account_id,
                        permission_set,
                    },
                    reason,
                ),
                TargetInput::Group { group_id } => {
                    self.reason_refusal(facts, &Target::Group { group_id }, reason)
                }
            };
            if let Some(message) = refused {
                refusals.refuse(FormField::Reason, message);
            }
        }
        let start_at = match &submission.start {
            None => None,
            Some(Err(problem)) => {
                refusals.refuse(FormField::Start, problem.clone());
                None
            }
            Some(Ok(start)) if *start < now - START_TOLERANCE => {
                refusals.refuse(FormField::Start, "The start time is in the past.");
                None
            }
            Some(Ok(start)) if *start > now + MAX_START_DELAY => {
                refusals.refuse(FormField::Start, "The start may be at most 30 days ahead.");
                None
            }
            Some(Ok(start)) => Some(*start),
        };
        match duration {
            Some(duration) if refusals.is_empty() => Ok(CheckedSubmission {
                target,
                duration,
                reason: reason.to_owned(),
                start_at,
            }),
            _ => Err(refusals),
        }
    }

    /// Whether `person` may extend the grant of request `id`, and what the form offers. Only
    /// the holder of an active grant may: the same rule the workflow applies when the
    /// extension is submitted, checked before a form is shown so nobody fills one in vain.
    pub async fn extension(
        &self,
        id: &RequestId,
        person: &Person,
    ) -> Result<Extension, WorkflowError> {
        let request = self.get(id).await?;
        if request.requester.email != person.email {
            return Err(WorkflowError::forbidden(
                "cannot_extend",
                "only the person holding a grant can extend it",
            ));
        }
        let grant_id = request
            .grant_id
            .clone()
            .filter(|_| request.status() == RequestStatus::Active && !request.is_ending())
            .ok_or_else(|| {
                WorkflowError::unprocessable(
                    "cannot_extend",
                    "this access is not active any more, so it cannot be extended",
                )
            })?;
        let target = match &request.target {
            RequestTarget::Account {
                account_id,
                permission_set,
                ..
            } => TargetInput::Account {
                account_id: account_id.clone(),
                permission_set: permission_set.clone(),
            },
            RequestTarget::Group { group_id, .. } => TargetInput::Group {
                group_id: group_id.clone(),
            },
        };
        let durations = self.duration_choices(request.max_duration);
        Ok(Extension {
            request,
            grant_id,
            target,
            durations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_largest_whole_unit() {
        assert_eq!(humanize(Duration::from_mins(90)), "1 hour 30 minutes");
        assert_eq!(humanize(Duration::from_hours(2)), "2 hours");
        assert_eq!(humanize(Duration::from_hours(24)), "1 day");
        assert_eq!(humanize(Duration::from_mins(1)), "1 minute");
        assert_eq!(humanize(Duration::from_hours(49)), "2 days 1 hour");
    }

    #[test]
    fn refusals_name_their_field() {
        let error = WorkflowError::invalid("reason_too_long", "too long");
        assert_eq!(field_of(&error), Some(FormField::Reason));
        assert_eq!(
            field_of(&WorkflowError::invalid("start_too_late", "late")),
            Some(FormField::Start)
        );
        assert_eq!(
            field_of(&WorkflowError::forbidden("self_approval", "no")),
            None
        );
    }

    #[test]
    fn the_first_refusal_of_a_field_is_kept() {
        let mut refusals = FieldRefusals::default();
        refusals.refuse(FormField::Reason, "first");
        refusals.refuse(FormField::Reason, "second");
        assert_eq!(refusals.get(FormField::Reason), Some("first"));
    }
}
