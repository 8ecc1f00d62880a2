//! The [`Core`] trait: the sans-IO protocol machine a pool drives, and its implementation for
//! a bare [`rumor_swim::Node`].
//!
//! The trait mirrors the inputs and outputs every rumor core has, so the driver knows nothing
//! about SWIM or Serf. The one extra, [`Core::join_result`], lets the driver recognise the
//! event that ends a join, so [`crate::join_with`] works for any core.

use std::net::SocketAddr;

use rumor_swim::{Delegate, Event, Instant, JoinId, Node, StreamId, StreamStep, Transmit};

/// The outcome of one join request, as read from the core's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOutcome {
    /// The id the core's `join` returned.
    pub id: JoinId,
    /// Number of addresses that answered and were merged.
    pub joined: usize,
    /// Addresses that failed, with the reason.
    pub errors: Vec<(SocketAddr, String)>,
}

/// The sans-IO protocol machine a pool task drives (`rumor_swim::Node<D>` and
/// `rumor_serf::Serf`).
pub trait Core: Send + 'static {
    /// What the core reports to the layer above (member changes, join results, ...).
    type Event: Send + Clone + std::fmt::Debug + 'static;
    /// A datagram arrived.
    fn handle_packet(&mut self, now: Instant, from: SocketAddr, data: &[u8]);
    /// All bytes read so far from an inbound stream.
    fn handle_stream(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> StreamStep;
    /// All bytes read so far of the reply to outbound stream `id`.
    fn handle_stream_reply(&mut self, now: Instant, id: StreamId, data: &[u8]) -> StreamStep;
    /// Outbound stream `id` could not be dialled, failed, or passed its deadline.
    fn stream_failed(&mut self, now: Instant, id: StreamId, reason: &str);
    /// Run the timers due at or before `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// The next datagram or stream to send.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// The next event.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// When `handle_timeout` must next be called (may be early, never late).
    fn poll_timeout(&self) -> Option<Instant>;

    /// If `event` ends a join request, its outcome. Used by [`crate::join_with`] to wake the
    /// caller waiting for that join. The default recognises nothing.
    fn join_result(_event: &Self::Event) -> Option<JoinOutcome> {
        None
    }
}

/// The body of a [`Core`] impl for a type whose inherent methods already have the trait's
/// names and signatures: each trait method calls the inherent one, and `join_result` reads
/// the type's `JoinFinished` event.
macro_rules! forward_core {
    ($ty:ty, $event:ident) => {
        type Event = $event;

        fn handle_packet(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
            <$ty>::handle_packet(self, now, from, data)
        }

        fn handle_stream(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> StreamStep {
            <$ty>::handle_stream(self, now, from, data)
        }

        fn handle_stream_reply(&mut self, now: Instant, id: StreamId, data: &[u8]) -> StreamStep {
            <$ty>::handle_stream_reply(self, now, id, data)
        }

        fn stream_failed(&mut self, now: Instant, id: StreamId, reason: &str) {
            <$ty>::stream_failed(self, now, id, reason)
        }

        fn handle_timeout(&mut self, now: Instant) {
            <$ty>::handle_timeout(self, now)
        }

        fn poll_transmit(&mut self) -> Option<Transmit> {
            <$ty>::poll_transmit(self)
        }

        fn poll_event(&mut self) -> Option<$event> {
            <$ty>::poll_event(self)
        }

        fn poll_timeout(&self) -> Option<Instant> {
            <$ty>::poll_timeout(self)
        }

        fn join_result(event: &$event) -> Option<JoinOutcome> {
            match event {
                $event::JoinFinished { id, joined, errors } => Some(JoinOutcome {
                    id: *id,
                    joined: *joined,
                    errors: errors.clone(),
                }),
                _ => None,
            }
        }
    };
}
pub(crate) use forward_core;

impl<D: Delegate + Send + 'static> Core for Node<D> {
    forward_core!(Node<D>, Event);
}
