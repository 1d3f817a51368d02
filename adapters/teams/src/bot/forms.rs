//! The request forms: rendering them for the verified requester (only what some rule lets
//! them ask for), checking a submitted form, creating the request, and typeahead searches.
//! A refused form comes back with the problems shown under their fields.

use actix_web::HttpResponse;
use liftgate_gateway::conversation::{
    self, CheckedSubmission, FieldRefusals, FormField, Submission,
};
use liftgate_gateway::domain::{AccessRequest, Channel, GrantId, RequestId};
use liftgate_gateway::workflow::{NewRequest, RequesterFacts, TargetInput, WorkflowError};
use liftgate_policy::{Duration, Rules, Target};
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
    conversation::refusal_text(error)
}

/// The card input that shows a form field.
fn input_of(field: FormField) -> &'static str {
    match field {
        FormField::Account => field::ACCOUNT,
        FormField::PermissionSet => field::PERMISSION_SET,
        FormField::Group => field::GROUP,
        FormField::Duration => field::DURATION,
        FormField::Reason => field::REASON,
        FormField::Start => field::START_DATE,
    }
}

/// The core's refusals under the inputs that show their fields.
fn form_errors(refusals: &FieldRefusals) -> FormErrors {
    let mut errors = FormErrors::default();
    for (field, message) in refusals.iter() {
        errors.set(input_of(field), message);
    }
    errors
}

/// What the person entered, as the core's form checks read it.
fn submission_of(inputs: &FormInputs) -> Submission {
    let text = |value: &str| (!value.is_empty()).then(|| value.to_owned());
    Submission {
        account: text(&inputs.account),
        permission_set: text(&inputs.permission_set),
        group: text(&inputs.group),
        duration: text(&inputs.duration),
        reason: inputs.reason.clone(),
        start: parse_start(inputs).transpose(),
    }
}

/// Which statements a form's break-glass option is about.
#[derive(Clone, Copy)]
enum Kind {
    Account,
    Group,
}

/// Whether the form offers "Break glass": some `BreakGlass` statement of the form's kind
/// admits this requester (`AllowedUsers` names them or `AllowedGroups` holds one of their
/// groups). Only what is shown depends on it; the workflow decides every break-glass request.
fn may_break_glass(rules: &Rules, facts: &RequesterFacts, kind: Kind) -> bool {
    let offer = liftgate_policy::break_glass_offer(
        rules,
        &liftgate_policy::Requester {
            email: &facts.email,
            groups: &facts.groups,
        },
    );
    match kind {
        Kind::Account => offer.accounts,
        Kind::Group => offer.groups,
    }
}

