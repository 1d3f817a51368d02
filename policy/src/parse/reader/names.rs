//! The keys that name things: resource types, accounts, permission sets, groups and people.

use serde_json::Value;

use super::Reader;
use crate::Email;
use crate::parse::{ids, scope};
use crate::rules::{ResourceType, Scope};

impl<'v> Reader<'v, '_> {
    pub(in crate::parse) fn resource_type(&mut self) -> Option<ResourceType> {
        let value = self.required("ResourceType", "write \"Account\" (or \"OU\")")?;
        let path = self.key_path("ResourceType");
        let text = self.text(&path, value)?;
        match text {
            "Account" => Some(ResourceType::Account),
            "OU" => Some(ResourceType::Ou),
            _ => {
                let message = if text.eq_ignore_ascii_case("account") {
                    format!("{text:?} is not a resource type: write \"Account\" (the case matters)")
                } else if text.eq_ignore_ascii_case("ou") {
                    format!("{text:?} is not a resource type: write \"OU\" (the case matters)")
                } else {
                    format!("{text:?} is not a resource type: write \"Account\" or \"OU\"")
                };
                self.report(path, message);
                None
            }
        }
    }

    /// `Resource` of an account statement. Integers are accepted when they spell twelve digits,
    /// because unquoted YAML turns `111111111111` into a number; an id with a leading zero loses
    /// it that way, fails the length check and gets a message about quoting.
    pub(in crate::parse) fn account_scope(
        &mut self,
        value: &'v Value,
        resource_type: ResourceType,
    ) -> Scope {
        let mut any = false;
        let mut accounts = Vec::new();
        let before = self.problems.len();
        for (path, item) in self.items("Resource", value) {
            let text = match item {
                Value::Number(number) => {
                    let digits = number.to_string();
                    if !ids::is_account_id(&digits) {
                        self.report(
                            path,
                            format!("{digits} is not an account id: write its 12 digits in quotes"),
                        );
                        continue;
                    }
                    digits
                }
                other => match self.text(&path, other) {
                    Some(text) => text.to_owned(),
                    None => continue,
                },
            };
            if text == "*" {
                any = true;
            } else if resource_type == ResourceType::Ou {
                self.report(
                    path,
                    format!(
                        "{text:?}: a statement with ResourceType \"OU\" accepts only Resource \"*\" \
                         (OU ids are not supported)"
                    ),
                );
            } else if ids::is_account_id(&text) {
                accounts.push(text);
            } else {
                self.report(path, not_an_account_id(&text));
            }
        }
        if resource_type == ResourceType::Ou && !any && self.problems.len() == before {
            self.report(
                self.key_path("Resource"),
                "a statement with ResourceType \"OU\" needs Resource \"*\"",
            );
        }
        scope(any, accounts)
    }

    pub(in crate::parse) fn permission_set_scope(&mut self, value: &'v Value) -> Scope {
        let mut any = false;
        let mut names = Vec::new();
        for (path, item) in self.items("PermissionSet", value) {
            let Some(text) = self.text(&path, item) else {
                continue;
            };
            if text == "*" {
                any = true;
            } else if ids::is_permission_set_name(text) {
                names.push(text.to_owned());
            } else {
                let wildcard = if text.contains('*') {
                    " (partial wildcards are not supported)"
                } else {
                    ""
                };
                self.report(
                    path,
                    format!(
                        "{text:?} is not a permission set name: use 1 to 32 letters, digits and \
                         + = , . @ _ -{wildcard}, or \"*\" alone"
                    ),
                );
            }
        }
        scope(any, names)
    }

    /// Identity Center group ids, de-duplicated in file order. No wildcard: upstream has none
    /// for groups, and "every group" would include administrators' groups.
    pub(in crate::parse) fn group_ids(&mut self, key: &str, value: &'v Value) -> Vec<String> {
        let mut groups: Vec<String> = Vec::new();
        for (path, item) in self.items(key, value) {
            let Some(text) = self.text(&path, item) else {
                continue;
            };
            if ids::is_group_id(text) {
                if !groups.iter().any(|known| known == text) {
                    groups.push(text.to_owned());
                }
            } else if text == "*" && key == "Resource" {
                self.report(
                    path,
                    "group statements cannot use \"*\": list the Identity Center group ids",
                );
            } else if text == "*" {
                self.report(
                    path,
                    format!("{key} cannot be \"*\": leave it out to let everyone request"),
                );
            } else {
                self.report(
                    path,
                    format!(
                        "{text:?} is not an Identity Center group id (a UUID such as \
                         99999999-8888-7777-6666-555555555555)"
                    ),
                );
            }
        }
        groups
    }

    /// Emails, lower-cased and de-duplicated in file order.
    pub(super) fn emails(&mut self, key: &str) -> Vec<Email> {
        let Some(value) = self.optional(key) else {
            return Vec::new();
        };
        let mut emails: Vec<Email> = Vec::new();
        for (path, item) in self.items(key, value) {
            let Some(text) = self.text(&path, item) else {
                continue;
            };
            match Email::parse(text) {
                Ok(email) if !emails.contains(&email) => emails.push(email),
                Ok(_) => {}
                Err(error) => self.report(path, error.to_string()),
            }
        }
        emails
    }
}

fn not_an_account_id(text: &str) -> String {
    if text.starts_with("ou-") || text.starts_with("r-") {
        format!(
            "{text:?} is not an account id: OU ids are not supported (ResourceType \"OU\" takes \
             only Resource \"*\")"
        )
    } else if text.contains('*') {
        format!(
            "{text:?} is not an account id: partial wildcards are not supported; write 12 \
             digits, or \"*\" alone"
        )
    } else {
        format!("{text:?} is not an account id: write its 12 digits, or \"*\"")
    }
}
