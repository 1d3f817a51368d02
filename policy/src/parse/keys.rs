//! The keys a statement may carry, and a "did you mean" for the ones it may not. Unknown keys
//! are errors (docs/reference.md §2): a misspelt `AllowSelfAprovals` silently ignored would change who may
//! approve what.

use serde_json::Map;
use serde_json::Value;

use super::Problem;

pub(super) const STATEMENT: &[&str] = &[
    "ResourceType",
    "Resource",
    "PermissionSet",
    "Approvers",
    "AllowSelfApproval",
    "ApprovalIsNotRequired",
    "AllowedUsers",
    "AllowedGroups",
    "RequiredApprovals",
    "MaxDuration",
    "ReasonPattern",
    "ReasonHint",
    "Warning",
    "ApprovalChannel",
    "NotifyApprovers",
    "BreakGlass",
    "RevokeSessions",
];

pub(super) const GROUP_STATEMENT: &[&str] = &[
    "Resource",
    "Approvers",
    "AllowSelfApproval",
    "ApprovalIsNotRequired",
    "AllowedUsers",
    "AllowedGroups",
    "RequiredApprovals",
    "MaxDuration",
    "ReasonPattern",
    "ReasonHint",
    "Warning",
    "ApprovalChannel",
    "NotifyApprovers",
    "BreakGlass",
];

/// Keys that belong to account statements only; in a group statement they get their own message
/// because "did you mean" would point nowhere useful.
const ACCOUNT_ONLY: &[&str] = &["ResourceType", "PermissionSet", "RevokeSessions"];

/// Reports every key of `map` that is not in `known`.
pub(super) fn check_unknown(
    path: &str,
    map: &Map<String, Value>,
    known: &[&str],
    problems: &mut Vec<Problem>,
) {
    for key in map.keys().filter(|key| !known.contains(&key.as_str())) {
        let message = if key == "RevokeSessions" {
            "\"RevokeSessions\" is not a key of group statements: a membership has no one \
             permission set whose role sessions could be ended"
                .to_owned()
        } else if ACCOUNT_ONLY.contains(&key.as_str()) {
            format!(
                "{key:?} is not a key of group statements: they grant membership of the groups \
                 named in Resource"
            )
        } else if let Some(closest) = closest(key, known) {
            format!("unknown key {key:?}; did you mean {closest:?}?")
        } else {
            format!("unknown key {key:?}; the keys are {}", known.join(", "))
        };
        problems.push(Problem::new(format!("{path}.{key}"), message));
    }
}

/// The known key nearest to `key`, if it is near enough to be a plausible typo.
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let wanted = key.to_lowercase();
    known
        .iter()
        .map(|candidate| {
            (
                edit_distance(&wanted, &candidate.to_lowercase()),
                *candidate,
            )
        })
        .min_by_key(|(distance, _)| *distance)
        .filter(|(distance, candidate)| *distance <= 2 || *distance * 3 <= candidate.len())
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over characters; keys are short, so the quadratic table is fine.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            let deletion = previous[j + 1] + 1;
            let insertion = current[j] + 1;
            current.push(substitution.min(deletion).min(insertion));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_key_for_typos_and_wrong_case() {
        assert_eq!(
            closest("AllowSelfAprovals", STATEMENT),
            Some("AllowSelfApproval")
        );
        assert_eq!(closest("approvers", STATEMENT), Some("Approvers"));
        assert_eq!(closest("Resources", STATEMENT), Some("Resource"));
        assert_eq!(
            closest("RequiredApproval", STATEMENT),
            Some("RequiredApprovals")
        );
        assert_eq!(closest("Colour", STATEMENT), None);
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
