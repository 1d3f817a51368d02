//! The caller STS answered with, and whether it is an Identity Center role session: an ARN
//! `arn:<partition>:sts::<account>:assumed-role/AWSReservedSSO_<permission set>_<16 hex>/<session
//! name>`, where Identity Center names the session after the user's `UserName`.

/// What STS `GetCallerIdentity` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallerIdentity {
    pub arn: String,
    pub account: String,
    pub user_id: String,
}

/// An Identity Center role session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SsoSession {
    pub account_id: String,
    pub permission_set: String,
    pub session_name: String,
}

const ROLE_PREFIX: &str = "AWSReservedSSO_";

/// The session, when `arn` is an Identity Center role session's; `None` for anything else
/// (IAM users, other roles, federated users, root).
pub(crate) fn sso_session(arn: &str) -> Option<SsoSession> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("sts"), Some(""), Some(account_id), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    if !matches!(partition, "aws" | "aws-us-gov" | "aws-cn")
        || account_id.len() != 12
        || !account_id.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let resource = resource.strip_prefix("assumed-role/")?;
    let (role, session_name) = resource.split_once('/')?;
    let (permission_set, hash) = role.strip_prefix(ROLE_PREFIX)?.rsplit_once('_')?;
    if permission_set.is_empty()
        || hash.len() != 16
        || !hash.bytes().all(|b| b.is_ascii_hexdigit())
        || session_name.is_empty()
        || session_name.contains('/')
    {
        return None;
    }
    Some(SsoSession {
        account_id: account_id.to_owned(),
        permission_set: permission_set.to_owned(),
        session_name: session_name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_center_role_sessions_are_recognised() {
        let session = sso_session(
            "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Read_Only_0123456789abcdef/jane@corp.com",
        )
        .unwrap();
        assert_eq!(session.account_id, "111111111111");
        assert_eq!(session.permission_set, "Read_Only");
        assert_eq!(session.session_name, "jane@corp.com");
        assert!(
            sso_session(
                "arn:aws-us-gov:sts::111111111111:assumed-role/AWSReservedSSO_Admin_0123456789ABCDEF/jane"
            )
            .is_some()
        );
    }

    #[test]
    fn everything_else_is_not_a_session() {
        for arn in [
            "arn:aws:iam::111111111111:user/jane",
            "arn:aws:sts::111111111111:assumed-role/Deployer/jane",
            "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Admin/jane",
            "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Admin_0123/jane",
            "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO__0123456789abcdef/jane",
            "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/",
            "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Admin_0123456789abcdef",
            "arn:aws:sts::111111111111:federated-user/jane",
            "arn:aws:sts::1111:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/jane",
            "arn:evil:sts::111111111111:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/jane",
            "arn:aws:sts:us-east-1:111111111111:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/jane",
            "arn:aws:iam::111111111111:root",
            "",
        ] {
            assert_eq!(sso_session(arn), None, "{arn}");
        }
    }
}
