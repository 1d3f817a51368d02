//! Reads the keys of one statement, recording a [`Problem`] for each bad value and carrying on
//! with a harmless default, so one pass reports everything that is wrong with the statement.

use serde_json::{Map, Value};

mod names;

use super::{Problem, keys};
use crate::rules::{Justification, ReasonPattern, Routing};
use crate::{Duration, Email};

/// The keys statements and group statements share, already validated.
pub(super) struct Common {
    pub(super) approvers: Vec<Email>,
    pub(super) allow_self_approval: Option<bool>,
    pub(super) approval_is_not_required: Option<bool>,
    pub(super) allowed_users: Vec<Email>,
    pub(super) allowed_groups: Vec<String>,
    pub(super) required_approvals: u32,
    pub(super) max_duration: Option<Duration>,
    pub(super) justification: Justification,
    pub(super) break_glass: bool,
}

/// One statement being read. It borrows the shared problem list and remembers its length at
/// the start, so [`Reader::failed`] says whether this statement added any.
pub(super) struct Reader<'v, 'p> {
    path: &'p str,
    map: &'v Map<String, Value>,
    problems: &'p mut Vec<Problem>,
    before: usize,
}

/// How a value is named in messages: "must be a string, not a list".
pub(super) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

impl<'v, 'p> Reader<'v, 'p> {
    /// Starts reading the statement at `path`, reporting unknown keys right away. `None` when
    /// the entry is not a mapping at all: there is nothing more to say about it then.
    pub(super) fn open(
        path: &'p str,
        value: &'v Value,
        known: &[&str],
        problems: &'p mut Vec<Problem>,
    ) -> Option<Self> {
        let Value::Object(map) = value else {
            let examples = if known.contains(&"PermissionSet") {
                "ResourceType, Resource and PermissionSet"
            } else {
                "Resource and Approvers"
            };
            problems.push(Problem::new(
                path,
                format!(
                    "must be a mapping of keys such as {examples}, not {}",
                    kind_of(value)
                ),
            ));
            return None;
        };
        let before = problems.len();
        keys::check_unknown(path, map, known, problems);
        Some(Reader {
            path,
            map,
            problems,
            before,
        })
    }

    /// Whether this statement had any problem.
    pub(super) fn failed(&self) -> bool {
        self.problems.len() > self.before
    }

    fn report(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    fn key_path(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    /// The value of an optional key. An explicit `null` (YAML `Key:` with nothing after it) is a
    /// problem rather than "absent": for `AllowedUsers` it would otherwise silently mean
    /// "everyone", which is the opposite of what a half-written list intends.
    fn optional(&mut self, key: &str) -> Option<&'v Value> {
        match self.map.get(key) {
            None => None,
            Some(Value::Null) => {
                self.report(
                    self.key_path(key),
                    "has no value: give one, or leave the key out",
                );
                None
            }
            Some(value) => Some(value),
        }
    }

    /// The value of a required key; `hint` says what to write when it is missing.
    pub(super) fn required(&mut self, key: &str, hint: &str) -> Option<&'v Value> {
        match self.map.get(key) {
            None => {
                self.report(self.key_path(key), format!("is required: {hint}"));
                None
            }
            Some(Value::Null) => {
                self.report(self.key_path(key), format!("has no value: {hint}"));
                None
            }
            Some(value) => Some(value),
        }
    }

    /// A single value or a list of values, each with its own path (`Approvers` for a single
    /// value, `Approvers[1]` for a list entry).
    fn items(&mut self, key: &str, value: &'v Value) -> Vec<(String, &'v Value)> {
        let path = self.key_path(key);
        match value {
            Value::Array(list) => list
                .iter()
                .enumerate()
                .map(|(index, item)| (format!("{path}[{index}]"), item))
                .collect(),
            Value::Object(_) => {
                self.report(path, "must be a value or a list of values, not a mapping");
                Vec::new()
            }
            single => vec![(path, single)],
        }
    }

