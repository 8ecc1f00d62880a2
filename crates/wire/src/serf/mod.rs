//! Serf 0.9.4's gossip messages and tag encoding: the bytes a Serf agent puts inside
//! memberlist user messages, push-pull user state, and node meta.
//!
//! Every Serf message is `[type byte][msgpack body]`, written with the gossip dialect of
//! [`crate::msgpack`]: structs as maps keyed by their Go field names in sorted order, strings and
//! byte slices in the old raw family, integers in their smallest unsigned form. Go `map`s are
//! written by Go in random order; here they are written sorted (a [`BTreeMap`](std::collections::BTreeMap)),
//! which any reader accepts.
//!
//! | byte | message                         | where it travels                                      |
//! |------|---------------------------------|-------------------------------------------------------|
//! | 0    | [`LeaveIntent`]                 | gossip (intent queue)                                 |
//! | 1    | [`JoinIntent`]                  | gossip (intent queue)                                 |
//! | 2    | [`PushPull`]                    | memberlist push-pull user state                       |
//! | 3    | [`UserEvent`]                   | gossip (event queue)                                  |
//! | 4    | [`Query`]                       | gossip (query queue)                                  |
//! | 5    | [`QueryResponse`]               | direct UDP user message to the query's source          |
//! | 6    | conflict response ([`MemberRecord`]) | payload of a `_serf_conflict` query response     |
//! | 7    | [`KeyRequest`]                  | payload of a `_serf_*-key` query                      |
//! | 8    | [`KeyResponse`]                 | payload of a key query response                       |
//! | 9    | [`Relay`]                       | direct UDP user message to a relay node               |
//!
//! Tags ride in memberlist node meta: see [`tags`]. Vivaldi coordinates ride in memberlist
//! ack payloads: see [`Coordinate`] and [`decode_ack_payload`].
//!
//! Decoding is lenient the way go-msgpack is (keys in any order, unknown keys skipped, nil or
//! missing fields as zero values, any int/str/bin family) and never panics: bad bytes give a
//! [`SerfDecodeError`].

mod coordinate;
mod error;
mod intent;
mod key;
mod member;
mod push_pull;
mod query;
mod read;
mod relay;
pub mod tags;
mod user_event;

#[cfg(test)]
mod tests;

use bytes::Bytes;

use crate::msgpack::{Reader, Writer};

pub use coordinate::{decode_ack_payload, AckPayload, Coordinate, PING_VERSION};
pub use error::{SerfDecodeError, TagsError};
pub use intent::{JoinIntent, LeaveIntent};
pub use key::{KeyRequest, KeyResponse};
pub use member::MemberRecord;
pub use push_pull::{PushPull, UserEventEntry, UserEvents};
pub use query::{Filter, Query, QueryResponse, FILTER_NODES, FILTER_TAG};
pub use relay::{Relay, RelayHeader};
pub use tags::{decode_tags, decode_tags_lossy, encode_tags, encode_tags_for_protocol, TAG_MAGIC};
pub use user_event::UserEvent;

/// A Lamport time: Serf's logical clock value (Go `LamportTime`, a `uint64`).
pub type LamportTime = u64;

/// Slots in Serf's event ring (`EventBuffer`); a push-pull carries exactly this many.
/// 512: a node may miss up to 512 event times and still dedupe correctly.
pub const EVENT_BUFFER_SIZE: usize = 512;

/// Slots in Serf's query ring (`QueryBuffer`).
pub const QUERY_BUFFER_SIZE: usize = 512;

/// Query flag: receivers should acknowledge (`queryFlagAck`).
pub const QUERY_FLAG_ACK: u32 = 1;

/// Query flag: receivers must not gossip the query on (`queryFlagNoBroadcast`).
pub const QUERY_FLAG_NO_BROADCAST: u32 = 2;

/// Default limit on a user event's name plus payload, and on its encoded size
/// (`UserEventSizeLimit`): an event must fit in a gossip packet next to other gossip.
pub const USER_EVENT_SIZE_LIMIT: usize = 512;

/// Hard ceiling on the configurable user event limit (Serf's "sane limit", 9 KiB).
pub const USER_EVENT_SANE_LIMIT: usize = 9216;

/// Default limit on an encoded query (`QuerySizeLimit`).
pub const QUERY_SIZE_LIMIT: usize = 1024;

/// Default limit on an encoded query response (`QueryResponseSizeLimit`).
pub const QUERY_RESPONSE_SIZE_LIMIT: usize = 1024;

/// The Serf message type byte. Append-only: the numbers are part of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum SerfMessageType {
    /// A member is leaving (or is being removed).
    Leave = 0,
    /// A member joined.
    Join = 1,
    /// Serf's push-pull user state.
    PushPull = 2,
    /// A user event.
    UserEvent = 3,
    /// A query.
    Query = 4,
    /// An ack or response to a query.
    QueryResponse = 5,
    /// A `_serf_conflict` answer (query response payload).
    ConflictResponse = 6,
    /// A keyring query payload.
    KeyRequest = 7,
    /// A keyring query response payload.
    KeyResponse = 8,
    /// A message to forward to another node.
    Relay = 9,
}

impl SerfMessageType {
    /// The type for a byte, or `None` for a byte Serf 0.9.4 does not define.
    pub fn from_u8(b: u8) -> Option<Self> {
        use SerfMessageType::*;
        Some(match b {
            0 => Leave,
            1 => Join,
            2 => PushPull,
            3 => UserEvent,
            4 => Query,
            5 => QueryResponse,
            6 => ConflictResponse,
            7 => KeyRequest,
            8 => KeyResponse,
            9 => Relay,
            _ => return None,
        })
    }
}

