//! The driver with a toy core (not swim): proves the `Core` trait is all it needs, and checks
//! the driver's own mechanics one by one: datagrams both ways, inbound and outbound streams
//! (replies arriving in pieces), dial failures and deadlines, and timer wake-ups.

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use rumor_net::{Core, Instant, Pool, PoolConfig, PoolHandle, StreamId, StreamStep, Transmit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Packet(Vec<u8>),
    Inbound(Vec<u8>),
    Reply(StreamId, Vec<u8>),
    /// Number of calls it took to complete the reply (NeedMore count + 1).
    ReplyCalls(StreamId, usize),
    Failed(StreamId, String),
    Tick,
}

/// Line protocol: a stream message is a line ending in '\n'; the answer is the line in upper
/// case. Datagram "ping" is answered with "pong".
#[derive(Default)]
struct Toy {
    out: VecDeque<Transmit>,
    events: VecDeque<Ev>,
    deadline: Option<Instant>,
    next_id: StreamId,
    reply_calls: usize,
}

impl Toy {
    fn stream(&mut self, to: SocketAddr, data: &[u8], deadline: Instant) -> StreamId {
        self.next_id += 1;
        let id = self.next_id;
        self.out.push_back(Transmit::Stream {
            id,
            to,
            data: data.to_vec(),
            expect_reply: true,
            deadline,
        });
        id
    }
}

impl Core for Toy {
    type Event = Ev;

    fn handle_packet(&mut self, _now: Instant, from: SocketAddr, data: &[u8]) {
        if data == b"ping" {
            self.out.push_back(Transmit::Packet {
                to: from,
                data: b"pong".to_vec(),
            });
        }
        self.events.push_back(Ev::Packet(data.to_vec()));
    }

    fn handle_stream(&mut self, _now: Instant, _from: SocketAddr, data: &[u8]) -> StreamStep {
        if !data.ends_with(b"\n") {
            return StreamStep::NeedMore;
        }
        self.events.push_back(Ev::Inbound(data.to_vec()));
        StreamStep::Reply(data.to_ascii_uppercase())
    }

    fn handle_stream_reply(&mut self, _now: Instant, id: StreamId, data: &[u8]) -> StreamStep {
        self.reply_calls += 1;
        if !data.ends_with(b"\n") {
            return StreamStep::NeedMore;
        }
        self.events.push_back(Ev::ReplyCalls(id, self.reply_calls));
        self.reply_calls = 0;
        self.events.push_back(Ev::Reply(id, data.to_vec()));
        StreamStep::Close
    }

    fn stream_failed(&mut self, _now: Instant, id: StreamId, reason: &str) {
        self.events.push_back(Ev::Failed(id, reason.to_string()));
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| d <= now) {
            self.deadline = None;
            self.events.push_back(Ev::Tick);
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<Ev> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    fn join(&mut self, _now: Instant, _addrs: &[SocketAddr]) -> rumor_net::JoinId {
        0
    }

    fn leave(&mut self, _now: Instant) {}

    fn join_result(_event: &Ev) -> Option<rumor_net::JoinOutcome> {
        None
    }

    fn is_leave_finished(_event: &Ev) -> bool {
        false
    }
}

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

async fn toy() -> PoolHandle<Toy> {
    Pool::spawn(PoolConfig::new(SocketAddr::new(LOCAL, 0)), Toy::default())
        .await
        .unwrap()
}

async fn next_matching(rx: &mut broadcast::Receiver<Ev>, mut f: impl FnMut(&Ev) -> bool) -> Ev {
    tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            let ev = rx.recv().await.unwrap();
            if f(&ev) {
                return ev;
            }
        }
    })
    .await
    .expect("event did not come")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toy_core_datagrams_streams_and_timers() {
    tokio::time::timeout(Duration::from_secs(30), toy_scenario())
        .await
        .unwrap();
}

