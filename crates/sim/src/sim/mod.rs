//! The simulator: N rumor-swim nodes, one virtual clock, one event queue, one modelled
//! network, and the checkers and measurements that watch them.
//!
//! The main loop pops the earliest (time, sequence) entry, sets the clock to it and hands
//! it to the node it concerns; after every input the node's transmits are routed through
//! the network model, its events are recorded, and its one pending wakeup is renewed from
//! `poll_timeout` (stale wakeups carry an old token and are skipped). Nothing here reads
//! the wall clock or iterates a hash map, and all randomness comes from seeded ChaCha
//! RNGs, so a seed fixes the whole run.
//!
//! This file holds the struct, construction, queries and the loop; beside it are
//! `faults.rs` (applying actions), `record.rs` (events, detections, false positives,
//! spreads), `check.rs` (incarnation scans, convergence, settling) and `summary.rs` (the
//! report).

mod check;
mod faults;
mod record;
mod summary;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rumor_serf::Serf;
use rumor_swim::{Instant, Interner, Node, State, StreamId, StreamStep, Transmit};
use rumor_wire::Name;

use crate::action::Action;
use crate::config::SimConfig;
use crate::core::{Observed, SharedIntern, SimCore, Spec};
use crate::hash::{splitmix64, Fnv1a64};
use crate::invariants::{IncarnationTable, Spread, SpreadKind};
use crate::network::{addr_of, index_of, Network, TCP_DATA_RTO, TCP_SYN_RTO};
use crate::queue::{Ev, Queue};
use crate::report::{
    Convergence, Detection, DetectionSummary, Dissemination, DisseminationReport, FalsePositive,
    FalsePositives, NetworkStats, ProtocolStats, Report, Summary, Traffic, Violation,
};
use summary::add_stats;

/// What a simulated node is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Handling input.
    Running,
    /// Stopped until the given time; input waits in its buffer.
    Paused {
        /// When it resumes.
        until: Instant,
    },
    /// Crashed: all input is lost.
    Crashed,
    /// Left gracefully and shut down.
    Left,
}

impl Status {
    /// Running or paused: a member the others should (eventually) see alive.
    pub fn is_live(self) -> bool {
        matches!(self, Status::Running | Status::Paused { .. })
    }
}

/// Input waiting for a paused node, or being handed to a running one.
#[derive(Debug)]
enum Input {
    Packet {
        from: u32,
        data: Vec<u8>,
    },
    Open {
        from: u32,
        id: StreamId,
        data: Vec<u8>,
        expect_reply: bool,
    },
    Reply {
        id: StreamId,
        data: Vec<u8>,
    },
    Fail {
        id: StreamId,
        reason: &'static str,
    },
}

/// Bytes and messages one node sent in the measurement window.
#[derive(Debug, Clone, Copy, Default)]
struct Sent {
    packets: u64,
    bytes: u64,
    streams: u64,
    stream_bytes: u64,
}

/// One simulated node and the simulator's facts about it.
struct SimNode<C> {
    node: C,
    status: Status,
    /// The time of the node's pending wakeup, if one is queued.
    wake_at: Option<Instant>,
    /// Current wakeup token; queued wakeups with another token are stale.
    token: u32,
    /// Told to join (or founded the cluster).
    joined: bool,
    /// Told to leave.
    leaving: bool,
    /// Ever paused, partitioned or restarted.
    faulted: bool,
    /// Ever had extra loss on its links.
    lossy: bool,
    restarts: u32,
    sent: Sent,
}

/// One crash and its detection.
#[derive(Debug, Clone)]
struct Crash {
    node: u32,
    at: Instant,
    first_suspect: Option<Instant>,
    first_dead: Option<Instant>,
    spread: usize,
}

/// A deterministic discrete-event simulation of a pool of `C` cores (bare SWIM nodes by
/// default, or [`Serf`] nodes). See the module docs.
pub struct Sim<C: SimCore = Node> {
    cfg: SimConfig,
    scenario: String,
    now: Instant,
    queue: Queue,
    net: Network,
    nodes: Vec<SimNode<C>>,
    names: Vec<Name>,
    intern: SharedIntern,
    /// Input waiting for paused nodes, by node.
    inbox: BTreeMap<u32, Vec<Input>>,
    /// Streams awaiting a reply, by (dialer, id).
    streams: HashSet<(u32, StreamId)>,
    /// Joined nodes that are running or paused.
    live_count: usize,
    loss_ever: bool,

