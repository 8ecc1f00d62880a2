//! Crashed members are declared dead by every live member within the analytic bound,
//! across 20 seeds.
//!
//! Setup: 100 nodes, LAN profile, no loss; per seed, 2 random nodes crash at random times
//! within 10 s once the cluster has converged (40 crashes in all).
//!
//! The bound, from the SWIM paper and memberlist's formulas (LAN: probe interval T = 1 s,
//! gossip interval 200 ms, suspicion_mult 4, suspicion_max_timeout_mult 6):
//!
//! 1. First suspicion. Each of the n-1 live members probes one member per period in a
//!    shuffled round-robin, so in any k periods a given prober reaches the target with
//!    probability about k/(n-1), and no prober does with probability
//!    (1 - k/(n-1))^(n-1) ≈ e^-k (SWIM §3.1: expected first detection e/(e-1) T ≈ 1.58 T).
//!    We allow k = 12 periods (e^-12 ≈ 6e-6 per crash), plus one period for that probe to
//!    run out (the suspicion starts when the probe's interval ends):
//!    `first_suspect <= 13 T`.
//! 2. Everyone declares it dead. The first suspecter's Lifeguard timer starts at the
//!    maximum, `6 * 4 * max(1, log10 n) * T` (48 s at n = 100), and only shrinks with
//!    confirmations; when it fires, the dead message is gossiped (fan-out 3 every 200 ms,
//!    reaching 100 members in ~4 rounds) and every other member accepts it at once. We allow
//!    10 gossip rounds and one probe period for that:
//!    `all_dead <= first_suspect + max_suspicion + 10 * gossip_interval + T`.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::time::Duration;

use rumor_sim::{scenario, SimConfig};

#[test]
fn crashed_nodes_declared_dead_by_all_within_bound_across_20_seeds() {
    let n = 100;
    let swim = scenario::swim_config(&SimConfig::new(n, 0));
    let t = swim.probe_interval.as_secs_f64();
    let first_bound = 13.0 * t;
    let spread =
        scenario::max_suspicion(&swim, n) + swim.gossip_interval * 10 + swim.probe_interval;
    assert_eq!(scenario::max_suspicion(&swim, n), Duration::from_secs(48));
    let mut first = Vec::new();
    let mut all = Vec::new();
    for seed in 0..20 {
        let r = scenario::crash_detection(n, seed, 2);
        assert!(r.ok, "seed {seed}: violations {:?}", r.violations);
        assert_eq!(r.detections.len(), 2, "seed {seed}");
        assert_eq!(
            r.false_positives.count, 0,
            "seed {seed}: {:?}",
            r.false_positives
        );
        for d in &r.detections {
            let fs = d.first_suspect_s.unwrap();
            let fd = d.first_dead_s.unwrap();
            let ad = d.all_dead_s.unwrap();
            assert!(
                fs <= first_bound,
                "seed {seed}: node {} first suspected after {fs} s",
                d.node
            );
            assert!(fs <= fd && fd <= ad, "seed {seed}: {d:?}");
            assert!(
                ad <= fs + spread.as_secs_f64(),
                "seed {seed}: node {} dead everywhere {ad} s after crash, bound {}",
                d.node,
                fs + spread.as_secs_f64()
            );
            first.push(fs);
            all.push(ad);
        }
        // And every live member's view converged afterwards.
        assert!(
            r.convergence.iter().all(|c| c.converged_after_s.is_some()),
            "seed {seed}"
        );
    }
    let mean = first.iter().sum::<f64>() / first.len() as f64;
    // SWIM's expected first detection is ~1.58 T plus the probe's own period: stay near it.
    assert!(mean < 4.0 * t, "mean first suspicion {mean} s");
    eprintln!(
        "first suspicion: mean {mean:.2} s, max {:.2} s; dead everywhere: max {:.2} s",
        first.iter().cloned().fold(0.0, f64::max),
        all.iter().cloned().fold(0.0, f64::max)
    );
}
