//! rumor-net: the tokio driver for rumor's sans-IO protocol cores.
//!
//! A *pool* is one UDP socket and one TCP listener bound on the same `IP:PORT`, plus the
//! tasks that move bytes between them and a [`Core`] (a bare [`rumor_swim::Node`], or a
//! [`rumor_serf::Serf`]):
//!
//! - the UDP receive loop hands every datagram to [`Core::handle_packet`]; a sender task
//!   writes the core's datagrams;
//! - the accept loop serves each inbound TCP connection (at most
//!   [`PoolConfig::max_inbound_streams`] at once, each under a whole-exchange deadline) with
//!   [`Core::handle_stream`]; outbound streams are dialled by a task each and their replies go
//!   to [`Core::handle_stream_reply`] / [`Core::stream_failed`];
//! - a timer task sleeps until [`Core::poll_timeout`] and calls [`Core::handle_timeout`].
//!
//! After every call into the core, its outputs are drained: datagrams and streams are sent,
//! events are fanned out on a `tokio::sync::broadcast` channel ([`PoolHandle::subscribe`]).
//! Commands (join, leave, members, tags) are closures run on the core with
//! [`PoolHandle::call`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use rumor_net::{Pool, PoolConfig};
//! use rumor_swim::{Config, Node};
//!
//! let bound = Pool::bind(PoolConfig::new("127.0.0.1:0".parse()?)).await?;
//! let config = Config::local("a", bound.local_addr());
//! let node = Node::new(config, Default::default(), 1, bound.now())?;
//! let pool = bound.start(node);
//! let joined = rumor_net::swim_join(&pool, &["127.0.0.1:7946".parse()?]).await?;
//! let live = pool.call(|node, _now| node.num_live());
//! pool.shutdown().await;
//! # let _ = (joined, live); Ok(()) }
//! ```
//!
//! ## Why a mutex, not an actor
//!
//! The core sits in an `Arc<std::sync::Mutex<_>>`. Every input is a short synchronous call
//! (decode, update, encode) and its outputs are drained under the same lock, so outputs leave
//! in the order the core produced them and no `.await` ever happens while it is held. This
//! lets [`PoolHandle::call`] run any closure on the core and return its result directly
//! (no boxed closures or reply channels per command), and lets the many stream tasks feed
//! their bytes without a hop through a queue. Slow work (socket writes, dials) happens
//! outside the lock: datagrams go through a bounded queue to a sender task, streams are
//! spawned as tasks.

mod addr;
mod core;
mod error;
mod handle;
mod join;
mod pool;
mod stats;
mod stream;
mod timer;
mod udp;

pub use crate::addr::resolve;
pub use crate::core::{DriverCore, JoinOutcome};
pub use crate::error::{JoinError, NetError};
pub use crate::handle::PoolHandle;
pub use crate::join::{join_with, swim_join};
pub use crate::pool::{BoundPool, Pool, PoolConfig};
pub use crate::stats::NetStats;
pub use rumor_swim::Core;
pub use rumor_swim::{Instant, JoinId, StreamId, StreamStep, Transmit};
