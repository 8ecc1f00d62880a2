//! Partitions between real hosts (network namespaces, see `support/netns.rs`), with every
//! agent on its defaults: a 2 | 2 split for 40 s, a 3 | 3 split for 60 s with user events and
//! queries sent on both sides of it, and the same 3 | 3 split in a cluster where half the
//! agents are real serf agents. Only Serf's reconnect (every 30 s) and push-pull (every 30 s)
//! can bring the heal.
//!
//! The `serf_only_*` test (ignored; `--ignored` runs it) measures Serf 0.9.4 alone on the same
//! testbed, for comparison.
//!
//! Needs root, `ip` and `nft`; otherwise each test prints why and passes without running.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::support::netns::Testbed;
use crate::support::*;

/// What runs on a host.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Rumor,
    Serf,
}

/// A formed cluster on a testbed: host `i` runs `kinds[i]`, named `names[i]`.
struct Cluster {
    tb: Testbed,
    names: Vec<String>,
    kinds: Vec<Kind>,
}

/// Memberlist's suspicion timeout floor for `n` members on LAN defaults (suspicion_mult 4,
/// probe interval 1 s): 4 × max(1, log10 n) s. No member can be declared failed sooner after
/// it stops answering.
fn min_suspicion(n: usize) -> Duration {
    Duration::from_secs_f64(4.0 * (n as f64).log10().max(1.0))
}

