//! `stats`: the agent's runtime information (what `serf info` prints).

use std::collections::BTreeMap;

use super::Next;
use crate::rpc::server::Connection;

/// `stats` reply: section -> key -> value, all strings.
pub type Stats = BTreeMap<String, BTreeMap<String, String>>;

/// Reply with the stats map (no request body).
pub(super) async fn apply(conn: &mut Connection, seq: u64) -> Next {
    let stats: Stats = conn.agent.stats();
    conn.reply_body(seq, "", &stats).await;
    Next::Continue
}
