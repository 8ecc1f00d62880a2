//! What the relay (`relay.rs`, on the LAN pool) and the chosen server (`responder.rs`, on the
//! WAN pool) share: a task that hands every query of one name that reaches a pool to a
//! serving task of its own, and the one status answer each sends back.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rumor_net::PoolHandle;
use rumor_serf::{Event, LamportTime, Serf};
use tokio::sync::broadcast;

use super::request::DcStatus;
use crate::agent::Agent;

/// A query of ours to serve: its identity, payload and the time left before its deadline.
pub(super) struct Incoming {
    /// The query's time.
    pub ltime: LamportTime,
    /// The query's id.
    pub id: u32,
    /// Its payload (an encoded `DcRequest`).
    pub payload: Bytes,
    /// Time left until its deadline, on the pool's clock, when it arrived.
    pub left: Duration,
}

/// Spawn the task that calls `serve` (in a task of its own) for every query named `name` that
/// reaches `pool`, until the agent shuts down. `from` names the senders in logs.
pub(super) fn on_queries<F, Fut>(
    agent: &Arc<Agent>,
    pool: PoolHandle<Serf>,
    name: &'static str,
    from: &'static str,
    serve: F,
) where
    F: Fn(Arc<Agent>, Incoming) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut rx = pool.subscribe();
    let mut stop = agent.shutdown_signal();
    let agent = Arc::downgrade(agent);
    tokio::spawn(async move {
        loop {
            let ev = tokio::select! {
                _ = stop.changed() => return,
                ev = rx.recv() => ev,
            };
            let ev = match ev {
                Ok(ev) => ev,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(lost = n, from, "datacenter requests fell behind");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let Event::Query {
                ltime,
                id,
                name: query,
                payload,
                source,
                deadline,
            } = ev
            else {
                continue;
            };
            if query != name {
                continue;
            }
            let Some(agent) = agent.upgrade() else {
                return;
            };
            let left = pool.call(|_, now| deadline.saturating_duration_since(now));
            tracing::debug!(%source, ltime, id, ?left, from, "datacenter request");
            let incoming = Incoming {
                ltime,
                id,
                payload,
                left,
            };
            tokio::spawn(serve(agent, incoming));
        }
    });
}

/// Send our one status answer to query (`ltime`, `id`) of `pool`.
pub(super) fn respond_status(
    pool: &PoolHandle<Serf>,
    ltime: LamportTime,
    id: u32,
    status: &DcStatus,
) {
    let bytes = match status.encode() {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "cannot encode a datacenter status");
            return;
        }
    };
    if let Err(e) = pool.call(|serf, now| serf.respond(now, ltime, id, Bytes::from(bytes))) {
        tracing::warn!(error = %e, ltime, id, "cannot answer a datacenter request");
    }
}
