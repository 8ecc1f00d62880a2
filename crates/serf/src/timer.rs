//! Serf's timers, in the core's timer table ([`rumor_swim::timer::TimerTable`]): the reaper
//! and the steps of a graceful leave as fixed timers, delayed prunes as keyed ones.

use rumor_swim::timer::{FixedTimer, TimerTable};
use rumor_wire::serf::LamportTime;
use rumor_wire::Name;

/// Serf's fixed timers. Later work adds snapshot flushes here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fixed {
    /// Reap failed and left members past their timeouts, and old buffered intents.
    Reap,
    /// Stop waiting for our leave intent to be gossiped.
    LeaveIntentTimeout,
    /// Stop waiting for memberlist's leave message to be gossiped.
    LeaveSwimTimeout,
    /// The leave has had time to propagate: we are left.
    LeavePropagated,
    /// Maybe try to reach a failed member again.
    Reconnect,
    /// Check the depth of the broadcast queues.
    QueueCheck,
}

impl FixedTimer for Fixed {
    const ALL: &'static [Fixed] = &[
        Fixed::Reap,
        Fixed::LeaveIntentTimeout,
        Fixed::LeaveSwimTimeout,
        Fixed::LeavePropagated,
        Fixed::Reconnect,
        Fixed::QueueCheck,
    ];
    fn slot(self) -> usize {
        self as usize
    }
}

/// Erase a pruned member that was leaving, unless a newer intent arrived since (its status
/// time then differs from the one recorded here).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Prune {
    /// The member.
    pub(crate) node: Name,
    /// Its status time when the prune was accepted.
    pub(crate) ltime: LamportTime,
}

/// Serf's timer table.
pub(crate) type Timers = TimerTable<Fixed, Prune>;
