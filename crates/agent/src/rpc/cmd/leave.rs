//! `leave`: leave the cluster gracefully; the agent then shuts down.

use super::Next;
use crate::rpc::server::Connection;

/// Leave, reply, and ask the agent to stop (no request body).
pub(super) async fn apply(conn: &mut Connection, seq: u64) -> Next {
    let err = match conn.agent.leave().await {
        Ok(()) => String::new(),
        Err(e) => format!("{e:#}"),
    };
    conn.reply(seq, &err).await;
    conn.agent.request_shutdown();
    Next::Continue
}
