//! Reconnecting to failed members (serf.md §5.5, Serf's `reconnect`).
//!
//! Every `reconnect_interval` each member, if it knows failed members, tries one with the
//! probability `failed / (members − failed − left)` (a denominator of 0 counts as 1), so the
//! cluster as a whole tries each failed member about once per interval. The attempt is a
//! memberlist join (a push-pull) to the member's last address, not a Serf join: no join
//! intent is broadcast and the caller never sees its outcome. A failed member that answers
//! comes back alive through the push-pull merge, and a cluster split by a long partition
//! heals this way: once both sides have marked each other failed, nothing else would bring
//! them back together.

use std::net::SocketAddr;

use rumor_wire::Name;

use crate::member::MemberStatus;
use crate::state::State;

/// The chance of trying a reconnect this round, as Serf computes it (in `f32`).
pub(crate) fn probability(members: usize, failed: usize, left: usize) -> f32 {
    let alive = members.saturating_sub(failed + left);
    let alive = if alive == 0 { 1 } else { alive };
    failed as f32 / alive as f32
}

/// A uniform `f32` in [0, 1) from 64 random bits (24 of them, as Go's `Float32`).
fn unit_f32(bits: u64) -> f32 {
    (bits >> 40) as f32 / (1u32 << 24) as f32
}

/// Decides this round's reconnect: `None` when nobody failed or the throttle says no, else
/// the failed member to push-pull with and its address. `rng` gives random bits: one draw
/// for the throttle, one for the choice.
pub(crate) fn choose(st: &State, rng: &mut dyn FnMut() -> u64) -> Option<(Name, SocketAddr)> {
    let failed: Vec<&crate::member::MemberState> = st
        .members
        .values()
        .filter(|m| m.member.status == MemberStatus::Failed && m.member.name != st.name)
        .collect();
    if failed.is_empty() {
        return None;
    }
    let left = st
        .members
        .values()
        .filter(|m| m.member.status == MemberStatus::Left)
        .count();
    let p = probability(st.members.len(), failed.len(), left);
    let draw = unit_f32(rng());
    if draw > p {
        tracing::debug!(p, draw, "forgoing reconnect for random throttling");
        return None;
    }
    let idx = (rng() % failed.len() as u64) as usize;
    let m = &failed[idx].member;
    tracing::info!(node = %m.name, addr = %m.addr, "attempting reconnect");
    Some((m.name.clone(), m.addr))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::float_cmp)]
    use super::*;
    use crate::state::test_support::{add, state};

    #[test]
    fn the_probability_is_failed_over_the_others_with_a_zero_guard() {
        assert_eq!(probability(10, 2, 0), 2.0 / 8.0);
        assert_eq!(probability(10, 2, 3), 2.0 / 5.0);
        assert_eq!(probability(20, 10, 0), 1.0);
        assert_eq!(probability(3, 2, 1), 2.0, "no one alive: denominator 1");
        assert_eq!(probability(5, 0, 0), 0.0);
        assert_eq!(unit_f32(0), 0.0);
        assert_eq!(unit_f32(1 << 63), 0.5);
        assert!(unit_f32(u64::MAX) < 1.0);
    }

    /// A state of `me` plus `alive` alive members, `failed` failed (f0..), `left` left.
    fn cluster(alive: usize, failed: usize, left: usize) -> State {
        let mut s = state("me");
        for i in 0..alive {
            add(&mut s, &format!("a{i}"), MemberStatus::Alive, 1);
        }
        for i in 0..failed {
            add(&mut s, &format!("f{i}"), MemberStatus::Failed, 1);
        }
        for i in 0..left {
            add(&mut s, &format!("l{i}"), MemberStatus::Left, 1);
        }
        s
    }

    #[test]
    fn nobody_failed_means_no_draw_at_all() {
        let s = cluster(3, 0, 2);
        assert_eq!(choose(&s, &mut || panic!("no draw expected")), None);
    }

    #[test]
    fn the_throttle_and_the_choice_follow_the_draws() {
        // me + 3 alive + 4 failed + 1 left: p = 4 / (9 − 4 − 1) = 1.0 — always tries.
        let s = cluster(3, 4, 1);
        let mut draws = vec![u64::MAX, 6].into_iter();
        let got = choose(&s, &mut || draws.next().unwrap_or(0));
        assert_eq!(
            got.map(|(n, _)| n.to_string()),
            Some("f2".into()),
            "6 % 4 = 2"
        );
        // me + 5 alive + 2 failed: p = 2 / 6 = 1/3.
        let s = cluster(5, 2, 0);
        let third = |x: f32| (u64::from((x * (1u32 << 24) as f32) as u32)) << 40;
        let mut draws = vec![third(0.34), 0].into_iter();
        assert_eq!(choose(&s, &mut || draws.next().unwrap_or(0)), None);
        let mut draws = vec![third(0.33), 1].into_iter();
        let got = choose(&s, &mut || draws.next().unwrap_or(0));
        assert_eq!(got.map(|(n, _)| n.to_string()), Some("f1".into()));
    }

    #[test]
    fn over_many_rounds_the_rate_is_the_probability() {
        // p = 2 / 6: with a seeded stream of draws, the share of rounds that try is ~1/3 and
        // both failed members are picked.
        let s = cluster(5, 2, 0);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            // splitmix64
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let mut tries = [0usize; 2];
        let rounds = 30_000;
        for _ in 0..rounds {
            if let Some((n, _)) = choose(&s, &mut next) {
                tries[usize::from(&*n == "f1")] += 1;
            }
        }
        let total = tries[0] + tries[1];
        let share = total as f64 / rounds as f64;
        assert!((share - 1.0 / 3.0).abs() < 0.02, "share {share}");
        assert!(tries[0] > total / 3 && tries[1] > total / 3, "{tries:?}");
    }
}
