//! Queries end to end on the shared virtual network ([`rumor_swim::testing::Net`]): answers
//! and acks from every member exactly once, filters, relays around a cut link, a whole key
//! rotation on an encrypted cluster, and the name-conflict vote, all through real bytes.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use rumor_serf::{
    Event, Instant, KeyOp, KeyTally, MemberStatus, QueryHandle, QueryParams, Serf, SerfConfig,
};
use rumor_swim::testing::{addr, Net as TestNet};
use rumor_wire::{Key, Keyring};

type Net = TestNet<Serf>;

fn tags(i: usize) -> BTreeMap<String, String> {
    [("role", "web".to_string()), ("idx", i.to_string())]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

fn config(i: usize) -> SerfConfig {
    let swim = rumor_swim::Config::lan(format!("n{i}"), addr(i));
    SerfConfig::new(swim, tags(i))
}

fn cluster(n: usize, config: impl Fn(usize) -> SerfConfig) -> Net {
    let nodes = (0..n)
        .map(|i| Serf::new(config(i), 2000 + i as u64, Instant::ZERO).unwrap())
        .collect();
    let mut net = TestNet::new(nodes, (0..n).map(addr).collect());
    net.join_all_to(0);
    net.run_for(Duration::from_secs(10));
    for i in 0..n {
        assert_eq!(net.nodes[i].num_members(), n, "node {i} converged");
    }
    net
}

/// Runs until `until`, answering every [`Event::Query`] as it is delivered with
/// `answer(node)` (when `Some`). Returns the number of queries answered.
fn run_answering(net: &mut Net, until: Instant, answer: impl Fn(usize) -> Option<Bytes>) -> usize {
    let mut seen = net.events.len();
    let mut answered = 0;
    for _ in 0..1_000_000 {
        let queries: Vec<(usize, u64, u32)> = net.events[seen..]
            .iter()
            .filter_map(|(i, _, e)| match e {
                Event::Query { ltime, id, .. } => Some((*i, *ltime, *id)),
                _ => None,
            })
            .collect();
        seen = net.events.len();
        for (i, ltime, id) in queries {
            if let Some(p) = answer(i) {
                let now = net.now;
                net.nodes[i].respond(now, ltime, id, p).unwrap();
                answered += 1;
            }
        }
        net.flush();
        if net.events.len() == seen && !net.step(until) {
            net.now = net.now.max(until);
            return answered;
        }
    }
    panic!("run_answering did not end");
}

fn acks(net: &Net, i: usize, h: &QueryHandle) -> Vec<String> {
    net.events_of(i)
        .filter_map(|e| match e {
            Event::QueryAck { ltime, id, from } if *ltime == h.ltime && *id == h.id => {
                Some(from.to_string())
            }
            _ => None,
        })
        .collect()
}

fn responses(net: &Net, i: usize, h: &QueryHandle) -> Vec<(String, Bytes)> {
    net.events_of(i)
        .filter_map(|e| match e {
            Event::QueryResponse {
                ltime,
                id,
                from,
                payload,
            } if *ltime == h.ltime && *id == h.id => Some((from.to_string(), payload.clone())),
            _ => None,
        })
        .collect()
}

fn delivered(net: &Net, i: usize, name: &str) -> usize {
    net.count(
        i,
        |e| matches!(e, Event::Query { name: n, .. } if n == name),
    )
}

fn sorted(v: Vec<String>) -> Vec<String> {
    let mut v = v;
    v.sort();
    v
}

fn names(ids: &[usize]) -> Vec<String> {
    sorted(ids.iter().map(|i| format!("n{i}")).collect())
}

#[test]
fn a_query_is_acked_and_answered_by_every_member_exactly_once() {
    let mut net = cluster(5, config);
    let t0 = net.now;
    let params = QueryParams {
        request_ack: true,
        relay_factor: 2,
        ..QueryParams::default()
    };
    let h = net.nodes[0]
        .query(t0, "uptime", Bytes::from_static(b"ask"), params)
        .unwrap();
    // Default timeout: 200 ms gossip x 16 x ceil(log10(5 + 1)) = 3.2 s.
    assert_eq!(h.timeout, Duration::from_millis(3200));
    assert_eq!(h.deadline, t0 + Duration::from_millis(3200));
    assert_eq!(h.id >> 31, 0, "a non-negative int31");
    let answered = run_answering(&mut net, t0 + Duration::from_secs(5), |i| {
        Some(Bytes::from(format!("up-{i}")))
    });
    assert_eq!(
        answered, 5,
        "every member, the sender included, got it once"
    );
    for i in 0..5 {
        assert_eq!(delivered(&net, i, "uptime"), 1, "node {i}");
        let deadline = net
            .events_of(i)
            .find_map(|e| match e {
                Event::Query {
                    deadline,
                    payload,
                    source,
                    ..
                } => {
                    assert_eq!(&payload[..], b"ask");
                    assert_eq!(&**source, "n0");
                    Some(*deadline)
                }
                _ => None,
            })
            .unwrap();
        // Delivered within a second of sending; deadline = arrival + 3.2 s.
        assert!(deadline >= t0 + Duration::from_millis(3200));
        assert!(deadline <= t0 + Duration::from_millis(4200));
    }
    assert_eq!(sorted(acks(&net, 0, &h)), names(&[0, 1, 2, 3, 4]));
    let resp = responses(&net, 0, &h);
    assert_eq!(
        sorted(resp.iter().map(|(f, _)| f.clone()).collect()),
        names(&[0, 1, 2, 3, 4]),
        "one response per member although each was also relayed twice"
    );
    for (from, p) in &resp {
        assert_eq!(&p[..], format!("up-{}", &from[1..]).as_bytes());
    }
    let closed: Vec<_> = net
        .events
        .iter()
        .filter(|(_, _, e)| matches!(e, Event::QueryClosed { .. }))
        .collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].0, 0);
    assert_eq!(closed[0].1, h.deadline, "closed exactly at the deadline");
    assert_eq!(
        closed[0].2,
        Event::QueryClosed {
            ltime: h.ltime,
            id: h.id
        }
    );
    // Nobody else saw acks or responses.
    for i in 1..5 {
        assert_eq!(acks(&net, i, &h).len() + responses(&net, i, &h).len(), 0);
    }
    // Every query clock witnessed the query.
    for i in 0..5 {
        assert!(net.nodes[i].query_clock() > h.ltime, "node {i}");
    }
}

