//! Reading back-to-back msgpack values from a TCP stream, which carries no length prefix:
//! a value is complete when a msgpack walk reaches its end.
//!
//! The walk is incremental: [`ValueReader`] remembers how far into the current value it got
//! (and which maps and arrays are still open), so each read only walks the bytes it brought.
//! A peer that drips a value a byte at a time costs linear work, not quadratic.

use bytes::{Buf, BytesMut};
use rumor_wire::error::MsgpackError;
use rumor_wire::limits::MAX_MSGPACK_DEPTH;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest single RPC value accepted (a member list of a big pool fits easily).
pub const MAX_VALUE_BYTES: usize = 64 * 1024 * 1024;

/// Why a value could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The connection closed (cleanly, between values, or in the middle of one).
    #[error("connection closed")]
    Closed,
    /// Reading failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    /// Bytes that are not msgpack, or a value beyond [`MAX_VALUE_BYTES`].
    #[error("malformed msgpack value: {0}")]
    Malformed(String),
}

/// Buffers a stream and hands out one complete msgpack value at a time.
#[derive(Debug, Default)]
pub struct ValueReader {
    buf: BytesMut,
    walk: Walk,
}

impl ValueReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Length of the first complete value in the buffer, if there is one.
    fn complete(&mut self) -> Result<Option<usize>, FrameError> {
        match self.walk.resume(&self.buf) {
            Ok(Some(n)) => Ok(Some(n)),
            Ok(None) if self.buf.len() > MAX_VALUE_BYTES => {
                Err(FrameError::Malformed("value too large".into()))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(FrameError::Malformed(e.to_string())),
        }
    }

    /// The next whole value's bytes, reading from `r` as needed.
    pub async fn next<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> Result<Vec<u8>, FrameError> {
        loop {
            if let Some(n) = self.complete()? {
                let v = self.buf[..n].to_vec();
                self.buf.advance(n);
                self.walk.reset();
                return Ok(v);
            }
            let read = r.read_buf(&mut self.buf).await?;
            if read == 0 {
                return Err(FrameError::Closed);
            }
        }
    }
}

/// How far the walk over the value at the front of the buffer got.
#[derive(Debug, Default)]
struct Walk {
    /// Bytes of the value walked so far: every element before `pos` is complete.
    pos: usize,
    /// For each map or array still open (outermost first), the elements still to walk (a
    /// map's keys and values both count).
    open: Vec<u64>,
    /// Bytes examined over the reader's life (a header re-read while its payload is still
    /// arriving counts again): what the linear-work tests check.
    #[cfg(test)]
    examined: usize,
}

/// One element's header: its length, its payload's, and the elements it contains.
struct Header {
    len: usize,
    payload: usize,
    children: u64,
}

impl Walk {
    /// Continue over `buf` (the same bytes as last time, maybe more at the end). `Some(n)`:
    /// the value is the first `n` bytes. `None`: more bytes are needed.
    fn resume(&mut self, buf: &[u8]) -> Result<Option<usize>, MsgpackError> {
        loop {
            // Nesting is checked before the element's bytes, as rumor-wire's skip does.
            if self.open.len() > MAX_MSGPACK_DEPTH {
                return Err(MsgpackError::DepthExceeded);
            }
            let rest = buf.get(self.pos..).unwrap_or_default();
            let Some(h) = header(rest)? else {
                self.count(rest.len().min(9));
                return Ok(None);
            };
            self.count(h.len);
            let end = h.len.saturating_add(h.payload);
            if rest.len() < end {
                return Ok(None);
            }
            self.pos += end;
            if h.children > 0 {
                self.open.push(h.children);
                continue;
            }
            // The element is complete: so are the containers it finished.
            loop {
                match self.open.last_mut() {
                    None => return Ok(Some(self.pos)),
                    Some(left) => {
                        *left -= 1;
                        if *left > 0 {
                            break;
                        }
                        self.open.pop();
                    }
                }
            }
        }
    }