    // ---- measurements ----
    hash: Fnv1a64,
    member_events: u64,
    /// User events delivered: (observer, event clock time, name), in delivery order.
    user_events: Vec<(u32, u64, String)>,
    crashes: Vec<Crash>,
    /// Crashes whose first suspicion is not yet seen: (node, crash index).
    watch: Vec<(u32, usize)>,
    spreads: Vec<Spread>,
    /// Open spreads, by the member they are about.
    open: BTreeMap<u32, Vec<usize>>,
    /// For each member, the incarnation and first accuser of its latest dead episode.
    episodes: BTreeMap<u32, (u32, u32)>,
    false_positives: Vec<FalsePositive>,
    fp_count: u64,
    fp_without_cause: u64,
    fp_members: std::collections::BTreeSet<u32>,
    convergence: Vec<Convergence>,
    violations: Vec<Violation>,
    violation_count: u64,
    incarnations: IncarnationTable,
    netstats: NetworkStats,
    join_errors: u64,
    carried: ProtocolStats,
    window_start: Instant,
}

impl<C: SimCore> std::fmt::Debug for Sim<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("nodes", &self.nodes.len())
            .field("now", &self.now)
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

/// Seed of node `i`'s `restarts`-th process.
fn node_seed(master: u64, i: usize, restarts: u32) -> u64 {
    splitmix64(master ^ splitmix64((i as u64 + 1) | (u64::from(restarts) << 40)))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn at_s(t: Instant) -> f64 {
    t.as_duration().as_secs_f64()
}

impl Sim<Node> {
    /// Create `cfg.nodes` bare SWIM nodes at time zero. None has joined yet: schedule
    /// [`Action::Join`]s, or call [`Sim::join_staggered`].
    pub fn new(cfg: SimConfig) -> Result<Sim<Node>, String> {
        Sim::with_cores(cfg)
    }
}

impl Sim<Serf> {
    /// Create `cfg.nodes` Serf nodes (tag `idx` = their index) at time zero. None has
    /// joined yet.
    pub fn new_serf(cfg: SimConfig) -> Result<Sim<Serf>, String> {
        Sim::with_cores(cfg)
    }
}

impl<C: SimCore> Sim<C> {
    /// Create `cfg.nodes` cores of type `C` at time zero. None has joined yet: schedule
    /// [`Action::Join`]s, or call [`Sim::join_staggered`].
    pub fn with_cores(cfg: SimConfig) -> Result<Sim<C>, String> {
        use rumor_swim::Intern;
        let n = cfg.nodes;
        let mut interner = Interner::default();
        let mut names = Vec::with_capacity(n);
        for i in 0..n {
            let name: Name = Name::from(format!("node-{i}"));
            names.push(interner.name(name));
        }
        let intern: SharedIntern = Arc::new(Mutex::new(interner));
        let net = Network::new(cfg.seed, cfg.latency, cfg.loss, cfg.stream_bandwidth);
        let incarnations = if cfg.check_interval.is_some() {
            IncarnationTable::new(n)
        } else {
            IncarnationTable::default()
        };
        let mut sim = Sim {
            scenario: String::new(),
            now: Instant::ZERO,
            queue: Queue::default(),
            net,
            nodes: Vec::with_capacity(n),
            names,
            intern,
            inbox: BTreeMap::new(),
            streams: HashSet::new(),
            live_count: 0,
            loss_ever: cfg.loss > 0.0,
            hash: Fnv1a64::new(),
            member_events: 0,
            user_events: Vec::new(),
            crashes: Vec::new(),
            watch: Vec::new(),
            spreads: Vec::new(),
            open: BTreeMap::new(),
            episodes: BTreeMap::new(),
            false_positives: Vec::new(),
            fp_count: 0,
            fp_without_cause: 0,
            fp_members: Default::default(),
            convergence: Vec::new(),
            violations: Vec::new(),
            violation_count: 0,
            incarnations,
            netstats: NetworkStats::default(),
            join_errors: 0,
            carried: ProtocolStats::default(),
            window_start: Instant::ZERO,
            cfg,
        };
        for i in 0..n {
            let node = sim.make_node(i, 0)?;
            sim.nodes.push(SimNode {
                node,
                status: Status::Running,
                wake_at: None,
                token: 0,
                joined: false,
                leaving: false,
                faulted: false,
                lossy: false,
                restarts: 0,
                sent: Sent::default(),
            });
            sim.after_input(i);
        }
        if let Some(iv) = sim.cfg.check_interval {
            sim.queue.push(Instant::ZERO + iv, Ev::Check);
        }
        Ok(sim)
    }

    fn make_node(&self, i: usize, restarts: u32) -> Result<C, String> {
        C::build(Spec {
            cfg: &self.cfg,
            i,
            name: self.names[i].clone(),
            addr: addr_of(i),
            seed: node_seed(self.cfg.seed, i, restarts),
            now: self.now,
            intern: &self.intern,
        })
    }

    /// Name this run in its report.
    pub fn set_scenario(&mut self, name: &str) {
        self.scenario = name.to_string();
    }

    // ---- queries -------------------------------------------------------------------------

    /// Current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when the simulation has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Node `i`'s SWIM state machine (to read its member table, stats, ...).
    pub fn node(&self, i: usize) -> &Node {
        self.nodes[i].node.swim()
    }

    /// Node `i`'s core (a Serf node's members, clocks, ...).
    pub fn core(&self, i: usize) -> &C {
        &self.nodes[i].node
    }

    /// Every user event delivered so far: (observer, event clock time, name), in order.
    pub fn user_events(&self) -> &[(u32, u64, String)] {
        &self.user_events
    }

    /// Node `i`'s name.
    pub fn name(&self, i: usize) -> &Name {
        &self.names[i]
    }

    /// What node `i` is doing.
    pub fn status(&self, i: usize) -> Status {
        self.nodes[i].status
    }

    /// Number of joined nodes that are running or paused.
    pub fn live_count(&self) -> usize {
        self.live_count
    }

    /// Invariant violations so far.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// Broadcasts still queued for gossip, summed over all running nodes (0 once the
    /// gossip of the last change has been sent its full count everywhere).
    pub fn queued_broadcasts(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.status == Status::Running)
            .map(|n| n.node.queued_broadcasts())
            .sum()
    }

    /// Pending events in the queue.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    fn index_of_name(&self, name: &str) -> Option<usize> {
        let i: usize = name.strip_prefix("node-")?.parse().ok()?;
        (i < self.names.len() && &*self.names[i] == name).then_some(i)
    }

    // ---- driving -------------------------------------------------------------------------

    /// Run every event due at or before `t`, then set the clock to `t`.
    pub fn run_until(&mut self, t: Instant) {
        while let Some((at, ev)) = self.queue.pop_until(t) {
            self.now = at;
            self.process(ev);
        }
        if t > self.now {
            self.now = t;
        }
    }

    /// Run for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Time of the next queued event.
    pub fn next_event(&self) -> Option<Instant> {
        self.queue.peek_time()
    }

    /// Schedule an action at `at` (or now, if `at` has passed).
    pub fn schedule(&mut self, at: Instant, action: Action) {
        self.queue.push(at.max(self.now), Ev::Action(action));
    }

    /// Apply an action now.
    pub fn apply(&mut self, action: Action) {
        self.act(action);
    }

    /// Node 0 founds the cluster at `start`; node `i` joins through node 0 at
    /// `start + i * spacing`.
    pub fn join_staggered(&mut self, start: Instant, spacing: Duration) {
        self.schedule(
            start,
            Action::Join {
                node: 0,
                seeds: Vec::new(),
            },
        );
        for i in 1..self.nodes.len() {
            self.schedule(
                start + spacing * i as u32,
                Action::Join {
                    node: i,
                    seeds: vec![0],
                },
            );
        }
    }

    /// Start the traffic measurement window now (counters restart from zero).
    pub fn reset_traffic(&mut self) {
        for n in &mut self.nodes {
            n.sent = Sent::default();
        }
        self.window_start = self.now;
    }

    // ---- the loop ------------------------------------------------------------------------

    fn process(&mut self, ev: Ev) {
        match ev {
            Ev::Wake { node, token } => {
                let i = node as usize;
                let n = &mut self.nodes[i];
                if n.token != token || n.status != Status::Running {
                    return;
                }
                n.wake_at = None;
                n.node.handle_timeout(self.now);
                self.after_input(i);
            }
            Ev::Packet { to, from, data } => self.deliver(to, Input::Packet { from, data }),
            Ev::StreamOpen {
                to,
                from,
                id,
                data,
                expect_reply,
            } => self.deliver(
                to,
                Input::Open {
                    from,
                    id,
                    data,
                    expect_reply,
                },
            ),
            Ev::StreamReply { to, id, data } => self.deliver(to, Input::Reply { id, data }),
            Ev::StreamFail { node, id, reason } => self.deliver(node, Input::Fail { id, reason }),
            Ev::Resume { node } => self.resume(node as usize),
            Ev::Shutdown { node } => self.shutdown(node as usize),
            Ev::Check => {
                self.scan_incarnations();
                if let Some(iv) = self.cfg.check_interval {
                    self.queue.push(self.now + iv, Ev::Check);
                }
            }
            Ev::Action(a) => self.act(a),
        }
    }

    fn deliver(&mut self, to: u32, input: Input) {
        let i = to as usize;
        match self.nodes[i].status {
            Status::Running => self.handle_input(i, input),
            Status::Paused { .. } => {
                let buf = self.inbox.entry(to).or_default();
                if matches!(input, Input::Packet { .. }) {
                    let queued = buf
                        .iter()
                        .filter(|x| matches!(x, Input::Packet { .. }))
                        .count();
                    if queued >= self.cfg.pause_buffer_packets {
                        self.netstats.buffer_overflow += 1;
                        return;
                    }
                }
                buf.push(input);
            }
            Status::Crashed | Status::Left => match input {
                Input::Packet { .. } => self.netstats.to_down_node += 1,
                Input::Open {
                    from,
                    id,
                    expect_reply: true,
                    ..
                } => {
                    // A dead process on a live host: the connection is refused.
                    let at = self.now + self.net.one_way(i, from as usize);
                    self.queue.push(
                        at,
                        Ev::StreamFail {
                            node: from,
                            id,
                            reason: "connection refused",
                        },
                    );
                }
                _ => {}
            },
        }
    }

    fn handle_input(&mut self, i: usize, input: Input) {
        let now = self.now;
        match input {
            Input::Packet { from, data } => {
                self.netstats.delivered += 1;
                self.nodes[i]
                    .node
                    .handle_packet(now, addr_of(from as usize), &data);
            }
            Input::Open {
                from,
                id,
                data,
                expect_reply,
            } => {
                let step = self.nodes[i]
                    .node
                    .handle_stream(now, addr_of(from as usize), &data);
                if expect_reply {
                    let reply = match step {
                        StreamStep::Reply(bytes) => bytes,
                        // Closed without an answer: the dialer reads EOF.
                        StreamStep::NeedMore | StreamStep::Close => Vec::new(),
                    };
                    let j = from as usize;
                    if self.net.reachable(i, j) {
                        let sent = &mut self.nodes[i].sent;
                        sent.stream_bytes += reply.len() as u64;
                        let at = now
                            + self.net.transfer(reply.len())
                            + self.net.tcp_segment(i, j, TCP_DATA_RTO);
                        self.queue.push(
                            at,
                            Ev::StreamReply {
                                to: from,
                                id,
                                data: reply,
                            },
                        );
                    }
                }
            }
            Input::Reply { id, data } => {
                if self.streams.remove(&(i as u32, id)) {
                    let node = &mut self.nodes[i].node;
                    if node.handle_stream_reply(now, id, &data) == StreamStep::NeedMore {
                        self.netstats.streams_failed += 1;
                        node.stream_failed(now, id, "connection closed before a whole reply");
                    }
                }
            }
            Input::Fail { id, reason } => {
                if self.streams.remove(&(i as u32, id)) {
                    self.netstats.streams_failed += 1;
                    self.nodes[i].node.stream_failed(now, id, reason);
                }
            }
        }
        self.after_input(i);
    }

    /// Route the node's transmits, record its events, renew its wakeup.
    fn after_input(&mut self, i: usize) {
        let now = self.now;
        while let Some(t) = self.nodes[i].node.poll_transmit() {
            self.route(i, t);
        }
        while let Some(e) = self.nodes[i].node.poll_event() {
            self.on_event(i, e);
        }
        if !self.watch.is_empty() {
            self.look_for_suspicion(i);
        }
        let n = &mut self.nodes[i];
        let next = n.node.poll_timeout();
        if next.is_some() && next != n.wake_at {
            n.wake_at = next;
            n.token = n.token.wrapping_add(1);
            let at = next.map_or(now, |t| t.max(now));
            self.queue.push(
                at,
                Ev::Wake {
                    node: i as u32,
                    token: n.token,
                },
            );
        }
    }

    fn route(&mut self, i: usize, t: Transmit) {
        let now = self.now;
        let count = self.nodes.len();
        match t {
            Transmit::Packet { to, data } => {
                let sent = &mut self.nodes[i].sent;
                sent.packets += 1;
                sent.bytes += data.len() as u64;
                let Some(j) = index_of(to, count) else {
                    self.netstats.unroutable += 1;
                    return;
                };
                if !self.net.reachable(i, j) {
                    self.netstats.partitioned += 1;
                    return;
                }
                if self.net.lost(i, j) {
                    self.netstats.lost += 1;
                    return;
                }
                let at = now + self.net.one_way(i, j);
                self.queue.push(
                    at,
                    Ev::Packet {
                        to: j as u32,
                        from: i as u32,
                        data,
                    },
                );
            }
            Transmit::Stream {
                id,
                to,
                data,
                expect_reply,
                deadline,
            } => {
                let sent = &mut self.nodes[i].sent;
                sent.streams += 1;
                sent.stream_bytes += data.len() as u64;
                if expect_reply {
                    self.streams.insert((i as u32, id));
                    self.queue.push(
                        deadline.max(now),
                        Ev::StreamFail {
                            node: i as u32,
                            id,
                            reason: "timeout",
                        },
                    );
                }
                let Some(j) = index_of(to, count) else { return };
                if !self.net.reachable(i, j) {
                    return; // the SYN is lost: the deadline fails it
                }
                // Handshake (a round trip), then the request; lost segments are resent.
                let at = now
                    + self.net.tcp_segment(i, j, TCP_SYN_RTO)
                    + self.net.tcp_segment(j, i, TCP_SYN_RTO)
                    + self.net.tcp_segment(i, j, TCP_DATA_RTO)
                    + self.net.transfer(data.len());
                self.queue.push(
                    at,
                    Ev::StreamOpen {
                        to: j as u32,
                        from: i as u32,
                        id,
                        data,
                        expect_reply,
                    },
                );
            }
        }
    }

    /// A paused node wakes up, as a SIGSTOPped process does on SIGCONT.
    ///
    /// While it was stopped, its datagrams (up to `pause_buffer_packets`) and stream
    /// events waited in `inbox`, as in its socket buffers, and its timers came due without
    /// firing. On waking it runs every overdue timer first, with the real time as `now`,
    /// and only then reads what waited, in arrival order. That is what a tokio process
    /// does on Linux: the driver thread was blocked in `epoll_wait`, which returns `EINTR`
    /// with no events after a stop and a `SIGCONT` (signal(7)), so the first driver turn
    /// sees only the expired timers; the sockets' readiness comes a turn later. Measured
    /// (tokio 1.54, multi-thread runtime with 1, 2 and 4 workers, a receive task and a
    /// timer task as in rumor-net, 20 or 300 datagrams queued while stopped): the timer
    /// task ran before the first datagram was read in 40 of 40 runs. And on real agents: an
    /// agent stopped while it suspected a member, and woken after that suspicion expired,
    /// declares the member failed although its refutation waits in the socket buffer,
    /// then reads it and sees the member back. So overlapping pauses give false positives
    /// (a paused observer declaring an already refuted member dead at its old incarnation)
    /// in the simulator and on real hosts alike; a single pause shorter than the minimum
    /// suspicion gives none in either.
    fn resume(&mut self, i: usize) {
        if !matches!(self.nodes[i].status, Status::Paused { until } if until <= self.now) {
            return;
        }
        self.nodes[i].status = Status::Running;
        // Overdue timers first (see above), then what waited in the buffers, in arrival
        // order.
        self.nodes[i].node.handle_timeout(self.now);
        self.nodes[i].wake_at = None;
        self.after_input(i);
        let waiting = self.inbox.remove(&(i as u32)).unwrap_or_default();
        for input in waiting {
            if self.nodes[i].status != Status::Running {
                break;
            }
            self.handle_input(i, input);
        }
    }

    fn shutdown(&mut self, i: usize) {
        if self.nodes[i].status.is_live() && self.nodes[i].leaving {
            self.became_gone(i);
            self.nodes[i].status = Status::Left;
            self.inbox.remove(&(i as u32));
        }
    }
}
