//! Property tests: every message round-trips; the packet and stream pipelines round-trip with
//! every combination of compression, CRC, encryption and label; every strict prefix of a stream
//! is "need more"; and no decoder panics on arbitrary or mutated bytes.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use rumor_wire::compound::{encode_compound, split_compound};
use rumor_wire::compress::decompress;
use rumor_wire::crc::strip_crc;
use rumor_wire::crypto::decrypt;
use rumor_wire::label::strip_label;
use rumor_wire::msgpack::Reader;
use rumor_wire::*;

fn name() -> impl Strategy<Value = Name> {
    prop_oneof![
        4 => "[a-z0-9.-]{0,12}",
        1 => "\\PC{0,40}",
        1 => "[a-z]{30,300}",
    ]
    .prop_map(|s: String| Arc::from(s.as_str()))
}

fn nonempty_name() -> impl Strategy<Value = Name> {
    name().prop_filter("non-empty", |n| !n.is_empty())
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ]
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn opt_bytes(max: usize) -> impl Strategy<Value = Option<Bytes>> {
    prop::option::of(bytes(max))
}

fn port() -> impl Strategy<Value = Option<u16>> {
    prop::option::of(1..=u16::MAX)
}

fn ping() -> impl Strategy<Value = Ping> {
    (
        any::<u32>(),
        name(),
        prop::option::of(ip()),
        port(),
        prop::option::of(nonempty_name()),
    )
        .prop_map(
            |(seq_no, node, source_addr, source_port, source_node)| Ping {
                seq_no,
                node,
                source_addr,
                source_port,
                source_node,
            },
        )
}

fn indirect() -> impl Strategy<Value = IndirectPing> {
    (
        any::<u32>(),
        ip(),
        any::<u16>(),
        name(),
        any::<bool>(),
        prop::option::of(ip()),
        port(),
        prop::option::of(nonempty_name()),
    )
        .prop_map(
            |(seq_no, target, port, node, nack, source_addr, source_port, source_node)| {
                IndirectPing {
                    seq_no,
                    target,
                    port,
                    node,
                    nack,
                    source_addr,
                    source_port,
                    source_node,
                }
            },
        )
}

fn ack() -> impl Strategy<Value = Ack> {
    (any::<u32>(), opt_bytes(200)).prop_map(|(seq_no, payload)| Ack { seq_no, payload })
}

fn alive() -> impl Strategy<Value = Alive> {
    (
        any::<u32>(),
        name(),
        ip(),
        any::<u16>(),
        opt_bytes(600),
        opt_bytes(8),
    )
        .prop_map(|(incarnation, node, addr, port, meta, vsn)| Alive {
            incarnation,
            node,
            addr,
            port,
            meta,
            vsn,
        })
}

fn state() -> impl Strategy<Value = WireState> {
    prop_oneof![
        Just(WireState::Alive),
        Just(WireState::Suspect),
        Just(WireState::Dead),
        Just(WireState::Left)
    ]
}

fn push_node() -> impl Strategy<Value = PushNodeState> {
    (
        name(),
        ip(),
        any::<u16>(),
        opt_bytes(100),
        any::<u32>(),
        state(),
        opt_bytes(8),
    )
        .prop_map(
            |(name, addr, port, meta, incarnation, state, vsn)| PushNodeState {
                name,
                addr,
                port,
                meta,
                incarnation,
                state,
                vsn,
            },
        )
}

fn push_pull() -> impl Strategy<Value = PushPull> {
    (
        any::<bool>(),
        prop::collection::vec(push_node(), 0..12),
        bytes(300),
    )
        .prop_map(|(join, nodes, user_state)| PushPull {
            join,
            nodes,
            user_state,
        })
}

/// Messages that may travel in packets.
fn packet_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        ping().prop_map(Message::Ping),
        indirect().prop_map(Message::IndirectPing),
        ack().prop_map(Message::Ack),
        (any::<u32>(), name(), name()).prop_map(|(incarnation, node, from)| Message::Suspect(
            Suspect {
                incarnation,
                node,
                from
            }
        )),
        alive().prop_map(Message::Alive),
        (any::<u32>(), name(), name()).prop_map(|(incarnation, node, from)| Message::Dead(Dead {
            incarnation,
            node,
            from
        })),
        bytes(300).prop_map(Message::User),
        any::<u32>().prop_map(|seq_no| Message::Nack(Nack { seq_no })),
    ]
}

/// Messages that may travel on streams.
fn stream_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        ping().prop_map(Message::Ping),
        ack().prop_map(Message::Ack),
        push_pull().prop_map(Message::PushPull),
        bytes(300).prop_map(Message::User),
        "\\PC{0,80}".prop_map(|error| Message::Err(ErrResp { error })),
    ]
}

fn any_message() -> impl Strategy<Value = Message> {
    prop_oneof![packet_message(), stream_message()]
}

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        any::<[u8; 16]>().prop_map(|k| Key::new(&k).unwrap()),
        any::<[u8; 24]>().prop_map(|k| Key::new(&k).unwrap()),
        any::<[u8; 32]>().prop_map(|k| Key::new(&k).unwrap()),
    ]
}