async fn toy_scenario() {
    let a = toy().await;
    let b = toy().await;
    let mut a_ev = a.subscribe();
    let mut b_ev = b.subscribe();
    let b_addr = b.local_addr();

    // Datagrams both ways.
    a.call(|t, _| {
        t.out.push_back(Transmit::Packet {
            to: b_addr,
            data: b"ping".to_vec(),
        })
    });
    assert_eq!(
        next_matching(&mut b_ev, |e| matches!(e, Ev::Packet(_))).await,
        Ev::Packet(b"ping".to_vec())
    );
    assert_eq!(
        next_matching(&mut a_ev, |e| matches!(e, Ev::Packet(_))).await,
        Ev::Packet(b"pong".to_vec())
    );

    // A stream exchange between two pools.
    let id = a.call(|t, now| t.stream(b_addr, b"hello\n", now + Duration::from_secs(2)));
    assert_eq!(
        next_matching(&mut b_ev, |e| matches!(e, Ev::Inbound(_))).await,
        Ev::Inbound(b"hello\n".to_vec())
    );
    assert_eq!(
        next_matching(&mut a_ev, |e| matches!(e, Ev::Reply(..))).await,
        Ev::Reply(id, b"HELLO\n".to_vec())
    );

    // A reply in pieces: every call gets all bytes so far.
    let server = TcpListener::bind((LOCAL, 0)).await.unwrap();
    let server_addr = server.local_addr().unwrap();
    let serve = tokio::spawn(async move {
        let (mut s, _) = server.accept().await.unwrap();
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"q\n");
        for piece in [&b"HE"[..], b"LL", b"O\n"] {
            s.write_all(piece).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Then a connection that accepts and never answers.
        let (_silent, _) = server.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
    });
    let id = a.call(|t, now| t.stream(server_addr, b"q\n", now + Duration::from_secs(2)));
    // Three pieces 100 ms apart: normally three calls; two if the machine is very slow.
    match next_matching(&mut a_ev, |e| matches!(e, Ev::ReplyCalls(..))).await {
        Ev::ReplyCalls(got, calls) => {
            assert_eq!(got, id);
            assert!((2..=3).contains(&calls), "{calls} calls");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        next_matching(&mut a_ev, |e| matches!(e, Ev::Reply(..))).await,
        Ev::Reply(id, b"HELLO\n".to_vec())
    );

    // Deadline: the silent server is given up at the core's deadline.
    let t0 = tokio::time::Instant::now();
    let id = a.call(|t, now| t.stream(server_addr, b"q\n", now + Duration::from_millis(300)));
    let ev = next_matching(&mut a_ev, |e| matches!(e, Ev::Failed(..))).await;
    assert_eq!(ev, Ev::Failed(id, "timed out".to_string()));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_millis(2000),
        "{took:?}"
    );
    serve.abort();

    // Connect failure: reported with the reason.
    let closed = {
        let l = std::net::TcpListener::bind((LOCAL, 0)).unwrap();
        l.local_addr().unwrap()
    };
    let id = a.call(|t, now| t.stream(closed, b"x\n", now + Duration::from_secs(2)));
    match next_matching(&mut a_ev, |e| matches!(e, Ev::Failed(..))).await {
        Ev::Failed(got, reason) => {
            assert_eq!(got, id);
            assert!(reason.contains("connect"), "{reason}");
        }
        other => panic!("{other:?}"),
    }

    // Timer: a deadline set by a command wakes the (idle) timer task.
    for delay in [200u64, 50] {
        let t0 = tokio::time::Instant::now();
        a.call(|t, now| t.deadline = Some(now + Duration::from_millis(delay)));
        next_matching(&mut a_ev, |e| *e == Ev::Tick).await;
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(delay) && took < Duration::from_millis(delay + 1000),
            "{took:?}"
        );
    }
    // An earlier deadline replaces a later one.
    let t0 = tokio::time::Instant::now();
    a.call(|t, now| t.deadline = Some(now + Duration::from_secs(5)));
    a.call(|t, now| t.deadline = Some(now + Duration::from_millis(100)));
    next_matching(&mut a_ev, |e| *e == Ev::Tick).await;
    assert!(t0.elapsed() < Duration::from_secs(1));

    let stats = a.stats();
    assert_eq!(stats.packets_out, 1);
    assert_eq!(stats.packets_in, 1);
    assert_eq!(stats.streams_out, 4);
    assert_eq!(stats.stream_timeouts, 1);
    assert_eq!(stats.stream_io_errors, 1);
    assert_eq!(b.stats().streams_in, 1);

    for p in [&a, &b] {
        p.shutdown().await;
        assert_eq!(p.running_tasks(), 0);
    }
    // After shutdown, commands still reach the core but nothing is sent.
    a.call(|t, _| {
        t.out.push_back(Transmit::Packet {
            to: b_addr,
            data: b"ping".to_vec(),
        })
    });
    assert_eq!(a.stats().packets_out, 1);
    assert!(a.is_shut_down());
}

#[tokio::test]
async fn dropping_every_handle_stops_the_pool() {
    let a = toy().await;
    let addr = a.local_addr();
    drop(a);
    // The tasks see the cancel and release the sockets shortly after.
    tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            if std::net::UdpSocket::bind(addr).is_ok() && std::net::TcpListener::bind(addr).is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("sockets not released after the last handle was dropped");
}
