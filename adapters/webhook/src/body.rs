//! The JSON bodies of docs/reference.md §5, read field by field so each problem gets its own 400 code:
//! `invalid_json`, `missing_field`, `unknown_field`, `invalid_field`, `invalid_email`,
//! `invalid_duration`, `ambiguous_target`, `ambiguous_actor`.

use liftgate_gateway::domain::GrantId;
use liftgate_gateway::workflow::TargetInput;
use liftgate_policy::{Duration, Email};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::ApiError;

/// A JSON object whose fields are taken one by one; whatever is left over is an unknown field,
/// refused so a misspelt optional field (`coment`) is never silently ignored.
struct Fields {
    map: Map<String, Value>,
}

impl Fields {
    fn parse(body: &[u8]) -> Result<Fields, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|error| {
            ApiError::bad_request(
                "invalid_json",
                format!("the body is not valid JSON: {error}"),
            )
        })?;
        match value {
            Value::Object(map) => Ok(Fields { map }),
            _ => Err(ApiError::bad_request(
                "invalid_json",
                "the body must be a JSON object",
            )),
        }
    }

    /// A string field; `null` counts as absent.
    fn optional_string(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        match self.map.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(ApiError::bad_request(
                "invalid_field",
                format!("{name} must be a string"),
            )),
        }
    }

    /// A boolean field; absent or `null` is false.
    fn flag(&mut self, name: &str) -> Result<bool, ApiError> {
        match self.map.remove(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(flag)) => Ok(flag),
            Some(_) => Err(ApiError::bad_request(
                "invalid_field",
                format!("{name} must be true or false"),
            )),
        }
    }

    fn required_string(&mut self, name: &str) -> Result<String, ApiError> {
        self.optional_string(name)?.ok_or_else(|| missing(name))
    }

    fn optional_email(&mut self, name: &str) -> Result<Option<Email>, ApiError> {
        self.optional_string(name)?
            .map(|text| {
                Email::parse(&text).map_err(|_| {
                    ApiError::bad_request(
                        "invalid_email",
                        format!("{name} is not an email address: {text:?}"),
                    )
                })
            })
            .transpose()
    }

    fn required_email(&mut self, name: &str) -> Result<Email, ApiError> {
        self.optional_email(name)?.ok_or_else(|| missing(name))
    }

    fn finish(self) -> Result<(), ApiError> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(name) => Err(ApiError::bad_request(
                "unknown_field",
                format!("{name:?} is not a field of this call"),
            )),
        }
    }
}

fn missing(name: &str) -> ApiError {
    ApiError::bad_request("missing_field", format!("the field {name} is required"))
}

/// `POST /api/v1/requests`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CreateBody {
    pub requester: Email,
    pub target: TargetInput,
    pub duration: Duration,
    pub reason: String,
    pub start_at: Option<OffsetDateTime>,
    pub extends: Option<GrantId>,
    /// Break the glass (docs/reference.md §3, §5).
    pub break_glass: bool,
}

impl CreateBody {
    pub(crate) fn parse(body: &[u8]) -> Result<CreateBody, ApiError> {
        let mut fields = Fields::parse(body)?;
        let requester = fields.required_email("requester")?;
        let account_id = fields.optional_string("account_id")?;
        let permission_set = fields.optional_string("permission_set")?;
        let group_id = fields.optional_string("group_id")?;
        let target = match (account_id, permission_set, group_id) {
            (Some(account_id), Some(permission_set), None) => TargetInput::Account {
                account_id,
                permission_set,
            },
            (None, None, Some(group_id)) => TargetInput::Group { group_id },
            (Some(_), None, None) => return Err(missing("permission_set")),
            (None, Some(_), None) => return Err(missing("account_id")),
            (None, None, None) => {
                return Err(ApiError::bad_request(
                    "missing_field",
                    "the field account_id (with permission_set) or group_id is required",
                ));
            }
            _ => {
                return Err(ApiError::bad_request(
                    "ambiguous_target",
                    "give either account_id and permission_set, or group_id, not both",
                ));
            }
        };
        let duration_text = fields.required_string("duration")?;
        let duration = Duration::parse(&duration_text)
            .map_err(|error| ApiError::bad_request("invalid_duration", error.to_string()))?;
        let reason = fields.required_string("reason")?;
        let start_at = fields
            .optional_string("start_at")?
            .map(|text| {
                OffsetDateTime::parse(&text, &Rfc3339).map_err(|_| {
                    ApiError::bad_request(
                        "invalid_field",
                        format!("start_at must be an RFC 3339 time: {text:?}"),
                    )
                })
            })
            .transpose()?;
        let extends = fields
            .optional_string("extends")?
            .map(|text| {
                GrantId::parse(&text).ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_field",
                        format!("extends must be a grant id: {text:?}"),
                    )
                })
            })
            .transpose()?;
        let break_glass = fields.flag("break_glass")?;
        fields.finish()?;
        Ok(CreateBody {
            requester,
            target,
            duration,
            reason,
            start_at,
            extends,
            break_glass,
        })
    }
}

/// `approve` and `deny`: `{"approver", "comment"?}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecisionBody {
    pub approver: Email,
    pub comment: Option<String>,
}

impl DecisionBody {
    pub(crate) fn parse(body: &[u8]) -> Result<DecisionBody, ApiError> {
        let mut fields = Fields::parse(body)?;
        let approver = fields.required_email("approver")?;
        let comment = fields
            .optional_string("comment")?
            .filter(|comment| !comment.trim().is_empty());
        fields.finish()?;
        Ok(DecisionBody { approver, comment })
    }
}

