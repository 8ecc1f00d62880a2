//! What [`crate::Serf`] reports through `poll_event`.

use std::net::SocketAddr;

use bytes::Bytes;
use rumor_swim::{Instant, JoinError, JoinId};
use rumor_wire::serf::LamportTime;
use rumor_wire::{Key, Name};

use crate::error::LeaveError;
use crate::member::Member;

/// Something that happened. Member events carry one member each, as Serf emits them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A member joined (new, or back after failing or leaving). Also emitted for ourselves
    /// at start.
    MemberJoin(Member),
    /// A member left gracefully (its status is now left).
    MemberLeave(Member),
    /// A member failed (stopped answering; its status is now failed).
    MemberFailed(Member),
    /// A member's tags or address changed.
    MemberUpdate(Member),
    /// A failed or left member was erased: its timeout passed, or it was pruned.
    MemberReap(Member),
    /// A user event, delivered once per distinct (time, name, payload).
    User {
        /// Event name.
        name: String,
        /// Payload.
        payload: Bytes,
        /// Event clock time.
        ltime: LamportTime,
        /// Whether handlers may coalesce it with later events of the same name.
        coalesce: bool,
    },
    /// A [`join`](crate::Serf::join) finished. When at least one address answered, a join
    /// intent was broadcast.
    JoinFinished {
        /// The id `join` returned.
        id: JoinId,
        /// Number of addresses whose state was exchanged and merged.
        joined: usize,
        /// Addresses that failed, with the reason (a guard's refusal carries its message).
        errors: Vec<(SocketAddr, JoinError)>,
    },
    /// A [`leave`](crate::Serf::leave) finished: the intent and the memberlist leave went
    /// out and the propagation delay passed (`error: None`, we are left), or a wait timed
    /// out as Serf's does (`error: Some`, we stay leaving). Either way the driver may stop.
    LeaveFinished {
        /// Why the leave did not complete, if it did not.
        error: Option<LeaveError>,
    },
    /// A user query reached us and passed its filters; answer it with
    /// [`Serf::respond`](crate::Serf::respond) before `deadline`. Internal `_serf_*` queries
    /// are answered by the core and never appear.
    Query {
        /// The query's time.
        ltime: LamportTime,
        /// The query's id.
        id: u32,
        /// Query name.
        name: String,
        /// Payload (empty when the query carried none).
        payload: Bytes,
        /// The node that sent it.
        source: Name,
        /// Our own clock's `now` at arrival plus the query's timeout.
        deadline: Instant,
    },
    /// An ack to a query of ours (at most one per sender).
    QueryAck {
        /// The query's time.
        ltime: LamportTime,
        /// The query's id.
        id: u32,
        /// Who acked.
        from: Name,
    },
    /// A response to a query of ours (the first one per sender; relayed copies are dropped).
    QueryResponse {
        /// The query's time.
        ltime: LamportTime,
        /// The query's id.
        id: u32,
        /// Who answered.
        from: Name,
        /// The answer.
        payload: Bytes,
    },
    /// A query of ours reached its deadline; nothing more will arrive for it.
    QueryClosed {
        /// The query's time.
        ltime: LamportTime,
        /// The query's id.
        id: u32,
    },
    /// A key query changed our keyring (now these keys, primary first). The agent rewrites
    /// its keyring file.
    KeyringChanged {
        /// The keys, primary first.
        keys: Vec<Key>,
    },
    /// We lost the `_serf_conflict` vote: most members know another node under our name.
    /// Serf shuts down here; the driver must stop this member.
    NameConflictLost {
        /// Answers naming our address.
        matching: usize,
        /// Answers counted.
        responses: usize,
    },
}
