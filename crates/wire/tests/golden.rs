//! Golden tests: every hex vector of memberlist.md §14 (produced by the real memberlist 0.2.2)
//! and the memberlist-level vectors of serf.md §13 (captured from Serf 0.9.4) decode to the
//! expected message and re-encode byte for byte.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use rumor_wire::compound::{encode_compound, split_compound};
use rumor_wire::compress::{compress, decompress, lzw_decompress};
use rumor_wire::crc::wrap_crc;
use rumor_wire::crypto::{decrypt, encrypt};
use rumor_wire::*;

fn h(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(s).expect("valid hex in test vector")
}

fn name(s: &str) -> Name {
    Arc::from(s)
}

const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

/// Decodes `hex` as one message, compares with `want`, and re-encodes byte for byte.
fn golden(hex: &str, want: Message) {
    let bytes = h(hex);
    let got = Message::decode(&bytes).unwrap();
    assert_eq!(got, want, "decode of {hex}");
    assert_eq!(hex::encode(want.to_bytes()), hex::encode(&bytes), "encode");
    assert_eq!(want.encoded_len(), bytes.len());
    // a packet holding just this message decodes the same (push-pull and err are stream-only)
    if !matches!(want, Message::PushPull(_) | Message::Err(_)) {
        assert_eq!(
            decode_packet(&bytes, &PacketOptions::default()).unwrap(),
            vec![want]
        );
    }
}

fn ping(seq: u32, node: &str) -> Ping {
    Ping {
        seq_no: seq,
        node: name(node),
        source_addr: None,
        source_port: None,
        source_node: None,
    }
}

fn key16() -> Key {
    Key::new(&(0u8..16).collect::<Vec<_>>()).unwrap()
}

fn key32() -> Key {
    Key::new(&(0u8..32).collect::<Vec<_>>()).unwrap()
}

const NONCE: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const P1: &str = "0082a44e6f6465a26e32a55365714e6f07";
const P2: &str = "0383a446726f6da26e31ab496e6361726e6174696f6e01a44e6f6465a26e32";

#[test]
fn ping_vectors() {
    golden(
        "0085a44e6f6465a66e6f64652d62a55365714e6f01aa536f7572636541646472a40a000001aa536f757263654e6f6465a66e6f64652d61aa536f75726365506f7274cd1f0a",
        Message::Ping(Ping {
            seq_no: 1,
            node: name("node-b"),
            source_addr: Some(IP),
            source_port: Some(7946),
            source_node: Some(name("node-a")),
        }),
    );
    golden(
        "0082a44e6f6465a66e6f64652d62a55365714e6fcd012c",
        Message::Ping(ping(300, "node-b")),
    );
    golden(P1, Message::Ping(ping(7, "n2")));
}

#[test]
fn indirect_ping_vector() {
    golden(
        "0188a44e61636bc3a44e6f6465a66e6f64652d63a4506f7274cd1f0aa55365714e6fce00011170aa536f7572636541646472a40a000001aa536f757263654e6f6465a66e6f64652d61aa536f75726365506f7274cd1f0aa6546172676574a40a000001",
        Message::IndirectPing(IndirectPing {
            seq_no: 70000,
            target: IP,
            port: 7946,
            node: name("node-c"),
            nack: true,
            source_addr: Some(IP),
            source_port: Some(7946),
            source_node: Some(name("node-a")),
        }),
    );
}

#[test]
fn ack_nack_err_vectors() {
    golden(
        "0282a75061796c6f6164c0a55365714e6f01",
        Message::Ack(Ack {
            seq_no: 1,
            payload: None,
        }),
    );
    golden(
        "0282a75061796c6f6164a0a55365714e6f01",
        Message::Ack(Ack {
            seq_no: 1,
            payload: Some(Bytes::new()),
        }),
    );
    golden(
        "0282a75061796c6f6164a3010203a55365714e6f01",
        Message::Ack(Ack {
            seq_no: 1,
            payload: Some(Bytes::from_static(&[1, 2, 3])),
        }),
    );
    golden("0b81a55365714e6f05", Message::Nack(Nack { seq_no: 5 }));
    golden(
        "0d81a54572726f72a4626f6f6d",
        Message::Err(ErrResp {
            error: "boom".into(),
        }),
    );
}

