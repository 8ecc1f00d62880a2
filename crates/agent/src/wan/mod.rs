//! The WAN pool of servers: a second Serf core a server (`--server --wan-bind`) runs beside
//! its LAN pool, on its own UDP/TCP address, named `NODE.DC`, tagged `dc=DC, role=server,
//! pool=wan`, with the WAN timing profile (the local profile when the agent runs with
//! `--profile local`, so tests on one host are fast), the LAN pool's keyring and the WAN
//! guard ([`guard`]).
//!
//! - [`config`]: the server, WAN and label options, checked;
//! - [`guard`]: only `pool=wan` members named after their `dc` enter;
//! - [`flood`]: a server joins the same-dc servers it sees in its LAN pool into the WAN pool
//!   (Consul's flood join), so one `--wan-join` per datacenter federates all its servers;
//! - [`datacenters`]: `rumor dcs`, the datacenters the WAN pool knows, nearest first.

pub mod config;
pub mod datacenters;
pub mod flood;
pub mod guard;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use rumor_net::{BoundPool, Pool, PoolConfig, PoolHandle};
use rumor_serf::{Event as SerfEvent, Serf, SerfConfig};
use tokio::sync::broadcast;

use crate::agent::Agent;
use crate::config::{AgentConfig, Profile};
use crate::guard::DC_TAG;

pub use config::{ROLE_SERVER, ROLE_TAG, WAN_ADDR_TAG};
pub use datacenters::DcInfo;
pub use guard::{WanGuard, WanRefusal, POOL_TAG, POOL_WAN};

/// The error of a WAN command on an agent that is not a server.
pub const NOT_A_SERVER: &str =
    "this agent is not a server: start it with --server --wan-bind IP:PORT to join the WAN pool";

/// How long a graceful leave of one pool may take.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(15);

/// The name of node `node` of datacenter `dc` in the WAN pool: `NODE.DC`.
pub fn wan_name(node: &str, dc: &str) -> String {
    format!("{node}.{dc}")
}

/// The WAN pool's memberlist configuration: the WAN profile, or the local one when the agent
/// runs with `--profile local`.
fn swim_config(config: &AgentConfig, advertise: SocketAddr) -> rumor_swim::Config {
    let name = wan_name(&config.node, &config.dc);
    match config.profile {
        Profile::Local => rumor_swim::Config::local(name, advertise),
        Profile::Lan | Profile::Wan => rumor_swim::Config::wan(name, advertise),
    }
}

/// A label as memberlist carries it.
pub fn label_bytes(label: Option<&String>) -> Option<Vec<u8>> {
    label.map(|l| l.as_bytes().to_vec())
}

/// The WAN pool's sockets, bound but not started, and the address it advertises.
pub struct BoundWan {
    bound: BoundPool,
    /// The address other servers reach this WAN pool at (the `wan_addr` LAN tag).
    pub advertise: SocketAddr,
}

/// Bind the WAN pool of a server (`None` for a client).
pub async fn bind(config: &AgentConfig) -> Result<Option<BoundWan>> {
    let Some(bind) = config.wan_bind.filter(|_| config.server) else {
        return Ok(None);
    };
    let mut pool_cfg = PoolConfig::new(bind);
    pool_cfg.tcp_timeout = swim_config(config, bind).tcp_timeout;
    let bound = Pool::bind(pool_cfg)
        .await
        .with_context(|| format!("cannot bind the WAN address {bind}"))?;
    let advertise = config.wan_advertise.unwrap_or(bound.local_addr());
    Ok(Some(BoundWan { bound, advertise }))
}

/// The WAN member's tags: `dc`, `role=server`, `pool=wan`.
pub fn wan_tags(dc: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (DC_TAG.to_string(), dc.to_string()),
        (ROLE_TAG.to_string(), ROLE_SERVER.to_string()),
        (POOL_TAG.to_string(), POOL_WAN.to_string()),
    ])
}

/// Start the Serf core of the WAN pool on its bound sockets.
pub fn start(config: &AgentConfig, wan: BoundWan, seed: u64) -> Result<PoolHandle<Serf>> {
    let mut swim = swim_config(config, wan.advertise);
    swim.keyring = config.keyring.clone();
    swim.label = label_bytes(config.wan_label.as_ref());
    let mut serf_cfg = SerfConfig::new(swim, wan_tags(&config.dc));
    serf_cfg.guard = Some(Box::new(WanGuard));
    serf_cfg.reconnect_interval = config.reconnect_interval;
    let serf = Serf::new(serf_cfg, seed, wan.bound.now())
        .map_err(|e| anyhow!("cannot start the WAN pool: {e}"))?;
    let pool = wan.bound.start(serf);
    tracing::info!(pool = "wan", name = %wan_name(&config.node, &config.dc), gossip = %pool.local_addr(), advertise = %wan.advertise, "WAN pool started");
    Ok(pool)
}

/// The WAN pool of `agent`, or the not-a-server error.
pub fn pool(agent: &Agent) -> Result<&PoolHandle<Serf>> {
    agent.wan.as_ref().ok_or_else(|| anyhow!(NOT_A_SERVER))
}

/// Resolve `addrs` (the pool's port is the default) and join `pool` through them.
pub async fn join_pool(pool: &PoolHandle<Serf>, addrs: &[String], replay: bool) -> Result<usize> {
    if addrs.is_empty() {
        bail!("no address to join");
    }
    let default_port = pool.local_addr().port();
    let mut resolved = Vec::new();
    let mut errors = Vec::new();
    for a in addrs {
        match rumor_net::resolve(a, default_port).await {
            Ok(list) => resolved.extend(list),
            Err(e) => errors.push(format!("{e}")),
        }
    }
    if resolved.is_empty() {
        bail!("{}", errors.join("; "));
    }
    let timeout = pool.config().tcp_timeout + Duration::from_secs(5);
    rumor_net::join_with(pool, timeout, |serf, now| {
        serf.join(now, &resolved, !replay)
    })
    .await
    .map_err(|e| anyhow!("{e}"))
}

