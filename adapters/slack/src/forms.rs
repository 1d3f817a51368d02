//! The request forms: opening them (a loading view at once, then the choices), updating them
//! when an answer changes what can be chosen next, loading options for type-ahead selects,
//! and checking a submission before the workflow sees it.

use std::collections::BTreeMap;
use std::sync::Arc;

use liftgate_gateway::conversation::{self, FieldRefusals, FormField, Submission};
use liftgate_gateway::domain::{Channel, RequestId};
use liftgate_gateway::workflow::{NewRequest, RequesterFacts, TargetInput, WorkflowError};
use liftgate_policy::{Duration, Rules, Target};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::adapter::{Reply, SlackAdapter};
use crate::blocks::form::{
    self, ACCOUNT, AccountFormModel, BREAK_GLASS, DURATION, EXTEND_FORM, FormKind, GROUP,
    GroupFormModel, MAX_STATIC_OPTIONS, PERMISSION_SET, REASON, START,
};
use crate::inbox::SlackWork;
use crate::payload::{Ack, Interaction, View};
use crate::sessions::FormSession;

/// What the person has chosen so far in an open form.
#[derive(Debug, Default)]
struct Selection {
    account: Option<String>,
    permission_set: Option<String>,
    group: Option<String>,
}

impl Selection {
    fn of(view: &View) -> Selection {
        Selection {
            account: view.selected(ACCOUNT).map(str::to_owned),
            permission_set: view.selected(PERMISSION_SET).map(str::to_owned),
            group: view.selected(GROUP).map(str::to_owned),
        }
    }
}

/// A submission that passed the quick checks. Recorded in the inbox before the ack, so it
/// is plain serde data.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Draft {
    target: Option<TargetInput>,
    /// For an extension: the request whose grant to extend (its target is used).
    extends_request: Option<RequestId>,
    duration: Duration,
    reason: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    start_at: Option<OffsetDateTime>,
    idempotency_key: String,
    /// "Break glass" was ticked: decided by the workflow over the `BreakGlass` statements.
    #[serde(default)]
    break_glass: bool,
}

type InlineErrors = BTreeMap<String, String>;

fn form_kind(callback_id: &str) -> Option<FormKind> {
    match callback_id {
        form::ACCOUNT_FORM => Some(FormKind::Account),
        form::GROUP_FORM => Some(FormKind::Group),
        _ => None,
    }
}

/// A workflow refusal as one sentence for the person concerned.
pub(crate) fn workflow_text(error: &WorkflowError) -> String {
    conversation::refusal_text(error)
}

fn nothing_to_request(kind: FormKind) -> &'static str {
    match kind {
        FormKind::Account => {
            "No rule lets you request access to an AWS account. If you think that is wrong, ask your administrators."
        }
        FormKind::Group => {
            "No rule lets you request membership of an AWS group. If you think that is wrong, ask your administrators."
        }
    }
}

/// Whether the form offers "Break glass": some `BreakGlass` statement of the form's kind
/// admits this requester (`AllowedUsers` names them or `AllowedGroups` holds one of their
/// groups). Only what is shown depends on it; the workflow decides every break-glass request.
fn may_break_glass(rules: &Rules, facts: &RequesterFacts, kind: FormKind) -> bool {
    let offer = liftgate_policy::break_glass_offer(
        rules,
        &liftgate_policy::Requester {
            email: &facts.email,
            groups: &facts.groups,
        },
    );
    match kind {
        FormKind::Account => offer.accounts,
        FormKind::Group => offer.groups,
    }
}

const TRY_AGAIN: &str = "Slack took too long to open the form. Please try again.";

impl SlackAdapter {
    /// Opens a request form: a loading view within the trigger's 3 seconds, then the choices.
    pub(crate) async fn open_form(
        self: Arc<Self>,
        kind: FormKind,
        user_id: String,
        trigger_id: String,
        reply: Reply,
    ) {
        let opened = match self
            .api
            .views_open(&trigger_id, &form::loading_view(kind))
            .await
        {
            Ok(opened) => opened,
            Err(error) => {
                tracing::warn!(slack_user = %user_id, %error, "Could not open the request form.");
                let text = if error.is_trigger_problem() {
                    TRY_AGAIN
                } else {
                    "Slack could not open the form just now. Please try again in a minute."
                };
                self.tell(&user_id, &reply, text).await;
                return;
            }
        };
        let view = self
            .render_form(kind, &opened.id, &user_id, &Selection::default())
            .await;
        if let Err(error) = self
            .api
            .views_update(&opened.id, opened.hash.as_deref(), &view)
            .await
        {
            // A hash conflict means the person already moved on (or closed the form).
            tracing::debug!(%error, "Could not fill the request form.");
        }
    }

