//! A small msgpack reader and writer, general enough for memberlist, Serf messages and the
//! Serf RPC protocol.
//!
//! Why not serde: go-msgpack v0.5.3 (what memberlist 0.2.2 and Serf 0.9.4 use) writes strings
//! and byte slices in the *old* raw family (fixstr / `da` str16 / `db` str32, never `d9` str8,
//! never bin), writes structs as maps with their Go field names sorted, and writes non-negative
//! signed ints in the unsigned forms. Byte-identical output is easiest by hand.
//!
//! - [`Writer`] writes the old-spec forms Go gossip uses ([`Writer::write_str`],
//!   [`Writer::write_bytes`]) and the new-spec forms the Serf RPC handle uses
//!   ([`Writer::write_str_new_spec`], [`Writer::write_bin`]).
//! - [`Reader`] is lenient the way go-msgpack is: every int family for integer fields (with
//!   range checks), every str and bin family for strings and byte fields, 0/1 for bools, and
//!   [`Reader::skip_value`] for unknown keys (bounded recursion). It never allocates and never
//!   reads past its slice: a declared length longer than the remaining input is
//!   [`MsgpackError::Eof`].
//!
//! Marker bytes are classified with [`rmp::Marker`].

use std::borrow::Cow;

use rmp::Marker;

use crate::error::MsgpackError;
use crate::limits::MAX_MSGPACK_DEPTH;

/// Result of a msgpack read.
pub type Result<T> = std::result::Result<T, MsgpackError>;

