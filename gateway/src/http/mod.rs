//! The HTTP server: health, readiness and metrics routes here, channel routes contributed by
//! the adapters through [`RouteProvider`].

mod error;
mod outbound;
mod server;
mod shed;

pub use error::{error_response, unavailable_response, workflow_error_response};
pub use outbound::{OutboundUrlError, check_outbound_url, forbidden_address, retry_backoff};
pub use server::{
    HttpServerHandle, RouteProvider, ServerState, start_admin_server, start_public_server,
    start_server,
};
