//! Load shedding: a limit on the requests served at once per route class, answered 503 with
//! `Retry-After` past it (docs/reference.md §2, `server.max_in_flight`). Queueing instead would
//! let latency grow without bound and ask the store to wait for seconds; a client told to come
//! back in a second (Slack retries, webhook clients back off) loses nothing. Chat acks, the
//! webhook API and admin routes have limits of their own, so a flood of one never takes the
//! others' capacity. A `tokio` semaphore per class is the whole mechanism: a permit is taken
//! without waiting and held until the response is produced.

use std::sync::Arc;

use actix_web::HttpResponse;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::InFlightLimits;

/// Which limit a route counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteClass {
    Chat,
    Api,
    Admin,
}

impl RouteClass {
    pub(crate) fn of(path: &str) -> RouteClass {
        if path.starts_with("/api/") || path.starts_with("/cli/") {
            RouteClass::Api
        } else if matches!(path, "/healthz" | "/readyz" | "/metrics") {
            RouteClass::Admin
        } else {
            // Slack, Teams and anything unmatched (404s are cheap, but still bounded).
            RouteClass::Chat
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            RouteClass::Chat => "chat",
            RouteClass::Api => "api",
            RouteClass::Admin => "admin",
        }
    }
}

/// The three semaphores, shared by every HTTP worker of one listener.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    chat: Arc<Semaphore>,
    api: Arc<Semaphore>,
    admin: Arc<Semaphore>,
}

impl Admission {
    pub(crate) fn new(limits: InFlightLimits) -> Admission {
        let permits = |limit: u32| Arc::new(Semaphore::new(limit.max(1) as usize));
        Admission {
            chat: permits(limits.chat),
            api: permits(limits.api),
            admin: permits(limits.admin),
        }
    }

    /// A permit for one request of `class`, or `None` when the class is at its limit.
    pub(crate) fn admit(&self, class: RouteClass) -> Option<OwnedSemaphorePermit> {
        let semaphore = match class {
            RouteClass::Chat => &self.chat,
            RouteClass::Api => &self.api,
            RouteClass::Admin => &self.admin,
        };
        Arc::clone(semaphore).try_acquire_owned().ok()
    }
}

/// The answer past the limit: nothing was done; try again in a second.
pub(crate) fn overloaded(class: RouteClass) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header((actix_web::http::header::RETRY_AFTER, "1"))
        .json(serde_json::json!({
            "error": {
                "code": "overloaded",
                "message": format!(
                    "Liftgate is serving as many {} requests as it accepts at once; nothing was done. Try again in a second.",
                    class.label()
                ),
            }
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_fall_into_their_class_and_a_full_class_refuses_without_waiting() {
        assert_eq!(RouteClass::of("/api/v1/requests"), RouteClass::Api);
        assert_eq!(RouteClass::of("/cli/v1/requests"), RouteClass::Api);
        assert_eq!(RouteClass::of("/slack/interactions"), RouteClass::Chat);
        assert_eq!(RouteClass::of("/teams/messages"), RouteClass::Chat);
        assert_eq!(RouteClass::of("/metrics"), RouteClass::Admin);
        let admission = Admission::new(InFlightLimits {
            chat: 2,
            api: 1,
            admin: 1,
        });
        let held = admission.admit(RouteClass::Api).unwrap();
        assert!(admission.admit(RouteClass::Api).is_none());
        // Another class is unaffected.
        let chat = [
            admission.admit(RouteClass::Chat).unwrap(),
            admission.admit(RouteClass::Chat).unwrap(),
        ];
        assert!(admission.admit(RouteClass::Chat).is_none());
        drop(held);
        assert!(admission.admit(RouteClass::Api).is_some());
        drop(chat);
    }
}
