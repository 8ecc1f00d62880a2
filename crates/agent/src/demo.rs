//! `rumor demo`: a handful of agents on loopback, in this process, each with its own UDP
//! socket and TCP listener. They join, converge, one is killed without a word, and the others
//! detect it. Prints a timeline and exits.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use rumor_serf::MemberStatus;

use crate::agent::Agent;
use crate::cli::{AgentArgs, DemoArgs};
use crate::config::AgentConfig;
use crate::logging::LogRing;
use crate::rpc::convert::status_str;

/// Longest the demo waits for any one step.
const STEP_LIMIT: Duration = Duration::from_secs(60);

fn say(start: Instant, msg: impl std::fmt::Display) {
    let _ = writeln!(
        std::io::stdout(),
        "[{:6.2}s] {msg}",
        start.elapsed().as_secs_f64()
    );
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + STEP_LIMIT;
    while !cond() {
        if Instant::now() > deadline {
            bail!("demo: {what} did not happen within {STEP_LIMIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Run the demo.
pub async fn run(args: DemoArgs) -> Result<()> {
    let n = args.agents.clamp(3, 16);
    let start = Instant::now();
    say(start, format!("starting {n} rumor agents on 127.0.0.1 (LAN profile: probe every 1 s, Lifeguard suspicion)"));
    let mut agents = Vec::new();
    for i in 0..n {
        let a = AgentArgs {
            node: Some(format!("demo-{i}")),
            dc: Some("dc1".into()),
            bind: Some("127.0.0.1:0".into()),
            tags: vec![format!("role={}", if i == 0 { "seed" } else { "worker" })],
            ..Default::default()
        };
        let config = AgentConfig::load(&a)?;
        let agent = Agent::start(config, LogRing::new()).await?;
        say(
            start,
            format!("  demo-{i} gossiping on {}", agent.lan.local_addr()),
        );
        agents.push(agent);
    }
    let seed = agents[0].lan.local_addr().to_string();
    for a in &agents[1..] {
        let joined = a.join(std::slice::from_ref(&seed), false).await?;
        say(
            start,
            format!(
                "  {} joined through {seed} ({joined} node answered)",
                a.config.node
            ),
        );
    }
    let all_alive = |agents: &[std::sync::Arc<Agent>], n: usize| {
        agents.iter().all(|a| {
            let m = a.members();
            m.len() == n && m.iter().all(|m| m.status == MemberStatus::Alive)
        })
    };
    wait_until("convergence", || all_alive(&agents, n)).await?;
    say(
        start,
        format!("converged: every agent sees all {n} members alive"),
    );
    print_members(&agents[0]);

    let victim = agents.pop().ok_or_else(|| anyhow::anyhow!("no agents"))?;
    let name = victim.config.node.clone();
    say(
        start,
        format!("killing {name} without a leave (its sockets close, it answers nothing)"),
    );
    let killed_at = Instant::now();
    victim.lan.shutdown().await;
    let gone = |a: &Agent| {
        a.members()
            .iter()
            .any(|m| *m.name == *name && m.status == MemberStatus::Failed)
    };
    let mut first = None;
    wait_until("detection", || {
        let seen = agents.iter().filter(|a| gone(a)).count();
        if seen > 0 && first.is_none() {
            first = Some(killed_at.elapsed());
        }
        seen == agents.len()
    })
    .await?;
    let all = killed_at.elapsed();
    if let Some(f) = first {
        say(
            start,
            format!(
                "first agent marked {name} failed after {:.1}s",
                f.as_secs_f64()
            ),
        );
    }
    say(
        start,
        format!(
            "every remaining agent marks {name} failed after {:.1}s",
            all.as_secs_f64()
        ),
    );
    print_members(&agents[0]);
    say(start, "leaving gracefully with the others");
    for a in &agents {
        let _ = a.leave().await;
        a.lan.shutdown().await;
    }
    say(start, "done");
    Ok(())
}

fn print_members(agent: &Agent) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "         members as {} sees them:", agent.config.node);
    let mut members = agent.lan.call(|serf, _| serf.members());
    members.sort_by(|a, b| a.name.cmp(&b.name));
    for m in members {
        let tags = m
            .tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let _ = writeln!(
            out,
            "           {:8} {:21} {:7} {}",
            m.name,
            m.addr,
            status_str(m.status),
            tags
        );
    }
}
