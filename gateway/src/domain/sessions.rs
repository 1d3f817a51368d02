//! Ending live role sessions (docs/reference.md §3 `RevokeSessions`, §6): the permission set's
//! inline policy, with Liftgate's deny statements merged into whatever else it holds.
//!
//! Removing an account assignment does not end the role sessions it already issued; they last
//! until the permission set's `SessionDuration`. Liftgate ends them by adding to the set's
//! inline policy a statement denying everything to that user's sessions of that account
//! issued before the removal, re-provisioning the set, and taking the statement out once the
//! longest session issued before the removal has expired.
//!
//! Plain data, no IO: [`InlinePolicy::parse`] reads the document Identity Center holds,
//! [`InlinePolicy::revoke`] and [`InlinePolicy::expire`] edit Liftgate's part of it, and
//! [`InlinePolicy::render`] writes it back, refusing a document over the size limit.
//!
//! ## The statements
//!
//! ```json
//! {"Sid": "LiftgateRevokedSessions111111111111At20270115T080000ZUntil20270115T200000Z",
//!  "Effect": "Deny", "Action": "*", "Resource": "*",
//!  "Condition": {
//!    "StringEquals": {"aws:PrincipalAccount": "111111111111",
//!                     "identitystore:userId": ["<user id>", "<user id>"]},
//!    "DateLessThan": {"aws:TokenIssueTime": "2027-01-15T08:00:00Z"}}}
//! ```
//!
//! - **Whose sessions:** `identitystore:userId`, the Identity Store user id of the session,
//!   which AWS's own guide to revoking permission-set sessions uses ("Use a Deny policy to
//!   revoke active user permissions") because it is fixed for a person, where `aws:userid`
//!   (`AROA…:<user name>`) changes with the user name and needs a lookup and wildcard care.
//! - **Which account:** `aws:PrincipalAccount`, so the user's sessions of the same permission
//!   set in other accounts (other grants, permanent access) are untouched.
//! - **Which sessions:** `aws:TokenIssueTime` before the removal, rounded up to the second, so
//!   a later grant of the same access gets sessions the statement does not match.
//! - **One statement per (account, removal time, expiry):** condition keys are ANDed and the
//!   values of one key ORed, so users can only share a statement when they share all three;
//!   a statement per user would be the same in practice, since removals rarely share a second.
//!   Coarser buckets were rejected: rounding the time down misses sessions issued just before
//!   the end, rounding it up denies the next grant's first sessions for hours.
//! - **Sid:** the fixed prefix [`SID_PREFIX`] marks Liftgate's statements (everything else is
//!   foreign and kept as it is, in order); the rest of the Sid (alphanumeric, as IAM requires)
//!   carries the account, the removal time and the expiry, which is how a later edit knows when
//!   a statement may go without any other state.
//! - **Superseding:** a later revocation of the same user in the same account denies a
//!   superset of sessions, so it replaces the earlier entry (when it expires no earlier).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

/// Marks Liftgate's statements in a permission set's inline policy.
pub const SID_PREFIX: &str = "LiftgateRevokedSessions";

/// The most non-whitespace characters an inline policy of a permission set may hold
/// (IAM Identity Center quotas: "Maximum size of non-whitespace characters in the inline
/// policy per permission set is 10,240 bytes").
pub const INLINE_POLICY_LIMIT: usize = 10_240;

/// The most bytes in all, whitespace included (the same quota: 32,768 bytes).
pub const INLINE_POLICY_TOTAL_LIMIT: usize = 32_768;

/// The longest `SessionDuration` a permission set can have: used when Identity Center does not
/// say, so a statement never goes before the sessions it ends.
pub const LONGEST_SESSION: time::Duration = time::Duration::hours(12);

const POLICY_VERSION: &str = "2012-10-17";
const ACCOUNT_KEY: &str = "aws:PrincipalAccount";
const USER_KEY: &str = "identitystore:userId";
const ISSUED_KEY: &str = "aws:TokenIssueTime";

