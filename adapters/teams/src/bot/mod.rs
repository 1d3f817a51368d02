//! The bot: authenticates each activity, then dispatches it (messages, card actions,
//! typeahead searches, installs), and keeps the approval and requester cards up to date.

mod caller;
mod decisions;
mod forms;
pub(crate) mod inbox;
mod messages;
pub(crate) mod proactive;
mod responses;
mod search;

use std::future::Future;
use std::time::Duration;

use actix_web::HttpResponse;
use liftgate_gateway::domain::{AccessRequest, Grant, RequestId};
use liftgate_gateway::workflow::AccessService;
use serde_json::Value;

pub(crate) use caller::Caller;

use crate::activity::Activity;
use crate::auth::BotAuthenticator;
use crate::cards::{field, verb};
use crate::connector::Connector;
use crate::references::{ConversationReference, References};

#[derive(Debug)]
pub(crate) struct Bot {
    pub(crate) service: AccessService,
    pub(crate) connector: Connector,
    pub(crate) auth: BotAuthenticator,
    pub(crate) refs: References,
    pub(crate) app_id: String,
    pub(crate) tenant_id: String,
    /// `teams.allow_guests`: whether B2B guests of the tenant may request and decide.
    pub(crate) allow_guests: bool,
    pub(crate) approvals_conversation_id: String,
    /// Where proactive messages go when no activity told us better.
    pub(crate) default_service_url: String,
    /// How long an invoke waits for the workflow before answering "in progress".
    pub(crate) invoke_timeout: Duration,
}

/// Runs workflow work in its own task and waits at most `timeout` for it. Teams gives an
/// invoke a few seconds; work that takes longer (a slow AWS call) still finishes, and the
/// notifier shows its outcome.
pub(crate) async fn bounded<T, F>(timeout: Duration, work: F) -> Option<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let task = tokio::spawn(work);
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(error)) => {
            tracing::error!(%error, "Teams action task failed.");
            None
        }
        Err(_) => {
            tracing::info!("A Teams action outlasted the invoke; it goes on in the background.");
            None
        }
    }
}

impl Bot {
    /// Everything `POST /teams/messages` does.
    pub(crate) async fn handle(&self, authorization: Option<&str>, body: &[u8]) -> HttpResponse {
        if authorization.is_none() {
            self.count_refusal("missing_header");
            tracing::warn!(
                reason = "no Authorization header",
                "Refused a Teams activity."
            );
            return responses::unauthorized();
        }
        let activity: Activity = match serde_json::from_slice(body) {
            Ok(activity) => activity,
            Err(error) => {
                tracing::warn!(%error, "Refused a malformed Teams activity.");
                return responses::bad_request("the body is not a Bot Framework activity");
            }
        };
        if let Err(failure) = self.auth.authenticate(authorization, &activity).await {
            self.count_refusal(failure.label());
            tracing::warn!(reason = %failure, activity_type = ?activity.kind, "Refused a Teams activity.");
            return responses::unauthorized();
        }
        self.remember_conversation(&activity).await;
        match activity.kind.as_str() {
            "message" => self.on_message(&activity).await,
            "invoke" => self.on_invoke(&activity).await,
            "conversationUpdate" | "installationUpdate" => self.on_install(&activity).await,
            other => {
                tracing::debug!(activity_type = other, "Ignored a Teams activity.");
                responses::accepted()
            }
        }
    }

    fn count_refusal(&self, reason: &'static str) {
        self.service.metrics().inc(
            "liftgate_auth_failures_total",
            &[("channel", "teams"), ("reason", reason)],
        );
    }

    /// Keeps the service URL of team and group conversations, so proactive posts (the
    /// approval cards) use the one Teams gave us.
    async fn remember_conversation(&self, activity: &Activity) {
        if activity.is_personal() {
            return;
        }
        let Some(service_url) = activity.service_url.as_deref() else {
            return;
        };
        let reference = ConversationReference {
            service_url: service_url.to_owned(),
            tenant_id: activity.tenant_id().map(str::to_owned),
        };
        let base = activity
            .conversation_id()
            .map(|id| id.split(';').next().unwrap_or(id));
        for id in [base, activity.channel_data_channel_id(), activity.team_id()]
            .into_iter()
            .flatten()
        {
            if let Err(error) = self.refs.remember_conversation(id, &reference).await {
                tracing::warn!(%error, "Could not record a Teams conversation.");
            }
        }
    }

