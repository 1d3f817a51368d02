//! The notice driver: keeps every message a chat platform shows about a request current, the
//! same way on every platform. One delivery at a time per request (a lease), the platform's
//! reference to each posted message stored in the state store (so any replica updates it),
//! update in place, repost when the platform says the message is gone, reminders in the
//! approval message's thread counted so a redelivery posts none twice, the requester told
//! once per step, drift findings and activity summaries posted once per notice.
//!
//! A platform plugs in by implementing [`ChatSurface`]: rendering from the neutral
//! [`RequestView`] and four transport calls. Everything else is here.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::documents::Documents;
use super::policy;
use super::view::RequestView;
use crate::domain::{AccessRequest, ActivitySummary, Channel, Person};
use crate::ports::{DriftNotice, Notice, NotifyError, StoreError};
use crate::workflow::AccessService;

/// One delivery at a time posts a request's messages (renewed while it runs).
const MESSAGE_LEASE: std::time::Duration = std::time::Duration::from_secs(30);

/// What `update` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Updated {
    Done,
    /// The message was deleted (or its channel archived): the driver posts it again.
    Gone,
}

/// Where a platform's driver keeps its references, one state-store namespace each.
#[derive(Debug, Clone, Copy)]
pub struct Namespaces {
    /// The approval message of each request, by request id.
    pub approvals: &'static str,
    /// What the requester was last told, by request id.
    pub requester: &'static str,
    /// Drift notices already posted, by notice id.
    pub drift: &'static str,
    /// Activity summaries already posted, by summary id.
    pub activity: &'static str,
}

/// A chat platform as the driver sees it: a renderer and a transport.
#[async_trait]
pub trait ChatSurface: Send + Sync + Debug {
    /// Where a posted message is, as the platform's API names it.
    type Reference: Serialize + DeserializeOwned + Clone + Send + Sync + Debug;
    /// A rendered message, as the platform's API takes it.
    type Message: Serialize + DeserializeOwned + Clone + Send + Sync;
    /// What rendering needs to look up once per notice (e.g. Slack ids to mention).
    type Audience: Send + Sync;

    /// The platform, as requests record where they came from.
    fn platform(&self) -> Channel;
    fn namespaces(&self) -> Namespaces;

    async fn audience(&self, view: &RequestView<'_>) -> Result<Self::Audience, NotifyError>;
    fn approval_message(&self, view: &RequestView<'_>, audience: &Self::Audience) -> Self::Message;
    fn requester_message(&self, view: &RequestView<'_>, audience: &Self::Audience)
    -> Self::Message;
    /// An earlier requester message once the request moved on: the same words, no buttons.
    fn retired(&self, message: &Self::Message) -> Self::Message;
    fn reminder(&self, view: &RequestView<'_>, audience: &Self::Audience) -> Self::Message;
    async fn drift_message(&self, notice: &DriftNotice) -> Result<Self::Message, NotifyError>;
    fn activity_message(&self, summary: &ActivitySummary) -> Self::Message;

    /// The channel `routing` names on this platform (`ApprovalChannel`), if not the
    /// configured approvals channel.
    fn routed<'r>(&self, routing: &'r liftgate_policy::Routing) -> Option<&'r str>;

    /// Where `request`'s approval messages go on this platform.
    fn route<'r>(&self, request: &'r AccessRequest) -> Option<&'r str> {
        self.routed(&request.routing)
    }
    /// Posts to `to`, else to the configured approvals channel.
    async fn post(
        &self,
        to: Option<&str>,
        message: &Self::Message,
    ) -> Result<Self::Reference, NotifyError>;
    async fn update(
        &self,
        at: &Self::Reference,
        message: &Self::Message,
    ) -> Result<Updated, NotifyError>;
    /// Replies in the thread of the message at `at`.
    async fn reply_in_thread(
        &self,
        at: &Self::Reference,
        message: &Self::Message,
    ) -> Result<Self::Reference, NotifyError>;
    /// A direct message to `person`; `None` when the platform cannot reach them (not a
    /// member, never talked to the bot).
    async fn direct_message(
        &self,
        person: &Person,
        message: &Self::Message,
    ) -> Result<Option<Self::Reference>, NotifyError>;
}

/// The approval message of a request and the reminders posted in its thread.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ApprovalRecord<R> {
    #[serde(flatten)]
    at: R,
    #[serde(default)]
    reminders: u32,
}

