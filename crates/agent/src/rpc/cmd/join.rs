//! `join`: join the cluster through the given addresses.

use serde::{Deserialize, Serialize};

use super::{Body, Next};
use crate::rpc::proto::nil_default;
use crate::rpc::server::Connection;

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

/// Join, and reply with the count (and the error, if any).
pub(super) async fn apply(conn: &mut Connection, seq: u64, body: Body<'_>) -> Next {
    let Some(req) = body.read::<JoinRequest>().await else {
        return Next::Close;
    };
    let (num, err) = match conn.agent.join(&req.existing, req.replay).await {
        Ok(n) => (n as i32, String::new()),
        Err(e) => (0, format!("{e:#}")),
    };
    conn.reply_body(seq, &err, &JoinResponse { num }).await;
    Next::Continue
}
