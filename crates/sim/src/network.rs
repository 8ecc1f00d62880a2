//! The modelled network: virtual addresses, per-link latency, i.i.d. loss and partitions.
//!
//! Nothing here touches a socket. Node `i` lives at the virtual address `10.a.b.c:7946`
//! where `a.b.c` is `i + 1` in base 256, so mapping an address back to its node is
//! arithmetic, not a table. All randomness comes from one ChaCha RNG seeded from the
//! master seed; per-link base latencies are a pure function of the seed and the link.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::LatencyModel;
use crate::hash::splitmix64;

/// The gossip port every virtual node uses.
pub const PORT: u16 = 7946;

/// The virtual address of node `i`.
pub fn addr_of(i: usize) -> SocketAddr {
    let v = (i as u32).wrapping_add(1);
    let ip = Ipv4Addr::new(10, (v >> 16) as u8, (v >> 8) as u8, v as u8);
    SocketAddr::new(IpAddr::V4(ip), PORT)
}

/// The node at a virtual address, if it is one of the first `n`.
pub fn index_of(addr: SocketAddr, n: usize) -> Option<usize> {
    let IpAddr::V4(ip) = addr.ip() else {
        return None;
    };
    let o = ip.octets();
    if o[0] != 10 || addr.port() != PORT {
        return None;
    }
    let v = (u32::from(o[1]) << 16) | (u32::from(o[2]) << 8) | u32::from(o[3]);
    let i = v.checked_sub(1)? as usize;
    (i < n).then_some(i)
}

/// Retransmission timeout of a lost SYN or SYN-ACK (Linux `TCP_TIMEOUT_INIT`, 1 s).
pub const TCP_SYN_RTO: Duration = Duration::from_secs(1);

/// Retransmission timeout of a lost data segment on a fresh connection (Linux
/// `TCP_RTO_MIN`, 200 ms).
pub const TCP_DATA_RTO: Duration = Duration::from_millis(200);

/// Latency, loss and reachability between nodes.
#[derive(Debug)]
pub(crate) struct Network {
    rng: ChaCha8Rng,
    seed: u64,
    latency: LatencyModel,
    /// Loss applied to every datagram.
    pub(crate) loss: f64,
    /// Extra loss on datagrams to or from a node (a bad NIC); empty when unused.
    node_loss: Vec<f64>,
    /// Partition group of each node; empty when there is no partition. Two nodes reach
    /// each other iff they are in the same group.
    groups: Vec<u16>,
    /// Stream throughput, bytes per second (0 = instantaneous).
    bandwidth: u64,
}

impl Network {
    pub(crate) fn new(seed: u64, latency: LatencyModel, loss: f64, bandwidth: u64) -> Self {
        Network {
            rng: ChaCha8Rng::seed_from_u64(splitmix64(seed ^ 0x6e65_7477_6f72_6b00)),
            seed,
            latency,
            loss,
            node_loss: Vec::new(),
            groups: Vec::new(),
            bandwidth,
        }
    }

    /// The fixed base latency of the link between `a` and `b` (symmetric).
    pub(crate) fn link_base(&self, a: usize, b: usize) -> Duration {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let h = splitmix64(self.seed ^ splitmix64(((lo as u64) << 32) | hi as u64));
        let u = (h >> 11) as f64 / (1u64 << 53) as f64;
        self.latency
            .base
            .mul_f64(1.0 + self.latency.link_spread.max(0.0) * u)
    }

    /// One datagram's (or one stream segment's) one-way delay from `a` to `b`.
    pub(crate) fn one_way(&mut self, a: usize, b: usize) -> Duration {
        let base = self.link_base(a, b);
        let j = self.latency.jitter.as_nanos() as u64;
        let extra = if j == 0 { 0 } else { self.rng.gen_range(0..=j) };
        base + Duration::from_nanos(extra)
    }

