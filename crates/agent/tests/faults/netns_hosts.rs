//! Faults of single hosts on real hosts (network namespaces, see `support/netns.rs`), every
//! agent on its defaults (LAN profile: probe every 1 s, suspicion multiplier 4, a fresh
//! suspicion lasting up to 6 times its minimum, Lifeguard awareness up to 8):
//!
//! - 10% loss of what every host receives, for 3 minutes: nobody is marked failed;
//! - one host hears only half of what is sent to it: nobody is marked failed, and that host's
//!   Lifeguard health score rises;
//! - an agent stopped (SIGSTOP) for 3 s is not marked failed; one stopped for longer than any
//!   suspicion is, within the bounds the suspicion formula gives, and refutes on waking;
//! - an agent killed with -9 and started again with its snapshot and no `--join` rejoins.
//!
//! Each test prints (`eprintln!`) the times it measured. Needs root, `ip` and `nft`; otherwise
//! each test prints why and passes without running.
//!
//! "Nobody is marked failed" means no live member is marked failed by any observer. With
//! memberlist's rule (a refutation sent `RetransmitMult * ceil(log10(n + 1))` times by each
//! member that hears it, like any broadcast) now and then one observer misses every copy
//! and declares the refuted member dead: measured with 3 s pauses of one of 8 agents (the
//! ignored `measure_short_pauses_*` tests), real serf 1 pause of 60, rumor before the fix 2
//! of 91, the simulator 29 of 600. rumor sends refutations twice as often
//! (`refute_retransmit_factor`), which takes the simulator to 0 of 600
//! (crates/sim/tests/pause.rs), so here none is allowed.

use std::time::{Duration, Instant};

use crate::support::netns::Testbed;
use crate::support::*;

/// LAN defaults (`rumor_swim::Config::lan`), which the bounds below follow from.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
const SUSPICION_MULT: u32 = 4;
const SUSPICION_MAX_MULT: u32 = 6;

/// memberlist's minimum suspicion timeout: `mult * max(1, log10(n)) * probe_interval`.
fn suspicion_min(n: usize) -> Duration {
    let scale = (n as f64).log10().max(1.0);
    PROBE_INTERVAL.mul_f64(f64::from(SUSPICION_MULT) * scale)
}

fn testbed(label: &str, n: usize) -> Option<Testbed> {
    match Testbed::new(label, n) {
        Ok(tb) => Some(tb),
        Err(why) => {
            eprintln!("SKIPPED: cannot make network namespaces here: {why}");
            None
        }
    }
}

