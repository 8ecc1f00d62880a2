//! Time: the pool's [`Clock`] (tokio's clock mapped onto the core's opaque
//! [`rumor_swim::Instant`]) and the timer task that calls `handle_timeout`.

use std::sync::Arc;

use rumor_swim::Instant;

use crate::core::DriverCore;
use crate::pool::Shared;

/// Maps tokio's monotonic clock onto core instants: a core instant is the time since the pool
/// was bound. Built on `tokio::time`, so tests may pause and advance it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    start: tokio::time::Instant,
}

impl Clock {
    pub(crate) fn start() -> Self {
        Clock {
            start: tokio::time::Instant::now(),
        }
    }

    /// Now, as the core counts time.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_duration(self.start.elapsed())
    }

    /// A core instant on tokio's clock.
    pub(crate) fn to_tokio(self, t: Instant) -> tokio::time::Instant {
        self.start + t.as_duration()
    }
}

/// Shortest pause between two timer runs when the core keeps reporting a due deadline.
const MIN_REARM: std::time::Duration = std::time::Duration::from_millis(1);

/// Sleep until the armed deadline, run the core's timers, repeat. Any input that moves the
/// earliest deadline earlier wakes this task through `Shared::timer`; a deadline that moved
/// later only makes it wake early, which the core allows.
pub(crate) async fn timer_loop<C: DriverCore>(shared: Arc<Shared<C>>) {
    loop {
        let armed = shared.lock().armed;
        let sleep = async {
            match armed {
                Some(t) => tokio::time::sleep_until(shared.clock.to_tokio(t)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shared.cancel.cancelled() => break,
            // A `notify_one` sent since `armed` was read is kept as a permit, so it is not lost.
            _ = shared.timer.notified() => {}
            _ = sleep => {
                if shared.fire_timers().is_some_and(|next| next <= shared.clock.now()) {
                    // A core whose next deadline is already due after running its timers
                    // would spin this task; give the rest of the pool a turn.
                    tracing::debug!("core deadline still due after handle_timeout");
                    tokio::time::sleep(MIN_REARM).await;
                }
            }
        }
    }
}
