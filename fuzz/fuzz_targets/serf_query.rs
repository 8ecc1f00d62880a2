//! A Serf member handling queries: arbitrary user messages (mode 0), or well-formed queries
//! with an arbitrary payload and filters under each internal and one user name (mode 1), sent
//! to a member with a keyring. Nothing panics, every delivered query can be answered once,
//! and nothing the member sends is larger than a datagram.
#![no_main]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rumor_serf::{Event, Instant, Serf, SerfConfig, Transmit};
use rumor_wire::serf::{Query, SerfMessage};
use rumor_wire::{Key, Keyring};

const NAMES: &[&str] = &[
    "_serf_ping",
    "_serf_conflict",
    "_serf_install-key",
    "_serf_use-key",
    "_serf_remove-key",
    "_serf_list-keys",
    "_serf_unknown",
    "user",
];

fn member() -> Serf {
    let me = SocketAddr::from(([10, 0, 0, 1], 7946));
    let mut swim = rumor_swim::Config::lan("me", me);
    swim.keyring = Key::new(&[1; 16]).ok().map(Keyring::new);
    swim.gossip_verify_incoming = false;
    let tags = [("role".to_string(), "web".to_string())].into_iter().collect();
    match Serf::new(SerfConfig::new(swim, tags), 1, Instant::ZERO) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let from = SocketAddr::from(([10, 0, 0, 2], 7946));
    let mut serf = member();
    let msg = match (mode % 2, rest.split_first()) {
        (1, Some((&sel, rest))) => {
            let (filters, payload) = rest.split_at(rest.len() / 3);
            SerfMessage::Query(Query {
                ltime: u64::from(sel),
                id: 7,
                addr: from.ip(),
                port: from.port(),
                source_node: "src".into(),
                filters: filters
                    .split(|b| *b == 0xff)
                    .map(Bytes::copy_from_slice)
                    .collect(),
                flags: u32::from(sel >> 6),
                relay_factor: sel >> 5,
                timeout: Duration::from_secs(1),
                name: NAMES[usize::from(sel) % NAMES.len()].into(),
                payload: Some(Bytes::copy_from_slice(payload)),
            })
            .to_bytes()
        }
        _ => rest.to_vec(),
    };
    let mut packet = vec![rumor_wire::MessageType::User as u8];
    packet.extend_from_slice(&msg);
    serf.handle_packet(Instant::ZERO, from, &packet);
    let now = Instant::ZERO;
    while let Some(e) = serf.poll_event() {
        if let Event::Query { ltime, id, .. } = e {
            assert!(serf.respond(now, ltime, id, Bytes::from_static(b"ok")).is_ok());
            assert!(serf.respond(now, ltime, id, Bytes::new()).is_err());
        }
    }
    while let Some(t) = serf.poll_transmit() {
        if let Transmit::Packet { data, .. } = t {
            assert!(data.len() <= 65_507);
        }
    }
    serf.handle_timeout(now + Duration::from_secs(2));
});
