//! The channel contract suite (`liftgate_gateway::testing::channel_contract`) run for Slack
//! on its fake.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use liftgate_gateway::channel_contract_tests;
use liftgate_gateway::config::RequestSettings;
use liftgate_gateway::conversation::{Control, FormField, Reader};
use liftgate_gateway::domain::RequestId;
use liftgate_gateway::ports::Notifier;
use liftgate_gateway::testing::Harness;
use liftgate_gateway::testing::channel_contract::{
    ChannelUnderTest, ContractSetup, FormAnswers, ROUTED_SLACK_CHANNEL, Shown, Submitted,
};
use serde_json::Value;

use crate::support::driver::{input_block, is_block};
use crate::support::fake_slack::{APPROVALS, Injection, StoredMessage};
use crate::support::{Setup, TestApp, rendered, standard_group_statements};

struct SlackChannel(TestApp);

fn slack_id(who: &str) -> &'static str {
    match who {
        "requester" => "UREQ",
        "alice" => "UALICE",
        "bob" => "UBOB",
        "carol" => "UCAROL",
        other => panic!("no Slack user for {other}"),
    }
}

fn controls(message: &StoredMessage) -> Vec<Control> {
    crate::support::driver::buttons(message)
        .iter()
        .map(|button| match button["action_id"].as_str().unwrap() {
            "approve" => Control::Approve,
            "deny" => Control::Deny,
            "cancel" => Control::Cancel,
            "extend" => Control::Extend,
            "acknowledge" => Control::Acknowledge,
            "flag" => Control::Flag,
            "revoke" if button["text"]["text"] == "Call off" => Control::CallOff,
            "revoke" => Control::EndAccess,
            other => panic!("unknown button {other}"),
        })
        .collect()
}

fn action_id(control: Control) -> &'static str {
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

fn shown(message: &StoredMessage) -> Shown {
    Shown {
        text: format!("{} {}", message.text, rendered(&message.blocks)),
        controls: controls(message),
    }
}

fn is_about(message: &StoredMessage, request: &RequestId) -> bool {
    message.blocks.to_string().contains(request.as_str())
        || message
            .history
            .iter()
            .any(|(_, blocks)| blocks.to_string().contains(request.as_str()))
}

impl SlackChannel {
    fn approval(&self, request: &RequestId) -> Option<StoredMessage> {
        [APPROVALS, ROUTED_SLACK_CHANNEL]
            .into_iter()
            .flat_map(|channel| self.0.fake.messages_in(channel))
            .find(|message| is_about(message, request))
    }

    /// How much was said to `user` privately so far: (ephemeral, direct) message counts.
    fn private_counts(&self, user: &str) -> (usize, usize) {
        (
            self.0.fake.ephemerals_to(user).len(),
            self.0.dm_texts(user).len(),
        )
    }

    /// What was said to `user` privately since `before`, ephemeral or direct.
    fn said_since(&self, user: &str, before: (usize, usize)) -> Option<String> {
        let mut said: Vec<String> = self
            .0
            .fake
            .ephemerals_to(user)
            .into_iter()
            .skip(before.0)
            .map(|message| message.text)
            .collect();
        said.extend(self.0.dm_texts(user).into_iter().skip(before.1));
        (!said.is_empty()).then(|| said.join("\n"))
    }

    /// Whether the open form offers `answer` in its `block` select.
    fn offers(&self, view: &str, block: &str, answer: &str) -> bool {
        let view = self.0.fake.view(view);
        input_block(&view.view, block).is_some_and(|input| {
            input["element"]["type"] != "static_select"
                || input["element"]["options"]
                    .as_array()
                    .is_some_and(|options| options.iter().any(|option| option["value"] == answer))
        })
    }

    /// Opens the account form and answers the account (waiting for the form to follow).
    async fn form_with_account(&self, user: &str, account: Option<&str>) -> String {
        let view = self.0.open_account_form(user).await;
        if let Some(account) = account {
            self.0.driver.choose(user, &view, "account", account).await;
            self.0.adapter.wait_idle().await;
        }
        view
    }
}

#[async_trait(?Send)]
impl ChannelUnderTest for SlackChannel {
    async fn start(setup: ContractSetup) -> SlackChannel {
        let app = TestApp::start(Setup {
            statements: setup.statements,
            group_statements: standard_group_statements(),
            requests: RequestSettings::default(),
            ..Setup::default()
        })
        .await;
        app.fake
            .state()
            .channels
            .insert(ROUTED_SLACK_CHANNEL.to_owned());
        SlackChannel(app)
    }

    fn harness(&self) -> &Harness {
        &self.0.harness
    }

    fn notifier(&self) -> Arc<dyn Notifier> {
        Arc::clone(&self.0.notifier)
    }

    async fn settle(&self) {
        self.0.settle().await;
    }