    /// The form for what is chosen so far, or a note saying why there is nothing to choose.
    async fn render_form(
        &self,
        kind: FormKind,
        session_key: &str,
        user_id: &str,
        selection: &Selection,
    ) -> Value {
        let session = match self.session(kind, session_key, user_id).await {
            Ok(session) => session,
            Err(text) => return form::note_for(kind, &text),
        };
        let max_reason = self.service.settings().max_reason_length;
        let channel = self.settings.channel_id.as_str();
        let break_glass = may_break_glass(self.service.rules(), &session.facts, kind);
        match kind {
            FormKind::Account => {
                if session.accounts.is_empty() {
                    return form::note_for(kind, nothing_to_request(kind));
                }
                let account = selection
                    .account
                    .as_deref()
                    .and_then(|id| session.account(id))
                    .or_else(|| (session.accounts.len() == 1).then(|| &session.accounts[0]));
                let permission_sets = match account {
                    Some(account) => match self.permission_sets(&session, &account.id).await {
                        Ok(sets) => Some(sets),
                        Err(text) => return form::note_for(kind, &text),
                    },
                    None => None,
                };
                let permission_set = permission_sets.as_deref().and_then(|sets| {
                    selection
                        .permission_set
                        .as_deref()
                        .filter(|chosen| sets.iter().any(|set| set == chosen))
                        .or_else(|| (sets.len() == 1).then(|| sets[0].as_str()))
                });
                let max = match (account, permission_set) {
                    (Some(account), Some(permission_set)) => self.service.max_duration_for(
                        &session.facts,
                        &Target::Account {
                            account_id: &account.id,
                            permission_set,
                        },
                    ),
                    _ => self.service.settings().max_duration,
                };
                let durations = self.service.duration_choices(Some(max));
                let warnings = account
                    .map(|account| self.service.account_warnings(&account.id))
                    .unwrap_or_default();
                form::account_form(&AccountFormModel {
                    accounts: &session.accounts,
                    account,
                    permission_sets: permission_sets.as_deref(),
                    permission_set,
                    durations: &durations,
                    max_reason,
                    approvals_channel: channel,
                    warnings: &warnings,
                    break_glass,
                })
            }
            FormKind::Group => {
                if session.groups.is_empty() {
                    return form::note_for(kind, nothing_to_request(kind));
                }
                let group = selection
                    .group
                    .as_deref()
                    .and_then(|id| session.group(id))
                    .or_else(|| (session.groups.len() == 1).then(|| &session.groups[0]));
                let max = match group {
                    Some(group) => self.service.max_duration_for(
                        &session.facts,
                        &Target::Group {
                            group_id: &group.id,
                        },
                    ),
                    None => self.service.settings().max_duration,
                };
                let durations = self.service.duration_choices(Some(max));
                form::group_form(&GroupFormModel {
                    groups: &session.groups,
                    group,
                    durations: &durations,
                    max_reason,
                    approvals_channel: channel,
                    break_glass,
                })
            }
        }
    }

    /// The form session of a view, built (identity, rules facts, choices) when missing.
    async fn session(
        &self,
        kind: FormKind,
        key: &str,
        user_id: &str,
    ) -> Result<Arc<FormSession>, String> {
        let now = self.service.clock().now();
        if let Some(session) = self.forms.get(key, user_id, now) {
            return Ok(session);
        }
        let person = self.people.person(user_id).await.map_err(|error| {
            tracing::warn!(slack_user = %user_id, %error, "Could not identify a Slack user.");
            error.for_people()
        })?;
        let facts = self
            .service
            .requester_facts(&person.email)
            .await
            .map_err(|error| workflow_text(&error))?;
        let (accounts, groups) = match kind {
            FormKind::Account => (
                self.service
                    .requestable_accounts(&facts)
                    .await
                    .map_err(|error| workflow_text(&error))?,
                Vec::new(),
            ),
            FormKind::Group => (
                Vec::new(),
                self.service
                    .requestable_groups(&facts)
                    .await
                    .map_err(|error| workflow_text(&error))?,
            ),
        };
        let session = Arc::new(FormSession::new(facts, accounts, groups, now));
        self.forms.put(key, user_id, Arc::clone(&session), now);
        Ok(session)
    }

