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
        // Vivaldi coordinates come later; Serf agents ignore an empty ack payload.
        None
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
