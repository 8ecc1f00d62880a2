//! Removing members outright ([`Node::purge`]): not marking them dead, forgetting them. The
//! layer above uses it when its member guard changes (a datacenter guard switched on): the
//! members it now refuses leave the table, the probe order, the suspicion timers and the
//! broadcast queue, so this node neither probes them nor gossips about them again, and the
//! guard keeps them from coming back.

use std::collections::BTreeSet;

use rumor_wire::Name;

use crate::member::Member;
use crate::node::{Keyed, Node};
use crate::time::Instant;

impl Node {
    /// Removes every member but ourselves for which `purge` returns true: member table, probe
    /// order, suspicion timers, queued broadcasts about them. Returns the removed names in
    /// name order. Reports no events (the caller owns that).
    ///
    /// Each removed member that was not gone is first sent our own alive, best effort: once
    /// we have forgotten them we no longer gossip to them, so this is how they hear our
    /// current record (new tags after a move to another datacenter) and drop us in turn,
    /// instead of keeping the old one, which the rest of their pool would pass around.
    pub fn purge(&mut self, now: Instant, mut purge: impl FnMut(&Member) -> bool) -> Vec<Name> {
        let chosen: BTreeSet<Name> = self
            .members
            .iter()
            .filter(|m| !self.is_self(&m.name) && purge(m))
            .map(|m| m.name.clone())
            .collect();
        let me = self.local().map(|m| m.meta.clone());
        if let (Some(meta), false) = (me, chosen.is_empty()) {
            let alive = Self::encode_msg(&rumor_wire::Message::Alive(self.self_alive(meta)));
            let to: Vec<(std::net::SocketAddr, bool)> = self
                .members
                .iter()
                .filter(|m| chosen.contains(&m.name) && !m.state.is_gone())
                .map(|m| (m.addr(), m.vsn.supports_crc()))
                .collect();
            for (addr, crc) in to {
                self.send_raw(addr, &alive, crc);
            }
        }
        self.remove_members(now, &chosen)
            .into_iter()
            .map(|m| m.name)
            .collect()
    }

