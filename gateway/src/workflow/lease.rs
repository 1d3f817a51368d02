//! Leases that exclude: the one mechanism every component uses to do something alone (change
//! one access in AWS, run a reconciliation pass, keep one chat message current).
//!
//! - Each acquisition has its own owner (`<replica>:<operation uuid>`), so two tasks of one
//!   replica exclude each other exactly like two replicas do; nothing is re-entrant.
//! - Leases are short and renewed while the work runs; work whose lease is lost is dropped.
//! - Expiry never compares clocks across replicas. A holder renews well within the time to
//!   live, and every renewal changes the lease's token; a waiter that watches the *same*
//!   holder at the *same* token for longer than the time to live, on its own clock, may take
//!   the lease over (the scheme of Amazon's DynamoDB lock client). A replica killed with `kill -9` therefore frees its
//!   leases one time-to-live after another replica (or its own restart) first looks at them.
//! - Writes made under a lease carry a [`Fence`]: the store refuses them once the lease is
//!   someone else's.

use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use lru::LruCache;
use parking_lot::Mutex;
use time::OffsetDateTime;

use crate::ports::{Clock, Fence, LeaseSighting, LeaseState, StateStore, StoreError};

/// How many leases a replica remembers having watched; more than it ever waits on at once.
const WATCHED_CAPACITY: usize = 4096;

/// How often a waiting caller looks at a held lease again.
const POLL: Duration = Duration::from_millis(50);

/// A lease this process holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLease {
    pub name: String,
    pub owner: String,
    pub token: u64,
}

impl HeldLease {
    pub fn fence(&self) -> Fence {
        Fence {
            lease: self.name.clone(),
            owner: self.owner.clone(),
        }
    }
}

/// A lease being worked under: the fence for its writes, and [`Self::confirm`] before an
/// action nothing can fence. Cheap to clone; renewals through any clone are serialised.
#[derive(Debug, Clone)]
pub struct LeaseGuard {
    store: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    fence: Fence,
    /// The current token; held while a renewal is in flight so two never race.
    token: Arc<tokio::sync::Mutex<u64>>,
    ttl: Duration,
}

impl LeaseGuard {
    pub fn fence(&self) -> &Fence {
        &self.fence
    }

