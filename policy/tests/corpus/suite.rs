//! The case-file schema and how one suite is checked.
//!
//! ```yaml
//! description: what these rules exercise
//! max_duration: 12h                 # requests.max_duration; default 12h
//! statements: [...]                 # raw, exactly as in a config; absent = key absent
//! group_statements: [...]
//! expect_problems: ["statements[0].Approvers[0]: \"bob@\" is not an email"]  # invalid rules
//! expect_lints: ["statements[0].Resource: drift reconciliation"]             # valid rules
//! cases:
//!   - description: what this request shows
//!     requester: bob@corp.com
//!     member_of: [group ids]        # for AllowedGroups
//!     account: "111111111111"       # with permission_set; or group: <id>
//!     permission_set: Admin
//!     approver: a@corp.com          # checks approver_permitted (into the explain object)
//!     permitted: {c@corp.com: false}  # more approver_permitted checks
//!     may_deny: {d@corp.com: true}
//!     break_glass: true             # decided as a break-glass request (`--break-glass`)
//!     expect: {decision: requires_approval, approvers: [a@corp.com], required_approvals: 1,
//!              statements: [0], max_duration: 12h, approver_permitted: true}
//!     # a break_glass decision has reviewers: [..] instead of approvers
//! forms:
//!   - description: what the request form offers
//!     requester: bob@corp.com
//!     accounts: "*"                 # or a list
//!     permission_sets: {"111111111111": [Admin]}
//!     groups: [ids]
//! ```
//!
//! `expect` is compared with the whole `explain` object: `granted` is derived from the decision,
//! `approvers` and `statements` default to empty, and the optional keys must be given exactly
//! when the output has them. Problems and lints are matched in order as
//! `path: message substring`, and the counts must agree, so a new unexpected problem or warning
//! also fails.

use std::collections::{BTreeMap, BTreeSet};

use liftgate_policy::{
    Decision, Duration, Email, Problem, Requester, Rules, Scope, Target, accounts_for_requester,
    approver_permitted, break_glass_reviewer_permitted, evaluate, evaluate_break_glass,
    groups_for_requester, lint, may_deny, parse_rules, permission_sets_for_account,
};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use crate::invariants;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Suite {
    description: String,
    #[serde(default = "default_max_duration")]
    max_duration: String,
    #[serde(default, deserialize_with = "present")]
    statements: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    group_statements: Option<Value>,
    expect_problems: Option<Vec<String>>,
    expect_lints: Option<Vec<String>>,
    #[serde(default)]
    cases: Vec<Case>,
    #[serde(default)]
    forms: Vec<Form>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    requester: String,
    #[serde(default)]
    member_of: BTreeSet<String>,
    account: Option<String>,
    permission_set: Option<String>,
    group: Option<String>,
    approver: Option<String>,
    #[serde(default)]
    permitted: BTreeMap<String, bool>,
    #[serde(default)]
    may_deny: BTreeMap<String, bool>,
    #[serde(default)]
    break_glass: bool,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    decision: Decision,
    #[serde(default)]
    approvers: Vec<String>,
    reviewers: Option<Vec<String>>,
    required_approvals: Option<u32>,
    #[serde(default)]
    statements: Vec<usize>,
    max_duration: Option<String>,
    approver_permitted: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Form {
    description: String,
    requester: String,
    #[serde(default)]
    member_of: BTreeSet<String>,
    accounts: Option<ScopeSpec>,
    #[serde(default)]
    permission_sets: BTreeMap<String, ScopeSpec>,
    groups: Option<BTreeSet<String>>,
}

/// `"*"` or a list of names.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ScopeSpec {
    All(String),
    Only(BTreeSet<String>),
}

impl ScopeSpec {
    fn to_scope(&self) -> Result<Scope, String> {
        match self {
            ScopeSpec::All(star) if star == "*" => Ok(Scope::Any),
            ScopeSpec::All(other) => Err(format!("scope must be \"*\" or a list, not {other:?}")),
            ScopeSpec::Only(names) => Ok(Scope::Only(names.clone())),
        }
    }
}

fn default_max_duration() -> String {
    "12h".to_owned()
}

/// Keeps an explicit `null` as `Some(Value::Null)`, so suites can tell "key absent" from
/// "`statements:` with nothing after it".
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// How much a file checked, for the summary line.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Count {
    pub(crate) suites: usize,
    pub(crate) requests: usize,
    pub(crate) problems: usize,
    pub(crate) lints: usize,
    pub(crate) forms: usize,
}

