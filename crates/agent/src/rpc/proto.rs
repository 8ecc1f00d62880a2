//! The RPC wire types shared by every command, field for field as the Serf 0.9.4 agent and
//! CLI encode them (Go field names as map keys; strings as str, byte blobs as bin): the request
//! and response headers, [`Member`], and the msgpack [`encode`] / [`decode`] helpers.
//!
//! Each command's own request and reply bodies live beside its handler in `rpc/cmd/<name>.rs`
//! and are re-exported here, so clients find every wire type in one place.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use super::cmd::{
    AuthRequest, CoordinateRequest, CoordinateResponse, EventRequest, ForceLeaveRequest,
    HandshakeRequest, JoinRequest, JoinResponse, LogRecord, MemberEventRecord,
    MembersFilteredRequest, MembersResponse, MonitorRequest, PendingQuery, QueryEventRecord,
    QueryRecord, QueryRequest, RespondRequest, RpcCoordinate, Stats, StopRequest, StreamRecord,
    StreamRequest, TagsRequest, UserEventRecord, NO_PENDING_QUERY, RECORD_ACK, RECORD_DONE,
    RECORD_RESPONSE,
};
/// The rumor-only `dc-event` and `dc-query` bodies.
pub use super::cmd::{DcEventRequest, DcQueryRequest};
pub use super::cmd::{DcRecord, DcsResponse};
pub use super::cmd::{KeyRequest, KeysResponse};

/// Go writes an empty slice or map as nil: read nil as the empty value.
pub(crate) fn nil_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Go writes an empty byte slice as nil: read nil as an empty blob.
pub(crate) fn nil_bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    Ok(Option::<serde_bytes::ByteBuf>::deserialize(d)?
        .map(|b| b.into_vec())
        .unwrap_or_default())
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
