//! The [`Node`]: one member's view of one pool, and the entry points that drive it.
//!
//! This file holds the struct, construction, the input/output queues and the timer table.
//! The protocol logic lives beside it: `probe.rs` (failure detection), `state.rs` (the
//! alive / suspect / dead state machine and push-pull merge), `gossip.rs` (sending,
//! piggybacking, gossip and push-pull rounds, streams).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rumor_wire::{Alive, Name};

use crate::awareness::Awareness;
use crate::broadcast::{BroadcastId, BroadcastQueue};
use crate::config::{Config, ConfigError};
use crate::error::JoinError;
use crate::event::{Event, JoinId, StreamId, Transmit};
use crate::hooks::{Hooks, Intern, NoHooks};
use crate::member::{Member, Members, State};
use crate::refusal_log::RefusalLog;
use crate::stats::Stats;
use crate::suspicion::Suspicion;
use crate::time::Instant;
use crate::timer::{periodic_next, Expired, FixedTimer, TimerTable};

/// The node's fixed timers: one slot each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fixed {
    /// Start the next probe.
    ProbeTick,
    /// The direct ack of the probe in flight is overdue: go indirect.
    ProbeDirect,
    /// The probe in flight's whole (health-scaled) interval is over.
    ProbeEnd,
    /// Gossip round.
    Gossip,
    /// Push-pull round.
    PushPull,
}

impl FixedTimer for Fixed {
    const ALL: &'static [Fixed] = &[
        Fixed::ProbeTick,
        Fixed::ProbeDirect,
        Fixed::ProbeEnd,
        Fixed::Gossip,
        Fixed::PushPull,
    ];
    fn slot(self) -> usize {
        self as usize
    }
}

/// The node's keyed timers: any number of each.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Keyed {
    /// A ping we relay for someone else (by our sequence number) is overdue.
    Relay(u32),
    /// The suspicion of a member expires.
    Suspicion(Name),
}

/// The probe in flight.
#[derive(Debug)]
pub(crate) struct Probe {
    pub(crate) seq: u32,
    pub(crate) target: Name,
    /// The target's incarnation when the probe started: a failed probe suspects it at this
    /// one, so a refutation that raced the probe is not undone.
    pub(crate) incarnation: u32,
    pub(crate) started: Instant,
    pub(crate) indirect: bool,
    pub(crate) expected_nacks: u32,
    pub(crate) nacks: u32,
    pub(crate) tcp_ok: bool,
}

/// A ping we send on behalf of an indirect-ping requester.
#[derive(Debug)]
pub(crate) struct Relay {
    pub(crate) orig_seq: u32,
    pub(crate) reply_to: SocketAddr,
    pub(crate) nack: bool,
}

/// What an outgoing stream is for.
#[derive(Debug)]
pub(crate) enum Pending {
    PushPull {
        join: Option<JoinId>,
        to: SocketAddr,
    },
    TcpPing {
        seq: u32,
    },
    User,
}

/// Progress of one `join` call.
#[derive(Debug, Default)]
pub(crate) struct JoinState {
    pub(crate) outstanding: usize,
    pub(crate) joined: usize,
    pub(crate) errors: Vec<(SocketAddr, JoinError)>,
}

