//! Helpers for the unit tests of the state machine: one node, fed messages one at a time.

use std::net::SocketAddr;

use bytes::Bytes;
use rumor_wire::{Alive, Dead, Message, Suspect};

use crate::config::Config;
use crate::hooks::NoHooks;
use crate::member::State;
use crate::node::Node;
use crate::time::Instant;

/// The versions a memberlist 0.2.2 peer sends.
pub(crate) const VSN: [u8; 6] = [1, 5, 2, 0, 0, 0];

/// Address of test peer `i` (`10.0.0.i:7946`).
pub(crate) fn peer_addr(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i], 7946))
}

/// A LAN node named `me` at `10.0.0.1:7946`, started at time zero.
pub(crate) fn node() -> Node {
    node_with(|_| {})
}

/// Like [`node`], with the configuration adjusted by `f`.
pub(crate) fn node_with(f: impl FnOnce(&mut Config)) -> Node {
    let mut c = Config::lan("me", peer_addr(1));
    f(&mut c);
    let mut n = Node::new(c, Bytes::new(), 7, Instant::ZERO).expect("valid config");
    while n.poll_event().is_some() {}
    n
}

/// An alive message about `name` (peer address `10.0.0.ip`).
pub(crate) fn alive(name: &str, inc: u32, ip: u8) -> Alive {
    Alive {
        incarnation: inc,
        node: name.into(),
        addr: peer_addr(ip).ip(),
        port: 7946,
        meta: None,
        vsn: Some(Bytes::from_static(&VSN)),
    }
}

/// A suspect message about `name` from `from`.
pub(crate) fn suspect(name: &str, inc: u32, from: &str) -> Suspect {
    Suspect {
        incarnation: inc,
        node: name.into(),
        from: from.into(),
    }
}

/// A dead message about `name` from `from`.
pub(crate) fn dead(name: &str, inc: u32, from: &str) -> Dead {
    Dead {
        incarnation: inc,
        node: name.into(),
        from: from.into(),
    }
}

/// Feeds one message to `n` as a datagram from peer 2, at `now`.
pub(crate) fn feed(n: &mut Node, now: Instant, msg: Message) {
    let mut b = Vec::new();
    msg.encode(&mut b);
    n.handle_packet(now, peer_addr(2), &b, &mut NoHooks);
}

/// `name`'s state and incarnation at `n`.
pub(crate) fn seen(n: &Node, name: &str) -> Option<(State, u32)> {
    n.member(name).map(|m| (m.state, m.incarnation))
}

/// Every message of every queued datagram, decoded (draining the node's transmits).
pub(crate) fn sent(n: &mut Node) -> Vec<(SocketAddr, Message)> {
    let mut out = Vec::new();
    while let Some(t) = n.poll_transmit() {
        if let crate::event::Transmit::Packet { to, data } = t {
            let opts = rumor_wire::PacketOptions::default();
            let msgs = rumor_wire::decode_packet(&data, &opts).expect("our own packet decodes");
            out.extend(msgs.into_iter().map(|m| (to, m)));
        }
    }
    out
}

/// Drains the node's events.
pub(crate) fn events(n: &mut Node) -> Vec<crate::event::Event> {
    std::iter::from_fn(|| n.poll_event()).collect()
}

/// `n` learns of peers `names` (alive, incarnation 1, at `10.0.0.2..`).
pub(crate) fn with_peers(n: &mut Node, names: &[&str]) {
    for (i, name) in names.iter().enumerate() {
        let ip = u8::try_from(i + 2).expect("few peers");
        feed(n, Instant::ZERO, Message::Alive(alive(name, 1, ip)));
    }
    events(n);
    sent(n);
}