    /// Delay of one TCP segment from `a` to `b`: its one-way latency, plus a retransmission
    /// timeout, doubling each time, for every copy the loss model drops (at most 8 tries
    /// are modelled). So streams are reliable but slow down under loss, as TCP does; a
    /// lost SYN costs a whole second.
    pub(crate) fn tcp_segment(&mut self, a: usize, b: usize, rto: Duration) -> Duration {
        let mut extra = Duration::ZERO;
        let mut rto = rto;
        for _ in 0..8 {
            if !self.lost(a, b) {
                break;
            }
            extra += rto;
            rto *= 2;
        }
        extra + self.one_way(a, b)
    }

    /// Time to push `len` bytes through a stream.
    pub(crate) fn transfer(&self, len: usize) -> Duration {
        if self.bandwidth == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos((len as u128 * 1_000_000_000 / u128::from(self.bandwidth)) as u64)
    }

    /// Whether `a` and `b` can reach each other now.
    pub(crate) fn reachable(&self, a: usize, b: usize) -> bool {
        self.groups.is_empty() || self.groups.get(a) == self.groups.get(b)
    }

    /// Whether a datagram from `a` to `b` is lost (draws from the RNG only if some loss is set).
    pub(crate) fn lost(&mut self, a: usize, b: usize) -> bool {
        let mut keep = 1.0 - self.loss;
        if !self.node_loss.is_empty() {
            keep *= (1.0 - self.node_loss[a]) * (1.0 - self.node_loss[b]);
        }
        if keep >= 1.0 {
            return false;
        }
        self.rng.gen::<f64>() >= keep
    }

    /// Set the extra loss of one node's datagrams (both directions).
    pub(crate) fn set_node_loss(&mut self, n: usize, node: usize, p: f64) {
        if self.node_loss.is_empty() {
            self.node_loss = vec![0.0; n];
        }
        if let Some(x) = self.node_loss.get_mut(node) {
            *x = p.clamp(0.0, 1.0);
        }
    }

    /// Split the nodes: each listed group is cut off from the others and from the rest
    /// (unlisted nodes form one more group). Replaces any earlier partition.
    pub(crate) fn partition(&mut self, n: usize, groups: &[Vec<usize>]) {
        self.groups = vec![0; n];
        for (g, members) in groups.iter().enumerate() {
            for &i in members {
                if let Some(x) = self.groups.get_mut(i) {
                    *x = (g + 1) as u16;
                }
            }
        }
    }

    /// End every partition.
    pub(crate) fn heal(&mut self) {
        self.groups.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        for i in [0usize, 1, 254, 255, 256, 70_000] {
            assert_eq!(index_of(addr_of(i), 100_000), Some(i));
        }
        assert_eq!(addr_of(0).to_string(), "10.0.0.1:7946");
        assert_eq!(index_of(addr_of(5), 5), None);
        assert!(index_of(SocketAddr::from(([127, 0, 0, 1], PORT)), 10).is_none());
    }

    #[test]
    fn links_are_symmetric_and_bounded() {
        let net = Network::new(7, LatencyModel::LAN, 0.0, 0);
        for (a, b) in [(0, 1), (3, 9), (100, 2)] {
            let l = net.link_base(a, b);
            assert_eq!(l, net.link_base(b, a));
            assert!(l >= LatencyModel::LAN.base && l <= LatencyModel::LAN.base * 2);
        }
    }

    #[test]
    fn tcp_segments_pay_a_timeout_per_loss() {
        let mut net = Network::new(3, LatencyModel::LAN, 0.0, 0);
        let d = net.tcp_segment(0, 1, TCP_SYN_RTO);
        assert!(d < Duration::from_millis(1));
        net.loss = 1.0;
        let d = net.tcp_segment(0, 1, TCP_DATA_RTO);
        // 8 lost copies: 200 ms * (1 + 2 + ... + 128).
        assert!(d >= Duration::from_millis(200 * 255) && d < Duration::from_millis(200 * 255 + 1));
    }

    #[test]
    fn partitions_cut_between_groups() {
        let mut net = Network::new(1, LatencyModel::LAN, 0.0, 0);
        net.partition(6, &[vec![0, 1], vec![2]]);
        assert!(net.reachable(0, 1));
        assert!(!net.reachable(0, 2));
        assert!(!net.reachable(1, 4));
        assert!(net.reachable(3, 5));
        net.heal();
        assert!(net.reachable(0, 2));
    }
}