#[test]
fn suspect_dead_vectors() {
    golden(
        "0383a446726f6da66e6f64652d61ab496e6361726e6174696f6e03a44e6f6465a66e6f64652d62",
        Message::Suspect(Suspect {
            incarnation: 3,
            node: name("node-b"),
            from: name("node-a"),
        }),
    );
    golden(
        "0583a446726f6da66e6f64652d61ab496e6361726e6174696f6e04a44e6f6465a66e6f64652d62",
        Message::Dead(Dead {
            incarnation: 4,
            node: name("node-b"),
            from: name("node-a"),
        }),
    );
    golden(
        "0583a446726f6da66e6f64652d61ab496e6361726e6174696f6e04a44e6f6465a66e6f64652d61",
        Message::Dead(Dead {
            incarnation: 4,
            node: name("node-a"),
            from: name("node-a"),
        }),
    );
    let long = "x".repeat(40);
    golden(
        &format!(
            "0383a446726f6da161ab496e6361726e6174696f6e01a44e6f6465da0028{}",
            "78".repeat(40)
        ),
        Message::Suspect(Suspect {
            incarnation: 1,
            node: name(&long),
            from: name("a"),
        }),
    );
    golden(
        P2,
        Message::Suspect(Suspect {
            incarnation: 1,
            node: name("n2"),
            from: name("n1"),
        }),
    );
}

#[test]
fn alive_vectors() {
    golden(
        "0486a441646472a40a000001ab496e6361726e6174696f6e01a44d657461c0a44e6f6465a66e6f64652d61a4506f7274cd1f0aa356736ea6010502020504",
        Message::Alive(Alive {
            incarnation: 1,
            node: name("node-a"),
            addr: IP,
            port: 7946,
            meta: None,
            vsn: Some(Bytes::from_static(&[1, 5, 2, 2, 5, 4])),
        }),
    );
    golden(
        "0486a441646472b000000000000000000000ffff0a000001ab496e6361726e6174696f6eccc8a44d657461a3646331a44e6f6465a66e6f64652d61a4506f7274cd1f0aa356736ea6010502000000",
        Message::Alive(Alive {
            incarnation: 200,
            node: name("node-a"),
            addr: IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped()),
            port: 7946,
            meta: Some(Bytes::from_static(b"dc1")),
            vsn: Some(Bytes::from_static(&[1, 5, 2, 0, 0, 0])),
        }),
    );
}

fn push_node(
    name_: &str,
    port: u16,
    meta: Option<&'static [u8]>,
    inc: u32,
    state: WireState,
    vsn: &'static [u8],
) -> PushNodeState {
    PushNodeState {
        name: name(name_),
        addr: IP,
        port,
        meta: meta.map(Bytes::from_static),
        incarnation: inc,
        state,
        vsn: Some(Bytes::from_static(vsn)),
    }
}

#[test]
fn push_pull_header_and_node_vectors() {
    let na = push_node(
        "node-a",
        7946,
        Some(b""),
        1,
        WireState::Alive,
        &[1, 5, 2, 2, 5, 4],
    );
    let nb = push_node(
        "node-b",
        7947,
        None,
        9,
        WireState::Left,
        &[1, 5, 2, 0, 0, 0],
    );
    let na_hex = "87a441646472a40a000001ab496e6361726e6174696f6e01a44d657461a0a44e616d65a66e6f64652d61a4506f7274cd1f0aa5537461746500a356736ea6010502020504";
    let nb_hex = "87a441646472a40a000001ab496e6361726e6174696f6e09a44d657461c0a44e616d65a66e6f64652d62a4506f7274cd1f0ba5537461746503a356736ea6010502000000";
    // header {Nodes 2, UserStateLen 0, Join false} followed by the two node-state vectors
    golden(
        &format!(
            "06{}{na_hex}{nb_hex}",
            "83a44a6f696ec2a54e6f64657302ac5573657253746174654c656e00"
        ),
        Message::PushPull(PushPull {
            join: false,
            nodes: vec![na.clone(), nb],
            user_state: Bytes::new(),
        }),
    );

    // header {300, 70000, true}: v0.5.3 bytes are what we write; the v2 signed forms decode.
    let pp = Message::PushPull(PushPull {
        join: true,
        nodes: vec![na; 300],
        user_state: Bytes::from(vec![0x55; 70000]),
    });
    let enc = pp.to_bytes();
    let v053 = h("83a44a6f696ec3a54e6f646573cd012cac5573657253746174654c656ece00011170");
    let v2 = h("83a44a6f696ec3a54e6f646573d1012cac5573657253746174654c656ed200011170");
    assert_eq!(&enc[1..1 + v053.len()], &v053[..]);
    assert_eq!(Message::decode(&enc).unwrap(), pp);
    let mut alt = vec![6];
    alt.extend_from_slice(&v2);
    alt.extend_from_slice(&enc[1 + v053.len()..]);
    assert_eq!(Message::decode(&alt).unwrap(), pp);
    let (got, n) = decode_stream(&alt, &StreamOptions::default(), false)
        .unwrap()
        .unwrap();
    assert_eq!((got, n), (pp, alt.len()));
}

