//! TCP streams: the accept loop and the responder side of inbound connections, and the
//! dialer side of the core's outbound streams.
//!
//! One exchange per connection (memberlist §6): no length prefix, so every read appends to a
//! buffer, and the core's [`StreamFraming`] (outside the core's lock; memberlist cores look at
//! each byte once) finds where the message ends; the core is then handed the whole message. A peer that drips
//! a large push-pull a byte at a time so costs linear work and holds the lock for one decode.
//! Each exchange runs under one deadline (inbound: the pool's TCP timeout from accept;
//! outbound: the deadline the core gave) and a byte cap.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rumor_swim::StreamFraming;
use rumor_swim::{Instant, StreamId, StreamStep};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::core::DriverCore;
use crate::pool::Shared;
use crate::stats::add;

/// Bytes asked of the socket per read; more is taken if it is already there.
const READ_CHUNK: usize = 64 * 1024;

/// Pause after an accept error (out of file descriptors...), so it cannot spin the loop.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(20);

/// Why a stream exchange failed.
#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error("connection closed before the message was complete")]
    Truncated,
    #[error("message larger than {0} bytes")]
    Oversized(usize),
    #[error("timed out")]
    Timeout,
    #[error("connect failed: {0}")]
    Connect(std::io::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl<C: DriverCore> Shared<C> {
    fn count_failure(&self, e: &StreamError) {
        let c = &self.counters;
        let counter = match e {
            StreamError::Truncated => &c.stream_truncated,
            StreamError::Oversized(_) => &c.stream_oversized,
            StreamError::Timeout => &c.stream_timeouts,
            StreamError::Connect(_) | StreamError::Io(_) => &c.stream_io_errors,
        };
        add(counter, 1);
    }
}

/// Read what the socket has (waiting for at least one byte) and append it to `buf`.
/// Returns false on EOF. Never lets `buf` grow past `max + READ_CHUNK`.
async fn read_more(
    sock: &mut TcpStream,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<bool, StreamError> {
    if buf.len() > max {
        return Err(StreamError::Oversized(max));
    }
    buf.reserve(READ_CHUNK);
    let n = sock.read_buf(buf).await?;
    if n == 0 {
        return Ok(false);
    }
    // Take whatever else already arrived, so a large message is decoded fewer times.
    while buf.len() <= max {
        buf.reserve(READ_CHUNK);
        match sock.try_read_buf(buf) {
            Ok(0) => break, // EOF: the next read_buf reports it.
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e.into()),
        }
    }
    if buf.len() > max {
        return Err(StreamError::Oversized(max));
    }
    Ok(true)
}

// ---- inbound -------------------------------------------------------------------------------

pub(crate) async fn accept_loop<C: DriverCore>(shared: Arc<Shared<C>>, listener: TcpListener) {
    let limit = Arc::new(Semaphore::new(shared.config.max_inbound_streams));
    loop {
        let accepted = tokio::select! {
            _ = shared.cancel.cancelled() => break,
            r = listener.accept() => r,
        };
        let (sock, from) = match accepted {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "TCP accept failed");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
            add(&shared.counters.streams_refused, 1);
            tracing::debug!(%from, "too many inbound streams; connection closed");
            drop(sock);
            continue;
        };
        add(&shared.counters.streams_in, 1);
        // Like Go's net package: a small tail segment must not wait for a delayed ACK.
        let _ = sock.set_nodelay(true);
        shared.spawn(inbound(Arc::clone(&shared), sock, from, permit));
    }
}

async fn inbound<C: DriverCore>(
    shared: Arc<Shared<C>>,
    mut sock: TcpStream,
    from: SocketAddr,
    _permit: OwnedSemaphorePermit,
) {
    let deadline = tokio::time::Instant::now() + shared.config.tcp_timeout;
    let result = tokio::select! {
        _ = shared.cancel.cancelled() => return,
        r = tokio::time::timeout_at(deadline, respond(&shared, &mut sock, from)) => {
            r.unwrap_or(Err(StreamError::Timeout))
        }
    };
    if let Err(e) = result {
        shared.count_failure(&e);
        tracing::debug!(%from, error = %e, "inbound stream failed");
    }
}

async fn respond<C: DriverCore>(
    shared: &Arc<Shared<C>>,
    sock: &mut TcpStream,
    from: SocketAddr,
) -> Result<(), StreamError> {
    let max = shared.config.max_stream_bytes;
    let mut framing = shared.drive(|core, _| core.stream_framing());
    let mut buf = Vec::new();
    loop {
        if !read_message(sock, &mut buf, max, &mut *framing).await? {
            // A connection closed before sending anything is a clean close (a port probe).
            return if buf.is_empty() {
                Ok(())
            } else {
                Err(StreamError::Truncated)
            };
        }
        match shared.drive(|core, now| core.handle_stream(now, from, &buf)) {
            StreamStep::NeedMore => {}
            StreamStep::Reply(reply) => {
                sock.write_all(&reply).await?;
                sock.shutdown().await?;
                return Ok(());
            }
            StreamStep::Close => return Ok(()),
        }
    }
}

/// Reads until `framing` says to hand the bytes over: `Ok(true)`. `Ok(false)`: the peer
/// closed first.
async fn read_message(
    sock: &mut TcpStream,
    buf: &mut Vec<u8>,
    max: usize,
    framing: &mut dyn StreamFraming,
) -> Result<bool, StreamError> {
    loop {
        if !read_more(sock, buf, max).await? {
            return Ok(false);
        }
        if framing.advance(buf) {
            return Ok(true);
        }
    }
}

// ---- outbound ------------------------------------------------------------------------------

pub(crate) async fn outbound<C: DriverCore>(
    shared: Arc<Shared<C>>,
    id: StreamId,
    to: SocketAddr,
    data: Vec<u8>,
    expect_reply: bool,
    deadline: Instant,
) {
    let deadline = shared.clock.to_tokio(deadline);
    let result = tokio::select! {
        _ = shared.cancel.cancelled() => return,
        r = tokio::time::timeout_at(deadline, dial(&shared, id, to, &data, expect_reply)) => {
            r.unwrap_or(Err(StreamError::Timeout))
        }
    };
    if let Err(e) = result {
        shared.count_failure(&e);
        tracing::debug!(%to, id, error = %e, "outbound stream failed");
        let reason = e.to_string();
        shared.drive(|core, now| core.stream_failed(now, id, &reason));
    }
}

async fn dial<C: DriverCore>(
    shared: &Arc<Shared<C>>,
    id: StreamId,
    to: SocketAddr,
    data: &[u8],
    expect_reply: bool,
) -> Result<(), StreamError> {
    let mut sock = TcpStream::connect(to).await.map_err(StreamError::Connect)?;
    let _ = sock.set_nodelay(true);
    sock.write_all(data).await?;
    if !expect_reply {
        sock.shutdown().await?;
        return Ok(());
    }
    let max = shared.config.max_stream_bytes;
    let mut framing = shared.drive(|core, _| core.stream_framing());
    let mut buf = Vec::new();
    loop {
        if !read_message(&mut sock, &mut buf, max, &mut *framing).await? {
            return Err(StreamError::Truncated);
        }
        match shared.drive(|core, now| core.handle_stream_reply(now, id, &buf)) {
            StreamStep::NeedMore => {}
            StreamStep::Reply(reply) => {
                sock.write_all(&reply).await?;
                sock.shutdown().await?;
                return Ok(());
            }
            StreamStep::Close => return Ok(()),
        }
    }
}
