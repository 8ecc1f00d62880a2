//! A 100-node cluster forms: node 0 founds it, the others join it 100 ms apart, and every
//! member must see every member alive within the settle bound.

#![allow(clippy::unwrap_used)]

use rumor_sim::scenario;

#[test]
fn hundred_nodes_converge_after_staggered_joins() {
    let r = scenario::converge(100, 1);
    assert!(r.ok, "violations: {:?}", r.violations);
    let join = &r.convergence[0];
    assert_eq!(join.label, "join");
    let took = join.converged_after_s.expect("converged");
    assert!(took <= join.limit_s);
    assert_eq!(r.false_positives.count, 0);
    assert_eq!(r.protocol.join_errors, 0);
    // Every join reached every member that had joined by then.
    assert_eq!(r.dissemination.joins.count, 99);
    assert_eq!(r.dissemination.incomplete, 0);
    // Steady state after convergence: about one ping and one ack per member per second.
    assert!(r.traffic.packets_per_member_s > 1.5, "{:?}", r.traffic);
}
