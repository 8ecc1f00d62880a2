//! [`Core`] for the Serf layer, so a pool can drive a `rumor_serf::Serf`.

use std::net::SocketAddr;

use rumor_serf::{Event, Serf};
use rumor_swim::{Instant, StreamId, StreamStep, Transmit};

use crate::core::{Core, JoinOutcome};

impl Core for Serf {
    type Event = Event;

    fn handle_packet(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        Serf::handle_packet(self, now, from, data)
    }

    fn handle_stream(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> StreamStep {
        Serf::handle_stream(self, now, from, data)
    }

    fn handle_stream_reply(&mut self, now: Instant, id: StreamId, data: &[u8]) -> StreamStep {
        Serf::handle_stream_reply(self, now, id, data)
    }

    fn stream_failed(&mut self, now: Instant, id: StreamId, reason: &str) {
        Serf::stream_failed(self, now, id, reason)
    }

    fn handle_timeout(&mut self, now: Instant) {
        Serf::handle_timeout(self, now)
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        Serf::poll_transmit(self)
    }

    fn poll_event(&mut self) -> Option<Event> {
        Serf::poll_event(self)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Serf::poll_timeout(self)
    }

    fn join_result(event: &Event) -> Option<JoinOutcome> {
        match event {
            Event::JoinFinished { id, joined, errors } => Some(JoinOutcome {
                id: *id,
                joined: *joined,
                errors: errors.clone(),
            }),
            _ => None,
        }
    }
}