impl Count {
    pub(crate) fn add(&mut self, other: Count) {
        self.suites += other.suites;
        self.requests += other.requests;
        self.problems += other.problems;
        self.lints += other.lints;
        self.forms += other.forms;
    }

    pub(crate) fn total(&self) -> usize {
        self.requests + self.problems + self.lints + self.forms
    }
}

/// Runs every suite of one file; the failures name the suite and case.
pub(crate) fn run_file(text: &str) -> Result<(Count, Vec<String>), String> {
    let mut count = Count::default();
    let mut failures = Vec::new();
    for (number, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let suite = Suite::deserialize(document)
            .map_err(|error| format!("suite #{}: {error}", number + 1))?;
        count.suites += 1;
        let label = format!("suite #{} \"{}\"", number + 1, suite.description);
        for failure in run_suite(&suite, &mut count) {
            failures.push(format!("{label}: {failure}"));
        }
    }
    if count.suites == 0 {
        return Err("no suites".to_owned());
    }
    Ok((count, failures))
}

fn run_suite(suite: &Suite, count: &mut Count) -> Vec<String> {
    let parsed = parse_rules(suite.statements.as_ref(), suite.group_statements.as_ref());
    if let Some(expected) = &suite.expect_problems {
        count.problems += 1;
        if !suite.cases.is_empty() || !suite.forms.is_empty() || suite.expect_lints.is_some() {
            return vec!["a suite with expect_problems can have no cases, forms or lints".into()];
        }
        return match parsed {
            Ok(_) => vec![format!(
                "rules parsed, but these problems were expected: {expected:#?}"
            )],
            Err(problems) => compare_problems("problems", expected, &problems),
        };
    }
    let rules = match parsed {
        Ok(rules) => rules,
        Err(problems) => {
            let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
            return vec![format!("rules do not parse: {listed:#?}")];
        }
    };
    let mut failures = Vec::new();
    if let Some(expected) = &suite.expect_lints {
        count.lints += 1;
        failures.extend(compare_problems("lints", expected, &lint(&rules)));
    }
    let max_duration = match Duration::parse(&suite.max_duration) {
        Ok(duration) => duration,
        Err(error) => return vec![format!("max_duration: {error}")],
    };
    for case in &suite.cases {
        count.requests += 1;
        if let Err(failure) = run_case(&rules, case, max_duration) {
            failures.push(format!("case \"{}\": {failure}", case.description));
        }
    }
    for form in &suite.forms {
        count.forms += 1;
        if let Err(failure) = run_form(&rules, form) {
            failures.push(format!("form \"{}\": {failure}", form.description));
        }
    }
    failures
}

fn email(text: &str) -> Result<Email, String> {
    Email::parse(text).map_err(|error| error.to_string())
}

fn target(case: &Case) -> Result<Target<'_>, String> {
    match (&case.account, &case.permission_set, &case.group) {
        (Some(account_id), Some(permission_set), None) => Ok(Target::Account {
            account_id,
            permission_set,
        }),
        (None, None, Some(group_id)) => Ok(Target::Group { group_id }),
        _ => Err("give account and permission_set, or group".to_owned()),
    }
}

fn run_case(rules: &Rules, case: &Case, max_duration: Duration) -> Result<(), String> {
    let requester_email = email(&case.requester)?;
    let requester = Requester {
        email: &requester_email,
        groups: &case.member_of,
    };
    let target = target(case)?;
    if case.break_glass {
        return run_break_glass_case(rules, case, &target, &requester, max_duration);
    }
    let evaluation = evaluate(rules, &target, &requester, max_duration);
    let permitted = match &case.approver {
        Some(approver) => Some(approver_permitted(
            rules,
            &target,
            &requester,
            &email(approver)?,
        )),
        None => None,
    };
    let actual = evaluation.to_explain_json(permitted);
    let expected = expected_json(&case.expect);
    let mut failures = Vec::new();
    if actual != expected {
        failures.push(format!("expected {expected}\n      got      {actual}"));
    }
    for (approver, want) in &case.permitted {
        let got = approver_permitted(rules, &target, &requester, &email(approver)?);
        if got != *want {
            failures.push(format!(
                "approver_permitted({approver}) is {got}, expected {want}"
            ));
        }
    }
    for (actor, want) in &case.may_deny {
        let got = may_deny(rules, &target, &requester, &email(actor)?);
        if got != *want {
            failures.push(format!("may_deny({actor}) is {got}, expected {want}"));
        }
    }
    failures.extend(invariants::check(
        rules,
        &target,
        &requester,
        max_duration,
        &evaluation,
    ));
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n    "))
    }
}