    async fn permission_sets(
        &self,
        session: &FormSession,
        account_id: &str,
    ) -> Result<Vec<String>, String> {
        if let Some(sets) = session.permission_sets(account_id) {
            return Ok(sets);
        }
        let sets = self
            .service
            .requestable_permission_sets(&session.facts, account_id)
            .await
            .map_err(|error| workflow_text(&error))?;
        session.remember_permission_sets(account_id, sets.clone());
        Ok(sets)
    }

    /// An answer changed what can be chosen next (the account's permission sets, the
    /// durations the rules allow): show the form again, keeping what was typed.
    pub(crate) async fn refresh_form(self: Arc<Self>, user_id: String, view: View) {
        let Some(kind) = form_kind(&view.callback_id) else {
            return;
        };
        let content = self
            .render_form(kind, view.session_key(), &user_id, &Selection::of(&view))
            .await;
        if let Err(error) = self
            .api
            .views_update(&view.id, view.hash.as_deref(), &content)
            .await
        {
            tracing::debug!(%error, "Could not update the request form.");
        }
    }

    pub(crate) async fn on_submission(self: &Arc<Self>, interaction: Interaction) -> Ack {
        let Some(view) = interaction.view else {
            return Ack::Invalid("a view submission without a view".to_owned());
        };
        let user_id = interaction.user.id;
        let checked = match view.callback_id.as_str() {
            EXTEND_FORM => self.check_extension(&view),
            callback => match form_kind(callback) {
                Some(kind) => self.check_request(kind, &user_id, &view),
                None => return Ack::Empty,
            },
        };
        match checked {
            Ok(draft) => {
                self.forms.forget(view.session_key(), &user_id);
                self.run_recorded(SlackWork::Create { user_id, draft })
                    .await;
                Ack::Empty
            }
            Err(errors) => Ack::Json(json!({ "response_action": "errors", "errors": errors })),
        }
    }

    /// The checks that need no AWS call, answered inline under the right field: the core's
    /// checks of a submission, then whether the choices are still the ones this form offered.
    /// Anything the session does not know yet is left to the workflow, which reports it by
    /// direct message.
    fn check_request(
        &self,
        kind: FormKind,
        user_id: &str,
        view: &View,
    ) -> Result<Draft, InlineErrors> {
        let now = self.service.clock().now();
        let session = self.forms.get(view.session_key(), user_id, now);
        let core_kind = match kind {
            FormKind::Account => conversation::FormKind::Account,
            FormKind::Group => conversation::FormKind::Group,
        };
        let submission = submission_of(view);
        let break_glass = view.ticked(BREAK_GLASS, BREAK_GLASS);
        let checked = self.service.check_submission(
            core_kind,
            &submission,
            session.as_ref().map(|session| &session.facts),
            None,
        );
        let mut refusals = match &checked {
            Ok(_) => FieldRefusals::default(),
            Err(refusals) => refusals.clone(),
        };
        // Said here, under the field, rather than after the ack; the workflow refuses it too
        // (`break_glass_now_only`).
        if break_glass && submission.start.is_some() {
            refusals.refuse(
                FormField::Start,
                "Break-glass access starts now: leave the start time empty.",
            );
        }
        if kind == FormKind::Account
            && let (Some(account), Some(permission_set)) =
                (&submission.account, &submission.permission_set)
        {
            match view.input_block_id(PERMISSION_SET) {
                Some(block) if block != form::permission_set_block_id(account) => {
                    refusals.refuse(
                        FormField::PermissionSet,
                        "Choose a permission set of the account you chose.",
                    );
                }
                _ => {}
            }
            if let Some(session) = &session {
                if session.account(account).is_none() {
                    refusals.refuse(
                        FormField::Account,
                        "You cannot request access to this account.",
                    );
                } else if session
                    .permission_sets(account)
                    .is_some_and(|sets| !sets.iter().any(|set| set == permission_set))
                {
                    refusals.refuse(
                        FormField::PermissionSet,
                        "You cannot request this permission set here.",
                    );
                }
            }
        }
        if let (FormKind::Group, Some(group), Some(session)) = (kind, &submission.group, &session)
            && session.group(group).is_none()
        {
            refusals.refuse(
                FormField::Group,
                "You cannot request membership of this group.",
            );
        }
        match checked {
            Ok(checked) if refusals.is_empty() => Ok(Draft {
                target: checked.target,
                extends_request: None,
                duration: checked.duration,
                reason: checked.reason,
                start_at: checked.start_at,
                idempotency_key: idempotency_key(view),
                break_glass,
            }),
            _ => Err(inline_errors(view, &refusals)),
        }
    }

