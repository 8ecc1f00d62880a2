//! The RPC message bodies, field for field as the Serf 0.9.4 agent and CLI encode them
//! (Go field names as map keys; strings as str, byte blobs as bin).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Go writes an empty slice or map as nil: read nil as the empty value.
fn nil_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The only RPC protocol version.
pub const IPC_VERSION: i32 = 1;

/// Every request starts with this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct RequestHeader {
    /// Command name, e.g. `members-filtered`.
    pub command: String,
    /// Client's sequence number; replies and stream records carry it back.
    pub seq: u64,
}

/// Every reply starts with this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ResponseHeader {
    /// Empty on success.
    pub error: String,
    /// The request's sequence number.
    pub seq: u64,
}

/// `handshake` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct HandshakeRequest {
    /// Must be [`IPC_VERSION`].
    pub version: i32,
}

/// `auth` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct AuthRequest {
    /// The shared token.
    pub auth_key: String,
}

/// `join` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct JoinRequest {
    /// Addresses to join (`ip`, `ip:port`, `[v6]:port`, `host:port`).
    #[serde(deserialize_with = "nil_default")]
    pub existing: Vec<String>,
    /// Replay old user events.
    pub replay: bool,
}

/// `join` reply body (sent even when the header carries an error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct JoinResponse {
    /// Number of addresses joined.
    pub num: i32,
}

/// `event` body: a user event to gossip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct EventRequest {
    /// Handlers may coalesce it with later events of the same name.
    pub coalesce: bool,
    /// Event name.
    pub name: String,
    /// Payload.
    #[serde(
        serialize_with = "serde_bytes::serialize",
        deserialize_with = "nil_bytes"
    )]
    pub payload: Vec<u8>,
}

/// A nil byte blob is empty.
fn nil_bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    Ok(Option::<serde_bytes::ByteBuf>::deserialize(d)?
        .map(|b| b.into_vec())
        .unwrap_or_default())
}

/// `force-leave` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ForceLeaveRequest {
    /// The member to force out.
    pub node: String,
    /// Also erase it from the member list.
    pub prune: bool,
}

/// `members-filtered` body: each value is a regular expression anchored at both ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct MembersFilteredRequest {
    /// Name pattern ("" = any).
    pub name: String,
    /// Status pattern ("" = any).
    pub status: String,
    /// Tag patterns.
    #[serde(deserialize_with = "nil_default")]
    pub tags: BTreeMap<String, String>,
}

/// One member as the RPC protocol shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Member {
    /// IP bytes (4 or 16).
    #[serde(with = "serde_bytes")]
    pub addr: Vec<u8>,
    /// Delegate (Serf) protocol version spoken.
    pub delegate_cur: u8,
    /// Highest delegate protocol understood.
    pub delegate_max: u8,
    /// Lowest delegate protocol understood.
    pub delegate_min: u8,
    /// Name.
    pub name: String,
    /// Gossip port.
    pub port: u16,
    /// memberlist protocol spoken.
    pub protocol_cur: u8,
    /// Highest memberlist protocol understood.
    pub protocol_max: u8,
    /// Lowest memberlist protocol understood.
    pub protocol_min: u8,
    /// `alive`, `leaving`, `left`, `failed` or `none`.
    pub status: String,
    /// Tags.
    #[serde(deserialize_with = "nil_default")]
    pub tags: BTreeMap<String, String>,
}

/// `members` / `members-filtered` reply body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct MembersResponse {
    /// The members.
    #[serde(deserialize_with = "nil_default")]
    pub members: Vec<Member>,
}

/// `tags` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct TagsRequest {
    /// Tags to remove.
    #[serde(deserialize_with = "nil_default")]
    pub delete_tags: Vec<String>,
    /// Tags to set.
    #[serde(deserialize_with = "nil_default")]
    pub tags: BTreeMap<String, String>,
}

/// `monitor` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct MonitorRequest {
    /// TRACE, DEBUG, INFO, WARN or ERR.
    pub log_level: String,
}

