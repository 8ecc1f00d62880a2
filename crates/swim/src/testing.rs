//! A virtual network for tests of any [`Core`], in the manner of quinn-proto's `Pair`: N
//! cores, a virtual clock that steps to the next deadline (a packet's arrival or a core's
//! timer), and faults a test can set (a crashed node, a node deaf to UDP, a cut link).
//!
//! Datagrams arrive after a fixed latency; streams are answered at once and synchronously
//! (the dialer's reply comes back within the same step), which keeps tests short and exact.
//! Nothing here reads a clock or global randomness: the same cores give the same run.
//!
//! ```
//! use std::time::Duration;
//! use rumor_swim::testing::Net;
//! use rumor_swim::{Config, Core, Node, Instant};
//!
//! let addrs: Vec<_> = (0..3).map(rumor_swim::testing::addr).collect();
//! let nodes = addrs
//!     .iter()
//!     .enumerate()
//!     .map(|(i, a)| Node::new(Config::lan(format!("n{i}"), *a), Default::default(), i as u64, Instant::ZERO))
//!     .collect::<Result<Vec<_>, _>>()
//!     .expect("valid config");
//! let mut net = Net::new(nodes, addrs);
//! net.join_all_to(0);
//! net.run_for(Duration::from_secs(5));
//! assert!(net.nodes.iter().all(|n| n.num_live() == 3));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use crate::core::Core;
use crate::event::{StreamStep, Transmit};
use crate::time::Instant;

/// The address of test node `i`: `10.0.0.(i+1):7946` (never dialled: the network is virtual).
pub fn addr(i: usize) -> SocketAddr {
    let i = u32::try_from(i).unwrap_or(u32::MAX).saturating_add(1);
    let [_, b, c, d] = i.to_be_bytes();
    SocketAddr::from(([10, b, c, d], 7946))
}

/// The upper bound on steps of one [`Net::run_until`]: a test that needs more is broken.
const MAX_STEPS: usize = 10_000_000;

/// N cores on a virtual network. See the module docs.
pub struct Net<C: Core> {
    /// The virtual clock.
    pub now: Instant,
    /// The cores, by index.
    pub nodes: Vec<C>,
    /// Their addresses, by index.
    pub addrs: Vec<SocketAddr>,
    /// Nodes that neither send nor receive nor run timers (crashed).
    pub down: BTreeSet<usize>,
    /// Nodes whose incoming datagrams are dropped (TCP still works).
    pub udp_deaf: BTreeSet<usize>,
    /// Directed links that drop everything, datagrams and streams: `(from, to)`.
    pub cut: BTreeSet<(usize, usize)>,
    /// Every event every core reported, with its node and time, in order.
    pub events: Vec<(usize, Instant, C::Event)>,
    /// One-way latency of a datagram.
    pub latency: Duration,
    /// Datagrams in flight: (arrival, sequence) -> (to, from address, bytes).
    inflight: BTreeMap<(Instant, u64), (usize, SocketAddr, Vec<u8>)>,
    seq: u64,
}

impl<C: Core> std::fmt::Debug for Net<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Net")
            .field("now", &self.now)
            .field("nodes", &self.nodes.len())
            .field("inflight", &self.inflight.len())
            .finish_non_exhaustive()
    }
}

impl<C: Core> Net<C> {
    /// Cores at the given addresses, the clock at zero, 1 ms latency, no faults. Whatever
    /// the cores produced when they were made is moved onto the network at once.
    pub fn new(nodes: Vec<C>, addrs: Vec<SocketAddr>) -> Self {
        assert_eq!(nodes.len(), addrs.len(), "one address per node");
        let mut net = Net {
            now: Instant::ZERO,
            nodes,
            addrs,
            down: BTreeSet::new(),
            udp_deaf: BTreeSet::new(),
            cut: BTreeSet::new(),
            events: Vec::new(),
            latency: Duration::from_millis(1),
            inflight: BTreeMap::new(),
            seq: 0,
        };
        net.flush();
        net
    }

    /// The index of the node at `a`.
    pub fn index(&self, a: SocketAddr) -> Option<usize> {
        self.addrs.iter().position(|x| *x == a)
    }

    fn blocked(&self, from: usize, to: usize) -> bool {
        self.down.contains(&to) || self.cut.contains(&(from, to))
    }

    /// Cuts every link between the two groups, both ways.
    pub fn partition(&mut self, a: &[usize], b: &[usize]) {
        for &i in a {
            for &j in b {
                self.cut.insert((i, j));
                self.cut.insert((j, i));
            }
        }
    }

