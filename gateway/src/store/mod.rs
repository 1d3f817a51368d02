//! The embedded state store (`state.backend: sqlite`). DynamoDB lives in `liftgate-aws`.

mod sqlite;

pub use sqlite::SqliteStore;

use time::OffsetDateTime;

/// Timestamps are stored as Unix milliseconds, which orders correctly as integers.
pub(crate) fn to_millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}
