//! `auth`: present the RPC token. No token is configured, so any token is accepted.

use serde::{Deserialize, Serialize};

use super::{Body, Next};
use crate::rpc::server::Connection;

/// `auth` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct AuthRequest {
    /// The shared token.
    pub auth_key: String,
}

/// Read the token and accept.
pub(super) async fn apply(conn: &mut Connection, seq: u64, body: Body<'_>) -> Next {
    if body.read::<AuthRequest>().await.is_none() {
        return Next::Close;
    }
    conn.reply(seq, "").await;
    Next::Continue
}
