//! The invariant checks that need the whole simulation: incarnation scans over every
//! table (invariant 1) and view convergence (invariant 3) with its settle loop.

use super::*;

impl<C: SimCore> Sim<C> {
    /// Invariant 1 over every table: no observer shows a member at a lower incarnation
    /// than it showed before.
    pub(super) fn scan_incarnations(&mut self) {
        if !self.incarnations.is_enabled() {
            return;
        }
        let mut bad = Vec::new();
        for o in 0..self.nodes.len() {
            if self.nodes[o].status == Status::Crashed {
                continue;
            }
            for m in self.nodes[o].node.swim().members() {
                let Some(mi) = self.index_of_name(&m.name) else {
                    continue;
                };
                if let Some(prev) = self.incarnations.observe(o, mi, m.incarnation) {
                    bad.push((o, mi, prev, m.incarnation));
                }
            }
        }
        for (o, mi, prev, inc) in bad {
            self.violation(
                "incarnation_decreased",
                format!("node {o} went from incarnation {prev} to {inc} for node {mi}"),
            );
        }
    }

    /// Invariant 3: `None` if every live joined node sees every live joined node alive
    /// and every crashed or departed node dead, left or forgotten; else the first
    /// disagreement found.
    pub fn convergence_issue(&self) -> Option<String> {
        let gone: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].joined && !self.nodes[i].status.is_live())
            .collect();
        for (o, sn) in self.nodes.iter().enumerate() {
            if !sn.joined || !sn.status.is_live() {
                continue;
            }
            let alive = sn
                .node
                .swim()
                .members()
                .filter(|m| m.state == State::Alive)
                .count();
            for &g in &gone {
                if let Some(m) = sn.node.swim().member(&self.names[g]) {
                    if !m.state.is_gone() {
                        return Some(format!("node {o} sees departed node {g} as {:?}", m.state));
                    }
                }
            }
            if alive != self.live_count {
                let missing = (0..self.nodes.len()).find(|&j| {
                    self.nodes[j].joined
                        && self.nodes[j].status.is_live()
                        && sn.node.swim().member(&self.names[j]).map(|m| m.state)
                            != Some(State::Alive)
                });
                return Some(match missing {
                    Some(j) => {
                        let st = sn.node.swim().member(&self.names[j]).map(|m| m.state);
                        format!(
                            "node {o} sees live node {j} as {st:?} ({alive} of {} alive)",
                            self.live_count
                        )
                    }
                    None => format!(
                        "node {o} sees {alive} members alive, {} are live",
                        self.live_count
                    ),
                });
            }
        }
        None
    }

    /// Whether the views have converged (see [`Sim::convergence_issue`]).
    pub fn is_converged(&self) -> bool {
        self.convergence_issue().is_none()
    }

    /// Run until the views converge, checking at regular steps, for at most `limit`.
    /// Returns the time it took; if `limit` passes first, records a `not_converged`
    /// violation and returns `None`.
    pub fn settle(&mut self, label: &str, limit: Duration) -> Option<Duration> {
        let start = self.now;
        let end = start + limit;
        // The check costs O(n²) cheap steps; space it so it stays a small share of the run.
        let step =
            Duration::from_micros(500 * self.nodes.len() as u64).max(Duration::from_millis(100));
        loop {
            if self.is_converged() {
                let took = self.now.saturating_duration_since(start);
                self.convergence.push(Convergence {
                    label: label.to_string(),
                    started_s: at_s(start),
                    limit_s: secs(limit),
                    converged_after_s: Some(secs(took)),
                });
                return Some(took);
            }
            if self.now >= end {
                let issue = self.convergence_issue().unwrap_or_default();
                self.violation(
                    "not_converged",
                    format!("{label}: not converged after {:?}: {issue}", limit),
                );
                self.convergence.push(Convergence {
                    label: label.to_string(),
                    started_s: at_s(start),
                    limit_s: secs(limit),
                    converged_after_s: None,
                });
                return None;
            }
            let next = (self.now + step).min(end);
            self.run_until(next);
        }
    }
}