#[test]
fn push_pull_stream_vectors() {
    let want = Message::PushPull(PushPull {
        join: true,
        nodes: vec![push_node(
            "node-a",
            7946,
            None,
            1,
            WireState::Alive,
            &[1, 5, 2, 0, 0, 0],
        )],
        user_state: Bytes::from_static(b"US"),
    });
    let hex_ = "0683a44a6f696ec3a54e6f64657301ac5573657253746174654c656e0287a441646472a40a000001ab496e6361726e6174696f6e01a44d657461c0a44e616d65a66e6f64652d61a4506f7274cd1f0aa5537461746500a356736ea60105020000005553";
    golden(hex_, want.clone());
    stream_golden(hex_, want, &StreamOptions::default());

    // captured: B dials A, join push/pull, no compression
    let captured = "0683a44a6f696ec3a54e6f64657301ac5573657253746174654c656e0287a441646472a47f000001ab496e6361726e6174696f6e01a44d657461a36d2d42a44e616d65a142a4506f7274cd461ba5537461746500a356736ea60105020000004c53";
    let want = Message::PushPull(PushPull {
        join: true,
        nodes: vec![PushNodeState {
            name: name("B"),
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 17947,
            meta: Some(Bytes::from_static(b"m-B")),
            incarnation: 1,
            state: WireState::Alive,
            vsn: Some(Bytes::from_static(&[1, 5, 2, 0, 0, 0])),
        }],
        user_state: Bytes::from_static(b"LS"),
    });
    stream_golden(captured, want, &StreamOptions::default());
}

/// Decodes `hex` as a stream message from a dialer (and as a reply), checks every strict
/// prefix is "need more", and re-encodes it byte for byte.
fn stream_golden(hex_: &str, want: Message, opts: &StreamOptions<'_>) {
    let bytes = h(hex_);
    for dialer in [false, true] {
        let has_label = opts.label.is_some_and(|l| !l.is_empty());
        if dialer && has_label {
            continue;
        }
        let (got, n) = decode_stream(&bytes, opts, dialer).unwrap().unwrap();
        assert_eq!(got, want);
        assert_eq!(n, bytes.len());
        for i in 0..bytes.len() {
            assert_eq!(
                decode_stream(&bytes[..i], opts, dialer),
                Ok(None),
                "prefix {i}"
            );
        }
    }
    let mut out = Vec::new();
    encode_stream(&want, opts, NONCE, true, &mut out);
    assert_eq!(hex::encode(out), hex::encode(&bytes));
}

#[test]
fn user_vectors() {
    // userMsgHeader {5} / {200}, as the stream form of a user message
    stream_golden(
        "0881aa557365724d73674c656e0568656c6c6f",
        Message::User(Bytes::from_static(b"hello")),
        &StreamOptions::default(),
    );
    let payload = vec![0xab; 200];
    let mut bytes = vec![8];
    bytes.extend_from_slice(&h("81aa557365724d73674c656eccc8"));
    bytes.extend_from_slice(&payload);
    stream_golden(
        &hex::encode(&bytes),
        Message::User(Bytes::from(payload.clone())),
        &StreamOptions::default(),
    );
    // go-msgpack v2 writes UserMsgLen 200 as d1 00 c8
    let mut v2 = vec![8];
    v2.extend_from_slice(&h("81aa557365724d73674c656ed100c8"));
    v2.extend_from_slice(&payload);
    assert_eq!(
        decode_stream(&v2, &StreamOptions::default(), false).unwrap(),
        Some((Message::User(Bytes::from(payload)), v2.len()))
    );
    // packet form
    golden("0868656c6c6f", Message::User(Bytes::from_static(b"hello")));
}

