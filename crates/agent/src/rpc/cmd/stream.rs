//! `stream`: follow member, user and query events through an event-handler filter; records
//! carry the request's seq until `stop` or the connection ends. A query record's ID comes
//! from the connection's counter, and the query stays pending (for `respond`) until its
//! deadline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::respond::{PendingQuery, SharedPending};
use super::{Body, Next};
use crate::rpc::convert::stream_record;
use crate::rpc::proto::{self, nil_default, Member};
use crate::rpc::server::{frame, Connection};

/// `stream` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct StreamRequest {
    /// Event filter (`*`, `member-join,user:deploy`, ...).
    #[serde(rename = "Type")]
    pub kind: String,
}

/// A `stream` record for member events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct MemberEventRecord {
    /// `member-join`, `member-leave`, `member-failed`, `member-update`, `member-reap`.
    pub event: String,
    /// The members concerned.
    #[serde(deserialize_with = "nil_default")]
    pub members: Vec<Member>,
}

/// A `stream` record for a user event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct UserEventRecord {
    /// Whether it may be coalesced.
    pub coalesce: bool,
    /// Always `user`.
    pub event: String,
    /// Event clock time.
    #[serde(rename = "LTime")]
    pub ltime: u64,
    /// Event name.
    pub name: String,
    /// Payload.
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
}

/// A `stream` record for a query that reached us.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct QueryEventRecord {
    /// Always `query`.
    pub event: String,
    /// The connection's ID for `respond` (not the gossip ID).
    #[serde(rename = "ID")]
    pub id: u64,
    /// Query clock time.
    #[serde(rename = "LTime")]
    pub ltime: u64,
    /// Query name.
    pub name: String,
    /// Payload.
    #[serde(
        serialize_with = "serde_bytes::serialize",
        deserialize_with = "crate::rpc::proto::nil_bytes"
    )]
    pub payload: Vec<u8>,
}

/// Anything a `stream` subscription can deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamRecord {
    /// member-join, member-leave, ...
    Member(MemberEventRecord),
    /// A user event.
    User(UserEventRecord),
    /// A query to answer with `respond`; `pending` is what `respond` needs (its `ID` is set
    /// when the stream registers it).
    Query(QueryEventRecord, PendingQuery),
}

impl StreamRecord {
    /// The event type name (`member-join`, `user`, ...).
    pub fn kind(&self) -> &str {
        match self {
            StreamRecord::Member(m) => &m.event,
            StreamRecord::User(_) => "user",
            StreamRecord::Query(..) => "query",
        }
    }

    /// The user event's or query's name, for `user:NAME` and `query:NAME` filters.
    pub fn user_name(&self) -> Option<&str> {
        match self {
            StreamRecord::User(u) => Some(&u.name),
            StreamRecord::Query(q, _) => Some(&q.name),
            StreamRecord::Member(_) => None,
        }
    }

    /// Encode the record body.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), rmp_serde::encode::Error> {
        match self {
            StreamRecord::Member(m) => proto::encode(m, out),
            StreamRecord::User(u) => proto::encode(u, out),
            StreamRecord::Query(q, _) => proto::encode(q, out),
        }
    }
}

/// Give a query record its connection ID, keeping the query pending until its deadline.
fn register(rec: &mut StreamRecord, pending: &SharedPending, now: rumor_swim::Instant) {
    if let StreamRecord::Query(q, p) = rec {
        if let Ok(mut queries) = pending.lock() {
            q.id = queries.register(*p, now);
        }
    }
}

/// The record a stream sends for `ev`, if any: none for rumor's own queries (`_rumor_...`).
fn record_for(ev: &rumor_serf::Event) -> Option<StreamRecord> {
    match ev {
        rumor_serf::Event::Query { name, .. } if crate::dc_forward::is_internal(name) => None,
        _ => stream_record(ev),
    }
}

/// Reply, then send every member or user event the filter accepts.
pub(super) async fn apply(conn: &mut Connection, seq: u64, body: Body<'_>) -> Next {
    let Some(req) = body.read::<StreamRequest>().await else {
        return Next::Close;
    };
    let Some(filter) = EventFilter::parse(&req.kind) else {
        conn.reply(seq, "Invalid event filter").await;
        return Next::Continue;
    };
    if conn.streams.contains_key(&seq) {
        conn.reply(seq, "Stream with given sequence exists").await;
        return Next::Continue;
    }
    conn.reply(seq, "").await;
    let mut rx = conn.agent.member_events();
    let out = conn.out.clone();
    let agent = conn.agent.clone();
    let pending = conn.queries.clone();
    let task = tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    let Some(mut rec) = record_for(&ev) else {
                        continue;
                    };
                    if !filter.accepts(rec.kind(), rec.user_name()) {
                        continue;
                    }
                    register(&mut rec, &pending, agent.lan.now());
                    let Some(buf) = frame(seq, "", |buf| rec.encode(buf)) else {
                        return;
                    };
                    if out.send(buf).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    });
    conn.streams.insert(seq, task);
    Next::Continue
}

