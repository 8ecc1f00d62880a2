//! Configuration of one membership pool, with memberlist 0.2.2's three profiles.
//!
//! Every default is memberlist's, and the reason for it is written beside it, because an
//! operator tuning a pool needs the reason more than the number.

use std::net::SocketAddr;
use std::time::Duration;

use rumor_wire::{Keyring, Name};

/// Everything that shapes one pool's behaviour. Build one from a profile
/// ([`Config::lan`], [`Config::wan`], [`Config::local`]) and adjust.
#[derive(Debug, Clone)]
pub struct Config {
    /// This member's unique name in the pool.
    pub name: Name,
    /// The address other members reach us at (gossip UDP and TCP share the port).
    pub advertise: SocketAddr,
    /// Memberlist protocol version we speak (2, like Serf and Consul).
    pub protocol_version: u8,
    /// Delegate (Serf) protocol `[min, max, cur]`; `[0, 0, 0]` for a bare memberlist pool.
    pub delegate_versions: [u8; 3],
    /// Deadline of a whole TCP exchange (push-pull, reliable user message).
    /// LAN 10 s: a push-pull of thousands of members still fits.
    pub tcp_timeout: Duration,
    /// How many members are asked to probe a target that missed a direct ack. LAN 3: enough
    /// independent paths that one bad link does not cause a suspicion.
    pub indirect_checks: usize,
    /// Broadcasts are retransmitted `retransmit_mult * ceil(log10(n + 1))` times: with 4,
    /// a message reaches every member of a 10k pool with high probability.
    pub retransmit_mult: u32,
    /// A refutation (an alive that ends a suspicion, or our own answer to an accusation) is
    /// retransmitted this many times as often as other broadcasts. memberlist: 1. With 1, a
    /// member now and then misses every copy of a refutation and declares the refuted member
    /// dead when its suspicion runs out (about 1 short pause in 20 of one of 8 members in
    /// the simulator; real Serf shows it too); 2 makes that rare at a cost only when a
    /// suspicion is refuted.
    pub refute_retransmit_factor: u32,
    /// Suspicion lasts at least `suspicion_mult * max(1, log10(n)) * probe_interval`: long
    /// enough for the suspect to hear the rumour and refute it.
    pub suspicion_mult: u32,
    /// Lifeguard: a fresh suspicion starts at `suspicion_max_timeout_mult` times the minimum
    /// and shrinks as independent members confirm it.
    pub suspicion_max_timeout_mult: u32,
    /// Full state exchange with one random member, scaled up for pools above 32 members.
    /// LAN 30 s: anti-entropy repairs what gossip missed without costing much bandwidth.
    pub push_pull_interval: Duration,
    /// How long to wait for a direct ack before asking relays. LAN 500 ms: well above a LAN
    /// round trip, and half the probe interval, so relays get a chance in the same period.
    pub probe_timeout: Duration,
    /// Time between probes. LAN 1 s: detection in a few seconds at one ping per second.
    pub probe_interval: Duration,
    /// Do not try the TCP fallback ping.
    pub disable_tcp_pings: bool,
    /// Lifeguard local health: the probe interval is multiplied by up to this value when we
    /// seem to be the slow one. 8.
    pub awareness_max_multiplier: u32,
    /// Members gossiped to per gossip tick. LAN 3.
    pub gossip_nodes: usize,
    /// Time between gossip ticks. LAN 200 ms: fast dissemination for little bandwidth.
    pub gossip_interval: Duration,
    /// Dead members are still gossiped to for this long, so a member wrongly declared dead
    /// hears it and refutes; and then reaped. LAN 30 s.
    pub gossip_to_the_dead_time: Duration,
    /// Accept unencrypted packets even with a keyring (for rolling out encryption).
    pub gossip_verify_incoming: bool,
    /// Encrypt outgoing packets when a keyring is set.
    pub gossip_verify_outgoing: bool,
    /// LZW-compress packets when that makes them shorter (Go peers do by default).
    pub enable_compression: bool,
    /// Encryption keys; `None` or empty means plaintext.
    pub keyring: Option<Keyring>,
    /// The budget for piggybacking gossip on a packet. 1400: under a typical 1500 MTU.
    pub udp_buffer_size: usize,
    /// A dead member's name may be taken by a new address after this long; `None` = never
    /// (memberlist's 0).
    pub dead_node_reclaim_time: Option<Duration>,
    /// Largest node meta we send or accept, in bytes. 512, memberlist's `MetaMaxSize`.
    pub meta_max_size: usize,
    /// Optional label (memberlist 0.3.0+): packets and streams carry it and peers with another
    /// label are ignored. Off by default: Serf 0.9.4 does not know it.
    pub label: Option<Vec<u8>>,
    /// Largest stream message accepted (push-pull state), in bytes.
    pub max_stream_bytes: usize,
    /// Which of Lifeguard's three extensions run. All on, as in memberlist since 2017;
    /// experiments turn them off to run SWIM as its paper did, or one at a time.
    pub lifeguard: Lifeguard,
    /// How the minimum suspicion timeout grows with the pool.
    pub suspicion_formula: SuspicionFormula,
    /// Answer a message that declares us dead with a refutation (memberlist: yes). SWIM's
    /// paper makes a confirm final: a member declared dead stays out of the group.
    pub refute_dead: bool,
}

