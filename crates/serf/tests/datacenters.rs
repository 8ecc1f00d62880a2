//! Datacenters end to end on the virtual network ([`rumor_swim::testing::Net`]): answers
//! forwarded on behalf of other pools reach the query's source, the datacenter guard's join
//! policy and per-entry drops in push-pull, and purging members the guard refuses.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use rumor_serf::{Event, Instant, QueryParams, Serf, SerfConfig};
use rumor_swim::testing::{addr, Net as TestNet};

type Net = TestNet<Serf>;

fn dc_tags(dc: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("dc".to_string(), dc.to_string())])
}

fn config(i: usize, dc: &str) -> SerfConfig {
    let swim = rumor_swim::Config::lan(format!("n{i}"), addr(i));
    SerfConfig::new(swim, dc_tags(dc))
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn forwarded_answers_reach_the_source_under_their_senders_names() {
    let nodes = (0..3)
        .map(|i| Serf::new(config(i, "dc1"), 100 + i as u64, Instant::ZERO).unwrap())
        .collect();
    let mut net = Net::new(nodes, (0..3).map(addr).collect());
    net.join_all_to(0);
    net.run_for(Duration::from_secs(10));
    let t0 = net.now;
    let params = QueryParams {
        request_ack: true,
        timeout: Some(Duration::from_secs(3)),
        ..QueryParams::default()
    };
    let h = net.nodes[0]
        .query(t0, "q", Bytes::from_static(b"ask"), params)
        .unwrap();
    // Node 1 answers for two members of another pool (names no member here has).
    let delivered = net
        .run_until_true(Duration::from_secs(2), |net| {
            net.count(1, |e| matches!(e, Event::Query { name, .. } if name == "q")) == 1
        })
        .unwrap();
    assert!(delivered <= t0 + Duration::from_secs(2));
    let now = net.now;
    for from in ["a.dc2", "b.dc2"] {
        net.nodes[1]
            .forward_answer(now, h.ltime, h.id, from, true, Bytes::new())
            .unwrap();
        let payload = Bytes::from(format!("from {from}"));
        net.nodes[1]
            .forward_answer(now, h.ltime, h.id, from, false, payload)
            .unwrap();
    }
    net.flush();
    net.run_until(h.deadline + Duration::from_millis(10));
    let mut acks = Vec::new();
    let mut responses = Vec::new();
    for e in net.events_of(0) {
        match e {
            Event::QueryAck { ltime, id, from } if (*ltime, *id) == (h.ltime, h.id) => {
                acks.push(from.to_string());
            }
            Event::QueryResponse {
                ltime,
                id,
                from,
                payload,
            } if (*ltime, *id) == (h.ltime, h.id) => {
                responses.push(format!("{from}={}", String::from_utf8_lossy(payload)));
            }
            _ => {}
        }
    }
    // The members ack themselves (nobody here responds); the forwarded names once each.
    assert_eq!(sorted(acks), ["a.dc2", "b.dc2", "n0", "n1", "n2"]);
    assert_eq!(sorted(responses), ["a.dc2=from a.dc2", "b.dc2=from b.dc2"]);
}

fn dc_guard(dc: &'static str) -> Box<dyn rumor_serf::MemberGuard + Send> {
    Box::new(
        move |name: &str, tags: &BTreeMap<String, String>| -> rumor_serf::Verdict {
            if tags.get("dc").map(String::as_str) == Some(dc) {
                Ok(())
            } else {
                Err(rumor_serf::Refusal::new(name.into(), Foreign(name.into())))
            }
        },
    )
}

#[derive(Debug, thiserror::Error)]
#[error("{0} is in another datacenter")]
struct Foreign(String);

/// Nodes `n0..` with these datacenters; `guarded` ones carry a guard for their own.
fn pool(dcs: &[&'static str], guarded: &[usize]) -> Net {
    let nodes = dcs
        .iter()
        .enumerate()
        .map(|(i, dc)| {
            let mut c = config(i, dc);
            if guarded.contains(&i) {
                c.guard = Some(dc_guard(dc));
            }
            Serf::new(c, 300 + i as u64, Instant::ZERO).unwrap()
        })
        .collect();
    Net::new(nodes, (0..dcs.len()).map(addr).collect())
}

fn join_outcome(net: &Net, i: usize) -> (usize, Vec<String>) {
    net.events_of(i)
        .find_map(|e| match e {
            Event::JoinFinished { joined, errors, .. } => {
                Some((*joined, errors.iter().map(|(_, e)| e.to_string()).collect()))
            }
            _ => None,
        })
        .expect("join finished")
}

fn table(net: &Net, i: usize) -> Vec<String> {
    net.nodes[i]
        .members()
        .iter()
        .map(|m| m.name.to_string())
        .collect()
}

fn swim_table(net: &Net, i: usize) -> Vec<String> {
    let mut v: Vec<String> = net.nodes[i]
        .swim()
        .members()
        .map(|m| m.name.to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn a_join_to_an_all_foreign_pool_fails_on_both_sides() {
    // n0 (dc1, guarded) joins n1 (dc2, guarded): n1 refuses the joiner's all-foreign table
    // and answers with the refusal; n0 would refuse n1 too.
    let mut net = pool(&["dc1", "dc2"], &[0, 1]);
    let now = net.now;
    net.nodes[0].join(now, &[addr(1)], false);
    net.flush();
    let (joined, errors) = join_outcome(&net, 0);
    assert_eq!(joined, 0);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains("n0 is in another datacenter"),
        "{errors:?}"
    );
    assert_eq!(net.nodes[1].swim().stats().merges_vetoed, 1);
    assert_eq!(swim_table(&net, 1), ["n1"]);
    // The other way round, n1 unguarded: this time n0 refuses what it pulled.
    let mut net = pool(&["dc1", "dc2"], &[0]);
    let now = net.now;
    net.nodes[0].join(now, &[addr(1)], false);
    net.flush();
    let (joined, errors) = join_outcome(&net, 0);
    assert_eq!(joined, 0);
    assert!(
        errors[0].contains("n1 is in another datacenter"),
        "{errors:?}"
    );
    assert_eq!(net.nodes[0].swim().stats().merges_vetoed, 1);
    net.run_for(Duration::from_secs(30));
    assert_eq!(swim_table(&net, 0), ["n0"], "nothing of dc2 entered");
}

#[test]
fn a_join_through_a_foreign_member_fails_although_it_knows_members_of_ours() {
    // n2 (dc2, no guard) knows n1 (dc1). n0 (dc1, guarded) dials n2: the entry at the
    // dialed address is foreign, so the join is refused, whatever else n2 knows.
    let mut net = pool(&["dc1", "dc1", "dc2"], &[0]);
    let now = net.now;
    net.nodes[1].join(now, &[addr(2)], false);
    net.flush();
    net.run_for(Duration::from_secs(5));
    assert_eq!(swim_table(&net, 2), ["n1", "n2"]);
    let now = net.now;
    net.nodes[0].join(now, &[addr(2)], false);
    net.flush();
    let (joined, errors) = join_outcome(&net, 0);
    assert_eq!(joined, 0);
    assert!(
        errors[0].contains("n2 is in another datacenter"),
        "{errors:?}"
    );
    assert_eq!(swim_table(&net, 0), ["n0"]);
}

#[test]
fn a_join_through_a_mixed_pool_keeps_its_own_dc_and_drops_the_rest() {
    // n1 (dc1, no guard, like a Serf agent) knows n2 (dc2, alive) and n3 (dc2, failed).
    let mut net = pool(&["dc1", "dc1", "dc2", "dc2"], &[0]);
    let now = net.now;
    net.nodes[2].join(now, &[addr(1)], false);
    net.nodes[3].join(now, &[addr(1)], false);
    net.flush();
    net.run_for(Duration::from_secs(5));
    net.down.insert(3);
    let failed = net.run_until_true(Duration::from_secs(60), |net| {
        net.nodes[1]
            .member("n3")
            .is_some_and(|m| m.status == rumor_serf::MemberStatus::Failed)
    });
    assert!(failed.is_some(), "n3 failed at n1");
    assert_eq!(swim_table(&net, 1), ["n1", "n2", "n3"]);
    // n0 joins through n1: the dialed entry (n1) is dc1, so the join succeeds; exactly the
    // two foreign entries are dropped.
    let now = net.now;
    net.nodes[0].join(now, &[addr(1)], false);
    net.flush();
    assert_eq!(join_outcome(&net, 0), (1, vec![]));
    let s = net.nodes[0].swim().stats();
    assert_eq!(
        (s.entries_dropped, s.alive_vetoed, s.merges_vetoed),
        (2, 1, 0)
    );
    assert_eq!(swim_table(&net, 0), ["n0", "n1"]);
    // From now on n0 and n1 exchange state (push-pull, not joins): never refused whole,
    // the foreign entries dropped each time, the rest merged.
    net.run_for(Duration::from_secs(120));
    let s = net.nodes[0].swim().stats();
    assert_eq!(s.merges_vetoed, 0);
    assert!(s.entries_dropped > 2, "{s:?}");
    assert_eq!(table(&net, 0), ["n0", "n1"]);
    assert_eq!(swim_table(&net, 0), ["n0", "n1"]);
    assert_eq!(
        net.nodes[1].member("n0").unwrap().status,
        rumor_serf::MemberStatus::Alive
    );
    assert_eq!(net.nodes[1].swim().stats().merges_vetoed, 0);
}

#[test]
fn a_push_pull_with_one_foreign_dead_and_one_foreign_alive_entry_drops_exactly_two() {
    // n0 and n1 (dc1) run without guards and learn n2 (dc2, alive) and n3 (dc2, failed).
    let mut net = pool(&["dc1", "dc1", "dc2", "dc2"], &[]);
    net.join_all_to(1);
    net.run_for(Duration::from_secs(5));
    net.down.insert(3);
    let failed = net.run_until_true(Duration::from_secs(60), |net| {
        (0..2).all(|i| {
            net.nodes[i]
                .member("n3")
                .is_some_and(|m| m.status == rumor_serf::MemberStatus::Failed)
        })
    });
    assert!(failed.is_some());
    // n0 takes a dc1 guard and purges; then it pulls n1's table (a periodic push-pull).
    let now = net.now;
    net.nodes[0].set_guard(Some(dc_guard("dc1")));
    assert_eq!(net.nodes[0].purge_refused(now), ["n2", "n3"]);
    net.flush();
    let before = net.nodes[0].swim().stats();
    // Isolate the exchange: nothing else reaches n0 meanwhile.
    net.partition(&[0], &[2]);
    let step = net.nodes[0].swim().config().push_pull_interval;
    let pulled = net.run_until_true(step * 2, |net| {
        net.nodes[0].swim().stats().entries_dropped > before.entries_dropped
    });
    assert!(
        pulled.is_some(),
        "a push-pull happened within two intervals"
    );
    let after = net.nodes[0].swim().stats();
    assert_eq!(after.entries_dropped - before.entries_dropped, 2);
    assert_eq!(after.merges_vetoed, 0);
    assert_eq!(swim_table(&net, 0), ["n0", "n1"]);
}

#[test]
fn purged_members_stay_out_although_unguarded_peers_keep_them() {
    let mut net = pool(&["dc1", "dc1", "dc1", "dc2", "dc2"], &[]);
    net.join_all_to(0);
    net.run_for(Duration::from_secs(10));
    assert_eq!(swim_table(&net, 0).len(), 5);
    let now = net.now;
    net.nodes[0].set_guard(Some(dc_guard("dc1")));
    assert_eq!(net.nodes[0].purge_refused(now), ["n3", "n4"]);
    net.flush();
    let mark = net.events.len();
    let reaped: Vec<String> = net.events[..mark]
        .iter()
        .filter(|(i, t, _)| *i == 0 && *t == now)
        .filter_map(|(_, _, e)| match e {
            Event::MemberReap(m) => Some(m.name.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(reaped, ["n3", "n4"]);
    // Two minutes of gossip and push-pulls with n1 and n2, which still hold dc2.
    net.run_for(Duration::from_secs(120));
    assert_eq!(table(&net, 0), ["n0", "n1", "n2"]);
    assert_eq!(swim_table(&net, 0), ["n0", "n1", "n2"]);
    let back = net.events[mark..].iter().any(|(i, _, e)| {
        *i == 0 && matches!(e, Event::MemberJoin(m) if m.name.starts_with("n3") || m.name.starts_with("n4"))
    });
    assert!(!back, "a purged member came back");
    let s = net.nodes[0].swim().stats();
    assert!(s.alive_vetoed + s.entries_dropped > 0, "{s:?}");
    // The unguarded nodes still see everyone alive, n0 included.
    for i in 1..5 {
        assert_eq!(net.nodes[i].num_members(), 5, "n{i}");
    }
}

#[test]
fn a_member_restarted_into_another_datacenter_is_reaped_by_the_guarded() {
    // n0 (dc1, guarded), n1 (dc1, no guard) and n2 (dc1) form a pool.
    let mut net = pool(&["dc1", "dc1", "dc1"], &[0]);
    net.join_all_to(1);
    net.run_for(Duration::from_secs(10));
    assert_eq!(swim_table(&net, 0), ["n0", "n1", "n2"]);
    // n2 restarts at once, same name and address, now tagged dc2: a fresh process at
    // incarnation 1, which joins through n1 again. It hears of itself at incarnation 1 with
    // its old tags and refutes with 2: n0's guard refuses that alive from a member it knows
    // at that address, so n0 forgets n2.
    let restarted = Serf::new(config(2, "dc2"), 999, net.now).unwrap();
    net.nodes[2] = restarted;
    let now = net.now;
    net.nodes[2].join(now, &[addr(1)], false);
    net.flush();
    let reaped = net.run_until_true(Duration::from_secs(30), |net| {
        net.count(0, |e| matches!(e, Event::MemberReap(m) if &*m.name == "n2")) == 1
    });
    let at = reaped.expect("n0 reaped n2");
    assert!(at >= now && at <= now + Duration::from_secs(30));
    assert!(
        net.nodes[2].swim().incarnation() >= 2,
        "n2 refuted its old self"
    );
    net.run_for(Duration::from_secs(60));
    assert_eq!(table(&net, 0), ["n0", "n1"]);
    assert_eq!(swim_table(&net, 0), ["n0", "n1"]);
    assert_eq!(
        net.count(0, |e| matches!(e, Event::MemberReap(m) if &*m.name == "n2")),
        1,
        "reaped once, never back"
    );
    assert!(net.nodes[0].swim().stats().alive_vetoed >= 1);
}
