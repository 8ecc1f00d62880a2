//! Fault injection and commands: applying an [`Action`] to the simulation, and the
//! convenience methods that apply one now.

use super::*;

impl<C: SimCore> Sim<C> {
    /// Crash node `i` now.
    pub fn crash(&mut self, i: usize) {
        self.act(Action::Crash(i));
    }

    /// Pause node `i` now for `d`.
    pub fn pause(&mut self, i: usize, d: Duration) {
        self.act(Action::Pause {
            node: i,
            duration: d,
        });
    }

    /// Partition now (see [`Action::Partition`]).
    pub fn partition(&mut self, groups: Vec<Vec<usize>>) {
        self.act(Action::Partition(groups));
    }

    /// End the partition now.
    pub fn heal(&mut self) {
        self.act(Action::Heal);
    }

    /// Set the datagram loss of every link now.
    pub fn set_loss(&mut self, p: f64) {
        self.act(Action::SetLoss(p));
    }

    /// Node `i` leaves now.
    pub fn leave(&mut self, i: usize) {
        self.act(Action::Leave(i));
    }

    /// Node `i` changes its meta now.
    pub fn set_meta(&mut self, i: usize, meta: Bytes) {
        self.act(Action::SetMeta { node: i, meta });
    }

    /// Node `i` sends a user event now.
    pub fn user_event(&mut self, i: usize, name: &str, payload: Bytes) {
        self.act(Action::UserEvent {
            node: i,
            name: name.to_string(),
            payload,
        });
    }

    /// Restart crashed node `i` now and join it through `seeds`.
    pub fn restart(&mut self, i: usize, seeds: Vec<usize>) {
        self.act(Action::Restart { node: i, seeds });
    }

    /// Runs `f` on node `i`'s core now, as a command of its embedder (say, a new guard),
    /// then handles what the core produced as after any input. Only a running node takes
    /// commands: for any other (or an index out of range) `f` is not run and this returns
    /// `None`. Deterministic like every input: `f` is given the virtual time.
    pub fn call<R>(&mut self, i: usize, f: impl FnOnce(&mut C, Instant) -> R) -> Option<R> {
        if i >= self.nodes.len() || self.nodes[i].status != Status::Running {
            return None;
        }
        let now = self.now;
        let r = f(&mut self.nodes[i].node, now);
        self.after_input(i);
        Some(r)
    }

    pub(super) fn act(&mut self, action: Action) {
        let now = self.now;
        let n = self.nodes.len();
        match action {
            Action::Join { node, seeds } => {
                if node >= n || !self.nodes[node].status.is_live() {
                    return;
                }
                if !self.nodes[node].joined {
                    self.nodes[node].joined = true;
                    self.live_count += 1;
                    self.newly_live(node);
                }
                if !seeds.is_empty() {
                    let s = self.open_spread(SpreadKind::Join, node as u32);
                    self.mark_known(s, node);
                }
                let addrs: Vec<_> = seeds
                    .iter()
                    .filter(|&&s| s < n)
                    .map(|&s| addr_of(s))
                    .collect();
                let _ = self.nodes[node].node.join(now, &addrs);
                self.after_input(node);
            }
            Action::Crash(i) => {
                if i >= n || !self.nodes[i].status.is_live() {
                    return;
                }
                self.became_gone(i);
                self.nodes[i].status = Status::Crashed;
                self.inbox.remove(&(i as u32));
                if self.nodes[i].joined {
                    let spread = self.open_spread(SpreadKind::Dead(self.crashes.len()), i as u32);
                    self.watch.push((i as u32, self.crashes.len()));
                    self.crashes.push(Crash {
                        node: i as u32,
                        at: now,
                        first_suspect: None,
                        first_dead: None,
                        spread,
                    });
                }
            }
            Action::Restart { node, seeds } => {
                if node >= n || self.nodes[node].status != Status::Crashed {
                    return;
                }
                let restarts = self.nodes[node].restarts + 1;
                let fresh = match self.make_node(node, restarts) {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(node, error = %e, "restart failed");
                        return;
                    }
                };
                let old = std::mem::replace(&mut self.nodes[node].node, fresh);
                add_stats(&mut self.carried, old.swim());
                drop(old);
                self.watch.retain(|&(c, _)| c as usize != node);
                self.close_spreads_about(node as u32);
                self.incarnations.forget(node);
                self.episodes.remove(&(node as u32));
                let sn = &mut self.nodes[node];
                sn.status = Status::Running;
                sn.restarts = restarts;
                sn.faulted = true;
                sn.wake_at = None;
                sn.token = sn.token.wrapping_add(1);
                self.became_live(node);
                self.after_input(node);
                self.act(Action::Join { node, seeds });
            }
            Action::Pause { node, duration } => {
                if node >= n || self.nodes[node].status != Status::Running {
                    return;
                }
                let until = now + duration;
                self.nodes[node].status = Status::Paused { until };
                self.nodes[node].faulted = true;
                self.queue.push(until, Ev::Resume { node: node as u32 });
            }
            Action::Partition(groups) => {
                self.net.partition(n, &groups);
                for sn in &mut self.nodes {
                    sn.faulted = true;
                }
            }
            Action::Heal => self.net.heal(),
            Action::SetLoss(p) => {
                self.net.loss = p.clamp(0.0, 1.0);
                if p > 0.0 {
                    self.loss_ever = true;
                }
            }
            Action::SetNodeLoss { node, loss } => {
                if node >= n {
                    return;
                }
                self.net.set_node_loss(n, node, loss);
                if loss > 0.0 {
                    self.nodes[node].lossy = true;
                }
            }
            Action::Leave(i) => {
                if i >= n || self.nodes[i].status != Status::Running || self.nodes[i].leaving {
                    return;
                }
                self.nodes[i].leaving = true;
                self.nodes[i].node.leave(now);
                self.after_input(i);
                self.queue.push(
                    now + self.cfg.leave_timeout,
                    Ev::Shutdown { node: i as u32 },
                );
            }
            Action::SetMeta { node, meta } => {
                if node >= n || self.nodes[node].status != Status::Running {
                    return;
                }
                if let Err(e) = self.nodes[node].node.set_meta(now, meta) {
                    tracing::warn!(node, error = %e, "set_meta refused");
                    return;
                }
                let inc = self.nodes[node].node.swim().incarnation();
                let s = self.open_spread(SpreadKind::Meta(inc), node as u32);
                self.mark_known(s, node);
                self.after_input(node);
            }
            Action::UserEvent {
                node,
                name,
                payload,
            } => {
                if node >= n || self.nodes[node].status != Status::Running {
                    return;
                }
                if let Err(e) = self.nodes[node].node.user_event(now, &name, payload) {
                    tracing::warn!(node, error = %e, "user event refused");
                    return;
                }
                self.after_input(node);
            }
        }
    }
}
