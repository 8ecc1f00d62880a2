//! Errors of the driver: binding and address parsing ([`NetError`]), and joins
//! ([`JoinError`]).

use std::net::SocketAddr;
use std::time::Duration;

/// Binding a pool or parsing / resolving an address failed. Nothing was started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The TCP listener could not be bound.
    #[error("cannot bind TCP listener on {addr}: {source}")]
    BindTcp {
        /// Address asked for.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The UDP socket could not be bound (on the port the TCP listener got).
    #[error("cannot bind UDP socket on {addr}: {source}")]
    BindUdp {
        /// Address tried.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// An address string is malformed.
    #[error("invalid address {input:?}: {reason}")]
    InvalidAddress {
        /// The string given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A host name could not be resolved.
    #[error("cannot resolve {input:?}: {source}")]
    Resolve {
        /// The string given.
        input: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A host name resolved to no address.
    #[error("{input:?} resolved to no address")]
    NoAddresses {
        /// The string given.
        input: String,
    },
}

/// A join did not succeed. The pool is unchanged apart from what was merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// No address answered; each failed for the reason given.
    #[error("join failed: {}", format_errors(.errors))]
    Failed {
        /// Each address with its reason.
        errors: Vec<(SocketAddr, rumor_swim::JoinError)>,
    },
    /// The core reported no outcome in time.
    #[error("join did not finish within {0:?}")]
    Timeout(Duration),
    /// The pool was shut down while the join was under way.
    #[error("the pool was shut down")]
    Closed,
}

fn format_errors(errors: &[(SocketAddr, rumor_swim::JoinError)]) -> String {
    if errors.is_empty() {
        return "no address answered".to_string();
    }
    errors
        .iter()
        .map(|(a, e)| format!("{a}: {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}
