//! The UDP packet pipeline, both directions (memberlist.md §2.1).
//!
//! ```text
//! send:    message ─► [compress if shorter] ─► [CRC] ─► [encrypt] ─► [label] ─► datagram
//! receive: datagram ─► label check ─► decrypt ─► CRC check ─► compound/compress (recursive) ─► messages
//! ```
//!
//! Error policy on receive: failures of the outer layers (label, decryption, CRC) drop the whole
//! packet. Inside, each compound part is decoded on its own like memberlist does: good parts are
//! kept even when another part is bad or the compound is truncated. [`decode_packet`] returns
//! an error only when nothing at all could be decoded; [`decode_packet_lossy`] reports every
//! error beside the good messages.

use crate::compound::split_compound;
use crate::compress::{compress, lzw_decompress};
use crate::crc::{strip_crc, wrap_crc, CRC_HEADER_LEN};
use crate::crypto::{decrypt, encrypt, Key, Keyring};
use crate::error::DecodeError;
use crate::label::{add_label, check_inbound, label_overhead, strip_label};
use crate::limits::{
    ENCRYPT_OVERHEAD_V0, ENCRYPT_OVERHEAD_V1, MAX_DECOMPRESSED_BYTES, MAX_NESTING,
};
use crate::message::{Message, MessageType};
use crate::msgpack::Reader;

/// How packets are wrapped and checked: keyring, verification switches, label.
#[derive(Debug, Clone, Copy)]
pub struct PacketOptions<'a> {
    /// Keys; `None` or an empty keyring disables encryption.
    pub keyring: Option<&'a Keyring>,
    /// Drop packets that do not decrypt (default true). When false, a packet that fails to
    /// decrypt is taken as plaintext (for migrating a running cluster to encryption).
    pub verify_incoming: bool,
    /// Encrypt outgoing packets when a keyring is present (default true).
    pub verify_outgoing: bool,
    /// Encryption version for sending: 0 (padded, protocol 1) or 1 (default).
    pub encryption_version: u8,
    /// Our label (v0.3.0+); `None` or empty = no label header (v0.2.2 compatible).
    pub label: Option<&'a [u8]>,
    /// The transport already checked and stripped labels: an inbound header is then an error
    /// and `label` is assumed.
    pub skip_inbound_label_check: bool,
}

impl Default for PacketOptions<'_> {
    fn default() -> Self {
        PacketOptions {
            keyring: None,
            verify_incoming: true,
            verify_outgoing: true,
            encryption_version: 1,
            label: None,
            skip_inbound_label_check: false,
        }
    }
}

impl PacketOptions<'_> {
    /// The key outgoing packets are encrypted with, if any.
    pub fn sending_key(&self) -> Option<&Key> {
        if !self.verify_outgoing {
            return None;
        }
        self.keyring.and_then(Keyring::primary)
    }

    /// Bytes [`encode_packet`] adds beyond the (possibly compressed) message, without the CRC
    /// header: encryption overhead and label header. memberlist subtracts this from the
    /// piggyback budget.
    pub fn overhead(&self) -> usize {
        let enc = match self.sending_key() {
            None => 0,
            Some(_) if self.encryption_version == 0 => ENCRYPT_OVERHEAD_V0,
            Some(_) => ENCRYPT_OVERHEAD_V1,
        };
        enc + label_overhead(self.label.unwrap_or_default())
    }
}

/// Wraps an already-encoded message (plain or compound) for sending, in memberlist's order:
/// LZW-compress when `compress` and only if strictly shorter; CRC header when `crc`; encrypt
/// with the primary key when a keyring is set and `verify_outgoing` (AAD = label); label
/// header when a label is set. `nonce` must be fresh random bytes for every packet.
pub fn encode_packet(
    msg: &[u8],
    crc: bool,
    compress_msg: bool,
    opts: &PacketOptions<'_>,
    nonce: [u8; 12],
    out: &mut Vec<u8>,
) {
    let mut compressed = Vec::new();
    let mut body = msg;
    if compress_msg {
        compress(msg, &mut compressed);
        if compressed.len() < msg.len() {
            body = &compressed;
        }
    }
    let mut with_crc = Vec::new();
    if crc {
        wrap_crc(body, &mut with_crc);
        body = &with_crc;
    }
    let label = opts.label.unwrap_or_default();
    add_label(label, out);
    match opts.sending_key() {
        Some(key) => encrypt(opts.encryption_version, key, nonce, body, label, out),
        None => out.extend_from_slice(body),
    }
}

/// Decodes a datagram into its messages. Returns an error when the packet is rejected as a
/// whole (label, decryption, CRC) or when no message in it could be decoded; otherwise the
/// decodable messages, in packet order (bad compound parts are skipped, as memberlist does).
pub fn decode_packet(buf: &[u8], opts: &PacketOptions<'_>) -> Result<Vec<Message>, DecodeError> {
    let (msgs, errs) = decode_packet_lossy(buf, opts);
    match errs.into_iter().next() {
        Some(e) if msgs.is_empty() => Err(e),
        _ => Ok(msgs),
    }
}

/// Like [`decode_packet`], but returns every decodable message together with every error met
/// (a truncated compound adds [`DecodeError::Truncated`] after its complete parts).
pub fn decode_packet_lossy(
    buf: &[u8],
    opts: &PacketOptions<'_>,
) -> (Vec<Message>, Vec<DecodeError>) {
    let mut msgs = Vec::new();
    let mut errs = Vec::new();
    if let Err(e) = unwrap_and_dispatch(buf, opts, &mut msgs, &mut errs) {
        errs.push(e);
    }
    (msgs, errs)
}

