//! Compound messages (type 7): several messages in one packet.
//!
//! Layout: `0x07`, count `N` (u8), `N` big-endian u16 lengths, then the parts back to back,
//! each a whole message with its own type byte.

use crate::error::DecodeError;
use crate::limits::MAX_COMPOUND_PARTS_SEND;
use crate::message::MessageType;

/// Appends a compound of `parts`.
///
/// The caller keeps `parts.len()` within [`MAX_COMPOUND_PARTS_SEND`] (v0.2.2 mis-parses 128 or
/// more; see [`encode_compounds`] to split a longer list) and never passes an empty part (it
/// crashes v0.2.2) or one longer than 65,535 bytes (its length would not fit). Both are checked
/// in debug builds; in release builds such parts are left out and parts beyond the 127th are
/// dropped, so the output is always safe for every peer.
pub fn encode_compound(parts: &[&[u8]], out: &mut Vec<u8>) {
    debug_assert!(!parts.is_empty() && parts.len() <= MAX_COMPOUND_PARTS_SEND);
    debug_assert!(parts.iter().all(|p| sendable(p)));
    let n = parts
        .iter()
        .filter(|p| sendable(p))
        .take(MAX_COMPOUND_PARTS_SEND)
        .count();
    let kept = || {
        parts
            .iter()
            .filter(|p| sendable(p))
            .take(MAX_COMPOUND_PARTS_SEND)
    };
    out.reserve(2 + kept().map(|p| 2 + p.len()).sum::<usize>());
    out.push(MessageType::Compound as u8);
    out.push(n as u8);
    for p in kept() {
        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
    }
    for p in kept() {
        out.extend_from_slice(p);
    }
}

fn sendable(p: &[u8]) -> bool {
    !p.is_empty() && p.len() <= usize::from(u16::MAX)
}

/// Packs any number of parts into as many compounds as needed, each of at most
/// [`MAX_COMPOUND_PARTS_SEND`] parts, in order. A chunk of a single part is sent bare (no
/// compound wrapper), as memberlist does.
pub fn encode_compounds(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts
        .chunks(MAX_COMPOUND_PARTS_SEND)
        .map(|chunk| match chunk {
            [one] => one.to_vec(),
            _ => {
                let mut out = Vec::new();
                encode_compound(chunk, &mut out);
                out
            }
        })
        .collect()
}

/// Size of the compound of `parts` without building it.
pub fn compound_len(parts: &[&[u8]]) -> usize {
    2 + parts.iter().map(|p| 2 + p.len()).sum::<usize>()
}

/// Splits a compound. `buf` starts WITH the `0x07` type byte. Follows memberlist's rules:
/// a missing count or a short length table is an error ([`DecodeError::Truncated`]); when
/// the data runs out before a part ends, that part and all later ones are dropped and the
/// flag `truncated` is returned `true` alongside the complete earlier parts; bytes after the
/// last part are ignored. The count is read as a full `u8` (0..=255), as memberlist ≥ 0.2.4.
pub fn split_compound(buf: &[u8]) -> Result<(Vec<&[u8]>, bool), DecodeError> {
    match buf.first() {
        Some(&t) if t == MessageType::Compound as u8 => {}
        Some(&t) => {
            return Err(match MessageType::from_u8(t) {
                Some(mt) => DecodeError::UnexpectedType(mt),
                None => DecodeError::UnknownType(t),
            })
        }
        None => return Err(DecodeError::Empty),
    }
    let n = usize::from(*buf.get(1).ok_or(DecodeError::Truncated)?);
    let table = buf.get(2..2 + 2 * n).ok_or(DecodeError::Truncated)?;
    let mut rest = &buf[2 + 2 * n..];
    let mut parts = Vec::with_capacity(n);
    for len in table.chunks_exact(2) {
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if rest.len() < len {
            return Ok((parts, true));
        }
        let (part, tail) = rest.split_at(len);
        parts.push(part);
        rest = tail;
    }
    Ok((parts, false))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn roundtrip_and_truncation() {
        let a = [0u8, 1, 2];
        let b = [3u8; 40];
        let mut out = Vec::new();
        encode_compound(&[&a, &b], &mut out);
        assert_eq!(out.len(), compound_len(&[&a, &b]));
        assert_eq!(&out[..6], &[7, 2, 0, 3, 0, 40]);
        let (parts, trunc) = split_compound(&out).unwrap();
        assert_eq!(parts, vec![&a[..], &b[..]]);
        assert!(!trunc);
        let (parts, trunc) = split_compound(&out[..out.len() - 1]).unwrap();
        assert_eq!(parts, vec![&a[..]]);
        assert!(trunc);
        assert_eq!(split_compound(&[7]), Err(DecodeError::Truncated));
        assert_eq!(split_compound(&[7, 2, 0, 1]), Err(DecodeError::Truncated));
        assert_eq!(split_compound(&[7, 0]).unwrap(), (vec![], false));
        // trailing bytes ignored
        let mut t = out.clone();
        t.push(99);
        assert_eq!(split_compound(&t).unwrap().0.len(), 2);
    }

    #[test]
    fn chunks_of_127() {
        let part = [8u8, 1];
        let parts: Vec<&[u8]> = vec![&part; 300];
        let packets = encode_compounds(&parts);
        assert_eq!(packets.len(), 3);
        assert_eq!(split_compound(&packets[0]).unwrap().0.len(), 127);
        assert_eq!(split_compound(&packets[2]).unwrap().0.len(), 46);
        assert_eq!(encode_compounds(&[&part]), vec![part.to_vec()]);
    }

    #[test]
    fn full_u8_count() {
        let part = [8u8, 1];
        let parts: Vec<&[u8]> = vec![&part; 200];
        let mut out = vec![7, 200];
        for _ in 0..200 {
            out.extend_from_slice(&[0, 2]);
        }
        for p in &parts {
            out.extend_from_slice(p);
        }
        let (got, trunc) = split_compound(&out).unwrap();
        assert_eq!(got.len(), 200);
        assert!(!trunc);
    }
}
