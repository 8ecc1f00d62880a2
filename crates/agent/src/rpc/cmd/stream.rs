//! `stream`: follow member and user events through an event-handler filter; records carry
//! the request's seq until `stop` or the connection ends.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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

/// Anything a `stream` subscription can deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamRecord {
    /// member-join, member-leave, ...
    Member(MemberEventRecord),
    /// A user event.
    User(UserEventRecord),
}

impl StreamRecord {
    /// The event type name (`member-join`, `user`, ...).
    pub fn kind(&self) -> &str {
        match self {
            StreamRecord::Member(m) => &m.event,
            StreamRecord::User(_) => "user",
        }
    }

    /// The user event's name, for `user:NAME` filters.
    pub fn user_name(&self) -> Option<&str> {
        match self {
            StreamRecord::User(u) => Some(&u.name),
            StreamRecord::Member(_) => None,
        }
    }

    /// Encode the record body.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), rmp_serde::encode::Error> {
        match self {
            StreamRecord::Member(m) => proto::encode(m, out),
            StreamRecord::User(u) => proto::encode(u, out),
        }
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
    let task = tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    let Some(rec) = stream_record(&ev) else {
                        continue;
                    };
                    if !filter.accepts(rec.kind(), rec.user_name()) {
                        continue;
                    }
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
    }
}
