//! `install-key`, `use-key`, `remove-key`, `list-keys`: run a key query across the cluster
//! and tally every member's answer as Serf's KeyManager does (serf.md §8.5). The reply body
//! is sent even when the header carries an error, so the client can name each failure.

use std::collections::BTreeMap;
use std::time::Duration;

use rumor_serf::{Event as SerfEvent, KeyOp, KeyTally};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::{Body, Next};
use crate::keyring::parse_key;
use crate::rpc::proto::nil_default;
use crate::rpc::server::Connection;

/// How long past the query's own deadline we wait for its `QueryClosed` before giving up.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// `install-key` / `use-key` / `remove-key` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct KeyRequest {
    /// The key, base64 (standard, padded).
    pub key: String,
}

/// The reply body of every key command (keys sorted as Go writes them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct KeysResponse {
    /// `list-keys`: base64 key → number of members that hold it; nil for the others.
    pub keys: Option<BTreeMap<String, usize>>,
    /// Node → its message (every failure, and warnings such as a truncated key list).
    #[serde(deserialize_with = "nil_default")]
    pub messages: BTreeMap<String, String>,
    /// Members that reported failure (or answered something undecodable).
    pub num_err: usize,
    /// Members expected to answer (alive and not left, ourselves included).
    pub num_nodes: usize,
    /// Answers received.
    pub num_resp: usize,
}

/// Which key command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyCommand {
    /// `install-key`.
    Install,
    /// `use-key`.
    Use,
    /// `remove-key`.
    Remove,
    /// `list-keys` (no request body).
    List,
}

impl KeyCommand {
    fn op(self) -> KeyOp {
        match self {
            KeyCommand::Install => KeyOp::Install,
            KeyCommand::Use => KeyOp::Use,
            KeyCommand::Remove => KeyOp::Remove,
            KeyCommand::List => KeyOp::List,
        }
    }

    fn name(self) -> &'static str {
        match self {
            KeyCommand::Install => "install",
            KeyCommand::Use => "use",
            KeyCommand::Remove => "remove",
            KeyCommand::List => "list",
        }
    }
}

/// Read the key (except for `list-keys`), run the query, reply with the tally.
pub(super) async fn apply(
    conn: &mut Connection,
    seq: u64,
    body: Body<'_>,
    command: KeyCommand,
) -> Next {
    let key = if command == KeyCommand::List {
        None
    } else {
        let Some(req) = body.read::<KeyRequest>().await else {
            return Next::Close;
        };
        match parse_key(&req.key) {
            Ok(k) => Some(k),
            Err(e) => {
                // As Serf: the error, and an empty tally (Keys nil, no node asked).
                conn.reply_body(seq, &e.to_string(), &KeysResponse::default())
                    .await;
                return Next::Continue;
            }
        }
    };
    let (err, resp) = run(conn, command, key).await;
    conn.reply_body(seq, &err, &resp).await;
    Next::Continue
}

