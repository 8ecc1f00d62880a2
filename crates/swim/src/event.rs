//! What the core hands out: datagrams and streams to send ([`Transmit`]), and things that
//! happened ([`Event`]).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::error::JoinError;
use crate::member::Member;
use crate::time::Instant;

/// Identifies an outgoing stream, so its reply or failure can be handed back.
pub type StreamId = u64;

/// Identifies a join request.
pub type JoinId = u64;

/// Something to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// One UDP datagram, sent from the pool's socket.
    Packet {
        /// Destination.
        to: SocketAddr,
        /// Bytes, ready for the wire.
        data: Vec<u8>,
    },
    /// Open a TCP connection, write `data`, and (if `expect_reply`) read the answer and hand
    /// it to `handle_stream_reply`. Give up (`stream_failed`) at `deadline`.
    Stream {
        /// Id for the reply.
        id: StreamId,
        /// Destination.
        to: SocketAddr,
        /// Bytes, ready for the wire.
        data: Vec<u8>,
        /// Whether an answer comes back on the same connection.
        expect_reply: bool,
        /// Deadline for the whole exchange.
        deadline: Instant,
    },
}

/// A change or result the layer above should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A member joined (new, or back from dead / left).
    Join(Member),
    /// A member failed or left (see its state).
    Leave(Member),
    /// A live member's meta changed.
    Update(Member),
    /// A member with a known name appeared at another address; it was ignored.
    Conflict {
        /// The member we know.
        existing: Member,
        /// The newcomer's address.
        other: SocketAddr,
    },
    /// A known member was removed from the table because the member guard refused it when it
    /// came back at the same address with a newer incarnation (it restarted into another
    /// pool, e.g. with another datacenter): as [`crate::Node::purge`] removes members.
    Removed(Member),
    /// A join finished: `joined` addresses answered and merged; the rest failed.
    JoinFinished {
        /// The id `join` returned.
        id: JoinId,
        /// Number of addresses that answered and whose state was merged.
        joined: usize,
        /// Addresses that failed, with the reason.
        errors: Vec<(SocketAddr, JoinError)>,
    },
    /// Our leave message has been gossiped its full count (or nobody was left to tell).
    LeaveFinished,
    /// A user message (memberlist type 8) arrived, by packet or stream, in this order
    /// among the other events of the same input.
    UserMessage(Bytes),
    /// A push-pull's user state, after its member table was merged (so the members it
    /// names have had their `Join` events just before).
    RemoteState {
        /// The remote's user state, as it sent it.
        state: Bytes,
        /// Whether the exchange was a join.
        join: bool,
        /// Our join this exchange belongs to, when we dialled it for [`crate::Node::join`].
        join_id: Option<JoinId>,
    },
    /// A direct probe was acked within the probe timeout.
    PingComplete {
        /// The member probed.
        name: rumor_wire::Name,
        /// Round-trip time.
        rtt: Duration,
        /// The ack's payload (Serf: the member's coordinate); empty if none.
        payload: Bytes,
    },
}

/// Result of feeding bytes of one TCP stream to the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamStep {
    /// A prefix of a valid message: read more and call again with all bytes so far.
    NeedMore,
    /// Write these bytes back, then close.
    Reply(Vec<u8>),
    /// Close the connection (message handled, or bad bytes: see the stats).
    Close,
}
