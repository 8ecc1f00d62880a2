//! The SWIM delegate Serf plugs into the core: user messages, Serf's broadcasts, push-pull
//! state, the ping hooks, and the member guard.

use std::time::Duration;

use bytes::Bytes;
use rumor_swim::{Delegate, Instant, Peer, Veto};
use rumor_wire::serf::SerfMessage;

use crate::guard::MemberGuard;
use crate::member::tags_of;
use crate::state::State;

/// Serf's implementation of [`rumor_swim::Delegate`]. It owns Serf's state; reach it
/// through [`crate::Serf`].
pub struct SerfDelegate {
    pub(crate) state: State,
    pub(crate) guard: Option<Box<dyn MemberGuard + Send>>,
}

impl std::fmt::Debug for SerfDelegate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerfDelegate")
            .field("state", &self.state)
            .field("guard", &self.guard.is_some())
            .finish()
    }
}

impl SerfDelegate {
    fn check(&self, peer: &Peer) -> Result<(), Veto> {
        let Some(guard) = &self.guard else {
            return Ok(());
        };
        let tags = tags_of(&peer.name, &peer.meta);
        guard.check(&peer.name, &tags).map_err(|reason| {
            tracing::debug!(node = %peer.name, %reason, "member refused by the guard");
            Veto(reason)
        })
    }
}

impl Delegate for SerfDelegate {
    fn notify_msg(&mut self, now: Instant, msg: Bytes) {
        self.state.notify_msg(now, msg);
    }

    fn get_broadcasts(&mut self, overhead: usize, limit: usize) -> Vec<Bytes> {
        self.state.queues.take(overhead, limit)
    }

    fn local_state(&mut self, _join: bool) -> Bytes {
        SerfMessage::PushPull(self.state.local_state()).to_shared()
    }

    fn merge_remote_state(&mut self, now: Instant, state: &[u8], join: bool) {
        let ignore_old = join && self.state.ignore_old_joins > 0;
        self.state.merge_remote_state(now, state, ignore_old);
    }

    fn ack_payload(&mut self) -> Option<Bytes> {
        // Vivaldi coordinates come later; Serf agents ignore an empty ack payload.
        None
    }

    fn notify_ping_complete(
        &mut self,
        _now: Instant,
        member: &rumor_swim::Member,
        rtt: Duration,
        payload: &[u8],
    ) {
        // A coordinate (version byte 1 + msgpack) or nothing; not used yet.
        tracing::trace!(node = %member.name, ?rtt, payload_len = payload.len(), "ping complete");
    }

    fn check_alive(&mut self, peer: &Peer) -> Result<(), Veto> {
        self.check(peer)
    }

    fn check_merge(&mut self, peers: &[Peer], _join: bool) -> Result<(), Veto> {
        peers
            .iter()
            .filter(|p| *p.name != *self.state.name)
            .try_for_each(|p| self.check(p))
    }
}
