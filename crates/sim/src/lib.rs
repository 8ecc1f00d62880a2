//! rumor-sim: a deterministic discrete-event simulator for rumor pools.
//!
//! It runs N cores, bare [`rumor_swim::Node`]s or [`rumor_serf::Serf`] nodes (any
//! [`SimCore`], through the one sans-IO contract [`rumor_swim::Core`]), over a modelled network with a virtual clock: per-link
//! latency with jitter, i.i.d. loss, partitions, crashes and restarts, and pauses (a GC
//! pause or a starved VM). Streams (TCP) are reliable but slow to open and fail when the
//! peer is down, unreachable or too late. The nodes run exactly the production code path,
//! packet pipeline included; only the sockets and the clock are simulated.
//!
//! While it runs it checks invariants (incarnations never decrease per observer, no
//! healthy member is declared dead without cause, views converge after faults heal) and
//! measures detection times, false positives, traffic per member and dissemination times;
//! [`Sim::report`] returns all of it as a serde [`Report`], including a hash of the member
//! event log: the same seed gives the same hash, bit for bit.
//!
//! ```no_run
//! use std::time::Duration;
//! use rumor_sim::{Sim, SimConfig};
//! use rumor_swim::Instant;
//!
//! let mut sim = Sim::new(SimConfig::new(50, 7)).expect("valid config");
//! sim.join_staggered(Instant::ZERO, Duration::from_millis(100));
//! sim.run_for(Duration::from_secs(10));
//! sim.settle("join", Duration::from_secs(60));
//! sim.crash(3);
//! sim.run_for(Duration::from_secs(60));
//! let report = sim.report();
//! assert!(report.ok);
//! ```
//!
//! Ready-made experiments are in [`scenario`].

pub mod action;
pub mod config;
pub mod core;
pub mod hash;
mod invariants;
pub mod network;
mod queue;
pub mod report;
pub mod scenario;
mod sim;

pub use crate::core::{Observed, SharedIntern, SimCore, Spec};
pub use action::Action;
pub use config::{ConfigTweak, LatencyModel, Profile, SimConfig, TagsFn};
pub use report::Report;
pub use sim::{Sim, Status};
