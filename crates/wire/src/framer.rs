//! Finding where a stream message ends, incrementally: [`StreamFramer`].
//!
//! A TCP stream carries one message per direction, and every form of it is self-delimiting
//! (memberlist.md §6): an optional label header (`244`, length, label), then a type byte and
//! a msgpack body, where a push-pull is a header map followed by `Nodes` node-state maps and
//! `UserStateLen` raw bytes, a user message a header map followed by `UserMsgLen` raw bytes,
//! a compressed message one msgpack value, and an encrypted frame `10` + a `u32` length + that
//! many bytes. So the end can be found without keys or configuration.
//!
//! The framer keeps its position between calls and never looks at a byte twice (apart from
//! the few bytes of a msgpack header or a push-pull / user header that arrived in pieces),
//! so a peer that drips a large push-pull one byte at a time costs linear work, and the
//! driver hands the core the message once, whole, instead of re-decoding a growing prefix.

use crate::codec::{read_push_pull_header, read_user_len};
use crate::error::DecodeError;
use crate::message::MessageType;
use crate::msgpack::Reader;

/// Deepest nesting of msgpack containers accepted (memberlist's messages nest two deep).
const MAX_DEPTH: usize = 64;

/// What comes after the msgpack value being skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// The message ends with it.
    End,
    /// It was a push-pull header (starting at the offset): node states and user state follow.
    PushPullHeader(usize),
    /// It was one node state; this many more follow, then `user` raw bytes.
    Nodes { left: usize, user: usize },
    /// It was a user message header (starting at the offset): raw bytes follow.
    UserHeader(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// At a label header or the type byte.
    Start,
    /// After the encrypted frame's type byte: its length comes next.
    EncryptedLen,
    /// Skipping one msgpack value.
    Value(Then),
    /// The message ends at this offset once that many bytes are here.
    RawUntil(usize),
    /// Complete: the message is this many bytes.
    Done(usize),
}

/// Finds where the first stream message ends in bytes that arrive in pieces. See the module
/// docs.
#[derive(Debug, Clone)]
pub struct StreamFramer {
    max_bytes: usize,
    stage: Stage,
    /// Offset of the next byte to look at.
    pos: usize,
    /// Whether a label header was already passed.
    labelled: bool,
    /// Values still to skip in each open msgpack container, innermost last.
    open: Vec<u64>,
    /// Raw bytes of a msgpack string, binary or extension still to skip.
    blob: u64,
    /// Bytes examined, for the linear-work test.
    #[cfg(test)]
    examined: usize,
}

impl StreamFramer {
    /// A framer for a message of at most `max_bytes` bytes.
    pub fn new(max_bytes: usize) -> Self {
        StreamFramer {
            max_bytes,
            stage: Stage::Start,
            pos: 0,
            labelled: false,
            open: Vec::new(),
            blob: 0,
            #[cfg(test)]
            examined: 0,
        }
    }

    /// Looks at `buf`, every byte received so far (each call's `buf` extends the last one's).
    /// `Ok(Some(n))`: the first `n` bytes are one whole message. `Ok(None)`: more bytes are
    /// needed. `Err`: the bytes cannot start a valid message, or the message is larger than
    /// the limit ([`DecodeError::TooLarge`]).
    pub fn advance(&mut self, buf: &[u8]) -> Result<Option<usize>, DecodeError> {
        // Bounded: every pass of the loop moves `pos` or the stage forward, or returns.
        loop {
            if let Stage::Done(n) = self.stage {
                return Ok(Some(n));
            }
            if self.pos > self.max_bytes {
                return Err(self.too_large(self.pos));
            }
            match self.stage {
                Stage::Start => {
                    let Some(&t) = buf.get(self.pos) else {
                        return Ok(None);
                    };
                    if t == MessageType::HasLabel as u8 && !self.labelled {
                        let Some(&len) = buf.get(self.pos + 1) else {
                            return Ok(None);
                        };
                        self.pos += 2 + usize::from(len);
                        self.labelled = true;
                        continue;
                    }
                    self.pos += 1;
                    self.stage = match MessageType::from_u8(t) {
                        Some(MessageType::Encrypt) => Stage::EncryptedLen,
                        Some(MessageType::PushPull) => self.value(Then::PushPullHeader(self.pos)),
                        Some(MessageType::User) => self.value(Then::UserHeader(self.pos)),
                        Some(MessageType::HasLabel) | None => {
                            return Err(DecodeError::UnknownType(t));
                        }
                        Some(_) => self.value(Then::End),
                    };
                }
                Stage::EncryptedLen => {
                    let Some(b) = buf.get(self.pos..self.pos + 4) else {
                        return Ok(None);
                    };
                    let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
                    let end = self.pos + 4 + len;
                    if end > self.max_bytes {
                        return Err(self.too_large(end));
                    }
                    self.stage = Stage::RawUntil(end);
                }
                Stage::RawUntil(end) => {
                    if buf.len() < end {
                        return Ok(None);
                    }
                    self.pos = end;
                    self.stage = Stage::Done(end);
                }
                Stage::Value(then) => {
                    if !self.skip(buf)? {
                        return Ok(None);
                    }
                    self.stage = self.after_value(buf, then)?;
                }
                Stage::Done(_) => {}
            }
        }
    }

