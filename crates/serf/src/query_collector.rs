//! The response collector of a query we sent (Serf's `QueryResponse`): keyed by the query's
//! time in [`crate::state::State`], it accepts acks and responses carrying the query's id
//! until the deadline, one of each per sender (relayed duplicates are dropped).

use std::collections::BTreeSet;

use rumor_swim::Instant;
use rumor_wire::Name;

use crate::conflict::ConflictVote;

/// Why we sent the query: whose answers these are.
#[derive(Debug, Clone)]
pub(crate) enum Purpose {
    /// A query of the application: answers become events.
    User,
    /// Our own `_serf_conflict` vote: answers are counted here, never emitted.
    Conflict(ConflictVote),
}

/// See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Collector {
    /// The query's id (answers with another id are dropped).
    pub(crate) id: u32,
    /// Whether the query asked for acks (acks to a query that did not are dropped, as
    /// Serf's nil ack channel drops them).
    want_ack: bool,
    /// When it closes.
    pub(crate) deadline: Instant,
    /// Who acked.
    acks: BTreeSet<Name>,
    /// Who responded.
    responses: BTreeSet<Name>,
    /// Whose answers these are.
    pub(crate) purpose: Purpose,
}

impl Collector {
    /// An open collector for query `id`.
    pub(crate) fn new(id: u32, want_ack: bool, deadline: Instant, purpose: Purpose) -> Self {
        Collector {
            id,
            want_ack,
            deadline,
            acks: BTreeSet::new(),
            responses: BTreeSet::new(),
            purpose,
        }
    }

    /// Records an ack; false if it is to be dropped (not asked for, or a duplicate).
    pub(crate) fn add_ack(&mut self, from: &Name) -> bool {
        if !self.want_ack {
            tracing::warn!(%from, "ack to a query that asked for none; dropped");
            return false;
        }
        self.acks.insert(from.clone())
    }

    /// Records a response; false for a second one from the same sender.
    pub(crate) fn add_response(&mut self, from: &Name) -> bool {
        self.responses.insert(from.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_ack_and_one_response_per_sender() {
        let mut c = Collector::new(7, true, Instant::ZERO, Purpose::User);
        let a = Name::from("a");
        let b = Name::from("b");
        assert!(c.add_ack(&a));
        assert!(!c.add_ack(&a), "duplicate ack");
        assert!(c.add_ack(&b));
        assert!(c.add_response(&a), "an ack does not count as a response");
        assert!(!c.add_response(&a), "first response wins");
        assert!(c.add_response(&b));
    }

    #[test]
    fn acks_to_a_query_without_ack_are_dropped() {
        let mut c = Collector::new(7, false, Instant::ZERO, Purpose::User);
        assert!(!c.add_ack(&Name::from("a")));
        assert!(c.add_response(&Name::from("a")));
    }
}
