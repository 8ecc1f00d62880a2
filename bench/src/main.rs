//! The side-by-side harness: N rumor agents and N real `serf` agents on loopback, started,
//! measured and killed the same way, one kind after the other. Writes
//! `docs/results/bench.md` with the figures and the ratios rumor/serf.
//!
//! ```sh
//! cargo build --release -p rumor && cargo run --release -p rumor-bench -- --agents 16
//! ```
//!
//! Measured per kind: RSS per agent (VmRSS), CPU per agent over an idle period
//! (utime+stime from /proc), time from start to all-see-all, time from kill -9 to
//! all-marked-failed (median of several kills), and gossip bytes per agent per second
//! (nftables counters on the kind's loopback subnet; needs root and `nft`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use rumor::rpc::client::Client;
use rumor::rpc::proto::{MembersFilteredRequest, MembersResponse};

#[derive(Debug, Parser)]
struct Args {
    /// Agents of each kind.
    #[arg(long, default_value_t = 16)]
    agents: usize,
    /// Seconds of idle measurement.
    #[arg(long, default_value_t = 60)]
    idle: u64,
    /// Kills (for the detection median).
    #[arg(long, default_value_t = 3)]
    kills: usize,
    /// The rumor binary (default: target/release/rumor).
    #[arg(long)]
    rumor: Option<PathBuf>,
    /// Where to write the report.
    #[arg(long, default_value = "docs/results/bench.md")]
    out: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rumor,
    Serf,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Rumor => "rumor",
            Kind::Serf => "serf",
        }
    }
    fn subnet(self) -> u8 {
        match self {
            Kind::Rumor => 70,
            Kind::Serf => 71,
        }
    }
}

