//! The check the `config_yaml` fuzz target in `fuzz/` runs, also replayed over its corpus by
//! this crate's integration tests (see `liftgate_policy::fuzzing`). Not part of the API.

use std::collections::HashMap;

use liftgate_policy::fuzzing::assert_email_stable;

/// Target `config_yaml`: any text is either a configuration or a list of at least one error,
/// each with a message; never a panic (docs/reference.md §2). A configuration that loads has
/// rules whose emails read back as themselves.
pub fn config_yaml(data: &[u8]) {
    let Ok(yaml) = std::str::from_utf8(data) else {
        return;
    };
    match crate::config::load_text(yaml, &HashMap::new()) {
        Ok(loaded) => {
            for statement in &loaded.rules.statements {
                statement
                    .approvers
                    .iter()
                    .chain(&statement.allowed_users)
                    .for_each(assert_email_stable);
            }
            for statement in &loaded.rules.group_statements {
                statement
                    .approvers
                    .iter()
                    .chain(&statement.allowed_users)
                    .for_each(assert_email_stable);
            }
        }
        Err(errors) => {
            assert!(!errors.errors.is_empty(), "refused without an error");
            for error in &errors.errors {
                assert!(!error.message.is_empty(), "an error without a message");
            }
        }
    }
}
