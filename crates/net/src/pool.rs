//! A pool: its configuration, binding its sockets, starting its tasks, and the state they
//! share ([`Shared`]): the core under its lock, and the one place where the core's outputs
//! are drained after every call ([`Shared::drive`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rumor_swim::{Instant, JoinId, Transmit};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{broadcast, mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::core::{DriverCore, JoinOutcome};
use crate::error::NetError;
use crate::handle::PoolHandle;
use crate::stats::{add, Counters};
use crate::timer::Clock;

/// How a pool binds and how hard it protects itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Where the UDP socket and the TCP listener are bound (port 0: any free port, the same
    /// for both).
    pub bind: SocketAddr,
    /// Deadline of a whole inbound TCP exchange, from accept to close. memberlist's
    /// `TCPTimeout`: 10 s on a LAN, enough for a push-pull of thousands of members.
    pub tcp_timeout: Duration,
    /// Inbound TCP connections served at once; more are closed at once. 128, memberlist's
    /// `maxPushPullRequests`: push-pulls are the heavy streams.
    pub max_inbound_streams: usize,
    /// Largest stream read, in bytes (either direction). 20 MiB (memberlist's
    /// `maxPushStateBytes`) plus 64 KiB for framing and encryption overhead.
    pub max_stream_bytes: usize,
    /// Events buffered for slow subscribers; one that falls further behind loses events
    /// (`RecvError::Lagged`).
    pub event_capacity: usize,
}

impl PoolConfig {
    /// The defaults above, bound on `bind`.
    pub fn new(bind: SocketAddr) -> Self {
        PoolConfig {
            bind,
            tcp_timeout: Duration::from_secs(10),
            max_inbound_streams: 128,
            max_stream_bytes: 20 * 1024 * 1024 + 64 * 1024,
            event_capacity: 1024,
        }
    }
}

/// Datagrams waiting for the sender task. UDP is lossy anyway: when this is full (the
/// socket cannot keep up) datagrams are dropped and counted rather than queued without bound.
const PACKET_QUEUE: usize = 4096;

/// How many times to look for a port free for both TCP and UDP when binding port 0.
const BIND_ATTEMPTS: usize = 16;

/// memberlist asks for a 2 MiB UDP receive buffer so bursts of gossip are not dropped by
/// the kernel; the kernel may grant less.
const UDP_RECV_BUFFER: usize = 2 * 1024 * 1024;

/// Entry point: bind a pool, then start it with a core.
#[derive(Debug)]
pub struct Pool;

impl Pool {
    /// Bind the sockets of a pool. Use [`BoundPool::local_addr`] and [`BoundPool::now`] to
    /// build the core (it must advertise the real port), then [`BoundPool::start`].
    pub async fn bind(config: PoolConfig) -> Result<BoundPool, NetError> {
        let (tcp, udp) = bind_pair(config.bind).await?;
        let local_addr = tcp.local_addr().map_err(|source| NetError::BindTcp {
            addr: config.bind,
            source,
        })?;
        tracing::debug!(%local_addr, "pool bound");
        Ok(BoundPool {
            config,
            tcp,
            udp,
            local_addr,
            clock: Clock::start(),
        })
    }

    /// Bind and start in one step, for a core built without knowing the bound address
    /// (a fixed port).
    pub async fn spawn<C: DriverCore>(
        config: PoolConfig,
        core: C,
    ) -> Result<PoolHandle<C>, NetError> {
        Ok(Pool::bind(config).await?.start(core))
    }
}

/// A pool whose sockets are bound but whose tasks have not started.
#[derive(Debug)]
pub struct BoundPool {
    config: PoolConfig,
    tcp: TcpListener,
    udp: UdpSocket,
    local_addr: SocketAddr,
    clock: Clock,
}

impl BoundPool {
    /// The address both sockets are bound on (with the real port).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The pool's clock, for building the core.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Start the pool's tasks around `core`. Must be called within a tokio runtime.
    pub fn start<C: DriverCore>(self, core: C) -> PoolHandle<C> {
        let BoundPool {
            config,
            tcp,
            udp,
            local_addr,
            clock,
        } = self;
        let udp = Arc::new(udp);
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        let (packets, packet_rx) = mpsc::channel(PACKET_QUEUE);
        let armed = core.poll_timeout();
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                core,
                armed,
                joins: HashMap::new(),
            }),
            clock,
            config,
            local_addr,
            events,
            packets,
            timer: Notify::new(),
            cancel: CancellationToken::new(),
            tasks: TaskTracker::new(),
            runtime: tokio::runtime::Handle::current(),
            counters: Counters::default(),
        });
        shared.spawn(crate::udp::receive_loop(
            Arc::clone(&shared),
            Arc::clone(&udp),
        ));
        shared.spawn(crate::udp::send_loop(Arc::clone(&shared), udp, packet_rx));
        shared.spawn(crate::stream::accept_loop(Arc::clone(&shared), tcp));
        shared.spawn(crate::timer::timer_loop(Arc::clone(&shared)));
        // Anything the core queued before it was handed over (its first gossip, a join).
        shared.drive(|_, _| ());
        PoolHandle::new(shared)
    }
}

