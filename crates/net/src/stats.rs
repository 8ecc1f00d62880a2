//! The driver's own counters (the core keeps protocol counters of its own).

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a pool's driver counters. All are monotonic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Datagrams received.
    pub packets_in: u64,
    /// Bytes of datagrams received.
    pub bytes_in: u64,
    /// Datagrams sent.
    pub packets_out: u64,
    /// Bytes of datagrams sent.
    pub bytes_out: u64,
    /// Datagrams dropped before sending: the send queue was full, or the send failed.
    pub packets_send_dropped: u64,
    /// Inbound TCP connections accepted and served.
    pub streams_in: u64,
    /// Outbound TCP exchanges started.
    pub streams_out: u64,
    /// Inbound TCP connections closed at once because the concurrency limit was reached.
    pub streams_refused: u64,
    /// Streams (either direction) cut by their deadline.
    pub stream_timeouts: u64,
    /// Streams cut because they exceeded the byte limit.
    pub stream_oversized: u64,
    /// Streams whose peer closed before a complete message arrived.
    pub stream_truncated: u64,
    /// Streams that failed with an I/O error (connect, read, write).
    pub stream_io_errors: u64,
}

impl NetStats {
    /// All stream failures: timeouts, oversized, truncated and I/O errors.
    pub fn stream_errors(&self) -> u64 {
        self.stream_timeouts + self.stream_oversized + self.stream_truncated + self.stream_io_errors
    }
}

/// The live counters behind [`NetStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) packets_in: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) packets_out: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) packets_send_dropped: AtomicU64,
    pub(crate) streams_in: AtomicU64,
    pub(crate) streams_out: AtomicU64,
    pub(crate) streams_refused: AtomicU64,
    pub(crate) stream_timeouts: AtomicU64,
    pub(crate) stream_oversized: AtomicU64,
    pub(crate) stream_truncated: AtomicU64,
    pub(crate) stream_io_errors: AtomicU64,
}

/// Add `n` to a counter.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> NetStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        NetStats {
            packets_in: get(&self.packets_in),
            bytes_in: get(&self.bytes_in),
            packets_out: get(&self.packets_out),
            bytes_out: get(&self.bytes_out),
            packets_send_dropped: get(&self.packets_send_dropped),
            streams_in: get(&self.streams_in),
            streams_out: get(&self.streams_out),
            streams_refused: get(&self.streams_refused),
            stream_timeouts: get(&self.stream_timeouts),
            stream_oversized: get(&self.stream_oversized),
            stream_truncated: get(&self.stream_truncated),
            stream_io_errors: get(&self.stream_io_errors),
        }
    }
}
