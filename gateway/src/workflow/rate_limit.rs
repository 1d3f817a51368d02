//! The per-requester limit on creates (`requests.rate_limit` per clock hour, docs/reference.md
//! §2), shared by every replica through the store. An in-process limiter (`governor`) would
//! let each replica grant the full allowance; the store's atomic `remember_once` gives one
//! count for all. Each create claims the first free numbered slot of the requester's window;
//! slots expire with the window. Probing is linear, so a create costs as many store calls as
//! the requester already made this hour (at most the limit, 20 by default).

use std::time::Duration;

use liftgate_policy::Email;
use time::OffsetDateTime;

use crate::ports::StateStore;

use super::WorkflowError;

const WINDOW: Duration = Duration::from_secs(3600);

/// The clock hour `now` falls in, and when it ends.
fn window(now: OffsetDateTime) -> (i64, OffsetDateTime) {
    let index = now.unix_timestamp().div_euclid(WINDOW.as_secs() as i64);
    let end = OffsetDateTime::from_unix_timestamp((index + 1) * WINDOW.as_secs() as i64)
        .unwrap_or(now + WINDOW);
    (index, end)
}

/// Counts one create for `requester`, or refuses it when the window's allowance is used.
pub(crate) async fn claim_create(
    store: &dyn StateStore,
    requester: &Email,
    limit: u32,
    now: OffsetDateTime,
    token: &str,
) -> Result<(), WorkflowError> {
    if limit == 0 {
        return Ok(());
    }
    let (index, end) = window(now);
    for slot in 0..limit {
        let key = format!("rate:create:{requester}:{index}:{slot}");
        if store.remember_once(&key, token, now, end).await?.is_none() {
            return Ok(());
        }
    }
    let retry_after = Duration::try_from(end - now).unwrap_or(WINDOW);
    Err(WorkflowError::RateLimited {
        message: format!(
            "You have made {limit} requests this hour, the most Liftgate accepts from one person; try again in {} minutes.",
            retry_after.as_secs().div_ceil(60)
        ),
        retry_after,
    })
}

/// Whether this is the first refused request of `requester` this hour, the only one posted to
/// the approvals channel: refusals cannot flood it (the requester is told every time).
pub(crate) async fn first_refusal_this_window(
    store: &dyn StateStore,
    requester: &Email,
    now: OffsetDateTime,
    token: &str,
) -> Result<bool, WorkflowError> {
    let (index, end) = window(now);
    let key = format!("rate:refused:{requester}:{index}");
    Ok(store.remember_once(&key, token, now, end).await?.is_none())
}
