//! The request forms: account access (Account, Permission set, Duration, Reason, optional
//! start), group access (Group, Duration, Reason, optional start) and extension (Duration,
//! Reason). A form shown again after a refused submit keeps what was entered and shows each
//! problem under its field.

use std::collections::BTreeMap;

use liftgate_policy::Duration;
use serde_json::{Value, json};

use super::{TYPEAHEAD_LIMIT, card, error_text, execute, facts, text, title, verb};

/// Input ids, which are also the keys of the submitted `data`.
pub(crate) mod field {
    pub(crate) const ACCOUNT: &str = "account";
    pub(crate) const PERMISSION_SET: &str = "permission_set";
    pub(crate) const GROUP: &str = "group";
    pub(crate) const DURATION: &str = "duration";
    pub(crate) const REASON: &str = "reason";
    pub(crate) const START_DATE: &str = "start_date";
    pub(crate) const START_TIME: &str = "start_time";
    pub(crate) const BREAK_GLASS: &str = "break_glass";
    pub(crate) const FORM_ID: &str = "form_id";
    pub(crate) const REQUEST_ID: &str = "request_id";
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FormErrors {
    /// A problem that belongs to no single field.
    pub(crate) general: Option<String>,
    pub(crate) fields: BTreeMap<&'static str, String>,
}

impl FormErrors {
    pub(crate) fn set(&mut self, field: &'static str, message: impl Into<String>) {
        self.fields.insert(field, message.into());
    }
}

/// What the person entered, as the card sends it back (every value a string).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FormInputs {
    pub(crate) account: String,
    pub(crate) permission_set: String,
    pub(crate) group: String,
    pub(crate) duration: String,
    pub(crate) reason: String,
    pub(crate) start_date: String,
    pub(crate) start_time: String,
    /// "Break glass" was switched on (the toggle sends `"true"`).
    pub(crate) break_glass: bool,
}