impl Cluster {
    /// Starts the agents (host 0 first, the others joining it) and waits until everyone sees
    /// everyone alive. `None` (after saying why) when namespaces cannot be made here.
    fn form(label: &str, kinds: &[Kind]) -> Option<Cluster> {
        let mut tb = match Testbed::new(label, kinds.len()) {
            Ok(tb) => tb,
            Err(why) => {
                eprintln!("SKIPPED: cannot make network namespaces here: {why}");
                return None;
            }
        };
        let names: Vec<String> = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| match k {
                Kind::Rumor => format!("r{i}"),
                Kind::Serf => format!("s{i}"),
            })
            .collect();
        let first = tb.hosts[0].gossip();
        for (i, k) in kinds.iter().enumerate() {
            match (k, i) {
                (Kind::Rumor, 0) => tb.start_rumor(0, &names[0], &[]),
                (Kind::Serf, 0) => tb.start_serf(0, &names[0], &[]),
                (Kind::Rumor, _) => tb.start_rumor(i, &names[i], &["--join", &first]),
                (Kind::Serf, _) => tb.start_serf(i, &names[i], &[&format!("-join={first}")]),
            }
            if i == 0 {
                tb.wait_rpc(0);
            }
        }
        let c = Cluster {
            tb,
            names,
            kinds: kinds.to_vec(),
        };
        eventually("all alive everywhere", Duration::from_secs(45), || {
            c.all_alive()
        });
        Some(c)
    }

    fn hosts(&self) -> std::ops::Range<usize> {
        0..self.names.len()
    }

    /// Every agent sees every agent alive.
    fn all_alive(&self) -> bool {
        self.hosts().all(|i| {
            let Some(ms) = self.tb.members(i) else {
                return false;
            };
            self.names
                .iter()
                .all(|n| ms.iter().any(|m| &m.0 == n && m.1 == "alive"))
        })
    }

    /// Cuts hosts `0..split` off from the rest and waits until every agent sees every agent
    /// of the other side failed (`limit` at most). Returns how long that took.
    fn split(&self, split: usize, limit: Duration) -> Duration {
        let a: Vec<usize> = (0..split).collect();
        let b: Vec<usize> = (split..self.names.len()).collect();
        self.tb.partition(&a, &b);
        let cut = Instant::now();
        for i in self.hosts() {
            for j in self.hosts() {
                if (i < split) != (j < split) {
                    eventually(
                        &format!("{} sees {} failed", self.names[i], self.names[j]),
                        limit.saturating_sub(cut.elapsed()),
                        || self.tb.status(i, &self.names[j]).as_deref() == Some("failed"),
                    );
                }
            }
        }
        let took = cut.elapsed();
        assert!(
            took >= min_suspicion(self.names.len()),
            "failed after {took:?}: sooner than any suspicion timeout allows"
        );
        // Each side keeps its own members alive.
        for i in self.hosts() {
            for j in self.hosts() {
                if (i < split) == (j < split) {
                    assert_eq!(
                        self.tb.status(i, &self.names[j]).as_deref(),
                        Some("alive"),
                        "{} about {} on its own side",
                        self.names[i],
                        self.names[j]
                    );
                }
            }
        }
        took
    }

    /// Heals the partition and waits until everyone sees everyone alive again, within the
    /// reconnect interval (30 s) plus a push-pull (30 s) plus gossip and polling slack.
    fn heal(&self) -> Duration {
        self.tb.heal();
        let healed = Instant::now();
        eventually(
            "all alive again everywhere",
            Duration::from_secs(30 + 30 + 10),
            || self.all_alive(),
        );
        healed.elapsed()
    }

    /// How many times host `i`'s agent delivered user event `name` to its handlers.
    fn delivered(&self, i: usize, name: &str) -> usize {
        let line = match self.kinds[i] {
            Kind::Rumor => format!("user event: {name}"),
            Kind::Serf => format!("Received event: user-event: {name}"),
        };
        self.tb
            .log(i)
            .lines()
            .filter(|l| l.ends_with(&line) || l.contains(&format!("{line} ")))
            .count()
    }

    /// Sends a query from host `i` (rumor CLI, 3 s timeout) and returns who acked it.
    fn query_acks(&self, i: usize, name: &str) -> BTreeSet<String> {
        let out = self
            .tb
            .cli(i, &["query", "--format", "json", "--timeout", "3s", name]);
        assert!(
            out.status.success(),
            "query {name} from {}: {}",
            self.names[i],
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        let acks: Vec<String> = serde_json::from_value(v["Acks"].clone()).unwrap_or_default();
        let n = acks.len();
        let set: BTreeSet<String> = acks.into_iter().collect();
        assert_eq!(set.len(), n, "an ack twice: {v}");
        set
    }

    /// Queries from host `i` until exactly `want` ack (a few tries: a query is best effort);
    /// no try may be acked by anyone outside `want`.
    fn query_until(&self, i: usize, name: &str, want: &BTreeSet<String>) {
        let mut last = BTreeSet::new();
        for _ in 0..6 {
            last = self.query_acks(i, name);
            assert!(
                last.is_subset(want),
                "query {name} from {} acked by {last:?}, beyond {want:?}",
                self.names[i]
            );
            if &last == want {
                return;
            }
        }
        panic!("query {name}: acked by {last:?}, want {want:?}");
    }

    fn side(&self, hosts: std::ops::Range<usize>) -> BTreeSet<String> {
        hosts.map(|i| self.names[i].clone()).collect()
    }

    /// How many member failures host `i`'s agent reported.
    fn failed_count(&self, i: usize) -> usize {
        match self.kinds[i] {
            Kind::Rumor => self.tb.log_count(i, "member-failed: "),
            Kind::Serf => self.tb.log_count(i, "EventMemberFailed: "),
        }
    }

    /// Every agent reported exactly the failures of the other side of a split at `split`:
    /// each of its members once, nobody of its own side.
    fn failures_across(&self, split: usize) {
        let n = self.names.len();
        for i in self.hosts() {
            let other = if i < split { n - split } else { split };
            assert_eq!(
                self.failed_count(i),
                other,
                "{}'s member-failed events",
                self.names[i]
            );
        }
    }
}