    /// Renews the lease. `Ok(false)` when it is no longer held.
    async fn renew(&self) -> Result<bool, StoreError> {
        let mut token = self.token.lock().await;
        let ttl = time::Duration::try_from(self.ttl).unwrap_or(time::Duration::MAX);
        match self
            .store
            .renew_lease(
                &self.fence.lease,
                &self.fence.owner,
                *token,
                self.clock.now(),
                ttl,
            )
            .await?
        {
            Some(next) => {
                *token = next;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Renews the lease right before an action the store cannot fence (an AWS call), so the
    /// action starts only while the lease is certainly held, with a full time to live ahead
    /// before any waiter may take over. `Ok(false)`: do not act, the lease is gone.
    pub async fn confirm(&self) -> Result<bool, StoreError> {
        self.renew().await
    }
}

/// Why work under a lease did not complete.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The lease could not be renewed in time (taken over, or the store was unreachable for
    /// longer than its time to live); the work was dropped where it stood.
    #[error("the lease {0} was lost while the work ran")]
    Lost(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Acquires, renews and releases leases for one replica.
#[derive(Debug)]
pub struct Leases {
    store: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    replica: String,
    /// Lease name → (holder and token, when this replica first saw them).
    watched: Mutex<LruCache<String, (LeaseSighting, OffsetDateTime)>>,
}

impl Leases {
    pub fn new(store: Arc<dyn StateStore>, clock: Arc<dyn Clock>, replica: String) -> Leases {
        let capacity = NonZeroUsize::new(WATCHED_CAPACITY).unwrap_or(NonZeroUsize::MIN);
        Leases {
            store,
            clock,
            replica,
            watched: Mutex::new(LruCache::new(capacity)),
        }
    }

    pub fn replica(&self) -> &str {
        &self.replica
    }

    fn new_owner(&self) -> String {
        format!("{}:{}", self.replica, uuid::Uuid::new_v4())
    }

    /// One attempt at the lease. `None` while someone else holds it (and has renewed it within
    /// `ttl` as far as this replica has watched).
    pub async fn try_acquire(
        &self,
        name: &str,
        ttl: Duration,
    ) -> Result<Option<HeldLease>, StoreError> {
        let now = self.clock.now();
        let ttl_time = time::Duration::try_from(ttl).unwrap_or(time::Duration::MAX);
        let stale = self
            .watched
            .lock()
            .get(name)
            .filter(|(_, since)| now - *since >= ttl_time)
            .map(|(seen, _)| seen.clone());
        let owner = self.new_owner();
        match self
            .store
            .acquire_lease(name, &owner, stale.as_ref(), now, ttl_time)
            .await?
        {
            LeaseState::Acquired { token } => {
                self.watched.lock().pop(name);
                if stale.is_some() {
                    tracing::warn!(
                        lease = name,
                        "Took over a lease its holder stopped renewing."
                    );
                }
                Ok(Some(HeldLease {
                    name: name.to_owned(),
                    owner,
                    token,
                }))
            }
            LeaseState::Held { owner, token } => {
                // Seen when the answer came, not when the question went: a slow store call
                // must never make a holder look stale sooner.
                let seen_at = self.clock.now();
                let sighting = LeaseSighting { owner, token };
                let mut watched = self.watched.lock();
                match watched.get(name) {
                    Some((seen, _)) if *seen == sighting => {}
                    _ => {
                        watched.put(name.to_owned(), (sighting, seen_at));
                    }
                }
                Ok(None)
            }
        }
    }

    /// Tries for the lease until `wait` has passed. `None` if it stayed held.
    pub async fn acquire_within(
        &self,
        name: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Option<HeldLease>, StoreError> {
        let started = self.clock.now();
        loop {
            if let Some(held) = self.try_acquire(name, ttl).await? {
                return Ok(Some(held));
            }
            if self.clock.now() - started >= wait {
                return Ok(None);
            }
            self.clock.pause(POLL.min(wait)).await;
        }
    }

    /// Gives a lease back; a failure only delays the next holder by one time to live.
    pub async fn release(&self, held: &HeldLease) {
        if let Err(error) = self.store.release_lease(&held.name, &held.owner).await {
            tracing::warn!(lease = %held.name, %error, "Could not release a lease; it frees itself once it is no longer renewed.");
        }
    }

    /// Runs `work` under `held`, renewing it every quarter of `ttl`, then releases it. If the
    /// lease cannot be renewed for longer than `ttl` the work is dropped where it stands and
    /// [`LeaseError::Lost`] returned: another holder may be acting by then.
    pub async fn run_held<F, T>(
        &self,
        held: HeldLease,
        ttl: Duration,
        work: F,
    ) -> Result<T, LeaseError>
    where
        F: Future<Output = T>,
    {
        let guard = self.guard(held.clone(), ttl);
        self.run_guarded(held, guard, work).await
    }

    /// A guard for `held`: its fence, and a way to confirm the lease is still held right
    /// before an action the store cannot fence (an AWS call).
    fn guard(&self, held: HeldLease, ttl: Duration) -> LeaseGuard {
        LeaseGuard {
            store: Arc::clone(&self.store),
            clock: Arc::clone(&self.clock),
            fence: held.fence(),
            token: Arc::new(tokio::sync::Mutex::new(held.token)),
            ttl,
        }
    }

    async fn run_guarded<F, T>(
        &self,
        held: HeldLease,
        guard: LeaseGuard,
        work: F,
    ) -> Result<T, LeaseError>
    where
        F: Future<Output = T>,
    {
        let ttl = guard.ttl;
        let renew = async {
            let ttl_time = time::Duration::try_from(ttl).unwrap_or(time::Duration::MAX);
            let mut renewed_at = self.clock.now();
            loop {
                self.clock.sleep(ttl / 4).await;
                match guard.renew().await {
                    Ok(true) => renewed_at = self.clock.now(),
                    Ok(false) => return,
                    Err(error) => {
                        tracing::warn!(lease = %held.name, %error, "Could not renew a lease; retrying.");
                        // Past three quarters of the time to live a waiter may already be
                        // counting: stop before it can take over.
                        if self.clock.now() - renewed_at >= ttl_time * 3 / 4 {
                            return;
                        }
                    }
                }
            }
        };
        let work = std::pin::pin!(work);
        let renew = std::pin::pin!(renew);
        match futures_util::future::select(work, renew).await {
            futures_util::future::Either::Left((output, _)) => {
                self.release(&held).await;
                Ok(output)
            }
            futures_util::future::Either::Right(((), _)) => {
                tracing::error!(lease = %held.name, "Lost a lease while working under it; the work was stopped.");
                Err(LeaseError::Lost(held.name.clone()))
            }
        }
    }

    /// Acquires `name` (waiting up to `wait`) and runs `work` with a guard of the lease,
    /// renewing it meanwhile. `Ok(None)` when the lease stayed held by someone else.
    pub async fn with_guard<F, Fut, T>(
        &self,
        name: &str,
        ttl: Duration,
        wait: Duration,
        work: F,
    ) -> Result<Option<T>, LeaseError>
    where
        F: FnOnce(LeaseGuard) -> Fut,
        Fut: Future<Output = T>,
    {
        let Some(held) = self.acquire_within(name, ttl, wait).await? else {
            return Ok(None);
        };
        let guard = self.guard(held.clone(), ttl);
        let work = work(guard.clone());
        self.run_guarded(held, guard, work).await.map(Some)
    }

    /// Acquires `name` (waiting up to `wait`) and runs `work` under it. `Ok(None)` when the
    /// lease stayed held by someone else.
    pub async fn with_lease<F, Fut, T>(
        &self,
        name: &str,
        ttl: Duration,
        wait: Duration,
        work: F,
    ) -> Result<Option<T>, LeaseError>
    where
        F: FnOnce(Fence) -> Fut,
        Fut: Future<Output = T>,
    {
        let Some(held) = self.acquire_within(name, ttl, wait).await? else {
            return Ok(None);
        };
        let fence = held.fence();
        self.run_held(held, ttl, work(fence)).await.map(Some)
    }
}
