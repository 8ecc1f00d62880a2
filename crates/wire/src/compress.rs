//! The compress wrapper (type 9): `0x09` + msgpack `{Algo: 0, Buf: LZW(message)}`.
//!
//! LZW is Go's `compress/lzw` with LSB bit order and 8-bit literals (GIF-style: clear 256,
//! end 257, codes of 9 to 12 bits), done with `weezl`, which decodes Go's output exactly and
//! produces byte-identical output for small inputs. Decoding accepts data with or without a
//! leading clear code (Go before 1.18 wrote none), requires the end code like Go's reader,
//! and stops at [`MAX_DECOMPRESSED_BYTES`].

use weezl::{decode::Decoder, encode::Encoder, BitOrder, LzwStatus};

use crate::codec::{read_compress, write_compress};
use crate::error::DecodeError;
use crate::limits::MAX_DECOMPRESSED_BYTES;
use crate::message::MessageType;
use crate::msgpack::{Reader, Writer};

/// LZW-compresses `data` the way Go's `lzw.NewWriter(w, lzw.LSB, 8)` does.
pub fn lzw_compress(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 8);
    let mut enc = Encoder::new(BitOrder::Lsb, 8);
    // With 8-bit literals every byte value is a valid symbol, so encoding cannot fail.
    let res = enc.into_vec(&mut out).encode_all(data);
    debug_assert!(res.status.is_ok());
    out
}

/// Decompresses LZW (LSB, 8) data, bounded by `max` output bytes. Data that ends without the
/// end code is an error, as in Go.
pub fn lzw_decompress(data: &[u8], max: usize) -> Result<Vec<u8>, DecodeError> {
    let mut dec = Decoder::new(BitOrder::Lsb, 8);
    let mut out = Vec::with_capacity(data.len().saturating_mul(3).min(max).min(1 << 20));
    let mut chunk = [0u8; 8192];
    let mut input = data;
    loop {
        let res = dec.decode_bytes(input, &mut chunk);
        input = input.get(res.consumed_in..).unwrap_or_default();
        if out.len() + res.consumed_out > max {
            return Err(DecodeError::TooLarge {
                what: "decompressed message",
                len: out.len() + res.consumed_out,
                max,
            });
        }
        out.extend_from_slice(&chunk[..res.consumed_out]);
        match res.status {
            Ok(LzwStatus::Done) => return Ok(out),
            Ok(LzwStatus::Ok) => {}
            Ok(LzwStatus::NoProgress) => {
                return Err(DecodeError::Decompress("data ends without the end code"))
            }
            Err(_) => return Err(DecodeError::Decompress("invalid LZW code")),
        }
        if res.consumed_in == 0 && res.consumed_out == 0 {
            return Err(DecodeError::Decompress("data ends without the end code"));
        }
    }
}

/// Appends the compress wrapper of `msg` (a whole message including its type byte):
/// `0x09` + `{Algo: 0, Buf: LZW(msg)}`.
pub fn compress(msg: &[u8], out: &mut Vec<u8>) {
    let lzw = lzw_compress(msg);
    out.push(MessageType::Compress as u8);
    write_compress(&mut Writer::new(out), &lzw);
}

/// Unwraps a compress message. `buf` starts with `0x09`. Returns the inner message (with its
/// type byte), at most [`MAX_DECOMPRESSED_BYTES`]; an empty result is [`DecodeError::Empty`].
pub fn decompress(buf: &[u8]) -> Result<Vec<u8>, DecodeError> {
    match buf.first() {
        Some(&t) if t == MessageType::Compress as u8 => {}
        Some(&t) => return Err(DecodeError::UnknownType(t)),
        None => return Err(DecodeError::Empty),
    }
    let mut r = Reader::new(&buf[1..]);
    decompress_body(&mut r)
}

/// Reads a `compress` struct from `r` and decompresses its `Buf`.
pub(crate) fn decompress_body(r: &mut Reader<'_>) -> Result<Vec<u8>, DecodeError> {
    let lzw = read_compress(r)?;
    let out = lzw_decompress(&lzw, MAX_DECOMPRESSED_BYTES)?;
    if out.is_empty() {
        return Err(DecodeError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn spec_vectors() {
        let mut input = vec![b'a'; 40];
        input.extend_from_slice(&[b'b'; 40]);
        let want =
            hex::decode("0982a4416c676f00a3427566b700c3081c48b0a0c18308098a59c8b0a1c3871023360c08")
                .unwrap();
        let mut out = Vec::new();
        compress(&input, &mut out);
        assert_eq!(out, want);
        assert_eq!(decompress(&want).unwrap(), input);
    }

    #[test]
    fn without_leading_clear() {
        let data = hex::decode("61c484111810").unwrap();
        assert_eq!(lzw_decompress(&data, 100).unwrap(), b"abaab");
    }

    #[test]
    fn bounded_and_needs_end_code() {
        let big = vec![0u8; 100_000];
        let z = lzw_compress(&big);
        assert_eq!(lzw_decompress(&z, 100_000).unwrap(), big);
        assert!(matches!(
            lzw_decompress(&z, 99_999),
            Err(DecodeError::TooLarge { .. })
        ));
        assert!(lzw_decompress(&z[..z.len() - 2], 1 << 20).is_err());
        assert!(lzw_decompress(&[], 10).is_err());
    }

    #[test]
    fn empty_result_rejected() {
        let mut out = Vec::new();
        compress(&[], &mut out);
        assert_eq!(decompress(&out), Err(DecodeError::Empty));
    }
}
