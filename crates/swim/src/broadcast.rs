//! The transmit-limited broadcast queue: which gossip goes out next.
//!
//! memberlist's rules: each message is sent `retransmit_limit(n)` times, then dropped; the
//! least-sent messages go first, and within that tier the largest that still fits, then the
//! newest. A new message about a member supersedes any queued one about the same member.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use rumor_wire::Name;

/// Identifies a queued broadcast whose completion someone waits for (a leave).
pub type BroadcastId = u64;

#[derive(Debug)]
struct Entry {
    msg: Bytes,
    transmits: u32,
    key: Option<Name>,
    /// Sent this many times `max_transmits` (a refutation: 2 by default; others 1).
    factor: u32,
}

/// Order key: fewest transmits first, then longest, then newest.
type Order = (u32, Reverse<usize>, Reverse<u64>);

/// The queue. Iteration order is fully determined by the inserted messages.
#[derive(Debug, Default)]
pub struct BroadcastQueue {
    order: BTreeSet<Order>,
    entries: HashMap<u64, Entry>,
    by_key: HashMap<Name, u64>,
    next_id: u64,
    /// Broadcasts that were sent their full count or superseded since the last drain.
    finished: Vec<BroadcastId>,
}

impl BroadcastQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queue `msg`; if `key` names a member, any queued message about it is dropped.
    /// Returns the id, reported by [`BroadcastQueue::take_finished`] once done.
    pub fn push(&mut self, key: Option<Name>, msg: Bytes) -> BroadcastId {
        self.push_times(key, msg, 1)
    }

    /// As [`BroadcastQueue::push`], but the message is sent `factor` times the usual count
    /// (at least once the usual count).
    pub fn push_times(&mut self, key: Option<Name>, msg: Bytes, factor: u32) -> BroadcastId {
        if let Some(k) = &key {
            if let Some(old) = self.by_key.remove(k) {
                self.remove(old);
            }
        }
        self.next_id += 1;
        let id = self.next_id;
        self.order.insert((0, Reverse(msg.len()), Reverse(id)));
        if let Some(k) = &key {
            self.by_key.insert(k.clone(), id);
        }
        self.entries.insert(
            id,
            Entry {
                msg,
                transmits: 0,
                key,
                factor: factor.max(1),
            },
        );
        id
    }

    fn remove(&mut self, id: u64) {
        if let Some(e) = self.entries.remove(&id) {
            self.order
                .remove(&(e.transmits, Reverse(e.msg.len()), Reverse(id)));
            if let Some(k) = &e.key {
                if self.by_key.get(k) == Some(&id) {
                    self.by_key.remove(k);
                }
            }
            self.finished.push(id);
        }
    }

    /// Drops the message queued about member `key`, if any (reported by
    /// [`BroadcastQueue::take_finished`]). Returns whether one was queued.
    pub fn remove_key(&mut self, key: &Name) -> bool {
        match self.by_key.get(key).copied() {
            Some(id) => {
                self.remove(id);
                true
            }
            None => false,
        }
    }

    /// Keeps only the messages `keep` accepts (given each message's key and bytes); the
    /// others are dropped as [`BroadcastQueue::remove_key`] drops. Returns how many were
    /// dropped.
    pub fn retain(&mut self, mut keep: impl FnMut(Option<&Name>, &Bytes) -> bool) -> usize {
        let mut drop: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| !keep(e.key.as_ref(), &e.msg))
            .map(|(id, _)| *id)
            .collect();
        // Ids in order, so `take_finished` reports them deterministically.
        drop.sort_unstable();
        for &id in &drop {
            self.remove(id);
        }
        drop.len()
    }

    /// Number of queued messages.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Take messages totalling at most `limit` bytes, counting `overhead` bytes for each.
    /// Each taken message's transmit count goes up; at `max_transmits` it leaves the queue.
    pub fn take(&mut self, overhead: usize, limit: usize, max_transmits: u32) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut used = 0usize;
        let mut tier = 0u32;
        let mut taken_ids = Vec::new();
        loop {
            if used + overhead >= limit {
                break;
            }
            let free = limit - used - overhead;
            // First entry at or after (tier, longest-that-fits, newest).
            let start = (tier, Reverse(free), Reverse(u64::MAX));
            let Some(&(t, Reverse(len), Reverse(id))) = self.order.range(start..).next() else {
                break;
            };
            if t != tier {
                // Nothing fits in this tier; try the next non-empty one.
                tier = t;
                continue;
            }
            self.order.remove(&(t, Reverse(len), Reverse(id)));
            taken_ids.push(id);
            used += len + overhead;
            if let Some(e) = self.entries.get(&id) {
                out.push(e.msg.clone());
            }
        }
        for id in taken_ids {
            let Some(e) = self.entries.get_mut(&id) else {
                continue;
            };
            e.transmits += 1;
            if e.transmits >= max_transmits.saturating_mul(e.factor) {
                let key = e.key.clone();
                self.entries.remove(&id);
                if let Some(k) = key {
                    if self.by_key.get(&k) == Some(&id) {
                        self.by_key.remove(&k);
                    }
                }
                self.finished.push(id);
            } else {
                self.order
                    .insert((e.transmits, Reverse(e.msg.len()), Reverse(id)));
            }
        }
        out
    }

    /// Ids of broadcasts finished (sent fully or superseded) since the last call.
    pub fn take_finished(&mut self) -> Vec<BroadcastId> {
        std::mem::take(&mut self.finished)
    }

    /// Drops messages until at most `max_retain` are left (memberlist's `Prune`): first those
    /// sent most often, then the shortest, then the oldest. Dropped ones are reported by
    /// [`BroadcastQueue::take_finished`]. Returns how many were dropped.
    pub fn prune(&mut self, max_retain: usize) -> usize {
        let mut dropped = 0;
        while self.entries.len() > max_retain {
            let Some(&(_, _, Reverse(id))) = self.order.last() else {
                break;
            };
            self.remove(id);
            dropped += 1;
        }
        dropped
    }

    /// Drop everything queued.
    pub fn reset(&mut self) {
        let ids: Vec<u64> = self.order.iter().map(|o| o.2 .0).collect();
        for id in ids {
            self.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(n: usize) -> Bytes {
        Bytes::from(vec![7u8; n])
    }

    #[test]
    fn fewest_transmits_then_largest_then_newest() {
        let mut q = BroadcastQueue::new();
        q.push(None, b(10));
        q.push(None, b(30));
        q.push(None, b(20));
        let got = q.take(2, 1000, 3);
        assert_eq!(
            got.iter().map(|m| m.len()).collect::<Vec<_>>(),
            vec![30, 20, 10]
        );
        q.push(None, b(5));
        let got = q.take(2, 1000, 3);
        assert_eq!(got[0].len(), 5, "never-sent messages first");
    }

    #[test]
    fn prune_drops_the_most_sent_then_shortest_then_oldest() {
        let mut q = BroadcastQueue::new();
        let old = q.push(None, b(10));
        let sent = q.push(None, b(40));
        q.take(2, 43, 5); // the 40-byte one goes out once
        let mid = q.push(None, b(10));
        let new = q.push(None, b(10));
        let long = q.push(None, b(20));
        assert_eq!(q.prune(10), 0);
        assert_eq!(q.prune(3), 2);
        assert_eq!(q.take_finished(), vec![sent, old]);
        assert_eq!(q.prune(1), 2);
        assert_eq!(q.take_finished(), vec![mid, new]);
        assert_eq!(q.take(2, 1000, 5), vec![b(20)]);
        let _ = long;
        assert_eq!(q.prune(0), 1);
        assert!(q.is_empty());
    }

    #[test]
    fn respects_budget_and_limit() {
        let mut q = BroadcastQueue::new();
        q.push(None, b(50));
        q.push(None, b(50));
        let got = q.take(2, 60, 2);
        assert_eq!(got.len(), 1);
        let got = q.take(2, 60, 2);
        assert_eq!(got.len(), 1);
        // Each has been sent once; two more takes retire both.
        q.take(2, 200, 2);
        assert!(q.is_empty());
        assert_eq!(q.take_finished().len(), 2);
    }

    #[test]
    fn newer_message_about_a_member_supersedes() {
        let mut q = BroadcastQueue::new();
        let first = q.push(Some("n1".into()), b(10));
        q.push(Some("n1".into()), b(12));
        assert_eq!(q.len(), 1);
        assert_eq!(q.take_finished(), vec![first]);
        let got = q.take(0, 100, 5);
        assert_eq!(got[0].len(), 12);
    }

    #[test]
    fn messages_are_removed_by_key_or_by_content() {
        let mut q = BroadcastQueue::new();
        let a = q.push(Some("a".into()), b(10));
        let n1 = q.push(None, b(11));
        let keep = q.push(Some("b".into()), b(12));
        let n2 = q.push(None, b(13));
        assert!(q.remove_key(&"a".into()));
        assert!(!q.remove_key(&"a".into()), "already gone");
        assert_eq!(q.take_finished(), vec![a]);
        assert_eq!(q.retain(|key, msg| key.is_some() || msg.len() == 20), 2);
        assert_eq!(q.take_finished(), vec![n1, n2]);
        assert_eq!(q.take(0, 100, 5), vec![b(12)]);
        assert!(q.remove_key(&"b".into()));
        assert_eq!(q.take_finished(), vec![keep]);
        assert!(q.is_empty());
    }

    #[test]
    fn skips_what_does_not_fit_but_takes_smaller() {
        let mut q = BroadcastQueue::new();
        q.push(None, b(100));
        q.push(None, b(10));
        let got = q.take(2, 50, 5);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].len(), 10);
    }
}
