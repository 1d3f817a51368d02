use std::sync::Mutex;

use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::ports::Clock;

/// A clock that only moves when told to. Its `sleep` waits until a test moves the clock past
/// the wake-up time, so nothing in a test ever waits on real time.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
    moved: Notify,
}

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> ManualClock {
        ManualClock {
            now: Mutex::new(start),
            moved: Notify::new(),
        }
    }

    /// A fixed, whole-second starting point, so timestamps in assertions are predictable.
    pub fn at_epoch_seconds(seconds: i64) -> ManualClock {
        ManualClock::new(OffsetDateTime::from_unix_timestamp(seconds).unwrap())
    }

    pub fn advance(&self, by: std::time::Duration) {
        {
            let mut now = self.now.lock().unwrap();
            *now += by;
        }
        self.moved.notify_waiters();
    }

    pub fn set(&self, at: OffsetDateTime) {
        *self.now.lock().unwrap() = at;
        self.moved.notify_waiters();
    }
}

#[async_trait::async_trait]
impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap()
    }

    /// A moment of real time: the task being waited for runs meanwhile, while the manual clock
    /// stands still (so a deadline measured on it never passes by itself).
    async fn pause(&self, _duration: std::time::Duration) {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }

    async fn sleep(&self, duration: std::time::Duration) {
        let wake = self.now() + duration;
        loop {
            let moved = self.moved.notified();
            if self.now() >= wake {
                return;
            }
            moved.await;
        }
    }
}