/// Starts `n` agents named `n0..`, each but the first joining the first, with `extra[i]`
/// added to agent `i`'s arguments, and waits until all see all alive.
fn cluster(tb: &mut Testbed, n: usize, extra: &[Vec<String>]) -> Vec<String> {
    let names: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
    let first = tb.hosts[0].gossip();
    for i in 0..n {
        let mut args: Vec<String> = extra.get(i).cloned().unwrap_or_default();
        if i > 0 {
            args.extend(["--join".to_string(), first.clone()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tb.start_rumor(i, &names[i], &args);
        if i == 0 {
            tb.wait_rpc(0);
        }
    }
    let hosts: Vec<usize> = (0..n).collect();
    eventually("all alive everywhere", Duration::from_secs(30), || {
        all_alive(tb, &hosts, &names)
    });
    names
}

/// Every agent of `hosts` sees every one of `names` alive.
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

/// The members host `i`'s agent logged as failed (`member-failed: NAME`), in order.
fn failed_in_log(tb: &Testbed, i: usize) -> Vec<String> {
    tb.log(i)
        .lines()
        .filter_map(|l| {
            let rest = l.split("member-failed: ").nth(1)?;
            Some(rest.split_whitespace().next().unwrap_or("").to_string())
        })
        .collect()
}

/// Every (observer, failed member) pair logged by the agents of `hosts`.
fn all_failures(tb: &Testbed, hosts: &[usize], names: &[String]) -> Vec<(String, String)> {
    hosts
        .iter()
        .flat_map(|&i| {
            failed_in_log(tb, i)
                .into_iter()
                .map(move |f| (names[i].clone(), f))
        })
        .collect()
}

/// The false failures among `failures` (observer, member), leaving out `except` (a member
/// that really was unreachable): fails if there is any; returns how many (0).
fn false_failures(what: &str, failures: &[(String, String)], except: Option<&str>) -> usize {
    let wrong: Vec<&(String, String)> = failures
        .iter()
        .filter(|f| Some(f.1.as_str()) != except)
        .collect();
    assert!(
        wrong.is_empty(),
        "{what}: live members marked failed (observer, member): {wrong:?}"
    );
    0
}

/// A push-pull period (30 s for fewer than 33 members) and some slack: the bound for a
/// member that missed a refutation to learn better.
const PUSH_PULL_BOUND: Duration = Duration::from_secs(40);

/// Suspicions host `i`'s agent raised itself (a probe failed).
fn suspicions(tb: &Testbed, i: usize) -> usize {
    tb.log_count(i, "probe failed, suspecting")
}

/// Suspicions of `name` host `i`'s agent raised itself.
fn suspicions_of(tb: &Testbed, i: usize, name: &str) -> usize {
    let what = format!("probe failed, suspecting node={name}");
    tb.log(i)
        .lines()
        .filter(|l| {
            l.contains(&what)
                && l.split(&what)
                    .nth(1)
                    .is_some_and(|r| !r.starts_with(|c: char| c.is_alphanumeric()))
        })
        .count()
}

/// The incarnations host `i`'s agent took to refute accusations, in order.
fn refutations(tb: &Testbed, i: usize) -> Vec<u32> {
    tb.log(i)
        .lines()
        .filter(|l| l.contains("refuting an accusation about us"))
        .filter_map(|l| {
            let v = l.split(" incarnation=").nth(1)?;
            v.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
        })
        .collect()
}

/// Key `key` of the `rumor info` output of host `i` (`\tkey = value` lines).
fn info_value(tb: &Testbed, i: usize, key: &str) -> Option<u64> {
    tb.info(i).lines().find_map(|l| {
        let (k, v) = l.trim().split_once(" = ")?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[test]
fn ten_percent_loss_everywhere_for_three_minutes_fails_nobody() {
    let n = 8;
    let Some(mut tb) = testbed("loss", n) else {
        return;
    };
    let names = cluster(&mut tb, n, &[]);
    let hosts: Vec<usize> = (0..n).collect();
    let before: Vec<u64> = hosts
        .iter()
        .map(|&i| info_value(&tb, i, "packets_in").unwrap_or(0))
        .collect();
    for &i in &hosts {
        tb.loss_in(i, 10);
    }
    let hold = Duration::from_secs(180);
    let start = Instant::now();
    let mut not_all_alive = 0;
    let mut polls = 0;
    while start.elapsed() < hold {
        std::thread::sleep(Duration::from_secs(10).min(hold.saturating_sub(start.elapsed())));
        polls += 1;
        if !all_alive(&tb, &hosts, &names) {
            not_all_alive += 1;
        }
        false_failures(
            &format!("10% loss, after {:?}", start.elapsed()),
            &all_failures(&tb, &hosts, &names),
            None,
        );
    }
    let dropped: Vec<u64> = hosts.iter().map(|&i| tb.dropped(i)).collect();
    let received: Vec<u64> = hosts
        .iter()
        .map(|&i| info_value(&tb, i, "packets_in").unwrap_or(0) - before[i])
        .collect();
    tb.heal();
    let susp: Vec<usize> = hosts.iter().map(|&i| suspicions(&tb, i)).collect();
    let refutes: Vec<usize> = hosts.iter().map(|&i| refutations(&tb, i).len()).collect();
    // A probe fails only when the ping or its ack is lost (19%) and so is every one of the
    // 3 indirect paths (4 packets each: 34%) and the TCP ping: well under 1% of the
    // 8 x 180 probes. Without indirect probes it would be a fifth of them.
    let total_susp: usize = susp.iter().sum();
    let probes = n * hold.as_secs() as usize;
    assert!(
        total_susp <= probes / 50,
        "{total_susp} failed probes of about {probes} under 10% loss"
    );
    let failures = all_failures(&tb, &hosts, &names);
    let false_count = false_failures("10% loss", &failures, None);
    eprintln!(
        "10% loss x{n} for {hold:?}: false failures {false_count} {failures:?}; suspicions raised per agent {susp:?} \
         (total {}); refutations per agent {refutes:?}; polls with someone not alive somewhere \
         {not_all_alive}/{polls}; nft dropped {dropped:?}; UDP packets the agents received \
         meanwhile {received:?}",
        susp.iter().sum::<usize>()
    );
    for &i in &hosts {
        // 10% of what arrives is dropped: about a ninth of what gets through (UDP alone; the
        // drops count TCP too). Half that is a safe lower bound, and at least one packet a
        // second reaches every agent (the probes of the others, the acks of its own).
        assert!(dropped[i] > 0, "nft dropped nothing at {}", names[i]);
        let floor = (received[i] / 18).max(hold.as_secs() / 20);
        assert!(
            dropped[i] >= floor,
            "{} dropped only {} packets of {} received (expected at least {floor})",
            names[i],
            dropped[i],
            received[i]
        );
    }
    eventually(
        "all alive everywhere after the loss",
        PUSH_PULL_BOUND,
        || all_alive(&tb, &hosts, &names),
    );
}

#[test]
fn a_host_that_hears_half_is_not_failed_and_its_health_score_rises() {
    let n = 8;
    let lossy = 5;
    let healthy = 2;
    let Some(mut tb) = testbed("oneway", n) else {
        return;
    };
    let names = cluster(&mut tb, n, &[]);
    let hosts: Vec<usize> = (0..n).collect();
    tb.loss_in(lossy, 50);
    let hold = Duration::from_secs(90);
    let start = Instant::now();
    let (mut max_lossy, mut max_healthy) = (0u64, 0u64);
    let (mut sum_lossy, mut samples) = (0u64, 0u64);
    let mut unreadable = 0;
    while start.elapsed() < hold {
        match info_value(&tb, lossy, "health_score") {
            Some(h) => {
                max_lossy = max_lossy.max(h);
                sum_lossy += h;
                samples += 1;
            }
            None => unreadable += 1,
        }
        if let Some(h) = info_value(&tb, healthy, "health_score") {
            max_healthy = max_healthy.max(h);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let dropped = tb.dropped(lossy);
    tb.heal();
    let failures = all_failures(&tb, &hosts, &names);
    let false_count = false_failures("one-way loss", &failures, None);
    let susp: Vec<usize> = hosts.iter().map(|&i| suspicions(&tb, i)).collect();
    let refutes = refutations(&tb, lossy).len();
    eprintln!(
        "one-way 50% loss into {} for {hold:?}: false failures {false_count} {failures:?}; health_score max {max_lossy} \
         (mean {:.2} over {samples} samples, {unreadable} unreadable) on the lossy host, max \
         {max_healthy} on healthy {}; suspicions raised per agent {susp:?}; the lossy host \
         refuted {refutes} times; nft dropped {dropped} packets",
        names[lossy],
        sum_lossy as f64 / samples.max(1) as f64,
        names[healthy]
    );
    assert!(dropped > 0, "nft dropped nothing at the lossy host");
    assert!(samples > 0, "never read the lossy host's health score");
    assert!(
        max_lossy > 0,
        "the lossy host's health score never rose ({samples} samples)"
    );
    eventually(
        "all alive everywhere after the loss",
        PUSH_PULL_BOUND,
        || all_alive(&tb, &hosts, &names),
    );
}

#[test]
fn a_short_pause_fails_nobody_and_a_long_one_is_detected_and_refuted() {
    let n = 8;
    let p = 3;
    let Some(mut tb) = testbed("pause", n) else {
        return;
    };
    let names = cluster(&mut tb, n, &[]);
    let hosts: Vec<usize> = (0..n).collect();
    let others: Vec<usize> = hosts.iter().copied().filter(|&i| i != p).collect();

    // 3 s: shorter than the shortest suspicion (4 s for 8 members), so the refutation on
    // waking comes first. Three times, 10 s apart: one pause may go unprobed.
    let short = Duration::from_secs(3);
    let mut per_pause = Vec::new();
    for _ in 0..3 {
        let before = all_failures(&tb, &hosts, &names).len();
        tb.pause(p);
        std::thread::sleep(short);
        tb.resume(p);
        std::thread::sleep(Duration::from_secs(10));
        per_pause.push(all_failures(&tb, &hosts, &names).len() - before);
    }
    let failures = all_failures(&tb, &hosts, &names);
    let refuted_short = refutations(&tb, p);
    let susp_short: usize = others
        .iter()
        .map(|&i| suspicions_of(&tb, i, &names[p]))
        .sum();
    eprintln!(
        "3 pauses of {short:?}: false failures per pause {per_pause:?} {failures:?}; the \
         others raised {susp_short} suspicions of it; {} refuted {} times (incarnations \
         {refuted_short:?})",
        names[p],
        refuted_short.len()
    );
    false_failures(&format!("{short:?} pauses"), &failures, None);
    let short_failures = failures.len();
    eventually(
        "all alive everywhere after the short pauses",
        PUSH_PULL_BOUND,
        || all_alive(&tb, &hosts, &names),
    );

    // Long: past any suspicion. Nobody may declare it before the minimum suspicion (which
    // starts at the earliest with the pause); all must within a probe round of the others
    // (n - 1 probes), the failed probe, the longest suspicion (6 x min, no confirmation)
    // and a few seconds of gossip.
    let min = suspicion_min(n);
    let upper = PROBE_INTERVAL * (n as u32 - 1)
        + PROBE_INTERVAL
        + min * SUSPICION_MAX_MULT
        + Duration::from_secs(3);
    let hold = Duration::from_secs(30);
    tb.pause(p);
    let t0 = Instant::now();
    let mut first: Option<Duration> = None;
    let mut seen = vec![false; n];
    loop {
        for &i in &others {
            if !seen[i] && tb.status(i, &names[p]).as_deref() == Some("failed") {
                seen[i] = true;
                first.get_or_insert(t0.elapsed());
            }
        }
        if others.iter().all(|&i| seen[i]) {
            break;
        }
        assert!(
            t0.elapsed() < upper,
            "after {upper:?} only {:?} saw {} failed",
            others
                .iter()
                .filter(|&&i| seen[i])
                .map(|&i| &names[i])
                .collect::<Vec<_>>(),
            names[p]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let all_seen = t0.elapsed();
    let first = first.unwrap();
    std::thread::sleep(hold.saturating_sub(t0.elapsed()));
    let before = refutations(&tb, p);
    tb.resume(p);
    let woke = Instant::now();
    // Its refutation reaches the others at once; one of them may miss it and learn at its
    // next push-pull (see the top of the file).
    let mut most: Option<Duration> = None;
    loop {
        let alive = others
            .iter()
            .filter(|&&i| tb.status(i, &names[p]).as_deref() == Some("alive"))
            .count();
        if alive + 1 >= others.len() {
            most.get_or_insert(woke.elapsed());
        }
        if alive == others.len() && all_alive(&tb, &hosts, &names) {
            break;
        }
        assert!(
            woke.elapsed() < PUSH_PULL_BOUND,
            "{} not alive everywhere {PUSH_PULL_BOUND:?} after resuming ({alive} of {} see it)",
            names[p],
            others.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let healed = woke.elapsed();
    let most = most.unwrap();
    let paused_for = woke - t0;
    let after = refutations(&tb, p);
    let failures = all_failures(&tb, &hosts, &names);
    let long_failures = failures.len() - short_failures;
    eprintln!(
        "pause {paused_for:?}: first saw it failed after {first:?}, all {} others after \
         {all_seen:?} (bounds {min:?}..{upper:?}); after resuming all but one saw it alive \
         after {most:?}, all alive everywhere after {healed:?}; its refutations before \
         {before:?}, after {after:?}; suspicions of it raised by the others in all {}; \
         member-failed lines of the long pause {long_failures} (all: {failures:?})",
        others.len(),
        others
            .iter()
            .map(|&i| suspicions_of(&tb, i, &names[p]))
            .sum::<usize>()
    );
    assert!(
        first >= min,
        "{} was declared failed after {first:?}, before the minimum suspicion {min:?}",
        names[p]
    );
    let others_failed = false_failures("the long pause", &failures, Some(&names[p]));
    eprintln!("false failures of other members: {others_failed}");
    assert!(
        most <= Duration::from_secs(5),
        "its refutation took {most:?} to reach all but one of the others"
    );
    let last_before = before.iter().copied().max().unwrap_or(0);
    assert!(
        after.len() > before.len() && after.iter().copied().max().unwrap_or(0) > last_before,
        "{} came back without refuting at a higher incarnation (before {before:?}, after {after:?})",
        names[p]
    );
}

#[test]
fn a_killed_agent_restarted_with_its_snapshot_and_no_join_rejoins() {
    let n = 5;
    let k = 4;
    let Some(mut tb) = testbed("snap", n) else {
        return;
    };
    let snap = tb.file("s.snap").to_string_lossy().into_owned();
    let mut extra = vec![Vec::new(); n];
    extra[k] = vec!["--snapshot".to_string(), snap.clone()];
    let names = cluster(&mut tb, n, &extra);
    let hosts: Vec<usize> = (0..n).collect();
    let others: Vec<usize> = hosts.iter().copied().filter(|&i| i != k).collect();
    // The snapshot is flushed at least every 500 ms.
    std::thread::sleep(Duration::from_secs(2));
    let recorded = std::fs::read_to_string(&snap).unwrap_or_default();
    assert!(
        recorded.lines().any(|l| l.starts_with("alive: n0 ")),
        "the snapshot did not record the members:\n{recorded}"
    );

    tb.kill9(k);
    let killed = Instant::now();
    let upper = PROBE_INTERVAL * (n as u32 - 1)
        + PROBE_INTERVAL
        + suspicion_min(n) * SUSPICION_MAX_MULT
        + Duration::from_secs(3);
    eventually("the others see it failed", upper, || {
        others
            .iter()
            .all(|&i| tb.status(i, &names[k]).as_deref() == Some("failed"))
    });
    let detected = killed.elapsed();

    tb.restart_with(k, &["--snapshot", &snap]);
    let restarted = Instant::now();
    // Well inside the others' reconnect interval (30 s), which could bring it back too.
    eventually(
        "the restarted agent and the others see each other alive",
        Duration::from_secs(10),
        || all_alive(&tb, &hosts, &names),
    );
    let rejoined = restarted.elapsed();
    let log = tb.log(k);
    let via_snapshot = log.contains("Re-joined to previously known node");
    eprintln!(
        "kill -9 of {}: the others saw it failed after {detected:?} (bound {upper:?}); \
         restarted with its snapshot and no --join, alive everywhere after {rejoined:?}; \
         rejoin line in its log: {via_snapshot}",
        names[k]
    );
    assert!(
        via_snapshot,
        "the restarted agent did not rejoin through its snapshot"
    );
    let failures = all_failures(&tb, &hosts, &names);
    let others_failed = false_failures("kill -9", &failures, Some(&names[k]));
    eprintln!("false failures of other members: {others_failed}");
}

/// Repeats 3 s pauses of one of 8 agents (`RUMOR_PAUSES` times, 40 by default), rumor or the
/// real serf, and counts the members marked failed: the measurement behind the note on
/// missed refutations. Run by hand: `cargo test -p rumor --test faults_hosts -- --ignored`.
fn repeated_short_pauses(serf: bool) {
    let n = 8;
    let p = 3;
    let label = if serf { "cmps" } else { "cmpr" };
    let Some(mut tb) = testbed(label, n) else {
        return;
    };
    let names: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
    let first = tb.hosts[0].gossip();
    for i in 0..n {
        if serf {
            let join = format!("-join={first}");
            let extra: Vec<&str> = if i == 0 { vec![] } else { vec![join.as_str()] };
            tb.start_serf(i, &names[i], &extra);
        } else {
            let extra: Vec<&str> = if i == 0 {
                vec![]
            } else {
                vec!["--join", first.as_str()]
            };
            tb.start_rumor(i, &names[i], &extra);
        }
        if i == 0 {
            tb.wait_rpc(0);
        }
    }
    let hosts: Vec<usize> = (0..n).collect();
    eventually("all alive everywhere", Duration::from_secs(30), || {
        all_alive(&tb, &hosts, &names)
    });
    let pauses: usize = std::env::var("RUMOR_PAUSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let marker = if serf {
        "EventMemberFailed: "
    } else {
        "member-failed: "
    };
    let count = |tb: &Testbed| -> usize { hosts.iter().map(|&i| tb.log_count(i, marker)).sum() };
    let mut per_pause = Vec::new();
    for _ in 0..pauses {
        let before = count(&tb);
        tb.pause(p);
        std::thread::sleep(Duration::from_secs(3));
        tb.resume(p);
        std::thread::sleep(Duration::from_secs(10));
        per_pause.push(count(&tb) - before);
    }
    let bad = per_pause.iter().filter(|&&c| c > 0).count();
    eprintln!(
        "{}: {pauses} pauses of 3 s of 1 agent of {n}: {bad} pauses with a false failure \
         (failures per pause {per_pause:?})",
        if serf { "serf" } else { "rumor" }
    );
}

#[test]
#[ignore = "a measurement (9 minutes), run by hand"]
fn measure_short_pauses_serf() {
    repeated_short_pauses(true);
}

#[test]
#[ignore = "a measurement (9 minutes), run by hand"]
fn measure_short_pauses_rumor() {
    repeated_short_pauses(false);
}
