//! Lamport clocks: Serf's logical time. Three run side by side (member, event, query).

use rumor_wire::serf::LamportTime;

/// A Lamport clock (Go `LamportClock`): a counter that only moves forward, either by a
/// local increment or by witnessing a time seen from another member.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LamportClock {
    counter: LamportTime,
}

impl LamportClock {
    /// A clock at zero. Serf increments each clock to 1 at start.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current time.
    pub fn time(&self) -> LamportTime {
        self.counter
    }

    /// Moves the clock forward by one and returns the new time.
    pub fn increment(&mut self) -> LamportTime {
        self.counter = self.counter.saturating_add(1);
        self.counter
    }

    /// Witnesses a time seen elsewhere: if `v` is at or past the current time, the clock
    /// becomes `v + 1`; an older `v` changes nothing.
    pub fn witness(&mut self, v: LamportTime) {
        if v >= self.counter {
            self.counter = v.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn witness_rules() {
        let mut c = LamportClock::new();
        assert_eq!(c.time(), 0);
        assert_eq!(c.increment(), 1);
        c.witness(0);
        assert_eq!(c.time(), 1, "an older time changes nothing");
        c.witness(1);
        assert_eq!(c.time(), 2, "the current time moves the clock past it");
        c.witness(10);
        assert_eq!(c.time(), 11);
        c.witness(5);
        assert_eq!(c.time(), 11);
        c.witness(u64::MAX);
        assert_eq!(c.time(), u64::MAX, "saturates instead of wrapping");
    }
}
