//! Small clusters on a virtual network, stepping a virtual clock to the next deadline
//! (the quinn-proto `Pair` idea, for N nodes). Each test checks one behaviour of the core.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use rumor_swim::{Config, Delegate, Event, Instant, Node, Peer, State, StreamStep, Transmit, Veto};

/// A delegate that records what it saw and can veto names with a prefix.
#[derive(Default)]
struct Probe {
    veto_prefix: Option<String>,
    user_msgs: Vec<Bytes>,
    rtts: usize,
}

impl Delegate for Probe {
    fn notify_msg(&mut self, _now: Instant, msg: Bytes) {
        self.user_msgs.push(msg);
    }
    fn check_alive(&mut self, peer: &Peer) -> Result<(), Veto> {
        match &self.veto_prefix {
            Some(p) if peer.name.starts_with(p.as_str()) => {
                Err(Veto(format!("{} is foreign", peer.name)))
            }
            _ => Ok(()),
        }
    }
    fn check_merge(&mut self, peers: &[Peer], _join: bool) -> Result<(), Veto> {
        for p in peers {
            self.check_alive(p)?;
        }
        Ok(())
    }
    fn notify_ping_complete(&mut self, _: Instant, _: &rumor_swim::Member, _: Duration, _: &[u8]) {
        self.rtts += 1;
    }
}

struct Net {
    now: Instant,
    nodes: Vec<Node<Probe>>,
    addrs: Vec<SocketAddr>,
    /// Nodes that do not answer anything (crashed).
    down: BTreeSet<usize>,
    /// Nodes whose UDP is dropped (TCP still works).
    udp_deaf: BTreeSet<usize>,
    events: Vec<(usize, Event)>,
    latency: Duration,
    /// Packets in flight: (deliver at, seq, to index, from addr, data).
    inflight: BTreeMap<(Instant, u64), (usize, SocketAddr, Vec<u8>)>,
    seq: u64,
}

impl Net {
    fn new(n: usize, profile: fn(&str, SocketAddr) -> Config) -> Net {
        let mut nodes = Vec::new();
        let mut addrs = Vec::new();
        for i in 0..n {
            let addr: SocketAddr = format!("10.0.0.{}:7946", i + 1).parse().unwrap();
            let cfg = profile(&format!("n{i}"), addr);
            nodes.push(
                Node::new(
                    cfg,
                    Probe::default(),
                    Bytes::new(),
                    1000 + i as u64,
                    Instant::ZERO,
                )
                .unwrap(),
            );
            addrs.push(addr);
        }
        Net {
            now: Instant::ZERO,
            nodes,
            addrs,
            down: BTreeSet::new(),
            udp_deaf: BTreeSet::new(),
            events: Vec::new(),
            latency: Duration::from_millis(1),
            inflight: BTreeMap::new(),
            seq: 0,
        }
    }

    fn lan(n: usize) -> Net {
        Net::new(n, |name, addr| Config::lan(name, addr))
    }

    fn index(&self, addr: SocketAddr) -> Option<usize> {
        self.addrs.iter().position(|a| *a == addr)
    }

    /// Move every node's output onto the network.
    fn flush(&mut self) {
        for i in 0..self.nodes.len() {
            while let Some(t) = self.nodes[i].poll_transmit() {
                if self.down.contains(&i) {
                    continue;
                }
                match t {
                    Transmit::Packet { to, data } => {
                        let Some(j) = self.index(to) else { continue };
                        self.seq += 1;
                        self.inflight.insert(
                            (self.now + self.latency, self.seq),
                            (j, self.addrs[i], data),
                        );
                    }
                    Transmit::Stream {
                        id,
                        to,
                        data,
                        expect_reply,
                        ..
                    } => {
                        // Streams are delivered at once and synchronously.
                        let j = self.index(to);
                        let reply = match j {
                            Some(j) if !self.down.contains(&j) => {
                                let from = self.addrs[i];
                                self.nodes[j].handle_stream(self.now, from, &data)
                            }
                            _ => {
                                self.nodes[i].stream_failed(self.now, id, "connection refused");
                                continue;
                            }
                        };
                        if expect_reply {
                            match reply {
                                StreamStep::Reply(bytes) => {
                                    let step =
                                        self.nodes[i].handle_stream_reply(self.now, id, &bytes);
                                    assert_eq!(step, StreamStep::Close);
                                }
                                _ => self.nodes[i].stream_failed(self.now, id, "closed"),
                            }
                        }
                    }
                }
            }
        }
        for i in 0..self.nodes.len() {
            while let Some(ev) = self.nodes[i].poll_event() {
                self.events.push((i, ev));
            }
        }
    }