#[test]
fn compound_and_crc_vectors() {
    let p1 = h(P1);
    let p2 = h(P2);
    let want = h(&format!("0702 0011 001f {P1} {P2}"));
    let mut out = Vec::new();
    encode_compound(&[&p1, &p2], &mut out);
    assert_eq!(out, want);
    assert_eq!(
        split_compound(&want).unwrap(),
        (vec![&p1[..], &p2[..]], false)
    );
    let msgs = decode_packet(&want, &PacketOptions::default()).unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0], Message::Ping(ping(7, "n2")));

    let crc = h(&format!("0c12c37df4{P1}"));
    let mut out = Vec::new();
    wrap_crc(&p1, &mut out);
    assert_eq!(out, crc);
    let mut out = Vec::new();
    encode_packet(&p1, true, false, &PacketOptions::default(), NONCE, &mut out);
    assert_eq!(out, crc);
    assert_eq!(
        decode_packet(&crc, &PacketOptions::default()).unwrap(),
        vec![Message::Ping(ping(7, "n2"))]
    );
}

#[test]
fn lzw_vectors() {
    let mut ab = vec![b'a'; 40];
    ab.extend_from_slice(&[b'b'; 40]);
    let v = h("0982a4416c676f00a3427566b700c3081c48b0a0c18308098a59c8b0a1c3871023360c08");
    assert_eq!(decompress(&v).unwrap(), ab);
    let mut out = Vec::new();
    compress(&ab, &mut out);
    assert_eq!(out, v);

    let v = h("0982a4416c676f00a3427566b500010822e5e40d9932a2dcc82835a54c9c82070202");
    assert_eq!(decompress(&v).unwrap(), h(P1));
    let mut out = Vec::new();
    compress(&h(P1), &mut out);
    assert_eq!(out, v);
    assert_eq!(
        decode_packet(&v, &PacketOptions::default()).unwrap(),
        vec![Message::Ping(ping(7, "n2"))]
    );
    // a hand-made stream without a leading clear code
    assert_eq!(lzw_decompress(&h("61c484111810"), 100).unwrap(), b"abaab");
}

#[test]
fn encryption_vectors() {
    let p1 = h(P1);
    let cases: [(&str, u8, Key); 3] = [
        (
            "01000102030405060708090a0b93ee0380097f92f625e0c4d953d23e67b45d0bb3552f027e71047f570a20089780",
            1,
            key16(),
        ),
        (
            "00000102030405060708090a0b93ee0380097f92f625e0c4d953d23e67b42915e95ce2f2f9e92efe221b4bad6308acd0ae08fea4e1023cf6cf8a392589",
            0,
            key16(),
        ),
        (
            "01000102030405060708090a0b47807255aa81a7b9e37332d8d498360284375a2033b675cd61c088e44205f70188",
            1,
            key32(),
        ),
    ];
    for (hex_, vsn, key) in cases {
        let bytes = h(hex_);
        // multi-key trial: a non-matching key first
        let other = Key::new(&[0xee; 32]).unwrap();
        let ring = Keyring::from_keys(vec![other, key.clone()]);
        assert_eq!(decrypt(&ring, &bytes, b"").unwrap(), p1);
        let opts = PacketOptions {
            keyring: Some(&ring),
            ..Default::default()
        };
        assert_eq!(
            decode_packet(&bytes, &opts).unwrap(),
            vec![Message::Ping(ping(7, "n2"))]
        );
        let mut out = Vec::new();
        encrypt(vsn, &key, NONCE, &p1, b"", &mut out);
        assert_eq!(hex::encode(&out), hex_);
        let ring1 = Keyring::new(key);
        let opts = PacketOptions {
            keyring: Some(&ring1),
            encryption_version: vsn,
            ..Default::default()
        };
        let mut out = Vec::new();
        encode_packet(&p1, false, false, &opts, NONCE, &mut out);
        assert_eq!(hex::encode(&out), hex_);
    }

    let ring = Keyring::new(key16());
    // stream frame, AAD = 0a0000002e
    stream_golden(
        "0a0000002e01000102030405060708090a0b93ee0380097f92f625e0c4d953d23e67b40dfe08ad716535cb2324dc2aafb12564",
        Message::Ping(ping(7, "n2")),
        &StreamOptions {
            keyring: Some(&ring),
            ..Default::default()
        },
    );

    // v0.3.0+ packet with label "prod" (AAD = label)
    let labelled = h("f40470726f6401000102030405060708090a0b93ee0380097f92f625e0c4d953d23e67b460f383033e988267827aa7325936a717");
    let opts = PacketOptions {
        keyring: Some(&ring),
        label: Some(b"prod"),
        ..Default::default()
    };
    assert_eq!(
        decode_packet(&labelled, &opts).unwrap(),
        vec![Message::Ping(ping(7, "n2"))]
    );
    let mut out = Vec::new();
    encode_packet(&p1, false, false, &opts, NONCE, &mut out);
    assert_eq!(out, labelled);
    // without our label, or with another one, it is refused
    let nolabel = PacketOptions {
        label: None,
        ..opts
    };
    assert_eq!(
        decode_packet(&labelled, &nolabel),
        Err(DecodeError::LabelMismatch)
    );

    // v0.3.0+ dialed stream with label "prod" (AAD = 0a0000002e ‖ "prod")
    stream_golden(
        "f40470726f640a0000002e01000102030405060708090a0b93ee0380097f92f625e0c4d953d23e67b4dcacfd59d1028d5e6ae1540e60644ff5",
        Message::Ping(ping(7, "n2")),
        &StreamOptions {
            keyring: Some(&ring),
            label: Some(b"prod"),
            ..Default::default()
        },
    );
}