#[test]
fn late_answers_and_second_answers_are_refused() {
    let mut net = cluster(3, config);
    let t0 = net.now;
    let params = QueryParams {
        timeout: Some(Duration::from_secs(1)),
        ..QueryParams::default()
    };
    let h = net.nodes[0].query(t0, "q", Bytes::new(), params).unwrap();
    net.run_for(Duration::from_millis(500));
    let (ltime, id, deadline) = net
        .events_of(2)
        .find_map(|e| match e {
            Event::Query {
                ltime,
                id,
                deadline,
                ..
            } => Some((*ltime, *id, *deadline)),
            _ => None,
        })
        .unwrap();
    assert_eq!((ltime, id), (h.ltime, h.id));
    let now = net.now;
    net.nodes[2]
        .respond(now, ltime, id, Bytes::from_static(b"one"))
        .unwrap();
    assert_eq!(
        net.nodes[2].respond(now, ltime, id, Bytes::from_static(b"two")),
        Err(rumor_serf::SerfError::AlreadyResponded)
    );
    // Node 1 answers after its deadline (the driver did not run its timers yet).
    let late = deadline + Duration::from_millis(1);
    assert_eq!(
        net.nodes[1].respond(late, ltime, id, Bytes::from_static(b"late")),
        Err(rumor_serf::SerfError::PastDeadline)
    );
    net.run_for(Duration::from_secs(2));
    // Once its deadline timer ran, the query is forgotten.
    let now = net.now;
    assert_eq!(
        net.nodes[1].respond(now, ltime, id, Bytes::from_static(b"late")),
        Err(rumor_serf::SerfError::UnknownQuery { ltime, id })
    );
    let resp = responses(&net, 0, &h);
    assert_eq!(resp, vec![("n2".to_string(), Bytes::from_static(b"one"))]);
    assert!(acks(&net, 0, &h).is_empty(), "no ack asked, none sent");
}

