//! `force-leave`: force a member out of the cluster (optionally pruning it).

use serde::{Deserialize, Serialize};

use super::{Body, Next};
use crate::rpc::server::Connection;

/// `force-leave` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ForceLeaveRequest {
    /// The member to force out.
    pub node: String,
    /// Also erase it from the member list.
    pub prune: bool,
}

/// Force the member out and reply.
pub(super) async fn apply(conn: &mut Connection, seq: u64, body: Body<'_>) -> Next {
    let Some(req) = body.read::<ForceLeaveRequest>().await else {
        return Next::Close;
    };
    let err = match conn.agent.force_leave(&req.node, req.prune) {
        Ok(()) => String::new(),
        Err(e) => format!("{e:#}"),
    };
    conn.reply(seq, &err).await;
    Next::Continue
}
