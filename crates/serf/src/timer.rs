//! Serf's timers, in the core's timer table ([`rumor_swim::timer::TimerTable`]): the reaper
//! and the steps of a graceful leave as fixed timers; delayed prunes, the close of a query of
//! ours and the end of a received query's answer window as keyed ones ([`Keyed`]).

use rumor_swim::timer::{FixedTimer, TimerTable};
use rumor_swim::Instant;
use rumor_wire::serf::LamportTime;
use rumor_wire::Name;

/// Serf's fixed timers. Later work adds reconnect, queue checks and snapshot flushes here.
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
}

impl FixedTimer for Fixed {
    const ALL: &'static [Fixed] = &[
        Fixed::Reap,
        Fixed::LeaveIntentTimeout,
        Fixed::LeaveSwimTimeout,
        Fixed::LeavePropagated,
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

/// Serf's keyed timers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Keyed {
    /// Erase a pruned member (see [`Prune`]).
    Prune(Prune),
    /// A query of ours (by its query time) reaches its deadline: its collector closes.
    QueryClose(LamportTime),
    /// A query delivered to us (time, id) reaches its deadline: it can no longer be answered.
    QueryExpire(LamportTime, u32),
}

impl From<Prune> for Keyed {
    fn from(p: Prune) -> Keyed {
        Keyed::Prune(p)
    }
}

/// Serf's timer table: fixed timers [`Fixed`], keyed timers [`Keyed`].
#[derive(Debug, Default)]
pub(crate) struct Timers(TimerTable<Fixed, Keyed>);

impl Timers {
    /// Arms (or moves) a keyed timer.
    pub(crate) fn set_key(&mut self, key: impl Into<Keyed>, at: Instant) {
        self.0.set_key(key.into(), at);
    }
}

impl std::ops::Deref for Timers {
    type Target = TimerTable<Fixed, Keyed>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Timers {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}
