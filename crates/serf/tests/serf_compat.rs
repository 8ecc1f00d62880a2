//! Bytes captured from real Serf 0.9.4 agents (protocol notes §13) fed to a rumor Serf node:
//! each must be understood, and answered or gossiped on as a Serf agent would.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bytes::Bytes;
use rumor_serf::{Event, Instant, MemberStatus, Serf, SerfConfig, StreamStep, Transmit};
use rumor_wire::serf::{SerfMessage, EVENT_BUFFER_SIZE};
use rumor_wire::{decode_stream, Message, StreamOptions};

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

fn serf() -> Serf {
    let me: SocketAddr = "127.0.1.9:7946".parse().unwrap();
    let swim = rumor_swim::Config::lan("r9", me);
    let tags = BTreeMap::from([("role".to_string(), "web".to_string())]);
    let mut s = Serf::new(SerfConfig::new(swim, tags), 9, Instant::ZERO).unwrap();
    while s.poll_event().is_some() {}
    s
}

fn from() -> SocketAddr {
    "127.0.1.1:7946".parse().unwrap()
}

fn events(s: &mut Serf) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

const V5_JOIN: &str = "0c3f8b6d17080182a54c54696d6501a44e6f6465a26e32";
const V6_ALIVE: &str = "0486a441646472a47f000103ab496e6361726e6174696f6e01a44d657461b1ff82a4726f6c65a3776562a3696478a133a44e6f6465a26e33a4506f7274cd1f0aa356736ea6010502020505";
const V7_EVENT: &str =
    "0ca639cc5a080384a24343c3a54c54696d6501a44e616d65a66465706c6f79a75061796c6f6164a676312e322e33";
const V8_QUERY: &str = "0c0951fdb508048ba441646472a47f000101a746696c74657273c0a5466c61677301a24944ce2a69d1b1a54c54696d6501a44e616d65a6757074696d65a75061796c6f6164a97061796c6f61642d78a4506f7274cd1f0aab52656c6179466163746f7200aa536f757263654e6f6465a26e31a754696d656f7574cebebc2000";
const V9_ACK: &str =
    "080585a5466c61677301a446726f6da26e31a24944ce2a69d1b1a54c54696d6501a75061796c6f6164c0";
const V13_RELAY: &str = "080982a8446573744164647283a24950a47f000101a4506f7274cd1f0aa45a6f6e65a0a8446573744e616d65a26e310585a5466c61677300a446726f6da26e33a24944ce5a0399f3a54c54696d6503a75061796c6f6164ae7265706c792d66726f6d2d6e330a";

#[test]
fn user_event_from_a_serf_agent_is_delivered_once_and_gossiped_on() {
    let mut s = serf();
    s.handle_packet(Instant::ZERO, from(), &unhex(V7_EVENT));
    s.handle_packet(Instant::ZERO, from(), &unhex(V7_EVENT));
    let users: Vec<_> = events(&mut s)
        .into_iter()
        .filter(|e| matches!(e, Event::User { .. }))
        .collect();
    assert_eq!(
        users,
        vec![Event::User {
            name: "deploy".into(),
            payload: Bytes::from_static(b"v1.2.3"),
            ltime: 1,
            coalesce: true
        }]
    );
    assert_eq!(s.event_clock(), 2);
    assert_eq!(s.stats().event_queue, 1);
}

#[test]
fn join_intent_for_an_unknown_node_is_buffered_then_applied() {
    let mut s = serf();
    s.handle_packet(Instant::ZERO, from(), &unhex(V5_JOIN));
    assert_eq!(s.member_clock(), 2, "witnessed LTime 1");
    let st = s.stats();
    assert_eq!((st.intents_buffered, st.intent_queue), (1, 1));
    // n2's alive arrives later (V6 is n3's; rewrite the name to n2 and the address).
    let alive = unhex(
        &V6_ALIVE
            .replace("a26e33a4506f7274", "a26e32a4506f7274")
            .replace("7f000103", "7f000102"),
    );
    s.handle_packet(Instant::ZERO, from(), &alive);
    let n2 = s.member("n2").unwrap();
    assert_eq!(n2.status, MemberStatus::Alive);
    assert_eq!(n2.tags.get("role").map(String::as_str), Some("web"));
}

#[test]
fn alive_from_a_serf_agent_brings_its_tags_and_versions() {
    let mut s = serf();
    s.handle_packet(Instant::ZERO, from(), &unhex(V6_ALIVE));
    let n3 = s.member("n3").unwrap();
    assert_eq!(n3.addr, "127.0.1.3:7946".parse::<SocketAddr>().unwrap());
    assert_eq!(
        n3.tags,
        BTreeMap::from([("role".into(), "web".into()), ("idx".into(), "3".into())])
    );
    assert_eq!((n3.protocol, n3.delegate), ([1, 5, 2], [2, 5, 5]));
    assert!(events(&mut s)
        .iter()
        .any(|e| matches!(e, Event::MemberJoin(m) if &*m.name == "n3")));
}

