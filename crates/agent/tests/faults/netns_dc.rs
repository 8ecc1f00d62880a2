//! Two datacenters on real hosts (network namespaces, see `support/netns.rs`), every agent
//! on its defaults: dc1 = hosts 0, 1, 2 and dc2 = hosts 3, 4, 5, the first two of each
//! servers (`--server --wan-bind IP:7302`, so the WAN pool runs memberlist's WAN profile),
//! the third a client. dc2 is cut off from dc1: each side's servers see the other side's
//! servers failed in the WAN pool, no LAN pool notices anything, and after the heal the WAN
//! pool is whole again, through Serf's reconnect alone (push-pull only goes to alive
//! members, and the flood join only brings a datacenter's own servers).
//!
//! Needs root, `ip` and `nft`; otherwise the test prints why and passes without running.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::netns::Testbed;
use crate::support::*;

/// dc1's hosts and dc2's hosts.
const DC1: [usize; 3] = [0, 1, 2];
const DC2: [usize; 3] = [3, 4, 5];
/// The servers (members of the WAN pool).
const SERVERS: [usize; 4] = [0, 1, 3, 4];

/// The WAN profile (`rumor_swim::Config::wan`, memberlist's `DefaultWANConfig`).
const WAN_PROBE_INTERVAL: Duration = Duration::from_secs(5);
const WAN_SUSPICION_MULT: u32 = 6;
/// The agent's default `reconnect_interval` (the WAN pool uses the agent's).
const RECONNECT_INTERVAL: Duration = Duration::from_secs(30);

/// A suspicion in the 4-member WAN pool lasts exactly `6 * max(1, log10 4) * 5 s` = 30 s:
/// with 4 members `n - 2 < SuspicionMult - 2`, so no confirmations are expected and the
/// timeout starts (and stays) at its minimum. Nobody can be declared failed sooner than that
/// after the cut.
const SUSPICION: Duration =
    Duration::from_secs(WAN_PROBE_INTERVAL.as_secs() * WAN_SUSPICION_MULT as u64);
/// Detection: the suspicion, plus the time for some server's probe of a far server to fail
/// (a 5 s round, 3 s probe timeout, the indirect probes, Lifeguard's awareness stretching the
/// round while probes fail), plus gossip of the death to the other server of the side, plus
/// polling. Measured 42-57 s (first failure 35-38 s) over 7 runs.
const DETECT_LIMIT: Duration = Duration::from_secs(90);
/// How long dc2 stays cut off (from the cut), at least.
const HOLD: Duration = Duration::from_secs(45);
/// Heal: every server tries one failed member per reconnect round (2 failed, 2 alive: the
/// throttle `failed / alive` is 1). A reconnect is a push-pull with the failed member: it
/// learns it was declared dead and refutes, but the refutation reaches the other side only
/// by gossip to the dead (60 s after the death) or by the next push-pull, so two rounds, plus
/// gossip (500 ms rounds) and polling slack. Measured 0.4-13 s: the wait for the next
/// round (the agents' rounds run in phase from their start) plus under 1 s.
const HEAL_LIMIT: Duration = Duration::from_secs(2 * RECONNECT_INTERVAL.as_secs() + 15);

fn name(i: usize) -> String {
    if SERVERS.contains(&i) {
        format!("s{i}")
    } else {
        format!("c{i}")
    }
}

fn dc(i: usize) -> &'static str {
    if DC1.contains(&i) {
        "dc1"
    } else {
        "dc2"
    }
}

fn same_dc(i: usize) -> &'static [usize; 3] {
    if DC1.contains(&i) {
        &DC1
    } else {
        &DC2
    }
}

/// The WAN name of server `i`: `NODE.DC`.
fn wan_name(i: usize) -> String {
    format!("{}.{}", name(i), dc(i))
}

/// Server `i`'s WAN pool as name -> status (`rumor members --wan`), `None` when it does not
/// answer.
fn wan_view(tb: &Testbed, i: usize) -> Option<BTreeMap<String, String>> {
    let mut c = tb.exec(i, rumor_bin());
    c.args(["members", "--wan", "--format", "json", "--timeout", "2"])
        .args(["--rpc-addr", &tb.hosts[i].rpc()]);
    let list = members_json(c, Duration::from_secs(10))?;
    Some(list.into_iter().map(|m| (m.0, m.1)).collect())
}

/// Host `i`'s LAN pool: exactly its datacenter's three members, all alive. `Err` says what
/// is wrong (a foreign member, a failed one, a missing one, no answer).
fn lan_whole(tb: &Testbed, i: usize) -> Result<(), String> {
    let Some(list) = tb.members(i) else {
        return Err(format!("{} does not answer", name(i)));
    };
    let got: BTreeMap<String, String> = list.into_iter().map(|m| (m.0, m.1)).collect();
    let want: BTreeMap<String, String> = same_dc(i)
        .iter()
        .map(|&j| (name(j), "alive".to_string()))
        .collect();
    if got == want {
        Ok(())
    } else {
        Err(format!("LAN pool of {} ({}): {got:?}", name(i), dc(i)))
    }
}

