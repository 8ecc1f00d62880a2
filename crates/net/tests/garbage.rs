//! Robustness: random, truncated and oversized datagrams; garbage, partial, slow and endless
//! streams; too many connections. The pool keeps serving and counts what it threw away.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use rand::{Rng, SeedableRng};
use rumor_swim::State;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Read until the peer closes (EOF or reset), bounded by `limit`; returns the bytes read.
async fn read_until_closed(sock: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let r = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(r.is_ok(), "connection not closed within {limit:?}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_survives_garbage() {
    tokio::time::timeout(Duration::from_secs(40), garbage_scenario())
        .await
        .unwrap();
}

async fn garbage_scenario() {
    let mut cfg = pool_config(LOCAL);
    cfg.tcp_timeout = Duration::from_millis(600);
    cfg.max_stream_bytes = 256 * 1024;
    let a = spawn_node("a", cfg).await;
    let b = spawn_node("b", pool_config(LOCAL)).await;
    assert_eq!(
        rumor_net::swim_join(&b, &[a.local_addr()]).await.unwrap(),
        1
    );
    wait_for("a and b alive", Duration::from_secs(5), || {
        alive_count(&a) == 2 && alive_count(&b) == 2
    })
    .await;
    let target = a.local_addr();
    let dropped_before = a.call(|n, _| n.stats().packets_dropped);
    let streams_dropped_before = a.call(|n, _| n.stats().streams_dropped);

    // ---- UDP --------------------------------------------------------------------------
    let udp = UdpSocket::bind((LOCAL, 0)).await.unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut bad = 0u64;
    for _ in 0..50 {
        let len = rng.gen_range(1..1400);
        let mut data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        // Types rumor knows, with garbage after: the decoders must reject the body.
        data[0] = rng.gen_range(0..14);
        udp.send_to(&data, target).await.unwrap();
        bad += 1;
    }
    // Truncated ping, compound header promising more parts than there are, oversized junk.
    for data in [
        vec![0x00, 0x85, 0xa5, b'S', b'e'],
        vec![0x07, 0xff, 0x00, 0x10],
        vec![0x0c, 0x12, 0x34],
        (0..60_000).map(|_| rng.gen()).collect::<Vec<u8>>(),
    ] {
        udp.send_to(&data, target).await.unwrap();
        bad += 1;
    }
    wait_for("garbage datagrams dropped", Duration::from_secs(5), || {
        a.call(|n, _| n.stats().packets_dropped) >= dropped_before + bad - 5
    })
    .await;

    // ---- TCP --------------------------------------------------------------------------
    // Garbage: answered (with an error message) and closed at once.
    let timeouts_before = a.stats().stream_timeouts;
    let t0 = Instant::now();
    let mut s = TcpStream::connect(target).await.unwrap();
    s.write_all(&[0xff; 300]).await.unwrap();
    read_until_closed(&mut s, Duration::from_secs(2)).await;
    assert_eq!(
        a.stats().stream_timeouts,
        timeouts_before,
        "closed by the deadline, not at once"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "garbage stream held open {:?}",
        t0.elapsed()
    );
    wait_for("garbage stream counted", Duration::from_secs(2), || {
        a.call(|n, _| n.stats().streams_dropped) > streams_dropped_before
    })
    .await;

    // Partial: the start of a push-pull, then EOF.
    let mut s = TcpStream::connect(target).await.unwrap();
    s.write_all(&[0x06, 0x83, 0xa4, b'J']).await.unwrap();
    s.shutdown().await.unwrap();
    read_until_closed(&mut s, Duration::from_secs(2)).await;
    wait_for("truncated stream counted", Duration::from_secs(2), || {
        a.stats().stream_truncated >= 1
    })
    .await;

    // Slow: a valid prefix of a user message, one byte every 100 ms, never complete. Cut by
    // the 600 ms deadline.
    let mut msg = Vec::new();
    let big = rumor_wire::Message::User(Bytes::from(vec![0x55; 1 << 20]));
    rumor_wire::encode_stream(
        &big,
        &rumor_wire::StreamOptions::default(),
        [0; 12],
        true,
        &mut msg,
    );
    let t0 = Instant::now();
    let mut s = TcpStream::connect(target).await.unwrap();
    let cut = tokio::time::timeout(Duration::from_secs(3), async {
        let mut buf = [0u8; 64];
        for byte in msg.iter().take(100) {
            if s.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::select! {
                r = s.read(&mut buf) => if matches!(r, Ok(0) | Err(_)) { return },
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    })
    .await;
    assert!(cut.is_ok(), "slow stream was not cut");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_millis(2500),
        "cut after {took:?}"
    );
    wait_for("timeout counted", Duration::from_secs(2), || {
        a.stats().stream_timeouts >= 1
    })
    .await;

    // Endless: the same message (1 MiB) sent flat out, larger than a's 256 KiB cap.
    let t0 = Instant::now();
    let mut s = TcpStream::connect(target).await.unwrap();
    let write = tokio::time::timeout(Duration::from_secs(5), async {
        for _ in 0..4 {
            if s.write_all(&msg).await.is_err() {
                return;
            }
        }
        read_until_closed(&mut s, Duration::from_secs(3)).await;
    })
    .await;
    assert!(write.is_ok(), "endless stream was not cut");
    assert!(t0.elapsed() < Duration::from_secs(4));
    wait_for("oversized counted", Duration::from_secs(2), || {
        a.stats().stream_oversized >= 1
    })
    .await;

    // ---- still serving ----------------------------------------------------------------
    assert_eq!(state_of(&a, "b"), Some(State::Alive));
    assert_eq!(state_of(&b, "a"), Some(State::Alive));
    let c = spawn_node("c", pool_config(LOCAL)).await;
    assert_eq!(
        rumor_net::swim_join(&c, &[a.local_addr()]).await.unwrap(),
        1
    );
    for p in [&a, &b, &c] {
        wait_for(
            "three alive after the garbage",
            Duration::from_secs(5),
            || alive_count(p) == 3,
        )
        .await;
    }
    let stats = a.stats();
    assert!(stats.stream_errors() >= 3, "{stats:?}");
    assert!(stats.packets_in >= bad);
    for p in [&a, &b, &c] {
        shutdown(p).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excess_connections_are_refused() {
    tokio::time::timeout(Duration::from_secs(20), refused_scenario())
        .await
        .unwrap();
}

async fn refused_scenario() {
    let mut cfg = pool_config(LOCAL);
    cfg.max_inbound_streams = 2;
    cfg.tcp_timeout = Duration::from_secs(3);
    let a = spawn_node("a", cfg).await;
    let target = a.local_addr();
    // Two idle connections take both slots until their deadline.
    let _idle1 = TcpStream::connect(target).await.unwrap();
    let _idle2 = TcpStream::connect(target).await.unwrap();
    wait_for("two streams accepted", Duration::from_secs(2), || {
        a.stats().streams_in == 2
    })
    .await;
    let t0 = Instant::now();
    let mut third = TcpStream::connect(target).await.unwrap();
    read_until_closed(&mut third, Duration::from_secs(2)).await;
    assert!(t0.elapsed() < Duration::from_secs(1));
    assert_eq!(a.stats().streams_refused, 1);
    // Shutdown cuts the idle connections instead of waiting for their deadline.
    let t0 = Instant::now();
    shutdown(&a).await;
    assert!(t0.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_pull_dripped_byte_by_byte_is_answered() {
    tokio::time::timeout(Duration::from_secs(30), dripped_scenario())
        .await
        .unwrap();
}

async fn dripped_scenario() {
    let mut cfg = pool_config(LOCAL);
    cfg.tcp_timeout = Duration::from_secs(20);
    let a = spawn_node("a", cfg).await;
    // A push-pull of 200 members (about 15 KB), written one byte per write.
    let nodes = (0..200u32)
        .map(|i| rumor_wire::PushNodeState {
            name: format!("dripped-{i}").into(),
            addr: IpAddr::from([127, 0, 1, (i % 250) as u8]),
            port: 7000 + i as u16,
            meta: None,
            incarnation: 1,
            state: rumor_wire::WireState::Alive,
            vsn: Some(Bytes::from_static(&[1, 5, 2, 0, 0, 0])),
        })
        .collect();
    let msg = rumor_wire::Message::PushPull(rumor_wire::PushPull {
        join: false,
        nodes,
        user_state: Bytes::new(),
    });
    let mut bytes = Vec::new();
    rumor_wire::encode_stream(&msg, &Default::default(), [0; 12], true, &mut bytes);
    assert!(bytes.len() > 10_000);
    let mut sock = TcpStream::connect(a.local_addr()).await.unwrap();
    sock.set_nodelay(true).unwrap();
    for b in &bytes {
        sock.write_all(std::slice::from_ref(b)).await.unwrap();
    }
    let reply = read_until_closed(&mut sock, Duration::from_secs(10)).await;
    let got = rumor_wire::decode_stream(&reply, &Default::default(), true)
        .unwrap()
        .map(|(m, _)| m);
    assert!(
        matches!(got, Some(rumor_wire::Message::PushPull(_))),
        "{got:?}"
    );
    // All 200 entered the table (as alive, then suspected by probing: only the count).
    let known = a.call(|n, _| {
        n.members()
            .filter(|m| m.name.starts_with("dripped-"))
            .count()
    });
    assert_eq!(known, 200);
    // Decoded once: not one dropped or partial decode was counted.
    assert_eq!(a.call(|n, _| n.stats().streams_dropped), 0);
    a.shutdown().await;
}
