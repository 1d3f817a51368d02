//! The online half of `check-config` for `RevokeSessions` (docs/reference.md §3, §6): a grant
//! shorter than its permission set's `SessionDuration` leaves role sessions that outlive it,
//! unless its sessions are ended at revoke. `check-config` runs offline by default (it needs
//! no `aws` section), so these warnings come from `check-config --aws` and from `serve` at
//! start, once the permission sets' durations can be read.

use std::collections::BTreeMap;

use liftgate_policy::{Problem, Rules, Scope};

use super::AccessService;
use crate::config::RequestSettings;
use crate::ports::{IdentityCenter, IdentityError};

/// A warning for every statement whose sessions are not ended at revoke and whose longest
/// grant (`MaxDuration`, else `requests.max_duration`) is shorter than the `SessionDuration`
/// of a permission set it covers. `session_durations` maps permission-set names to theirs;
/// sets missing from it are not judged.
pub fn session_duration_warnings(
    rules: &Rules,
    requests: &RequestSettings,
    session_durations: &BTreeMap<String, std::time::Duration>,
) -> Vec<Problem> {
    let mut warnings = Vec::new();
    for (index, statement) in rules.statements.iter().enumerate() {
        if statement
            .revoke_sessions
            .unwrap_or(requests.revoke_sessions)
        {
            continue;
        }
        let longest = statement
            .max_duration
            .unwrap_or(requests.max_duration)
            .min(requests.max_duration);
        let outliving: Vec<String> = session_durations
            .iter()
            .filter(|(name, session)| {
                let covered = match &statement.permission_set {
                    Scope::Any => true,
                    Scope::Only(names) => names.contains(*name),
                };
                covered && liftgate_policy::Duration::from_secs(session.as_secs()) > longest
            })
            .map(|(name, session)| {
                format!(
                    "{name} ({})",
                    liftgate_policy::Duration::from_secs(session.as_secs())
                )
            })
            .collect();
        if outliving.is_empty() {
            continue;
        }
        let path = match statement.max_duration {
            Some(_) => format!("statements[{index}].MaxDuration"),
            None => format!("statements[{index}]"),
        };
        warnings.push(Problem::new(
            path,
            format!(
                "grants last at most {} but the SessionDuration of {} is longer, and \
                 RevokeSessions is off: role sessions started during a grant outlive it; set \
                 RevokeSessions: true (or requests.revoke_sessions), or shorten the permission \
                 set's SessionDuration",
                longest,
                outliving.join(", ")
            ),
        ));
    }
    warnings
}

impl AccessService {
    /// [`session_duration_warnings`] with the durations read from Identity Center, for the
    /// permission sets the statements concerned name (every set for `"*"`).
    pub async fn session_duration_check(&self) -> Result<Vec<Problem>, IdentityError> {
        session_duration_check(self.identity().as_ref(), self.rules(), self.settings()).await
    }
}

/// [`session_duration_warnings`] with the durations read from `identity` (`serve` at start,
/// `check-config --aws`).
pub async fn session_duration_check(
    identity: &dyn IdentityCenter,
    rules: &Rules,
    requests: &RequestSettings,
) -> Result<Vec<Problem>, IdentityError> {
    let concerned: Vec<_> = rules
        .statements
        .iter()
        .filter(|statement| {
            !statement
                .revoke_sessions
                .unwrap_or(requests.revoke_sessions)
        })
        .collect();
    if concerned.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<String> = if concerned.iter().any(|s| s.permission_set.is_any()) {
        identity.list_permission_sets().await?
    } else {
        let mut names: Vec<String> = concerned
            .iter()
            .flat_map(|statement| match &statement.permission_set {
                Scope::Only(names) => names.iter().cloned().collect::<Vec<_>>(),
                Scope::Any => Vec::new(),
            })
            .collect();
        names.sort();
        names.dedup();
        names
    };
    let mut durations = BTreeMap::new();
    for name in names {
        let Some(arn) = identity.permission_set_arn(&name).await? else {
            continue;
        };
        if let Some(duration) = identity.session_duration(&arn).await? {
            durations.insert(name, duration);
        }
    }
    Ok(session_duration_warnings(rules, requests, &durations))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

    #[test]
    fn warns_where_sessions_outlive_grants_that_do_not_end_them() {
        let rules = liftgate_policy::parse_rules(
            Some(&json!([
                {"ResourceType": "Account", "Resource": "*", "PermissionSet": "Admin",
                 "Approvers": "a@corp.com", "MaxDuration": "1h"},
                {"ResourceType": "Account", "Resource": "*", "PermissionSet": "Admin",
                 "Approvers": "a@corp.com", "MaxDuration": "1h", "RevokeSessions": true},
                {"ResourceType": "Account", "Resource": "*", "PermissionSet": "*",
                 "Approvers": "a@corp.com", "MaxDuration": "8h"},
                {"ResourceType": "Account", "Resource": "*", "PermissionSet": "ReadOnly",
                 "Approvers": "a@corp.com"}
            ])),
            None,
        )
        .unwrap();
        let durations = BTreeMap::from([
            ("Admin".to_owned(), 8 * HOUR),
            ("ReadOnly".to_owned(), HOUR),
            ("Billing".to_owned(), 12 * HOUR),
        ]);
        let requests = RequestSettings::default();
        let found: Vec<String> = session_duration_warnings(&rules, &requests, &durations)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with(
            "statements[0].MaxDuration: grants last at most 1h but the SessionDuration of Admin (8h)"
        ));
        assert!(found[1].starts_with("statements[2].MaxDuration: grants last at most 8h but the SessionDuration of Billing (12h)"));
        // The global default turns the warnings off where statements leave the key out.
        let on = RequestSettings {
            revoke_sessions: true,
            ..RequestSettings::default()
        };
        assert!(session_duration_warnings(&rules, &on, &durations).is_empty());
    }
}
