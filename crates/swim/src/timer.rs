//! The timer table every rumor core uses (SWIM's node and the Serf layer alike).
//!
//! Two kinds of deadline, as quinn-proto's `TimerTable` and foca's keyed timers:
//!
//! - **fixed timers**, one slot per variant of a small enum (the probe tick, the gossip
//!   round, the leave steps): armed, re-armed or stopped in place;
//! - **keyed timers**, any number of them, one per key (a suspicion per member, a relayed
//!   ping per sequence number): setting a key again moves its deadline, cancelling removes
//!   it for real.
//!
//! Nothing stale is ever left behind, so [`TimerTable::next`] is exact: the earliest armed
//! deadline, never an earlier one. That is what `poll_timeout` of every core returns.

use std::collections::{BTreeMap, BTreeSet};

use crate::time::Instant;

/// An enum of fixed timers: each variant is one slot of the table.
pub trait FixedTimer: Copy + Eq + std::fmt::Debug + 'static {
    /// Every variant, in slot order (`ALL[t.slot()] == t`).
    const ALL: &'static [Self];
    /// The variant's slot, `0..ALL.len()`.
    fn slot(self) -> usize;
}

/// A timer that came due, as [`TimerTable::expire`] hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expired<F, K> {
    /// A fixed timer, with the deadline it was armed for.
    Fixed(F, Instant),
    /// A keyed timer, with the deadline it was armed for.
    Keyed(K, Instant),
}

/// Fixed timers `F` and keyed timers `K`. See the module docs.
#[derive(Debug, Clone)]
pub struct TimerTable<F: FixedTimer, K: Ord + Clone> {
    fixed: Vec<Option<Instant>>,
    keyed: BTreeMap<K, Instant>,
    order: BTreeSet<(Instant, K)>,
    _fixed: std::marker::PhantomData<F>,
}

impl<F: FixedTimer, K: Ord + Clone> Default for TimerTable<F, K> {
    fn default() -> Self {
        TimerTable {
            fixed: vec![None; F::ALL.len()],
            keyed: BTreeMap::new(),
            order: BTreeSet::new(),
            _fixed: std::marker::PhantomData,
        }
    }
}

impl<F: FixedTimer, K: Ord + Clone> TimerTable<F, K> {
    /// A table with nothing armed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms fixed timer `t` at `at`, replacing its previous deadline.
    pub fn set(&mut self, t: F, at: Instant) {
        self.fixed[t.slot()] = Some(at);
    }

    /// Stops fixed timer `t`.
    pub fn stop(&mut self, t: F) {
        self.fixed[t.slot()] = None;
    }

    /// The deadline of fixed timer `t`, if armed.
    pub fn get(&self, t: F) -> Option<Instant> {
        self.fixed[t.slot()]
    }

    /// Arms the timer of `key` at `at`, replacing its previous deadline.
    pub fn set_key(&mut self, key: K, at: Instant) {
        if let Some(old) = self.keyed.insert(key.clone(), at) {
            self.order.remove(&(old, key.clone()));
        }
        self.order.insert((at, key));
    }

    /// Cancels the timer of `key`. Returns whether it was armed.
    pub fn cancel_key(&mut self, key: &K) -> bool {
        match self.keyed.remove(key) {
            Some(at) => {
                self.order.remove(&(at, key.clone()));
                true
            }
            None => false,
        }
    }

    /// The deadline of `key`'s timer, if armed.
    pub fn get_key(&self, key: &K) -> Option<Instant> {
        self.keyed.get(key).copied()
    }

    /// Number of keyed timers armed.
    pub fn keyed_len(&self) -> usize {
        self.keyed.len()
    }

    /// The earliest armed deadline: exact, since nothing stale is kept.
    pub fn next(&self) -> Option<Instant> {
        let fixed = self.fixed.iter().flatten().min().copied();
        let keyed = self.order.first().map(|(at, _)| *at);
        match (fixed, keyed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Disarms and returns the earliest timer due at or before `now`. A fixed timer wins a
    /// tie with a keyed one, and fixed timers tie-break by slot, so the order is fully
    /// determined.
    pub fn expire(&mut self, now: Instant) -> Option<Expired<F, K>> {
        let fixed = self
            .fixed
            .iter()
            .enumerate()
            .filter_map(|(i, at)| at.map(|at| (at, i)))
            .min();
        let keyed = self.order.first().map(|(at, _)| *at);
        match (fixed, keyed) {
            (Some((at, i)), k) if at <= now && !matches!(k, Some(k) if k < at) => {
                self.fixed[i] = None;
                Some(Expired::Fixed(F::ALL[i], at))
            }
            (_, Some(at)) if at <= now => {
                let (at, key) = self.order.pop_first()?;
                self.keyed.remove(&key);
                Some(Expired::Keyed(key, at))
            }
            _ => None,
        }
    }
}

/// The next deadline of a periodic timer armed for `at` that fires at `now`: one interval
/// after `at`, or after `now` if the caller is so late that it would already have passed
/// (as a Go ticker drops the ticks it missed).
pub fn periodic_next(at: Instant, now: Instant, interval: std::time::Duration) -> Instant {
    let next = at + interval;
    if next > now {
        next
    } else {
        now + interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum T {
        A,
        B,
    }
    impl FixedTimer for T {
        const ALL: &'static [T] = &[T::A, T::B];
        fn slot(self) -> usize {
            self as usize
        }
    }

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn next_is_exact_after_cancel_and_move() {
        let mut t: TimerTable<T, u32> = TimerTable::new();
        assert_eq!(t.next(), None);
        t.set(T::B, ms(50));
        t.set_key(7, ms(10));
        t.set_key(8, ms(20));
        assert_eq!(t.next(), Some(ms(10)));
        assert!(t.cancel_key(&7));
        assert!(!t.cancel_key(&7));
        assert_eq!(t.next(), Some(ms(20)));
        t.set_key(8, ms(60)); // moved later: the old deadline is gone
        assert_eq!(t.next(), Some(ms(50)));
        t.stop(T::B);
        assert_eq!(t.next(), Some(ms(60)));
        assert_eq!(t.keyed_len(), 1);
    }

    #[test]
    fn expire_in_deadline_order_fixed_first_on_ties() {
        let mut t: TimerTable<T, u32> = TimerTable::new();
        t.set(T::B, ms(10));
        t.set(T::A, ms(10));
        t.set_key(1, ms(10));
        t.set_key(2, ms(5));
        assert_eq!(t.expire(ms(4)), None);
        assert_eq!(t.expire(ms(10)), Some(Expired::Keyed(2, ms(5))));
        assert_eq!(t.expire(ms(10)), Some(Expired::Fixed(T::A, ms(10))));
        assert_eq!(t.expire(ms(10)), Some(Expired::Fixed(T::B, ms(10))));
        assert_eq!(t.expire(ms(10)), Some(Expired::Keyed(1, ms(10))));
        assert_eq!(t.expire(ms(10)), None);
        assert_eq!(t.next(), None);
    }

    #[test]
    fn periodic_skips_missed_ticks() {
        let i = Duration::from_millis(100);
        assert_eq!(periodic_next(ms(100), ms(100), i), ms(200));
        assert_eq!(periodic_next(ms(100), ms(250), i), ms(350));
    }
}
