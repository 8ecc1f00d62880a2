//! Real bytes from real peers: every UDP datagram and every reassembled TCP stream on port 7946
//! in the Serf 0.9.4 captures (`testdata/serf-0.9.4/` at the repository root) must decode
//! without error.
//!
//! The captures are classic pcap files (Ethernet link type, IPv4), read by a tiny parser here.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use base64::Engine;
use rumor_wire::*;

const GOSSIP_PORT: u16 = 7946;

/// The Serf 0.9.4 captures, kept in the repository (`testdata/serf-0.9.4`, see
/// `testdata/README.md`): the tests need nothing outside the checkout.
const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/serf-0.9.4");

/// A capture file's bytes; a missing file fails the test (never a silent skip).
fn read(name: &str) -> Vec<u8> {
    let p = Path::new(TESTDATA).join(name);
    std::fs::read(&p).unwrap_or_else(|e| {
        panic!(
            "cannot read test data {}: {e} (the captures live in the repository's \
             testdata/serf-0.9.4/; see testdata/README.md)",
            p.display()
        )
    })
}

/// One IPv4 packet's transport payload.
enum Segment<'a> {
    Udp {
        sport: u16,
        dport: u16,
        payload: &'a [u8],
    },
    Tcp {
        src: [u8; 4],
        dst: [u8; 4],
        sport: u16,
        dport: u16,
        seq: u32,
        syn: bool,
        payload: &'a [u8],
    },
}

#[path = "support/pcap_reader.rs"]
mod pcap_reader;
use pcap_reader::{be16, be32, frames};

/// The UDP and TCP segments of a capture.
fn segments(file: &[u8]) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for f in frames(file) {
        let l4 = f.l4;
        match f.proto {
            17 => out.push(Segment::Udp {
                sport: be16(&l4[0..2]),
                dport: be16(&l4[2..4]),
                payload: &l4[8..],
            }),
            6 => {
                let off = usize::from(l4[12] >> 4) * 4;
                out.push(Segment::Tcp {
                    src: f.src,
                    dst: f.dst,
                    sport: be16(&l4[0..2]),
                    dport: be16(&l4[2..4]),
                    seq: be32(&l4[4..8]),
                    syn: l4[13] & 0x02 != 0,
                    payload: &l4[off..],
                })
            }
            _ => {}
        }
    }
    out
}

/// One direction of one TCP connection to or from the gossip port.
struct Flow {
    /// True for the direction from the gossip port back to the dialer (the reply).
    reply: bool,
    next_seq: Option<u32>,
    data: Vec<u8>,
}

/// Reassembles TCP flows touching the gossip port, in order (loopback: no loss; duplicates
/// of already-seen bytes are dropped using sequence numbers).
fn tcp_flows(segs: &[Segment<'_>]) -> Vec<Flow> {
    type FlowKey = ([u8; 4], u16, [u8; 4], u16);
    let mut open: HashMap<FlowKey, usize> = HashMap::new();
    let mut flows: Vec<Flow> = Vec::new();
    for s in segs {
        let Segment::Tcp {
            src,
            dst,
            sport,
            dport,
            seq,
            syn,
            payload,
        } = s
        else {
            continue;
        };
        if *sport != GOSSIP_PORT && *dport != GOSSIP_PORT {
            continue;
        }
        let key = (*src, *sport, *dst, *dport);
        if *syn {
            flows.push(Flow {
                reply: *sport == GOSSIP_PORT,
                next_seq: Some(seq.wrapping_add(1)),
                data: Vec::new(),
            });
            open.insert(key, flows.len() - 1);
            continue;
        }
        if payload.is_empty() {
            continue;
        }
        let idx = *open.entry(key).or_insert_with(|| {
            flows.push(Flow {
                reply: *sport == GOSSIP_PORT,
                next_seq: None,
                data: Vec::new(),
            });
            flows.len() - 1
        });
        let f = &mut flows[idx];
        let next = f.next_seq.unwrap_or(*seq);
        let skip = next.wrapping_sub(*seq) as usize;
        if skip >= payload.len() && f.next_seq.is_some() {
            continue; // retransmission of bytes we have
        }
        assert!(skip < payload.len(), "gap in TCP stream (lost segment?)");
        f.data.extend_from_slice(&payload[skip..]);
        f.next_seq = Some(seq.wrapping_add(payload.len() as u32));
    }
    flows
}

#[derive(Default, Debug)]
struct Counts {
    by_type: BTreeMap<&'static str, usize>,
    datagrams: usize,
    streams: usize,
    compressed: usize,
    crc: usize,
    compound: usize,
    reencoded: usize,
}

fn type_name(m: &Message) -> &'static str {
    match m {
        Message::Ping(_) => "ping",
        Message::IndirectPing(_) => "indirect_ping",
        Message::Ack(_) => "ack",
        Message::Suspect(_) => "suspect",
        Message::Alive(_) => "alive",
        Message::Dead(_) => "dead",
        Message::PushPull(_) => "push_pull",
        Message::User(_) => "user",
        Message::Nack(_) => "nack",
        Message::Err(_) => "err",
    }
}

