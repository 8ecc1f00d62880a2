//! Serf's own timers, beside the SWIM core's: the reaper, the steps of a graceful leave, and
//! delayed prunes. Stale entries (a leave step already passed, a prune overtaken by a newer
//! intent) are recognised when they fire and ignored.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rumor_swim::Instant;
use rumor_wire::serf::LamportTime;
use rumor_wire::Name;

/// One timer. Later work adds reconnect, queue checks and snapshot flushes here.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// Reap failed and left members past their timeouts, and old buffered intents.
    Reap,
    /// Stop waiting for our leave intent to be gossiped.
    LeaveIntentTimeout,
    /// Stop waiting for memberlist's leave message to be gossiped.
    LeaveSwimTimeout,
    /// The leave has had time to propagate: we are left.
    LeavePropagated,
    /// Erase a pruned member that was leaving, unless a newer intent arrived since.
    Prune {
        /// The member.
        node: Name,
        /// Its status time when the prune was accepted.
        ltime: LamportTime,
    },
}

/// A min-heap of deadlines.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Timer)>>,
}

impl Timers {
    /// Arms `timer` at `at`.
    pub(crate) fn schedule(&mut self, at: Instant, timer: Timer) {
        self.heap.push(Reverse((at, timer)));
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Removes and returns a timer due at or before `now`, with its deadline.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, Timer)> {
        match self.heap.peek() {
            Some(Reverse((t, _))) if *t <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }
}
