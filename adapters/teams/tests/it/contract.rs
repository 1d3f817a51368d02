//! The channel contract suite (`liftgate_gateway::testing::channel_contract`) run for Teams
//! on its fake Connector.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use liftgate_gateway::channel_contract_tests;
use liftgate_gateway::conversation::{Control, FormField, Reader};
use liftgate_gateway::domain::RequestId;
use liftgate_gateway::ports::Notifier;
use liftgate_gateway::testing::channel_contract::{
    ChannelUnderTest, ContractSetup, FormAnswers, ROUTED_TEAMS_CONVERSATION, Shown, Submitted,
};
use liftgate_gateway::testing::{Harness, HarnessOptions};
use serde_json::{Value, json};
use time::macros::format_description;

use crate::support::bed::APPROVALS;
use crate::support::fake_microsoft::StoredActivity;
use crate::support::{
    Bed, DocumentRead, Injected, button_titles, card_text, default_options, find,
};

struct TeamsChannel(Bed);

const CARD: &str = "application/vnd.microsoft.card.adaptive";

fn controls(card: &Value) -> Vec<Control> {
    button_titles(card)
        .iter()
        .map(|title| match title.as_str() {
            "Approve" => Control::Approve,
            "Deny" => Control::Deny,
            "Cancel request" => Control::Cancel,
            "I'm done" => Control::EndAccess,
            "Call off" => Control::CallOff,
            "Extend" => Control::Extend,
            "Acknowledge" => Control::Acknowledge,
            "Flag" => Control::Flag,
            other => panic!("unknown button {other}"),
        })
        .collect()
}

fn verb(control: Control) -> &'static str {
    match control {
        Control::Approve => "approve",
        Control::Deny => "deny",
        Control::Cancel => "cancel",
        Control::EndAccess | Control::CallOff => "revoke",
        Control::Extend => "extend",
        Control::Acknowledge => "acknowledge",
        Control::Flag => "flag",
    }
}

