//! The errors of [`crate::Serf`]'s constructor and commands.

use rumor_swim::ConfigError;
use rumor_wire::serf::{LamportTime, TagsError};

/// Why a Serf command or constructor failed. Every variant leaves the state unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SerfError {
    /// The SWIM configuration is invalid. Nothing was created.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The Serf protocol version is outside 2..=5. Nothing was created.
    #[error("Serf protocol version {0} is outside the supported range 2..=5")]
    ProtocolVersion(u8),
    /// A Serf setting is invalid (named). Nothing was created.
    #[error("invalid Serf setting: {0}")]
    Setting(&'static str),
    /// The tags do not fit in node meta. The old tags stay.
    #[error(transparent)]
    Tags(#[from] TagsError),
    /// A user event is larger than the limit (Serf's wording). Nothing was sent.
    #[error("user event exceeds {what} limit of {limit} bytes {when} encoding")]
    UserEventTooLarge {
        /// "configured" or "sane".
        what: &'static str,
        /// The limit in bytes.
        limit: usize,
        /// "before" or "after".
        when: &'static str,
    },
    /// The command needs a live member, but this one is leaving or has left.
    #[error("this member is leaving or has left the cluster")]
    NotAlive,
    /// Queries need Serf protocol 4 or later; we speak the one carried here (Serf's
    /// `FeatureNotSupported`). Nothing was sent.
    #[error("Feature not supported")]
    FeatureNotSupported(u8),
    /// The encoded query (type byte included) is larger than Serf's `QuerySizeLimit`.
    /// Nothing was sent, the query clock did not move.
    #[error("query exceeds limit of {limit} bytes")]
    QuerySizeLimit {
        /// Encoded length.
        len: usize,
        /// The limit (1024).
        limit: usize,
    },
    /// A tag filter's expression is not a valid regular expression. Nothing was sent.
    #[error("Failed to format filters: tag {tag}: bad regular expression {expr:?}: {error}")]
    BadTagFilter {
        /// The tag.
        tag: String,
        /// The expression.
        expr: String,
        /// Why it does not compile.
        error: String,
    },
    /// No query with this time and id is waiting for our answer (never delivered to us, or
    /// its deadline passed and it was forgotten). Nothing was sent.
    #[error("unknown query (LTime {ltime}, ID {id})")]
    UnknownQuery {
        /// The query's time.
        ltime: LamportTime,
        /// The query's id.
        id: u32,
    },
    /// We already answered this query (one response per query). Nothing was sent.
    #[error("response already sent")]
    AlreadyResponded,
    /// The query's deadline has passed. Nothing was sent.
    #[error("response is past the deadline")]
    PastDeadline,
    /// The encoded response (type byte included) is larger than Serf's
    /// `QueryResponseSizeLimit`. Nothing was sent; a smaller answer may still be sent.
    #[error("response exceeds limit of {limit} bytes")]
    ResponseSizeLimit {
        /// Encoded length.
        len: usize,
        /// The limit (1024).
        limit: usize,
    },
    /// A key query other than list-keys needs a key. Nothing was sent.
    #[error("a key is required for {0}")]
    MissingKey(&'static str),
}

/// Why a graceful leave ended without completing, as Serf's `Leave` fails. Effect on state:
/// we stay leaving (as Serf does), so a retry of [`crate::Serf::leave`] does nothing; the
/// driver should shut down, and peers see what Serf's peers would see of a leave that timed
/// out at that step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LeaveError {
    /// Our leave intent was not gossiped its full count within the broadcast timeout. The
    /// memberlist leave was not sent: peers that got the intent see us left once they find
    /// us gone, the others see us failed.
    #[error("timeout while waiting for graceful leave")]
    IntentTimeout,
    /// memberlist's leave message was not gossiped its full count within the broadcast
    /// timeout (Serf then skips the propagation delay).
    #[error("timeout waiting for leave broadcast")]
    BroadcastTimeout,
}
