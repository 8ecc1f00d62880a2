//! The membership state machine: how alive, suspect and dead messages (gossiped or from a
//! push-pull) change the member table, with memberlist 0.2.2's incarnation rules, and how we
//! refute accusations about ourselves.

use std::net::SocketAddr;

use bytes::Bytes;
use rumor_wire::{Alive, Dead, Message, Name, PushPull, Suspect, WireState};

use crate::delegate::{Delegate, Peer};
use crate::event::Event;
use crate::member::{Member, State};
use crate::node::{Node, Timer};
use crate::suspicion::{suspicion_timeout, Suspicion};
use crate::time::Instant;

/// The six version bytes from a wire field: zeros where absent or short.
pub(crate) fn vsn_of(v: &Option<Bytes>) -> [u8; 6] {
    let mut out = [0u8; 6];
    if let Some(b) = v {
        for (o, i) in out.iter_mut().zip(b.iter()) {
            *o = *i;
        }
    }
    out
}

impl<D: Delegate> Node<D> {
    pub(crate) fn encode_msg(msg: &Message) -> Bytes {
        let mut out = Vec::new();
        msg.encode(&mut out);
        Bytes::from(out)
    }

    pub(crate) fn broadcast(&mut self, about: &Name, msg: &Message) -> u64 {
        let bytes = Self::encode_msg(msg);
        self.broadcasts.push(Some(about.clone()), bytes)
    }

    /// Apply an alive message (§8.2 of the protocol notes). `bootstrap` marks our own
    /// announcements (start, meta change), which are stored rather than refuted.
    pub(crate) fn alive_node(&mut self, now: Instant, a: &Alive, bootstrap: bool) {
        let about_self = self.is_self(&a.node);
        if self.leaving && about_self {
            return;
        }
        if let Some(v) = &a.vsn {
            if v.len() >= 3 && (v[0] == 0 || v[1] == 0 || v[0] > v[1]) {
                return;
            }
            if !v.is_empty() && v.len() < 6 {
                return;
            }
        }
        let vsn = vsn_of(&a.vsn);
        let meta = a.meta.clone().unwrap_or_default();
        if !about_self {
            let peer = Peer {
                name: a.node.clone(),
                addr: SocketAddr::new(a.addr, a.port),
                meta: meta.clone(),
                incarnation: a.incarnation,
                state: State::Alive,
                vsn,
            };
            if let Err(veto) = self.delegate.check_alive(&peer) {
                self.stats.alive_vetoed += 1;
                tracing::debug!(node = %a.node, reason = %veto, "alive vetoed by guard");
                return;
            }
        }

        let mut addr_update = false;
        match self.members.get(&a.node) {
            None => {
                let name = self.delegate.intern_name(a.node.clone());
                let m = Member {
                    name,
                    ip: a.addr,
                    port: a.port,
                    meta: Bytes::new(),
                    incarnation: 0,
                    state: State::Dead,
                    vsn,
                    state_change: now,
                };
                let n = self.members.len();
                let pos = if n == 0 { 0 } else { self.rng_index(n + 1) };
                self.members.insert_at(m, pos);
            }
            Some(m) if m.ip != a.addr || m.port != a.port => {
                let reclaim = match self.config.dead_node_reclaim_time {
                    Some(t) => {
                        m.state == State::Dead && now.saturating_duration_since(m.state_change) > t
                    }
                    None => false,
                };
                if m.state == State::Left || reclaim {
                    addr_update = true;
                } else {
                    self.stats.conflicts += 1;
                    let existing = m.clone();
                    tracing::warn!(node = %a.node, existing = %existing.addr(), other = %SocketAddr::new(a.addr, a.port), "name conflict");
                    self.events.push_back(Event::Conflict {
                        existing,
                        other: SocketAddr::new(a.addr, a.port),
                    });
                    return;
                }
            }
            Some(_) => {}
        }
        let Some(m) = self.members.get(&a.node) else {
            return;
        };
        let stored = m.incarnation;
        if !about_self && !addr_update && a.incarnation <= stored {
            return;
        }
        if about_self && a.incarnation < stored {
            return;
        }
        self.suspicions.remove(&a.node);
        if about_self && !bootstrap {
            let same = a.incarnation == stored && meta == m.meta && vsn == m.vsn;
            if !same {
                self.refute(a.incarnation);
            }
            return;
        }
        let msg = Message::Alive(a.clone());
        self.broadcast(&a.node, &msg);
        let meta = if meta.is_empty() {
            meta
        } else {
            self.delegate.intern_meta(meta)
        };
        let Some(m) = self.members.get_mut(&a.node) else {
            return;
        };
        let old_state = m.state;
        let meta_changed = m.meta != meta;
        m.incarnation = a.incarnation;
        m.meta = meta;
        m.ip = a.addr;
        m.port = a.port;
        m.vsn = vsn;
        if m.state != State::Alive {
            m.state = State::Alive;
            m.state_change = now;
        }
        let snapshot = m.clone();
        if old_state.is_gone() {
            self.events.push_back(Event::Join(snapshot));
        } else if meta_changed {
            self.events.push_back(Event::Update(snapshot));
        }
    }

