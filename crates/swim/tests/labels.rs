//! Labels on the virtual network: nodes with the same label form a pool; a node with another
//! label, or none, is not heard (its datagrams and streams are dropped and counted in
//! `Stats::label_dropped`), and a join across labels fails.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use bytes::Bytes;
use rumor_swim::testing::{addr, Net};
use rumor_swim::{Config, Event, Instant, Node, State};

/// Node `i` of a net, with `label` (empty: none).
fn node(i: usize, label: &str) -> Node {
    let mut c = Config::lan(format!("n{i}"), addr(i));
    c.label = (!label.is_empty()).then(|| label.as_bytes().to_vec());
    Node::new(c, Bytes::new(), 500 + i as u64, Instant::ZERO).unwrap()
}

fn net(labels: &[&str]) -> Net<Node> {
    let nodes = labels.iter().enumerate().map(|(i, l)| node(i, l)).collect();
    Net::new(nodes, (0..labels.len()).map(addr).collect())
}

fn join_result(net: &Net<Node>, i: usize) -> (usize, usize) {
    let (joined, errors) = join_errors(net, i);
    (joined, errors.len())
}

fn join_errors(net: &Net<Node>, i: usize) -> (usize, Vec<rumor_swim::JoinError>) {
    net.events_of(i)
        .find_map(|e| match e {
            Event::JoinFinished { joined, errors, .. } => {
                Some((*joined, errors.iter().map(|(_, e)| e.clone()).collect()))
            }
            _ => None,
        })
        .unwrap()
}

#[test]
fn nodes_with_the_same_label_form_a_pool() {
    let mut net = net(&["prod", "prod", "prod"]);
    net.join_all_to(0);
    net.run_for(Duration::from_secs(10));
    for i in 0..3 {
        assert_eq!(net.nodes[i].num_live(), 3, "node {i}");
        assert_eq!(join_result(&net, i.max(1)), (1, 0));
        let s = net.nodes[i].stats();
        assert_eq!(
            (s.label_dropped, s.packets_dropped, s.streams_dropped),
            (0, 0, 0)
        );
        assert!(s.probes_ok > 0, "node {i} probed by UDP");
    }
}

#[test]
fn another_label_or_none_is_not_heard() {
    // n0 and n1 say "prod"; n2 says "test"; n3 has no label.
    let mut net = net(&["prod", "prod", "test", ""]);
    let seed = net.addrs[0];
    let now = net.now;
    net.nodes[1].join(now, &[seed], &mut rumor_swim::NoHooks);
    net.nodes[2].join(now, &[seed], &mut rumor_swim::NoHooks);
    net.nodes[3].join(now, &[seed], &mut rumor_swim::NoHooks);
    net.flush();
    assert_eq!(join_result(&net, 1), (1, 0));
    assert_eq!(join_result(&net, 2), (0, 1), "the join across labels fails");
    assert_eq!(join_result(&net, 3), (0, 1));
    // Closed unanswered, as memberlist does: no error message crosses to another pool.
    for i in [2, 3] {
        let (_, errors) = join_errors(&net, i);
        assert!(
            matches!(&errors[..], [rumor_swim::JoinError::Stream(r)] if r == "connection closed"),
            "n{i}: {errors:?}"
        );
    }
    assert_eq!(
        net.nodes[0].stats().label_dropped,
        2,
        "two push-pull streams dropped, unanswered"
    );
    assert_eq!(net.nodes[0].stats().streams_dropped, 2);
    // Datagrams from the others (their alive gossip, pings) are dropped too.
    for i in [2, 3] {
        let mut b = Vec::new();
        rumor_wire::Message::Alive(rumor_wire::Alive {
            incarnation: 1,
            node: format!("n{i}").into(),
            addr: net.addrs[i].ip(),
            port: net.addrs[i].port(),
            meta: None,
            vsn: Some(Bytes::from_static(&[1, 5, 2, 0, 0, 0])),
        })
        .encode(&mut b);
        let mut data = Vec::new();
        let mut opts = rumor_wire::PacketOptions::default();
        let label = if i == 2 { Some(&b"test"[..]) } else { None };
        opts.label = label;
        rumor_wire::encode_packet(&b, false, false, &opts, [0; 12], &mut data);
        let before = net.nodes[0].stats();
        net.nodes[0].handle_packet(net.now, net.addrs[i], &data, &mut rumor_swim::NoHooks);
        let after = net.nodes[0].stats();
        assert_eq!(after.label_dropped, before.label_dropped + 1, "n{i}");
        assert_eq!(after.packets_dropped, before.packets_dropped + 1, "n{i}");
    }
    net.run_for(Duration::from_secs(30));
    assert_eq!(net.nodes[0].num_live(), 2);
    assert_eq!(net.nodes[1].num_live(), 2);
    for i in [2, 3] {
        assert_eq!(net.nodes[i].num_live(), 1, "n{i} alone");
        assert!(net.nodes[0].member(&format!("n{i}")).is_none());
    }
    assert_eq!(net.nodes[0].member("n1").unwrap().state, State::Alive);
}
