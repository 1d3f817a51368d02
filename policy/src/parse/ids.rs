//! The shapes of the identifiers rules name. Written by hand rather than with `regex` because
//! each is a few lines and the crate stays dependency-light; the patterns are upstream's.

/// An AWS account id: exactly twelve ASCII digits (`^\d{12}$`).
pub(super) fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|byte| byte.is_ascii_digit())
}

/// A permission-set name as upstream accepts it: `^[\w+=,.@-]{1,32}$`. Python's `\w` on text is
/// Unicode-aware, hence `is_alphanumeric` rather than the ASCII test.
pub(super) fn is_permission_set_name(text: &str) -> bool {
    let length = text.chars().count();
    (1..=32).contains(&length)
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || "_+=,.@-".contains(c))
}

/// An Identity Center group id, upstream's
/// `^([0-9a-f]{10}-)?[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}$`:
/// a UUID, optionally behind a ten-digit lower-case hex identity-store prefix.
pub(super) fn is_group_id(text: &str) -> bool {
    let is_prefix = |part: &str| {
        part.len() == 10 && part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let parts: Vec<&str> = text.split('-').collect();
    let uuid = match parts.as_slice() {
        [prefix, rest @ ..] if rest.len() == 5 && is_prefix(prefix) => rest,
        all if all.len() == 5 => all,
        _ => return false,
    };
    uuid.iter()
        .zip([8, 4, 4, 4, 12])
        .all(|(part, length)| part.len() == length && part.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(is_account_id("012345678901"));
        for bad in [
            "",
            "*",
            "1111*",
            "11111111111",
            "1111111111111",
            "ou-ab12-34567890",
            "１２３",
        ] {
            assert!(!is_account_id(bad), "{bad}");
        }
    }

    #[test]
    fn permission_set_names_follow_the_upstream_pattern() {
        for good in [
            "Admin",
            "ReadOnly_Access",
            "a+b=c,d.e@f-g",
            "Ünïcode",
            &"x".repeat(32),
        ] {
            assert!(is_permission_set_name(good), "{good}");
        }
        for bad in ["", "Admin*", "has space", "a/b", &"x".repeat(33)] {
            assert!(!is_permission_set_name(bad), "{bad}");
        }
    }

    #[test]
    fn group_ids_are_uuids_with_an_optional_store_prefix() {
        for good in [
            "99999999-8888-7777-6666-555555555555",
            "ABCDEF01-abcd-ABCD-abcd-0123456789AB",
            "0123456789-99999999-8888-7777-6666-555555555555",
        ] {
            assert!(is_group_id(good), "{good}");
        }
        for bad in [
            "",
            "*",
            "d-1234567890-99999999-8888-7777-6666-555555555555",
            "ABCDEF0123-99999999-8888-7777-6666-555555555555",
            "99999999-8888-7777-6666-55555555555",
            "99999999-8888-7777-6666-55555555555g",
            "99999999-8888-7777-6666-555555555555-",
        ] {
            assert!(!is_group_id(bad), "{bad}");
        }
    }
}