    /// Apply a suspect message (§8.4).
    pub(crate) fn suspect_node(&mut self, now: Instant, s: &Suspect) {
        let Some(m) = self.members.get(&s.node) else {
            return;
        };
        if s.incarnation < m.incarnation {
            return;
        }
        let state = m.state;
        if let Some(susp) = self.suspicions.get_mut(&s.node) {
            if susp.confirm(&s.from) {
                let deadline = susp.deadline();
                let generation = susp.generation;
                self.schedule(deadline, Timer::Suspicion(s.node.clone(), generation));
                self.broadcast(&s.node, &Message::Suspect(s.clone()));
            }
            return;
        }
        if state != State::Alive {
            return;
        }
        if self.is_self(&s.node) {
            self.refute(s.incarnation);
            return;
        }
        self.broadcast(&s.node, &Message::Suspect(s.clone()));
        let n = self.members.len();
        let Some(m) = self.members.get_mut(&s.node) else {
            return;
        };
        m.incarnation = s.incarnation;
        m.state = State::Suspect;
        m.state_change = now;
        let mult = self.config.suspicion_mult;
        let mut k = mult.saturating_sub(2);
        if (n as i64 - 2) < k as i64 {
            k = 0;
        }
        let min = suspicion_timeout(mult, n, self.config.probe_interval);
        let max = min * self.config.suspicion_max_timeout_mult;
        let generation = self.next_generation();
        let susp = Suspicion::new(now, s.from.clone(), k, min, max, s.incarnation, generation);
        self.schedule(
            susp.deadline(),
            Timer::Suspicion(s.node.clone(), generation),
        );
        self.suspicions.insert(s.node.clone(), susp);
    }

    /// A suspicion timer fired: declare the member dead unless it was refuted meanwhile.
    pub(crate) fn suspicion_timeout(&mut self, now: Instant, name: Name, generation: u64) {
        let Some(s) = self.suspicions.get(&name) else {
            return;
        };
        if s.generation != generation {
            return;
        }
        if s.deadline() > now {
            return; // a later deadline was set; its own entry will fire
        }
        let incarnation = s.incarnation;
        self.suspicions.remove(&name);
        if self.state_of(&name) != Some(State::Suspect) {
            return;
        }
        let d = Dead {
            incarnation,
            node: name,
            from: self.config.name.clone(),
        };
        self.dead_node(now, &d);
    }

    /// Apply a dead message (§8.6); `from == node` is a graceful leave.
    pub(crate) fn dead_node(&mut self, now: Instant, d: &Dead) {
        let Some(m) = self.members.get(&d.node) else {
            return;
        };
        if d.incarnation < m.incarnation {
            return;
        }
        self.suspicions.remove(&d.node);
        if m.state.is_gone() {
            return;
        }
        if self.is_self(&d.node) {
            if !self.leaving {
                self.refute(d.incarnation);
                return;
            }
            let id = self.broadcast(&d.node, &Message::Dead(d.clone()));
            self.leave_broadcast = Some(id);
        } else {
            self.broadcast(&d.node, &Message::Dead(d.clone()));
        }
        let Some(m) = self.members.get_mut(&d.node) else {
            return;
        };
        m.incarnation = d.incarnation;
        m.state = if d.node == d.from {
            State::Left
        } else {
            State::Dead
        };
        m.state_change = now;
        let snapshot = m.clone();
        self.events.push_back(Event::Leave(snapshot));
    }

