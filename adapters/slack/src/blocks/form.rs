//! The modals: the account and group request forms, the extension form, and the small
//! "loading" and "cannot do that" views shown in their place.

use liftgate_gateway::domain::AccessRequest;
use liftgate_gateway::ports::{AccountInfo, GroupInfo};
use liftgate_policy::Duration;
use serde_json::{Value, json};

use super::{context, date, escape, humanize, option, plain, section, truncate};

/// `callback_id`s of our modals.
pub(crate) const ACCOUNT_FORM: &str = "liftgate_access_request";
pub(crate) const GROUP_FORM: &str = "liftgate_group_request";
pub(crate) const EXTEND_FORM: &str = "liftgate_extend";
/// Views that only say something (loading, errors); submitting them is impossible.
pub(crate) const NOTE_VIEW: &str = "liftgate_note";

/// Block and action ids. Blocks whose choices depend on earlier answers carry a suffix, so
/// Slack resets the answer when the choices change (it keeps input of unchanged ids).
pub(crate) const ACCOUNT: &str = "account";
pub(crate) const PERMISSION_SET: &str = "permission_set";
pub(crate) const GROUP: &str = "group";
pub(crate) const DURATION: &str = "duration";
pub(crate) const REASON: &str = "reason";
pub(crate) const START: &str = "start_at";
pub(crate) const BREAK_GLASS: &str = "break_glass";

/// More choices than this need an external select with type-ahead.
pub(crate) const MAX_STATIC_OPTIONS: usize = 100;

/// Slack caps plain-text inputs at 3000 characters.
const SLACK_INPUT_LIMIT: u32 = 3000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FormKind {
    Account,
    Group,
}

impl FormKind {
    fn title(self) -> &'static str {
        match self {
            FormKind::Account => "AWS access",
            FormKind::Group => "AWS group access",
        }
    }
}

/// What the account form shows: the choices so far and what they allow next.
#[derive(Debug)]
pub(crate) struct AccountFormModel<'a> {
    pub accounts: &'a [AccountInfo],
    pub account: Option<&'a AccountInfo>,
    /// The permission sets of the chosen account; `None` until an account is chosen.
    pub permission_sets: Option<&'a [String]>,
    pub permission_set: Option<&'a str>,
    pub durations: &'a [Duration],
    pub max_reason: u32,
    pub approvals_channel: &'a str,
    /// The `Warning`s of the statements naming the chosen account.
    pub warnings: &'a [String],
    /// Offer "Break glass": some `BreakGlass` statement admits this requester.
    pub break_glass: bool,
}

#[derive(Debug)]
pub(crate) struct GroupFormModel<'a> {
    pub groups: &'a [GroupInfo],
    pub group: Option<&'a GroupInfo>,
    pub durations: &'a [Duration],
    pub max_reason: u32,
    pub approvals_channel: &'a str,
    /// Offer "Break glass", as for [`AccountFormModel::break_glass`].
    pub break_glass: bool,
}

pub(crate) fn account_label(account: &AccountInfo) -> String {
    format!("{} ({})", account.name, account.id)
}

pub(crate) fn account_option(account: &AccountInfo) -> Option<Value> {
    option(&account_label(account), &account.id)
}

pub(crate) fn group_option(group: &GroupInfo) -> Option<Value> {
    option(&group.name, &group.id)
}

pub(crate) fn name_option(name: &str) -> Option<Value> {
    option(name, name)
}

fn duration_option(duration: Duration) -> Option<Value> {
    option(&humanize(duration), &duration.to_string())
}

/// A select of these options, static up to [`MAX_STATIC_OPTIONS`], else with type-ahead.
fn select(
    action_id: &str,
    placeholder: &str,
    options: Vec<Value>,
    initial: Option<Value>,
) -> Value {
    let mut element = if options.len() > MAX_STATIC_OPTIONS {
        json!({ "type": "external_select", "action_id": action_id, "min_query_length": 0 })
    } else {
        json!({ "type": "static_select", "action_id": action_id, "options": options })
    };
    element["placeholder"] = plain(placeholder);
    if let Some(initial) = initial {
        element["initial_option"] = initial;
    }
    element
}

fn input(block_id: &str, label: &str, element: Value, dispatch: bool) -> Value {
    let mut block =
        json!({ "type": "input", "block_id": block_id, "label": plain(label), "element": element });
    if dispatch {
        block["dispatch_action"] = json!(true);
    }
    block
}

pub(crate) fn duration_block_id(durations: &[Duration]) -> String {
    let longest = durations
        .iter()
        .max()
        .map_or(0, |duration| duration.as_secs());
    format!("{DURATION}.{longest}")
}

pub(crate) fn permission_set_block_id(account_id: &str) -> String {
    format!("{PERMISSION_SET}.{account_id}")
}

fn duration_input(durations: &[Duration]) -> Value {
    let options: Vec<Value> = durations
        .iter()
        .copied()
        .filter_map(duration_option)
        .collect();
    let initial = options.first().cloned();
    input(
        &duration_block_id(durations),
        "Duration",
        select(DURATION, "How long", options, initial),
        false,
    )
}

fn reason_input(max_reason: u32) -> Value {
    let element = json!({
        "type": "plain_text_input",
        "action_id": REASON,
        "multiline": true,
        "max_length": max_reason.clamp(1, SLACK_INPUT_LIMIT),
        "placeholder": plain("What do you need it for? The reason is kept in the audit log."),
    });
    input(REASON, "Reason", element, false)
}

