//! Relayed answers (serf.md §8.3): with `RelayFactor` k > 0, every ack and response to a
//! query is also sent, wrapped in a relay message (type 9), to up to k random alive members
//! speaking memberlist protocol 5 or later, which forward it to the query's source.

use std::net::SocketAddr;

use bytes::Bytes;
use rumor_wire::serf::{Relay, RelayHeader, SerfMessage, QUERY_RESPONSE_SIZE_LIMIT};

use crate::member::{Member, MemberStatus};
use crate::query::ReplyTo;
use crate::serf::Serf;

/// Serf's `kRandomMembers`: up to `k` distinct members for which `skip` is false, drawn with
/// `random(n)` (uniform in `0..n`) at most `3 × n` times.
pub(crate) fn k_random_members<'a>(
    k: usize,
    members: &[&'a Member],
    skip: impl Fn(&Member) -> bool,
    mut random: impl FnMut(usize) -> usize,
) -> Vec<&'a Member> {
    let n = members.len();
    let mut out: Vec<&Member> = Vec::with_capacity(k);
    let mut tries = 0;
    while tries < 3 * n && out.len() < k {
        tries += 1;
        let Some(m) = members.get(random(n)).copied() else {
            continue;
        };
        if skip(m) || out.iter().any(|o| o.name == m.name) {
            continue;
        }
        out.push(m);
    }
    out
}

/// Serf's relay candidates: alive members speaking memberlist protocol 5 or later, not us.
pub(crate) fn not_a_relay(m: &Member, me: &str) -> bool {
    m.status != MemberStatus::Alive || m.protocol[1] < 5 || *m.name == *me
}

/// The relay message for an encoded answer: `[9][relayHeader][answer]`.
pub(crate) fn relay_message(dest: SocketAddr, dest_name: &str, answer: Bytes) -> Bytes {
    SerfMessage::Relay(Relay {
        header: RelayHeader {
            dest_addr: dest,
            dest_zone: String::new(),
            dest_name: dest_name.into(),
        },
        message: answer,
    })
    .to_shared()
}

impl Serf {
    /// Relays an encoded answer (`raw`, type byte included) as Serf's `relayResponse`:
    /// nothing unless the query asked for relays and we know at least `RelayFactor + 1`
    /// members (in any status); a relay message over 1024 bytes is not sent (logged).
    pub(crate) fn relay_answer(&mut self, reply: &ReplyTo, raw: Bytes) {
        let k = usize::from(reply.relay_factor);
        if k == 0 || self.st.members.len() < k + 1 {
            return;
        }
        let msg = relay_message(reply.dest, &reply.source, raw);
        if msg.len() > QUERY_RESPONSE_SIZE_LIMIT {
            tracing::warn!(
                len = msg.len(),
                limit = QUERY_RESPONSE_SIZE_LIMIT,
                "relayed response exceeds the limit; not relayed"
            );
            return;
        }
        let me = self.st.name.clone();
        let members: Vec<&Member> = self.st.members.values().map(|m| &m.member).collect();
        let node = &mut self.node;
        let targets: Vec<SocketAddr> = k_random_members(
            k,
            &members,
            |m| not_a_relay(m, &me),
            |n| (node.random_u64() % n as u64) as usize,
        )
        .into_iter()
        .map(|m| m.addr)
        .collect();
        for to in targets {
            tracing::trace!(%to, "relaying a query answer");
            self.node.send_best_effort(to, &msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn member(name: &str, status: MemberStatus, pmax: u8) -> Member {
        Member {
            name: name.into(),
            addr: SocketAddr::from(([10, 0, 0, 1], 7946)),
            tags: BTreeMap::new(),
            status,
            protocol: [1, pmax, 2],
            delegate: [2, 5, 5],
        }
    }

    #[test]
    fn picks_distinct_eligible_members_within_3n_tries() {
        let ms = [
            member("a", MemberStatus::Alive, 5),
            member("b", MemberStatus::Failed, 5),
            member("c", MemberStatus::Alive, 4),
            member("d", MemberStatus::Alive, 5),
            member("me", MemberStatus::Alive, 5),
        ];
        let refs: Vec<&Member> = ms.iter().collect();
        let skip = |m: &Member| not_a_relay(m, "me");
        // A scripted "random" sequence: a twice, then b, c, me (all skipped), then d.
        let mut seq = [0usize, 0, 1, 2, 4, 3].into_iter();
        let got = k_random_members(2, &refs, skip, |_| seq.next().unwrap_or(0));
        let names: Vec<&str> = got.iter().map(|m| &*m.name).collect();
        assert_eq!(names, ["a", "d"]);

        // Of a, b, c only a is eligible: after exactly 3n = 9 draws it gives up with one.
        let mut draws = 0;
        let got = k_random_members(3, &refs[..3], skip, |n| {
            draws += 1;
            draws % n
        });
        assert_eq!(got.len(), 1);
        assert_eq!(draws, 9, "3 x 3 tries");
    }

    #[test]
    fn relay_message_layout() {
        let dest = SocketAddr::from(([127, 0, 1, 1], 7946));
        let msg = relay_message(dest, "n1", Bytes::from_static(b"\x05\x80"));
        // 09, header {DestAddr {IP, Port, Zone}, DestName}, then the answer unchanged.
        assert_eq!(
            hex::encode(&msg),
            "0982a8446573744164647283a24950a47f000101a4506f7274cd1f0aa45a6f6e65a0\
             a8446573744e616d65a26e310580",
        );
    }
}
