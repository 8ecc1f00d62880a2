//! Counters of what the node received, sent and dropped, for metrics and tests.

/// Monotonic counters. Cheap to copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handed to `handle_packet`.
    pub packets_received: u64,
    /// Datagrams dropped because they did not decode (bad bytes, bad CRC, bad key...).
    pub packets_dropped: u64,
    /// Messages processed out of those datagrams.
    pub messages_received: u64,
    /// Datagrams produced.
    pub packets_sent: u64,
    /// Bytes of datagrams produced.
    pub bytes_sent: u64,
    /// Streams produced (push-pull, TCP ping, reliable user messages).
    pub streams_sent: u64,
    /// Incoming or reply streams that did not decode.
    pub streams_dropped: u64,
    /// Pings addressed to another node name (ignored).
    pub pings_misaddressed: u64,
    /// Alive messages vetoed by the alive guard.
    pub alive_vetoed: u64,
    /// Push-pull entries dropped on their own (refused by the member guard, or speaking
    /// incompatible protocol versions) while the rest of the push-pull was merged.
    pub entries_dropped: u64,
    /// Datagrams and streams dropped for a missing or wrong label.
    pub label_dropped: u64,
    /// Push-pull merges vetoed by the merge guard.
    pub merges_vetoed: u64,
    /// Push-pull merges refused for incompatible protocol versions.
    pub merges_incompatible: u64,
    /// Alive messages for a known name at another address.
    pub conflicts: u64,
    /// Times we refuted an accusation about ourselves.
    pub refutes: u64,
    /// Probes that ended with a suspicion.
    pub probes_failed: u64,
    /// Probes that ended with an ack.
    pub probes_ok: u64,
    /// Probes answered only by the TCP fallback ping (UDP may be blocked).
    pub probes_tcp_only: u64,
    /// Nacks received from relays of our indirect probes.
    pub nacks_received: u64,
}
