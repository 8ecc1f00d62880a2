//! Serf's push-pull state: what we send with every memberlist push-pull (`LocalState`) and
//! how we merge what a peer sends (`MergeRemoteState`).

use std::collections::BTreeSet;

use rumor_swim::Instant;
use rumor_wire::serf::{
    JoinIntent, LeaveIntent, PushPull, SerfMessage, SerfMessageType, UserEvent,
};
use rumor_wire::Name;

use crate::member::MemberStatus;
use crate::state::State;

impl State {
    /// Our push-pull user state: clocks, every member's status time, the left members, and
    /// the whole event ring.
    pub(crate) fn local_state(&self) -> PushPull {
        PushPull {
            ltime: self.clock.time(),
            status_ltimes: self
                .members
                .iter()
                .map(|(n, st)| (n.clone(), st.status_ltime))
                .collect(),
            left_members: self
                .members
                .values()
                .filter(|st| st.member.status == MemberStatus::Left)
                .map(|st| st.member.name.clone())
                .collect(),
            event_ltime: self.event_clock.time(),
            events: self.event_ring.slots().to_vec(),
            query_ltime: self.query_clock.time(),
        }
    }

    /// Merges a peer's push-pull user state. `ignore_old` (a join without replay) raises the
    /// event floor to the peer's event clock, so old events are not delivered to us.
    pub(crate) fn merge_remote_state(&mut self, now: Instant, buf: &[u8], ignore_old: bool) {
        if buf.first() != Some(&(SerfMessageType::PushPull as u8)) {
            tracing::warn!(
                len = buf.len(),
                "remote state is not a Serf push-pull; ignored"
            );
            return;
        }
        let pp = match SerfMessage::decode(buf) {
            Ok(SerfMessage::PushPull(pp)) => pp,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "failed to decode remote state");
                return;
            }
        };
        if pp.ltime > 0 {
            self.clock.witness(pp.ltime - 1);
        }
        if pp.event_ltime > 0 {
            self.event_clock.witness(pp.event_ltime - 1);
        }
        if pp.query_ltime > 0 {
            self.query_clock.witness(pp.query_ltime - 1);
        }
        // Left members first, one past their status time: the leave was accepted after it.
        let left: BTreeSet<&Name> = pp.left_members.iter().collect();
        for name in &left {
            let ltime = pp
                .status_ltimes
                .get(*name)
                .copied()
                .unwrap_or(0)
                .saturating_add(1);
            let msg = LeaveIntent {
                ltime,
                node: (*name).clone(),
                prune: false,
            };
            self.handle_leave_intent(now, &msg);
        }
        for (name, &ltime) in &pp.status_ltimes {
            if left.contains(name) {
                continue;
            }
            self.handle_join_intent(
                now,
                &JoinIntent {
                    ltime,
                    node: name.clone(),
                },
            );
        }
        if ignore_old && pp.event_ltime > self.event_ring.min_time {
            self.event_ring.min_time = pp.event_ltime;
        }
        for slot in pp.events.iter().flatten() {
            for e in &slot.events {
                let msg = UserEvent {
                    ltime: slot.ltime,
                    name: e.name.clone(),
                    payload: e.payload.clone(),
                    cc: false,
                };
                self.handle_user_event(&msg);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use bytes::Bytes;

    use super::*;
    use crate::event::Event;
    use crate::state::test_support::state;

    fn with_event(name: &str, ltime: u64) -> Vec<u8> {
        let mut a = state("a");
        a.handle_user_event(&UserEvent {
            ltime,
            name: name.into(),
            payload: Bytes::from_static(b"p"),
            cc: false,
        });
        SerfMessage::PushPull(a.local_state()).to_bytes()
    }

    fn users(s: &mut State) -> Vec<(String, u64)> {
        s.events
            .drain(..)
            .filter_map(|e| match e {
                Event::User { name, ltime, .. } => Some((name, ltime)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_event_ring_is_replayed_once() {
        let pp = with_event("deploy", 4);
        let mut b = state("b");
        b.merge_remote_state(Instant::ZERO, &pp, false);
        assert_eq!(users(&mut b), [("deploy".to_string(), 4)]);
        b.merge_remote_state(Instant::ZERO, &pp, false);
        assert!(
            users(&mut b).is_empty(),
            "a second merge delivers nothing again"
        );
        assert_eq!(b.event_clock.time(), 5, "witnessed");
    }

    #[test]
    fn a_join_without_replay_skips_the_events_the_peer_had() {
        let pp = with_event("old", 4);
        let mut b = state("b");
        b.merge_remote_state(Instant::ZERO, &pp, true);
        assert!(users(&mut b).is_empty());
        // The floor is the peer's event clock: its next event is delivered.
        assert_eq!(b.event_ring.min_time, 5);
        assert!(b.handle_user_event(&UserEvent {
            ltime: 5,
            name: "new".into(),
            payload: Bytes::new(),
            cc: false,
        }));
    }

    #[test]
    fn our_local_state_lists_left_members_and_status_times() {
        let mut a = state("a");
        crate::state::test_support::add(&mut a, "l", MemberStatus::Left, 7);
        crate::state::test_support::add(&mut a, "f", MemberStatus::Failed, 3);
        let pp = a.local_state();
        assert_eq!(pp.left_members, vec![Name::from("l")]);
        assert_eq!(pp.status_ltimes.get("f"), Some(&3));
        assert_eq!(pp.status_ltimes.get("l"), Some(&7));
        assert_eq!(pp.events.len(), rumor_wire::serf::EVENT_BUFFER_SIZE);
        assert_eq!((pp.ltime, pp.event_ltime, pp.query_ltime), (1, 1, 1));
    }
}
