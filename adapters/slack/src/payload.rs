//! The parts of Slack's inbound payloads Liftgate reads. Everything else is ignored; the
//! identity of the person is looked up separately (see `people`).

use std::collections::HashMap;

use serde::Deserialize;

/// What arrived, over HTTP or Socket Mode.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// Shortcuts, block actions, view submissions, option loads (`payload` JSON).
    Interaction(serde_json::Value),
    /// A slash command's form fields.
    Command(HashMap<String, String>),
    /// An Events API body.
    Event(serde_json::Value),
}

/// The answer inside Slack's 3-second window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ack {
    /// HTTP 200 with an empty body.
    Empty,
    /// HTTP 200 with this JSON body (view errors, options, a command reply, a challenge).
    Json(serde_json::Value),
    /// A body Slack would never send: HTTP 400.
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct UserRef {
    pub id: String,
    /// The user's own workspace (a Slack Connect member's is another organisation's).
    #[serde(default)]
    pub team_id: Option<String>,
}

/// The workspace an interaction happened in.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TeamRef {
    pub id: String,
    #[serde(default)]
    pub enterprise_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct IdRef {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SelectedOption {
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Action {
    pub action_id: String,
    #[serde(default)]
    pub value: Option<String>,
}

/// One input's state: which of the fields is set depends on the element.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct StateValue {
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub selected_option: Option<SelectedOption>,
    #[serde(default)]
    pub selected_date_time: Option<i64>,
    /// Checkboxes: the options ticked.
    #[serde(default)]
    pub selected_options: Vec<SelectedOption>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ViewState {
    #[serde(default)]
    pub values: HashMap<String, HashMap<String, StateValue>>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct View {
    pub id: String,
    #[serde(default)]
    pub hash: Option<String>,
    #[serde(default)]
    pub callback_id: String,
    #[serde(default)]
    pub private_metadata: String,
    #[serde(default)]
    pub state: ViewState,
    #[serde(default)]
    pub root_view_id: Option<String>,
    #[serde(default)]
    pub blocks: Vec<serde_json::Value>,
}

/// Whether `block_id` is `block` itself or `block` with a `.suffix`.
fn is_block(block_id: &str, block: &str) -> bool {
    block_id == block
        || block_id
            .strip_prefix(block)
            .is_some_and(|rest| rest.starts_with('.'))
}

impl View {
    /// The state of the input whose block id is `block` or starts with `block.`.
    pub(crate) fn input(&self, block: &str) -> Option<(&str, &StateValue)> {
        self.state.values.iter().find_map(|(block_id, actions)| {
            if !is_block(block_id, block) {
                return None;
            }
            actions
                .values()
                .next()
                .map(|value| (block_id.as_str(), value))
        })
    }

    pub(crate) fn selected(&self, block: &str) -> Option<&str> {
        self.input(block)?
            .1
            .selected_option
            .as_ref()
            .map(|option| option.value.as_str())
    }

    /// Whether the checkbox `option` of the input `block` is ticked.
    pub(crate) fn ticked(&self, block: &str, option: &str) -> bool {
        self.input(block).is_some_and(|(_, value)| {
            value
                .selected_options
                .iter()
                .any(|selected| selected.value == option)
        })
    }

    pub(crate) fn text(&self, block: &str) -> Option<&str> {
        self.input(block)?.1.value.as_deref()
    }

    /// The id of the input block `block` (with its suffix), for inline errors.
    pub(crate) fn input_block_id(&self, block: &str) -> Option<String> {
        self.blocks
            .iter()
            .filter(|candidate| candidate["type"] == "input")
            .filter_map(|candidate| candidate["block_id"].as_str())
            .find(|block_id| is_block(block_id, block))
            .map(str::to_owned)
            .or_else(|| self.input(block).map(|(block_id, _)| block_id.to_owned()))
    }

    /// The view the form session is filed under: the root of a stack of views.
    pub(crate) fn session_key(&self) -> &str {
        self.root_view_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .unwrap_or(&self.id)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Container {
    #[serde(default)]
    pub channel_id: Option<String>,
}

/// Any interactivity payload.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Interaction {
    #[serde(rename = "type")]
    pub kind: String,
    pub user: UserRef,
    #[serde(default)]
    pub trigger_id: Option<String>,
    #[serde(default)]
    pub callback_id: Option<String>,
    #[serde(default)]
    pub actions: Vec<Action>,
    #[serde(default)]
    pub view: Option<View>,
    #[serde(default)]
    pub container: Option<Container>,
    #[serde(default)]
    pub channel: Option<IdRef>,
    /// `block_suggestion`: the select asking, and what was typed.
    #[serde(default)]
    pub action_id: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub team: Option<TeamRef>,
    #[serde(default)]
    pub enterprise: Option<IdRef>,
}

impl Interaction {
    /// The workspaces the payload names (the user's and the one acted in) and its Enterprise
    /// Grid organisation, for [`crate::people::People::check_origin`].
    pub(crate) fn origin(&self) -> ([Option<&str>; 2], Option<&str>) {
        let enterprise = self
            .enterprise
            .as_ref()
            .map(|enterprise| enterprise.id.as_str())
            .or_else(|| {
                self.team
                    .as_ref()
                    .and_then(|team| team.enterprise_id.as_deref())
            });
        (
            [
                self.user.team_id.as_deref(),
                self.team.as_ref().map(|team| team.id.as_str()),
            ],
            enterprise,
        )
    }

    /// The conversation the interaction happened in, if any (messages, not modals).
    pub(crate) fn conversation(&self) -> Option<String> {
        self.container
            .as_ref()
            .and_then(|container| container.channel_id.clone())
            .or_else(|| self.channel.as_ref().map(|channel| channel.id.clone()))
    }
}

/// Parses a form-encoded body into its fields (the last value of a repeated key wins).
pub(crate) fn form_fields(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body)
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}

/// An interactivity body: `payload=<json>` (or JSON itself, as Bolt also accepts).
pub(crate) fn interaction_body(body: &[u8]) -> Result<serde_json::Value, String> {
    let trimmed = body
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .map_or(&body[..0], |start| &body[start..]);
    if trimmed.first() == Some(&b'{') {
        return serde_json::from_slice(trimmed)
            .map_err(|error| format!("the body is not JSON: {error}"));
    }
    let fields = form_fields(body);
    let payload = fields
        .get("payload")
        .ok_or_else(|| "the body has no payload field".to_owned())?;
    serde_json::from_str(payload).map_err(|error| format!("the payload is not JSON: {error}"))
}
