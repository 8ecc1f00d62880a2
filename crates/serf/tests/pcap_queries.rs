//! Queries as Serf 0.9.4 sent them (the captures in `testdata/serf-0.9.4/`): every query,
//! ack, response, relay and key or conflict payload decodes and re-encodes byte for byte, and
//! a rumor member fed a captured query answers with the bytes the Serf member answered.
#![allow(clippy::unwrap_used, clippy::print_stderr, missing_docs)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use rumor_serf::{Event, Instant, QueryParams, Serf, SerfConfig, Transmit};
use rumor_wire::serf::{Query, SerfMessage, SerfMessageType};
use rumor_wire::{decode_packet_lossy, encode_packet, Key, Keyring, Message, PacketOptions};

const GOSSIP_PORT: u16 = 7946;
const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/serf-0.9.4");

fn read(name: &str) -> Vec<u8> {
    let p = Path::new(TESTDATA).join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read test data {}: {e}", p.display()))
}

/// One captured UDP datagram on the gossip port.
#[derive(Debug, Clone)]
struct Datagram {
    /// Index in the capture (all frames counted).
    frame: usize,
    /// Capture time, from the first frame.
    at: Duration,
    from: SocketAddr,
    to: SocketAddr,
    payload: Vec<u8>,
}

#[path = "../../wire/tests/support/pcap_reader.rs"]
mod pcap_reader;
use pcap_reader::{be16, frames};

/// The UDP datagrams to or from the gossip port of a classic pcap (Ethernet, IPv4).
fn datagrams(file: &[u8]) -> Vec<Datagram> {
    frames(file)
        .into_iter()
        .filter(|f| f.proto == 17)
        .filter_map(|f| {
            let (sport, dport) = (be16(&f.l4[0..2]), be16(&f.l4[2..4]));
            (sport == GOSSIP_PORT || dport == GOSSIP_PORT).then(|| Datagram {
                frame: f.no,
                at: f.at,
                from: SocketAddr::from((Ipv4Addr::from(f.src), sport)),
                to: SocketAddr::from((Ipv4Addr::from(f.dst), dport)),
                payload: f.l4[8..].to_vec(),
            })
        })
        .collect()
}

/// Every Serf message inside memberlist user messages of a datagram.
fn serf_messages(d: &Datagram, keyring: Option<&Keyring>) -> Vec<Vec<u8>> {
    let popts = PacketOptions {
        keyring,
        ..Default::default()
    };
    let (msgs, errs) = decode_packet_lossy(&d.payload, &popts);
    assert!(errs.is_empty(), "frame {}: {errs:?}", d.frame);
    msgs.into_iter()
        .filter_map(|m| match m {
            Message::User(b) => Some(b.to_vec()),
            _ => None,
        })
        .collect()
}