/// One decoded Serf message, type byte included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SerfMessage {
    /// Type 0.
    Leave(LeaveIntent),
    /// Type 1.
    Join(JoinIntent),
    /// Type 2.
    PushPull(PushPull),
    /// Type 3.
    UserEvent(UserEvent),
    /// Type 4.
    Query(Query),
    /// Type 5.
    QueryResponse(QueryResponse),
    /// Type 6: the responder's record of the contested name, or `None` (`c0`) if it knows none.
    ConflictResponse(Option<MemberRecord>),
    /// Type 7.
    KeyRequest(KeyRequest),
    /// Type 8.
    KeyResponse(KeyResponse),
    /// Type 9.
    Relay(Relay),
}

impl SerfMessage {
    /// The type byte this message is sent with.
    pub fn message_type(&self) -> SerfMessageType {
        match self {
            SerfMessage::Leave(_) => SerfMessageType::Leave,
            SerfMessage::Join(_) => SerfMessageType::Join,
            SerfMessage::PushPull(_) => SerfMessageType::PushPull,
            SerfMessage::UserEvent(_) => SerfMessageType::UserEvent,
            SerfMessage::Query(_) => SerfMessageType::Query,
            SerfMessage::QueryResponse(_) => SerfMessageType::QueryResponse,
            SerfMessage::ConflictResponse(_) => SerfMessageType::ConflictResponse,
            SerfMessage::KeyRequest(_) => SerfMessageType::KeyRequest,
            SerfMessage::KeyResponse(_) => SerfMessageType::KeyResponse,
            SerfMessage::Relay(_) => SerfMessageType::Relay,
        }
    }

    /// Appends the message as Serf writes it: the type byte, then the body.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.message_type() as u8);
        let mut w = Writer::new(out);
        match self {
            SerfMessage::Leave(m) => m.write(&mut w),
            SerfMessage::Join(m) => m.write(&mut w),
            SerfMessage::PushPull(m) => m.write(&mut w),
            SerfMessage::UserEvent(m) => m.write(&mut w),
            SerfMessage::Query(m) => m.write(&mut w),
            SerfMessage::QueryResponse(m) => m.write(&mut w),
            SerfMessage::ConflictResponse(None) => w.write_nil(),
            SerfMessage::ConflictResponse(Some(m)) => m.write(&mut w),
            SerfMessage::KeyRequest(m) => m.write(&mut w),
            SerfMessage::KeyResponse(m) => m.write(&mut w),
            SerfMessage::Relay(m) => m.write(&mut w),
        }
    }

    /// Encodes into a fresh vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Encodes into shared bytes (ready for a broadcast queue).
    pub fn to_shared(&self) -> Bytes {
        Bytes::from(self.to_bytes())
    }

    /// Decodes one Serf message (type byte first). Bytes after the body are ignored, as Go
    /// ignores them, except for [`Relay`], whose inner message is everything after the header.
    pub fn decode(buf: &[u8]) -> Result<SerfMessage, SerfDecodeError> {
        let (&ty, body) = buf.split_first().ok_or(SerfDecodeError::Empty)?;
        let t = SerfMessageType::from_u8(ty).ok_or(SerfDecodeError::UnknownType(ty))?;
        let mut r = Reader::new(body);
        Ok(match t {
            SerfMessageType::Leave => SerfMessage::Leave(LeaveIntent::read(&mut r)?),
            SerfMessageType::Join => SerfMessage::Join(JoinIntent::read(&mut r)?),
            SerfMessageType::PushPull => SerfMessage::PushPull(PushPull::read(&mut r)?),
            SerfMessageType::UserEvent => SerfMessage::UserEvent(UserEvent::read(&mut r)?),
            SerfMessageType::Query => SerfMessage::Query(Query::read(&mut r)?),
            SerfMessageType::QueryResponse => {
                SerfMessage::QueryResponse(QueryResponse::read(&mut r)?)
            }
            SerfMessageType::ConflictResponse => {
                if r.try_read_nil()? {
                    SerfMessage::ConflictResponse(None)
                } else {
                    SerfMessage::ConflictResponse(Some(MemberRecord::read(&mut r)?))
                }
            }
            SerfMessageType::KeyRequest => SerfMessage::KeyRequest(KeyRequest::read(&mut r)?),
            SerfMessageType::KeyResponse => SerfMessage::KeyResponse(KeyResponse::read(&mut r)?),
            SerfMessageType::Relay => SerfMessage::Relay(Relay::read(&mut r)?),
        })
    }
}

macro_rules! from_variant {
    ($($ty:ident => $variant:ident),* $(,)?) => {
        $(impl From<$ty> for SerfMessage {
            fn from(m: $ty) -> Self {
                SerfMessage::$variant(m)
            }
        })*
    };
}

from_variant!(
    LeaveIntent => Leave,
    JoinIntent => Join,
    PushPull => PushPull,
    UserEvent => UserEvent,
    Query => Query,
    QueryResponse => QueryResponse,
    KeyRequest => KeyRequest,
    KeyResponse => KeyResponse,
    Relay => Relay,
);

impl From<MemberRecord> for SerfMessage {
    fn from(m: MemberRecord) -> Self {
        SerfMessage::ConflictResponse(Some(m))
    }
}

impl std::fmt::Display for SerfMessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}
