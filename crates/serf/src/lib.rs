//! rumor-serf: the Serf layer over the SWIM core, sans-IO.
//!
//! [`Serf`] wraps a [`rumor_swim::Node`] and adds what a Serf 0.9.4 agent expects of a peer:
//!
//! - **tags** in node meta (`0xFF` + msgpack map, ≤ 512 bytes), checked by an optional
//!   [`MemberGuard`] on every path by which a member can enter the table, replaceable at run
//!   time with the members it refuses purged ([`Serf::set_guard`], [`Serf::purge_refused`]);
//! - the **member Lamport clock** and **join / leave intents**, gossiped on Serf's own
//!   broadcast queues, with the recent-intent buffer for members not yet known;
//! - **member status** (alive, leaving, left, failed) driven by SWIM notifications plus
//!   intents, graceful leave, force-leave (with prune), and reaping of failed and left members;
//! - Serf's **push-pull state** (clocks, status times, left members, the user-event ring);
//! - **user events** (dedupe by the 512-slot ring, rebroadcast, delivery);
//! - **queries**: sending ([`Serf::query`]) with filters, acks, relays and a response
//!   collector; handling and delivery ([`Event::Query`]); answers ([`Serf::respond`]) and
//!   answers forwarded for other senders ([`Serf::forward_answer`]); the
//!   internal `_serf_*` queries (ping, the name-conflict vote, and the key queries over the
//!   node's keyring, counted with [`KeyTally`]).
//! - **Vivaldi coordinates** carried in acks, with a cache per member ([`Coordinate`]);
//! - **reconnect** attempts to failed members (a memberlist push-pull) and queue-depth checks.
//! - the **snapshot** file format and replay ([`snapshot`]), and restarting from its clocks
//!   ([`Restore`]); the file itself is written by the agent.
//!
//! Like the core, it reads no clock and no global randomness: `now` is passed in and every
//! map that affects output is ordered.

mod broadcast;
mod clock;
mod config;
mod conflict;
mod coordinate;
mod error;
mod event;
mod forward;
mod guard;
mod hooks;
mod intent;
mod internal_query;
mod key_query;
mod member;
mod message;
mod purge;
mod push_pull;
mod query;
mod query_collector;
mod reconnect;
mod relay;
mod serf;
pub mod snapshot;
mod state;
mod timer;
mod user_event;

pub use clock::LamportClock;
pub use config::SerfConfig;
pub use coordinate::{
    Client as CoordinateClient, CoordinateRejected, Coordinates, PingOutcome, UpdateError,
    VivaldiConfig,
};
pub use error::{LeaveError, SerfError};
pub use event::Event;
pub use guard::MemberGuard;
pub use key_query::{KeyOp, KeyReport, KeyResponse, KeyResponseError, KeyTally};
pub use member::{Member, MemberStatus};
pub use query::{
    default_query_timeout, QueryHandle, QueryParams, INTERNAL_QUERY_PREFIX, QUERY_TIMEOUT_MULT,
};
pub use rumor_swim::{
    Core, Instant, JoinError, JoinId, JoinOutcome, Refusal, StreamId, StreamStep, Transmit, Verdict,
};
pub use rumor_wire::serf::{Coordinate, LamportTime};
pub use serf::{Serf, SerfState, SerfStats};
pub use snapshot::Restore;

/// Lowest Serf (delegate) protocol version understood, as Serf 0.9.4 (`ProtocolVersionMin`).
pub const PROTOCOL_VERSION_MIN: u8 = 2;

/// Highest Serf (delegate) protocol version understood, as Serf 0.9.4 (`ProtocolVersionMax`).
/// The agent speaks this one by default.
pub const PROTOCOL_VERSION_MAX: u8 = 5;

/// The memberlist protocol every Serf protocol version maps to (`ProtocolVersionMap`).
pub const MEMBERLIST_PROTOCOL: u8 = 2;