fn shown(activity: &StoredActivity) -> Shown {
    match activity.card() {
        Some(card) => Shown {
            text: format!(
                "{} {}",
                activity.latest()["summary"].as_str().unwrap_or_default(),
                card_text(card)
            ),
            controls: controls(card),
        },
        None => Shown {
            text: activity.latest()["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            controls: Vec::new(),
        },
    }
}

/// The refusal note on a card answered to a click, if any.
fn refusal_on(card: &Value) -> Option<String> {
    find(card, &|value| {
        value["type"] == "TextBlock" && value["color"] == "Attention"
    })
    .and_then(|block| block["text"].as_str())
    .map(str::to_owned)
}

impl TeamsChannel {
    /// The stored reference of a request's approval card, if one was posted.
    async fn reference(&self, request: &RequestId) -> Option<Value> {
        self.0
            .h
            .store
            .get_document_value("teams.approval_cards", request.as_str())
            .await
    }

    /// The threads' root messages in a channel: one per post to it.
    fn roots(&self, channel: &str) -> Vec<StoredActivity> {
        self.0
            .fake
            .activities()
            .into_iter()
            .filter(|activity| {
                activity
                    .conversation_id
                    .strip_prefix(&format!("{channel};messageid="))
                    .is_some_and(|root| root == activity.id)
            })
            .collect()
    }
}

#[async_trait(?Send)]
impl ChannelUnderTest for TeamsChannel {
    async fn start(setup: ContractSetup) -> TeamsChannel {
        let bed = Bed::with(
            HarnessOptions {
                statements: setup.statements,
                ..default_options()
            },
            |_, _| {},
        )
        .await;
        for name in ["requester", "alice", "bob", "carol"] {
            bed.send(&bed.install(name)).await;
        }
        TeamsChannel(bed)
    }

    fn harness(&self) -> &Harness {
        &self.0.h
    }

    fn notifier(&self) -> Arc<dyn Notifier> {
        Arc::clone(&self.0.notifier)
    }

    async fn settle(&self) {
        self.0.deliver().await;
    }

    async fn permission_set_choices(&self, who: &str, account: Option<&str>) -> Vec<String> {
        let Some(account) = account else {
            // The form as first shown, before an account is picked.
            self.0.send(&self.0.message(who, "access")).await;
            let card = self
                .0
                .personal_cards(who)
                .last()
                .and_then(|activity| activity.card().cloned())
                .expect("no form was shown");
            return crate::support::choice_values(crate::support::input(&card, "permission_set"));
        };
        // The dependent search Teams makes with the card's inputs.
        let mut search = self.0.search(who, "permission_sets", "");
        search["value"]["data"] = json!({ "account": account });
        let (_, body) = self.0.send(&search).await;
        body["value"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|result| result["value"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn submit_account_form(&self, who: &str, answers: &FormAnswers) -> Submitted {
        let mut data = json!({
            "form_id": uuid::Uuid::new_v4().to_string(),
            "account": answers.account.clone().unwrap_or_default(),
            "permission_set": answers.permission_set.clone().unwrap_or_default(),
            "duration": answers.duration.clone().unwrap_or_default(),
            "reason": answers.reason,
        });
        if let Some(start) = answers.start {
            data["start_date"] = json!(
                start
                    .format(format_description!("[year]-[month]-[day]"))
                    .unwrap()
            );
            data["start_time"] = json!(
                start
                    .format(format_description!("[hour]:[minute]"))
                    .unwrap()
            );
        }
        let (_, body) = self
            .0
            .send(&self.0.personal_action(who, "access_submit", data))
            .await;
        assert_eq!(body["type"], CARD, "{body}");
        let card = &body["value"];
        let mut refusals = BTreeMap::new();
        for field in FormField::ALL {
            let id = match field {
                FormField::Start => "start_date_error".to_owned(),
                other => format!("{}_error", other.as_str()),
            };
            if let Some(text) = find(card, &|value| value["id"] == id.as_str())
                .and_then(|block| block["text"].as_str())
            {
                refusals.insert(field, text.to_owned());
            }
        }
        if refusals.is_empty() {
            Submitted::Accepted
        } else {
            Submitted::Refused(refusals)
        }
    }

    async fn click(
        &self,
        who: &str,
        request: &RequestId,
        reader: Reader,
        control: Control,
    ) -> Option<String> {
        let activity = match reader {
            Reader::Approvers => self.0.approval_action(who, verb(control), request).await,
            Reader::Requester => self.0.personal_action(
                who,
                verb(control),
                json!({ "request_id": request.as_str() }),
            ),
        };
        let (_, body) = self.0.send(&activity).await;
        match body["type"].as_str() {
            Some(CARD) => refusal_on(&body["value"]),
            _ => body["value"].as_str().map(str::to_owned),
        }
    }

    async fn open_extension(&self, who: &str, request: &RequestId) -> Result<(), String> {
        let activity =
            self.0
                .personal_action(who, "extend", json!({ "request_id": request.as_str() }));
        let (_, body) = self.0.send(&activity).await;
        match body["type"].as_str() {
            Some(CARD) if body["value"].to_string().contains("extend_submit") => Ok(()),
            _ => Err(body["value"].as_str().unwrap_or_default().to_owned()),
        }
    }

    async fn approval_message(&self, request: &RequestId) -> Option<Shown> {
        self.reference(request).await?;
        Some(shown(&self.0.approval_card(request).await))
    }

    async fn requester_messages(&self, _request: &RequestId) -> Vec<Shown> {
        self.0
            .personal_cards("requester")
            .iter()
            .filter(|activity| activity.card().is_some())
            .map(shown)
            .collect()
    }

    async fn thread_replies(&self, request: &RequestId) -> Vec<String> {
        let Some(reference) = self.reference(request).await else {
            return Vec::new();
        };
        let thread = reference["conversation_id"].as_str().unwrap();
        let root = reference["activity_id"].as_str().unwrap();
        self.0
            .fake
            .posted_in(thread)
            .iter()
            .filter(|activity| activity.id != root)
            .map(|activity| shown(activity).text)
            .collect()
    }

    async fn delete_approval_message(&self, request: &RequestId) {
        let reference = self.reference(request).await.expect("no approval card");
        let id = reference["activity_id"].as_str().unwrap().to_owned();
        self.0
            .fake
            .state
            .lock()
            .unwrap()
            .activities
            .retain(|activity| activity.id != id);
    }

    async fn approvals_channel_texts(&self) -> Vec<String> {
        self.roots(APPROVALS)
            .iter()
            .map(|root| shown(root).text)
            .collect()
    }

    async fn routed_channel_texts(&self) -> Vec<String> {
        self.roots(ROUTED_TEAMS_CONVERSATION)
            .iter()
            .map(|root| shown(root).text)
            .collect()
    }

    async fn approver_direct_messages(&self, who: &str) -> Vec<Shown> {
        self.0
            .personal_cards(who)
            .iter()
            .map(shown)
            .filter(|shown| shown.text.contains("AWS access request"))
            .collect()
    }

    async fn fail_next_posts(&self, status: u16, count: usize) {
        let mut state = self.0.fake.state.lock().unwrap();
        state.failures.clear();
        for _ in 0..count {
            state.failures.push_back(Injected {
                method: Some("POST"),
                path_contains: None,
                status,
                retry_after: (status == 429).then_some(0),
            });
        }
    }
}

channel_contract_tests!(TeamsChannel, #[actix_web::test]);
