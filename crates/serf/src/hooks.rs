//! [`SerfHooks`]: what the SWIM node asks of Serf inside a call. It borrows Serf's state and
//! guard for the length of that one call: Serf's broadcasts to piggyback, Serf's push-pull
//! state, the ack payload, and the member guard's verdict.

use bytes::Bytes;
use rumor_swim::{Hooks, MergeContext, Peer, State, Verdict};
use rumor_wire::serf::SerfMessage;

use crate::guard::MemberGuard;
use crate::member::tags_of;
use crate::state::State as SerfState;

/// Serf's answers to the node's questions. See the module docs.
pub(crate) struct SerfHooks<'a> {
    pub(crate) st: &'a mut SerfState,
    pub(crate) guard: Option<&'a (dyn MemberGuard + Send)>,
}

impl SerfHooks<'_> {
    fn check(&self, peer: &Peer) -> Verdict {
        let Some(guard) = self.guard else {
            return Ok(());
        };
        let tags = tags_of(&peer.name, &peer.meta);
        guard.check(&peer.name, &tags).inspect_err(|refusal| {
            tracing::debug!(node = %peer.name, %refusal, "member refused by the guard");
        })
    }
}

impl Hooks for SerfHooks<'_> {
    fn broadcasts(&mut self, overhead: usize, limit: usize) -> Vec<Bytes> {
        // Serf sizes its retransmits by `NumNodes`: every member it knows, in any status.
        let n = self.st.members.len();
        self.st.queues.take(overhead, limit, n)
    }

    fn local_state(&mut self, _join: bool) -> Bytes {
        SerfMessage::PushPull(self.st.local_state()).to_shared()
    }

    fn ack_payload(&mut self) -> Option<Bytes> {
        // `[1]` + our Vivaldi coordinate; nothing when coordinates are disabled.
        self.st.coords.as_ref().map(|c| c.ack_payload())
    }

    fn check_alive(&mut self, peer: &Peer) -> Verdict {
        self.check(peer)
    }

    /// The join policy (entries are judged one by one by [`Hooks::check_alive`] either way):
    /// - not a join: never refused whole;
    /// - a join we dialed: refused if the entry at the dialed address (the remote itself) is
    ///   refused; if no entry has that address, as a join we answer;
    /// - a join we answer: refused if no alive entry but ourselves is admitted and at least
    ///   one is refused (the joiner's table is all foreign).
    fn check_merge(&mut self, peers: &[Peer], ctx: MergeContext) -> Verdict {
        if !ctx.join || self.guard.is_none() {
            return Ok(());
        }
        let me = &*self.st.name;
        let others = || peers.iter().filter(|p| *p.name != *me);
        if let Some(dialed) = ctx.dialed {
            if let Some(remote) = others().find(|p| p.addr == dialed) {
                return self.check(remote);
            }
        }
        let mut refusal = None;
        for p in others().filter(|p| p.state == State::Alive) {
            match self.check(p) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    refusal.get_or_insert(e);
                }
            }
        }
        refusal.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::member::MemberStatus;
    use crate::state::test_support::{add, state};

    #[test]
    fn broadcasts_are_sized_by_every_member_known_failed_ones_included() {
        // Ourselves alive and 9 failed: Serf's NumNodes is 10, so 4 x ceil(log10(11)) = 8.
        let mut st = state("me");
        for i in 0..9 {
            add(&mut st, &format!("f{i}"), MemberStatus::Failed, 1);
        }
        st.queues.push_event_raw(Bytes::from_static(b"e"));
        let mut hooks = SerfHooks {
            st: &mut st,
            guard: None,
        };
        let sent: usize = (0..20).map(|_| hooks.broadcasts(2, 1000).len()).sum();
        assert_eq!(sent, 8);
    }

    #[test]
    fn the_guard_sees_decoded_tags_and_our_own_entry_is_not_checked() {
        let mut st = state("me");
        let guard = |name: &str, tags: &std::collections::BTreeMap<String, String>| {
            if tags.get("dc").map(String::as_str) == Some("east") {
                Ok(())
            } else {
                Err(rumor_swim::Refusal::new(name.into(), std::fmt::Error))
            }
        };
        let hooks = SerfHooks {
            st: &mut st,
            guard: Some(&guard),
        };
        let peer = |name: &str, dc: &str| {
            let mut tags = std::collections::BTreeMap::new();
            tags.insert("dc".to_string(), dc.to_string());
            Peer {
                name: name.into(),
                addr: std::net::SocketAddr::from(([10, 0, 0, 2], 7946)),
                meta: rumor_wire::serf::encode_tags(&tags).expect("tags fit"),
                incarnation: 1,
                state: rumor_swim::State::Alive,
                vsn: rumor_swim::Versions::UNKNOWN,
            }
        };
        let mut hooks = hooks;
        assert!(hooks.check_alive(&peer("a", "east")).is_ok());
        let refused = hooks.check_alive(&peer("b", "west")).unwrap_err();
        assert_eq!(&*refused.node, "b");
    }

    type Guard = fn(&str, &std::collections::BTreeMap<String, String>) -> Verdict;

    fn dc_guard(name: &str, tags: &std::collections::BTreeMap<String, String>) -> Verdict {
        if tags.get("dc").map(String::as_str) == Some("dc1") {
            Ok(())
        } else {
            Err(rumor_swim::Refusal::new(name.into(), std::fmt::Error))
        }
    }

    /// A push-pull entry `name` of datacenter `dc`, at `10.0.0.ip:7946`.
    fn entry(name: &str, dc: &str, ip: u8, state: rumor_swim::State) -> Peer {
        let tags = std::collections::BTreeMap::from([("dc".to_string(), dc.to_string())]);
        Peer {
            name: name.into(),
            addr: std::net::SocketAddr::from(([10, 0, 0, ip], 7946)),
            meta: rumor_wire::serf::encode_tags(&tags).expect("tags fit"),
            incarnation: 1,
            state,
            vsn: rumor_swim::Versions::UNKNOWN,
        }
    }

    fn verdict(peers: &[Peer], join: bool, dialed: Option<u8>) -> Result<(), String> {
        let mut st = state("me");
        let guard: Guard = dc_guard;
        let mut hooks = SerfHooks {
            st: &mut st,
            guard: Some(&guard),
        };
        let ctx = MergeContext {
            join,
            dialed: dialed.map(|ip| std::net::SocketAddr::from(([10, 0, 0, ip], 7946))),
        };
        hooks
            .check_merge(peers, ctx)
            .map_err(|r| r.node.to_string())
    }

    #[test]
    fn the_join_policy_of_the_merge_guard() {
        use rumor_swim::State::{Alive, Dead};
        let foreign = [entry("f1", "dc2", 2, Alive), entry("f2", "dc2", 3, Dead)];
        let mixed = [
            entry("f1", "dc2", 2, Alive),
            entry("ok", "dc1", 4, Alive),
            entry("f2", "dc2", 3, Dead),
        ];
        // Not a join: never refused whole, however foreign.
        assert_eq!(verdict(&foreign, false, None), Ok(()));
        assert_eq!(verdict(&foreign, false, Some(2)), Ok(()));
        // A join we dialed: the entry at the dialed address decides.
        assert_eq!(verdict(&mixed, true, Some(4)), Ok(()));
        assert_eq!(verdict(&mixed, true, Some(2)), Err("f1".into()));
        // ... and without one there, some admitted alive entry is enough.
        assert_eq!(verdict(&mixed, true, Some(9)), Ok(()));
        assert_eq!(verdict(&foreign, true, Some(9)), Err("f1".into()));
        // A join we answer: refused only when no alive entry but ours is admitted.
        assert_eq!(verdict(&mixed, true, None), Ok(()));
        assert_eq!(verdict(&foreign, true, None), Err("f1".into()));
        // Our own entry counts for nothing, whatever it claims; a table of dead foreigners
        // and us refuses nobody alive, so it is not refused.
        let me_and_dead = [entry("me", "dc1", 1, Alive), entry("f2", "dc2", 3, Dead)];
        assert_eq!(verdict(&me_and_dead, true, None), Ok(()));
        let me_foreign = [entry("me", "dc2", 1, Alive), entry("f1", "dc2", 2, Alive)];
        assert_eq!(verdict(&me_foreign, true, Some(1)), Err("f1".into()));
        // Without a guard nothing is refused.
        let mut st = state("me");
        let mut hooks = SerfHooks {
            st: &mut st,
            guard: None,
        };
        let ctx = MergeContext {
            join: true,
            dialed: None,
        };
        assert!(hooks.check_merge(&foreign, ctx).is_ok());
    }
}