#[test]
fn captured_memberlist_vectors() {
    golden(
        "0085a44e6f6465a142a55365714e6f01aa536f7572636541646472a47f000001aa536f757263654e6f6465a141aa536f75726365506f7274cd461a",
        Message::Ping(Ping {
            seq_no: 1,
            node: name("B"),
            source_addr: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            source_port: Some(17946),
            source_node: Some(name("A")),
        }),
    );
    golden("0b81a55365714e6f02", Message::Nack(Nack { seq_no: 2 }));
    stream_golden(
        "0282a75061796c6f6164c0a55365714e6f02",
        Message::Ack(Ack {
            seq_no: 2,
            payload: None,
        }),
        &StreamOptions::default(),
    );
}

// ------------------------------------------------------------------------------------------
// serf.md §13 (captured from Serf 0.9.4), memberlist level

fn lo(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 1, last))
}

#[test]
fn serf_v1_v3_v6_v15() {
    golden(
        "0085a44e6f6465a26e32a55365714e6f01aa536f7572636541646472a47f000101aa536f757263654e6f6465a26e31aa536f75726365506f7274cd1f0a",
        Message::Ping(Ping {
            seq_no: 1,
            node: name("n2"),
            source_addr: Some(lo(1)),
            source_port: Some(7946),
            source_node: Some(name("n1")),
        }),
    );
    let v3 = h("0282a75061796c6f6164da00820184aa41646a7573746d656e74cb3ef6400c56e65064a54572726f72cb3fd26bd00ba38c0ba6486569676874cb3ee6331a26d67f19a356656398cb3f20ef3908ec5450cbbef143d4a352dccfcb3f0b4de18d8890b8cb3f0586496cb1d94dcb3ef99d8c98191bcacb3ef2698f45e7f07ccb3f02d09007fa4996cb3f1137d1684437d2a55365714e6f1d");
    golden(
        &hex::encode(&v3),
        Message::Ack(Ack {
            seq_no: 29,
            payload: Some(Bytes::copy_from_slice(&v3[13..13 + 130])),
        }),
    );
    golden(
        "0486a441646472a47f000103ab496e6361726e6174696f6e01a44d657461b1ff82a4726f6c65a3776562a3696478a133a44e6f6465a26e33a4506f7274cd1f0aa356736ea6010502020505",
        Message::Alive(Alive {
            incarnation: 1,
            node: name("n3"),
            addr: lo(3),
            port: 7946,
            meta: Some(Bytes::from(h("ff82a4726f6c65a3776562a3696478a133"))),
            vsn: Some(Bytes::from_static(&[1, 5, 2, 2, 5, 5])),
        }),
    );
    golden(
        "0188a44e61636bc3a44e6f6465a26e32a4506f7274cd1f0aa55365714e6f10aa536f7572636541646472a47f000103aa536f757263654e6f6465a26e33aa536f75726365506f7274cd1f0aa6546172676574a47f000102",
        Message::IndirectPing(IndirectPing {
            seq_no: 16,
            target: lo(2),
            port: 7946,
            node: name("n2"),
            nack: true,
            source_addr: Some(lo(3)),
            source_port: Some(7946),
            source_node: Some(name("n3")),
        }),
    );
}

