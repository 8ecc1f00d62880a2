//! `respond`: answer a query that reached this connection through `stream`. The stream gives
//! each query record an ID from a per-connection counter (starting at 1) and keeps the query
//! here until its deadline.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rumor_serf::LamportTime;
use rumor_swim::Instant;
use serde::{Deserialize, Serialize};

use super::{Body, Next};
use crate::rpc::proto::nil_bytes;
use crate::rpc::server::Connection;

/// Serf's error for an ID with no pending query.
pub const NO_PENDING_QUERY: &str = "No pending queries matching ID";

/// `respond` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct RespondRequest {
    /// The ID of the `stream` query record.
    #[serde(rename = "ID")]
    pub id: u64,
    /// The response.
    #[serde(
        serialize_with = "serde_bytes::serialize",
        deserialize_with = "nil_bytes"
    )]
    pub payload: Vec<u8>,
}

/// A query delivered to a connection's stream, until its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingQuery {
    /// The query's Lamport time.
    pub ltime: LamportTime,
    /// The query's gossip ID.
    pub id: u32,
    /// When answers stop being accepted (the pool's clock).
    pub deadline: Instant,
}

/// One connection's pending queries, by the IDs its streams handed out.
#[derive(Debug, Default)]
pub(crate) struct PendingQueries {
    last_id: u64,
    pending: BTreeMap<u64, PendingQuery>,
}

/// A connection's pending queries, shared by its streams and its `respond` commands.
pub(crate) type SharedPending = Arc<Mutex<PendingQueries>>;

impl PendingQueries {
    /// Hand out the next ID for `q`; the query is kept only if its deadline is still ahead
    /// (Serf's RegisterQuery).
    pub(crate) fn register(&mut self, q: PendingQuery, now: Instant) -> u64 {
        self.last_id += 1;
        self.pending.retain(|_, p| p.deadline > now);
        if q.deadline > now {
            self.pending.insert(self.last_id, q);
        }
        self.last_id
    }

    /// The query behind `id`, unless it is unknown or its deadline passed.
    pub(crate) fn get(&mut self, id: u64, now: Instant) -> Option<PendingQuery> {
        self.pending.retain(|_, p| p.deadline > now);
        self.pending.get(&id).copied()
    }

    /// Queries still pending.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether none is pending.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Answer the pending query and reply with the library's error, if any.
pub(super) async fn apply(conn: &mut Connection, seq: u64, body: Body<'_>) -> Next {
    let Some(req) = body.read::<RespondRequest>().await else {
        return Next::Close;
    };
    let now = conn.agent.lan.now();
    let pending = conn
        .queries
        .lock()
        .ok()
        .and_then(|mut p| p.get(req.id, now));
    let err = match pending {
        None => NO_PENDING_QUERY.to_string(),
        Some(q) => match conn.agent.respond(q.ltime, q.id, req.payload) {
            Ok(()) => String::new(),
            Err(e) => format!("{e:#}"),
        },
    };
    conn.reply(seq, &err).await;
    Next::Continue
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use super::*;
    use crate::rpc::proto;

    fn at(ms: u64) -> Instant {
        Instant::from_duration(Duration::from_millis(ms))
    }

    #[test]
    fn ids_count_from_one_and_expire_at_the_deadline() {
        let mut p = PendingQueries::default();
        let q = |id, deadline| PendingQuery {
            ltime: 5,
            id,
            deadline: at(deadline),
        };
        assert_eq!(p.register(q(10, 1000), at(0)), 1);
        assert_eq!(p.register(q(11, 2000), at(0)), 2);
        // Already past its deadline: an ID is used up, nothing is kept.
        assert_eq!(p.register(q(12, 100), at(500)), 3);
        assert_eq!(p.len(), 2);
        assert_eq!(p.get(1, at(999)).map(|q| q.id), Some(10));
        assert_eq!(p.get(1, at(1000)), None);
        assert_eq!(p.get(3, at(0)), None);
        assert_eq!(p.get(2, at(1999)).map(|q| q.id), Some(11));
        assert_eq!(p.get(2, at(2000)), None);
        assert!(p.is_empty());
    }

    #[test]
    fn respond_request_bytes() {
        let r = RespondRequest {
            id: 3,
            payload: b"ok".to_vec(),
        };
        let mut out = Vec::new();
        proto::encode(&r, &mut out).unwrap();
        assert_eq!(out, b"\x82\xa2ID\x03\xa7Payload\xc4\x02ok");
        assert_eq!(proto::decode::<RespondRequest>(&out).unwrap(), r);
        let nil: RespondRequest = proto::decode(b"\x82\xa2ID\x01\xa7Payload\xc0").unwrap();
        assert!(nil.payload.is_empty());
    }
}
