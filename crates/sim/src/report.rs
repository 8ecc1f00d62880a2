//! The JSON report of a run: detection times, false positives, traffic per member,
//! dissemination and convergence times, protocol counters, invariant violations, and the
//! event-log hash that proves two runs identical.
//!
//! Times are in seconds of virtual time, as `f64`.

use serde::{Deserialize, Serialize};

/// Everything a run measured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// Scenario name (empty for a hand-driven `Sim`).
    pub scenario: String,
    /// Number of nodes.
    pub nodes: usize,
    /// Master seed.
    pub seed: u64,
    /// memberlist profile.
    pub profile: String,
    /// Datagram loss at the end of the run.
    pub loss: f64,
    /// Virtual time at the end of the run.
    pub sim_time_s: f64,
    /// FNV-1a 64 of every member event (time, observer, kind, member, incarnation, state),
    /// as 16 hex digits. Same seed and code, same hash.
    pub event_log_hash: String,
    /// Number of member events hashed.
    pub member_events: u64,
    /// Traffic over the measurement window.
    pub traffic: Traffic,
    /// One entry per crash.
    pub detections: Vec<Detection>,
    /// Statistics over `detections`.
    pub detection_summary: DetectionSummary,
    /// Live, unpaused members declared dead.
    pub false_positives: FalsePositives,
    /// How fast joins and meta updates spread.
    pub dissemination: DisseminationReport,
    /// Each wait for convergence and how long it took.
    pub convergence: Vec<Convergence>,
    /// Protocol counters summed over all nodes.
    pub protocol: ProtocolStats,
    /// What the network did to datagrams and streams.
    pub network: NetworkStats,
    /// Invariant violations (at most 1000 listed).
    pub violations: Vec<Violation>,
    /// Number of violations, including unlisted ones.
    pub violation_count: u64,
    /// No invariant was violated.
    pub ok: bool,
}

/// Count, mean and quantiles of a set of durations, in seconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Mean.
    pub mean_s: f64,
    /// Median.
    pub p50_s: f64,
    /// 99th percentile (nearest rank).
    pub p99_s: f64,
    /// Largest.
    pub max_s: f64,
}

impl Summary {
    /// Summarise samples (in seconds).
    pub fn of(samples: &[f64]) -> Summary {
        if samples.is_empty() {
            return Summary::default();
        }
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let r = (q * v.len() as f64).ceil() as usize;
            v[r.clamp(1, v.len()) - 1]
        };
        Summary {
            count: v.len(),
            mean_s: v.iter().sum::<f64>() / v.len() as f64,
            p50_s: rank(0.5),
            p99_s: rank(0.99),
            max_s: v[v.len() - 1],
        }
    }
}

/// Messages and bytes sent, per member per second of the window, and in total.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Traffic {
    /// Start of the measurement window.
    pub window_start_s: f64,
    /// Length of the window.
    pub window_s: f64,
    /// Datagrams sent per member per second.
    pub packets_per_member_s: f64,
    /// Datagram bytes sent per member per second.
    pub bytes_per_member_s: f64,
    /// Streams opened per member per second.
    pub streams_per_member_s: f64,
    /// Stream bytes (requests and replies) sent per member per second.
    pub stream_bytes_per_member_s: f64,
    /// The busiest member's datagram bytes per second.
    pub max_member_bytes_s: f64,
    /// Datagrams sent in the window.
    pub packets: u64,
    /// Datagram bytes sent in the window.
    pub bytes: u64,
    /// Streams opened in the window.
    pub streams: u64,
    /// Stream bytes sent in the window.
    pub stream_bytes: u64,
}

/// How one crash was detected. Delays are from the crash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Detection {
    /// The crashed node.
    pub node: usize,
    /// When it crashed.
    pub crashed_at_s: f64,
    /// Until the first member suspected it.
    pub first_suspect_s: Option<f64>,
    /// Until the first member declared it dead.
    pub first_dead_s: Option<f64>,
    /// Until every live member had declared it dead.
    pub all_dead_s: Option<f64>,
}

