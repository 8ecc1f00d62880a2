//! Coordinates and reconnect end to end, on the shared virtual network: acks carry our
//! coordinate and probes move it; a reaped member's coordinate is forgotten; two halves that
//! marked each other failed come back through reconnect, and its joins never reach the user.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::time::Duration;

use rumor_serf::{Event, Instant, MemberStatus, Serf, SerfConfig, VivaldiConfig};
use rumor_swim::testing::{addr, Net as TestNet};

type Net = TestNet<Serf>;

fn config(i: usize) -> SerfConfig {
    let swim = rumor_swim::Config::lan(format!("n{i}"), addr(i));
    SerfConfig::new(swim, BTreeMap::new())
}

fn cluster(n: usize, config: impl Fn(usize) -> SerfConfig) -> Net {
    let nodes = (0..n)
        .map(|i| Serf::new(config(i), 2000 + i as u64, Instant::ZERO).unwrap())
        .collect();
    let mut net = TestNet::new(nodes, (0..n).map(addr).collect());
    net.join_all_to(0);
    net
}

fn status(net: &Net, observer: usize, of: usize) -> Option<MemberStatus> {
    net.nodes[observer]
        .member(&format!("n{of}"))
        .map(|m| m.status)
}

fn joins_finished(net: &Net, i: usize) -> usize {
    net.count(i, |e| matches!(e, Event::JoinFinished { .. }))
}

#[test]
fn probes_move_coordinates_towards_the_latency_and_cache_each_member() {
    let mut net = cluster(3, config);
    let fresh = VivaldiConfig::default().fresh();
    assert_eq!(net.nodes[0].coordinate(), Some(fresh.clone()));
    assert_eq!(net.nodes[0].member_coordinate("n0"), Some(fresh.clone()));
    assert_eq!(net.nodes[0].member_coordinate("n1"), None);
    net.run_for(Duration::from_secs(30));
    for i in 0..3 {
        let own = net.nodes[i].coordinate().unwrap();
        assert_ne!(own, fresh, "node {i} moved");
        assert_eq!(net.nodes[i].member_coordinate(&format!("n{i}")), Some(own));
        for j in (0..3).filter(|j| *j != i) {
            let theirs = net.nodes[i].member_coordinate(&format!("n{j}")).unwrap();
            assert_eq!(theirs.vec.len(), 8);
            // The virtual network has 1 ms one way: 2 ms round trips. The estimate is
            // within a factor of two of that after 30 probes.
            let est = net.nodes[i].coordinate().unwrap().distance_to(&theirs);
            assert!(
                est >= Duration::from_millis(1) && est <= Duration::from_millis(4),
                "node {i} -> {j}: {est:?}"
            );
        }
        assert_eq!(net.nodes[i].coordinate_resets(), 0);
        assert_eq!(net.nodes[i].coordinates_rejected(), 0);
    }
}

#[test]
fn disabled_coordinates_send_nothing_and_keep_nothing() {
    let mut net = cluster(2, |i| {
        let mut c = config(i);
        c.disable_coordinates = i == 1;
        c
    });
    net.run_for(Duration::from_secs(20));
    assert_eq!(net.nodes[1].coordinate(), None);
    assert_eq!(net.nodes[1].member_coordinate("n0"), None);
    // n1's acks carry no payload: n0 ignores them (no rejection, nothing cached).
    assert_eq!(net.nodes[0].member_coordinate("n1"), None);
    assert_eq!(net.nodes[0].coordinates_rejected(), 0);
}

#[test]
fn a_reaped_member_is_forgotten_with_its_coordinate() {
    let mut net = cluster(3, |i| {
        let mut c = config(i);
        c.reconnect_timeout = Duration::from_secs(20);
        c.reap_interval = Duration::from_secs(5);
        c
    });
    net.run_for(Duration::from_secs(20));
    assert!(net.nodes[0].member_coordinate("n2").is_some());
    net.down.insert(2);
    net.run_for(Duration::from_secs(60));
    assert_eq!(status(&net, 0, 2), None, "reaped");
    assert_eq!(net.nodes[0].member_coordinate("n2"), None);
    assert!(net.nodes[0].member_coordinate("n1").is_some());
}

#[test]
fn halves_that_marked_each_other_failed_reconnect_and_the_user_sees_no_join() {
    let mut net = cluster(4, config);
    net.run_for(Duration::from_secs(10));
    let before: Vec<usize> = (0..4).map(|i| joins_finished(&net, i)).collect();
    net.partition(&[0, 1], &[2, 3]);
    // Long enough for each side to declare the other dead and stop gossiping to it.
    net.run_for(Duration::from_secs(70));
    for (i, j) in [(0, 2), (1, 3), (2, 0), (3, 1)] {
        assert_eq!(
            status(&net, i, j),
            Some(MemberStatus::Failed),
            "{i} sees {j}"
        );
    }
    net.cut.clear();
    let healed = net.now;
    let done = net.run_until_true(Duration::from_secs(120), |net| {
        (0..4).all(|i| (0..4).all(|j| status(net, i, j) == Some(MemberStatus::Alive)))
    });
    assert!(done.is_some(), "never healed");
    let took = net.now.saturating_duration_since(healed);
    // Reconnect ticks fall every 30 s from time zero: the heal at 80 s waits for the ticks
    // at 90 s (and at most one more round, at 120 s) plus gossip.
    assert!(took >= Duration::from_secs(10), "{took:?}");
    assert!(took <= Duration::from_secs(50), "{took:?}");
    // Reconnect attempts (failed ones during the partition included) never surface.
    let after: Vec<usize> = (0..4).map(|i| joins_finished(&net, i)).collect();
    assert_eq!(before, after);
}
