//! What the core hands out: datagrams and streams to send ([`Transmit`]), and things that
//! happened ([`Event`]).

use std::net::SocketAddr;
use std::time::Duration;

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
    /// A join finished: `joined` addresses answered and merged; the rest failed.
    JoinFinished {
        /// The id `join` returned.
        id: JoinId,
        /// Number of addresses that answered and whose state was merged.
        joined: usize,
        /// Addresses that failed, with the reason.
        errors: Vec<(SocketAddr, String)>,
    },
    /// Our leave message has been gossiped its full count (or nobody was left to tell).
    LeaveFinished,
    /// A direct probe round trip.
    PingRtt {
        /// The member probed.
        name: rumor_wire::Name,
        /// Round-trip time.
        rtt: Duration,
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
