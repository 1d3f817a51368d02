//! The request forms: rendering them for the verified requester (only what some rule lets
//! them ask for), checking a submitted form, creating the request, and typeahead searches.
//! A refused form comes back with the problems shown under their fields.

use actix_web::HttpResponse;
use liftgate_gateway::domain::{
    AccessRequest, Channel, GrantId, RequestId, RequestStatus, RequestTarget,
};
use liftgate_gateway::workflow::{NewRequest, RequesterFacts, TargetInput, WorkflowError};
use liftgate_policy::{Duration, Target};
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::format_description;

use super::inbox::{CHANNEL, TeamsWork, WorkOutcome};
use super::{Bot, Caller, bounded, request_id_of, responses};
use crate::cards::{
    AccessForm, ExtendForm, FormErrors, FormInputs, GroupForm, TYPEAHEAD_LIMIT, field, format_time,
    limit_choices, submitted_card,
};

/// Which form a submission came from, to show it again with its problems.
enum Form<'a> {
    Access,
    Group,
    Extend(&'a AccessRequest),
}

/// A workflow refusal in words for the person.
pub(crate) fn explain(error: &WorkflowError) -> String {
    match error {
        WorkflowError::Unavailable(_) => {
            "Sorry, AWS or Liftgate's storage is not answering just now. Please try again in a minute.".to_owned()
        }
        other => capitalize(&other.to_string()),
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars
        .next()
        .map(|first| first.to_uppercase().collect())
        .unwrap_or_default();
    out.push_str(chars.as_str());
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// The field a workflow refusal is about, if it is about one.
fn field_of(code: &str) -> Option<&'static str> {
    match code {
        "unknown_account" => Some(field::ACCOUNT),
        "unknown_permission_set" => Some(field::PERMISSION_SET),
        "unknown_group" => Some(field::GROUP),
        "duration_too_long" | "invalid_duration" => Some(field::DURATION),
        "missing_reason" | "reason_too_long" => Some(field::REASON),
        "start_too_late" => Some(field::START_DATE),
        _ => None,
    }
}

/// The form nonce a card carries: it makes a redelivered submission of the same form
/// idempotent (scoped to the verified sender, so one person's nonce cannot touch another's).
fn form_id_of(data: &Value) -> Option<String> {
    let text = data.get(field::FORM_ID).and_then(Value::as_str)?;
    uuid::Uuid::parse_str(text)
        .ok()
        .map(|id| id.hyphenated().to_string())
}

fn new_form_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Start date (`YYYY-MM-DD`) and optional time (`HH:MM`), in UTC.
fn parse_start(inputs: &FormInputs) -> Result<Option<OffsetDateTime>, String> {
    if inputs.start_date.is_empty() {
        if inputs.start_time.is_empty() {
            return Ok(None);
        }
        return Err("Choose a start date for the start time.".to_owned());
    }
    let date = time::Date::parse(
        &inputs.start_date,
        format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| "The start date must look like 2027-01-31.".to_owned())?;
    let clock = if inputs.start_time.is_empty() {
        time::Time::MIDNIGHT
    } else {
        let text = inputs.start_time.get(..5).unwrap_or(&inputs.start_time);
        time::Time::parse(text, format_description!("[hour]:[minute]"))
            .map_err(|_| "The start time must look like 09:30.".to_owned())?
    };
    Ok(Some(time::PrimitiveDateTime::new(date, clock).assume_utc()))
}

fn parse_duration(text: &str, errors: &mut FormErrors) -> Option<Duration> {
    if text.is_empty() {
        errors.set(field::DURATION, "Choose a duration.");
        return None;
    }
    match Duration::parse(text) {
        Ok(duration) => Some(duration),
        Err(error) => {
            errors.set(field::DURATION, capitalize(&error.to_string()));
            None
        }
    }
}

fn check_reason(reason: &str, errors: &mut FormErrors) {
    if reason.trim().is_empty() {
        errors.set(field::REASON, "Give a reason.");
    }
}

fn target_input(target: &RequestTarget) -> TargetInput {
    match target {
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
    }
}

impl Bot {
    pub(super) async fn facts(&self, caller: &Caller) -> Result<RequesterFacts, String> {
        self.service
            .requester_facts(&caller.person.email)
            .await
            .map_err(|error| match error {
                WorkflowError::Unprocessable {
                    code: "unknown_user",
                    ..
                } => format!(
                    "Sorry, there is no AWS Identity Center user with your email ({}).",
                    caller.person.email
                ),
                other => explain(&other),
            })
    }

    /// The account form for this person: the accounts some rule lets them request, the
    /// permission sets of the chosen (or first) account, and the durations allowed for it.
    pub(crate) async fn access_form(
        &self,
        caller: &Caller,
        inputs: &FormInputs,
        errors: FormErrors,
        form_id: Option<String>,
    ) -> Result<Value, String> {
        let facts = self.facts(caller).await?;
        let accounts = self
            .service
            .requestable_accounts(&facts)
            .await
            .map_err(|error| explain(&error))?;
        let Some(first) = accounts.first() else {
            return Err("No rule lets you request access to an AWS account.".to_owned());
        };
        let account = if accounts.iter().any(|a| a.id == inputs.account) {
            inputs.account.clone()
        } else {
            first.id.clone()
        };
        let permission_sets = self
            .service
            .requestable_permission_sets(&facts, &account)
            .await
            .map_err(|error| explain(&error))?;
        let permission_set = match permission_sets.as_slice() {
            _ if permission_sets.contains(&inputs.permission_set) => inputs.permission_set.clone(),
            [only] => only.clone(),
            _ => String::new(),
        };
        let max = (!permission_set.is_empty()).then(|| {
            self.service.max_duration_for(
                &facts,
                &Target::Account {
                    account_id: &account,
                    permission_set: &permission_set,
                },
            )
        });
        let durations = self.service.duration_choices(max);
        let duration = pick_duration(&durations, &inputs.duration);
        let choices: Vec<(String, String)> = accounts
            .iter()
            .map(|a| (format!("{} ({})", a.name, a.id), a.id.clone()))
            .collect();
        let typeahead = choices.len() > TYPEAHEAD_LIMIT;
        let shown = if typeahead {
            limit_choices(&choices, &account)
        } else {
            choices
        };
        let form = AccessForm {
            form_id: form_id.unwrap_or_else(new_form_id),
            accounts: shown,
            typeahead,
            permission_sets,
            durations,
            inputs: FormInputs {
                account,
                permission_set,
                duration,
                ..inputs.clone()
            },
            errors,
        };
        Ok(form.render())
    }

    /// The group form for this person.
    pub(crate) async fn group_form(
        &self,
        caller: &Caller,
        inputs: &FormInputs,
        errors: FormErrors,
        form_id: Option<String>,
    ) -> Result<Value, String> {
        let facts = self.facts(caller).await?;
        let groups = self
            .service
            .requestable_groups(&facts)
            .await
            .map_err(|error| explain(&error))?;
        let Some(first) = groups.first() else {
            return Err("No rule lets you request membership of an AWS group.".to_owned());
        };
        let group = if groups.iter().any(|g| g.id == inputs.group) {
            inputs.group.clone()
        } else {
            first.id.clone()
        };
        let max = self
            .service
            .max_duration_for(&facts, &Target::Group { group_id: &group });
        let durations = self.service.duration_choices(Some(max));
        let duration = pick_duration(&durations, &inputs.duration);
        let choices: Vec<(String, String)> = groups
            .iter()
            .map(|g| (g.name.clone(), g.id.clone()))
            .collect();
        let typeahead = choices.len() > TYPEAHEAD_LIMIT;
        let shown = if typeahead {
            limit_choices(&choices, &group)
        } else {
            choices
        };
        let form = GroupForm {
            form_id: form_id.unwrap_or_else(new_form_id),
            groups: shown,
            typeahead,
            durations,
            inputs: FormInputs {
                group,
                duration,
                ..inputs.clone()
            },
            errors,
        };
        Ok(form.render())
    }

    async fn extend_form(
        &self,
        caller: &Caller,
        request: &AccessRequest,
        inputs: &FormInputs,
        errors: FormErrors,
        form_id: Option<String>,
    ) -> Result<Value, String> {
        let facts = self.facts(caller).await?;
        let max = self
            .service
            .max_duration_for(&facts, &request.target.policy_target());
        let durations = self.service.duration_choices(Some(max));
        let duration = pick_duration(&durations, &inputs.duration);
        let form = ExtendForm {
            form_id: form_id.unwrap_or_else(new_form_id),
            request_id: request.id.to_string(),
            description: request.target.describe(),
            ends: request
                .ends_at
                .map(format_time)
                .unwrap_or_else(|| "unknown".to_owned()),
            durations,
            inputs: FormInputs {
                duration,
                ..inputs.clone()
            },
            errors,
        };
        Ok(form.render())
    }

    async fn form_again(
        &self,
        caller: &Caller,
        form: Form<'_>,
        inputs: &FormInputs,
        errors: FormErrors,
        form_id: Option<String>,
    ) -> HttpResponse {
        let card = match form {
            Form::Access => self.access_form(caller, inputs, errors, form_id).await,
            Form::Group => self.group_form(caller, inputs, errors, form_id).await,
            Form::Extend(request) => {
                self.extend_form(caller, request, inputs, errors, form_id)
                    .await
            }
        };
        match card {
            Ok(card) => responses::card(card),
            Err(message) => responses::message(&message),
        }
    }

    /// "Show permission sets for this account": the same form, narrowed to the chosen account.
    pub(crate) async fn refresh_access_form(&self, caller: &Caller, data: &Value) -> HttpResponse {
        let inputs = FormInputs::from_data(data);
        self.form_again(
            caller,
            Form::Access,
            &inputs,
            FormErrors::default(),
            form_id_of(data),
        )
        .await
    }

    pub(crate) async fn submit_access_form(&self, caller: &Caller, data: &Value) -> HttpResponse {
        let inputs = FormInputs::from_data(data);
        let form_id = form_id_of(data);
        let facts = match self.facts(caller).await {
            Ok(facts) => facts,
            Err(message) => return responses::message(&message),
        };
        let mut errors = FormErrors::default();
        let accounts = match self.service.requestable_accounts(&facts).await {
            Ok(accounts) => accounts,
            Err(error) => return responses::message(&explain(&error)),
        };
        let account = accounts.iter().find(|a| a.id == inputs.account);
        match account {
            None if inputs.account.is_empty() => errors.set(field::ACCOUNT, "Choose an account."),
            None => errors.set(
                field::ACCOUNT,
                format!("You cannot request access to account {}.", inputs.account),
            ),
            Some(account) => {
                let sets = match self
                    .service
                    .requestable_permission_sets(&facts, &account.id)
                    .await
                {
                    Ok(sets) => sets,
                    Err(error) => return responses::message(&explain(&error)),
                };
                if inputs.permission_set.is_empty() {
                    errors.set(field::PERMISSION_SET, "Choose a permission set.");
                } else if !sets.contains(&inputs.permission_set) {
                    errors.set(
                        field::PERMISSION_SET,
                        format!(
                            "{} cannot be requested on {}; choose one of: {}.",
                            inputs.permission_set,
                            account.name,
                            sets.join(", ")
                        ),
                    );
                }
            }
        }
        let duration = parse_duration(&inputs.duration, &mut errors);
        if let (Some(duration), Some(account), None) =
            (duration, account, errors.fields.get(field::PERMISSION_SET))
        {
            let target = Target::Account {
                account_id: &account.id,
                permission_set: &inputs.permission_set,
            };
            let max = self.service.max_duration_for(&facts, &target);
            if duration > max {
                errors.set(
                    field::DURATION,
                    format!("At most {max} for this account and permission set."),
                );
            }
        }
        check_reason(&inputs.reason, &mut errors);
        let start_at = parse_start(&inputs).unwrap_or_else(|message| {
            errors.set(field::START_DATE, message);
            None
        });
        let (Some(duration), true) = (duration, errors.is_empty()) else {
            return self
                .form_again(caller, Form::Access, &inputs, errors, form_id)
                .await;
        };
        let target = TargetInput::Account {
            account_id: inputs.account.clone(),
            permission_set: inputs.permission_set.clone(),
        };
        self.create_request(
            caller,
            Form::Access,
            &inputs,
            target,
            duration,
            start_at,
            None,
            form_id,
        )
        .await
    }

    pub(crate) async fn submit_group_form(&self, caller: &Caller, data: &Value) -> HttpResponse {
        let inputs = FormInputs::from_data(data);
        let form_id = form_id_of(data);
        let facts = match self.facts(caller).await {
            Ok(facts) => facts,
            Err(message) => return responses::message(&message),
        };
        let mut errors = FormErrors::default();
        let groups = match self.service.requestable_groups(&facts).await {
            Ok(groups) => groups,
            Err(error) => return responses::message(&explain(&error)),
        };
        let group = groups.iter().find(|g| g.id == inputs.group);
        match group {
            None if inputs.group.is_empty() => errors.set(field::GROUP, "Choose a group."),
            None => errors.set(
                field::GROUP,
                format!("You cannot request membership of group {}.", inputs.group),
            ),
            Some(_) => {}
        }
        let duration = parse_duration(&inputs.duration, &mut errors);
        if let (Some(duration), Some(group)) = (duration, group) {
            let max = self.service.max_duration_for(
                &facts,
                &Target::Group {
                    group_id: &group.id,
                },
            );
            if duration > max {
                errors.set(field::DURATION, format!("At most {max} for this group."));
            }
        }
        check_reason(&inputs.reason, &mut errors);
        let start_at = parse_start(&inputs).unwrap_or_else(|message| {
            errors.set(field::START_DATE, message);
            None
        });
        let (Some(duration), true) = (duration, errors.is_empty()) else {
            return self
                .form_again(caller, Form::Group, &inputs, errors, form_id)
                .await;
        };
        let target = TargetInput::Group {
            group_id: inputs.group.clone(),
        };
        self.create_request(
            caller,
            Form::Group,
            &inputs,
            target,
            duration,
            start_at,
            None,
            form_id,
        )
        .await
    }

    /// "Extend" on an active grant: the extension form, for the person holding it.
    pub(crate) async fn show_extend_form(
        &self,
        caller: &Caller,
        request_id: &RequestId,
    ) -> HttpResponse {
        let request = match self.service.get(request_id).await {
            Ok(request) => request,
            Err(error) => return responses::message(&explain(&error)),
        };
        if request.requester.email != caller.person.email {
            return responses::message("Only the person holding this access can extend it.");
        }
        if request.grant_id.is_none() || request.status() != RequestStatus::Active {
            return responses::message("Only active access can be extended.");
        }
        self.form_again(
            caller,
            Form::Extend(&request),
            &FormInputs::default(),
            FormErrors::default(),
            None,
        )
        .await
    }

    pub(crate) async fn submit_extend_form(&self, caller: &Caller, data: &Value) -> HttpResponse {
        let Some(request_id) = request_id_of(data) else {
            return responses::invoke_error("the action names no request");
        };
        let request = match self.service.get(&request_id).await {
            Ok(request) => request,
            Err(error) => return responses::message(&explain(&error)),
        };
        let inputs = FormInputs::from_data(data);
        let form_id = form_id_of(data);
        let mut errors = FormErrors::default();
        let duration = parse_duration(&inputs.duration, &mut errors);
        check_reason(&inputs.reason, &mut errors);
        let Some(grant_id) = request.grant_id.clone() else {
            return responses::message("Only active access can be extended.");
        };
        let (Some(duration), true) = (duration, errors.is_empty()) else {
            return self
                .form_again(caller, Form::Extend(&request), &inputs, errors, form_id)
                .await;
        };
        // The target comes from the stored request, never from the card.
        let target = target_input(&request.target);
        self.create_request(
            caller,
            Form::Extend(&request),
            &inputs,
            target,
            duration,
            None,
            Some(grant_id),
            form_id,
        )
        .await
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call site per form; a struct would only rename them"
    )]
    async fn create_request(
        &self,
        caller: &Caller,
        form: Form<'_>,
        inputs: &FormInputs,
        target: TargetInput,
        duration: Duration,
        start_at: Option<OffsetDateTime>,
        extends: Option<GrantId>,
        form_id: Option<String>,
    ) -> HttpResponse {
        let new = NewRequest {
            requester: caller.person.clone(),
            target,
            duration,
            reason: inputs.reason.clone(),
            channel: Channel::Teams,
            start_at,
            extends,
            // Always a key: recorded work resumed after a crash must not create twice.
            idempotency_key: Some(format!(
                "teams:{}:{}",
                caller.user_id,
                form_id.clone().unwrap_or_else(new_form_id)
            )),
        };
        let work = TeamsWork::Create { new };
        let recorded = self.service.record_acked(CHANNEL, &work).await;
        let service = self.service.clone();
        let outcome = bounded(self.invoke_timeout, async move {
            let runner = service.clone();
            runner.run_acked(recorded, work.perform(&service)).await
        })
        .await
        .and_then(|outcome| match outcome {
            WorkOutcome::Created(result) => Some(result),
            WorkOutcome::Decided(_) => None,
        });
        let Some(outcome) = outcome else {
            return responses::message(
                "Your request is being processed. I'll tell you here how it goes.",
            );
        };
        match outcome {
            Ok(request) => {
                let grant = self.grant_of(&request).await;
                responses::card(submitted_card(&request, grant.as_ref()))
            }
            Err(error) => {
                tracing::info!(code = error.code(), %error, "A Teams request form was refused.");
                let mut errors = FormErrors::default();
                match (&error, field_of(error.code())) {
                    (
                        WorkflowError::Invalid { .. } | WorkflowError::Unprocessable { .. },
                        Some(field),
                    ) => {
                        errors.set(field, explain(&error));
                    }
                    _ => errors.general = Some(explain(&error)),
                }
                self.form_again(caller, form, inputs, errors, form_id).await
            }
        }
    }
}

