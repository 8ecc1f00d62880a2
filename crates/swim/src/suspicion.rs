//! Lifeguard's dynamic suspicion timeout.
//!
//! A fresh suspicion waits the maximum; each independent confirmation (a suspect message
//! from another accuser) shrinks the wait logarithmically toward the minimum. The formulas
//! are memberlist's, to the millisecond.

use std::time::Duration;

use rumor_wire::Name;

use crate::time::Instant;

/// `SuspicionMult * max(1, log10(max(1, n))) * interval`, truncated to whole milliseconds
/// of scale as memberlist does.
pub fn suspicion_timeout(mult: u32, n: usize, interval: Duration) -> Duration {
    let scale = (n.max(1) as f64).log10().max(1.0);
    let scale_ms = (scale * 1000.0) as u64; // truncation is memberlist's
    interval.saturating_mul(mult) * (scale_ms as u32) / 1000
}

/// SWIM's paper: `mult * ceil(log10(n + 1)) * interval` (its §5 sets the suspicion timeout
/// to the piggyback limit, in protocol periods).
pub fn swim_suspicion_timeout(mult: u32, n: usize, interval: Duration) -> Duration {
    let scale = ((n as f64) + 1.0).log10().ceil() as u32;
    interval.saturating_mul(mult.saturating_mul(scale))
}

/// `RetransmitMult * ceil(log10(n + 1))`.
pub fn retransmit_limit(mult: u32, n: usize) -> u32 {
    let scale = ((n as f64) + 1.0).log10().ceil() as u32;
    mult * scale
}

/// One running suspicion of one member.
#[derive(Debug, Clone)]
pub struct Suspicion {
    /// Independent confirmations still counted: `SuspicionMult - 2`, or 0 in tiny pools.
    k: u32,
    min: Duration,
    max: Duration,
    start: Instant,
    /// Accusers seen so far (the first accuser is included and never counts).
    confirmers: Vec<Name>,
    /// When the member is declared dead unless refuted.
    deadline: Instant,
    /// The suspect's incarnation when suspicion started.
    pub incarnation: u32,
}

impl Suspicion {
    /// Start suspecting: `from` is the first accuser.
    pub fn new(
        now: Instant,
        from: Name,
        k: u32,
        min: Duration,
        max: Duration,
        incarnation: u32,
    ) -> Self {
        let timeout = if k >= 1 { max } else { min };
        Suspicion {
            k,
            min,
            max,
            start: now,
            confirmers: vec![from],
            deadline: now + timeout,
            incarnation,
        }
    }

    /// When the suspicion expires.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Number of independent confirmations so far.
    pub fn confirmations(&self) -> u32 {
        self.confirmers.len() as u32 - 1
    }

    /// Register an accusation by `from`. Returns true if it was new and counted (and so
    /// should be gossiped on); the deadline may move earlier.
    pub fn confirm(&mut self, from: &Name) -> bool {
        if self.confirmations() >= self.k {
            return false;
        }
        if self.confirmers.iter().any(|c| c == from) {
            return false;
        }
        self.confirmers.push(from.clone());
        let c = self.confirmations() as f64;
        let frac = (c + 1.0).ln() / (self.k as f64 + 1.0).ln();
        let span = self.max.saturating_sub(self.min).as_secs_f64();
        let raw = self.max.as_secs_f64() - frac * span;
        let ms = (raw * 1000.0).floor().max(0.0) as u64;
        let timeout = Duration::from_millis(ms).max(self.min);
        self.deadline = self.start + timeout;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_match_memberlist() {
        let s = Duration::from_secs(1);
        assert_eq!(suspicion_timeout(4, 3, s), Duration::from_secs(4));
        assert_eq!(suspicion_timeout(4, 100, s), Duration::from_secs(8));
        assert_eq!(suspicion_timeout(4, 1000, s), Duration::from_secs(12));
        assert_eq!(suspicion_timeout(4, 32, s), Duration::from_millis(6020));
        // SWIM's experiments: T' = 2 s, 3 ceil(log10(N+1)) periods: 12 s from 10 to 99.
        let t = Duration::from_secs(2);
        assert_eq!(swim_suspicion_timeout(3, 9, t), Duration::from_secs(6));
        assert_eq!(swim_suspicion_timeout(3, 10, t), Duration::from_secs(12));
        assert_eq!(swim_suspicion_timeout(3, 55, t), Duration::from_secs(12));
        assert_eq!(swim_suspicion_timeout(3, 99, t), Duration::from_secs(12));
        assert_eq!(swim_suspicion_timeout(3, 100, t), Duration::from_secs(18));
        assert_eq!(retransmit_limit(4, 1), 4);
        assert_eq!(retransmit_limit(4, 9), 4);
        assert_eq!(retransmit_limit(4, 10), 8);
        assert_eq!(retransmit_limit(4, 100), 12);
        assert_eq!(retransmit_limit(4, 10_000), 20);
    }

    #[test]
    fn confirmations_shrink_timeout() {
        let min = Duration::from_secs(4);
        let max = Duration::from_secs(24);
        let mut s = Suspicion::new(Instant::ZERO, "a".into(), 2, min, max, 1);
        assert_eq!(s.deadline(), Instant::from_millis(24_000));
        assert!(!s.confirm(&"a".into()), "the first accuser never counts");
        assert!(s.confirm(&"b".into()));
        assert_eq!(s.deadline(), Instant::from_millis(11_381));
        assert!(!s.confirm(&"b".into()), "duplicates do not count");
        assert!(s.confirm(&"c".into()));
        assert_eq!(s.deadline(), Instant::from_millis(4_000));
        assert!(!s.confirm(&"d".into()), "no more than k");
    }

    #[test]
    fn tiny_pool_starts_at_min() {
        let s = Suspicion::new(
            Instant::ZERO,
            "a".into(),
            0,
            Duration::from_secs(4),
            Duration::from_secs(24),
            1,
        );
        assert_eq!(s.deadline(), Instant::from_millis(4_000));
    }
}
