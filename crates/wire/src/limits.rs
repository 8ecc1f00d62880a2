//! Named size limits, each with the reason for its value.
//!
//! memberlist's own constants keep their Go values so a rumor node budgets packets exactly like
//! a Go node; the decoding bounds follow the newest memberlist (post-v0.6.0), which added them
//! precisely so that a hostile peer cannot make a node allocate without bound.

use crate::error::DecodeError;

/// Default maximum node metadata (`Meta`) size: memberlist's `MetaMaxSize`. A Go node panics
/// if its delegate returns more, and the metadata rides in every alive message, which must fit
/// a 1400-byte UDP budget. Receivers do not enforce it (Go does not); senders check their own
/// metadata with [`check_meta`], passing this value or their own configured limit.
pub const META_MAX_SIZE: usize = 512;

/// Most parts this crate puts in one compound message. v0.2.2 computes the length-table size
/// in 8-bit arithmetic, so a count of 128 or more is mis-parsed by it; 127 is safe everywhere.
pub const MAX_COMPOUND_PARTS_SEND: usize = 127;

/// Largest encrypted stream payload accepted (memberlist `maxPushStateBytes`, 20 MiB): the
/// declared length of a type-10 frame is checked against it before anything is buffered.
pub const MAX_PUSH_STATE_BYTES: usize = 20 * 1024 * 1024;

/// Largest `Nodes` count in a push-pull header (memberlist v0.6.0): a million members is far
/// beyond any real cluster, and bounding the count bounds the work of decoding the table.
pub const MAX_PUSH_STATE_NODES: usize = 1_048_576;

/// Largest `UserStateLen` in a push-pull header (memberlist v0.6.0), same bound as the
/// encrypted frame.
pub const MAX_USER_STATE_BYTES: usize = 20 * 1024 * 1024;

/// Largest `UserMsgLen` of a user message on a stream (memberlist after v0.6.0).
pub const MAX_USER_MSG_BYTES: usize = 20 * 1024 * 1024;

/// Largest LZW output accepted (memberlist after v0.6.0): LZW expands up to ~300x, so a
/// 64 KiB datagram could otherwise claim gigabytes.
pub const MAX_DECOMPRESSED_BYTES: usize = 40 * 1024 * 1024;

/// Default bound on the bytes of one stream message ([`crate::StreamOptions::max_bytes`]):
/// the largest decompressed message plus framing; plaintext streams have no length prefix, so
/// the reader stops waiting for more bytes beyond this.
pub const MAX_STREAM_BYTES: usize = MAX_DECOMPRESSED_BYTES + 64 * 1024;

/// Size of the buffer the default Go transport reads a datagram into; larger datagrams are
/// truncated by the kernel, so nothing larger ever arrives from a Go peer.
pub const UDP_RECV_BUF: usize = 65_536;

/// Longest label (v0.3.0+): its length is one byte on the wire.
pub const LABEL_MAX_SIZE: usize = 255;

/// Bytes budgeted for the compound header (type + count), memberlist `compoundHeaderOverhead`.
pub const COMPOUND_HEADER_OVERHEAD: usize = 2;

/// Bytes budgeted per compound part (its u16 length), memberlist `compoundOverhead`.
pub const COMPOUND_OVERHEAD: usize = 2;

/// Bytes added before each user broadcast (the type byte 8), memberlist `userMsgOverhead`.
pub const USER_MSG_OVERHEAD: usize = 1;

/// Deepest compound/compress wrapping the packet decoder follows. Real peers nest at most
/// compress(compound(..)) or compound(compress(..)); the bound stops a crafted packet from
/// recursing (and decompressing) without end.
pub const MAX_NESTING: usize = 4;

/// Deepest map/array nesting skipped in an unknown msgpack value. memberlist messages are
/// flat; Serf messages nest two or three levels; this bound keeps recursion shallow.
pub const MAX_MSGPACK_DEPTH: usize = 32;

/// Worst-case encryption overhead of version 0: version byte + 12-byte nonce + up to 16 bytes
/// PKCS#7 padding + 16-byte tag (memberlist `encryptOverhead` for vsn 0).
pub const ENCRYPT_OVERHEAD_V0: usize = 45;

/// Encryption overhead of version 1: version byte + 12-byte nonce + 16-byte tag.
pub const ENCRYPT_OVERHEAD_V1: usize = 29;

/// Checks a node's metadata against a limit (normally [`META_MAX_SIZE`], or the caller's own
/// configured limit). Returns [`DecodeError::TooLarge`] when it does not fit; nothing changed.
pub fn check_meta(meta: &[u8], max: usize) -> Result<(), DecodeError> {
    if meta.len() > max {
        return Err(DecodeError::TooLarge {
            what: "meta",
            len: meta.len(),
            max,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_limit() {
        assert!(check_meta(&[0; 512], META_MAX_SIZE).is_ok());
        assert!(check_meta(&[0; 513], META_MAX_SIZE).is_err());
        assert!(check_meta(&[0; 513], 1024).is_ok());
    }

    #[test]
    fn overheads_match_layout() {
        assert_eq!(ENCRYPT_OVERHEAD_V1, 1 + 12 + 16);
        assert_eq!(ENCRYPT_OVERHEAD_V0, 1 + 12 + 16 + 16);
    }
}