fn start_input() -> Value {
    let mut block = input(
        START,
        "Start time",
        json!({ "type": "datetimepicker", "action_id": START }),
        false,
    );
    block["optional"] = json!(true);
    block["hint"] = plain("Leave empty to start as soon as the request is approved.");
    block
}

/// The break-glass option (docs/reference.md §3): shown only to someone a `BreakGlass`
/// statement admits; whether the request is granted is still the workflow's decision.
fn break_glass_input() -> Value {
    let option = json!({
        "text": plain("Break glass: emergency access now, without approval; reviewed afterwards"),
        "value": BREAK_GLASS,
    });
    let mut block = input(
        BREAK_GLASS,
        "Emergency",
        json!({ "type": "checkboxes", "action_id": BREAK_GLASS, "options": [option] }),
        false,
    );
    block["optional"] = json!(true);
    block["hint"] = plain(
        "Only for an emergency: the approvers are told at once and must review the use. Leave the start time empty.",
    );
    block
}

fn modal(
    callback_id: &str,
    title: &str,
    submit: Option<&str>,
    blocks: Vec<Value>,
    metadata: &str,
) -> Value {
    let mut view = json!({
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(&truncate(title, 24)),
        "close": plain(if submit.is_some() { "Cancel" } else { "Close" }),
        "blocks": blocks,
    });
    if let Some(submit) = submit {
        view["submit"] = plain(submit);
    }
    if !metadata.is_empty() {
        view["private_metadata"] = json!(metadata);
    }
    view
}

/// Shown at once, while the choices are looked up.
pub(crate) fn loading_view(kind: FormKind) -> Value {
    modal(
        NOTE_VIEW,
        kind.title(),
        None,
        vec![section(
            ":hourglass_flowing_sand: Looking up what you can request…",
        )],
        "",
    )
}

/// A view that only explains something (nothing to request, a problem with the identity).
pub(crate) fn note_view(title: &str, text: &str) -> Value {
    modal(NOTE_VIEW, title, None, vec![section(text)], "")
}

pub(crate) fn note_for(kind: FormKind, text: &str) -> Value {
    note_view(kind.title(), text)
}

fn intro(what: &str, approvals_channel: &str) -> Value {
    section(&format!(
        "{what} Approvers see the request in <#{}>; you get a direct message at each step.",
        escape(approvals_channel)
    ))
}

pub(crate) fn account_form(model: &AccountFormModel<'_>) -> Value {
    let mut blocks = vec![intro(
        "Ask for temporary access to an AWS account.",
        model.approvals_channel,
    )];
    let accounts: Vec<Value> = model.accounts.iter().filter_map(account_option).collect();
    let initial = model.account.and_then(account_option);
    blocks.push(input(
        ACCOUNT,
        "Account",
        select(ACCOUNT, "Choose an account", accounts, initial),
        true,
    ));
    for warning in model.warnings {
        blocks.push(section(&format!(":warning: {}", escape(warning))));
    }
    match (model.account, model.permission_sets) {
        (Some(account), Some(sets)) if !sets.is_empty() => {
            let options: Vec<Value> = sets.iter().filter_map(|name| name_option(name)).collect();
            let initial = model.permission_set.and_then(name_option);
            let element = select(PERMISSION_SET, "Choose a permission set", options, initial);
            blocks.push(input(
                &permission_set_block_id(&account.id),
                "Permission set",
                element,
                true,
            ));
        }
        (Some(account), Some(_)) => blocks.push(section(&format!(
            ":no_entry: No permission set of *{}* can be requested by you.",
            escape(&account_label(account))
        ))),
        _ => blocks.push(context("Choose an account to see its permission sets.")),
    }
    blocks.push(duration_input(model.durations));
    blocks.push(reason_input(model.max_reason));
    if model.break_glass {
        blocks.push(break_glass_input());
    }
    blocks.push(start_input());
    blocks.push(context("Everything done with this access is recorded."));
    modal(
        ACCOUNT_FORM,
        FormKind::Account.title(),
        Some("Request"),
        blocks,
        "",
    )
}

pub(crate) fn group_form(model: &GroupFormModel<'_>) -> Value {
    let mut blocks = vec![intro(
        "Ask for temporary membership of an AWS IAM Identity Center group.",
        model.approvals_channel,
    )];
    let groups: Vec<Value> = model.groups.iter().filter_map(group_option).collect();
    let initial = model.group.and_then(group_option);
    blocks.push(input(
        GROUP,
        "Group",
        select(GROUP, "Choose a group", groups, initial),
        true,
    ));
    blocks.push(duration_input(model.durations));
    blocks.push(reason_input(model.max_reason));
    if model.break_glass {
        blocks.push(break_glass_input());
    }
    blocks.push(start_input());
    blocks.push(context("Everything done with this access is recorded."));
    modal(
        GROUP_FORM,
        FormKind::Group.title(),
        Some("Request"),
        blocks,
        "",
    )
}

/// Asks for more time on an active grant; `private_metadata` names the request it extends.
pub(crate) fn extend_form(
    request: &AccessRequest,
    durations: &[Duration],
    max_reason: u32,
) -> Value {
    let until = request
        .ends_at
        .map(|at| format!(", which ends {}", date(at)))
        .unwrap_or_default();
    let blocks = vec![
        section(&format!(
            "Extend *{}*{until}.",
            escape(&request.target.describe())
        )),
        duration_input(durations),
        reason_input(max_reason),
        context("The extension needs the same approvals as a new request."),
    ];
    modal(
        EXTEND_FORM,
        "Extend access",
        Some("Request"),
        blocks,
        request.id.as_str(),
    )
}
