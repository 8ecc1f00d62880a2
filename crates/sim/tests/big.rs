//! A 1,000-node cluster for 5 simulated minutes: it converges after the joins, stays
//! converged, and no invariant is violated. No timing assertions.

#![allow(clippy::unwrap_used)]

use rumor_sim::{scenario, SimConfig};
use rumor_swim::Instant;

#[test]
fn thousand_nodes_five_minutes() {
    let n = 1000;
    let cfg = SimConfig::new(n, 5);
    let swim = scenario::swim_config(&cfg);
    let mut sim = scenario::form_cluster(cfg, "big");
    assert!(sim.is_converged(), "{:?}", sim.convergence_issue());
    sim.crash(17);
    sim.run_until(Instant::from_millis(300_000));
    sim.settle("end", scenario::settle_limit(&swim, n));
    let r = sim.report();
    assert!(r.ok, "violations: {:?}", r.violations);
    assert!(r.sim_time_s >= 300.0);
    assert_eq!(r.detections.len(), 1);
    assert!(r.detections[0].all_dead_s.is_some());
    assert_eq!(r.false_positives.count, 0);
}
