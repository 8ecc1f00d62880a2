//! Rejoining the members a snapshot knew (Serf's `handleRejoin`): one at a time, in random
//! order, until one answers. Runs beside any `--join`, as in Serf, where the snapshot's
//! members are tried whether or not `-join` is given.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::agent::Agent;

/// Shuffles `items` in place (Fisher-Yates) with a generator seeded by `seed` (splitmix64:
/// the order only needs to differ between restarts and members, as Serf's does).
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// Tries `nodes` (name, address) one at a time in a random order drawn from `seed`, until a
/// join through one of them succeeds; stops early when the agent shuts down. Like Serf's, the
/// rejoin is a memberlist join ([`rumor_serf::Serf::rejoin`]): no join intent; it replays user
/// events, and the restored event clock keeps the ones already handled out.
pub fn spawn(agent: Arc<Agent>, mut nodes: Vec<(String, SocketAddr)>, seed: u64) {
    if nodes.is_empty() {
        return;
    }
    shuffle(&mut nodes, seed);
    let mut stop = agent.shutdown_signal();
    tokio::spawn(async move {
        let attempts = async {
            for (name, addr) in &nodes {
                tracing::info!(node = %name, %addr, "Attempting re-join to previously known node: {name}: {addr}");
                match agent.rejoin(*addr).await {
                    Ok(_) => {
                        tracing::info!(node = %name, %addr, "Re-joined to previously known node: {name}: {addr}");
                        return;
                    }
                    Err(e) => {
                        tracing::info!(node = %name, %addr, error = %format!("{e:#}"), "re-join failed");
                    }
                }
            }
            tracing::warn!("Failed to re-join any previously known node");
        };
        tokio::select! {
            _ = stop.changed() => {}
            _ = attempts => {}
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_permutation_and_depends_on_the_seed() {
        let orig: Vec<u32> = (0..20).collect();
        let mut orders = std::collections::BTreeSet::new();
        for seed in 0..50u64 {
            let mut v = orig.clone();
            shuffle(&mut v, seed);
            let mut sorted = v.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, orig);
            orders.insert(v);
        }
        assert!(orders.len() > 40, "{} distinct orders", orders.len());
        // Same seed, same order.
        let (mut a, mut b) = (orig.clone(), orig.clone());
        shuffle(&mut a, 7);
        shuffle(&mut b, 7);
        assert_eq!(a, b);
        let mut one = vec![1];
        shuffle(&mut one, 3);
        assert_eq!(one, vec![1]);
    }
}