    fn too_large(&self, len: usize) -> DecodeError {
        DecodeError::TooLarge {
            what: "stream message",
            len,
            max: self.max_bytes,
        }
    }

    /// Starts skipping one msgpack value at `pos`.
    fn value(&mut self, then: Then) -> Stage {
        self.open.clear();
        self.open.push(1);
        self.blob = 0;
        Stage::Value(then)
    }

    /// What follows a value just skipped.
    fn after_value(&mut self, buf: &[u8], then: Then) -> Result<Stage, DecodeError> {
        let stage = match then {
            Then::End => Stage::Done(self.pos),
            Then::PushPullHeader(start) => {
                let h = read_push_pull_header(&mut Reader::new(&buf[start..self.pos]))?;
                self.nodes_then(h.nodes, h.user_state_len)?
            }
            Then::Nodes { left, user } => self.nodes_then(left, user)?,
            Then::UserHeader(start) => {
                let len = read_user_len(&mut Reader::new(&buf[start..self.pos]))?;
                self.raw_then(len)?
            }
        };
        Ok(stage)
    }

    fn nodes_then(&mut self, left: usize, user: usize) -> Result<Stage, DecodeError> {
        if left == 0 {
            return self.raw_then(user);
        }
        Ok(self.value(Then::Nodes {
            left: left - 1,
            user,
        }))
    }

    fn raw_then(&mut self, len: usize) -> Result<Stage, DecodeError> {
        let end = self.pos.saturating_add(len);
        if end > self.max_bytes {
            return Err(self.too_large(end));
        }
        Ok(Stage::RawUntil(end))
    }

    /// Skips msgpack bytes from `pos`; true once the value begun by [`Self::value`] is whole.
    fn skip(&mut self, buf: &[u8]) -> Result<bool, DecodeError> {
        loop {
            if self.blob > 0 {
                let avail = (buf.len().saturating_sub(self.pos)) as u64;
                let take = avail.min(self.blob);
                #[cfg(test)]
                {
                    self.examined += take as usize;
                }
                self.pos += take as usize;
                self.blob -= take;
                if self.blob > 0 {
                    return Ok(false);
                }
                self.value_done();
            }
            if self.open.is_empty() {
                return Ok(true);
            }
            let Some(&m) = buf.get(self.pos) else {
                return Ok(false);
            };
            let (head, blob, items) = header(m, &buf[self.pos..])?;
            let Some(head) = head.filter(|h| self.pos + h <= buf.len()) else {
                return Ok(false);
            };
            #[cfg(test)]
            {
                self.examined += head;
            }
            self.pos += head;
            if self.pos as u64 + blob > self.max_bytes as u64 {
                return Err(self.too_large(self.pos.saturating_add(blob as usize)));
            }
            if blob > 0 {
                self.blob = blob;
                continue;
            }
            if items > 0 {
                if self.open.len() >= MAX_DEPTH {
                    return Err(DecodeError::Msgpack(
                        crate::error::MsgpackError::DepthExceeded,
                    ));
                }
                self.open.push(items);
                continue;
            }
            self.value_done();
        }
    }

    /// One value of the innermost open container is complete; close finished containers.
    fn value_done(&mut self) {
        while let Some(top) = self.open.last_mut() {
            *top -= 1;
            if *top > 0 {
                return;
            }
            self.open.pop();
        }
    }
}

