//! `query`: send a query and stream its acks and responses back; records carry the request's
//! seq, and a `done` record closes the stream at the query's deadline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Body, Next};
use crate::query::{AnswerSource, QueryAnswer};
use crate::rpc::proto::{self, nil_default};
use crate::rpc::server::{frame, Connection};

/// `query` body: Serf's queryRequest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct QueryRequest {
    /// Only these nodes answer (empty: all). Written as nil when empty, as the Go CLI does.
    #[serde(serialize_with = "empty_as_nil", deserialize_with = "nil_default")]
    pub filter_nodes: Vec<String>,
    /// Only members whose tag KEY matches the regular expression VALUE answer.
    #[serde(deserialize_with = "nil_default")]
    pub filter_tags: BTreeMap<String, String>,
    /// Query name.
    pub name: String,
    /// Payload; `None` is Go's nil (required for `_serf_ping`).
    #[serde(with = "serde_bytes")]
    pub payload: Option<Vec<u8>>,
    /// Relay every answer through this many extra members.
    pub relay_factor: u8,
    /// Ask every member that passes the filters to ack.
    pub request_ack: bool,
    /// Nanoseconds (Go's time.Duration); 0 asks for Serf's default.
    pub timeout: i64,
}

/// Write an empty list as nil (Go's nil slice).
fn empty_as_nil<S: serde::Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
    if v.is_empty() {
        s.serialize_none()
    } else {
        v.serialize(s)
    }
}

/// A record of a `query` stream: Serf's queryRecord.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct QueryRecord {
    /// The answering node (empty for `done`).
    pub from: String,
    /// The response's payload (nil for `ack` and `done`).
    #[serde(with = "serde_bytes")]
    pub payload: Option<Vec<u8>>,
    /// `ack`, `response` or `done`.
    #[serde(rename = "Type")]
    pub kind: String,
}

/// `Type` of an ack record.
pub const RECORD_ACK: &str = "ack";
/// `Type` of a response record.
pub const RECORD_RESPONSE: &str = "response";
/// `Type` of the record that ends the stream.
pub const RECORD_DONE: &str = "done";

impl QueryRecord {
    /// The record for one answer.
    pub fn answer(a: &QueryAnswer) -> QueryRecord {
        match a {
            QueryAnswer::Ack { from } => QueryRecord {
                from: from.clone(),
                payload: None,
                kind: RECORD_ACK.into(),
            },
            QueryAnswer::Response { from, payload } => QueryRecord {
                from: from.clone(),
                payload: Some(payload.to_vec()),
                kind: RECORD_RESPONSE.into(),
            },
        }
    }

    /// Whether this is an answer from nobody: an `ack` or `response` with an empty `From`.
    /// No member has an empty name. A Serf 0.9.4 agent sends a burst of these at a query's
    /// deadline when its answer channels close just before its `done` timer fires (its stream
    /// reads the closed channels); the `serf` CLI takes an empty ack as the end. Clients skip
    /// them and wait for `done`.
    pub fn is_from_nobody(&self) -> bool {
        (self.kind == RECORD_ACK || self.kind == RECORD_RESPONSE) && self.from.is_empty()
    }

    /// The record sent at the deadline.
    pub fn done() -> QueryRecord {
        QueryRecord {
            from: String::new(),
            payload: None,
            kind: RECORD_DONE.into(),
        }
    }
}

/// The `QueryParams` of a `query` or `dc-query` body (a timeout of 0 ns asks for the
/// default); Serf's error text for a negative timeout.
pub(super) fn query_params(
    filter_nodes: Vec<String>,
    filter_tags: BTreeMap<String, String>,
    request_ack: bool,
    relay_factor: u8,
    timeout_ns: i64,
) -> Result<rumor_serf::QueryParams, &'static str> {
    let timeout = match u64::try_from(timeout_ns) {
        Ok(0) => None,
        Ok(ns) => Some(std::time::Duration::from_nanos(ns)),
        Err(_) => return Err("Query timeout cannot be negative"),
    };
    Ok(rumor_serf::QueryParams {
        filter_nodes,
        filter_tags: filter_tags.into_iter().collect(),
        request_ack,
        relay_factor,
        timeout,
    })
}

/// Start the query, reply (with the error if it could not start), then stream its answers
/// and `done`.
pub(super) async fn apply(conn: &mut Connection, seq: u64, body: Body<'_>) -> Next {
    let Some(req) = body.read::<QueryRequest>().await else {
        return Next::Close;
    };
    let params = match query_params(
        req.filter_nodes,
        req.filter_tags,
        req.request_ack,
        req.relay_factor,
        req.timeout,
    ) {
        Ok(p) => p,
        Err(e) => {
            conn.reply(seq, e).await;
            return Next::Continue;
        }
    };
    let answers = match conn.agent.query(&req.name, req.payload, params) {
        Ok(s) => s,
        Err(e) => {
            conn.reply(seq, &format!("{e:#}")).await;
            return Next::Continue;
        }
    };
    conn.reply(seq, "").await;
    stream_records(conn, seq, answers);
    Next::Continue
}