/// `acknowledge` and `flag`: `{"reviewer", "comment"?}`.
pub(crate) fn parse_review(body: &[u8]) -> Result<(Email, Option<String>), ApiError> {
    let mut fields = Fields::parse(body)?;
    let reviewer = fields.required_email("reviewer")?;
    let comment = fields
        .optional_string("comment")?
        .filter(|comment| !comment.trim().is_empty());
    fields.finish()?;
    Ok((reviewer, comment))
}

/// `cancel`: `{"requester"}`.
pub(crate) fn parse_cancel(body: &[u8]) -> Result<Email, ApiError> {
    let mut fields = Fields::parse(body)?;
    let requester = fields.required_email("requester")?;
    fields.finish()?;
    Ok(requester)
}

/// `revoke`: `{"approver"}` or `{"requester"}`; the person ending the grant either way.
pub(crate) fn parse_revoke(body: &[u8]) -> Result<Email, ApiError> {
    let mut fields = Fields::parse(body)?;
    let approver = fields.optional_email("approver")?;
    let requester = fields.optional_email("requester")?;
    fields.finish()?;
    match (approver, requester) {
        (Some(actor), None) | (None, Some(actor)) => Ok(actor),
        (None, None) => Err(ApiError::bad_request(
            "missing_field",
            "the field approver or requester is required",
        )),
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "ambiguous_actor",
            "give either approver or requester, not both",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(error: ApiError) -> &'static str {
        error.code()
    }

    #[test]
    fn reads_an_account_create() {
        let body = br#"{"requester": "Alice@Corp.com", "account_id": "111111111111",
            "permission_set": "Admin", "duration": "1h30m", "reason": "deploy",
            "start_at": "2027-01-15T08:00:00Z", "extends": null}"#;
        let create = CreateBody::parse(body).unwrap();
        assert_eq!(create.requester.as_str(), "alice@corp.com");
        assert_eq!(
            create.target,
            TargetInput::Account {
                account_id: "111111111111".into(),
                permission_set: "Admin".into()
            }
        );
        assert_eq!(create.duration, Duration::from_mins(90));
        assert_eq!(create.start_at.unwrap().unix_timestamp(), 1_800_000_000);
        assert!(create.extends.is_none());
    }

    #[test]
    fn names_each_problem() {
        let cases: [(&[u8], &str); 12] = [
            (b"{", "invalid_json"),
            (b"[]", "invalid_json"),
            (br#"{"account_id": "1", "permission_set": "A", "duration": "1h", "reason": "r"}"#, "missing_field"),
            (br#"{"requester": "a@b.co", "duration": "1h", "reason": "r"}"#, "missing_field"),
            (br#"{"requester": "a@b.co", "account_id": "1", "duration": "1h", "reason": "r"}"#, "missing_field"),
            (br#"{"requester": "nobody", "group_id": "g", "duration": "1h", "reason": "r"}"#, "invalid_email"),
            (br#"{"requester": "a@b.co", "group_id": "g", "duration": "1 hour", "reason": "r"}"#, "invalid_duration"),
            (br#"{"requester": "a@b.co", "group_id": "g", "duration": 60, "reason": "r"}"#, "invalid_field"),
            (br#"{"requester": "a@b.co", "group_id": "g", "account_id": "1", "permission_set": "A", "duration": "1h", "reason": "r"}"#, "ambiguous_target"),
            (br#"{"requester": "a@b.co", "group_id": "g", "duration": "1h", "reason": "r", "reson": "r"}"#, "unknown_field"),
            (br#"{"requester": "a@b.co", "group_id": "g", "duration": "1h", "reason": "r", "start_at": "tomorrow"}"#, "invalid_field"),
            (br#"{"requester": "a@b.co", "group_id": "g", "duration": "1h", "reason": "r", "extends": "g-1"}"#, "invalid_field"),
        ];
        for (body, expected) in cases {
            let error = CreateBody::parse(body).expect_err(std::str::from_utf8(body).unwrap());
            assert_eq!(
                code(error),
                expected,
                "{}",
                std::str::from_utf8(body).unwrap()
            );
        }
    }

    #[test]
    fn reads_decision_bodies() {
        let decision =
            DecisionBody::parse(br#"{"approver": "bob@corp.com", "comment": "  "}"#).unwrap();
        assert_eq!(decision.approver.as_str(), "bob@corp.com");
        assert_eq!(decision.comment, None);
        assert_eq!(
            code(DecisionBody::parse(br#"{"requester": "bob@corp.com"}"#).unwrap_err()),
            "missing_field"
        );
        assert_eq!(
            parse_cancel(br#"{"requester": "bob@corp.com"}"#)
                .unwrap()
                .as_str(),
            "bob@corp.com"
        );
        assert_eq!(
            parse_revoke(br#"{"approver": "bob@corp.com"}"#)
                .unwrap()
                .as_str(),
            "bob@corp.com"
        );
        assert_eq!(
            parse_revoke(br#"{"requester": "amy@corp.com"}"#)
                .unwrap()
                .as_str(),
            "amy@corp.com"
        );
        assert_eq!(code(parse_revoke(b"{}").unwrap_err()), "missing_field");
        assert_eq!(
            code(
                parse_revoke(br#"{"approver": "b@corp.com", "requester": "a@corp.com"}"#)
                    .unwrap_err()
            ),
            "ambiguous_actor"
        );
    }
}