/// Lifeguard's extensions of SWIM (Dadgar, Phillips, Currey 2017), each of which can be
/// switched off alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifeguard {
    /// LHA-Probe: a member that misses acks and nacks raises its local health score and
    /// probes more slowly with a longer timeout (up to `awareness_max_multiplier` times);
    /// relays send nacks. Off: the score stays 0 and relays are asked for no nack.
    pub local_health: bool,
    /// LHA-Suspicion: a suspicion starts at `suspicion_max_timeout_mult` times the minimum
    /// and shrinks with independent confirmations, which are re-gossiped. Off: every
    /// suspicion lasts the minimum and a second accuser changes nothing.
    pub dynamic_suspicion: bool,
    /// Buddy system: a probe of a member we suspect carries the suspicion, so the member
    /// hears it first and can refute at once. Off: a plain ping with the usual piggyback.
    pub buddy: bool,
}

impl Lifeguard {
    /// All three extensions, as memberlist and Serf run them.
    pub const ALL: Lifeguard = Lifeguard {
        local_health: true,
        dynamic_suspicion: true,
        buddy: true,
    };
    /// None of them: SWIM as published in 2002.
    pub const NONE: Lifeguard = Lifeguard {
        local_health: false,
        dynamic_suspicion: false,
        buddy: false,
    };
}

impl Default for Lifeguard {
    fn default() -> Self {
        Lifeguard::ALL
    }
}

/// The scale of the minimum suspicion timeout, `suspicion_mult * scale * probe_interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SuspicionFormula {
    /// memberlist: `scale = max(1, log10(n))`, to the millisecond.
    #[default]
    Memberlist,
    /// SWIM's paper (§5): `scale = ceil(log10(n + 1))` whole protocol periods, the same
    /// count as its piggyback limit. The paper does not name the base; memberlist's later
    /// choice of log10 is taken.
    SwimPaper,
}

impl Config {
    /// memberlist's `DefaultLANConfig`: tuned for members on one local network.
    pub fn lan(name: impl Into<Name>, advertise: SocketAddr) -> Self {
        Config {
            name: name.into(),
            advertise,
            protocol_version: 2,
            delegate_versions: [0, 0, 0],
            tcp_timeout: Duration::from_secs(10),
            indirect_checks: 3,
            retransmit_mult: 4,
            refute_retransmit_factor: 2,
            suspicion_mult: 4,
            suspicion_max_timeout_mult: 6,
            push_pull_interval: Duration::from_secs(30),
            probe_timeout: Duration::from_millis(500),
            probe_interval: Duration::from_secs(1),
            disable_tcp_pings: false,
            awareness_max_multiplier: 8,
            gossip_nodes: 3,
            gossip_interval: Duration::from_millis(200),
            gossip_to_the_dead_time: Duration::from_secs(30),
            gossip_verify_incoming: true,
            gossip_verify_outgoing: true,
            enable_compression: true,
            keyring: None,
            udp_buffer_size: 1400,
            dead_node_reclaim_time: None,
            meta_max_size: rumor_wire::limits::META_MAX_SIZE,
            label: None,
            max_stream_bytes: rumor_wire::limits::MAX_PUSH_STATE_BYTES,
            lifeguard: Lifeguard::ALL,
            suspicion_formula: SuspicionFormula::Memberlist,
            refute_dead: true,
        }
    }

