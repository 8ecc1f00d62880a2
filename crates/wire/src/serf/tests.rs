//! Golden vectors captured from real Serf 0.9.4 agents (protocol notes §13), and properties
//! of every codec in this module.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::{decode_packet, Message, PacketOptions};

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    hex::decode(s).unwrap()
}

/// The Serf message inside a captured plaintext gossip packet (CRC, compound and the user
/// message header removed by the memberlist pipeline).
fn serf_parts(packet: &str) -> Vec<Vec<u8>> {
    let msgs = decode_packet(&unhex(packet), &PacketOptions::default()).unwrap();
    msgs.into_iter()
        .filter_map(|m| match m {
            Message::User(b) => Some(b.to_vec()),
            _ => None,
        })
        .collect()
}

fn one_serf(packet: &str) -> Vec<u8> {
    let mut parts = serf_parts(packet);
    assert_eq!(parts.len(), 1);
    parts.remove(0)
}

/// Decodes, checks the expected value, and re-encodes byte for byte.
fn golden(bytes: &[u8], expected: &SerfMessage) {
    let m = SerfMessage::decode(bytes).unwrap();
    assert_eq!(&m, expected);
    assert_eq!(
        hex::encode(m.to_bytes()),
        hex::encode(bytes),
        "re-encoding differs"
    );
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn v5_join_intent() {
    let b = one_serf("0c3f8b6d17080182a54c54696d6501a44e6f6465a26e32");
    golden(
        &b,
        &SerfMessage::Join(JoinIntent {
            ltime: 1,
            node: "n2".into(),
        }),
    );
}

#[test]
fn v14_leave_intent_in_compound() {
    let b = one_serf(
        "0702003d00190085a44e6f6465a26e31a55365714e6f24aa536f7572636541646472a47f000103aa536f757263654e6f6465a26e33aa536f75726365506f7274cd1f0a080083a54c54696d6502a44e6f6465a26e33a55072756e65c2",
    );
    golden(
        &b,
        &SerfMessage::Leave(LeaveIntent {
            ltime: 2,
            node: "n3".into(),
            prune: false,
        }),
    );
}

#[test]
fn v7_user_event() {
    let b = one_serf("0ca639cc5a080384a24343c3a54c54696d6501a44e616d65a66465706c6f79a75061796c6f6164a676312e322e33");
    golden(
        &b,
        &SerfMessage::UserEvent(UserEvent {
            ltime: 1,
            name: "deploy".into(),
            payload: Bytes::from_static(b"v1.2.3"),
            cc: true,
        }),
    );
}

fn query(ltime: u64, id: u32, name: &str, payload: Option<&'static [u8]>) -> Query {
    Query {
        ltime,
        id,
        addr: ip("127.0.1.1"),
        port: 7946,
        source_node: "n1".into(),
        filters: Vec::new(),
        flags: QUERY_FLAG_ACK,
        relay_factor: 0,
        timeout: Duration::from_millis(3200),
        name: name.into(),
        payload: payload.map(Bytes::from_static),
    }
}

#[test]
fn v8_query() {
    let b = one_serf(
        "0c0951fdb508048ba441646472a47f000101a746696c74657273c0a5466c61677301a24944ce2a69d1b1a54c54696d6501a44e616d65a6757074696d65a75061796c6f6164a97061796c6f61642d78a4506f7274cd1f0aab52656c6179466163746f7200aa536f757263654e6f6465a26e31a754696d656f7574cebebc2000",
    );
    let q = query(1, 711_578_033, "uptime", Some(b"payload-x"));
    assert!(q.wants_ack() && !q.no_broadcast());
    golden(&b, &SerfMessage::Query(q));
}

#[test]
fn v11_query_with_tag_filter() {
    let b = one_serf(
        "0cc877420608048ba441646472a47f000101a746696c7465727391b40182a445787072a45b31325da3546167a3696478a5466c61677301a24944ce299eca96a54c54696d6502a44e616d65a866696c7465726564a75061796c6f6164c0a4506f7274cd1f0aab52656c6179466163746f7200aa536f757263654e6f6465a26e31a754696d656f7574cebebc2000",
    );
    let mut q = query(2, 0x299e_ca96, "filtered", None);
    let f = Filter::Tag {
        tag: "idx".into(),
        expr: "[12]".into(),
    };
    q.filters = vec![f.encode()];
    assert_eq!(q.decoded_filters().unwrap(), vec![f]);
    golden(&b, &SerfMessage::Query(q));
}

#[test]
fn v12_query_with_node_filter() {
    let b = one_serf(
        "0ca716aacd08048ba441646472a47f000101a746696c7465727391a50091a26e33a5466c61677300a24944ce5a0399f3a54c54696d6503a44e616d65a66f6e6c796e33a75061796c6f6164a568656c6c6fa4506f7274cd1f0aab52656c6179466163746f7202aa536f757263654e6f6465a26e31a754696d656f7574ce77359400",
    );
    let mut q = query(3, 0x5a03_99f3, "onlyn3", Some(b"hello"));
    q.flags = 0;
    q.relay_factor = 2;
    q.timeout = Duration::from_secs(2);
    let f = Filter::Nodes(vec!["n3".into()]);
    q.filters = vec![f.encode()];
    assert_eq!(q.decoded_filters().unwrap(), vec![f]);
    golden(&b, &SerfMessage::Query(q));
}

#[test]
fn v9_v10_query_ack_and_response() {
    let ack = one_serf(
        "080585a5466c61677301a446726f6da26e31a24944ce2a69d1b1a54c54696d6501a75061796c6f6164c0",
    );
    let r = QueryResponse {
        ltime: 1,
        id: 711_578_033,
        from: "n1".into(),
        flags: 1,
        payload: None,
    };
    assert!(r.is_ack());
    golden(&ack, &SerfMessage::QueryResponse(r));
    let resp = one_serf(
        "080585a5466c61677300a446726f6da26e31a24944ce2a69d1b1a54c54696d6501a75061796c6f6164ae7265706c792d66726f6d2d6e310a",
    );
    let r = QueryResponse {
        ltime: 1,
        id: 711_578_033,
        from: "n1".into(),
        flags: 0,
        payload: Some(Bytes::from_static(b"reply-from-n1\n")),
    };
    golden(&resp, &SerfMessage::QueryResponse(r));
}

#[test]
fn v13_relay() {
    let b = one_serf(
        "080982a8446573744164647283a24950a47f000101a4506f7274cd1f0aa45a6f6e65a0a8446573744e616d65a26e310585a5466c61677300a446726f6da26e33a24944ce5a0399f3a54c54696d6503a75061796c6f6164ae7265706c792d66726f6d2d6e330a",
    );
    let m = SerfMessage::decode(&b).unwrap();
    let SerfMessage::Relay(relay) = &m else {
        panic!("not a relay: {m:?}")
    };
    assert_eq!(
        relay.header.dest_addr,
        SocketAddr::from(([127, 0, 1, 1], 7946))
    );
    assert_eq!(relay.header.dest_zone, "");
    assert_eq!(&*relay.header.dest_name, "n1");
    let inner = SerfMessage::decode(&relay.message).unwrap();
    assert_eq!(
        inner,
        SerfMessage::QueryResponse(QueryResponse {
            ltime: 3,
            id: 0x5a03_99f3,
            from: "n3".into(),
            flags: 0,
            payload: Some(Bytes::from_static(b"reply-from-n3\n")),
        })
    );
    assert_eq!(m.to_bytes(), b);
}

#[test]
fn v16_key_request_and_responses() {
    golden(
        &unhex("0781a34b6579a0"),
        &SerfMessage::KeyRequest(KeyRequest { key: Bytes::new() }),
    );
    let mut install = unhex("0781a34b6579da0020");
    install.extend_from_slice(&[0x5a; 32]);
    golden(
        &install,
        &SerfMessage::KeyRequest(KeyRequest {
            key: Bytes::from(vec![0x5a; 32]),
        }),
    );

    let list = one_serf(
        "080585a5466c61677300a446726f6da26e32a24944ce51ce832aa54c54696d6501a75061796c6f6164da00820884a44b65797391da002c375a417049654c74672f55694651306a354d4e394b4f5330536b48776856377546453632655642356366773da74d657373616765a0aa5072696d6172794b6579da002c375a417049654c74672f55694651306a354d4e394b4f5330536b48776856377546453632655642356366773da6526573756c74c3",
    );
    let SerfMessage::QueryResponse(resp) = SerfMessage::decode(&list).unwrap() else {
        panic!()
    };
    let key = "7ZApIeLtg/UiFQ0j5MN9KOS0SkHwhV7uFE62eVB5cfw=".to_string();
    golden(
        resp.payload.as_ref().unwrap(),
        &SerfMessage::KeyResponse(KeyResponse {
            result: true,
            message: String::new(),
            keys: Some(vec![key.clone()]),
            primary_key: key,
        }),
    );
    golden(
        &unhex("0884a44b657973c0a74d657373616765a0aa5072696d6172794b6579a0a6526573756c74c3"),
        &SerfMessage::KeyResponse(KeyResponse {
            result: true,
            ..KeyResponse::default()
        }),
    );
}

#[test]
fn v17_conflict_response() {
    let b = one_serf(
        "080585a5466c61677300a446726f6da26333a24944ce40cbe143a54c54696d6501a75061796c6f6164da0078068ba441646472a47f000902ab44656c656761746543757205ab44656c65676174654d617805ab44656c65676174654d696e02a44e616d65a26332a4506f7274cd1f0aab50726f746f636f6c43757202ab50726f746f636f6c4d617805ab50726f746f636f6c4d696e01a653746174757301a45461677380",
    );
    let SerfMessage::QueryResponse(resp) = SerfMessage::decode(&b).unwrap() else {
        panic!()
    };
    assert_eq!(&*resp.from, "c3");
    let record = MemberRecord {
        name: "c2".into(),
        addr: ip("127.0.9.2"),
        port: 7946,
        tags: BTreeMap::new(),
        status: 1,
        protocol_min: 1,
        protocol_max: 5,
        protocol_cur: 2,
        delegate_min: 2,
        delegate_max: 5,
        delegate_cur: 5,
    };
    golden(
        resp.payload.as_ref().unwrap(),
        &SerfMessage::ConflictResponse(Some(record)),
    );
    golden(&[6, 0xc0], &SerfMessage::ConflictResponse(None));
}

/// V18's Serf user state, rebuilt from the captured prefix and the decoded description:
/// 586 bytes, as the captured `UserStateLen` (`cd 024a`) says.
fn v18_user_state() -> Vec<u8> {
    let mut b = unhex("0286aa4576656e744c54696d6501a64576656e7473dc0200");
    b.extend_from_slice(&[0xc0; 512]);
    b.extend_from_slice(&unhex(
        "a54c54696d6501ab4c6566744d656d6265727390aa51756572794c54696d6501ac5374617475734c54696d657381a26e3300",
    ));
    b
}

#[test]
fn v18_push_pull_state() {
    let b = v18_user_state();
    assert_eq!(b.len(), 0x024a);
    let mut status = BTreeMap::new();
    status.insert(crate::Name::from("n3"), 0);
    let pp = PushPull {
        ltime: 1,
        status_ltimes: status,
        left_members: Vec::new(),
        event_ltime: 1,
        events: vec![None; EVENT_BUFFER_SIZE],
        query_ltime: 1,
    };
    golden(&b, &SerfMessage::PushPull(pp));
}

#[test]
fn push_pull_with_events_and_left_members() {
    let mut events = vec![None; EVENT_BUFFER_SIZE];
    events[3] = Some(UserEvents {
        ltime: 3,
        events: vec![
            UserEventEntry {
                name: "deploy".into(),
                payload: Bytes::from_static(b"v1"),
            },
            UserEventEntry {
                name: "deploy".into(),
                payload: Bytes::new(),
            },
        ],
    });
    let mut status = BTreeMap::new();
    status.insert(crate::Name::from("a"), 4);
    status.insert(crate::Name::from("b"), 7);
    let pp = PushPull {
        ltime: 9,
        status_ltimes: status,
        left_members: vec!["b".into()],
        event_ltime: 4,
        events,
        query_ltime: 2,
    };
    let m = SerfMessage::PushPull(pp);
    assert_eq!(SerfMessage::decode(&m.to_bytes()).unwrap(), m);
}

#[test]
fn v6_tags_in_alive_meta() {
    // The alive message of V6; Go wrote the tags map in random order (role first here).
    let alive = unhex(
        "0486a441646472a47f000103ab496e6361726e6174696f6e01a44d657461b1ff82a4726f6c65a3776562a3696478a133a44e6f6465a26e33a4506f7274cd1f0aa356736ea6010502020505",
    );
    let Message::Alive(a) = Message::decode(&alive).unwrap() else {
        panic!()
    };
    let meta = a.meta.unwrap();
    let tags = decode_tags(&meta).unwrap();
    let mut expected = BTreeMap::new();
    expected.insert("role".to_string(), "web".to_string());
    expected.insert("idx".to_string(), "3".to_string());
    assert_eq!(tags, expected);
    // We write sorted keys: same map, other byte order, same length.
    let ours = encode_tags(&tags).unwrap();
    assert_eq!(hex::encode(&ours), "ff82a3696478a133a4726f6c65a3776562");
    assert_eq!(ours.len(), meta.len());
    assert_eq!(decode_tags(&ours).unwrap(), expected);
}

#[test]
fn tags_forms_and_limit() {
    assert_eq!(
        encode_tags(&BTreeMap::new()).unwrap().as_ref(),
        &[0xff, 0x80]
    );
    assert_eq!(decode_tags(&[0xff, 0x80]).unwrap(), BTreeMap::new());
    // Legacy: no magic byte means the role string; empty meta means role "".
    let legacy = decode_tags(b"web").unwrap();
    assert_eq!(legacy.get("role").map(String::as_str), Some("web"));
    assert_eq!(
        decode_tags(b"").unwrap().get("role").map(String::as_str),
        Some("")
    );
    let mut t = BTreeMap::new();
    t.insert("role".to_string(), "db".to_string());
    t.insert("dc".to_string(), "east".to_string());
    assert_eq!(encode_tags_for_protocol(&t, 2).unwrap().as_ref(), b"db");
    assert_eq!(
        encode_tags_for_protocol(&t, 5).unwrap(),
        encode_tags(&t).unwrap()
    );
    // 512 bytes is allowed, 513 is not.
    let mut big = BTreeMap::new();
    let base = encode_tags(&{
        let mut m = BTreeMap::new();
        m.insert("k".to_string(), String::new());
        m
    })
    .unwrap()
    .len();
    // ff 81 a1 'k' + value header: a str16 value of length L costs 3 + L.
    let fill = 512 - (base - 1) - 3;
    big.insert("k".to_string(), "x".repeat(fill));
    assert_eq!(encode_tags(&big).unwrap().len(), 512);
    big.insert("k".to_string(), "x".repeat(fill + 1));
    assert_eq!(
        encode_tags(&big),
        Err(TagsError::TooLarge { len: 513, max: 512 })
    );
    // Bad msgpack after the magic byte: an error, or the partial tags with the lossy form.
    assert!(decode_tags(&[0xff, 0x82, 0xa1, b'a', 0xa1, b'b', 0xa1]).is_err());
    let (partial, err) = decode_tags_lossy(&[0xff, 0x82, 0xa1, b'a', 0xa1, b'b', 0xa1]);
    assert_eq!(partial.get("a").map(String::as_str), Some("b"));
    assert!(err.is_some());
}

#[test]
fn lenient_decoding() {
    // Keys in another order, an unknown key, bin and str8 forms, ints in signed forms.
    let mut b = vec![1u8, 0x83];
    b.extend_from_slice(&[0xa4, b'N', b'o', b'd', b'e', 0xc4, 2, b'n', b'9']);
    b.extend_from_slice(&[0xa5, b'E', b'x', b't', b'r', b'a', 0x92, 0x01, 0xc0]);
    b.extend_from_slice(&[0xa5, b'L', b'T', b'i', b'm', b'e', 0xd1, 0x01, 0x00]);
    assert_eq!(
        SerfMessage::decode(&b).unwrap(),
        SerfMessage::Join(JoinIntent {
            ltime: 256,
            node: "n9".into()
        })
    );
    // A nil body is all zero values; trailing bytes are ignored.
    assert_eq!(
        SerfMessage::decode(&[0, 0xc0, 0xff]).unwrap(),
        SerfMessage::Leave(LeaveIntent {
            ltime: 0,
            node: "".into(),
            prune: false
        })
    );
}

#[test]
fn typed_errors() {
    assert_eq!(SerfMessage::decode(&[]), Err(SerfDecodeError::Empty));
    assert_eq!(
        SerfMessage::decode(&[10, 0x80]),
        Err(SerfDecodeError::UnknownType(10))
    );
    assert_eq!(
        SerfMessage::decode(&[1, 0x82, 0xa5]),
        Err(SerfDecodeError::Truncated)
    );
    assert!(matches!(
        SerfMessage::decode(&[1, 0x05]),
        Err(SerfDecodeError::Msgpack(_))
    ));
    // Port above 65535.
    let mut q = query(1, 1, "q", None).into_message().to_bytes();
    let port = q.windows(5).position(|w| w == b"\xa4Port").unwrap() + 5;
    q.splice(port..port + 3, [0xce, 0, 1, 0, 0]);
    assert_eq!(
        SerfMessage::decode(&q),
        Err(SerfDecodeError::BadField { field: "Port" })
    );
    assert_eq!(
        Filter::decode(&[7, 0x90]),
        Err(SerfDecodeError::BadField { field: "Filters" })
    );
    assert_eq!(
        Filter::decode(&[]),
        Err(SerfDecodeError::BadField { field: "Filters" })
    );
}

impl Query {
    fn into_message(self) -> SerfMessage {
        SerfMessage::Query(self)
    }
}

// ---- properties ------------------------------------------------------------------------

fn name() -> impl Strategy<Value = crate::Name> {
    "[a-z0-9.-]{0,12}".prop_map(|s| crate::Name::from(s.as_str()))
}

fn text() -> impl Strategy<Value = String> {
    // Unicode, and long enough to need str16 now and then.
    prop_oneof![".{0,8}", "[a-z]{30,40}"]
}

fn blob() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..48).prop_map(Bytes::from)
}

