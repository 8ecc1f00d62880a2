//! Typed errors of the core. Each variant says what it did to state.

use std::fmt;
use std::sync::Arc;

use rumor_wire::Name;

/// A guard refused a member. The cause is the guard's own error (the agent's datacenter
/// guard names the node, both datacenters and how to federate), shown to operators as is.
///
/// Effect on state: the member was not stored and the message was not gossiped on; for a
/// push-pull, nothing of the remote table was applied.
#[derive(Clone)]
pub struct Refusal {
    /// The member refused.
    pub node: Name,
    /// Why, in the guard's own type.
    pub cause: Arc<dyn std::error::Error + Send + Sync>,
}

impl Refusal {
    /// A refusal of `node` for `cause`.
    pub fn new(node: Name, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Refusal {
            node,
            cause: Arc::new(cause),
        }
    }

    /// The guard's error, to downcast to its own type.
    pub fn cause(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.cause
    }
}

impl fmt::Debug for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refusal")
            .field("node", &self.node)
            .field("cause", &self.cause.to_string())
            .finish()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.cause, f)
    }
}

impl std::error::Error for Refusal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.cause)
    }
}

/// Two refusals are equal when they refuse the same node with the same message.
impl PartialEq for Refusal {
    fn eq(&self, other: &Self) -> bool {
        self.node == other.node && self.cause.to_string() == other.cause.to_string()
    }
}

impl Eq for Refusal {}

/// Which protocol a version mismatch is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolKind {
    /// The memberlist protocol.
    Memberlist,
    /// The delegate (Serf) protocol.
    Delegate,
}

impl fmt::Display for ProtocolKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProtocolKind::Memberlist => "memberlist",
            ProtocolKind::Delegate => "delegate",
        })
    }
}

/// memberlist's `verifyProtocol` failed: a member speaks a version outside the range every
/// live member understands. Effect on state: nothing of the remote table was applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node '{node}' speaks {kind} protocol {version}, outside the range {min}..={max} the pool understands")]
pub struct VersionMismatch {
    /// The member whose spoken version is out of range.
    pub node: Name,
    /// Memberlist or delegate protocol.
    pub kind: ProtocolKind,
    /// The version it speaks.
    pub version: u8,
    /// Lowest version every live member understands.
    pub min: u8,
    /// Highest version every live member understands.
    pub max: u8,
}

/// Why a push-pull merge was refused. Effect on state: nothing of the remote table was
/// applied (and for an inbound push-pull, the remote gets this as its error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// Incompatible protocol versions.
    #[error(transparent)]
    Incompatible(#[from] VersionMismatch),
    /// The merge guard refused a member of the remote table.
    #[error(transparent)]
    Refused(#[from] Refusal),
}

/// Why joining through one address failed. Every variant leaves our table as it was before
/// that address's exchange (nothing of its state was merged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The remote's table holds versions the pool cannot speak.
    #[error(transparent)]
    Incompatible(VersionMismatch),
    /// Our guard refused a member of the remote's table.
    #[error(transparent)]
    Refused(Refusal),
    /// The remote answered with an error (its guard refused us, say), given as it sent it.
    #[error("remote error: {0}")]
    Remote(String),
    /// The reply did not decode.
    #[error("bad reply: {0}")]
    BadReply(String),
    /// The reply decoded, but is not a push-pull.
    #[error("unexpected reply to push-pull")]
    UnexpectedReply,
    /// The stream could not be opened, broke, or passed its deadline (the driver's words).
    #[error("{0}")]
    Stream(String),
    /// We are leaving or have left; no exchange was attempted.
    #[error("cannot join after leaving")]
    Leaving,
}

impl From<MergeError> for JoinError {
    fn from(e: MergeError) -> Self {
        match e {
            MergeError::Incompatible(v) => JoinError::Incompatible(v),
            MergeError::Refused(r) => JoinError::Refused(r),
        }
    }
}
