//! Audit records (docs/reference.md §7) and the embedded file sink. Records are built from the request and
//! grant at the moment of each event and travel through the outbox to every configured sink.
//! Each is a link of one hash chain per state store ([`chain`]); signed [`checkpoint`]s vouch
//! for where the chain stood; [`verify`] checks a sink's copy and [`query`] reads it.

pub mod canonical;
pub mod chain;
pub mod checkpoint;
mod checkpointer;
mod file;
pub mod query;
mod record;
pub mod source;
pub mod verify;

pub use chain::{ChainHead, CheckpointMark, GENESIS_HASH, hash_of_body};
pub use checkpoint::{Checkpoint, KeyError, PublicKey, SigningKey};
pub use checkpointer::Checkpointer;
pub use file::FileAuditSink;
pub use record::{AUDIT_RECORD_VERSION, AuditFields, AuditRecord, object_key};

/// Where checkpoints go under a file sink's directory (docs/reference.md §7).
pub const CHECKPOINT_DIR: &str = "checkpoints";