    /// memberlist's `DefaultWANConfig`: longer timeouts for links between datacenters.
    pub fn wan(name: impl Into<Name>, advertise: SocketAddr) -> Self {
        Config {
            tcp_timeout: Duration::from_secs(30),
            suspicion_mult: 6,
            push_pull_interval: Duration::from_secs(60),
            probe_timeout: Duration::from_secs(3),
            probe_interval: Duration::from_secs(5),
            gossip_nodes: 4,
            gossip_interval: Duration::from_millis(500),
            gossip_to_the_dead_time: Duration::from_secs(60),
            ..Config::lan(name, advertise)
        }
    }

    /// memberlist's `DefaultLocalConfig`: members on one host or a very fast network.
    pub fn local(name: impl Into<Name>, advertise: SocketAddr) -> Self {
        Config {
            tcp_timeout: Duration::from_secs(1),
            indirect_checks: 1,
            retransmit_mult: 2,
            suspicion_mult: 3,
            push_pull_interval: Duration::from_secs(15),
            probe_timeout: Duration::from_millis(200),
            gossip_interval: Duration::from_millis(100),
            gossip_to_the_dead_time: Duration::from_secs(15),
            ..Config::lan(name, advertise)
        }
    }

    /// The six version bytes we advertise: memberlist 1..=5 speaking `protocol_version`,
    /// then the delegate range.
    pub fn vsn(&self) -> [u8; 6] {
        let [dmin, dmax, dcur] = self.delegate_versions;
        [1, 5, self.protocol_version, dmin, dmax, dcur]
    }

    /// Check the settings that would make the pool misbehave.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::EmptyName);
        }
        if !(1..=5).contains(&self.protocol_version) {
            return Err(ConfigError::ProtocolVersion(self.protocol_version));
        }
        if self.probe_interval.is_zero() || self.gossip_interval.is_zero() {
            return Err(ConfigError::ZeroInterval);
        }
        if self.probe_timeout > self.probe_interval {
            return Err(ConfigError::ProbeTimeout);
        }
        if self.awareness_max_multiplier == 0 {
            return Err(ConfigError::Awareness);
        }
        if self.udp_buffer_size < 64 {
            return Err(ConfigError::UdpBuffer(self.udp_buffer_size));
        }
        Ok(())
    }
}

/// A configuration the core refuses. Nothing was created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Every member needs a name.
    #[error("node name must not be empty")]
    EmptyName,
    /// Only memberlist protocol versions 1 to 5 exist.
    #[error("protocol version {0} is outside 1..=5")]
    ProtocolVersion(u8),
    /// A zero interval would spin.
    #[error("probe and gossip intervals must be greater than zero")]
    ZeroInterval,
    /// A probe must time out before the next one starts.
    #[error("probe timeout must not exceed the probe interval")]
    ProbeTimeout,
    /// The awareness multiplier must be at least 1.
    #[error("awareness max multiplier must be at least 1")]
    Awareness,
    /// Too small to hold a ping.
    #[error("udp buffer size {0} is too small (minimum 64)")]
    UdpBuffer(usize),
    /// Node meta larger than the limit.
    #[error("node meta is {len} bytes, more than the limit of {max}")]
    MetaTooLarge {
        /// Length given.
        len: usize,
        /// Limit.
        max: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 7946))
    }

    #[test]
    fn profiles_match_memberlist() {
        let lan = Config::lan("a", addr());
        assert_eq!(lan.probe_interval, Duration::from_secs(1));
        assert_eq!(lan.gossip_interval, Duration::from_millis(200));
        let wan = Config::wan("a", addr());
        assert_eq!(wan.probe_timeout, Duration::from_secs(3));
        assert_eq!(wan.suspicion_mult, 6);
        assert_eq!(wan.gossip_nodes, 4);
        let local = Config::local("a", addr());
        assert_eq!(local.indirect_checks, 1);
        assert_eq!(local.probe_timeout, Duration::from_millis(200));
        assert_eq!(local.retransmit_mult, 2);
        for c in [lan, wan, local] {
            assert_eq!(c.validate(), Ok(()));
        }
    }

    #[test]
    fn rejects_bad_settings() {
        let mut c = Config::lan("", addr());
        assert_eq!(c.validate(), Err(ConfigError::EmptyName));
        c.name = "a".into();
        c.probe_timeout = Duration::from_secs(2);
        assert_eq!(c.validate(), Err(ConfigError::ProbeTimeout));
    }
}
