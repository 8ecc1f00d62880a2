//! Joining: start a join on the core and wait for its outcome, for any core
//! ([`join_with`]) and for a bare swim pool ([`swim_join`]).
//!
//! The waiter is registered under the core lock in the same call that starts the join, and
//! the driver hands it the outcome as soon as [`Core::join_result`] recognises the event, so
//! the outcome cannot be missed (not even when the core finishes the join at once) and no
//! event subscription is involved.

use std::net::SocketAddr;
use std::time::Duration;

use rumor_swim::{Instant, JoinId, NoHooks, Node};
use tokio::sync::oneshot;

use crate::core::DriverCore;
use crate::error::JoinError;
use crate::handle::PoolHandle;

/// Margin added to the TCP timeout when waiting for a join: the driver fails each dial at
/// its deadline, so the core always answers within the deadline plus scheduling delay.
const JOIN_MARGIN: Duration = Duration::from_secs(2);

/// Start a join with `start` (which returns the core's join id) and wait up to `timeout` for
/// its outcome. `Ok(n)`: `n` addresses answered (0 only when none were given); an error when
/// every address failed.
///
/// For Serf: `join_with(&pool, t, |serf, now| serf.join(now, &addrs, ignore_old))`, once
/// `Core::join_result` recognises its join event.
pub async fn join_with<C: DriverCore>(
    handle: &PoolHandle<C>,
    timeout: Duration,
    start: impl FnOnce(&mut C, Instant) -> JoinId,
) -> Result<usize, JoinError> {
    if handle.is_shut_down() {
        return Err(JoinError::Closed);
    }
    let (tx, rx) = oneshot::channel();
    let id = handle.shared.drive_inner(|inner, now| {
        let id = start(&mut inner.core, now);
        inner.joins.insert(id, tx);
        id
    });
    let outcome = match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_)) => return Err(JoinError::Closed),
        Err(_) => {
            handle.shared.lock().joins.remove(&id);
            return Err(JoinError::Timeout(timeout));
        }
    };
    if outcome.joined == 0 && !outcome.errors.is_empty() {
        return Err(JoinError::Failed {
            errors: outcome.errors,
        });
    }
    for (addr, e) in &outcome.errors {
        tracing::info!(%addr, error = %e, "join: address failed");
    }
    Ok(outcome.joined)
}

/// Join a bare swim pool through `addrs` (a push-pull with each, in parallel) and wait for
/// the outcome, up to the TCP timeout plus a margin.
pub async fn swim_join(
    handle: &PoolHandle<Node>,
    addrs: &[SocketAddr],
) -> Result<usize, JoinError> {
    let core_timeout = handle.call(|node, _| node.config().tcp_timeout);
    let timeout = core_timeout.max(handle.config().tcp_timeout) + JOIN_MARGIN;
    join_with(handle, timeout, |node, now| {
        node.join(now, addrs, &mut NoHooks)
    })
    .await
}
