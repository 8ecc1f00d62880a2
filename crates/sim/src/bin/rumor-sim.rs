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

#![allow(clippy::print_stderr)] // one-line errors go to stderr

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use rumor_sim::{scenario, LatencyModel, Profile, SimConfig};
use rumor_swim::Instant;
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
    /// `speed` only: simulated seconds to run between the drained cluster and the measured
    /// steady phase (use one push-pull period: 30 s times the push-pull scale of n).
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// `speed` only: stop (exit code 3) if the process grows past this many GB.
    #[arg(long, default_value_t = 0.0)]
    max_rss_gb: f64,
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
    warmup: Phase,
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

/// `MemAvailable` of the machine, from /proc (`u64::MAX` where unavailable).
fn mem_available() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/meminfo") else {
        return u64::MAX;
    };
    s.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(u64::MAX, |kb| kb * 1024)
}

/// Stop the process if it grows past `max_rss` or leaves the machine under 1 GiB free
/// (the machine is shared: better to lose this run than someone else's build).
fn guard(max_rss: u64, sim: &rumor_sim::Sim) {
    let rss = rss_bytes();
    if (max_rss > 0 && rss > max_rss) || mem_available() < (1 << 30) {
        eprintln!(
            "rumor-sim: stopping at {:.1} simulated s: RSS {:.2} GB, {:.2} GB available",
            sim.now().as_duration().as_secs_f64(),
            rss as f64 / 1e9,
            mem_available() as f64 / 1e9
        );
        std::process::exit(3);
    }
}

fn speed(cfg: SimConfig, duration: Duration, warmup: Duration, max_rss: u64) -> Speed {
    let n = cfg.nodes;
    let base = rss_bytes();
    let wall = std::time::Instant::now();
    // scenario::form_cluster, in one-second steps so the memory guard can run.
    let swim = scenario::swim_config(&cfg);
    let mut sim = match rumor_sim::Sim::new(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rumor-sim: {e}");
            std::process::exit(1);
        }
    };
    sim.set_scenario("speed");
    let spacing = scenario::join_spacing(n);
    sim.join_staggered(Instant::ZERO, spacing);
    let last_join = Instant::ZERO + spacing * n.saturating_sub(1) as u32;
    let limit = last_join + scenario::settle_limit(&swim, n);
    while sim.now() < last_join || (!sim.is_converged() && sim.now() < limit) {
        sim.run_for(Duration::from_secs(1));
        guard(max_rss, &sim);
    }
    sim.settle("join", Duration::ZERO);
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
        guard(max_rss, &sim);
    }
    let drain = phase(
        sim.now().saturating_duration_since(t0).as_secs_f64(),
        wall.elapsed(),
    );
    let rss_drained = rss_bytes();
    // Push-pull timers set while the tables were still small fire early: let a whole
    // (scaled) push-pull period pass so the steady phase sees its natural rate.
    let wall = std::time::Instant::now();
    let t0 = sim.now();
    while sim.now() < t0 + warmup {
        sim.run_for(Duration::from_secs(1));
        guard(max_rss, &sim);
    }
    let warm = phase(warmup.as_secs_f64(), wall.elapsed());
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
        warmup: warm,
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

/// Print the JSON; a closed pipe (`rumor-sim ... | head`) is not an error.
fn print<T: Serialize>(v: &T, compact: bool) -> Result<(), std::io::Error> {
    use std::io::Write;
    let s = if compact {
        serde_json::to_string(v)?
    } else {
        serde_json::to_string_pretty(v)?
    };
    match writeln!(std::io::stdout().lock(), "{s}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
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
            let warmup = Duration::from_secs_f64(a.warmup.max(0.0));
            let s = speed(cfg, duration, warmup, (a.max_rss_gb * 1e9) as u64);
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