/// A cursor over one msgpack-encoded byte slice. Reads borrow from the input.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unread rest of the input.
    pub fn remaining(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Number of unread bytes.
    pub fn remaining_len(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// True when all input has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining_len() == 0
    }

    /// The marker of the next value, without consuming it.
    pub fn peek(&self) -> Result<Marker> {
        self.peek_byte().map(Marker::from_u8)
    }

    /// The next raw byte, without consuming it.
    pub fn peek_byte(&self) -> Result<u8> {
        self.buf.get(self.pos).copied().ok_or(MsgpackError::Eof)
    }

    /// Consumes `n` raw bytes (e.g. a payload following a msgpack header).
    pub fn read_raw(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(MsgpackError::Eof)?;
        let s = self.buf.get(self.pos..end).ok_or(MsgpackError::Eof)?;
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8> {
        let b = self.peek_byte()?;
        self.pos += 1;
        Ok(b)
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.read_raw(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u16(&mut self) -> Result<u16> {
        self.be::<2>().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32> {
        self.be::<4>().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Result<u64> {
        self.be::<8>().map(u64::from_be_bytes)
    }

    fn marker(&mut self) -> Result<(u8, Marker)> {
        let b = self.byte()?;
        Ok((b, Marker::from_u8(b)))
    }

    /// Reads a nil (`c0`).
    pub fn read_nil(&mut self) -> Result<()> {
        let b = self.peek_byte()?;
        if b != Marker::Null.to_u8() {
            return Err(MsgpackError::UnexpectedMarker {
                expected: "nil",
                found: b,
            });
        }
        self.pos += 1;
        Ok(())
    }

    /// Consumes a nil if the next value is one; returns whether it did.
    pub fn try_read_nil(&mut self) -> Result<bool> {
        if self.peek_byte()? == Marker::Null.to_u8() {
            self.pos += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Reads a bool: `c2`/`c3`, or an integer 0/1 (go-msgpack accepts both).
    pub fn read_bool(&mut self) -> Result<bool> {
        let b = self.peek_byte()?;
        match Marker::from_u8(b) {
            Marker::True => {
                self.pos += 1;
                Ok(true)
            }
            Marker::False => {
                self.pos += 1;
                Ok(false)
            }
            _ => match self.read_int()? {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(MsgpackError::IntOutOfRange),
            },
        }
    }

    /// Reads an integer of any msgpack int family as a signed value; `cf` values above
    /// `i64::MAX` are out of range.
    pub fn read_int(&mut self) -> Result<i64> {
        let v = self.read_int_i128()?;
        i64::try_from(v).map_err(|_| MsgpackError::IntOutOfRange)
    }

    /// Reads a non-negative integer of any msgpack int family (unsigned or signed forms).
    pub fn read_uint(&mut self) -> Result<u64> {
        let v = self.read_int_i128()?;
        u64::try_from(v).map_err(|_| MsgpackError::IntOutOfRange)
    }

    /// Reads an integer and checks it fits `T` (e.g. `u16` for a port).
    pub fn read_uint_as<T: TryFrom<u64>>(&mut self) -> Result<T> {
        let v = self.read_uint()?;
        T::try_from(v).map_err(|_| MsgpackError::IntOutOfRange)
    }

    fn read_int_i128(&mut self) -> Result<i128> {
        let (b, m) = self.marker()?;
        Ok(match m {
            Marker::FixPos(v) => i128::from(v),
            Marker::FixNeg(v) => i128::from(v),
            Marker::U8 => i128::from(self.byte()?),
            Marker::U16 => i128::from(self.u16()?),
            Marker::U32 => i128::from(self.u32()?),
            Marker::U64 => i128::from(self.u64()?),
            Marker::I8 => i128::from(self.byte()? as i8),
            Marker::I16 => i128::from(self.u16()? as i16),
            Marker::I32 => i128::from(self.u32()? as i32),
            Marker::I64 => i128::from(self.u64()? as i64),
            _ => {
                self.pos -= 1;
                return Err(MsgpackError::UnexpectedMarker {
                    expected: "integer",
                    found: b,
                });
            }
        })
    }

    /// Reads a float (`ca` or `cb`); integers are accepted too and converted.
    pub fn read_f64(&mut self) -> Result<f64> {
        let b = self.peek_byte()?;
        match Marker::from_u8(b) {
            Marker::F64 => {
                self.pos += 1;
                Ok(f64::from_bits(self.u64()?))
            }
            Marker::F32 => {
                self.pos += 1;
                Ok(f64::from(f32::from_bits(self.u32()?)))
            }
            _ => Ok(self.read_int_i128()? as f64),
        }
    }

    /// Reads the bytes of a string or byte-slice value: fixstr, str8/16/32 or bin8/16/32 (Go
    /// accepts every form for both). Does not consume anything on a marker mismatch.
    pub fn read_bytes(&mut self) -> Result<&'a [u8]> {
        let start = self.pos;
        let (b, m) = self.marker()?;
        let len = match m {
            Marker::FixStr(n) => usize::from(n),
            Marker::Str8 | Marker::Bin8 => usize::from(self.byte()?),
            Marker::Str16 | Marker::Bin16 => usize::from(self.u16()?),
            Marker::Str32 | Marker::Bin32 => self.u32()? as usize,
            _ => {
                self.pos = start;
                return Err(MsgpackError::UnexpectedMarker {
                    expected: "string or bytes",
                    found: b,
                });
            }
        };
        self.read_raw(len)
    }

    /// Reads a Go `[]byte` field the way go-msgpack accepts it: any str or bin form
    /// (borrowed), or an array of integers 0..=255 (copied; its length is checked against the
    /// remaining input before allocating).
    pub fn read_bytes_or_array(&mut self) -> Result<Cow<'a, [u8]>> {
        match self.peek()? {
            Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
                let n = self.read_array_len()?;
                if n > self.remaining_len() {
                    return Err(MsgpackError::Eof);
                }
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.read_uint_as::<u8>()?);
                }
                Ok(Cow::Owned(v))
            }
            _ => self.read_bytes().map(Cow::Borrowed),
        }
    }

    /// Reads a UTF-8 string (any str or bin form).
    pub fn read_str(&mut self) -> Result<&'a str> {
        let b = self.read_bytes()?;
        std::str::from_utf8(b).map_err(|_| MsgpackError::InvalidUtf8)
    }

    /// Reads a map header and returns the number of key/value pairs.
    pub fn read_map_len(&mut self) -> Result<usize> {
        let start = self.pos;
        let (b, m) = self.marker()?;
        match m {
            Marker::FixMap(n) => Ok(usize::from(n)),
            Marker::Map16 => Ok(usize::from(self.u16()?)),
            Marker::Map32 => Ok(self.u32()? as usize),
            _ => {
                self.pos = start;
                Err(MsgpackError::UnexpectedMarker {
                    expected: "map",
                    found: b,
                })
            }
        }
    }

    /// Reads an array header and returns the number of elements.
    pub fn read_array_len(&mut self) -> Result<usize> {
        let start = self.pos;
        let (b, m) = self.marker()?;
        match m {
            Marker::FixArray(n) => Ok(usize::from(n)),
            Marker::Array16 => Ok(usize::from(self.u16()?)),
            Marker::Array32 => Ok(self.u32()? as usize),
            _ => {
                self.pos = start;
                Err(MsgpackError::UnexpectedMarker {
                    expected: "array",
                    found: b,
                })
            }
        }
    }

    /// Reads an extension value: its type and data.
    pub fn read_ext(&mut self) -> Result<(i8, &'a [u8])> {
        let start = self.pos;
        let (b, m) = self.marker()?;
        let len = match m {
            Marker::FixExt1 => 1,
            Marker::FixExt2 => 2,
            Marker::FixExt4 => 4,
            Marker::FixExt8 => 8,
            Marker::FixExt16 => 16,
            Marker::Ext8 => usize::from(self.byte()?),
            Marker::Ext16 => usize::from(self.u16()?),
            Marker::Ext32 => self.u32()? as usize,
            _ => {
                self.pos = start;
                return Err(MsgpackError::UnexpectedMarker {
                    expected: "ext",
                    found: b,
                });
            }
        };
        let ty = self.byte()? as i8;
        Ok((ty, self.read_raw(len)?))
    }

    /// Skips one value of any type (nested maps and arrays up to
    /// [`MAX_MSGPACK_DEPTH`] levels). The work is bounded by
    /// the input length: every element consumes at least one byte.
    pub fn skip_value(&mut self) -> Result<()> {
        self.skip_depth(0)
    }

    /// Consumes one value and returns its raw encoded bytes.
    pub fn read_raw_value(&mut self) -> Result<&'a [u8]> {
        let start = self.pos;
        self.skip_value()?;
        Ok(self.buf.get(start..self.pos).unwrap_or_default())
    }

    fn skip_depth(&mut self, depth: usize) -> Result<()> {
        if depth > MAX_MSGPACK_DEPTH {
            return Err(MsgpackError::DepthExceeded);
        }
        let (_, m) = self.marker()?;
        let skip = match m {
            Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null | Marker::True | Marker::False => {
                0
            }
            Marker::U8 | Marker::I8 => 1,
            Marker::U16 | Marker::I16 => 2,
            Marker::U32 | Marker::I32 | Marker::F32 => 4,
            Marker::U64 | Marker::I64 | Marker::F64 => 8,
            Marker::FixStr(n) => usize::from(n),
            Marker::Str8 | Marker::Bin8 => usize::from(self.byte()?),
            Marker::Str16 | Marker::Bin16 => usize::from(self.u16()?),
            Marker::Str32 | Marker::Bin32 => self.u32()? as usize,
            Marker::FixExt1 => 2,
            Marker::FixExt2 => 3,
            Marker::FixExt4 => 5,
            Marker::FixExt8 => 9,
            Marker::FixExt16 => 17,
            Marker::Ext8 => usize::from(self.byte()?) + 1,
            Marker::Ext16 => usize::from(self.u16()?) + 1,
            Marker::Ext32 => (self.u32()? as usize).saturating_add(1),
            Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
                self.pos -= 1;
                let n = self.read_array_len()?;
                for _ in 0..n {
                    self.skip_depth(depth + 1)?;
                }
                0
            }
            Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
                self.pos -= 1;
                let n = self.read_map_len()?;
                for _ in 0..n {
                    self.skip_depth(depth + 1)?;
                    self.skip_depth(depth + 1)?;
                }
                0
            }
            Marker::Reserved => return Err(MsgpackError::Reserved),
        };
        self.read_raw(skip).map(|_| ())
    }
}