impl FormInputs {
    pub(crate) fn from_data(data: &Value) -> FormInputs {
        let read = |key: &str| {
            data.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        FormInputs {
            account: read(field::ACCOUNT),
            permission_set: read(field::PERMISSION_SET),
            group: read(field::GROUP),
            duration: read(field::DURATION),
            // The reason keeps its inner line breaks; only the ends are trimmed.
            reason: read(field::REASON),
            start_date: read(field::START_DATE),
            start_time: read(field::START_TIME),
            break_glass: read(field::BREAK_GLASS) == "true",
        }
    }
}

/// The account access form.
#[derive(Debug, Clone)]
pub(crate) struct AccessForm {
    pub(crate) form_id: String,
    /// (title, value) pairs: "Prod (111111111111)", "111111111111".
    pub(crate) accounts: Vec<(String, String)>,
    /// More accounts than a dropdown should list: the rest are found by typing.
    pub(crate) typeahead: bool,
    /// (account label, warning) for the accounts shown whose statements carry a `Warning`:
    /// the card cannot change when an account is picked, so it says them up front.
    pub(crate) warnings: Vec<(String, String)>,
    pub(crate) permission_sets: Vec<String>,
    pub(crate) durations: Vec<Duration>,
    pub(crate) inputs: FormInputs,
    pub(crate) errors: FormErrors,
    /// `requests.max_reason_length`: the reason input stops there, as the core's checks do.
    pub(crate) max_reason_length: u32,
    /// Offer "Break glass": some `BreakGlass` statement admits this requester.
    pub(crate) break_glass: bool,
}

/// The group access form.
#[derive(Debug, Clone)]
pub(crate) struct GroupForm {
    pub(crate) form_id: String,
    pub(crate) groups: Vec<(String, String)>,
    pub(crate) typeahead: bool,
    pub(crate) durations: Vec<Duration>,
    pub(crate) inputs: FormInputs,
    pub(crate) errors: FormErrors,
    /// `requests.max_reason_length`: the reason input stops there, as the core's checks do.
    pub(crate) max_reason_length: u32,
    /// Offer "Break glass", as for [`AccessForm::break_glass`].
    pub(crate) break_glass: bool,
}

/// The form that extends an active grant.
#[derive(Debug, Clone)]
pub(crate) struct ExtendForm {
    pub(crate) form_id: String,
    pub(crate) request_id: String,
    /// What is being extended, e.g. "Admin on Prod (111111111111)".
    pub(crate) description: String,
    pub(crate) ends: String,
    pub(crate) durations: Vec<Duration>,
    pub(crate) inputs: FormInputs,
    pub(crate) errors: FormErrors,
    /// `requests.max_reason_length`: the reason input stops there, as the core's checks do.
    pub(crate) max_reason_length: u32,
}

fn choice_set(
    id: &str,
    label: &str,
    choices: &[(String, String)],
    value: &str,
    placeholder: &str,
    dataset: Option<&str>,
) -> Value {
    let choices: Vec<Value> = choices
        .iter()
        .map(|(title, value)| json!({ "title": title, "value": value }))
        .collect();
    let mut input = json!({
        "type": "Input.ChoiceSet",
        "id": id,
        "label": label,
        "style": "compact",
        "isRequired": false,
        "placeholder": placeholder,
        "choices": choices,
    });
    if !value.is_empty() {
        input["value"] = Value::String(value.to_owned());
    }
    if let Some(dataset) = dataset {
        input["style"] = Value::String("filtered".to_owned());
        input["choices.data"] = json!({ "type": "Data.Query", "dataset": dataset });
    }
    input
}

fn duration_choices(durations: &[Duration]) -> Vec<(String, String)> {
    durations
        .iter()
        .map(|duration| (duration.to_string(), duration.to_string()))
        .collect()
}

fn push_field_error(body: &mut Vec<Value>, errors: &FormErrors, id: &str) {
    if let Some(message) = errors.fields.get(id) {
        let mut block = error_text(message);
        block["id"] = Value::String(format!("{id}_error"));
        block["spacing"] = Value::String("None".to_owned());
        body.push(block);
    }
}

fn push_general_error(body: &mut Vec<Value>, errors: &FormErrors) {
    if let Some(message) = &errors.general {
        body.push(error_text(message));
    }
}

fn push_duration_reason_start(
    body: &mut Vec<Value>,
    durations: &[Duration],
    inputs: &FormInputs,
    errors: &FormErrors,
    with_start: bool,
    max_reason_length: u32,
) {
    body.push(choice_set(
        field::DURATION,
        "Duration",
        &duration_choices(durations),
        &inputs.duration,
        "How long?",
        None,
    ));
    push_field_error(body, errors, field::DURATION);
    let mut reason = json!({
        "type": "Input.Text",
        "id": field::REASON,
        "label": "Reason",
        "isMultiline": true,
        "maxLength": max_reason_length,
        "placeholder": "Why do you need this access?",
    });
    if !inputs.reason.is_empty() {
        reason["value"] = Value::String(inputs.reason.clone());
    }
    body.push(reason);
    push_field_error(body, errors, field::REASON);
    if with_start {
        let mut date = json!({ "type": "Input.Date", "id": field::START_DATE, "label": "Start date (UTC, optional)" });
        if !inputs.start_date.is_empty() {
            date["value"] = Value::String(inputs.start_date.clone());
        }
        let mut time = json!({ "type": "Input.Time", "id": field::START_TIME, "label": "Start time (UTC, optional)" });
        if !inputs.start_time.is_empty() {
            time["value"] = Value::String(inputs.start_time.clone());
        }
        body.push(date);
        body.push(time);
        push_field_error(body, errors, field::START_DATE);
    }
}

/// The break-glass option (docs/reference.md §3), only on the forms of someone a
/// `BreakGlass` statement admits; whether the request is granted is the workflow's decision.
fn push_break_glass(body: &mut Vec<Value>, inputs: &FormInputs, errors: &FormErrors) {
    body.push(json!({
        "type": "Input.Toggle",
        "id": field::BREAK_GLASS,
        "title": "Break glass: emergency access now, without approval; reviewed afterwards",
        "valueOn": "true",
        "valueOff": "false",
        "value": if inputs.break_glass { "true" } else { "false" },
        "wrap": true,
    }));
    body.push(json!({
        "type": "TextBlock",
        "text": "Only for an emergency: the approvers are told at once and must review the use. Leave the start empty.",
        "isSubtle": true,
        "size": "Small",
        "spacing": "None",
        "wrap": true,
    }));
    push_field_error(body, errors, field::BREAK_GLASS);
}

impl AccessForm {
    pub(crate) fn render(&self) -> Value {
        let mut body = vec![title("Request AWS access")];
        push_general_error(&mut body, &self.errors);
        let dataset = self.typeahead.then_some(super::dataset::ACCOUNTS);
        let mut account = choice_set(
            field::ACCOUNT,
            "Account",
            &self.accounts,
            &self.inputs.account,
            "Choose an account",
            dataset,
        );
        // A new account empties the permission set, whose choices follow the account.
        account["valueChangedAction"] = json!({
            "type": "Action.ResetInputs",
            "targetInputIds": [field::PERMISSION_SET],
        });
        body.push(account);
        push_field_error(&mut body, &self.errors, field::ACCOUNT);
        for (account, warning) in &self.warnings {
            body.push(super::request::warning_text(&format!(
                "{account}: {warning}"
            )));
        }
        let sets: Vec<(String, String)> = self
            .permission_sets
            .iter()
            .map(|name| (name.clone(), name.clone()))
            .collect();
        // The choices are those of the account on the card as the person types: Teams sends
        // the card's inputs with each search. Before an account is picked there are none.
        let mut permission_set = choice_set(
            field::PERMISSION_SET,
            "Permission set",
            &sets,
            &self.inputs.permission_set,
            "Choose a permission set",
            Some(super::dataset::PERMISSION_SETS),
        );
        permission_set["choices.data"]["associatedInputs"] = json!("auto");
        body.push(permission_set);
        push_field_error(&mut body, &self.errors, field::PERMISSION_SET);
        push_duration_reason_start(
            &mut body,
            &self.durations,
            &self.inputs,
            &self.errors,
            true,
            self.max_reason_length,
        );
        if self.break_glass {
            push_break_glass(&mut body, &self.inputs, &self.errors);
        }
        let data = json!({ field::FORM_ID: self.form_id });
        card(
            body,
            vec![execute(
                "Submit",
                verb::ACCESS_SUBMIT,
                data,
                Some("positive"),
            )],
        )
    }
}

impl GroupForm {
    pub(crate) fn render(&self) -> Value {
        let mut body = vec![title("Request AWS group membership")];
        push_general_error(&mut body, &self.errors);
        let dataset = self.typeahead.then_some(super::dataset::GROUPS);
        body.push(choice_set(
            field::GROUP,
            "Group",
            &self.groups,
            &self.inputs.group,
            "Choose a group",
            dataset,
        ));
        push_field_error(&mut body, &self.errors, field::GROUP);
        push_duration_reason_start(
            &mut body,
            &self.durations,
            &self.inputs,
            &self.errors,
            true,
            self.max_reason_length,
        );
        if self.break_glass {
            push_break_glass(&mut body, &self.inputs, &self.errors);
        }
        let data = json!({ field::FORM_ID: self.form_id });
        card(
            body,
            vec![execute(
                "Submit",
                verb::GROUP_SUBMIT,
                data,
                Some("positive"),
            )],
        )
    }
}

impl ExtendForm {
    pub(crate) fn render(&self) -> Value {
        let mut body = vec![title("Extend AWS access")];
        push_general_error(&mut body, &self.errors);
        body.push(facts(&[
            ("Access", self.description.clone()),
            ("Ends", self.ends.clone()),
        ]));
        body.push(text(
            "The extension is a new request, decided by the same rules as the first.",
        ));
        push_duration_reason_start(
            &mut body,
            &self.durations,
            &self.inputs,
            &self.errors,
            false,
            self.max_reason_length,
        );
        let data = json!({ field::FORM_ID: self.form_id, field::REQUEST_ID: self.request_id });
        card(
            body,
            vec![execute(
                "Request extension",
                verb::EXTEND_SUBMIT,
                data,
                Some("positive"),
            )],
        )
    }
}

/// At most [`TYPEAHEAD_LIMIT`] static choices, always including the selected one.
pub(crate) fn limit_choices(choices: &[(String, String)], selected: &str) -> Vec<(String, String)> {
    let mut limited: Vec<(String, String)> =
        choices.iter().take(TYPEAHEAD_LIMIT).cloned().collect();
    if !selected.is_empty()
        && !limited.iter().any(|(_, value)| value == selected)
        && let Some(choice) = choices.iter().find(|(_, value)| value == selected)
    {
        limited.pop();
        limited.insert(0, choice.clone());
    }
    limited
}
