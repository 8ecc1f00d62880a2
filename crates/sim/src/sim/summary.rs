//! Assembling the [`Report`] from the simulation's counters and records.

use super::*;

impl<C: SimCore> Sim<C> {
    /// The report of the run so far.
    pub fn report(&self) -> Report {
        let window = self.now.saturating_duration_since(self.window_start);
        let ws = secs(window).max(1e-9);
        let members = self.live_count.max(1) as f64;
        let mut traffic = Traffic {
            window_start_s: at_s(self.window_start),
            window_s: secs(window),
            ..Traffic::default()
        };
        let mut max_bytes = 0u64;
        for sn in &self.nodes {
            traffic.packets += sn.sent.packets;
            traffic.bytes += sn.sent.bytes;
            traffic.streams += sn.sent.streams;
            traffic.stream_bytes += sn.sent.stream_bytes;
            max_bytes = max_bytes.max(sn.sent.bytes);
        }
        traffic.packets_per_member_s = traffic.packets as f64 / members / ws;
        traffic.bytes_per_member_s = traffic.bytes as f64 / members / ws;
        traffic.streams_per_member_s = traffic.streams as f64 / members / ws;
        traffic.stream_bytes_per_member_s = traffic.stream_bytes as f64 / members / ws;
        traffic.max_member_bytes_s = max_bytes as f64 / ws;

        let delay =
            |t: Option<Instant>, from: Instant| t.map(|t| secs(t.saturating_duration_since(from)));
        let detections: Vec<Detection> = self
            .crashes
            .iter()
            .map(|c| Detection {
                node: c.node as usize,
                crashed_at_s: at_s(c.at),
                first_suspect_s: delay(c.first_suspect, c.at),
                first_dead_s: delay(c.first_dead, c.at),
                all_dead_s: delay(self.spreads[c.spread].done, c.at),
            })
            .collect();
        let col =
            |f: fn(&Detection) -> Option<f64>| detections.iter().filter_map(f).collect::<Vec<_>>();
        let detection_summary = DetectionSummary {
            first_suspect: Summary::of(&col(|d| d.first_suspect_s)),
            first_dead: Summary::of(&col(|d| d.first_dead_s)),
            all_dead: Summary::of(&col(|d| d.all_dead_s)),
            undetected: detections.iter().filter(|d| d.all_dead_s.is_none()).count(),
        };

        let mut joins = Vec::new();
        let mut metas = Vec::new();
        let mut list = Vec::new();
        let mut incomplete = 0;
        for sp in &self.spreads {
            let kind = match sp.kind {
                SpreadKind::Join => "join",
                SpreadKind::Meta(_) => "meta",
                SpreadKind::Dead(_) => continue,
            };
            let all = delay(sp.done, sp.start);
            match (kind, all) {
                ("join", Some(x)) => joins.push(x),
                (_, Some(x)) => metas.push(x),
                (_, None) => incomplete += 1,
            }
            if list.len() < 200 {
                list.push(Dissemination {
                    kind: kind.to_string(),
                    member: sp.member as usize,
                    started_s: at_s(sp.start),
                    all_s: all,
                });
            }
        }

        let mut protocol = self.carried.clone();
        for sn in &self.nodes {
            add_stats(&mut protocol, sn.node.swim());
        }
        protocol.join_errors = self.join_errors;

        Report {
            scenario: self.scenario.clone(),
            nodes: self.nodes.len(),
            seed: self.cfg.seed,
            profile: self.cfg.profile.as_str().to_string(),
            loss: self.net.loss,
            sim_time_s: at_s(self.now),
            event_log_hash: format!("{:016x}", self.hash.finish()),
            member_events: self.member_events,
            traffic,
            detections,
            detection_summary,
            false_positives: FalsePositives {
                count: self.fp_count,
                members: self.fp_members.len(),
                without_cause: self.fp_without_cause,
                list: self.false_positives.clone(),
            },
            dissemination: DisseminationReport {
                joins: Summary::of(&joins),
                metas: Summary::of(&metas),
                incomplete,
                list,
            },
            convergence: self.convergence.clone(),
            protocol,
            network: self.netstats.clone(),
            violations: self.violations.clone(),
            violation_count: self.violation_count,
            ok: self.violation_count == 0,
        }
    }

    /// The event-log hash so far.
    pub fn event_log_hash(&self) -> u64 {
        self.hash.finish()
    }
}

pub(super) fn add_stats(p: &mut ProtocolStats, node: &Node) {
    let s = node.stats();
    p.probes_ok += s.probes_ok;
    p.probes_failed += s.probes_failed;
    p.refutes += s.refutes;
    p.conflicts += s.conflicts;
    p.packets_undecodable += s.packets_dropped;
    p.streams_undecodable += s.streams_dropped;
}
