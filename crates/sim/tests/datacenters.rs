//! Two datacenters that were merged into one pool (no guard anywhere) separate cleanly once
//! every node gets a datacenter guard and purges the members it refuses
//! (`Serf::set_guard` + `Serf::purge_refused`): within a bounded time every member's tables
//! (Serf's and SWIM's) hold exactly its own datacenter, all alive, nobody of its own
//! datacenter ever failed, and no purged member comes back. The same holds when only some
//! nodes get the guard first and the rest later. The same seed gives the same event log.
//!
//! Timeline: 20 Serf nodes (0..10 tagged dc1, 10..20 dc2) join one pool from time zero; by
//! 30 s all see all. At 40 s the guard arrives: on every node at once, or on every third
//! node first and on the rest at 70 s.
//!
//! And one node of a guarded pool that moves to another datacenter is dropped by its old pool
//! at once and never taken back (`a_node_moved_…`).

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::time::Duration;

use rumor_serf::{MemberStatus, Refusal, Serf, Verdict};
use rumor_sim::{scenario, Sim, SimConfig};
use rumor_swim::{Instant, State};

const N: usize = 20;

fn secs(s: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(s)
}

fn dc_of(i: usize) -> &'static str {
    if i < N / 2 {
        "dc1"
    } else {
        "dc2"
    }
}

fn tags(i: usize) -> Vec<(String, String)> {
    vec![("dc".to_string(), dc_of(i).to_string())]
}

/// The datacenter guard: admit only members tagged with `dc`.
fn guard(dc: &'static str) -> Box<dyn rumor_serf::MemberGuard + Send> {
    Box::new(
        move |name: &str, tags: &BTreeMap<String, String>| -> Verdict {
            if tags.get("dc").map(String::as_str) == Some(dc) {
                Ok(())
            } else {
                Err(Refusal::new(name.into(), std::fmt::Error))
            }
        },
    )
}

/// Serf's table and SWIM's: names with Serf status, names with SWIM state.
type Tables = (Vec<(String, MemberStatus)>, Vec<(String, State)>);

/// Members node `i` holds, Serf's table and SWIM's, by name.
fn tables(sim: &Sim<Serf>, i: usize) -> Tables {
    let serf = sim
        .core(i)
        .members()
        .into_iter()
        .map(|m| (m.name.to_string(), m.status))
        .collect();
    let mut swim: Vec<(String, State)> = sim
        .core(i)
        .swim()
        .members()
        .map(|m| (m.name.to_string(), m.state))
        .collect();
    swim.sort();
    (serf, swim)
}

/// Whether node `i` holds exactly the members of `dcs`, all alive.
fn holds_exactly(sim: &Sim<Serf>, i: usize, dcs: &[&str]) -> bool {
    let want: Vec<String> = {
        let mut v: Vec<String> = (0..N)
            .filter(|j| dcs.contains(&dc_of(*j)))
            .map(|j| sim.name(j).to_string())
            .collect();
        v.sort();
        v
    };
    let (serf, swim) = tables(sim, i);
    serf.iter().map(|(n, _)| n).eq(want.iter())
        && serf.iter().all(|(_, s)| *s == MemberStatus::Alive)
        && swim.iter().map(|(n, _)| n).eq(want.iter())
        && swim.iter().all(|(_, s)| *s == State::Alive)
}

fn separated(sim: &Sim<Serf>) -> bool {
    (0..N).all(|i| holds_exactly(sim, i, &[dc_of(i)]))
}

/// Nobody holds a member of its own datacenter as anything but alive (or, before the
/// guard, any member at all).
fn own_dc_healthy(sim: &Sim<Serf>) -> Result<(), String> {
    for i in 0..N {
        let (serf, swim) = tables(sim, i);
        for (name, st) in &serf {
            let j = (0..N)
                .find(|j| sim.name(*j).as_ref() == name.as_str())
                .unwrap();
            if dc_of(j) == dc_of(i) && *st != MemberStatus::Alive {
                return Err(format!("node {i} holds {name} as {st}"));
            }
        }
        for (name, st) in &swim {
            let j = (0..N)
                .find(|j| sim.name(*j).as_ref() == name.as_str())
                .unwrap();
            if dc_of(j) == dc_of(i) && *st != State::Alive {
                return Err(format!("node {i} holds {name} as {st:?} in SWIM"));
            }
        }
    }
    Ok(())
}