/// Statistics over all detections.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DetectionSummary {
    /// Crash to first suspicion.
    pub first_suspect: Summary,
    /// Crash to first dead.
    pub first_dead: Summary,
    /// Crash to dead at every live member.
    pub all_dead: Summary,
    /// Crashes not declared dead by everyone by the end of the run.
    pub undetected: usize,
}

/// One member declared dead while it was live and not paused.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FalsePositive {
    /// When.
    pub time_s: f64,
    /// Who declared it.
    pub observer: usize,
    /// Who was declared dead.
    pub member: usize,
    /// The incarnation declared dead.
    pub incarnation: u32,
    /// What explains it (loss, a fault of the member or of the first accuser); `None`
    /// means nothing does, which is an invariant violation.
    pub cause: Option<String>,
}

/// All false positives.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FalsePositives {
    /// Number of (observer, member) dead declarations of a live, unpaused member.
    pub count: u64,
    /// Distinct members concerned.
    pub members: usize,
    /// How many had no cause (each is also a violation).
    pub without_cause: u64,
    /// The first 1000.
    pub list: Vec<FalsePositive>,
}

/// Time for one piece of news to reach every live member.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Dissemination {
    /// `join` or `meta`.
    pub kind: String,
    /// The member the news is about.
    pub member: usize,
    /// When it started (the join or set_meta call).
    pub started_s: f64,
    /// Until every live member knew; `None` if not by the end of the run.
    pub all_s: Option<f64>,
}

/// Dissemination statistics.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DisseminationReport {
    /// Joined node known by all.
    pub joins: Summary,
    /// Meta update known by all.
    pub metas: Summary,
    /// News that never reached everyone.
    pub incomplete: usize,
    /// The first 200 entries.
    pub list: Vec<Dissemination>,
}

/// One wait for every live member's view to agree with reality.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Convergence {
    /// What was awaited (`join`, `heal`, ...).
    pub label: String,
    /// When the wait started.
    pub started_s: f64,
    /// The settle-time bound.
    pub limit_s: f64,
    /// Time until converged; `None` if the bound passed first (a violation).
    pub converged_after_s: Option<f64>,
}

/// Protocol counters summed over all nodes (from `rumor_swim::Stats`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProtocolStats {
    /// Probes answered.
    pub probes_ok: u64,
    /// Probes that ended in a suspicion.
    pub probes_failed: u64,
    /// Accusations refuted.
    pub refutes: u64,
    /// Name conflicts.
    pub conflicts: u64,
    /// Datagrams that did not decode.
    pub packets_undecodable: u64,
    /// Streams that did not decode.
    pub streams_undecodable: u64,
    /// Join attempts that failed (per address).
    pub join_errors: u64,
}

/// What the network did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NetworkStats {
    /// Datagrams delivered to a running node.
    pub delivered: u64,
    /// Datagrams lost to random loss.
    pub lost: u64,
    /// Datagrams dropped by a partition.
    pub partitioned: u64,
    /// Datagrams that reached a crashed or stopped node.
    pub to_down_node: u64,
    /// Datagrams dropped because a paused node's buffer was full.
    pub buffer_overflow: u64,
    /// Datagrams to an address no node has.
    pub unroutable: u64,
    /// Streams that failed (unreachable peer or deadline).
    pub streams_failed: u64,
}

/// A broken invariant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Violation {
    /// When it was seen.
    pub time_s: f64,
    /// `incarnation_decreased`, `dead_without_cause` or `not_converged`.
    pub kind: String,
    /// What exactly.
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_quantiles() {
        let s = Summary::of(&[3.0, 1.0, 2.0, 4.0]);
        assert_eq!(s.count, 4);
        assert_eq!(s.p50_s, 2.0);
        assert_eq!(s.p99_s, 4.0);
        assert_eq!(s.max_s, 4.0);
        assert_eq!(s.mean_s, 2.5);
        assert_eq!(Summary::of(&[]).count, 0);
    }
}
