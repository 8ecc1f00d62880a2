//! The RPC server: Serf's agent protocol on `--rpc-addr`, so `rumor` client commands and the
//! real `serf` CLI both drive a rumor agent.
//!
//! One task per connection reads requests; replies and stream records go through one writer
//! task per connection, so writes never interleave.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::framing::{FrameError, ValueReader};
use super::proto::{self, RequestHeader, ResponseHeader};
use crate::agent::Agent;
use crate::logging::parse_level;

/// Frames queued for one connection's writer before the reader waits.
const WRITE_QUEUE: usize = 1024;

/// Serve RPC connections until the agent shuts down.
pub async fn serve(listener: TcpListener, agent: Arc<Agent>) {
    let mut shutdown = agent.shutdown_signal();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "rpc connection");
                    let agent = agent.clone();
                    tokio::spawn(async move { Connection::run(stream, agent).await });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "rpc accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
        }
    }
}

struct Connection {
    agent: Arc<Agent>,
    out: mpsc::Sender<Vec<u8>>,
    handshake: bool,
    streams: HashMap<u64, JoinHandle<()>>,
}

/// What the reader does after a command.
enum Next {
    Continue,
    Close,
}

impl Connection {
    async fn run(stream: TcpStream, agent: Arc<Agent>) {
        let (mut rd, mut wr) = stream.into_split();
        let (out, mut rx) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
        let writer = tokio::spawn(async move {
            while let Some(buf) = rx.recv().await {
                if wr.write_all(&buf).await.is_err() {
                    break;
                }
            }
            let _ = wr.shutdown().await;
        });
        let mut conn = Connection {
            agent,
            out,
            handshake: false,
            streams: HashMap::new(),
        };
        let mut reader = ValueReader::new();
        let mut shutdown = conn.agent.shutdown_signal();
        loop {
            let value = tokio::select! {
                _ = shutdown.changed() => break,
                v = reader.next(&mut rd) => v,
            };
            let header = match value {
                Ok(v) => match proto::decode::<RequestHeader>(&v) {
                    Ok(h) => h,
                    Err(e) => {
                        tracing::debug!(error = %e, "rpc: bad request header; closing");
                        break;
                    }
                },
                Err(FrameError::Closed) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "rpc: closing connection");
                    break;
                }
            };
            match conn.dispatch(header, &mut reader, &mut rd).await {
                Next::Continue => {}
                Next::Close => break,
            }
        }
        for (_, s) in conn.streams.drain() {
            s.abort();
        }
        drop(conn);
        let _ = writer.await;
    }

    async fn reply(&self, seq: u64, error: &str) {
        if let Some(buf) = frame(seq, error, |_| Ok(())) {
            let _ = self.out.send(buf).await;
        }
    }

    async fn reply_body<B: Serialize>(&self, seq: u64, error: &str, body: &B) {
        if let Some(buf) = frame(seq, error, |out| proto::encode(body, out)) {
            let _ = self.out.send(buf).await;
        }
    }

    async fn dispatch(
        &mut self,
        h: RequestHeader,
        reader: &mut ValueReader,
        rd: &mut tokio::net::tcp::OwnedReadHalf,
    ) -> Next {
        macro_rules! body {
            ($t:ty) => {
                match reader
                    .next(rd)
                    .await
                    .ok()
                    .and_then(|v| proto::decode::<$t>(&v).ok())
                {
                    Some(b) => b,
                    None => return Next::Close, // a body that cannot be decoded closes silently
                }
            };
        }
        let seq = h.seq;
        if h.command != "handshake" && !self.handshake {
            self.reply(seq, "Handshake required").await;
            return Next::Close;
        }
        match h.command.as_str() {
            "handshake" => {
                let b = body!(proto::HandshakeRequest);
                if self.handshake {
                    self.reply(seq, "Handshake already performed").await;
                } else if b.version != proto::IPC_VERSION {
                    self.reply(seq, "Unsupported IPC version").await;
                } else {
                    self.handshake = true;
                    self.reply(seq, "").await;
                }
            }
            "auth" => {
                let _ = body!(proto::AuthRequest);
                self.reply(seq, "").await;
            }
            "members" => {
                let members = self.agent.rpc_members();
                self.reply_body(seq, "", &proto::MembersResponse { members })
                    .await;
            }
            "members-filtered" => {
                let b = body!(proto::MembersFilteredRequest);
                let Some(filter) = MemberFilter::new(&b) else {
                    return Next::Close; // Serf drops the connection on a bad pattern
                };
                let members = self
                    .agent
                    .rpc_members()
                    .into_iter()
                    .filter(|m| filter.matches(m))
                    .collect();
                self.reply_body(seq, "", &proto::MembersResponse { members })
                    .await;
            }
            "join" => {
                let b = body!(proto::JoinRequest);
                let (num, err) = match self.agent.join(&b.existing, b.replay).await {
                    Ok(n) => (n as i32, String::new()),
                    Err(e) => (0, format!("{e:#}")),
                };
                self.reply_body(seq, &err, &proto::JoinResponse { num })
                    .await;
            }
            "leave" => {
                let err = match self.agent.leave().await {
                    Ok(()) => String::new(),
                    Err(e) => format!("{e:#}"),
                };
                self.reply(seq, &err).await;
                self.agent.request_shutdown();
            }
            "force-leave" => {
                let b = body!(proto::ForceLeaveRequest);
                let err = match self.agent.force_leave(&b.node, b.prune) {
                    Ok(()) => String::new(),
                    Err(e) => format!("{e:#}"),
                };
                self.reply(seq, &err).await;
            }
            "event" => {
                let b = body!(proto::EventRequest);
                let err = match self.agent.user_event(&b.name, b.payload, b.coalesce) {
                    Ok(()) => String::new(),
                    Err(e) => format!("{e:#}"),
                };
                self.reply(seq, &err).await;
            }
            "tags" => {
                let b = body!(proto::TagsRequest);
                let err = match self.agent.update_tags(b.tags, &b.delete_tags) {
                    Ok(()) => String::new(),
                    Err(e) => format!("{e:#}"),
                };
                self.reply(seq, &err).await;
            }
            "stats" => {
                let stats = self.agent.rpc_stats();
                self.reply_body(seq, "", &stats).await;
            }
            "monitor" => {
                let b = body!(proto::MonitorRequest);
                let Some(level) = parse_level(&b.log_level) else {
                    self.reply(seq, &format!("Unknown log level: {}", b.log_level))
                        .await;
                    return Next::Continue;
                };
                if self.streams.contains_key(&seq) {
                    self.reply(seq, "Monitor already exists").await;
                    return Next::Continue;
                }
                self.reply(seq, "").await;
                let (backlog, mut rx) = self.agent.logs.snapshot_and_follow();
                let out = self.out.clone();
                let task = tokio::spawn(async move {
                    let send = |text: String| {
                        let out = out.clone();
                        async move {
                            let record = proto::LogRecord { log: text };
                            match frame(seq, "", |buf| proto::encode(&record, buf)) {
                                Some(buf) => out.send(buf).await.is_ok(),
                                None => false,
                            }
                        }
                    };
                    for line in backlog.into_iter().filter(|l| l.level <= level) {
                        if !send(line.text).await {
                            return;
                        }
                    }
                    loop {
                        match rx.recv().await {
                            Ok(line) if line.level <= level => {
                                if !send(line.text).await {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                                tracing::debug!(lost = n, "monitor fell behind");
                            }
                            Err(_) => return,
                        }
                    }
                });
                self.streams.insert(seq, task);
            }
            "stream" => {
                let b = body!(proto::StreamRequest);
                let Some(filter) = EventFilter::parse(&b.kind) else {
                    self.reply(seq, "Invalid event filter").await;
                    return Next::Continue;
                };
                if self.streams.contains_key(&seq) {
                    self.reply(seq, "Stream with given sequence exists").await;
                    return Next::Continue;
                }
                self.reply(seq, "").await;
                let mut rx = self.agent.member_events();
                let out = self.out.clone();
                let task = tokio::spawn(async move {
                    loop {
                        match rx.recv().await {
                            Ok(rec) => {
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
                self.streams.insert(seq, task);
            }
            "stop" => {
                let b = body!(proto::StopRequest);
                if let Some(t) = self.streams.remove(&b.stop) {
                    t.abort();
                }
                self.reply(seq, "").await;
            }
            other => {
                tracing::debug!(command = other, "rpc: unsupported command");
                self.reply(seq, "Unsupported command").await;
                return Next::Close;
            }
        }
        Next::Continue
    }
}

/// A response header for `seq` followed by whatever `body` writes (nothing for a bare reply).
fn frame(
    seq: u64,
    error: &str,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), rmp_serde::encode::Error>,
) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let header = ResponseHeader {
        error: error.to_string(),
        seq,
    };
    proto::encode(&header, &mut buf).ok()?;
    body(&mut buf).ok()?;
    Some(buf)
}

/// `members-filtered`: each pattern anchored at both ends, empty name/status not applied.
struct MemberFilter {
    name: Option<regex::Regex>,
    status: Option<regex::Regex>,
    tags: Vec<(String, regex::Regex)>,
}

impl MemberFilter {
    fn anchored(p: &str) -> Option<regex::Regex> {
        regex::Regex::new(&format!("^(?:{p})$")).ok()
    }

    fn new(req: &proto::MembersFilteredRequest) -> Option<MemberFilter> {
        let opt = |p: &str| {
            if p.is_empty() {
                Some(None)
            } else {
                Self::anchored(p).map(Some)
            }
        };
        let mut tags = Vec::new();
        for (k, v) in &req.tags {
            tags.push((k.clone(), Self::anchored(v)?));
        }
        Some(MemberFilter {
            name: opt(&req.name)?,
            status: opt(&req.status)?,
            tags,
        })
    }

    fn matches(&self, m: &proto::Member) -> bool {
        self.name.as_ref().is_none_or(|r| r.is_match(&m.name))
            && self.status.as_ref().is_none_or(|r| r.is_match(&m.status))
            && self
                .tags
                .iter()
                .all(|(k, r)| m.tags.get(k).is_some_and(|v| r.is_match(v)))
    }
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

    fn member(name: &str, status: &str, role: &str) -> proto::Member {
        proto::Member {
            name: name.into(),
            status: status.into(),
            tags: BTreeMap::from([("role".to_string(), role.to_string())]),
            ..Default::default()
        }
    }

    #[test]
    fn filters_are_anchored() {
        let req = proto::MembersFilteredRequest {
            name: "n.".into(),
            status: "alive".into(),
            tags: BTreeMap::from([("role".to_string(), "web".to_string())]),
        };
        let f = MemberFilter::new(&req).expect("valid");
        assert!(f.matches(&member("n1", "alive", "web")));
        assert!(
            !f.matches(&member("n12", "alive", "web")),
            "name is anchored"
        );
        assert!(!f.matches(&member("n1", "failed", "web")));
        assert!(!f.matches(&member("n1", "alive", "webby")));
        let bad = proto::MembersFilteredRequest {
            name: "(".into(),
            ..Default::default()
        };
        assert!(MemberFilter::new(&bad).is_none());
    }

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
