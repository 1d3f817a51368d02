//! What one revocation schedule looks like: its name, its `at(...)` expression and the
//! EventBridge Scheduler universal target that removes the grant's access in Identity Center
//! without any Liftgate code running.

use liftgate_gateway::domain::{Grant, GrantId, GrantTarget};
use serde_json::json;
use time::OffsetDateTime;
use time::macros::format_description;

/// Every schedule Liftgate creates is named `liftgate-<grant id>` (45 characters, within the
/// 64-character limit), so the grant it belongs to can be found from the name alone.
pub const SCHEDULE_NAME_PREFIX: &str = "liftgate-";

/// The schedule name of a grant.
pub fn schedule_name(grant_id: &GrantId) -> String {
    format!("{SCHEDULE_NAME_PREFIX}{grant_id}")
}

/// The grant a schedule name belongs to; `None` for names Liftgate did not make.
pub fn grant_of_schedule(name: &str) -> Option<GrantId> {
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

/// Why a grant cannot have a working revocation target (yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetProblem {
    /// A group grant whose membership does not exist yet: `DeleteGroupMembership` needs its
    /// id. The workflow schedules again once the membership is created.
    MembershipUnknown,
    /// An account grant without its permission set ARN (the workflow resolves it before it
    /// schedules, so this is a bug or corrupt state).
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

/// The target that removes exactly the access `grant` created: its USER account assignment, or
/// its group membership.
pub fn revocation_target(
    grant: &Grant,
    ids: &IdentityCenterIds,
    partition: &str,
) -> Result<RevocationTarget, TargetProblem> {
    match &grant.target {
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
                "PrincipalId": grant.principal_id,
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
    use liftgate_gateway::domain::GrantStatus;
    use liftgate_gateway::testing::sample_grant;

    fn ids() -> IdentityCenterIds {
        IdentityCenterIds {
            instance_arn: "arn:aws:sso:::instance/ssoins-1".to_owned(),
            identity_store_id: "d-1".to_owned(),
        }
    }

    #[test]
    fn names_fit_the_limit_and_lead_back_to_the_grant() {
        let id = GrantId::generate();
        let name = schedule_name(&id);
        assert!(name.len() <= 64, "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        );
        assert_eq!(grant_of_schedule(&name), Some(id));
        assert_eq!(grant_of_schedule("liftgate-not-a-uuid"), None);
        assert_eq!(grant_of_schedule("other-schedule"), None);
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
        let mut grant = sample_grant(GrantStatus::Active, "u-1", OffsetDateTime::now_utc());
        if let GrantTarget::Account {
            permission_set_arn, ..
        } = &mut grant.target
        {
            *permission_set_arn = Some("arn:aws:sso:::permissionSet/ssoins-1/ps-1".to_owned());
        }
        let target = revocation_target(&grant, &ids(), "aws").unwrap();
        assert_eq!(
            target.arn,
            "arn:aws:scheduler:::aws-sdk:ssoadmin:deleteAccountAssignment"
        );
        let input: serde_json::Value = serde_json::from_str(&target.input).unwrap();
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
        } = &mut grant.target
        {
            *permission_set_arn = None;
        }
        assert_eq!(
            revocation_target(&grant, &ids(), "aws"),
            Err(TargetProblem::PermissionSetArnMissing)
        );
    }

    #[test]
    fn group_targets_delete_the_membership_once_it_is_known() {
        let mut grant = sample_grant(GrantStatus::Active, "u-1", OffsetDateTime::now_utc());
        grant.target = GrantTarget::Group {
            group_id: "g-1".to_owned(),
            group_name: None,
            membership_id: None,
        };
        assert_eq!(
            revocation_target(&grant, &ids(), "aws-cn"),
            Err(TargetProblem::MembershipUnknown)
        );
        grant.target = GrantTarget::Group {
            group_id: "g-1".to_owned(),
            group_name: None,
            membership_id: Some("m-1".to_owned()),
        };
        let target = revocation_target(&grant, &ids(), "aws-cn").unwrap();
        assert_eq!(
            target.arn,
            "arn:aws-cn:scheduler:::aws-sdk:identitystore:deleteGroupMembership"
        );
        let input: serde_json::Value = serde_json::from_str(&target.input).unwrap();
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
