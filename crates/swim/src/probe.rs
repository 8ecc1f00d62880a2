//! Failure detection: one probe per (health-scaled) interval, round-robin over a shuffled
//! member list; direct ping, then indirect pings through relays that nack, plus the TCP
//! fallback ping; then suspicion. Also serving pings and relaying indirect ones.

use std::net::SocketAddr;

use rumor_wire::{Ack, IndirectPing, Message, Nack, Ping, Suspect};

use crate::delegate::Delegate;
use crate::member::State;
use crate::node::{Node, Pending, Probe, Relay, Timer};
use crate::time::Instant;

impl<D: Delegate> Node<D> {
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

    pub(crate) fn start_probe(&mut self, now: Instant) {
        let Some(i) = self.next_target(now) else {
            return;
        };
        let Some(target) = self.members.at(i).cloned() else {
            return;
        };
        let seq = self.next_seq();
        let ping = Ping {
            seq_no: seq,
            node: target.name.clone(),
            source_addr: Some(self.config.advertise.ip()),
            source_port: Some(self.config.advertise.port()),
            source_node: Some(self.config.name.clone()),
        };
        let to = target.addr();
        if target.state == State::Alive {
            self.send_with_piggyback(to, &Message::Ping(ping), false);
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
            self.send_raw(to, &out, target.pmax() >= 5);
        }
        self.probe = Some(Probe {
            seq,
            target: target.name.clone(),
            started: now,
            indirect: false,
            expected_nacks: 0,
            nacks: 0,
            tcp_ok: false,
        });
        let interval = self.awareness.scale(self.config.probe_interval);
        self.schedule(now + self.config.probe_timeout, Timer::ProbeDirect(seq));
        self.schedule(now + interval, Timer::ProbeEnd(seq));
    }

    pub(crate) fn probe_direct_timeout(&mut self, seq: u32) {
        let Some(p) = &self.probe else { return };
        if p.seq != seq || p.indirect {
            return;
        }
        let target_name = p.target.clone();
        let started = p.started;
        let Some(target) = self.members.get(&target_name).cloned() else {
            self.probe = None;
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
            let nack = relay.pmax() >= 4;
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
            self.send_with_piggyback(to, &Message::IndirectPing(req), false);
        }
        if !self.config.disable_tcp_pings && target.pmax() >= 3 {
            let ping = Ping {
                seq_no: seq,
                node: target.name.clone(),
                source_addr: Some(self.config.advertise.ip()),
                source_port: Some(self.config.advertise.port()),
                source_node: Some(self.config.name.clone()),
            };
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
    fn run_missed_tick(&mut self, now: Instant) {
        if std::mem::take(&mut self.tick_missed) && self.probe.is_none() && !self.leaving {
            self.start_probe(now);
        }
    }

    pub(crate) fn probe_end(&mut self, now: Instant, seq: u32) {
        let Some(p) = &self.probe else { return };
        if p.seq != seq {
            return;
        }
        self.finish_probe(now);
        self.run_missed_tick(now);
    }

    fn finish_probe(&mut self, now: Instant) {
        let Some(p) = self.probe.take() else { return };
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
        let Some(target) = self.members.get(&p.target) else {
            return;
        };
        tracing::debug!(node = %p.target, "probe failed, suspecting");
        let s = Suspect {
            incarnation: target.incarnation,
            node: p.target.clone(),
            from: self.config.name.clone(),
        };
        self.suspect_node(now, &s);
    }

    /// Handle an ack: it ends our probe, or answers a ping we relay.
    pub(crate) fn handle_ack(&mut self, now: Instant, ack: &Ack) {
        if let Some(p) = &self.probe {
            if p.seq == ack.seq_no {
                let Some(p) = self.probe.take() else { return };
                self.awareness.apply(-1);
                self.stats.probes_ok += 1;
                if !p.indirect {
                    let rtt = now.saturating_duration_since(p.started);
                    if let Some(m) = self.members.get(&p.target).cloned() {
                        let payload = ack.payload.clone().unwrap_or_default();
                        self.delegate.notify_ping_complete(now, &m, rtt, &payload);
                    }
                }
                self.run_missed_tick(now);
                return;
            }
        }
        if let Some(r) = self.relays.remove(&ack.seq_no) {
            let reply = Ack {
                seq_no: r.orig_seq,
                payload: None,
            };
            self.send_with_piggyback(r.reply_to, &Message::Ack(reply), false);
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
    pub(crate) fn handle_ping(&mut self, from: SocketAddr, ping: &Ping) {
        if !ping.node.is_empty() && !self.is_self(&ping.node) {
            self.stats.pings_misaddressed += 1;
            return;
        }
        let payload = self.delegate.ack_payload();
        let ack = Ack {
            seq_no: ping.seq_no,
            payload,
        };
        let to = reply_addr(from, ping.source_addr, ping.source_port);
        self.send_with_piggyback(to, &Message::Ack(ack), false);
    }

    /// Probe a target on a requester's behalf.
    pub(crate) fn handle_indirect_ping(
        &mut self,
        now: Instant,
        from: SocketAddr,
        req: &IndirectPing,
    ) {
        let seq = self.next_seq();
        let ping = Ping {
            seq_no: seq,
            node: req.node.clone(),
            source_addr: Some(self.config.advertise.ip()),
            source_port: Some(self.config.advertise.port()),
            source_node: Some(self.config.name.clone()),
        };
        let port = if req.port == 0 {
            self.config.advertise.port()
        } else {
            req.port
        };
        let target = SocketAddr::new(req.target, port);
        self.send_with_piggyback(target, &Message::Ping(ping), false);
        let reply_to = reply_addr(from, req.source_addr, req.source_port);
        self.relays.insert(
            seq,
            Relay {
                orig_seq: req.seq_no,
                reply_to,
                nack: req.nack,
            },
        );
        self.schedule(now + self.config.probe_timeout, Timer::Relay(seq));
    }

    pub(crate) fn relay_timeout(&mut self, seq: u32) {
        let Some(r) = self.relays.remove(&seq) else {
            return;
        };
        if r.nack {
            let nack = Nack { seq_no: r.orig_seq };
            self.send_with_piggyback(r.reply_to, &Message::Nack(nack), false);
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
