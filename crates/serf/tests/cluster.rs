//! Small Serf clusters on the shared virtual network ([`rumor_swim::testing::Net`], the same
//! one rumor-swim's tests use). Each test checks one behaviour of the Serf layer end to end,
//! through real bytes.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use rumor_serf::{Event, Instant, Member, MemberStatus, Refusal, Serf, SerfConfig, SerfState};
use rumor_swim::testing::{addr, Net as TestNet};

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Serf defaults over a LAN profile, tags `role=web, idx=i`.
fn default_config(i: usize) -> SerfConfig {
    let swim = rumor_swim::Config::lan(format!("n{i}"), addr(i));
    SerfConfig::new(swim, tags(&[("role", "web"), ("idx", &i.to_string())]))
}

type Net = TestNet<Serf>;

fn cluster(n: usize, config: impl Fn(usize) -> SerfConfig) -> Net {
    let nodes = (0..n)
        .map(|i| Serf::new(config(i), 1000 + i as u64, Instant::ZERO).unwrap())
        .collect();
    TestNet::new(nodes, (0..n).map(addr).collect())
}

fn lan(n: usize) -> Net {
    cluster(n, default_config)
}

fn member(net: &Net, observer: usize, of: usize) -> Option<Member> {
    net.nodes[observer].member(&format!("n{of}"))
}

fn status(net: &Net, observer: usize, of: usize) -> Option<MemberStatus> {
    member(net, observer, of).map(|m| m.status)
}

/// Every live node other than `of` sees `of` with `status`.
fn all_see(net: &Net, of: usize, s: Option<MemberStatus>) -> bool {
    (0..net.nodes.len())
        .filter(|i| !net.down.contains(i) && *i != of)
        .all(|i| status(net, i, of) == s)
}

fn named(e: &Event, kind: fn(&Event) -> Option<&Member>, name: &str) -> bool {
    kind(e).is_some_and(|m| &*m.name == name)
}

fn as_join(e: &Event) -> Option<&Member> {
    if let Event::MemberJoin(m) = e {
        Some(m)
    } else {
        None
    }
}
fn as_leave(e: &Event) -> Option<&Member> {
    if let Event::MemberLeave(m) = e {
        Some(m)
    } else {
        None
    }
}
fn as_failed(e: &Event) -> Option<&Member> {
    if let Event::MemberFailed(m) = e {
        Some(m)
    } else {
        None
    }
}
fn as_update(e: &Event) -> Option<&Member> {
    if let Event::MemberUpdate(m) = e {
        Some(m)
    } else {
        None
    }
}
fn as_reap(e: &Event) -> Option<&Member> {
    if let Event::MemberReap(m) = e {
        Some(m)
    } else {
        None
    }
}

#[test]
fn starts_alive_with_serf_versions_and_tag_meta() {
    let net = lan(1);
    let me = net.nodes[0].local_member();
    assert_eq!(me.status, MemberStatus::Alive);
    assert_eq!(me.protocol, [1, 5, 2], "memberlist 1..5 speaking 2");
    assert_eq!(
        me.delegate,
        [2, 5, 5],
        "Serf 2..5 speaking 5, as the 0.9.4 agent"
    );
    assert_eq!(me.tags, tags(&[("role", "web"), ("idx", "0")]));
    let swim = net.nodes[0].swim().local().unwrap().clone();
    assert_eq!(swim.vsn.to_bytes(), [1, 5, 2, 2, 5, 5]);
    assert_eq!(
        hex::encode(&swim.meta),
        "ff82a3696478a130a4726f6c65a3776562"
    );
    assert!(
        net.events_of(0).any(|e| named(e, as_join, "n0")),
        "member-join for ourselves first"
    );
    assert_eq!(net.nodes[0].member_clock(), 1);
    assert_eq!(net.nodes[0].event_clock(), 1);
    assert_eq!(net.nodes[0].query_clock(), 1);
}

