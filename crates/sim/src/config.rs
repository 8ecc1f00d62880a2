//! What a simulation is made of: how many nodes, which seed, which memberlist profile, and
//! the model of the network between them. Every field has a default chosen to look like one
//! datacenter's LAN, so `SimConfig::new(n, seed)` is a sensible start.

use std::net::SocketAddr;
use std::time::Duration;

use rumor_swim::Config;
use rumor_wire::Name;
use serde::{Deserialize, Serialize};

/// Which of memberlist's three default configurations every node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// `DefaultLANConfig`: 1 s probes, 500 ms probe timeout, 200 ms gossip.
    #[default]
    Lan,
    /// `DefaultWANConfig`: 5 s probes, 3 s probe timeout, 500 ms gossip.
    Wan,
    /// `DefaultLocalConfig`: 1 s probes, 200 ms probe timeout, 100 ms gossip.
    Local,
}

impl Profile {
    /// The swim configuration of this profile for one node.
    pub fn config(self, name: Name, advertise: SocketAddr) -> Config {
        match self {
            Profile::Lan => Config::lan(name, advertise),
            Profile::Wan => Config::wan(name, advertise),
            Profile::Local => Config::local(name, advertise),
        }
    }

    /// The profile's name, as the command line spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Lan => "lan",
            Profile::Wan => "wan",
            Profile::Local => "local",
        }
    }
}

/// One-way latency of a datagram from `a` to `b`: `base * (1 + link_spread * u_ab)` with
/// `u_ab` in `[0, 1)` fixed per (unordered) link by the seed, plus a fresh uniform draw in
/// `[0, jitter]` per packet. Jitter lets packets on one link overtake each other, as UDP may.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyModel {
    /// Shortest one-way latency of any link.
    pub base: Duration,
    /// Per-packet random extra delay, uniform in `[0, jitter]`.
    pub jitter: Duration,
    /// How much slower than `base` the slowest link is, as a fraction of `base`.
    pub link_spread: f64,
}

impl LatencyModel {
    /// A LAN: 250 µs to 500 µs one way per link, plus up to 100 µs of jitter.
    pub const LAN: LatencyModel = LatencyModel {
        base: Duration::from_micros(250),
        jitter: Duration::from_micros(100),
        link_spread: 1.0,
    };

    /// Links between regions: 20 ms to 100 ms one way, plus up to 5 ms of jitter.
    pub const WAN: LatencyModel = LatencyModel {
        base: Duration::from_millis(20),
        jitter: Duration::from_millis(5),
        link_spread: 4.0,
    };

    /// The model matching a profile.
    pub fn for_profile(p: Profile) -> LatencyModel {
        match p {
            Profile::Wan => LatencyModel::WAN,
            Profile::Lan | Profile::Local => LatencyModel::LAN,
        }
    }
}

impl Default for LatencyModel {
    fn default() -> Self {
        LatencyModel::LAN
    }
}

/// A function that adjusts each node's swim configuration after the profile made it (for
/// experiments: disable TCP pings, change `indirect_checks`, ...).
pub type ConfigTweak = fn(&mut Config);

/// Extra Serf tags of node `i` (say its datacenter), as (name, value) pairs.
pub type TagsFn = fn(usize) -> Vec<(String, String)>;

/// Everything [`crate::Sim::new`] needs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Number of nodes. All are created at time zero; scenarios decide when each joins.
    pub nodes: usize,
    /// Master seed: the network's randomness and every node's seed derive from it.
    pub seed: u64,
    /// memberlist profile every node runs.
    pub profile: Profile,
    /// Latency model of datagrams and streams.
    pub latency: LatencyModel,
    /// i.i.d. probability that a datagram is lost (streams are reliable).
    pub loss: f64,
    /// Stream throughput in bytes per second, so a large push-pull takes longer than a
    /// ping; 0 means instantaneous transfer. Default 100 MB/s.
    pub stream_bandwidth: u64,
    /// Datagrams a paused node's socket buffer keeps; later ones are dropped (a full UDP
    /// receive buffer). Default 512.
    pub pause_buffer_packets: usize,
    /// Interval of the full incarnation-monotonicity scan over every node's table; `None`
    /// checks only on member events. Default: 10 ms per node, at least 10 s (its cost
    /// grows with n², the simulation's with n, so this keeps the share constant).
    pub check_interval: Option<Duration>,
    /// How long a leaving node waits for its leave to be gossiped before it shuts down.
    pub leave_timeout: Duration,
    /// Length of each node's meta at start (filled with the node's index); 0 = none.
    pub meta_len: usize,
    /// Adjusts every node's swim configuration.
    pub tweak: Option<ConfigTweak>,
    /// Extra tags of each Serf node (bare SWIM nodes have none). Default none.
    pub tags: Option<TagsFn>,
}

impl SimConfig {
    /// `nodes` nodes on a LAN with the LAN profile, no loss.
    pub fn new(nodes: usize, seed: u64) -> Self {
        let scan = Duration::from_millis(10 * nodes as u64).max(Duration::from_secs(10));
        SimConfig {
            nodes,
            seed,
            profile: Profile::Lan,
            latency: LatencyModel::LAN,
            loss: 0.0,
            stream_bandwidth: 100_000_000,
            pause_buffer_packets: 512,
            check_interval: Some(scan),
            leave_timeout: Duration::from_secs(5),
            meta_len: 0,
            tweak: None,
            tags: None,
        }
    }

    /// The same with another profile (and its matching latency model).
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self.latency = LatencyModel::for_profile(profile);
        self
    }

    /// The swim configuration a node named `name` at `addr` runs.
    pub fn node_config(&self, name: Name, addr: SocketAddr) -> Config {
        let mut c = self.profile.config(name, addr);
        if let Some(t) = self.tweak {
            t(&mut c);
        }
        c
    }
}