/// A break-glass case: the explain object of `evaluate_break_glass`, `permitted` as who may
/// review, and the properties every break-glass answer has.
fn run_break_glass_case(
    rules: &Rules,
    case: &Case,
    target: &Target<'_>,
    requester: &Requester<'_>,
    max_duration: Duration,
) -> Result<(), String> {
    let evaluation = evaluate_break_glass(rules, target, requester, max_duration);
    let reviewer = |who: &str| -> Result<bool, String> {
        Ok(break_glass_reviewer_permitted(
            rules,
            target,
            requester,
            &email(who)?,
        ))
    };
    let permitted = case.approver.as_deref().map(reviewer).transpose()?;
    let actual = evaluation.to_explain_json(permitted);
    let expected = expected_json(&case.expect);
    let mut failures = Vec::new();
    if actual != expected {
        failures.push(format!("expected {expected}\n      got      {actual}"));
    }
    for (who, want) in &case.permitted {
        let got = reviewer(who)?;
        if got != *want {
            failures.push(format!("may review ({who}) is {got}, expected {want}"));
        }
    }
    let granted = evaluation.decision == Decision::BreakGlass;
    if granted == evaluation.approvers.is_empty() {
        failures.push("a break-glass grant has reviewers, and only a grant has".to_owned());
    }
    if reviewer(&case.requester)? {
        failures.push("the requester may never review their own use".to_owned());
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n    "))
    }
}

fn expected_json(expect: &Expect) -> Value {
    let mut object = serde_json::Map::new();
    object.insert("decision".into(), json!(expect.decision.as_str()));
    object.insert("granted".into(), json!(expect.decision.granted()));
    object.insert("approvers".into(), json!(expect.approvers));
    if let Some(reviewers) = &expect.reviewers {
        object.insert("reviewers".into(), json!(reviewers));
    }
    if let Some(required) = expect.required_approvals {
        object.insert("required_approvals".into(), json!(required));
    }
    object.insert("statements".into(), json!(expect.statements));
    if let Some(max_duration) = &expect.max_duration {
        object.insert("max_duration".into(), json!(max_duration));
    }
    if let Some(permitted) = expect.approver_permitted {
        object.insert("approver_permitted".into(), json!(permitted));
    }
    Value::Object(object)
}

fn run_form(rules: &Rules, form: &Form) -> Result<(), String> {
    let requester_email = email(&form.requester)?;
    let requester = Requester {
        email: &requester_email,
        groups: &form.member_of,
    };
    let mut failures = Vec::new();
    if let Some(accounts) = &form.accounts {
        let (want, got) = (
            accounts.to_scope()?,
            accounts_for_requester(rules, &requester),
        );
        if got != want {
            failures.push(format!("accounts: expected {want:?}, got {got:?}"));
        }
    }
    for (account, sets) in &form.permission_sets {
        let (want, got) = (
            sets.to_scope()?,
            permission_sets_for_account(rules, account, &requester),
        );
        if got != want {
            failures.push(format!(
                "permission sets on {account}: expected {want:?}, got {got:?}"
            ));
        }
    }
    if let Some(groups) = &form.groups {
        let got = groups_for_requester(rules, &requester);
        if got != *groups {
            failures.push(format!("groups: expected {groups:?}, got {got:?}"));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n    "))
    }
}

/// Matches each expected `path: message substring` to the actual entry at the same position:
/// both problems and lints come in a documented, deterministic order, and a count mismatch
/// means something was missed or added.
fn compare_problems(what: &str, expected: &[String], actual: &[Problem]) -> Vec<String> {
    let mut failures = Vec::new();
    for (position, want) in expected.iter().enumerate() {
        let Some((path, fragment)) = want.split_once(": ") else {
            failures.push(format!(
                "expected {what} entry {want:?} is not \"path: message\""
            ));
            continue;
        };
        match actual.get(position) {
            Some(got) if got.path == path && got.message.contains(fragment) => {}
            Some(got) => failures.push(format!(
                "{what}[{position}]: expected {want:?}, got \"{got}\""
            )),
            None => failures.push(format!(
                "{what}[{position}]: expected {want:?}, got nothing"
            )),
        }
    }
    for extra in actual.iter().skip(expected.len()) {
        failures.push(format!("unexpected {what} entry \"{extra}\""));
    }
    failures
}
