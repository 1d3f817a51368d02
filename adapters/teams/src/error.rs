/// Why the Teams adapter could not be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum TeamsError {
    /// A `teams` setting is unusable; `key` names it the way the config file does.
    #[error("teams.{key}: {message}")]
    Config { key: &'static str, message: String },
    /// The HTTP client could not be created (TLS roots, for instance).
    #[error("could not build the HTTP client for Teams: {0}")]
    HttpClient(String),
}