/// Stream `answers` to the client as `queryRecord`s under `seq`, then a `done` record. Like
/// Serf, the stream is not a `stop`-able subscription: it ends when the query closes.
pub(super) fn stream_records(conn: &Connection, seq: u64, mut answers: impl AnswerSource) {
    let out = conn.out.clone();
    tokio::spawn(async move {
        while let Some(a) = answers.next_answer().await {
            let rec = QueryRecord::answer(&a);
            let Some(buf) = frame(seq, "", |b| proto::encode(&rec, b)) else {
                return;
            };
            if out.send(buf).await.is_err() {
                return;
            }
        }
        if let Some(buf) = frame(seq, "", |b| proto::encode(&QueryRecord::done(), b)) {
            let _ = out.send(buf).await;
        }
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use crate::rpc::cmd::test_util::{enc, hex};

    // Bodies captured from `serf query` / `serf reachability` against Serf 0.9.4 agents
    // (plain.pcap in the shared Serf 0.9.4 captures, RPC port 7373).
    const CLI_QUERY: &str = "87ab46696c7465724e6f646573c0aa46696c7465725461677380a44e616d65a6757074696d65a75061796c6f6164c4097061796c6f61642d78ab52656c6179466163746f7200aa5265717565737441636bc3a754696d656f757400";
    const CLI_QUERY_FILTERED: &str = "87ab46696c7465724e6f64657391a26e33aa46696c7465725461677380a44e616d65a66f6e6c796e33a75061796c6f6164c40568656c6c6fab52656c6179466163746f7202aa5265717565737441636bc2a754696d656f7574ce77359400";
    const CLI_PING: &str = "87ab46696c7465724e6f646573c0aa46696c74657254616773c0a44e616d65aa5f736572665f70696e67a75061796c6f6164c0ab52656c6179466163746f7200aa5265717565737441636bc3a754696d656f757400";

    #[test]
    fn answers_from_nobody_are_recognised() {
        let ack = |from: &str| QueryRecord {
            from: from.into(),
            payload: None,
            kind: RECORD_ACK.into(),
        };
        assert!(ack("").is_from_nobody());
        assert!(!ack("n1").is_from_nobody());
        let resp = QueryRecord {
            kind: RECORD_RESPONSE.into(),
            ..ack("")
        };
        assert!(resp.is_from_nobody());
        assert!(!QueryRecord::done().is_from_nobody());
    }

    #[test]
    fn query_requests_encode_as_the_go_cli_sends_them() {
        let plain = QueryRequest {
            name: "uptime".into(),
            payload: Some(b"payload-x".to_vec()),
            request_ack: true,
            ..Default::default()
        };
        assert_eq!(enc(&plain), hex(CLI_QUERY));
        let filtered = QueryRequest {
            filter_nodes: vec!["n3".into()],
            name: "onlyn3".into(),
            payload: Some(b"hello".to_vec()),
            relay_factor: 2,
            timeout: 2_000_000_000,
            ..Default::default()
        };
        assert_eq!(enc(&filtered), hex(CLI_QUERY_FILTERED));
        assert_eq!(
            proto::decode::<QueryRequest>(&hex(CLI_QUERY)).unwrap(),
            plain
        );
        assert_eq!(
            proto::decode::<QueryRequest>(&hex(CLI_QUERY_FILTERED)).unwrap(),
            filtered
        );
    }

    #[test]
    fn reachability_ping_decodes_with_nil_tags_and_nil_payload() {
        let ping: QueryRequest = proto::decode(&hex(CLI_PING)).unwrap();
        assert_eq!(ping.name, "_serf_ping");
        assert_eq!(ping.payload, None);
        assert!(ping.filter_tags.is_empty() && ping.filter_nodes.is_empty());
        assert!(ping.request_ack);
        assert_eq!(ping.timeout, 0);
        // An empty payload is not nil: it stays distinguishable.
        let empty: QueryRequest = proto::decode(b"\x81\xa7Payload\xc4\x00").unwrap();
        assert_eq!(empty.payload, Some(Vec::new()));
    }

    #[test]
    fn records_encode_as_serf_streams_them() {
        // ack, response (payload "reply-from-n1\n") and done records, as captured.
        let ack = QueryRecord::answer(&QueryAnswer::Ack { from: "n1".into() });
        assert_eq!(
            enc(&ack),
            hex("83a446726f6da26e31a75061796c6f6164c0a454797065a361636b")
        );
        let resp = QueryRecord::answer(&QueryAnswer::Response {
            from: "n1".into(),
            payload: bytes::Bytes::from_static(b"reply-from-n1\n"),
        });
        assert_eq!(
            enc(&resp),
            hex("83a446726f6da26e31a75061796c6f6164c40e7265706c792d66726f6d2d6e310aa454797065a8726573706f6e7365")
        );
        assert_eq!(
            enc(&QueryRecord::done()),
            hex("83a446726f6da0a75061796c6f6164c0a454797065a4646f6e65")
        );
        let back: QueryRecord = proto::decode(&enc(&resp)).unwrap();
        assert_eq!(back, resp);
    }
}
