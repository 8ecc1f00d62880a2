//! The memberlist message bodies, one struct per message type, and the [`Message`] enum
//! that ties each to its type byte.
//!
//! Field names and wire order follow memberlist 0.2.2 exactly: every struct is a msgpack map
//! whose keys are the Go field names, sorted byte-wise. `Option` fields are Go `omitempty`
//! fields, absent from the map when `None`.
//!
//! Probe cycle, as sent between three members (A probes B, C relays):
//!
//! ```text
//!  A                 B                 C
//!  |---- Ping ------>|                 |      direct probe, SeqNo s
//!  |<--- Ack --------|                 |      (or nothing within ProbeTimeout)
//!  |---- IndirectPing(target B, s) --->|      k relays
//!  |                 |<--- Ping -------|      relay's own SeqNo
//!  |                 |---- Ack ------->|
//!  |<--- Ack(s) -----------------------|      or Nack(s) after ProbeTimeout
//! ```

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;

/// A member's name as carried on the wire. Shared (`Arc<str>`) so a member table can keep it
/// without copying.
pub type Name = Arc<str>;

/// The message type byte that starts every memberlist message. Append-only: the numbers are
/// part of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// Direct probe.
    Ping = 0,
    /// Request to probe a target on the sender's behalf.
    IndirectPing = 1,
    /// Answer to a ping.
    Ack = 2,
    /// Gossip: a member is suspected.
    Suspect = 3,
    /// Gossip: a member is alive (also carries address, meta, versions).
    Alive = 4,
    /// Gossip: a member is dead (or left, when `from == node`).
    Dead = 5,
    /// Push-pull state exchange (streams only).
    PushPull = 6,
    /// Several messages in one packet.
    Compound = 7,
    /// Application (Serf) payload.
    User = 8,
    /// LZW-compressed inner message.
    Compress = 9,
    /// Encrypted stream frame.
    Encrypt = 10,
    /// Negative answer from a relay of an indirect ping.
    Nack = 11,
    /// CRC-32 header around a packet.
    HasCrc = 12,
    /// Error answer on a stream.
    Err = 13,
    /// Label header (memberlist 0.3.0+).
    HasLabel = 244,
}

impl MessageType {
    /// The type for a byte, or `None` for a byte no memberlist version defines.
    pub fn from_u8(b: u8) -> Option<Self> {
        use MessageType::*;
        Some(match b {
            0 => Ping,
            1 => IndirectPing,
            2 => Ack,
            3 => Suspect,
            4 => Alive,
            5 => Dead,
            6 => PushPull,
            7 => Compound,
            8 => User,
            9 => Compress,
            10 => Encrypt,
            11 => Nack,
            12 => HasCrc,
            13 => Err,
            244 => HasLabel,
            _ => return None,
        })
    }
}

/// State of a member as carried in push-pull (`NodeStateType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum WireState {
    /// Answering probes.
    Alive = 0,
    /// Suspected of failure, not yet declared dead.
    Suspect = 1,
    /// Declared failed.
    Dead = 2,
    /// Left gracefully.
    Left = 3,
}

/// The six protocol version bytes every member advertises:
/// `[PMin, PMax, PCur, DMin, DMax, DCur]` (memberlist protocol, then delegate protocol).
pub type Vsn = [u8; 6];

/// `ping` (type 0): a direct probe. `source_*` tell the target where to answer
/// (omitempty; absent for memberlist < 0.2.0 peers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    /// Sender's sequence number, echoed in the ack.
    pub seq_no: u32,
    /// The intended target's name; a member ignores a ping naming someone else. May be empty.
    pub node: Name,
    /// Sender's advertise IP.
    pub source_addr: Option<IpAddr>,
    /// Sender's advertise port.
    pub source_port: Option<u16>,
    /// Sender's name.
    pub source_node: Option<Name>,
}

/// `indirectPingReq` (type 1): ask a relay to probe `target` for us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndirectPing {
    /// The original prober's sequence number.
    pub seq_no: u32,
    /// Target IP.
    pub target: IpAddr,
    /// Target port (0 means "use your own bind port").
    pub port: u16,
    /// Target name.
    pub node: Name,
    /// Ask for a nack if the target does not answer in time.
    pub nack: bool,
    /// Prober's advertise IP.
    pub source_addr: Option<IpAddr>,
    /// Prober's advertise port.
    pub source_port: Option<u16>,
    /// Prober's name.
    pub source_node: Option<Name>,
}

/// `ackResp` (type 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// Sequence number of the ping being answered.
    pub seq_no: u32,
    /// Ping-delegate payload (Serf: the Vivaldi coordinate). `None` encodes as nil.
    pub payload: Option<Bytes>,
}

/// `nackResp` (type 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nack {
    /// Sequence number of the indirect ping whose target did not answer.
    pub seq_no: u32,
}

/// `errResp` (type 13), streams only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrResp {
    /// Human-readable error.
    pub error: String,
}