/// Reads a Go struct the way go-msgpack decodes one: a map whose keys are the Go field names
/// (any order, exact case; unknown keys and non-string keys skipped with their values), or an
/// array with the fields in Go declaration order (surplus elements skipped), or nil (all
/// fields zero). `decl` lists the field names in declaration order; `field(i, r)` is called
/// for each present, non-nil field `i` and must consume exactly its value. Fields that are
/// absent or nil keep whatever zero value the caller initialised.
pub fn read_struct<'a, E: From<MsgpackError>>(
    r: &mut Reader<'a>,
    decl: &[&str],
    mut field: impl FnMut(usize, &mut Reader<'a>) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    if r.try_read_nil()? {
        return Ok(());
    }
    match r.peek()? {
        Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
            let n = r.read_map_len()?;
            for _ in 0..n {
                let idx = match r.read_bytes() {
                    Ok(k) => decl.iter().position(|d| d.as_bytes() == k),
                    Err(MsgpackError::UnexpectedMarker { .. }) => {
                        r.skip_value()?;
                        None
                    }
                    Err(e) => return Err(e.into()),
                };
                match idx {
                    Some(i) if !r.try_read_nil()? => field(i, r)?,
                    Some(_) => {}
                    None => r.skip_value()?,
                }
            }
            Ok(())
        }
        Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
            let n = r.read_array_len()?;
            for i in 0..n {
                if i >= decl.len() {
                    r.skip_value()?;
                } else if !r.try_read_nil()? {
                    field(i, r)?;
                }
            }
            Ok(())
        }
        _ => Err(MsgpackError::UnexpectedMarker {
            expected: "map or array (struct)",
            found: r.peek_byte()?,
        }
        .into()),
    }
}

