//! The simulator runs Serf nodes through the same contract as bare SWIM nodes: a 100-node
//! Serf cluster converges, a user event reaches every member exactly once, and a seed gives
//! the same event log twice.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use rumor_sim::{scenario, Sim, SimConfig};
use rumor_swim::Instant;

const N: usize = 100;

/// Join 100 Serf nodes, settle, send one user event from node 7 and run 30 s more. Returns
/// the user-event log and the whole event-log hash.
fn run(seed: u64) -> (Vec<(u32, u64, String)>, String) {
    let mut sim = Sim::new_serf(SimConfig::new(N, seed)).unwrap();
    sim.join_staggered(Instant::ZERO, scenario::join_spacing(N));
    sim.run_for(Duration::from_secs(10));
    assert!(
        sim.settle("join", Duration::from_secs(120)).is_some(),
        "did not converge: {:?}",
        sim.convergence_issue()
    );
    for i in 0..N {
        assert_eq!(sim.core(i).members().len(), N, "node {i} Serf members");
    }
    sim.user_event(7, "deploy", Bytes::from_static(b"v2"));
    sim.run_for(Duration::from_secs(30));
    let report = sim.report();
    assert!(report.ok, "{:?}", report.violations);
    (sim.user_events().to_vec(), report.event_log_hash)
}

#[test]
fn a_user_event_reaches_every_serf_member_exactly_once_and_a_seed_repeats() {
    let (log, hash) = run(5);
    let mut per_node = [0usize; N];
    for (observer, ltime, name) in &log {
        assert_eq!((name.as_str(), *ltime), ("deploy", 1));
        per_node[*observer as usize] += 1;
    }
    assert_eq!(per_node, [1; N], "deliveries per node");
    let (log2, hash2) = run(5);
    assert_eq!(log, log2, "same seed, same user-event log");
    assert_eq!(hash, hash2, "same seed, same event log");
    let (_, hash3) = run(6);
    assert_ne!(hash, hash3, "another seed, another run");
}
