//! The typed errors of every decoder in this crate.
//!
//! Decoders are pure functions: whatever the error, **nothing was changed** anywhere and the
//! input (packet, stream bytes, compound part) is dropped by the caller. Each variant says so and
//! says what the caller usually does next.

use crate::message::MessageType;

/// Why a msgpack value could not be read (see [`crate::msgpack::Reader`]).
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MsgpackError {
    /// The input ended inside a value. On a stream this means "wait for more bytes"; on a
    /// packet or a complete buffer the value is dropped, nothing changed.
    #[error("msgpack: input ended inside a value")]
    Eof,
    /// A marker byte of a family other than the one the field needs (e.g. a map where a
    /// string was expected). The value is dropped, nothing changed.
    #[error("msgpack: expected {expected}, found marker 0x{found:02x}")]
    UnexpectedMarker {
        /// What the reader wanted.
        expected: &'static str,
        /// The marker byte found.
        found: u8,
    },
    /// An integer does not fit the field (negative into unsigned, or too large). The value is
    /// dropped, nothing changed.
    #[error("msgpack: integer out of range for the field")]
    IntOutOfRange,
    /// A string is not UTF-8. The value is dropped, nothing changed.
    #[error("msgpack: string is not valid UTF-8")]
    InvalidUtf8,
    /// Maps/arrays nested deeper than [`crate::limits::MAX_MSGPACK_DEPTH`] while skipping an
    /// unknown value. The value is dropped, nothing changed.
    #[error("msgpack: nesting deeper than the limit")]
    DepthExceeded,
    /// The reserved marker `0xc1`. The value is dropped, nothing changed.
    #[error("msgpack: reserved marker 0xc1")]
    Reserved,
}

/// Why a memberlist packet, stream or message could not be decoded.
///
/// Every decoder in this crate is a pure function, so for **every** variant: nothing was
/// changed, and the caller drops the input (packet, compound part, or stream).
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the structure it announced was complete. On a packet the packet
    /// is dropped; on a stream [`crate::decode_stream`] turns this into `Ok(None)` ("need more
    /// bytes"). Nothing changed.
    #[error("input truncated")]
    Truncated,
    /// A message that was complete (decrypted or decompressed) ended before its own structure
    /// did, so more stream bytes cannot help. The stream is dropped, nothing changed.
    #[error("inner (decrypted or decompressed) message truncated")]
    InnerTruncated,
    /// An empty message (no type byte): v0.2.2 would crash on it. Dropped, nothing changed.
    #[error("empty message")]
    Empty,
    /// The first byte is no memberlist message type. Dropped, nothing changed.
    #[error("unknown message type {0}")]
    UnknownType(u8),
    /// A known type where it is not allowed (e.g. a compound handed to
    /// [`crate::Message::decode`], push-pull on a packet, gossip on a stream). Dropped, nothing
    /// changed.
    #[error("message type {0:?} not allowed here")]
    UnexpectedType(MessageType),
    /// A msgpack body could not be read. Dropped, nothing changed. (A body that merely ends
    /// early is reported as [`DecodeError::Truncated`], never as `Msgpack(Eof)`.)
    #[error(transparent)]
    Msgpack(MsgpackError),
    /// A field has a value the protocol does not define (e.g. node state 7). Dropped, nothing
    /// changed.
    #[error("field {field}: invalid value")]
    BadField {
        /// The Go field name.
        field: &'static str,
    },
    /// An IP address field is neither 4 nor 16 bytes. Dropped, nothing changed.
    #[error("IP address of {0} bytes (need 4 or 16)")]
    BadAddr(usize),
    /// The CRC header does not match the bytes it covers. Dropped, nothing changed.
    #[error("CRC mismatch: header 0x{expected:08x}, computed 0x{actual:08x}")]
    BadCrc {
        /// CRC carried in the header.
        expected: u32,
        /// CRC computed over the payload.
        actual: u32,
    },
    /// Encrypted data with a version byte other than 0 or 1. Dropped, nothing changed.
    #[error("unknown encryption version {0}")]
    UnknownEncryptionVersion(u8),
    /// No key of the keyring authenticates the data (wrong key, tampering, or garbage).
    /// Dropped, nothing changed.
    #[error("no key in the keyring decrypts the message")]
    Decrypt,
    /// Encrypted data arrived but there is no keyring to decrypt it. Dropped, nothing changed.
    #[error("encrypted message but no keyring configured")]
    NoKeyring,
    /// Plaintext arrived while encryption is required (keyring present and
    /// `verify_incoming`). Dropped, nothing changed.
    #[error("plaintext message but encryption is required")]
    EncryptionRequired,
    /// A declared or actual size is above a named limit (see [`crate::limits`]). Dropped
    /// without allocating, nothing changed.
    #[error("{what}: {len} bytes/items exceeds the limit {max}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// The size found or declared.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The label header is malformed (length 0). Dropped, nothing changed.
    #[error("malformed label header")]
    BadLabel,
    /// The inbound label differs from ours (labelled and unlabelled nodes cannot talk).
    /// Dropped, nothing changed.
    #[error("label mismatch")]
    LabelMismatch,
    /// A label header arrived although `skip_inbound_label_check` says the transport already
    /// stripped it ("double label"). Dropped, nothing changed.
    #[error("unexpected label header (label check is delegated to the transport)")]
    DoubleLabel,
    /// A compress wrapper names an algorithm other than 0 (LZW). Dropped, nothing changed.
    #[error("unknown compression algorithm {0}")]
    UnknownCompression(u64),
    /// The LZW data is invalid or ends without the end code. Dropped, nothing changed.
    #[error("LZW decompression failed: {0}")]
    Decompress(&'static str),
    /// Compound/compress wrappers nested deeper than [`crate::limits::MAX_NESTING`]. Dropped,
    /// nothing changed.
    #[error("compound/compress nesting too deep")]
    NestingTooDeep,
}

impl From<MsgpackError> for DecodeError {
    fn from(e: MsgpackError) -> Self {
        match e {
            MsgpackError::Eof => DecodeError::Truncated,
            e => DecodeError::Msgpack(e),
        }
    }
}

/// Why a key or keyring operation was refused. The keyring is left unchanged.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// A key must be 16, 24 or 32 bytes (AES-128/192/256). Nothing changed.
    #[error("key of {0} bytes (need 16, 24 or 32)")]
    BadLength(usize),
    /// The key is not in the keyring. Nothing changed.
    #[error("key not in the keyring")]
    NotFound,
    /// The primary key cannot be removed; make another key primary first. Nothing changed.
    #[error("cannot remove the primary key")]
    RemovePrimary,
}
