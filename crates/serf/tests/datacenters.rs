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