    fn check_extension(&self, view: &View) -> Result<Draft, InlineErrors> {
        let request_id = RequestId::parse(view.private_metadata.trim());
        let checked = self.service.check_submission(
            conversation::FormKind::Extension,
            &submission_of(view),
            None,
            None,
        );
        match (request_id, checked) {
            (Some(request_id), Ok(checked)) => Ok(Draft {
                target: None,
                extends_request: Some(request_id),
                duration: checked.duration,
                reason: checked.reason,
                start_at: None,
                idempotency_key: idempotency_key(view),
                break_glass: false,
            }),
            (None, _) => {
                let mut refusals = FieldRefusals::default();
                refusals.refuse(
                    FormField::Duration,
                    "This form no longer matches a request; close it and click Extend again.",
                );
                Err(inline_errors(view, &refusals))
            }
            (_, Err(refusals)) => Err(inline_errors(view, &refusals)),
        }
    }

    /// After the ack: who submitted, then the workflow. Its refusals go to the person by DM.
    pub(crate) async fn create_request(self: Arc<Self>, user_id: String, draft: Draft) {
        let person = match self.people.person(&user_id).await {
            Ok(person) => person,
            Err(error) => {
                tracing::warn!(slack_user = %user_id, %error, "Could not identify the Slack user who submitted a request.");
                self.tell(
                    &user_id,
                    &Reply::Direct,
                    &format!(
                        ":warning: Your request was not created. {}",
                        error.for_people()
                    ),
                )
                .await;
                return;
            }
        };
        let (target, extends) = match (draft.target, &draft.extends_request) {
            (Some(target), _) => (target, None),
            (None, Some(request_id)) => match self.service.extension(request_id, &person).await {
                Ok(extension) => (extension.target, Some(extension.grant_id)),
                Err(error) => {
                    let text = workflow_text(&error);
                    self.tell(
                        &user_id,
                        &Reply::Direct,
                        &format!(":warning: Your extension was not requested. {text}"),
                    )
                    .await;
                    return;
                }
            },
            (None, None) => return,
        };
        let what = if extends.is_some() {
            "extension"
        } else {
            "request"
        };
        let input = NewRequest {
            requester: person,
            target,
            duration: draft.duration,
            reason: draft.reason,
            channel: Channel::Slack,
            start_at: draft.start_at,
            extends,
            idempotency_key: Some(draft.idempotency_key),
            break_glass: draft.break_glass,
        };
        match self.service.create(input).await {
            Ok(request) => {
                tracing::info!(request_id = %request.id, status = request.status().as_str(), "Request created from Slack.");
            }
            Err(error) => {
                tracing::info!(slack_user = %user_id, code = error.code(), "Slack request refused by the workflow.");
                let text = format!(
                    ":warning: Your {what} was not created. {}",
                    workflow_text(&error)
                );
                self.tell(&user_id, &Reply::Direct, &text).await;
            }
        }
    }

    /// "Extend" on an active grant: a small form choosing how much longer and why.
    pub(crate) async fn open_extension(
        self: Arc<Self>,
        value: String,
        user_id: String,
        trigger_id: String,
        reply: Reply,
    ) {
        let Some(request_id) = RequestId::parse(value.trim()) else {
            tracing::warn!(slack_user = %user_id, "Ignored an Extend click without a request id.");
            return;
        };
        // Only the holder of an active grant may extend it: decided by the core before a form
        // is shown, so nobody fills one in vain.
        let person = match self.people.person(&user_id).await {
            Ok(person) => person,
            Err(error) => {
                self.tell(
                    &user_id,
                    &reply,
                    &format!(":warning: {}", error.for_people()),
                )
                .await;
                return;
            }
        };
        let extension = match self.service.extension(&request_id, &person).await {
            Ok(extension) => extension,
            Err(error) => {
                self.tell(
                    &user_id,
                    &reply,
                    &format!(":warning: {}", workflow_text(&error)),
                )
                .await;
                return;
            }
        };
        let (request, durations) = (extension.request, extension.durations);
        let view = form::extend_form(
            &request,
            &durations,
            self.service.settings().max_reason_length,
        );
        if let Err(error) = self.api.views_open(&trigger_id, &view).await {
            tracing::warn!(slack_user = %user_id, %error, "Could not open the extension form.");
            let text = if error.is_trigger_problem() {
                TRY_AGAIN
            } else {
                "Slack could not open the form. Please try again."
            };
            self.tell(&user_id, &reply, text).await;
        }
    }

