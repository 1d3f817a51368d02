//! Requests from a terminal (docs/reference.md §5, CLI routes): `liftgate request` signs an STS
//! `GetCallerIdentity` with the caller's own AWS credentials (an IAM Identity Center session),
//! the gateway checks and forwards it to STS, and accepts the caller only when STS answers
//! with an `AWSReservedSSO_*` role session in an allowed account of the organization whose
//! session name is an Identity Center user. This is the scheme of HashiCorp Vault's AWS IAM
//! auth method, with a server id, a remembered nonce and the call's digest inside the
//! signature, so a proof is good for one call to one gateway within five minutes.
//!
//! The gateway never sees the caller's secret key, and sends signed requests only to its
//! configured STS endpoint. Non-goals: long-lived sessions, any STS action but
//! `GetCallerIdentity`, callers that are not Identity Center role sessions.

mod adapter;
mod auth;
pub mod client;
mod error;
mod proof;
mod routes;
mod session;
mod sts;
mod wire;

pub use adapter::{CliAdapter, CliSetupError};
pub use routes::{CliRoutes, MAX_BODY_BYTES, VERIFIED_ARN_HEADER};
pub use wire::{
    CALL_HEADER, FORM_CONTENT_TYPE, GET_CALLER_IDENTITY_BODY, MAX_CLOCK_SKEW_SECONDS,
    MAX_PROOF_BYTES, NONCE_HEADER, PROOF_HEADER, SERVER_ID_HEADER, StsProof, call_digest,
};
