//! The outbox messages a transition writes: one audit record per sink, one notice per chat
//! notifier. Written in the transition's own batch, so they exist exactly when it happened.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::AccessService;
use crate::audit::AuditRecord;
use crate::domain::{AccessRequest, Channel, Grant, Person, RequestEvent, RequestId};
use crate::ports::{DriftNotice, NoticeKind, OutboxMessage};

pub const AUDIT_TOPIC_PREFIX: &str = "audit:";
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

/// What one transition reports.
pub(crate) struct Event<'a> {
    pub event: RequestEvent,
    pub channel: Channel,
    pub actor: Option<&'a Person>,
    /// Overrides the request's reason in the audit record.
    pub reason: Option<&'a str>,
}

impl AccessService {
    pub(crate) fn audit_messages(&self, record: &AuditRecord) -> Vec<OutboxMessage> {
        let payload = serde_json::to_value(record).unwrap_or(serde_json::Value::Null);
        self.deps
            .audit_sinks
            .iter()
            .map(|sink| OutboxMessage {
                id: uuid::Uuid::new_v4(),
                topic: format!("{AUDIT_TOPIC_PREFIX}{sink}"),
                payload: payload.clone(),
                created_at: record.at,
                attempts: 0,
            })
            .collect()
    }

    pub(crate) fn notice_messages(
        &self,
        at: OffsetDateTime,
        request_id: &RequestId,
        kind: NoticeKind,
    ) -> Vec<OutboxMessage> {
        let payload = NoticePayload {
            request_id: request_id.clone(),
            kind,
        };
        let payload = serde_json::to_value(&payload).unwrap_or(serde_json::Value::Null);
        self.deps
            .notifiers
            .iter()
            .map(|notifier| OutboxMessage {
                id: uuid::Uuid::new_v4(),
                topic: format!("{NOTIFY_TOPIC_PREFIX}{notifier}"),
                payload: payload.clone(),
                created_at: at,
                attempts: 0,
            })
            .collect()
    }

    /// One drift warning per chat notifier.
    pub(crate) fn drift_messages(&self, notice: &DriftNotice) -> Vec<OutboxMessage> {
        let payload = serde_json::to_value(notice).unwrap_or(serde_json::Value::Null);
        self.deps
            .notifiers
            .iter()
            .map(|notifier| OutboxMessage {
                id: uuid::Uuid::new_v4(),
                topic: format!("{DRIFT_TOPIC_PREFIX}{notifier}"),
                payload: payload.clone(),
                created_at: notice.detected_at,
                attempts: 0,
            })
            .collect()
    }

    /// Audit records for `events` plus one notice of `notice` kind, in that order.
    pub(crate) fn event_messages(
        &self,
        at: OffsetDateTime,
        request: &AccessRequest,
        grant: Option<&Grant>,
        events: &[Event<'_>],
        notice: Option<NoticeKind>,
    ) -> Vec<OutboxMessage> {
        let mut messages = Vec::new();
        for event in events {
            let record = AuditRecord::for_request(
                at,
                event.event,
                event.channel,
                request,
                grant,
                event.actor,
                event.reason,
            );
            messages.extend(self.audit_messages(&record));
        }
        if let Some(kind) = notice {
            messages.extend(self.notice_messages(at, &request.id, kind));
        }
        messages
    }
}
