//! The rumor agent as a library: everything `rumor` (the binary) is made of, so tests and the
//! side-by-side benchmark can reuse the RPC client and start agents in-process.
//!
//! # Layout
//! - [`cli`]: the command line; [`config`]: settled agent configuration;
//! - [`agent`]: a running agent (LAN pool + guard + RPC server + signals); [`guard`]: the
//!   datacenter guard; [`logging`]: stderr plus the ring `monitor` follows;
//! - [`rpc`]: the Serf RPC protocol (codec, client, server); [`commands`]: one file per client
//!   command; [`demo`]: `rumor demo`; [`snapshot`]: the snapshot file and rejoin at restart.

pub mod agent;
pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod guard;
pub mod logging;
pub mod rpc;
pub mod snapshot;