fn walk(pcap: &str, keyring: Option<&Keyring>) -> Counts {
    let file = read(pcap);
    let segs = segments(&file);
    let mut c = Counts::default();
    let popts = PacketOptions {
        keyring,
        ..Default::default()
    };
    for s in &segs {
        let Segment::Udp {
            sport,
            dport,
            payload,
        } = s
        else {
            continue;
        };
        if *sport != GOSSIP_PORT && *dport != GOSSIP_PORT {
            continue;
        }
        c.datagrams += 1;
        let (msgs, errs) = decode_packet_lossy(payload, &popts);
        assert!(
            errs.is_empty() && !msgs.is_empty(),
            "{pcap}: datagram {} failed: {errs:?}\n{}",
            c.datagrams,
            hex::encode(payload)
        );
        for m in &msgs {
            *c.by_type.entry(type_name(m)).or_default() += 1;
        }
        // look at the plaintext framing too
        let plain = match keyring {
            Some(k) => rumor_wire::crypto::decrypt(k, payload, b"").unwrap(),
            None => payload.to_vec(),
        };
        let inner = match plain[0] {
            12 => {
                c.crc += 1;
                plain[5..].to_vec()
            }
            _ => plain,
        };
        // our encoder reproduces every uncompressed message byte for byte
        let parts: Vec<&[u8]> = match inner[0] {
            7 => {
                c.compound += 1;
                rumor_wire::compound::split_compound(&inner).unwrap().0
            }
            9 => {
                c.compressed += 1;
                Vec::new()
            }
            _ => vec![&inner[..]],
        };
        for p in parts.iter().filter(|p| p[0] != 9) {
            let m = Message::decode(p).unwrap();
            assert_eq!(
                hex::encode(m.to_bytes()),
                hex::encode(p),
                "{pcap}: re-encode"
            );
            c.reencoded += 1;
        }
    }
    let sopts = StreamOptions {
        keyring,
        ..Default::default()
    };
    for f in tcp_flows(&segs) {
        let mut buf = &f.data[..];
        while !buf.is_empty() {
            let got = decode_stream(buf, &sopts, f.reply)
                .unwrap_or_else(|e| panic!("{pcap}: stream failed: {e}\n{}", hex::encode(buf)));
            let (m, n) = got.unwrap_or_else(|| {
                panic!(
                    "{pcap}: stream incomplete at capture end: {}",
                    hex::encode(buf)
                )
            });
            c.streams += 1;
            // The incremental framer, fed the capture byte by byte, ends it at the same byte.
            let mut framer = rumor_wire::StreamFramer::new(usize::MAX);
            let framed = (1..=buf.len()).find_map(|end| framer.advance(&buf[..end]).unwrap());
            assert_eq!(framed, Some(n), "{pcap}: framer and decoder disagree");
            *c.by_type.entry(type_name(&m)).or_default() += 1;
            if keyring.is_none() {
                // the (decompressed) message re-encodes byte for byte
                let raw = &buf[..n];
                let plain = if raw[0] == 9 {
                    rumor_wire::compress::decompress(raw).unwrap()
                } else {
                    raw.to_vec()
                };
                let mut again = Vec::new();
                encode_stream(&m, &StreamOptions::default(), [0; 12], f.reply, &mut again);
                assert_eq!(
                    hex::encode(again),
                    hex::encode(plain),
                    "{pcap}: stream re-encode"
                );
                c.reencoded += 1;
            }
            buf = &buf[n..];
        }
    }
    eprintln!("{pcap}: {c:?}");
    c
}