fn unwrap_and_dispatch(
    buf: &[u8],
    opts: &PacketOptions<'_>,
    msgs: &mut Vec<Message>,
    errs: &mut Vec<DecodeError>,
) -> Result<(), DecodeError> {
    let (received, rest) = strip_label(buf)?;
    let label = check_inbound(received, opts.label, opts.skip_inbound_label_check)?;
    let decrypted;
    let mut plain = rest;
    if let Some(ring) = opts.keyring.filter(|r| !r.is_empty()) {
        match decrypt(ring, rest, label) {
            Ok(p) => {
                decrypted = p;
                plain = &decrypted;
            }
            Err(e) if opts.verify_incoming => return Err(e),
            Err(_) => {}
        }
    }
    if plain.len() >= CRC_HEADER_LEN && plain.first() == Some(&(MessageType::HasCrc as u8)) {
        plain = strip_crc(plain)?;
    }
    let mut budget = MAX_DECOMPRESSED_BYTES;
    dispatch(plain, 0, &mut budget, msgs, errs);
    Ok(())
}

/// Decodes one message that may be a compound or compress wrapper, recursively.
/// `budget` bounds the decompressed bytes of the whole packet.
fn dispatch(
    buf: &[u8],
    depth: usize,
    budget: &mut usize,
    msgs: &mut Vec<Message>,
    errs: &mut Vec<DecodeError>,
) {
    let Some(&ty) = buf.first() else {
        errs.push(DecodeError::Empty);
        return;
    };
    match MessageType::from_u8(ty) {
        Some(MessageType::Compound) | Some(MessageType::Compress) if depth >= MAX_NESTING => {
            errs.push(DecodeError::NestingTooDeep);
        }
        Some(MessageType::Compound) => match split_compound(buf) {
            Ok((parts, truncated)) => {
                for p in parts {
                    dispatch(p, depth + 1, budget, msgs, errs);
                }
                if truncated {
                    errs.push(DecodeError::Truncated);
                }
            }
            Err(e) => errs.push(e),
        },
        Some(MessageType::Compress) => match decompress_bounded(&buf[1..], *budget) {
            Ok(inner) => {
                *budget -= inner.len();
                dispatch(&inner, depth + 1, budget, msgs, errs);
            }
            Err(e) => errs.push(e),
        },
        Some(
            t @ (MessageType::PushPull
            | MessageType::Err
            | MessageType::Encrypt
            | MessageType::HasCrc
            | MessageType::HasLabel),
        ) => errs.push(DecodeError::UnexpectedType(t)),
        _ => match Message::decode(buf) {
            Ok(m) => msgs.push(m),
            Err(e) => errs.push(e),
        },
    }
}

fn decompress_bounded(body: &[u8], max: usize) -> Result<Vec<u8>, DecodeError> {
    let lzw = crate::codec::read_compress(&mut Reader::new(body))?;
    let out = lzw_decompress(&lzw, max)?;
    if out.is_empty() {
        return Err(DecodeError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::compound::encode_compound;
    use crate::message::{Nack, Ping};
    use std::sync::Arc;

    fn ping() -> Message {
        Message::Ping(Ping {
            seq_no: 7,
            node: Arc::from("n2"),
            source_addr: None,
            source_port: None,
            source_node: None,
        })
    }

    #[test]
    fn pipeline_roundtrip() {
        let ring = Keyring::new(Key::new(&[1; 32]).unwrap());
        let p = ping().to_bytes();
        let n = Message::Nack(Nack { seq_no: 3 }).to_bytes();
        let mut comp = Vec::new();
        encode_compound(&[&p, &n], &mut comp);
        for keyring in [None, Some(&ring)] {
            for label in [None, Some(&b"prod"[..])] {
                for crc in [false, true] {
                    for z in [false, true] {
                        let opts = PacketOptions {
                            keyring,
                            label,
                            ..Default::default()
                        };
                        let mut out = Vec::new();
                        encode_packet(&comp, crc, z, &opts, [3; 12], &mut out);
                        let got = decode_packet(&out, &opts).unwrap();
                        assert_eq!(got, vec![ping(), Message::Nack(Nack { seq_no: 3 })]);
                    }
                }
            }
        }
    }

    #[test]
    fn bad_part_is_skipped() {
        let p = ping().to_bytes();
        let mut comp = Vec::new();
        encode_compound(&[&p, &[99, 1]], &mut comp);
        let (m, e) = decode_packet_lossy(&comp, &PacketOptions::default());
        assert_eq!(m, vec![ping()]);
        assert_eq!(e, vec![DecodeError::UnknownType(99)]);
        assert_eq!(
            decode_packet(&[99], &PacketOptions::default()),
            Err(DecodeError::UnknownType(99))
        );
    }

    #[test]
    fn nesting_bounded() {
        let mut m = ping().to_bytes();
        for _ in 0..6 {
            let mut c = Vec::new();
            encode_compound(&[&m], &mut c);
            m = c;
        }
        assert_eq!(
            decode_packet(&m, &PacketOptions::default()),
            Err(DecodeError::NestingTooDeep)
        );
    }

    #[test]
    fn encryption_required_and_migration() {
        let ring = Keyring::new(Key::new(&[1; 16]).unwrap());
        let plain = ping().to_bytes();
        let strict = PacketOptions {
            keyring: Some(&ring),
            ..Default::default()
        };
        assert!(decode_packet(&plain, &strict).is_err());
        let lax = PacketOptions {
            verify_incoming: false,
            ..strict
        };
        assert_eq!(decode_packet(&plain, &lax).unwrap(), vec![ping()]);
    }
}
