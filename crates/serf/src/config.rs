//! Configuration of the Serf layer, with Serf 0.9.4's defaults and the reason for each.

use std::collections::BTreeMap;
use std::time::Duration;

use rumor_wire::serf::{USER_EVENT_SANE_LIMIT, USER_EVENT_SIZE_LIMIT};

use crate::error::SerfError;
use crate::guard::MemberGuard;
use crate::snapshot::Restore;
use crate::{PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN};

/// Everything that shapes one Serf pool. [`SerfConfig::new`] gives Serf's defaults.
pub struct SerfConfig {
    /// The SWIM pool underneath. Its `protocol_version` and `delegate_versions` are set by
    /// Serf (memberlist protocol 2; delegate range 2..=5 speaking `protocol_version`).
    pub swim: rumor_swim::Config,
    /// Our tags, carried in node meta (at most 512 bytes encoded).
    pub tags: BTreeMap<String, String>,
    /// Serf protocol version spoken: 5, as the Serf 0.9.4 agent (`-protocol` defaults to the
    /// maximum). 2 sends only the `role` tag; queries need 4.
    pub protocol_version: u8,
    /// How long a graceful leave or force-leave waits for its intent to be gossiped. 5 s.
    pub broadcast_timeout: Duration,
    /// After the leave is out, how long we stay up to answer probes while the news spreads.
    /// 1 s.
    pub leave_propagate_delay: Duration,
    /// How often failed and left members are checked for reaping. 15 s.
    pub reap_interval: Duration,
    /// A failed member is reaped this long after it failed. 24 h: a failed member may come
    /// back (and Serf keeps trying to reconnect) for a day.
    pub reconnect_timeout: Duration,
    /// A left member is reaped this long after it left. 24 h, so that late gossip about it
    /// meets a tombstone rather than resurrecting it.
    pub tombstone_timeout: Duration,
    /// An intent about a member not yet known is kept this long. 5 min.
    pub recent_intent_timeout: Duration,
    /// Limit on a user event's name + payload, and on its encoded size. 512.
    pub user_event_size_limit: usize,
    /// No Vivaldi coordinates: acks carry no payload and received ones are ignored. false.
    pub disable_coordinates: bool,
    /// How often we may try to reach a failed member again (a memberlist push-pull join).
    /// 30 s: with the chance `failed / alive` per node, the cluster as a whole tries each
    /// failed member about once per interval.
    pub reconnect_interval: Duration,
    /// How often the broadcast queues are checked for depth. 30 s.
    pub queue_check_interval: Duration,
    /// A queue at least this deep is logged as a warning. 128.
    pub queue_depth_warning: usize,
    /// A queue deeper than this loses its oldest messages (unless `min_queue_depth` is set).
    /// 4096.
    pub max_queue_depth: usize,
    /// When above 0, the depth limit is `max(2 × members, min_queue_depth)` instead of
    /// `max_queue_depth`. 0 (the Serf agent never sets it).
    pub min_queue_depth: usize,
    /// Who may enter the member table (e.g. the datacenter guard); `None` admits everyone.
    pub guard: Option<Box<dyn MemberGuard + Send>>,
    /// Do not run the `_serf_conflict` vote when another node claims our name (Serf's
    /// `EnableNameConflictResolution` inverted, the agent's `disable_name_resolution`). false.
    pub disable_name_resolution: bool,
    /// Clocks read from a snapshot: the clocks start past them and user events and queries
    /// at or below them are not handled again. `None` (the default): a fresh start.
    pub restore: Option<Restore>,
}

