//! The outbox messages a transition writes: one audit record per sink, one notice per chat
//! notifier. Written in the transition's own batch, so they exist exactly when it happened.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::AccessService;
use crate::audit::AuditRecord;
use crate::domain::RequestId;
use crate::ports::{AuditAppend, DriftNotice, NoticeKind, OutboxMessage};

pub use crate::ports::AUDIT_TOPIC_PREFIX;
pub const NOTIFY_TOPIC_PREFIX: &str = "notify:";
/// Drift warnings for chat: the payload is the whole [`DriftNotice`] (there is no stored
/// request to read back).
pub const DRIFT_TOPIC_PREFIX: &str = "drift:";

/// A notice names the request; the notifier reads its current state when it delivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticePayload {
    pub request_id: RequestId,
    pub kind: NoticeKind,
}

/// A value as an outbox payload. Every payload type is plain serde data that cannot fail to
/// serialise; if one ever did, the row keeps the error text instead of disappearing, so the
/// dispatcher alarms on it rather than losing it.
fn payload<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_else(|error| {
        tracing::error!(%error, "An outbox payload could not be serialised.");
        serde_json::json!({ "unserialisable": error.to_string() })
    })
}

impl AccessService {
    /// A record for every audit sink, chained by the store when the batch commits.
    pub(crate) fn audit_append(&self, record: AuditRecord) -> AuditAppend {
        AuditAppend {
            record,
            sinks: self.deps.audit_sinks.clone(),
        }
    }

    pub(crate) fn notice_messages(
        &self,
        at: OffsetDateTime,
        request_id: &RequestId,
        kind: NoticeKind,
    ) -> Vec<OutboxMessage> {
        let payload = payload(&NoticePayload {
            request_id: request_id.clone(),
            kind,
        });
        self.deps
            .notifiers
            .iter()
            .map(|notifier| OutboxMessage {
                id: uuid::Uuid::new_v4(),
                topic: format!("{NOTIFY_TOPIC_PREFIX}{notifier}"),
                payload: payload.clone(),
                created_at: at,
                attempts: 0,
                not_before: None,
            })
            .collect()
    }

    /// One drift warning per chat notifier.
    pub(crate) fn drift_messages(&self, notice: &DriftNotice) -> Vec<OutboxMessage> {
        let payload = payload(notice);
        self.deps
            .notifiers
            .iter()
            .map(|notifier| OutboxMessage {
                id: uuid::Uuid::new_v4(),
                topic: format!("{DRIFT_TOPIC_PREFIX}{notifier}"),
                payload: payload.clone(),
                created_at: notice.detected_at,
                attempts: 0,
                not_before: None,
            })
            .collect()
    }
}
