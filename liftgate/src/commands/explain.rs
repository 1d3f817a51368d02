//! `liftgate policy explain`: evaluates the rules offline (docs/reference.md §4).

use std::collections::BTreeSet;
use std::io::Write;

use liftgate_gateway::config::{ConfigSource, load};
use liftgate_policy::{Email, Evaluation, Requester, Target};

use crate::cli::{ExplainArgs, Format};

/// Why `explain` could not answer; the caller prints it and exits 1.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("{0}")]
    Config(String),
    #[error("--{flag}: {message}")]
    Argument { flag: &'static str, message: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub fn run(
    args: &ExplainArgs,
    source: &ConfigSource,
    out: &mut dyn Write,
) -> Result<(), ExplainError> {
    let requester = Email::parse(&args.requester).map_err(|error| ExplainError::Argument {
        flag: "requester",
        message: error.to_string(),
    })?;
    let approver = args
        .approver
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(|error| ExplainError::Argument {
            flag: "approver",
            message: error.to_string(),
        })?;
    let loaded = load(source).map_err(|invalid| ExplainError::Config(invalid.to_string()))?;
    let groups: BTreeSet<String> = args.member_of.iter().cloned().collect();
    let requester_facts = Requester {
        email: &requester,
        groups: &groups,
    };
    let target = match (&args.account, &args.permission_set, &args.group) {
        (Some(account_id), Some(permission_set), None) => Target::Account {
            account_id,
            permission_set,
        },
        (None, None, Some(group_id)) => Target::Group { group_id },
        _ => {
            return Err(ExplainError::Argument {
                flag: "account",
                message: "give --account with --permission-set, or --group".to_owned(),
            });
        }
    };
    let rules = &loaded.rules;
    let max_duration = loaded.settings.requests.max_duration;
    let (evaluation, permitted) = if args.break_glass {
        let evaluation =
            liftgate_policy::evaluate_break_glass(rules, &target, &requester_facts, max_duration);
        let permitted = approver.as_ref().map(|approver| {
            liftgate_policy::break_glass_reviewer_permitted(
                rules,
                &target,
                &requester_facts,
                approver,
            )
        });
        (evaluation, permitted)
    } else {
        let evaluation = liftgate_policy::evaluate(rules, &target, &requester_facts, max_duration);
        let permitted = approver.as_ref().map(|approver| {
            liftgate_policy::approver_permitted(rules, &target, &requester_facts, approver)
        });
        (evaluation, permitted)
    };
    match args.format {
        Format::Json => {
            let json = evaluation.to_explain_json(permitted);
            writeln!(out, "{json}")?;
        }
        Format::Text => write_text(out, &evaluation, approver.as_ref().zip(permitted))?,
    }
    Ok(())
}

fn write_text(
    out: &mut dyn Write,
    evaluation: &Evaluation,
    approver: Option<(&Email, bool)>,
) -> std::io::Result<()> {
    let outcome = if evaluation.granted() {
        "granted without waiting"
    } else {
        "not granted"
    };
    writeln!(out, "decision:     {} ({outcome})", evaluation.decision)?;
    let break_glass = evaluation.decision == liftgate_policy::Decision::BreakGlass;
    if break_glass {
        let names: Vec<&str> = evaluation.approvers.iter().map(Email::as_str).collect();
        writeln!(out, "reviewers:    {} (afterwards)", names.join(", "))?;
    } else if !evaluation.approvers.is_empty() {
        let names: Vec<&str> = evaluation.approvers.iter().map(Email::as_str).collect();
        writeln!(out, "approvers:    {}", names.join(", "))?;
        writeln!(
            out,
            "approvals:    {} needed",
            evaluation.required_approvals
        )?;
    }
    let statements: Vec<String> = evaluation
        .statements
        .iter()
        .map(ToString::to_string)
        .collect();
    let statements = if statements.is_empty() {
        "none".to_owned()
    } else {
        statements.join(", ")
    };
    writeln!(out, "statements:   {statements}")?;
    if let Some(max) = evaluation.max_duration {
        writeln!(out, "max duration: {max}")?;
    }
    if let Some((approver, permitted)) = approver {
        if break_glass {
            let verdict = if permitted { "may" } else { "may not" };
            writeln!(out, "review by {approver}: {verdict} review this use")?;
        } else {
            let verdict = if permitted {
                "counts"
            } else {
                "does not count"
            };
            writeln!(out, "approval by {approver}: {verdict}")?;
        }
    }
    Ok(())
}
