//! The running agent: its LAN pool (a Serf core driven by rumor-net) with the datacenter
//! guard, the start join with retries, signals and shutdown. It speaks rumor-serf's types;
//! the RPC server (`crate::rpc`) is handed to [`run`] and converts them to wire forms.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use rumor_net::{Pool, PoolConfig, PoolHandle};
use rumor_serf::{Event as SerfEvent, Member, Serf, SerfConfig};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

use crate::config::{AgentConfig, Profile};
use crate::guard::GuardSettings;
use crate::logging::LogRing;

/// A running agent.
pub struct Agent {
    /// Settled configuration.
    pub config: AgentConfig,
    /// The LAN pool.
    pub lan: PoolHandle<Serf>,
    /// The WAN pool of servers (`None` unless `--server`); see [`crate::wan`].
    pub wan: Option<PoolHandle<Serf>>,
    /// Log lines for `monitor`.
    pub logs: LogRing,
    shutdown: watch::Sender<bool>,
    member_events: broadcast::Sender<SerfEvent>,
    snapshot: Option<crate::snapshot::SnapshotHandle>,
    /// The guard's current settings (SIGHUP may change them, `dc` included).
    guard: std::sync::Mutex<GuardSettings>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("node", &self.config.node)
            .finish_non_exhaustive()
    }
}

fn swim_config(config: &AgentConfig, advertise: SocketAddr) -> rumor_swim::Config {
    let name = config.node.as_str();
    match config.profile {
        Profile::Lan => rumor_swim::Config::lan(name, advertise),
        Profile::Wan => rumor_swim::Config::wan(name, advertise),
        Profile::Local => rumor_swim::Config::local(name, advertise),
    }
}

impl Agent {
    /// Bind the pool and start it. The RPC server is started by [`run`].
    pub async fn start(mut config: AgentConfig, logs: LogRing) -> Result<Arc<Agent>> {
        // A server's WAN pool binds first: its LAN member carries the WAN address.
        let wan_bound = crate::wan::bind(&config).await?;
        if let Some(w) = &wan_bound {
            config
                .tags
                .insert(crate::wan::WAN_ADDR_TAG.into(), w.advertise.to_string());
        }
        let mut pool_cfg = PoolConfig::new(config.bind);
        let swim_probe = swim_config(&config, config.bind);
        pool_cfg.tcp_timeout = swim_probe.tcp_timeout;
        let bound = Pool::bind(pool_cfg)
            .await
            .with_context(|| format!("cannot bind the gossip address {}", config.bind))?;
        let advertise = config.advertise_addr(bound.local_addr());
        let mut swim = swim_config(&config, advertise);
        swim.keyring = config.keyring.clone();
        swim.label = crate::wan::label_bytes(config.lan_label.as_ref());
        let guard = GuardSettings::of(&config);
        let mut serf_cfg = SerfConfig::new(swim, config.tags.clone());
        serf_cfg.guard = crate::guard::lan_guard(&guard);
        if !guard.enabled {
            tracing::warn!("the datacenter guard is off: members of any datacenter are admitted to the LAN pool");
        }
        serf_cfg.reconnect_interval = config.reconnect_interval;
        let snap = crate::snapshot::prepare(&config)?;
        serf_cfg.restore = snap.as_ref().map(|s| s.restore());
        let seed: u64 = rand_seed();
        let serf = Serf::new(serf_cfg, seed, bound.now())
            .map_err(|e| anyhow!("cannot start the pool: {e}"))?;
        let lan = bound.start(serf);
        let wan = match wan_bound {
            Some(w) => Some(crate::wan::start(&config, w, rand_seed())?),
            None => None,
        };
        let (snapshot, previous) = match snap {
            Some(s) => {
                let (handle, previous) = s.start(lan.clone(), &config.node);
                (Some(handle), previous)
            }
            None => (None, Vec::new()),
        };
        let (shutdown, _) = watch::channel(false);
        let (member_events, _) = broadcast::channel(512);
        let agent = Arc::new(Agent {
            config,
            lan,
            wan,
            logs,
            shutdown,
            member_events,
            snapshot,
            guard: std::sync::Mutex::new(guard),
        });
        agent.clone().spawn_event_pump();
        crate::handler::start(&agent);
        crate::wan::spawn(&agent);
        crate::dc_forward::start(&agent);
        if let Some(path) = agent.config.keyring_file.clone() {
            crate::keyring::spawn_file_writer(agent.clone(), path);
        }
        crate::snapshot::rejoin::spawn(agent.clone(), previous, rand_seed());
        tracing::info!(node = %agent.config.node, dc = %agent.config.dc, gossip = %agent.lan.local_addr(), %advertise, "agent started");
        Ok(agent)
    }

