//! Partitions between real hosts (network namespaces, see `support/netns.rs`), with every
//! agent on its defaults: a 3 | 3 split for 60 s, events and queries on both sides of it, and
//! the heal, which only Serf's reconnect (every 30 s) and push-pull (every 30 s) can bring.
//!
//! Needs root, `ip` and `nft`; otherwise each test prints why and passes without running.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    clippy::needless_range_loop,
    missing_docs
)]

mod support;

use std::time::{Duration, Instant};

use support::netns::Testbed;
use support::*;

fn testbed(label: &str, n: usize) -> Option<Testbed> {
    match Testbed::new(label, n) {
        Ok(tb) => Some(tb),
        Err(why) => {
            eprintln!("SKIPPED: cannot make network namespaces here: {why}");
            None
        }
    }
}

/// Every agent sees exactly `names`, all alive.
fn all_alive(tb: &Testbed, hosts: &[usize], names: &[String]) -> bool {
    hosts.iter().all(|&i| {
        let Some(ms) = tb.members(i) else {
            return false;
        };
        names
            .iter()
            .all(|n| ms.iter().any(|m| &m.0 == n && m.1 == "alive"))
    })
}

/// Forms a cluster of `n` rumor agents on their defaults, splits hosts `0..split` from the
/// rest for `hold`, heals, and returns (time until both sides saw the other failed, time from
/// the heal until all were alive everywhere). The heal must come within `heal_limit`.
fn partition_and_heal(label: &str, n: usize, split: usize, hold: Duration) -> (Duration, Duration) {
    let mut tb = testbed(label, n).expect("checked by the caller");
    let names: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
    let first = tb.hosts[0].gossip();
    for i in 0..n {
        let join = ["--join", first.as_str()];
        let extra: &[&str] = if i == 0 { &[] } else { &join };
        tb.start_rumor(i, &names[i], extra);
        if i == 0 {
            tb.wait_rpc(0);
        }
    }
    let hosts: Vec<usize> = (0..n).collect();
    eventually("all alive everywhere", Duration::from_secs(30), || {
        all_alive(&tb, &hosts, &names)
    });

    let a: Vec<usize> = (0..split).collect();
    let b: Vec<usize> = (split..n).collect();
    tb.partition(&a, &b);
    let cut = Instant::now();
    for &i in &hosts {
        for &j in &hosts {
            if (i < split) != (j < split) {
                eventually(
                    &format!("{} sees {} failed", names[i], names[j]),
                    hold,
                    || tb.status(i, &names[j]).as_deref() == Some("failed"),
                );
            }
        }
    }
    let detected = cut.elapsed();
    std::thread::sleep(hold.saturating_sub(cut.elapsed()));
    tb.heal();
    let healed = Instant::now();
    assert!(
        !all_alive(&tb, &hosts, &names),
        "healed at once, before any reconnect could run"
    );
    // Reconnect (30 s) plus a push-pull (30 s), plus gossip and polling slack.
    let limit = Duration::from_secs(30 + 30 + 10);
    eventually("all alive again everywhere", limit, || {
        all_alive(&tb, &hosts, &names)
    });
    let took = healed.elapsed();
    eprintln!("{label}: detected after {detected:?}, healed after {took:?}");
    (detected, took)
}

#[test]
fn a_two_two_partition_of_forty_seconds_heals() {
    if testbed_possible() {
        partition_and_heal("p22", 4, 2, Duration::from_secs(40));
    }
}

fn testbed_possible() -> bool {
    match support::netns::cannot_run() {
        None => true,
        Some(why) => {
            eprintln!("SKIPPED: cannot make network namespaces here: {why}");
            false
        }
    }
}

#[test]
fn a_three_three_partition_heals_within_reconnect_plus_push_pull() {
    let Some(mut tb) = testbed("part", 6) else {
        return;
    };
    let names: Vec<String> = (0..6).map(|i| format!("n{i}")).collect();
    let first = tb.hosts[0].gossip();
    for i in 0..6 {
        let join = ["--join", first.as_str()];
        let extra: &[&str] = if i == 0 { &[] } else { &join };
        tb.start_rumor(i, &names[i], extra);
        if i == 0 {
            tb.wait_rpc(0);
        }
    }
    let hosts: Vec<usize> = (0..6).collect();
    eventually("all six alive everywhere", Duration::from_secs(30), || {
        all_alive(&tb, &hosts, &names)
    });

    let (a, b) = ([0, 1, 2], [3, 4, 5]);
    tb.partition(&a, &b);
    let cut = Instant::now();
    for &i in &hosts {
        for &j in &hosts {
            if (i < 3) != (j < 3) {
                eventually(
                    &format!("{} sees {} failed", names[i], names[j]),
                    Duration::from_secs(40),
                    || tb.status(i, &names[j]).as_deref() == Some("failed"),
                );
            }
        }
    }
    let detected = cut.elapsed();
    eprintln!("both sides marked the other failed after {detected:?}");
    std::thread::sleep(Duration::from_secs(60).saturating_sub(cut.elapsed()));
    tb.heal();
    let healed = Instant::now();
    assert!(
        !all_alive(&tb, &hosts, &names),
        "healed at once, before any reconnect could run"
    );
    // Reconnect (30 s) plus a push-pull (30 s), plus gossip and polling slack.
    let limit = Duration::from_secs(30 + 30 + 10);
    eventually("all six alive again everywhere", limit, || {
        all_alive(&tb, &hosts, &names)
    });
    eprintln!("healed after {:?}", healed.elapsed());
}
