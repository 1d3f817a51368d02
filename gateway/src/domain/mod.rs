//! The nouns of the product: access requests, grants, the people behind them, and the channel
//! each step came through. Plain data with serde, persisted as JSON documents by every store.

mod grant;
mod ids;
mod person;
mod request;

pub use grant::{Grant, GrantEnd, GrantStatus, GrantTarget};
pub use ids::{GrantId, RequestId};
pub use person::{Channel, Person};
pub use request::{
    AccessRequest, Approval, HistoryEntry, RequestEvent, RequestStatus, RequestTarget,
};
