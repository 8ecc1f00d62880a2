//! `dc-event` (rumor only): gossip a user event in another datacenter, through the WAN pool
//! (`crate::dc_forward`). A Serf agent answers "Unsupported command".

use serde::{Deserialize, Serialize};

use super::{Body, Next};
use crate::rpc::proto::nil_bytes;
use crate::rpc::server::Connection;

/// `dc-event` body: `event`'s fields and the datacenter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct DcEventRequest {
    /// Handlers may coalesce it with later events of the same name.
    pub coalesce: bool,
    /// The datacenter (ours: a plain `event`).
    pub dc: String,
    /// Event name.
    pub name: String,
    /// Payload.
    #[serde(
        serialize_with = "serde_bytes::serialize",
        deserialize_with = "nil_bytes"
    )]
    pub payload: Vec<u8>,
}

/// Send the event and reply once a server of the datacenter took it (or with the error).
pub(super) async fn apply(conn: &mut Connection, seq: u64, body: Body<'_>) -> Next {
    let Some(req) = body.read::<DcEventRequest>().await else {
        return Next::Close;
    };
    let r =
        crate::dc_forward::event(&conn.agent, &req.dc, &req.name, req.payload, req.coalesce).await;
    let err = match r {
        Ok(()) => String::new(),
        Err(e) => format!("{e:#}"),
    };
    conn.reply(seq, &err).await;
    Next::Continue
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::rpc::cmd::test_util::enc;
    use crate::rpc::proto;

    #[test]
    fn bodies_round_trip_with_go_style_keys() {
        let req = DcEventRequest {
            coalesce: true,
            dc: "dc2".into(),
            name: "deploy".into(),
            payload: b"v1".to_vec(),
        };
        let bytes = enc(&req);
        assert_eq!(
            bytes,
            b"\x84\xa8Coalesce\xc3\xa2Dc\xa3dc2\xa4Name\xa6deploy\xa7Payload\xc4\x02v1"
        );
        assert_eq!(proto::decode::<DcEventRequest>(&bytes).unwrap(), req);
        // A nil payload reads as empty.
        let nil: DcEventRequest = proto::decode(b"\x82\xa2Dc\xa3dc2\xa7Payload\xc0").unwrap();
        assert_eq!(nil.payload, Vec::<u8>::new());
    }
}
