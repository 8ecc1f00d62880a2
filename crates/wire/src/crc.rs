//! The CRC header (type 12): `0x0C`, CRC-32 IEEE of the rest (big-endian), the message.
//!
//! memberlist adds it on packets to peers advertising protocol ≥ 5 and verifies it whenever
//! present, outermost after decryption; it is never nested.

use crate::error::DecodeError;
use crate::message::MessageType;

/// Length of the header in front of the message.
pub const CRC_HEADER_LEN: usize = 5;

/// Appends `0x0C`, the CRC-32 (IEEE) of `msg` big-endian, then `msg`.
pub fn wrap_crc(msg: &[u8], out: &mut Vec<u8>) {
    out.reserve(CRC_HEADER_LEN + msg.len());
    out.push(MessageType::HasCrc as u8);
    out.extend_from_slice(&crc32fast::hash(msg).to_be_bytes());
    out.extend_from_slice(msg);
}

/// Verifies and removes the CRC header. `buf` starts with `0x0C`. Returns the covered message
/// (possibly empty: the caller rejects empty messages).
pub fn strip_crc(buf: &[u8]) -> Result<&[u8], DecodeError> {
    match buf.first() {
        Some(&t) if t == MessageType::HasCrc as u8 => {}
        Some(&t) => return Err(DecodeError::UnknownType(t)),
        None => return Err(DecodeError::Empty),
    }
    if buf.len() < CRC_HEADER_LEN {
        return Err(DecodeError::Truncated);
    }
    let expected = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    let msg = &buf[CRC_HEADER_LEN..];
    let actual = crc32fast::hash(msg);
    if expected != actual {
        return Err(DecodeError::BadCrc { expected, actual });
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn spec_vector() {
        let p1 = hex::decode("0082a44e6f6465a26e32a55365714e6f07").unwrap();
        let mut out = Vec::new();
        wrap_crc(&p1, &mut out);
        assert_eq!(&out[..5], &[0x0c, 0x12, 0xc3, 0x7d, 0xf4]);
        assert_eq!(strip_crc(&out).unwrap(), &p1[..]);
        out[7] ^= 1;
        assert!(matches!(strip_crc(&out), Err(DecodeError::BadCrc { .. })));
        assert_eq!(strip_crc(&[12, 0, 0]), Err(DecodeError::Truncated));
    }
}
