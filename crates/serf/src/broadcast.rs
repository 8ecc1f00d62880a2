//! Serf's three broadcast queues (intents, queries, user events), drained in that order into
//! the room SWIM leaves in each packet. Each is memberlist's transmit-limited queue; Serf's
//! messages never supersede one another.

use bytes::Bytes;
use rumor_swim::broadcast::{BroadcastId, BroadcastQueue};
use rumor_swim::suspicion::retransmit_limit;
use rumor_wire::serf::SerfMessage;

/// The queues.
#[derive(Debug, Default)]
pub(crate) struct Queues {
    intents: BroadcastQueue,
    queries: BroadcastQueue,
    events: BroadcastQueue,
    /// `RetransmitMult` of the pool.
    pub(crate) retransmit_mult: u32,
    /// The intent broadcast someone waits for (our leave), and whether it is done.
    watched: Option<(BroadcastId, bool)>,
}

impl Queues {
    /// Empty queues for a pool with this `RetransmitMult`.
    pub(crate) fn new(retransmit_mult: u32) -> Self {
        Queues {
            retransmit_mult,
            ..Queues::default()
        }
    }

    /// Queues an intent (encoded here); returns its id.
    pub(crate) fn push_intent(&mut self, msg: &SerfMessage) -> BroadcastId {
        self.intents.push(None, msg.to_shared())
    }

    /// Queues an intent whose completion [`Queues::watched_done`] reports (our leave).
    pub(crate) fn push_intent_watched(&mut self, msg: &SerfMessage) {
        let id = self.push_intent(msg);
        self.watched = Some((id, false));
    }

    /// Whether the watched intent has been sent its full count.
    pub(crate) fn watched_done(&self) -> bool {
        matches!(self.watched, Some((_, true)))
    }

    /// Queues exact received bytes of an intent for rebroadcast.
    pub(crate) fn push_intent_raw(&mut self, raw: Bytes) {
        self.intents.push(None, raw);
    }

    /// Queues a user event (encoded bytes).
    pub(crate) fn push_event_raw(&mut self, raw: Bytes) {
        self.events.push(None, raw);
    }

    /// Queues a query (encoded bytes).
    pub(crate) fn push_query_raw(&mut self, raw: Bytes) {
        self.queries.push(None, raw);
    }

    /// Fills up to `limit` bytes, each message costing `overhead` more: intents first, then
    /// queries, then events (Serf's `GetBroadcasts`). Each is sent
    /// `retransmit_limit(num_nodes)` times, where `num_nodes` is Serf's `NumNodes`: every
    /// member Serf knows, failed and left ones included.
    pub(crate) fn take(&mut self, overhead: usize, limit: usize, num_nodes: usize) -> Vec<Bytes> {
        let max = retransmit_limit(self.retransmit_mult, num_nodes);
        let mut out = self.intents.take(overhead, limit, max);
        let finished = self.intents.take_finished();
        if let Some((id, done)) = &mut self.watched {
            *done |= finished.contains(id);
        }
        for q in [&mut self.queries, &mut self.events] {
            let used: usize = out.iter().map(|b| b.len() + overhead).sum();
            if used >= limit {
                break;
            }
            out.extend(q.take(overhead, limit - used, max));
            q.take_finished();
        }
        out
    }

    /// Lengths of the intent, event and query queues.
    pub(crate) fn lens(&self) -> (usize, usize, usize) {
        (self.intents.len(), self.events.len(), self.queries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(out: &[Bytes], what: &[u8]) -> usize {
        out.iter().filter(|b| &b[..] == what).count()
    }

    #[test]
    fn intents_first_then_queries_then_events() {
        let mut q = Queues::new(4);
        q.push_event_raw(Bytes::from_static(b"e"));
        q.push_query_raw(Bytes::from_static(b"q"));
        q.push_intent_raw(Bytes::from_static(b"i"));
        let out = q.take(2, 1000, 1);
        assert_eq!(out, vec![&b"i"[..], &b"q"[..], &b"e"[..]]);
        // Room for one only: the intent.
        let out = q.take(2, 3, 1);
        assert_eq!(out, vec![&b"i"[..]]);
    }

    #[test]
    fn retransmits_count_every_member_serf_knows() {
        // Serf's NumNodes counts failed and left members too: with 10 known (say 1 alive and
        // 9 failed) a message goes out 4 x ceil(log10(11)) = 8 times, not 4.
        for (known, sends) in [(1, 4), (9, 4), (10, 8), (100, 12)] {
            let mut q = Queues::new(4);
            q.push_event_raw(Bytes::from_static(b"e"));
            let mut sent = 0;
            for _ in 0..20 {
                sent += count(&q.take(2, 1000, known), b"e");
            }
            assert_eq!(sent, sends, "{known} members known");
        }
    }

    #[test]
    fn the_watched_intent_reports_when_done() {
        let mut q = Queues::new(1);
        let msg = SerfMessage::Leave(rumor_wire::serf::LeaveIntent {
            ltime: 3,
            node: "me".into(),
            prune: false,
        });
        q.push_intent_watched(&msg);
        assert!(!q.watched_done());
        assert_eq!(q.take(2, 1000, 1).len(), 1);
        // RetransmitMult 1, one member: one send, then done at the next take.
        q.take(2, 1000, 1);
        assert!(q.watched_done());
    }
}
