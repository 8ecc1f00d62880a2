//! `rumor demo`: two datacenters on loopback, in this process, each agent with its own UDP
//! socket and TCP listener: dc1 a handful of agents (one a server), dc2 a server and a client.
//! They join and converge, the two servers federate over the WAN pool, a dc2 agent's join of
//! dc1's LAN pool is refused, an event sent from dc1 to dc2 is seen there, one dc1 agent is
//! killed without a word and the others detect it, and everyone leaves. Prints a timeline.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use rumor_serf::{Event as SerfEvent, MemberStatus};

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

/// Start one in-process agent of datacenter `dc` on loopback (a server also binds a WAN pool).
async fn start_agent(
    start: Instant,
    name: &str,
    dc: &str,
    server: bool,
) -> Result<std::sync::Arc<Agent>> {
    let a = AgentArgs {
        node: Some(name.to_string()),
        dc: Some(dc.into()),
        bind: Some("127.0.0.1:0".into()),
        server,
        wan_bind: server.then(|| "127.0.0.1:0".to_string()),
        ..Default::default()
    };
    let config = AgentConfig::load(&a)?;
    let agent = Agent::start(config, LogRing::new()).await?;
    let wan = agent
        .wan
        .as_ref()
        .map(|w| format!(", WAN pool on {} as {}", w.local_addr(), agent.wan_name()))
        .unwrap_or_default();
    say(
        start,
        format!(
            "  {name} ({dc}, {}) gossiping on {}{wan}",
            if server { "server" } else { "client" },
            agent.lan.local_addr()
        ),
    );
    Ok(agent)
}

/// Join every agent of `agents` but the first through the first.
async fn join_all(start: Instant, agents: &[std::sync::Arc<Agent>]) -> Result<()> {
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
    Ok(())
}

fn all_alive(agents: &[std::sync::Arc<Agent>]) -> bool {
    agents.iter().all(|a| {
        let m = a.members();
        m.len() == agents.len() && m.iter().all(|m| m.status == MemberStatus::Alive)
    })
}

/// Run the demo.
pub async fn run(args: DemoArgs) -> Result<()> {
    let n = args.agents.clamp(3, 16);
    let start = Instant::now();
    say(start, format!("datacenter dc1: {n} rumor agents on 127.0.0.1, demo-0 its server; datacenter dc2: a server and a client (LAN profile: probe every 1 s, Lifeguard suspicion)"));
    let mut agents = Vec::new();
    for i in 0..n {
        agents.push(start_agent(start, &format!("demo-{i}"), "dc1", i == 0).await?);
    }
    let far = vec![
        start_agent(start, "far-0", "dc2", true).await?,
        start_agent(start, "far-1", "dc2", false).await?,
    ];
    join_all(start, &agents).await?;
    join_all(start, &far).await?;
    wait_until("convergence", || all_alive(&agents) && all_alive(&far)).await?;
    say(
        start,
        format!("converged: every dc1 agent sees all {n} members alive, every dc2 agent both"),
    );
    print_members(&agents[0]);

    // Federation: dc2's server joins dc1's server in the WAN pool.
    let Some(wan0) = agents[0].wan.as_ref().map(|w| w.local_addr().to_string()) else {
        bail!("demo-0 has no WAN pool");
    };
    far[0].wan_join(std::slice::from_ref(&wan0)).await?;
    wait_until("WAN federation", || {
        agents[0]
            .wan_members()
            .is_ok_and(|m| m.len() == 2 && m.iter().all(|m| m.status == MemberStatus::Alive))
    })
    .await?;
    let mut wan: Vec<String> = agents[0]
        .wan_members()?
        .iter()
        .map(|m| m.name.to_string())
        .collect();
    wan.sort();
    say(
        start,
        format!(
            "WAN pool federates the servers of both datacenters: {}",
            wan.join(", ")
        ),
    );

    // The datacenter guard: a dc2 agent cannot enter dc1's LAN pool.
    let lan0 = agents[0].lan.local_addr().to_string();
    match far[1].join(std::slice::from_ref(&lan0), false).await {
        Ok(k) => bail!("far-1 (dc2) joined dc1's LAN pool ({k} answered): the guard let it in"),
        Err(e) => say(
            start,
            format!("far-1 (dc2) tries to join dc1's LAN pool at {lan0}: refused: {e:#}"),
        ),
    }

    // An event for dc2, sent from dc1's server (what `rumor event --dc dc2 deploy v42` asks).
    let mut far_rx: Vec<_> = far.iter().map(|a| a.member_events()).collect();
    let mut near_rx: Vec<_> = agents.iter().map(|a| a.member_events()).collect();
    say(
        start,
        "demo-0 (dc1) sends user event 'deploy' (payload v42) to datacenter dc2, as `rumor event --dc dc2 deploy v42` asks it",
    );
    let sent = Instant::now();
    crate::dc_forward::event(&agents[0], "dc2", "deploy", b"v42".to_vec(), false).await?;
    let mut seen = vec![None; far.len()];
    wait_until("the event in dc2", || {
        for (i, rx) in far_rx.iter_mut().enumerate() {
            while let Ok(ev) = rx.try_recv() {
                if let SerfEvent::User { name, payload, .. } = ev {
                    if name == "deploy" && seen[i].is_none() {
                        seen[i] = Some((sent.elapsed(), payload));
                    }
                }
            }
        }
        seen.iter().all(Option::is_some)
    })
    .await?;
    for (a, s) in far.iter().zip(&seen) {
        if let Some((t, payload)) = s {
            say(
                start,
                format!(
                    "  {} (dc2) got user event 'deploy' payload {} after {:.2}s",
                    a.config.node,
                    String::from_utf8_lossy(payload),
                    t.as_secs_f64()
                ),
            );
        }
    }
    let leaked = near_rx
        .iter_mut()
        .map(|rx| {
            std::iter::from_fn(|| rx.try_recv().ok())
                .any(|ev| matches!(ev, SerfEvent::User { ref name, .. } if name == "deploy"))
        })
        .filter(|got| *got)
        .count();
    say(
        start,
        format!("  dc1 agents that got it: {leaked} (it went to dc2 only)"),
    );

    let victim = agents.pop().ok_or_else(|| anyhow::anyhow!("no agents"))?;
    let name = victim.config.node.clone();
    say(
        start,
        format!("killing {name} without a leave (its sockets close, it answers nothing)"),
    );
    let killed_at = Instant::now();
    victim.request_shutdown();
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
    say(
        start,
        "leaving gracefully with the others, in both datacenters",
    );
    // One after the other, so each leave is gossiped to agents still there to hear it.
    for a in agents.iter().chain(&far) {
        let _ = a.leave().await;
        a.request_shutdown();
        a.lan.shutdown().await;
        if let Some(w) = &a.wan {
            w.shutdown().await;
        }
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