struct Outcome {
    /// From the first guard until the pools were separated.
    separated_after: Duration,
    hash: String,
    reaps: usize,
}

/// Guard every node in `first` at 40 s, the rest at 70 s.
fn run(seed: u64, first: impl Fn(usize) -> bool) -> Outcome {
    let mut cfg = SimConfig::new(N, seed);
    cfg.tags = Some(tags);
    let mut sim = Sim::new_serf(cfg).unwrap();
    sim.join_staggered(Instant::ZERO, scenario::join_spacing(N));
    sim.run_until(secs(30));
    for i in 0..N {
        assert!(
            holds_exactly(&sim, i, &["dc1", "dc2"]),
            "seed {seed}: node {i} not in the merged pool: {:?}",
            tables(&sim, i)
        );
    }
    sim.run_until(secs(40));
    let start = sim.now();
    let everyone = (0..N).all(&first);
    let mut reaps = 0;
    let mut guard_batch = |sim: &mut Sim<Serf>, pick: &dyn Fn(usize) -> bool| {
        for i in (0..N).filter(|i| pick(*i)) {
            let purged = sim
                .call(i, |s, now| {
                    s.set_guard(Some(guard(dc_of(i))));
                    s.purge_refused(now)
                })
                .unwrap();
            // Every member of the other datacenter, nobody of ours.
            assert_eq!(
                purged.len(),
                N / 2,
                "seed {seed}: node {i} purged {purged:?}"
            );
            reaps += purged.len();
        }
    };
    guard_batch(&mut sim, &first);
    if !everyone {
        // The unguarded nodes keep both datacenters in their tables meanwhile; the guarded
        // ones stay clean although their unguarded peers gossip and push-pull it all.
        for _ in 0..300 {
            sim.run_for(Duration::from_millis(100));
            for i in (0..N).filter(|i| first(*i)) {
                assert!(
                    holds_exactly(&sim, i, &[dc_of(i)]),
                    "seed {seed}: guarded node {i} at {:?}: {:?}",
                    sim.now(),
                    tables(&sim, i)
                );
            }
            own_dc_healthy(&sim).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        }
        assert_eq!(sim.now(), secs(70));
        assert!(
            !separated(&sim),
            "seed {seed}: the unguarded nodes still hold both"
        );
        guard_batch(&mut sim, &|i| !first(i));
    }
    // Bounded: 60 s in 100 ms steps.
    let mut separated_after = None;
    for _ in 0..600 {
        if separated(&sim) {
            separated_after = Some(sim.now().saturating_duration_since(start));
            break;
        }
        sim.run_for(Duration::from_millis(100));
    }
    let separated_after = separated_after.unwrap_or_else(|| {
        let views: Vec<_> = (0..N).map(|i| tables(&sim, i)).collect();
        panic!("seed {seed}: never separated: {views:?}")
    });
    // It stays so: two more minutes of gossip, probes, push-pulls and reconnects.
    for _ in 0..120 {
        sim.run_for(Duration::from_secs(1));
        assert!(separated(&sim), "seed {seed}: fell back at {:?}", sim.now());
    }
    own_dc_healthy(&sim).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let report = sim.report();
    assert!(report.ok, "seed {seed}: {:?}", report.violations);
    Outcome {
        separated_after,
        hash: report.event_log_hash,
        reaps,
    }
}

#[test]
fn merged_datacenters_separate_when_every_node_gets_the_guard_at_once() {
    for seed in [1, 2, 3] {
        let out = run(seed, |_| true);
        // Every node purges the other datacenter at once: separated at that instant.
        assert_eq!(out.separated_after, Duration::ZERO, "seed {seed}");
        assert_eq!(
            out.reaps,
            N * N / 2,
            "seed {seed}: one reap per foreign member"
        );
    }
    let (x, y) = (run(2, |_| true), run(2, |_| true));
    assert_eq!(x.hash, y.hash, "same seed, same event log");
}

