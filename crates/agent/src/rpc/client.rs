//! An RPC client: what the `rumor` client commands use to talk to an agent (rumor's or
//! Serf's). One connection, handshake first, then commands with increasing `Seq`.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::framing::{FrameError, ValueReader};
use super::proto::{self, HandshakeRequest, RequestHeader, ResponseHeader};

/// Why an RPC call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Could not connect.
    #[error("cannot reach the agent at {addr}: {source}")]
    Connect {
        /// The address tried.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The agent did not answer in time.
    #[error("the agent at {0} did not answer in time")]
    Timeout(String),
    /// Framing or I/O failed.
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// An answer did not decode.
    #[error("unexpected answer from the agent: {0}")]
    Decode(String),
    /// The agent answered with an error.
    #[error("{0}")]
    Remote(String),
    /// Writing a request failed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A connected, handshaken RPC session.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    reader: ValueReader,
    seq: u64,
    addr: String,
    timeout: Duration,
    /// Streams started on this connection, with records that arrived while the client was
    /// waiting for another reply (delivered by [`Client::next_record`] first).
    streams: BTreeMap<u64, VecDeque<Vec<u8>>>,
}

impl Client {
    /// Connect to `addr` and perform the handshake, each step bounded by `timeout`.
    pub async fn connect(addr: &str, timeout: Duration) -> Result<Client, ClientError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Timeout(addr.to_string()))?
            .map_err(|source| ClientError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        let mut c = Client {
            stream,
            reader: ValueReader::new(),
            seq: 0,
            addr: addr.to_string(),
            timeout,
            streams: BTreeMap::new(),
        };
        c.call_no_reply(
            "handshake",
            Some(&HandshakeRequest {
                version: proto::IPC_VERSION,
            }),
        )
        .await?;
        Ok(c)
    }

    async fn send<B: Serialize>(
        &mut self,
        command: &str,
        body: Option<&B>,
    ) -> Result<u64, ClientError> {
        self.seq += 1;
        let mut out = Vec::new();
        let header = RequestHeader {
            command: command.to_string(),
            seq: self.seq,
        };
        proto::encode(&header, &mut out).map_err(|e| ClientError::Decode(e.to_string()))?;
        if let Some(b) = body {
            proto::encode(b, &mut out).map_err(|e| ClientError::Decode(e.to_string()))?;
        }
        self.stream.write_all(&out).await?;
        Ok(self.seq)
    }

    /// Read the next value, bounded by the timeout (`None` = wait forever, for streams).
    pub async fn read_value(&mut self, bounded: bool) -> Result<Vec<u8>, ClientError> {
        if bounded {
            tokio::time::timeout(self.timeout, self.reader.next(&mut self.stream))
                .await
                .map_err(|_| ClientError::Timeout(self.addr.clone()))?
                .map_err(ClientError::from)
        } else {
            Ok(self.reader.next(&mut self.stream).await?)
        }
    }

    async fn read_header(&mut self, seq: u64) -> Result<ResponseHeader, ClientError> {
        // Bounded: records of this connection's streams are put aside for `next_record`.
        for _ in 0..100_000 {
            let v = self.read_value(true).await?;
            let h: ResponseHeader =
                proto::decode(&v).map_err(|e| ClientError::Decode(e.to_string()))?;
            if h.seq == seq {
                return Ok(h);
            }
            if self.streams.contains_key(&h.seq) {
                let body = self.read_value(true).await?;
                if let Some(q) = self.streams.get_mut(&h.seq) {
                    q.push_back(body);
                }
            }
        }
        Err(ClientError::Decode("no reply for our request".into()))
    }

    /// A command with no reply body.
    pub async fn call_no_reply<B: Serialize>(
        &mut self,
        command: &str,
        body: Option<&B>,
    ) -> Result<(), ClientError> {
        let seq = self.send(command, body).await?;
        let h = self.read_header(seq).await?;
        if h.error.is_empty() {
            Ok(())
        } else {
            Err(ClientError::Remote(h.error))
        }
    }

    /// A command with a reply body. With `body_on_error`, the agent sends the body even when
    /// the header carries an error (join, key commands), and the error wins.
    pub async fn call<B: Serialize, R: DeserializeOwned>(
        &mut self,
        command: &str,
        body: Option<&B>,
        body_on_error: bool,
    ) -> Result<R, ClientError> {
        let seq = self.send(command, body).await?;
        let h = self.read_header(seq).await?;
        if !h.error.is_empty() {
            if body_on_error {
                let _ = self.read_value(true).await;
            }
            return Err(ClientError::Remote(h.error));
        }
        let v = self.read_value(true).await?;
        proto::decode(&v).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// A command whose reply body follows the header even on error (the key commands):
    /// returns the header's error ("" on success) and the body, so the caller can show both.
    pub async fn call_with_body<B: Serialize, R: DeserializeOwned>(
        &mut self,
        command: &str,
        body: Option<&B>,
    ) -> Result<(String, R), ClientError> {
        let seq = self.send(command, body).await?;
        let h = self.read_header(seq).await?;
        let v = self.read_value(true).await?;
        let r = proto::decode(&v).map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok((h.error, r))
    }

    /// Start a streaming command (monitor, stream); records follow with the returned seq.
    pub async fn start_stream<B: Serialize>(
        &mut self,
        command: &str,
        body: &B,
    ) -> Result<u64, ClientError> {
        let seq = self.send(command, Some(body)).await?;
        // Registered before the reply: a record may follow it at once.
        self.streams.insert(seq, VecDeque::new());
        let h = self.read_header(seq).await?;
        if h.error.is_empty() {
            Ok(seq)
        } else {
            self.streams.remove(&seq);
            Err(ClientError::Remote(h.error))
        }
    }

    /// Forget a stream (after `stop`, or after a query's `done`): its records are dropped.
    pub fn end_stream(&mut self, seq: u64) {
        self.streams.remove(&seq);
    }

    /// The next record of stream `seq` (waits without a bound).
    pub async fn next_record<R: DeserializeOwned>(&mut self, seq: u64) -> Result<R, ClientError> {
        let decode =
            |body: &[u8]| proto::decode(body).map_err(|e| ClientError::Decode(e.to_string()));
        if let Some(body) = self.streams.get_mut(&seq).and_then(VecDeque::pop_front) {
            return decode(&body);
        }
        loop {
            let v = self.read_value(false).await?;
            let h: ResponseHeader =
                proto::decode(&v).map_err(|e| ClientError::Decode(e.to_string()))?;
            let body = self.read_value(false).await?;
            if h.seq == seq {
                return decode(&body);
            }
            if let Some(q) = self.streams.get_mut(&h.seq) {
                q.push_back(body);
            }
        }
    }
}
