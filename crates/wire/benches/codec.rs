//! Codec benchmarks: encode and decode of the hot messages (ping, ack, alive), a full
//! ~1400-byte compound gossip packet, and a push-pull of 1,000 members.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use rumor_wire::compound::encode_compound;
use rumor_wire::*;

fn ping() -> Message {
    Message::Ping(Ping {
        seq_no: 12345,
        node: Arc::from("node-0042"),
        source_addr: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
        source_port: Some(7946),
        source_node: Some(Arc::from("node-0001")),
    })
}

fn ack() -> Message {
    // a Serf ack carries a ~130-byte Vivaldi coordinate
    Message::Ack(Ack {
        seq_no: 12345,
        payload: Some(Bytes::from(vec![0xcb; 130])),
    })
}

fn alive(i: u32) -> Message {
    Message::Alive(Alive {
        incarnation: i,
        node: Arc::from(format!("node-{i:04}").as_str()),
        addr: IpAddr::V4(Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8)),
        port: 7946,
        meta: Some(Bytes::from_static(b"\xff\x82\xa4role\xa3web\xa2dc\xa3dc1")),
        vsn: Some(Bytes::from_static(&[1, 5, 2, 2, 5, 5])),
    })
}

fn compound_of_alives() -> Vec<u8> {
    let mut parts = Vec::new();
    let mut size = 2;
    let mut i = 0;
    loop {
        let b = alive(i).to_bytes();
        if size + 2 + b.len() > 1400 {
            break;
        }
        size += 2 + b.len();
        parts.push(b);
        i += 1;
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let mut out = Vec::new();
    encode_compound(&refs, &mut out);
    out
}

fn push_pull(n: u32) -> Message {
    Message::PushPull(PushPull {
        join: false,
        nodes: (0..n)
            .map(|i| PushNodeState {
                name: Arc::from(format!("node-{i:04}").as_str()),
                addr: IpAddr::V4(Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8)),
                port: 7946,
                meta: Some(Bytes::from_static(b"\xff\x82\xa4role\xa3web\xa2dc\xa3dc1")),
                incarnation: i,
                state: WireState::Alive,
                vsn: Some(Bytes::from_static(&[1, 5, 2, 2, 5, 5])),
            })
            .collect(),
        user_state: Bytes::from(vec![0xc0; 600]),
    })
}

fn messages(c: &mut Criterion) {
    for (name, m) in [("ping", ping()), ("ack", ack()), ("alive", alive(7))] {
        let bytes = m.to_bytes();
        c.bench_function(&format!("{name}/encode"), |b| {
            let mut out = Vec::with_capacity(256);
            b.iter(|| {
                out.clear();
                black_box(&m).encode(&mut out);
                black_box(out.len())
            })
        });
        c.bench_function(&format!("{name}/decode"), |b| {
            b.iter(|| Message::decode(black_box(&bytes)).unwrap())
        });
    }
}

fn packets(c: &mut Criterion) {
    let compound = compound_of_alives();
    let opts = PacketOptions::default();
    let mut packet = Vec::new();
    encode_packet(&compound, true, false, &opts, [0; 12], &mut packet);
    let alives: Vec<Message> = decode_packet(&packet, &opts).unwrap();
    c.bench_function("compound_1400/encode", |b| {
        let mut out = Vec::with_capacity(1500);
        b.iter(|| {
            let parts: Vec<Vec<u8>> = alives.iter().map(Message::to_bytes).collect();
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            let mut comp = Vec::with_capacity(1400);
            encode_compound(&refs, &mut comp);
            out.clear();
            encode_packet(&comp, true, false, &opts, [0; 12], &mut out);
            black_box(out.len())
        })
    });
    c.bench_function("compound_1400/decode", |b| {
        b.iter(|| decode_packet(black_box(&packet), &opts).unwrap())
    });

    let ring = Keyring::new(Key::new(&[7; 32]).unwrap());
    let enc = PacketOptions {
        keyring: Some(&ring),
        ..Default::default()
    };
    let mut sealed = Vec::new();
    encode_packet(&compound, true, true, &enc, [1; 12], &mut sealed);
    c.bench_function("compound_1400_lzw_aes/encode", |b| {
        let mut out = Vec::with_capacity(1500);
        b.iter(|| {
            out.clear();
            encode_packet(black_box(&compound), true, true, &enc, [1; 12], &mut out);
            black_box(out.len())
        })
    });
    c.bench_function("compound_1400_lzw_aes/decode", |b| {
        b.iter(|| decode_packet(black_box(&sealed), &enc).unwrap())
    });
}

fn streams(c: &mut Criterion) {
    let pp = push_pull(1000);
    let opts = StreamOptions::default();
    let mut bytes = Vec::new();
    encode_stream(&pp, &opts, [0; 12], true, &mut bytes);
    c.bench_function("push_pull_1000/encode", |b| {
        let mut out = Vec::with_capacity(bytes.len());
        b.iter(|| {
            out.clear();
            encode_stream(black_box(&pp), &opts, [0; 12], true, &mut out);
            black_box(out.len())
        })
    });
    c.bench_function("push_pull_1000/decode", |b| {
        b.iter(|| decode_stream(black_box(&bytes), &opts, false).unwrap())
    });
}

criterion_group!(benches, messages, packets, streams);
criterion_main!(benches);
