//! Turns the raw `statements` / `group_statements` values of a config into validated [`Rules`].
//!
//! The input is a `serde_json::Value` tree rather than typed serde structs because operators
//! deserve every mistake at once, each with its location (`statements[2].Approvers[0]`), and
//! serde stops at the first one. The walk is total: any value, however malformed, yields either
//! rules or a list of problems, never a panic.

mod ids;
mod keys;
mod reader;

use std::fmt;

use serde_json::Value;

use crate::rules::{GroupStatement, ResourceType, Rules, Scope, Statement};
use reader::{Reader, kind_of};

/// One problem found in the rules, with where it is, e.g.
/// path `statements[2].Approvers[0]`, message `"bob@" is not an email`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for Problem {}

/// Validates the raw values found under `statements` and `group_statements` (`None` = key
/// absent = no rules of that kind). Reports every problem at once and never panics.
///
/// # Errors
///
/// Every problem found, in file order, when any value is invalid.
pub fn parse_rules(
    statements: Option<&Value>,
    group_statements: Option<&Value>,
) -> Result<Rules, Vec<Problem>> {
    let mut problems = Vec::new();
    let statements = list_entries("statements", statements, &mut problems)
        .into_iter()
        .filter_map(|(path, value)| parse_statement(&path, value, &mut problems))
        .collect();
    let group_statements = list_entries("group_statements", group_statements, &mut problems)
        .into_iter()
        .filter_map(|(path, value)| parse_group_statement(&path, value, &mut problems))
        .collect();
    if problems.is_empty() {
        Ok(Rules::new(statements, group_statements))
    } else {
        Err(problems)
    }
}

/// The entries of a top-level rule list, each with its path. `null` counts as an empty list:
/// YAML gives `statements:` with every entry commented out that value, and "no rules" is the
/// safe reading (nothing can be requested).
fn list_entries<'v>(
    key: &str,
    value: Option<&'v Value>,
    problems: &mut Vec<Problem>,
) -> Vec<(String, &'v Value)> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(entries)) => entries
            .iter()
            .enumerate()
            .map(|(index, entry)| (format!("{key}[{index}]"), entry))
            .collect(),
        Some(Value::Object(map)) if map.contains_key("statements") => {
            problems.push(Problem::new(
                key,
                "must be a list, but this looks like a whole approval-config.json document: \
                 put its \"statements\" and \"group_statements\" lists under the two keys",
            ));
            Vec::new()
        }
        Some(other) => {
            problems.push(Problem::new(
                key,
                format!("must be a list, not {}", kind_of(other)),
            ));
            Vec::new()
        }
    }
}

fn parse_statement(path: &str, value: &Value, problems: &mut Vec<Problem>) -> Option<Statement> {
    let mut reader = Reader::open(path, value, keys::STATEMENT, problems)?;
    let resource_type = reader.resource_type();
    // With an unreadable ResourceType, Resource is still checked (as accounts) so that its
    // problems are reported in the same pass.
    let resource = reader
        .required("Resource", "list the account ids, or \"*\"")
        .map(|value| reader.account_scope(value, resource_type.unwrap_or(ResourceType::Account)));
    let permission_set = reader
        .required("PermissionSet", "list the permission set names, or \"*\"")
        .map(|value| reader.permission_set_scope(value));
    let common = reader.common();
    let revoke_sessions = reader.revoke_sessions();
    if reader.failed() {
        return None;
    }
    Some(Statement {
        resource_type: resource_type?,
        resource: resource?,
        permission_set: permission_set?,
        approvers: common.approvers,
        allow_self_approval: common.allow_self_approval,
        approval_is_not_required: common.approval_is_not_required,
        allowed_users: common.allowed_users,
        allowed_groups: common.allowed_groups,
        required_approvals: common.required_approvals,
        max_duration: common.max_duration,
        justification: common.justification,
        break_glass: common.break_glass,
        revoke_sessions,
    })
}

fn parse_group_statement(
    path: &str,
    value: &Value,
    problems: &mut Vec<Problem>,
) -> Option<GroupStatement> {
    let mut reader = Reader::open(path, value, keys::GROUP_STATEMENT, problems)?;
    let resource = reader
        .required("Resource", "list the Identity Center group ids")
        .map(|value| reader.group_ids("Resource", value));
    let common = reader.common();
    if reader.failed() {
        return None;
    }
    Some(GroupStatement {
        resource: resource?.into_iter().collect(),
        approvers: common.approvers,
        allow_self_approval: common.allow_self_approval,
        approval_is_not_required: common.approval_is_not_required,
        allowed_users: common.allowed_users,
        allowed_groups: common.allowed_groups,
        required_approvals: common.required_approvals,
        max_duration: common.max_duration,
        justification: common.justification,
        break_glass: common.break_glass,
    })
}

