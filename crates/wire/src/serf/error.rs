//! The typed errors of the Serf codecs.

use crate::error::MsgpackError;

/// Why a Serf message (or tags, or a filter) could not be decoded.
///
/// Decoding is a pure function: for every variant nothing was changed, and the caller drops
/// the message (Serf logs it and goes on).
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SerfDecodeError {
    /// No type byte at all. Dropped, nothing changed.
    #[error("empty Serf message")]
    Empty,
    /// The first byte is no Serf message type (0..=9). Dropped, nothing changed.
    #[error("unknown Serf message type {0}")]
    UnknownType(u8),
    /// The body ended before the structure it announced was complete. Dropped, nothing
    /// changed.
    #[error("Serf message truncated")]
    Truncated,
    /// A msgpack value could not be read (wrong family, bad UTF-8, int out of range...).
    /// Dropped, nothing changed.
    #[error("Serf message: {0}")]
    Msgpack(MsgpackError),
    /// A field holds a value the protocol does not define (e.g. a port above 65535, a filter
    /// without a type byte). Dropped, nothing changed.
    #[error("Serf message field {field}: invalid value")]
    BadField {
        /// The Go field name.
        field: &'static str,
    },
    /// An IP address field is neither 4 nor 16 bytes. Dropped, nothing changed.
    #[error("IP address of {0} bytes (need 4 or 16)")]
    BadAddr(usize),
}

impl From<MsgpackError> for SerfDecodeError {
    fn from(e: MsgpackError) -> Self {
        match e {
            MsgpackError::Eof => SerfDecodeError::Truncated,
            e => SerfDecodeError::Msgpack(e),
        }
    }
}

/// Why tags could not be encoded into node meta. Nothing was changed: the old tags stay.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TagsError {
    /// The encoded tags (magic byte included) exceed the meta limit. Serf's wording.
    #[error("Encoded length of tags exceeds limit of {max} bytes")]
    TooLarge {
        /// Encoded length.
        len: usize,
        /// The limit (memberlist `MetaMaxSize`, 512).
        max: usize,
    },
}
