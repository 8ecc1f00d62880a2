//! `event`: gossip a user event.

use serde::{Deserialize, Serialize};

use super::{Body, Next};
use crate::rpc::proto::nil_bytes;
use crate::rpc::server::Connection;

/// `event` body: a user event to gossip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct EventRequest {
    /// Handlers may coalesce it with later events of the same name.
    pub coalesce: bool,
    /// Event name.
    pub name: String,
    /// Payload.
    #[serde(
        serialize_with = "serde_bytes::serialize",
        deserialize_with = "nil_bytes"
    )]
    pub payload: Vec<u8>,
}

/// Gossip the event and reply.
pub(super) async fn apply(conn: &mut Connection, seq: u64, body: Body<'_>) -> Next {
    let Some(req) = body.read::<EventRequest>().await else {
        return Next::Close;
    };
    let err = match conn.agent.user_event(&req.name, req.payload, req.coalesce) {
        Ok(()) => String::new(),
        Err(e) => format!("{e:#}"),
    };
    conn.reply(seq, &err).await;
    Next::Continue
}