fn ip_addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ]
}

fn tags() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(text(), text(), 0..5)
}

fn user_events() -> impl Strategy<Value = UserEvents> {
    (any::<u64>(), prop::collection::vec((text(), blob()), 0..3)).prop_map(|(ltime, evs)| {
        UserEvents {
            ltime,
            events: evs
                .into_iter()
                .map(|(name, payload)| UserEventEntry { name, payload })
                .collect(),
        }
    })
}

fn push_pull() -> impl Strategy<Value = PushPull> {
    (
        any::<u64>(),
        prop::collection::btree_map(name(), any::<u64>(), 0..6),
        prop::collection::vec(name(), 0..4),
        any::<u64>(),
        prop::collection::vec(prop::option::of(user_events()), 0..20),
        any::<u64>(),
    )
        .prop_map(
            |(ltime, status_ltimes, left_members, event_ltime, events, query_ltime)| PushPull {
                ltime,
                status_ltimes,
                left_members,
                event_ltime,
                events,
                query_ltime,
            },
        )
}

fn filter() -> impl Strategy<Value = Filter> {
    prop_oneof![
        prop::collection::vec(text(), 0..4).prop_map(Filter::Nodes),
        (text(), text()).prop_map(|(tag, expr)| Filter::Tag { tag, expr }),
    ]
}