/// One user's sessions to end: those of `account_id` issued before `issued_before`, until
/// `until` (when the last of them has expired by itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedSessions {
    pub account_id: String,
    pub user_id: String,
    pub issued_before: OffsetDateTime,
    pub until: OffsetDateTime,
}

/// The identity of one Liftgate statement.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Bucket {
    account_id: String,
    issued_before: OffsetDateTime,
    until: OffsetDateTime,
}

/// Why a document cannot be edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// What the permission set holds is not a policy Liftgate can merge into; it is never
    /// overwritten.
    #[error("the permission set's inline policy is not a readable policy document: {0}")]
    Unreadable(String),
    #[error(
        "the permission set's inline policy would hold {size} non-whitespace characters \
         ({total} in all), over the limit of {limit}"
    )]
    TooLarge {
        size: usize,
        total: usize,
        limit: usize,
    },
}

/// A permission set's inline policy: its own keys and foreign statements as read, and
/// Liftgate's statements as data.
#[derive(Debug, Clone, PartialEq)]
pub struct InlinePolicy {
    /// Top-level keys other than `Statement` (`Version`, `Id`), as read.
    head: Map<String, Value>,
    /// Statements that are not Liftgate's, in their order.
    foreign: Vec<Value>,
    ours: BTreeMap<Bucket, BTreeSet<String>>,
}

/// What [`InlinePolicy::render`] gives: the document to put, or none (delete the inline
/// policy: nothing is left in it and there was nothing else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendered {
    Put(String),
    Delete,
}

