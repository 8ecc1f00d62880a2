//! `get-coordinate`: the cached network coordinate of a node (what `serf rtt` asks for).

use serde::{Deserialize, Serialize};

use super::{Body, Next};
use crate::rpc::server::Connection;

/// `get-coordinate` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct CoordinateRequest {
    /// The node's name.
    pub node: String,
}

/// A Vivaldi coordinate as the RPC protocol shows it (Serf's coordinate.Coordinate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct RpcCoordinate {
    /// Adjustment term (seconds).
    pub adjustment: f64,
    /// Error estimate.
    pub error: f64,
    /// Height (seconds).
    pub height: f64,
    /// Euclidean part (seconds); nil in the zero coordinate of an unknown node.
    pub vec: Option<Vec<f64>>,
}

impl From<&rumor_serf::Coordinate> for RpcCoordinate {
    fn from(c: &rumor_serf::Coordinate) -> Self {
        RpcCoordinate {
            adjustment: c.adjustment,
            error: c.error,
            height: c.height,
            vec: Some(c.vec.clone()),
        }
    }
}

impl From<&RpcCoordinate> for rumor_serf::Coordinate {
    fn from(c: &RpcCoordinate) -> Self {
        rumor_serf::Coordinate {
            vec: c.vec.clone().unwrap_or_default(),
            error: c.error,
            adjustment: c.adjustment,
            height: c.height,
        }
    }
}

/// `get-coordinate` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct CoordinateResponse {
    /// The coordinate (all zero, `Vec` nil, when unknown).
    pub coord: RpcCoordinate,
    /// Whether the node has a cached coordinate.
    pub ok: bool,
}

impl CoordinateResponse {
    /// The reply for a lookup.
    pub fn of(c: Option<&rumor_serf::Coordinate>) -> Self {
        match c {
            Some(c) => CoordinateResponse {
                coord: c.into(),
                ok: true,
            },
            None => CoordinateResponse::default(),
        }
    }
}

/// Reply with the node's coordinate, or `Ok: false`.
pub(super) async fn apply(conn: &mut Connection, seq: u64, body: Body<'_>) -> Next {
    let Some(req) = body.read::<CoordinateRequest>().await else {
        return Next::Close;
    };
    let coord = conn.agent.coordinate_of(&req.node);
    conn.reply_body(seq, "", &CoordinateResponse::of(coord.as_ref()))
        .await;
    Next::Continue
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::rpc::proto;

    use crate::rpc::cmd::test_util::{enc, hex};

    // Captured from a Serf 0.9.4 agent answering `serf rtt` (plain.pcap, RPC port 7373).
    const KNOWN: &str = "82a5436f6f726484aa41646a7573746d656e74cb3f00c59bc9ba3536a54572726f72cb3fd6b3536cd8ece8a6486569676874cb3ee4f8b588e368f1a356656398cb3f162193c9d21c50cbbee6c465d0cd75c3cb3f011fdc537fdb0ecb3efbc690682257abcb3eeee7dc72f80057cb3ee717bf4a84adf6cb3ef95f3c2e641b0bcb3f06155100d1debaa24f6bc3";
    const UNKNOWN: &str = "82a5436f6f726484aa41646a7573746d656e74cb0000000000000000a54572726f72cb0000000000000000a6486569676874cb0000000000000000a3566563c0a24f6bc2";

    #[test]
    fn replies_round_trip_serfs_bytes() {
        let known: CoordinateResponse = proto::decode(&hex(KNOWN)).unwrap();
        assert!(known.ok);
        assert_eq!(known.coord.vec.as_ref().map(Vec::len), Some(8));
        assert_eq!(enc(&known), hex(KNOWN));
        let unknown = CoordinateResponse::of(None);
        assert_eq!(enc(&unknown), hex(UNKNOWN));
        assert_eq!(
            proto::decode::<CoordinateResponse>(&hex(UNKNOWN)).unwrap(),
            unknown
        );
        // Through rumor-serf's type and back, bit for bit.
        let core: rumor_serf::Coordinate = (&known.coord).into();
        assert_eq!(enc(&CoordinateResponse::of(Some(&core))), hex(KNOWN));
    }

    #[test]
    fn request_bytes() {
        let r = CoordinateRequest { node: "n2".into() };
        assert_eq!(enc(&r), b"\x81\xa4Node\xa2n2");
    }
}