    /// Someone accused us: take a higher incarnation and gossip that we are alive.
    pub(crate) fn refute(&mut self, accused: u32) {
        let mut inc = self.incarnation.wrapping_add(1);
        if accused >= inc {
            inc = accused.wrapping_add(1);
        }
        self.incarnation = inc;
        self.stats.refutes += 1;
        self.awareness.apply(1);
        let meta = self.local().map(|m| m.meta.clone()).unwrap_or_default();
        let name = self.config.name.clone();
        if let Some(m) = self.members.get_mut(&name) {
            m.incarnation = inc;
        }
        let alive = self.self_alive(meta);
        self.broadcast(&name, &Message::Alive(alive));
    }

    /// Merge a remote member table (§8.6): versions, then the merge guard, then each entry.
    /// An error means nothing was applied.
    pub(crate) fn merge_remote(
        &mut self,
        now: Instant,
        pp: &PushPull,
        join: bool,
    ) -> Result<(), String> {
        let peers: Vec<Peer> = pp
            .nodes
            .iter()
            .map(|n| Peer {
                name: n.name.clone(),
                addr: SocketAddr::new(n.addr, n.port),
                meta: n.meta.clone().unwrap_or_default(),
                incarnation: n.incarnation,
                state: match n.state {
                    WireState::Alive => State::Alive,
                    WireState::Suspect => State::Suspect,
                    WireState::Dead => State::Dead,
                    WireState::Left => State::Left,
                },
                vsn: vsn_of(&n.vsn),
            })
            .collect();
        if let Err(e) = self.verify_protocol(&peers) {
            self.stats.merges_incompatible += 1;
            return Err(e);
        }
        if let Err(veto) = self.delegate.check_merge(&peers, join) {
            self.stats.merges_vetoed += 1;
            return Err(veto.0);
        }
        for n in &pp.nodes {
            match n.state {
                WireState::Alive => {
                    let a = Alive {
                        incarnation: n.incarnation,
                        node: n.name.clone(),
                        addr: n.addr,
                        port: n.port,
                        meta: n.meta.clone(),
                        vsn: n.vsn.clone(),
                    };
                    self.alive_node(now, &a, false);
                }
                WireState::Left => {
                    let d = Dead {
                        incarnation: n.incarnation,
                        node: n.name.clone(),
                        from: n.name.clone(),
                    };
                    self.dead_node(now, &d);
                }
                WireState::Dead | WireState::Suspect => {
                    let s = Suspect {
                        incarnation: n.incarnation,
                        node: n.name.clone(),
                        from: self.config.name.clone(),
                    };
                    self.suspect_node(now, &s);
                }
            }
        }
        if !pp.user_state.is_empty() {
            self.delegate.merge_remote_state(now, &pp.user_state, join);
        }
        Ok(())
    }

    /// memberlist's `verifyProtocol`: every member, theirs and ours, must speak versions
    /// inside the range all live members understand.
    fn verify_protocol(&self, remote: &[Peer]) -> Result<(), String> {
        let mut max_pmin = 0u8;
        let mut min_pmax = u8::MAX;
        let mut max_dmin = 0u8;
        let mut min_dmax = u8::MAX;
        let remote_alive = remote
            .iter()
            .filter(|p| p.state == State::Alive && p.vsn != [0; 6])
            .map(|p| p.vsn);
        let local_alive = self
            .members
            .iter()
            .filter(|m| m.state == State::Alive)
            .map(|m| m.vsn);
        for v in remote_alive.chain(local_alive) {
            max_pmin = max_pmin.max(v[0]);
            min_pmax = min_pmax.min(v[1]);
            max_dmin = max_dmin.max(v[3]);
            min_dmax = min_dmax.min(v[4]);
        }
        let all = remote
            .iter()
            .map(|p| (&p.name, p.vsn))
            .chain(self.members.iter().map(|m| (&m.name, m.vsn)));
        for (name, v) in all {
            if v[2] < max_pmin || v[2] > min_pmax {
                return Err(format!(
                    "node '{name}' speaks memberlist protocol {}, outside the range {max_pmin}..={min_pmax} the pool understands",
                    v[2]
                ));
            }
            if v[5] < max_dmin || v[5] > min_dmax {
                return Err(format!(
                    "node '{name}' speaks delegate protocol {}, outside the range {max_dmin}..={min_dmax} the pool understands",
                    v[5]
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn rng_index(&mut self, n: usize) -> usize {
        use rand::Rng;
        self.rng.gen_range(0..n)
    }
}