#[test]
fn filters_restrict_who_answers() {
    let mut net = cluster(5, config);
    let cases: Vec<(QueryParams, Vec<usize>)> = vec![
        (
            QueryParams {
                filter_nodes: vec!["n1".into(), "n3".into()],
                ..QueryParams::default()
            },
            vec![1, 3],
        ),
        (
            QueryParams {
                filter_tags: vec![("idx".into(), "[12]".into())],
                ..QueryParams::default()
            },
            vec![1, 2],
        ),
        (
            QueryParams {
                filter_nodes: vec!["n1".into(), "n3".into(), "n4".into()],
                filter_tags: vec![
                    ("idx".into(), "^[0-3]$".into()),
                    ("role".into(), "we".into()),
                ],
                ..QueryParams::default()
            },
            vec![1, 3],
        ),
        (
            QueryParams {
                filter_tags: vec![("missing".into(), "^$".into())],
                ..QueryParams::default()
            },
            vec![0, 1, 2, 3, 4],
        ),
        (
            QueryParams {
                filter_tags: vec![("role".into(), "db".into())],
                ..QueryParams::default()
            },
            vec![],
        ),
    ];
    for (k, (mut params, who)) in cases.into_iter().enumerate() {
        params.request_ack = true;
        let name = format!("f{k}");
        let t0 = net.now;
        let h = net.nodes[0].query(t0, &name, Bytes::new(), params).unwrap();
        run_answering(&mut net, t0 + Duration::from_secs(4), |i| {
            Some(Bytes::from(format!("{i}")))
        });
        for i in 0..5 {
            let want = usize::from(who.contains(&i));
            assert_eq!(delivered(&net, i, &name), want, "case {k} node {i}");
        }
        assert_eq!(sorted(acks(&net, 0, &h)), names(&who), "case {k}");
        let from: Vec<String> = responses(&net, 0, &h).into_iter().map(|r| r.0).collect();
        assert_eq!(sorted(from), names(&who), "case {k}");
    }
}

#[test]
fn relays_carry_answers_around_a_cut_link() {
    for relay_factor in [0u8, 3] {
        let mut net = cluster(5, config);
        // Node 4 cannot reach node 0 directly (the other way works: it hears the query).
        net.cut.insert((4, 0));
        let t0 = net.now;
        let params = QueryParams {
            request_ack: true,
            relay_factor,
            ..QueryParams::default()
        };
        let h = net.nodes[0]
            .query(t0, "relayed", Bytes::new(), params)
            .unwrap();
        run_answering(&mut net, t0 + Duration::from_secs(4), |_| {
            Some(Bytes::from_static(b"ok"))
        });
        let from: Vec<String> = responses(&net, 0, &h).into_iter().map(|r| r.0).collect();
        let acked = sorted(acks(&net, 0, &h));
        if relay_factor == 0 {
            assert_eq!(sorted(from), names(&[0, 1, 2, 3]), "n4's answer is lost");
            assert_eq!(acked, names(&[0, 1, 2, 3]));
        } else {
            assert_eq!(sorted(from), names(&[0, 1, 2, 3, 4]), "relayed");
            assert_eq!(acked, names(&[0, 1, 2, 3, 4]));
        }
    }
}

#[test]
fn internal_ping_is_acked_and_never_delivered() {
    let mut net = cluster(4, config);
    let t0 = net.now;
    let params = QueryParams {
        request_ack: true,
        ..QueryParams::default()
    };
    let h = net.nodes[1]
        .query(t0, "_serf_ping", Bytes::new(), params)
        .unwrap();
    run_answering(&mut net, t0 + Duration::from_secs(4), |_| None);
    assert_eq!(sorted(acks(&net, 1, &h)), names(&[0, 1, 2, 3]));
    assert!(responses(&net, 1, &h).is_empty(), "ping has no response");
    for i in 0..4 {
        assert_eq!(
            net.count(i, |e| matches!(e, Event::Query { .. })),
            0,
            "node {i}"
        );
    }
}

fn key(b: u8, len: usize) -> Key {
    Key::new(&vec![b; len]).unwrap()
}

fn b64(k: &Key) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(k.as_bytes())
}

/// Runs a key query from `from` to its close; the tally of its answers.
fn key_query(net: &mut Net, from: usize, op: KeyOp, k: Option<Key>) -> rumor_serf::KeyReport {
    let t0 = net.now;
    let n = net.nodes[from].num_members();
    let h = net.nodes[from].key_query(t0, op, k).unwrap();
    run_answering(net, h.deadline + Duration::from_millis(1), |_| None);
    let mut tally = KeyTally::new(n);
    for (f, p) in responses(net, from, &h) {
        tally.add(&f, &p);
    }
    assert!(tally.complete(), "{op:?}: {:?}", tally.report());
    tally.report()
}