/// The msgpack header starting `rest` (first byte `m`): its length in bytes (`None` while
/// incomplete), the raw bytes that follow it, and the values a container holds.
fn header(m: u8, rest: &[u8]) -> Result<(Option<usize>, u64, u64), DecodeError> {
    let be = |n: usize| -> Option<u64> {
        let b = rest.get(1..1 + n)?;
        Some(b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
    };
    let fixed = |n: usize| Ok((Some(n), 0, 0));
    // (header length, raw bytes after it, container items)
    let sized = |n: usize, extra: usize, mult: u64, blob: bool| match be(n) {
        Some(v) if blob => Ok((Some(1 + n + extra), v, 0)),
        Some(v) => Ok((Some(1 + n), 0, v * mult)),
        None => Ok((None, 0, 0)),
    };
    match m {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => fixed(1),
        0x80..=0x8f => Ok((Some(1), 0, u64::from(m & 0x0f) * 2)),
        0x90..=0x9f => Ok((Some(1), 0, u64::from(m & 0x0f))),
        0xa0..=0xbf => Ok((Some(1), u64::from(m & 0x1f), 0)),
        0xc4 | 0xd9 => sized(1, 0, 0, true),
        0xc5 | 0xda => sized(2, 0, 0, true),
        0xc6 | 0xdb => sized(4, 0, 0, true),
        // ext: length, then a type byte, then the data.
        0xc7 => sized(1, 1, 0, true),
        0xc8 => sized(2, 1, 0, true),
        0xc9 => sized(4, 1, 0, true),
        0xca => fixed(5),
        0xcb => fixed(9),
        0xcc | 0xd0 => fixed(2),
        0xcd | 0xd1 => fixed(3),
        0xce | 0xd2 => fixed(5),
        0xcf | 0xd3 => fixed(9),
        0xd4 => fixed(3),
        0xd5 => fixed(4),
        0xd6 => fixed(6),
        0xd7 => fixed(10),
        0xd8 => fixed(18),
        0xdc => sized(2, 0, 1, false),
        0xdd => sized(4, 0, 1, false),
        0xde => sized(2, 0, 2, false),
        0xdf => sized(4, 0, 2, false),
        0xc1 => Err(DecodeError::Msgpack(crate::error::MsgpackError::Reserved)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use bytes::Bytes;
    use proptest::prelude::*;

    use super::*;
    use crate::crypto::{Key, Keyring};
    use crate::limits::MAX_STREAM_BYTES;
    use crate::{encode_stream, Ack, ErrResp, Message, PushNodeState, PushPull, StreamOptions};

    fn push_pull(nodes: usize, user: usize) -> Message {
        let nodes = (0..nodes)
            .map(|i| PushNodeState {
                name: format!("node-{i}").into(),
                addr: [10, 0, (i >> 8) as u8, i as u8].into(),
                port: 7946,
                meta: Some(Bytes::from(vec![0xff; i % 40])),
                incarnation: i as u32,
                state: crate::WireState::Alive,
                vsn: Some(Bytes::from_static(&[1, 5, 2, 2, 5, 5])),
            })
            .collect();
        Message::PushPull(PushPull {
            join: true,
            nodes,
            user_state: Bytes::from(vec![7u8; user]),
        })
    }

    fn messages() -> Vec<Message> {
        vec![
            push_pull(0, 0),
            push_pull(3, 0),
            push_pull(20, 300),
            Message::User(Bytes::from_static(b"hello user")),
            Message::Ack(Ack {
                seq_no: 9,
                payload: Some(Bytes::from_static(b"coord")),
            }),
            Message::Err(ErrResp {
                error: "refused".into(),
            }),
        ]
    }

    fn encodings(msg: &Message, keyring: &Keyring) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (compress, keys, label, dialer) in [
            (false, false, None, false),
            (true, false, None, false),
            (false, true, None, false),
            (true, true, Some(&b"lbl"[..]), true),
            (false, false, Some(&b"a-label"[..]), true),
        ] {
            let opts = StreamOptions {
                compress,
                keyring: keys.then_some(keyring),
                label,
                ..StreamOptions::default()
            };
            let mut b = Vec::new();
            encode_stream(msg, &opts, [3; 12], dialer, &mut b);
            out.push(b);
        }
        out
    }

    fn keyring() -> Keyring {
        Keyring::new(Key::new(&[1u8; 32]).unwrap())
    }

    /// Feeds `bytes` in the given chunk sizes; returns the answer after each chunk.
    fn feed(bytes: &[u8], chunks: &[usize]) -> Vec<Option<usize>> {
        let mut f = StreamFramer::new(MAX_STREAM_BYTES);
        let mut end = 0;
        let mut out = Vec::new();
        let mut i = 0;
        while end < bytes.len() {
            end = (end + chunks[i % chunks.len()].max(1)).min(bytes.len());
            i += 1;
            out.push(f.advance(&bytes[..end]).unwrap());
        }
        out
    }

    #[test]
    fn every_form_is_framed_exactly_at_its_end() {
        let ring = keyring();
        for msg in messages() {
            for bytes in encodings(&msg, &ring) {
                for chunks in [&[usize::MAX][..], &[1], &[3, 7, 1, 64]] {
                    let answers = feed(&bytes, chunks);
                    let (last, before) = answers.split_last().unwrap();
                    assert_eq!(*last, Some(bytes.len()), "{msg:?} in chunks {chunks:?}");
                    assert!(before.iter().all(Option::is_none), "{msg:?}: early answer");
                }
                // Trailing bytes change nothing.
                let mut more = bytes.clone();
                more.extend_from_slice(b"\x00\x01garbage");
                let mut f = StreamFramer::new(MAX_STREAM_BYTES);
                assert_eq!(f.advance(&more).unwrap(), Some(bytes.len()));
            }
        }
    }

    #[test]
    fn a_dripped_megabyte_push_pull_costs_linear_work() {
        let msg = push_pull(8_000, 100_000);
        let mut bytes = Vec::new();
        encode_stream(&msg, &StreamOptions::default(), [0; 12], false, &mut bytes);
        assert!(bytes.len() > 500_000, "{}", bytes.len());
        let mut f = StreamFramer::new(MAX_STREAM_BYTES);
        for end in 1..bytes.len() {
            assert_eq!(f.advance(&bytes[..end]).unwrap(), None);
        }
        assert_eq!(f.advance(&bytes).unwrap(), Some(bytes.len()));
        // Every byte examined once (headers of split values at most a few times more).
        assert!(
            f.examined <= bytes.len(),
            "{} of {}",
            f.examined,
            bytes.len()
        );
    }

    #[test]
    fn bad_starts_and_oversized_messages_are_errors() {
        assert!(
            StreamFramer::new(100).advance(&[0xee]).is_err(),
            "unknown type"
        );
        assert!(
            StreamFramer::new(100).advance(&[6, 0xc1]).is_err(),
            "reserved byte"
        );
        // An encrypted frame announcing more than the limit.
        let mut f = StreamFramer::new(100);
        assert!(matches!(
            f.advance(&[10, 0, 0, 1, 0]),
            Err(DecodeError::TooLarge { .. })
        ));
        // A binary value announcing more than the limit.
        let mut f = StreamFramer::new(100);
        assert!(f.advance(&[9, 0x81, 0xa1, b'B', 0xc6, 0, 1, 0, 0]).is_err());
        // Too deep.
        let mut deep = vec![2u8];
        deep.extend(std::iter::repeat_n(0x91, 100));
        assert!(StreamFramer::new(1000).advance(&deep).is_err());
        // Nothing yet: need more.
        assert_eq!(StreamFramer::new(100).advance(&[]).unwrap(), None);
    }

    proptest! {
        #[test]
        fn random_chunkings_agree(nodes in 0usize..30, user in 0usize..200, chunks in prop::collection::vec(1usize..50, 1..8), form in 0usize..5) {
            let msg = push_pull(nodes, user);
            let bytes = &encodings(&msg, &keyring())[form];
            let answers = feed(bytes, &chunks);
            prop_assert_eq!(*answers.last().unwrap(), Some(bytes.len()));
            prop_assert!(answers[..answers.len() - 1].iter().all(Option::is_none));
        }

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), chunk in 1usize..20) {
            let mut f = StreamFramer::new(10_000);
            let mut end = 0;
            while end < bytes.len() {
                end = (end + chunk).min(bytes.len());
                match f.advance(&bytes[..end]) {
                    Ok(Some(n)) => { prop_assert!(n <= end); break; }
                    Ok(None) => {}
                    Err(_) => break,
                }
            }
        }
    }
}
