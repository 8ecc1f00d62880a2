//! `wan-members` and `wan-members-filtered`: the members of the WAN pool of servers, in the
//! forms (and with the filters) of `members` and `members-filtered` (rumor extensions). The
//! reply body always follows the header, empty when the header carries an error (an agent
//! that is not a server).

use super::members::MembersResponse;
use super::members_filtered::{MemberFilter, MembersFilteredRequest};
use super::{Body, Next};
use crate::rpc::convert::rpc_member;
use crate::rpc::server::Connection;

/// Reply with the WAN members that pass `filter` (all with `None`).
async fn reply(conn: &mut Connection, seq: u64, filter: Option<&MemberFilter>) {
    let (err, members) = match conn.agent.wan_members() {
        Ok(list) => (
            String::new(),
            list.iter()
                .map(rpc_member)
                .filter(|m| filter.is_none_or(|f| f.matches(m)))
                .collect(),
        ),
        Err(e) => (format!("{e:#}"), Vec::new()),
    };
    conn.reply_body(seq, &err, &MembersResponse { members })
        .await;
}

/// `wan-members`: every WAN member (no request body).
pub(super) async fn apply(conn: &mut Connection, seq: u64) -> Next {
    reply(conn, seq, None).await;
    Next::Continue
}

/// `wan-members-filtered`: a pattern that does not compile closes the connection, as
/// `members-filtered` does.
pub(super) async fn apply_filtered(conn: &mut Connection, seq: u64, body: Body<'_>) -> Next {
    let Some(req) = body.read::<MembersFilteredRequest>().await else {
        return Next::Close;
    };
    let Some(filter) = MemberFilter::new(&req) else {
        return Next::Close;
    };
    reply(conn, seq, Some(&filter)).await;
    Next::Continue
}