    /// Options for a type-ahead select, inside the ack.
    pub(crate) async fn on_suggestion(self: &Arc<Self>, interaction: Interaction) -> Ack {
        match tokio::time::timeout(self.options.ack_budget, self.suggest(&interaction)).await {
            Ok(options) => Ack::Json(json!({ "options": options })),
            Err(_) => {
                tracing::warn!("Options for a Slack select took too long; answered none.");
                Ack::Json(json!({ "options": [] }))
            }
        }
    }

    async fn suggest(&self, interaction: &Interaction) -> Vec<Value> {
        let Some(view) = &interaction.view else {
            return Vec::new();
        };
        let Some(kind) = form_kind(&view.callback_id) else {
            return Vec::new();
        };
        let session = match self
            .session(kind, view.session_key(), &interaction.user.id)
            .await
        {
            Ok(session) => session,
            Err(_) => return Vec::new(),
        };
        let query = interaction
            .value
            .as_deref()
            .unwrap_or_default()
            .trim()
            .to_lowercase();
        let wanted = |text: &str| query.is_empty() || text.to_lowercase().contains(&query);
        match interaction.action_id.as_deref() {
            Some(ACCOUNT) => session
                .accounts
                .iter()
                .filter(|account| wanted(&form::account_label(account)))
                .filter_map(form::account_option)
                .take(MAX_STATIC_OPTIONS)
                .collect(),
            Some(PERMISSION_SET) => {
                let Some(account) = view.selected(ACCOUNT) else {
                    return Vec::new();
                };
                if session.account(account).is_none() {
                    return Vec::new();
                }
                let sets = self
                    .permission_sets(&session, account)
                    .await
                    .unwrap_or_default();
                sets.iter()
                    .filter(|name| wanted(name))
                    .filter_map(|name| form::name_option(name))
                    .take(MAX_STATIC_OPTIONS)
                    .collect()
            }
            Some(GROUP) => session
                .groups
                .iter()
                .filter(|group| wanted(&group.name) || wanted(&group.id))
                .filter_map(form::group_option)
                .take(MAX_STATIC_OPTIONS)
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// What the person picked and typed, as the core's form checks read it.
fn submission_of(view: &View) -> Submission {
    let start = view
        .input(START)
        .and_then(|(_, value)| value.selected_date_time)
        .map(|seconds| {
            OffsetDateTime::from_unix_timestamp(seconds)
                .map_err(|_| "Choose a valid start time.".to_owned())
        });
    Submission {
        account: view.selected(ACCOUNT).map(str::to_owned),
        permission_set: view.selected(PERMISSION_SET).map(str::to_owned),
        group: view.selected(GROUP).map(str::to_owned),
        duration: view.selected(DURATION).map(str::to_owned),
        reason: view.text(REASON).unwrap_or_default().to_owned(),
        start,
    }
}

/// The core's refusals under the blocks that show their fields.
fn inline_errors(view: &View, refusals: &FieldRefusals) -> InlineErrors {
    refusals
        .iter()
        .map(|(field, message)| {
            let block = match field {
                FormField::Account => ACCOUNT.to_owned(),
                // Before an account is picked there is no permission-set block to show it.
                FormField::PermissionSet => view
                    .input_block_id(PERMISSION_SET)
                    .unwrap_or_else(|| ACCOUNT.to_owned()),
                FormField::Group => GROUP.to_owned(),
                FormField::Duration => view
                    .input_block_id(DURATION)
                    .unwrap_or_else(|| DURATION.to_owned()),
                FormField::Reason => REASON.to_owned(),
                FormField::Start => view
                    .input_block_id(START)
                    .unwrap_or_else(|| START.to_owned()),
            };
            (block, message.to_owned())
        })
        .collect()
}

/// A redelivered submission of the same view state creates nothing new.
fn idempotency_key(view: &View) -> String {
    format!(
        "slack:view:{}:{}",
        view.id,
        view.hash.as_deref().unwrap_or_default()
    )
}
