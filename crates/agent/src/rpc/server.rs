//! The RPC server: Serf's agent protocol on `--rpc-addr`, so `rumor` client commands and the
//! real `serf` CLI both drive a rumor agent.
//!
//! This file holds the accept loop and one `Connection` per client: its reader loop and its
//! reply helpers. What each command does lives in `rpc/cmd/<name>.rs`.
//!
//! One task per connection reads requests; replies and stream records go through one writer
//! task per connection, so writes never interleave.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::cmd::{self, Body, Next};
use super::framing::{FrameError, ValueReader};
use super::proto::{self, RequestHeader, ResponseHeader};
use crate::agent::Agent;

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

/// One client connection: what the command handlers see and change.
pub(super) struct Connection {
    /// The agent the commands act on.
    pub(super) agent: Arc<Agent>,
    /// Frames for this connection's writer task.
    pub(super) out: mpsc::Sender<Vec<u8>>,
    /// Whether the handshake was performed.
    pub(super) handshake: bool,
    /// Running `monitor` and `stream` subscriptions, by their request seq.
    pub(super) streams: HashMap<u64, JoinHandle<()>>,
    /// Queries this connection's streams delivered, for `respond`.
    pub(super) queries: cmd::SharedPending,
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
            queries: cmd::SharedPending::default(),
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
            let body = Body::new(&mut reader, &mut rd);
            match cmd::dispatch(&mut conn, header, body).await {
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

    /// A reply without a body: just the response header (`error` empty on success).
    pub(super) async fn reply(&self, seq: u64, error: &str) {
        if let Some(buf) = frame(seq, error, |_| Ok(())) {
            let _ = self.out.send(buf).await;
        }
    }

    /// A reply with a body after the response header.
    pub(super) async fn reply_body<B: Serialize>(&self, seq: u64, error: &str, body: &B) {
        if let Some(buf) = frame(seq, error, |out| proto::encode(body, out)) {
            let _ = self.out.send(buf).await;
        }
    }
}

/// A response header for `seq` followed by whatever `body` writes (nothing for a bare reply).
pub(super) fn frame(
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
