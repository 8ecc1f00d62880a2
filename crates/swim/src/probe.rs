//! Failure detection: one probe per (health-scaled) interval, round-robin over a shuffled
//! member list; direct ping, then indirect pings through relays that nack, plus the TCP
//! fallback ping; then suspicion. Also serving pings and relaying indirect ones.

use std::net::SocketAddr;

use rumor_wire::{Ack, IndirectPing, Message, Nack, Ping, Suspect};

use crate::event::Event;
use crate::hooks::Hooks;
use crate::member::State;
use crate::node::{Fixed, Keyed, Node, Pending, Probe, Relay};
use crate::time::Instant;

impl Node {
    /// The next probe target in shuffled round-robin order, reaping and reshuffling at each
    /// wrap-around.
    fn next_target(&mut self, now: Instant) -> Option<usize> {
        let mut checked = 0;
        loop {
            if checked >= self.members.len() {
                return None;
            }
            if self.probe_index >= self.members.len() {
                self.reset_members(now);
                self.probe_index = 0;
                checked += 1;
                continue;
            }
            let i = self.probe_index;
            self.probe_index += 1;
            let m = self.members.at(i)?;
            if self.is_self(&m.name) || m.state.is_gone() {
                checked += 1;
                continue;
            }
            return Some(i);
        }
    }

    /// Reap dead and left members whose news has had its time, and reshuffle the rest.
    fn reset_members(&mut self, now: Instant) {
        let keep_for = self.config.gossip_to_the_dead_time;
        // A child RNG drawn from ours, so the shuffle does not borrow the table.
        let seed: u64 = rand::Rng::gen(&mut self.rng);
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
        let removed = self.members.retain_and_reorder(
            |m| !(m.state.is_gone() && now.saturating_duration_since(m.state_change) > keep_for),
            |list| {
                use rand::seq::SliceRandom;
                list.shuffle(&mut rng);
            },
        );
        for m in removed {
            tracing::debug!(node = %m.name, "reaped");
        }
    }

    pub(crate) fn start_probe(&mut self, now: Instant, hooks: &mut dyn Hooks) {
        let Some(i) = self.next_target(now) else {
            return;
        };
        let Some(target) = self.members.at(i).cloned() else {
            return;
        };
        let seq = self.next_seq();
        let ping = self.ping(seq, &target.name);
        let to = target.addr();
        if target.state == State::Alive || !self.config.lifeguard.buddy {
            self.send_with_piggyback(to, &Message::Ping(ping), false, hooks);
        } else {
            // The buddy piggyback: tell a suspect it is suspected, so it can refute at once.
            let suspect = Suspect {
                incarnation: target.incarnation,
                node: target.name.clone(),
                from: self.config.name.clone(),
            };
            let a = Self::encode_msg(&Message::Ping(ping));
            let b = Self::encode_msg(&Message::Suspect(suspect));
            let mut out = Vec::with_capacity(a.len() + b.len() + 6);
            rumor_wire::compound::encode_compound(&[&a, &b], &mut out);
            self.send_raw(to, &out, target.vsn.supports_crc());
        }
        self.probe = Some(Probe {
            seq,
            target: target.name.clone(),
            incarnation: target.incarnation,
            started: now,
            indirect: false,
            expected_nacks: 0,
            nacks: 0,
            tcp_ok: false,
        });
        let interval = self.awareness.scale(self.config.probe_interval);
        self.timers
            .set(Fixed::ProbeDirect, now + self.config.probe_timeout);
        self.timers.set(Fixed::ProbeEnd, now + interval);
    }

    /// The probe is over (acked, or failed): its timers go with it.
    fn end_probe(&mut self) -> Option<Probe> {
        self.timers.stop(Fixed::ProbeDirect);
        self.timers.stop(Fixed::ProbeEnd);
        self.probe.take()
    }

