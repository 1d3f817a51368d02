//! The check the `webhook_body` fuzz target in `fuzz/` runs, also replayed over its corpus by
//! this crate's integration tests (see `liftgate_policy::fuzzing`). Not part of the API.

use liftgate_policy::Duration;
use liftgate_policy::fuzzing::assert_email_stable;

use crate::body::{CreateBody, DecisionBody, parse_cancel, parse_revoke};
use crate::error::ApiError;

/// The 400 codes docs/reference.md §5 documents for a body.
const BODY_CODES: [&str; 8] = [
    "invalid_json",
    "missing_field",
    "unknown_field",
    "invalid_field",
    "invalid_email",
    "invalid_duration",
    "ambiguous_target",
    "ambiguous_actor",
];

/// Target `webhook_body`: the same bytes as the body of every call that has one (create,
/// approve/deny, cancel, revoke), read by the parsers the routes call. A refusal is a 400 with
/// a documented code; what is accepted reads back as itself (emails, the duration, the grant
/// id of `extends`).
pub fn webhook_body(data: &[u8]) {
    match CreateBody::parse(data) {
        Ok(create) => {
            assert_email_stable(&create.requester);
            let printed = create.duration.to_string();
            assert_eq!(Duration::parse(&printed), Ok(create.duration));
            if let Some(extends) = &create.extends {
                let again = liftgate_gateway::domain::GrantId::parse(extends.as_str());
                assert_eq!(again.as_ref(), Some(extends));
            }
        }
        Err(error) => assert_body_refusal(&error),
    }
    match DecisionBody::parse(data) {
        Ok(decision) => {
            assert_email_stable(&decision.approver);
            if let Some(comment) = &decision.comment {
                assert!(!comment.trim().is_empty(), "a blank comment was kept");
            }
        }
        Err(error) => assert_body_refusal(&error),
    }
    for parsed in [parse_cancel(data), parse_revoke(data)] {
        match parsed {
            Ok(actor) => assert_email_stable(&actor),
            Err(error) => assert_body_refusal(&error),
        }
    }
}

fn assert_body_refusal(error: &ApiError) {
    let ApiError::Refused { status, code, .. } = error else {
        panic!("a body refusal that is not a 400: {error:?}");
    };
    assert_eq!(status.as_u16(), 400, "{code}");
    assert!(BODY_CODES.contains(code), "undocumented code {code}");
}