    /// Advance to `until`, delivering packets and firing timers in time order.
    fn run_until(&mut self, until: Instant) {
        for _ in 0..10_000_000 {
            self.flush();
            let next_packet = self.inflight.keys().next().map(|k| k.0);
            let next_timer = (0..self.nodes.len())
                .filter(|i| !self.down.contains(i))
                .filter_map(|i| self.nodes[i].poll_timeout())
                .min();
            let next = match (next_packet, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or(until),
            };
            if next > until {
                self.now = until;
                return;
            }
            self.now = next.max(self.now);
            if let Some((&key, _)) = self.inflight.iter().next() {
                if key.0 <= self.now {
                    let (j, from, data) = self.inflight.remove(&key).unwrap();
                    if !self.down.contains(&j) && !self.udp_deaf.contains(&j) {
                        self.nodes[j].handle_packet(self.now, from, &data);
                    }
                    continue;
                }
            }
            for i in 0..self.nodes.len() {
                if self.down.contains(&i) {
                    continue;
                }
                if self.nodes[i].poll_timeout().is_some_and(|t| t <= self.now) {
                    self.nodes[i].handle_timeout(self.now);
                }
            }
        }
        panic!("run_until did not finish");
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    fn join_all_to_first(&mut self) {
        let first = self.addrs[0];
        for i in 1..self.nodes.len() {
            self.nodes[i].join(self.now, &[first]);
        }
        self.flush();
    }

    fn state(&self, observer: usize, of: usize) -> Option<State> {
        self.nodes[observer]
            .member(&format!("n{of}"))
            .map(|m| m.state)
    }

    fn all_see(&self, of: usize, state: State) -> bool {
        (0..self.nodes.len())
            .filter(|i| !self.down.contains(i) && *i != of)
            .all(|i| self.state(i, of) == Some(state))
    }
}

#[test]
fn join_converges() {
    let mut net = Net::lan(8);
    net.join_all_to_first();
    let joined = net
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::JoinFinished { joined: 1, .. }))
        .count();
    assert_eq!(joined, 7);
    net.run_for(Duration::from_secs(10));
    for i in 0..8 {
        assert!(net.all_see(i, State::Alive), "not everyone sees n{i} alive");
    }
    // Probes were acked directly: RTTs were reported.
    assert!(net.nodes.iter().all(|n| n.delegate().rtts > 0));
}

#[test]
fn crash_is_detected_by_everyone() {
    let mut net = Net::lan(6);
    net.join_all_to_first();
    net.run_for(Duration::from_secs(5));
    net.down.insert(3);
    // Suspicion: min 4 s (n=6) ... max 24 s; plus probing and dissemination.
    net.run_for(Duration::from_secs(40));
    // Every live member reported it failed (it may be reaped from the tables since).
    for i in [0, 1, 2, 4, 5] {
        assert!(
            net.events.iter().any(|(o, e)| *o == i
                && matches!(e, Event::Leave(m) if &*m.name == "n3" && m.state == State::Dead)),
            "n{i} never saw n3 fail"
        );
        assert!(matches!(net.state(i, 3), Some(State::Dead) | None));
    }
    for i in [0, 1, 2, 4, 5] {
        assert!(net.all_see(i, State::Alive));
    }
    assert!(net
        .events
        .iter()
        .any(|(_, e)| matches!(e, Event::Leave(m) if &*m.name == "n3" && m.state == State::Dead)));
}

#[test]
fn suspected_member_refutes() {
    let mut net = Net::lan(4);
    net.join_all_to_first();
    net.run_for(Duration::from_secs(3));
    // n2 becomes deaf long enough to be suspected, then recovers before suspicion expires.
    net.udp_deaf.insert(2);
    let mut b = Vec::new();
    rumor_wire::Message::Suspect(rumor_wire::Suspect {
        incarnation: net.nodes[2].incarnation(),
        node: "n2".into(),
        from: "n1".into(),
    })
    .encode(&mut b);
    let from = net.addrs[1];
    net.nodes[0].handle_packet(net.now, from, &b);
    assert_eq!(net.state(0, 2), Some(State::Suspect));
    net.udp_deaf.clear();
    net.run_for(Duration::from_secs(20));
    assert!(net.all_see(2, State::Alive));
    assert!(
        net.nodes[2].incarnation() > 1,
        "n2 refuted with a higher incarnation"
    );
    assert!(net.nodes[2].stats().refutes >= 1);
}