    /// Forward pool events to logs and RPC streams.
    fn spawn_event_pump(self: Arc<Self>) {
        let mut rx = self.lan.subscribe();
        let mut stop = self.shutdown_signal();
        tokio::spawn(async move {
            loop {
                let ev = tokio::select! {
                    _ = stop.changed() => return,
                    ev = rx.recv() => ev,
                };
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(lost = n, "event consumer fell behind");
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
                    SerfEvent::User { name, ltime, .. } => {
                        tracing::info!(event = "user", %name, ltime = %ltime, "user event: {name}");
                        let _ = self.member_events.send(ev);
                        continue;
                    }
                    SerfEvent::Query { name, .. } if crate::dc_forward::is_internal(name) => {
                        tracing::debug!(query = %name, "internal query kept from RPC streams");
                        continue;
                    }
                    SerfEvent::Query { name, ltime, .. } => {
                        tracing::info!(event = "query", %name, ltime = %ltime, "query: {name}");
                        let _ = self.member_events.send(ev);
                        continue;
                    }
                    _ => continue,
                };
                tracing::info!(event = kind, member = %m.name, addr = %m.addr, "{kind}: {}", m.name);
                let _ = self.member_events.send(ev);
            }
        });
    }

    /// Writes out and closes the snapshot (if any): the clocks, what is pending, fsync.
    pub async fn close_snapshot(&self) {
        if let Some(s) = &self.snapshot {
            s.shutdown().await;
        }
    }

    /// The guard's current settings.
    pub fn guard_settings(&self) -> GuardSettings {
        self.guard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Record the guard's settings (after they were applied to the pool).
    pub(crate) fn set_guard_settings(&self, settings: GuardSettings) {
        *self
            .guard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = settings;
    }

    /// Our datacenter now (a SIGHUP may have changed it since start).
    pub fn dc(&self) -> String {
        self.guard_settings().dc
    }

    /// A receiver that changes to `true` when the agent shuts down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Ask the agent to stop (after a `leave`, or a signal).
    pub fn request_shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Member, user and query events (no join or leave completions), for RPC `stream`.
    pub fn member_events(&self) -> broadcast::Receiver<SerfEvent> {
        self.member_events.subscribe()
    }

    /// The event handlers for `stats`: `"<event>:<name>"` -> script, as Serf shows them
    /// (a later entry with the same key wins).
    pub fn event_handlers(&self) -> BTreeMap<String, String> {
        self.config
            .event_handlers
            .iter()
            .map(|s| (s.stats_key(), s.script.clone()))
            .collect()
    }

    /// Every member.
    pub fn members(&self) -> Vec<Member> {
        self.lan.call(|serf, _| serf.members())
    }

    /// Resolve `addrs` (names are looked up again on every call) and join through them.
    pub async fn join(&self, addrs: &[String], replay: bool) -> Result<usize> {
        crate::wan::join_pool(&self.lan, addrs, replay).await
    }

    /// Rejoin through one address the snapshot remembered (Serf's memberlist-level rejoin:
    /// no join intent). Returns the number of nodes that answered.
    pub async fn rejoin(&self, addr: SocketAddr) -> Result<usize> {
        let timeout = self.lan.config().tcp_timeout + Duration::from_secs(5);
        rumor_net::join_with(&self.lan, timeout, |serf, now| serf.rejoin(now, &[addr]))
            .await
            .map_err(|e| anyhow!("{e}"))
    }

    /// Leave gracefully: wait until the news is out (bounded).
    pub async fn leave(&self) -> Result<()> {
        if let Some(s) = &self.snapshot {
            // As Serf: `leave` is in the snapshot before the leave starts.
            s.leave().await;
        }
        // Both pools leave at once (a client has no WAN pool).
        let (lan, wan) = tokio::join!(crate::wan::leave_pool(&self.lan), crate::wan::leave(self));
        lan?;
        wan
    }

    /// The name this agent has in the WAN pool: "NODE.DC".
    pub fn wan_name(&self) -> String {
        crate::wan::wan_name(&self.config.node, &self.config.dc)
    }

    /// Join the WAN pool through `addrs` (WAN addresses; error naming --server if this agent
    /// is not a server). Returns the number of nodes that answered.
    pub async fn wan_join(&self, addrs: &[String]) -> Result<usize> {
        crate::wan::join_pool(crate::wan::pool(self)?, addrs, false).await
    }

    /// Members of the WAN pool (error if not a server).
    pub fn wan_members(&self) -> Result<Vec<Member>> {
        Ok(crate::wan::pool(self)?.call(|serf, _| serf.members()))
    }

    /// Datacenters known to the WAN pool, nearest first (unknown RTT last, then by name).
    pub fn datacenters(&self) -> Result<Vec<crate::wan::DcInfo>> {
        Ok(crate::wan::pool(self)?.call(|serf, _| {
            let own = serf.coordinate();
            crate::wan::datacenters::datacenters(&serf.members(), own.as_ref(), |n| {
                serf.member_coordinate(n)
            })
        }))
    }

    /// Force a member out.
    pub fn force_leave(&self, node: &str, prune: bool) -> Result<()> {
        self.lan
            .call(|serf, now| serf.force_leave(now, node, prune))
            .map_err(|e| anyhow!("{e}"))
    }

    /// Gossip a user event.
    pub fn user_event(&self, name: &str, payload: Vec<u8>, coalesce: bool) -> Result<()> {
        if name.is_empty() {
            bail!("an event needs a name");
        }
        self.lan
            .call(|serf, now| serf.user_event(now, name, bytes::Bytes::from(payload), coalesce))
            .map_err(|e| anyhow!("{e}"))
    }

    /// Set and delete tags (the `dc` tag cannot be changed).
    pub fn update_tags(&self, set: BTreeMap<String, String>, delete: &[String]) -> Result<()> {
        if set
            .get(crate::guard::DC_TAG)
            .is_some_and(|v| *v != self.dc())
            || delete.iter().any(|d| d == "dc")
        {
            bail!("the dc tag is the agent's datacenter and cannot be changed");
        }
        crate::wan::config::check_tag_update(self.config.server, &set, delete)?;
        self.lan
            .call(|serf, now| {
                let mut tags = serf.local_member().tags;
                for d in delete {
                    tags.remove(d);
                }
                tags.extend(set);
                serf.set_tags(now, tags)
            })
            .map_err(|e| anyhow!("{e}"))
    }

    /// Send a query (Serf's agent rule on `_serf_` names applies; `None` is a nil payload)
    /// and follow its acks and responses until it closes.
    pub fn query(
        &self,
        name: &str,
        payload: Option<Vec<u8>>,
        params: rumor_serf::QueryParams,
    ) -> Result<crate::query::QueryAnswers> {
        crate::query::start(&self.lan, name, payload, params)
    }

    /// Answer a query that reached us (delivered as `Event::Query`).
    pub fn respond(&self, ltime: rumor_serf::LamportTime, id: u32, payload: Vec<u8>) -> Result<()> {
        self.lan
            .call(|serf, now| serf.respond(now, ltime, id, bytes::Bytes::from(payload)))
            .map_err(|e| anyhow!("{e}"))
    }

    /// The cached network coordinate of member `name` (ourselves included).
    pub fn coordinate_of(&self, name: &str) -> Option<rumor_serf::Coordinate> {
        self.lan.call(|serf, _| serf.member_coordinate(name))
    }

    /// The `stats` map: section -> key -> value, as `serf info` shows it.
    pub fn stats(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        let (health, st, swim, resets, encrypted, tags) = self.lan.call(|serf, _| {
            (
                serf.health_score(),
                serf.stats(),
                serf.swim().stats(),
                serf.coordinate_resets(),
                serf.keyring().is_some(),
                serf.local_member().tags,
            )
        });
        let mut stats = BTreeMap::new();
        stats.insert(
            "agent".into(),
            BTreeMap::from([("name".into(), self.config.node.clone())]),
        );
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .to_string();
        let mut runtime = BTreeMap::from([
            ("os".into(), std::env::consts::OS.to_string()),
            ("arch".into(), std::env::consts::ARCH.to_string()),
            ("version".into(), env!("CARGO_PKG_VERSION").to_string()),
            ("cpu_count".into(), cpus.clone()),
            ("max_procs".into(), cpus),
        ]);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let m = rt.metrics();
            runtime.insert("max_procs".into(), m.num_workers().to_string());
            runtime.insert("goroutines".into(), m.num_alive_tasks().to_string());
        }
        stats.insert("runtime".into(), runtime);
        stats.insert(
            "serf".into(),
            BTreeMap::from([
                ("members".into(), st.members.to_string()),
                ("failed".into(), st.failed.to_string()),
                ("left".into(), st.left.to_string()),
                ("health_score".into(), health.to_string()),
                ("member_time".into(), st.member_time.to_string()),
                ("event_time".into(), st.event_time.to_string()),
                ("query_time".into(), st.query_time.to_string()),
                ("intent_queue".into(), st.intent_queue.to_string()),
                ("event_queue".into(), st.event_queue.to_string()),
                ("query_queue".into(), st.query_queue.to_string()),
                ("encrypted".into(), encrypted.to_string()),
                ("coordinate_resets".into(), resets.to_string()),
                ("packets_received".into(), swim.packets_received.to_string()),
                ("packets_dropped".into(), swim.packets_dropped.to_string()),
                ("streams_dropped".into(), swim.streams_dropped.to_string()),
                ("alive_vetoed".into(), swim.alive_vetoed.to_string()),
                ("merges_vetoed".into(), swim.merges_vetoed.to_string()),
                ("entries_dropped".into(), swim.entries_dropped.to_string()),
                ("label_dropped".into(), swim.label_dropped.to_string()),
            ]),
        );
        let net = self.lan.stats();
        stats.insert(
            "net".into(),
            BTreeMap::from([
                ("packets_in".into(), net.packets_in.to_string()),
                ("packets_out".into(), net.packets_out.to_string()),
                ("bytes_in".into(), net.bytes_in.to_string()),
                ("bytes_out".into(), net.bytes_out.to_string()),
                ("streams_in".into(), net.streams_in.to_string()),
                ("streams_refused".into(), net.streams_refused.to_string()),
                ("stream_errors".into(), net.stream_errors().to_string()),
            ]),
        );
        // The tags now (RPC `tags` and a SIGHUP that changed `dc` may have changed them).
        stats.insert("tags".into(), tags);
        stats.insert("event_handlers".into(), self.event_handlers());
        if let Some(serf) = stats.get_mut("serf") {
            serf.insert("label_dropped".into(), swim.label_dropped.to_string());
        }
        if let Some(wan) = &self.wan {
            stats.insert("wan".into(), crate::wan::stats(&self.config, wan));
        }
        stats
    }

    /// Join the configured addresses, retrying with backoff until success or the limit.
    pub async fn start_join(&self) -> Result<()> {
        if self.config.join.is_empty() {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + self.config.join_timeout;
        let mut backoff = Duration::from_millis(500);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.join(&self.config.join, false).await {
                Ok(n) => {
                    tracing::info!(joined = n, attempt, "joined the cluster");
                    return Ok(());
                }
                Err(e) => {
                    let now = tokio::time::Instant::now();
                    if now + backoff > deadline {
                        bail!(
                            "could not join {:?} within {:?}: {e:#}",
                            self.config.join,
                            self.config.join_timeout
                        );
                    }
                    tracing::warn!(attempt, error = %format!("{e:#}"), retry_in = ?backoff, "join failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}

/// Seed for the core's RNG (which also draws encryption nonces): from the OS.
fn rand_seed() -> u64 {
    let mut b = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        if f.read_exact(&mut b).is_ok() {
            return u64::from_le_bytes(b);
        }
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    (t as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

/// `rumor agent`: run until a signal or an RPC `leave`. `serve_rpc` serves the bound RPC
/// listener (`crate::rpc::server::serve`); it is passed in so the agent does not depend on
/// the RPC layer.
pub async fn run<S, F>(config: AgentConfig, logs: LogRing, serve_rpc: S) -> Result<()>
where
    S: FnOnce(TcpListener, Arc<Agent>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let rpc = TcpListener::bind(config.rpc_addr)
        .await
        .with_context(|| format!("cannot listen for RPC on {}", config.rpc_addr))?;
    let agent = Agent::start(config, logs).await?;
    let rpc_task = tokio::spawn(serve_rpc(rpc, agent.clone()));
    let mut joiner = {
        let agent = agent.clone();
        tokio::spawn(async move {
            tokio::try_join!(agent.start_join(), crate::wan::start_join(&agent)).map(|_| ())
        })
    };
    let mut joined = false;
    let mut stop = agent.shutdown_signal();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install the SIGTERM handler")?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot install the SIGHUP handler")?;
    let result = loop {
        tokio::select! {
            _ = stop.changed() => break Ok(()),
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("interrupt: leaving gracefully");
                if let Err(e) = agent.leave().await {
                    tracing::warn!(error = %format!("{e:#}"), "graceful leave failed");
                }
                break Ok(());
            }
            _ = term.recv() => {
                tracing::info!("terminated: stopping without leave");
                break Ok(());
            }
            _ = hup.recv() => crate::reload::on_sighup(&agent),
            r = &mut joiner, if !joined => {
                joined = true;
                match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => break Err(e),
                    Err(e) => break Err(anyhow!("join task failed: {e}")),
                }
            }
        }
    };
    agent.request_shutdown();
    agent.close_snapshot().await;
    agent.lan.shutdown().await;
    if let Some(wan) = &agent.wan {
        wan.shutdown().await;
    }
    rpc_task.abort();
    result
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rumor_serf::QueryParams;

    /// The event pump hands RPC streams a user's query but never one of rumor's own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_pump_keeps_rumors_own_queries_from_rpc_streams() {
        let args = crate::cli::AgentArgs {
            node: Some("pump".into()),
            bind: Some("127.0.127.1:0".into()),
            profile: Some("local".into()),
            ..Default::default()
        };
        let config = AgentConfig::load(&args).unwrap();
        let agent = Agent::start(config, crate::logging::LogRing::new())
            .await
            .unwrap();
        let mut rx = agent.member_events();
        let params = || QueryParams {
            timeout: Some(Duration::from_millis(300)),
            ..QueryParams::default()
        };
        // Ours first: if the pump let it through, it would come before the user's.
        let _a = agent
            .query(crate::dc_forward::RELAY_QUERY_NAME, None, params())
            .unwrap();
        let _b = agent.query("uptime", None, params()).unwrap();
        let mut queries = Vec::new();
        let until = tokio::time::Instant::now() + Duration::from_secs(3);
        while let Ok(Ok(ev)) = tokio::time::timeout_at(until, rx.recv()).await {
            if let SerfEvent::Query { name, .. } = ev {
                queries.push(name);
                if queries.last().map(String::as_str) == Some("uptime") {
                    break;
                }
            }
        }
        assert_eq!(queries, vec!["uptime".to_string()]);
        agent.request_shutdown();
        agent.lan.shutdown().await;
    }
}
