//! Name conflicts (serf.md §5.6). When SWIM reports another address claiming our name, we ask
//! the cluster who it knows under that name (`_serf_conflict`, payload our name) and count the
//! answers naming our address; in the minority we lost and must stop
//! ([`Event::NameConflictLost`]). Each member answers with its record for the name, or nil
//! if it knows none; nobody answers for its own name.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use rumor_wire::serf::{SerfMessage, SerfMessageType};

use crate::event::Event;
use crate::query::{QueryParams, ReplyTo, INTERNAL_QUERY_PREFIX};
use crate::query_collector::Purpose;
use crate::serf::Serf;

/// The internal query that runs the vote.
pub(crate) const CONFLICT_QUERY: &str = "conflict";

/// The tally of a `_serf_conflict` vote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ConflictVote {
    /// Answers naming our address and port.
    pub(crate) matching: usize,
    /// Answers counted (a nil answer counts, naming no address, as Go decodes it).
    pub(crate) responses: usize,
}

/// Go's `net.IP.Equal`: an IPv4 address equals its IPv4-mapped IPv6 form.
fn ip_eq(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

impl ConflictVote {
    /// Counts one answer; an answer that is no conflict response is logged and skipped.
    pub(crate) fn count(&mut self, from: &str, payload: &[u8], local: SocketAddr) {
        if payload.first() != Some(&(SerfMessageType::ConflictResponse as u8)) {
            tracing::warn!(from, "invalid conflict query response type");
            return;
        }
        match SerfMessage::decode(payload) {
            Ok(SerfMessage::ConflictResponse(record)) => {
                self.responses += 1;
                if record.is_some_and(|m| ip_eq(m.addr, local.ip()) && m.port == local.port()) {
                    self.matching += 1;
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(from, error = %e, "failed to decode a conflict query response")
            }
        }
    }

    /// Serf's rule: we keep our name with `matching >= responses / 2 + 1`.
    pub(crate) fn lost(&self) -> bool {
        self.matching < self.responses / 2 + 1
    }
}

impl Serf {
    /// SWIM reports `other` claiming the name of the member we know as `existing`.
    pub(crate) fn on_name_conflict(
        &mut self,
        now: rumor_swim::Instant,
        existing: &rumor_swim::Member,
        other: SocketAddr,
    ) {
        if *existing.name != *self.st.name {
            tracing::warn!(node = %existing.name, existing = %existing.addr(), %other, "name conflict: both claim the name");
            return;
        }
        tracing::error!(%other, resolution = !self.disable_name_resolution, "our node name conflicts with another node; names must be unique");
        if self.disable_name_resolution {
            return;
        }
        if self
            .st
            .collectors
            .values()
            .any(|c| matches!(c.purpose, Purpose::Conflict(_)))
        {
            tracing::debug!("a name conflict vote is already running");
            return;
        }
        let name = format!("{INTERNAL_QUERY_PREFIX}{CONFLICT_QUERY}");
        let payload = Bytes::copy_from_slice(self.st.name.as_bytes());
        let purpose = Purpose::Conflict(ConflictVote::default());
        if let Err(e) = self.start_query(now, &name, payload, &QueryParams::default(), purpose) {
            tracing::error!(error = %e, "failed to start the name resolution query");
        }
    }

    /// Our vote closed: stay, or report that we lost.
    pub(crate) fn decide_conflict(&mut self, vote: &ConflictVote) {
        let (matching, responses) = (vote.matching, vote.responses);
        if vote.lost() {
            tracing::warn!(
                matching,
                responses,
                "minority in name conflict resolution, quitting"
            );
            self.st.emit(Event::NameConflictLost {
                matching,
                responses,
            });
        } else {
            tracing::info!(matching, responses, "majority in name conflict resolution");
        }
    }

    /// Answers someone's `_serf_conflict`: our record of the named member, or nil; never for
    /// our own name.
    pub(crate) fn answer_conflict(
        &mut self,
        now: rumor_swim::Instant,
        payload: &[u8],
        reply: &ReplyTo,
        deadline: rumor_swim::Instant,
    ) {
        let Ok(node) = std::str::from_utf8(payload) else {
            // No member has such a name.
            self.answer_internal(
                now,
                reply,
                deadline,
                SerfMessage::ConflictResponse(None).to_shared(),
            );
            return;
        };
        if node == &*self.st.name {
            return;
        }
        tracing::debug!(node, "conflict resolution query");
        let record = self.st.members.get(node).map(|m| m.member.to_record());
        let buf = SerfMessage::ConflictResponse(record).to_shared();
        self.answer_internal(now, reply, deadline, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumor_wire::serf::MemberRecord;
    use std::collections::BTreeMap;

    fn record(ip: [u8; 4], port: u16) -> Vec<u8> {
        SerfMessage::ConflictResponse(Some(MemberRecord {
            name: "me".into(),
            addr: IpAddr::from(ip),
            port,
            tags: BTreeMap::new(),
            status: 1,
            protocol_min: 1,
            protocol_max: 5,
            protocol_cur: 2,
            delegate_min: 2,
            delegate_max: 5,
            delegate_cur: 5,
        }))
        .to_bytes()
    }

    #[test]
    fn counts_answers_naming_our_address_and_port() {
        let local = SocketAddr::from(([10, 0, 0, 1], 7946));
        let mut v = ConflictVote::default();
        v.count("a", &record([10, 0, 0, 1], 7946), local);
        v.count("b", &record([10, 0, 0, 1], 7947), local);
        v.count("c", &record([10, 0, 0, 2], 7946), local);
        v.count("d", &[6, 0xc0], local);
        v.count("e", &[5, 0x80], local);
        v.count("f", &[6, 0x81], local);
        v.count("g", &[], local);
        assert_eq!(
            v,
            ConflictVote {
                matching: 1,
                responses: 4
            }
        );
        // An IPv4-mapped IPv6 address is the same address (Go's IP.Equal).
        let mapped = SerfMessage::ConflictResponse(Some(MemberRecord {
            addr: "::ffff:10.0.0.1".parse().unwrap_or(IpAddr::from([0; 4])),
            ..match SerfMessage::decode(&record([0; 4], 7946)) {
                Ok(SerfMessage::ConflictResponse(Some(m))) => m,
                other => panic!("{other:?}"),
            }
        }))
        .to_bytes();
        v.count("h", &mapped, local);
        assert_eq!(
            v,
            ConflictVote {
                matching: 2,
                responses: 5
            }
        );
    }

    #[test]
    fn majority_rule() {
        let lost = |matching, responses| {
            ConflictVote {
                matching,
                responses,
            }
            .lost()
        };
        // majority = responses / 2 + 1 (integer division)
        assert!(lost(0, 0), "nobody answered: Serf quits");
        assert!(!lost(1, 1));
        assert!(lost(0, 2));
        assert!(lost(1, 2));
        assert!(!lost(2, 2));
        assert!(lost(1, 3));
        assert!(!lost(2, 3));
        assert!(lost(2, 4));
        assert!(!lost(3, 4));
        assert!(lost(2, 5));
        assert!(!lost(3, 5));
    }
}