/// A break-glass request starts now: said under the start field at once (the workflow
/// refuses it too, `break_glass_now_only`).
fn refuse_deferred_break_glass(inputs: &FormInputs, refusals: &mut FieldRefusals) {
    let deferred = !inputs.start_date.is_empty() || !inputs.start_time.is_empty();
    if inputs.break_glass && deferred {
        refusals.refuse(
            FormField::Start,
            "Break-glass access starts now: leave the start date and time empty.",
        );
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
        if accounts.is_empty() {
            return Err("No rule lets you request access to an AWS account.".to_owned());
        }
        // The permission sets shown are those of the picked account, never another's: with
        // no account picked yet (and more than one to pick from) the list starts empty and
        // fills from the account chosen on the card (dataset `permission_sets`).
        let account = match accounts.as_slice() {
            _ if accounts.iter().any(|a| *a.id == *inputs.account) => inputs.account.clone(),
            [only] => only.id.to_string(),
            _ => String::new(),
        };
        let permission_sets = if account.is_empty() {
            Vec::new()
        } else {
            self.service
                .requestable_permission_sets(&facts, &account)
                .await
                .map_err(|error| explain(&error))?
        };
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
            .map(|a| (format!("{} ({})", a.name, a.id), a.id.to_string()))
            .collect();
        let typeahead = choices.len() > TYPEAHEAD_LIMIT;
        let shown = if typeahead {
            limit_choices(&choices, &account)
        } else {
            choices
        };
        let warnings = shown
            .iter()
            .flat_map(|(label, id)| {
                self.service
                    .account_warnings(id)
                    .into_iter()
                    .map(|warning| (label.clone(), warning))
            })
            .collect();
        let form = AccessForm {
            form_id: form_id.unwrap_or_else(new_form_id),
            accounts: shown,
            typeahead,
            warnings,
            permission_sets,
            durations,
            inputs: FormInputs {
                account,
                permission_set,
                duration,
                ..inputs.clone()
            },
            errors,
            max_reason_length: self.service.settings().max_reason_length,
            break_glass: may_break_glass(self.service.rules(), &facts, Kind::Account),
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
            max_reason_length: self.service.settings().max_reason_length,
            break_glass: may_break_glass(self.service.rules(), &facts, Kind::Group),
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
            max_reason_length: self.service.settings().max_reason_length,
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
        let submission = submission_of(&inputs);
        let checked = self.service.check_submission(
            conversation::FormKind::Account,
            &submission,
            Some(&facts),
            None,
        );
        let mut refusals = checked.as_ref().err().cloned().unwrap_or_default();
        refuse_deferred_break_glass(&inputs, &mut refusals);
        // Whether the choices are ones this person may pick (the workflow checks it again).
        if let Some(account_id) = &submission.account {
            let accounts = match self.service.requestable_accounts(&facts).await {
                Ok(accounts) => accounts,
                Err(error) => return responses::message(&explain(&error)),
            };
            match accounts.iter().find(|a| *a.id == **account_id) {
                None => refusals.refuse(
                    FormField::Account,
                    format!("You cannot request access to account {account_id}."),
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
                    if let Some(set) = &submission.permission_set
                        && !sets.contains(set)
                    {
                        refusals.refuse(
                            FormField::PermissionSet,
                            format!(
                                "{set} cannot be requested on {}; choose one of: {}.",
                                account.name,
                                sets.join(", ")
                            ),
                        );
                    }
                }
            }
        }
        self.create_or_refuse(caller, Form::Access, &inputs, checked, refusals, form_id)
            .await
    }

    pub(crate) async fn submit_group_form(&self, caller: &Caller, data: &Value) -> HttpResponse {
        let inputs = FormInputs::from_data(data);
        let form_id = form_id_of(data);
        let facts = match self.facts(caller).await {
            Ok(facts) => facts,
            Err(message) => return responses::message(&message),
        };
        let submission = submission_of(&inputs);
        let checked = self.service.check_submission(
            conversation::FormKind::Group,
            &submission,
            Some(&facts),
            None,
        );
        let mut refusals = checked.as_ref().err().cloned().unwrap_or_default();
        refuse_deferred_break_glass(&inputs, &mut refusals);
        if let Some(group_id) = &submission.group {
            let groups = match self.service.requestable_groups(&facts).await {
                Ok(groups) => groups,
                Err(error) => return responses::message(&explain(&error)),
            };
            if !groups.iter().any(|g| &g.id == group_id) {
                refusals.refuse(
                    FormField::Group,
                    format!("You cannot request membership of group {group_id}."),
                );
            }
        }
        self.create_or_refuse(caller, Form::Group, &inputs, checked, refusals, form_id)
            .await
    }

    /// Creates the request of a checked form, or shows the form again with every refusal
    /// (the core's and those about the choices offered).
    async fn create_or_refuse(
        &self,
        caller: &Caller,
        form: Form<'_>,
        inputs: &FormInputs,
        checked: Result<CheckedSubmission, FieldRefusals>,
        refusals: FieldRefusals,
        form_id: Option<String>,
    ) -> HttpResponse {
        match checked {
            Ok(checked) if refusals.is_empty() => {
                let Some(target) = checked.target.clone() else {
                    return responses::invoke_error("the form names nothing to request");
                };
                self.create_request(caller, form, inputs, (target, None), &checked, form_id)
                    .await
            }
            _ => {
                self.form_again(caller, form, inputs, form_errors(&refusals), form_id)
                    .await
            }
        }
    }

    /// "Extend" on an active grant: the extension form, for the person holding it (the
    /// core decides who may: `AccessService::extension`).
    pub(crate) async fn show_extend_form(
        &self,
        caller: &Caller,
        request_id: &RequestId,
    ) -> HttpResponse {
        let extension = match self.service.extension(request_id, &caller.person).await {
            Ok(extension) => extension,
            Err(error) => return responses::message(&explain(&error)),
        };
        self.form_again(
            caller,
            Form::Extend(&extension.request),
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
        let extension = match self.service.extension(&request_id, &caller.person).await {
            Ok(extension) => extension,
            Err(error) => return responses::message(&explain(&error)),
        };
        let inputs = FormInputs::from_data(data);
        let form_id = form_id_of(data);
        let checked = match self.service.check_submission(
            conversation::FormKind::Extension,
            &submission_of(&inputs),
            None,
            extension.request.max_duration,
        ) {
            Ok(checked) => checked,
            Err(refusals) => {
                return self
                    .form_again(
                        caller,
                        Form::Extend(&extension.request),
                        &inputs,
                        form_errors(&refusals),
                        form_id,
                    )
                    .await;
            }
        };
        // The target comes from the stored request, never from the card.
        self.create_request(
            caller,
            Form::Extend(&extension.request),
            &inputs,
            (extension.target.clone(), Some(extension.grant_id.clone())),
            &checked,
            form_id,
        )
        .await
    }

    async fn create_request(
        &self,
        caller: &Caller,
        form: Form<'_>,
        inputs: &FormInputs,
        (target, extends): (TargetInput, Option<GrantId>),
        checked: &CheckedSubmission,
        form_id: Option<String>,
    ) -> HttpResponse {
        // Only the request forms carry the toggle; an extension never breaks the glass.
        let break_glass = inputs.break_glass && !matches!(form, Form::Extend(_));
        let new = NewRequest {
            requester: caller.person.clone(),
            target,
            duration: checked.duration,
            reason: checked.reason.clone(),
            channel: Channel::Teams,
            start_at: checked.start_at,
            extends,
            // Always a key: recorded work resumed after a crash must not create twice.
            idempotency_key: Some(format!(
                "teams:{}:{}",
                caller.user_id,
                form_id.clone().unwrap_or_else(new_form_id)
            )),
            break_glass,
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
                match (&error, conversation::field_of(&error).map(input_of)) {
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
        assert_eq!(input_of(FormField::Duration), field::DURATION);
        assert_eq!(input_of(FormField::Start), field::START_DATE);
    }
}
