//! The inbox: acked chat work recorded before it runs, resumed by any replica's outbox pass
//! when its runner died, and never deleted unread. Also the outbox's rule for rows this
//! version cannot read.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use liftgate_gateway::ports::{
    Clock, InboxError, InboxHandler, OutboxMessage, StateStore, WriteBatch,
};
use liftgate_gateway::testing::{Harness, HarnessOptions};
use liftgate_gateway::workflow::OutboxDispatcher;
use parking_lot::Mutex;
use serde_json::{Value, json};

/// A channel that records what it is asked to resume, answering as told.
#[derive(Debug, Default)]
struct RecordingInbox {
    resumed: Mutex<Vec<Value>>,
    answer_unreadable: bool,
}

#[async_trait]
impl InboxHandler for RecordingInbox {
    fn channel(&self) -> &'static str {
        "chat"
    }

    async fn resume(&self, work: Value) -> Result<(), InboxError> {
        self.resumed.lock().push(work);
        if self.answer_unreadable {
            return Err(InboxError::Unreadable(
                "written by a newer version".to_owned(),
            ));
        }
        Ok(())
    }
}

fn dispatcher_with(h: &Harness, inbox: Vec<Arc<dyn InboxHandler>>) -> OutboxDispatcher {
    OutboxDispatcher::new(
        h.store.clone(),
        h.clock.clone(),
        vec![h.audit.clone()],
        Vec::new(),
        h.metrics.clone(),
    )
    .with_inbox(inbox)
}

/// Every outbox row on `prefix`, whether due or not (looked at, then put back due at its
/// first due time).
async fn rows(h: &Harness, prefix: &str) -> Vec<OutboxMessage> {
    let far = h.clock.now() + time::Duration::days(30);
    let rows = h.store.claim_outbox(prefix, far, far, 100).await.unwrap();
    for row in &rows {
        h.store
            .retry_outbox(row.id, row.first_due(), "looked")
            .await
            .unwrap();
    }
    rows
}

async fn drain(dispatcher: &OutboxDispatcher) {
    while dispatcher.dispatch_once().await.unwrap() > 0 {}
}

#[tokio::test]
async fn finished_work_leaves_no_row_and_unfinished_work_is_resumed_after_the_grace() {
    let h = Harness::new(HarnessOptions::default());
    let inbox = Arc::new(RecordingInbox::default());
    let dispatcher = dispatcher_with(&h, vec![inbox.clone()]);

    let recorded = h.service.record_acked("chat", &json!({ "click": 1 })).await;
    assert!(recorded.is_some());
    let ran = h.service.run_acked(recorded, async { 7 }).await;
    assert_eq!(ran, 7);
    assert!(rows(&h, "inbox:").await.is_empty());

    // A runner that dies: the work is recorded but never finished.
    let abandoned = h.service.record_acked("chat", &json!({ "click": 2 })).await;
    assert!(abandoned.is_some());
    drain(&dispatcher).await;
    assert!(
        inbox.resumed.lock().is_empty(),
        "not before the grace period"
    );
    h.advance(Duration::from_secs(29));
    drain(&dispatcher).await;
    assert!(inbox.resumed.lock().is_empty());
    h.advance(Duration::from_secs(2));
    drain(&dispatcher).await;
    assert_eq!(*inbox.resumed.lock(), vec![json!({ "click": 2 })]);
    assert!(rows(&h, "inbox:").await.is_empty(), "resumed work is done");
    assert_eq!(
        h.metrics
            .counter_value("liftgate_inbox_resumed_total", &[("channel", "chat")]),
        1.0
    );
}

#[tokio::test]
async fn work_of_a_channel_this_replica_lacks_waits_for_one_that_has_it() {
    let h = Harness::new(HarnessOptions::default());
    let without = dispatcher_with(&h, Vec::new());
    let recorded = h.service.record_acked("chat", &json!({ "click": 3 })).await;
    assert!(recorded.is_some(), "recorded, then its runner dies");
    h.advance(Duration::from_secs(31));
    drain(&without).await;
    assert_eq!(rows(&h, "inbox:").await.len(), 1, "kept, not dropped");

    let inbox = Arc::new(RecordingInbox::default());
    let with = dispatcher_with(&h, vec![inbox.clone()]);
    h.advance(Duration::from_secs(600));
    drain(&with).await;
    assert_eq!(*inbox.resumed.lock(), vec![json!({ "click": 3 })]);
    assert!(rows(&h, "inbox:").await.is_empty());
}

#[tokio::test]
async fn unreadable_work_is_kept_and_alarmed_and_day_old_work_is_abandoned() {
    let h = Harness::new(HarnessOptions::default());
    let inbox = Arc::new(RecordingInbox {
        answer_unreadable: true,
        ..RecordingInbox::default()
    });
    let dispatcher = dispatcher_with(&h, vec![inbox.clone()]);
    let recorded = h.service.record_acked("chat", &json!({ "v": 99 })).await;
    assert!(recorded.is_some(), "recorded, then its runner dies");
    h.advance(Duration::from_secs(31));
    drain(&dispatcher).await;
    assert_eq!(inbox.resumed.lock().len(), 1);
    assert_eq!(
        rows(&h, "inbox:").await.len(),
        1,
        "kept for a newer replica"
    );
    assert_eq!(
        h.metrics
            .counter_value("liftgate_outbox_unreadable_total", &[("consumer", "inbox")]),
        1.0
    );

    h.advance(Duration::from_secs(25 * 3600));
    drain(&dispatcher).await;
    assert_eq!(
        inbox.resumed.lock().len(),
        1,
        "not run again when abandoned"
    );
    assert!(rows(&h, "inbox:").await.is_empty());
}

#[tokio::test]
async fn an_audit_row_this_version_cannot_read_is_kept_retried_and_alarmed() {
    let h = Harness::new(HarnessOptions::default());
    let now = h.clock.now();
    let row = OutboxMessage {
        id: uuid::Uuid::new_v4(),
        topic: "audit:memory".to_owned(),
        payload: json!({ "schema": 99, "written_by": "a newer replica" }),
        created_at: now,
        attempts: 0,
        not_before: None,
    };
    h.store
        .commit(WriteBatch {
            outbox: vec![row.clone()],
            ..WriteBatch::default()
        })
        .await
        .unwrap();
    h.deliver_outbox().await;
    assert_eq!(h.store.outbox_len().await.unwrap(), 1, "never deleted");
    assert!(h.audit.records().is_empty());
    assert_eq!(
        h.metrics
            .counter_value("liftgate_outbox_unreadable_total", &[("consumer", "audit")]),
        1.0
    );
    // Retried slowly: not within a minute, again after five.
    h.advance(Duration::from_secs(60));
    h.deliver_outbox().await;
    assert_eq!(
        h.metrics
            .counter_value("liftgate_outbox_unreadable_total", &[("consumer", "audit")]),
        1.0
    );
    h.advance(Duration::from_secs(300));
    h.deliver_outbox().await;
    assert_eq!(
        h.metrics
            .counter_value("liftgate_outbox_unreadable_total", &[("consumer", "audit")]),
        2.0
    );
    let kept = rows(&h, "audit:").await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].payload, row.payload, "kept as written");
}