/// The event-handler filter syntax for `stream`: `*`, or a comma-separated list of event
/// names (`member-join`, `member-leave`, `member-failed`, `member-update`, `member-reap`,
/// `user`, `user:NAME`, `query`, `query:NAME`).
struct EventFilter {
    all: bool,
    /// Event kind -> names (`user:NAME`); an empty list accepts every name.
    kinds: BTreeMap<String, Vec<String>>,
}

impl EventFilter {
    fn parse(s: &str) -> Option<EventFilter> {
        let mut f = EventFilter {
            all: false,
            kinds: BTreeMap::new(),
        };
        for part in s.split(',').map(str::trim) {
            let (base, name) = match part.split_once(':') {
                Some((b, n)) => (b, Some(n)),
                None => (part, None),
            };
            match (base, name) {
                ("*", None) => f.all = true,
                (
                    "member-join" | "member-leave" | "member-failed" | "member-update"
                    | "member-reap",
                    None,
                )
                | ("user" | "query", _) => {
                    let names = f.kinds.entry(base.to_string()).or_default();
                    match name {
                        Some(n) if !n.is_empty() => names.push(n.to_string()),
                        _ => names.clear(),
                    }
                }
                _ => return None,
            }
        }
        Some(f)
    }

    fn accepts(&self, event: &str, name: Option<&str>) -> bool {
        if self.all {
            return true;
        }
        match (self.kinds.get(event), name) {
            (None, _) => false,
            (Some(names), _) if names.is_empty() => true,
            (Some(names), Some(n)) => names.iter().any(|x| x == n),
            (Some(_), None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn event_filters() {
        let f = EventFilter::parse("member-join,user:deploy").expect("valid");
        assert!(f.accepts("member-join", None) && !f.accepts("member-failed", None));
        assert!(f.accepts("user", Some("deploy")) && !f.accepts("user", Some("other")));
        assert!(EventFilter::parse("*")
            .expect("valid")
            .accepts("member-reap", None));
        assert!(EventFilter::parse("user")
            .expect("valid")
            .accepts("user", Some("x")));
        assert!(EventFilter::parse("bogus").is_none());
        let q = EventFilter::parse("query:uptime").expect("valid");
        assert!(q.accepts("query", Some("uptime")) && !q.accepts("query", Some("other")));
        assert!(!q.accepts("user", Some("uptime")));
        assert!(EventFilter::parse("query")
            .expect("valid")
            .accepts("query", Some("x")));
    }

    fn query_event(name: &str) -> rumor_serf::Event {
        rumor_serf::Event::Query {
            ltime: 5,
            id: 77,
            name: name.into(),
            payload: bytes::Bytes::from_static(b"x"),
            source: "cli1".into(),
            deadline: rumor_swim::Instant::from_duration(std::time::Duration::from_secs(3)),
        }
    }

    #[test]
    fn rumors_own_queries_are_not_streamed() {
        assert!(record_for(&query_event(crate::dc_forward::RELAY_QUERY_NAME)).is_none());
        assert!(record_for(&query_event("_rumor_dcs")).is_none());
        let rec = record_for(&query_event("uptime")).expect("a user's query is streamed");
        assert_eq!((rec.kind(), rec.user_name()), ("query", Some("uptime")));
        // Only the exact prefix: Serf's and look-alike names go through.
        assert!(record_for(&query_event("_rumor")).is_some());
        assert!(record_for(&query_event("rumor_dc")).is_some());
    }

    fn query_record() -> StreamRecord {
        StreamRecord::Query(
            QueryEventRecord {
                event: "query".into(),
                id: 0,
                ltime: 5,
                name: "uptime".into(),
                payload: b"x".to_vec(),
            },
            PendingQuery {
                ltime: 5,
                id: 77,
                deadline: rumor_swim::Instant::from_duration(std::time::Duration::from_secs(3)),
            },
        )
    }

    #[test]
    fn query_records_get_connection_ids_and_serfs_bytes() {
        let pending = SharedPending::default();
        let now = rumor_swim::Instant::from_duration(std::time::Duration::from_secs(1));
        let mut a = query_record();
        let mut b = query_record();
        register(&mut a, &pending, now);
        register(&mut b, &pending, now);
        let mut out = Vec::new();
        a.encode(&mut out).unwrap();
        assert_eq!(
            out,
            b"\x85\xa5Event\xa5query\xa2ID\x01\xa5LTime\x05\xa4Name\xa6uptime\xa7Payload\xc4\x01x"
        );
        assert!(matches!(&b, StreamRecord::Query(q, _) if q.id == 2));
        assert_eq!((a.kind(), a.user_name()), ("query", Some("uptime")));
        let p = pending.lock().unwrap().get(1, now);
        assert_eq!(p.map(|p| (p.ltime, p.id)), Some((5, 77)));
        // Member and user records are not registered.
        let mut m = StreamRecord::Member(MemberEventRecord::default());
        register(&mut m, &pending, now);
        assert_eq!(pending.lock().unwrap().len(), 2);
    }
}
