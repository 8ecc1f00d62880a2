//! The event queue: a binary heap keyed on (virtual time, sequence number), so events at
//! the same instant run in the order they were scheduled and every run is reproducible.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rumor_swim::{Instant, StreamId};

use crate::action::Action;

/// What happens when an entry comes due.
#[derive(Debug)]
pub(crate) enum Ev {
    /// A node's timer; ignored unless `token` is the node's current one.
    Wake { node: u32, token: u32 },
    /// A datagram arrives.
    Packet { to: u32, from: u32, data: Vec<u8> },
    /// A stream's request arrives at the responder.
    StreamOpen {
        to: u32,
        from: u32,
        id: StreamId,
        data: Vec<u8>,
        expect_reply: bool,
    },
    /// A stream's reply arrives back at the dialer.
    StreamReply {
        to: u32,
        id: StreamId,
        data: Vec<u8>,
    },
    /// A stream fails at the dialer: its deadline passed, or the connection was refused.
    StreamFail {
        node: u32,
        id: StreamId,
        reason: &'static str,
    },
    /// A paused node resumes.
    Resume { node: u32 },
    /// A leaving node shuts down.
    Shutdown { node: u32 },
    /// The periodic invariant scan.
    Check,
    /// A scheduled fault or command.
    Action(Action),
}

#[derive(Debug)]
struct Entry {
    at: Instant,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    /// Reversed, so the max-heap pops the earliest (time, seq) first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The pending events of a simulation.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    heap: BinaryHeap<Entry>,
    seq: u64,
}

impl Queue {
    pub(crate) fn push(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        self.heap.push(Entry {
            at,
            seq: self.seq,
            ev,
        });
    }

    /// Time of the earliest entry.
    pub(crate) fn peek_time(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.at)
    }

    /// The earliest entry, if it is due at or before `until`.
    pub(crate) fn pop_until(&mut self, until: Instant) -> Option<(Instant, Ev)> {
        if self.heap.peek()?.at > until {
            return None;
        }
        self.heap.pop().map(|e| (e.at, e.ev))
    }

    /// Number of pending entries.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_break_by_insertion_order() {
        let mut q = Queue::default();
        let t = Instant::from_millis(5);
        q.push(t, Ev::Wake { node: 2, token: 0 });
        q.push(Instant::from_millis(1), Ev::Check);
        q.push(t, Ev::Wake { node: 1, token: 0 });
        assert!(matches!(q.pop_until(t), Some((_, Ev::Check))));
        assert!(matches!(
            q.pop_until(t),
            Some((_, Ev::Wake { node: 2, .. }))
        ));
        assert!(q.pop_until(Instant::from_millis(4)).is_none());
        assert!(matches!(
            q.pop_until(t),
            Some((_, Ev::Wake { node: 1, .. }))
        ));
        assert_eq!(q.len(), 0);
    }
}
