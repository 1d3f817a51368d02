//! The `policy explain --format json` object (docs/reference.md §4). Built by hand rather than derived so
//! that the optional keys appear exactly when the reference says and the shape cannot drift with the
//! struct.

use serde_json::{Map, Value, json};

use super::{Decision, Evaluation};

impl Evaluation {
    /// The docs/reference.md §4 object; `approver_permitted` is the answer for `--approver`, when given.
    pub fn to_explain_json(&self, approver_permitted: Option<bool>) -> Value {
        let mut object = Map::new();
        object.insert("decision".into(), json!(self.decision.as_str()));
        object.insert("granted".into(), json!(self.granted()));
        let names: Vec<&str> = self.approvers.iter().map(|email| email.as_str()).collect();
        // A break-glass grant waits for nobody: its approvers review it afterwards.
        if self.decision == Decision::BreakGlass {
            object.insert("approvers".into(), json!([]));
            object.insert("reviewers".into(), json!(names));
        } else {
            object.insert("approvers".into(), json!(names));
        }
        if self.decision == Decision::RequiresApproval {
            object.insert("required_approvals".into(), json!(self.required_approvals));
        }
        object.insert("statements".into(), json!(self.statements));
        if let Some(max_duration) = self.max_duration {
            object.insert("max_duration".into(), json!(max_duration.to_string()));
        }
        if let Some(permitted) = approver_permitted {
            object.insert("approver_permitted".into(), json!(permitted));
        }
        Value::Object(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Duration, Email};

    #[test]
    fn matches_the_spec_example() {
        let evaluation = Evaluation {
            decision: Decision::RequiresApproval,
            approvers: vec![
                Email::parse("alice@corp.com").unwrap(),
                Email::parse("bob@corp.com").unwrap(),
            ],
            required_approvals: 1,
            statements: vec![0, 3],
            max_duration: Some(Duration::from_hours(4)),
        };
        assert_eq!(
            evaluation.to_explain_json(None),
            json!({"decision": "requires_approval", "granted": false,
                   "approvers": ["alice@corp.com", "bob@corp.com"], "required_approvals": 1,
                   "statements": [0, 3], "max_duration": "4h"})
        );
    }

    #[test]
    fn a_break_glass_grant_names_its_reviewers_not_approvers() {
        let evaluation = Evaluation {
            decision: Decision::BreakGlass,
            approvers: vec![Email::parse("sec@corp.com").unwrap()],
            required_approvals: 1,
            statements: vec![2],
            max_duration: Some(Duration::from_hours(1)),
        };
        assert_eq!(
            evaluation.to_explain_json(Some(true)),
            json!({"decision": "break_glass", "granted": true, "approvers": [],
                   "reviewers": ["sec@corp.com"], "statements": [2], "max_duration": "1h",
                   "approver_permitted": true})
        );
    }

    #[test]
    fn leaves_out_what_does_not_apply() {
        let evaluation = Evaluation {
            decision: Decision::NoStatements,
            approvers: Vec::new(),
            required_approvals: 1,
            statements: Vec::new(),
            max_duration: None,
        };
        assert_eq!(
            evaluation.to_explain_json(Some(false)),
            json!({"decision": "no_statements", "granted": false, "approvers": [],
                   "statements": [], "approver_permitted": false})
        );
    }
}