    /// Start over for the next value.
    fn reset(&mut self) {
        self.pos = 0;
        self.open.clear();
    }

    #[cfg(test)]
    fn count(&mut self, n: usize) {
        self.examined += n;
    }

    #[cfg(not(test))]
    fn count(&mut self, _n: usize) {}
}

/// The header of the element at the start of `b`; `None` if `b` ends inside it.
fn header(b: &[u8]) -> Result<Option<Header>, MsgpackError> {
    let Some(&m) = b.first() else {
        return Ok(None);
    };
    // Big-endian length of `n` bytes after the marker.
    let len = |n: usize| -> Option<u64> {
        b.get(1..1 + n)
            .map(|l| l.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    };
    let fixed = |payload: usize| Some((1, payload as u64, 0));
    let sized = |n: usize, extra: u64| len(n).map(|l| (1 + n, l + extra, 0));
    let parts: Option<(usize, u64, u64)> = match m {
        0x00..=0x7f | 0xc0 | 0xc2 | 0xc3 | 0xe0..=0xff => fixed(0),
        0x80..=0x8f => Some((1, 0, 2 * u64::from(m & 0x0f))),
        0x90..=0x9f => Some((1, 0, u64::from(m & 0x0f))),
        0xa0..=0xbf => fixed(usize::from(m & 0x1f)),
        0xc1 => return Err(MsgpackError::Reserved),
        0xc4 | 0xd9 => sized(1, 0),
        0xc5 | 0xda => sized(2, 0),
        0xc6 | 0xdb => sized(4, 0),
        0xc7 => sized(1, 1),
        0xc8 => sized(2, 1),
        0xc9 => sized(4, 1),
        0xcc | 0xd0 => fixed(1),
        0xcd | 0xd1 => fixed(2),
        0xca | 0xce | 0xd2 => fixed(4),
        0xcb | 0xcf | 0xd3 => fixed(8),
        0xd4 => fixed(2),
        0xd5 => fixed(3),
        0xd6 => fixed(5),
        0xd7 => fixed(9),
        0xd8 => fixed(17),
        0xdc => len(2).map(|n| (3, 0, n)),
        0xdd => len(4).map(|n| (5, 0, n)),
        0xde => len(2).map(|n| (3, 0, 2 * n)),
        0xdf => len(4).map(|n| (5, 0, 2 * n)),
    };
    Ok(parts.map(|(len, payload, children)| Header {
        len,
        payload: usize::try_from(payload).unwrap_or(usize::MAX),
        children,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn splits_back_to_back_values_across_reads() {
        let mut bytes = Vec::new();
        crate::rpc::proto::encode(
            &crate::rpc::proto::RequestHeader {
                command: "members".into(),
                seq: 7,
            },
            &mut bytes,
        )
        .unwrap();
        bytes.extend_from_slice(b"\x81\xa3Foo\x01");
        let (mut a, mut b) = tokio::io::duplex(4);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for chunk in bytes.chunks(3) {
                a.write_all(chunk).await.unwrap();
            }
        });
        let mut vr = ValueReader::new();
        let h: crate::rpc::proto::RequestHeader =
            crate::rpc::proto::decode(&vr.next(&mut b).await.unwrap()).unwrap();
        assert_eq!(h.seq, 7);
        assert_eq!(vr.next(&mut b).await.unwrap(), b"\x81\xa3Foo\x01");
        writer.await.unwrap();
        assert!(matches!(vr.next(&mut b).await, Err(FrameError::Closed)));
    }

    #[tokio::test]
    async fn garbage_is_an_error() {
        let (mut a, mut b) = tokio::io::duplex(64);
        use tokio::io::AsyncWriteExt;
        a.write_all(b"\xc1\xc1\xc1").await.unwrap();
        let mut vr = ValueReader::new();
        assert!(matches!(
            vr.next(&mut b).await,
            Err(FrameError::Malformed(_))
        ));
    }

    /// A value with every marker family, nested: maps, arrays, strings, blobs, exts, ints,
    /// floats, nil and bools, in their short and long forms.
    fn every_kind() -> Vec<u8> {
        let scalars: [&[u8]; 37] = [
            b"\x00",
            b"\x7f",
            b"\xe0",
            b"\xff",
            b"\xc0",
            b"\xc2",
            b"\xc3",
            b"\xcc\x01",
            b"\xcd\x01\x02",
            b"\xce\0\0\0\x01",
            b"\xcf\0\0\0\0\0\0\0\x01",
            b"\xd0\xff",
            b"\xd1\x01\x02",
            b"\xd2\0\0\0\x01",
            b"\xd3\0\0\0\0\0\0\0\x01",
            b"\xca\0\0\0\0",
            b"\xcb\0\0\0\0\0\0\0\0",
            b"\xa0",
            b"\xa3abc",
            b"\xd9\x02hi",
            b"\xda\x00\x01k",
            b"\xdb\0\0\0\x02ok",
            b"\xc4\x00",
            b"\xc4\x02xy",
            b"\xc5\x00\x01z",
            b"\xc6\0\0\0\x01w",
            b"\xd4\x01\x02",
            b"\xd5\x01\x02\x03",
            b"\xd6\x01\x02\x03\x04\x05",
            b"\xd7\x01\x01\x02\x03\x04\x05\x06\x07\x08",
            b"\xd8\x01\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10",
            b"\xc7\x00\x05",
            b"\xc7\x01\x05\x06",
            b"\xc8\x00\x01\x05\x06",
            b"\xc9\0\0\0\x02\x05\x06\x07",
            b"\x90",
            b"\x80", // empty containers
        ];
        let mut v = Vec::new();
        // array32 of: every scalar, a fixmap, a map16 and a map32 (each of every scalar as
        // value under a fixint key), an array16 of every scalar, and a fixarray of two.
        v.push(0xdd);
        v.extend_from_slice(&(scalars.len() as u32 + 5).to_be_bytes());
        for s in scalars {
            v.extend_from_slice(s);
        }
        let map_of_all = |v: &mut Vec<u8>| {
            for (i, s) in scalars.iter().enumerate() {
                v.push(i as u8);
                v.extend_from_slice(s);
            }
        };
        v.push(0x82);
        v.extend_from_slice(b"\xa1a\x01\xa1b\x92\x01\x02");
        v.push(0xde);
        v.extend_from_slice(&(scalars.len() as u16).to_be_bytes());
        map_of_all(&mut v);
        v.push(0xdf);
        v.extend_from_slice(&(scalars.len() as u32).to_be_bytes());
        map_of_all(&mut v);
        v.push(0xdc);
        v.extend_from_slice(&(scalars.len() as u16).to_be_bytes());
        for s in scalars {
            v.extend_from_slice(s);
        }
        v.extend_from_slice(b"\x92\x91\x80\xc0");
        v
    }

    /// Walk `value` (followed by trailing bytes) as it arrives one byte at a time.
    fn drip(value: &[u8]) -> (Option<usize>, Walk) {
        let mut bytes = value.to_vec();
        bytes.extend_from_slice(b"\x01\x02");
        let mut walk = Walk::default();
        for k in 1..=bytes.len() {
            if let Some(n) = walk.resume(&bytes[..k]).unwrap() {
                assert_eq!(k, value.len(), "complete exactly at its last byte");
                return (Some(n), walk);
            }
        }
        (None, walk)
    }

    #[test]
    fn walks_every_kind_like_rumor_wire() {
        let v = every_kind();
        let mut r = rumor_wire::msgpack::Reader::new(&v);
        r.skip_value().unwrap();
        assert_eq!(r.position(), v.len(), "the fixture is one value");
        assert_eq!(Walk::default().resume(&v).unwrap(), Some(v.len()));
        assert_eq!(drip(&v).0, Some(v.len()));
        // Every proper prefix is incomplete, for both.
        for k in 0..v.len() {
            let mut r = rumor_wire::msgpack::Reader::new(&v[..k]);
            assert_eq!(r.skip_value(), Err(MsgpackError::Eof));
            assert_eq!(Walk::default().resume(&v[..k]).unwrap(), None);
        }
    }

    #[test]
    fn reserved_marker_and_depth_are_errors_like_rumor_wire() {
        assert_eq!(
            Walk::default().resume(b"\x92\x01\xc1"),
            Err(MsgpackError::Reserved)
        );
        for depth in [MAX_MSGPACK_DEPTH, MAX_MSGPACK_DEPTH + 1] {
            // `depth` one-element arrays around a scalar: the scalar sits at `depth`.
            let mut v = vec![0x91; depth];
            v.push(0x01);
            let wire = rumor_wire::msgpack::Reader::new(&v).skip_value();
            let ours = Walk::default().resume(&v);
            assert_eq!(ours.is_ok(), wire.is_ok(), "depth {depth}");
            if depth > MAX_MSGPACK_DEPTH {
                assert_eq!(ours, Err(MsgpackError::DepthExceeded));
            } else {
                assert_eq!(ours, Ok(Some(v.len())));
            }
        }
    }

    /// A big reply: a member list of a large pool.
    fn big_value() -> Vec<u8> {
        let members = (0..1500)
            .map(|i| crate::rpc::proto::Member {
                addr: vec![10, 0, (i / 256) as u8, (i % 256) as u8],
                name: format!("node-{i}"),
                port: 7946,
                status: "alive".into(),
                tags: std::collections::BTreeMap::from([
                    ("role".to_string(), "web".to_string()),
                    ("dc".to_string(), "dc1".to_string()),
                ]),
                ..Default::default()
            })
            .collect();
        let mut out = Vec::new();
        crate::rpc::proto::encode(&crate::rpc::proto::MembersResponse { members }, &mut out)
            .unwrap();
        out
    }

    #[test]
    fn dripping_a_big_value_costs_linear_work() {
        let v = big_value();
        assert!(v.len() > 100_000, "{}", v.len());
        let (n, walk) = drip(&v);
        assert_eq!(n, Some(v.len()));
        // A walk from the start on every byte would examine about len²/2 bytes; the
        // incremental walk examines each byte about once, plus a header re-read per read.
        assert!(
            walk.examined <= 6 * v.len(),
            "examined {} bytes for a {}-byte value",
            walk.examined,
            v.len()
        );
    }

    #[tokio::test]
    async fn a_big_value_read_one_byte_at_a_time_decodes() {
        let v = big_value();
        let mut bytes = v.clone();
        crate::rpc::proto::encode(
            &crate::rpc::proto::RequestHeader {
                command: "members".into(),
                seq: 9,
            },
            &mut bytes,
        )
        .unwrap();
        let total = bytes.len();
        // A one-byte pipe: every read returns a single byte.
        let (mut a, mut b) = tokio::io::duplex(1);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            a.write_all(&bytes).await.unwrap();
        });
        let mut vr = ValueReader::new();
        let got = vr.next(&mut b).await.unwrap();
        assert_eq!(got, v);
        let resp: crate::rpc::proto::MembersResponse = crate::rpc::proto::decode(&got).unwrap();
        assert_eq!(resp.members.len(), 1500);
        assert_eq!(resp.members[1499].name, "node-1499");
        let h: crate::rpc::proto::RequestHeader =
            crate::rpc::proto::decode(&vr.next(&mut b).await.unwrap()).unwrap();
        assert_eq!(h.seq, 9);
        writer.await.unwrap();
        assert!(
            vr.walk.examined <= 6 * total,
            "examined {} bytes for {total}",
            vr.walk.examined
        );
    }
}