/// Every server's WAN view has exactly the four servers, all alive.
fn wan_whole(tb: &Testbed) -> bool {
    let want: BTreeMap<String, String> = SERVERS
        .iter()
        .map(|&j| (wan_name(j), "alive".to_string()))
        .collect();
    SERVERS
        .iter()
        .all(|&i| wan_view(tb, i).is_some_and(|v| v == want))
}

/// Host `i`'s log lines of LAN member events of kind `kind` (`member-failed`, ...): the LAN
/// pool logs `KIND: NAME`, the WAN pool `WAN KIND: NAME.DC` with `pool="wan"`.
fn lan_events(tb: &Testbed, i: usize, kind: &str) -> Vec<String> {
    let tag = format!("{kind}: ");
    tb.log(i)
        .lines()
        .filter(|l| l.contains(&tag) && !l.contains(&format!("WAN {tag}")))
        .map(str::to_string)
        .collect()
}

/// Host `i`'s log lines of WAN member events of kind `kind`.
fn wan_events(tb: &Testbed, i: usize, kind: &str) -> Vec<String> {
    let tag = format!("WAN {kind}: ");
    tb.log(i)
        .lines()
        .filter(|l| l.contains(&tag))
        .map(str::to_string)
        .collect()
}

/// Every LAN pool is whole (checked on every poll of the test: never a foreign member,
/// never a failed one).
fn assert_lans_whole(tb: &Testbed, when: &str) {
    for i in 0..6 {
        if let Err(e) = lan_whole(tb, i) {
            panic!("{when}: {e}");
        }
    }
}

/// Seconds since midnight UTC of a wall time.
fn day_secs(t: std::time::SystemTime) -> f64 {
    let s = t
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    s.rem_euclid(86_400.0)
}