impl SerfConfig {
    /// Serf 0.9.4's defaults over `swim`, with our `tags`.
    pub fn new(swim: rumor_swim::Config, tags: BTreeMap<String, String>) -> Self {
        SerfConfig {
            swim,
            tags,
            protocol_version: PROTOCOL_VERSION_MAX,
            broadcast_timeout: Duration::from_secs(5),
            leave_propagate_delay: Duration::from_secs(1),
            reap_interval: Duration::from_secs(15),
            reconnect_timeout: Duration::from_secs(24 * 3600),
            tombstone_timeout: Duration::from_secs(24 * 3600),
            recent_intent_timeout: Duration::from_secs(5 * 60),
            user_event_size_limit: USER_EVENT_SIZE_LIMIT,
            disable_coordinates: false,
            reconnect_interval: Duration::from_secs(30),
            queue_check_interval: Duration::from_secs(30),
            queue_depth_warning: 128,
            max_queue_depth: 4096,
            min_queue_depth: 0,
            guard: None,
            disable_name_resolution: false,
            restore: None,
        }
    }

    /// Checks the Serf settings (the SWIM ones are checked when the node is built).
    pub fn validate(&self) -> Result<(), SerfError> {
        if !(PROTOCOL_VERSION_MIN..=PROTOCOL_VERSION_MAX).contains(&self.protocol_version) {
            return Err(SerfError::ProtocolVersion(self.protocol_version));
        }
        if self.reap_interval.is_zero() {
            return Err(SerfError::Setting(
                "reap_interval must be greater than zero",
            ));
        }
        if self.reconnect_interval.is_zero() {
            return Err(SerfError::Setting(
                "reconnect_interval must be greater than zero",
            ));
        }
        if self.queue_check_interval.is_zero() {
            return Err(SerfError::Setting(
                "queue_check_interval must be greater than zero",
            ));
        }
        if self.user_event_size_limit > USER_EVENT_SANE_LIMIT {
            return Err(SerfError::Setting(
                "user_event_size_limit is above 9216 bytes",
            ));
        }
        Ok(())
    }
}

impl std::fmt::Debug for SerfConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerfConfig")
            .field("swim", &self.swim)
            .field("tags", &self.tags)
            .field("protocol_version", &self.protocol_version)
            .field("broadcast_timeout", &self.broadcast_timeout)
            .field("leave_propagate_delay", &self.leave_propagate_delay)
            .field("reap_interval", &self.reap_interval)
            .field("reconnect_timeout", &self.reconnect_timeout)
            .field("tombstone_timeout", &self.tombstone_timeout)
            .field("recent_intent_timeout", &self.recent_intent_timeout)
            .field("user_event_size_limit", &self.user_event_size_limit)
            .field("disable_coordinates", &self.disable_coordinates)
            .field("reconnect_interval", &self.reconnect_interval)
            .field("queue_check_interval", &self.queue_check_interval)
            .field("queue_depth_warning", &self.queue_depth_warning)
            .field("max_queue_depth", &self.max_queue_depth)
            .field("min_queue_depth", &self.min_queue_depth)
            .field("guard", &self.guard.is_some())
            .field("disable_name_resolution", &self.disable_name_resolution)
            .field("restore", &self.restore)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let swim = rumor_swim::Config::lan("a", ([127, 0, 0, 1], 7946).into());
        let mut c = SerfConfig::new(swim, BTreeMap::new());
        assert_eq!(c.protocol_version, 5);
        assert!(!c.disable_coordinates);
        assert_eq!(c.reconnect_interval, Duration::from_secs(30));
        assert_eq!(c.queue_check_interval, Duration::from_secs(30));
        assert_eq!(
            (c.queue_depth_warning, c.max_queue_depth, c.min_queue_depth),
            (128, 4096, 0)
        );
        assert_eq!(c.validate(), Ok(()));
        c.protocol_version = 1;
        assert_eq!(c.validate(), Err(SerfError::ProtocolVersion(1)));
        c.protocol_version = 2;
        c.reap_interval = Duration::ZERO;
        assert!(c.validate().is_err());
        c.reap_interval = Duration::from_secs(15);
        c.reconnect_interval = Duration::ZERO;
        assert!(c.validate().is_err());
    }
}