#[test]
fn serf_v2_compressed_ack() {
    let v2 = h("0982a4416c676f00a3427566da00620005083a05254c1e366fc290d10640500042aa82905153670e9d3665dcd05906a0a3c78ea58ac891f346ceb21ff83e763485a44c9a336836fa2087af16a27168e28db252660c268e2a3b020d3a5465d18f473d26151a9469d35253cac471f2264040");
    let inner = h("0282a75061796c6f6164da00820184aa41646a7573746d656e74cb0000000000000000a54572726f72cb3ff8000000000000a6486569676874cb3ee4f8b588e368f1a356656398cb0000000000000000cb0000000000000000cb0000000000000000cb0000000000000000cb0000000000000000cb0000000000000000cb0000000000000000cb0000000000000000a55365714e6f01");
    assert_eq!(decompress(&v2).unwrap(), inner);
    let msgs = decode_packet(&v2, &PacketOptions::default()).unwrap();
    assert_eq!(msgs, vec![Message::decode(&inner).unwrap()]);
    assert_eq!(msgs[0].to_bytes(), inner);
    // the sender would keep the compressed form (shorter); weezl reproduces Go's bytes here
    let mut out = Vec::new();
    encode_packet(
        &inner,
        false,
        true,
        &PacketOptions::default(),
        NONCE,
        &mut out,
    );
    assert_eq!(hex::encode(out), hex::encode(&v2));
}

#[test]
fn serf_v4_encrypted_ping() {
    let key = base64::engine::general_purpose::STANDARD
        .decode("7ZApIeLtg/UiFQ0j5MN9KOS0SkHwhV7uFE62eVB5cfw=")
        .unwrap();
    let key = Key::new(&key).unwrap();
    let v4 = h("0129ae7a9c7b12d50a4765b996a0a1c2ead6954267e93a287592da31ac5985e2be88b961c2da45f9a1e96c0d3dea4c68aaf3c4825222dc25299c58c7ab1886ae97673b475624c662ab7a0ec9ed2cac883e7cc143d82cd5e28d8a");
    let plain = h("0085a44e6f6465a26e32a55365714e6f01aa536f7572636541646472a47f000201aa536f757263654e6f6465a26e31aa536f75726365506f7274cd1f0a");
    let ring = Keyring::new(key.clone());
    assert_eq!(decrypt(&ring, &v4, b"").unwrap(), plain);
    let nonce: [u8; 12] = v4[1..13].try_into().unwrap();
    let mut out = Vec::new();
    encrypt(1, &key, nonce, &plain, b"", &mut out);
    assert_eq!(out, v4);
    let opts = PacketOptions {
        keyring: Some(&ring),
        ..Default::default()
    };
    let msgs = decode_packet(&v4, &opts).unwrap();
    assert!(
        matches!(&msgs[..], [Message::Ping(p)] if p.source_addr == Some(IpAddr::V4(Ipv4Addr::new(127, 0, 2, 1))))
    );
    // plaintext is refused while the keyring requires encryption
    assert!(decode_packet(&plain, &opts).is_err());
}

/// A Serf user packet: `08` + Serf message, with or without CRC.
fn user_packet(hex_: &str, crc: bool) {
    let bytes = h(hex_);
    let msgs = decode_packet(&bytes, &PacketOptions::default()).unwrap();
    let inner = if crc { &bytes[5..] } else { &bytes[..] };
    assert_eq!(
        msgs,
        vec![Message::User(Bytes::copy_from_slice(&inner[1..]))]
    );
    let mut out = Vec::new();
    encode_packet(
        &msgs[0].to_bytes(),
        crc,
        false,
        &PacketOptions::default(),
        NONCE,
        &mut out,
    );
    assert_eq!(hex::encode(out), hex::encode(&bytes));
}