    pub(crate) fn probe_direct_timeout(&mut self, hooks: &mut dyn Hooks) {
        let Some(p) = &self.probe else { return };
        if p.indirect {
            return;
        }
        let seq = p.seq;
        let target_name = p.target.clone();
        let started = p.started;
        let Some(target) = self.members.get(&target_name).cloned() else {
            self.end_probe();
            return;
        };
        // Up to k relays: alive, neither us nor the target.
        let candidates: Vec<usize> = (0..self.members.len())
            .filter(|&i| {
                self.members.at(i).is_some_and(|m| {
                    m.state == State::Alive && !self.is_self(&m.name) && m.name != target.name
                })
            })
            .collect();
        let relays = self.pick(&candidates, self.config.indirect_checks);
        let mut expected = 0;
        for i in relays {
            let Some(relay) = self.members.at(i) else {
                continue;
            };
            let nack = self.config.lifeguard.local_health && relay.vsn.supports_nack();
            let to = relay.addr();
            if nack {
                expected += 1;
            }
            let req = IndirectPing {
                seq_no: seq,
                target: target.ip,
                port: target.port,
                node: target.name.clone(),
                nack,
                source_addr: Some(self.config.advertise.ip()),
                source_port: Some(self.config.advertise.port()),
                source_node: Some(self.config.name.clone()),
            };
            self.send_with_piggyback(to, &Message::IndirectPing(req), false, hooks);
        }
        if !self.config.disable_tcp_pings && target.vsn.supports_tcp_ping() {
            let ping = self.ping(seq, &target.name);
            let deadline = started + self.awareness.scale(self.config.probe_interval);
            self.send_stream(
                target.addr(),
                &Message::Ping(ping),
                Pending::TcpPing { seq },
                true,
                deadline,
            );
        }
        if let Some(p) = &mut self.probe {
            p.indirect = true;
            p.expected_nacks = expected;
        }
    }

    /// Start the probe whose tick came while the last one ran.
    fn run_missed_tick(&mut self, now: Instant, hooks: &mut dyn Hooks) {
        if std::mem::take(&mut self.tick_missed) && self.probe.is_none() {
            self.start_probe(now, hooks);
        }
    }

    pub(crate) fn probe_end(&mut self, now: Instant, hooks: &mut dyn Hooks) {
        if self.probe.is_none() {
            return;
        }
        self.finish_probe(now);
        self.run_missed_tick(now, hooks);
    }

    fn finish_probe(&mut self, now: Instant) {
        let Some(p) = self.end_probe() else { return };
        if p.tcp_ok {
            tracing::warn!(node = %p.target, "reached only by TCP: the network may block UDP");
            self.awareness.apply(-1);
            self.stats.probes_ok += 1;
            self.stats.probes_tcp_only += 1;
            return;
        }
        self.stats.probes_failed += 1;
        let delta = if p.expected_nacks > 0 {
            i64::from(p.expected_nacks - p.nacks.min(p.expected_nacks))
        } else {
            1
        };
        self.awareness.apply(delta);
        if self.members.get(&p.target).is_none() {
            return;
        }
        tracing::debug!(node = %p.target, "probe failed, suspecting");
        // At the incarnation the probe started with (memberlist's `node.Incarnation`, read
        // when the probe began): a refutation that raced the probe stands.
        let s = Suspect {
            incarnation: p.incarnation,
            node: p.target.clone(),
            from: self.config.name.clone(),
        };
        self.suspect_node(now, &s);
    }

    /// Handle an ack: it ends our probe, or answers a ping we relay.
    pub(crate) fn handle_ack(&mut self, now: Instant, ack: &Ack, hooks: &mut dyn Hooks) {
        if self.probe.as_ref().is_some_and(|p| p.seq == ack.seq_no) {
            let Some(p) = self.end_probe() else { return };
            self.awareness.apply(-1);
            self.stats.probes_ok += 1;
            // A member purged while the probe ran is not reported.
            if !p.indirect && self.members.get(&p.target).is_some() {
                let rtt = now.saturating_duration_since(p.started);
                self.events.push_back(Event::PingComplete {
                    name: p.target.clone(),
                    rtt,
                    payload: ack.payload.clone().unwrap_or_default(),
                });
            }
            self.run_missed_tick(now, hooks);
            return;
        }
        if let Some(r) = self.relays.remove(&ack.seq_no) {
            self.timers.cancel_key(&Keyed::Relay(ack.seq_no));
            let reply = Ack {
                seq_no: r.orig_seq,
                payload: None,
            };
            self.send_with_piggyback(r.reply_to, &Message::Ack(reply), false, hooks);
        }
    }

    pub(crate) fn handle_nack(&mut self, nack: &Nack) {
        if let Some(p) = &mut self.probe {
            if p.seq == nack.seq_no {
                p.nacks += 1;
                self.stats.nacks_received += 1;
            }
        }
    }

    /// Answer a direct ping.
    pub(crate) fn handle_ping(&mut self, from: SocketAddr, ping: &Ping, hooks: &mut dyn Hooks) {
        if !ping.node.is_empty() && !self.is_self(&ping.node) {
            self.stats.pings_misaddressed += 1;
            return;
        }
        let payload = hooks.ack_payload();
        let ack = Ack {
            seq_no: ping.seq_no,
            payload,
        };
        let to = reply_addr(from, ping.source_addr, ping.source_port);
        self.send_with_piggyback(to, &Message::Ack(ack), false, hooks);
    }