/// Leave `pool` gracefully: wait until the news is out (bounded).
pub async fn leave_pool(pool: &PoolHandle<Serf>) -> Result<()> {
    let mut rx = pool.subscribe();
    pool.call(|serf, now| serf.leave(now));
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(SerfEvent::LeaveFinished { error: None }) => return Ok(()),
                Ok(SerfEvent::LeaveFinished { error: Some(e) }) => return Err(anyhow!("{e}")),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return Err(anyhow!("the pool stopped during leave")),
            }
        }
    };
    match tokio::time::timeout(LEAVE_TIMEOUT, wait).await {
        Ok(r) => r,
        Err(_) => bail!("leave did not complete within {LEAVE_TIMEOUT:?}"),
    }
}

/// Leave the WAN pool, if this agent has one.
pub async fn leave(agent: &Agent) -> Result<()> {
    match &agent.wan {
        Some(w) => leave_pool(w).await.context("leaving the WAN pool"),
        None => Ok(()),
    }
}

/// Start the server's background work: the WAN event log and the flood join.
pub fn spawn(agent: &Arc<Agent>) {
    if agent.wan.is_none() {
        return;
    }
    spawn_event_log(agent.clone());
    flood::spawn(agent.clone());
}

/// Log the WAN pool's member events.
fn spawn_event_log(agent: Arc<Agent>) {
    let Some(wan) = agent.wan.clone() else {
        return;
    };
    let mut rx = wan.subscribe();
    let mut stop = agent.shutdown_signal();
    tokio::spawn(async move {
        loop {
            let ev = tokio::select! {
                _ = stop.changed() => return,
                ev = rx.recv() => ev,
            };
            let ev = match ev {
                Ok(ev) => ev,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(pool = "wan", lost = n, "WAN event consumer fell behind");
                    continue;
                }
                Err(_) => return,
            };
            let (kind, m) = match &ev {
                SerfEvent::MemberJoin(m) => ("member-join", m),
                SerfEvent::MemberLeave(m) => ("member-leave", m),
                SerfEvent::MemberFailed(m) => ("member-failed", m),
                SerfEvent::MemberUpdate(m) => ("member-update", m),
                SerfEvent::MemberReap(m) => ("member-reap", m),
                _ => continue,
            };
            tracing::info!(pool = "wan", event = kind, member = %m.name, addr = %m.addr, "WAN {kind}: {}", m.name);
        }
    });
}

/// Join the configured `--wan-join` addresses, retrying with backoff until success or the
/// join timeout (as the LAN start join).
pub async fn start_join(agent: &Agent) -> Result<()> {
    let (Some(wan), false) = (&agent.wan, agent.config.wan_join.is_empty()) else {
        return Ok(());
    };
    let addrs = &agent.config.wan_join;
    let deadline = tokio::time::Instant::now() + agent.config.join_timeout;
    let mut backoff = Duration::from_millis(500);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match join_pool(wan, addrs, false).await {
            Ok(n) => {
                tracing::info!(pool = "wan", joined = n, attempt, "joined the WAN pool");
                return Ok(());
            }
            Err(e) => {
                if tokio::time::Instant::now() + backoff > deadline {
                    bail!(
                        "could not join the WAN pool through {addrs:?} within {:?}: {e:#}",
                        agent.config.join_timeout
                    );
                }
                tracing::warn!(pool = "wan", attempt, error = %format!("{e:#}"), retry_in = ?backoff, "WAN join failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// The `wan` section of `stats`: the WAN name, member counts and the key counters.
pub fn stats(config: &AgentConfig, wan: &PoolHandle<Serf>) -> BTreeMap<String, String> {
    let (health, st, swim) =
        wan.call(|serf, _| (serf.health_score(), serf.stats(), serf.swim().stats()));
    let net = wan.stats();
    BTreeMap::from([
        ("name".into(), wan_name(&config.node, &config.dc)),
        ("addr".into(), wan.local_addr().to_string()),
        ("members".into(), st.members.to_string()),
        ("failed".into(), st.failed.to_string()),
        ("left".into(), st.left.to_string()),
        ("health_score".into(), health.to_string()),
        ("member_time".into(), st.member_time.to_string()),
        ("packets_received".into(), swim.packets_received.to_string()),
        ("packets_dropped".into(), swim.packets_dropped.to_string()),
        ("streams_dropped".into(), swim.streams_dropped.to_string()),
        ("alive_vetoed".into(), swim.alive_vetoed.to_string()),
        ("merges_vetoed".into(), swim.merges_vetoed.to_string()),
        ("entries_dropped".into(), swim.entries_dropped.to_string()),
        ("label_dropped".into(), swim.label_dropped.to_string()),
        ("packets_in".into(), net.packets_in.to_string()),
        ("packets_out".into(), net.packets_out.to_string()),
        ("label".into(), config.wan_label.clone().unwrap_or_default()),
    ])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn wan_names_and_tags() {
        assert_eq!(wan_name("s1", "east"), "s1.east");
        let t = wan_tags("east");
        assert_eq!(
            t.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
            ["dc=east", "pool=wan", "role=server"]
        );
        assert_eq!(WanGuard.check("s1.east", &t), Ok(()));
    }
}
