//! One module per subcommand.

pub mod check_config;
pub mod explain;
pub mod serve;
pub mod state;