    /// Probe a target on a requester's behalf.
    pub(crate) fn handle_indirect_ping(
        &mut self,
        now: Instant,
        from: SocketAddr,
        req: &IndirectPing,
        hooks: &mut dyn Hooks,
    ) {
        let seq = self.next_seq();
        let ping = self.ping(seq, &req.node);
        let port = if req.port == 0 {
            self.config.advertise.port()
        } else {
            req.port
        };
        let target = SocketAddr::new(req.target, port);
        self.send_with_piggyback(target, &Message::Ping(ping), false, hooks);
        let reply_to = reply_addr(from, req.source_addr, req.source_port);
        self.relays.insert(
            seq,
            Relay {
                orig_seq: req.seq_no,
                reply_to,
                nack: req.nack,
            },
        );
        self.timers
            .set_key(Keyed::Relay(seq), now + self.config.probe_timeout);
    }

    pub(crate) fn relay_timeout(&mut self, seq: u32, hooks: &mut dyn Hooks) {
        let Some(r) = self.relays.remove(&seq) else {
            return;
        };
        if r.nack {
            let nack = Nack { seq_no: r.orig_seq };
            self.send_with_piggyback(r.reply_to, &Message::Nack(nack), false, hooks);
        }
    }

    /// A TCP fallback ping got its answer.
    pub(crate) fn tcp_ping_reply(&mut self, seq: u32, msg: &Message) {
        if let Message::Ack(ack) = msg {
            if ack.seq_no == seq {
                if let Some(p) = &mut self.probe {
                    if p.seq == seq {
                        p.tcp_ok = true;
                    }
                }
            }
        }
    }

    /// A ping of `node` with sequence number `seq`, naming us as its source.
    fn ping(&self, seq: u32, node: &rumor_wire::Name) -> Ping {
        Ping {
            seq_no: seq,
            node: node.clone(),
            source_addr: Some(self.config.advertise.ip()),
            source_port: Some(self.config.advertise.port()),
            source_node: Some(self.config.name.clone()),
        }
    }

    /// Choose up to `k` distinct entries of `candidates` at random.
    pub(crate) fn pick(&mut self, candidates: &[usize], k: usize) -> Vec<usize> {
        let mut pool = candidates.to_vec();
        let k = k.min(pool.len());
        let mut out = Vec::with_capacity(k);
        for _ in 0..k {
            let j = self.rng_index(pool.len());
            out.push(pool.swap_remove(j));
        }
        out
    }
}

