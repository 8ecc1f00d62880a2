//! Queries, for now only as a relay: a query from a Serf agent is witnessed, deduped in the
//! 512-slot query ring and gossiped on (unless it says not to), so it spreads through us as
//! it would through a Serf node. We do not yet evaluate filters, ack, respond, or deliver it.

use rumor_wire::serf::{LamportTime, Query, QUERY_BUFFER_SIZE};

use crate::state::State;

/// Serf's `queryBuffer` plus `queryMinTime`: the ids seen per query time.
#[derive(Debug, Clone)]
pub(crate) struct QueryRing {
    slots: Vec<Option<(LamportTime, Vec<u32>)>>,
    /// Queries older than this are ignored.
    pub(crate) min_time: LamportTime,
}

impl Default for QueryRing {
    fn default() -> Self {
        QueryRing {
            slots: vec![None; QUERY_BUFFER_SIZE],
            min_time: 0,
        }
    }
}

impl QueryRing {
    /// Records the query if it is new; `now_time` is the query clock after witnessing it.
    pub(crate) fn accept(&mut self, ltime: LamportTime, id: u32, now_time: LamportTime) -> bool {
        if ltime < self.min_time {
            return false;
        }
        let size = QUERY_BUFFER_SIZE as LamportTime;
        if now_time > size && ltime < now_time - size {
            tracing::warn!(ltime, now_time, "received an old query");
            return false;
        }
        let Some(slot) = self.slots.get_mut((ltime % size) as usize) else {
            return false;
        };
        match slot {
            Some((t, ids)) if *t == ltime => {
                if ids.contains(&id) {
                    return false;
                }
                ids.push(id);
            }
            _ => *slot = Some((ltime, vec![id])),
        }
        true
    }
}

impl State {
    /// Handles a gossiped query. Returns whether to gossip it on.
    pub(crate) fn handle_query(&mut self, q: &Query) -> bool {
        self.query_clock.witness(q.ltime);
        let now_time = self.query_clock.time();
        if !self.query_ring.accept(q.ltime, q.id, now_time) {
            return false;
        }
        tracing::debug!(name = %q.name, ltime = q.ltime, from = %q.source_node, "query not answered (queries not supported yet)");
        !q.no_broadcast()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_by_time_and_id() {
        let mut r = QueryRing::default();
        assert!(r.accept(3, 7, 4));
        assert!(!r.accept(3, 7, 4));
        assert!(r.accept(3, 8, 4));
        assert!(!r.accept(3, 9, 1000), "too old");
    }
}
