//! Recording what the nodes report: the event-log hash, crash detections, false
//! positives and their causes, and the spread of news (joins, meta updates, deaths).

use super::*;

/// The facts of a member event the simulator records.
struct MemberView<'a> {
    name: &'a Name,
    state: State,
    incarnation: u32,
}

impl<C: SimCore> Sim<C> {
    pub(super) fn on_event(&mut self, observer: usize, e: C::Event) {
        match self.nodes[observer].node.observe(&e) {
            Observed::Member {
                kind,
                name,
                state,
                incarnation,
            } => self.member_event(observer, kind, &name, state, incarnation),
            Observed::JoinFinished { errors } => self.join_errors += errors as u64,
            Observed::LeaveFinished => self.queue.push(
                self.now,
                Ev::Shutdown {
                    node: observer as u32,
                },
            ),
            Observed::User { name, ltime } => {
                let h = &mut self.hash;
                h.write_u64(self.now.as_duration().as_nanos() as u64);
                h.write_u32(observer as u32);
                h.write(&[4]);
                h.write_u64(ltime);
                h.write(name.as_bytes());
                self.user_events.push((observer as u32, ltime, name));
            }
            Observed::Other => {}
        }
    }

    pub(super) fn member_event(
        &mut self,
        observer: usize,
        kind: u8,
        name: &Name,
        state: State,
        incarnation: u32,
    ) {
        let m = MemberView {
            name,
            state,
            incarnation,
        };
        let Some(mi) = self.index_of_name(m.name) else {
            self.violation(
                "unknown_member",
                format!("node {observer} reports unknown member {:?}", m.name),
            );
            return;
        };
        self.member_events += 1;
        let h = &mut self.hash;
        h.write_u64(self.now.as_duration().as_nanos() as u64);
        h.write_u32(observer as u32);
        h.write(&[kind, m.state as u8]);
        h.write(m.name.as_bytes());
        h.write_u32(m.incarnation);
        if let Some(prev) = self.incarnations.observe(observer, mi, m.incarnation) {
            self.violation(
                "incarnation_decreased",
                format!(
                    "node {observer} went from incarnation {prev} to {} for node {mi}",
                    m.incarnation
                ),
            );
        }
        match (kind, m.state) {
            (2, State::Dead) => self.on_dead(observer, mi, m.incarnation),
            (1 | 3, State::Alive) => {
                let Some(ids) = self.open.get(&(mi as u32)).cloned() else {
                    return;
                };
                for s in ids {
                    let hit = match self.spreads[s].kind {
                        SpreadKind::Join => kind == 1,
                        SpreadKind::Meta(inc) => m.incarnation >= inc,
                        SpreadKind::Dead(_) => false,
                    };
                    if hit {
                        self.mark_known(s, observer);
                    }
                }
            }
            _ => {}
        }
    }

    pub(super) fn on_dead(&mut self, observer: usize, member: usize, inc: u32) {
        let status = self.nodes[member].status;
        if status == Status::Crashed {
            let Some(ids) = self.open.get(&(member as u32)).cloned() else {
                return;
            };
            for s in ids {
                if let SpreadKind::Dead(c) = self.spreads[s].kind {
                    let crash = &mut self.crashes[c];
                    crash.first_dead.get_or_insert(self.now);
                    crash.first_suspect.get_or_insert(self.now);
                    self.mark_known(s, observer);
                }
            }
            return;
        }
        if status != Status::Running || self.nodes[member].leaving || !self.nodes[member].joined {
            return;
        }
        // A live, unpaused member declared dead: a false positive. Find its cause.
        let first = match self.episodes.get(&(member as u32)) {
            Some(&(i, first)) if i == inc => first,
            _ => {
                self.episodes.insert(member as u32, (inc, observer as u32));
                observer as u32
            }
        };
        let sn = &self.nodes[member];
        let cause = if sn.faulted {
            Some("the member was paused, partitioned or restarted".to_string())
        } else if sn.lossy || self.loss_ever {
            Some("packet loss".to_string())
        } else if self.nodes[first as usize].faulted {
            Some(format!(
                "first declared by node {first}, which was paused or partitioned"
            ))
        } else {
            None
        };
        self.fp_count += 1;
        self.fp_members.insert(member as u32);
        if cause.is_none() {
            self.fp_without_cause += 1;
            self.violation(
                "dead_without_cause",
                format!("node {observer} declared healthy node {member} (incarnation {inc}) dead"),
            );
        }
        if self.false_positives.len() < 1000 {
            self.false_positives.push(FalsePositive {
                time_s: at_s(self.now),
                observer,
                member,
                incarnation: inc,
                cause,
            });
        }
    }