/// Where to answer: the source address a ping names, else where it came from.
fn reply_addr(from: SocketAddr, addr: Option<std::net::IpAddr>, port: Option<u16>) -> SocketAddr {
    match (addr, port) {
        (Some(ip), Some(p)) if p > 0 => SocketAddr::new(ip, p),
        _ => from,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use rumor_wire::{Alive, Message};

    use super::*;
    use crate::hooks::NoHooks;
    use crate::test_support::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// Start a probe now and return its target's name.
    fn probe(n: &mut Node, now: Instant) -> rumor_wire::Name {
        n.start_probe(now, &mut NoHooks);
        n.probe.as_ref().map(|p| p.target.clone()).unwrap()
    }

    #[test]
    fn a_failed_probe_suspects_at_the_incarnation_it_started_with() {
        let mut n = node();
        with_peers(&mut n, &["a"]);
        let target = probe(&mut n, t(0));
        assert_eq!(&*target, "a");
        // The target refutes something while our probe runs: alive at 2.
        feed(&mut n, t(100), Message::Alive(alive("a", 2, 2)));
        // The probe fails (no ack, no nack).
        n.probe_direct_timeout(&mut NoHooks);
        n.probe_end(t(1_000), &mut NoHooks);
        // Suspect at 1 < 2: ignored, the refutation stands.
        assert_eq!(seen(&n, "a"), Some((State::Alive, 2)));
        assert_eq!(n.stats().probes_failed, 1);
    }

    #[test]
    fn an_ack_ends_the_probe_reports_the_rtt_and_cancels_its_timers() {
        let mut n = node();
        with_peers(&mut n, &["a"]);
        n.awareness.apply(3);
        probe(&mut n, t(0));
        let seq = n.probe.as_ref().unwrap().seq;
        assert!(n.timers.get(Fixed::ProbeEnd).is_some());
        let ack = rumor_wire::Ack {
            seq_no: seq,
            payload: Some(bytes::Bytes::from_static(b"coord")),
        };
        feed(&mut n, t(7), Message::Ack(ack));
        assert!(n.probe.is_none());
        assert_eq!(n.timers.get(Fixed::ProbeDirect), None);
        assert_eq!(n.timers.get(Fixed::ProbeEnd), None);
        assert_eq!(n.health_score(), 2, "an ack lowers the score by one");
        let evs = events(&mut n);
        assert!(
            matches!(&evs[..], [Event::PingComplete { name, rtt, payload }]
            if &**name == "a" && *rtt == std::time::Duration::from_millis(7) && &payload[..] == b"coord")
        );
    }

    #[test]
    fn awareness_rises_by_the_missing_nacks_of_a_failed_probe() {
        // Four peers, three relays that speak nack (protocol max 5).
        let mut n = node();
        with_peers(&mut n, &["a", "b", "c", "d"]);
        probe(&mut n, t(0));
        n.probe_direct_timeout(&mut NoHooks);
        let sent = sent(&mut n);
        let relays = sent
            .iter()
            .filter(|(_, m)| matches!(m, Message::IndirectPing(r) if r.nack))
            .count();
        assert_eq!(relays, 3, "indirect_checks = 3");
        assert_eq!(n.probe.as_ref().unwrap().expected_nacks, 3);
        // One nack of three: the score rises by the two missing.
        let seq = n.probe.as_ref().unwrap().seq;
        feed(
            &mut n,
            t(600),
            Message::Nack(rumor_wire::Nack { seq_no: seq }),
        );
        n.probe_end(t(1_000), &mut NoHooks);
        assert_eq!(n.health_score(), 2);
        assert_eq!(n.stats().nacks_received, 1);
    }

    #[test]
    fn a_failed_probe_without_relays_raises_awareness_by_one() {
        let mut n = node();
        with_peers(&mut n, &["a"]);
        probe(&mut n, t(0));
        n.probe_direct_timeout(&mut NoHooks);
        n.probe_end(t(1_000), &mut NoHooks);
        assert_eq!(n.health_score(), 1);
        // A refutation raises it by one more.
        feed(&mut n, t(1_100), Message::Suspect(suspect("me", 1, "a")));
        assert_eq!(n.health_score(), 2);
    }

    #[test]
    fn a_suspect_is_probed_with_the_suspicion_piggybacked() {
        let mut n = node();
        with_peers(&mut n, &["a"]);
        feed(&mut n, t(0), Message::Suspect(suspect("a", 1, "b")));
        sent(&mut n);
        probe(&mut n, t(10));
        let msgs = sent(&mut n);
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(matches!(&msgs[0].1, Message::Ping(p) if &*p.node == "a"));
        assert!(
            matches!(&msgs[1].1, Message::Suspect(s) if &*s.node == "a" && s.incarnation == 1 && &*s.from == "me")
        );
        assert!(msgs.iter().all(|(to, _)| *to == peer_addr(2)));
    }

    #[test]
    fn without_the_buddy_system_a_suspect_gets_a_plain_ping() {
        let mut n = node_with(|c| c.lifeguard.buddy = false);
        with_peers(&mut n, &["a"]);
        feed(&mut n, t(0), Message::Suspect(suspect("a", 1, "b")));
        n.broadcasts.reset();
        sent(&mut n);
        probe(&mut n, t(10));
        let msgs = sent(&mut n);
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert!(matches!(&msgs[0].1, Message::Ping(p) if &*p.node == "a"));
    }

    #[test]
    fn without_local_health_the_score_stays_zero_and_no_nack_is_asked() {
        let mut n = node_with(|c| c.lifeguard.local_health = false);
        with_peers(&mut n, &["a", "b", "c", "d"]);
        probe(&mut n, t(0));
        n.probe_direct_timeout(&mut NoHooks);
        let msgs = sent(&mut n);
        let asked: Vec<bool> = msgs
            .iter()
            .filter_map(|(_, m)| match m {
                Message::IndirectPing(r) => Some(r.nack),
                _ => None,
            })
            .collect();
        assert_eq!(asked, [false, false, false]);
        n.probe_end(t(1_000), &mut NoHooks);
        assert_eq!(n.health_score(), 0);
        assert_eq!(n.stats().probes_failed, 1);
    }

    #[test]
    fn probing_goes_on_while_leaving() {
        let mut n = node();
        with_peers(&mut n, &["a"]);
        n.leave(t(0));
        assert!(n.leaving);
        let probe_at = n.timers.get(Fixed::ProbeTick).unwrap();
        let pp_at = n.timers.get(Fixed::PushPull).unwrap();
        n.handle_timeout(probe_at, &mut NoHooks);
        assert!(n.probe.is_some(), "a probe started while leaving");
        n.handle_timeout(pp_at.max(probe_at), &mut NoHooks);
        let streams = std::iter::from_fn(|| n.poll_transmit())
            .filter(|t| matches!(t, crate::event::Transmit::Stream { .. }))
            .count();
        assert!(streams >= 1, "a push-pull went out while leaving");
        // Our own stale alive does not bring us back.
        let a: Alive = alive("me", 1, 1);
        feed(&mut n, t(5), Message::Alive(a));
        assert_eq!(seen(&n, "me").map(|s| s.0), Some(State::Left));
    }
}
