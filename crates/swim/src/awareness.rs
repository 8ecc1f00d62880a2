//! Lifeguard's local health ("awareness"): a score that rises when this member seems to be
//! the slow one (missed nacks, refuting accusations) and stretches its own probe timing.

use std::time::Duration;

/// Local health score in `0..max`. Zero is healthy.
#[derive(Debug, Clone, Copy)]
pub struct Awareness {
    score: u32,
    max: u32,
}

impl Awareness {
    /// A healthy score with the given multiplier limit (memberlist's `AwarenessMaxMultiplier`).
    pub fn new(max: u32) -> Self {
        Awareness {
            score: 0,
            max: max.max(1),
        }
    }

    /// Add `delta` (may be negative), clamped to `0..max`.
    pub fn apply(&mut self, delta: i64) {
        let s = (self.score as i64 + delta).clamp(0, self.max as i64 - 1);
        self.score = s as u32;
    }

    /// The current score.
    pub fn score(&self) -> u32 {
        self.score
    }

    /// `d * (score + 1)`: how far timeouts stretch at this health.
    pub fn scale(&self, d: Duration) -> Duration {
        d.saturating_mul(self.score + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_and_scales() {
        let mut a = Awareness::new(8);
        a.apply(-1);
        assert_eq!(a.score(), 0);
        a.apply(3);
        assert_eq!(a.scale(Duration::from_secs(1)), Duration::from_secs(4));
        a.apply(100);
        assert_eq!(a.score(), 7);
    }
}