fn query_strategy() -> impl Strategy<Value = Query> {
    (
        (any::<u64>(), any::<u32>(), ip_addr(), any::<u16>(), name()),
        prop::collection::vec(filter(), 0..3),
        (
            any::<u32>(),
            any::<u8>(),
            0..=i64::MAX as u64,
            text(),
            prop::option::of(blob()),
        ),
    )
        .prop_map(
            |(
                (ltime, id, addr, port, source_node),
                filters,
                (flags, relay_factor, ns, name, payload),
            )| Query {
                ltime,
                id,
                addr,
                port,
                source_node,
                filters: filters.iter().map(Filter::encode).collect(),
                flags,
                relay_factor,
                timeout: Duration::from_nanos(ns),
                name,
                payload,
            },
        )
}

fn query_response() -> impl Strategy<Value = QueryResponse> {
    (
        any::<u64>(),
        any::<u32>(),
        name(),
        any::<u32>(),
        prop::option::of(blob()),
    )
        .prop_map(|(ltime, id, from, flags, payload)| QueryResponse {
            ltime,
            id,
            from,
            flags,
            payload,
        })
}

fn member_record() -> impl Strategy<Value = MemberRecord> {
    (name(), ip_addr(), any::<u16>(), tags(), any::<[u8; 7]>()).prop_map(
        |(name, addr, port, tags, v)| MemberRecord {
            name,
            addr,
            port,
            tags,
            status: v[0],
            protocol_min: v[1],
            protocol_max: v[2],
            protocol_cur: v[3],
            delegate_min: v[4],
            delegate_max: v[5],
            delegate_cur: v[6],
        },
    )
}

