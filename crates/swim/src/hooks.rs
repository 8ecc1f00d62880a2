//! What a node asks of the layer above *inside* a call: the [`Hooks`] passed into every input
//! and command, as foca passes its `Runtime`.
//!
//! A node never calls back into the layer above for anything but these questions, and each
//! answer is needed before the call can finish: which broadcasts to piggyback on the packet
//! being built, what user state to send in the push-pull being built, what to put in the ack
//! being built, and whether a member may enter the table (the guard). Everything that merely
//! *happened* (a member joined, a user message arrived, a remote state was merged, a ping
//! completed) is reported afterwards as an [`crate::Event`], so data flows one way.
//!
//! The guards ([`Hooks::check_alive`], [`Hooks::check_merge`]) are asked on every path by
//! which a member can enter the table: join, push-pull, and alive gossip, direct or relayed.
//! A refusal means the member is not stored and the message is not gossiped on.

use std::net::SocketAddr;

use bytes::Bytes;
use rumor_wire::Name;

use crate::error::Refusal;
use crate::member::State;
use crate::version::Versions;

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
    /// Protocol versions; zeros where the peer sent none.
    pub vsn: Versions,
}

/// What a merge guard is told about the push-pull it judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeContext {
    /// The push-pull is a join (ours, or the remote's join flag).
    pub join: bool,
    /// When we initiated it: the address we dialed (its entry is the remote node itself).
    pub dialed: Option<SocketAddr>,
}

/// The guard's answer: admit (`Ok`), or a typed refusal that says who and why.
pub type Verdict = Result<(), Refusal>;

/// The questions a node asks inside a call. Every method has a default (nothing to add,
/// admit everyone), so a bare memberlist pool passes [`NoHooks`].
pub trait Hooks {
    /// Broadcasts of the layer above to fill spare room in the packet being built. Each
    /// returned message costs its length plus `overhead`; the total must stay within `limit`.
    fn broadcasts(&mut self, _overhead: usize, _limit: usize) -> Vec<Bytes> {
        Vec::new()
    }

    /// User state to send with the push-pull being built (`join` tells whether it is a
    /// join).
    fn local_state(&mut self, _join: bool) -> Bytes {
        Bytes::new()
    }

    /// Payload for the ack being built, in answer to a direct ping (Serf: its coordinate).
    fn ack_payload(&mut self) -> Option<Bytes> {
        None
    }

    /// Member guard: asked for every alive message about another member (gossip, push-pull)
    /// before it is applied, and for every other entry of a push-pull (suspect, dead, left:
    /// [`Peer::state`] says which). A refusal drops that message or entry alone.
    fn check_alive(&mut self, _peer: &Peer) -> Verdict {
        Ok(())
    }

    /// Merge guard: asked with a remote's whole member table before any of it is applied,
    /// on every push-pull (`ctx` tells whether it is a join and, when we dialed, where). A
    /// refusal drops it all, and a join to that address fails with it (on both sides: the
    /// responder answers with the refusal). Entries of a push-pull that is not refused are
    /// still each judged by [`Hooks::check_alive`] and dropped on their own.
    fn check_merge(&mut self, _peers: &[Peer], _ctx: MergeContext) -> Verdict {
        Ok(())
    }
}

/// No hooks: a bare memberlist pool.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHooks;

impl Hooks for NoHooks {}

impl<H: Hooks + ?Sized> Hooks for &mut H {
    fn broadcasts(&mut self, overhead: usize, limit: usize) -> Vec<Bytes> {
        (**self).broadcasts(overhead, limit)
    }
    fn local_state(&mut self, join: bool) -> Bytes {
        (**self).local_state(join)
    }
    fn ack_payload(&mut self) -> Option<Bytes> {
        (**self).ack_payload()
    }
    fn check_alive(&mut self, peer: &Peer) -> Verdict {
        (**self).check_alive(peer)
    }
    fn check_merge(&mut self, peers: &[Peer], ctx: MergeContext) -> Verdict {
        (**self).check_merge(peers, ctx)
    }
}

/// Shares names and meta values between the tables of many nodes in one process (the
/// simulator runs thousands). A node given one ([`crate::Node::set_interner`]) stores the
/// shared copy instead of the decoded one; without one, each table owns its values.
pub trait Intern: Send {
    /// The shared copy of `name`.
    fn name(&mut self, name: Name) -> Name;
    /// The shared copy of `meta`.
    fn meta(&mut self, meta: Bytes) -> Bytes;
}

/// Keeps one copy of each name and meta value (any embedder may use it).
#[derive(Debug, Default)]
pub struct Interner {
    names: std::collections::HashSet<Name>,
    metas: std::collections::HashSet<Bytes>,
}

impl Intern for Interner {
    fn name(&mut self, name: Name) -> Name {
        if let Some(n) = self.names.get(&*name) {
            return std::sync::Arc::clone(n);
        }
        self.names.insert(name.clone());
        name
    }

    fn meta(&mut self, meta: Bytes) -> Bytes {
        if let Some(m) = self.metas.get(&meta) {
            return m.clone();
        }
        // Own the bytes: a decoded meta may be a slice of a whole packet or push-pull.
        let owned = Bytes::copy_from_slice(&meta);
        self.metas.insert(owned.clone());
        owned
    }
}

impl<I: Intern + ?Sized> Intern for std::sync::Arc<std::sync::Mutex<I>> {
    fn name(&mut self, name: Name) -> Name {
        match self.lock() {
            Ok(mut i) => i.name(name),
            Err(_) => name,
        }
    }
    fn meta(&mut self, meta: Bytes) -> Bytes {
        match self.lock() {
            Ok(mut i) => i.meta(meta),
            Err(_) => meta,
        }
    }
}
