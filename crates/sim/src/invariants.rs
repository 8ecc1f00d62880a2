//! The bookkeeping behind the invariant checkers and the spread measurements:
//!
//! - [`IncarnationTable`]: the highest incarnation each observer has shown for each member,
//!   so a decrease (invariant 1) is caught on a member event or a periodic full scan;
//! - [`Spread`]: which live members know a piece of news (a crash, a join, a meta update),
//!   counted incrementally so "known by every live member" is O(1) to test;
//! - the false-positive classifier lives in `sim.rs`, next to the node states it reads,
//!   and convergence (invariant 3) is `Sim::convergence_issue`.

use rumor_swim::Instant;

/// A fixed-size set of node indexes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    pub(crate) fn new(n: usize) -> Self {
        Bitset {
            words: vec![0; n.div_ceil(64)],
        }
    }

    pub(crate) fn get(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Set bit `i`; true if it was clear.
    pub(crate) fn set(&mut self, i: usize) -> bool {
        let Some(w) = self.words.get_mut(i / 64) else {
            return false;
        };
        let bit = 1 << (i % 64);
        let was = *w & bit != 0;
        *w |= bit;
        !was
    }

    pub(crate) fn clear(&mut self, i: usize) {
        if let Some(w) = self.words.get_mut(i / 64) {
            *w &= !(1 << (i % 64));
        }
    }
}

/// What a [`Spread`] tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpreadKind {
    /// A crashed member declared dead (the index of its crash record).
    Dead(usize),
    /// A joined member known alive.
    Join,
    /// A meta update, known at this incarnation or later.
    Meta(u32),
}

/// One piece of news and the live members that know it. `count` counts only set bits of
/// members that are currently live and joined; the simulator keeps it so as members
/// crash, restart and join.
#[derive(Debug, Clone)]
pub(crate) struct Spread {
    pub(crate) kind: SpreadKind,
    pub(crate) member: u32,
    pub(crate) start: Instant,
    pub(crate) known: Bitset,
    pub(crate) count: usize,
    pub(crate) done: Option<Instant>,
}

impl Spread {
    pub(crate) fn new(kind: SpreadKind, member: u32, start: Instant, n: usize) -> Self {
        Spread {
            kind,
            member,
            start,
            known: Bitset::new(n),
            count: 0,
            done: None,
        }
    }
}

/// Highest incarnation each observer has shown for each member: `n * n` `u32`s, 0 = none
/// seen (incarnations start at 1 for a live member, and 0 only for a placeholder entry).
#[derive(Debug, Default)]
pub(crate) struct IncarnationTable {
    n: usize,
    seen: Vec<u32>,
}

impl IncarnationTable {
    pub(crate) fn new(n: usize) -> Self {
        IncarnationTable {
            n,
            seen: vec![0; n * n],
        }
    }

    pub(crate) fn is_enabled(&self) -> bool {
        !self.seen.is_empty()
    }

    /// Record that `observer` shows `member` at `inc`. Returns the previous maximum if
    /// `inc` is lower (a violation).
    pub(crate) fn observe(&mut self, observer: usize, member: usize, inc: u32) -> Option<u32> {
        let slot = self.seen.get_mut(observer * self.n + member)?;
        if inc < *slot {
            return Some(*slot);
        }
        *slot = inc;
        None
    }

    /// Forget everything about `node` as observer and as member (it restarted: a new
    /// process whose own counter starts again, legitimately, at 1).
    pub(crate) fn forget(&mut self, node: usize) {
        if !self.is_enabled() {
            return;
        }
        let n = self.n;
        for x in &mut self.seen[node * n..(node + 1) * n] {
            *x = 0;
        }
        for o in 0..n {
            self.seen[o * n + node] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitset_sets_once() {
        let mut b = Bitset::new(130);
        assert!(b.set(129));
        assert!(!b.set(129));
        assert!(b.get(129));
        assert!(!b.get(128));
        b.clear(129);
        assert!(!b.get(129));
        assert!(!b.set(1000));
    }

    #[test]
    fn table_flags_decrease() {
        let mut t = IncarnationTable::new(3);
        assert_eq!(t.observe(0, 1, 2), None);
        assert_eq!(t.observe(0, 1, 2), None);
        assert_eq!(t.observe(0, 1, 1), Some(2));
        t.forget(1);
        assert_eq!(t.observe(0, 1, 1), None);
    }
}