/// `stream` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct StreamRequest {
    /// Event filter (`*`, `member-join,user:deploy`, ...).
    #[serde(rename = "Type")]
    pub kind: String,
}

/// `stop` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct StopRequest {
    /// The seq of the monitor or stream to end.
    pub stop: u64,
}

/// A `monitor` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogRecord {
    /// One log line.
    pub log: String,
}

/// A `stream` record for member events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct MemberEventRecord {
    /// `member-join`, `member-leave`, `member-failed`, `member-update`, `member-reap`.
    pub event: String,
    /// The members concerned.
    #[serde(deserialize_with = "nil_default")]
    pub members: Vec<Member>,
}

/// A `stream` record for a user event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct UserEventRecord {
    /// Whether it may be coalesced.
    pub coalesce: bool,
    /// Always `user`.
    pub event: String,
    /// Event clock time.
    #[serde(rename = "LTime")]
    pub ltime: u64,
    /// Event name.
    pub name: String,
    /// Payload.
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
}

/// Anything a `stream` subscription can deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamRecord {
    /// member-join, member-leave, ...
    Member(MemberEventRecord),
    /// A user event.
    User(UserEventRecord),
}

impl StreamRecord {
    /// The event type name (`member-join`, `user`, ...).
    pub fn kind(&self) -> &str {
        match self {
            StreamRecord::Member(m) => &m.event,
            StreamRecord::User(_) => "user",
        }
    }

    /// The user event's name, for `user:NAME` filters.
    pub fn user_name(&self) -> Option<&str> {
        match self {
            StreamRecord::User(u) => Some(&u.name),
            StreamRecord::Member(_) => None,
        }
    }

    /// Encode the record body.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), rmp_serde::encode::Error> {
        match self {
            StreamRecord::Member(m) => encode(m, out),
            StreamRecord::User(u) => encode(u, out),
        }
    }
}

/// `stats` reply: section -> key -> value, all strings.
pub type Stats = BTreeMap<String, BTreeMap<String, String>>;

/// Encode a value as the RPC protocol does (maps with field names).
pub fn encode<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), rmp_serde::encode::Error> {
    let mut ser = rmp_serde::Serializer::new(out).with_struct_map();
    value.serialize(&mut ser)
}

/// Decode one value from exactly `buf`.
pub fn decode<'a, T: Deserialize<'a>>(buf: &'a [u8]) -> Result<T, rmp_serde::decode::Error> {
    rmp_serde::from_slice(buf)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn header_matches_go_bytes() {
        // {Command: "handshake", Seq: 1} as the serf CLI sends it (sorted keys).
        let mut out = Vec::new();
        encode(
            &RequestHeader {
                command: "handshake".into(),
                seq: 1,
            },
            &mut out,
        )
        .unwrap();
        assert_eq!(out, b"\x82\xa7Command\xa9handshake\xa3Seq\x01");
        let back: RequestHeader = decode(&out).unwrap();
        assert_eq!(back.command, "handshake");
    }

    #[test]
    fn member_addr_is_bin_and_decodes_go_forms() {
        let m = Member {
            addr: vec![127, 0, 0, 1],
            name: "n1".into(),
            status: "alive".into(),
            ..Default::default()
        };
        let mut out = Vec::new();
        encode(&m, &mut out).unwrap();
        assert!(out.windows(6).any(|w| w == b"\xc4\x04\x7f\x00\x00\x01"));
        let back: Member = decode(&out).unwrap();
        assert_eq!(back, m);
        // Unknown keys are ignored, missing keys default.
        let mut extra = Vec::new();
        encode(&BTreeMap::from([("Name", "x"), ("Bogus", "y")]), &mut extra).unwrap();
        let m: Member = decode(&extra).unwrap();
        assert_eq!(m.name, "x");
        // Go writes empty slices and maps as nil.
        let t: TagsRequest = decode(b"\x82\xaaDeleteTags\xc0\xa4Tags\x81\xa4role\xa3api").unwrap();
        assert!(t.delete_tags.is_empty());
        assert_eq!(t.tags.get("role").map(String::as_str), Some("api"));
    }
}