    fn text(&mut self, path: &str, value: &'v Value) -> Option<&'v str> {
        match value {
            Value::String(text) => Some(text),
            other => {
                self.report(path, format!("must be a string, not {}", kind_of(other)));
                None
            }
        }
    }

    /// A boolean flag; the strings `"true"`/`"false"` (any case) are accepted because
    /// environment overrides can only produce strings. Anything else (`"yes"`) is refused rather
    /// than guessed, unlike upstream's pydantic coercion.
    fn flag(&mut self, key: &str) -> Option<bool> {
        let value = self.optional(key)?;
        let path = self.key_path(key);
        match value {
            Value::Bool(flag) => Some(*flag),
            Value::String(text) if text.trim().eq_ignore_ascii_case("true") => Some(true),
            Value::String(text) if text.trim().eq_ignore_ascii_case("false") => Some(false),
            Value::String(text) => {
                self.report(
                    path,
                    format!("{text:?} is not a boolean: write true or false"),
                );
                None
            }
            other => {
                self.report(
                    path,
                    format!("must be true or false, not {}", kind_of(other)),
                );
                None
            }
        }
    }

    /// `RequiredApprovals`: a whole number of at least 1 (numeric strings too, for the same
    /// environment-override reason as [`Reader::flag`]).
    fn required_approvals(&mut self) -> u32 {
        const KEY: &str = "RequiredApprovals";
        let Some(value) = self.optional(KEY) else {
            return 1;
        };
        let path = self.key_path(KEY);
        let parsed: Result<i128, String> = match value {
            Value::Number(number) => match (number.as_u64(), number.as_i64()) {
                (Some(count), _) => Ok(i128::from(count)),
                (None, Some(negative)) => Ok(i128::from(negative)),
                (None, None) => Err(format!("must be a whole number, not {number}")),
            },
            Value::String(text) => text
                .trim()
                .parse::<i128>()
                .map_err(|_| format!("{text:?} is not a whole number")),
            other => Err(format!("must be a whole number, not {}", kind_of(other))),
        };
        let checked = parsed.and_then(|count| {
            if count < 1 {
                Err(format!("must be at least 1, not {count}"))
            } else {
                u32::try_from(count).map_err(|_| format!("{count} is too large"))
            }
        });
        checked.unwrap_or_else(|message| {
            self.report(path, message);
            1
        })
    }

    fn max_duration(&mut self) -> Option<Duration> {
        const KEY: &str = "MaxDuration";
        let value = self.optional(KEY)?;
        let path = self.key_path(KEY);
        let parsed = match value {
            Value::String(text) => Duration::parse(text).map_err(|error| error.to_string()),
            other => Err(format!(
                "must be a duration such as \"4h\", not {}",
                kind_of(other)
            )),
        };
        parsed.map_err(|message| self.report(path, message)).ok()
    }

    /// A non-empty text key (`ReasonHint`, `Warning`).
    fn sentence(&mut self, key: &str) -> Option<String> {
        let value = self.optional(key)?;
        let path = self.key_path(key);
        match value {
            Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
            Value::String(_) => {
                self.report(path, "is empty: write the text, or leave the key out");
                None
            }
            other => {
                self.report(path, format!("must be a string, not {}", kind_of(other)));
                None
            }
        }
    }

    fn justification(&mut self) -> Justification {
        const PATTERN: &str = "ReasonPattern";
        let reason_pattern = self.optional(PATTERN).and_then(|value| {
            let path = self.key_path(PATTERN);
            let parsed = match value {
                Value::String(text) => ReasonPattern::new(text)
                    .map_err(|error| format!("is not a valid regular expression: {error}")),
                other => Err(format!(
                    "must be a regular expression in a string, not {}",
                    kind_of(other)
                )),
            };
            parsed.map_err(|message| self.report(path, message)).ok()
        });
        let reason_hint = self.sentence("ReasonHint");
        if reason_hint.is_some() && !self.map.contains_key(PATTERN) {
            self.report(
                self.key_path("ReasonHint"),
                "is shown when a reason does not match ReasonPattern, which this statement does not have",
            );
        }
        Justification {
            reason_pattern,
            reason_hint,
            warning: self.sentence("Warning"),
            routing: self.routing(),
        }
    }

    /// `ApprovalChannel`: a Slack channel id, or `{slack: ID, teams: CONVERSATION_ID}`;
    /// `NotifyApprovers`: `channel` (the default) or `direct`.
    fn routing(&mut self) -> Routing {
        const CHANNEL: &str = "ApprovalChannel";
        let mut routing = Routing::default();
        if let Some(value) = self.optional(CHANNEL) {
            let path = self.key_path(CHANNEL);
            let id = |value: &Value| -> Result<String, String> {
                match value {
                    Value::String(id)
                        if !id.trim().is_empty()
                            && id.len() <= 256
                            && !id.chars().any(char::is_whitespace) =>
                    {
                        Ok(id.clone())
                    }
                    Value::String(id) => Err(format!("{id:?} is not a channel or conversation id")),
                    other => Err(format!("must be an id, not {}", kind_of(other))),
                }
            };
            match value {
                Value::String(_) => match id(value) {
                    Ok(slack) => routing.slack_channel = Some(slack),
                    Err(message) => self.report(path, message),
                },
                Value::Object(map) => {
                    for (platform, value) in map {
                        let checked = id(value);
                        match (platform.as_str(), checked) {
                            ("slack", Ok(id)) => routing.slack_channel = Some(id),
                            ("teams", Ok(id)) => routing.teams_conversation = Some(id),
                            ("slack" | "teams", Err(message)) => {
                                self.report(format!("{path}.{platform}"), message);
                            }
                            (other, _) => self.report(
                                format!("{path}.{other}"),
                                "is not a platform: use slack or teams",
                            ),
                        }
                    }
                }
                other => self.report(
                    path,
                    format!(
                        "must be a Slack channel id or {{slack: ID, teams: CONVERSATION_ID}}, not {}",
                        kind_of(other)
                    ),
                ),
            }
        }
        const NOTIFY: &str = "NotifyApprovers";
        if let Some(value) = self.optional(NOTIFY) {
            match value.as_str() {
                Some("direct") => routing.direct = true,
                Some("channel") => {}
                _ => self.report(
                    self.key_path(NOTIFY),
                    "must be \"channel\" (the default) or \"direct\"",
                ),
            }
        }
        routing
    }

    /// `RevokeSessions` (account statements only): a flag like the others.
    pub(super) fn revoke_sessions(&mut self) -> Option<bool> {
        self.flag("RevokeSessions")
    }

    /// Reads the keys every kind of statement shares.
    pub(super) fn common(&mut self) -> Common {
        // Field order is key order in docs/reference.md §3, which is the order problems are reported in.
        let common = Common {
            approvers: self.emails("Approvers"),
            allow_self_approval: self.flag("AllowSelfApproval"),
            approval_is_not_required: self.flag("ApprovalIsNotRequired"),
            allowed_users: self.emails("AllowedUsers"),
            allowed_groups: match self.optional("AllowedGroups") {
                Some(value) => self.group_ids("AllowedGroups", value),
                None => Vec::new(),
            },
            required_approvals: self.required_approvals(),
            max_duration: self.max_duration(),
            justification: self.justification(),
            break_glass: self.flag("BreakGlass").unwrap_or(false),
        };
        if common.break_glass {
            self.check_break_glass(&common);
        }
        common
    }

    /// A break-glass statement grants at once, so it must say who may use it and who reviews
    /// each use, and carries none of the keys about approving beforehand (docs/reference.md §3).
    fn check_break_glass(&mut self, common: &Common) {
        let path = self.key_path("BreakGlass");
        let allowed_path = self.key_path("Allowed");
        let allowed_unreadable = self.problems[self.before..]
            .iter()
            .any(|problem| problem.path.starts_with(&allowed_path));
        if common.allowed_users.is_empty()
            && common.allowed_groups.is_empty()
            && !allowed_unreadable
        {
            self.report(
                path.clone(),
                "needs AllowedUsers or AllowedGroups: name who may break the glass",
            );
        }
        if common.approvers.is_empty() {
            self.report(
                path.clone(),
                "needs Approvers: they review every use afterwards",
            );
        }
        for key in [
            "AllowSelfApproval",
            "ApprovalIsNotRequired",
            "RequiredApprovals",
        ] {
            if self.map.contains_key(key) {
                self.report(
                    self.key_path(key),
                    "does not apply to a BreakGlass statement, which grants at once and is reviewed afterwards",
                );
            }
        }
    }
}
