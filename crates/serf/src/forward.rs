//! Forwarding answers to a query that reached us on behalf of other senders
//! ([`Serf::forward_answer`]): answers gathered elsewhere (another pool, say another
//! datacenter) go to the query's source as though each sender had answered it itself.
//!
//! Each forwarded answer is a Serf `QueryResponse` whose `From` is the original sender, sent
//! as one datagram straight to the query's `Addr:Port` (no relayed copies: the answer already
//! travelled once). The source's collector does not check membership, as Serf's does not, so
//! it takes one ack and one response per distinct `From`.

use bytes::Bytes;
use rumor_swim::Instant;
use rumor_wire::serf::{LamportTime, QueryResponse, SerfMessage, QUERY_FLAG_ACK};
use rumor_wire::Name;

use crate::error::SerfError;
use crate::query::check_response_size;
use crate::serf::Serf;

impl Serf {
    /// Sends an answer to a query that reached us, as though from `from` (answers gathered
    /// elsewhere, e.g. in another pool): an ack if `ack`, else a response carrying `payload`,
    /// straight to the query's source (no relay). Errors as [`Serf::respond`] does, checked
    /// in its order, sending nothing: [`SerfError::UnknownQuery`] (never delivered to us, or
    /// expired), [`SerfError::ResponseSizeLimit`], [`SerfError::AlreadyResponded`] (this
    /// kind of answer was already forwarded for `from`), [`SerfError::PastDeadline`]. May be
    /// called many times per query, once per distinct `from` (and kind).
    pub fn forward_answer(
        &mut self,
        now: Instant,
        ltime: LamportTime,
        id: u32,
        from: &str,
        ack: bool,
        payload: Bytes,
    ) -> Result<(), SerfError> {
        let Some(p) = self.st.pending.get(&(ltime, id)) else {
            return Err(SerfError::UnknownQuery { ltime, id });
        };
        let from = Name::from(from);
        let (dest, deadline) = (p.reply.dest, p.deadline);
        let already = p.forwarded.contains(&(ack, from.clone()));
        let resp = QueryResponse {
            ltime,
            id,
            from: from.clone(),
            flags: if ack { QUERY_FLAG_ACK } else { 0 },
            payload: if ack || payload.is_empty() {
                None
            } else {
                Some(payload)
            },
        };
        check_response_size(&resp)?;
        if already {
            return Err(SerfError::AlreadyResponded);
        }
        if now > deadline {
            return Err(SerfError::PastDeadline);
        }
        let raw = SerfMessage::QueryResponse(resp).to_shared();
        self.node.send_best_effort(dest, &raw);
        if let Some(p) = self.st.pending.get_mut(&(ltime, id)) {
            p.forwarded.insert((ack, from));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;
    use std::net::SocketAddr;
    use std::time::Duration;

    use rumor_swim::Transmit;
    use rumor_wire::serf::{Query, QUERY_RESPONSE_SIZE_LIMIT};

    use super::*;
    use crate::config::SerfConfig;

    const SRC: SocketAddr = SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)),
        7946,
    );

    fn serf() -> Serf {
        let swim = rumor_swim::Config::lan("me", SocketAddr::from(([10, 0, 0, 1], 7946)));
        let mut s = Serf::new(SerfConfig::new(swim, BTreeMap::new()), 1, Instant::ZERO).unwrap();
        sent(&mut s);
        s
    }

    /// Every Serf message we sent, with its destination.
    fn sent(s: &mut Serf) -> Vec<(SocketAddr, SerfMessage)> {
        while s.poll_event().is_some() {}
        let mut out = Vec::new();
        while let Some(t) = s.poll_transmit() {
            if let Transmit::Packet { to, data } = t {
                if data.first() == Some(&(rumor_wire::MessageType::User as u8)) {
                    out.push((to, SerfMessage::decode(&data[1..]).unwrap()));
                }
            }
        }
        out
    }

    /// A query from `src` at SRC, delivered to `s` at time zero (deadline 2 s).
    fn deliver(s: &mut Serf, relay_factor: u8) {
        let q = Query {
            ltime: 40,
            id: 9,
            addr: SRC.ip(),
            port: SRC.port(),
            source_node: "src".into(),
            filters: Vec::new(),
            flags: QUERY_FLAG_ACK,
            relay_factor,
            timeout: Duration::from_secs(2),
            name: "q".into(),
            payload: None,
        };
        s.handle_query(Instant::ZERO, &q);
        sent(s);
    }

    fn answer(from: &str, ack: bool, payload: &'static [u8]) -> SerfMessage {
        SerfMessage::QueryResponse(QueryResponse {
            ltime: 40,
            id: 9,
            from: from.into(),
            flags: if ack { QUERY_FLAG_ACK } else { 0 },
            payload: (!payload.is_empty()).then(|| Bytes::from_static(payload)),
        })
    }

    #[test]
    fn answers_go_straight_to_the_source_under_the_forwarded_name() {
        let mut s = serf();
        // Relay factor 3: our own answers would be relayed, forwarded ones never are.
        deliver(&mut s, 3);
        let t = Instant::ZERO + Duration::from_secs(1);
        s.forward_answer(t, 40, 9, "x.dc2", true, Bytes::from_static(b"ignored"))
            .unwrap();
        s.forward_answer(t, 40, 9, "x.dc2", false, Bytes::from_static(b"up"))
            .unwrap();
        s.forward_answer(t, 40, 9, "y.dc2", false, Bytes::new())
            .unwrap();
        assert_eq!(
            sent(&mut s),
            vec![
                (SRC, answer("x.dc2", true, b"")),
                (SRC, answer("x.dc2", false, b"up")),
                (SRC, answer("y.dc2", false, b"")),
            ]
        );
        // Our own response is still ours to send: forwarding does not use it up.
        s.respond(t, 40, 9, Bytes::from_static(b"mine")).unwrap();
        assert!(sent(&mut s).contains(&(SRC, answer("me", false, b"mine"))));
    }

    #[test]
    fn errors_as_respond_and_nothing_sent() {
        let mut s = serf();
        let t = Instant::ZERO + Duration::from_secs(1);
        assert_eq!(
            s.forward_answer(t, 40, 9, "x", false, Bytes::new()),
            Err(SerfError::UnknownQuery { ltime: 40, id: 9 })
        );
        deliver(&mut s, 0);
        s.forward_answer(t, 40, 9, "x", false, Bytes::new())
            .unwrap();
        sent(&mut s);
        assert_eq!(
            s.forward_answer(t, 40, 9, "x", false, Bytes::from_static(b"again")),
            Err(SerfError::AlreadyResponded),
            "one response per forwarded sender"
        );
        let big = Bytes::from(vec![0u8; QUERY_RESPONSE_SIZE_LIMIT]);
        assert!(matches!(
            s.forward_answer(t, 40, 9, "y", false, big),
            Err(SerfError::ResponseSizeLimit { limit: 1024, .. })
        ));
        let late = Instant::ZERO + Duration::from_millis(2001);
        assert_eq!(
            s.forward_answer(late, 40, 9, "y", false, Bytes::new()),
            Err(SerfError::PastDeadline)
        );
        assert!(sent(&mut s).is_empty());
    }
}