    async fn permission_set_choices(&self, who: &str, account: Option<&str>) -> Vec<String> {
        let user = slack_id(who);
        let view = self.form_with_account(user, account).await;
        let view = self.0.fake.view(&view);
        let Some(block) = input_block(&view.view, "permission_set") else {
            return Vec::new();
        };
        block["element"]["options"]
            .as_array()
            .map(|options| {
                options
                    .iter()
                    .map(|option| option["value"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn submit_account_form(&self, who: &str, answers: &FormAnswers) -> Submitted {
        let user = slack_id(who);
        let view = self
            .form_with_account(user, answers.account.as_deref())
            .await;
        let driver = &self.0.driver;
        if let Some(set) = &answers.permission_set
            && !self.offers(&view, "permission_set", set)
        {
            // The form does not offer what the rules do not allow.
            return Submitted::Refused(BTreeMap::from([(
                FormField::PermissionSet,
                format!("{set} is not offered"),
            )]));
        }
        if let Some(set) = &answers.permission_set {
            driver.choose(user, &view, "permission_set", set).await;
            self.0.adapter.wait_idle().await;
        }
        if let Some(duration) = &answers.duration {
            driver.choose(user, &view, "duration", duration).await;
        }
        driver.choose(user, &view, "reason", &answers.reason).await;
        if let Some(start) = answers.start {
            driver
                .choose(user, &view, "start_at", &start.unix_timestamp().to_string())
                .await;
        }
        let reply = driver.submit(user, &view).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        if reply.body.is_empty() {
            return Submitted::Accepted;
        }
        let body: Value = reply.json();
        assert_eq!(body["response_action"], "errors", "{body}");
        let mut refusals = BTreeMap::new();
        for (block, message) in body["errors"].as_object().unwrap() {
            let field = FormField::ALL
                .into_iter()
                .find(|field| {
                    let name = match field {
                        FormField::Start => "start_at",
                        other => other.as_str(),
                    };
                    is_block(block, name)
                })
                .unwrap_or_else(|| panic!("an error under an unknown block {block}"));
            refusals.insert(field, message.as_str().unwrap().to_owned());
        }
        Submitted::Refused(refusals)
    }

    async fn click(
        &self,
        who: &str,
        request: &RequestId,
        reader: Reader,
        control: Control,
    ) -> Option<String> {
        let user = slack_id(who);
        let message = match reader {
            Reader::Approvers => self.approval(request).expect("no approval message"),
            Reader::Requester => self
                .0
                .fake
                .dms_to("UREQ")
                .into_iter()
                .rev()
                .find(|message| is_about(message, request) && !controls(message).is_empty())
                .expect("no requester message with buttons"),
        };
        let before = self.private_counts(user);
        self.0
            .driver
            .click(user, &message, action_id(control))
            .await;
        self.0.adapter.wait_idle().await;
        self.said_since(user, before)
    }

    async fn open_extension(&self, who: &str, request: &RequestId) -> Result<(), String> {
        let user = slack_id(who);
        let before_views = self.0.fake.open_view(user).map(|view| view.id);
        let told = self
            .click(who, request, Reader::Requester, Control::Extend)
            .await;
        let opened = self.0.fake.open_view(user).map(|view| view.id);
        match (opened, told) {
            (Some(id), _) if Some(&id) != before_views.as_ref() => Ok(()),
            (_, Some(told)) => Err(told),
            _ => Err("nothing happened".to_owned()),
        }
    }

    async fn approval_message(&self, request: &RequestId) -> Option<Shown> {
        self.approval(request).as_ref().map(shown)
    }

    async fn requester_messages(&self, request: &RequestId) -> Vec<Shown> {
        self.0
            .fake
            .dms_to("UREQ")
            .iter()
            .filter(|message| is_about(message, request))
            .map(shown)
            .collect()
    }

    async fn thread_replies(&self, request: &RequestId) -> Vec<String> {
        let Some(message) = self.approval(request) else {
            return Vec::new();
        };
        self.0
            .fake
            .thread_replies(&message.channel, &message.ts)
            .into_iter()
            .map(|reply| reply.text)
            .collect()
    }

    async fn delete_approval_message(&self, request: &RequestId) {
        let ts = self.approval(request).expect("no approval message").ts;
        self.0
            .fake
            .state()
            .messages
            .retain(|message| message.ts != ts);
    }

    async fn approvals_channel_texts(&self) -> Vec<String> {
        self.0
            .fake
            .messages_in(APPROVALS)
            .iter()
            .map(|message| shown(message).text)
            .collect()
    }

    async fn routed_channel_texts(&self) -> Vec<String> {
        self.0
            .fake
            .messages_in(ROUTED_SLACK_CHANNEL)
            .iter()
            .map(|message| shown(message).text)
            .collect()
    }

    async fn approver_direct_messages(&self, who: &str) -> Vec<Shown> {
        self.0
            .fake
            .dms_to(slack_id(who))
            .iter()
            .map(shown)
            .filter(|shown| shown.text.contains("AWS access request from"))
            .collect()
    }

    async fn fail_next_posts(&self, status: u16, count: usize) {
        self.0.fake.state().injections.remove("chat.postMessage");
        let injection = |_| {
            if status == 429 {
                Injection::RateLimited(0)
            } else {
                Injection::Status(status)
            }
        };
        self.0
            .fake
            .inject("chat.postMessage", (0..count).map(injection));
    }
}

channel_contract_tests!(SlackChannel);