fn pick_duration(durations: &[Duration], wanted: &str) -> String {
    durations
        .iter()
        .find(|duration| duration.to_string() == wanted)
        .or(durations.first())
        .map(ToString::to_string)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(date: &str, time: &str) -> FormInputs {
        FormInputs {
            start_date: date.to_owned(),
            start_time: time.to_owned(),
            ..FormInputs::default()
        }
    }

    #[test]
    fn start_is_read_in_utc() {
        assert_eq!(parse_start(&inputs("", "")), Ok(None));
        let start = parse_start(&inputs("2027-01-31", "09:30"))
            .unwrap()
            .unwrap();
        assert_eq!(start.unix_timestamp(), 1_801_387_800);
        let midnight = parse_start(&inputs("2027-01-31", "")).unwrap().unwrap();
        assert_eq!(midnight.unix_timestamp(), 1_801_353_600);
        assert!(parse_start(&inputs("", "09:30")).is_err());
        assert!(parse_start(&inputs("31/01/2027", "")).is_err());
        assert!(parse_start(&inputs("2027-01-31", "9h")).is_err());
    }

    #[test]
    fn refusals_read_as_sentences() {
        let error = WorkflowError::Forbidden {
            code: "not_an_approver",
            message: "you are not an approver".to_owned(),
        };
        assert_eq!(explain(&error), "You are not an approver.");
        assert_eq!(field_of("duration_too_long"), Some(field::DURATION));
        assert_eq!(field_of("no_statements"), None);
    }
}
