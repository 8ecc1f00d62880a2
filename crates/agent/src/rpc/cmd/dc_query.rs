//! `dc-query` (rumor only): run a query in another datacenter, through the WAN pool
//! (`crate::dc_forward`), and stream its answers exactly as `query` does (`queryRecord`s,
//! then `done`). A Serf agent answers "Unsupported command".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::query::{query_params, stream_records};
use super::{Body, Next};
use crate::rpc::proto::nil_default;
use crate::rpc::server::Connection;

/// `dc-query` body: `query`'s fields and the datacenter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct DcQueryRequest {
    /// The datacenter (ours: a plain `query`).
    pub dc: String,
    /// Only these nodes of that datacenter answer (empty: all).
    #[serde(deserialize_with = "nil_default")]
    pub filter_nodes: Vec<String>,
    /// Only members whose tag KEY matches the regular expression VALUE answer.
    #[serde(deserialize_with = "nil_default")]
    pub filter_tags: BTreeMap<String, String>,
    /// Query name.
    pub name: String,
    /// Payload; `None` is nil.
    #[serde(with = "serde_bytes")]
    pub payload: Option<Vec<u8>>,
    /// Relay every answer through this many extra members (in that datacenter).
    pub relay_factor: u8,
    /// Ask every member that passes the filters to ack.
    pub request_ack: bool,
    /// Nanoseconds for the whole request; 0 asks for the default.
    pub timeout: i64,
}

/// Start the query (the reply waits for a server of the datacenter to take it), then stream
/// its answers and `done`.
pub(super) async fn apply(conn: &mut Connection, seq: u64, body: Body<'_>) -> Next {
    let Some(req) = body.read::<DcQueryRequest>().await else {
        return Next::Close;
    };
    let params = match query_params(
        req.filter_nodes,
        req.filter_tags,
        req.request_ack,
        req.relay_factor,
        req.timeout,
    ) {
        Ok(p) => p,
        Err(e) => {
            conn.reply(seq, e).await;
            return Next::Continue;
        }
    };
    let r = crate::dc_forward::query(&conn.agent, &req.dc, &req.name, req.payload, params).await;
    let answers = match r {
        Ok(a) => a,
        Err(e) => {
            conn.reply(seq, &format!("{e:#}")).await;
            return Next::Continue;
        }
    };
    conn.reply(seq, "").await;
    stream_records(conn, seq, answers);
    Next::Continue
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::rpc::cmd::test_util::enc;
    use crate::rpc::proto;

    #[test]
    fn bodies_round_trip_and_read_go_nils() {
        let req = DcQueryRequest {
            dc: "dc2".into(),
            filter_nodes: vec!["n1".into()],
            filter_tags: BTreeMap::from([("role".into(), "web".into())]),
            name: "uptime".into(),
            payload: Some(b"x".to_vec()),
            relay_factor: 1,
            request_ack: true,
            timeout: 2_000_000_000,
        };
        let back: DcQueryRequest = proto::decode(&enc(&req)).unwrap();
        assert_eq!(back, req);
        let nils: DcQueryRequest =
            proto::decode(b"\x84\xa2Dc\xa3dc2\xabFilterNodes\xc0\xaaFilterTags\xc0\xa7Payload\xc0")
                .unwrap();
        assert!(nils.filter_nodes.is_empty() && nils.filter_tags.is_empty());
        assert_eq!(nils.payload, None);
        assert_eq!(nils.dc, "dc2");
    }
}
