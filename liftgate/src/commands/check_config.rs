//! `liftgate check-config`: every error and warning with its location; exit 1 on errors.

use std::io::Write;

use liftgate_gateway::config::{ConfigSource, load};

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
