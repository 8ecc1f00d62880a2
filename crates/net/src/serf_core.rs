//! [`Core`] for the Serf layer, so a pool can drive a `rumor_serf::Serf`.

use std::net::SocketAddr;

use rumor_serf::{Event, Serf};
use rumor_swim::{Instant, StreamId, StreamStep, Transmit};

use crate::core::{forward_core, Core, JoinOutcome};

impl Core for Serf {
    forward_core!(Serf, Event);
}
