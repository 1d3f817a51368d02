//! The checks the fuzz targets in `fuzz/` run, one function per target, and the replay of
//! their corpus (`fuzz/corpus/<target>/`) that each crate's integration tests do in the normal
//! `cargo test`. Each check calls the parser exactly as the product does and panics when a
//! property beyond "no panic" fails, so a fuzz run and a corpus replay test the same thing.
//!
//! Not part of the API: hidden from the docs, used by `fuzz/` and tests only.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use serde_json::Value;

use crate::{Duration, Email, Requester, Rules, Scope, Target, evaluate, lint, parse_rules};

/// Ten years, the longest duration [`Duration::parse`] accepts.
const MAX_DURATION_SECS: u64 = 10 * 365 * 86_400;

/// Target `duration`: any text either fails to parse or parses to a value in range that prints
/// in its canonical form and reads back as the same value; and any in-range number of seconds
/// prints as text that parses back to it.
pub fn duration(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(duration) = Duration::parse(text) {
        assert!(
            (1..=MAX_DURATION_SECS).contains(&duration.as_secs()),
            "{text:?} parsed to {} seconds, outside 1s..=10y",
            duration.as_secs()
        );
        let printed = duration.to_string();
        assert_eq!(
            Duration::parse(&printed),
            Ok(duration),
            "{text:?} printed as {printed:?}"
        );
        let parsed_from_json: Result<Duration, _> = serde_json::from_value(Value::from(text));
        assert_eq!(
            parsed_from_json.ok(),
            Some(duration),
            "serde reads {text:?}"
        );
    }
    if let Some(bytes) = data
        .get(..8)
        .and_then(|head| <[u8; 8]>::try_from(head).ok())
    {
        let secs = u64::from_le_bytes(bytes) % (MAX_DURATION_SECS + 1);
        if secs > 0 {
            let duration = Duration::from_secs(secs);
            assert_eq!(Duration::parse(&duration.to_string()), Ok(duration));
        }
    }
}

/// An email as the product keeps it must read back as itself: requests, grants and approvals
/// are stored with their emails and parsed again when loaded.
pub fn assert_email_stable(email: &Email) {
    assert_eq!(
        Email::parse(email.as_str()).as_ref(),
        Ok(email),
        "{:?} does not read back as itself",
        email.as_str()
    );
}

/// Target `policy_statements`: a JSON object whose `statements` and `group_statements` are fed
/// to [`parse_rules`] as the config loader does. A refusal names at least one problem, each
/// under the list it is about; accepted rules keep their documented invariants, lint without
/// panicking, and evaluate to decisions whose approvers are sorted, distinct and never the
/// requester.
pub fn policy_statements(data: &[u8]) {
    let Ok(root) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let statements = root.get("statements");
    let group_statements = root.get("group_statements");
    match parse_rules(statements, group_statements) {
        Err(problems) => {
            assert!(!problems.is_empty(), "refused without a problem");
            for problem in &problems {
                assert!(
                    problem.path.starts_with("statements")
                        || problem.path.starts_with("group_statements"),
                    "problem outside the rule lists: {problem}"
                );
            }
        }
        Ok(rules) => check_rules(&rules),
    }
}

fn check_rules(rules: &Rules) {
    let _ = lint(rules);
    let no_groups = BTreeSet::new();
    let outsider = Email::parse("fuzz-outsider@example.com").ok();
    for statement in &rules.statements {
        assert!(statement.required_approvals >= 1);
        check_emails(&statement.approvers, &statement.allowed_users);
        let account = first_of(&statement.resource).unwrap_or("111111111111");
        let permission_set = first_of(&statement.permission_set).unwrap_or("Admin");
        let target = Target::Account {
            account_id: account,
            permission_set,
        };
        for email in statement.approvers.iter().chain(outsider.as_ref()) {
            check_evaluation(rules, &target, email, &no_groups);
        }
    }
    for statement in &rules.group_statements {
        assert!(statement.required_approvals >= 1);
        check_emails(&statement.approvers, &statement.allowed_users);
        let group_id = statement.resource.iter().next().map_or("g", String::as_str);
        let target = Target::Group { group_id };
        for email in statement.approvers.iter().chain(outsider.as_ref()) {
            check_evaluation(rules, &target, email, &no_groups);
        }
    }
}

fn first_of(scope: &Scope) -> Option<&str> {
    match scope {
        Scope::Any => None,
        Scope::Only(values) => values.iter().next().map(String::as_str),
    }
}

fn check_emails(approvers: &[Email], allowed_users: &[Email]) {
    let distinct: BTreeSet<&Email> = approvers.iter().collect();
    assert_eq!(distinct.len(), approvers.len(), "approvers repeat");
    approvers
        .iter()
        .chain(allowed_users)
        .for_each(assert_email_stable);
}

fn check_evaluation(rules: &Rules, target: &Target<'_>, email: &Email, groups: &BTreeSet<String>) {
    let requester = Requester { email, groups };
    let evaluation = evaluate(rules, target, &requester, Duration::from_hours(12));
    assert!(evaluation.required_approvals >= 1);
    assert!(
        evaluation
            .approvers
            .windows(2)
            .all(|pair| pair[0] < pair[1]),
        "approvers not sorted and distinct: {:?}",
        evaluation.approvers
    );
    assert!(
        !evaluation.approvers.contains(email),
        "the requester is among their own approvers"
    );
    if let Some(cap) = evaluation.max_duration {
        assert!(
            cap <= Duration::from_hours(12),
            "a cap above the global one"
        );
    }
}

/// Feeds every file of `fuzz/corpus/<target>/` under `corpus_root` to `check`, and fails
/// listing every file whose check panicked. Returns how many files were replayed; a missing
/// or empty directory fails too, so a corpus cannot silently disappear.
pub fn replay_corpus(corpus_root: &Path, target: &str, check: fn(&[u8])) -> usize {
    let dir = corpus_root.join(target);
    let mut files: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.is_file())
            .collect(),
        Err(error) => panic!("cannot read the corpus {}: {error}", dir.display()),
    };
    files.sort();
    assert!(!files.is_empty(), "the corpus {} is empty", dir.display());
    let mut failures = Vec::new();
    for file in &files {
        let data = match std::fs::read(file) {
            Ok(data) => data,
            Err(error) => panic!("cannot read {}: {error}", file.display()),
        };
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failures.push(file.display().to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus files of {target} failed: {failures:#?}",
        failures.len(),
        files.len()
    );
    files.len()
}