fn at_least(c: &Counts, ty: &str, n: usize) {
    let got = c.by_type.get(ty).copied().unwrap_or(0);
    assert!(got >= n, "expected at least {n} {ty} messages, got {got}");
}

#[test]
fn plain_pcap_decodes() {
    let c = walk("plain.pcap", None);
    assert!(c.datagrams >= 500, "{c:?}");
    at_least(&c, "ping", 150);
    at_least(&c, "ack", 150);
    at_least(&c, "alive", 50);
    at_least(&c, "user", 100);
    at_least(&c, "push_pull", 10);
    at_least(&c, "indirect_ping", 3);
    at_least(&c, "nack", 3);
    at_least(&c, "suspect", 5);
    at_least(&c, "dead", 10);
    assert!(
        c.crc >= 100 && c.compound >= 40 && c.compressed >= 10,
        "{c:?}"
    );
    assert!(c.streams >= 10 && c.reencoded >= 400, "{c:?}");
}

#[test]
fn enc_pcap_decodes_with_both_keys() {
    let key = |f: &str| {
        let b64 = String::from_utf8(read(f)).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .unwrap();
        Key::new(&raw).unwrap()
    };
    let ring = Keyring::from_keys(vec![key("enc-key-1.txt"), key("enc-key-2.txt")]);
    let c = walk("enc.pcap", Some(&ring));
    assert!(c.datagrams >= 130, "{c:?}");
    at_least(&c, "ping", 25);
    at_least(&c, "ack", 25);
    at_least(&c, "alive", 30);
    at_least(&c, "user", 100);
    at_least(&c, "push_pull", 4);
    assert!(c.crc >= 50 && c.compressed >= 40 && c.streams >= 4, "{c:?}");

    // with only one of the keys, some packets do not decrypt
    let only1 = Keyring::new(key("enc-key-1.txt"));
    let file = read("enc.pcap");
    let popts = PacketOptions {
        keyring: Some(&only1),
        ..Default::default()
    };
    let failures = segments(&file)
        .iter()
        .filter(|s| matches!(s, Segment::Udp { dport: GOSSIP_PORT, payload, .. } if decode_packet(payload, &popts).is_err()))
        .count();
    assert!(failures > 0, "key 2 was made primary during the capture");
}

#[test]
fn conflict_pcap_decodes() {
    let c = walk("conflict.pcap", None);
    assert!(c.datagrams >= 90, "{c:?}");
    at_least(&c, "user", 50);
    at_least(&c, "alive", 40);
}

#[test]
fn plain_pcap_acks_carry_130_byte_coordinates() {
    use rumor_wire::serf::{decode_ack_payload, AckPayload};
    let file = read("plain.pcap");
    let popts = PacketOptions::default();
    let (mut with, mut without) = (0, 0);
    for s in &segments(&file) {
        let Segment::Udp { payload, .. } = s else {
            continue;
        };
        let (msgs, _) = decode_packet_lossy(payload, &popts);
        for m in msgs {
            let Message::Ack(ack) = m else { continue };
            let Some(p) = ack.payload.filter(|p| !p.is_empty()) else {
                without += 1;
                continue;
            };
            with += 1;
            assert_eq!(p.len(), 130, "{}", hex::encode(&p));
            let AckPayload::Coordinate(c) = decode_ack_payload(&p).unwrap() else {
                panic!("not a version-1 coordinate: {}", hex::encode(&p));
            };
            assert_eq!(c.vec.len(), 8);
            assert!(c.is_valid() && c.error > 0.0 && c.error <= 1.5 && c.height >= 1.0e-5);
            // Our encoder writes Serf's bytes exactly.
            assert_eq!(hex::encode(c.to_ack_payload()), hex::encode(&p));
        }
    }
    eprintln!("acks with a coordinate: {with}, without: {without}");
    assert!(with >= 150, "{with} acks with a coordinate");
}
