//! What the statements behind a decision ask of its reason (`ReasonPattern`, `ReasonHint`) and
//! say about its access (`Warning`), docs/reference.md §3. Pure reads of the rules, like
//! `evaluate`.

use crate::evaluate::{Evaluation, Target};
use crate::rules::{Justification, ReasonRefusal, Routing, Rules};

impl Rules {
    /// The justification of each statement of an evaluation, with the statement's index.
    fn justifications<'r>(
        &'r self,
        target: &Target<'_>,
        evaluation: &'r Evaluation,
    ) -> impl Iterator<Item = (usize, &'r Justification)> + 'r {
        let account = matches!(target, Target::Account { .. });
        evaluation.statements.iter().filter_map(move |&index| {
            let justification = if account {
                &self.statements.get(index)?.justification
            } else {
                &self.group_statements.get(index)?.justification
            };
            Some((index, justification))
        })
    }

    /// Whether `reason` matches the `ReasonPattern` of every statement behind `evaluation`;
    /// the first it does not match otherwise.
    pub fn check_reason(
        &self,
        target: &Target<'_>,
        evaluation: &Evaluation,
        reason: &str,
    ) -> Result<(), ReasonRefusal> {
        for (statement, justification) in self.justifications(target, evaluation) {
            if let Some(pattern) = &justification.reason_pattern
                && !pattern.matches(reason)
            {
                return Err(ReasonRefusal {
                    statement,
                    pattern: pattern.as_str().to_owned(),
                    hint: justification.reason_hint.clone(),
                });
            }
        }
        Ok(())
    }

    /// The `Warning`s of the statements behind `evaluation`, de-duplicated, in statement order.
    pub fn warnings(&self, target: &Target<'_>, evaluation: &Evaluation) -> Vec<String> {
        let mut warnings: Vec<String> = Vec::new();
        for (_, justification) in self.justifications(target, evaluation) {
            if let Some(warning) = &justification.warning
                && !warnings.contains(warning)
            {
                warnings.push(warning.clone());
            }
        }
        warnings
    }

    /// Where the approvals of `evaluation` go: the first statement (in file order) naming a
    /// channel for a platform wins for it; `direct` when any asks for it.
    pub fn routing(&self, target: &Target<'_>, evaluation: &Evaluation) -> Routing {
        let mut routing = Routing::default();
        for (_, justification) in self.justifications(target, evaluation) {
            let wanted = &justification.routing;
            if routing.slack_channel.is_none() {
                routing.slack_channel.clone_from(&wanted.slack_channel);
            }
            if routing.teams_conversation.is_none() {
                routing
                    .teams_conversation
                    .clone_from(&wanted.teams_conversation);
            }
            routing.direct |= wanted.direct;
        }
        routing
    }

    /// Where findings about `target` go when no request is behind them (drift): the first
    /// statement in file order covering it that names a channel, per platform, whoever it
    /// admits (docs/reference.md §9).
    pub fn target_routing(&self, target: &Target<'_>) -> Routing {
        let covering: Vec<&Routing> = match *target {
            Target::Account {
                account_id,
                permission_set,
            } => self
                .statements
                .iter()
                .filter(|statement| {
                    statement.resource.contains(account_id)
                        && statement.permission_set.contains(permission_set)
                })
                .map(|statement| &statement.justification.routing)
                .collect(),
            Target::Group { group_id } => self
                .group_statements
                .iter()
                .filter(|statement| statement.resource.contains(group_id))
                .map(|statement| &statement.justification.routing)
                .collect(),
        };
        let mut routing = Routing::default();
        for wanted in covering {
            if routing.slack_channel.is_none() {
                routing.slack_channel.clone_from(&wanted.slack_channel);
            }
            if routing.teams_conversation.is_none() {
                routing
                    .teams_conversation
                    .clone_from(&wanted.teams_conversation);
            }
        }
        routing
    }

    /// The `Warning`s of the statements naming `account_id` (or every account), for a form
    /// once the account is picked, before a permission set is.
    pub fn account_warnings(&self, account_id: &str) -> Vec<String> {
        let mut warnings: Vec<String> = Vec::new();
        for statement in &self.statements {
            if let Some(warning) = &statement.justification.warning
                && statement.resource.contains(account_id)
                && !warnings.contains(warning)
            {
                warnings.push(warning.clone());
            }
        }
        warnings
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::{Email, Requester, Target, evaluate, parse_rules};

    const PROD: &str = "111111111111";

    fn rules() -> crate::Rules {
        parse_rules(
            Some(&json!([
                { "ResourceType": "Account", "Resource": [PROD], "PermissionSet": ["Admin"],
                  "Approvers": ["alice@corp.com"], "ReasonPattern": "^(OPS|INC)-[0-9]+",
                  "ReasonHint": "Start with a ticket id such as OPS-123.",
                  "Warning": "Production: every change is reviewed." },
                { "ResourceType": "Account", "Resource": "*", "PermissionSet": ["ReadOnly"],
                  "Approvers": ["alice@corp.com"] },
            ])),
            None,
        )
        .unwrap()
    }

    #[test]
    fn a_reason_must_match_the_pattern_of_every_statement_behind_the_decision() {
        let rules = rules();
        let requester = Email::parse("bob@corp.com").unwrap();
        let requester = Requester {
            email: &requester,
            groups: &std::collections::BTreeSet::new(),
        };
        let admin = Target::Account {
            account_id: PROD,
            permission_set: "Admin",
        };
        let evaluation = evaluate(&rules, &admin, &requester, crate::Duration::from_hours(12));
        assert!(
            rules
                .check_reason(&admin, &evaluation, "OPS-42 deploy")
                .is_ok()
        );
        let refusal = rules
            .check_reason(&admin, &evaluation, "deploy")
            .unwrap_err();
        assert_eq!(refusal.statement, 0);
        assert_eq!(refusal.message(), "Start with a ticket id such as OPS-123.");
        assert_eq!(
            rules.warnings(&admin, &evaluation),
            ["Production: every change is reviewed."]
        );
        let read_only = Target::Account {
            account_id: PROD,
            permission_set: "ReadOnly",
        };
        let evaluation = evaluate(
            &rules,
            &read_only,
            &requester,
            crate::Duration::from_hours(12),
        );
        assert!(
            rules
                .check_reason(&read_only, &evaluation, "deploy")
                .is_ok()
        );
        assert!(rules.warnings(&read_only, &evaluation).is_empty());
        assert_eq!(
            rules.account_warnings(PROD),
            ["Production: every change is reviewed."]
        );
        assert!(rules.account_warnings("222222222222").is_empty());
    }

    #[test]
    fn approvals_are_routed_by_the_first_statement_naming_a_channel() {
        let rules = parse_rules(
            Some(&json!([
                { "ResourceType": "Account", "Resource": [PROD], "PermissionSet": ["Admin"],
                  "Approvers": ["alice@corp.com"], "ApprovalChannel": "C0PROD" },
                { "ResourceType": "Account", "Resource": "*", "PermissionSet": "*",
                  "Approvers": ["bob@corp.com"], "NotifyApprovers": "direct",
                  "ApprovalChannel": { "slack": "C0ALL", "teams": "19:all@thread.tacv2" } },
            ])),
            None,
        )
        .unwrap();
        let requester = Email::parse("carol@corp.com").unwrap();
        let groups = std::collections::BTreeSet::new();
        let requester = Requester {
            email: &requester,
            groups: &groups,
        };
        let admin = Target::Account {
            account_id: PROD,
            permission_set: "Admin",
        };
        let evaluation = evaluate(&rules, &admin, &requester, crate::Duration::from_hours(12));
        let routing = rules.routing(&admin, &evaluation);
        assert_eq!(routing.slack_channel.as_deref(), Some("C0PROD"));
        assert_eq!(
            routing.teams_conversation.as_deref(),
            Some("19:all@thread.tacv2")
        );
        assert!(routing.direct);
        let problems = parse_rules(
            Some(
                &json!([{ "ResourceType": "Account", "Resource": [PROD], "PermissionSet": ["Admin"],
                "Approvers": ["alice@corp.com"], "ApprovalChannel": { "discord": "x" },
                "NotifyApprovers": "everyone" }]),
            ),
            None,
        )
        .unwrap_err();
        let rendered: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            rendered[0].contains("ApprovalChannel.discord"),
            "{rendered:?}"
        );
        assert!(rendered[1].contains("NotifyApprovers"), "{rendered:?}");
    }

    #[test]
    fn drift_goes_where_the_first_covering_statement_routes_whoever_it_admits() {
        let rules = crate::parse_rules(
            Some(&json!([
                {"ResourceType": "Account", "Resource": "*", "PermissionSet": "*",
                 "Approvers": "boss@corp.com"},
                {"ResourceType": "Account", "Resource": "111111111111", "PermissionSet": "Admin",
                 "AllowedUsers": "a@corp.com", "Approvers": "boss@corp.com",
                 "ApprovalChannel": {"slack": "CPROD", "teams": "19:prod@thread.tacv2"}},
                {"ResourceType": "Account", "Resource": "*", "PermissionSet": "Admin",
                 "Approvers": "boss@corp.com", "ApprovalChannel": "CADMINS"},
            ])),
            None,
        )
        .unwrap();
        let prod = rules.target_routing(&Target::Account {
            account_id: "111111111111",
            permission_set: "Admin",
        });
        assert_eq!(prod.slack_channel.as_deref(), Some("CPROD"));
        assert_eq!(
            prod.teams_conversation.as_deref(),
            Some("19:prod@thread.tacv2")
        );
        let dev = rules.target_routing(&Target::Account {
            account_id: "222222222222",
            permission_set: "Admin",
        });
        assert_eq!(dev.slack_channel.as_deref(), Some("CADMINS"));
        assert_eq!(dev.teams_conversation, None);
        assert!(
            rules
                .target_routing(&Target::Account {
                    account_id: "222222222222",
                    permission_set: "ReadOnly",
                })
                .is_default()
        );
    }

    #[test]
    fn bad_patterns_and_hints_are_errors_at_their_location() {
        let problems = parse_rules(
            Some(&json!([
                { "ResourceType": "Account", "Resource": [PROD], "PermissionSet": ["Admin"],
                  "Approvers": ["alice@corp.com"], "ReasonPattern": "(OPS-" },
                { "ResourceType": "Account", "Resource": [PROD], "PermissionSet": ["Admin"],
                  "Approvers": ["alice@corp.com"], "ReasonHint": "a ticket" },
                { "ResourceType": "Account", "Resource": [PROD], "PermissionSet": ["Admin"],
                  "Approvers": ["alice@corp.com"], "Warning": " " },
            ])),
            None,
        )
        .unwrap_err();
        let rendered: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            rendered[0].contains("[0].ReasonPattern")
                && rendered[0].contains("not a valid regular expression"),
            "{rendered:?}"
        );
        assert!(rendered[1].contains("[1].ReasonHint"), "{rendered:?}");
        assert!(
            rendered[2].contains("[2].Warning") && rendered[2].contains("empty"),
            "{rendered:?}"
        );
    }
}
