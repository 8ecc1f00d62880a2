//! [`PoolHandle`]: what the layer above holds to talk to a running pool.

use std::net::SocketAddr;
use std::sync::Arc;

use rumor_swim::Instant;
use tokio::sync::broadcast;
use tokio_util::sync::DropGuard;

use crate::core::DriverCore;
use crate::pool::{PoolConfig, Shared};
use crate::stats::NetStats;

/// A handle to a running pool. Cheap to clone. When the last clone is dropped without
/// [`PoolHandle::shutdown`], the pool's tasks are told to stop (but nobody waits for them).
pub struct PoolHandle<C: DriverCore> {
    pub(crate) shared: Arc<Shared<C>>,
    _guard: Arc<DropGuard>,
}

impl<C: DriverCore> Clone for PoolHandle<C> {
    fn clone(&self) -> Self {
        PoolHandle {
            shared: Arc::clone(&self.shared),
            _guard: Arc::clone(&self._guard),
        }
    }
}

impl<C: DriverCore> std::fmt::Debug for PoolHandle<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolHandle")
            .field("local_addr", &self.shared.local_addr)
            .finish_non_exhaustive()
    }
}

impl<C: DriverCore> PoolHandle<C> {
    pub(crate) fn new(shared: Arc<Shared<C>>) -> Self {
        let guard = shared.cancel.clone().drop_guard();
        PoolHandle {
            shared,
            _guard: Arc::new(guard),
        }
    }

    /// The address the UDP socket and TCP listener are bound on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The pool's configuration.
    pub fn config(&self) -> &PoolConfig {
        &self.shared.config
    }

    /// Now, on the pool's clock (what the core is handed as `now`).
    pub fn now(&self) -> Instant {
        self.shared.clock.now()
    }

    /// Run `f` on the core (under its lock, with the current time), then send what it
    /// produced. This is how commands are given: `pool.call(|node, now| node.leave(now))`,
    /// and how state is read: `pool.call(|node, _| node.num_live())`.
    ///
    /// Not async: the lock is held only while `f` runs, so keep `f` short, never block in
    /// it, and never use the handle from inside it (the lock is not reentrant: that would
    /// deadlock). Callable from any thread. After shutdown the core is still there to read, but
    /// what it sends is dropped.
    pub fn call<R>(&self, f: impl FnOnce(&mut C, Instant) -> R) -> R {
        self.shared.drive(f)
    }

    /// Receive the core's events from now on. A subscriber more than
    /// [`PoolConfig::event_capacity`] events behind loses the oldest (`Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<C::Event> {
        self.shared.events.subscribe()
    }

    /// The driver's counters (the core has its own, e.g. `call(|n, _| n.stats())`).
    pub fn stats(&self) -> NetStats {
        self.shared.counters.snapshot()
    }

    /// Number of the pool's tasks still running (0 after [`PoolHandle::shutdown`]).
    pub fn running_tasks(&self) -> usize {
        self.shared.tasks.len()
    }

    /// Whether [`PoolHandle::shutdown`] was called (or every handle dropped).
    pub fn is_shut_down(&self) -> bool {
        self.shared.cancel.is_cancelled()
    }

    /// Stop every task, close both sockets and wait until all tasks have ended. In-flight
    /// streams are cut; joins still waiting fail with [`crate::JoinError::Closed`]. Does not
    /// leave the pool: for a graceful exit, `leave` through [`PoolHandle::call`] and wait for
    /// the core's leave event first. Idempotent.
    pub async fn shutdown(&self) {
        self.shared.shutdown().await;
    }
}