fn message() -> impl Strategy<Value = SerfMessage> {
    prop_oneof![
        (any::<u64>(), name(), any::<bool>()).prop_map(|(ltime, node, prune)| SerfMessage::Leave(
            LeaveIntent { ltime, node, prune }
        )),
        (any::<u64>(), name())
            .prop_map(|(ltime, node)| SerfMessage::Join(JoinIntent { ltime, node })),
        push_pull().prop_map(SerfMessage::PushPull),
        (any::<u64>(), text(), blob(), any::<bool>()).prop_map(|(ltime, name, payload, cc)| {
            SerfMessage::UserEvent(UserEvent {
                ltime,
                name,
                payload,
                cc,
            })
        }),
        query_strategy().prop_map(SerfMessage::Query),
        query_response().prop_map(SerfMessage::QueryResponse),
        prop::option::of(member_record()).prop_map(SerfMessage::ConflictResponse),
        blob().prop_map(|key| SerfMessage::KeyRequest(KeyRequest { key })),
        (
            any::<bool>(),
            text(),
            prop::option::of(prop::collection::vec(text(), 0..4)),
            text()
        )
            .prop_map(
                |(result, message, keys, primary_key)| SerfMessage::KeyResponse(KeyResponse {
                    result,
                    message,
                    keys,
                    primary_key
                })
            ),
        (ip_addr(), any::<u16>(), text(), name(), query_response()).prop_map(
            |(ip, port, zone, dest_name, inner)| {
                SerfMessage::Relay(Relay {
                    header: RelayHeader {
                        dest_addr: SocketAddr::new(ip, port),
                        dest_zone: zone,
                        dest_name,
                    },
                    message: SerfMessage::QueryResponse(inner).to_shared(),
                })
            }
        ),
    ]
}

