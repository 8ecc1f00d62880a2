//! Serf's three broadcast queues (intents, queries, user events), drained in that order into
//! the room SWIM leaves in each packet. Each is memberlist's transmit-limited queue; Serf's
//! messages never supersede one another.
//!
//! Every `queue_check_interval` (30 s) each queue's depth is checked as Serf's
//! `checkQueueDepth` does: a warning at `queue_depth_warning` (128) and, above the limit
//! ([`DepthLimits::max_for`]), the oldest messages are dropped.

use bytes::Bytes;
use rumor_swim::broadcast::{BroadcastId, BroadcastQueue};
use rumor_swim::suspicion::retransmit_limit;
use rumor_wire::serf::SerfMessage;

/// The queue-depth settings of [`crate::SerfConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DepthLimits {
    /// Warn at this depth. 128.
    pub(crate) warning: usize,
    /// Keep at most this many (when `min` is 0). 4096.
    pub(crate) max: usize,
    /// When above 0, keep at most `max(2 × members, min)`. 0.
    pub(crate) min: usize,
}

impl Default for DepthLimits {
    fn default() -> Self {
        DepthLimits {
            warning: 128,
            max: 4096,
            min: 0,
        }
    }
}

impl DepthLimits {
    /// The depth limit with `members` known (Serf's `getQueueMax`).
    pub(crate) fn max_for(&self, members: usize) -> usize {
        if self.min > 0 {
            (2 * members).max(self.min)
        } else {
            self.max
        }
    }
}

/// What one queue check found: per queue (intents, events, queries) its depth before the
/// check and how many messages were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct DepthCheck {
    pub(crate) depth: [usize; 3],
    pub(crate) dropped: [usize; 3],
}

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
    /// Depth limits for [`Queues::check_depths`].
    pub(crate) limits: DepthLimits,
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

    /// Serf's periodic queue check, with `members` known: warn about deep queues and drop
    /// the oldest messages above the limit.
    pub(crate) fn check_depths(&mut self, members: usize) -> DepthCheck {
        let limits = self.limits;
        let max = limits.max_for(members);
        let mut out = DepthCheck::default();
        let queues = [
            ("Intent", &mut self.intents),
            ("Event", &mut self.events),
            ("Query", &mut self.queries),
        ];
        for (i, (name, q)) in queues.into_iter().enumerate() {
            let depth = q.len();
            out.depth[i] = depth;
            if depth >= limits.warning {
                tracing::warn!(queue = name, depth, "queue depth");
            }
            if depth > max {
                tracing::warn!(
                    queue = name,
                    depth,
                    limit = max,
                    "queue depth exceeds limit, dropping messages"
                );
                out.dropped[i] = q.prune(max);
            }
        }
        // A dropped watched intent counts as finished, as memberlist's Prune finishes it.
        let finished = self.intents.take_finished();
        if let Some((id, done)) = &mut self.watched {
            *done |= finished.contains(id);
        }
        self.events.take_finished();
        self.queries.take_finished();
        out
    }

    /// Drops the queued intents (join or leave) about any of `names`; returns how many.
    pub(crate) fn drop_intents_about(
        &mut self,
        names: &std::collections::BTreeSet<rumor_wire::Name>,
    ) -> usize {
        if names.is_empty() {
            return 0;
        }
        let dropped = self
            .intents
            .retain(|_, raw| match SerfMessage::decode(raw) {
                Ok(SerfMessage::Join(j)) => !names.contains(&j.node),
                Ok(SerfMessage::Leave(l)) => !names.contains(&l.node),
                _ => true,
            });
        let finished = self.intents.take_finished();
        if let Some((id, done)) = &mut self.watched {
            *done |= finished.contains(id);
        }
        dropped
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
    fn the_depth_limit_is_max_or_twice_the_members_with_a_floor() {
        let d = DepthLimits::default();
        assert_eq!((d.warning, d.max, d.min), (128, 4096, 0));
        assert_eq!(d.max_for(10_000), 4096, "min 0: the fixed maximum");
        let d = DepthLimits { min: 100, ..d };
        assert_eq!(d.max_for(10), 100, "2 x 10 = 20 < 100");
        assert_eq!(d.max_for(60), 120);
        assert_eq!(
            d.max_for(5000),
            10_000,
            "may exceed max_queue_depth, as Serf"
        );
    }

    #[test]
    fn the_check_drops_the_oldest_above_the_limit_in_each_queue() {
        let mut q = Queues::new(4);
        q.limits = DepthLimits {
            warning: 3,
            max: 5,
            min: 0,
        };
        for i in 0..8u8 {
            q.push_event_raw(Bytes::from(vec![b'e', i]));
        }
        for i in 0..5u8 {
            q.push_query_raw(Bytes::from(vec![b'q', i]));
        }
        q.push_intent_raw(Bytes::from_static(b"i"));
        let c = q.check_depths(3);
        assert_eq!(c.depth, [1, 8, 5]);
        assert_eq!(c.dropped, [0, 3, 0], "5 is at the limit, not above");
        assert_eq!(q.lens(), (1, 5, 5));
        // The newest five events survive (e3..e7): all unsent and equal in size.
        let out = q.take(0, 10_000, 3);
        let events: Vec<u8> = out.iter().filter(|b| b[0] == b'e').map(|b| b[1]).collect();
        assert_eq!(events, vec![7, 6, 5, 4, 3]);
        // With min_queue_depth the limit follows the member count: max(2 x 1, 2) = 2.
        q.limits.min = 2;
        let c = q.check_depths(1);
        assert_eq!(c.dropped, [0, 3, 3]);
        assert_eq!(q.lens(), (1, 2, 2));
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