fn keys_of(net: &Net, i: usize) -> Vec<Key> {
    net.nodes[i].keyring().unwrap().keys().to_vec()
}

#[test]
fn a_key_rotation_completes_on_every_member_with_no_member_failed() {
    let k1 = key(1, 32);
    let k2 = key(2, 16);
    let enc = |i: usize| {
        let mut c = config(i);
        c.swim.keyring = Some(Keyring::new(key(1, 32)));
        c
    };
    let mut net = cluster(5, enc);

    let r = key_query(&mut net, 0, KeyOp::Install, Some(k2.clone()));
    assert_eq!((r.num_nodes, r.num_resp, r.num_err), (5, 5, 0), "{r:?}");
    assert_eq!(r.error(), None);
    assert_eq!(r.primary_keys, BTreeMap::from([(String::new(), 5)]));
    for i in 0..5 {
        assert_eq!(keys_of(&net, i), vec![k1.clone(), k2.clone()], "node {i}");
    }

    let r = key_query(&mut net, 2, KeyOp::List, None);
    assert_eq!((r.num_resp, r.num_err), (5, 0));
    assert_eq!(r.keys, BTreeMap::from([(b64(&k1), 5), (b64(&k2), 5)]));
    assert_eq!(r.primary_keys, BTreeMap::from([(b64(&k1), 5)]));

    let r = key_query(&mut net, 0, KeyOp::Use, Some(k2.clone()));
    assert_eq!((r.num_resp, r.num_err), (5, 0), "{r:?}");
    for i in 0..5 {
        assert_eq!(keys_of(&net, i), vec![k2.clone(), k1.clone()], "node {i}");
    }

    // The primary cannot go: every member refuses, with Serf's message.
    let r = key_query(&mut net, 3, KeyOp::Remove, Some(k2.clone()));
    assert_eq!((r.num_resp, r.num_err), (5, 5));
    assert_eq!(r.error().as_deref(), Some("5/5 nodes reported failure"));
    assert!(r
        .messages
        .values()
        .all(|m| m == "Removing the primary key is not allowed"));

    let r = key_query(&mut net, 0, KeyOp::Remove, Some(k1.clone()));
    assert_eq!((r.num_resp, r.num_err), (5, 0), "{r:?}");
    let r = key_query(&mut net, 4, KeyOp::List, None);
    assert_eq!(r.keys, BTreeMap::from([(b64(&k2), 5)]));
    assert_eq!(r.primary_keys, BTreeMap::from([(b64(&k2), 5)]));
    for i in 0..5 {
        assert_eq!(keys_of(&net, i), vec![k2.clone()], "node {i}");
        // install, use, remove: three changes, each reported once.
        let changes: Vec<Vec<Key>> = net
            .events_of(i)
            .filter_map(|e| match e {
                Event::KeyringChanged { keys } => Some(keys.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            changes,
            vec![
                vec![k1.clone(), k2.clone()],
                vec![k2.clone(), k1.clone()],
                vec![k2.clone()]
            ],
            "node {i}"
        );
    }
    // The cluster runs on the new key alone, nobody failed or suspected along the way.
    net.run_for(Duration::from_secs(30));
    for i in 0..5 {
        assert_eq!(net.count(i, |e| matches!(e, Event::MemberFailed(_))), 0);
        assert!(net.nodes[i]
            .members()
            .iter()
            .all(|m| m.status == MemberStatus::Alive));
        assert_eq!(net.nodes[i].swim().stats().conflicts, 0);
    }
}

#[test]
fn key_queries_without_encryption_fail_with_serfs_message() {
    let mut net = cluster(3, config);
    let r = key_query(&mut net, 0, KeyOp::Install, Some(key(7, 24)));
    assert_eq!((r.num_resp, r.num_err), (3, 3));
    assert!(r
        .messages
        .values()
        .all(|m| m == "No keyring to modify (encryption not enabled)"));
    let r = key_query(&mut net, 0, KeyOp::List, None);
    assert_eq!((r.num_resp, r.num_err), (3, 3));
    assert!(r
        .messages
        .values()
        .all(|m| m == "Keyring is empty (encryption not enabled)"));
    assert!(net.nodes[0].keyring().is_none());
    assert_eq!(
        net.nodes[0].key_query(net.now, KeyOp::Use, None),
        Err(rumor_serf::SerfError::MissingKey("use-key"))
    );
}

/// An alive message for `name` at `at`, as a memberlist datagram.
fn alive_packet(name: &str, at: std::net::SocketAddr, incarnation: u32) -> Vec<u8> {
    let m = rumor_wire::Message::Alive(rumor_wire::Alive {
        incarnation,
        node: name.into(),
        addr: at.ip(),
        port: at.port(),
        meta: Some(Bytes::from_static(b"\xff\x80")),
        vsn: Some(Bytes::from_static(&[1, 5, 2, 2, 5, 5])),
    });
    m.to_bytes()
}

fn conflict_lost(net: &Net, i: usize) -> Vec<(usize, usize)> {
    net.events_of(i)
        .filter_map(|e| match e {
            Event::NameConflictLost {
                matching,
                responses,
            } => Some((*matching, *responses)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_name_conflict_vote_decides_as_serf_does() {
    // Nodes 0..4 are n0..n3, and node 4 is a second "n1" joining late.
    let mut net = cluster(4, config);
    let dup = {
        let swim = rumor_swim::Config::lan("n1", addr(4));
        Serf::new(SerfConfig::new(swim, tags(9)), 77, net.now).unwrap()
    };
    net.nodes.push(dup);
    net.addrs.push(addr(4));
    let t0 = net.now;
    net.nodes[4].join(t0, &[addr(0)], true);
    net.flush();
    net.run_for(Duration::from_secs(8));
    // The newcomer hears of the original n1 and asks; n0, n2 and n3 answer with the
    // original's address (the original never answers for its own name): 0 of 3.
    assert_eq!(conflict_lost(&net, 4), vec![(0, 3)]);
    for i in 0..4 {
        assert!(conflict_lost(&net, i).is_empty(), "node {i}");
        assert_eq!(net.nodes[i].member("n1").unwrap().addr, addr(1), "node {i}");
    }

    // The original, told of an impostor, asks too and wins 3 of 3 (no event).
    let before = net.events.len();
    let now = net.now;
    let q0 = net.nodes[1].query_clock();
    let pkt = alive_packet("n1", addr(7), 1);
    net.nodes[1].handle_packet(now, addr(2), &pkt);
    net.flush();
    assert_eq!(net.nodes[1].swim().stats().conflicts, 1);
    assert_eq!(net.nodes[1].query_clock(), q0 + 1, "the vote was sent");
    net.run_for(Duration::from_secs(5));
    assert!(conflict_lost(&net, 1).is_empty());
    let closed_votes = net.events[before..]
        .iter()
        .filter(|(_, _, e)| matches!(e, Event::QueryClosed { .. } | Event::QueryResponse { .. }))
        .count();
    assert_eq!(
        closed_votes, 0,
        "the vote's answers are the core's own, never events"
    );
}

#[test]
fn disabled_name_resolution_runs_no_vote() {
    let mut net = cluster(3, |i| {
        let mut c = config(i);
        c.disable_name_resolution = true;
        c
    });
    let q0 = net.nodes[1].query_clock();
    let now = net.now;
    let pkt = alive_packet("n1", addr(7), 1);
    net.nodes[1].handle_packet(now, addr(2), &pkt);
    net.flush();
    net.run_for(Duration::from_secs(5));
    assert_eq!(net.nodes[1].swim().stats().conflicts, 1);
    assert_eq!(net.nodes[1].query_clock(), q0, "no query sent");
    assert!(conflict_lost(&net, 1).is_empty());
}

#[test]
fn same_seed_same_queries() {
    let run = || {
        let mut net = cluster(4, config);
        let t0 = net.now;
        let params = QueryParams {
            request_ack: true,
            relay_factor: 2,
            ..QueryParams::default()
        };
        let h = net.nodes[2]
            .query(t0, "q", Bytes::from_static(b"p"), params)
            .unwrap();
        run_answering(&mut net, t0 + Duration::from_secs(4), |i| {
            Some(Bytes::from(format!("{i}")))
        });
        let log: Vec<String> = net.events.iter().map(|e| format!("{e:?}")).collect();
        (h, log)
    };
    let (a, la) = run();
    let (b, lb) = run();
    assert_eq!(a, b);
    assert_eq!(la, lb);
}