    /// Moves every node's output onto the network (streams are answered at once) and
    /// records every event. Called after each input; a test calls it after a command.
    pub fn flush(&mut self) {
        // Bounded: a stream exchange produces more output only on the two nodes involved,
        // which the next pass drains; cores do not produce output forever without input.
        for _ in 0..1_000 {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                while let Some(t) = self.nodes[i].poll_transmit() {
                    moved = true;
                    if !self.down.contains(&i) {
                        self.route(i, t);
                    }
                }
                while let Some(ev) = self.nodes[i].poll_event() {
                    moved = true;
                    self.events.push((i, self.now, ev));
                }
            }
            if !moved {
                return;
            }
        }
        panic!("cores kept producing output without input");
    }

    fn route(&mut self, i: usize, t: Transmit) {
        match t {
            Transmit::Packet { to, data } => {
                let Some(j) = self.index(to) else { return };
                if self.cut.contains(&(i, j)) {
                    return;
                }
                self.seq += 1;
                self.inflight.insert(
                    (self.now + self.latency, self.seq),
                    (j, self.addrs[i], data),
                );
            }
            Transmit::Stream {
                id,
                to,
                data,
                expect_reply,
                ..
            } => {
                let now = self.now;
                let j = match self.index(to) {
                    Some(j) if !self.blocked(i, j) => j,
                    _ => {
                        self.nodes[i].stream_failed(now, id, "connection refused");
                        return;
                    }
                };
                let from = self.addrs[i];
                let reply = self.nodes[j].handle_stream(now, from, &data);
                if !expect_reply {
                    return;
                }
                match reply {
                    StreamStep::Reply(bytes) if !self.cut.contains(&(j, i)) => {
                        let step = self.nodes[i].handle_stream_reply(now, id, &bytes);
                        assert_eq!(step, StreamStep::Close, "a whole reply was handed over");
                    }
                    _ => self.nodes[i].stream_failed(now, id, "connection closed"),
                }
            }
        }
    }

    /// The time of the next thing to happen: a datagram's arrival or a live core's timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        let packet = self.inflight.keys().next().map(|k| k.0);
        let timer = (0..self.nodes.len())
            .filter(|i| !self.down.contains(i))
            .filter_map(|i| self.nodes[i].poll_timeout())
            .min();
        match (packet, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Steps to the next deadline, if it is at or before `limit`, and handles it: one
    /// datagram, or the timers of every core due then. Returns whether it stepped.
    pub fn step(&mut self, limit: Instant) -> bool {
        self.flush();
        let Some(next) = self.next_deadline().filter(|t| *t <= limit) else {
            return false;
        };
        self.now = next.max(self.now);
        let now = self.now;
        if let Some((&key, _)) = self.inflight.iter().next() {
            if key.0 <= now {
                if let Some((j, from, data)) = self.inflight.remove(&key) {
                    if !self.down.contains(&j) && !self.udp_deaf.contains(&j) {
                        self.nodes[j].handle_packet(now, from, &data);
                    }
                }
                self.flush();
                return true;
            }
        }
        for i in 0..self.nodes.len() {
            if !self.down.contains(&i) && self.nodes[i].poll_timeout().is_some_and(|t| t <= now) {
                self.nodes[i].handle_timeout(now);
            }
        }
        self.flush();
        true
    }

    /// Runs everything due up to `until`, then sets the clock to `until`.
    pub fn run_until(&mut self, until: Instant) {
        for _ in 0..MAX_STEPS {
            if !self.step(until) {
                self.now = self.now.max(until);
                return;
            }
        }
        panic!("run_until({until:?}) took more than {MAX_STEPS} steps");
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Runs until `done` holds (checked after every step) or `bound` of virtual time has
    /// passed. Returns the time `done` first held, or `None` if it never did within the
    /// bound (the clock is then at the bound).
    pub fn run_until_true(
        &mut self,
        bound: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Option<Instant> {
        let until = self.now + bound;
        for _ in 0..MAX_STEPS {
            if done(self) {
                return Some(self.now);
            }
            if !self.step(until) {
                self.now = self.now.max(until);
                return done(self).then_some(self.now);
            }
        }
        panic!("run_until_true took more than {MAX_STEPS} steps");
    }

    /// Every node but `first` joins through node `first`.
    pub fn join_all_to(&mut self, first: usize) {
        let seed = self.addrs[first];
        let now = self.now;
        for i in 0..self.nodes.len() {
            if i != first {
                self.nodes[i].join(now, &[seed]);
            }
        }
        self.flush();
    }

    /// The events node `i` reported, in order.
    pub fn events_of(&self, i: usize) -> impl Iterator<Item = &C::Event> {
        self.events
            .iter()
            .filter(move |(n, _, _)| *n == i)
            .map(|(_, _, e)| e)
    }

    /// How many of node `i`'s events satisfy `f`.
    pub fn count(&self, i: usize, f: impl Fn(&C::Event) -> bool) -> usize {
        self.events_of(i).filter(|e| f(e)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_distinct() {
        assert_eq!(addr(0), "10.0.0.1:7946".parse().expect("addr"));
        assert_eq!(addr(255), "10.0.1.0:7946".parse().expect("addr"));
        assert_ne!(addr(1), addr(257));
    }
}
