//! `stop`: end a `monitor` or `stream` subscription of this connection.

use serde::{Deserialize, Serialize};

use super::{Body, Next};
use crate::rpc::server::Connection;

/// `stop` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct StopRequest {
    /// The seq of the monitor or stream to end.
    pub stop: u64,
}

/// End the subscription (if it exists) and reply.
pub(super) async fn apply(conn: &mut Connection, seq: u64, body: Body<'_>) -> Next {
    let Some(req) = body.read::<StopRequest>().await else {
        return Next::Close;
    };
    if let Some(t) = conn.streams.remove(&req.stop) {
        t.abort();
    }
    conn.reply(seq, "").await;
    Next::Continue
}