fn compact_time(at: OffsetDateTime) -> String {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

fn parse_compact_time(text: &str) -> Option<OffsetDateTime> {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(text, &format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

fn iso_time(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

/// A time rounded up to the whole second: `aws:TokenIssueTime` is compared at that precision,
/// and a session issued in the same second as the removal must still be matched.
pub fn ceil_to_second(at: OffsetDateTime) -> OffsetDateTime {
    let whole = at.replace_nanosecond(0).unwrap_or(at);
    if whole == at {
        at
    } else {
        whole + time::Duration::SECOND
    }
}

impl Bucket {
    fn sid(&self) -> String {
        format!(
            "{SID_PREFIX}{}At{}Until{}",
            self.account_id,
            compact_time(self.issued_before),
            compact_time(self.until)
        )
    }

    fn from_sid(sid: &str) -> Option<Bucket> {
        let rest = sid.strip_prefix(SID_PREFIX)?;
        let (account_id, times) = rest.split_once("At")?;
        let (before, until) = times.split_once("Until")?;
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Bucket {
            account_id: account_id.to_owned(),
            issued_before: parse_compact_time(before)?,
            until: parse_compact_time(until)?,
        })
    }

    fn statement(&self, users: &BTreeSet<String>) -> Value {
        let users: Value = if users.len() == 1 {
            json!(users.iter().next())
        } else {
            json!(users)
        };
        json!({
            "Sid": self.sid(),
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {
                "StringEquals": {ACCOUNT_KEY: self.account_id, USER_KEY: users},
                "DateLessThan": {ISSUED_KEY: iso_time(self.issued_before)},
            }
        })
    }

    /// Reads one of Liftgate's statements back; `None` when it is not exactly what Liftgate
    /// writes (someone edited it): it is then kept as foreign.
    fn read(statement: &Value) -> Option<(Bucket, BTreeSet<String>)> {
        let bucket = Bucket::from_sid(statement.get("Sid")?.as_str()?)?;
        let users = statement
            .pointer("/Condition/StringEquals")
            .and_then(|block| block.get(USER_KEY))
            .and_then(|value| match value {
                Value::String(user) => Some(BTreeSet::from([user.clone()])),
                Value::Array(users) => users
                    .iter()
                    .map(|user| user.as_str().map(str::to_owned))
                    .collect(),
                _ => None,
            })
            .filter(|users| !users.is_empty())?;
        (*statement == bucket.statement(&users)).then_some((bucket, users))
    }
}

impl InlinePolicy {
    /// Reads what `GetInlinePolicyForPermissionSet` returned (`None` or empty: no inline
    /// policy).
    ///
    /// # Errors
    /// [`PolicyError::Unreadable`] when it is not a JSON object with a statement list.
    pub fn parse(document: Option<&str>) -> Result<InlinePolicy, PolicyError> {
        let text = document.map(str::trim).unwrap_or_default();
        if text.is_empty() {
            return Ok(InlinePolicy {
                head: Map::new(),
                foreign: Vec::new(),
                ours: BTreeMap::new(),
            });
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|error| PolicyError::Unreadable(error.to_string()))?;
        let Value::Object(mut head) = value else {
            return Err(PolicyError::Unreadable("not a JSON object".to_owned()));
        };
        let statements = match head.remove("Statement") {
            None => Vec::new(),
            Some(Value::Array(statements)) => statements,
            // A single statement may be written without the list.
            Some(statement @ Value::Object(_)) => vec![statement],
            Some(_) => {
                return Err(PolicyError::Unreadable(
                    "Statement is neither a statement nor a list of them".to_owned(),
                ));
            }
        };
        let mut policy = InlinePolicy {
            head,
            foreign: Vec::new(),
            ours: BTreeMap::new(),
        };
        for statement in statements {
            match Bucket::read(&statement) {
                Some((bucket, users)) => policy.ours.entry(bucket).or_default().extend(users),
                None => policy.foreign.push(statement),
            }
        }
        Ok(policy)
    }

    /// Liftgate's entries, one per user and statement.
    pub fn entries(&self) -> Vec<RevokedSessions> {
        self.ours
            .iter()
            .flat_map(|(bucket, users)| {
                users.iter().map(|user| RevokedSessions {
                    account_id: bucket.account_id.clone(),
                    user_id: user.clone(),
                    issued_before: bucket.issued_before,
                    until: bucket.until,
                })
            })
            .collect()
    }

    /// How many statements are not Liftgate's.
    pub fn foreign_statements(&self) -> usize {
        self.foreign.len()
    }

    /// Adds `entry`; an earlier entry of the same user and account that it covers (no later
    /// expiry) goes. Returns whether the document changed.
    pub fn revoke(&mut self, entry: &RevokedSessions) -> bool {
        let bucket = Bucket {
            account_id: entry.account_id.clone(),
            issued_before: ceil_to_second(entry.issued_before),
            until: ceil_to_second(entry.until),
        };
        if self
            .ours
            .get(&bucket)
            .is_some_and(|users| users.contains(&entry.user_id))
        {
            return false;
        }
        // An entry that already denies more (a later removal, no earlier expiry) covers this.
        let covered = self.ours.iter().any(|(other, users)| {
            other.account_id == bucket.account_id
                && other.issued_before >= bucket.issued_before
                && other.until >= bucket.until
                && users.contains(&entry.user_id)
        });
        if covered {
            return false;
        }
        for (other, users) in &mut self.ours {
            if other.account_id == bucket.account_id
                && other.issued_before <= bucket.issued_before
                && other.until <= bucket.until
            {
                users.remove(&entry.user_id);
            }
        }
        self.ours.retain(|_, users| !users.is_empty());
        self.ours
            .entry(bucket)
            .or_default()
            .insert(entry.user_id.clone());
        true
    }

    /// Removes Liftgate's statements whose sessions have all expired by `now`. Returns which
    /// accounts they were for.
    pub fn expire(&mut self, now: OffsetDateTime) -> BTreeSet<String> {
        let mut accounts = BTreeSet::new();
        self.ours.retain(|bucket, _| {
            let keep = bucket.until > now;
            if !keep {
                accounts.insert(bucket.account_id.clone());
            }
            keep
        });
        accounts
    }

    /// The document to write back: foreign statements first, in their order, then Liftgate's;
    /// [`Rendered::Delete`] when no statement is left and nothing else was there.
    ///
    /// # Errors
    /// [`PolicyError::TooLarge`] when it would not fit the permission set's quota.
    pub fn render(&self) -> Result<Rendered, PolicyError> {
        let statements: Vec<Value> = self
            .foreign
            .iter()
            .cloned()
            .chain(
                self.ours
                    .iter()
                    .map(|(bucket, users)| bucket.statement(users)),
            )
            .collect();
        if statements.is_empty() && self.head.keys().all(|key| key == "Version") {
            return Ok(Rendered::Delete);
        }
        let mut document = self.head.clone();
        document
            .entry("Version")
            .or_insert_with(|| Value::String(POLICY_VERSION.to_owned()));
        document.insert("Statement".to_owned(), Value::Array(statements));
        let text = Value::Object(document).to_string();
        let size = non_whitespace_size(&text);
        if size > INLINE_POLICY_LIMIT || text.len() > INLINE_POLICY_TOTAL_LIMIT {
            return Err(PolicyError::TooLarge {
                size,
                total: text.len(),
                limit: INLINE_POLICY_LIMIT,
            });
        }
        Ok(Rendered::Put(text))
    }
}

/// The size the quota counts: UTF-8 bytes of every character that is not whitespace.
pub fn non_whitespace_size(text: &str) -> usize {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .map(char::len_utf8)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).unwrap()
    }

    fn entry(user: &str, removed: i64) -> RevokedSessions {
        RevokedSessions {
            account_id: "111111111111".to_owned(),
            user_id: user.to_owned(),
            issued_before: at(removed),
            until: at(removed + 3600),
        }
    }

    const FOREIGN: &str = r#"{
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadBuckets", "Effect": "Allow", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::reports/*"},
            {"Sid": "LiftgateRevokedSessionsEditedByHand", "Effect": "Deny", "Action": "*",
             "Resource": "*"}
        ]
    }"#;

    fn put(policy: &InlinePolicy) -> Value {
        match policy.render().unwrap() {
            Rendered::Put(text) => serde_json::from_str(&text).unwrap(),
            Rendered::Delete => panic!("expected a document"),
        }
    }

    #[test]
    fn merges_with_foreign_statements_and_keeps_them_in_order() {
        let mut policy = InlinePolicy::parse(Some(FOREIGN)).unwrap();
        assert_eq!(
            policy.foreign_statements(),
            2,
            "an edited statement is foreign"
        );
        assert!(policy.revoke(&entry("u-1", 0)));
        let document = put(&policy);
        let statements = document["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 3);
        assert_eq!(statements[0]["Sid"], "ReadBuckets");
        assert_eq!(statements[1]["Sid"], "LiftgateRevokedSessionsEditedByHand");
        assert_eq!(
            statements[2],
            json!({
                "Sid": "LiftgateRevokedSessions111111111111At20270115T080000ZUntil20270115T090000Z",
                "Effect": "Deny", "Action": "*", "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:PrincipalAccount": "111111111111",
                                     "identitystore:userId": "u-1"},
                    "DateLessThan": {"aws:TokenIssueTime": "2027-01-15T08:00:00Z"}
                }
            })
        );
        // Read back, it is Liftgate's again, and adding it twice changes nothing.
        let Rendered::Put(text) = policy.render().unwrap() else {
            unreachable!()
        };
        let mut again = InlinePolicy::parse(Some(&text)).unwrap();
        assert_eq!(again.entries(), vec![entry("u-1", 0)]);
        assert!(!again.revoke(&entry("u-1", 0)));
        assert_eq!(again, policy);
    }

    #[test]
    fn users_removed_together_share_a_statement_and_later_removals_supersede() {
        let mut policy = InlinePolicy::parse(None).unwrap();
        policy.revoke(&entry("u-1", 0));
        policy.revoke(&entry("u-2", 0));
        let document = put(&policy);
        assert_eq!(document["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(
            document["Statement"][0]["Condition"]["StringEquals"]["identitystore:userId"],
            json!(["u-1", "u-2"])
        );
        // u-1 again, later: the later entry denies more and replaces the first.
        assert!(policy.revoke(&entry("u-1", 600)));
        assert_eq!(policy.entries(), vec![entry("u-2", 0), entry("u-1", 600)]);
        // An earlier one is covered by what is there.
        assert!(!policy.revoke(&entry("u-1", 300)));
        // Another account is another statement.
        let mut elsewhere = entry("u-1", 0);
        elsewhere.account_id = "222222222222".to_owned();
        assert!(policy.revoke(&elsewhere));
        assert_eq!(policy.entries().len(), 3);
    }

    #[test]
    fn expired_statements_go_and_an_emptied_document_is_deleted() {
        let mut policy = InlinePolicy::parse(None).unwrap();
        policy.revoke(&entry("u-1", 0));
        policy.revoke(&entry("u-2", 1000));
        assert!(policy.expire(at(3599)).is_empty());
        assert_eq!(
            policy.expire(at(3600)),
            BTreeSet::from(["111111111111".to_owned()])
        );
        assert_eq!(policy.entries(), vec![entry("u-2", 1000)]);
        policy.expire(at(4600));
        assert_eq!(policy.render().unwrap(), Rendered::Delete);
        // With foreign statements left, the document stays.
        let mut foreign = InlinePolicy::parse(Some(FOREIGN)).unwrap();
        foreign.revoke(&entry("u-1", 0));
        foreign.expire(at(10_000));
        assert_eq!(put(&foreign)["Statement"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_document_over_the_quota_is_refused() {
        let mut policy = InlinePolicy::parse(None).unwrap();
        let mut added = 0;
        loop {
            policy.revoke(&entry(&format!("u-{added}"), added * 10));
            match policy.render() {
                Ok(Rendered::Put(text)) => {
                    assert!(non_whitespace_size(&text) <= INLINE_POLICY_LIMIT);
                    added += 1;
                }
                Ok(Rendered::Delete) => unreachable!(),
                Err(PolicyError::TooLarge { size, limit, .. }) => {
                    assert!(size > limit);
                    break;
                }
                Err(other) => panic!("{other}"),
            }
        }
        // Each revocation of its own costs one statement: about 40 fit in an empty policy.
        assert!((30..60).contains(&added), "{added} fitted");
        // Expiring the first few makes room again.
        assert!(!policy.expire(at(3600 + 50)).is_empty());
        assert!(matches!(policy.render(), Ok(Rendered::Put(_))));
    }

    #[test]
    fn whitespace_does_not_count_but_foreign_size_does() {
        assert_eq!(non_whitespace_size("{ \"a\" :\n 1 }"), 7);
        let big = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:*","Resource":"{}"}}]}}"#,
            "x".repeat(INLINE_POLICY_LIMIT)
        );
        let mut policy = InlinePolicy::parse(Some(&big)).unwrap();
        policy.revoke(&entry("u-1", 0));
        assert!(matches!(policy.render(), Err(PolicyError::TooLarge { .. })));
    }

    #[test]
    fn what_is_not_a_policy_is_never_overwritten() {
        for bad in ["not json", "[1, 2]", r#"{"Statement": "x"}"#] {
            assert!(matches!(
                InlinePolicy::parse(Some(bad)),
                Err(PolicyError::Unreadable(_))
            ));
        }
        let single = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#;
        assert_eq!(
            InlinePolicy::parse(Some(single))
                .unwrap()
                .foreign_statements(),
            1
        );
    }

    #[test]
    fn removal_times_round_up_to_the_second() {
        let removed = at(0) + time::Duration::milliseconds(250);
        assert_eq!(ceil_to_second(removed), at(1));
        assert_eq!(ceil_to_second(at(1)), at(1));
    }
}
