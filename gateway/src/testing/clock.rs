use std::sync::Mutex;

use time::OffsetDateTime;

use crate::ports::Clock;

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
}

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> ManualClock {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    /// A fixed, whole-second starting point, so timestamps in assertions are predictable.
    pub fn at_epoch_seconds(seconds: i64) -> ManualClock {
        ManualClock::new(OffsetDateTime::from_unix_timestamp(seconds).unwrap())
    }

    pub fn advance(&self, by: std::time::Duration) {
        let mut now = self.now.lock().unwrap();
        *now += by;
    }

    pub fn set(&self, at: OffsetDateTime) {
        *self.now.lock().unwrap() = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap()
    }
}
