//! `liftgate check-config`: every error and warning with its location; exit 1 on errors.

use std::io::Write;

use liftgate_aws::{AwsClients, AwsIdentityCenter};
use liftgate_gateway::config::{ConfigSource, load};
use liftgate_gateway::workflow::session_duration_check;

/// Runs the check, writing the report to `out` (summary) and `err` (problems). Returns whether
/// the config is valid.
pub fn run(
    source: &ConfigSource,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<bool> {
    let path = source.path.display();
    match load(source) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                writeln!(err, "warning: {warning}")?;
            }
            let statements = loaded.rules.statements.len();
            let group_statements = loaded.rules.group_statements.len();
            writeln!(
                out,
                "{path} is valid: {statements} statement(s), {group_statements} group statement(s), {} warning(s)",
                loaded.warnings.len()
            )?;
            Ok(true)
        }
        Err(invalid) => {
            for error in &invalid.errors {
                writeln!(err, "error: {error}")?;
            }
            for warning in &invalid.warnings {
                writeln!(err, "warning: {warning}")?;
            }
            writeln!(
                err,
                "{path} is not valid: {} error(s)",
                invalid.errors.len()
            )?;
            Ok(false)
        }
    }
}

/// `check-config --aws`: the offline check, then the warnings only Identity Center can give
/// (docs/reference.md §1: `SessionDuration` longer than the grants of a statement that does
/// not end sessions at revoke). Invalid without an `aws` section, or when Identity Center
/// cannot be read: a check that was asked for and not made must not pass.
pub async fn run_with_aws(
    source: &ConfigSource,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<bool> {
    if !run(source, out, err)? {
        return Ok(false);
    }
    let Ok(loaded) = load(source) else {
        return Ok(false);
    };
    let Some(aws) = &loaded.settings.aws else {
        writeln!(err, "error: --aws needs the aws section")?;
        return Ok(false);
    };
    let clients = AwsClients::from_settings(aws).await;
    let identity = AwsIdentityCenter::new(&clients, aws);
    match session_duration_check(&identity, &loaded.rules, &loaded.settings.requests).await {
        Ok(warnings) => {
            for warning in &warnings {
                writeln!(err, "warning: {warning}")?;
            }
            writeln!(
                out,
                "Identity Center read: {} session-duration warning(s)",
                warnings.len()
            )?;
            Ok(true)
        }
        Err(error) => {
            writeln!(
                err,
                "error: could not read the permission sets from Identity Center: {error}"
            )?;
            Ok(false)
        }
    }
}