fn enc_keyring() -> Keyring {
    let key = |f: &str| {
        let b64 = String::from_utf8(read(f)).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .unwrap();
        Key::new(&raw).unwrap()
    };
    Keyring::from_keys(vec![key("enc-key-1.txt"), key("enc-key-2.txt")])
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Serf bytes of the types that answer queries: responses, acks (5) and relays (9).
fn is_answer(raw: &[u8]) -> bool {
    matches!(
        raw.first().copied().and_then(SerfMessageType::from_u8),
        Some(SerfMessageType::QueryResponse | SerfMessageType::Relay)
    )
}

/// A memberlist datagram carrying one alive message, encrypted if `keyring` is given.
fn alive_packet(name: &str, at: SocketAddr, meta: &[u8], keyring: Option<&Keyring>) -> Vec<u8> {
    let m = Message::Alive(rumor_wire::Alive {
        incarnation: 1,
        node: name.into(),
        addr: at.ip(),
        port: at.port(),
        meta: Some(Bytes::copy_from_slice(meta)),
        vsn: Some(Bytes::from_static(&[1, 5, 2, 2, 5, 5])),
    });
    let opts = PacketOptions {
        keyring,
        ..Default::default()
    };
    let mut out = Vec::new();
    encode_packet(&m.to_bytes(), false, false, &opts, [7; 12], &mut out);
    out
}

/// Our answers among what the node sent since the last call: (destination, Serf bytes).
fn sent_answers(serf: &mut Serf, out: &mut Vec<(SocketAddr, Vec<u8>)>) {
    while let Some(t) = serf.poll_transmit() {
        let Transmit::Packet { to, data } = t else {
            continue;
        };
        let opts = PacketOptions {
            keyring: serf.keyring(),
            ..Default::default()
        };
        let (msgs, errs) = decode_packet_lossy(&data, &opts);
        assert!(errs.is_empty(), "our own packet: {errs:?}");
        for m in msgs {
            if let Message::User(b) = m {
                if is_answer(&b) {
                    out.push((to, b.to_vec()));
                }
            }
        }
    }
}

/// Plays member `name` at `me` through a capture: every datagram the real member received
/// is fed to a rumor member in its place (timers never run: no probes of our own), which
/// answers each delivered user query with `reply-from-NAME\n`. Returns what it answered,
/// and what the real member answered (both sorted).
#[allow(clippy::type_complexity)]
fn replay(
    pcap: &str,
    name: &str,
    me: SocketAddr,
    config: SerfConfig,
    peers: &[(&str, SocketAddr, &[u8])],
) -> (Vec<(SocketAddr, Vec<u8>)>, Vec<(SocketAddr, Vec<u8>)>) {
    let ring_at_start = config.swim.keyring.clone();
    let mut serf = Serf::new(config, 9, Instant::ZERO).unwrap();
    for (peer, at, meta) in peers {
        let pkt = alive_packet(peer, *at, meta, serf.keyring());
        serf.handle_packet(Instant::ZERO, *at, &pkt);
    }
    let file = read(pcap);
    let all = datagrams(&file);
    let mut ours = Vec::new();
    sent_answers(&mut serf, &mut ours);
    for d in all.iter().filter(|d| d.to == me && d.from != me) {
        let now = Instant::ZERO + d.at;
        serf.handle_packet(now, d.from, &d.payload);
        while let Some(e) = serf.poll_event() {
            if let Event::Query { ltime, id, .. } = e {
                let reply = Bytes::from(format!("reply-from-{name}\n"));
                serf.respond(now, ltime, id, reply).unwrap();
            }
        }
        sent_answers(&mut serf, &mut ours);
    }
    // What the real member sent: answers, except to queries it sent itself.
    let mut ring = ring_at_start.unwrap_or_default();
    if pcap == "enc.pcap" {
        ring = enc_keyring();
    }
    let keyring = (!ring.is_empty()).then_some(&ring);
    let mut own = Vec::new();
    let mut theirs = Vec::new();
    for d in &all {
        for raw in serf_messages(d, keyring) {
            if let Ok(SerfMessage::Query(q)) = SerfMessage::decode(&raw) {
                if &*q.source_node == name {
                    own.push((q.ltime, q.id));
                }
            }
        }
    }
    let of_own = |raw: &[u8]| match SerfMessage::decode(raw).unwrap() {
        SerfMessage::QueryResponse(r) => own.contains(&(r.ltime, r.id)),
        _ => false,
    };
    for d in all.iter().filter(|d| d.from == me) {
        for raw in serf_messages(d, keyring) {
            if is_answer(&raw) && !of_own(&raw) {
                theirs.push((d.to, raw));
            }
        }
    }
    // The real member never saw its own queries as new; we, playing it, did (they came
    // back to us through gossip): those answers are left out too.
    ours.retain(|(_, raw)| !of_own(raw));
    ours.sort();
    theirs.sort();
    (ours, theirs)
}

fn show(v: &[(SocketAddr, Vec<u8>)]) -> String {
    v.iter()
        .map(|(to, b)| format!("  -> {to}: {:?}\n", SerfMessage::decode(b)))
        .collect()
}

fn lo(c: u8, d: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, c, d], 7946))
}

fn plain_config(i: u8) -> SerfConfig {
    let swim = rumor_swim::Config::lan(format!("n{i}"), lo(1, i));
    SerfConfig::new(swim, tags(&[("role", "web"), ("idx", &i.to_string())]))
}

#[test]
fn answers_to_user_queries_acks_and_relays_match_serf_byte_for_byte() {
    // n2 and n3 of the plaintext cluster: acks to `uptime`, `filtered` (idx =~ [12]) and
    // `_serf_ping`, responses, n3's answer to `onlyn3` relayed through n1 and n2, and the
    // relay n2 forwards.
    let meta = |i: u8| {
        rumor_wire::serf::encode_tags(&tags(&[("role", "web"), ("idx", &i.to_string())])).unwrap()
    };
    let (m1, m2, m3) = (meta(1), meta(2), meta(3));
    for (i, peers) in [
        (
            2u8,
            vec![("n1", lo(1, 1), &m1[..]), ("n3", lo(1, 3), &m3[..])],
        ),
        (
            3u8,
            vec![("n1", lo(1, 1), &m1[..]), ("n2", lo(1, 2), &m2[..])],
        ),
    ] {
        let name = format!("n{i}");
        let (ours, theirs) = replay("plain.pcap", &name, lo(1, i), plain_config(i), &peers);
        assert!(theirs.len() >= 5, "{name}: {}", show(&theirs));
        assert_eq!(
            ours,
            theirs,
            "{name}\nours:\n{}theirs:\n{}",
            show(&ours),
            show(&theirs)
        );
    }
}

