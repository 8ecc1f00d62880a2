//! Helpers shared by the integration tests: fast swim pools on loopback, bounded waits.
//!
//! Cleanup on failure: every pool handle carries a drop guard that cancels the pool's tasks
//! when the last handle is dropped (as happens when a test panics), and `#[tokio::test]`'s
//! runtime aborts whatever is left when the test returns. The happy path shuts every pool
//! down explicitly and checks that no task remains.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use rumor_net::{Pool, PoolConfig, PoolHandle};
use rumor_swim::{Config, Node, State};

pub type SwimPool = PoolHandle<Node>;

/// `Config::local` with a faster probe and a short suspicion, so a crash is declared dead
/// within a couple of seconds. The probe timeout stays well above loopback latency even on
/// a busy machine.
pub fn fast_config(name: &str, addr: SocketAddr) -> Config {
    let mut c = Config::local(name, addr);
    c.probe_interval = Duration::from_millis(300);
    c.probe_timeout = Duration::from_millis(150);
    c.gossip_interval = Duration::from_millis(50);
    c.suspicion_mult = 2;
    c.suspicion_max_timeout_mult = 2;
    c.push_pull_interval = Duration::from_secs(2);
    // Config::local's 2 sends of a broadcast are too few in these 3-member pools: a leave
    // gossiped right after a crash may go to the dead member (still a gossip target) both
    // times and never reach the live one.
    c.retransmit_mult = 4;
    c
}

/// A pool config bound on `ip`, any port, with a short TCP timeout.
pub fn pool_config(ip: IpAddr) -> PoolConfig {
    let mut p = PoolConfig::new(SocketAddr::new(ip, 0));
    p.tcp_timeout = Duration::from_secs(1);
    p
}

/// Log to the test output when `RUST_LOG` is set (e.g. `RUST_LOG=rumor_net=trace`).
pub fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// Start a bare swim pool named `name`.
pub async fn spawn_node(name: &str, pool: PoolConfig) -> SwimPool {
    init_logging();
    let bound = Pool::bind(pool).await.unwrap();
    let config = fast_config(name, bound.local_addr());
    let seed = bound.local_addr().port() as u64;
    let node = Node::new(config, Bytes::new(), seed, bound.now()).unwrap();
    bound.start(node)
}

/// The state `pool` has for `name`.
pub fn state_of(pool: &SwimPool, name: &str) -> Option<State> {
    pool.call(|n, _| n.member(name).map(|m| m.state))
}

/// Number of members `pool` sees alive.
pub fn alive_count(pool: &SwimPool) -> usize {
    pool.call(|n, _| n.members().filter(|m| m.state == State::Alive).count())
}

/// Poll `cond` every 25 ms until it holds; panic with `what` after `limit`.
pub async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let r = tokio::time::timeout(limit, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await;
    assert!(r.is_ok(), "timed out after {limit:?} waiting for: {what}");
}

/// Shut a pool down and check it left no task behind.
pub async fn shutdown(pool: &SwimPool) {
    tokio::time::timeout(Duration::from_secs(5), pool.shutdown())
        .await
        .expect("shutdown hangs");
    assert_eq!(pool.running_tasks(), 0, "tasks left after shutdown");
}
