//! The webhook API (docs/reference.md §5): HMAC-signed JSON routes for creating requests and deciding on
//! them, for any tool that can sign a request, and signed outbound events for subscribers.
//!
//! Every call carries `X-Liftgate-Client`, `X-Liftgate-Timestamp` (unix seconds, at most
//! 300 s from the gateway's clock), `X-Liftgate-Nonce` (new for every call) and
//! `X-Liftgate-Signature: v2=HEX(HMAC_SHA256(secret, "v2:" + timestamp + ":" + nonce + ":" +
//! METHOD + ":" + path_and_query + ":" + raw_body))`; [`sign`] computes that value. A nonce
//! seen before is refused, across replicas. A client acts only for the people its `act_for`
//! names. Non-goals: sessions, OAuth, anything but the v2 scheme.

mod adapter;
mod auth;
mod body;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod resolver;
mod routes;
mod setup;
mod signature;
mod subscribers;
mod view;

pub use adapter::{DEFAULT_DELIVERY_TIMEOUT, WebhookAdapter};
pub use routes::WebhookRoutes;
pub use setup::WebhookSetupError;
pub use signature::{
    CLIENT_HEADER, EVENT_HEADER, IDEMPOTENCY_KEY_HEADER, MAX_CLOCK_SKEW_SECONDS, NONCE_HEADER,
    SIGNATURE_HEADER, Signed, TIMESTAMP_HEADER, new_nonce, sign, signed_headers, valid_nonce,
};
pub use subscribers::{EVENT_NAMES, SubscriberNotifier};
pub use view::{ApprovalView, GrantTargetView, GrantView, HistoryView, RequestView, TargetView};