fn keyring() -> impl Strategy<Value = Option<Keyring>> {
    prop::option::of(
        (key(), prop::collection::vec(key(), 0..3)).prop_map(|(k, mut rest)| {
            // the sender's primary key sits anywhere in the receiver's ring
            rest.insert(rest.len() / 2, k.clone());
            let mut ring = Keyring::from_keys(rest);
            ring.use_key(&k).unwrap();
            ring
        }),
    )
}

fn label() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::of(prop::collection::vec(any::<u8>(), 1..=255))
}

proptest! {
    #[test]
    fn message_roundtrip(m in any_message()) {
        let bytes = m.to_bytes();
        prop_assert_eq!(Message::decode(&bytes).unwrap(), m.clone());
        prop_assert_eq!(m.encoded_len(), bytes.len());
    }

    #[test]
    fn packet_pipeline_roundtrip(
        msgs in prop::collection::vec(packet_message(), 1..8),
        crc in any::<bool>(),
        compress in any::<bool>(),
        ring in keyring(),
        label in label(),
        vsn in 0u8..2,
        nonce in any::<[u8; 12]>(),
    ) {
        let parts: Vec<Vec<u8>> = msgs.iter().map(Message::to_bytes).collect();
        let body = if parts.len() == 1 {
            parts[0].clone()
        } else {
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            let mut c = Vec::new();
            encode_compound(&refs, &mut c);
            c
        };
        let opts = PacketOptions {
            keyring: ring.as_ref(),
            encryption_version: vsn,
            label: label.as_deref(),
            ..Default::default()
        };
        let mut out = Vec::new();
        encode_packet(&body, crc, compress, &opts, nonce, &mut out);
        prop_assert_eq!(decode_packet(&out, &opts).unwrap(), msgs);
        // a receiver with another label refuses it
        let other = PacketOptions { label: Some(b"other-label"), ..opts };
        prop_assert!(decode_packet(&out, &other).is_err());
    }

    #[test]
    fn stream_roundtrip_and_prefixes(
        m in stream_message(),
        compress in any::<bool>(),
        ring in keyring(),
        label in label(),
        vsn in 0u8..2,
        dialer in any::<bool>(),
        nonce in any::<[u8; 12]>(),
        trailing in prop::collection::vec(any::<u8>(), 0..4),
    ) {
        let opts = StreamOptions {
            keyring: ring.as_ref(),
            encryption_version: vsn,
            compress,
            label: label.as_deref(),
            ..Default::default()
        };
        let mut out = Vec::new();
        encode_stream(&m, &opts, nonce, dialer, &mut out);
        let n = out.len();
        // the peer reads it with the opposite role
        for i in 0..n {
            prop_assert_eq!(decode_stream(&out[..i], &opts, !dialer), Ok(None), "prefix {}", i);
        }
        out.extend_from_slice(&trailing);
        prop_assert_eq!(decode_stream(&out, &opts, !dialer).unwrap(), Some((m, n)));
    }

    #[test]
    fn random_bytes_never_panic(
        buf in prop::collection::vec(any::<u8>(), 0..300),
        k in any::<[u8; 16]>(),
    ) {
        let ring = Keyring::new(Key::new(&k).unwrap());
        exercise(&buf, &ring);
    }

    #[test]
    fn mutated_encodings_never_panic(
        m in any_message(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        wrap in 0u8..4,
    ) {
        let mut buf = m.to_bytes();
        match wrap {
            1 => { let mut c = Vec::new(); rumor_wire::compress::compress(&buf, &mut c); buf = c; }
            2 => { let mut c = Vec::new(); encode_compound(&[&buf, &buf], &mut c); buf = c; }
            3 => { let mut c = Vec::new(); rumor_wire::crc::wrap_crc(&buf, &mut c); buf = c; }
            _ => {}
        }
        for (i, b) in flips {
            let i = i.index(buf.len());
            buf[i] = b;
        }
        let ring = Keyring::new(Key::new(&[7; 16]).unwrap());
        exercise(&buf, &ring);
    }
}

/// Runs every decoder over `buf`; only panics matter.
fn exercise(buf: &[u8], ring: &Keyring) {
    let _ = Message::decode(buf);
    let _ = decode_packet(buf, &PacketOptions::default());
    let _ = decode_packet_lossy(
        buf,
        &PacketOptions {
            keyring: Some(ring),
            verify_incoming: false,
            label: Some(b"l"),
            ..Default::default()
        },
    );
    for dialer in [false, true] {
        let _ = decode_stream(buf, &StreamOptions::default(), dialer);
        let _ = decode_stream(
            buf,
            &StreamOptions {
                keyring: Some(ring),
                ..Default::default()
            },
            dialer,
        );
    }
    let _ = decompress(buf);
    let _ = split_compound(buf);
    let _ = strip_crc(buf);
    let _ = strip_label(buf);
    let _ = decrypt(ring, buf, b"");
    let mut r = Reader::new(buf);
    while r.skip_value().is_ok() && !r.is_empty() {}
}