#[test]
fn key_query_answers_match_serf_byte_for_byte() {
    // The encrypted cluster's rotation: list, install key 2, list, use key 2, remove key 1,
    // list, and the refused removal of the primary; every answer n2 and n3 sent.
    let k1 = enc_keyring().keys()[0].clone();
    for i in [2u8, 3] {
        let name = format!("n{i}");
        let me = lo(2, i);
        let mut swim = rumor_swim::Config::lan(name.clone(), me);
        swim.keyring = Some(Keyring::new(k1.clone()));
        let config = SerfConfig::new(swim, BTreeMap::new());
        let (ours, theirs) = replay("enc.pcap", &name, me, config, &[]);
        assert!(theirs.len() >= 7, "{name}: {}", show(&theirs));
        assert_eq!(
            ours,
            theirs,
            "{name}\nours:\n{}theirs:\n{}",
            show(&ours),
            show(&theirs)
        );
    }
}

#[test]
fn conflict_answers_match_serf_byte_for_byte() {
    // A second "c2" (127.0.9.4) asks who c2 is; c1 and c3 answer with the original's record.
    let meta = rumor_wire::serf::encode_tags(&BTreeMap::new()).unwrap();
    for i in [1u8, 3] {
        let name = format!("c{i}");
        let me = lo(9, i);
        let swim = rumor_swim::Config::lan(name.clone(), me);
        let config = SerfConfig::new(swim, BTreeMap::new());
        let others: Vec<(String, SocketAddr)> = [1u8, 2, 3]
            .into_iter()
            .filter(|j| *j != i)
            .map(|j| (format!("c{j}"), lo(9, j)))
            .collect();
        let peers: Vec<(&str, SocketAddr, &[u8])> = others
            .iter()
            .map(|(n, a)| (n.as_str(), *a, &meta[..]))
            .collect();
        let (ours, theirs) = replay("conflict.pcap", &name, me, config, &peers);
        assert!(!theirs.is_empty(), "{name}");
        assert_eq!(
            ours,
            theirs,
            "{name}\nours:\n{}theirs:\n{}",
            show(&ours),
            show(&theirs)
        );
    }
}

#[test]
fn our_query_is_serfs_byte_for_byte_but_for_the_random_id() {
    // n1's first query of the plaintext capture: `uptime`, payload `payload-x`, ack asked,
    // default timeout 3.2 s, sent at query time 1.
    let captured = {
        let file = read("plain.pcap");
        datagrams(&file)
            .iter()
            .flat_map(|d| serf_messages(d, None))
            .find(|raw| matches!(SerfMessage::decode(raw), Ok(SerfMessage::Query(q)) if q.name == "uptime"))
            .unwrap()
    };
    let SerfMessage::Query(theirs) = SerfMessage::decode(&captured).unwrap() else {
        unreachable!()
    };
    let mut serf = Serf::new(plain_config(1), 5, Instant::ZERO).unwrap();
    let pkt = alive_packet("n2", lo(1, 2), b"\xff\x80", None);
    serf.handle_packet(Instant::ZERO, lo(1, 2), &pkt);
    let params = QueryParams {
        request_ack: true,
        ..QueryParams::default()
    };
    let h = serf
        .query(
            Instant::ZERO,
            "uptime",
            Bytes::from_static(b"payload-x"),
            params,
        )
        .unwrap();
    assert_eq!(h.ltime, 1);
    // Gossip carries it to n2 at the next gossip round.
    let mut ours: Option<Query> = None;
    let mut now = Instant::ZERO;
    for _ in 0..20 {
        now = now + Duration::from_millis(100);
        serf.handle_timeout(now);
        while let Some(t) = serf.poll_transmit() {
            if let Transmit::Packet { to, data } = t {
                if to != lo(1, 2) {
                    continue;
                }
                let (msgs, _) = decode_packet_lossy(&data, &PacketOptions::default());
                for m in msgs {
                    if let Message::User(b) = m {
                        if let Ok(SerfMessage::Query(q)) = SerfMessage::decode(&b) {
                            ours.get_or_insert(q);
                        }
                    }
                }
            }
        }
    }
    let ours = ours.expect("the query was gossiped");
    assert_eq!(ours.id, h.id);
    let same_id = Query {
        id: theirs.id,
        ..ours
    };
    assert_eq!(
        hex::encode(SerfMessage::Query(same_id).to_bytes()),
        hex::encode(&captured)
    );
}
