//! rumor-swim: the membership state machine, sans-IO.
//!
//! SWIM failure detection and infection-style dissemination with memberlist 0.2.2's exact
//! behaviour and HashiCorp's Lifeguard refinements (local health, dynamic suspicion,
//! buddy piggyback). Bring your own I/O and clock:
//!
//! - inputs: [`Node::handle_packet`], [`Node::handle_stream`], [`Node::handle_stream_reply`],
//!   [`Node::stream_failed`], [`Node::handle_timeout`], and commands ([`Node::join`],
//!   [`Node::leave`], [`Node::set_meta`], [`Node::send_reliable`], ...);
//! - outputs: [`Node::poll_transmit`], [`Node::poll_event`], [`Node::poll_timeout`];
//! - questions it must have answered inside a call (broadcasts to piggyback, push-pull user
//!   state, the ack payload, the guard's verdict) go to the [`Hooks`] passed into that call;
//!   everything that merely happened comes out as an [`Event`]. Data flows one way.
//!
//! [`Core`] is the one contract every rumor core implements (this crate's [`Node`] and
//! [`WithHooks`], and `rumor_serf::Serf`); the tokio driver, the simulator and the test
//! harness in [`testing`] drive it.
//!
//! The node reads no clock and no global randomness: `now` is passed in and randomness comes
//! from a seeded RNG it owns, so a simulation with the same seed repeats bit for bit.

pub mod awareness;
pub mod broadcast;
pub mod config;
pub mod core;
pub mod error;
pub mod event;
mod gossip;
pub mod hooks;
pub mod member;
mod node;
mod probe;
mod purge;
mod refusal_log;
mod state;
pub mod stats;
pub mod suspicion;
#[cfg(test)]
mod test_support;
pub mod testing;
pub mod time;
pub mod timer;
pub mod version;

pub use crate::core::{Core, EveryRead, JoinOutcome, StreamFraming, WithHooks};
pub use config::{Config, ConfigError, Lifeguard, SuspicionFormula};
pub use error::{JoinError, MergeError, ProtocolKind, Refusal, VersionMismatch};
pub use event::{Event, JoinId, StreamId, StreamStep, Transmit};
pub use hooks::{Hooks, Intern, Interner, MergeContext, NoHooks, Peer, Verdict};
pub use member::{Member, State};
pub use node::Node;
pub use stats::Stats;
pub use time::Instant;
pub use version::Versions;
