//! `tags`: set and delete the agent's own tags.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Body, Next};
use crate::rpc::proto::nil_default;
use crate::rpc::server::Connection;

/// `tags` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct TagsRequest {
    /// Tags to remove.
    #[serde(deserialize_with = "nil_default")]
    pub delete_tags: Vec<String>,
    /// Tags to set.
    #[serde(deserialize_with = "nil_default")]
    pub tags: BTreeMap<String, String>,
}

/// Update the tags and reply.
pub(super) async fn apply(conn: &mut Connection, seq: u64, body: Body<'_>) -> Next {
    let Some(req) = body.read::<TagsRequest>().await else {
        return Next::Close;
    };
    let err = match conn.agent.update_tags(req.tags, &req.delete_tags) {
        Ok(()) => String::new(),
        Err(e) => format!("{e:#}"),
    };
    conn.reply(seq, &err).await;
    Next::Continue
}
