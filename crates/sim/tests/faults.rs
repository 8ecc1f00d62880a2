//! Partitions, pauses, leaves, meta updates and restarts: the invariants hold and the
//! views converge once the fault is over.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use rumor_sim::{scenario, SimConfig, Status};
use rumor_swim::State;

#[test]
fn partition_heals_and_converges() {
    let r = scenario::partition(30, 1, Duration::from_secs(15));
    assert!(r.ok, "violations: {:?}", r.violations);
    // Both halves declared the other dead: false positives, all explained by the partition.
    assert!(r.false_positives.count > 0);
    assert_eq!(r.false_positives.without_cause, 0);
    assert!(
        r.convergence.iter().all(|c| c.converged_after_s.is_some()),
        "{:?}",
        r.convergence
    );
}

#[test]
fn paused_nodes_resume_and_converge() {
    let r = scenario::pause(30, 2, 3, Duration::from_secs(20));
    assert!(r.ok, "violations: {:?}", r.violations);
    assert_eq!(r.false_positives.without_cause, 0);
    assert!(r.protocol.refutes > 0, "paused nodes had to refute");
}

#[test]
fn leaves_and_meta_updates_spread() {
    let r = scenario::leave(30, 3, 3);
    assert!(r.ok, "violations: {:?}", r.violations);
    assert_eq!(r.false_positives.count, 0);
    let r = scenario::meta_update(30, 4, 3);
    assert!(r.ok, "violations: {:?}", r.violations);
    assert_eq!(r.dissemination.metas.count, 3);
    assert!(
        r.dissemination.metas.max_s < 5.0,
        "{:?}",
        r.dissemination.metas
    );
}

#[test]
fn crashed_node_restarts_and_rejoins() {
    let n = 20;
    let mut sim = scenario::form_cluster(SimConfig::new(n, 9), "restart");
    sim.crash(4);
    sim.run_for(Duration::from_secs(20));
    assert_eq!(sim.node(0).member(sim.name(4)).unwrap().state, State::Dead);
    sim.restart(4, vec![0]);
    assert_eq!(sim.status(4), Status::Running);
    sim.settle("restart", Duration::from_secs(60)).unwrap();
    let r = sim.report();
    assert!(r.ok, "violations: {:?}", r.violations);
    // It refuted its death with a higher incarnation than the one declared dead.
    assert!(sim.node(4).incarnation() > 1);
}