    async fn on_invoke(&self, activity: &Activity) -> HttpResponse {
        match activity.name.as_deref() {
            Some("adaptiveCard/action") => self.on_card_action(activity).await,
            Some("application/search") => self.on_search(activity).await,
            other => {
                tracing::debug!(name = ?other, "Unhandled Teams invoke.");
                responses::not_implemented()
            }
        }
    }

    async fn on_card_action(&self, activity: &Activity) -> HttpResponse {
        let action = activity
            .value
            .as_ref()
            .and_then(|value| value.get("action"));
        let Some(action) = action
            .filter(|action| action.get("type").and_then(Value::as_str) == Some("Action.Execute"))
        else {
            return responses::invoke_error("the invoke carries no Action.Execute");
        };
        let verb = action
            .get("verb")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let empty = Value::Object(serde_json::Map::new());
        let data = action.get("data").unwrap_or(&empty);
        let known = [
            verb::ACCESS_SUBMIT,
            verb::ACCESS_REFRESH,
            verb::GROUP_SUBMIT,
            verb::APPROVE,
            verb::DENY,
            verb::REVOKE,
            verb::CANCEL,
            verb::EXTEND,
            verb::EXTEND_SUBMIT,
            verb::ACKNOWLEDGE,
            verb::FLAG,
        ];
        if !known.contains(&verb) {
            return responses::invoke_error(&format!("unknown action {verb:?}"));
        }
        let caller = match self.identify(activity).await {
            Ok(caller) => caller,
            Err(error) => {
                tracing::warn!(%error, verb, "Could not identify a Teams user.");
                return responses::message(&error.user_message());
            }
        };
        tracing::info!(verb, user = %caller.person.email, "Teams card action.");
        match verb {
            verb::ACCESS_SUBMIT => self.submit_access_form(&caller, data).await,
            verb::ACCESS_REFRESH => self.refresh_access_form(&caller, data).await,
            verb::GROUP_SUBMIT => self.submit_group_form(&caller, data).await,
            verb::EXTEND_SUBMIT => self.submit_extend_form(&caller, data).await,
            _ => {
                let Some(request_id) = request_id_of(data) else {
                    return responses::invoke_error("the action names no request");
                };
                match verb {
                    verb::APPROVE | verb::DENY => {
                        self.decide(&caller, &request_id, verb == verb::APPROVE)
                            .await
                    }
                    verb::REVOKE => self.end_access(&caller, &request_id).await,
                    verb::CANCEL => self.cancel_request(&caller, &request_id).await,
                    verb::ACKNOWLEDGE | verb::FLAG => {
                        self.review(&caller, &request_id, verb == verb::FLAG).await
                    }
                    _ => self.show_extend_form(&caller, &request_id).await,
                }
            }
        }
    }

    /// The grant behind a request, if any, for rendering.
    pub(crate) async fn grant_of(&self, request: &AccessRequest) -> Option<Grant> {
        let grant_id = request.grant_id.as_ref()?;
        self.service.grant(grant_id).await.ok().flatten()
    }
}

pub(crate) fn request_id_of(data: &Value) -> Option<RequestId> {
    data.get(field::REQUEST_ID)
        .and_then(Value::as_str)
        .and_then(RequestId::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_that_outlasts_the_timeout_still_finishes() {
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let (finished, done) = tokio::sync::oneshot::channel::<u32>();
        let outcome = bounded(Duration::from_millis(20), async move {
            let _ = released.await;
            let _ = finished.send(7);
            7
        })
        .await;
        assert_eq!(outcome, None, "answered before the work was done");
        release.send(()).unwrap();
        assert_eq!(done.await.unwrap(), 7, "and the work went on");
        assert_eq!(bounded(Duration::from_secs(5), async { 7 }).await, Some(7));
    }
}
