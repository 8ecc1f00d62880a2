//! The rumor agent as a library: everything `rumor` (the binary) is made of, so tests and the
//! side-by-side benchmark can reuse the RPC client and start agents in-process.
//!
//! # Layout
//! - [`cli`]: the command line; [`config`]: settled agent configuration;
//! - [`agent`]: a running agent (LAN pool + guard + RPC server + signals); [`guard`]: the
//!   datacenter guard; [`reload`]: SIGHUP applies the guard's settings again;
//!   [`logging`]: stderr plus the ring `monitor` follows;
//! - [`handler`]: Serf's event handler scripts; [`snapshot`]: the snapshot file and rejoin at
//!   restart; [`keyring`]: encryption keys (Go-exact base64) and the keyring file;
//! - [`query`]: queries sent for RPC clients (name rule, answers until closed);
//!   [`dc_forward`]: events and queries for another datacenter, over the WAN pool;
//! - [`rpc`]: the Serf RPC protocol (codec, client, server); [`commands`]: one file per client
//!   command; [`demo`]: `rumor demo`;
//! - [`wan`]: a server's WAN pool (its guard, flood join, datacenters) and the labels.

pub mod agent;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dc_forward;
pub mod demo;
pub mod guard;
pub mod handler;
pub mod keyring;
pub mod logging;
pub mod query;
pub mod reload;
pub mod rpc;
pub mod snapshot;
pub mod wan;