#[test]
fn serf_user_packets() {
    user_packet("0c3f8b6d17080182a54c54696d6501a44e6f6465a26e32", true); // V5
    user_packet("0ca639cc5a080384a24343c3a54c54696d6501a44e616d65a66465706c6f79a75061796c6f6164a676312e322e33", true); // V7
    user_packet("0c0951fdb508048ba441646472a47f000101a746696c74657273c0a5466c61677301a24944ce2a69d1b1a54c54696d6501a44e616d65a6757074696d65a75061796c6f6164a97061796c6f61642d78a4506f7274cd1f0aab52656c6179466163746f7200aa536f757263654e6f6465a26e31a754696d656f7574cebebc2000", true); // V8
    user_packet(
        "080585a5466c61677301a446726f6da26e31a24944ce2a69d1b1a54c54696d6501a75061796c6f6164c0",
        false,
    ); // V9
    user_packet("080585a5466c61677300a446726f6da26e31a24944ce2a69d1b1a54c54696d6501a75061796c6f6164ae7265706c792d66726f6d2d6e310a", false); // V10
    user_packet("0cc877420608048ba441646472a47f000101a746696c7465727391b40182a445787072a45b31325da3546167a3696478a5466c61677301a24944ce299eca96a54c54696d6502a44e616d65a866696c7465726564a75061796c6f6164c0a4506f7274cd1f0aab52656c6179466163746f7200aa536f757263654e6f6465a26e31a754696d656f7574cebebc2000", true); // V11
    user_packet("0ca716aacd08048ba441646472a47f000101a746696c7465727391a50091a26e33a5466c61677300a24944ce5a0399f3a54c54696d6503a44e616d65a66f6e6c796e33a75061796c6f6164a568656c6c6fa4506f7274cd1f0aab52656c6179466163746f7202aa536f757263654e6f6465a26e31a754696d656f7574ce77359400", true); // V12
    user_packet("080982a8446573744164647283a24950a47f000101a4506f7274cd1f0aa45a6f6e65a0a8446573744e616d65a26e310585a5466c61677300a446726f6da26e33a24944ce5a0399f3a54c54696d6503a75061796c6f6164ae7265706c792d66726f6d2d6e330a", false); // V13
    user_packet("080585a5466c61677300a446726f6da26e32a24944ce51ce832aa54c54696d6501a75061796c6f6164da00820884a44b65797391da002c375a417049654c74672f55694651306a354d4e394b4f5330536b48776856377546453632655642356366773da74d657373616765a0aa5072696d6172794b6579da002c375a417049654c74672f55694651306a354d4e394b4f5330536b48776856377546453632655642356366773da6526573756c74c3", false); // V16
    user_packet("080585a5466c61677300a446726f6da26333a24944ce40cbe143a54c54696d6501a75061796c6f6164da0078068ba441646472a47f000902ab44656c656761746543757205ab44656c65676174654d617805ab44656c65676174654d696e02a44e616d65a26332a4506f7274cd1f0aab50726f746f636f6c43757202ab50726f746f636f6c4d617805ab50726f746f636f6c4d696e01a653746174757301a45461677380", false);
    // V17
}

/// A compound packet: decodes to the expected parts and re-encodes byte for byte.
fn compound_packet(hex_: &str, n: usize) -> Vec<Message> {
    let bytes = h(hex_);
    let msgs = decode_packet(&bytes, &PacketOptions::default()).unwrap();
    assert_eq!(msgs.len(), n);
    let parts: Vec<Vec<u8>> = msgs.iter().map(Message::to_bytes).collect();
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let mut out = Vec::new();
    encode_compound(&refs, &mut out);
    assert_eq!(hex::encode(out), hex::encode(&bytes));
    msgs
}