    pub(super) fn look_for_suspicion(&mut self, observer: usize) {
        let now = self.now;
        let node = self.nodes[observer].node.swim();
        let names = &self.names;
        let crashes = &mut self.crashes;
        self.watch.retain(|&(c, ci)| {
            let seen = node
                .member(&names[c as usize])
                .is_some_and(|m| m.state != State::Alive);
            if seen {
                crashes[ci].first_suspect.get_or_insert(now);
            }
            !seen
        });
    }

    pub(super) fn open_spread(&mut self, kind: SpreadKind, member: u32) -> usize {
        let id = self.spreads.len();
        self.spreads
            .push(Spread::new(kind, member, self.now, self.nodes.len()));
        self.open.entry(member).or_default().push(id);
        id
    }

    pub(super) fn mark_known(&mut self, s: usize, observer: usize) {
        let sn = &self.nodes[observer];
        if !sn.joined || !sn.status.is_live() {
            return;
        }
        let sp = &mut self.spreads[s];
        if sp.done.is_none() && sp.known.set(observer) {
            sp.count += 1;
            self.check_spread(s);
        }
    }

    pub(super) fn check_spread(&mut self, s: usize) {
        let sp = &mut self.spreads[s];
        if sp.done.is_none() && sp.count >= self.live_count {
            sp.done = Some(self.now);
            let member = sp.member;
            if let Some(v) = self.open.get_mut(&member) {
                v.retain(|&x| x != s);
                if v.is_empty() {
                    self.open.remove(&member);
                }
            }
        }
    }

    pub(super) fn close_spreads_about(&mut self, member: u32) {
        self.open.remove(&member);
    }

    /// A joined node stops being live: it no longer counts toward any spread.
    pub(super) fn became_gone(&mut self, i: usize) {
        if !self.nodes[i].joined || !self.nodes[i].status.is_live() {
            return;
        }
        self.live_count -= 1;
        let ids: Vec<usize> = self.open.values().flatten().copied().collect();
        for s in &ids {
            let sp = &mut self.spreads[*s];
            if sp.known.get(i) {
                sp.count -= 1;
            }
        }
        for s in ids {
            self.check_spread(s);
        }
    }

    /// A joined node is live again (restarted): it must learn open joins and meta
    /// updates afresh; a crash that happened before it came (back) is not its to detect,
    /// since a fresh process never knew the crashed member.
    pub(super) fn became_live(&mut self, i: usize) {
        if !self.nodes[i].joined {
            return;
        }
        self.live_count += 1;
        self.newly_live(i);
    }

    /// Count node `i`, which just became live and joined, in the open spreads.
    pub(super) fn newly_live(&mut self, i: usize) {
        let ids: Vec<usize> = self.open.values().flatten().copied().collect();
        for s in ids {
            self.spreads[s].known.clear(i);
            if matches!(self.spreads[s].kind, SpreadKind::Dead(_)) {
                self.mark_known(s, i);
            }
        }
    }

    pub(super) fn violation(&mut self, kind: &str, detail: String) {
        tracing::warn!(kind, %detail, "invariant violated");
        self.violation_count += 1;
        if self.violations.len() < 1000 {
            self.violations.push(Violation {
                time_s: at_s(self.now),
                kind: kind.to_string(),
                detail,
            });
        }
    }
}
