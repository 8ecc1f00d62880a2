//! 1% i.i.d. datagram loss for 10 simulated minutes in a 100-node LAN cluster gives no
//! false positive (no live member declared dead by anyone), and the views converge; over
//! three seeds. TCP (the fallback ping, push-pull) sees the same loss as retransmission
//! delays.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use rumor_sim::scenario;

#[test]
fn one_percent_loss_for_ten_minutes_gives_no_false_positive() {
    for seed in [3, 4, 5] {
        let r = scenario::loss(100, seed, 0.01, Duration::from_secs(600));
        assert!(r.ok, "seed {seed}: violations: {:?}", r.violations);
        assert_eq!(
            r.false_positives.count, 0,
            "seed {seed}: {:?}",
            r.false_positives
        );
        assert!(r.network.lost > 0, "loss was applied");
        assert!(r.traffic.window_s >= 600.0);
        assert!(r.convergence.iter().all(|c| c.converged_after_s.is_some()));
    }
}
