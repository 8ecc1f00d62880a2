//! Pauses (SIGSTOP / SIGCONT) as real processes see them: a stopped node's datagrams wait in
//! its socket buffer and its timers fire late, on waking, before it reads that buffer (see
//! `Sim::resume`). Each test mirrors a run on real agents.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::time::Duration;

use rumor_sim::{scenario, Sim, SimConfig, Status};
use rumor_swim::{Node, State};

/// Runs `sim` for `d` in 100 ms steps and returns how many (observer, member) pairs were
/// seen with a paused `member` dead (each pair counted once).
fn run_watching(
    sim: &mut Sim<Node>,
    d: Duration,
    paused: &[usize],
    seen: &mut Vec<(usize, usize)>,
) {
    let end = sim.now() + d;
    while sim.now() < end {
        sim.run_for(Duration::from_millis(100));
        for &p in paused {
            for o in 0..sim.len() {
                let dead = sim
                    .node(o)
                    .member(sim.name(p))
                    .is_some_and(|m| m.state == State::Dead);
                if o != p && dead && !seen.contains(&(o, p)) {
                    seen.push((o, p));
                }
            }
        }
    }
}

/// As on real agents (one agent stopped at a time for less than the minimum suspicion
/// timeout, no loss): nobody is declared dead, not while paused nor on waking. 100 nodes,
/// minimum suspicion 8 s, four 6 s pauses one after the other.
#[test]
fn pauses_one_at_a_time_below_min_suspicion_lose_nobody() {
    for seed in 1..=5 {
        let mut sim = scenario::form_cluster(SimConfig::new(100, seed), "pause");
        let victims = [3, 41, 67, 90];
        let mut seen = Vec::new();
        for &v in &victims {
            sim.pause(v, Duration::from_secs(6));
            run_watching(&mut sim, Duration::from_secs(15), &victims, &mut seen);
            assert_eq!(sim.status(v), Status::Running);
        }
        let r = sim.report();
        assert!(r.ok, "seed {seed}: {:?}", r.violations);
        assert_eq!(seen, vec![], "seed {seed}: declared dead while paused");
        assert_eq!(
            r.false_positives.count, 0,
            "seed {seed}: {:?}",
            r.false_positives.list
        );
        assert!(
            r.protocol.refutes > 0,
            "seed {seed}: the paused nodes refuted"
        );
    }
}

/// The real-agent run (8 agents, `lan`): agent 1 is stopped 5 s; 3.5 s in, agent 2 is
/// stopped 26 s as soon as it suspects agent 1 (in the real run, 3.5 s in). Agent 1 refutes on waking, but agent 2's suspicion
/// expires while it is stopped, and on waking it fires that timer before it reads the
/// refutation in its buffer: it alone declares agent 1 dead, at the refuted incarnation,
/// then sees it alive again. This is where `scenario::pause`'s false positives come from
/// (overlapping pauses); a simulator that read the buffer first would hide it.
#[test]
fn a_paused_observer_declares_dead_on_waking_a_member_refuted_meanwhile() {
    for seed in 1..=5 {
        let mut sim = scenario::form_cluster(SimConfig::new(8, seed), "overlap");
        sim.pause(1, Duration::from_secs(5));
        // Node 2 stops as soon as it suspects node 1 (the suspicion must outlive its stop).
        let give_up = sim.now() + Duration::from_millis(4500);
        while sim.now() < give_up
            && sim
                .node(2)
                .member(sim.name(1))
                .is_some_and(|m| m.state != State::Suspect)
        {
            sim.run_for(Duration::from_millis(10));
        }
        let suspects = sim
            .node(2)
            .member(sim.name(1))
            .is_some_and(|m| m.state == State::Suspect);
        assert!(
            suspects,
            "seed {seed}: node 2 suspects node 1 when it stops"
        );
        sim.pause(2, Duration::from_secs(26));
        sim.run_for(Duration::from_secs(26));
        let woke = sim.now().as_duration().as_secs_f64();
        sim.run_for(Duration::from_secs(1));
        let limit = scenario::settle_limit(&scenario::swim_config(sim.config()), 8);
        sim.settle("end", limit).unwrap();
        let r = sim.report();
        assert!(r.ok, "seed {seed}: {:?}", r.violations);
        let about_1: Vec<_> = r
            .false_positives
            .list
            .iter()
            .filter(|f| f.member == 1)
            .collect();
        assert_eq!(
            about_1.len(),
            1,
            "seed {seed}: {:?}",
            r.false_positives.list
        );
        let f = about_1[0];
        assert_eq!((f.observer, f.incarnation), (2, 1), "seed {seed}: {f:?}");
        assert!(
            (f.time_s - woke).abs() < 0.01,
            "seed {seed}: {f:?} vs {woke}"
        );
        assert!(sim.node(1).incarnation() > 1, "seed {seed}: node 1 refuted");
    }
}

