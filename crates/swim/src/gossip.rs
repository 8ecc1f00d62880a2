//! Everything that crosses the wire: the packet pipeline in both directions, piggybacking
//! broadcasts on every packet, the gossip and push-pull rounds, and streams (push-pull,
//! TCP ping, reliable user messages) as dialer and as responder.

use std::net::SocketAddr;

use bytes::Bytes;
use rand::Rng;
use rumor_wire::limits::{
    COMPOUND_HEADER_OVERHEAD, COMPOUND_OVERHEAD, MAX_COMPOUND_PARTS_SEND, USER_MSG_OVERHEAD,
};
use rumor_wire::{
    decode_packet, decode_stream, encode_packet, encode_stream, ErrResp, Message, PacketOptions,
    PushNodeState, PushPull, StreamOptions,
};

use crate::error::{JoinError, MergeError};
use crate::event::{Event, JoinId, StreamStep, Transmit};
use crate::hooks::Hooks;
use crate::member::State;
use crate::node::{Node, Pending};
use crate::suspicion::retransmit_limit;
use crate::time::Instant;

impl Node {
    fn packet_options(&self) -> PacketOptions<'_> {
        PacketOptions {
            keyring: self.config.keyring.as_ref().filter(|k| !k.is_empty()),
            verify_incoming: self.config.gossip_verify_incoming,
            verify_outgoing: self.config.gossip_verify_outgoing,
            encryption_version: 1,
            label: self.config.label.as_deref(),
            skip_inbound_label_check: false,
        }
    }

    fn stream_options(&self) -> StreamOptions<'_> {
        StreamOptions {
            keyring: self.config.keyring.as_ref().filter(|k| !k.is_empty()),
            verify_incoming: self.config.gossip_verify_incoming,
            verify_outgoing: self.config.gossip_verify_outgoing,
            encryption_version: 1,
            compress: self.config.enable_compression,
            label: self.config.label.as_deref(),
            skip_inbound_label_check: false,
            max_bytes: self.config.max_stream_bytes,
        }
    }

    /// Bytes of the packet budget taken by encryption and the label.
    fn packet_overhead(&self) -> usize {
        let enc = match &self.config.keyring {
            Some(k) if !k.is_empty() && self.config.gossip_verify_outgoing => {
                rumor_wire::limits::ENCRYPT_OVERHEAD_V1
            }
            _ => 0,
        };
        let label = self.config.label.as_ref().map_or(0, |l| 2 + l.len());
        enc + label
    }

    fn nonce(&mut self) -> [u8; 12] {
        self.rng.gen()
    }

    /// Send an encoded message (or compound) as one datagram through the pipeline.
    pub(crate) fn send_raw(&mut self, to: SocketAddr, msg: &[u8], crc: bool) {
        let nonce = self.nonce();
        let mut data = Vec::with_capacity(msg.len() + 64);
        encode_packet(
            msg,
            crc,
            self.config.enable_compression,
            &self.packet_options(),
            nonce,
            &mut data,
        );
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += data.len() as u64;
        self.transmits.push_back(Transmit::Packet { to, data });
    }

    /// Send a message with as much queued gossip piggybacked as fits.
    pub(crate) fn send_with_piggyback(
        &mut self,
        to: SocketAddr,
        msg: &Message,
        crc: bool,
        hooks: &mut dyn Hooks,
    ) {
        let primary = Self::encode_msg(msg);
        let budget = self
            .config
            .udp_buffer_size
            .saturating_sub(primary.len() + COMPOUND_HEADER_OVERHEAD + self.packet_overhead());
        let extra = self.get_broadcasts(
            COMPOUND_OVERHEAD,
            budget,
            MAX_COMPOUND_PARTS_SEND - 1,
            hooks,
        );
        if extra.is_empty() {
            self.send_raw(to, &primary, crc);
        } else {
            let mut parts: Vec<&[u8]> = Vec::with_capacity(extra.len() + 1);
            parts.push(&primary);
            parts.extend(extra.iter().map(|b| &b[..]));
            let mut out = Vec::new();
            rumor_wire::compound::encode_compound(&parts, &mut out);
            self.send_raw(to, &out, crc);
        }
    }

    /// Our broadcasts first, then the layer above's (each prefixed with the user type byte).
    fn get_broadcasts(
        &mut self,
        overhead: usize,
        limit: usize,
        max_parts: usize,
        hooks: &mut dyn Hooks,
    ) -> Vec<Bytes> {
        let max_transmits = retransmit_limit(self.config.retransmit_mult, self.members.len());
        let mut out = self.broadcasts.take(overhead, limit, max_transmits);
        self.check_leave_done();
        let used: usize = out.iter().map(|b| b.len() + overhead).sum();
        let remaining = limit.saturating_sub(used);
        if remaining > overhead + USER_MSG_OVERHEAD {
            for b in hooks.broadcasts(overhead + USER_MSG_OVERHEAD, remaining) {
                if b.is_empty() {
                    continue;
                }
                let mut m = Vec::with_capacity(b.len() + 1);
                m.push(rumor_wire::MessageType::User as u8);
                m.extend_from_slice(&b);
                out.push(Bytes::from(m));
            }
        }
        if out.len() > max_parts {
            tracing::warn!(
                parts = out.len(),
                "more gossip than one compound holds; dropping the excess"
            );
            out.truncate(max_parts);
        }
        out
    }

    fn check_leave_done(&mut self) {
        let finished = self.broadcasts.take_finished();
        if let Some(id) = self.leave_broadcast {
            if finished.contains(&id) {
                self.leave_broadcast = None;
                self.events.push_back(Event::LeaveFinished);
            }
        }
    }

    /// One gossip round: queued broadcasts to `gossip_nodes` random members (including the
    /// recently dead, so a member wrongly declared dead hears it).
    pub(crate) fn gossip(&mut self, now: Instant, hooks: &mut dyn Hooks) {
        let dead_window = self.config.gossip_to_the_dead_time;
        let n = self.members.len();
        let k = self.config.gossip_nodes;
        let mut chosen: Vec<usize> = Vec::with_capacity(k);
        // memberlist's kRandomNodes: up to 3n random draws, filtered and de-duplicated.
        for _ in 0..3 * n {
            if chosen.len() >= k {
                break;
            }
            let i = self.rng_index(n);
            if chosen.contains(&i) {
                continue;
            }
            let Some(m) = self.members.at(i) else {
                continue;
            };
            if self.is_self(&m.name) {
                continue;
            }
            let ok = match m.state {
                State::Alive | State::Suspect => true,
                State::Dead => now.saturating_duration_since(m.state_change) <= dead_window,
                State::Left => false,
            };
            if ok {
                chosen.push(i);
            }
        }
        let budget = self
            .config
            .udp_buffer_size
            .saturating_sub(COMPOUND_HEADER_OVERHEAD + self.packet_overhead());
        for i in chosen {
            let Some(m) = self.members.at(i) else {
                continue;
            };
            let to = m.addr();
            let crc = m.vsn.supports_crc();
            let msgs =
                self.get_broadcasts(COMPOUND_OVERHEAD, budget, MAX_COMPOUND_PARTS_SEND, hooks);
            match msgs.len() {
                0 => return,
                1 => self.send_raw(to, &msgs[0], crc),
                _ => {
                    let parts: Vec<&[u8]> = msgs.iter().map(|b| &b[..]).collect();
                    let mut out = Vec::new();
                    rumor_wire::compound::encode_compound(&parts, &mut out);
                    self.send_raw(to, &out, crc);
                }
            }
        }
    }

    /// One anti-entropy round: full state with one random live member.
    pub(crate) fn push_pull_round(&mut self, now: Instant, hooks: &mut dyn Hooks) {
        let candidates: Vec<usize> = (0..self.members.len())
            .filter(|&i| {
                self.members
                    .at(i)
                    .is_some_and(|m| m.state == State::Alive && !self.is_self(&m.name))
            })
            .collect();
        let Some(&i) = self.pick(&candidates, 1).first() else {
            return;
        };
        let Some(to) = self.members.at(i).map(|m| m.addr()) else {
            return;
        };
        self.send_push_pull(now, to, None, hooks);
    }

    fn local_push_pull(&mut self, join: bool, hooks: &mut dyn Hooks) -> Message {
        let nodes = self
            .members
            .iter()
            .map(|m| PushNodeState {
                name: m.name.clone(),
                addr: m.ip,
                port: m.port,
                meta: Some(m.meta.clone()),
                incarnation: m.incarnation,
                state: m.state.to_wire(),
                vsn: Some(Bytes::copy_from_slice(&m.vsn.to_bytes())),
            })
            .collect();
        let user_state = hooks.local_state(join);
        Message::PushPull(PushPull {
            join,
            nodes,
            user_state,
        })
    }

    pub(crate) fn send_push_pull(
        &mut self,
        now: Instant,
        to: SocketAddr,
        join: Option<JoinId>,
        hooks: &mut dyn Hooks,
    ) {
        let msg = self.local_push_pull(join.is_some(), hooks);
        let deadline = now + self.config.tcp_timeout;
        self.send_stream(to, &msg, Pending::PushPull { join, to }, true, deadline);
    }

    pub(crate) fn send_stream(
        &mut self,
        to: SocketAddr,
        msg: &Message,
        purpose: Pending,
        expect_reply: bool,
        deadline: Instant,
    ) {
        let nonce = self.nonce();
        let mut data = Vec::new();
        encode_stream(msg, &self.stream_options(), nonce, true, &mut data);
        self.next_stream += 1;
        let id = self.next_stream;
        if expect_reply {
            self.streams.insert(id, purpose);
        }
        self.stats.streams_sent += 1;
        self.transmits.push_back(Transmit::Stream {
            id,
            to,
            data,
            expect_reply,
            deadline,
        });
    }

    fn stream_bytes(&mut self, msg: &Message) -> Vec<u8> {
        let nonce = self.nonce();
        let mut data = Vec::new();
        encode_stream(msg, &self.stream_options(), nonce, false, &mut data);
        data
    }

    pub(crate) fn finish_join(&mut self, id: JoinId) {
        if let Some(j) = self.joins.get(&id) {
            if j.outstanding == 0 {
                if let Some(j) = self.joins.remove(&id) {
                    self.events.push_back(Event::JoinFinished {
                        id,
                        joined: j.joined,
                        errors: j.errors,
                    });
                }
            }
        }
    }

    fn join_result(&mut self, id: JoinId, to: SocketAddr, result: Result<(), JoinError>) {
        if let Some(j) = self.joins.get_mut(&id) {
            j.outstanding = j.outstanding.saturating_sub(1);
            match result {
                Ok(()) => j.joined += 1,
                Err(e) => j.errors.push((to, e)),
            }
        }
        self.finish_join(id);
    }

    // ---- inputs --------------------------------------------------------------------------

    /// A datagram arrived from `from`. Bad bytes are dropped and counted
    /// ([`crate::Stats::packets_dropped`]); nothing else changes.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
        hooks: &mut dyn Hooks,
    ) {
        self.stats.packets_received += 1;
        let msgs = match decode_packet(data, &self.packet_options()) {
            Ok(m) => m,
            Err(e) => {
                self.stats.packets_dropped += 1;
                if is_label_error(&e) {
                    self.stats.label_dropped += 1;
                }
                tracing::debug!(%from, error = %e, "dropped packet");
                return;
            }
        };
        for msg in msgs {
            self.stats.messages_received += 1;
            self.handle_message(now, from, msg, hooks);
        }
    }

    fn handle_message(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: Message,
        hooks: &mut dyn Hooks,
    ) {
        match msg {
            Message::Ping(p) => self.handle_ping(from, &p, hooks),
            Message::IndirectPing(r) => self.handle_indirect_ping(now, from, &r, hooks),
            Message::Ack(a) => self.handle_ack(now, &a, hooks),
            Message::Nack(n) => self.handle_nack(&n),
            Message::Suspect(s) => self.suspect_node(now, &s),
            Message::Alive(mut a) => {
                if a.port == 0 {
                    a.port = self.config.advertise.port();
                }
                self.alive_node(now, &a, false, hooks);
            }
            Message::Dead(d) => self.dead_node(now, &d),
            Message::User(u) => self.events.push_back(Event::UserMessage(u)),
            Message::PushPull(_) | Message::Err(_) => {
                tracing::debug!(%from, "stream-only message in a packet; ignored");
            }
        }
    }

    /// Bytes of an incoming TCP stream (all bytes so far). The answer says whether to read
    /// more, write a reply, or close.
    pub fn handle_stream(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
        hooks: &mut dyn Hooks,
    ) -> StreamStep {
        let msg = match decode_stream(data, &self.stream_options(), false) {
            Ok(None) => return StreamStep::NeedMore,
            Ok(Some((m, _))) => m,
            Err(e) => {
                self.stats.streams_dropped += 1;
                if is_label_error(&e) {
                    // As memberlist: a stream from another pool is closed unanswered.
                    self.stats.label_dropped += 1;
                    tracing::debug!(%from, error = %e, "stream with a wrong label dropped");
                    return StreamStep::Close;
                }
                tracing::debug!(%from, error = %e, "bad stream");
                let reply = Message::Err(ErrResp {
                    error: e.to_string(),
                });
                return StreamStep::Reply(self.stream_bytes(&reply));
            }
        };
        match msg {
            Message::Ping(p) => {
                if !p.node.is_empty() && !self.is_self(&p.node) {
                    self.stats.pings_misaddressed += 1;
                    return StreamStep::Close;
                }
                let ack = Message::Ack(rumor_wire::Ack {
                    seq_no: p.seq_no,
                    payload: None,
                });
                StreamStep::Reply(self.stream_bytes(&ack))
            }
            Message::PushPull(pp) => {
                let reply = self.local_push_pull(pp.join, hooks);
                let reply_bytes = self.stream_bytes(&reply);
                match self.merge_remote(now, &pp, None, None, hooks) {
                    Ok(()) => StreamStep::Reply(reply_bytes),
                    Err(e) => {
                        tracing::warn!(%from, error = %e, "refused push-pull");
                        let err = Message::Err(ErrResp {
                            error: e.to_string(),
                        });
                        StreamStep::Reply(self.stream_bytes(&err))
                    }
                }
            }
            Message::User(u) => {
                if !u.is_empty() {
                    self.events.push_back(Event::UserMessage(u));
                }
                StreamStep::Close
            }
            _ => {
                self.stats.streams_dropped += 1;
                StreamStep::Close
            }
        }
    }

    /// Bytes of the reply to stream `id` (all bytes so far).
    pub fn handle_stream_reply(
        &mut self,
        now: Instant,
        id: u64,
        data: &[u8],
        hooks: &mut dyn Hooks,
    ) -> StreamStep {
        let decoded = decode_stream(data, &self.stream_options(), true);
        let msg = match decoded {
            Ok(None) => return StreamStep::NeedMore,
            Ok(Some((m, _))) => Ok(m),
            Err(e) => Err(e.to_string()),
        };
        let Some(purpose) = self.streams.remove(&id) else {
            return StreamStep::Close;
        };
        if msg.is_err() {
            self.stats.streams_dropped += 1;
        }
        match purpose {
            Pending::PushPull { join, to } => {
                let result = match msg {
                    Ok(Message::PushPull(pp)) => self
                        .merge_remote(now, &pp, join, Some(to), hooks)
                        .map_err(|e: MergeError| JoinError::from(e)),
                    Ok(Message::Err(e)) => Err(JoinError::Remote(e.error)),
                    Ok(_) => Err(JoinError::UnexpectedReply),
                    Err(e) => Err(JoinError::BadReply(e)),
                };
                if let Err(e) = &result {
                    tracing::debug!(%to, error = %e, "push-pull failed");
                }
                if let Some(jid) = join {
                    self.join_result(jid, to, result);
                }
            }
            Pending::TcpPing { seq } => {
                if let Ok(m) = &msg {
                    self.tcp_ping_reply(seq, m);
                }
            }
            Pending::User => {}
        }
        StreamStep::Close
    }

    /// Stream `id` could not be opened, or failed, or passed its deadline.
    pub fn stream_failed(&mut self, _now: Instant, id: u64, reason: &str) {
        let Some(purpose) = self.streams.remove(&id) else {
            return;
        };
        if let Pending::PushPull {
            join: Some(jid),
            to,
        } = purpose
        {
            self.join_result(jid, to, Err(JoinError::Stream(reason.to_string())));
        }
    }
}