struct Agent {
    child: Option<Child>,
    rpc: String,
    name: String,
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[derive(Debug, Default)]
struct Figures {
    rss_kib: f64,
    cpu_pct: f64,
    converge_s: f64,
    detect_s: f64,
    bytes_per_s: Option<f64>,
}

fn ip(kind: Kind, i: usize) -> String {
    format!("127.0.{}.{}", kind.subnet(), i + 1)
}

fn spawn(kind: Kind, rumor: &PathBuf, i: usize) -> Result<Agent> {
    let ip = ip(kind, i);
    let name = format!("{}{}", &kind.name()[..1], i);
    let gossip = format!("{ip}:7946");
    let rpc = format!("{ip}:7373");
    let seed = format!("127.0.{}.1:7946", kind.subnet());
    let mut cmd = match kind {
        Kind::Rumor => {
            let mut c = Command::new(rumor);
            c.args([
                "agent",
                "--node",
                &name,
                "--bind",
                &gossip,
                "--rpc-addr",
                &rpc,
                "--log-level",
                "warn",
            ]);
            if i > 0 {
                c.args(["--join", &seed]);
            }
            c
        }
        Kind::Serf => {
            let mut c = Command::new("serf");
            c.args([
                "agent",
                &format!("-node={name}"),
                &format!("-bind={gossip}"),
                &format!("-rpc-addr={rpc}"),
            ]);
            c.args(["-log-level=warn", "-tag=dc=dc1"]);
            if i > 0 {
                c.arg(format!("-join={seed}"));
            }
            c
        }
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {} agent", kind.name()))?;
    Ok(Agent {
        child: Some(child),
        rpc,
        name,
    })
}

async fn members(rpc: &str) -> Option<Vec<(String, String)>> {
    let mut c = Client::connect(rpc, Duration::from_secs(2)).await.ok()?;
    let r: MembersResponse = c
        .call(
            "members-filtered",
            Some(&MembersFilteredRequest::default()),
            false,
        )
        .await
        .ok()?;
    Some(r.members.into_iter().map(|m| (m.name, m.status)).collect())
}

fn proc_stat(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((utime + stime, rss))
}

fn nft(args: &str) -> bool {
    Command::new("nft")
        .args(args.split_whitespace())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Counters on the kind's subnet: UDP from gossip ports, TCP to and from them.
fn counters_start(kind: Kind) -> bool {
    let t = format!("rumorbench{}", kind.subnet());
    let net = format!("127.0.{}.0/24", kind.subnet());
    nft(&format!("delete table ip {t}"));
    nft(&format!("add table ip {t}"))
        && nft(&format!(
            "add chain ip {t} out {{ type filter hook output priority 0 ; }}"
        ))
        && nft(&format!(
            "add rule ip {t} out ip saddr {net} udp sport 7946 counter"
        ))
        && nft(&format!(
            "add rule ip {t} out ip daddr {net} tcp dport 7946 counter"
        ))
        && nft(&format!(
            "add rule ip {t} out ip saddr {net} tcp sport 7946 counter"
        ))
}

fn counters_read(kind: Kind) -> Option<u64> {
    let t = format!("rumorbench{}", kind.subnet());
    let out = Command::new("nft")
        .args(["list", "table", "ip", &t])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut total = 0;
    for w in text.split("bytes ").skip(1) {
        total += w.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

fn counters_stop(kind: Kind) {
    nft(&format!("delete table ip rumorbench{}", kind.subnet()));
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

async fn measure(kind: Kind, args: &Args, rumor: &PathBuf) -> Result<Figures> {
    let n = args.agents;
    println!("== {}: {n} agents", kind.name());
    let start = Instant::now();
    let mut agents = Vec::new();
    for i in 0..n {
        agents.push(spawn(kind, rumor, i)?);
        if i == 0 {
            // The seed must listen before the others join it.
            let deadline = Instant::now() + Duration::from_secs(20);
            while members(&agents[0].rpc).await.is_none() {
                if Instant::now() > deadline {
                    bail!("{} seed agent did not come up", kind.name());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut all = true;
        for a in &agents {
            let ok = members(&a.rpc)
                .await
                .is_some_and(|m| m.len() == n && m.iter().all(|x| x.1 == "alive"));
            if !ok {
                all = false;
                break;
            }
        }
        if all {
            break;
        }
        if Instant::now() > deadline {
            bail!("{} agents did not converge", kind.name());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let converge_s = start.elapsed().as_secs_f64();
    println!("   converged in {converge_s:.2} s");

    // Idle: CPU, bytes, then RSS.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let pids: Vec<u32> = agents
        .iter()
        .filter_map(|a| a.child.as_ref().map(|c| c.id()))
        .collect();
    let have_counters = counters_start(kind);
    let before: Vec<u64> = pids
        .iter()
        .map(|&p| proc_stat(p).map_or(0, |s| s.0))
        .collect();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.idle)).await;
    let secs = t0.elapsed().as_secs_f64();
    let bytes = if have_counters {
        counters_read(kind)
    } else {
        None
    };
    counters_stop(kind);
    let after: Vec<(u64, u64)> = pids
        .iter()
        .map(|&p| proc_stat(p).unwrap_or((0, 0)))
        .collect();
    let ticks = 100.0; // USER_HZ
    let cpu: Vec<f64> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| (a.0.saturating_sub(*b)) as f64 / ticks / secs * 100.0)
        .collect();
    let rss: Vec<f64> = after.iter().map(|a| a.1 as f64).collect();
    // Mean over all agents: one agent's idle CPU is a few clock ticks, too coarse for a median.
    let cpu_pct = cpu.iter().sum::<f64>() / cpu.len().max(1) as f64;
    let rss_kib = median(rss);
    let bytes_per_s = bytes.map(|b| b as f64 / secs / n as f64);
    println!("   idle {secs:.0} s: mean CPU {cpu_pct:.3}% per agent, median RSS {rss_kib:.0} KiB, bytes/agent/s {bytes_per_s:?}");

    // Detection: kill -9 agents n-1, n-2, ... and time until everyone else marks it failed.
    let mut detect = Vec::new();
    for k in 0..args.kills.min(n.saturating_sub(2)) {
        let victim = n - 1 - k;
        let name = agents[victim].name.clone();
        if let Some(mut c) = agents[victim].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let t = Instant::now();
        let deadline = t + Duration::from_secs(120);
        loop {
            let mut all = true;
            for a in agents.iter().take(victim) {
                let failed = members(&a.rpc)
                    .await
                    .is_some_and(|m| m.iter().any(|x| x.0 == name && x.1 == "failed"));
                if !failed {
                    all = false;
                    break;
                }
            }
            if all {
                break;
            }
            if Instant::now() > deadline {
                bail!("{} agents did not detect {name}", kind.name());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let d = t.elapsed().as_secs_f64();
        println!("   kill -9 {name}: all marked failed after {d:.2} s");
        detect.push(d);
    }
    Ok(Figures {
        rss_kib,
        cpu_pct,
        converge_s,
        detect_s: median(detect),
        bytes_per_s,
    })
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() && b.is_finite() {
        format!("{:.2}", a / b)
    } else {
        "n/a".into()
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let rumor = args
        .rumor
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/release/rumor"));
    if !rumor.exists() {
        bail!(
            "{} not found: run cargo build --release -p rumor first",
            rumor.display()
        );
    }
    let r = measure(Kind::Rumor, &args, &rumor).await?;
    let s = measure(Kind::Serf, &args, &rumor).await?;
    let mut md = String::new();
    let _ = writeln!(md, "# Side by side: rumor and serf 0.9.4 on loopback\n");
    let _ = writeln!(
        md,
        "{} agents of each kind, LAN profile, one kind at a time on a 2-core machine; idle period {} s; detection is the median of {} kill -9s. Produced by `cargo run --release -p rumor-bench -- --agents {}`.\n",
        args.agents, args.idle, args.kills, args.agents
    );
    let _ = writeln!(md, "| measure | rumor | serf | rumor/serf | goal |");
    let _ = writeln!(md, "|---|---:|---:|---:|---|");
    let mut row = |what: &str, a: f64, b: f64, digits: usize, goal: &str| {
        let _ = writeln!(
            md,
            "| {what} | {a:.digits$} | {b:.digits$} | {} | {goal} |",
            ratio(a, b)
        );
    };
    row(
        "RSS per agent (median, KiB)",
        r.rss_kib,
        s.rss_kib,
        0,
        "≤ 0.25",
    );
    row(
        "CPU per agent, idle (mean, % of a core)",
        r.cpu_pct,
        s.cpu_pct,
        3,
        "≤ 0.5",
    );
    row(
        "start to all-see-all (s)",
        r.converge_s,
        s.converge_s,
        2,
        "≤ 1.0",
    );
    row(
        "kill -9 to all-marked-failed (median, s)",
        r.detect_s,
        s.detect_s,
        2,
        "≤ 1.0",
    );
    match (r.bytes_per_s, s.bytes_per_s) {
        (Some(a), Some(b)) => row("gossip bytes per agent per second", a, b, 0, "≤ 1.0"),
        _ => {
            let _ = writeln!(
                md,
                "| gossip bytes per agent per second | n/a | n/a | n/a | needs root and nft |"
            );
        }
    }
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &md)?;
    println!("\n{md}");
    Ok(())
}