/// Appends msgpack values to a byte vector.
#[derive(Debug)]
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    /// A writer appending to `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Writer { out }
    }

    /// The bytes written so far (the whole vector, including anything before this writer).
    pub fn as_slice(&self) -> &[u8] {
        self.out
    }

    /// Appends raw bytes (e.g. a payload following a header).
    pub fn write_raw(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    /// `c0`.
    pub fn write_nil(&mut self) {
        self.out.push(Marker::Null.to_u8());
    }

    /// `c2` / `c3`.
    pub fn write_bool(&mut self, v: bool) {
        self.out
            .push(if v { Marker::True } else { Marker::False }.to_u8());
    }

    /// Smallest unsigned form: positive fixint, `cc`, `cd`, `ce`, `cf`.
    pub fn write_uint(&mut self, v: u64) {
        if v < 128 {
            self.out.push(v as u8);
        } else if v <= u64::from(u8::MAX) {
            self.out.extend_from_slice(&[Marker::U8.to_u8(), v as u8]);
        } else if v <= u64::from(u16::MAX) {
            self.out.push(Marker::U16.to_u8());
            self.out.extend_from_slice(&(v as u16).to_be_bytes());
        } else if v <= u64::from(u32::MAX) {
            self.out.push(Marker::U32.to_u8());
            self.out.extend_from_slice(&(v as u32).to_be_bytes());
        } else {
            self.out.push(Marker::U64.to_u8());
            self.out.extend_from_slice(&v.to_be_bytes());
        }
    }

    /// A signed int as go-msgpack v0.5.3 writes it: non-negative values in the unsigned forms,
    /// negative ones as negative fixint, `d0`, `d1`, `d2` or `d3`.
    pub fn write_int(&mut self, v: i64) {
        if v >= 0 {
            self.write_uint(v as u64);
        } else if v >= -32 {
            self.out.push(v as i8 as u8);
        } else if v >= i64::from(i8::MIN) {
            self.out
                .extend_from_slice(&[Marker::I8.to_u8(), v as i8 as u8]);
        } else if v >= i64::from(i16::MIN) {
            self.out.push(Marker::I16.to_u8());
            self.out.extend_from_slice(&(v as i16).to_be_bytes());
        } else if v >= i64::from(i32::MIN) {
            self.out.push(Marker::I32.to_u8());
            self.out.extend_from_slice(&(v as i32).to_be_bytes());
        } else {
            self.out.push(Marker::I64.to_u8());
            self.out.extend_from_slice(&v.to_be_bytes());
        }
    }

    /// A signed int in the smallest *signed* form (`d0`-`d3`, fixints), as go-msgpack v2 writes
    /// Go `int` fields; kept for tests and peers that want those bytes.
    pub fn write_int_signed_form(&mut self, v: i64) {
        if (-32..128).contains(&v) {
            self.out.push(v as i8 as u8);
        } else if i8::try_from(v).is_ok() {
            self.out
                .extend_from_slice(&[Marker::I8.to_u8(), v as i8 as u8]);
        } else if let Ok(v) = i16::try_from(v) {
            self.out.push(Marker::I16.to_u8());
            self.out.extend_from_slice(&v.to_be_bytes());
        } else if let Ok(v) = i32::try_from(v) {
            self.out.push(Marker::I32.to_u8());
            self.out.extend_from_slice(&v.to_be_bytes());
        } else {
            self.out.push(Marker::I64.to_u8());
            self.out.extend_from_slice(&v.to_be_bytes());
        }
    }

    /// `cb` + 8 bytes big-endian (Go always writes float64 this way).
    pub fn write_f64(&mut self, v: f64) {
        self.out.push(Marker::F64.to_u8());
        self.out.extend_from_slice(&v.to_bits().to_be_bytes());
    }

    fn raw_header_old(&mut self, len: usize) {
        if len < 32 {
            self.out.push(0xa0 | len as u8);
        } else if len <= usize::from(u16::MAX) {
            self.out.push(Marker::Str16.to_u8());
            self.out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            self.out.push(Marker::Str32.to_u8());
            self.out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }

    /// A string in the old raw family (fixstr, `da`, `db`; never `d9`), as go-msgpack writes
    /// every gossip string.
    pub fn write_str(&mut self, s: &str) {
        self.write_bytes(s.as_bytes());
    }

    /// A byte slice in the old raw family, exactly like a string (gossip `[]byte`).
    pub fn write_bytes(&mut self, b: &[u8]) {
        self.raw_header_old(b.len());
        self.out.extend_from_slice(b);
    }

    /// `None` as nil (`c0`), `Some` as [`write_bytes`](Self::write_bytes) (so `Some(empty)`
    /// is `a0`), the way Go writes a nil vs. an empty slice.
    pub fn write_opt_bytes(&mut self, b: Option<&[u8]>) {
        match b {
            None => self.write_nil(),
            Some(b) => self.write_bytes(b),
        }
    }

    /// A string in the new-spec str family (fixstr, `d9` str8, `da`, `db`), as the Serf RPC
    /// handle writes it.
    pub fn write_str_new_spec(&mut self, s: &str) {
        let len = s.len();
        if (32..=usize::from(u8::MAX)).contains(&len) {
            self.out
                .extend_from_slice(&[Marker::Str8.to_u8(), len as u8]);
        } else {
            self.raw_header_old(len);
        }
        self.out.extend_from_slice(s.as_bytes());
    }

    /// Bytes in the bin family (`c4`, `c5`, `c6`; `c4 00` when empty), as the Serf RPC handle
    /// writes `[]byte`.
    pub fn write_bin(&mut self, b: &[u8]) {
        let len = b.len();
        if len <= usize::from(u8::MAX) {
            self.out
                .extend_from_slice(&[Marker::Bin8.to_u8(), len as u8]);
        } else if len <= usize::from(u16::MAX) {
            self.out.push(Marker::Bin16.to_u8());
            self.out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            self.out.push(Marker::Bin32.to_u8());
            self.out.extend_from_slice(&(len as u32).to_be_bytes());
        }
        self.out.extend_from_slice(b);
    }

    /// A map header for `n` pairs (fixmap, `de`, `df`).
    pub fn write_map_len(&mut self, n: usize) {
        if n < 16 {
            self.out.push(0x80 | n as u8);
        } else if n <= usize::from(u16::MAX) {
            self.out.push(Marker::Map16.to_u8());
            self.out.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            self.out.push(Marker::Map32.to_u8());
            self.out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }

    /// An array header for `n` elements (fixarray, `dc`, `dd`).
    pub fn write_array_len(&mut self, n: usize) {
        if n < 16 {
            self.out.push(0x90 | n as u8);
        } else if n <= usize::from(u16::MAX) {
            self.out.push(Marker::Array16.to_u8());
            self.out.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            self.out.push(Marker::Array32.to_u8());
            self.out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn w(f: impl FnOnce(&mut Writer<'_>)) -> Vec<u8> {
        let mut v = Vec::new();
        f(&mut Writer::new(&mut v));
        v
    }

    #[test]
    fn uint_forms() {
        assert_eq!(w(|w| w.write_uint(5)), [5]);
        assert_eq!(w(|w| w.write_uint(127)), [0x7f]);
        assert_eq!(w(|w| w.write_uint(200)), [0xcc, 200]);
        assert_eq!(w(|w| w.write_uint(7946)), [0xcd, 0x1f, 0x0a]);
        assert_eq!(w(|w| w.write_uint(70000)), [0xce, 0, 1, 0x11, 0x70]);
        assert_eq!(w(|w| w.write_uint(1 << 40)), [0xcf, 0, 0, 1, 0, 0, 0, 0, 0]);
        assert_eq!(w(|w| w.write_int(300)), [0xcd, 1, 0x2c]);
        assert_eq!(w(|w| w.write_int(-1)), [0xff]);
        assert_eq!(w(|w| w.write_int(-33)), [0xd0, 0xdf]);
        assert_eq!(w(|w| w.write_int_signed_form(300)), [0xd1, 1, 0x2c]);
        assert_eq!(
            w(|w| w.write_int_signed_form(70000)),
            [0xd2, 0, 1, 0x11, 0x70]
        );
    }

    #[test]
    fn str_forms() {
        assert_eq!(w(|w| w.write_str("ab")), [0xa2, b'a', b'b']);
        let s = "x".repeat(40);
        let v = w(|w| w.write_str(&s));
        assert_eq!(&v[..3], &[0xda, 0, 40]);
        let v = w(|w| w.write_str_new_spec(&s));
        assert_eq!(&v[..2], &[0xd9, 40]);
        assert_eq!(v.len(), 42);
        let s = "x".repeat(300);
        let v = w(|w| w.write_str_new_spec(&s));
        assert_eq!(&v[..3], &[0xda, 1, 44]);
        assert_eq!(v.len(), 303);
        assert_eq!(w(|w| w.write_bin(&[])), [0xc4, 0]);
        assert_eq!(w(|w| w.write_opt_bytes(None)), [0xc0]);
        assert_eq!(w(|w| w.write_opt_bytes(Some(&[]))), [0xa0]);
    }

    #[test]
    fn read_ints_all_families() {
        for (bytes, v) in [
            (&[0x05][..], 5i64),
            (&[0xcc, 200], 200),
            (&[0xd1, 1, 0x2c], 300),
            (&[0xd2, 0, 1, 0x11, 0x70], 70000),
            (&[0xff], -1),
            (&[0xd0, 0x80], -128),
        ] {
            assert_eq!(Reader::new(bytes).read_int().unwrap(), v);
        }
        assert_eq!(
            Reader::new(&[0xff]).read_uint(),
            Err(MsgpackError::IntOutOfRange)
        );
        assert_eq!(
            Reader::new(&[0xcd, 1, 0]).read_uint_as::<u8>(),
            Err(MsgpackError::IntOutOfRange)
        );
        assert_eq!(Reader::new(&[0xcd, 1]).read_uint(), Err(MsgpackError::Eof));
        assert!(Reader::new(&[0x01]).read_bool().unwrap());
        assert!(Reader::new(&[0x02]).read_bool().is_err());
    }

    #[test]
    fn read_strings_all_families() {
        for bytes in [
            &[0xa2, b'h', b'i'][..],
            &[0xd9, 2, b'h', b'i'],
            &[0xda, 0, 2, b'h', b'i'],
            &[0xdb, 0, 0, 0, 2, b'h', b'i'],
            &[0xc4, 2, b'h', b'i'],
            &[0xc5, 0, 2, b'h', b'i'],
            &[0xc6, 0, 0, 0, 2, b'h', b'i'],
        ] {
            assert_eq!(Reader::new(bytes).read_str().unwrap(), "hi");
        }
        assert_eq!(
            Reader::new(&[0xdb, 0xff, 0xff, 0xff, 0xff, 1]).read_bytes(),
            Err(MsgpackError::Eof)
        );
    }

    #[test]
    fn skip_everything() {
        // map {"a": [1, 2.5, {"x": ext}], "b": nil}
        let v = [
            0x82, 0xa1, b'a', 0x93, 0x01, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0xa1, b'x', 0xd4, 1,
            9, 0xa1, b'b', 0xc0, 0x2a,
        ];
        let mut r = Reader::new(&v);
        r.skip_value().unwrap();
        assert_eq!(r.remaining(), &[0x2a]);
        // deep nesting
        let deep = vec![0x91; 100];
        assert_eq!(
            Reader::new(&deep).skip_value(),
            Err(MsgpackError::DepthExceeded)
        );
        // huge declared array with little data ends in Eof quickly
        assert_eq!(
            Reader::new(&[0xdd, 0xff, 0xff, 0xff, 0xff, 1, 2]).skip_value(),
            Err(MsgpackError::Eof)
        );
        assert_eq!(
            Reader::new(&[0xc1]).skip_value(),
            Err(MsgpackError::Reserved)
        );
    }
}