/// `suspect` (type 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspect {
    /// Incarnation being accused.
    pub incarnation: u32,
    /// Accused member.
    pub node: Name,
    /// Accuser.
    pub from: Name,
}

/// `dead` (type 5). `from == node` means a graceful leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dead {
    /// Incarnation being declared dead.
    pub incarnation: u32,
    /// The member declared dead.
    pub node: Name,
    /// Who declares it.
    pub from: Name,
}

/// `alive` (type 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alive {
    /// Incarnation number.
    pub incarnation: u32,
    /// Member name.
    pub node: Name,
    /// Member IP (4-byte form for IPv4, 16-byte for IPv6; the form is kept as received).
    pub addr: IpAddr,
    /// Member gossip port.
    pub port: u16,
    /// Delegate metadata (Serf tags); `None` encodes as nil.
    pub meta: Option<Bytes>,
    /// Protocol versions. Old peers may omit or shorten it: kept as received.
    pub vsn: Option<Bytes>,
}

/// One entry of a push-pull node table (`pushNodeState`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushNodeState {
    /// Member name (key `Name`).
    pub name: Name,
    /// Member IP.
    pub addr: IpAddr,
    /// Member port.
    pub port: u16,
    /// Metadata; `None` encodes as nil.
    pub meta: Option<Bytes>,
    /// Incarnation.
    pub incarnation: u32,
    /// State.
    pub state: WireState,
    /// Protocol versions, as received.
    pub vsn: Option<Bytes>,
}

/// A whole push-pull message (type 6): header, node table, and the delegate's user state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPull {
    /// Initiator is joining.
    pub join: bool,
    /// The sender's member table (including itself).
    pub nodes: Vec<PushNodeState>,
    /// Delegate (Serf) state; empty when none.
    pub user_state: Bytes,
}

/// One decoded memberlist message (after label, decryption, CRC, compression and compound
/// framing have been removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Type 0.
    Ping(Ping),
    /// Type 1.
    IndirectPing(IndirectPing),
    /// Type 2.
    Ack(Ack),
    /// Type 3.
    Suspect(Suspect),
    /// Type 4.
    Alive(Alive),
    /// Type 5.
    Dead(Dead),
    /// Type 6 (streams only).
    PushPull(PushPull),
    /// Type 8: raw user bytes (packet form; the stream form's header is stripped).
    User(Bytes),
    /// Type 11.
    Nack(Nack),
    /// Type 13 (streams only).
    Err(ErrResp),
}

impl Message {
    /// The type byte this message is sent with.
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Ping(_) => MessageType::Ping,
            Message::IndirectPing(_) => MessageType::IndirectPing,
            Message::Ack(_) => MessageType::Ack,
            Message::Suspect(_) => MessageType::Suspect,
            Message::Alive(_) => MessageType::Alive,
            Message::Dead(_) => MessageType::Dead,
            Message::PushPull(_) => MessageType::PushPull,
            Message::User(_) => MessageType::User,
            Message::Nack(_) => MessageType::Nack,
            Message::Err(_) => MessageType::Err,
        }
    }

    /// Appends the message as memberlist writes it: the type byte, then the msgpack body
    /// (sorted keys, go-msgpack v0.5.3 forms). `User` is the packet form (`0x08` + raw bytes);
    /// `PushPull` is the header, the node states and the raw user state. For the stream form of
    /// a user message use [`crate::encode_stream`].
    ///
    /// `omitempty` as in Go: a `source_*` field that is `None`, empty or 0 is left out of the
    /// map (and decodes as `None`). `meta`, `vsn` and `payload` distinguish `None` (nil, `c0`)
    /// from `Some(empty)` (`a0`), as Go distinguishes a nil from an empty slice.
    pub fn encode(&self, out: &mut Vec<u8>) {
        crate::codec::write_message(self, false, out);
    }

    /// Encodes into a fresh vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Length of [`encode`](Self::encode)'s output.
    pub fn encoded_len(&self) -> usize {
        self.to_bytes().len()
    }

    /// Decodes ONE plain message (type byte first), as it appears on a packet or inside a
    /// compound part. Bytes after the msgpack body are ignored (as Go does); `User` takes all
    /// bytes after the type byte. The wrappers (compound, compress, CRC, encrypt, label) are
    /// [`crate::DecodeError::UnexpectedType`]: see [`crate::decode_packet`].
    pub fn decode(buf: &[u8]) -> Result<Message, crate::DecodeError> {
        let (&ty, body) = buf.split_first().ok_or(crate::DecodeError::Empty)?;
        let t = MessageType::from_u8(ty).ok_or(crate::DecodeError::UnknownType(ty))?;
        match t {
            MessageType::User => Ok(Message::User(Bytes::copy_from_slice(body))),
            _ => crate::codec::read_body(t, &mut crate::msgpack::Reader::new(body)),
        }
    }
}

impl std::fmt::Display for MessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}
