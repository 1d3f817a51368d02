//! One module per subcommand.

pub mod audit;
pub mod check_config;
pub mod explain;
pub mod init;
pub mod migrate;
pub mod reconcile;
pub mod request;

pub mod serve;
pub mod state;
