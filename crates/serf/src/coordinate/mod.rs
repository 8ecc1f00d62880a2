//! Vivaldi network coordinates (serf.md §9): our coordinate client, the coordinates other
//! members sent us, and the ack payload that carries ours.
//!
//! The flow: when we answer a direct ping, the node asks for [`Coordinates::ack_payload`]
//! (`[1]` + our coordinate in msgpack, cached until the coordinate changes). When a direct
//! probe of ours completes, the node reports `PingComplete { name, rtt, payload }` and
//! [`Coordinates::on_ping`] checks the payload (§9.1), feeds the RTT to the [`Client`] and
//! caches both the sender's coordinate and our new one. Reaping or pruning a member forgets
//! its coordinate and RTT samples ([`Coordinates::forget`]).

mod client;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use rumor_wire::serf::{decode_ack_payload, AckPayload, Coordinate, SerfDecodeError};
use rumor_wire::Name;

pub use client::{Client, UpdateError, VivaldiConfig};

/// Why a coordinate in an ack was rejected (Serf's `serf.coordinate.rejected`). Nothing
/// changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoordinateRejected {
    /// The coordinate did not decode.
    #[error("failed to decode coordinate from ping: {0}")]
    Decode(#[from] SerfDecodeError),
    /// The coordinate or the RTT is out of range.
    #[error(transparent)]
    Update(#[from] UpdateError),
}

/// What happened to one ping's ack payload.
#[derive(Debug, Clone, PartialEq)]
pub enum PingOutcome {
    /// Our coordinate moved; the sender's is cached.
    Updated,
    /// Empty payload or a version other than 1: ignored, not counted.
    Ignored,
    /// Rejected and counted.
    Rejected(CoordinateRejected),
}

/// Our coordinate client plus the cache of coordinates by member name (ours included).
#[derive(Debug, Clone)]
pub struct Coordinates {
    name: Name,
    client: Client,
    cache: BTreeMap<Name, Coordinate>,
    payload: Bytes,
    rejected: u64,
}

impl Coordinates {
    /// A fresh client for member `name`, whose own coordinate is cached at once (as Serf).
    pub fn new(name: Name, config: VivaldiConfig) -> Self {
        let client = Client::new(config);
        let own = client.coordinate().clone();
        let payload = Bytes::from(own.to_ack_payload());
        let mut cache = BTreeMap::new();
        cache.insert(name.clone(), own);
        Coordinates {
            name,
            client,
            cache,
            payload,
            rejected: 0,
        }
    }

    /// The bytes to put in our acks: `[1]` + our coordinate.
    pub fn ack_payload(&self) -> Bytes {
        self.payload.clone()
    }

    /// Our coordinate.
    pub fn own(&self) -> &Coordinate {
        self.client.coordinate()
    }

    /// The cached coordinate of `name`.
    pub fn get(&self, name: &str) -> Option<&Coordinate> {
        self.cache.get(name)
    }

    /// Resets of our coordinate (it became invalid).
    pub fn resets(&self) -> u64 {
        self.client.resets()
    }

    /// Ack coordinates rejected.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// A direct probe of `node` completed in `rtt` with this ack `payload` (§9.1). `rng`
    /// gives random bits for the rare coincident-point case.
    pub fn on_ping(
        &mut self,
        node: &Name,
        rtt: Duration,
        payload: &[u8],
        rng: &mut dyn FnMut() -> u64,
    ) -> PingOutcome {
        let coord = match decode_ack_payload(payload) {
            Ok(AckPayload::Empty) => return PingOutcome::Ignored,
            Ok(AckPayload::UnknownVersion(v)) => {
                tracing::debug!(node = %node, version = v, "unsupported ping version");
                return PingOutcome::Ignored;
            }
            Ok(AckPayload::Coordinate(c)) => c,
            Err(e) => return self.reject(node, e.into()),
        };
        match self.client.update(node, &coord, rtt, rng) {
            Ok(own) => {
                let own = own.clone();
                self.payload = Bytes::from(own.to_ack_payload());
                self.cache.insert(self.name.clone(), own);
                self.cache.insert(node.clone(), coord);
                PingOutcome::Updated
            }
            Err(e) => self.reject(node, e.into()),
        }
    }

    fn reject(&mut self, node: &Name, why: CoordinateRejected) -> PingOutcome {
        self.rejected += 1;
        tracing::trace!(node = %node, %why, "rejected coordinate");
        PingOutcome::Rejected(why)
    }

    /// Forgets member `name`'s coordinate and RTT samples (it was reaped or pruned).
    pub fn forget(&mut self, name: &str) {
        self.client.forget(name);
        self.cache.remove(name);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// An ack payload captured from a Serf 0.9.4 agent: n2 (127.0.1.2) answering a ping of
    /// n1, the second ack with a payload in `testdata/serf-0.9.4/plain.pcap`
    /// (`crates/wire/tests/pcap.rs` checks every ack in that capture the same way).
    const CAPTURED: &str = concat!(
        "0184aa41646a7573746d656e74cb3ee23c34913a413ea54572726f72cb3ff685ca75682bd5a648656967",
        "6874cb3ef7da8be0ba894aa356656398cbbefd9f3dead8a271cb3ec579970f8ddcc4cbbefb44a82c1f4e",
        "7ccbbeea656dc30f92d9cbbef35613d83eba59cbbee26aa0f8d071f8cb3e82db0c3fcf0dabcbbef80119",
        "8a855fc0"
    );

    fn coords() -> Coordinates {
        Coordinates::new(Name::from("me"), VivaldiConfig::default())
    }

    fn no_rng() -> impl FnMut() -> u64 {
        || 0
    }

    #[test]
    fn a_fresh_client_caches_itself_and_sends_130_bytes() {
        let c = coords();
        assert_eq!(c.get("me"), Some(&VivaldiConfig::default().fresh()));
        assert_eq!(c.ack_payload().len(), 130);
        assert_eq!(c.ack_payload()[0], 1);
    }

    #[test]
    fn a_captured_serf_ack_payload_decodes_and_updates_us() {
        let payload = hex::decode(CAPTURED.trim()).unwrap();
        assert_eq!(payload.len(), 130);
        let AckPayload::Coordinate(theirs) = decode_ack_payload(&payload).unwrap() else {
            panic!("not a coordinate");
        };
        assert_eq!(theirs.vec.len(), 8);
        assert!(theirs.is_valid());
        // Our encoder writes it back byte for byte.
        assert_eq!(theirs.to_ack_payload(), payload);
        let mut c = coords();
        let n2 = Name::from("n2");
        let out = c.on_ping(&n2, Duration::from_micros(400), &payload, &mut no_rng());
        assert_eq!(out, PingOutcome::Updated);
        assert_eq!(c.get("n2"), Some(&theirs));
        assert_ne!(c.own(), &VivaldiConfig::default().fresh());
        assert_eq!(c.get("me"), Some(c.own()));
        assert_eq!(c.ack_payload(), Bytes::from(c.own().to_ack_payload()));
    }

    #[test]
    fn bad_payloads_are_ignored_or_rejected_as_serf_does() {
        let mut c = coords();
        let n = Name::from("n");
        let rtt = Duration::from_millis(1);
        assert_eq!(c.on_ping(&n, rtt, b"", &mut no_rng()), PingOutcome::Ignored);
        assert_eq!(
            c.on_ping(&n, rtt, b"\x02junk", &mut no_rng()),
            PingOutcome::Ignored
        );
        assert_eq!(c.rejected(), 0, "ignored is not rejected");
        let good = VivaldiConfig::default().fresh();
        let mut wrong_dim = good.clone();
        wrong_dim.vec.pop();
        let mut nan = good.clone();
        nan.error = f64::NAN;
        let cases: Vec<(Vec<u8>, Duration)> = vec![
            (b"\x01\x84".to_vec(), rtt),
            (wrong_dim.to_ack_payload(), rtt),
            (nan.to_ack_payload(), rtt),
            (good.to_ack_payload(), Duration::from_secs(11)),
        ];
        for (i, (p, rtt)) in cases.iter().enumerate() {
            let out = c.on_ping(&n, *rtt, p, &mut no_rng());
            assert!(matches!(out, PingOutcome::Rejected(_)), "case {i}: {out:?}");
            assert_eq!(c.rejected(), i as u64 + 1);
        }
        assert_eq!(c.get("n"), None, "nothing cached");
        assert_eq!(c.own(), &good, "we did not move");
    }

    #[test]
    fn forgetting_a_member_drops_its_coordinate() {
        let mut c = coords();
        let n = Name::from("n");
        let mut theirs = VivaldiConfig::default().fresh();
        theirs.vec[0] = 0.001;
        let p = theirs.to_ack_payload();
        c.on_ping(&n, Duration::from_millis(2), &p, &mut no_rng());
        assert!(c.get("n").is_some());
        c.forget("n");
        assert!(c.get("n").is_none());
        assert!(c.get("me").is_some());
    }
}