#[test]
fn join_converges_with_tags_visible() {
    let mut net = lan(5);
    net.join_all_to(0);
    let finished: Vec<_> = net
        .events
        .iter()
        .filter(|(_, _, e)| matches!(e, Event::JoinFinished { joined: 1, .. }))
        .collect();
    assert_eq!(finished.len(), 4);
    net.run_for(Duration::from_secs(10));
    for i in 0..5 {
        let members = net.nodes[i].members();
        assert_eq!(members.len(), 5, "node {i}: {members:?}");
        for (j, m) in members.iter().enumerate() {
            assert_eq!(&*m.name, format!("n{j}"));
            assert_eq!(m.status, MemberStatus::Alive);
            assert_eq!(m.addr, addr(j));
            assert_eq!(m.tags, tags(&[("role", "web"), ("idx", &j.to_string())]));
            assert_eq!(m.delegate, [2, 5, 5]);
        }
        // One member-join per member, ourselves included.
        for j in 0..5 {
            assert_eq!(
                net.count(i, |e| named(e, as_join, &format!("n{j}"))),
                1,
                "node {i} joins of n{j}"
            );
        }
    }
    // Every joiner broadcast a join intent, which every member witnessed: the member clocks
    // moved past 1 everywhere.
    for i in 0..5 {
        assert!(
            net.nodes[i].member_clock() >= 2,
            "node {i} clock {}",
            net.nodes[i].member_clock()
        );
    }
}

