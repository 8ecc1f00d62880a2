//! The membership state machine: how alive, suspect and dead messages (gossiped or from a
//! push-pull) change the member table, with memberlist 0.2.2's incarnation rules, and how we
//! refute accusations about ourselves.

use std::net::SocketAddr;

use bytes::Bytes;
use rumor_wire::{Alive, Dead, Message, Name, PushPull, Suspect, WireState};

use crate::config::SuspicionFormula;
use crate::error::{MergeError, ProtocolKind, VersionMismatch};
use crate::event::{Event, JoinId};
use crate::hooks::{Hooks, MergeContext, Peer};
use crate::member::{Member, State};
use crate::node::{Keyed, Node};
use crate::suspicion::{suspicion_timeout, swim_suspicion_timeout, Suspicion};
use crate::time::Instant;
use crate::version::Versions;

impl Node {
    pub(crate) fn encode_msg(msg: &Message) -> Bytes {
        let mut out = Vec::new();
        msg.encode(&mut out);
        Bytes::from(out)
    }

    pub(crate) fn broadcast(&mut self, about: &Name, msg: &Message) -> u64 {
        let bytes = Self::encode_msg(msg);
        self.broadcasts.push(Some(about.clone()), bytes)
    }

    /// Queue a refutation for gossip: sent `refute_retransmit_factor` times as often.
    fn broadcast_refutation(&mut self, about: &Name, msg: &Message) -> u64 {
        let bytes = Self::encode_msg(msg);
        let factor = self.config.refute_retransmit_factor;
        self.broadcasts
            .push_times(Some(about.clone()), bytes, factor)
    }

    /// Ends a suspicion of `name`, if any, and cancels its timer.
    fn clear_suspicion(&mut self, name: &Name) {
        if self.suspicions.remove(name).is_some() {
            self.timers.cancel_key(&Keyed::Suspicion(name.clone()));
        }
    }

    /// The incarnation after `inc`: one more, saturating at `u32::MAX` (with a warning, since
    /// from there on an accusation at `u32::MAX` can no longer be refuted).
    pub(crate) fn bump_incarnation(&self, inc: u32) -> u32 {
        match inc.checked_add(1) {
            Some(next) => next,
            None => {
                tracing::warn!(
                    incarnation = inc,
                    "incarnation number exhausted; staying at u32::MAX"
                );
                u32::MAX
            }
        }
    }

    /// Apply an alive message (§8.2 of the protocol notes). `bootstrap` marks our own
    /// announcements (start, meta change), which are stored rather than refuted. Returns
    /// true when the member guard refused it.
    pub(crate) fn alive_node(
        &mut self,
        now: Instant,
        a: &Alive,
        bootstrap: bool,
        hooks: &mut dyn Hooks,
    ) -> bool {
        let about_self = self.is_self(&a.node);
        if self.leaving && about_self {
            return false;
        }
        if let Some(v) = &a.vsn {
            if v.len() >= 3 && (v[0] == 0 || v[1] == 0 || v[0] > v[1]) {
                return false;
            }
            if !v.is_empty() && v.len() < 6 {
                return false;
            }
        }
        // An alive without versions keeps the stored ones (memberlist updates them only
        // when they arrive).
        let sent_vsn = Versions::from_wire(&a.vsn);
        let meta = a.meta.clone().unwrap_or_default();
        if !about_self {
            let peer = Peer {
                name: a.node.clone(),
                addr: SocketAddr::new(a.addr, a.port),
                meta: meta.clone(),
                incarnation: a.incarnation,
                state: State::Alive,
                vsn: sent_vsn.unwrap_or_default(),
            };
            if let Err(refusal) = hooks.check_alive(&peer) {
                self.stats.alive_vetoed += 1;
                self.alive_refused(now, &peer, &refusal);
                return true;
            }
        }

        let mut addr_update = false;
        match self.members.get(&a.node) {
            None if self.refusals.is_stale(now, &a.node, a.incarnation) => {
                tracing::debug!(node = %a.node, incarnation = a.incarnation,
                    "old record of a member removed for a refusal ignored");
                return false;
            }
            None => {
                let name = self.intern_name(a.node.clone());
                let m = Member {
                    name,
                    ip: a.addr,
                    port: a.port,
                    meta: Bytes::new(),
                    incarnation: 0,
                    state: State::Dead,
                    vsn: sent_vsn.unwrap_or_default(),
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
                    return false;
                }
            }
            Some(_) => {}
        }
        let Some(m) = self.members.get(&a.node) else {
            return false;
        };
        let stored = m.incarnation;
        if !about_self && !addr_update && a.incarnation <= stored {
            return false;
        }
        if about_self && a.incarnation < stored {
            return false;
        }
        let same = a.incarnation == stored && meta == m.meta && sent_vsn == Some(m.vsn);
        let refutes = m.state == State::Suspect;
        self.clear_suspicion(&a.node);
        if about_self && !bootstrap {
            if !same {
                self.refute(a.incarnation);
            }
            return false;
        }
        let msg = Message::Alive(a.clone());
        if refutes {
            self.broadcast_refutation(&a.node, &msg);
        } else {
            self.broadcast(&a.node, &msg);
        }
        let meta = self.intern_meta(meta);
        let Some(m) = self.members.get_mut(&a.node) else {
            return false;
        };
        let old_state = m.state;
        let meta_changed = m.meta != meta;
        m.incarnation = a.incarnation;
        m.meta = meta;
        m.ip = a.addr;
        m.port = a.port;
        if let Some(v) = sent_vsn {
            m.vsn = v;
        }
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
        false
    }

