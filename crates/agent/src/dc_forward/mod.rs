//! Events and queries for another datacenter (`rumor event --dc`, `rumor query --dc`).
//!
//! The server the client talks to (the *origin*) sends a `_rumor_dc` query in the WAN pool to
//! ONE alive server of the target datacenter (`filter_nodes = [its WAN name]`, acks asked).
//! Its payload is a [`DcRequest`] (`request.rs`). The chosen server, seeing that query as an
//! `Event::Query` of its WAN pool (`responder.rs`), gossips the user event in its LAN pool, or
//! runs the LAN query with the time the request allows, and answers under its WAN name with
//! one [`DcStatus`] (accepted, or why not). It forwards every ack and response of the LAN
//! query to the origin with `Serf::forward_answer`, named by the LAN member that gave it.
//!
//! The origin (`origin.rs`) waits a bounded time for the chosen server's ack or status; if
//! neither comes it tries another server of that datacenter (at most [`MAX_ATTEMPTS`] in
//! all), and never one more after a server acked. The chosen server's own ack and status are
//! control answers: the stream the client sees holds only the LAN members' answers (a LAN
//! member named exactly like the chosen server's WAN name, `NODE.DC`, would be hidden too).
//!
//! A client agent (no WAN pool) sends the same request as a `_rumor_dc_forward` LAN query to
//! ONE alive server of its datacenter (`role=server` with a `wan_addr`), with the same retry
//! rule; that server (`relay.rs`) sends it on as the origin and forwards every answer it gets
//! into the client's query, plus its own status, which the client hides. With no such server
//! the client refuses `--dc` with an error saying so.
//!
//! `_rumor_dc` queries come on the WAN pool, which the event handlers and RPC `stream` do not
//! watch; `_rumor_dc_forward` ones come on the LAN pool, and every query named with
//! [`INTERNAL_PREFIX`] is skipped by the handlers and RPC `stream` ([`is_internal`]): they
//! never reach a script or a client.

mod listen;
mod origin;
mod relay;
pub mod request;
mod responder;

pub use origin::{event, query, DcAnswers};
pub use request::{DcAction, DcRequest, DcStatus, DecodeError};
/// The name of the WAN query that carries a request.
pub const QUERY_NAME: &str = "_rumor_dc";

/// The name of the LAN query that carries a client's request to a server of its datacenter.
pub const RELAY_QUERY_NAME: &str = "_rumor_dc_forward";

/// Queries named with this prefix are rumor's own: no handler script or RPC `stream` sees them.
pub const INTERNAL_PREFIX: &str = "_rumor_";

/// Whether a query of this name is rumor's own (skipped by handlers and RPC `stream`).
pub fn is_internal(query_name: &str) -> bool {
    query_name.starts_with(INTERNAL_PREFIX)
}

/// Start serving requests: from other datacenters on the WAN pool, and from our
/// datacenter's clients on the LAN pool (both only on a server).
pub fn start(agent: &std::sync::Arc<crate::agent::Agent>) {
    responder::start(agent);
    relay::start(agent);
}

/// Servers of the target datacenter tried, at most, for one request.
pub const MAX_ATTEMPTS: usize = 3;

/// Why a request for another datacenter failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DcError {
    /// This agent has no WAN pool, and knows no server of its datacenter to relay through.
    #[error("this agent ({node}) is not a server and cannot reach other datacenters: send --dc requests to a server of datacenter {dc}{}", server_list(.servers))]
    NotServer {
        /// This agent's name.
        node: String,
        /// Its datacenter.
        dc: String,
        /// Alive servers of its datacenter: `NAME (ADDR)`.
        servers: Vec<String>,
    },
    /// The WAN pool knows no member of that datacenter.
    #[error("unknown datacenter '{dc}' (known datacenters: {})", .known.join(", "))]
    UnknownDc {
        /// The datacenter asked for.
        dc: String,
        /// The datacenters the WAN pool knows, by name.
        known: Vec<String>,
    },
    /// The datacenter has no alive server.
    #[error("no alive server in datacenter '{dc}' (known datacenters: {})", .known.join(", "))]
    NoServer {
        /// The datacenter asked for.
        dc: String,
        /// The datacenters the WAN pool knows, by name.
        known: Vec<String>,
    },
    /// No server tried acknowledged the request in time.
    #[error("no server of datacenter '{dc}' answered (tried {})", .tried.join(", "))]
    NoAnswer {
        /// The datacenter asked for.
        dc: String,
        /// The servers tried, in order.
        tried: Vec<String>,
    },
    /// The chosen server refused the request.
    #[error("{server} refused the request: {reason}")]
    Refused {
        /// Its WAN name.
        server: String,
        /// Its message.
        reason: String,
    },
    /// The request is invalid or could not be sent.
    #[error("{0}")]
    Request(String),
}

fn server_list(servers: &[String]) -> String {
    if servers.is_empty() {
        " (none is known to this agent)".to_string()
    } else {
        format!(": {}", servers.join(", "))
    }
}
