//! The Serf agent RPC protocol ("IPC"): msgpack objects back to back over TCP, a request
//! header plus an optional body, answered by a response header plus an optional body.
//! Both the `rumor` client commands and the real `serf` CLI speak it to a rumor agent.
//!
//! The RPC layer depends on the agent ([`crate::agent::Agent`]), never the other way round:
//! [`convert`] turns rumor-serf's types into the wire types of [`proto`].

pub mod client;
mod cmd;
pub mod convert;
pub mod framing;
pub mod proto;
pub mod server;