#[test]
fn graceful_leave_shows_left_at_the_others() {
    let mut net = lan(4);
    net.join_all_to(0);
    net.run_for(Duration::from_secs(5));
    let t0 = net.now;
    let now = net.now;
    net.nodes[3].leave(now);
    assert_eq!(net.nodes[3].state(), SerfState::Leaving);
    assert_eq!(net.nodes[3].local_member().status, MemberStatus::Leaving);
    net.run_for(Duration::from_secs(10));
    let done = net.count(3, |e| matches!(e, Event::LeaveFinished { error: None }));
    assert_eq!(done, 1);
    assert_eq!(net.nodes[3].state(), SerfState::Left);
    assert!(
        all_see(&net, 3, Some(MemberStatus::Left)),
        "{:?}",
        (0..3).map(|i| status(&net, i, 3)).collect::<Vec<_>>()
    );
    for i in 0..3 {
        assert_eq!(net.count(i, |e| named(e, as_leave, "n3")), 1, "node {i}");
        assert_eq!(
            net.count(i, |e| named(e, as_failed, "n3")),
            0,
            "node {i}: a graceful leave is no failure"
        );
    }
    // The whole leave (intent gossiped, dead gossiped, 1 s propagation) took a little over
    // the propagation delay: gossip every 200 ms sends each message out quickly.
    let finished_at = net
        .events
        .iter()
        .find(|(i, _, e)| *i == 3 && matches!(e, Event::LeaveFinished { error: None }))
        .map(|(_, t, _)| *t)
        .unwrap();
    let took = finished_at.saturating_duration_since(t0);
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[test]
fn leave_alone_finishes_quickly() {
    let mut net = lan(1);
    let now = net.now;
    net.nodes[0].leave(now);
    net.run_for(Duration::from_millis(1500));
    assert_eq!(
        net.count(0, |e| matches!(e, Event::LeaveFinished { error: None })),
        1
    );
    assert_eq!(net.nodes[0].local_member().status, MemberStatus::Left);
    // A join after leaving is refused at once.
    let now = net.now;
    let id = net.nodes[0].join(now, &[addr(5)], false);
    net.flush();
    let refused = net.events_of(0).any(|e| {
        matches!(e, Event::JoinFinished { id: i, joined: 0, errors } if *i == id && errors.len() == 1)
    });
    assert!(refused);
}

fn shortened(i: usize) -> SerfConfig {
    let mut c = default_config(i);
    c.reconnect_timeout = Duration::from_secs(20);
    c.tombstone_timeout = Duration::from_secs(20);
    c.reap_interval = Duration::from_secs(5);
    c
}

#[test]
fn crash_shows_failed_then_reaped_after_reconnect_timeout() {
    let mut net = cluster(4, shortened);
    net.join_all_to(0);
    net.run_for(Duration::from_secs(5));
    net.down.insert(2);
    net.run_for(Duration::from_secs(15));
    assert!(
        all_see(&net, 2, Some(MemberStatus::Failed)),
        "{:?}",
        (0..4).map(|i| status(&net, i, 2)).collect::<Vec<_>>()
    );
    for i in [0, 1, 3] {
        assert_eq!(net.count(i, |e| named(e, as_failed, "n2")), 1);
        assert_eq!(net.nodes[i].stats().failed, 1);
    }
    // 20 s after the failure, at the next 5 s reap tick, it is gone.
    net.run_for(Duration::from_secs(30));
    assert!(all_see(&net, 2, None));
    for i in [0, 1, 3] {
        assert_eq!(net.count(i, |e| named(e, as_reap, "n2")), 1);
        assert_eq!(net.nodes[i].members().len(), 3);
    }
}

#[test]
fn force_leave_turns_failed_into_left() {
    let mut net = lan(4);
    net.join_all_to(0);
    net.run_for(Duration::from_secs(5));
    net.down.insert(2);
    net.run_for(Duration::from_secs(15));
    assert!(all_see(&net, 2, Some(MemberStatus::Failed)));
    let now = net.now;
    net.nodes[0].force_leave(now, "n2", false).unwrap();
    assert_eq!(
        status(&net, 0, 2),
        Some(MemberStatus::Left),
        "applied locally at once"
    );
    net.run_for(Duration::from_secs(5));
    assert!(all_see(&net, 2, Some(MemberStatus::Left)));
    for i in [0, 1, 3] {
        assert_eq!(net.count(i, |e| named(e, as_leave, "n2")), 1);
    }
}

#[test]
fn force_leave_with_prune_erases() {
    let mut net = lan(4);
    net.join_all_to(0);
    net.run_for(Duration::from_secs(5));
    net.down.insert(2);
    net.run_for(Duration::from_secs(15));
    let now = net.now;
    net.nodes[1].force_leave(now, "n2", true).unwrap();
    net.run_for(Duration::from_secs(5));
    assert!(all_see(&net, 2, None));
    for i in [0, 1, 3] {
        assert_eq!(net.count(i, |e| named(e, as_reap, "n2")), 1);
    }
    // Later push-pulls do not bring it back.
    net.run_for(Duration::from_secs(60));
    assert!(all_see(&net, 2, None));
}

#[derive(Debug, thiserror::Error)]
#[error("node '{node}' is in datacenter {theirs:?}, this pool is '{ours}'")]
struct OtherDc {
    node: String,
    theirs: Option<String>,
    ours: &'static str,
}

fn dc_guard(ours: &'static str) -> Box<dyn rumor_serf::MemberGuard + Send> {
    Box::new(move |name: &str, t: &BTreeMap<String, String>| {
        match t.get("dc").map(String::as_str) {
            Some(dc) if dc == ours => Ok(()),
            other => Err(Refusal::new(
                name.into(),
                OtherDc {
                    node: name.to_string(),
                    theirs: other.map(str::to_string),
                    ours,
                },
            )),
        }
    })
}

fn dc_config(i: usize, dc: &'static str, guard: bool) -> SerfConfig {
    let mut c = default_config(i);
    c.tags.insert("dc".into(), dc.into());
    if guard {
        c.guard = Some(dc_guard(dc));
    }
    c
}

#[test]
fn guard_veto_fails_the_join_with_the_joiners_message() {
    // n1 (west, guarded) joins n0 (east, unguarded, like an old Serf agent).
    let mut net = cluster(2, |i| {
        if i == 0 {
            dc_config(0, "east", false)
        } else {
            dc_config(1, "west", true)
        }
    });
    let now = net.now;
    let id = net.nodes[1].join(now, &[addr(0)], true);
    net.flush();
    let (joined, errors) = net
        .events_of(1)
        .find_map(|e| match e {
            Event::JoinFinished {
                id: i,
                joined,
                errors,
            } if *i == id => Some((*joined, errors.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(joined, 0);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, addr(0));
    // A typed refusal by our own guard, naming the remote node.
    match &errors[0].1 {
        rumor_serf::JoinError::Refused(r) => {
            assert_eq!(&*r.node, "n0");
            assert!(r.cause().downcast_ref::<OtherDc>().is_some());
        }
        other => panic!("not a refusal: {other:?}"),
    }
    assert_eq!(
        errors[0].1.to_string(),
        "node 'n0' is in datacenter Some(\"east\"), this pool is 'west'"
    );
    // n0 accepted n1 and keeps gossiping to it; n1 never lets n0 in.
    net.run_for(Duration::from_secs(30));
    assert!(member(&net, 1, 0).is_none());
    assert!(net.nodes[1].swim().member("n0").is_none());
    assert!(net.nodes[1].swim().stats().alive_vetoed > 0);
    assert_eq!(net.nodes[1].members().len(), 1);
}

#[test]
fn guard_veto_at_the_remote_reaches_the_joiner() {
    // n1 (west, unguarded) joins n0 (east, guarded): n0 refuses the push-pull with an error.
    let mut net = cluster(2, |i| {
        if i == 0 {
            dc_config(0, "east", true)
        } else {
            dc_config(1, "west", false)
        }
    });
    let now = net.now;
    net.nodes[1].join(now, &[addr(0)], true);
    net.flush();
    let errors = net
        .events_of(1)
        .find_map(|e| match e {
            Event::JoinFinished {
                joined: 0, errors, ..
            } => Some(errors.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(errors.len(), 1);
    // The remote's refusal, as its error reply said it.
    assert_eq!(
        errors[0].1,
        rumor_serf::JoinError::Remote(
            "node 'n1' is in datacenter Some(\"west\"), this pool is 'east'".into()
        )
    );
    net.run_for(Duration::from_secs(10));
    assert!(member(&net, 0, 1).is_none());
    assert!(member(&net, 1, 0).is_none());
}

#[test]
fn guard_admits_the_same_datacenter() {
    let mut net = cluster(3, |i| dc_config(i, "east", true));
    net.join_all_to(0);
    net.run_for(Duration::from_secs(5));
    for i in 0..3 {
        assert_eq!(net.nodes[i].members().len(), 3);
    }
}

#[test]
fn tag_update_propagates_as_member_update() {
    let mut net = lan(3);
    net.join_all_to(0);
    net.run_for(Duration::from_secs(5));
    let now = net.now;
    let new_tags = tags(&[("role", "db"), ("dc", "east")]);
    net.nodes[1].set_tags(now, new_tags.clone()).unwrap();
    assert_eq!(net.nodes[1].local_member().tags, new_tags);
    net.run_for(Duration::from_secs(5));
    for i in [0, 2] {
        assert_eq!(member(&net, i, 1).unwrap().tags, new_tags);
        let updates: Vec<_> = net.events_of(i).filter_map(as_update).collect();
        assert_eq!(updates.len(), 1, "node {i}");
        assert_eq!(updates[0].tags, new_tags);
    }
    // Too large: refused, nothing changes.
    let huge = tags(&[("blob", &"x".repeat(600))]);
    let now = net.now;
    assert!(net.nodes[1].set_tags(now, huge).is_err());
    assert_eq!(net.nodes[1].local_member().tags, new_tags);
}

#[test]
fn user_event_reaches_everyone_once_and_clocks_witness_it() {
    let mut net = lan(5);
    net.join_all_to(0);
    net.run_for(Duration::from_secs(5));
    let now = net.now;
    net.nodes[2]
        .user_event(now, "deploy", Bytes::from_static(b"v1.2.3"), true)
        .unwrap();
    net.run_for(Duration::from_secs(5));
    for i in 0..5 {
        let users: Vec<_> = net
            .events_of(i)
            .filter(|e| matches!(e, Event::User { .. }))
            .collect();
        assert_eq!(
            users,
            vec![&Event::User {
                name: "deploy".into(),
                payload: Bytes::from_static(b"v1.2.3"),
                ltime: 1,
                coalesce: true
            }],
            "node {i}"
        );
        // Stamped with time 1, which every member witnessed: the event clocks are all 2.
        assert_eq!(net.nodes[i].event_clock(), 2, "node {i}");
    }
    // Too large before encoding.
    let now = net.now;
    let err = net.nodes[0]
        .user_event(now, "big", Bytes::from(vec![0u8; 600]), false)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "user event exceeds configured limit of 512 bytes before encoding"
    );
}

#[test]
fn a_later_joiner_with_replay_gets_old_events_without_replay_does_not() {
    let mut net = lan(4);
    net.nodes[1].join(Instant::ZERO, &[addr(0)], true);
    net.flush();
    net.run_for(Duration::from_secs(2));
    let now = net.now;
    net.nodes[0]
        .user_event(now, "old", Bytes::new(), false)
        .unwrap();
    net.run_for(Duration::from_secs(3));
    let now = net.now;
    net.nodes[2].join(now, &[addr(0)], false); // replay
    net.nodes[3].join(now, &[addr(0)], true); // ignore old
    net.flush();
    net.run_for(Duration::from_secs(5));
    let old = |e: &Event| matches!(e, Event::User { name, .. } if name == "old");
    assert_eq!(net.count(2, old), 1, "replayed to the joiner that asked");
    assert_eq!(net.count(3, old), 0, "not replayed");
}

#[test]
fn rejoin_after_leave_overrides_left() {
    // A member that left and comes back (new process, same name and address) is alive
    // again at the others: its join intent is newer than its leave.
    let mut net = lan(3);
    net.join_all_to(0);
    net.run_for(Duration::from_secs(5));
    let now = net.now;
    net.nodes[2].leave(now);
    net.run_for(Duration::from_secs(10));
    assert!(all_see(&net, 2, Some(MemberStatus::Left)));
    // Restart n2.
    let now = net.now;
    net.nodes[2] = Serf::new(default_config(2), 77, now).unwrap();
    net.nodes[2].join(now, &[addr(0)], true);
    net.flush();
    net.run_for(Duration::from_secs(10));
    assert!(
        all_see(&net, 2, Some(MemberStatus::Alive)),
        "{:?}",
        (0..2).map(|i| status(&net, i, 2)).collect::<Vec<_>>()
    );
    assert_eq!(net.nodes[2].members().len(), 3);
}

#[test]
fn serf_is_send_for_the_async_driver() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<Serf>();
    assert_send::<Event>();
}

#[test]
fn same_seed_same_run() {
    // Determinism: two runs with the same seeds produce the same events and bytes.
    let run = || {
        let mut net = lan(4);
        net.join_all_to(0);
        net.run_for(Duration::from_secs(3));
        net.down.insert(1);
        let now = net.now;
        net.nodes[2]
            .user_event(now, "e", Bytes::from_static(b"p"), false)
            .unwrap();
        net.run_for(Duration::from_secs(15));
        (
            format!("{:?}", net.events),
            net.nodes.iter().map(|n| n.stats()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(run(), run());
}

#[test]
fn a_leave_whose_intent_is_not_gossiped_in_time_fails_as_serfs_does() {
    // The intent must go out within the broadcast timeout; 1 ms is shorter than the first
    // gossip round (200 ms), so the wait times out.
    let mut net = cluster(3, |i| {
        let mut c = default_config(i);
        c.broadcast_timeout = Duration::from_millis(1);
        c
    });
    net.join_all_to(0);
    net.run_for(Duration::from_secs(5));
    let t0 = net.now;
    net.nodes[2].leave(t0);
    net.run_for(Duration::from_millis(100));
    let finished: Vec<_> = net
        .events
        .iter()
        .filter(|(i, _, e)| *i == 2 && matches!(e, Event::LeaveFinished { .. }))
        .map(|(_, t, e)| (t.saturating_duration_since(t0), e.clone()))
        .collect();
    assert_eq!(
        finished,
        vec![(
            Duration::from_millis(1),
            Event::LeaveFinished {
                error: Some(rumor_serf::LeaveError::IntentTimeout)
            }
        )]
    );
    // As Serf: still leaving, and the memberlist leave was never sent.
    assert_eq!(net.nodes[2].state(), SerfState::Leaving);
    assert_eq!(
        net.nodes[2].swim().local().map(|m| m.state),
        Some(rumor_swim::State::Alive)
    );
    // The driver stops it. The peers never got the intent, so they see it fail.
    net.down.insert(2);
    net.run_for(Duration::from_secs(40));
    for i in 0..2 {
        assert_eq!(net.count(i, |e| named(e, as_failed, "n2")), 1, "node {i}");
        assert_eq!(net.count(i, |e| named(e, as_leave, "n2")), 0, "node {i}");
    }
}

#[test]
fn a_graceful_leave_is_never_shown_failed_on_the_way() {
    let mut net = lan(5);
    net.join_all_to(0);
    net.run_for(Duration::from_secs(5));
    let now = net.now;
    net.nodes[4].leave(now);
    net.run_for(Duration::from_secs(3));
    assert_eq!(
        net.count(4, |e| matches!(e, Event::LeaveFinished { error: None })),
        1
    );
    net.down.insert(4);
    net.run_for(Duration::from_secs(30));
    for i in 0..4 {
        assert_eq!(net.count(i, |e| named(e, as_failed, "n4")), 0, "node {i}");
        assert_eq!(net.count(i, |e| named(e, as_leave, "n4")), 1, "node {i}");
        assert_eq!(status(&net, i, 4), Some(MemberStatus::Left));
    }
}

#[test]
fn rejoin_is_reported_like_a_join_but_announces_no_join_intent() {
    let mut net = lan(3);
    let now = net.now;
    let quiet = net.nodes[1].rejoin(now, &[addr(0)]);
    let loud = net.nodes[2].join(now, &[addr(0)], true);
    net.flush();
    let joined = |net: &Net, i: usize, id| {
        net.events_of(i)
            .find_map(|e| match e {
                Event::JoinFinished { id: j, joined, .. } if *j == id => Some(*joined),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(joined(&net, 1, quiet), 1);
    assert_eq!(joined(&net, 2, loud), 1);
    // The join queued its intent; the rejoin queued none.
    assert_eq!(net.nodes[1].stats().intent_queue, 0);
    assert_eq!(net.nodes[2].stats().intent_queue, 1);
    // Both are members everywhere all the same.
    net.run_for(Duration::from_secs(5));
    for i in 0..3 {
        assert_eq!(net.nodes[i].members().len(), 3, "node {i}");
    }
}