#[test]
fn tcp_fallback_keeps_udp_deaf_member_alive() {
    // Probe timeout well under half the interval, so relays' nacks arrive in time (with LAN
    // defaults they race the deadline in memberlist too).
    let mut net = Net::new(4, |name, addr| Config {
        probe_timeout: Duration::from_millis(300),
        ..Config::lan(name, addr)
    });
    net.join_all_to_first();
    net.run_for(Duration::from_secs(3));
    net.udp_deaf.insert(3);
    net.run_for(Duration::from_secs(30));
    // n3 hears nothing by UDP, so it cannot refute; but probes of it succeed by TCP, so
    // nobody suspects it long enough... memberlist still suspects when *indirect* fails and
    // TCP succeeds? No: a TCP success counts as an ack. So n3 stays alive.
    assert!(
        net.all_see(3, State::Alive),
        "{:?}",
        (0..4).map(|i| net.state(i, 3)).collect::<Vec<_>>()
    );
    // It was the TCP fallback that saved it, after relays nacked.
    assert!(
        (0..3)
            .map(|i| net.nodes[i].stats().probes_tcp_only)
            .sum::<u64>()
            > 0
    );
    assert!(
        (0..3)
            .map(|i| net.nodes[i].stats().nacks_received)
            .sum::<u64>()
            > 0
    );
}

#[test]
fn graceful_leave_is_left_not_dead() {
    let mut net = Net::lan(5);
    net.join_all_to_first();
    net.run_for(Duration::from_secs(5));
    net.nodes[4].leave(net.now);
    net.flush();
    net.run_for(Duration::from_secs(5));
    assert!(net
        .events
        .iter()
        .any(|(i, e)| *i == 4 && matches!(e, Event::LeaveFinished)));
    assert!(net.all_see(4, State::Left));
}

#[test]
fn meta_update_reaches_everyone() {
    let mut net = Net::lan(5);
    net.join_all_to_first();
    net.run_for(Duration::from_secs(5));
    net.nodes[2]
        .set_meta(net.now, Bytes::from_static(b"role=web"))
        .unwrap();
    net.run_for(Duration::from_secs(5));
    for i in 0..5 {
        assert_eq!(&net.nodes[i].member("n2").unwrap().meta[..], b"role=web");
    }
    assert!(net
        .events
        .iter()
        .any(|(i, e)| *i != 2 && matches!(e, Event::Update(m) if &*m.name == "n2")));
    let too_big = Bytes::from(vec![0u8; 513]);
    assert!(net.nodes[2].set_meta(net.now, too_big).is_err());
}