/// A datagram or stream from a node with another label (or none), or a bad label header.
fn is_label_error(e: &rumor_wire::DecodeError) -> bool {
    use rumor_wire::DecodeError as D;
    matches!(e, D::LabelMismatch | D::BadLabel | D::DoubleLabel)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use rumor_wire::Message;

    use super::*;
    use crate::hooks::NoHooks;
    use crate::test_support::*;

    #[test]
    fn a_broadcast_is_sent_exactly_its_retransmit_limit() {
        // Three members: RetransmitMult 4 x ceil(log10(3 + 1)) = 4 transmissions.
        let mut n = node();
        with_peers(&mut n, &["a", "b"]);
        n.broadcasts.reset();
        feed(&mut n, Instant::ZERO, Message::Dead(dead("a", 1, "b")));
        assert_eq!(retransmit_limit(4, n.members.len()), 4);
        let mut carried = 0;
        for _ in 0..10 {
            let got = n.get_broadcasts(2, 1400, 64, &mut NoHooks);
            carried += got.len();
        }
        assert_eq!(carried, 4);
        assert!(n.broadcasts.is_empty());
    }

    #[test]
    fn user_broadcasts_fill_the_room_ours_leave() {
        struct Two;
        impl Hooks for Two {
            fn broadcasts(&mut self, overhead: usize, limit: usize) -> Vec<Bytes> {
                assert!(overhead > 2, "the user type byte counts");
                assert!(limit < 1400);
                vec![Bytes::from_static(b"x"), Bytes::from_static(b"y")]
            }
        }
        let mut n = node();
        with_peers(&mut n, &["a"]);
        n.broadcasts.reset();
        feed(&mut n, Instant::ZERO, Message::Dead(dead("a", 1, "z")));
        let got = n.get_broadcasts(2, 1400, 64, &mut Two);
        assert_eq!(got.len(), 3);
        assert_eq!(&got[1][..], b"\x08x", "prefixed with the user message type");
    }

    #[test]
    fn a_push_pull_refused_by_the_guard_answers_with_the_refusal() {
        #[derive(Debug, thiserror::Error)]
        #[error("no {0}")]
        struct No(String);
        struct Refuse;
        impl Hooks for Refuse {
            fn check_merge(
                &mut self,
                peers: &[crate::hooks::Peer],
                _ctx: crate::hooks::MergeContext,
            ) -> crate::hooks::Verdict {
                let p = &peers[0];
                Err(crate::error::Refusal::new(
                    p.name.clone(),
                    No(p.name.to_string()),
                ))
            }
        }
        let mut remote = node_with(|c| c.name = "other".into());
        let id = remote.join(Instant::ZERO, &[peer_addr(1)], &mut NoHooks);
        let Some(Transmit::Stream { data, .. }) = remote.poll_transmit() else {
            panic!("no push-pull")
        };
        let mut n = node();
        let StreamStep::Reply(reply) =
            n.handle_stream(Instant::ZERO, peer_addr(2), &data, &mut Refuse)
        else {
            panic!("no reply")
        };
        assert_eq!(n.stats().merges_vetoed, 1);
        assert!(n.member("other").is_none());
        remote.handle_stream_reply(Instant::ZERO, 1, &reply, &mut NoHooks);
        let evs = events(&mut remote);
        assert!(
            matches!(&evs[..], [Event::JoinFinished { id: i, joined: 0, errors }]
            if *i == id && errors[0].1 == JoinError::Remote("no other".into())),
            "{evs:?}"
        );
    }

    #[test]
    fn the_merge_guard_is_told_who_dialed_whom() {
        #[derive(Default)]
        struct Record(Vec<crate::hooks::MergeContext>);
        impl Hooks for Record {
            fn check_merge(
                &mut self,
                _peers: &[crate::hooks::Peer],
                ctx: crate::hooks::MergeContext,
            ) -> crate::hooks::Verdict {
                self.0.push(ctx);
                Ok(())
            }
        }
        let ctx = |join, dialed| crate::hooks::MergeContext { join, dialed };
        let (mut dialer_hooks, mut responder_hooks) = (Record::default(), Record::default());
        let mut dialer = node_with(|c| c.name = "other".into());
        let mut responder = node();
        // A join, then a periodic (non-join) push-pull, both from `dialer` to peer 1.
        dialer.join(Instant::ZERO, &[peer_addr(1)], &mut dialer_hooks);
        dialer.send_push_pull(Instant::ZERO, peer_addr(1), None, &mut dialer_hooks);
        for id in [1, 2] {
            let Some(Transmit::Stream { data, .. }) = dialer.poll_transmit() else {
                panic!("no push-pull")
            };
            let StreamStep::Reply(reply) =
                responder.handle_stream(Instant::ZERO, peer_addr(2), &data, &mut responder_hooks)
            else {
                panic!("no reply")
            };
            dialer.handle_stream_reply(Instant::ZERO, id, &reply, &mut dialer_hooks);
        }
        assert_eq!(responder_hooks.0, [ctx(true, None), ctx(false, None)]);
        assert_eq!(
            dialer_hooks.0,
            [
                ctx(true, Some(peer_addr(1))),
                ctx(false, Some(peer_addr(1)))
            ]
        );
    }
}
