//! `wan-join`: join the WAN pool of servers through the given WAN addresses (a rumor
//! extension; a Serf agent answers "Unsupported command"). Same bodies as `join`; an agent
//! that is not a server answers with an error naming `--server`.

use super::join::{JoinRequest, JoinResponse};
use super::{Body, Next};
use crate::rpc::server::Connection;

/// Join the WAN pool, and reply with the count (and the error, if any).
pub(super) async fn apply(conn: &mut Connection, seq: u64, body: Body<'_>) -> Next {
    let Some(req) = body.read::<JoinRequest>().await else {
        return Next::Close;
    };
    if req.replay {
        // User events are LAN events: the WAN pool has none to replay.
        tracing::debug!("wan-join: Replay ignored (the WAN pool carries no user events)");
    }
    let (num, err) = match conn.agent.wan_join(&req.existing).await {
        Ok(n) => (n as i32, String::new()),
        Err(e) => (0, format!("{e:#}")),
    };
    conn.reply_body(seq, &err, &JoinResponse { num }).await;
    Next::Continue
}
