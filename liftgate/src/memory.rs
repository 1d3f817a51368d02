//! Hands freed heap memory back to the system when the C library's allocator is glibc's
//! (README "Performance", "Under load").
//!
//! glibc's malloc keeps what was freed in its per-thread arenas resident: it returns only the
//! free top of a heap, past a trim threshold that rises as the process uses larger blocks.
//! After a flood of forms about 30 MiB of free pages stayed resident for good (measured with
//! `malloc_stats`: 51 MiB of arenas, 10 MiB in use); `malloc_trim(0)` also releases the free
//! pages inside the arenas and brought the process back to 21 MiB of anonymous memory. So
//! `serve` calls it every [`TRIM_INTERVAL`]: one call walks the free lists of each arena, a
//! millisecond or so. jemalloc and mimalloc (the features) and musl (the container image)
//! give memory back themselves, so this is built only for glibc with the system allocator.

#[cfg(all(
    target_os = "linux",
    target_env = "gnu",
    not(feature = "jemalloc"),
    not(feature = "mimalloc")
))]
mod glibc {
    use std::time::Duration;

    /// Often enough that memory comes back soon after a burst; rare enough to cost nothing.
    const TRIM_INTERVAL: Duration = Duration::from_secs(10);

    pub(crate) fn give_back_freed_memory() {
        tokio::spawn(async {
            let mut ticks = tokio::time::interval(TRIM_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                trim();
            }
        });
    }

    /// `malloc_trim(0)`: keeps no padding at the top of the main heap and releases every whole
    /// free page in every arena. It returns whether anything was released, which is of no use
    /// here.
    #[allow(
        unsafe_code,
        reason = "a C call with no arguments that point anywhere; glibc documents it as safe to call at any time from any thread"
    )]
    fn trim() {
        // SAFETY: malloc_trim takes a size and touches only the allocator's own state, under
        // the arenas' locks.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// Starts giving freed memory back to the system where the allocator keeps it (glibc);
/// elsewhere there is nothing to do.
pub(crate) fn give_back_freed_memory() {
    #[cfg(all(
        target_os = "linux",
        target_env = "gnu",
        not(feature = "jemalloc"),
        not(feature = "mimalloc")
    ))]
    glibc::give_back_freed_memory();
}