/// A pause well past the suspicion timeout: the others declare the node dead while it is
/// stopped; on waking it reads the news and refutes with a higher incarnation, and the
/// views converge on it alive.
#[test]
fn a_long_pause_is_declared_dead_then_refuted() {
    for seed in 1..=5 {
        let mut sim = scenario::form_cluster(SimConfig::new(100, seed), "long-pause");
        let before = sim.node(7).incarnation();
        sim.pause(7, Duration::from_secs(30));
        let mut seen = Vec::new();
        run_watching(&mut sim, Duration::from_millis(29_900), &[7], &mut seen);
        assert_eq!(seen.len(), 99, "seed {seed}: all others declared it dead");
        let limit = scenario::settle_limit(&scenario::swim_config(sim.config()), 100);
        sim.settle("resume", limit).unwrap();
        let r = sim.report();
        assert!(r.ok, "seed {seed}: {:?}", r.violations);
        let now = sim.node(7).incarnation();
        assert!(now > before, "seed {seed}: refuted ({before} -> {now})");
        for o in 0..100 {
            let m = sim.node(o).member(sim.name(7)).unwrap();
            assert_eq!(
                (m.state, m.incarnation),
                (State::Alive, now),
                "seed {seed}, node {o}"
            );
        }
    }
}

/// Short pauses one after another (3 s of one of 8 nodes, 10 s apart) over `seeds`, with
/// `tweak` applied to every node's config: how many pauses ended with a dead declaration of
/// the paused node, and by how many observers at most.
fn short_pauses(
    seeds: std::ops::RangeInclusive<u64>,
    pauses: usize,
    tweak: Option<rumor_sim::ConfigTweak>,
) -> (usize, usize) {
    let (mut bad_pauses, mut most) = (0, 0);
    for seed in seeds {
        let mut cfg = SimConfig::new(8, seed);
        cfg.tweak = tweak;
        let mut sim = scenario::form_cluster(cfg, "short-pauses");
        for _ in 0..pauses {
            let mut seen = Vec::new();
            sim.pause(3, Duration::from_secs(3));
            run_watching(&mut sim, Duration::from_secs(13), &[3], &mut seen);
            if !seen.is_empty() {
                bad_pauses += 1;
            }
            most = most.max(seen.len());
        }
        let r = sim.report();
        assert!(r.ok, "seed {seed}: {:?}", r.violations);
    }
    (bad_pauses, most)
}

/// memberlist's rule (every broadcast sent `retransmit_mult * ceil(log10(n + 1))` times,
/// refutations too) now and then lets one member miss every copy of a refutation: its
/// suspicion runs out and it declares the paused node dead although it refuted in time (real
/// Serf 0.9.4: 1 pause of 60 on the testbed). Sending refutations twice as often
/// (`refute_retransmit_factor`, rumor's default) takes that to none in the same 600 pauses.
#[test]
fn refutations_sent_twice_as_often_stop_the_false_positives_of_short_pauses() {
    let memberlist: rumor_sim::ConfigTweak = |c| c.refute_retransmit_factor = 1;
    let (bad, most) = short_pauses(1..=20, 30, Some(memberlist));
    eprintln!("memberlist's rule: {bad} of 600 short pauses with a dead declaration");
    assert!(bad >= 5, "the weakness reproduces: {bad} of 600");
    assert_eq!(most, 1, "always a single observer");
    let (bad, _) = short_pauses(1..=20, 30, None);
    assert_eq!(bad, 0, "rumor's default: {bad} of 600");
}
