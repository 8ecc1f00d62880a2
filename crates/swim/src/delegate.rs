//! Hooks the layer above (Serf, the agent's datacenter guard, the simulator) plugs into the
//! core. Every method has a default that does nothing, so a bare pool needs none.
//!
//! The guards ([`Delegate::check_alive`], [`Delegate::check_merge`]) are called on every
//! path by which a member can enter the table: join, push-pull, and alive gossip, direct or
//! relayed. A veto means the member is not stored and the message is not gossiped on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rumor_wire::Name;

use crate::member::{Member, State};
use crate::time::Instant;

/// A member as a remote peer describes it, before it is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Name.
    pub name: Name,
    /// Gossip address.
    pub addr: SocketAddr,
    /// Metadata (Serf tags).
    pub meta: Bytes,
    /// Incarnation.
    pub incarnation: u32,
    /// State claimed by the sender (always alive for alive gossip).
    pub state: State,
    /// Version bytes; zeros where the peer sent none.
    pub vsn: [u8; 6],
}

/// Why a guard refused a member. The message is shown to operators (a failed join reports it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Veto(pub String);

/// The hooks. See the module docs.
pub trait Delegate {
    /// A user message (memberlist type 8) arrived, by packet or stream.
    fn notify_msg(&mut self, _now: Instant, _msg: Bytes) {}

    /// Fill spare room in an outgoing packet with user broadcasts. Each returned message
    /// costs its length plus `overhead`; the total must stay within `limit`.
    fn get_broadcasts(&mut self, _overhead: usize, _limit: usize) -> Vec<Bytes> {
        Vec::new()
    }

    /// User state sent with each push-pull.
    fn local_state(&mut self, _join: bool) -> Bytes {
        Bytes::new()
    }

    /// User state received with a push-pull, after the member tables merged.
    fn merge_remote_state(&mut self, _now: Instant, _state: &[u8], _join: bool) {}

    /// Payload to put in acks to direct pings (Serf: the Vivaldi coordinate).
    fn ack_payload(&mut self) -> Option<Bytes> {
        None
    }

    /// A direct probe was acked within the probe timeout.
    fn notify_ping_complete(
        &mut self,
        _now: Instant,
        _member: &Member,
        _rtt: Duration,
        _payload: &[u8],
    ) {
    }

    /// Alive guard: called for every alive message (gossip, push-pull, our own) before it is
    /// applied. A veto drops it.
    fn check_alive(&mut self, _peer: &Peer) -> Result<(), Veto> {
        Ok(())
    }

    /// Merge guard: called with a remote's whole member table before any of it is applied,
    /// on every push-pull (`join` tells whether it is a join). A veto drops it all; a join
    /// to that address fails with the veto's message.
    fn check_merge(&mut self, _peers: &[Peer], _join: bool) -> Result<(), Veto> {
        Ok(())
    }

    /// Share a name with other tables (the simulator interns names across thousands of
    /// nodes). The default keeps the decoded one.
    fn intern_name(&mut self, name: Name) -> Name {
        name
    }

    /// Share a meta value with other tables. The default keeps the decoded one.
    fn intern_meta(&mut self, meta: Bytes) -> Bytes {
        meta
    }
}

/// A delegate that does nothing: a bare memberlist pool.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoDelegate;

impl Delegate for NoDelegate {}

impl<D: Delegate + ?Sized> Delegate for Box<D> {
    fn notify_msg(&mut self, now: Instant, msg: Bytes) {
        (**self).notify_msg(now, msg)
    }
    fn get_broadcasts(&mut self, overhead: usize, limit: usize) -> Vec<Bytes> {
        (**self).get_broadcasts(overhead, limit)
    }
    fn local_state(&mut self, join: bool) -> Bytes {
        (**self).local_state(join)
    }
    fn merge_remote_state(&mut self, now: Instant, state: &[u8], join: bool) {
        (**self).merge_remote_state(now, state, join)
    }
    fn ack_payload(&mut self) -> Option<Bytes> {
        (**self).ack_payload()
    }
    fn notify_ping_complete(
        &mut self,
        now: Instant,
        member: &Member,
        rtt: Duration,
        payload: &[u8],
    ) {
        (**self).notify_ping_complete(now, member, rtt, payload)
    }
    fn check_alive(&mut self, peer: &Peer) -> Result<(), Veto> {
        (**self).check_alive(peer)
    }
    fn check_merge(&mut self, peers: &[Peer], join: bool) -> Result<(), Veto> {
        (**self).check_merge(peers, join)
    }
    fn intern_name(&mut self, name: Name) -> Name {
        (**self).intern_name(name)
    }
    fn intern_meta(&mut self, meta: Bytes) -> Bytes {
        (**self).intern_meta(meta)
    }
}

/// Keeps one copy of each name (used by the simulator; any embedder may use it).
#[derive(Debug, Default)]
pub struct Interner {
    names: std::collections::HashSet<Name>,
}

impl Interner {
    /// The shared copy of `name`.
    pub fn name(&mut self, name: Name) -> Name {
        if let Some(n) = self.names.get(&*name) {
            return Arc::clone(n);
        }
        self.names.insert(name.clone());
        name
    }
}
