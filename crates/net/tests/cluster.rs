//! Three bare swim pools on real loopback sockets: join, crash detection, graceful leave;
//! over IPv4 and IPv6.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::*;
use rumor_swim::{Event, State};
use tokio::sync::broadcast::error::TryRecvError;

async fn scenario(ip: IpAddr) {
    let started = Instant::now();
    let a = spawn_node("a", pool_config(ip)).await;
    let b = spawn_node("b", pool_config(ip)).await;
    let c = spawn_node("c", pool_config(ip)).await;
    let mut a_events = a.subscribe();
    for p in [&a, &b, &c] {
        assert_eq!(p.local_addr().ip(), ip);
        assert_ne!(p.local_addr().port(), 0);
    }

    assert_eq!(
        rumor_net::swim_join(&b, &[a.local_addr()]).await.unwrap(),
        1
    );
    assert_eq!(
        rumor_net::swim_join(&c, &[a.local_addr()]).await.unwrap(),
        1
    );
    for p in [&a, &b, &c] {
        wait_for("all three alive everywhere", Duration::from_secs(5), || {
            alive_count(p) == 3
        })
        .await;
    }

    // A join to a closed port fails with the reason, and names the address.
    let closed = SocketAddr::new(ip, free_port(ip));
    let err = rumor_net::swim_join(&a, &[closed]).await.unwrap_err();
    assert!(err.to_string().contains(&closed.to_string()), "{err}");

    // Crash: c stops without leaving. Its port is free again at once.
    let c_addr = c.local_addr();
    shutdown(&c).await;
    std::net::UdpSocket::bind(c_addr).expect("UDP port still held after shutdown");
    std::net::TcpListener::bind(c_addr).expect("TCP port still held after shutdown");
    for p in [&a, &b] {
        wait_for("c declared dead", Duration::from_secs(8), || {
            state_of(p, "c") == Some(State::Dead)
        })
        .await;
    }

    // Graceful leave: b leaves, waits for its leave to be gossiped, then stops.
    let mut b_events = b.subscribe();
    b.call(|n, now| n.leave(now));
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(Event::LeaveFinished) = b_events.recv().await {
                break;
            }
        }
    })
    .await
    .expect("b's leave did not finish");
    shutdown(&b).await;
    wait_for("b seen as left", Duration::from_secs(5), || {
        state_of(&a, "b") == Some(State::Left)
    })
    .await;

    // a's subscriber saw the whole story.
    let mut seen = Vec::new();
    loop {
        match a_events.try_recv() {
            Ok(Event::Join(m)) => seen.push(format!("join {}", m.name)),
            Ok(Event::Leave(m)) => seen.push(format!("leave {} {:?}", m.name, m.state)),
            Ok(_) => {}
            Err(TryRecvError::Empty) => break,
            Err(e) => panic!("event stream: {e}"),
        }
    }
    for want in ["join b", "join c", "leave c Dead", "leave b Left"] {
        assert!(
            seen.iter().any(|s| s == want),
            "missing {want:?} in {seen:?}"
        );
    }

    let stats = a.stats();
    assert!(
        stats.packets_in > 0
            && stats.packets_out > 0
            && stats.streams_in > 0
            && stats.streams_out > 0
    );
    assert!(stats.bytes_in > 0 && stats.bytes_out > 0);
    shutdown(&a).await;
    tracing::info!(elapsed = ?started.elapsed(), "scenario done");
}

/// A port with nothing listening (bound then released).
fn free_port(ip: IpAddr) -> u16 {
    let l = std::net::TcpListener::bind(SocketAddr::new(ip, 0)).unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_pools_ipv4() {
    tokio::time::timeout(
        Duration::from_secs(40),
        scenario(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_pools_ipv6() {
    tokio::time::timeout(
        Duration::from_secs(40),
        scenario(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    )
    .await
    .unwrap();
}