/// Bind TCP then UDP on the same address; with port 0, retry when the port TCP got is taken
/// for UDP.
async fn bind_pair(addr: SocketAddr) -> Result<(TcpListener, UdpSocket), NetError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|source| NetError::BindTcp { addr, source })?;
        let actual = tcp
            .local_addr()
            .map_err(|source| NetError::BindTcp { addr, source })?;
        match bind_udp(actual) {
            Ok(udp) => return Ok((tcp, udp)),
            Err(e)
                if addr.port() == 0
                    && e.kind() == std::io::ErrorKind::AddrInUse
                    && attempt < BIND_ATTEMPTS =>
            {
                tracing::debug!(%actual, "UDP port taken; trying another");
            }
            Err(source) => {
                return Err(NetError::BindUdp {
                    addr: actual,
                    source,
                })
            }
        }
    }
}

fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // Like std and Go: an IPv6 wildcard socket also serves IPv4 where the OS allows.
        let _ = socket.set_only_v6(false);
    }
    if let Err(e) = socket.set_recv_buffer_size(UDP_RECV_BUFFER) {
        tracing::debug!(error = %e, "cannot enlarge the UDP receive buffer");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// What is under the core lock.
pub(crate) struct Inner<C: DriverCore> {
    pub(crate) core: C,
    /// The deadline the timer task sleeps until (no later than the core's next deadline).
    pub(crate) armed: Option<Instant>,
    /// Callers of `join_with` waiting for the outcome of their join.
    pub(crate) joins: HashMap<JoinId, oneshot::Sender<JoinOutcome>>,
}

/// State shared by the handle and every task of a pool.
pub(crate) struct Shared<C: DriverCore> {
    inner: Mutex<Inner<C>>,
    pub(crate) clock: Clock,
    pub(crate) config: PoolConfig,
    pub(crate) local_addr: SocketAddr,
    pub(crate) events: broadcast::Sender<C::Event>,
    packets: mpsc::Sender<(SocketAddr, Vec<u8>)>,
    /// Wakes the timer task when the earliest deadline moved earlier.
    pub(crate) timer: Notify,
    pub(crate) cancel: CancellationToken,
    pub(crate) tasks: TaskTracker,
    runtime: tokio::runtime::Handle,
    pub(crate) counters: Counters,
}

impl<C: DriverCore> Shared<C> {
    /// The core lock. A panic in the core poisons it; the state is still the best there is,
    /// so keep going with it.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner<C>> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Spawn a tracked task on the pool's runtime (callable from any thread).
    pub(crate) fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn_on(fut, &self.runtime);
    }

    /// Run `f` on the core, then drain its outputs.
    pub(crate) fn drive<R>(self: &Arc<Self>, f: impl FnOnce(&mut C, Instant) -> R) -> R {
        self.drive_inner(|inner, now| f(&mut inner.core, now))
    }

    /// Run `f` on everything under the lock, then drain the core's outputs.
    pub(crate) fn drive_inner<R>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Inner<C>, Instant) -> R,
    ) -> R {
        let mut inner = self.lock();
        let now = self.clock.now();
        let r = f(&mut inner, now);
        self.flush(&mut inner, false);
        r
    }

    /// The timer fired: run due timers and re-arm at exactly the core's next deadline,
    /// which is returned.
    pub(crate) fn fire_timers(self: &Arc<Self>) -> Option<Instant> {
        let mut inner = self.lock();
        let now = self.clock.now();
        inner.core.handle_timeout(now);
        self.flush(&mut inner, true);
        inner.armed
    }

    /// Drain the core's outputs, in order, under the lock (nothing here blocks or awaits).
    fn flush(self: &Arc<Self>, inner: &mut Inner<C>, rearm: bool) {
        let live = !self.cancel.is_cancelled();
        while let Some(t) = inner.core.poll_transmit() {
            if live {
                self.transmit(t);
            }
        }
        while let Some(event) = inner.core.poll_event() {
            if let Some(outcome) = C::join_result(&event) {
                if let Some(waiter) = inner.joins.remove(&outcome.id) {
                    let _ = waiter.send(outcome);
                }
            }
            // No subscriber is fine.
            let _ = self.events.send(event);
        }
        let next = inner.core.poll_timeout();
        if rearm {
            inner.armed = next;
        } else if let Some(t) = next {
            if !matches!(inner.armed, Some(a) if a <= t) {
                inner.armed = Some(t);
                self.timer.notify_one();
            }
        }
    }

    fn transmit(self: &Arc<Self>, t: Transmit) {
        match t {
            Transmit::Packet { to, data } => {
                if self.packets.try_send((to, data)).is_err() {
                    add(&self.counters.packets_send_dropped, 1);
                    tracing::debug!(%to, "UDP send queue full; datagram dropped");
                }
            }
            Transmit::Stream {
                id,
                to,
                data,
                expect_reply,
                deadline,
            } => {
                add(&self.counters.streams_out, 1);
                let shared = Arc::clone(self);
                self.spawn(crate::stream::outbound(
                    shared,
                    id,
                    to,
                    data,
                    expect_reply,
                    deadline,
                ));
            }
        }
    }

    /// Stop every task and wait for them. Idempotent.
    pub(crate) async fn shutdown(&self) {
        self.cancel.cancel();
        {
            // A barrier: a flush that started before the cancel has finished spawning by the
            // time we hold the lock; every later one sees the cancel and spawns nothing.
            let mut inner = self.lock();
            inner.joins.clear();
        }
        self.tasks.close();
        self.tasks.wait().await;
        tracing::debug!(local_addr = %self.local_addr, "pool shut down");
    }
}
