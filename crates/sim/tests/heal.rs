//! A Serf cluster split by a partition longer than suspicion plus gossip-to-the-dead heals by
//! itself once the network does: each side has marked the other failed and stopped talking
//! to it, and only Serf's reconnect (a memberlist push-pull to a failed member every
//! `reconnect_interval`) brings the halves back together. User events sent on both sides
//! during the partition reach every member exactly once (they travel in the push-pulls).
//!
//! Timeline (every node is created at time zero, so every reconnect tick falls on a multiple
//! of 30 s): partition at 40 s, an event on each side at 80 s, heal at 115 s; the first
//! reconnect tick after the heal is at 120 s.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::time::Duration;

use bytes::Bytes;
use rumor_serf::MemberStatus;
use rumor_sim::{scenario, Sim, SimConfig};
use rumor_swim::Instant;

const N: usize = 10;
const RECONNECT: Duration = Duration::from_secs(30);

fn secs(s: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(s)
}

fn side(i: usize) -> usize {
    usize::from(i >= N / 2)
}

/// Statuses node `i` holds for every member, by index.
fn view(sim: &Sim<rumor_serf::Serf>, i: usize) -> Vec<MemberStatus> {
    (0..N)
        .map(|j| {
            sim.core(i)
                .member(sim.name(j))
                .map_or(MemberStatus::None, |m| m.status)
        })
        .collect()
}

fn all_alive(sim: &Sim<rumor_serf::Serf>) -> bool {
    (0..N).all(|i| view(sim, i).iter().all(|s| *s == MemberStatus::Alive))
}

struct Outcome {
    /// Seconds from the heal until every member saw every member alive.
    healed_after: Duration,
    /// User-event deliveries: (observer, name).
    deliveries: Vec<(u32, String)>,
    hash: String,
}

fn run(seed: u64) -> Outcome {
    let mut sim = Sim::new_serf(SimConfig::new(N, seed)).unwrap();
    sim.join_staggered(Instant::ZERO, scenario::join_spacing(N));
    sim.run_until(secs(30));
    assert!(all_alive(&sim), "seed {seed}: not joined by 30 s");
    let (a, b): (Vec<usize>, Vec<usize>) = (0..N).partition(|i| side(*i) == 0);
    sim.run_until(secs(40));
    sim.partition(vec![a, b]);
    sim.run_until(secs(80));
    sim.user_event(0, "from-a", Bytes::from_static(b"a"));
    sim.user_event(N - 1, "from-b", Bytes::from_static(b"b"));
    sim.run_until(secs(115));
    // Both halves are whole, and each sees the other failed.
    for i in 0..N {
        let v = view(&sim, i);
        for (j, s) in v.iter().enumerate() {
            let want = if side(i) == side(j) {
                MemberStatus::Alive
            } else {
                MemberStatus::Failed
            };
            assert_eq!(*s, want, "seed {seed}: node {i} sees node {j} as {s}");
        }
    }
    let heal = sim.now();
    sim.heal();
    // Bounded: at most 120 s of simulated time in 100 ms steps.
    let mut healed_after = None;
    for _ in 0..1200 {
        sim.run_for(Duration::from_millis(100));
        if all_alive(&sim) {
            healed_after = Some(sim.now().saturating_duration_since(heal));
            break;
        }
    }
    let healed_after = healed_after.unwrap_or_else(|| {
        let views: Vec<_> = (0..N).map(|i| view(&sim, i)).collect();
        panic!("seed {seed}: never healed: {views:?}")
    });
    // Let any late duplicate show up before counting deliveries.
    sim.run_for(Duration::from_secs(30));
    assert!(all_alive(&sim), "seed {seed}: fell apart again");
    let report = sim.report();
    assert!(report.ok, "seed {seed}: {:?}", report.violations);
    let deliveries = sim
        .user_events()
        .iter()
        .map(|(o, _, name)| (*o, name.clone()))
        .collect();
    Outcome {
        healed_after,
        deliveries,
        hash: report.event_log_hash,
    }
}

#[test]
fn a_long_partition_heals_through_reconnect_and_events_arrive_once() {
    let first_tick = secs(120).saturating_duration_since(secs(115));
    let mut worst = Duration::ZERO;
    let mut best = Duration::MAX;
    for seed in 0..20 {
        let out = run(seed);
        // Nothing crosses before the first reconnect tick after the heal (every node sees 5
        // failed of 10, so each tries with probability 1 at that tick). By one more
        // reconnect interval plus 10 s of gossip everyone is back, even if the first round's
        // push-pulls only carried refutations across (in these runs the first round is
        // enough: about 0.1 s after the tick).
        assert!(
            out.healed_after >= first_tick,
            "seed {seed}: healed after {:?}, before any reconnect",
            out.healed_after
        );
        assert!(
            out.healed_after <= first_tick + RECONNECT + Duration::from_secs(10),
            "seed {seed}: healed after {:?}",
            out.healed_after
        );
        worst = worst.max(out.healed_after);
        best = best.min(out.healed_after);
        for name in ["from-a", "from-b"] {
            let mut per_node = [0usize; N];
            for (o, n) in &out.deliveries {
                if n == name {
                    per_node[*o as usize] += 1;
                }
            }
            assert_eq!(per_node, [1; N], "seed {seed}: deliveries of {name}");
        }
        assert_eq!(out.deliveries.len(), 2 * N, "seed {seed}: no other events");
    }
    eprintln!("healed after {best:?} .. {worst:?}");
    // Same seed, same run, bit for bit.
    let (x, y) = (run(3), run(3));
    assert_eq!(x.hash, y.hash);
    assert_eq!(x.healed_after, y.healed_after);
}
