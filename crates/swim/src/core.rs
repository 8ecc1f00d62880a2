//! The one sans-IO contract every rumor core implements ([`Core`]): a bare [`Node`], a node
//! with hooks ([`WithHooks`]), and `rumor_serf::Serf`. The tokio driver (rumor-net), the
//! simulator (rumor-sim) and the test harness ([`crate::testing`]) all drive this trait, so
//! there is one way to run a core and one virtual network for tests.

use std::net::SocketAddr;

use rumor_wire::StreamFramer;

use crate::error::JoinError;
use crate::event::{Event, JoinId, StreamId, StreamStep, Transmit};
use crate::hooks::{Hooks, NoHooks};
use crate::node::Node;
use crate::time::Instant;

/// The outcome of one join request, as read from the core's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOutcome {
    /// The id the core's `join` returned.
    pub id: JoinId,
    /// Number of addresses that answered and were merged.
    pub joined: usize,
    /// Addresses that failed, with the reason.
    pub errors: Vec<(SocketAddr, JoinError)>,
}

/// A sans-IO protocol core: bytes and time in, bytes, events and the next deadline out.
///
/// After every input and command, drain [`Core::poll_transmit`] and [`Core::poll_event`]
/// until `None`, then sleep until [`Core::poll_timeout`] (exact: never early, never late) and
/// call [`Core::handle_timeout`].
pub trait Core {
    /// What the core reports (member changes, join and leave results, ...).
    type Event: Clone + std::fmt::Debug;

    /// A datagram arrived from `from`.
    fn handle_packet(&mut self, now: Instant, from: SocketAddr, data: &[u8]);
    /// All bytes read so far from an inbound stream from `from`.
    fn handle_stream(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> StreamStep;
    /// All bytes read so far of the reply to outbound stream `id`.
    fn handle_stream_reply(&mut self, now: Instant, id: StreamId, data: &[u8]) -> StreamStep;
    /// Outbound stream `id` could not be dialled, failed, or passed its deadline.
    fn stream_failed(&mut self, now: Instant, id: StreamId, reason: &str);
    /// Runs the timers due at or before `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// The next datagram or stream to send.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// The next event.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// When [`Core::handle_timeout`] must next be called.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Joins through `addrs`; the outcome is an event that [`Core::join_result`] recognises.
    fn join(&mut self, now: Instant, addrs: &[SocketAddr]) -> JoinId;
    /// Leaves gracefully; the end is an event that [`Core::is_leave_finished`] recognises.
    fn leave(&mut self, now: Instant);

    /// If `event` ends a join request, its outcome.
    fn join_result(event: &Self::Event) -> Option<JoinOutcome>;
    /// Whether `event` says a graceful leave is finished (the driver may stop).
    fn is_leave_finished(event: &Self::Event) -> bool;

    /// How a driver finds where a stream message ends before handing it over, one per
    /// stream. The default hands over after every read (the core answers `NeedMore` until
    /// it has it all); memberlist cores find the end incrementally ([`StreamFramer`]), so a
    /// stream costs linear work and one decode however its bytes arrive.
    fn stream_framing(&self) -> Box<dyn StreamFraming> {
        Box::new(EveryRead)
    }
}

/// Decides, as a stream's bytes arrive, when to hand them to the core. See
/// [`Core::stream_framing`].
pub trait StreamFraming: Send {
    /// `buf` is every byte received so far; true: hand it to the core now.
    fn advance(&mut self, buf: &[u8]) -> bool;
}

/// Hands the bytes over after every read.
#[derive(Debug, Default, Clone, Copy)]
pub struct EveryRead;

impl StreamFraming for EveryRead {
    fn advance(&mut self, _buf: &[u8]) -> bool {
        true
    }
}

impl StreamFraming for StreamFramer {
    /// Hand over once the message is whole, or once the bytes cannot be a message (the core
    /// then answers with its error).
    fn advance(&mut self, buf: &[u8]) -> bool {
        !matches!(StreamFramer::advance(self, buf), Ok(None))
    }
}

/// A [`Node`] with the hooks it is driven with: how an embedder runs a bare memberlist pool
/// with a guard or user broadcasts through the [`Core`] contract.
#[derive(Debug)]
pub struct WithHooks<H> {
    /// The node.
    pub node: Node,
    /// The hooks passed into each of its calls.
    pub hooks: H,
}

impl JoinOutcome {
    /// The outcome a core's join event reports.
    pub fn new(id: JoinId, joined: usize, errors: &[(SocketAddr, JoinError)]) -> Self {
        JoinOutcome {
            id,
            joined,
            errors: errors.to_vec(),
        }
    }
}

fn swim_join_result(event: &Event) -> Option<JoinOutcome> {
    match event {
        Event::JoinFinished { id, joined, errors } => Some(JoinOutcome::new(*id, *joined, errors)),
        _ => None,
    }
}

/// Runs a closure on a SWIM node with the hooks it is driven with.
trait Drive {
    fn drive<R>(&mut self, f: impl FnOnce(&mut Node, &mut dyn Hooks) -> R) -> R;
    fn node_ref(&self) -> &Node;
}

impl Drive for Node {
    fn drive<R>(&mut self, f: impl FnOnce(&mut Node, &mut dyn Hooks) -> R) -> R {
        f(self, &mut NoHooks)
    }
    fn node_ref(&self) -> &Node {
        self
    }
}

impl<H: Hooks> Drive for WithHooks<H> {
    fn drive<R>(&mut self, f: impl FnOnce(&mut Node, &mut dyn Hooks) -> R) -> R {
        f(&mut self.node, &mut self.hooks)
    }
    fn node_ref(&self) -> &Node {
        &self.node
    }
}

/// The body of a [`Core`] impl for a type that implements `Drive`.
macro_rules! swim_core {
    () => {
        type Event = Event;

        fn handle_packet(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
            self.drive(|n, h| n.handle_packet(now, from, data, h))
        }
        fn handle_stream(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> StreamStep {
            self.drive(|n, h| n.handle_stream(now, from, data, h))
        }
        fn handle_stream_reply(&mut self, now: Instant, id: StreamId, data: &[u8]) -> StreamStep {
            self.drive(|n, h| n.handle_stream_reply(now, id, data, h))
        }
        fn stream_failed(&mut self, now: Instant, id: StreamId, reason: &str) {
            self.drive(|n, _| n.stream_failed(now, id, reason))
        }
        fn handle_timeout(&mut self, now: Instant) {
            self.drive(|n, h| n.handle_timeout(now, h))
        }
        fn poll_transmit(&mut self) -> Option<Transmit> {
            self.drive(|n, _| n.poll_transmit())
        }
        fn poll_event(&mut self) -> Option<Event> {
            self.drive(|n, _| n.poll_event())
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.node_ref().poll_timeout()
        }
        fn join(&mut self, now: Instant, addrs: &[SocketAddr]) -> JoinId {
            self.drive(|n, h| n.join(now, addrs, h))
        }
        fn leave(&mut self, now: Instant) {
            self.drive(|n, _| n.leave(now))
        }
        fn join_result(event: &Event) -> Option<JoinOutcome> {
            swim_join_result(event)
        }
        fn is_leave_finished(event: &Event) -> bool {
            matches!(event, Event::LeaveFinished)
        }
        fn stream_framing(&self) -> Box<dyn StreamFraming> {
            self.node_ref().stream_framing()
        }
    };
}

impl Core for Node {
    swim_core!();
}

impl<H: Hooks> Core for WithHooks<H> {
    swim_core!();
}
