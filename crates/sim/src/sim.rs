//! The simulator: N rumor-swim nodes, one virtual clock, one event queue, one modelled
//! network, and the checkers and measurements that watch them.
//!
//! The main loop pops the earliest (time, sequence) entry, sets the clock to it and hands
//! it to the node it concerns; after every input the node's transmits are routed through
//! the network model, its events are recorded, and its one pending wakeup is renewed from
//! `poll_timeout` (stale wakeups carry an old token and are skipped). Nothing here reads
//! the wall clock or iterates a hash map, and all randomness comes from seeded ChaCha
//! RNGs, so a seed fixes the whole run.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use rumor_swim::{
    ConfigError, Event, Instant, Member, Node, State, StreamId, StreamStep, Transmit,
};
use rumor_wire::Name;

use crate::action::Action;
use crate::config::SimConfig;
use crate::delegate::{SharedIntern, SimDelegate};
use crate::hash::{splitmix64, Fnv1a64};
use crate::invariants::{IncarnationTable, Spread, SpreadKind};
use crate::network::{addr_of, index_of, Network, TCP_DATA_RTO, TCP_SYN_RTO};
use crate::queue::{Ev, Queue};
use crate::report::{
    Convergence, Detection, DetectionSummary, Dissemination, DisseminationReport, FalsePositive,
    FalsePositives, NetworkStats, ProtocolStats, Report, Summary, Traffic, Violation,
};

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
struct SimNode {
    node: Node<SimDelegate>,
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

/// A deterministic discrete-event simulation of a rumor-swim pool. See the module docs.
pub struct Sim {
    cfg: SimConfig,
    scenario: String,
    now: Instant,
    queue: Queue,
    net: Network,
    nodes: Vec<SimNode>,
    names: Vec<Name>,
    intern: Rc<RefCell<SharedIntern>>,
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

impl std::fmt::Debug for Sim {
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

impl Sim {
    /// Create `cfg.nodes` nodes at time zero. None has joined yet: schedule
    /// [`Action::Join`]s, or call [`Sim::join_staggered`].
    pub fn new(cfg: SimConfig) -> Result<Sim, ConfigError> {
        let n = cfg.nodes;
        let intern = Rc::new(RefCell::new(SharedIntern::default()));
        let mut names = Vec::with_capacity(n);
        for i in 0..n {
            let name: Name = Name::from(format!("node-{i}"));
            names.push(intern.borrow_mut().name(name));
        }
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

    fn make_node(&self, i: usize, restarts: u32) -> Result<Node<SimDelegate>, ConfigError> {
        let config = self.cfg.node_config(self.names[i].clone(), addr_of(i));
        let meta = if self.cfg.meta_len == 0 {
            Bytes::new()
        } else {
            Bytes::from(vec![(i % 251) as u8; self.cfg.meta_len])
        };
        let delegate = SimDelegate::new(Rc::clone(&self.intern));
        Node::new(
            config,
            delegate,
            meta,
            node_seed(self.cfg.seed, i, restarts),
            self.now,
        )
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

    /// Node `i`'s state machine (to read its member table, stats, ...).
    pub fn node(&self, i: usize) -> &Node<SimDelegate> {
        &self.nodes[i].node
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

    /// Crash node `i` now.
    pub fn crash(&mut self, i: usize) {
        self.act(Action::Crash(i));
    }

    /// Pause node `i` now for `d`.
    pub fn pause(&mut self, i: usize, d: Duration) {
        self.act(Action::Pause {
            node: i,
            duration: d,
        });
    }

    /// Partition now (see [`Action::Partition`]).
    pub fn partition(&mut self, groups: Vec<Vec<usize>>) {
        self.act(Action::Partition(groups));
    }

    /// End the partition now.
    pub fn heal(&mut self) {
        self.act(Action::Heal);
    }

    /// Set the datagram loss of every link now.
    pub fn set_loss(&mut self, p: f64) {
        self.act(Action::SetLoss(p));
    }

    /// Node `i` leaves now.
    pub fn leave(&mut self, i: usize) {
        self.act(Action::Leave(i));
    }

    /// Node `i` changes its meta now.
    pub fn set_meta(&mut self, i: usize, meta: Bytes) {
        self.act(Action::SetMeta { node: i, meta });
    }

    /// Restart crashed node `i` now and join it through `seeds`.
    pub fn restart(&mut self, i: usize, seeds: Vec<usize>) {
        self.act(Action::Restart { node: i, seeds });
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

    fn resume(&mut self, i: usize) {
        if !matches!(self.nodes[i].status, Status::Paused { until } if until <= self.now) {
            return;
        }
        self.nodes[i].status = Status::Running;
        // Overdue timers first (they are already runnable when the process wakes), then
        // what waited in the buffers, in arrival order.
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

    fn act(&mut self, action: Action) {
        let now = self.now;
        let n = self.nodes.len();
        match action {
            Action::Join { node, seeds } => {
                if node >= n || !self.nodes[node].status.is_live() {
                    return;
                }
                if !self.nodes[node].joined {
                    self.nodes[node].joined = true;
                    self.live_count += 1;
                    self.newly_live(node);
                }
                if !seeds.is_empty() {
                    let s = self.open_spread(SpreadKind::Join, node as u32);
                    self.mark_known(s, node);
                }
                let addrs: Vec<_> = seeds
                    .iter()
                    .filter(|&&s| s < n)
                    .map(|&s| addr_of(s))
                    .collect();
                let _ = self.nodes[node].node.join(now, &addrs);
                self.after_input(node);
            }
            Action::Crash(i) => {
                if i >= n || !self.nodes[i].status.is_live() {
                    return;
                }
                self.became_gone(i);
                self.nodes[i].status = Status::Crashed;
                self.inbox.remove(&(i as u32));
                if self.nodes[i].joined {
                    let spread = self.open_spread(SpreadKind::Dead(self.crashes.len()), i as u32);
                    self.watch.push((i as u32, self.crashes.len()));
                    self.crashes.push(Crash {
                        node: i as u32,
                        at: now,
                        first_suspect: None,
                        first_dead: None,
                        spread,
                    });
                }
            }
            Action::Restart { node, seeds } => {
                if node >= n || self.nodes[node].status != Status::Crashed {
                    return;
                }
                let restarts = self.nodes[node].restarts + 1;
                let fresh = match self.make_node(node, restarts) {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(node, error = %e, "restart failed");
                        return;
                    }
                };
                let old = std::mem::replace(&mut self.nodes[node].node, fresh);
                add_stats(&mut self.carried, &old);
                drop(old);
                self.watch.retain(|&(c, _)| c as usize != node);
                self.close_spreads_about(node as u32);
                self.incarnations.forget(node);
                self.episodes.remove(&(node as u32));
                let sn = &mut self.nodes[node];
                sn.status = Status::Running;
                sn.restarts = restarts;
                sn.faulted = true;
                sn.wake_at = None;
                sn.token = sn.token.wrapping_add(1);
                self.became_live(node);
                self.after_input(node);
                self.act(Action::Join { node, seeds });
            }
            Action::Pause { node, duration } => {
                if node >= n || self.nodes[node].status != Status::Running {
                    return;
                }
                let until = now + duration;
                self.nodes[node].status = Status::Paused { until };
                self.nodes[node].faulted = true;
                self.queue.push(until, Ev::Resume { node: node as u32 });
            }
            Action::Partition(groups) => {
                self.net.partition(n, &groups);
                for sn in &mut self.nodes {
                    sn.faulted = true;
                }
            }
            Action::Heal => self.net.heal(),
            Action::SetLoss(p) => {
                self.net.loss = p.clamp(0.0, 1.0);
                if p > 0.0 {
                    self.loss_ever = true;
                }
            }
            Action::SetNodeLoss { node, loss } => {
                if node >= n {
                    return;
                }
                self.net.set_node_loss(n, node, loss);
                if loss > 0.0 {
                    self.nodes[node].lossy = true;
                }
            }
            Action::Leave(i) => {
                if i >= n || self.nodes[i].status != Status::Running || self.nodes[i].leaving {
                    return;
                }
                self.nodes[i].leaving = true;
                self.nodes[i].node.leave(now);
                self.after_input(i);
                self.queue.push(
                    now + self.cfg.leave_timeout,
                    Ev::Shutdown { node: i as u32 },
                );
            }
            Action::SetMeta { node, meta } => {
                if node >= n || self.nodes[node].status != Status::Running {
                    return;
                }
                if let Err(e) = self.nodes[node].node.set_meta(now, meta) {
                    tracing::warn!(node, error = %e, "set_meta refused");
                    return;
                }
                let inc = self.nodes[node].node.incarnation();
                let s = self.open_spread(SpreadKind::Meta(inc), node as u32);
                self.mark_known(s, node);
                self.after_input(node);
            }
        }
    }

    // ---- recording -----------------------------------------------------------------------

    fn on_event(&mut self, observer: usize, e: Event) {
        match e {
            Event::Join(m) => self.member_event(observer, 1, &m),
            Event::Leave(m) => self.member_event(observer, 2, &m),
            Event::Update(m) => self.member_event(observer, 3, &m),
            Event::JoinFinished { errors, .. } => self.join_errors += errors.len() as u64,
            Event::LeaveFinished => self.queue.push(
                self.now,
                Ev::Shutdown {
                    node: observer as u32,
                },
            ),
            Event::Conflict { .. } | Event::PingRtt { .. } => {}
        }
    }

    fn member_event(&mut self, observer: usize, kind: u8, m: &Member) {
        let Some(mi) = self.index_of_name(&m.name) else {
            self.violation(
                "unknown_member",
                format!("node {observer} reports unknown member {:?}", m.name),
            );
            return;
        };
        self.member_events += 1;
        let h = &mut self.hash;
        h.write_u64(self.now.as_duration().as_nanos() as u64);
        h.write_u32(observer as u32);
        h.write(&[kind, m.state as u8]);
        h.write(m.name.as_bytes());
        h.write_u32(m.incarnation);
        if let Some(prev) = self.incarnations.observe(observer, mi, m.incarnation) {
            self.violation(
                "incarnation_decreased",
                format!(
                    "node {observer} went from incarnation {prev} to {} for node {mi}",
                    m.incarnation
                ),
            );
        }
        match (kind, m.state) {
            (2, State::Dead) => self.on_dead(observer, mi, m.incarnation),
            (1 | 3, State::Alive) => {
                let Some(ids) = self.open.get(&(mi as u32)).cloned() else {
                    return;
                };
                for s in ids {
                    let hit = match self.spreads[s].kind {
                        SpreadKind::Join => kind == 1,
                        SpreadKind::Meta(inc) => m.incarnation >= inc,
                        SpreadKind::Dead(_) => false,
                    };
                    if hit {
                        self.mark_known(s, observer);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_dead(&mut self, observer: usize, member: usize, inc: u32) {
        let status = self.nodes[member].status;
        if status == Status::Crashed {
            let Some(ids) = self.open.get(&(member as u32)).cloned() else {
                return;
            };
            for s in ids {
                if let SpreadKind::Dead(c) = self.spreads[s].kind {
                    let crash = &mut self.crashes[c];
                    crash.first_dead.get_or_insert(self.now);
                    crash.first_suspect.get_or_insert(self.now);
                    self.mark_known(s, observer);
                }
            }
            return;
        }
        if status != Status::Running || self.nodes[member].leaving || !self.nodes[member].joined {
            return;
        }
        // A live, unpaused member declared dead: a false positive. Find its cause.
        let first = match self.episodes.get(&(member as u32)) {
            Some(&(i, first)) if i == inc => first,
            _ => {
                self.episodes.insert(member as u32, (inc, observer as u32));
                observer as u32
            }
        };
        let sn = &self.nodes[member];
        let cause = if sn.faulted {
            Some("the member was paused, partitioned or restarted".to_string())
        } else if sn.lossy || self.loss_ever {
            Some("packet loss".to_string())
        } else if self.nodes[first as usize].faulted {
            Some(format!(
                "first declared by node {first}, which was paused or partitioned"
            ))
        } else {
            None
        };
        self.fp_count += 1;
        self.fp_members.insert(member as u32);
        if cause.is_none() {
            self.fp_without_cause += 1;
            self.violation(
                "dead_without_cause",
                format!("node {observer} declared healthy node {member} (incarnation {inc}) dead"),
            );
        }
        if self.false_positives.len() < 1000 {
            self.false_positives.push(FalsePositive {
                time_s: at_s(self.now),
                observer,
                member,
                incarnation: inc,
                cause,
            });
        }
    }

    fn look_for_suspicion(&mut self, observer: usize) {
        let now = self.now;
        let node = &self.nodes[observer].node;
        let names = &self.names;
        let crashes = &mut self.crashes;
        self.watch.retain(|&(c, ci)| {
            let seen = node
                .member(&names[c as usize])
                .is_some_and(|m| m.state != State::Alive);
            if seen {
                crashes[ci].first_suspect.get_or_insert(now);
            }
            !seen
        });
    }

    fn open_spread(&mut self, kind: SpreadKind, member: u32) -> usize {
        let id = self.spreads.len();
        self.spreads
            .push(Spread::new(kind, member, self.now, self.nodes.len()));
        self.open.entry(member).or_default().push(id);
        id
    }

    fn mark_known(&mut self, s: usize, observer: usize) {
        let sn = &self.nodes[observer];
        if !sn.joined || !sn.status.is_live() {
            return;
        }
        let sp = &mut self.spreads[s];
        if sp.done.is_none() && sp.known.set(observer) {
            sp.count += 1;
            self.check_spread(s);
        }
    }

    fn check_spread(&mut self, s: usize) {
        let sp = &mut self.spreads[s];
        if sp.done.is_none() && sp.count >= self.live_count {
            sp.done = Some(self.now);
            let member = sp.member;
            if let Some(v) = self.open.get_mut(&member) {
                v.retain(|&x| x != s);
                if v.is_empty() {
                    self.open.remove(&member);
                }
            }
        }
    }

    fn close_spreads_about(&mut self, member: u32) {
        self.open.remove(&member);
    }

    /// A joined node stops being live: it no longer counts toward any spread.
    fn became_gone(&mut self, i: usize) {
        if !self.nodes[i].joined || !self.nodes[i].status.is_live() {
            return;
        }
        self.live_count -= 1;
        let ids: Vec<usize> = self.open.values().flatten().copied().collect();
        for s in &ids {
            let sp = &mut self.spreads[*s];
            if sp.known.get(i) {
                sp.count -= 1;
            }
        }
        for s in ids {
            self.check_spread(s);
        }
    }

    /// A joined node is live again (restarted): it must learn open joins and meta
    /// updates afresh; a crash that happened before it came (back) is not its to detect,
    /// since a fresh process never knew the crashed member.
    fn became_live(&mut self, i: usize) {
        if !self.nodes[i].joined {
            return;
        }
        self.live_count += 1;
        self.newly_live(i);
    }

    /// Count node `i`, which just became live and joined, in the open spreads.
    fn newly_live(&mut self, i: usize) {
        let ids: Vec<usize> = self.open.values().flatten().copied().collect();
        for s in ids {
            self.spreads[s].known.clear(i);
            if matches!(self.spreads[s].kind, SpreadKind::Dead(_)) {
                self.mark_known(s, i);
            }
        }
    }

    fn violation(&mut self, kind: &str, detail: String) {
        tracing::warn!(kind, %detail, "invariant violated");
        self.violation_count += 1;
        if self.violations.len() < 1000 {
            self.violations.push(Violation {
                time_s: at_s(self.now),
                kind: kind.to_string(),
                detail,
            });
        }
    }

    // ---- invariants ----------------------------------------------------------------------

    /// Invariant 1 over every table: no observer shows a member at a lower incarnation
    /// than it showed before.
    fn scan_incarnations(&mut self) {
        if !self.incarnations.is_enabled() {
            return;
        }
        let mut bad = Vec::new();
        for o in 0..self.nodes.len() {
            if self.nodes[o].status == Status::Crashed {
                continue;
            }
            for m in self.nodes[o].node.members() {
                let Some(mi) = self.index_of_name(&m.name) else {
                    continue;
                };
                if let Some(prev) = self.incarnations.observe(o, mi, m.incarnation) {
                    bad.push((o, mi, prev, m.incarnation));
                }
            }
        }
        for (o, mi, prev, inc) in bad {
            self.violation(
                "incarnation_decreased",
                format!("node {o} went from incarnation {prev} to {inc} for node {mi}"),
            );
        }
    }

    /// Invariant 3: `None` if every live joined node sees every live joined node alive
    /// and every crashed or departed node dead, left or forgotten; else the first
    /// disagreement found.
    pub fn convergence_issue(&self) -> Option<String> {
        let gone: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].joined && !self.nodes[i].status.is_live())
            .collect();
        for (o, sn) in self.nodes.iter().enumerate() {
            if !sn.joined || !sn.status.is_live() {
                continue;
            }
            let alive = sn
                .node
                .members()
                .filter(|m| m.state == State::Alive)
                .count();
            for &g in &gone {
                if let Some(m) = sn.node.member(&self.names[g]) {
                    if !m.state.is_gone() {
                        return Some(format!("node {o} sees departed node {g} as {:?}", m.state));
                    }
                }
            }
            if alive != self.live_count {
                let missing = (0..self.nodes.len()).find(|&j| {
                    self.nodes[j].joined
                        && self.nodes[j].status.is_live()
                        && sn.node.member(&self.names[j]).map(|m| m.state) != Some(State::Alive)
                });
                return Some(match missing {
                    Some(j) => {
                        let st = sn.node.member(&self.names[j]).map(|m| m.state);
                        format!(
                            "node {o} sees live node {j} as {st:?} ({alive} of {} alive)",
                            self.live_count
                        )
                    }
                    None => format!(
                        "node {o} sees {alive} members alive, {} are live",
                        self.live_count
                    ),
                });
            }
        }
        None
    }

    /// Whether the views have converged (see [`Sim::convergence_issue`]).
    pub fn is_converged(&self) -> bool {
        self.convergence_issue().is_none()
    }

    /// Run until the views converge, checking at regular steps, for at most `limit`.
    /// Returns the time it took; if `limit` passes first, records a `not_converged`
    /// violation and returns `None`.
    pub fn settle(&mut self, label: &str, limit: Duration) -> Option<Duration> {
        let start = self.now;
        let end = start + limit;
        // The check costs O(n²) cheap steps; space it so it stays a small share of the run.
        let step =
            Duration::from_micros(500 * self.nodes.len() as u64).max(Duration::from_millis(100));
        loop {
            if self.is_converged() {
                let took = self.now.saturating_duration_since(start);
                self.convergence.push(Convergence {
                    label: label.to_string(),
                    started_s: at_s(start),
                    limit_s: secs(limit),
                    converged_after_s: Some(secs(took)),
                });
                return Some(took);
            }
            if self.now >= end {
                let issue = self.convergence_issue().unwrap_or_default();
                self.violation(
                    "not_converged",
                    format!("{label}: not converged after {:?}: {issue}", limit),
                );
                self.convergence.push(Convergence {
                    label: label.to_string(),
                    started_s: at_s(start),
                    limit_s: secs(limit),
                    converged_after_s: None,
                });
                return None;
            }
            let next = (self.now + step).min(end);
            self.run_until(next);
        }
    }

    // ---- report --------------------------------------------------------------------------

    /// The report of the run so far.
    pub fn report(&self) -> Report {
        let window = self.now.saturating_duration_since(self.window_start);
        let ws = secs(window).max(1e-9);
        let members = self.live_count.max(1) as f64;
        let mut traffic = Traffic {
            window_start_s: at_s(self.window_start),
            window_s: secs(window),
            ..Traffic::default()
        };
        let mut max_bytes = 0u64;
        for sn in &self.nodes {
            traffic.packets += sn.sent.packets;
            traffic.bytes += sn.sent.bytes;
            traffic.streams += sn.sent.streams;
            traffic.stream_bytes += sn.sent.stream_bytes;
            max_bytes = max_bytes.max(sn.sent.bytes);
        }
        traffic.packets_per_member_s = traffic.packets as f64 / members / ws;
        traffic.bytes_per_member_s = traffic.bytes as f64 / members / ws;
        traffic.streams_per_member_s = traffic.streams as f64 / members / ws;
        traffic.stream_bytes_per_member_s = traffic.stream_bytes as f64 / members / ws;
        traffic.max_member_bytes_s = max_bytes as f64 / ws;

        let delay =
            |t: Option<Instant>, from: Instant| t.map(|t| secs(t.saturating_duration_since(from)));
        let detections: Vec<Detection> = self
            .crashes
            .iter()
            .map(|c| Detection {
                node: c.node as usize,
                crashed_at_s: at_s(c.at),
                first_suspect_s: delay(c.first_suspect, c.at),
                first_dead_s: delay(c.first_dead, c.at),
                all_dead_s: delay(self.spreads[c.spread].done, c.at),
            })
            .collect();
        let col =
            |f: fn(&Detection) -> Option<f64>| detections.iter().filter_map(f).collect::<Vec<_>>();
        let detection_summary = DetectionSummary {
            first_suspect: Summary::of(&col(|d| d.first_suspect_s)),
            first_dead: Summary::of(&col(|d| d.first_dead_s)),
            all_dead: Summary::of(&col(|d| d.all_dead_s)),
            undetected: detections.iter().filter(|d| d.all_dead_s.is_none()).count(),
        };

        let mut joins = Vec::new();
        let mut metas = Vec::new();
        let mut list = Vec::new();
        let mut incomplete = 0;
        for sp in &self.spreads {
            let kind = match sp.kind {
                SpreadKind::Join => "join",
                SpreadKind::Meta(_) => "meta",
                SpreadKind::Dead(_) => continue,
            };
            let all = delay(sp.done, sp.start);
            match (kind, all) {
                ("join", Some(x)) => joins.push(x),
                (_, Some(x)) => metas.push(x),
                (_, None) => incomplete += 1,
            }
            if list.len() < 200 {
                list.push(Dissemination {
                    kind: kind.to_string(),
                    member: sp.member as usize,
                    started_s: at_s(sp.start),
                    all_s: all,
                });
            }
        }

        let mut protocol = self.carried.clone();
        for sn in &self.nodes {
            add_stats(&mut protocol, &sn.node);
        }
        protocol.join_errors = self.join_errors;

        Report {
            scenario: self.scenario.clone(),
            nodes: self.nodes.len(),
            seed: self.cfg.seed,
            profile: self.cfg.profile.as_str().to_string(),
            loss: self.net.loss,
            sim_time_s: at_s(self.now),
            event_log_hash: format!("{:016x}", self.hash.finish()),
            member_events: self.member_events,
            traffic,
            detections,
            detection_summary,
            false_positives: FalsePositives {
                count: self.fp_count,
                members: self.fp_members.len(),
                without_cause: self.fp_without_cause,
                list: self.false_positives.clone(),
            },
            dissemination: DisseminationReport {
                joins: Summary::of(&joins),
                metas: Summary::of(&metas),
                incomplete,
                list,
            },
            convergence: self.convergence.clone(),
            protocol,
            network: self.netstats.clone(),
            violations: self.violations.clone(),
            violation_count: self.violation_count,
            ok: self.violation_count == 0,
        }
    }

    /// The event-log hash so far.
    pub fn event_log_hash(&self) -> u64 {
        self.hash.finish()
    }
}

fn add_stats(p: &mut ProtocolStats, node: &Node<SimDelegate>) {
    let s = node.stats();
    p.probes_ok += s.probes_ok;
    p.probes_failed += s.probes_failed;
    p.refutes += s.refutes;
    p.conflicts += s.conflicts;
    p.packets_undecodable += s.packets_dropped;
    p.streams_undecodable += s.streams_dropped;
}
