//! `handshake`: the first request on every connection; agrees on the protocol version.

use serde::{Deserialize, Serialize};

use super::{Body, Next};
use crate::rpc::proto::IPC_VERSION;
use crate::rpc::server::Connection;

/// `handshake` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct HandshakeRequest {
    /// Must be [`IPC_VERSION`].
    pub version: i32,
}

/// Accept the version once per connection.
pub(super) async fn apply(conn: &mut Connection, seq: u64, body: Body<'_>) -> Next {
    let Some(req) = body.read::<HandshakeRequest>().await else {
        return Next::Close;
    };
    if conn.handshake {
        conn.reply(seq, "Handshake already performed").await;
    } else if req.version != IPC_VERSION {
        conn.reply(seq, "Unsupported IPC version").await;
    } else {
        conn.handshake = true;
        conn.reply(seq, "").await;
    }
    Next::Continue
}
