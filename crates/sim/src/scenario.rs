//! Ready-made experiments. Each builds a [`Sim`], forms the cluster (node 0 founds it and
//! the others join it at staggered times), waits for the views to converge, applies its
//! faults, waits again, and returns the [`Report`].
//!
//! Each has a short form taking `(n, seed, ...)` with the LAN profile and a `_with` form
//! taking a whole [`SimConfig`]. The analytic bounds the tests use are here too.

use std::time::Duration;

use bytes::Bytes;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rumor_swim::suspicion::suspicion_timeout;
use rumor_swim::{Config, Instant};

use crate::action::Action;
use crate::config::SimConfig;
use crate::hash::splitmix64;
use crate::network::addr_of;
use crate::report::Report;
use crate::sim::Sim;

/// Time between two nodes' joins: the whole cluster forms in about 10 s, at most one join
/// every 5 ms and at least one every 100 ms.
pub fn join_spacing(n: usize) -> Duration {
    (Duration::from_secs(10) / n.max(1) as u32)
        .clamp(Duration::from_millis(5), Duration::from_millis(100))
}

/// The swim configuration the nodes of `cfg` run (node 0's, as an example).
pub fn swim_config(cfg: &SimConfig) -> Config {
    cfg.node_config("node-0".into(), addr_of(0))
}

/// Lifeguard's longest suspicion in a pool of `n`: `suspicion_max_timeout_mult` times the
/// minimum `suspicion_mult * max(1, log10 n) * probe_interval` (memberlist §9.2).
pub fn max_suspicion(c: &Config, n: usize) -> Duration {
    suspicion_timeout(c.suspicion_mult, n, c.probe_interval) * c.suspicion_max_timeout_mult
}

/// How long after the last join (or the last fault healing) the views may take to
/// converge before the run counts as not converged: the longest suspicion (a member
/// suspected during the turmoil must be cleared or confirmed), plus two push-pull periods
/// (anti-entropy repairs whatever gossip missed), plus a minute of gossip.
pub fn settle_limit(c: &Config, n: usize) -> Duration {
    let pp = c.push_pull_interval * push_pull_mult(n);
    max_suspicion(c, n) + pp * 2 + Duration::from_secs(60)
}

fn push_pull_mult(n: usize) -> u32 {
    if n <= 32 {
        1
    } else {
        ((n as f64).log2() - 5.0).ceil() as u32 + 1
    }
}

/// An RNG for a scenario's own choices (which nodes crash, when), independent of the
/// network's and the nodes'.
fn scenario_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(splitmix64(seed ^ 0x5ce0_a210))
}

/// Build the sim, form the cluster (staggered joins through node 0, see [`join_spacing`])
/// and wait for convergence (at most [`settle_limit`]; a timeout is a recorded violation).
///
/// # Panics
///
/// If the swim configuration the profile and tweak make is invalid.
pub fn form_cluster(cfg: SimConfig, name: &str) -> Sim {
    let n = cfg.nodes;
    let swim = swim_config(&cfg);
    let mut sim = match Sim::new(cfg) {
        Ok(s) => s,
        Err(e) => panic!("invalid simulation config: {e}"),
    };
    sim.set_scenario(name);
    let spacing = join_spacing(n);
    sim.join_staggered(Instant::ZERO, spacing);
    let last_join = Instant::ZERO + spacing * n.saturating_sub(1) as u32;
    sim.run_until(last_join);
    sim.settle("join", settle_limit(&swim, n));
    sim
}

/// `n` nodes join; the report tells how long until all saw all alive.
pub fn converge(n: usize, seed: u64) -> Report {
    converge_with(SimConfig::new(n, seed))
}

/// [`converge`] with any configuration; runs 10 s past convergence.
pub fn converge_with(cfg: SimConfig) -> Report {
    let mut sim = form_cluster(cfg, "converge");
    sim.reset_traffic();
    sim.run_for(Duration::from_secs(10));
    sim.report()
}

/// The cluster forms, then runs `duration` undisturbed (for traffic and speed figures:
/// the traffic window is the steady-state part only).
pub fn steady_with(cfg: SimConfig, duration: Duration) -> Report {
    let mut sim = form_cluster(cfg, "steady");
    sim.reset_traffic();
    sim.run_for(duration);
    let limit = settle_limit(&swim_config(sim.config()), sim.len());
    sim.settle("end", limit);
    sim.report()
}

/// The cluster forms, then `crashes` distinct random nodes crash at random times within
/// 10 s; the run goes on until every live member has declared each dead (or the bound of
/// [`crash_bound`] passes), then waits for convergence.
pub fn crash_detection(n: usize, seed: u64, crashes: usize) -> Report {
    crash_detection_with(SimConfig::new(n, seed), crashes)
}

/// A generous bound on crash-to-dead-everywhere: see the crate's crash test for the
/// derivation. `first_probe_periods` probe periods for some member to probe the crashed
/// one, one more for that probe to fail, the longest suspicion, and 10 gossip rounds plus
/// one probe period to spread the news.
pub fn crash_bound(c: &Config, n: usize, first_probe_periods: u32) -> Duration {
    c.probe_interval * (first_probe_periods + 1)
        + max_suspicion(c, n)
        + c.gossip_interval * 10
        + c.probe_interval
}

