//! The validated rule model. Values of these types are only built by [`crate::parse_rules`], so
//! every email is normalised, every id is well-formed and every count is at least one.

use std::collections::BTreeSet;

use crate::index::RuleIndex;
use crate::{Duration, Email};

/// What a statement's `Resource` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    Account,
    /// Accepted only with `Resource: "*"`, as upstream; it then behaves like an account wildcard.
    Ou,
}

/// A set of exact names, or everything (`"*"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Any,
    Only(BTreeSet<String>),
}

impl Scope {
    pub fn contains(&self, value: &str) -> bool {
        match self {
            Scope::Any => true,
            Scope::Only(values) => values.contains(value),
        }
    }

    pub fn is_any(&self) -> bool {
        matches!(self, Scope::Any)
    }

    /// The union of two scopes.
    pub fn union(&self, other: &Scope) -> Scope {
        match (self, other) {
            (Scope::Only(a), Scope::Only(b)) => Scope::Only(a.union(b).cloned().collect()),
            _ => Scope::Any,
        }
    }

    pub fn empty() -> Scope {
        Scope::Only(BTreeSet::new())
    }
}

/// A statement's `ReasonPattern`: a regular expression every reason for access it covers must
/// match (e.g. a ticket id). Compared by its source text.
#[derive(Debug, Clone)]
pub struct ReasonPattern {
    source: String,
    regex: regex::Regex,
}

/// The most compiled memory one pattern may take: rules are trusted configuration, but a
/// typo such as `.{1000}{1000}` must be an error at load, not a slow gateway.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

impl ReasonPattern {
    pub fn new(source: &str) -> Result<ReasonPattern, String> {
        regex::RegexBuilder::new(source)
            .size_limit(PATTERN_SIZE_LIMIT)
            .build()
            .map(|regex| ReasonPattern {
                source: source.to_owned(),
                regex,
            })
            .map_err(|error| error.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `reason` matches somewhere (anchor the pattern with `^…$` to match it whole).
    pub fn matches(&self, reason: &str) -> bool {
        self.regex.is_match(reason)
    }
}

impl PartialEq for ReasonPattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for ReasonPattern {}

/// What a statement asks of a reason and says about its access (`ReasonPattern`, `ReasonHint`,
/// `Warning`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Justification {
    pub reason_pattern: Option<ReasonPattern>,
    /// Shown when a reason does not match, e.g. "Start with a ticket id such as OPS-123".
    pub reason_hint: Option<String>,
    /// Shown on the form once the account is picked and on the approval message.
    pub warning: Option<String>,
    pub routing: Routing,
}

/// Where a statement's approvals go (`ApprovalChannel`, `NotifyApprovers`), docs/reference.md §3.
/// Stored with each request, so its messages stay where they were first posted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Routing {
    /// A Slack channel id instead of `slack.channel_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_channel: Option<String>,
    /// A Teams conversation id instead of `teams.approvals_conversation_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teams_conversation: Option<String>,
    /// `NotifyApprovers: direct`: each named approver also gets the approval message directly.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub direct: bool,
}

impl Routing {
    pub fn is_default(&self) -> bool {
        self == &Routing::default()
    }
}

/// A reason refused by a statement's `ReasonPattern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonRefusal {
    /// The statement's index (in `statements` or `group_statements`, by target).
    pub statement: usize,
    pub pattern: String,
    pub hint: Option<String>,
}

impl ReasonRefusal {
    /// The sentence for the person: the hint, else the pattern.
    pub fn message(&self) -> String {
        match &self.hint {
            Some(hint) => hint.clone(),
            None => format!("The reason must match {}", self.pattern),
        }
    }
}

/// An account-access statement (docs/reference.md §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub resource_type: ResourceType,
    pub resource: Scope,
    pub permission_set: Scope,
    /// Lower-cased, de-duplicated, in file order.
    pub approvers: Vec<Email>,
    pub allow_self_approval: Option<bool>,
    pub approval_is_not_required: Option<bool>,
    /// Empty means "not restricted" (an empty list is the same as the key left out).
    pub allowed_users: Vec<Email>,
    /// Identity Center group ids; empty means "not restricted".
    pub allowed_groups: Vec<String>,
    /// At least 1.
    pub required_approvals: u32,
    pub max_duration: Option<Duration>,
    pub justification: Justification,
    /// `BreakGlass`: this statement grants only break-glass requests, at once, for a review
    /// afterwards by its `Approvers` (docs/reference.md §3); ordinary requests never see it.
    pub break_glass: bool,
    /// `RevokeSessions`: end the role sessions of this access when Liftgate removes it
    /// (docs/reference.md §3); `None` follows `requests.revoke_sessions`.
    pub revoke_sessions: Option<bool>,
}

/// A group-membership statement (docs/reference.md §3): like [`Statement`] without `ResourceType` and
/// `PermissionSet`; `resource` holds Identity Center group ids (no wildcard).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStatement {
    pub resource: BTreeSet<String>,
    pub approvers: Vec<Email>,
    pub allow_self_approval: Option<bool>,
    pub approval_is_not_required: Option<bool>,
    pub allowed_users: Vec<Email>,
    pub allowed_groups: Vec<String>,
    pub required_approvals: u32,
    pub max_duration: Option<Duration>,
    pub justification: Justification,
    /// `BreakGlass`, as for [`Statement::break_glass`].
    pub break_glass: bool,
}

/// All the rules of one configuration, in file order (indexes are reported by `explain`),
/// with the index the engine decides from (`index.rs`).
///
/// The lists are public to be read. The index is built from them by [`Rules::new`] (which
/// [`crate::parse_rules`] calls), so a changed configuration is a new `Rules`, never an edit of
/// these lists.
#[derive(Clone)]
pub struct Rules {
    pub statements: Vec<Statement>,
    pub group_statements: Vec<GroupStatement>,
    pub(crate) index: RuleIndex,
}

impl Rules {
    /// Rules from validated statements, indexed.
    pub fn new(statements: Vec<Statement>, group_statements: Vec<GroupStatement>) -> Rules {
        let index = RuleIndex::build(&statements, &group_statements);
        Rules {
            statements,
            group_statements,
            index,
        }
    }

    /// The index, which must describe the lists as they are (see the type's documentation).
    pub(crate) fn index(&self) -> &RuleIndex {
        debug_assert_eq!(
            (
                self.index.statement_approvers.len(),
                self.index.group_statement_approvers.len()
            ),
            (self.statements.len(), self.group_statements.len()),
            "Rules edited after they were indexed"
        );
        &self.index
    }
}

impl Default for Rules {
    fn default() -> Self {
        Rules::new(Vec::new(), Vec::new())
    }
}

/// Two configurations are equal when their statements are; the index follows from them.
impl PartialEq for Rules {
    fn eq(&self, other: &Self) -> bool {
        self.statements == other.statements && self.group_statements == other.group_statements
    }
}

impl Eq for Rules {}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rules")
            .field("statements", &self.statements)
            .field("group_statements", &self.group_statements)
            .finish_non_exhaustive()
    }
}