#[test]
fn merge_guard_refuses_a_foreign_join_with_its_reason() {
    let mut net = Net::lan(3);
    // n0 refuses anyone named n2*: n2's join must fail with the guard's message.
    net.nodes[0].delegate_mut().veto_prefix = Some("n2".into());
    let first = net.addrs[0];
    net.nodes[1].join(net.now, &[first]);
    net.nodes[2].join(net.now, &[first]);
    net.flush();
    let n2_result = net
        .events
        .iter()
        .find_map(|(i, e)| match e {
            Event::JoinFinished { joined, errors, .. } if *i == 2 => {
                Some((*joined, errors.clone()))
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(n2_result.0, 0);
    assert!(
        n2_result.1[0].1.contains("n2 is foreign"),
        "{:?}",
        n2_result.1
    );
    net.run_for(Duration::from_secs(20));
    // n2 never enters n0's table, even though n1 (no guard) could gossip about it.
    assert!(net.nodes[0].member("n2").is_none());
    assert!(net.nodes[0].stats().merges_vetoed >= 1);
}

#[test]
fn alive_guard_blocks_gossip_through_a_third_node() {
    let mut net = Net::lan(3);
    net.nodes[0].delegate_mut().veto_prefix = Some("n2".into());
    let a0 = net.addrs[0];
    let a1 = net.addrs[1];
    net.nodes[1].join(net.now, &[a0]);
    net.flush();
    net.run_for(Duration::from_secs(2));
    // n2 joins through n1, which has no guard; n1's gossip and push-pulls carry n2 to n0.
    net.nodes[2].join(net.now, &[a1]);
    net.flush();
    net.run_for(Duration::from_secs(90));
    assert!(net.nodes[1].member("n2").is_some());
    assert!(
        net.nodes[0].member("n2").is_none(),
        "a vetoed member entered the table"
    );
    let s = net.nodes[0].stats();
    assert!(s.alive_vetoed + s.merges_vetoed > 0);
}

#[test]
fn conflicting_address_is_reported_and_ignored() {
    let mut net = Net::lan(3);
    net.join_all_to_first();
    net.run_for(Duration::from_secs(2));
    let mut b = Vec::new();
    rumor_wire::Message::Alive(rumor_wire::Alive {
        incarnation: 50,
        node: "n1".into(),
        addr: "10.9.9.9".parse().unwrap(),
        port: 7946,
        meta: None,
        vsn: Some(Bytes::from_static(&[1, 5, 2, 0, 0, 0])),
    })
    .encode(&mut b);
    net.nodes[0].handle_packet(net.now, net.addrs[2], &b);
    net.flush();
    assert!(net
        .events
        .iter()
        .any(|(i, e)| *i == 0 && matches!(e, Event::Conflict { .. })));
    assert_eq!(net.nodes[0].member("n1").unwrap().addr(), net.addrs[1]);
}

#[test]
fn garbage_is_dropped_and_counted() {
    let mut net = Net::lan(2);
    net.join_all_to_first();
    net.run_for(Duration::from_secs(2));
    let before = net.nodes[0].stats().packets_dropped;
    for bad in [
        &b""[..],
        &b"\xff\xff\xff"[..],
        &b"\x07\x05\x00"[..],
        &b"\x0c\x00\x00\x00\x00\x00"[..],
    ] {
        net.nodes[0].handle_packet(net.now, net.addrs[1], bad);
    }
    assert_eq!(net.nodes[0].stats().packets_dropped, before + 4);
    assert!(matches!(
        net.nodes[0].handle_stream(net.now, net.addrs[1], b"\x42garbage"),
        StreamStep::Reply(_) | StreamStep::Close
    ));
    net.run_for(Duration::from_secs(5));
    assert!(net.all_see(1, State::Alive));
}

#[test]
fn user_messages_reach_the_delegate() {
    let mut net = Net::lan(2);
    net.join_all_to_first();
    net.run_for(Duration::from_secs(1));
    let to = net.addrs[1];
    net.nodes[0].send_best_effort(to, b"hello");
    net.nodes[0].send_reliable(net.now, to, Bytes::from_static(b"world"));
    net.flush();
    net.run_for(Duration::from_millis(100));
    let got = &net.nodes[1].delegate().user_msgs;
    assert!(got.iter().any(|m| &m[..] == b"hello"));
    assert!(got.iter().any(|m| &m[..] == b"world"));
}

#[test]
fn same_seed_same_history() {
    let run = || {
        let mut net = Net::lan(6);
        net.join_all_to_first();
        net.run_for(Duration::from_secs(5));
        net.down.insert(2);
        net.run_for(Duration::from_secs(30));
        net.events
            .iter()
            .map(|(i, e)| format!("{i}:{e:?}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn a_tick_missed_during_a_probe_is_not_lost() {
    // One of two peers is down: probes of it fail and run their whole interval, so the next
    // tick arrives while they run. Like a Go ticker, the node probes right after instead of
    // skipping a whole interval.
    // Health stays 0 (so a failed probe lasts exactly one interval) and the suspicion
    // outlasts the test (so the dead peer keeps being probed).
    let mut net = Net::new(3, |name, addr| Config {
        awareness_max_multiplier: 1,
        suspicion_mult: 100,
        ..Config::lan(name, addr)
    });
    net.join_all_to_first();
    net.run_for(Duration::from_secs(2));
    net.down.insert(2);
    let before = net.nodes[0].stats();
    net.run_for(Duration::from_secs(20));
    let after = net.nodes[0].stats();
    let probes =
        (after.probes_ok + after.probes_failed) - (before.probes_ok + before.probes_failed);
    // A failed probe ends exactly at the next tick. Skipping that tick would cost an interval
    // per failed probe (about 13 probes in 20 s); keeping it gives about 19 (a few ticks find
    // no target at the wrap-around of a 3-member list).
    assert!(probes >= 17, "only {probes} probes in 20 s");
}
