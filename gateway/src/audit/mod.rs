//! Audit records (docs/reference.md §7) and the embedded file sink. Records are built from the request and
//! grant at the moment of each event and travel through the outbox to every configured sink.

mod file;
mod record;

pub use file::FileAuditSink;
pub use record::{AUDIT_RECORD_VERSION, AuditFields, AuditRecord, object_key};