/// Seconds since midnight UTC of a log line's timestamp (`2026-01-01T12:34:56.789Z ...`).
fn line_day_secs(line: &str) -> Option<f64> {
    let (_, rest) = line.split_once('T')?;
    let (hms, _) = rest.split_once('Z')?;
    let mut it = hms.split(':');
    let h: f64 = it.next()?.parse().ok()?;
    let m: f64 = it.next()?.parse().ok()?;
    let s: f64 = it.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

#[test]
fn a_datacenter_cut_off_is_failed_in_the_wan_pool_only_and_comes_back() {
    let mut tb = match Testbed::new("dc", 6) {
        Ok(tb) => tb,
        Err(why) => {
            eprintln!("SKIPPED: cannot make network namespaces here: {why}");
            return;
        }
    };
    let started = Instant::now();
    let wan_first = tb.hosts[0].wan();
    for i in 0..6 {
        let lan_first = tb.hosts[same_dc(i)[0]].gossip();
        let wan_bind = tb.hosts[i].wan();
        let mut extra: Vec<&str> = vec!["--dc", dc(i)];
        if i != same_dc(i)[0] {
            extra.extend(["--join", lan_first.as_str()]);
        }
        if SERVERS.contains(&i) {
            extra.extend(["--server", "--wan-bind", wan_bind.as_str()]);
            if i != 0 {
                extra.extend(["--wan-join", wan_first.as_str()]);
            }
        }
        tb.start_rumor(i, &name(i), &extra);
        if i == same_dc(i)[0] {
            tb.wait_rpc(i);
        }
    }
    eventually(
        "every LAN pool has its 3 members alive and every server sees the 4 servers alive",
        Duration::from_secs(60),
        || (0..6).all(|i| lan_whole(&tb, i).is_ok()) && wan_whole(&tb),
    );
    let formed = started.elapsed();

    // The cut. `cut` is taken before the first rule goes in, so the lower bound holds.
    let cut = Instant::now();
    tb.partition(&DC1, &DC2);
    // When each server first saw each far server failed.
    let mut first_failed: BTreeMap<(usize, usize), Duration> = BTreeMap::new();
    let pairs: Vec<(usize, usize)> = SERVERS
        .iter()
        .flat_map(|&i| {
            SERVERS
                .iter()
                .filter(move |&&j| dc(i) != dc(j))
                .map(move |&j| (i, j))
        })
        .collect();
    let deadline = cut + DETECT_LIMIT.max(HOLD);
    let mut detected = None;
    loop {
        let now = cut.elapsed();
        for &i in &SERVERS {
            let Some(v) = wan_view(&tb, i) else {
                panic!("{} does not answer during the cut", name(i));
            };
            // Its own datacenter's servers stay alive in its WAN view.
            for &j in same_dc(i).iter().filter(|j| SERVERS.contains(j)) {
                assert_eq!(
                    v.get(&wan_name(j)).map(String::as_str),
                    Some("alive"),
                    "{} sees {} (same side) in the WAN pool after {now:?}: {v:?}",
                    name(i),
                    wan_name(j)
                );
            }
            for &(a, j) in pairs.iter().filter(|p| p.0 == i) {
                let st = v.get(&wan_name(j)).map(String::as_str);
                match (first_failed.get(&(a, j)), st) {
                    (None, Some("failed")) => {
                        first_failed.insert((a, j), now);
                    }
                    // Once failed, a far server stays failed while the cut lasts.
                    (None, Some("alive")) | (Some(_), Some("failed")) => {}
                    (at, st) => panic!(
                        "{} sees {} as {st:?} after {now:?} (failed since {at:?}): {v:?}",
                        name(i),
                        wan_name(j)
                    ),
                }
            }
        }
        assert_lans_whole(&tb, &format!("{:?} into the cut", cut.elapsed()));
        if detected.is_none() && first_failed.len() == pairs.len() {
            detected = Some(cut.elapsed());
        }
        if let Some(d) = detected {
            // Hold at least HOLD from the cut, and a few seconds past the detection.
            if cut.elapsed() >= HOLD.max(d + Duration::from_secs(5)) {
                break;
            }
        }
        assert!(
            Instant::now() < deadline || detected.is_some(),
            "after {DETECT_LIMIT:?} not every server saw the far servers failed: {first_failed:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let detected = detected.unwrap();
    let held = cut.elapsed();
    let earliest = *first_failed.values().min().unwrap();
    assert!(
        earliest >= SUSPICION,
        "a far server was failed after {earliest:?}, before the {SUSPICION:?} suspicion could run out: {first_failed:?}"
    );
    assert!(detected <= DETECT_LIMIT, "{detected:?}");
    for i in 0..6 {
        let failed = lan_events(&tb, i, "member-failed");
        assert!(
            failed.is_empty(),
            "LAN failures on {}: {failed:#?}",
            name(i)
        );
    }
    for &i in &SERVERS {
        let failed = wan_events(&tb, i, "member-failed");
        assert!(
            failed.len() >= 2,
            "{} logged {} WAN failures, not the 2 far servers: {failed:#?}",
            name(i),
            failed.len()
        );
    }

    tb.heal();
    let healed = Instant::now();
    let healed_wall = day_secs(std::time::SystemTime::now());
    loop {
        if wan_whole(&tb) {
            break;
        }
        assert_lans_whole(&tb, &format!("{:?} after the heal", healed.elapsed()));
        assert!(
            healed.elapsed() < HEAL_LIMIT,
            "the WAN pool is not whole {HEAL_LIMIT:?} after the heal: {:?}",
            SERVERS
                .iter()
                .map(|&i| (name(i), wan_view(&tb, i)))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let heal = healed.elapsed();
    assert_lans_whole(&tb, "when the WAN pool was whole again");

    // Over the whole run, no LAN pool failed a member or let a foreign one in (and the LAN
    // event lines are found at all: each host logged its datacenter's other members joining).
    for i in 0..6 {
        let joins = lan_events(&tb, i, "member-join");
        assert!(
            joins.len() >= 2,
            "{} logged {} LAN joins: {joins:#?}",
            name(i),
            joins.len()
        );
        let failed = lan_events(&tb, i, "member-failed");
        assert!(
            failed.is_empty(),
            "LAN failures on {}: {failed:#?}",
            name(i)
        );
        let foreign: Vec<String> = lan_events(&tb, i, "member-join")
            .into_iter()
            .filter(|l| {
                (0..6)
                    .filter(|&j| dc(j) != dc(i))
                    .any(|j| l.contains(&format!("member-join: {}", name(j))))
            })
            .collect();
        assert!(
            foreign.is_empty(),
            "foreign members joined the LAN pool of {}: {foreign:#?}",
            name(i)
        );
    }
    let reconnects: Vec<usize> = SERVERS
        .iter()
        .map(|&i| tb.log_count(i, "attempting reconnect"))
        .collect();
    // The phase of the reconnect round: the first reconnect any server started after the
    // heal (a reconnect started during the cut may also complete after it, its SYN
    // retransmitted once the drops are gone).
    let next_round = SERVERS
        .iter()
        .flat_map(|&i| {
            tb.log(i)
                .lines()
                .filter(|l| l.contains("attempting reconnect"))
                .filter_map(line_day_secs)
                .collect::<Vec<f64>>()
        })
        .map(|t| (t - healed_wall).rem_euclid(86_400.0))
        .filter(|d| *d < HEAL_LIMIT.as_secs_f64())
        .fold(f64::INFINITY, f64::min);
    eprintln!(
        "faults_dc: formed in {formed:?}; cut: first far server failed after {earliest:?}, \
         all 4 servers saw both far servers failed after {detected:?} (lower bound \
         {SUSPICION:?}, limit {DETECT_LIMIT:?}); held {held:?}; WAN pool whole {heal:?} \
         after the heal (limit {HEAL_LIMIT:?}; the first reconnect round after the heal \
         started {next_round:.2}s after it); reconnect attempts logged per server \
         {reconnects:?}; per pair {first_failed:?}"
    );
}