    /// Removes the named members (never ourselves); returns them in name order.
    pub(crate) fn remove_members(&mut self, now: Instant, names: &BTreeSet<Name>) -> Vec<Member> {
        let _ = now;
        if names.is_empty() {
            return Vec::new();
        }
        // The probe order loses entries: the next probe stays on the member it was due at.
        let before = (0..self.probe_index.min(self.members.len()))
            .filter(|&i| self.members.at(i).is_some_and(|m| names.contains(&m.name)))
            .count();
        self.probe_index -= before;
        let me = self.config.name.clone();
        let mut removed = self
            .members
            .retain_and_reorder(|m| m.name == me || !names.contains(&m.name), |_| {});
        for m in &removed {
            if self.suspicions.remove(&m.name).is_some() {
                self.timers.cancel_key(&Keyed::Suspicion(m.name.clone()));
            }
            self.broadcasts.remove_key(&m.name);
            tracing::info!(node = %m.name, "member removed");
        }
        removed.sort_by(|a, b| a.name.cmp(&b.name));
        removed
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use bytes::Bytes;
    use rumor_wire::Message;

    use super::*;
    use crate::hooks::NoHooks;
    use crate::member::State;
    use crate::test_support::*;

    /// Names of the members whose news is queued for gossip.
    fn queued_about(n: &mut Node) -> Vec<String> {
        let mut v: Vec<String> = n
            .broadcasts
            .take(0, usize::MAX, u32::MAX)
            .iter()
            .filter_map(|b| match Message::decode(b) {
                Ok(Message::Alive(a)) => Some(a.node.to_string()),
                Ok(Message::Suspect(s)) => Some(s.node.to_string()),
                Ok(Message::Dead(d)) => Some(d.node.to_string()),
                _ => None,
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn purged_members_leave_the_table_the_timers_and_the_queue() {
        let mut n = node();
        for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
            feed(
                &mut n,
                Instant::ZERO,
                Message::Alive(alive(name, 1, i as u8 + 2)),
            );
        }
        feed(
            &mut n,
            Instant::ZERO,
            Message::Suspect(suspect("b", 1, "a")),
        );
        feed(
            &mut n,
            Instant::ZERO,
            Message::Suspect(suspect("c", 1, "a")),
        );
        events(&mut n);
        assert_eq!(n.timers.keyed_len(), 2);
        let gone = n.purge(Instant::ZERO, |m| matches!(&*m.name, "c" | "a" | "me"));
        assert_eq!(
            gone,
            vec![Name::from("a"), Name::from("c")],
            "name order; never us"
        );
        let mut left: Vec<String> = n.members().map(|m| m.name.to_string()).collect();
        left.sort();
        assert_eq!(left, ["b", "d", "me"]);
        assert_eq!(
            n.timers.keyed_len(),
            1,
            "c's suspicion timer is gone, b's stays"
        );
        assert!(n.suspicions.contains_key("b") && !n.suspicions.contains_key("c"));
        assert!(events(&mut n).is_empty(), "no events");
        assert_eq!(queued_about(&mut n), ["b", "d", "me"]);
        n.broadcasts.reset();
        // News about them is now ignored: they are unknown.
        feed(
            &mut n,
            Instant::ZERO,
            Message::Suspect(suspect("c", 1, "b")),
        );
        feed(&mut n, Instant::ZERO, Message::Dead(dead("a", 1, "b")));
        assert!(n.member("a").is_none() && n.member("c").is_none());
        assert!(n.broadcasts.is_empty());
    }

    #[test]
    fn each_purged_member_not_gone_is_sent_our_alive() {
        let mut n = node();
        with_peers(&mut n, &["a", "b", "c"]);
        feed(&mut n, Instant::ZERO, Message::Dead(dead("c", 1, "b")));
        n.set_meta(Instant::ZERO, Bytes::from_static(b"new"))
            .unwrap();
        sent(&mut n);
        let addr = |name: &str| n.member(name).unwrap().addr();
        let (a, b) = (addr("a"), addr("b"));
        n.purge(Instant::ZERO, |m| matches!(&*m.name, "a" | "c"));
        let out = sent(&mut n);
        assert_eq!(out.len(), 1, "a only: b is kept, c is dead: {out:?}");
        assert_eq!(out[0].0, a);
        assert_ne!(a, b);
        match &out[0].1 {
            Message::Alive(al) => {
                assert_eq!(&*al.node, "me");
                assert_eq!(al.incarnation, n.incarnation);
                assert_eq!(al.meta.as_deref(), Some(&b"new"[..]));
            }
            m => panic!("not an alive: {m:?}"),
        }
        assert!(n.purge(Instant::ZERO, |_| false).is_empty());
        assert!(sent(&mut n).is_empty(), "nothing purged, nothing sent");
    }

    #[test]
    fn the_probe_order_keeps_its_place() {
        let mut n = node();
        with_peers(&mut n, &["a", "b", "c", "d", "e"]);
        let order: Vec<String> = n.members().map(|m| m.name.to_string()).collect();
        n.probe_index = 4;
        let due = order[4].clone();
        // Remove two members before the probe position, one after it.
        let purge: BTreeSet<String> = [order[0].clone(), order[2].clone(), order[5].clone()]
            .into_iter()
            .filter(|x| x != "me")
            .collect();
        let before = purge.iter().filter(|x| order[..4].contains(x)).count();
        n.purge(Instant::ZERO, |m| purge.contains(&*m.name));
        assert_eq!(n.probe_index, 4 - before);
        assert_eq!(n.members.at(n.probe_index).unwrap().name.to_string(), due);
        // A probe of a remaining member still works.
        n.handle_timeout(Instant::from_millis(10_000), &mut NoHooks);
        assert!(n
            .members()
            .all(|m| m.state == State::Alive || &*m.name == "me"));
    }
}
