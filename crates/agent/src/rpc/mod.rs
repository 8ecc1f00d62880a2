//! The Serf agent RPC protocol ("IPC"): msgpack objects back to back over TCP, a request
//! header plus an optional body, answered by a response header plus an optional body.
//! Both the `rumor` client commands and the real `serf` CLI speak it to a rumor agent.

pub mod client;
pub mod framing;
pub mod proto;
pub mod server;
