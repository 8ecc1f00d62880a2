//! rumor-swim: the membership state machine, sans-IO.
//!
//! SWIM failure detection and infection-style dissemination with memberlist 0.2.2's exact
//! behaviour and HashiCorp's Lifeguard refinements (local health, dynamic suspicion,
//! buddy piggyback). Bring your own I/O and clock:
//!
//! - inputs: [`Node::handle_packet`], [`Node::handle_stream`], [`Node::handle_stream_reply`],
//!   [`Node::stream_failed`], [`Node::handle_timeout`], and commands ([`Node::join`],
//!   [`Node::leave`], [`Node::set_meta`], [`Node::send_reliable`], ...);
//! - outputs: [`Node::poll_transmit`], [`Node::poll_event`], [`Node::poll_timeout`].
//!
//! The node reads no clock and no global randomness: `now` is passed in and randomness comes
//! from a seeded RNG it owns, so a simulation with the same seed repeats bit for bit.

pub mod awareness;
pub mod broadcast;
pub mod config;
pub mod delegate;
pub mod event;
mod gossip;
pub mod member;
mod node;
mod probe;
mod state;
pub mod stats;
pub mod suspicion;
pub mod time;

pub use config::{Config, ConfigError};
pub use delegate::{Delegate, Interner, NoDelegate, Peer, Veto};
pub use event::{Event, JoinId, StreamId, StreamStep, Transmit};
pub use member::{Member, State};
pub use node::Node;
pub use stats::Stats;
pub use time::Instant;
