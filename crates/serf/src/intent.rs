//! Join and leave intents: how the member clock orders each member's announcements, and the
//! buffer of recent intents about members not known yet (an intent can outrun the alive
//! message that introduces its member).

use std::collections::BTreeMap;
use std::time::Duration;

use rumor_swim::Instant;
use rumor_wire::serf::{JoinIntent, LamportTime, LeaveIntent};
use rumor_wire::Name;

use crate::member::MemberStatus;
use crate::serf::SerfState;
use crate::state::State;
use crate::timer::Timer;

/// Which intent a buffered entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntentKind {
    /// A join intent.
    Join,
    /// A leave intent.
    Leave,
}

#[derive(Debug, Clone, Copy)]
struct Intent {
    kind: IntentKind,
    ltime: LamportTime,
    at: Instant,
}

/// The newest intent per unknown member (Serf's `recentIntents`), kept for
/// `recent_intent_timeout` (5 min) and applied when the member appears.
#[derive(Debug, Default)]
pub(crate) struct RecentIntents {
    map: BTreeMap<Name, Intent>,
}

impl RecentIntents {
    /// Stores the intent if none is stored for `node` or it is newer. Returns whether it was
    /// stored (then it is rebroadcast).
    pub(crate) fn upsert(&mut self, node: &Name, kind: IntentKind, ltime: LamportTime, now: Instant) -> bool {
        match self.map.get(node) {
            Some(old) if ltime <= old.ltime => false,
            _ => {
                self.map.insert(node.clone(), Intent { kind, ltime, at: now });
                true
            }
        }
    }

    /// The buffered time for `node` if its intent is of `kind`.
    pub(crate) fn get(&self, node: &str, kind: IntentKind) -> Option<LamportTime> {
        self.map.get(node).filter(|i| i.kind == kind).map(|i| i.ltime)
    }

    /// Drops intents older than `timeout`.
    pub(crate) fn reap(&mut self, now: Instant, timeout: Duration) {
        self.map.retain(|_, i| now.saturating_duration_since(i.at) <= timeout);
    }

    /// Number of buffered intents.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

impl State {
    /// Applies a join intent (§5.4). Returns whether it is news to gossip on.
    pub(crate) fn handle_join_intent(&mut self, now: Instant, msg: &JoinIntent) -> bool {
        self.clock.witness(msg.ltime);
        let Some(st) = self.members.get_mut(&msg.node) else {
            return self.intents.upsert(&msg.node, IntentKind::Join, msg.ltime, now);
        };
        if msg.ltime <= st.status_ltime {
            return false;
        }
        st.status_ltime = msg.ltime;
        if st.member.status == MemberStatus::Leaving {
            // The leave it announced is older than this join.
            st.member.status = MemberStatus::Alive;
        }
        true
    }

    /// Applies a leave intent (§5.4). Returns whether it is news to gossip on.
    pub(crate) fn handle_leave_intent(&mut self, now: Instant, msg: &LeaveIntent) -> bool {
        self.clock.witness(msg.ltime);
        let Some(st) = self.members.get(&msg.node) else {
            return self.intents.upsert(&msg.node, IntentKind::Leave, msg.ltime, now);
        };
        if msg.ltime <= st.status_ltime {
            return false;
        }
        if *msg.node == *self.name && self.serf_state == SerfState::Alive {
            // Someone says we are leaving, but we are not: refute with a newer join.
            tracing::debug!(ltime = msg.ltime, "refuting a leave intent about ourselves");
            let ltime = self.clock.time();
            self.broadcast_join(now, ltime);
            return false;
        }
        let Some(st) = self.members.get_mut(&msg.node) else { return false };
        st.status_ltime = msg.ltime;
        match st.member.status {
            MemberStatus::Alive => {
                st.member.status = MemberStatus::Leaving;
            }
            MemberStatus::Failed => {
                st.member.status = MemberStatus::Left;
                let member = st.member.clone();
                tracing::info!(node = %member.name, "member left (forced)");
                self.emit(crate::Event::MemberLeave(member));
            }
            MemberStatus::Leaving | MemberStatus::Left => {}
            MemberStatus::None => return false,
        }
        if msg.prune {
            self.prune(now, &msg.node);
        }
        true
    }

    /// Erases a member a pruning leave intent named: a leaving member after the broadcast
    /// timeout plus the propagation delay (its own leave should go out first), others at once.
    fn prune(&mut self, now: Instant, node: &Name) {
        let Some(st) = self.members.get(node) else { return };
        if st.member.status == MemberStatus::Leaving {
            let at = now + self.timing.broadcast_timeout + self.timing.leave_propagate_delay;
            let ltime = st.status_ltime;
            self.timers.schedule(at, Timer::Prune { node: node.clone(), ltime });
        } else {
            self.erase(node, "pruned");
        }
    }

    /// Broadcasts a join intent for ourselves at `ltime` (after applying it locally).
    pub(crate) fn broadcast_join(&mut self, now: Instant, ltime: LamportTime) {
        let msg = JoinIntent { ltime, node: self.name.clone() };
        self.clock.witness(ltime);
        self.handle_join_intent(now, &msg);
        self.queues.push_intent(&msg.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_intent_wins_and_expires() {
        let mut r = RecentIntents::default();
        let n: Name = "x".into();
        let t0 = Instant::ZERO;
        assert!(r.upsert(&n, IntentKind::Join, 5, t0));
        assert!(!r.upsert(&n, IntentKind::Leave, 5, t0), "not newer");
        assert!(!r.upsert(&n, IntentKind::Leave, 4, t0));
        assert_eq!(r.get("x", IntentKind::Join), Some(5));
        assert!(r.upsert(&n, IntentKind::Leave, 6, t0 + Duration::from_secs(10)));
        assert_eq!(r.get("x", IntentKind::Join), None);
        assert_eq!(r.get("x", IntentKind::Leave), Some(6));
        r.reap(t0 + Duration::from_secs(310), Duration::from_secs(300));
        assert_eq!(r.len(), 1, "300 s old exactly is kept");
        r.reap(t0 + Duration::from_secs(311), Duration::from_secs(300));
        assert_eq!(r.len(), 0);
    }
}