/// What the requester was last told: the step, and the message still carrying buttons.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(deserialize = "R: DeserializeOwned, M: DeserializeOwned"))]
struct RequesterRecord<R, M> {
    step: String,
    #[serde(default = "Option::default")]
    at: Option<R>,
    #[serde(default = "Option::default")]
    message: Option<M>,
}

/// A drift notice or activity summary already posted.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PostedRecord<R> {
    #[serde(flatten)]
    at: R,
}

fn store_failure(error: StoreError) -> NotifyError {
    NotifyError::Retryable(format!("state store: {error}"))
}

/// Drives one platform's messages (see the module documentation).
#[derive(Debug)]
pub struct NoticeDriver<S: ChatSurface> {
    surface: Arc<S>,
    service: AccessService,
}

impl<S: ChatSurface> NoticeDriver<S> {
    pub fn new(surface: Arc<S>, service: AccessService) -> NoticeDriver<S> {
        NoticeDriver { surface, service }
    }

    pub fn surface(&self) -> &Arc<S> {
        &self.surface
    }

    fn documents(&self) -> Documents {
        self.service.documents()
    }

    async fn read<T: DeserializeOwned>(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<T>, NotifyError> {
        self.documents()
            .get(namespace, key)
            .await
            .map_err(store_failure)
    }

    async fn write<T: Serialize>(
        &self,
        namespace: &str,
        key: &str,
        record: &T,
    ) -> Result<(), NotifyError> {
        self.documents()
            .put(namespace, key, record)
            .await
            .map_err(store_failure)
    }

    async fn posted(&self, namespace: &str, key: &str) -> Result<bool, NotifyError> {
        self.documents()
            .exists(namespace, key)
            .await
            .map_err(store_failure)
    }

    /// Delivers a lifecycle notice: the approval message, a reminder, the requester.
    pub async fn deliver(&self, notice: &Notice) -> Result<(), NotifyError> {
        let lease = format!(
            "conversation.{}:{}",
            self.surface.platform().as_str(),
            notice.request.id
        );
        let delivered = self
            .service
            .leases()
            .with_lease(&lease, MESSAGE_LEASE, std::time::Duration::ZERO, |_| {
                self.deliver_leased(notice)
            })
            .await
            .map_err(|error| NotifyError::Retryable(error.to_string()))?;
        delivered.unwrap_or_else(|| {
            Err(NotifyError::Retryable(
                "another delivery is updating this request's messages".to_owned(),
            ))
        })
    }

    async fn deliver_leased(&self, notice: &Notice) -> Result<(), NotifyError> {
        let plan = policy::plan(notice, self.surface.platform());
        let view = RequestView::new(&notice.request, notice.grant.as_ref());
        let audience = self.surface.audience(&view).await?;
        // The approval message and the requester's message are independent: one failing
        // must not keep the other from going out. Both are idempotent, so a retry redoes
        // only what did not happen.
        let shown = if plan.approval_message {
            self.show(&view, &audience).await.map(Some)
        } else {
            Ok(None)
        };
        let direct = match &shown {
            Ok(Some(_)) if notice.request.routing.direct => {
                self.show_to_approvers(&view, &audience).await
            }
            _ => Ok(()),
        };
        let reminded = match &shown {
            Ok(Some(shown)) if plan.reminder => self.remind(&view, &audience, shown.clone()).await,
            _ => Ok(()),
        };
        let told = if plan.requester {
            self.tell_requester(&view, &audience).await
        } else {
            Ok(())
        };
        let told = match told {
            Err(NotifyError::Permanent(error)) => {
                // The requester blocked the bot or left: the approval message did its job.
                tracing::warn!(request_id = %notice.request.id, %error, "Could not tell the requester.");
                Ok(())
            }
            other => other,
        };
        let results = [shown.map(|_| ()), direct, reminded, told];
        if let Some(retry) = results.iter().find_map(|result| match result {
            Err(NotifyError::Retryable(message)) => Some(message.clone()),
            _ => None,
        }) {
            return Err(NotifyError::Retryable(retry));
        }
        results.into_iter().collect()
    }

    /// Posts or updates the approval message so it shows the request as it is now.
    async fn show(
        &self,
        view: &RequestView<'_>,
        audience: &S::Audience,
    ) -> Result<ApprovalRecord<S::Reference>, NotifyError> {
        let namespace = self.surface.namespaces().approvals;
        let key = view.request.id.as_str();
        let message = self.surface.approval_message(view, audience);
        let known: Option<ApprovalRecord<S::Reference>> = self.read(namespace, key).await?;
        if let Some(known) = &known {
            match self.surface.update(&known.at, &message).await? {
                Updated::Done => return Ok(known.clone()),
                Updated::Gone => {
                    tracing::warn!(request_id = %view.request.id, "The approval message is gone; posting it again.");
                }
            }
        }
        let at = self
            .surface
            .post(self.surface.route(view.request), &message)
            .await?;
        let shown = ApprovalRecord {
            at,
            reminders: known.map_or(0, |known| known.reminders),
        };
        self.write(namespace, key, &shown).await?;
        tracing::info!(request_id = %view.request.id, platform = self.surface.platform().as_str(), "Approval message posted.");
        Ok(shown)
    }

    /// `NotifyApprovers: direct`: the approval message to each named approver too, kept
    /// current like the channel's (its buttons work the same; the workflow decides).
    async fn show_to_approvers(
        &self,
        view: &RequestView<'_>,
        audience: &S::Audience,
    ) -> Result<(), NotifyError> {
        let namespace = format!("{}.approver_messages", self.surface.platform().as_str());
        let key = view.request.id.as_str();
        let mut sent: Vec<(String, S::Reference)> =
            self.read(&namespace, key).await?.unwrap_or_default();
        let message = self.surface.approval_message(view, audience);
        for (_, at) in &sent {
            if let Err(error) = self.surface.update(at, &message).await {
                tracing::debug!(request_id = %view.request.id, %error, "Could not update an approver's direct message.");
            }
        }
        let mut changed = false;
        let pending = view.awaits_approvers();
        for approver in view.request.approvers.iter().filter(|_| pending) {
            if sent.iter().any(|(email, _)| email == approver.as_str()) {
                continue;
            }
            let person = Person::from_email(approver.clone());
            if let Some(at) = self.surface.direct_message(&person, &message).await? {
                sent.push((approver.as_str().to_owned(), at));
                changed = true;
            }
        }
        if changed {
            self.write(&namespace, key, &sent).await?;
        }
        Ok(())
    }

    /// A reminder in the approval message's thread, once per reminder the workflow counted.
    async fn remind(
        &self,
        view: &RequestView<'_>,
        audience: &S::Audience,
        mut shown: ApprovalRecord<S::Reference>,
    ) -> Result<(), NotifyError> {
        let due = view.reminders_due().max(1);
        if shown.reminders >= due {
            return Ok(());
        }
        let message = self.surface.reminder(view, audience);
        self.surface.reply_in_thread(&shown.at, &message).await?;
        if view.awaits_review() {
            // An escalation is loud: every reviewer is told again, directly.
            for reviewer in &view.request.approvers {
                let person = Person::from_email(reviewer.clone());
                if let Err(error) = self.surface.direct_message(&person, &message).await {
                    tracing::warn!(request_id = %view.request.id, reviewer = %reviewer, %error, "Could not tell a reviewer of an overdue break-glass review.");
                }
            }
        }
        shown.reminders = due;
        self.write(
            self.surface.namespaces().approvals,
            view.request.id.as_str(),
            &shown,
        )
        .await
    }

    /// Tells the requester: a new message when their request reached a new step (taking the
    /// buttons off the previous one), else a refresh of the last one.
    async fn tell_requester(
        &self,
        view: &RequestView<'_>,
        audience: &S::Audience,
    ) -> Result<(), NotifyError> {
        let namespace = self.surface.namespaces().requester;
        let key = view.request.id.as_str();
        let step = view.step();
        let message = self.surface.requester_message(view, audience);
        let known: Option<RequesterRecord<S::Reference, S::Message>> =
            self.read(namespace, key).await?;
        if let Some(known) = &known
            && known.step == step
        {
            if let Some(at) = &known.at {
                // Same step delivered again: refresh it, nothing new to announce.
                self.surface.update(at, &message).await?;
            }
            return Ok(());
        }
        let at = self
            .surface
            .direct_message(&view.request.requester, &message)
            .await?;
        if at.is_none() {
            tracing::info!(request_id = %view.request.id, platform = self.surface.platform().as_str(), "The requester cannot be reached here; no direct message.");
        }
        if let Some(RequesterRecord {
            at: Some(earlier),
            message: Some(earlier_message),
            ..
        }) = &known
            && let Err(error) = self
                .surface
                .update(earlier, &self.surface.retired(earlier_message))
                .await
        {
            tracing::debug!(request_id = %view.request.id, %error, "Could not take the buttons off an earlier message.");
        }
        let record = RequesterRecord {
            step,
            message: at.as_ref().map(|_| message),
            at,
        };
        self.write(namespace, key, &record).await
    }

    /// Posts a drift finding in the approvals channel, once per notice.
    pub async fn drift(&self, notice: &DriftNotice) -> Result<(), NotifyError> {
        let namespace = self.surface.namespaces().drift;
        let key = notice.id.to_string();
        if self.posted(namespace, &key).await? {
            return Ok(());
        }
        let message = self.surface.drift_message(notice).await?;
        let at = self
            .surface
            .post(self.surface.routed(&notice.routing), &message)
            .await?;
        self.write(namespace, &key, &PostedRecord { at }).await?;
        tracing::info!(access_key = %notice.access_key, platform = self.surface.platform().as_str(), "Drift warning posted.");
        Ok(())
    }

    /// Posts an activity summary in the approval message's thread (the approvals channel
    /// when the message is unknown), once per summary.
    pub async fn activity_summary(&self, summary: &ActivitySummary) -> Result<(), NotifyError> {
        let namespaces = self.surface.namespaces();
        let key = summary.id.to_string();
        if self.posted(namespaces.activity, &key).await? {
            return Ok(());
        }
        let message = self.surface.activity_message(summary);
        let approval: Option<ApprovalRecord<S::Reference>> = self
            .read(namespaces.approvals, summary.request_id.as_str())
            .await?;
        let at = match &approval {
            Some(approval) => self.surface.reply_in_thread(&approval.at, &message).await?,
            None => self.surface.post(None, &message).await?,
        };
        self.write(namespaces.activity, &key, &PostedRecord { at })
            .await?;
        tracing::info!(request_id = %summary.request_id, in_thread = approval.is_some(), platform = self.surface.platform().as_str(), "Activity summary posted.");
        Ok(())
    }

    /// The approval message of a request, if one was posted (for platforms that answer a
    /// click by updating the message clicked).
    pub async fn approval_reference(
        &self,
        request: &AccessRequest,
    ) -> Result<Option<S::Reference>, NotifyError> {
        let record: Option<ApprovalRecord<S::Reference>> = self
            .read(self.surface.namespaces().approvals, request.id.as_str())
            .await?;
        Ok(record.map(|record| record.at))
    }
}
