//! `rumor-sim`: run one simulation scenario and print its JSON report.
//!
//! ```text
//! rumor-sim converge --nodes 100 --seed 1
//! rumor-sim crash --nodes 50 --crashes 3
//! rumor-sim loss --nodes 100 --loss 0.01 --duration 600
//! rumor-sim speed --nodes 1000 --duration 60
//! ```
//!
//! `speed` is the benchmark: it reads the wall clock (the library never does) and prints
//! simulated seconds per wall second for the join phase and for the steady state, and the
//! resident memory per member entry once the cluster has converged.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use rumor_sim::{scenario, LatencyModel, Profile, SimConfig};
use serde::Serialize;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Scenario {
    /// Nodes join; time until all see all.
    Converge,
    /// Random nodes crash; detection times.
    Crash,
    /// Datagram loss for --duration; false positives.
    Loss,
    /// Halves cut apart for --duration, then healed.
    Partition,
    /// Random nodes pause for --duration.
    Pause,
    /// Random meta updates; dissemination times.
    Meta,
    /// Random nodes leave gracefully.
    Leave,
    /// Undisturbed run of --duration: traffic per member.
    Steady,
    /// Benchmark: sim seconds per wall second, memory per member entry.
    Speed,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProfileArg {
    Lan,
    Wan,
    Local,
}

/// Run a rumor-swim cluster simulation and print its JSON report.
#[derive(Debug, Parser)]
#[command(name = "rumor-sim", version)]
struct Args {
    /// What to simulate.
    #[arg(value_enum)]
    scenario: Scenario,
    /// Number of nodes.
    #[arg(long, default_value_t = 100)]
    nodes: usize,
    /// Master seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Length of the fault or measurement phase, in simulated seconds.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Datagram loss probability (the `loss` scenario's loss; a background loss for others).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// memberlist profile.
    #[arg(long, value_enum, default_value_t = ProfileArg::Lan)]
    profile: ProfileArg,
    /// Number of crashes, pauses, meta updates or leaves.
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Base one-way latency in milliseconds (default: the profile's model).
    #[arg(long)]
    latency_ms: Option<f64>,
    /// Per-packet jitter in milliseconds.
    #[arg(long)]
    jitter_ms: Option<f64>,
    /// Length of each node's meta in bytes.
    #[arg(long, default_value_t = 0)]
    meta_len: usize,
    /// Disable the periodic incarnation scan (saves 4 bytes per member entry).
    #[arg(long)]
    no_checks: bool,
    /// Print compact JSON.
    #[arg(long)]
    compact: bool,
}

#[derive(Debug, Serialize)]
struct Phase {
    sim_s: f64,
    wall_s: f64,
    sim_s_per_wall_s: f64,
}

#[derive(Debug, Serialize)]
struct Speed {
    nodes: usize,
    seed: u64,
    profile: String,
    join: Phase,
    drain: Phase,
    steady: Phase,
    converged: bool,
    rss_baseline_bytes: u64,
    rss_converged_bytes: u64,
    rss_drained_bytes: u64,
    rss_end_bytes: u64,
    member_entries: u64,
    bytes_per_member_entry: f64,
    report: rumor_sim::Report,
}

/// Resident set size of this process, from /proc (0 where unavailable).
fn rss_bytes() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn phase(sim_s: f64, wall: Duration) -> Phase {
    let wall_s = wall.as_secs_f64();
    Phase {
        sim_s,
        wall_s,
        sim_s_per_wall_s: if wall_s > 0.0 { sim_s / wall_s } else { 0.0 },
    }
}

fn speed(cfg: SimConfig, duration: Duration) -> Speed {
    let n = cfg.nodes;
    let base = rss_bytes();
    let wall = std::time::Instant::now();
    let mut sim = scenario::form_cluster(cfg, "speed");
    let join = phase(sim.now().as_duration().as_secs_f64(), wall.elapsed());
    let converged = sim.is_converged();
    let rss = rss_bytes();
    // Let the join gossip drain (every alive is retransmitted ~4 log10(n) times by every
    // node), so the steady phase measures steady state.
    let wall = std::time::Instant::now();
    let t0 = sim.now();
    let limit = t0 + Duration::from_secs(600);
    while sim.queued_broadcasts() > 0 && sim.now() < limit {
        sim.run_for(Duration::from_secs(1));
    }
    let drain = phase(
        sim.now().saturating_duration_since(t0).as_secs_f64(),
        wall.elapsed(),
    );
    let rss_drained = rss_bytes();
    sim.reset_traffic();
    let wall = std::time::Instant::now();
    sim.run_for(duration);
    let steady = phase(duration.as_secs_f64(), wall.elapsed());
    let entries = (n as u64) * (n as u64);
    let report = sim.report();
    let (seed, profile) = (sim.config().seed, sim.config().profile.as_str().to_string());
    // Skip the teardown of n² member entries: exiting is faster, and a heap profiler
    // then reports every live allocation of the converged cluster as "leaked", by site.
    std::mem::forget(sim);
    Speed {
        nodes: n,
        seed,
        profile,
        join,
        drain,
        steady,
        converged,
        rss_baseline_bytes: base,
        rss_converged_bytes: rss,
        rss_drained_bytes: rss_drained,
        rss_end_bytes: rss_bytes(),
        member_entries: entries,
        bytes_per_member_entry: rss_drained.saturating_sub(base) as f64 / entries.max(1) as f64,
        report,
    }
}

fn print<T: Serialize>(v: &T, compact: bool) -> Result<(), serde_json::Error> {
    let s = if compact {
        serde_json::to_string(v)?
    } else {
        serde_json::to_string_pretty(v)?
    };
    println!("{s}");
    Ok(())
}

fn main() -> ExitCode {
    let a = Args::parse();
    let profile = match a.profile {
        ProfileArg::Lan => Profile::Lan,
        ProfileArg::Wan => Profile::Wan,
        ProfileArg::Local => Profile::Local,
    };
    let mut cfg = SimConfig::new(a.nodes, a.seed).with_profile(profile);
    if let Some(ms) = a.latency_ms {
        cfg.latency = LatencyModel {
            base: Duration::from_secs_f64(ms / 1000.0),
            ..cfg.latency
        };
    }
    if let Some(ms) = a.jitter_ms {
        cfg.latency = LatencyModel {
            jitter: Duration::from_secs_f64(ms / 1000.0),
            ..cfg.latency
        };
    }
    cfg.meta_len = a.meta_len;
    if a.no_checks {
        cfg.check_interval = None;
    }
    let duration = Duration::from_secs_f64(a.duration.max(0.0));
    if !matches!(a.scenario, Scenario::Loss) {
        cfg.loss = a.loss;
    }
    let report = match a.scenario {
        Scenario::Converge => scenario::converge_with(cfg),
        Scenario::Crash => scenario::crash_detection_with(cfg, a.count),
        Scenario::Loss => scenario::loss_with(cfg, a.loss, duration),
        Scenario::Partition => scenario::partition_with(cfg, duration),
        Scenario::Pause => scenario::pause_with(cfg, a.count, duration),
        Scenario::Meta => scenario::meta_update_with(cfg, a.count),
        Scenario::Leave => scenario::leave_with(cfg, a.count),
        Scenario::Steady => scenario::steady_with(cfg, duration),
        Scenario::Speed => {
            let s = speed(cfg, duration);
            let ok = s.report.ok;
            if let Err(e) = print(&s, a.compact) {
                eprintln!("rumor-sim: {e}");
                return ExitCode::FAILURE;
            }
            return if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    if let Err(e) = print(&report, a.compact) {
        eprintln!("rumor-sim: {e}");
        return ExitCode::FAILURE;
    }
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
