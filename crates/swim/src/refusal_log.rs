//! Rate-limited warnings about refused members: an operator should hear that the guard keeps
//! refusing a member (a misconfigured datacenter, a peer carrying another pool's members),
//! but a member gossiped about many times a second must not flood the log.
//!
//! [`RefusalLog`] remembers, per member name, when it last warned; it warns again only once
//! [`WARN_EVERY`] of `now` has passed. The map is bounded by [`MAX_NAMES`]: when full, names
//! whose warning has expired are forgotten first, then the oldest.
//!
//! It also remembers, for [`STALE_FOR`], the members removed because they restarted into
//! another pool, with the incarnation they were refused at: the rest of the pool may still
//! hold them as they were before (same name, older incarnation, tags the guard accepts) and
//! gossip that back. Such a stale alive is not news; without this memory it would re-add
//! the member, and members holding the old and the new record would pass it back and forth
//! for as long as any of them still had the old one.

use std::collections::BTreeMap;
use std::time::Duration;

use rumor_wire::Name;

use crate::time::Instant;

/// At most one warning per member name in this much time.
pub(crate) const WARN_EVERY: Duration = Duration::from_secs(60);

/// At most this many names are remembered.
pub(crate) const MAX_NAMES: usize = 1024;

/// A member removed because it restarted into another pool is not re-added from records
/// no newer than the one refused, for this long.
pub(crate) const STALE_FOR: Duration = Duration::from_secs(60);

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct RefusalLog {
    last: BTreeMap<Name, Instant>,
    removed: BTreeMap<Name, (u32, Instant)>,
}

impl RefusalLog {
    /// Whether to warn now about a refusal of `name` (and if so, remember that we did).
    pub(crate) fn should_warn(&mut self, now: Instant, name: &Name) -> bool {
        if let Some(at) = self.last.get(name) {
            if now.saturating_duration_since(*at) < WARN_EVERY {
                return false;
            }
        }
        make_room(&mut self.last, name, now, WARN_EVERY, |at| *at);
        self.last.insert(name.clone(), now);
        true
    }

    /// Remember that `name` was removed because the guard refused it at `incarnation`.
    pub(crate) fn removed(&mut self, now: Instant, name: &Name, incarnation: u32) {
        make_room(&mut self.removed, name, now, STALE_FOR, |(_, at)| *at);
        self.removed.insert(name.clone(), (incarnation, now));
    }

    /// Whether an alive of `name` at `incarnation` is an old record of a member removed
    /// for a refusal less than [`STALE_FOR`] ago (so: to be ignored).
    pub(crate) fn is_stale(&self, now: Instant, name: &Name, incarnation: u32) -> bool {
        self.removed.get(name).is_some_and(|(inc, at)| {
            incarnation <= *inc && now.saturating_duration_since(*at) < STALE_FOR
        })
    }

    /// Number of names remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.last.len()
    }
}

/// Before `name` is inserted into a full `map` (of [`MAX_NAMES`]): entries older than `ttl`
/// go first, then, if still full, the oldest (`at` gives an entry's time).
fn make_room<V>(
    map: &mut BTreeMap<Name, V>,
    name: &Name,
    now: Instant,
    ttl: Duration,
    at: impl Fn(&V) -> Instant,
) {
    if map.contains_key(name) || map.len() < MAX_NAMES {
        return;
    }
    map.retain(|_, v| now.saturating_duration_since(at(v)) < ttl);
    if map.len() >= MAX_NAMES {
        let oldest = map
            .iter()
            .min_by_key(|(n, v)| (at(v), (*n).clone()))
            .map(|(n, _)| n.clone());
        if let Some(n) = oldest {
            map.remove(&n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> Instant {
        Instant::from_millis(s * 1000)
    }

    #[test]
    fn once_per_name_per_minute() {
        let mut log = RefusalLog::default();
        let a = Name::from("a");
        let b = Name::from("b");
        assert!(log.should_warn(t(0), &a));
        assert!(!log.should_warn(t(0), &a));
        assert!(log.should_warn(t(1), &b), "another name is warned about");
        assert!(!log.should_warn(t(59), &a));
        assert!(log.should_warn(t(60), &a), "exactly 60 s later");
        assert!(log.should_warn(t(61), &b));
        assert!(!log.should_warn(t(119), &a));
        assert!(log.should_warn(t(120), &a));
    }

    #[test]
    fn a_removed_member_is_stale_up_to_its_incarnation_for_a_minute() {
        let mut log = RefusalLog::default();
        let x = Name::from("x");
        assert!(!log.is_stale(t(0), &x, 0));
        log.removed(t(10), &x, 5);
        assert!(log.is_stale(t(10), &x, 4));
        assert!(log.is_stale(t(10), &x, 5));
        assert!(!log.is_stale(t(10), &x, 6), "newer is news");
        assert!(!log.is_stale(t(10), &Name::from("y"), 0));
        assert!(log.is_stale(t(69), &x, 5));
        assert!(!log.is_stale(t(70), &x, 5), "exactly 60 s later");
        for i in 0..MAX_NAMES + 10 {
            log.removed(t(80), &Name::from(format!("n{i}")), 1);
        }
        assert!(log.removed.len() <= MAX_NAMES);
    }

    #[test]
    fn the_map_is_bounded_expired_names_go_first_then_the_oldest() {
        let mut log = RefusalLog::default();
        let name = |i: usize| Name::from(format!("n{i:05}"));
        // Half the names at 0 s, half at 30 s.
        for i in 0..MAX_NAMES {
            let at = if i < MAX_NAMES / 2 { t(0) } else { t(30) };
            assert!(log.should_warn(at, &name(i)));
        }
        assert_eq!(log.len(), MAX_NAMES);
        // At 70 s the first half has expired: a new name forgets them all.
        assert!(log.should_warn(t(70), &name(MAX_NAMES)));
        assert_eq!(log.len(), MAX_NAMES / 2 + 1);
        // Fill up again at 71 s; then a new name at 72 s (nothing expired) evicts the oldest
        // (the first name warned at 30 s), which is then warned about again at once.
        for i in 0..MAX_NAMES / 2 - 1 {
            assert!(log.should_warn(t(71), &name(2 * MAX_NAMES + i)));
        }
        assert_eq!(log.len(), MAX_NAMES);
        assert!(log.should_warn(t(72), &name(3 * MAX_NAMES)));
        assert_eq!(log.len(), MAX_NAMES);
        assert!(
            log.should_warn(t(73), &name(MAX_NAMES / 2)),
            "evicted, so forgotten"
        );
        assert_eq!(log.len(), MAX_NAMES);
        // That evicted the next oldest; the one after it is still remembered.
        assert!(!log.should_warn(t(73), &name(MAX_NAMES / 2 + 2)));
        assert!(log.should_warn(t(73), &name(MAX_NAMES / 2 + 1)));
    }
}
