//! `members`: every member the agent knows, in the RPC form.

use serde::{Deserialize, Serialize};

use super::Next;
use crate::rpc::convert::rpc_member;
use crate::rpc::proto::{nil_default, Member};
use crate::rpc::server::Connection;

/// `members` / `members-filtered` reply body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct MembersResponse {
    /// The members.
    #[serde(deserialize_with = "nil_default")]
    pub members: Vec<Member>,
}

/// Reply with the whole member list (no request body).
pub(super) async fn apply(conn: &mut Connection, seq: u64) -> Next {
    let members = conn.agent.members().iter().map(rpc_member).collect();
    conn.reply_body(seq, "", &MembersResponse { members }).await;
    Next::Continue
}
