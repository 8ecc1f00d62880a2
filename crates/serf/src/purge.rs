//! Changing the member guard at run time and removing the members it refuses
//! ([`Serf::set_guard`], [`Serf::purge_refused`]).
//!
//! A pool that ran without a guard (or with another) may hold members the new guard refuses:
//! another datacenter's, say. Purging removes them from the node ([`rumor_swim::Node::purge`]:
//! table, probe order, suspicion timers, its queued gossip about them) and from Serf's state
//! (member table, buffered intents, cached coordinates, queued intents about them), each
//! reported as [`Event::MemberReap`], so this member stops probing and gossiping about them.
//! The guard then keeps them out: their alive messages and push-pull entries are refused.
//!
//! The same removal runs when the guard refuses an alive about a member we know, at the same
//! address, with a newer incarnation: it restarted into another pool
//! ([`rumor_swim::Event::Removed`]).

use std::collections::{BTreeMap, BTreeSet};

use rumor_swim::Instant;
use rumor_wire::Name;

use crate::event::Event;
use crate::guard::MemberGuard;
use crate::member::{tags_of, Member, MemberStatus};
use crate::serf::Serf;
use crate::state::State;

impl Serf {
    /// Replaces the guard (None: admit everyone). Takes effect on the next message.
    pub fn set_guard(&mut self, guard: Option<Box<dyn MemberGuard + Send>>) {
        self.guard = guard;
    }

    /// Asks the guard about every member but ourselves and removes the refused from the node
    /// and from Serf's state (member table, intents, coordinates, queued broadcasts about
    /// them), so the pool stops gossiping about them. Emits [`Event::MemberReap`] for each.
    /// Returns their names in name order (none without a guard).
    pub fn purge_refused(&mut self, now: Instant) -> Vec<String> {
        let Some(guard) = self.guard.as_deref() else {
            return Vec::new();
        };
        let me = self.st.name.clone();
        let mut refused: BTreeMap<Name, Option<rumor_swim::Member>> = BTreeMap::new();
        for m in self.node.members() {
            if *m.name != *me && guard.check(&m.name, &tags_of(&m.name, &m.meta)).is_err() {
                refused.insert(m.name.clone(), Some(m.clone()));
            }
        }
        // Serf keeps failed members long after SWIM has forgotten them.
        for st in self.st.members.values() {
            let name = &st.member.name;
            if *name != me
                && !refused.contains_key(name)
                && guard.check(name, &st.member.tags).is_err()
            {
                refused.insert(name.clone(), None);
            }
        }
        let names: BTreeSet<Name> = refused.keys().cloned().collect();
        self.node.purge(now, |m| names.contains(&m.name));
        for (name, swim) in &refused {
            self.st.forget_member(name, swim.as_ref());
        }
        self.st.queues.drop_intents_about(&names);
        names.iter().map(|n| n.to_string()).collect()
    }
}

