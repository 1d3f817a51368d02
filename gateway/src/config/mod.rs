//! Configuration (docs/reference.md §2): YAML plus `LIFTGATE__SECTION__KEY` environment
//! overrides, unknown keys rejected, secrets wrapped, every problem reported with its location.

mod activity;
mod lenient;
mod load;
mod secret;
mod settings;
mod validate;

pub use activity::{ActivitySummarySettings, MAX_SUMMARY_EVENTS};
pub(crate) use load::load_text;
pub use load::{ConfigErrors, ConfigSource, LoadedConfig, load};
pub use secret::Secret;
pub use settings::{
    AuditSettings, AuditSinkKind, AuditSinkSettings, AwsSettings, CliSettings, InFlightLimits,
    LogFormat, ReconciliationMode, ReconciliationSettings, RequestSettings, SchedulerBackend,
    SchedulerSettings, ServerSettings, SessionNameAttribute, Settings, SlackSettings, StateBackend,
    StateSettings, TeamsSettings, UserAttribute, WebhookClient, WebhookSettings, WebhookSubscriber,
};