#[test]
fn serf_compounds_v14_v15() {
    let m = compound_packet("0702003d00190085a44e6f6465a26e31a55365714e6f24aa536f7572636541646472a47f000103aa536f757263654e6f6465a26e33aa536f75726365506f7274cd1f0a080083a54c54696d6502a44e6f6465a26e33a55072756e65c2", 2);
    assert!(matches!(&m[1], Message::User(b) if b[0] == 0));
    let m = decode_packet(
        &h("0ca8aa71740583a446726f6da26e33ab496e6361726e6174696f6e01a44e6f6465a26e33"),
        &PacketOptions::default(),
    )
    .unwrap();
    assert_eq!(
        m,
        vec![Message::Dead(Dead {
            incarnation: 1,
            node: name("n3"),
            from: name("n3"),
        })]
    );
    let m = compound_packet("0702003d001f0085a44e6f6465a26e31a55365714e6f11aa536f7572636541646472a47f000103aa536f757263654e6f6465a26e33aa536f75726365506f7274cd1f0a0383a446726f6da26e33ab496e6361726e6174696f6e02a44e6f6465a26e32", 2);
    assert!(matches!(&m[1], Message::Suspect(s) if s.incarnation == 2));
    let m = compound_packet("07020009001f0b81a55365714e6f100383a446726f6da26e33ab496e6361726e6174696f6e02a44e6f6465a26e32", 2);
    assert_eq!(m[0], Message::Nack(Nack { seq_no: 16 }));
}

// ------------------------------------------------------------------------------------------
// Lenient decoding (memberlist.md §3.2)

#[test]
fn lenient_forms() {
    // struct as array, declaration order: alive {Incarnation, Node, Addr, Port, Meta, Vsn}
    let arr = h("0496 01 a26e33 a47f000103 cd1f0a c0 96010502020505");
    assert_eq!(
        Message::decode(&arr).unwrap(),
        Message::Alive(Alive {
            incarnation: 1,
            node: name("n3"),
            addr: lo(3),
            port: 7946,
            meta: None,
            vsn: Some(Bytes::from_static(&[1, 5, 2, 2, 5, 5])),
        })
    );
    // keys in any order, unknown keys of any type skipped, str8 / bin forms, signed ints,
    // bool as 1, nil as zero
    let m = h(concat!(
        "01",
        "8b",
        "a6546172676574c4040a000001",    // Target: bin8
        "a3466f6f81a178920102",          // Foo: {x: [1, 2]} (unknown)
        "a4506f7274d1 1f0a",             // Port: int16
        "a44e6f6465d9 066e6f64652d63",   // Node: str8
        "a44e61636b01",                  // Nack: 1
        "a55365714e6fd2 00011170",       // SeqNo: int32
        "a3466c74cb3ff8000000000000",    // Flt: float (unknown)
        "a3457874d70100000000000000 00", // Ext: fixext8 (unknown)
        "aa536f757263654e6f6465c0",      // SourceNode: nil
        "aa536f7572636541646472a0",      // SourceAddr: empty
        "aa536f75726365506f7274 00",     // SourcePort: 0
    ));
    assert_eq!(
        Message::decode(&m).unwrap(),
        Message::IndirectPing(IndirectPing {
            seq_no: 70000,
            target: IP,
            port: 7946,
            node: name("node-c"),
            nack: true,
            source_addr: None,
            source_port: None,
            source_node: None,
        })
    );
    // missing keys are zero values; trailing bytes ignored
    assert_eq!(
        Message::decode(&h("0b80ffff")).unwrap(),
        Message::Nack(Nack { seq_no: 0 })
    );
    // whole body nil
    assert_eq!(
        Message::decode(&h("0bc0")).unwrap(),
        Message::Nack(Nack { seq_no: 0 })
    );
    // case-sensitive keys: "seqno" is unknown
    assert_eq!(
        Message::decode(&h("0b81a57365716e6f05")).unwrap(),
        Message::Nack(Nack { seq_no: 0 })
    );
    // range checks
    assert!(Message::decode(&h("0b81a55365714e6fcf0000000100000000")).is_err());
    assert!(Message::decode(&h("0b81a55365714e6fff")).is_err());
    // bad address lengths
    assert_eq!(
        Message::decode(&h("0481a441646472a3010203")),
        Err(DecodeError::BadAddr(3))
    );
    // wrappers are not plain messages
    assert_eq!(
        Message::decode(&h("0700")),
        Err(DecodeError::UnexpectedType(MessageType::Compound))
    );
    assert_eq!(Message::decode(&[]), Err(DecodeError::Empty));
    assert_eq!(
        Message::decode(&[0x63]),
        Err(DecodeError::UnknownType(0x63))
    );
    // IPv6 source addresses survive
    let p = Message::Ping(Ping {
        seq_no: 1,
        node: name("x"),
        source_addr: Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        source_port: Some(1),
        source_node: Some(name("y")),
    });
    assert_eq!(Message::decode(&p.to_bytes()).unwrap(), p);
}