proptest! {
    #[test]
    fn every_message_round_trips(m in message()) {
        let bytes = m.to_bytes();
        prop_assert_eq!(bytes[0], m.message_type() as u8);
        prop_assert_eq!(SerfMessage::decode(&bytes), Ok(m));
    }

    #[test]
    fn filters_round_trip(f in filter()) {
        prop_assert_eq!(Filter::decode(&f.encode()), Ok(f));
    }

    #[test]
    fn tags_round_trip(t in tags()) {
        match encode_tags(&t) {
            Ok(meta) => {
                prop_assert!(meta.len() <= 512);
                prop_assert_eq!(decode_tags(&meta), Ok(t.clone()));
                prop_assert_eq!(decode_tags_lossy(&meta), (t, None));
            }
            Err(TagsError::TooLarge { len, .. }) => prop_assert!(len > 512),
        }
    }

    #[test]
    fn random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(m) = SerfMessage::decode(&data) {
            // Whatever decodes re-encodes to something that decodes to the same value.
            prop_assert_eq!(SerfMessage::decode(&m.to_bytes()), Ok(m));
        }
        let _ = decode_tags(&data);
        let _ = decode_tags_lossy(&data);
        let _ = Filter::decode(&data);
    }

    #[test]
    fn typed_bytes_never_panic(ty in 0u8..10, data in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut b = vec![ty];
        b.extend_from_slice(&data);
        if let Ok(m) = SerfMessage::decode(&b) {
            prop_assert_eq!(SerfMessage::decode(&m.to_bytes()), Ok(m));
        }
    }

    #[test]
    fn truncations_never_panic(m in message(), cut in any::<prop::sample::Index>()) {
        let bytes = m.to_bytes();
        let cut = cut.index(bytes.len());
        let _ = SerfMessage::decode(&bytes[..cut]);
    }
}
