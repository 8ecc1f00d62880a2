//! Flood join (as Consul's servers do): a server that sees, in its LAN pool, an alive
//! server (`role=server` with a `wan_addr` tag) that is not alive in its WAN pool (by WAN
//! name `NODE.DC`) joins it into the WAN pool itself. It looks on every LAN member join or
//! update and every [`FLOOD_INTERVAL`]; joins run one at a time, at most
//! [`MAX_JOINS_PER_ROUND`] per look, and failures are logged. So one `--wan-join` per
//! datacenter federates all its servers.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rumor_serf::{Event as SerfEvent, Member, MemberStatus};
use tokio::sync::broadcast;

use super::{join_pool, wan_name, ROLE_SERVER, ROLE_TAG, WAN_ADDR_TAG};
use crate::agent::Agent;
use crate::guard::DC_TAG;

/// How often the LAN pool is looked through even without events.
pub const FLOOD_INTERVAL: Duration = Duration::from_secs(30);

/// Joins started by one look at most (the rest wait for the next).
pub const MAX_JOINS_PER_ROUND: usize = 16;

/// A server to join into the WAN pool: its WAN name and advertised WAN address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloodTarget {
    /// `NODE.DC`.
    pub wan_name: String,
    /// Its `wan_addr` tag.
    pub addr: SocketAddr,
}

/// Whether a LAN member announces itself as a server.
fn is_server(m: &Member) -> bool {
    m.tags.get(ROLE_TAG).map(String::as_str) == Some(ROLE_SERVER)
        && m.tags.contains_key(WAN_ADDR_TAG)
}

/// The alive LAN servers other than `local` (our LAN name) that are not alive in the WAN
/// pool (`wan_alive`: the WAN names alive there), in LAN name order. A `wan_addr` that is not
/// `IP:PORT` is logged and skipped; a member without a `dc` tag is taken to be of `our_dc`.
pub fn targets(
    local: &str,
    our_dc: &str,
    lan: &[Member],
    wan_alive: &BTreeSet<String>,
) -> Vec<FloodTarget> {
    let mut out = Vec::new();
    for m in lan {
        if m.name.as_ref() as &str == local || m.status != MemberStatus::Alive || !is_server(m) {
            continue;
        }
        let dc = m.tags.get(DC_TAG).map_or(our_dc, String::as_str);
        let name = wan_name(&m.name, dc);
        if wan_alive.contains(&name) {
            continue;
        }
        let raw = m.tags.get(WAN_ADDR_TAG).map_or("", String::as_str);
        match raw.parse::<SocketAddr>() {
            Ok(addr) => out.push(FloodTarget {
                wan_name: name,
                addr,
            }),
            Err(_) => {
                tracing::debug!(member = %m.name, wan_addr = raw, "flood join: wan_addr is not IP:PORT; skipped");
            }
        }
    }
    out
}

/// One look: join every target (bounded), one at a time. Returns how many joins succeeded.
pub async fn flood_once(agent: &Agent) -> usize {
    let Some(wan) = &agent.wan else {
        return 0;
    };
    let lan = agent.members();
    let wan_alive: BTreeSet<String> = wan.call(|serf, _| {
        serf.members()
            .into_iter()
            .filter(|m| m.status == MemberStatus::Alive)
            .map(|m| m.name.to_string())
            .collect()
    });
    let mut joined = 0;
    let todo = targets(&agent.config.node, &agent.config.dc, &lan, &wan_alive);
    for t in todo.into_iter().take(MAX_JOINS_PER_ROUND) {
        match join_pool(wan, &[t.addr.to_string()], false).await {
            Ok(_) => {
                joined += 1;
                tracing::info!(pool = "wan", server = %t.wan_name, addr = %t.addr, "flood join: joined a server of our datacenter into the WAN pool");
            }
            Err(e) => {
                tracing::warn!(pool = "wan", server = %t.wan_name, addr = %t.addr, error = %format!("{e:#}"), "flood join failed");
            }
        }
    }
    joined
}

/// Whether a LAN event may bring a server to flood-join.
fn wakes(ev: &SerfEvent) -> bool {
    match ev {
        SerfEvent::MemberJoin(m) | SerfEvent::MemberUpdate(m) => is_server(m),
        _ => false,
    }
}

/// Run the flood join until the agent shuts down.
pub fn spawn(agent: Arc<Agent>) {
    let mut rx = agent.lan.subscribe();
    let mut stop = agent.shutdown_signal();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLOOD_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tick.tick() => {}
                ev = rx.recv() => match ev {
                    Ok(ev) if wakes(&ev) => {}
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                },
            }
            flood_once(&agent).await;
        }
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::BTreeMap;

    fn member(name: &str, status: MemberStatus, tags: &[(&str, &str)]) -> Member {
        Member {
            name: name.into(),
            addr: "127.0.0.1:7946".parse().unwrap(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            status,
            protocol: [0; 3],
            delegate: [0; 3],
        }
    }

    #[test]
    fn alive_servers_missing_from_the_wan_pool_are_targets() {
        let server = |addr: &'static str| [("dc", "east"), ("role", "server"), ("wan_addr", addr)];
        let lan = [
            member("me", MemberStatus::Alive, &server("127.0.0.1:1")),
            member("s2", MemberStatus::Alive, &server("127.0.0.2:8302")),
            member("s3", MemberStatus::Alive, &server("127.0.0.3:8302")),
            member("s4", MemberStatus::Failed, &server("127.0.0.4:8302")),
            member("s5", MemberStatus::Alive, &server("not-an-addr")),
            member("c1", MemberStatus::Alive, &[("dc", "east")]),
            member(
                "c2",
                MemberStatus::Alive,
                &[("dc", "east"), ("role", "server")],
            ),
        ];
        let wan_alive = BTreeSet::from(["me.east".to_string(), "s3.east".to_string()]);
        let got = targets("me", "east", &lan, &wan_alive);
        assert_eq!(
            got,
            [FloodTarget {
                wan_name: "s2.east".into(),
                addr: "127.0.0.2:8302".parse().unwrap()
            }]
        );
        // Once s2 is alive in the WAN pool there is nothing left to do.
        let wan_alive = BTreeSet::from(["s2.east".to_string(), "s3.east".to_string()]);
        assert!(targets("me", "east", &lan, &wan_alive).is_empty());
        // The WAN name uses the member's own dc tag.
        let lan = [member(
            "s9",
            MemberStatus::Alive,
            &[
                ("dc", "west"),
                ("role", "server"),
                ("wan_addr", "127.0.0.9:1"),
            ],
        )];
        assert_eq!(
            targets("me", "east", &lan, &BTreeSet::new())[0].wan_name,
            "s9.west"
        );
    }

    #[test]
    fn only_server_joins_and_updates_wake_the_flood() {
        let s = member(
            "s2",
            MemberStatus::Alive,
            &[("role", "server"), ("wan_addr", "127.0.0.2:1")],
        );
        let c = member("c1", MemberStatus::Alive, &[]);
        assert!(wakes(&SerfEvent::MemberJoin(s.clone())));
        assert!(wakes(&SerfEvent::MemberUpdate(s.clone())));
        assert!(!wakes(&SerfEvent::MemberFailed(s)));
        assert!(!wakes(&SerfEvent::MemberJoin(c)));
    }
}
