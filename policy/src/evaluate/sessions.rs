//! `RevokeSessions` (docs/reference.md §3): whether removing an account access also ends the
//! role sessions it already issued.
//!
//! It is a property of the access (the permission set's role in the account), not of who
//! asked: the sessions it ends are the role's. So it is decided from every statement that
//! covers the account and permission set, whoever it admits, when the access is removed (the
//! rules in force then); the strictest wins, as with `MaxDuration`. A statement without the
//! key follows the global `requests.revoke_sessions`.

use crate::rules::Rules;

/// Whether access to `permission_set` in `account_id`, once Liftgate removes it, also has its
/// live role sessions ended: some statement covering the pair resolves `RevokeSessions`
/// (or, without the key, `default`) to true. With no covering statement left (the rules
/// changed since the grant), `default` decides.
pub fn revokes_sessions(
    rules: &Rules,
    account_id: &str,
    permission_set: &str,
    default: bool,
) -> bool {
    let candidates =
        rules
            .index()
            .account_candidates(&rules.statements, account_id, permission_set);
    let mut covering = candidates
        .buckets()
        .flat_map(|bucket| bucket.open.iter().chain(bucket.restricted.iter()))
        .chain(candidates.exact.iter())
        .peekable();
    let break_glass =
        super::break_glass::revokes_sessions(rules, account_id, permission_set, default);
    if covering.peek().is_none() {
        return break_glass.unwrap_or(default);
    }
    break_glass == Some(true)
        || covering.any(|&index| rules.statements[index].revoke_sessions.unwrap_or(default))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::parse_rules;

    fn rules(statements: serde_json::Value) -> Rules {
        parse_rules(Some(&statements), None).unwrap()
    }

    const ACCOUNT: &str = "111111111111";

    #[test]
    fn a_covering_statement_turns_it_on_whoever_it_admits() {
        let rules = rules(json!([
            {"ResourceType": "Account", "Resource": "*", "PermissionSet": "*",
             "Approvers": "boss@corp.com"},
            {"ResourceType": "Account", "Resource": ACCOUNT, "PermissionSet": "Admin",
             "AllowedUsers": "alice@corp.com", "RevokeSessions": true},
        ]));
        assert!(revokes_sessions(&rules, ACCOUNT, "Admin", false));
        assert!(!revokes_sessions(&rules, ACCOUNT, "ReadOnly", false));
        assert!(!revokes_sessions(&rules, "222222222222", "Admin", false));
    }

    #[test]
    fn the_global_default_applies_where_the_key_is_left_out() {
        let rules = rules(json!([
            {"ResourceType": "Account", "Resource": "*", "PermissionSet": "ReadOnly",
             "ApprovalIsNotRequired": true, "RevokeSessions": false},
            {"ResourceType": "Account", "Resource": "*", "PermissionSet": "Admin",
             "Approvers": "boss@corp.com"},
        ]));
        assert!(!revokes_sessions(&rules, ACCOUNT, "ReadOnly", true));
        assert!(revokes_sessions(&rules, ACCOUNT, "Admin", true));
        assert!(!revokes_sessions(&rules, ACCOUNT, "Admin", false));
        // Nothing covers it any more: the default decides.
        assert!(revokes_sessions(&rules, ACCOUNT, "Gone", true));
    }

    #[test]
    fn the_strictest_covering_statement_wins() {
        let rules = rules(json!([
            {"ResourceType": "Account", "Resource": ACCOUNT, "PermissionSet": "Admin",
             "Approvers": "boss@corp.com", "RevokeSessions": false},
            {"ResourceType": "OU", "Resource": "*", "PermissionSet": "*",
             "Approvers": "boss@corp.com", "RevokeSessions": true},
        ]));
        assert!(revokes_sessions(&rules, ACCOUNT, "Admin", false));
    }
}