/// One member of a pool: the SWIM + Lifeguard state machine. See the crate docs.
pub struct Node {
    pub(crate) config: Config,
    /// Shares names and meta with other tables in the process, if given.
    pub(crate) interner: Option<Box<dyn Intern>>,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) members: Members,
    pub(crate) incarnation: u32,
    pub(crate) seq_no: u32,
    pub(crate) awareness: Awareness,
    pub(crate) broadcasts: BroadcastQueue,
    pub(crate) suspicions: HashMap<Name, Suspicion>,
    pub(crate) timers: TimerTable<Fixed, Keyed>,
    pub(crate) probe_index: usize,
    pub(crate) probe: Option<Probe>,
    pub(crate) relays: HashMap<u32, Relay>,
    pub(crate) streams: HashMap<StreamId, Pending>,
    pub(crate) next_stream: StreamId,
    pub(crate) joins: HashMap<JoinId, JoinState>,
    pub(crate) next_join: JoinId,
    pub(crate) transmits: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) leaving: bool,
    pub(crate) leave_broadcast: Option<BroadcastId>,
    /// A probe tick came while a probe was still running (health-stretched probes outlast the
    /// interval). As a Go ticker keeps one missed tick, the next probe starts as soon as the
    /// running one ends.
    pub(crate) tick_missed: bool,
    pub(crate) stats: Stats,
    /// When we last warned about a refused member, per name (rate limit).
    pub(crate) refusals: RefusalLog,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.config.name)
            .field("incarnation", &self.incarnation)
            .field("members", &self.members.len())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Start a node at `now` with its own meta. Its first alive message is queued for gossip
    /// and its timers are staggered randomly (from `seed`) within their intervals.
    pub fn new(config: Config, meta: Bytes, seed: u64, now: Instant) -> Result<Self, ConfigError> {
        config.validate()?;
        if meta.len() > config.meta_max_size {
            return Err(ConfigError::MetaTooLarge {
                len: meta.len(),
                max: config.meta_max_size,
            });
        }
        let mut node = Node {
            awareness: Awareness::new(if config.lifeguard.local_health {
                config.awareness_max_multiplier
            } else {
                1
            }),
            config,
            interner: None,
            rng: ChaCha8Rng::seed_from_u64(seed),
            members: Members::new(),
            incarnation: 0,
            seq_no: 0,
            broadcasts: BroadcastQueue::new(),
            suspicions: HashMap::new(),
            timers: TimerTable::new(),
            probe_index: 0,
            probe: None,
            relays: HashMap::new(),
            streams: HashMap::new(),
            next_stream: 0,
            joins: HashMap::new(),
            next_join: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            leaving: false,
            leave_broadcast: None,
            tick_missed: false,
            stats: Stats::default(),
            refusals: RefusalLog::default(),
        };
        node.incarnation = 1;
        let alive = node.self_alive(meta);
        node.alive_node(now, &alive, true, &mut NoHooks);
        let probe = node.stagger(node.config.probe_interval);
        let gossip = node.stagger(node.config.gossip_interval);
        let push_pull = node.stagger(node.config.push_pull_interval);
        node.timers.set(Fixed::ProbeTick, now + probe);
        node.timers.set(Fixed::Gossip, now + gossip);
        if !node.config.push_pull_interval.is_zero() {
            node.timers.set(Fixed::PushPull, now + push_pull);
        }
        Ok(node)
    }

    /// Share names and meta values with other tables through `interner` (the simulator
    /// holds thousands of tables of the same members). Values already stored stay as they
    /// are.
    pub fn set_interner(&mut self, interner: Box<dyn Intern>) {
        self.interner = Some(interner);
    }

    pub(crate) fn intern_name(&mut self, name: Name) -> Name {
        match &mut self.interner {
            Some(i) => i.name(name),
            None => name,
        }
    }

    pub(crate) fn intern_meta(&mut self, meta: Bytes) -> Bytes {
        match &mut self.interner {
            Some(i) if !meta.is_empty() => i.meta(meta),
            _ => meta,
        }
    }

    fn stagger(&mut self, interval: Duration) -> Duration {
        let nanos = interval.as_nanos().min(u64::MAX as u128) as u64;
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.rng.gen_range(0..nanos))
    }

    pub(crate) fn self_alive(&self, meta: Bytes) -> Alive {
        Alive {
            incarnation: self.incarnation,
            node: self.config.name.clone(),
            addr: self.config.advertise.ip(),
            port: self.config.advertise.port(),
            meta: Some(meta),
            vsn: Some(Bytes::copy_from_slice(&self.config.vsn())),
        }
    }

    pub(crate) fn next_seq(&mut self) -> u32 {
        self.seq_no = self.seq_no.wrapping_add(1);
        self.seq_no
    }

    pub(crate) fn is_self(&self, name: &str) -> bool {
        *self.config.name == *name
    }

    // ---- outputs -------------------------------------------------------------------------

    /// The next datagram or stream to send. Call after every `handle_*` call and command,
    /// until it returns `None`.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.transmits.pop_front();
        release_if_drained(&mut self.transmits);
        t
    }

    /// The next event. Call after every `handle_*` call and command, until `None`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        let e = self.events.pop_front();
        release_if_drained(&mut self.events);
        e
    }

    /// When [`Node::handle_timeout`] must next be called: exactly the earliest armed
    /// timer (cancelled timers are really gone).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    // ---- inputs --------------------------------------------------------------------------

    /// Run every timer due at or before `now`, in deadline order.
    pub fn handle_timeout(&mut self, now: Instant, hooks: &mut dyn Hooks) {
        // Bounded: each timer fires once; the periodic ones re-arm strictly after `now`.
        while let Some(expired) = self.timers.expire(now) {
            match expired {
                Expired::Fixed(t, at) => self.fire(now, at, t, hooks),
                Expired::Keyed(Keyed::Relay(seq), _) => self.relay_timeout(seq, hooks),
                Expired::Keyed(Keyed::Suspicion(name), _) => self.suspicion_timeout(now, name),
            }
        }
    }

    fn fire(&mut self, now: Instant, at: Instant, timer: Fixed, hooks: &mut dyn Hooks) {
        match timer {
            Fixed::ProbeTick => {
                let next = periodic_next(at, now, self.config.probe_interval);
                self.timers.set(Fixed::ProbeTick, next);
                if self.probe.is_some() {
                    self.tick_missed = true;
                } else {
                    self.start_probe(now, hooks);
                }
            }
            Fixed::ProbeDirect => self.probe_direct_timeout(hooks),
            Fixed::ProbeEnd => self.probe_end(now, hooks),
            Fixed::Gossip => {
                let next = periodic_next(at, now, self.config.gossip_interval);
                self.timers.set(Fixed::Gossip, next);
                self.gossip(now, hooks);
            }
            Fixed::PushPull => {
                let interval = push_pull_scale(self.config.push_pull_interval, self.members.len());
                let next = periodic_next(at, now, interval);
                self.timers.set(Fixed::PushPull, next);
                self.push_pull_round(now, hooks);
            }
        }
    }

    // ---- commands ------------------------------------------------------------------------

    /// Join a pool through any of `addrs`: a push-pull with each. The outcome arrives as
    /// [`Event::JoinFinished`] with the returned id.
    pub fn join(&mut self, now: Instant, addrs: &[SocketAddr], hooks: &mut dyn Hooks) -> JoinId {
        self.next_join += 1;
        let id = self.next_join;
        let state = JoinState {
            outstanding: addrs.len(),
            ..JoinState::default()
        };
        self.joins.insert(id, state);
        for &addr in addrs {
            self.send_push_pull(now, addr, Some(id), hooks);
        }
        if addrs.is_empty() {
            self.finish_join(id);
        }
        id
    }

    /// Leave gracefully: we become left, and the news is gossiped. [`Event::LeaveFinished`]
    /// comes once it has been sent its full count (at once if nobody else is alive). The
    /// driver should wait for it, with a timeout, before shutting down; until then the node
    /// goes on probing, answering and exchanging state, as memberlist does until shutdown.
    pub fn leave(&mut self, now: Instant) {
        if self.leaving {
            return;
        }
        self.leaving = true;
        let dead = rumor_wire::Dead {
            incarnation: self.incarnation,
            node: self.config.name.clone(),
            from: self.config.name.clone(),
        };
        self.dead_node(now, &dead);
        let anyone = self
            .members
            .iter()
            .any(|m| !self.is_self(&m.name) && !m.state.is_gone());
        if !anyone {
            self.leave_broadcast = None;
            self.events.push_back(Event::LeaveFinished);
        }
    }

    /// Change our meta: a new alive with the next incarnation is gossiped.
    pub fn set_meta(&mut self, now: Instant, meta: Bytes) -> Result<(), ConfigError> {
        if meta.len() > self.config.meta_max_size {
            return Err(ConfigError::MetaTooLarge {
                len: meta.len(),
                max: self.config.meta_max_size,
            });
        }
        self.incarnation = self.bump_incarnation(self.incarnation);
        let alive = self.self_alive(meta);
        self.alive_node(now, &alive, true, &mut NoHooks);
        Ok(())
    }

    /// Send user bytes to an address as one datagram (no piggyback).
    pub fn send_best_effort(&mut self, to: SocketAddr, msg: &[u8]) {
        let mut data = Vec::with_capacity(msg.len() + 1);
        data.push(rumor_wire::MessageType::User as u8);
        data.extend_from_slice(msg);
        let crc = self
            .members
            .iter()
            .any(|m| m.addr() == to && m.vsn.supports_crc());
        self.send_raw(to, &data, crc);
    }

    /// Send user bytes to an address over a stream.
    pub fn send_reliable(&mut self, now: Instant, to: SocketAddr, msg: Bytes) {
        let m = rumor_wire::Message::User(msg);
        let deadline = now + self.config.tcp_timeout;
        self.send_stream(to, &m, Pending::User, false, deadline);
    }

    // ---- queries -------------------------------------------------------------------------

    /// Every member we know, in probe order, including ourselves and dead / left members
    /// not yet reaped.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.iter()
    }

    /// A member by name.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.get(name)
    }

    /// Our own entry.
    pub fn local(&self) -> Option<&Member> {
        self.members.get(&self.config.name)
    }

    /// Number of members that are alive or suspect, ourselves included.
    pub fn num_live(&self) -> usize {
        self.members.iter().filter(|m| !m.state.is_gone()).count()
    }

    /// Our local health score (0 = healthy).
    pub fn health_score(&self) -> u32 {
        self.awareness.score()
    }

    /// Our incarnation.
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The keyring in use (`None` without encryption). It is read afresh for every packet
    /// and stream sent or received.
    pub fn keyring(&self) -> Option<&rumor_wire::Keyring> {
        self.config.keyring.as_ref()
    }

    /// Replaces the keyring (Serf's key queries). It takes effect for the very next packet or
    /// stream, sent or received; nothing already sent is re-encrypted.
    pub fn set_keyring(&mut self, keyring: Option<rumor_wire::Keyring>) {
        self.config.keyring = keyring;
    }

    /// A framer for one inbound or reply stream: finds where the message ends, incrementally,
    /// within this node's stream size limit.
    pub fn stream_framing(&self) -> Box<dyn crate::core::StreamFraming> {
        Box::new(rumor_wire::StreamFramer::new(self.config.max_stream_bytes))
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Number of broadcasts waiting to be gossiped.
    pub fn queued_broadcasts(&self) -> usize {
        self.broadcasts.len()
    }

    /// A uniformly random number from the node's seeded RNG (for layers above that must stay
    /// deterministic).
    pub fn random_u64(&mut self) -> u64 {
        self.rng.gen()
    }

    pub(crate) fn state_of(&self, name: &str) -> Option<State> {
        self.members.get(name).map(|m| m.state)
    }
}

/// Give back a queue's memory once a burst (a join merging thousands of members) has drained:
/// the simulator holds thousands of nodes, each with its queues.
fn release_if_drained<T>(q: &mut VecDeque<T>) {
    if q.is_empty() && q.capacity() > 64 {
        *q = VecDeque::new();
    }
}

/// memberlist's push-pull scaling: the interval as is up to 32 members, then one more
/// multiple per doubling.
pub(crate) fn push_pull_scale(interval: Duration, n: usize) -> Duration {
    const THRESHOLD: usize = 32;
    if n <= THRESHOLD {
        return interval;
    }
    let mult = ((n as f64).log2() - (THRESHOLD as f64).log2()).ceil() as u32 + 1;
    interval.saturating_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_pull_scaling_matches_memberlist() {
        let s = Duration::from_secs(30);
        assert_eq!(push_pull_scale(s, 32), s);
        assert_eq!(push_pull_scale(s, 33), s * 2);
        assert_eq!(push_pull_scale(s, 64), s * 2);
        assert_eq!(push_pull_scale(s, 65), s * 3);
        assert_eq!(push_pull_scale(s, 1000), s * 6);
        assert_eq!(push_pull_scale(s, 10_000), s * 10);
    }
}