/// The partition run of every test: form, split at `split` for `hold`, heal; with events and
/// queries on both sides when `traffic`. Prints the times for the notes.
fn partition_run(label: &str, kinds: &[Kind], split: usize, hold: Duration, traffic: bool) {
    let Some(c) = Cluster::form(label, kinds) else {
        return;
    };
    let n = kinds.len();
    let before: Vec<usize> = c.hosts().map(|i| c.failed_count(i)).collect();
    assert!(before.iter().all(|&f| f == 0), "failures before the split");
    let start = Instant::now();
    let detected = c.split(split, Duration::from_secs(40));
    // Each failure was reported once, for the other side's members only.
    c.failures_across(split);
    let (a, b) = (0..split, split..n);
    if traffic {
        let (ea, eb) = (format!("{label}-ev-a"), format!("{label}-ev-b"));
        let out = c.tb.cli(0, &["event", &ea, "from-a"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = c.tb.cli(split, &["event", &eb, "from-b"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A query on each side is answered by exactly its side.
        c.query_until(1, &format!("{label}-q-a"), &c.side(a.clone()));
        c.query_until(split + 1, &format!("{label}-q-b"), &c.side(b.clone()));
    }
    std::thread::sleep(hold.saturating_sub(start.elapsed()));
    if traffic {
        // Nobody got the other side's event across the cut. (On its own side an event may
        // not have reached everyone yet: gossip also goes to members failed less than 30 s
        // ago, so a few of its transmissions are lost; push-pull, every 30 s, brings it.)
        let (ea, eb) = (format!("{label}-ev-a"), format!("{label}-ev-b"));
        for i in a.clone() {
            assert_eq!(
                c.delivered(i, &eb),
                0,
                "{} got b's event across the cut",
                c.names[i]
            );
        }
        for i in b.clone() {
            assert_eq!(
                c.delivered(i, &ea),
                0,
                "{} got a's event across the cut",
                c.names[i]
            );
        }
        let own: usize = a.clone().map(|i| c.delivered(i, &ea)).sum::<usize>()
            + b.clone().map(|i| c.delivered(i, &eb)).sum::<usize>();
        eprintln!("{label}: during the cut, {own} of {n} agents had their own side's event");
    }
    let healed = c.heal();
    eprintln!(
        "{label}: {kinds:?} split {split}|{}: each side saw the other failed after {detected:.1?}; \
         all alive again {healed:.1?} after the heal",
        n - split
    );
    if traffic {
        let (ea, eb) = (format!("{label}-ev-a"), format!("{label}-ev-b"));
        let t = Instant::now();
        // After the heal, push-pull (the reconnect's join, then every 30 s) carries each
        // side's recent events to the other: two rounds at most, with slack.
        eventually(
            "every event on every agent",
            Duration::from_secs(30 + 30 + 10),
            || {
                c.hosts()
                    .all(|i| c.delivered(i, &ea) >= 1 && c.delivered(i, &eb) >= 1)
            },
        );
        let spread = t.elapsed();
        // Give duplicates a chance to show: more push-pulls and gossip.
        std::thread::sleep(Duration::from_secs(5));
        for i in c.hosts() {
            assert_eq!(c.delivered(i, &ea), 1, "{}: {ea} delivered", c.names[i]);
            assert_eq!(c.delivered(i, &eb), 1, "{}: {eb} delivered", c.names[i]);
        }
        eprintln!(
            "{label}: both events on every agent, exactly once, {spread:.1?} after all were alive"
        );
        // And a query now reaches all.
        c.query_until(0, &format!("{label}-q-all"), &c.side(0..n));
    }
    // Nobody was marked failed but across the cut, and then only once.
    c.failures_across(split);
}

#[test]
fn a_two_two_partition_of_forty_seconds_heals() {
    partition_run("p22", &[Kind::Rumor; 4], 2, Duration::from_secs(40), false);
}

#[test]
fn a_three_three_partition_with_events_and_queries_on_both_sides_heals() {
    partition_run("p33", &[Kind::Rumor; 6], 3, Duration::from_secs(60), true);
}

#[test]
fn a_mixed_cluster_with_serf_agents_survives_the_partition_and_heals() {
    use Kind::*;
    partition_run(
        "mix",
        &[Rumor, Serf, Rumor, Serf, Rumor, Serf],
        3,
        Duration::from_secs(60),
        true,
    );
}

/// Serf alone, for comparison (`cargo test -p rumor --test faults serf_only -- --ignored`).
#[test]
#[ignore]
fn serf_only_the_same_partitions() {
    partition_run("s22", &[Kind::Serf; 4], 2, Duration::from_secs(40), false);
    partition_run("s33", &[Kind::Serf; 6], 3, Duration::from_secs(60), true);
}