/// [`crash_detection`] with any configuration.
pub fn crash_detection_with(cfg: SimConfig, crashes: usize) -> Report {
    let n = cfg.nodes;
    let seed = cfg.seed;
    let mut sim = form_cluster(cfg, "crash_detection");
    let swim = swim_config(sim.config());
    sim.reset_traffic();
    let mut rng = scenario_rng(seed);
    let mut victims: Vec<usize> = (0..n).collect();
    victims.shuffle(&mut rng);
    victims.truncate(crashes.min(n.saturating_sub(1)));
    let t0 = sim.now() + Duration::from_secs(1);
    for &v in &victims {
        let at = t0 + Duration::from_millis(rng.gen_range(0..10_000));
        sim.schedule(at, Action::Crash(v));
    }
    sim.run_until(t0 + Duration::from_secs(10) + crash_bound(&swim, n, 20));
    sim.settle("crash", settle_limit(&swim, n));
    sim.report()
}

/// The cluster forms, then every datagram is lost with probability `rate` for
/// `duration`; loss ends and the views must converge.
pub fn loss(n: usize, seed: u64, rate: f64, duration: Duration) -> Report {
    loss_with(SimConfig::new(n, seed), rate, duration)
}

/// [`loss`] with any configuration.
pub fn loss_with(cfg: SimConfig, rate: f64, duration: Duration) -> Report {
    let n = cfg.nodes;
    let mut sim = form_cluster(cfg, "loss");
    let swim = swim_config(sim.config());
    sim.set_loss(rate);
    sim.reset_traffic();
    sim.run_for(duration);
    sim.set_loss(0.0);
    sim.settle("heal", settle_limit(&swim, n));
    sim.report()
}

/// The cluster forms, then splits into halves (even vs odd nodes) for `duration`; the
/// partition heals and the views must converge. Partitions longer than the dead-gossip
/// window (`gossip_to_the_dead_time`, 30 s on a LAN) need Serf's reconnect to heal: plain
/// memberlist forgets the other side.
pub fn partition(n: usize, seed: u64, duration: Duration) -> Report {
    partition_with(SimConfig::new(n, seed), duration)
}

/// [`partition`] with any configuration.
pub fn partition_with(cfg: SimConfig, duration: Duration) -> Report {
    let n = cfg.nodes;
    let mut sim = form_cluster(cfg, "partition");
    let swim = swim_config(sim.config());
    let evens: Vec<usize> = (0..n).step_by(2).collect();
    sim.partition(vec![evens]);
    sim.reset_traffic();
    sim.run_for(duration);
    sim.heal();
    sim.settle("heal", settle_limit(&swim, n));
    sim.report()
}

/// The cluster forms, then `pauses` random nodes stop for `duration` each, at random times
/// within 10 s; they resume and the views must converge.
pub fn pause(n: usize, seed: u64, pauses: usize, duration: Duration) -> Report {
    pause_with(SimConfig::new(n, seed), pauses, duration)
}

/// [`pause`] with any configuration.
pub fn pause_with(cfg: SimConfig, pauses: usize, duration: Duration) -> Report {
    let n = cfg.nodes;
    let seed = cfg.seed;
    let mut sim = form_cluster(cfg, "pause");
    let swim = swim_config(sim.config());
    let mut rng = scenario_rng(seed);
    let mut who: Vec<usize> = (0..n).collect();
    who.shuffle(&mut rng);
    who.truncate(pauses.min(n));
    let t0 = sim.now() + Duration::from_secs(1);
    for &w in &who {
        let at = t0 + Duration::from_millis(rng.gen_range(0..10_000));
        sim.schedule(at, Action::Pause { node: w, duration });
    }
    sim.reset_traffic();
    sim.run_until(t0 + Duration::from_secs(10) + duration);
    sim.settle("resume", settle_limit(&swim, n));
    sim.report()
}

/// The cluster forms, then `updates` random nodes change their meta at random times
/// within 10 s; the report's dissemination section tells how fast each spread.
pub fn meta_update(n: usize, seed: u64, updates: usize) -> Report {
    meta_update_with(SimConfig::new(n, seed), updates)
}

/// [`meta_update`] with any configuration.
pub fn meta_update_with(cfg: SimConfig, updates: usize) -> Report {
    let n = cfg.nodes;
    let seed = cfg.seed;
    let mut sim = form_cluster(cfg, "meta_update");
    let swim = swim_config(sim.config());
    let mut rng = scenario_rng(seed);
    let t0 = sim.now() + Duration::from_secs(1);
    for k in 0..updates {
        let node = rng.gen_range(0..n);
        let at = t0 + Duration::from_millis(rng.gen_range(0..10_000));
        let meta = Bytes::from(format!("role=web,version={k}"));
        sim.schedule(at, Action::SetMeta { node, meta });
    }
    sim.reset_traffic();
    sim.run_until(t0 + Duration::from_secs(40));
    sim.settle("meta", settle_limit(&swim, n));
    sim.report()
}

/// The cluster forms, then `leaves` random nodes leave gracefully; the views must
/// converge with them left.
pub fn leave(n: usize, seed: u64, leaves: usize) -> Report {
    leave_with(SimConfig::new(n, seed), leaves)
}

/// [`leave`] with any configuration.
pub fn leave_with(cfg: SimConfig, leaves: usize) -> Report {
    let n = cfg.nodes;
    let seed = cfg.seed;
    let mut sim = form_cluster(cfg, "leave");
    let swim = swim_config(sim.config());
    let mut rng = scenario_rng(seed);
    let mut who: Vec<usize> = (1..n).collect();
    who.shuffle(&mut rng);
    who.truncate(leaves);
    let t0 = sim.now() + Duration::from_secs(1);
    for &w in &who {
        let at = t0 + Duration::from_millis(rng.gen_range(0..10_000));
        sim.schedule(at, Action::Leave(w));
    }
    sim.reset_traffic();
    sim.run_until(t0 + Duration::from_secs(20));
    sim.settle("leave", settle_limit(&swim, n));
    sim.report()
}