    /// The guard refused an alive about `peer`: warn (at most once a minute per name), and
    /// if it is a member we know, at the same address, with a newer incarnation, it restarted
    /// into another pool: remove it ([`Event::Removed`]).
    fn alive_refused(&mut self, now: Instant, peer: &Peer, refusal: &crate::error::Refusal) {
        if self.refusals.should_warn(now, &peer.name) {
            tracing::warn!(node = %peer.name, addr = %peer.addr, reason = %refusal,
                "member refused by the guard (not logged again for it for 60 s)");
        } else {
            tracing::debug!(node = %peer.name, reason = %refusal, "member refused by the guard");
        }
        let restarted = self
            .members
            .get(&peer.name)
            .is_some_and(|m| m.addr() == peer.addr && peer.incarnation > m.incarnation);
        if restarted && !self.is_self(&peer.name) {
            self.refusals.removed(now, &peer.name, peer.incarnation);
            let names = std::collections::BTreeSet::from([peer.name.clone()]);
            for m in self.remove_members(now, &names) {
                self.events.push_back(Event::Removed(m));
            }
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
                self.timers
                    .set_key(Keyed::Suspicion(s.node.clone()), deadline);
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
        if (n as i64 - 2) < k as i64 || !self.config.lifeguard.dynamic_suspicion {
            k = 0;
        }
        let min = match self.config.suspicion_formula {
            SuspicionFormula::Memberlist => suspicion_timeout(mult, n, self.config.probe_interval),
            SuspicionFormula::SwimPaper => {
                swim_suspicion_timeout(mult, n, self.config.probe_interval)
            }
        };
        let max = if self.config.lifeguard.dynamic_suspicion {
            min * self.config.suspicion_max_timeout_mult
        } else {
            min
        };
        let susp = Suspicion::new(now, s.from.clone(), k, min, max, s.incarnation);
        self.timers
            .set_key(Keyed::Suspicion(s.node.clone()), susp.deadline());
        self.suspicions.insert(s.node.clone(), susp);
    }

    /// A suspicion timer fired: declare the member dead unless it was refuted meanwhile.
    pub(crate) fn suspicion_timeout(&mut self, now: Instant, name: Name) {
        let Some(s) = self.suspicions.remove(&name) else {
            return;
        };
        let incarnation = s.incarnation;
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
        self.clear_suspicion(&d.node);
        let Some(m) = self.members.get(&d.node) else {
            return;
        };
        if m.state.is_gone() {
            return;
        }
        if self.is_self(&d.node) {
            if !self.leaving {
                if self.config.refute_dead {
                    self.refute(d.incarnation);
                } else {
                    tracing::debug!("declared dead; refutation of a confirm is off");
                }
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
    ///
    /// The alive is queued under the key memberlist uses for a refutation (our address's IP
    /// as text, not our name), so it supersedes exactly what memberlist's would.
    pub(crate) fn refute(&mut self, accused: u32) {
        let mut inc = self.bump_incarnation(self.incarnation);
        if accused >= inc {
            inc = self.bump_incarnation(accused);
        }
        self.incarnation = inc;
        self.stats.refutes += 1;
        tracing::debug!(
            accused,
            incarnation = inc,
            "refuting an accusation about us"
        );
        self.awareness.apply(1);
        let meta = self.local().map(|m| m.meta.clone()).unwrap_or_default();
        let name = self.config.name.clone();
        if let Some(m) = self.members.get_mut(&name) {
            m.incarnation = inc;
        }
        let alive = self.self_alive(meta);
        let key = Name::from(self.config.advertise.ip().to_string());
        self.broadcast_refutation(&key, &Message::Alive(alive));
    }

    /// Merge a remote member table (§8.6): versions, then the merge guard, then each entry.
    /// An error means nothing was applied. `dialed` is the address we dialed when we
    /// initiated the exchange.
    ///
    /// A join is refused whole for incompatible versions (memberlist). Any other push-pull
    /// drops the incompatible entries on their own and merges the rest; and in every
    /// push-pull that the merge guard does not refuse whole, each entry about another member
    /// is judged by the member guard and dropped on its own if refused
    /// ([`crate::Stats::entries_dropped`]).
    pub(crate) fn merge_remote(
        &mut self,
        now: Instant,
        pp: &PushPull,
        join_id: Option<JoinId>,
        dialed: Option<SocketAddr>,
        hooks: &mut dyn Hooks,
    ) -> Result<(), MergeError> {
        let join = pp.join || join_id.is_some();
        // Port 0 in a push-pull entry means our own port (memberlist: the bind port).
        let own_port = self.config.advertise.port();
        let port_of = move |p: u16| if p == 0 { own_port } else { p };
        let peers: Vec<Peer> = pp
            .nodes
            .iter()
            .map(|n| Peer {
                name: n.name.clone(),
                addr: SocketAddr::new(n.addr, port_of(n.port)),
                meta: n.meta.clone().unwrap_or_default(),
                incarnation: n.incarnation,
                state: match n.state {
                    WireState::Alive => State::Alive,
                    WireState::Suspect => State::Suspect,
                    WireState::Dead => State::Dead,
                    WireState::Left => State::Left,
                },
                vsn: Versions::from_wire(&n.vsn).unwrap_or_default(),
            })
            .collect();
        let mut keep = vec![true; peers.len()];
        if let Err(e) = self.verify_protocol(&peers) {
            if join {
                self.stats.merges_incompatible += 1;
                return Err(e.into());
            }
            for (k, p) in keep.iter_mut().zip(&peers) {
                *k = self.verify_protocol(std::slice::from_ref(p)).is_ok();
            }
            let kept: Vec<Peer> = kept_peers(&peers, &keep);
            // Entries compatible one by one may still disagree with each other.
            if let Err(e) = self.verify_protocol(&kept) {
                self.stats.merges_incompatible += 1;
                return Err(e.into());
            }
            tracing::debug!(error = %e, dropped = keep.iter().filter(|k| !**k).count(),
                "push-pull entries with incompatible versions dropped");
        }
        let ctx = MergeContext { join, dialed };
        let verdict = if keep.iter().all(|k| *k) {
            hooks.check_merge(&peers, ctx)
        } else {
            hooks.check_merge(&kept_peers(&peers, &keep), ctx)
        };
        if let Err(refusal) = verdict {
            self.stats.merges_vetoed += 1;
            return Err(refusal.into());
        }
        for ((n, peer), keep) in pp.nodes.iter().zip(&peers).zip(keep) {
            if !keep {
                self.stats.entries_dropped += 1;
                continue;
            }
            if n.state != WireState::Alive && !self.is_self(&n.name) {
                if let Err(refusal) = hooks.check_alive(peer) {
                    self.stats.entries_dropped += 1;
                    tracing::debug!(node = %n.name, reason = %refusal, "push-pull entry refused by the guard");
                    continue;
                }
            }
            match n.state {
                WireState::Alive => {
                    let a = Alive {
                        incarnation: n.incarnation,
                        node: n.name.clone(),
                        addr: n.addr,
                        port: port_of(n.port),
                        meta: n.meta.clone(),
                        vsn: n.vsn.clone(),
                    };
                    if self.alive_node(now, &a, false, hooks) {
                        self.stats.entries_dropped += 1;
                    }
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
            self.events.push_back(Event::RemoteState {
                state: pp.user_state.clone(),
                join,
                join_id,
            });
        }
        Ok(())
    }

    /// memberlist's `verifyProtocol`: every member, theirs and ours, must speak versions
    /// inside the range all live members understand.
    fn verify_protocol(&self, remote: &[Peer]) -> Result<(), VersionMismatch> {
        let mut max_pmin = 0u8;
        let mut min_pmax = u8::MAX;
        let mut max_dmin = 0u8;
        let mut min_dmax = u8::MAX;
        let remote_alive = remote
            .iter()
            .filter(|p| p.state == State::Alive && !p.vsn.is_unknown())
            .map(|p| p.vsn);
        let local_alive = self
            .members
            .iter()
            .filter(|m| m.state == State::Alive)
            .map(|m| m.vsn);
        for v in remote_alive.chain(local_alive) {
            max_pmin = max_pmin.max(v.pmin);
            min_pmax = min_pmax.min(v.pmax);
            max_dmin = max_dmin.max(v.dmin);
            min_dmax = min_dmax.min(v.dmax);
        }
        let all = remote
            .iter()
            .map(|p| (&p.name, p.vsn))
            .chain(self.members.iter().map(|m| (&m.name, m.vsn)));
        for (name, v) in all {
            let mismatch = |kind, version, min, max| VersionMismatch {
                node: name.clone(),
                kind,
                version,
                min,
                max,
            };
            if v.pcur < max_pmin || v.pcur > min_pmax {
                return Err(mismatch(
                    ProtocolKind::Memberlist,
                    v.pcur,
                    max_pmin,
                    min_pmax,
                ));
            }
            if v.dcur < max_dmin || v.dcur > min_dmax {
                return Err(mismatch(ProtocolKind::Delegate, v.dcur, max_dmin, min_dmax));
            }
        }
        Ok(())
    }

    pub(crate) fn rng_index(&mut self, n: usize) -> usize {
        use rand::Rng;
        self.rng.gen_range(0..n)
    }
}

/// The peers whose `keep` flag is set.
fn kept_peers(peers: &[Peer], keep: &[bool]) -> Vec<Peer> {
    peers
        .iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(p, _)| p.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use bytes::Bytes;
    use rumor_wire::{Message, PushNodeState, PushPull, WireState};

    use super::*;
    use crate::error::{MergeError, ProtocolKind, VersionMismatch};
    use crate::hooks::NoHooks;
    use crate::test_support::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// The alive messages queued for gossip, decoded.
    fn queued_alives(n: &mut Node) -> Vec<Alive> {
        n.broadcasts
            .take(0, usize::MAX, u32::MAX)
            .iter()
            .filter_map(|b| match Message::decode(b) {
                Ok(Message::Alive(a)) => Some(a),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_alive_at_an_equal_incarnation_is_ignored() {
        let mut n = node();
        feed(&mut n, t(0), Message::Alive(alive("a", 5, 2)));
        events(&mut n);
        n.broadcasts.reset();
        let mut same = alive("a", 5, 2);
        same.meta = Some(Bytes::from_static(b"new"));
        feed(&mut n, t(1), Message::Alive(same));
        assert_eq!(seen(&n, "a"), Some((State::Alive, 5)));
        assert!(n.member("a").unwrap().meta.is_empty(), "meta unchanged");
        assert!(events(&mut n).is_empty());
        assert!(n.broadcasts.is_empty(), "not gossiped on");
    }

    #[test]
    fn dead_beats_alive_at_an_equal_incarnation() {
        let mut n = node();
        feed(&mut n, t(0), Message::Alive(alive("a", 5, 2)));
        feed(&mut n, t(1), Message::Dead(dead("a", 5, "b")));
        assert_eq!(seen(&n, "a"), Some((State::Dead, 5)));
        feed(&mut n, t(2), Message::Alive(alive("a", 5, 2)));
        assert_eq!(seen(&n, "a"), Some((State::Dead, 5)), "equal alive loses");
        events(&mut n);
        feed(&mut n, t(3), Message::Alive(alive("a", 6, 2)));
        assert_eq!(seen(&n, "a"), Some((State::Alive, 6)));
        assert!(matches!(&events(&mut n)[..], [Event::Join(m)] if &*m.name == "a"));
    }

    #[test]
    fn a_left_member_keeps_its_tombstone_against_a_stale_alive() {
        let mut n = node();
        feed(&mut n, t(0), Message::Alive(alive("a", 3, 2)));
        feed(&mut n, t(1), Message::Dead(dead("a", 3, "a")));
        assert_eq!(seen(&n, "a"), Some((State::Left, 3)));
        events(&mut n);
        feed(&mut n, t(2), Message::Alive(alive("a", 3, 2)));
        assert_eq!(seen(&n, "a"), Some((State::Left, 3)));
        assert!(events(&mut n).is_empty());
    }

    #[test]
    fn suspicion_is_confirmed_by_independent_accusers_and_its_timer_moves() {
        // Five members: k = SuspicionMult - 2 = 2 confirmations count; min 4 s, max 24 s.
        let mut n = node();
        with_peers(&mut n, &["a", "b", "c", "d"]);
        feed(&mut n, t(0), Message::Suspect(suspect("a", 1, "b")));
        assert_eq!(seen(&n, "a"), Some((State::Suspect, 1)));
        let key = Keyed::Suspicion("a".into());
        assert_eq!(n.timers.get_key(&key), Some(t(24_000)));
        // The first accuser again, and a stale incarnation: nothing changes.
        feed(&mut n, t(100), Message::Suspect(suspect("a", 1, "b")));
        feed(&mut n, t(100), Message::Suspect(suspect("a", 0, "c")));
        assert_eq!(n.timers.get_key(&key), Some(t(24_000)));
        // An independent confirmation: memberlist's formula, 11.381 s after the start.
        n.broadcasts.reset();
        feed(&mut n, t(200), Message::Suspect(suspect("a", 1, "c")));
        assert_eq!(n.timers.get_key(&key), Some(t(11_381)));
        assert_eq!(n.broadcasts.len(), 1, "a new confirmation is gossiped on");
        feed(&mut n, t(300), Message::Suspect(suspect("a", 1, "d")));
        assert_eq!(n.timers.get_key(&key), Some(t(4_000)));
        assert_eq!(
            n.poll_timeout(),
            Some(t(4_000).min(n.timers.next().unwrap()))
        );
        n.handle_timeout(t(4_000), &mut NoHooks);
        assert_eq!(seen(&n, "a"), Some((State::Dead, 1)));
        assert_eq!(
            n.timers.get_key(&key),
            None,
            "the timer went with the suspicion"
        );
    }

    #[test]
    fn without_dynamic_suspicion_a_suspicion_lasts_the_minimum_and_confirmations_are_ignored() {
        let mut n = node_with(|c| c.lifeguard.dynamic_suspicion = false);
        with_peers(&mut n, &["a", "b", "c", "d"]);
        feed(&mut n, t(0), Message::Suspect(suspect("a", 1, "b")));
        let key = Keyed::Suspicion("a".into());
        assert_eq!(n.timers.get_key(&key), Some(t(4_000)), "min, not 24 s");
        n.broadcasts.reset();
        feed(&mut n, t(200), Message::Suspect(suspect("a", 1, "c")));
        assert_eq!(n.timers.get_key(&key), Some(t(4_000)));
        assert_eq!(n.broadcasts.len(), 0, "no confirmation is gossiped");
    }

    #[test]
    fn the_swim_paper_formula_counts_whole_periods_of_ceil_log10_n_plus_one() {
        // Five members, mult 3, 2 s periods: 3 * ceil(log10 6) = 3 periods = 6 s.
        let mut n = node_with(|c| {
            c.lifeguard = crate::config::Lifeguard::NONE;
            c.suspicion_formula = SuspicionFormula::SwimPaper;
            c.suspicion_mult = 3;
            c.probe_interval = std::time::Duration::from_secs(2);
        });
        with_peers(&mut n, &["a", "b", "c", "d"]);
        feed(&mut n, t(0), Message::Suspect(suspect("a", 1, "b")));
        let key = Keyed::Suspicion("a".into());
        assert_eq!(n.timers.get_key(&key), Some(t(6_000)));
    }

    #[test]
    fn with_refute_dead_off_a_confirm_about_us_is_final() {
        let mut n = node_with(|c| c.refute_dead = false);
        with_peers(&mut n, &["a"]);
        feed(&mut n, t(0), Message::Dead(dead("me", 1, "a")));
        assert_eq!(n.incarnation(), 1, "no refutation");
        assert_eq!(n.stats().refutes, 0);
        // A suspicion is still refuted.
        feed(&mut n, t(1), Message::Suspect(suspect("me", 1, "a")));
        assert_eq!(n.incarnation(), 2);
    }

    #[test]
    fn a_refutation_ends_the_suspicion_and_cancels_its_timer() {
        let mut n = node();
        with_peers(&mut n, &["a", "b"]);
        feed(&mut n, t(0), Message::Suspect(suspect("a", 1, "b")));
        assert!(n.timers.get_key(&Keyed::Suspicion("a".into())).is_some());
        feed(&mut n, t(10), Message::Alive(alive("a", 2, 2)));
        assert_eq!(seen(&n, "a"), Some((State::Alive, 2)));
        assert_eq!(n.timers.get_key(&Keyed::Suspicion("a".into())), None);
        assert_eq!(n.timers.keyed_len(), 0);
    }

    #[test]
    fn we_refute_at_exactly_the_accused_incarnation_plus_one() {
        let mut n = node();
        with_peers(&mut n, &["a"]);
        n.broadcasts.reset();
        assert_eq!(n.incarnation(), 1);
        // Our own meta change: an alive at 2, queued under our name.
        n.set_meta(t(0), Bytes::from_static(b"m")).unwrap();
        feed(&mut n, t(0), Message::Suspect(suspect("me", 7, "a")));
        assert_eq!(n.incarnation(), 8);
        assert_eq!(seen(&n, "me"), Some((State::Alive, 8)));
        // An accusation below our incarnation is stale and ignored; one at it is refuted
        // with the next.
        feed(&mut n, t(1), Message::Dead(dead("me", 3, "a")));
        assert_eq!(n.incarnation(), 8);
        feed(&mut n, t(1), Message::Dead(dead("me", 8, "a")));
        assert_eq!(n.incarnation(), 9);
        assert_eq!(n.stats().refutes, 2);
        // Refutations are queued under memberlist's refutation key (our IP as text, not our
        // name): the second superseded the first, and neither the meta change's alive.
        let mut incs: Vec<u32> = queued_alives(&mut n)
            .iter()
            .filter(|a| &*a.node == "me")
            .map(|a| a.incarnation)
            .collect();
        incs.sort_unstable();
        assert_eq!(incs, [2, 9]);
    }

    #[test]
    fn incarnations_saturate_so_we_can_still_refute_near_the_top() {
        let mut n = node();
        with_peers(&mut n, &["a"]);
        feed(
            &mut n,
            t(0),
            Message::Suspect(suspect("me", u32::MAX - 1, "a")),
        );
        assert_eq!(n.incarnation(), u32::MAX, "refuted at u32::MAX - 1 + 1");
        feed(&mut n, t(1), Message::Suspect(suspect("me", u32::MAX, "a")));
        assert_eq!(n.incarnation(), u32::MAX, "saturated, not wrapped to 0");
        assert!(n.set_meta(t(2), Bytes::new()).is_ok());
        assert_eq!(n.incarnation(), u32::MAX);
    }

    #[test]
    fn a_dead_name_is_reclaimed_only_after_the_reclaim_time() {
        let mut n = node_with(|c| c.dead_node_reclaim_time = Some(Duration::from_secs(10)));
        feed(&mut n, t(0), Message::Alive(alive("a", 5, 2)));
        feed(&mut n, t(0), Message::Dead(dead("a", 5, "b")));
        events(&mut n);
        // Another address, a lower incarnation, too early: a conflict, ignored.
        feed(&mut n, t(5_000), Message::Alive(alive("a", 1, 9)));
        assert!(matches!(&events(&mut n)[..], [Event::Conflict { .. }]));
        assert_eq!(n.member("a").unwrap().addr(), peer_addr(2));
        // After the reclaim time: the new address takes the name, whatever its incarnation.
        feed(&mut n, t(10_001), Message::Alive(alive("a", 1, 9)));
        let m = n.member("a").unwrap();
        assert_eq!(
            (m.addr(), m.state, m.incarnation),
            (peer_addr(9), State::Alive, 1)
        );
    }

    #[test]
    fn an_alive_without_versions_keeps_the_stored_ones() {
        let mut n = node();
        feed(&mut n, t(0), Message::Alive(alive("a", 1, 2)));
        let mut bare = alive("a", 2, 2);
        bare.vsn = None;
        feed(&mut n, t(1), Message::Alive(bare));
        let m = n.member("a").unwrap();
        assert_eq!(m.incarnation, 2);
        assert_eq!(m.vsn.to_bytes(), VSN);
    }

    #[test]
    fn malformed_version_ranges_are_ignored() {
        let mut n = node();
        let mut bad = alive("a", 1, 2);
        bad.vsn = Some(Bytes::from_static(&[3, 2, 2, 0, 0, 0]));
        feed(&mut n, t(0), Message::Alive(bad));
        assert!(n.member("a").is_none());
    }

    fn entry(name: &str, inc: u32, state: WireState, ip: u8, vsn: [u8; 6]) -> PushNodeState {
        PushNodeState {
            name: name.into(),
            addr: peer_addr(ip).ip(),
            port: 7946,
            meta: None,
            incarnation: inc,
            state,
            vsn: Some(Bytes::copy_from_slice(&vsn)),
        }
    }

    #[test]
    fn a_join_outside_the_version_range_is_refused_whole() {
        let mut n = node();
        let pp = PushPull {
            join: true,
            nodes: vec![
                entry("a", 1, WireState::Alive, 2, VSN),
                entry("b", 1, WireState::Alive, 3, [1, 5, 9, 0, 0, 0]),
            ],
            user_state: Bytes::new(),
        };
        let err = n
            .merge_remote(t(0), &pp, None, None, &mut NoHooks)
            .unwrap_err();
        assert_eq!(
            err,
            MergeError::Incompatible(VersionMismatch {
                node: "b".into(),
                kind: ProtocolKind::Memberlist,
                version: 9,
                min: 1,
                max: 5,
            })
        );
        assert!(n.member("a").is_none(), "nothing applied");
        assert_eq!(n.stats().merges_incompatible, 1);
    }

    #[test]
    fn left_and_dead_entries_in_a_push_pull() {
        let mut n = node_with(|c| c.advertise = SocketAddr::from(([10, 0, 0, 1], 8000)));
        with_peers(&mut n, &["x", "y"]);
        let pp = PushPull {
            join: false,
            nodes: vec![
                entry("x", 1, WireState::Left, 2, VSN),
                entry("y", 1, WireState::Dead, 3, VSN),
                // Port 0 means our own port.
                PushNodeState {
                    port: 0,
                    ..entry("z", 1, WireState::Alive, 4, VSN)
                },
            ],
            user_state: Bytes::from_static(b"state"),
        };
        n.merge_remote(t(0), &pp, Some(3), Some(peer_addr(2)), &mut NoHooks)
            .unwrap();
        // A left entry is a leave; a dead one only a suspicion (memberlist's mergeState).
        assert_eq!(seen(&n, "x"), Some((State::Left, 1)));
        assert_eq!(seen(&n, "y"), Some((State::Suspect, 1)));
        assert_eq!(
            n.member("z").unwrap().addr(),
            SocketAddr::from(([10, 0, 0, 4], 8000))
        );
        let evs = events(&mut n);
        assert!(
            matches!(evs.last(), Some(Event::RemoteState { join: true, join_id: Some(3), state }) if &state[..] == b"state")
        );
    }

    /// Test hooks: refuse every member whose name starts with `f` (foreign), and record the
    /// merge contexts asked about.
    #[derive(Default)]
    struct Foreign {
        contexts: Vec<MergeContext>,
        refuse_joins: bool,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("foreign")]
    struct IsForeign;

    impl Hooks for Foreign {
        fn check_alive(&mut self, peer: &Peer) -> crate::hooks::Verdict {
            if peer.name.starts_with('f') {
                Err(crate::error::Refusal::new(peer.name.clone(), IsForeign))
            } else {
                Ok(())
            }
        }
        fn check_merge(&mut self, peers: &[Peer], ctx: MergeContext) -> crate::hooks::Verdict {
            self.contexts.push(ctx);
            match peers.iter().find(|p| p.name.starts_with('f')) {
                Some(p) if self.refuse_joins && ctx.join => {
                    Err(crate::error::Refusal::new(p.name.clone(), IsForeign))
                }
                _ => Ok(()),
            }
        }
    }

    fn pp(join: bool, nodes: Vec<PushNodeState>) -> PushPull {
        PushPull {
            join,
            nodes,
            user_state: Bytes::new(),
        }
    }

    #[test]
    fn a_push_pull_not_a_join_drops_incompatible_entries_alone() {
        let mut n = node();
        let remote = pp(
            false,
            vec![
                entry("a", 1, WireState::Alive, 2, VSN),
                entry("b", 1, WireState::Alive, 3, [1, 5, 9, 0, 0, 0]),
                entry("c", 1, WireState::Alive, 4, VSN),
            ],
        );
        n.merge_remote(t(0), &remote, None, None, &mut NoHooks)
            .unwrap();
        assert!(n.member("a").is_some() && n.member("c").is_some());
        assert!(n.member("b").is_none(), "the incompatible entry is dropped");
        let s = n.stats();
        assert_eq!((s.entries_dropped, s.merges_incompatible), (1, 0));
        // Entries each compatible with us but not with one another: refused whole.
        let mut n = node();
        let remote = pp(
            false,
            vec![
                entry("a", 1, WireState::Alive, 2, [1, 2, 2, 0, 0, 0]),
                entry("b", 1, WireState::Alive, 3, [2, 5, 3, 0, 0, 0]),
            ],
        );
        assert!(n
            .merge_remote(t(0), &remote, None, None, &mut NoHooks)
            .is_err());
        assert!(n.member("a").is_none() && n.member("b").is_none());
        assert_eq!(n.stats().merges_incompatible, 1);
    }

    #[test]
    fn foreign_entries_of_a_push_pull_are_dropped_and_the_rest_merged() {
        let mut n = node();
        with_peers(&mut n, &["a"]);
        let remote = pp(
            false,
            vec![
                entry("a", 1, WireState::Dead, 2, VSN),
                entry("b", 1, WireState::Alive, 3, VSN),
                entry("f-dead", 4, WireState::Dead, 4, VSN),
                entry("f-alive", 1, WireState::Alive, 5, VSN),
                entry("me", 1, WireState::Alive, 1, VSN),
            ],
        );
        let mut hooks = Foreign::default();
        n.merge_remote(t(0), &remote, None, None, &mut hooks)
            .unwrap();
        assert_eq!(seen(&n, "a"), Some((State::Suspect, 1)), "merged");
        assert_eq!(seen(&n, "b"), Some((State::Alive, 1)), "merged");
        assert!(n.member("f-dead").is_none() && n.member("f-alive").is_none());
        let s = n.stats();
        assert_eq!(s.entries_dropped, 2);
        assert_eq!(s.alive_vetoed, 1, "the refused alive entry");
        assert_eq!(s.merges_vetoed, 0);
        assert_eq!(
            hooks.contexts,
            vec![MergeContext {
                join: false,
                dialed: None
            }]
        );
    }

    #[test]
    fn a_foreign_dead_entry_about_a_known_member_does_not_touch_it() {
        // f1 entered before the guard did: a foreign peer's dead entry about it is dropped.
        let mut n = node();
        with_peers(&mut n, &["f1"]);
        let remote = pp(false, vec![entry("f1", 3, WireState::Dead, 2, VSN)]);
        n.merge_remote(t(0), &remote, None, None, &mut Foreign::default())
            .unwrap();
        assert_eq!(seen(&n, "f1"), Some((State::Alive, 1)));
        assert_eq!(n.stats().entries_dropped, 1);
    }

    #[test]
    fn a_join_refused_by_the_merge_guard_applies_nothing() {
        let mut n = node();
        let remote = pp(
            true,
            vec![
                entry("b", 1, WireState::Alive, 3, VSN),
                entry("f1", 1, WireState::Alive, 2, VSN),
            ],
        );
        let mut hooks = Foreign {
            refuse_joins: true,
            ..Foreign::default()
        };
        let err = n
            .merge_remote(t(0), &remote, Some(1), Some(peer_addr(2)), &mut hooks)
            .unwrap_err();
        assert!(matches!(err, MergeError::Refused(r) if &*r.node == "f1"));
        assert!(n.member("b").is_none());
        assert_eq!(n.stats().merges_vetoed, 1);
        assert_eq!(
            hooks.contexts,
            vec![MergeContext {
                join: true,
                dialed: Some(peer_addr(2))
            }]
        );
    }

    #[test]
    fn a_refused_restart_into_another_pool_removes_the_member() {
        let mut n = node();
        with_peers(&mut n, &["f1", "f2"]);
        let mut hooks = Foreign::default();
        let feed_h = |n: &mut Node, hooks: &mut Foreign, a: Alive| {
            let mut b = Vec::new();
            Message::Alive(a).encode(&mut b);
            n.handle_packet(t(1), peer_addr(9), &b, hooks);
        };
        // Same incarnation (old gossip) or another address (another process): refused, kept.
        feed_h(&mut n, &mut hooks, alive("f1", 1, 2));
        feed_h(&mut n, &mut hooks, alive("f1", 7, 8));
        assert_eq!(seen(&n, "f1"), Some((State::Alive, 1)));
        assert!(events(&mut n).is_empty());
        assert_eq!(n.stats().alive_vetoed, 2);
        // Same address, newer incarnation: it restarted with another datacenter.
        n.broadcasts.reset();
        feed(&mut n, t(1), Message::Suspect(suspect("f1", 1, "f2")));
        assert_eq!(n.broadcasts.len(), 1);
        feed_h(&mut n, &mut hooks, alive("f1", 2, 2));
        assert!(n.member("f1").is_none());
        assert!(
            matches!(&events(&mut n)[..], [Event::Removed(m)] if &*m.name == "f1" && m.incarnation == 1)
        );
        assert!(
            n.broadcasts.is_empty(),
            "its suspicion is no longer gossiped"
        );
        assert_eq!(n.timers.keyed_len(), 0, "its suspicion timer is gone");
        assert!(n.member("f2").is_some());
        assert_eq!(n.stats().alive_vetoed, 3);
    }

    /// Test hooks: refuse members whose meta is `dc2`.
    struct Dc2Refused;

    impl Hooks for Dc2Refused {
        fn check_alive(&mut self, peer: &Peer) -> crate::hooks::Verdict {
            if &peer.meta[..] == b"dc2" {
                Err(crate::error::Refusal::new(peer.name.clone(), IsForeign))
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn old_records_of_a_member_removed_for_a_refusal_do_not_bring_it_back() {
        let mut n = node();
        let with_meta = |inc: u32, meta: &'static [u8]| Alive {
            meta: Some(Bytes::from_static(meta)),
            ..alive("x", inc, 3)
        };
        let give = |n: &mut Node, at: Instant, a: Alive| {
            let mut b = Vec::new();
            Message::Alive(a).encode(&mut b);
            n.handle_packet(at, peer_addr(2), &b, &mut Dc2Refused);
        };
        give(&mut n, t(0), with_meta(4, b"dc1"));
        assert_eq!(seen(&n, "x"), Some((State::Alive, 4)));
        events(&mut n);
        // x moved to dc2 (incarnation 5): removed.
        give(&mut n, t(10000), with_meta(5, b"dc2"));
        assert!(n.member("x").is_none());
        assert_eq!(events(&mut n).len(), 1);
        // Another member still gossips the record from before the move: ignored, for 60 s.
        give(&mut n, t(11000), with_meta(4, b"dc1"));
        give(&mut n, t(69000), with_meta(5, b"dc1"));
        assert!(n.member("x").is_none(), "an old record is not news");
        assert!(events(&mut n).is_empty());
        // A newer record (it moved back) is news at once.
        let mut back = node();
        give(&mut back, t(0), with_meta(4, b"dc1"));
        give(&mut back, t(10000), with_meta(5, b"dc2"));
        give(&mut back, t(12000), with_meta(6, b"dc1"));
        assert_eq!(seen(&back, "x"), Some((State::Alive, 6)));
        // And after 60 s the memory is gone.
        give(&mut n, t(70000), with_meta(4, b"dc1"));
        assert_eq!(seen(&n, "x"), Some((State::Alive, 4)));
    }

    mod merge_props {
        use proptest::prelude::*;

        use super::*;

        fn wire_state() -> impl Strategy<Value = WireState> {
            prop_oneof![
                Just(WireState::Alive),
                Just(WireState::Suspect),
                Just(WireState::Dead),
                Just(WireState::Left),
            ]
        }

        proptest! {
            /// However foreign and own entries mix in a push-pull that is not a join, the
            /// merge goes through; exactly the foreign entries are dropped (the alive ones
            /// also counted as refused alives), none of them enters the table, and every
            /// own alive entry does.
            #[test]
            fn foreign_entries_are_dropped_one_by_one(
                entries in proptest::collection::vec((any::<bool>(), wire_state(), 1u32..5), 0..24)
            ) {
                let mut n = node();
                let nodes: Vec<PushNodeState> = entries
                    .iter()
                    .enumerate()
                    .map(|(i, (foreign, state, inc))| {
                        let name = format!("{}{i}", if *foreign { 'f' } else { 'o' });
                        entry(&name, *inc, *state, (i + 2) as u8, VSN)
                    })
                    .collect();
                let mut hooks = Foreign::default();
                prop_assert!(n.merge_remote(t(0), &pp(false, nodes), None, None, &mut hooks).is_ok());
                let foreign = entries.iter().filter(|e| e.0).count() as u64;
                let foreign_alive =
                    entries.iter().filter(|e| e.0 && e.1 == WireState::Alive).count() as u64;
                let s = n.stats();
                prop_assert_eq!(s.entries_dropped, foreign);
                prop_assert_eq!(s.alive_vetoed, foreign_alive);
                prop_assert_eq!(s.merges_vetoed, 0);
                prop_assert!(n.members().all(|m| !m.name.starts_with('f')));
                for (i, (foreign, state, _)) in entries.iter().enumerate() {
                    if !foreign && *state == WireState::Alive {
                        let name = format!("o{i}");
                        prop_assert!(n.member(&name).is_some());
                    }
                }
            }
        }
    }
}
