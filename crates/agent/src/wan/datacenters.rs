//! `rumor dcs`: the datacenters the WAN pool knows, with their alive and failed servers and
//! the round trip time estimated from our WAN coordinate (the median of the Vivaldi
//! estimates to each alive server's coordinate, as Consul ranks datacenters), nearest first.

use std::collections::BTreeMap;
use std::time::Duration;

use rumor_serf::{Coordinate, Member, MemberStatus};

use crate::guard::DC_TAG;

/// One datacenter of the WAN pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DcInfo {
    /// Its name (the `dc` tag of its servers).
    pub name: String,
    /// Servers alive.
    pub alive: usize,
    /// Servers failed.
    pub failed: usize,
    /// Median estimated RTT from us to its alive servers (`None`: no coordinate known yet).
    pub rtt: Option<Duration>,
    /// The WAN names of its alive servers, in name order.
    pub servers: Vec<String>,
}

/// The median of `v` (sorted in place): the middle value, or the mean of the two middle ones.
fn median(v: &mut [Duration]) -> Option<Duration> {
    v.sort();
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2),
    }
}

/// Group the WAN `members` by datacenter (members without a `dc` tag are skipped), count
/// them, estimate each datacenter's RTT from `own` with the coordinates `coord_of` knows, and
/// sort nearest first (unknown RTT last, then by name).
pub fn datacenters(
    members: &[Member],
    own: Option<&Coordinate>,
    coord_of: impl Fn(&str) -> Option<Coordinate>,
) -> Vec<DcInfo> {
    let mut by_dc: BTreeMap<&str, (DcInfo, Vec<Duration>)> = BTreeMap::new();
    for m in members {
        let Some(dc) = m.tags.get(DC_TAG) else {
            continue;
        };
        let (info, rtts) = by_dc.entry(dc.as_str()).or_insert_with(|| {
            (
                DcInfo {
                    name: dc.clone(),
                    alive: 0,
                    failed: 0,
                    rtt: None,
                    servers: Vec::new(),
                },
                Vec::new(),
            )
        });
        match m.status {
            MemberStatus::Alive => {
                info.alive += 1;
                info.servers.push(m.name.to_string());
                if let (Some(own), Some(theirs)) = (own, coord_of(&m.name)) {
                    rtts.push(own.distance_to(&theirs));
                }
            }
            MemberStatus::Failed => info.failed += 1,
            _ => {}
        }
    }
    let mut out: Vec<DcInfo> = by_dc
        .into_values()
        .map(|(mut info, mut rtts)| {
            info.rtt = median(&mut rtts);
            info.servers.sort();
            info
        })
        .collect();
    out.sort_by(|a, b| match (a.rtt, b.rtt) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.name.cmp(&b.name)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.name.cmp(&b.name),
    });
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn member(name: &str, dc: &str, status: MemberStatus) -> Member {
        Member {
            name: name.into(),
            addr: "127.0.0.1:1".parse().unwrap(),
            tags: BTreeMap::from([("dc".to_string(), dc.to_string())]),
            status,
            protocol: [0; 3],
            delegate: [0; 3],
        }
    }

    /// A coordinate `x` seconds along the first axis, no height or adjustment.
    fn at(x: f64) -> Coordinate {
        Coordinate {
            vec: vec![x, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            error: 1.5,
            adjustment: 0.0,
            height: 0.0,
        }
    }

    #[test]
    fn grouped_counted_and_nearest_first() {
        let members = [
            member("a1.far", "far", MemberStatus::Alive),
            member("a2.far", "far", MemberStatus::Alive),
            member("a3.far", "far", MemberStatus::Failed),
            member("b1.near", "near", MemberStatus::Alive),
            member("b2.near", "near", MemberStatus::Alive),
            member("b3.near", "near", MemberStatus::Alive),
            member("c1.dark", "dark", MemberStatus::Alive),
            member("d1.gone", "gone", MemberStatus::Left),
        ];
        let coords = BTreeMap::from([
            ("a1.far", at(0.100)),
            ("a2.far", at(0.300)),
            ("a3.far", at(0.001)),
            ("b1.near", at(0.010)),
            ("b2.near", at(0.050)),
            ("b3.near", at(0.020)),
        ]);
        let dcs = datacenters(&members, Some(&at(0.0)), |n| coords.get(n).cloned());
        let names: Vec<&str> = dcs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["near", "far", "dark", "gone"]);
        let near = &dcs[0];
        assert_eq!((near.alive, near.failed), (3, 0));
        // Median of 10, 20, 50 ms.
        let d = |x: f64| at(0.0).distance_to(&at(x));
        assert_eq!(near.rtt, Some(d(0.020)));
        let far = &dcs[1];
        assert_eq!((far.alive, far.failed), (2, 1));
        assert_eq!(far.servers, ["a1.far", "a2.far"]);
        // Mean of the two middle values (the failed server's coordinate is not used).
        assert_eq!(far.rtt, Some((d(0.100) + d(0.300)) / 2));
        assert!(
            far.rtt > Some(Duration::from_millis(199))
                && far.rtt < Some(Duration::from_millis(201))
        );
        assert_eq!(dcs[2].rtt, None);
        assert_eq!((dcs[3].alive, dcs[3].failed), (0, 0));
        // Without our own coordinate nothing is estimated; the order is by name.
        let dcs = datacenters(&members, None, |n| coords.get(n).cloned());
        let names: Vec<&str> = dcs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["dark", "far", "gone", "near"]);
        assert!(dcs.iter().all(|d| d.rtt.is_none()));
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        let ms = Duration::from_millis;
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [ms(5)]), Some(ms(5)));
        assert_eq!(median(&mut [ms(9), ms(1), ms(5)]), Some(ms(5)));
        assert_eq!(median(&mut [ms(9), ms(1), ms(5), ms(3)]), Some(ms(4)));
    }
}
