//! The invariant checkers are not vacuous: runs that break an invariant are reported as
//! violations.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use rumor_sim::{scenario, LatencyModel, Sim, SimConfig};
use rumor_swim::Instant;

#[test]
fn healthy_nodes_declared_dead_are_flagged() {
    // One-way latency of 2 to 3 s: every probe fails, and a refutation (suspect there,
    // alive back: 4 s or more) loses the race against a confirmed suspicion (4 s at n = 10),
    // so healthy members are declared dead with no loss, pause or partition to explain it.
    let mut cfg = SimConfig::new(10, 1);
    cfg.latency = LatencyModel {
        base: Duration::from_secs(2),
        jitter: Duration::from_secs(1),
        link_spread: 1.0,
    };
    cfg.tweak = Some(|c| c.disable_tcp_pings = true);
    let mut sim = Sim::new(cfg).unwrap();
    sim.join_staggered(Instant::ZERO, Duration::from_millis(100));
    sim.run_until(Instant::from_millis(120_000));
    let r = sim.report();
    assert!(
        r.false_positives.without_cause > 0,
        "{:?}",
        r.false_positives
    );
    assert!(!r.ok);
    assert!(r.violations.iter().any(|v| v.kind == "dead_without_cause"));
}

#[test]
fn slow_convergence_is_flagged() {
    let mut sim = Sim::new(SimConfig::new(30, 2)).unwrap();
    sim.join_staggered(Instant::ZERO, scenario::join_spacing(30));
    // Half the nodes have not even joined yet.
    sim.run_until(Instant::from_millis(1_500));
    assert!(sim.settle("too soon", Duration::from_millis(100)).is_none());
    let r = sim.report();
    assert!(!r.ok);
    assert_eq!(r.violations[0].kind, "not_converged");
    assert_eq!(r.convergence[0].converged_after_s, None);
}
