//! [`SerfHooks`]: what the SWIM node asks of Serf inside a call. It borrows Serf's state and
//! guard for the length of that one call: Serf's broadcasts to piggyback, Serf's push-pull
//! state, the ack payload, and the member guard's verdict.

use bytes::Bytes;
use rumor_swim::{Hooks, Peer, Verdict};
use rumor_wire::serf::SerfMessage;

use crate::guard::MemberGuard;
use crate::member::tags_of;
use crate::state::State;

/// Serf's answers to the node's questions. See the module docs.
pub(crate) struct SerfHooks<'a> {
    pub(crate) st: &'a mut State,
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

    fn check_merge(&mut self, peers: &[Peer], _join: bool) -> Verdict {
        peers
            .iter()
            .filter(|p| *p.name != *self.st.name)
            .try_for_each(|p| self.check(p))
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
        // Our own entry in a remote table is never refused (memberlist merges it as ours).
        assert!(hooks
            .check_merge(&[peer("me", "west"), peer("a", "east")], true)
            .is_ok());
        assert!(hooks.check_merge(&[peer("b", "west")], true).is_err());
    }
}