impl State {
    /// Forgets a member removed from the node (`swim`: its SWIM record, if the node had one):
    /// Serf's member entry and coordinate ([`Event::MemberReap`]), its buffered intent.
    /// Queued intents about it are dropped by the caller ([`crate::broadcast::Queues`]).
    pub(crate) fn forget_member(&mut self, name: &Name, swim: Option<&rumor_swim::Member>) {
        if self.members.contains_key(name) {
            self.erase(name, "refused by the guard");
        } else if let Some(m) = swim {
            // Known to SWIM only (no join reported yet): still reported, so the embedder
            // sees every member that was removed.
            let status = match m.state {
                rumor_swim::State::Alive | rumor_swim::State::Suspect => MemberStatus::Alive,
                rumor_swim::State::Dead => MemberStatus::Failed,
                rumor_swim::State::Left => MemberStatus::Left,
            };
            if let Some(c) = &mut self.coords {
                c.forget(name);
            }
            tracing::info!(node = %name, "member reaped (refused by the guard)");
            self.emit(Event::MemberReap(Member::from_swim(m, status)));
        }
        self.intents.forget(name);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::net::SocketAddr;
    use std::time::Duration;

    use bytes::Bytes;
    use rumor_swim::{StreamStep, Transmit, Verdict};
    use rumor_wire::serf::{encode_tags, JoinIntent, SerfMessage};
    use rumor_wire::{Alive, Message, PushNodeState, PushPull, WireState};

    use super::*;
    use crate::config::SerfConfig;

    const VSN: [u8; 6] = [1, 5, 2, 2, 5, 5];

    fn at(ip: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, ip], 7946))
    }

    fn dc(dc: &str) -> Bytes {
        encode_tags(&BTreeMap::from([("dc".to_string(), dc.to_string())])).unwrap()
    }

    fn dc1_guard() -> Box<dyn MemberGuard + Send> {
        Box::new(|name: &str, tags: &BTreeMap<String, String>| -> Verdict {
            match tags.get("dc").map(String::as_str) {
                Some("dc1") => Ok(()),
                _ => Err(rumor_swim::Refusal::new(name.into(), std::fmt::Error)),
            }
        })
    }

    fn alive(name: &str, ip: u8, dc_: &str) -> Message {
        Message::Alive(Alive {
            incarnation: 1,
            node: name.into(),
            addr: at(ip).ip(),
            port: 7946,
            meta: Some(dc(dc_)),
            vsn: Some(Bytes::from_static(&VSN)),
        })
    }

    fn join_intent(name: &str, ltime: u64) -> Message {
        let msg = SerfMessage::Join(JoinIntent {
            ltime,
            node: name.into(),
        });
        Message::User(msg.to_shared())
    }

    fn feed(s: &mut Serf, now: Instant, msg: Message) {
        let mut b = Vec::new();
        msg.encode(&mut b);
        s.handle_packet(now, at(2), &b);
    }

    /// Who the messages in a datagram we sent are about (SWIM's and Serf's intents).
    fn about(data: &[u8], out: &mut BTreeSet<String>) {
        let opts = rumor_wire::PacketOptions::default();
        for m in rumor_wire::decode_packet(data, &opts).unwrap() {
            let name = match m {
                Message::Alive(a) => a.node,
                Message::Suspect(s) => s.node,
                Message::Dead(d) => d.node,
                Message::User(u) => match SerfMessage::decode(&u) {
                    Ok(SerfMessage::Join(j)) => j.node,
                    Ok(SerfMessage::Leave(l)) => l.node,
                    _ => continue,
                },
                _ => continue,
            };
            out.insert(name.to_string());
        }
    }

    /// Runs `s` alone for `d` (its timers only), returning who its datagrams were about.
    fn gossip_about(s: &mut Serf, from: Instant, d: Duration) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let end = from + d;
        for _ in 0..10_000 {
            while let Some(t) = s.poll_transmit() {
                if let Transmit::Packet { data, .. } = t {
                    about(&data, &mut out);
                }
            }
            match s.poll_timeout() {
                Some(t) if t <= end => s.handle_timeout(t),
                _ => return out,
            }
        }
        panic!("timers did not settle");
    }

    fn names(s: &Serf) -> Vec<String> {
        s.members().iter().map(|m| m.name.to_string()).collect()
    }

    #[test]
    fn purge_removes_the_refused_and_stops_all_gossip_about_them() {
        let swim = rumor_swim::Config::lan("me", at(1));
        let tags = BTreeMap::from([("dc".to_string(), "dc1".to_string())]);
        let mut s = Serf::new(SerfConfig::new(swim, tags), 3, Instant::ZERO).unwrap();
        let t0 = Instant::ZERO;
        feed(&mut s, t0, alive("a", 2, "dc1"));
        feed(&mut s, t0, alive("f1", 3, "dc2"));
        feed(&mut s, t0, alive("f2", 4, "dc2"));
        feed(
            &mut s,
            t0,
            Message::Suspect(rumor_wire::Suspect {
                incarnation: 1,
                node: "f2".into(),
                from: "a".into(),
            }),
        );
        feed(&mut s, t0, join_intent("f1", 50));
        feed(&mut s, t0, join_intent("a", 51));
        // A join intent about a member not known yet is buffered (and gossiped on).
        feed(&mut s, t0, join_intent("f3", 52));
        assert_eq!(s.stats().intents_buffered, 1);
        assert_eq!(names(&s), ["a", "f1", "f2", "me"]);
        while s.poll_event().is_some() {}
        // Without a guard nothing is purged.
        assert!(s.purge_refused(t0).is_empty());
        s.set_guard(Some(dc1_guard()));
        assert_eq!(s.purge_refused(t0), ["f1", "f2"]);
        let reaped: Vec<String> = std::iter::from_fn(|| s.poll_event())
            .filter_map(|e| match e {
                Event::MemberReap(m) => Some(m.name.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(reaped, ["f1", "f2"]);
        assert_eq!(names(&s), ["a", "me"]);
        let swim: BTreeSet<String> = s.swim().members().map(|m| m.name.to_string()).collect();
        assert_eq!(swim, BTreeSet::from(["a".to_string(), "me".to_string()]));
        // What goes out from now on: news about a, us and f3's buffered intent, nothing of
        // f1 or f2 (their alives, f2's suspicion, f1's join intent were all dropped).
        let said = gossip_about(&mut s, t0, Duration::from_secs(10));
        assert!(said.contains("a") && said.contains("me"), "{said:?}");
        assert!(!said.contains("f1") && !said.contains("f2"), "{said:?}");
        // A push-pull from an unguarded peer that still holds them does not bring them back.
        let now = t0 + Duration::from_secs(10);
        let entry = |name: &str, ip: u8, dc_: &str, state| PushNodeState {
            name: name.into(),
            addr: at(ip).ip(),
            port: 7946,
            meta: Some(dc(dc_)),
            incarnation: 2,
            state,
            vsn: Some(Bytes::from_static(&VSN)),
        };
        let pp = Message::PushPull(PushPull {
            join: false,
            nodes: vec![
                entry("a", 2, "dc1", WireState::Alive),
                entry("f1", 3, "dc2", WireState::Alive),
                entry("f2", 4, "dc2", WireState::Dead),
            ],
            user_state: Bytes::new(),
        });
        let mut data = Vec::new();
        rumor_wire::encode_stream(&pp, &Default::default(), [0; 12], true, &mut data);
        let reply = s.handle_stream(now, at(2), &data);
        assert!(
            matches!(reply, StreamStep::Reply(_)),
            "answered with our state"
        );
        assert_eq!(names(&s), ["a", "me"]);
        assert_eq!(s.swim().stats().entries_dropped, 2);
        assert_eq!(
            s.swim().member("a").unwrap().incarnation,
            2,
            "the rest merged"
        );
        // Alive gossip about them is refused too.
        feed(&mut s, now, alive("f1", 3, "dc2"));
        assert_eq!(names(&s), ["a", "me"]);
        let said = gossip_about(&mut s, now, Duration::from_secs(10));
        assert!(!said.contains("f1") && !said.contains("f2"), "{said:?}");
    }

    #[test]
    fn a_member_refused_after_changing_its_datacenter_is_reaped() {
        let swim = rumor_swim::Config::lan("me", at(1));
        let tags = BTreeMap::from([("dc".to_string(), "dc1".to_string())]);
        let mut config = SerfConfig::new(swim, tags);
        config.guard = Some(dc1_guard());
        let mut s = Serf::new(config, 3, Instant::ZERO).unwrap();
        feed(&mut s, Instant::ZERO, alive("a", 2, "dc1"));
        while s.poll_event().is_some() {}
        // `a` comes back at its address with a newer incarnation, now in dc2.
        let Message::Alive(mut back) = alive("a", 2, "dc2") else {
            unreachable!()
        };
        back.incarnation = 2;
        feed(&mut s, Instant::ZERO, Message::Alive(back));
        let evs: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
        assert!(
            matches!(&evs[..], [Event::MemberReap(m)] if &*m.name == "a"),
            "{evs:?}"
        );
        assert_eq!(names(&s), ["me"]);
        assert!(s.swim().member("a").is_none());
        assert_eq!(s.swim().stats().alive_vetoed, 1);
    }
}