#[test]
fn merged_datacenters_separate_when_the_guard_arrives_in_two_batches() {
    let first = |i: usize| i.is_multiple_of(3);
    for seed in [4, 5, 6] {
        let out = run(seed, first);
        // Not before the second batch at 70 s (30 s after the first), and at once then.
        assert_eq!(
            out.separated_after,
            Duration::from_secs(30),
            "seed {seed}: separated after {:?}",
            out.separated_after
        );
        assert_eq!(out.reaps, N * N / 2, "seed {seed}");
    }
    let (x, y) = (run(5, first), run(5, first));
    assert_eq!(x.hash, y.hash, "same seed, same event log");
    assert_ne!(x.hash, run(6, first).hash, "another seed, another run");
}

/// One node of a guarded pool moves to another datacenter (as a SIGHUP with a new `dc` does:
/// new tag, new guard, purge). Its old pool must drop it and never take it back, although
/// every other member still holds its old record when it moves and push-pull passes records
/// around. (Before `Node::purge` told the purged members our new record, and before records
/// of a member removed for a refusal were ignored for a while, members passed the old
/// record back and forth and the moved node kept rejoining its old pool.)
fn move_one(seed: u64) -> (Duration, String) {
    const M: usize = 8;
    let mut cfg = SimConfig::new(M, seed);
    cfg.tags = Some(|_| vec![("dc".to_string(), "dc1".to_string())]);
    let mut sim = Sim::new_serf(cfg).unwrap();
    for i in 0..M {
        sim.call(i, |s, _| s.set_guard(Some(guard("dc1")))).unwrap();
    }
    sim.join_staggered(Instant::ZERO, scenario::join_spacing(M));
    sim.run_until(secs(30));
    let alive = |sim: &Sim<Serf>, i: usize| -> Vec<String> {
        let mut v: Vec<String> = sim
            .core(i)
            .members()
            .into_iter()
            .filter(|m| m.status == MemberStatus::Alive)
            .map(|m| m.name.to_string())
            .collect();
        v.sort();
        v
    };
    let all: Vec<String> = {
        let mut v: Vec<String> = (0..M).map(|j| sim.name(j).to_string()).collect();
        v.sort();
        v
    };
    for i in 0..M {
        assert_eq!(alive(&sim, i), all, "seed {seed}: node {i} before the move");
    }
    let mover = M - 1;
    let purged = sim
        .call(mover, |s, now| {
            let mut tags = s.local_member().tags;
            tags.insert("dc".to_string(), "dc2".to_string());
            s.set_tags(now, tags).unwrap();
            s.set_guard(Some(guard("dc2")));
            s.purge_refused(now)
        })
        .unwrap();
    assert_eq!(
        purged.len(),
        M - 1,
        "seed {seed}: the mover purged {purged:?}"
    );
    let start = sim.now();
    let name = sim.name(mover).to_string();
    let rest: Vec<String> = all.iter().filter(|n| **n != name).cloned().collect();
    let dropped = |sim: &Sim<Serf>| {
        (0..mover).all(|i| {
            sim.core(i).members().iter().all(|m| *m.name != *name)
                && sim.core(i).swim().members().all(|m| *m.name != *name)
        })
    };
    let mut dropped_after = None;
    for _ in 0..100 {
        if dropped(&sim) {
            dropped_after = Some(sim.now().saturating_duration_since(start));
            break;
        }
        sim.run_for(Duration::from_millis(100));
    }
    let dropped_after =
        dropped_after.unwrap_or_else(|| panic!("seed {seed}: not dropped within 10 s"));
    // Three minutes of push-pulls (every 30 s) and gossip: it stays out, the rest stay whole.
    for _ in 0..180 {
        sim.run_for(Duration::from_secs(1));
        assert!(
            dropped(&sim),
            "seed {seed}: the moved node is back in its old pool at {:?}",
            sim.now()
        );
        for i in 0..mover {
            assert_eq!(
                alive(&sim, i),
                rest,
                "seed {seed}: node {i} at {:?}",
                sim.now()
            );
        }
    }
    assert_eq!(alive(&sim, mover), vec![name.clone()]);
    (dropped_after, sim.report().event_log_hash)
}

#[test]
fn a_node_moved_to_another_datacenter_leaves_its_old_pool_for_good() {
    for seed in [1, 2, 3, 4] {
        let (after, _) = move_one(seed);
        // Told directly: dropped within a network round trip, well before any push-pull.
        assert!(
            after <= Duration::from_millis(200),
            "seed {seed}: after {after:?}"
        );
    }
    assert_eq!(move_one(5).1, move_one(5).1, "same seed, same event log");
}