#[test]
fn queries_are_deduped_delivered_once_acked_and_gossiped_on() {
    let mut s = serf();
    s.handle_packet(Instant::ZERO, from(), &unhex(V8_QUERY));
    s.handle_packet(Instant::ZERO, from(), &unhex(V8_QUERY));
    // An ack to a query that is not ours: dropped.
    s.handle_packet(Instant::ZERO, from(), &unhex(V9_ACK));
    assert_eq!(s.query_clock(), 2);
    assert_eq!(s.stats().query_queue, 1);
    let evs = events(&mut s);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert!(
        matches!(&evs[0], Event::Query { ltime: 1, id: 711_578_033, name, .. } if name == "uptime")
    );
}

#[test]
fn relay_is_forwarded_unchanged() {
    let mut s = serf();
    while s.poll_transmit().is_some() {}
    s.handle_packet(Instant::ZERO, from(), &unhex(V13_RELAY));
    let t = s.poll_transmit().unwrap();
    let Transmit::Packet { to, data } = t else {
        panic!("{t:?}")
    };
    assert_eq!(to, "127.0.1.1:7946".parse::<SocketAddr>().unwrap());
    let inner = &unhex(V13_RELAY)[1..];
    let SerfMessage::Relay(relay) = SerfMessage::decode(inner).unwrap() else {
        panic!()
    };
    let mut expected = vec![8u8];
    expected.extend_from_slice(&relay.message);
    assert_eq!(
        data, expected,
        "a user message with the inner bytes, no CRC (destination unknown)"
    );
}

/// V18: the decompressed join push-pull n3 sent to n1: header, n3's node state, and Serf's
/// user state (rebuilt as in rumor-wire's golden test).
fn v18_push_pull() -> Vec<u8> {
    let mut b = unhex(
        "0683a44a6f696ec3a54e6f64657301ac5573657253746174654c656ecd024a87a441646472a47f000103ab496e6361726e6174696f6e01a44d657461b1ff82a4726f6c65a3776562a3696478a133a44e616d65a26e33a4506f7274cd1f0aa5537461746500a356736ea6010502020505",
    );
    b.extend_from_slice(&unhex("0286aa4576656e744c54696d6501a64576656e7473dc0200"));
    b.extend_from_slice(&[0xc0; 512]);
    b.extend_from_slice(&unhex(
        "a54c54696d6501ab4c6566744d656d6265727390aa51756572794c54696d6501ac5374617475734c54696d657381a26e3300",
    ));
    b
}

#[test]
fn a_serf_agents_join_push_pull_is_accepted_and_answered() {
    let mut s = serf();
    let pp = v18_push_pull();
    assert_eq!(
        pp.len(),
        698,
        "the captured stream decompressed to 698 bytes"
    );
    let step = s.handle_stream(Instant::ZERO, "127.0.0.1:40000".parse().unwrap(), &pp);
    let StreamStep::Reply(reply) = step else {
        panic!("{step:?}")
    };
    let (msg, _) = decode_stream(&reply, &StreamOptions::default(), true)
        .unwrap()
        .unwrap();
    let Message::PushPull(ours) = msg else {
        panic!("{msg:?}")
    };
    assert_eq!(ours.nodes.len(), 1);
    assert_eq!(
        ours.nodes[0].vsn.as_deref(),
        Some(&[1u8, 5, 2, 2, 5, 5][..])
    );
    assert_eq!(
        ours.nodes[0].meta.as_deref(),
        Some(&[0xffu8, 0x81, 0xa4, b'r', b'o', b'l', b'e', 0xa3, b'w', b'e', b'b'][..])
    );
    let SerfMessage::PushPull(state) = SerfMessage::decode(&ours.user_state).unwrap() else {
        panic!()
    };
    assert_eq!(state.events.len(), EVENT_BUFFER_SIZE);
    assert_eq!(
        state
            .status_ltimes
            .keys()
            .map(|k| k.to_string())
            .collect::<Vec<_>>(),
        ["r9"]
    );
    assert!(state.left_members.is_empty());
    // n3 is in, with its tags, and its status time was taken from the push-pull.
    let n3 = s.member("n3").unwrap();
    assert_eq!(n3.status, MemberStatus::Alive);
    assert_eq!(n3.tags.get("idx").map(String::as_str), Some("3"));
    assert_eq!(s.member_clock(), 1, "witnessed LTime - 1 = 0: unchanged");
}
