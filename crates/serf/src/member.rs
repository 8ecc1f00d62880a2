//! Members as Serf sees them: the public [`Member`] record and its [`MemberStatus`], plus the
//! per-member bookkeeping (status time, leave time) the state machine keeps beside it.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use rumor_swim::Instant;
use rumor_wire::serf::{decode_tags_lossy, LamportTime, MemberRecord};
use rumor_wire::Name;

/// A member's status (Go `MemberStatus`; the numbers are its wire values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum MemberStatus {
    /// Unknown.
    None = 0,
    /// Alive (or at least not known to be otherwise).
    Alive = 1,
    /// Announced its leave; not yet gone.
    Leaving = 2,
    /// Left gracefully.
    Left = 3,
    /// Stopped answering probes.
    Failed = 4,
}

impl MemberStatus {
    /// The name Serf's RPC and CLI use: `none`, `alive`, `leaving`, `left`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::None => "none",
            MemberStatus::Alive => "alive",
            MemberStatus::Leaving => "leaving",
            MemberStatus::Left => "left",
            MemberStatus::Failed => "failed",
        }
    }
}

impl std::fmt::Display for MemberStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One member: what `serf members` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Unique name.
    pub name: Name,
    /// Gossip address.
    pub addr: SocketAddr,
    /// Tags, decoded from node meta.
    pub tags: BTreeMap<String, String>,
    /// Status.
    pub status: MemberStatus,
    /// memberlist protocol `[min, max, cur]`.
    pub protocol: [u8; 3],
    /// Serf (delegate) protocol `[min, max, cur]`.
    pub delegate: [u8; 3],
}

impl Member {
    /// Builds a member from a SWIM member (address, tags, versions) with a status.
    pub(crate) fn from_swim(m: &rumor_swim::Member, status: MemberStatus) -> Member {
        let mut member = Member {
            name: m.name.clone(),
            addr: m.addr(),
            tags: BTreeMap::new(),
            status,
            protocol: [0; 3],
            delegate: [0; 3],
        };
        member.update_from_swim(m);
        member
    }

    /// Copies address, tags and versions from a SWIM member (status unchanged).
    pub(crate) fn update_from_swim(&mut self, m: &rumor_swim::Member) {
        self.addr = m.addr();
        self.tags = tags_of(&m.name, &m.meta);
        self.protocol = [m.vsn.pmin, m.vsn.pmax, m.vsn.pcur];
        self.delegate = [m.vsn.dmin, m.vsn.dmax, m.vsn.dcur];
    }

    /// The record Serf sends for this member in a `_serf_conflict` answer.
    pub fn to_record(&self) -> MemberRecord {
        MemberRecord {
            name: self.name.clone(),
            addr: self.addr.ip(),
            port: self.addr.port(),
            tags: self.tags.clone(),
            status: self.status as u8,
            protocol_min: self.protocol[0],
            protocol_max: self.protocol[1],
            protocol_cur: self.protocol[2],
            delegate_min: self.delegate[0],
            delegate_max: self.delegate[1],
            delegate_cur: self.delegate[2],
        }
    }
}

/// Tags from node meta, as Serf decodes them: on bad msgpack, the tags read so far (logged).
pub(crate) fn tags_of(name: &str, meta: &[u8]) -> BTreeMap<String, String> {
    let (tags, err) = decode_tags_lossy(meta);
    if let Some(e) = err {
        tracing::warn!(node = name, error = %e, "failed to decode tags");
    }
    tags
}

/// A member plus Serf's bookkeeping about it.
#[derive(Debug, Clone)]
pub(crate) struct MemberState {
    /// The public record.
    pub(crate) member: Member,
    /// Member clock time of the newest intent applied to it.
    pub(crate) status_ltime: LamportTime,
    /// When it failed or left (for reaping); `None` while alive.
    pub(crate) leave_time: Option<Instant>,
}
