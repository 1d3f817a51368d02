//! What one revocation schedule looks like: its name, its `at(...)` expression and the
//! EventBridge Scheduler universal target that removes the access in Identity Center without
//! any Liftgate code running. There is one schedule per held access (not per grant), at the
//! latest end among the grants covering it.

use liftgate_gateway::domain::{AccessKey, AccessRecord, GrantId, GrantTarget};
use ring::digest::{SHA256, digest};
use serde_json::json;
use time::OffsetDateTime;
use time::macros::format_description;

/// Every schedule Liftgate creates is named `liftgate-` followed by 48 hex digits of the
/// SHA-256 of its access key (57 characters, within the 64-character limit): stable for the
/// access, so granting, extending or ending a covering grant moves the same schedule.
pub const SCHEDULE_NAME_PREFIX: &str = "liftgate-";

/// How many hex digits of the key's hash a name carries (192 bits).
const NAME_HASH_DIGITS: usize = 48;

/// The schedule name of an access.
pub fn schedule_name(key: &AccessKey) -> String {
    let hash = hex::encode(digest(&SHA256, key.as_str().as_bytes()));
    format!("{SCHEDULE_NAME_PREFIX}{}", &hash[..NAME_HASH_DIGITS])
}

/// Whether a name is one [`schedule_name`] makes.
pub fn is_access_schedule(name: &str) -> bool {
    name.strip_prefix(SCHEDULE_NAME_PREFIX).is_some_and(|hash| {
        hash.len() == NAME_HASH_DIGITS
            && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// The grant a schedule of an earlier version (one per grant, `liftgate-<grant id>`) belongs
/// to; `None` for other names.
pub fn grant_of_legacy_schedule(name: &str) -> Option<GrantId> {
    name.strip_prefix(SCHEDULE_NAME_PREFIX)
        .and_then(GrantId::parse)
}

/// The UTC second at or after `at`: a one-time schedule has whole seconds, and revoking a
/// fraction of a second late is better than a fraction early.
fn whole_second_after(at: OffsetDateTime) -> OffsetDateTime {
    let utc = at.to_offset(time::UtcOffset::UTC);
    let seconds = utc.unix_timestamp() + i64::from(utc.nanosecond() > 0);
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(utc)
}

/// `at(YYYY-MM-DDTHH:MM:SS)` in UTC (the schedule's timezone is set to UTC too).
pub fn at_expression(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let when = whole_second_after(at);
    // Formatting a valid date with a fixed pattern cannot fail; the fallback keeps the type
    // infallible without a panic path.
    let text = when
        .format(&format)
        .unwrap_or_else(|_| when.unix_timestamp().to_string());
    format!("at({text})")
}

/// The time of an `at(...)` expression read in UTC; `None` for anything else.
pub fn parse_at_expression(expression: &str) -> Option<OffsetDateTime> {
    let inner = expression.strip_prefix("at(")?.strip_suffix(')')?;
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(inner, &format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// The Identity Center instance and identity store the targets act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityCenterIds {
    pub instance_arn: String,
    pub identity_store_id: String,
}

/// A universal target: the SDK action EventBridge Scheduler calls and its JSON input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationTarget {
    pub arn: String,
    pub input: String,
}

/// Why an access cannot have a working revocation target (yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetProblem {
    /// A group membership that does not exist yet: `DeleteGroupMembership` needs its id. The
    /// timer follows once the membership is created.
    MembershipUnknown,
    /// An account access without its permission set ARN (the workflow resolves it before it
    /// sets a timer, so this is a bug or corrupt state).
    PermissionSetArnMissing,
}

/// The partition of an ARN (`aws`, `aws-cn`, `aws-us-gov`), so targets work outside the
/// commercial partition too; `aws` when the ARN is malformed.
pub fn partition_of(arn: &str) -> &str {
    arn.split(':')
        .nth(1)
        .filter(|partition| partition.starts_with("aws"))
        .unwrap_or("aws")
}

/// The universal-target ARN of an AWS SDK action, e.g.
/// `arn:aws:scheduler:::aws-sdk:ssoadmin:deleteAccountAssignment`.
pub fn universal_target_arn(partition: &str, service: &str, action: &str) -> String {
    format!("arn:{partition}:scheduler:::aws-sdk:{service}:{action}")
}

/// The target that removes exactly the access `record` describes: the USER account
/// assignment, or the group membership.
pub fn revocation_target(
    record: &AccessRecord,
    ids: &IdentityCenterIds,
    partition: &str,
) -> Result<RevocationTarget, TargetProblem> {
    target_of(&record.target, &record.principal_id, ids, partition)
}

/// The target removing `target` from `principal_id`.
pub fn target_of(
    target: &GrantTarget,
    principal_id: &str,
    ids: &IdentityCenterIds,
    partition: &str,
) -> Result<RevocationTarget, TargetProblem> {
    match target {
        GrantTarget::Account {
            account_id,
            permission_set_arn,
            ..
        } => {
            let permission_set_arn = permission_set_arn
                .as_deref()
                .ok_or(TargetProblem::PermissionSetArnMissing)?;
            let input = json!({
                "InstanceArn": ids.instance_arn,
                "TargetId": account_id,
                "TargetType": "AWS_ACCOUNT",
                "PermissionSetArn": permission_set_arn,
                "PrincipalType": "USER",
                "PrincipalId": principal_id,
            });
            Ok(RevocationTarget {
                arn: universal_target_arn(partition, "ssoadmin", "deleteAccountAssignment"),
                input: input.to_string(),
            })
        }
        GrantTarget::Group { membership_id, .. } => {
            let membership_id = membership_id
                .as_deref()
                .ok_or(TargetProblem::MembershipUnknown)?;
            let input = json!({
                "IdentityStoreId": ids.identity_store_id,
                "MembershipId": membership_id,
            });
            Ok(RevocationTarget {
                arn: universal_target_arn(partition, "identitystore", "deleteGroupMembership"),
                input: input.to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> IdentityCenterIds {
        IdentityCenterIds {
            instance_arn: "arn:aws:sso:::instance/ssoins-1".to_owned(),
            identity_store_id: "d-1".to_owned(),
        }
    }

    #[test]
    fn names_fit_the_limit_are_stable_per_access_and_recognised() {
        let key = AccessKey::account("111111111111", "Admin", "u-1");
        let name = schedule_name(&key);
        assert!(name.len() <= 64, "{name}");
        assert_eq!(name, schedule_name(&key.clone()));
        assert_ne!(name, schedule_name(&AccessKey::group("g", "u-1")));
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        );
        assert!(is_access_schedule(&name));
        assert!(!is_access_schedule("liftgate-not-a-hash"));
        let legacy = GrantId::generate();
        assert_eq!(
            grant_of_legacy_schedule(&format!("liftgate-{legacy}")),
            Some(legacy)
        );
        assert_eq!(grant_of_legacy_schedule(&name), None);
    }

    #[test]
    fn expressions_are_utc_whole_seconds_rounded_up() {
        let exact = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        assert_eq!(at_expression(exact), "at(2027-01-15T08:00:00)");
        let fraction = exact + time::Duration::milliseconds(1);
        assert_eq!(at_expression(fraction), "at(2027-01-15T08:00:01)");
        let elsewhere = exact.to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());
        assert_eq!(at_expression(elsewhere), "at(2027-01-15T08:00:00)");
        assert_eq!(parse_at_expression("at(2027-01-15T08:00:00)"), Some(exact));
        assert_eq!(parse_at_expression("rate(5 minutes)"), None);
    }

    #[test]
    fn account_targets_delete_the_user_assignment() {
        let mut target = GrantTarget::Account {
            account_id: "111111111111".to_owned(),
            permission_set: "Admin".to_owned(),
            permission_set_arn: Some("arn:aws:sso:::permissionSet/ssoins-1/ps-1".to_owned()),
        };
        let revocation = target_of(&target, "u-1", &ids(), "aws").unwrap();
        assert_eq!(
            revocation.arn,
            "arn:aws:scheduler:::aws-sdk:ssoadmin:deleteAccountAssignment"
        );
        let input: serde_json::Value = serde_json::from_str(&revocation.input).unwrap();
        assert_eq!(
            input,
            json!({
                "InstanceArn": "arn:aws:sso:::instance/ssoins-1",
                "TargetId": "111111111111",
                "TargetType": "AWS_ACCOUNT",
                "PermissionSetArn": "arn:aws:sso:::permissionSet/ssoins-1/ps-1",
                "PrincipalType": "USER",
                "PrincipalId": "u-1",
            })
        );
        if let GrantTarget::Account {
            permission_set_arn, ..
        } = &mut target
        {
            *permission_set_arn = None;
        }
        assert_eq!(
            target_of(&target, "u-1", &ids(), "aws"),
            Err(TargetProblem::PermissionSetArnMissing)
        );
    }

    #[test]
    fn group_targets_delete_the_membership_once_it_is_known() {
        let mut target = GrantTarget::Group {
            group_id: "g-1".to_owned(),
            group_name: None,
            membership_id: None,
        };
        assert_eq!(
            target_of(&target, "u-1", &ids(), "aws-cn"),
            Err(TargetProblem::MembershipUnknown)
        );
        target = GrantTarget::Group {
            group_id: "g-1".to_owned(),
            group_name: None,
            membership_id: Some("m-1".to_owned()),
        };
        let revocation = target_of(&target, "u-1", &ids(), "aws-cn").unwrap();
        assert_eq!(
            revocation.arn,
            "arn:aws-cn:scheduler:::aws-sdk:identitystore:deleteGroupMembership"
        );
        let input: serde_json::Value = serde_json::from_str(&revocation.input).unwrap();
        assert_eq!(
            input,
            json!({"IdentityStoreId": "d-1", "MembershipId": "m-1"})
        );
    }

    #[test]
    fn partitions_come_from_the_role_arn() {
        assert_eq!(partition_of("arn:aws:iam::123456789012:role/x"), "aws");
        assert_eq!(
            partition_of("arn:aws-cn:iam::123456789012:role/x"),
            "aws-cn"
        );
        assert_eq!(partition_of("garbage"), "aws");
    }
}
