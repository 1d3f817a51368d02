//! Liftgate's core: the domain model, the ports every backend implements, the request
//! lifecycle, configuration, the HTTP server shell and the embedded backends (SQLite state,
//! file audit sink, local sweeper). Chat adapters and AWS backends live in their own crates
//! and plug in through [`ports`] and [`http::RouteProvider`].

pub mod audit;
pub mod channel;
pub mod config;
pub mod conversation;
pub mod domain;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod metrics;
pub mod ports;
pub mod scheduler;
pub mod store;
pub mod telemetry;
pub mod workflow;

#[cfg(feature = "test-util")]
pub mod testing;

pub use liftgate_policy as policy;