/// Keeps `Scope` construction next to the parser: `"*"` anywhere in a list means everything.
fn scope(any: bool, names: Vec<String>) -> Scope {
    if any {
        Scope::Any
    } else {
        Scope::Only(names.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{Duration, Email};

    fn problems(statements: Value, group_statements: Value) -> Vec<String> {
        parse_rules(Some(&statements), Some(&group_statements))
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn loads_an_upstream_approval_config_unchanged() {
        let document = json!({
            "statements": [
                {"ResourceType": "Account", "Resource": ["111111111111", "222222222222"],
                 "PermissionSet": "*", "Approvers": ["CTO@Example.com"], "AllowSelfApproval": true},
                {"ResourceType": "OU", "Resource": "*", "PermissionSet": ["ReadOnly"],
                 "ApprovalIsNotRequired": true}
            ],
            "group_statements": [
                {"Resource": ["99999999-8888-7777-6666-555555555555"],
                 "Approvers": "cto@example.com", "AllowSelfApproval": false}
            ]
        });
        let rules =
            parse_rules(document.get("statements"), document.get("group_statements")).unwrap();
        assert_eq!(rules.statements.len(), 2);
        let first = &rules.statements[0];
        assert_eq!(first.permission_set, Scope::Any);
        assert_eq!(
            first.approvers,
            vec![Email::parse("cto@example.com").unwrap()]
        );
        assert_eq!(first.allow_self_approval, Some(true));
        assert_eq!(first.required_approvals, 1);
        assert_eq!(rules.statements[1].resource_type, ResourceType::Ou);
        assert_eq!(rules.statements[1].resource, Scope::Any);
        assert_eq!(rules.group_statements[0].allow_self_approval, Some(false));
    }

    #[test]
    fn absent_and_null_lists_mean_no_rules() {
        assert_eq!(parse_rules(None, None), Ok(Rules::default()));
        assert_eq!(
            parse_rules(Some(&Value::Null), Some(&json!([]))),
            Ok(Rules::default())
        );
    }

    #[test]
    fn reports_every_problem_with_its_path() {
        let found = problems(
            json!([
                {"ResourceType": "Account", "Resource": "111", "PermissionSet": "Admin*",
                 "Approvers": ["ok@corp.com", "bob@"], "AllowSelfAprovals": true},
                "not a mapping"
            ]),
            json!([{"Resource": "*", "RequiredApprovals": 0}]),
        );
        assert_eq!(
            found,
            vec![
                "statements[0].AllowSelfAprovals: unknown key \"AllowSelfAprovals\"; \
                 did you mean \"AllowSelfApproval\"?",
                "statements[0].Resource: \"111\" is not an account id: write its 12 digits, \
                 or \"*\"",
                "statements[0].PermissionSet: \"Admin*\" is not a permission set name: use 1 \
                 to 32 letters, digits and + = , . @ _ - (partial wildcards are not \
                 supported), or \"*\" alone",
                "statements[0].Approvers[1]: \"bob@\" is not an email",
                "statements[1]: must be a mapping of keys such as ResourceType, Resource and \
                 PermissionSet, not a string",
                "group_statements[0].Resource: group statements cannot use \"*\": list the \
                 Identity Center group ids",
                "group_statements[0].RequiredApprovals: must be at least 1, not 0",
            ]
        );
    }

    #[test]
    fn coerces_the_strings_environment_overrides_produce() {
        let rules = parse_rules(
            Some(
                &json!([{"ResourceType": "Account", "Resource": "*", "PermissionSet": "*",
                "Approvers": "a@corp.com", "AllowSelfApproval": "TRUE",
                "ApprovalIsNotRequired": "false", "RequiredApprovals": "2",
                "MaxDuration": "1h30m"}]),
            ),
            None,
        )
        .unwrap();
        let statement = &rules.statements[0];
        assert_eq!(statement.allow_self_approval, Some(true));
        assert_eq!(statement.approval_is_not_required, Some(false));
        assert_eq!(statement.required_approvals, 2);
        assert_eq!(statement.max_duration, Some(Duration::from_mins(90)));
    }

    #[test]
    fn revoke_sessions_is_a_flag_of_account_statements_only() {
        let rules = parse_rules(
            Some(&json!([
                {"ResourceType": "Account", "Resource": "*", "PermissionSet": "*",
                 "Approvers": "a@corp.com", "RevokeSessions": true},
                {"ResourceType": "Account", "Resource": "*", "PermissionSet": "*",
                 "Approvers": "a@corp.com", "RevokeSessions": "FALSE"},
                {"ResourceType": "Account", "Resource": "*", "PermissionSet": "*",
                 "Approvers": "a@corp.com"}
            ])),
            None,
        )
        .unwrap();
        let flags: Vec<_> = rules.statements.iter().map(|s| s.revoke_sessions).collect();
        assert_eq!(flags, vec![Some(true), Some(false), None]);
        let found = problems(
            json!([{"ResourceType": "Account", "Resource": "*", "PermissionSet": "*",
                    "Approvers": "a@corp.com", "RevokeSessions": "yes"}]),
            json!([{"Resource": "99999999-8888-7777-6666-555555555555",
                    "Approvers": "a@corp.com", "RevokeSessions": true}]),
        );
        assert_eq!(
            found,
            vec![
                "statements[0].RevokeSessions: \"yes\" is not a boolean: write true or false",
                "group_statements[0].RevokeSessions: \"RevokeSessions\" is not a key of group \
                 statements: a membership has no one permission set whose role sessions could \
                 be ended",
            ]
        );
    }

    #[test]
    fn never_panics_on_odd_top_level_values() {
        for value in [
            json!(1),
            json!("x"),
            json!(true),
            json!({}),
            json!([null, [], 2.5]),
        ] {
            let _ = parse_rules(Some(&value), Some(&value));
        }
    }
}
