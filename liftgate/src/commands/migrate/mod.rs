//! `liftgate migrate …`: converts another tool's configuration into `liftgate.yaml`.

pub mod sso_elevator;
mod yaml;