/// Send the key query and count answers until every member answered or the query closed.
async fn run(
    conn: &Connection,
    command: KeyCommand,
    key: Option<rumor_wire::Key>,
) -> (String, KeysResponse) {
    tracing::info!(
        op = command.name(),
        "initiating key {} query",
        command.name()
    );
    // Subscribe before sending, so no answer can slip past.
    let mut rx = conn.agent.lan.subscribe();
    let started = conn.agent.lan.call(|serf, now| {
        serf.key_query(now, command.op(), key)
            .map(|h| (h, serf.num_members()))
    });
    let list = command == KeyCommand::List;
    let (handle, num_nodes) = match started {
        Ok(v) => v,
        Err(e) => {
            let resp = KeysResponse {
                keys: list.then(BTreeMap::new),
                ..KeysResponse::default()
            };
            return (e.to_string(), resp);
        }
    };
    let mut tally = KeyTally::new(num_nodes);
    let wait = async {
        loop {
            if tally.complete() {
                return;
            }
            match rx.recv().await {
                Ok(SerfEvent::QueryResponse {
                    ltime,
                    id,
                    from,
                    payload,
                }) if ltime == handle.ltime && id == handle.id => {
                    tally.add(&from, &payload);
                }
                Ok(SerfEvent::QueryClosed { ltime, id })
                    if ltime == handle.ltime && id == handle.id =>
                {
                    return;
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(lost = n, "key query: events lost; answers may be missing");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    };
    if tokio::time::timeout(handle.timeout + CLOSE_GRACE, wait)
        .await
        .is_err()
    {
        tracing::warn!("key query: no close from the core after its deadline; stopping");
    }
    let report = tally.report();
    let err = if report.num_err > 0 {
        format!(
            "{}/{} nodes reported failure",
            report.num_err, report.num_nodes
        )
    } else if report.num_resp != report.num_nodes {
        format!(
            "{}/{} nodes reported success",
            report.num_resp, report.num_nodes
        )
    } else {
        String::new()
    };
    if err.is_empty() {
        tracing::info!(
            op = command.name(),
            nodes = report.num_nodes,
            "key query complete"
        );
    } else {
        tracing::warn!(op = command.name(), error = %err, "key query failed");
    }
    let resp = KeysResponse {
        keys: list.then_some(report.keys),
        messages: report.messages,
        num_err: report.num_err,
        num_nodes: report.num_nodes,
        num_resp: report.num_resp,
    };
    (err, resp)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::rpc::proto;

    #[test]
    fn reply_body_matches_serf_layout() {
        // What the serf 0.9.4 agent sends for install-key on one node with no error: Keys nil
        // (only list-keys sets it), an empty Messages map, the three counts.
        let r = KeysResponse {
            keys: None,
            messages: BTreeMap::new(),
            num_err: 0,
            num_nodes: 1,
            num_resp: 1,
        };
        let mut out = Vec::new();
        proto::encode(&r, &mut out).unwrap();
        assert_eq!(
            out,
            b"\x85\xa4Keys\xc0\xa8Messages\x80\xa6NumErr\x00\xa8NumNodes\x01\xa7NumResp\x01"
        );
        assert_eq!(proto::decode::<KeysResponse>(&out).unwrap(), r);
    }

    #[test]
    fn list_and_failure_bodies_match_serf_bytes() {
        // Captured from a one-node serf 0.9.4 agent: list-keys, then remove-key of the primary.
        let list: &[u8] = b"\x85\xa4Keys\x81\xb8DHTxZ9OjgWltEruChciP0A==\x01\xa8Messages\x80\xa6NumErr\x00\xa8NumNodes\x01\xa7NumResp\x01";
        let r: KeysResponse = proto::decode(list).unwrap();
        assert_eq!(
            r.keys,
            Some(BTreeMap::from([(
                "DHTxZ9OjgWltEruChciP0A==".to_string(),
                1
            )]))
        );
        let mut out = Vec::new();
        proto::encode(&r, &mut out).unwrap();
        assert_eq!(out, list);
        let failed: &[u8] = b"\x85\xa4Keys\xc0\xa8Messages\x81\xa1x\xd9'Removing the primary key is not allowed\xa6NumErr\x01\xa8NumNodes\x01\xa7NumResp\x01";
        let r: KeysResponse = proto::decode(failed).unwrap();
        assert_eq!(
            r.messages.get("x").map(String::as_str),
            Some("Removing the primary key is not allowed")
        );
        assert_eq!((r.num_err, r.num_nodes, r.num_resp), (1, 1, 1));
        let mut out = Vec::new();
        proto::encode(&r, &mut out).unwrap();
        assert_eq!(out, failed);
    }

    #[test]
    fn decodes_go_forms() {
        // Go writes an empty Messages map as nil when it was never made, and ints signed.
        let body = b"\x85\xa4Keys\x81\xa3abc\xd0\x04\xa8Messages\xc0\xa6NumErr\xd0\x00\xa8NumNodes\xd0\x04\xa7NumResp\xd0\x04";
        let r: KeysResponse = proto::decode(body).unwrap();
        assert_eq!(r.keys, Some(BTreeMap::from([("abc".to_string(), 4)])));
        assert!(r.messages.is_empty());
        assert_eq!((r.num_err, r.num_nodes, r.num_resp), (0, 4, 4));
        let req: KeyRequest = proto::decode(b"\x81\xa3Key\xa4YWJj").unwrap();
        assert_eq!(req.key, "YWJj");
    }
}
